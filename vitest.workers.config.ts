import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

/** Runs the gateway and Durable Object tests inside workerd. */
export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          CHALKCOMPUTE_TOKEN: "test-token",
          // A fixed AES-256 key for the tests only: base64 of 32 bytes.
          CHALKCOMPUTE_SECRETS_KEY:
            "dGVzdC1rZXktb2YtMzItYnl0ZXMtZm9yLWFlcy1nY20=",
        },
      },
    }),
  ],
  test: {
    include: ["gateway/**/*.test.ts", "durable-objects/**/*.test.ts"],
    // The Durable Objects log JSON records; show them only for failed tests.
    silent: "passed-only",
  },
});
