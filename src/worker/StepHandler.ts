/**
 * The handler SDK: how a step's code is written.
 *
 * ```ts
 * const ValidateOrder = StepHandler.effect(
 *   (ctx) => Effect.succeed({ order_id: ctx.input.order_id, total: sum(ctx.input.items) }),
 *   { input: Order, output: ValidatedOrder }
 * )
 * const ChargePayment = StepHandler.promise(async (ctx, signal) => gateway.charge(ctx.config.gateway, { signal }))
 * ```
 *
 * A handler is a function of its `StepContext` returning the step's output (JSON), as an Effect
 * (`effect`) or a Promise (`promise`; the `AbortSignal` fires when the step is interrupted).
 * Optional schemas: `input` decodes the task context into `ctx.input`, `config` decodes the step's
 * inputs (`handler.initialization`) into `ctx.config`, `output` encodes the handler's output. A
 * context or inputs that do not decode, or an output that does not encode, fail the step
 * permanently with a message naming the field. Errors: see `ErrorClassification.ts`. Decision and
 * batchable steps build their outcome with `DecisionOutcome` / `BatchOutcome` (REFERENCE 8.2, 8.3).
 *
 * @since 0.1.0
 */
import { Effect, Result, Schema } from "effect"
import { formatSchemaError } from "../domain/Errors.ts"
import type { JsonObject } from "../domain/Ids.ts"
import { InputValidationError, OutputValidationError, PermanentError } from "./ErrorClassification.ts"
import { CurrentStep, type StepContext } from "./StepContext.ts"

const TypeId = "~tasker/worker/StepHandler" as const

/**
 * A handler as the worker runs it: the raw context in, the step's JSON output out. Any failure
 * (typed or defect) is classified by the worker. `R` is what the handler needs from the host.
 *
 * @category models
 * @since 0.1.0
 */
export interface StepHandler<R = never> {
  readonly [TypeId]: typeof TypeId
  /** Recorded as `metadata.handler_version`. */
  readonly version: string | undefined
  readonly execute: (ctx: StepContext) => Effect.Effect<Schema.Json, unknown, R>
}

/** Schemas of a handler; `Encoded` sides are what is stored / submitted. @category models @since 0.1.0 */
export interface HandlerOptions<I, C, O> {
  readonly input?: Schema.Codec<I, unknown> | undefined
  readonly config?: Schema.Codec<C, unknown> | undefined
  readonly output?: Schema.Codec<O, unknown> | undefined
  readonly version?: string | undefined
}

/** @category guards @since 0.1.0 */
export const isStepHandler = (u: unknown): u is StepHandler<unknown> =>
  typeof u === "object" && u !== null && TypeId in u

/**
 * Handler output as stored JSON: a JSON round trip (dates become strings, `undefined` fields
 * vanish, `undefined` itself becomes `null`); a value JSON cannot hold fails permanently.
 */
const toJson = (value: unknown) =>
  Effect.try({
    try: (): Schema.Json => value === undefined ? null : JSON.parse(JSON.stringify(value)) ?? null,
    catch: (cause) =>
      new OutputValidationError({
        message: `the handler's output is not JSON: ${cause instanceof Error ? cause.message : String(cause)}`
      })
  })

const decodeWith = <A>(schema: Schema.Codec<A, unknown>, value: unknown, source: "context" | "inputs") =>
  Schema.decodeUnknownEffect(schema)(value, { errors: "all" }).pipe(
    Effect.mapError((error) =>
      new InputValidationError({
        message: `the ${source === "context" ? "task context does" : "step inputs do"} not match the handler's ${
          source === "context" ? "input" : "config"
        } schema: ${formatSchemaError(error)}`,
        source
      })
    )
  )

