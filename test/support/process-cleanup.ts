/**
 * Vitest set-up file (every test file): after a file's last test, no process
 * it started is left running, even one a test forgot to kill. Per-test
 * cleanup stays with the tests (`afterEach` or `onTestFinished`), since tests
 * of one file may run concurrently.
 */
import { afterAll } from "vitest";
import { killProcesses } from "./child-processes.js";

afterAll(() => killProcesses());
