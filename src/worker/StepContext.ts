/**
 * What a step handler sees: the task, the step, its inputs, its dependencies' results and the
 * attempt it is on. Built by the worker from one claim (`WorkerRepository.claim`), with nothing
 * read later: everything comes from the claim's single round trip.
 *
 * - `context` is the task context as submitted; `input` is the same decoded by the handler's
 *   `input` schema (the raw object when the handler has none).
 * - `inputs` is the step's configuration: the template's `handler.initialization` with the step's
 *   stored `workflow_steps.inputs` over it (batch workers add their cursor there); `config` is
 *   the same decoded by the handler's `config` schema.
 * - `dependencyResults` maps each completed transitive ancestor's step name to its handler's
 *   output; `dependencyExecutions` to its whole stored `StepExecutionResult` JSON.
 *
 * Batch workers (REFERENCE 8.3): `inputs.cursor` is their range; `ctx.checkpoint(cursor, items,
 * partial)` records progress while they run (only while the worker still holds the lease), and a
 * retried or re-claimed execution finds the last one in `ctx.lastCheckpoint` to resume from.
 *
 * Effect handlers may also read it from the environment with `yield* CurrentStep`.
 *
 * @since 0.1.0
 */
import { Context, Data, Duration, Effect, Predicate, type Schema } from "effect"
import type { CorrelationId, JsonObject, StepUuid, TaskUuid } from "../domain/Ids.ts"
import type { ClaimedStep, ClaimEvent, WorkerDatabaseUnavailable } from "./WorkerRepository.ts"

/**
 * A batch worker's progress as stored in `workflow_steps.checkpoint` (the last 20 earlier ones in
 * `history`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Checkpoint {
  readonly cursor: Schema.Json
  readonly items_processed: number
  readonly accumulated_results: Schema.Json
  readonly timestamp?: string
  readonly history?: ReadonlyArray<{ readonly cursor: Schema.Json; readonly items_processed: number }>
}

/**
 * A checkpoint was refused: the worker no longer holds the step's lease (another worker re-claimed
 * it, or the step moved on). Stop working: the result would not count.
 *
 * @category errors
 * @since 0.1.0
 */
export class CheckpointRejected extends Data.TaggedError("CheckpointRejected")<{ readonly stepUuid: string }> {}

/** Writes a checkpoint under the claim's lease; `false` = the lease is lost. */
export type CheckpointWriter = (checkpoint: Checkpoint) => Effect.Effect<boolean, WorkerDatabaseUnavailable>

/**
 * @category models
 * @since 0.1.0
 */
export interface StepContext<Input = JsonObject, Config = JsonObject> {
  readonly taskUuid: TaskUuid
  readonly stepUuid: StepUuid
  readonly stepName: string
  /** The template step this step was made from (differs from `stepName` for batch workers). */
  readonly templateStepName: string
  /** The template step's `type` (`standard`, `decision`, `batchable`, `batch_worker`, ...). */
  readonly stepType: string
  readonly namespace: string
  readonly taskName: string
  readonly taskVersion: string
  readonly correlationId: CorrelationId
  /** The task context, as submitted. */
  readonly context: JsonObject
  /** The task context decoded by the handler's `input` schema (`context` without one). */
  readonly input: Input
  /** `handler.initialization` with the step's stored inputs over it. */
  readonly inputs: JsonObject
  /** `inputs` decoded by the handler's `config` schema (`inputs` without one). */
  readonly config: Config
  /** Handler output of each completed (or manually resolved) transitive ancestor, by step name. */
  readonly dependencyResults: Readonly<Record<string, Schema.Json>>
  /** The whole stored `StepExecutionResult` JSON of each such ancestor (`null` if resolved without one). */
  readonly dependencyExecutions: Readonly<Record<string, Schema.Json>>
  /** Output of one ancestor by step name; `undefined` when it is not an ancestor (or has none). */
  dependencyResult(stepName: string): Schema.Json | undefined
  /** 1 on the first execution (counted at claim time, so a crashed worker's run counts). */
  readonly attempt: number
  readonly maxAttempts: number
  /** `attempt > 1`. */
  readonly isRetry: boolean
  /** No attempt follows this one if it fails. */
  readonly isLastAttempt: boolean
  /** The template's `retry.retryable`. */
  readonly retryable: boolean
  /** `Start` (first claim of this enqueue) or `Reclaim` (an earlier worker's lease lapsed). */
  readonly claimEvent: ClaimEvent
  /** The step's last stored checkpoint (batch workers), `null` when none: resume after its `cursor`. */
  readonly lastCheckpoint: Checkpoint | null
  /**
   * Records progress (`cursor` = the last item done) so a retry or a re-claim resumes after it.
   * Fails with `CheckpointRejected` once the lease is lost.
   */
  checkpoint(
    cursor: Schema.Json,
    itemsProcessed: number,
    accumulatedResults?: Schema.Json
  ): Effect.Effect<void, CheckpointRejected | WorkerDatabaseUnavailable>
  /** The template's step definition as registered. */
  readonly stepDefinition: JsonObject | null
  /** How long the handler may run before it is interrupted. */
  readonly timeout: Duration.Duration
  readonly workerId: string
}

