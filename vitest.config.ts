import { defineConfig } from "vitest/config";

export default defineConfig({
  // `armada-airflow` imports (as DAG files write them) resolve to src/ in tests.
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 180_000,
    // Made once per run and shared by many files (Python reference client venv).
    globalSetup: ["test/support/global-setup.ts"],
    // No process a test file started outlives the file (each test also kills its own).
    setupFiles: ["test/support/process-cleanup.ts"],
  },
});
