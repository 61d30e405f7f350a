/** Lookout-style web pages of the dev server. */
export { createLookoutApp } from "./lookout-app.js";
export type { LookoutSource, LookoutJob, LookoutRun, ContainerLog } from "./lookout-source.js";
export { filterJobs, type JobListFilters } from "./job-list-page.js";
