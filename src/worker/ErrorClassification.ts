/**
 * What a handler's failure means for the step (REFERENCE 7.1, DESIGN 4.4): retry or not, and
 * whether the handler asked for a delay.
 *
 * - `PermanentError` (and the worker's own `InputValidationError`, `OutputValidationError`,
 *   `HandlerNotFound`) are not retryable.
 * - `RetryableError` is retryable; its `retryAfterSeconds` becomes the `Retry-After` header and
 *   the `backoff_hint` of the result's `orchestration_metadata`, which the orchestration honours
 *   (capped by `backoff.maxSeconds`).
 * - Anything else a handler throws, fails with or dies with is retryable, unless it carries
 *   `retryable: false`; any error with a numeric `retryAfterSeconds` carries a backoff hint.
 * - A timeout is retryable.
 *
 * Classification looks at `_tag` (and plain properties), not at `instanceof`, so errors built by
 * another copy of this module classify the same.
 *
 * @since 0.1.0
 */
import { Cause, Option, Predicate, Schema } from "effect"
import { JsonObject } from "../domain/Ids.ts"
import { BackoffHintType } from "../domain/StepExecutionResult.ts"

const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

const detailFields = {
  message: Schema.String,
  /** Recorded as `metadata.error_code`. */
  errorCode: Schema.optionalKey(Schema.String),
  /** An HTTP-like status, recorded as `error.status_code`. */
  statusCode: Schema.optionalKey(Schema.Int),
  /** Recorded as `error.context`. */
  context: Schema.optionalKey(JsonObject),
  cause: Schema.optionalKey(Schema.Defect())
}

/**
 * A failure that retrying cannot fix (bad data, a declined card): the step goes to `error` at once.
 *
 * @category errors
 * @since 0.1.0
 */
export class PermanentError extends Schema.TaggedError<PermanentError>()("PermanentError", detailFields) {}

/**
 * A transient failure; `retryAfterSeconds` asks the orchestration to wait that long before the
 * next attempt (sent as `Retry-After` and `backoff_hint`).
 *
 * @category errors
 * @since 0.1.0
 */
export class RetryableError extends Schema.TaggedError<RetryableError>()("RetryableError", {
  ...detailFields,
  retryAfterSeconds: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))),
  /** Default `ServerRequested`. */
  backoffType: Schema.optionalKey(BackoffHintType)
}) {}

/**
 * The task context (or the step's inputs) does not match the handler's `input` (`config`) schema.
 *
 * @category errors
 * @since 0.1.0
 */
export class InputValidationError extends Schema.TaggedError<InputValidationError>()("InputValidationError", {
  message: Schema.String,
  /** `context` or `inputs`. */
  source: Schema.Literals(["context", "inputs"])
}) {}

/**
 * The handler's output does not match its `output` schema, or is not JSON.
 *
 * @category errors
 * @since 0.1.0
 */
export class OutputValidationError extends Schema.TaggedError<OutputValidationError>()("OutputValidationError", {
  message: Schema.String
}) {}

/**
 * No handler is registered for the step's `handler.callable` (or the template has no such step).
 *
 * @category errors
 * @since 0.1.0
 */
export class HandlerNotFound extends Schema.TaggedError<HandlerNotFound>()("HandlerNotFound", {
  message: Schema.String,
  callable: Schema.NullOr(Schema.String)
}) {}

/** @category models @since 0.1.0 */
export interface Classification {
  readonly message: string
  readonly retryable: boolean
  /** `_tag` of the error, else its `name`, else `HandlerError`; `StepTimeout` for timeouts. */
  readonly errorType: string
  readonly errorCode?: string | undefined
  readonly statusCode?: number | undefined
  readonly context?: JsonObject | undefined
  readonly backtrace?: ReadonlyArray<string> | undefined
  /** Whole seconds the handler asked to wait before the next attempt. */
  readonly retryAfterSeconds?: number | undefined
  readonly backoffType?: BackoffHintType | undefined
  /** `error` for failures of the worker's machinery (no handler), `failed` for the handler's own. */
  readonly status: "failed" | "error"
}

