/**
 * The request to create a task (REFERENCE 5.1), with its wire (snake_case) keys and limits, and the
 * identity strategies a template may declare.
 *
 * Required: `name`, `namespace`, `version`, `context`, `initiator`, `source_system`, `reason`.
 * Optional, with what decoding does when they are absent or `null`:
 * - `tags` → `[]` (at most 100 tags of 1..255 characters: ours, the reference has no bound);
 * - `priority` → `0` (integer in -100..100);
 * - `requested_at` → absent; the task initializer stamps `now` (REST always overwrites it anyway);
 * - `correlation_id` → absent; the task initializer generates one (randomness stays out of decoding);
 * - `parent_correlation_id`, `idempotency_key` (1..255 characters), `options` → absent.
 * Unknown keys are dropped, as the reference's decoder ignores them.
 *
 * @since 0.1.0
 */
import { Buffer } from "node:buffer"
import { Effect, Schema } from "effect"
import { InvalidTaskRequest } from "./Errors.ts"
import { BoundedString, CorrelationId, JsonObject, optionalNullable, withDefault } from "./Ids.ts"

/**
 * How a template derives a task's identity hash (DESIGN 4.3, REFERENCE 8.5).
 *
 * @category models
 * @since 0.1.0
 */
export const IdentityStrategy = Schema.Literals(["strict", "caller_provided", "always_unique"])
/** @category models @since 0.1.0 */
export type IdentityStrategy = typeof IdentityStrategy.Type

/**
 * The limits on a task context (REFERENCE 5.1). The top-level object is depth 1; every nested
 * object or array adds one. String length counts Unicode code points, as the reference does.
 *
 * @category constants
 * @since 0.1.0
 */
export const contextLimits = {
  maxBytes: 1024 * 1024,
  maxDepth: 10,
  maxKeys: 1000,
  maxItems: 1000,
  maxStringLength: 10_000
} as const

const codePointsExceed = (text: string, max: number): boolean => {
  // UTF-16 length is an upper bound on code points, so most strings never need the slow count.
  if (text.length <= max) return false
  let count = 0
  for (const _ of text) if (++count > max) return true
  return false
}

type Violation = { readonly path: ReadonlyArray<PropertyKey>; readonly issue: string }

const findViolation = (value: Schema.Json, path: Array<PropertyKey>, depth: number): Violation | undefined => {
  if (typeof value === "string") {
    return codePointsExceed(value, contextLimits.maxStringLength)
      ? { path: [...path], issue: `string longer than ${contextLimits.maxStringLength} characters` }
      : undefined
  }
  if (value === null || typeof value !== "object") return undefined
  if (depth > contextLimits.maxDepth) {
    return { path: [...path], issue: `nested deeper than ${contextLimits.maxDepth} levels` }
  }
  if (Array.isArray(value)) {
    const items: ReadonlyArray<Schema.Json> = value
    if (items.length > contextLimits.maxItems) {
      return { path: [...path], issue: `array with more than ${contextLimits.maxItems} items` }
    }
    for (let i = 0; i < items.length; i++) {
      path.push(i)
      const found = findViolation(items[i], path, depth + 1)
      path.pop()
      if (found !== undefined) return found
    }
    return undefined
  }
  const object = value as Schema.JsonObject
  const keys = Object.keys(object)
  if (keys.length > contextLimits.maxKeys) {
    return { path: [...path], issue: `object with more than ${contextLimits.maxKeys} keys` }
  }
  for (const key of keys) {
    path.push(key)
    const found = codePointsExceed(key, contextLimits.maxStringLength)
      ? { path: [...path], issue: `key longer than ${contextLimits.maxStringLength} characters` }
      : findViolation(object[key], path, depth + 1)
    path.pop()
    if (found !== undefined) return found
  }
  return undefined
}

/**
 * A task context: a JSON object within {@link contextLimits}. A failure names the offending path
 * inside the context.
 *
 * @category schemas
 * @since 0.1.0
 */
export const TaskContext = JsonObject.check(
  Schema.makeFilter((context: Schema.JsonObject) => {
    const found = findViolation(context, [], 1)
    if (found !== undefined) return found
    const bytes = Buffer.byteLength(JSON.stringify(context), "utf8")
    return bytes > contextLimits.maxBytes
      ? `serialized size ${bytes} bytes exceeds ${contextLimits.maxBytes} bytes (1 MiB)`
      : undefined
  }, { expected: "a task context within the size limits" })
)
/** @category models @since 0.1.0 */
export type TaskContext = typeof TaskContext.Type

/**
 * @category models
 * @since 0.1.0
 */
export class TaskRequest extends Schema.Class<TaskRequest>("TaskRequest")({
  name: BoundedString(1, 255),
  namespace: BoundedString(1, 255),
  version: BoundedString(1, 50),
  context: TaskContext,
  // varchar(128) columns
  initiator: BoundedString(1, 128),
  source_system: BoundedString(1, 128),
  reason: BoundedString(1, 128),
  tags: withDefault(Schema.Array(BoundedString(1, 255)).check(Schema.isMaxLength(100)), () => []),
  requested_at: optionalNullable(Schema.DateTimeUtcFromString),
  // kept on the decoded request but not persisted (as in the reference)
  options: optionalNullable(JsonObject),
  priority: withDefault(Schema.Int.check(Schema.isBetween({ minimum: -100, maximum: 100 })), () => 0),
  correlation_id: optionalNullable(CorrelationId),
  parent_correlation_id: optionalNullable(CorrelationId),
  idempotency_key: optionalNullable(BoundedString(1, 255))
}) {}

const decodeUnknown = Schema.decodeUnknownEffect(TaskRequest)

/**
 * Decodes an untrusted request body; the error names the offending field.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodeTaskRequest = (input: unknown): Effect.Effect<TaskRequest, InvalidTaskRequest> =>
  decodeUnknown(input).pipe(Effect.mapError(InvalidTaskRequest.fromSchemaError))

/**
 * Encodes to the wire form (what `JSON.stringify` should see).
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodeTaskRequest = Schema.encodeEffect(TaskRequest)
