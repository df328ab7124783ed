import * as capnp from "capnp-es";
import { Value, Value_Which } from "./chalkcompute.ts";

/** Raised when a value cannot be serialized; `path` locates it, e.g. `args[1].cb`. */
export class ValueError extends TypeError {
  override name = "ValueError";

  constructor(
    readonly path: string,
    what: string,
    hint: string,
  ) {
    super(
      `${path} is ${what}, which cannot be sent to a remote function. ${hint}`,
    );
  }
}

/** Raised when a value's encoding is larger than MAX_VALUE_BYTES. */
export class ValueTooLargeError extends ValueError {
  override name = "ValueTooLargeError";

  constructor(
    path: string,
    readonly byteLength: number,
  ) {
    super(path, "too large", "");
    this.message =
      `${path} is ${formatMiB(byteLength)} when encoded, over the limit of ` +
      `${formatMiB(MAX_VALUE_BYTES)} per value. Store large data in a volume ` +
      "or object storage and send its location instead.";
  }
}

/**
 * Largest encoded value (the arguments of a call, one result, or one
 * yielded value). The queue stores each in one SQLite row, and a Durable
 * Object's SQLite rejects rows over 2 MB.
 */
export const MAX_VALUE_BYTES = 1024 * 1024;

const MAX_DEPTH = 512;

/**
 * Serializes a value to Cap'n Proto bytes. `root` names the value in errors.
 *
 * @example
 * const bytes = encodeValue([3, 5], "args");
 */
export function encodeValue(value: unknown, root = "value"): Uint8Array {
  const message = new capnp.Message();
  const target = message.initRoot(Value);
  writeValue(target, value, root, new Set(), 0);
  const bytes = new Uint8Array(message.toArrayBuffer());
  if (bytes.byteLength > MAX_VALUE_BYTES) {
    throw new ValueTooLargeError(root, bytes.byteLength);
  }
  return bytes;
}

function formatMiB(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** Deserializes bytes written by `encodeValue`. */
export function decodeValue(bytes: Uint8Array): unknown {
  const message = new capnp.Message(bytes, false);
  return readValue(message.getRoot(Value));
}

function writeValue(
  target: Value,
  value: unknown,
  path: string,
  seen: Set<object>,
  depth: number,
): void {
  if (depth > MAX_DEPTH) {
    // The path of a deep value is as long as its depth; show its two ends.
    const shown =
      path.length > 80 ? `${path.slice(0, 40)}...${path.slice(-30)}` : path;
    throw new ValueError(
      shown,
      `nested more than ${MAX_DEPTH} levels deep`,
      "Flatten the structure.",
    );
  }
  switch (typeof value) {
    case "undefined":
      target.undefined = true;
      return;
    case "boolean":
      target.bool = value;
      return;
    case "number":
      target.number = value;
      return;
    case "string":
      target.string = value;
      return;
    case "bigint":
      target.bigint = value.toString();
      return;
    case "function":
      throw new ValueError(
        path,
        describeFunction(value as (...args: never[]) => unknown),
        "Pass data, not code; call the function inside the handler instead.",
      );
    case "symbol":
      throw new ValueError(path, "a symbol", "Use a string instead.");
  }
  if (value === null) {
    target.null = true;
    return;
  }
  writeObject(target, value as object, path, seen, depth);
}

function writeObject(
  target: Value,
  value: object,
  path: string,
  seen: Set<object>,
  depth: number,
): void {
  if (value instanceof Uint8Array) {
    target._initBytes(value.byteLength).copyBuffer(value);
    return;
  }
  if (value instanceof Date) {
    target.date = value.getTime();
    return;
  }
  if (seen.has(value)) {
    throw new ValueError(
      path,
      "a circular reference",
      "Remove the cycle before sending.",
    );
  }
  seen.add(value);
  try {
    writeContainer(target, value, path, seen, depth);
  } finally {
    seen.delete(value);
  }
}

function writeContainer(
  target: Value,
  value: object,
  path: string,
  seen: Set<object>,
  depth: number,
): void {
  if (Array.isArray(value)) {
    const list = target._initArray(value.length);
    for (let i = 0; i < value.length; i++) {
      writeValue(list.get(i), value[i], `${path}[${i}]`, seen, depth + 1);
    }
    return;
  }
  if (value instanceof Map) {
    const list = target._initMap(value.size);
    let i = 0;
    for (const [key, item] of value) {
      const entry = list.get(i);
      writeValue(entry._initKey(), key, `${path}.<key ${i}>`, seen, depth + 1);
      writeValue(
        entry._initValue(),
        item,
        `${path}.get(${describeKey(key)})`,
        seen,
        depth + 1,
      );
      i++;
    }
    return;
  }
  if (value instanceof Set) {
    const list = target._initSet(value.size);
    let i = 0;
    for (const item of value) {
      writeValue(list.get(i), item, `${path}.<item ${i}>`, seen, depth + 1);
      i++;
    }
    return;
  }
  rejectUnsupportedObject(value, path);
  const keys = Object.keys(value);
  const list = target._initObject(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const field = list.get(i);
    field.key = key;
    const item = (value as Record<string, unknown>)[key];
    writeValue(
      field._initValue(),
      item,
      `${path}${propertyPath(key)}`,
      seen,
      depth + 1,
    );
  }
}

function rejectUnsupportedObject(value: object, path: string): void {
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    const kind = value.constructor.name;
    const article = /^[AEIOU]/.test(kind) ? "an" : "a";
    throw new ValueError(
      path,
      `${article} ${kind}`,
      "Send binary data as a Uint8Array.",
    );
  }
  if (value instanceof Error) {
    throw new ValueError(
      path,
      `an ${value.constructor.name}`,
      "Send its message as a string instead.",
    );
  }
  if (value instanceof Promise) {
    throw new ValueError(path, "a Promise", "Await it before sending.");
  }
  const methods = classMethods(value);
  if (methods.length > 0) {
    const className = value.constructor?.name || "an object";
    throw new ValueError(
      path,
      `an instance of class ${className} with methods (${methods.slice(0, 3).join(", ")})`,
      "Send its data as a plain object and rebuild the instance on the other side.",
    );
  }
}

