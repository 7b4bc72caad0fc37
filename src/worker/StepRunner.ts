/**
 * One step execution on a claim (REFERENCE 1.3 steps 3-4, DESIGN 4.6): find the handler, build
 * its `StepContext`, run it under the step's timeout while a heartbeat keeps the queue message
 * invisible, turn the outcome into a `StepExecutionResult` and write it with
 * `WorkerRepository.complete` (result + step transition + result message + deletion of the worker
 * message, one transaction).
 *
 * A batch worker whose inputs say `is_no_op` (the placeholder of a `no_batches` outcome) succeeds
 * at once without its handler. Handlers' `ctx.checkpoint` writes through `WorkerRepository.checkpoint`
 * under the claim's lease.
 *
 * When the heartbeat finds the lease lost (another worker re-claimed the message), the handler is
 * interrupted and nothing is written: the result belongs to the new owner. When the step is
 * interrupted from outside (shutdown), nothing is written either; the message reappears after
 * its visibility timeout and the step is re-claimed.
 *
 * @since 0.1.0
 */
import { Cause, Clock, type Context, DateTime, Duration, Effect, Exit, Option, Predicate, Schedule, type Schema } from "effect"
import { OrchestrationMetadata, StepExecutionResult } from "../domain/StepExecutionResult.ts"
import { type Classification, classifyCause, classifyError, HandlerNotFound, timedOut } from "./ErrorClassification.ts"
import { type HandlerRegistry, lookup } from "./HandlerRegistry.ts"
import { fromClaim, timeoutOf } from "./StepContext.ts"
import type { ClaimedStep, WorkerRepository } from "./WorkerRepository.ts"

/** @category models @since 0.1.0 */
export interface StepRunnerSettings<R> {
  readonly workerId: string
  readonly hostname: string
  /** Lease length; the heartbeat extends it every half lease. */
  readonly visibilityTimeoutSeconds: number
  /** Used when the template step has no `timeout_seconds`. */
  readonly handlerTimeout: Duration.Duration
  readonly handlers: HandlerRegistry<R>
  /** What the handlers need, captured from the worker layer's context. */
  readonly services: Context.Context<R>
}

/**
 * How an execution ended: a result written (`succeeded` / `retryable_failure` /
 * `permanent_failure`), the lease lost while running (`lease_lost`), or a result that
 * `complete` refused (`not_recorded`: lease lost at the end, or the step moved on).
 *
 * @category models
 * @since 0.1.0
 */
export type StepOutcome = "succeeded" | "retryable_failure" | "permanent_failure" | "lease_lost" | "not_recorded"

type Finished =
  | { readonly _tag: "Succeeded"; readonly output: Schema.Json; readonly version: string | undefined }
  | { readonly _tag: "Failed"; readonly classification: Classification; readonly version: string | undefined }
  | { readonly _tag: "LeaseLost" }

const metadataFor = (c: Classification) =>
  c.retryAfterSeconds === undefined ? undefined : OrchestrationMetadata.make({
    headers: { "Retry-After": String(c.retryAfterSeconds) },
    backoff_hint: { backoff_type: c.backoffType ?? "ServerRequested", delay_seconds: c.retryAfterSeconds },
    error_context: c.message.slice(0, 500),
    custom: {}
  })

const isNoOpBatchWorker = (claimed: ClaimedStep): boolean =>
  Predicate.hasProperty(claimed.inputs, "is_no_op") && claimed.inputs.is_no_op === true &&
  Predicate.hasProperty(claimed.inputs, "__template_step_name")

