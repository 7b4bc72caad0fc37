import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // 2-core machines: a few files at once keeps the shared database busy but not thrashing.
    maxWorkers: 2,
    sequence: { concurrent: false }
  }
})
