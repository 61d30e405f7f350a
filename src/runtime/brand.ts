/**
 * Type checks that hold across two copies of this module (a DAG file loaded
 * from dist/ and a runner from src/, say). `instanceof` fails across copies,
 * so classes carry a registered Symbol (`Symbol.for`) and checks look for it.
 */

/** Makes the process-wide brand symbol for `name`. */
export function brandSymbol(name: string): symbol {
  return Symbol.for(`armada-airflow.${name}`);
}

/** True when `value` is an object (or function) carrying `brand`. */
export function hasBrand(value: unknown, brand: symbol): boolean {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    (value as Record<symbol, unknown>)[brand] === true
  );
}