/** Lists methods on the prototype chain below Object.prototype. */
function classMethods(value: object): string[] {
  const methods: string[] = [];
  let proto = Object.getPrototypeOf(value);
  while (proto !== null && proto !== Object.prototype) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === "constructor") continue;
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (typeof descriptor?.value === "function" || descriptor?.get) {
        methods.push(name);
      }
    }
    proto = Object.getPrototypeOf(proto);
  }
  return methods;
}

function describeFunction(fn: (...args: never[]) => unknown): string {
  return fn.name ? `a function (${fn.name})` : "a function";
}

function describeKey(key: unknown): string {
  return typeof key === "string" ? JSON.stringify(key) : String(key);
}

function propertyPath(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key)
    ? `.${key}`
    : `[${JSON.stringify(key)}]`;
}

function readValue(source: Value): unknown {
  switch (source.which()) {
    case Value_Which.UNDEFINED:
      return undefined;
    case Value_Which.NULL:
      return null;
    case Value_Which.BOOL:
      return source.bool;
    case Value_Which.NUMBER:
      return source.number;
    case Value_Which.STRING:
      return source.string;
    case Value_Which.BIGINT:
      return BigInt(source.bigint);
    case Value_Which.BYTES:
      return new Uint8Array(source.bytes.toUint8Array());
    case Value_Which.DATE:
      return new Date(source.date);
    case Value_Which.ARRAY:
      return Array.from(source.array, readValue);
    case Value_Which.OBJECT:
      return readObject(source);
    case Value_Which.MAP:
      return new Map(
        Array.from(source.map, (e) => [readValue(e.key), readValue(e.value)]),
      );
    case Value_Which.SET:
      return new Set(Array.from(source.set, readValue));
    default:
      throw new TypeError(
        `unknown Value variant ${source.which()}; the sender runs a newer schema`,
      );
  }
}

function readObject(source: Value): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const field of source.object) {
    // defineProperty keeps a "__proto__" key an own property instead of a prototype change.
    Object.defineProperty(result, field.key, {
      value: readValue(field.value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return result;
}

/**
 * Converts a decoded value to JSON-compatible data for the HTTP API.
 * undefined becomes null, or is omitted in objects. bigint becomes a decimal
 * string, Uint8Array a base64 string, Date an ISO string and Set an array.
 * A Map becomes an object when every key is a string, else an array of
 * [key, value] pairs.
 */
export function toJson(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value !== "object") return value;
  if (value instanceof Uint8Array) return bytesToBase64(value);
  if (value instanceof Date)
    return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Array.isArray(value)) return value.map(toJson);
  if (value instanceof Set) return Array.from(value, toJson);
  if (value instanceof Map) return mapToJson(value);
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== undefined) setOwn(result, key, toJson(item));
  }
  return result;
}

function mapToJson(map: Map<unknown, unknown>): unknown {
  const stringKeys = [...map.keys()].every((k) => typeof k === "string");
  if (!stringKeys) return Array.from(map, ([k, v]) => [toJson(k), toJson(v)]);
  const result: Record<string, unknown> = {};
  for (const [key, item] of map) setOwn(result, key as string, toJson(item));
  return result;
}

/** Sets a property so that a "__proto__" key stays data, as JSON.stringify expects. */
function setOwn(
  target: Record<string, unknown>,
  key: string,
  value: unknown,
): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