const make = <I, C, O, E, R>(
  run: (ctx: StepContext<I, C>) => Effect.Effect<O, E, R>,
  options: HandlerOptions<I, C, O> = {}
): StepHandler<Exclude<R, CurrentStep>> => {
  const { config, input, output } = options
  const encodeOutput = output === undefined ? undefined : Schema.encodeUnknownEffect(output)
  return {
    [TypeId]: TypeId,
    version: options.version,
    execute: (raw) =>
      Effect.gen(function*() {
        const decodedInput = input === undefined ? raw.context as I : yield* decodeWith(input, raw.context, "context")
        const decodedConfig = config === undefined ? raw.inputs as C : yield* decodeWith(config, raw.inputs, "inputs")
        const ctx: StepContext<I, C> = { ...raw, input: decodedInput, config: decodedConfig }
        const result = yield* Effect.suspend(() => run(ctx))
        if (encodeOutput === undefined) return yield* toJson(result)
        const encoded = yield* encodeOutput(result, { errors: "all" }).pipe(
          Effect.mapError((error) =>
            new OutputValidationError({
              message: `the handler's output does not match its output schema: ${formatSchemaError(error)}`
            })
          )
        )
        return yield* toJson(encoded)
      }).pipe(Effect.provideService(CurrentStep, raw))
  }
}

/**
 * A handler written as an Effect.
 *
 * @category constructors
 * @since 0.1.0
 */
export const effect = <O, E = never, R = never, I = JsonObject, C = JsonObject>(
  run: (ctx: StepContext<I, C>) => Effect.Effect<O, E, R>,
  options?: HandlerOptions<I, C, O>
): StepHandler<Exclude<R, CurrentStep>> => make(run, options)

/**
 * A handler written as an async function. A thrown error or rejection is the step's failure; the
 * signal is aborted when the step is interrupted (timeout, lost lease, shutdown).
 *
 * @category constructors
 * @since 0.1.0
 */
export const promise = <O, I = JsonObject, C = JsonObject>(
  run: (ctx: StepContext<I, C>, signal: AbortSignal) => PromiseLike<O>,
  options?: HandlerOptions<I, C, O>
): StepHandler =>
  make((ctx: StepContext<I, C>) => Effect.tryPromise({ try: (signal) => run(ctx, signal), catch: (error) => error }), options)

/**
 * A handler that always returns the same output (tests, placeholders).
 *
 * @category constructors
 * @since 0.1.0
 */
export const succeed = (output: Schema.Json = {}): StepHandler => make(() => Effect.succeed(output))

const decodeDependency = <A>(
  ctx: Pick<StepContext<unknown, unknown>, "dependencyResult">,
  stepName: string,
  schema: Schema.Codec<A, unknown>
): Result.Result<A, PermanentError> => {
  const output = ctx.dependencyResult(stepName)
  if (output === undefined) {
    return Result.fail(new PermanentError({ message: `no result of dependency ${stepName}`, errorCode: "missing_dependency" }))
  }
  return Result.mapError(Schema.decodeUnknownResult(schema)(output, { errors: "all" }), (error) =>
    new PermanentError({
      message: `the result of dependency ${stepName} does not match: ${formatSchemaError(error)}`,
      errorCode: "invalid_dependency_result"
    }))
}

/**
 * The output of the ancestor `stepName`, decoded with `schema`. A missing ancestor or an output
 * that does not decode is a `PermanentError` naming the step (and the field).
 *
 * @category accessors
 * @since 0.1.0
 */
export const dependency = <A>(
  ctx: Pick<StepContext<unknown, unknown>, "dependencyResult">,
  stepName: string,
  schema: Schema.Codec<A, unknown>
): Effect.Effect<A, PermanentError> => Effect.fromResult(decodeDependency(ctx, stepName, schema))

/**
 * `dependency` for async handlers: throws the `PermanentError`.
 *
 * @category accessors
 * @since 0.1.0
 */
export const dependencySync = <A>(
  ctx: Pick<StepContext<unknown, unknown>, "dependencyResult">,
  stepName: string,
  schema: Schema.Codec<A, unknown>
): A => {
  const result = decodeDependency(ctx, stepName, schema)
  if (Result.isFailure(result)) throw result.failure
  return result.success
}

/** @since 0.1.0 */
export const StepHandler = { effect, promise, succeed, dependency, dependencySync, isStepHandler } as const

