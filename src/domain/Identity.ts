/**
 * Task identity: canonical JSON and the SHA-256 identity hash that `tasks.identity_hash` (UNIQUE)
 * stores (DESIGN 4.3, REFERENCE 8.5).
 *
 * - an `idempotency_key` always wins: hash(named task, key);
 * - `strict`: hash(named task, canonical context), so key order and whitespace do not matter;
 * - `caller_provided` without a key: `IdempotencyKeyRequired`;
 * - `always_unique`: hash(named task, fresh random UUID), so every request makes a new task.
 *
 * The hashed text is itself canonical JSON of a small envelope (`{"context":…,"named_task_uuid":…}`
 * or `{"idempotency_key":…,"named_task_uuid":…}`), which keeps the variants from ever colliding.
 *
 * @since 0.1.0
 */
import { createHash, randomUUID } from "node:crypto"
import { Effect, Schema } from "effect"
import { IdempotencyKeyRequired } from "./Errors.ts"
import type { NamedTaskUuid } from "./Ids.ts"
import type { IdentityStrategy } from "./TaskRequest.ts"

/**
 * JSON text with object keys sorted (by UTF-16 code units, recursively), array order kept and no
 * whitespace. Keys whose value is `undefined` are left out, as `JSON.stringify` does, so a value and
 * its JSON round trip have the same canonical form.
 *
 * @category encoding
 * @since 0.1.0
 */
export const canonicalJson = (value: Schema.Json): string => {
  if (value === null || typeof value !== "object") return JSON.stringify(value)
  if (Array.isArray(value)) {
    const items: ReadonlyArray<Schema.Json> = value
    return `[${items.map((item) => item === undefined ? "null" : canonicalJson(item)).join(",")}]`
  }
  const object = value as Schema.JsonObject
  const members: Array<string> = []
  for (const key of Object.keys(object).sort()) {
    const member = object[key]
    if (member !== undefined) members.push(`${JSON.stringify(key)}:${canonicalJson(member)}`)
  }
  return `{${members.join(",")}}`
}

/** Lower-case hex SHA-256 of the UTF-8 text. @category hashing @since 0.1.0 */
export const sha256Hex = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex")

/** The `strict` identity: named task + canonical context. @category hashing @since 0.1.0 */
export const contextIdentityHash = (namedTaskUuid: NamedTaskUuid, context: Schema.JsonObject): string =>
  sha256Hex(canonicalJson({ named_task_uuid: namedTaskUuid, context }))

/** The caller's identity: named task + idempotency key. @category hashing @since 0.1.0 */
export const keyIdentityHash = (namedTaskUuid: NamedTaskUuid, idempotencyKey: string): string =>
  sha256Hex(canonicalJson({ named_task_uuid: namedTaskUuid, idempotency_key: idempotencyKey }))

/**
 * The identity hash for a new task under the template's strategy. An Effect because
 * `always_unique` draws a random value.
 *
 * @category hashing
 * @since 0.1.0
 */
export const identityHash = (
  strategy: IdentityStrategy,
  namedTaskUuid: NamedTaskUuid,
  context: Schema.JsonObject,
  idempotencyKey?: string | undefined
): Effect.Effect<string, IdempotencyKeyRequired> => {
  if (idempotencyKey !== undefined) return Effect.succeed(keyIdentityHash(namedTaskUuid, idempotencyKey))
  switch (strategy) {
    case "strict":
      return Effect.succeed(contextIdentityHash(namedTaskUuid, context))
    case "caller_provided":
      return Effect.fail(new IdempotencyKeyRequired({ named_task_uuid: namedTaskUuid }))
    case "always_unique":
      return Effect.sync(() =>
        sha256Hex(canonicalJson({ named_task_uuid: namedTaskUuid, unique: randomUUID() }))
      )
  }
}
