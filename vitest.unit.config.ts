import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "schemas/**/*.test.ts",
      "sdk/**/*.test.ts",
      "fleet-agent/**/*.test.ts",
      "bench/**/*.test.ts",
      "examples/**/*.test.ts",
    ],
    environment: "node",
  },
});