/**
 * The runner of a worker: `run(claimed)` executes one claimed step to its end. Never fails;
 * database failures while writing the result are retried briefly, then logged (the message
 * reappears after its visibility timeout).
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeStepRunner = <R>(repo: WorkerRepository["Service"], settings: StepRunnerSettings<R>) => {
  const heartbeatEvery = Duration.millis(Math.max(200, settings.visibilityTimeoutSeconds * 500))

  /** Ends (with `false`) only when the lease is lost; transient database failures are retried. */
  const heartbeatUntilLost = (claimed: ClaimedStep) =>
    Effect.sleep(heartbeatEvery).pipe(
      Effect.andThen(repo.heartbeat(claimed, settings.visibilityTimeoutSeconds)),
      Effect.catchTag("WorkerDatabaseUnavailable", (error) =>
        Effect.as(Effect.logWarning("heartbeat failed; retrying", error.cause), true)),
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.failCause(cause)
          : Effect.as(Effect.logError("heartbeat failed unexpectedly; retrying", cause), true)),
      Effect.repeat({ while: (extended) => extended })
    )

  const execute = Effect.fnUntraced(function*(claimed: ClaimedStep) {
    if (isNoOpBatchWorker(claimed)) {
      return { _tag: "Succeeded", output: { no_op: true, items_processed: 0 }, version: undefined } satisfies Finished
    }
    const handler = lookup(settings.handlers, claimed.handlerCallable)
    if (Option.isNone(handler)) {
      const message = claimed.handlerCallable === null
        ? `the template ${claimed.namespace}/${claimed.taskName}@${claimed.taskVersion} has no step ${claimed.templateStepName}`
        : `no handler is registered for callable ${claimed.handlerCallable}`
      return {
        _tag: "Failed",
        classification: classifyError(new HandlerNotFound({ message, callable: claimed.handlerCallable })),
        version: undefined
      } satisfies Finished
    }
    const timeout = timeoutOf(claimed, settings.handlerTimeout)
    const ctx = fromClaim(claimed, {
      workerId: settings.workerId,
      timeout,
      writeCheckpoint: (checkpoint) => repo.checkpoint(claimed, checkpoint as unknown as Schema.Json)
    })
    const version = handler.value.version
    const run = handler.value.execute(ctx).pipe(
      Effect.provideContext(settings.services),
      Effect.exit,
      Effect.timeoutOption(timeout),
      Effect.map((exit): Finished =>
        Option.isNone(exit)
          ? { _tag: "Failed", classification: timedOut(Duration.toSeconds(timeout)), version }
          : Exit.isSuccess(exit.value)
          ? { _tag: "Succeeded", output: exit.value.value, version }
          : { _tag: "Failed", classification: classifyCause(exit.value.cause), version })
    )
    return yield* Effect.raceFirst(run, Effect.as(heartbeatUntilLost(claimed), { _tag: "LeaseLost" } as Finished))
  })

  const toResult = (
    claimed: ClaimedStep,
    finished: Exclude<Finished, { _tag: "LeaseLost" }>,
    timing: { readonly started: DateTime.Utc; readonly completed: DateTime.Utc; readonly millis: number }
  ): StepExecutionResult => {
    const common = {
      step_uuid: claimed.stepUuid,
      execution_time_ms: Math.max(0, Math.round(timing.millis)),
      started_at: timing.started,
      completed_at: timing.completed,
      worker_id: settings.workerId,
      worker_hostname: settings.hostname,
      handler_version: finished.version
    }
    if (finished._tag === "Succeeded") return StepExecutionResult.success({ ...common, result: finished.output })
    const c = finished.classification
    return StepExecutionResult.failure({
      ...common,
      message: c.message,
      retryable: c.retryable,
      status: c.status,
      error_type: c.errorType,
      error_code: c.errorCode,
      backtrace: c.backtrace,
      status_code: c.statusCode,
      context: c.context,
      orchestration_metadata: metadataFor(c)
    })
  }

  const run = Effect.fn("Worker.runStep")(function*(claimed: ClaimedStep) {
    const started = yield* DateTime.now
    const startMillis = yield* Clock.currentTimeMillis
    const finished = yield* execute(claimed)
    if (finished._tag === "LeaseLost") {
      yield* Effect.logWarning("lease lost while the handler ran (another worker re-claimed the step); result dropped")
      return "lease_lost" satisfies StepOutcome
    }
    const result = toResult(claimed, finished, {
      started,
      completed: yield* DateTime.now,
      millis: (yield* Clock.currentTimeMillis) - startMillis
    })
    if (!result.success) {
      yield* Effect.logInfo(`step handler failed (${result.metadata.retryable ? "retryable" : "permanent"})`).pipe(
        Effect.annotateLogs({ error_type: result.error?.error_type ?? "", error: result.error?.message ?? "" })
      )
    }
    const written = yield* repo.complete(claimed, result).pipe(
      Effect.retry({ schedule: Schedule.exponential("100 millis"), times: 5 })
    )
    if (!written) {
      yield* Effect.logWarning("result not recorded: the lease was lost or the step moved on")
      return "not_recorded" satisfies StepOutcome
    }
    return (result.success ? "succeeded" : result.metadata.retryable ? "retryable_failure" : "permanent_failure") satisfies
      StepOutcome
  }, (effect, claimed) =>
    effect.pipe(
      Effect.catchTag("WorkerDatabaseUnavailable", (error) =>
        Effect.as(
          Effect.logError("could not write the step result; the step runs again after its lease lapses", error.cause),
          "not_recorded" as StepOutcome
        )),
      Effect.annotateLogs({
        step_uuid: claimed.stepUuid,
        step_name: claimed.stepName,
        task_uuid: claimed.taskUuid,
        attempt: claimed.attempts,
        worker_id: settings.workerId
      })
    ))

  return { run } as const
}
