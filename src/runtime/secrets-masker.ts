/**
 * Secrets never reach logs or XCom: values registered with {@link maskSecret}
 * are replaced by `***` in task log lines, rendered error messages and stored
 * XCom strings (as Airflow's secrets masker does). The registry is
 * process-wide (see `src/common/secrets-masker.ts`), so a DAG file's own copy
 * of this module masks the same secrets as the runtime's.
 */
export {
  maskSecret,
  redactSecrets,
  clearMaskedSecrets,
  MASK,
  type RedactOptions,
} from "../common/secrets-masker.js";
