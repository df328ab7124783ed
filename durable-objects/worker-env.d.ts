import type { Env as ChalkcomputeEnv } from "./env.ts";

declare global {
  namespace Cloudflare {
    /** The bindings of wrangler.toml, for `env` from "cloudflare:workers". */
    interface Env extends ChalkcomputeEnv {}
  }
}
