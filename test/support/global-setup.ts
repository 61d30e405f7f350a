/** Vitest global set-up: things several test files share, made once per run. */
import { ensurePythonClient } from "./python.js";

export default function setup(): void {
  ensurePythonClient();
}
