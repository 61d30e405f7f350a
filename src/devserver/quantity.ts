/**
 * Kubernetes resource quantities ("500m", "1.5", "1Gi", "128M") as numbers the
 * scheduler can add up: CPU in millicores, everything else in base units.
 */

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/;

/**
 * Parses a quantity into base units (cores for CPU, bytes for memory).
 * Throws an Error naming the value when it is not a Kubernetes quantity.
 */
export function parseQuantity(value: string): number {
  const m = QUANTITY.exec(value.trim());
  if (!m) {
    throw new Error(`"${value}" is not a Kubernetes quantity (examples: "500m", "2", "512Mi", "1Gi")`);
  }
  const n = Number(m[1]);
  if (m[2]) return n * 10 ** Number(m[2].slice(1));
  const suffix = m[3] ?? "";
  return n * (BINARY[suffix] ?? DECIMAL[suffix]);
}

/** CPU quantity in millicores, rounded up as Kubernetes does. */
export function cpuMillis(value: string): number {
  return Math.ceil(parseQuantity(value) * 1000 - 1e-9);
}

/** Memory (or any non-CPU) quantity in bytes. */
export function bytes(value: string): number {
  return Math.ceil(parseQuantity(value) - 1e-9);
}
