/**
 * The official Python client (`armada-client` from PyPI) in an ignored
 * virtual environment under `.cache/`, for cross-implementation tests.
 * Created once per test run by the global set-up; if PyPI cannot be reached
 * the set-up fails with that reason (the tests that need it are never skipped).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { killProcesses, spawnTracked } from "./child-processes.js";

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
export async function runPython(script: string, input = "", env: NodeJS.ProcessEnv = {}): Promise<string> {
  // Tracked, so a script still running when its test fails or times out is killed with the rest.
  const child = spawnTracked(pythonBin, ["-c", script], {
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  child.stdin!.end(input);
  const code = await child.exited;
  await killProcesses([child]);
  if (code === 0) return child.stdoutText();
  throw new Error(`python exited ${code}: ${child.stderrText()}`);
}
