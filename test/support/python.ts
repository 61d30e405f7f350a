/**
 * The official Python client (`armada-client` from PyPI) in an ignored
 * virtual environment under `.cache/`, for cross-implementation tests.
 * Created once per test run by the global set-up; if PyPI cannot be reached
 * the set-up fails with that reason (the tests that need it are never skipped).
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

/** The pinned reference client version the conformance tests compare against. */
export const ARMADA_CLIENT_VERSION = "0.5.1";

const root = path.resolve(import.meta.dirname, "../..");
export const venvDir = path.join(root, ".cache", `py-armada-client-${ARMADA_CLIENT_VERSION}`);
export const pythonBin = path.join(venvDir, "bin", "python");

/** Creates the venv and installs the reference client, unless already done. */
export function ensurePythonClient(): void {
  const marker = path.join(venvDir, ".installed");
  if (existsSync(marker)) return;
  mkdirSync(path.dirname(venvDir), { recursive: true });
  const python = process.env.PYTHON ?? "python3";
  try {
    execFileSync(python, ["-m", "venv", venvDir], { stdio: "pipe" });
    execFileSync(pythonBin, ["-m", "pip", "install", "--quiet", `armada-client==${ARMADA_CLIENT_VERSION}`], {
      stdio: "pipe",
      timeout: 300_000,
    });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(
      `Could not install the official Python client armada-client==${ARMADA_CLIENT_VERSION} from PyPI ` +
        `into ${venvDir}; the conformance tests need it. Cause: ${e.stderr?.toString() || e.message}`,
      { cause: err },
    );
  }
  writeFileSync(marker, new Date().toISOString());
}

/**
 * Runs a Python script in the venv with `input` on stdin; resolves to stdout.
 * Rejects with stderr when the script exits non-zero.
 */
export function runPython(script: string, input = "", env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(pythonBin, ["-c", script], { env: { ...process.env, ...env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString("utf8"));
      else reject(new Error(`python exited ${code}: ${Buffer.concat(err).toString("utf8")}`));
    });
    child.stdin.end(input);
  });
}
