import { defineConfig } from "vitest/config";

// Each file starts its own workerd and agent; on a 2-core machine running
// files one at a time keeps timings honest.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
