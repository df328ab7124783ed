/**
 * AES-GCM encryption of secret values under the Worker secret
 * CHALKCOMPUTE_SECRETS_KEY (base64 of 32 bytes). Each value gets its own
 * random 96-bit IV, and its group and variable name are bound to it as
 * additional data, so a ciphertext copied to another row fails to decrypt.
 */

/** Name of the Worker secret binding that contains the key. */
export const SECRETS_KEY_BINDING = "CHALKCOMPUTE_SECRETS_KEY";

const KEY_BYTES = 32;
const IV_BYTES = 12;

/** The secrets key binding is missing or malformed. */
export class SecretsKeyError extends Error {
  override name = "SecretsKeyError";
}

/**
 * Returns why the key binding cannot be used, or null when it is base64 of
 * 32 bytes. The message never contains the binding's value.
 */
export function checkSecretsKey(raw: string | undefined): string | null {
  const fix =
    `set it to base64 of ${KEY_BYTES} random bytes with ` +
    `\`openssl rand -base64 ${KEY_BYTES} | npx wrangler secret put ${SECRETS_KEY_BINDING}\``;
  if (raw === undefined || raw.trim() === "") {
    return `the Worker secret ${SECRETS_KEY_BINDING} is not set; ${fix}`;
  }
  const bytes = decodeBase64(raw.trim());
  if (bytes === null || bytes.length !== KEY_BYTES) {
    return `the Worker secret ${SECRETS_KEY_BINDING} is not base64 of ${KEY_BYTES} bytes; ${fix}`;
  }
  return null;
}

/** Imports the key binding for AES-GCM; throws SecretsKeyError when unusable. */
export async function importSecretsKey(
  raw: string | undefined,
): Promise<CryptoKey> {
  const problem = checkSecretsKey(raw);
  if (problem) throw new SecretsKeyError(problem);

  const bytes = decodeBase64((raw as string).trim()) as Uint8Array;
  return crypto.subtle.importKey("raw", bytes, "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
}

/** Encrypts one value; returns IV followed by ciphertext and tag. */
export async function encryptValue(
  key: CryptoKey,
  group: string,
  name: string,
  value: string,
): Promise<Uint8Array> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: associatedData(group, name) },
    key,
    new TextEncoder().encode(value),
  );

  const out = new Uint8Array(IV_BYTES + sealed.byteLength);
  out.set(iv);
  out.set(new Uint8Array(sealed), IV_BYTES);
  return out;
}

/** Decrypts what `encryptValue` returned for the same group and name. */
export async function decryptValue(
  key: CryptoKey,
  group: string,
  name: string,
  sealed: Uint8Array,
): Promise<string> {
  const plain = await crypto.subtle.decrypt(
    {
      name: "AES-GCM",
      iv: sealed.subarray(0, IV_BYTES),
      additionalData: associatedData(group, name),
    },
    key,
    sealed.subarray(IV_BYTES),
  );
  return new TextDecoder().decode(plain);
}

/** Encodes bytes as base64. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Decodes base64, or returns null when the text is not base64. */
export function decodeBase64(text: string): Uint8Array | null {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return null;
  }
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

function associatedData(group: string, name: string): Uint8Array {
  return new TextEncoder().encode(`${group}\0${name}`);
}
