/**
 * What a worker reports for one step execution (REFERENCE 5.1), stored whole in
 * `workflow_steps.results`. Decoding is as lenient as the reference about absent fields (they take
 * the reference's defaults) and strict about the types of the fields that are present.
 *
 * @since 0.1.0
 */
import { DateTime, Option, Predicate, Schema, SchemaTransformation } from "effect"
import { JsonObject, optionalNullable, StepUuid, withDefault } from "./Ids.ts"

/** @category models @since 0.1.0 */
export const StepResultStatus = Schema.Literals(["completed", "failed", "error"])
/** @category models @since 0.1.0 */
export type StepResultStatus = typeof StepResultStatus.Type

// The reference writes "" when it leaves the status to be derived from `success`.
const OptionalStatus = Schema.optional(Schema.NullOr(Schema.Union([StepResultStatus, Schema.Literal("")]))).pipe(
  Schema.decodeTo(
    Schema.optionalKey(StepResultStatus),
    SchemaTransformation.transformOptional<StepResultStatus, StepResultStatus | "" | null | undefined>({
      decode: (o) => Option.filter(o, (s): s is StepResultStatus => Predicate.isNotNullish(s) && s !== ""),
      encode: (o) => o
    })
  )
)

const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** Error details of a failed execution. @category models @since 0.1.0 */
export const StepExecutionError = Schema.Struct({
  message: Schema.String,
  error_type: optionalNullable(Schema.String),
  backtrace: optionalNullable(Schema.Array(Schema.String)),
  retryable: withDefault(Schema.Boolean, () => false),
  status_code: optionalNullable(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))),
  context: optionalNullable(JsonObject)
})
/** @category models @since 0.1.0 */
export type StepExecutionError = typeof StepExecutionError.Type

/** Observability data; `retryable` is the worker's verdict orchestration combines with the template's. @category models @since 0.1.0 */
export const StepExecutionMetadata = Schema.Struct({
  execution_time_ms: withDefault(NonNegativeInt, () => 0),
  handler_version: optionalNullable(Schema.String),
  retryable: withDefault(Schema.Boolean, () => false),
  completed_at: optionalNullable(Schema.DateTimeUtcFromString),
  worker_id: optionalNullable(Schema.String),
  worker_hostname: optionalNullable(Schema.String),
  started_at: optionalNullable(Schema.DateTimeUtcFromString),
  custom: withDefault(JsonObject, () => ({})),
  error_code: optionalNullable(Schema.String),
  error_type: optionalNullable(Schema.String),
  context: withDefault(JsonObject, () => ({}))
})
/** @category models @since 0.1.0 */
export type StepExecutionMetadata = typeof StepExecutionMetadata.Type

/** @category models @since 0.1.0 */
export const BackoffHintType = Schema.Literals(["ServerRequested", "RateLimit", "ServiceUnavailable", "Custom"])
/** @category models @since 0.1.0 */
export type BackoffHintType = typeof BackoffHintType.Type

/** A handler's request for a retry delay (honoured, capped by `max_backoff_seconds`; DESIGN 4.4). @category models @since 0.1.0 */
export const BackoffHint = Schema.Struct({
  backoff_type: BackoffHintType,
  delay_seconds: NonNegativeInt,
  context: optionalNullable(Schema.String)
})
/** @category models @since 0.1.0 */
export type BackoffHint = typeof BackoffHint.Type

/** Hints for orchestration: response headers (`Retry-After`), backoff hint, custom data. @category models @since 0.1.0 */
export const OrchestrationMetadata = Schema.Struct({
  headers: withDefault(Schema.Record(Schema.String, Schema.String), () => ({})),
  error_context: optionalNullable(Schema.String),
  backoff_hint: optionalNullable(BackoffHint),
  custom: withDefault(JsonObject, () => ({}))
})
/** @category models @since 0.1.0 */
export type OrchestrationMetadata = typeof OrchestrationMetadata.Type

/** Inputs shared by {@link StepExecutionResult.success} and {@link StepExecutionResult.failure}. @category constructors @since 0.1.0 */
export interface StepResultCommon {
  readonly step_uuid: StepUuid
  readonly execution_time_ms?: number | undefined
  readonly started_at?: DateTime.Utc | undefined
  readonly completed_at?: DateTime.Utc | undefined
  readonly worker_id?: string | undefined
  readonly worker_hostname?: string | undefined
  readonly handler_version?: string | undefined
  readonly custom?: JsonObject | undefined
  readonly orchestration_metadata?: OrchestrationMetadata | undefined
}