/**
 * The step being executed, for code called from an Effect handler.
 *
 * @category services
 * @since 0.1.0
 */
export class CurrentStep extends Context.Service<CurrentStep, StepContext>()("tasker/worker/CurrentStep") {}

const asObject = (value: Schema.Json | null | undefined): JsonObject =>
  Predicate.isObject(value) && !Array.isArray(value) ? value as JsonObject : {}

const handlerOutput = (stored: Schema.Json): Schema.Json => {
  const object = asObject(stored)
  return Object.hasOwn(object, "result") ? object.result ?? null : stored
}


/**
 * The step's timeout: the template's `timeout_seconds`, else `fallback`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const timeoutOf = (claimed: ClaimedStep, fallback: Duration.Duration): Duration.Duration =>
  claimed.timeoutSeconds !== null && claimed.timeoutSeconds > 0 ? Duration.seconds(claimed.timeoutSeconds) : fallback

/**
 * The raw context of a claim (no schemas applied: `input` is `context`, `config` is `inputs`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromClaim = (
  claimed: ClaimedStep,
  options: {
    readonly workerId: string
    readonly timeout: Duration.Duration
    /** Without one, `checkpoint` is refused. */
    readonly writeCheckpoint?: CheckpointWriter | undefined
  }
): StepContext => {
  const write = options.writeCheckpoint
  const checkpoint = (cursor: Schema.Json, itemsProcessed: number, accumulatedResults: Schema.Json = null) =>
    write === undefined
      ? Effect.fail(new CheckpointRejected({ stepUuid: claimed.stepUuid }))
      : Effect.flatMap(
        write({ cursor, items_processed: itemsProcessed, accumulated_results: accumulatedResults }),
        (ok) => ok ? Effect.void : Effect.fail(new CheckpointRejected({ stepUuid: claimed.stepUuid }))
      )
  const dependencyResults: Record<string, Schema.Json> = {}
  for (const [name, stored] of Object.entries(claimed.dependencyResults)) dependencyResults[name] = handlerOutput(stored)
  const inputs = { ...claimed.handlerInitialization, ...asObject(claimed.inputs) }
  return {
    taskUuid: claimed.taskUuid,
    stepUuid: claimed.stepUuid,
    stepName: claimed.stepName,
    templateStepName: claimed.templateStepName,
    stepType: claimed.stepType,
    namespace: claimed.namespace,
    taskName: claimed.taskName,
    taskVersion: claimed.taskVersion,
    correlationId: claimed.correlationId,
    context: claimed.taskContext,
    input: claimed.taskContext,
    inputs,
    config: inputs,
    dependencyResults,
    dependencyExecutions: claimed.dependencyResults,
    dependencyResult: (stepName) => Object.hasOwn(dependencyResults, stepName) ? dependencyResults[stepName] : undefined,
    attempt: claimed.attempts,
    maxAttempts: claimed.maxAttempts,
    isRetry: claimed.attempts > 1,
    isLastAttempt: !claimed.retryable || claimed.attempts >= claimed.maxAttempts,
    retryable: claimed.retryable,
    claimEvent: claimed.claimEvent,
    lastCheckpoint: Predicate.hasProperty(claimed.checkpoint, "cursor") ? claimed.checkpoint as unknown as Checkpoint : null,
    checkpoint,
    stepDefinition: claimed.stepDefinition,
    timeout: options.timeout,
    workerId: options.workerId
  }
}