// -----------------------------------------------------------------------------
// Outcomes of decision and batchable steps (REFERENCE 8.2, 8.3)
// -----------------------------------------------------------------------------

/** `result.decision_point_outcome`. @category outcomes @since 0.1.0 */
export const DecisionPointOutcome = Schema.Union([
  Schema.Struct({ type: Schema.Literal("no_branches") }),
  Schema.Struct({ type: Schema.Literal("create_steps"), step_names: Schema.Array(Schema.String) })
])
/** @category outcomes @since 0.1.0 */
export type DecisionPointOutcome = typeof DecisionPointOutcome.Type

/** One batch of a batchable step; cursors are any JSON. @category outcomes @since 0.1.0 */
export const CursorConfig = Schema.Struct({
  batch_id: Schema.String,
  start_cursor: Schema.Json,
  end_cursor: Schema.Json,
  batch_size: Schema.Int
})
/** @category outcomes @since 0.1.0 */
export type CursorConfig = typeof CursorConfig.Type

/** `result.batch_processing_outcome`. @category outcomes @since 0.1.0 */
export const BatchProcessingOutcome = Schema.Union([
  Schema.Struct({ type: Schema.Literal("no_batches") }),
  Schema.Struct({
    type: Schema.Literal("create_batches"),
    worker_template_name: Schema.String,
    worker_count: Schema.Int,
    cursor_configs: Schema.Array(CursorConfig),
    total_items: Schema.Int
  })
])
/** @category outcomes @since 0.1.0 */
export type BatchProcessingOutcome = typeof BatchProcessingOutcome.Type

/**
 * Outputs of a `decision` step: which of the steps below it to create. `extra` fields are kept
 * beside the outcome in the step's output.
 *
 * @category outcomes
 * @since 0.1.0
 */
export const DecisionOutcome = {
  createSteps: <const X extends JsonObject = {}>(stepNames: ReadonlyArray<string>, extra?: X) => ({
    ...(extra as X),
    decision_point_outcome: { type: "create_steps" as const, step_names: [...stepNames] }
  }),
  noBranches: <const X extends JsonObject = {}>(extra?: X) => ({
    ...(extra as X),
    decision_point_outcome: { type: "no_branches" as const }
  })
}

/** One batch before numbering; `batchId` defaults to its 1-based position, zero-padded (`001`). @category outcomes @since 0.1.0 */
export interface BatchCursor {
  readonly batchId?: string
  readonly startCursor: Schema.Json
  readonly endCursor: Schema.Json
  readonly batchSize: number
}

/**
 * Outputs of a `batchable` step: the batches its `batch_worker` template is cloned for.
 *
 * @category outcomes
 * @since 0.1.0
 */
export const BatchOutcome = {
  createBatches: <const X extends JsonObject = {}>(
    options: { readonly workerTemplateName: string; readonly cursors: ReadonlyArray<BatchCursor>; readonly totalItems: number },
    extra?: X
  ) => ({
    ...(extra as X),
    batch_processing_outcome: {
      type: "create_batches" as const,
      worker_template_name: options.workerTemplateName,
      worker_count: options.cursors.length,
      cursor_configs: options.cursors.map((cursor, i) => ({
        batch_id: cursor.batchId ?? String(i + 1).padStart(3, "0"),
        start_cursor: cursor.startCursor,
        end_cursor: cursor.endCursor,
        batch_size: cursor.batchSize
      })),
      total_items: options.totalItems
    }
  }),
  noBatches: <const X extends JsonObject = {}>(extra?: X) => ({
    ...(extra as X),
    batch_processing_outcome: { type: "no_batches" as const }
  }),
  /** Numeric cursors `[start, end)` of at most `batchSize` items covering `totalItems`. */
  rangeCursors: (totalItems: number, batchSize: number): ReadonlyArray<BatchCursor> =>
    Array.from({ length: Math.ceil(Math.max(0, totalItems) / Math.max(1, batchSize)) }, (_, i) => {
      const start = i * Math.max(1, batchSize)
      const end = Math.min(totalItems, start + Math.max(1, batchSize))
      return { startCursor: start, endCursor: end, batchSize: end - start }
    })
}
