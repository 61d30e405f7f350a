/**
 * armada-airflow: the Armada Airflow operator and its task runtime.
 * Each area appends its public exports here.
 */
export { type Clock, systemClock, ManualClock } from "./common/clock.js";
export * from "./runtime/index.js";
export * from "./client/index.js";
export * from "./operator/index.js";
