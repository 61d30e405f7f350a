/**
 * Secrets never reach logs or XCom: values registered with {@link maskSecret}
 * are replaced by `***` in task log lines, rendered error messages and stored
 * XCom strings (as Airflow's secrets masker does).
 */
const secrets = new Set<string>();

/** Registers `value` as a secret (ignored when shorter than 4 characters, too common to mask). */
export function maskSecret(value: string | undefined | null): void {
  if (typeof value === "string" && value.length >= 4) secrets.add(value);
}

/** `text` with every registered secret replaced by `***`. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join("***");
  return out;
}

/** Forgets every registered secret (tests). */
export function clearMaskedSecrets(): void {
  secrets.clear();
}
