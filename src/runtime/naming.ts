/**
 * Template field names are written as Airflow writes them (snake_case,
 * `"job_request"`); the operator property is the camelCase form
 * (`jobRequest`). Rule: split on `_`, keep the first part, capitalise the
 * first letter of every later part (`job_set_prefix` -> `jobSetPrefix`). A name
 * without `_` is used as is.
 */
export function templateFieldProperty(fieldName: string): string {
  return fieldName.replace(/_+([a-zA-Z0-9])/g, (_m, c: string) => c.toUpperCase());
}
