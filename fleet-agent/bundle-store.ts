import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { httpUrl } from "./urls.ts";

const HASH_PATTERN = /^[0-9a-f]{64}$/;
const DOWNLOAD_TIMEOUT_MS = 120_000;

/** Options of a BundleStore. */
export interface BundleStoreOptions {
  /** Gateway base URL, checked by `parseGatewayUrl`. */
  gateway: URL;
  token: string;
  /** Folder that contains the `<hash>.mjs` files. */
  dir: string;
  logger: Logger;
}

/**
 * Downloads user bundles from the gateway once and keeps them on disk under
 * their sha256, checking the hash both after a download and on every reuse.
 */
export class BundleStore {
  private readonly downloads = new Map<string, Promise<string>>();

  constructor(private readonly options: BundleStoreOptions) {}

  /** Returns the path of the bundle with this hash, downloading it if needed. */
  get(hash: string): Promise<string> {
    if (!HASH_PATTERN.test(hash)) {
      return Promise.reject(
        new Error(
          `bundle hash ${JSON.stringify(hash)} is invalid: expected 64 ` +
            "lowercase hex digits (sha256)",
        ),
      );
    }

    let pending = this.downloads.get(hash);
    if (!pending) {
      pending = this.load(hash).finally(() => this.downloads.delete(hash));
      this.downloads.set(hash, pending);
    }
    return pending;
  }

  private async load(hash: string): Promise<string> {
    const file = path.join(this.options.dir, `${hash}.mjs`);
    const cached = await readFile(file).catch(() => undefined);
    if (cached && sha256(cached) === hash) return file;
    if (cached) {
      this.options.logger.warn(
        { bundleHash: hash, file },
        "cached bundle does not match its hash, downloading it again",
      );
    }

    const body = await this.download(hash);
    await mkdir(this.options.dir, { recursive: true });
    const temporary = `${file}.${randomBytes(6).toString("hex")}.tmp`;
    await writeFile(temporary, body);
    await rename(temporary, file);
    this.options.logger.info(
      { bundleHash: hash, bytes: body.byteLength },
      "bundle downloaded",
    );
    return file;
  }

  private async download(hash: string): Promise<Uint8Array> {
    const url = httpUrl(this.options.gateway, `/v1/bundles/${hash}`);
    const response = await fetch(url, {
      headers: { authorization: `Bearer ${this.options.token}` },
      signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS),
    });
    if (!response.ok) {
      const detail = (await response.text().catch(() => "")).slice(0, 200);
      throw new Error(
        `downloading bundle ${hash} from ${url} failed with HTTP ` +
          `${response.status}: ${detail}`,
      );
    }

    const body = new Uint8Array(await response.arrayBuffer());
    const actual = sha256(body);
    if (actual !== hash) {
      throw new Error(
        `bundle downloaded from ${url} has sha256 ${actual}, not ${hash}; ` +
          "the gateway stored a corrupt bundle, deploy the function again",
      );
    }
    return body;
  }
}

/** Returns the sha256 of bytes as lowercase hex. */
export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
