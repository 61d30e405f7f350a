import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { runCli } from "../../src/cli/main.js";

/** A string sink usable as stdout/stderr. */
export class Capture extends Writable {
  text = "";
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** A temp ARMADA_AIRFLOW_HOME and a way to run the CLI in-process against it. */
export function cliSandbox() {
  const home = mkdtempSync(path.join(os.tmpdir(), "aa-cli-"));
  const env = { ...process.env, ARMADA_AIRFLOW_HOME: home };
  return {
    home,
    env,
    async run(argv: string[], signal?: AbortSignal) {
      const stdout = new Capture();
      const stderr = new Capture();
      const code = await runCli(argv, { stdout, stderr, env, cwd: process.cwd(), signal });
      return { code, stdout: stdout.text, stderr: stderr.text };
    },
    /** As `run`, with `extra` over the sandbox's environment. */
    async runWith(argv: string[], extra: Record<string, string>) {
      const stdout = new Capture();
      const stderr = new Capture();
      const code = await runCli(argv, { stdout, stderr, env: { ...env, ...extra }, cwd: process.cwd() });
      return { code, stdout: stdout.text, stderr: stderr.text };
    },
    dispose() {
      rmSync(home, { recursive: true, force: true });
    },
  };
}