/** @category constructors @since 0.1.0 */
export interface StepFailureInput extends StepResultCommon {
  readonly message: string
  readonly retryable: boolean
  /** `failed` (handler reported a failure, the default) or `error` (a system-level error). */
  readonly status?: "failed" | "error" | undefined
  readonly error_type?: string | undefined
  readonly error_code?: string | undefined
  readonly backtrace?: ReadonlyArray<string> | undefined
  readonly status_code?: number | undefined
  readonly context?: JsonObject | undefined
  /** Partial output worth keeping; `{}` when absent, as the reference stores for failures. */
  readonly result?: Schema.Json | undefined
}

type Defined<T> = { [K in keyof T]: Exclude<T[K], undefined> }

// Optional keys must be absent, not undefined (exactOptionalPropertyTypes and optionalKey agree).
const defined = <T extends object>(fields: T): Partial<Defined<T>> =>
  Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<Defined<T>>

const metadataOf = (
  input: StepResultCommon,
  retryable: boolean,
  extra: { readonly error_code?: string | undefined; readonly error_type?: string | undefined }
) =>
  StepExecutionMetadata.make({
    ...defined({
      execution_time_ms: input.execution_time_ms,
      handler_version: input.handler_version,
      completed_at: input.completed_at,
      worker_id: input.worker_id,
      worker_hostname: input.worker_hostname,
      started_at: input.started_at,
      custom: input.custom,
      error_code: extra.error_code,
      error_type: extra.error_type
    }),
    retryable
  })

/**
 * @category models
 * @since 0.1.0
 */
export class StepExecutionResult extends Schema.Class<StepExecutionResult>("StepExecutionResult")({
  step_uuid: StepUuid,
  success: Schema.Boolean,
  result: withDefault(Schema.NullOr(Schema.Json), (): Schema.Json => null),
  status: OptionalStatus,
  error: withDefault(Schema.NullOr(StepExecutionError), () => null),
  metadata: withDefault(StepExecutionMetadata, () => StepExecutionMetadata.make({})),
  orchestration_metadata: withDefault(Schema.NullOr(OrchestrationMetadata), () => null)
}) {
  /** The status, derived from `success` when the worker left it out. */
  get effectiveStatus(): StepResultStatus {
    return this.status ?? (this.success ? "completed" : "failed")
  }

  /** A successful execution with the handler's output. Pure: timestamps are passed in. */
  static success(input: StepResultCommon & { readonly result: Schema.Json }): StepExecutionResult {
    return new StepExecutionResult({
      step_uuid: input.step_uuid,
      success: true,
      result: input.result,
      status: "completed",
      error: null,
      metadata: metadataOf(input, false, {}),
      orchestration_metadata: input.orchestration_metadata ?? null
    })
  }

  /** A failed execution; `retryable` is recorded both on the error and in the metadata. */
  static failure(input: StepFailureInput): StepExecutionResult {
    return new StepExecutionResult({
      step_uuid: input.step_uuid,
      success: false,
      result: input.result ?? {},
      status: input.status ?? "failed",
      error: {
        ...defined({
          error_type: input.error_type,
          backtrace: input.backtrace,
          status_code: input.status_code,
          context: input.context
        }),
        message: input.message,
        retryable: input.retryable
      },
      metadata: metadataOf(input, input.retryable, { error_code: input.error_code, error_type: input.error_type }),
      orchestration_metadata: input.orchestration_metadata ?? null
    })
  }
}

/**
 * The worker asks for a retry: a failure whose metadata says retryable (REFERENCE 7.1). Whether a
 * retry happens also needs the template's `retryable` and the attempt budget (DESIGN 4.4).
 *
 * @category predicates
 * @since 0.1.0
 */
export const isRetryableFailure = (result: StepExecutionResult): boolean =>
  !result.success && result.metadata.retryable

/** @category decoding @since 0.1.0 */
export const decodeStepExecutionResult = Schema.decodeUnknownEffect(StepExecutionResult)

/** To the JSON-ready object stored in `workflow_steps.results`. @category encoding @since 0.1.0 */
export const encodeStepExecutionResult = Schema.encodeEffect(StepExecutionResult)

/** The delay a handler asked for, if any: its backoff hint. @category lookups @since 0.1.0 */
export const requestedBackoffSeconds = (result: StepExecutionResult): Option.Option<number> =>
  Option.fromUndefinedOr(result.orchestration_metadata?.backoff_hint?.delay_seconds)
