import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 180_000,
    // Python venv and PostgreSQL set-up are shared by several files.
    globalSetup: ["test/support/global-setup.ts"],
  },
});
