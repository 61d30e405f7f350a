/**
 * Kubernetes resource quantities ("500m", "1.5", "1Gi", "128M") as numbers the
 * scheduler can add up: CPU in millicores, everything else in base units.
 */
import { quantityValue } from "../client/submit-validation.js";

/**
 * Parses a quantity into base units (cores for CPU, bytes for memory).
 * Throws an Error naming the value when it is not a Kubernetes quantity.
 */
export function parseQuantity(value: string): number {
  const n = quantityValue(value.trim());
  if (n === undefined) {
    throw new Error(`"${value}" is not a Kubernetes quantity (examples: "500m", "2", "512Mi", "1Gi")`);
  }
  return n;
}

/** CPU quantity in millicores, rounded up as Kubernetes does. */
export function cpuMillis(value: string): number {
  return Math.ceil(parseQuantity(value) * 1000 - 1e-9);
}

/** Memory (or any non-CPU) quantity in bytes. */
export function bytes(value: string): number {
  return Math.ceil(parseQuantity(value) - 1e-9);
}
