/** Formats rows as an aligned text table. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? "" : String(c))))];
  // A loop, not Math.max(...column): a spread of some 120,000 values overflows the stack (a big mapped run).
  const widths = headers.map(() => 0);
  for (const r of cells)
    for (let i = 0; i < widths.length; i++) widths[i] = Math.max(widths[i]!, (r[i] ?? "").length);
  return (
    cells
      .map((r) =>
        r
          .map((c, i) => (c ?? "").padEnd(widths[i]!))
          .join("  ")
          .trimEnd(),
      )
      .join("\n") + "\n"
  );
}

/** ISO time of epoch ms, or empty. */
export function isoOrEmpty(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? "" : new Date(ms).toISOString();
}

/** Longest value `xcom list` shows in its table without `--full`. */
export const XCOM_TABLE_MAX_CHARS = 120;

/** `text` cut to `max` characters, saying how long it was and how to see it all. */
export function truncated(text: string, max = XCOM_TABLE_MAX_CHARS): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}... (${text.length} characters; --full shows all)`;
}