const permanentTags: ReadonlySet<string> = new Set([
  "PermanentError",
  "InputValidationError",
  "OutputValidationError",
  "HandlerNotFound"
])

const maxBacktraceLines = 30
const maxMessageLength = 4000

const decodeJsonObject = Schema.decodeUnknownOption(JsonObject)
const decodeNonNegativeInt = Schema.decodeUnknownOption(NonNegativeInt)
const decodeHintType = Schema.decodeUnknownOption(BackoffHintType)

const stringProperty = (value: unknown, key: string): string | undefined =>
  Predicate.hasProperty(value, key) && Predicate.isString(value[key]) ? value[key] : undefined

const messageOf = (error: unknown): string => {
  const text = stringProperty(error, "message") ?? (Predicate.isString(error) ? error : undefined)
  if (text !== undefined && text !== "") return text.slice(0, maxMessageLength)
  try {
    return (JSON.stringify(error) ?? String(error)).slice(0, maxMessageLength)
  } catch {
    return String(error).slice(0, maxMessageLength)
  }
}

const backtraceOf = (error: unknown): ReadonlyArray<string> | undefined => {
  const stack = stringProperty(error, "stack")
  if (stack === undefined) return undefined
  const lines = stack.split("\n").slice(1).map((line) => line.trim()).filter((line) => line !== "")
  return lines.length === 0 ? undefined : lines.slice(0, maxBacktraceLines)
}

/** `Cause.UnknownError` (a rejected promise without a `catch`) carries the thrown value as `cause`. */
const unwrap = (error: unknown): unknown =>
  Cause.isUnknownError(error) && error.cause !== undefined ? error.cause : error

/**
 * Classifies one thrown / failed / defect value.
 *
 * @category classification
 * @since 0.1.0
 */
export const classifyError = (thrown: unknown): Classification => {
  const error = unwrap(thrown)
  const tag = stringProperty(error, "_tag")
  const retryableFlag = Predicate.hasProperty(error, "retryable") && Predicate.isBoolean(error.retryable)
    ? error.retryable
    : undefined
  const retryable = tag !== undefined && permanentTags.has(tag) ? false : retryableFlag ?? true
  const property = <A>(key: string, decode: (u: unknown) => Option.Option<A>): A | undefined =>
    Predicate.hasProperty(error, key) ? Option.getOrUndefined(decode(error[key])) : undefined
  const retryAfter = property("retryAfterSeconds", (u) => decodeNonNegativeInt(Predicate.isNumber(u) ? Math.ceil(u) : u))
  return {
    message: messageOf(error),
    retryable,
    errorType: tag ?? (error instanceof Error ? error.name : "HandlerError"),
    errorCode: stringProperty(error, "errorCode"),
    statusCode: property("statusCode", decodeNonNegativeInt),
    context: property("context", decodeJsonObject),
    // The worker's own errors have the worker's stack, not the handler's.
    backtrace: tag !== undefined && tag !== "PermanentError" && permanentTags.has(tag) ? undefined : backtraceOf(error),
    retryAfterSeconds: retryable ? retryAfter : undefined,
    backoffType: property("backoffType", decodeHintType),
    status: tag === "HandlerNotFound" ? "error" : "failed"
  }
}

/**
 * Classifies a handler's failure cause: its first typed failure, else its first defect. A cause
 * of interruptions only (the handler interrupted itself) is a retryable `HandlerInterrupted`.
 *
 * @category classification
 * @since 0.1.0
 */
export const classifyCause = (cause: Cause.Cause<unknown>): Classification => {
  const failure = cause.reasons.find(Cause.isFailReason)
  if (failure !== undefined) return classifyError(failure.error)
  const defect = cause.reasons.find(Cause.isDieReason)
  if (defect !== undefined) return classifyError(defect.defect)
  return { message: "the step handler was interrupted", retryable: true, errorType: "HandlerInterrupted", status: "failed" }
}

/**
 * The handler ran longer than the step's timeout (retryable).
 *
 * @category classification
 * @since 0.1.0
 */
export const timedOut = (seconds: number): Classification => ({
  message: `the step handler timed out after ${seconds} s`,
  retryable: true,
  errorType: "StepTimeout",
  status: "failed"
})
