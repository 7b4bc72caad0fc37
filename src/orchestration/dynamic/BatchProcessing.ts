/**
 * Batch processing (REFERENCE 8.3, 12.13): a completed `batchable` step's
 * `result.batch_processing_outcome` becomes batch workers and their convergence, in the caller's
 * transaction (the result processor's), before the task is re-evaluated.
 *
 * `process` decodes the outcome with Schema, checks it (at least one cursor, unique `batch_id`s
 * usable in a step name, `worker_count` = number of cursors) and writes it with ONE call,
 * `tasker.create_batch_workers`: `{worker_template}_{batch_id}` clones of the `batch_worker`
 * template step (a single no-op `{template}_000` for `no_batches`), every `deferred_convergence`
 * step depending on the worker template, and the `batch_dependency` / `worker_to_convergence`
 * edges. A `batch_dependency` edge already leaving the step makes it a no-op (re-processing).
 * Each worker carries `batch_metadata.parallelism` = min(`batchProcessing.maxParallelBatches`,
 * the template's `batch_config.parallelism`), which the readiness function enforces.
 *
 * An invalid outcome creates nothing: `tasker.fail_batchable_step` moves the batchable step to
 * `error` with the reason in its results (`error`, `orchestration_metadata.custom.batch_error`),
 * so the task becomes `blocked_by_failures`.
 *
 * @since 0.1.0
 */
import { Context, Data, Effect, Layer, Predicate, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { TaskerConfig } from "../../config/TaskerConfig.ts"
import { BatchProcessingOutcome } from "../../worker/StepHandler.ts"
import type { DynamicStepsCreated } from "../actors/DynamicStepActors.ts"
import type { HydratedStepResult } from "../hydration/StepResultHydrator.ts"
import { CommittedTransitions } from "../LifecycleEvents.ts"
import { ProcessorId } from "../ProcessorId.ts"

const OutcomeHolder = Schema.Struct({ batch_processing_outcome: BatchProcessingOutcome })
const decodeOutcome = Schema.decodeUnknownEffect(OutcomeHolder)

/** A batch id becomes part of a step name. */
const batchIdPattern = /^[A-Za-z0-9_.-]{1,64}$/

class InvalidBatchOutcome extends Data.TaggedError("InvalidBatchOutcome")<{
  readonly message: string
  readonly context: Record<string, unknown>
}> {}

const CreatedRow = Schema.Struct({
  outcome: Schema.Literals(["created", "exists", "invalid", "not_found"]),
  reason: Schema.NullOr(Schema.String),
  stepUuids: Schema.Array(Schema.String)
})

const FailedRow = Schema.Struct({
  outcome: Schema.Literals(["failed", "recorded", "not_found"]),
  transitions: CommittedTransitions
})

const outcomeField = (completed: HydratedStepResult): unknown => {
  const result: unknown = completed.result.result
  return Predicate.hasProperty(result, "batch_processing_outcome") ? result.batch_processing_outcome : undefined
}

/** Checks what the schema cannot express; the decoded outcome is returned unchanged. */
const checked = (
  stepName: string,
  outcome: BatchProcessingOutcome
): Effect.Effect<BatchProcessingOutcome, InvalidBatchOutcome> => {
  if (outcome.type === "no_batches") return Effect.succeed(outcome)
  const ids = outcome.cursor_configs.map((c) => c.batch_id)
  const problem = ids.length === 0
    ? "create_batches needs at least one cursor (use no_batches)"
    : outcome.worker_count !== ids.length
    ? `worker_count ${outcome.worker_count} differs from the ${ids.length} cursor_configs`
    : new Set(ids).size !== ids.length
    ? "batch_id values are not unique"
    : ids.find((id) => !batchIdPattern.test(id)) !== undefined
    ? `batch_id ${JSON.stringify(ids.find((id) => !batchIdPattern.test(id)))} is not 1-64 of [A-Za-z0-9_.-]`
    : outcome.cursor_configs.some((c) => c.batch_size < 0)
    ? "batch_size must not be negative"
    : undefined
  return problem === undefined
    ? Effect.succeed(outcome)
    : Effect.fail(
      new InvalidBatchOutcome({
        message: `step ${stepName} returned an invalid batch_processing_outcome: ${problem}`,
        context: { batch_processing_outcome: outcome }
      })
    )
}

/**
 * @category services
 * @since 0.1.0
 */
export class BatchProcessing extends Context.Service<BatchProcessing, {
  /** Applies the outcome of a completed batchable step (inside the caller's transaction). */
  process(completed: HydratedStepResult): Effect.Effect<DynamicStepsCreated>
}>()("tasker/orchestration/dynamic/BatchProcessing") {
  static readonly layerNoDeps = Layer.effect(
    BatchProcessing,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const settings = yield* TaskerConfig
      const processor = (yield* ProcessorId).uuid
      const maxParallel = Math.max(1, settings.batchProcessing.maxParallelBatches)

      const createWorkers = SqlSchema.findOne({
        Request: Schema.Struct({ stepUuid: Schema.String, outcome: Schema.String }),
        Result: CreatedRow,
        execute: (r) =>
          sql`SELECT outcome, reason, step_uuids AS "stepUuids"
              FROM tasker.create_batch_workers(${r.stepUuid}::uuid, ${r.outcome}::jsonb, ${maxParallel})`
      })

      const failStep = SqlSchema.findOne({
        Request: Schema.Struct({ stepUuid: Schema.String, message: Schema.String, error: Schema.String }),
        Result: FailedRow,
        execute: (r) =>
          sql`SELECT outcome, transitions FROM tasker.fail_batchable_step(${r.stepUuid}::uuid, ${processor}::uuid,
                                                             ${r.message}, ${r.error}::jsonb)`
      })

      const reject = Effect.fnUntraced(function*(completed: HydratedStepResult, invalid: InvalidBatchOutcome) {
        const { outcome, transitions } = yield* failStep({
          stepUuid: completed.stepUuid,
          message: invalid.message,
          error: JSON.stringify(invalid.context)
        })
        yield* Effect.logWarning(invalid.message).pipe(Effect.annotateLogs({ recorded_as: outcome }))
        return {
          stepsCreated: [],
          detail: `rejected (${outcome}): ${invalid.message}`,
          ...(outcome === "failed" ? { rejected: { transitions } } : {})
        } satisfies DynamicStepsCreated
      })

      const outcomeOf = (completed: HydratedStepResult) =>
        decodeOutcome(completed.result.result).pipe(
          Effect.mapError((error) =>
            new InvalidBatchOutcome({
              message: `step ${completed.stepName} returned no valid batch_processing_outcome: ${error.message}`,
              context: { batch_processing_outcome: outcomeField(completed) ?? null }
            })
          ),
          Effect.flatMap(({ batch_processing_outcome }) => checked(completed.stepName, batch_processing_outcome))
        )

      const process = Effect.fn("BatchProcessing.process")(function*(completed: HydratedStepResult) {
        const outcome = yield* outcomeOf(completed)
        const row = yield* createWorkers({ stepUuid: completed.stepUuid, outcome: JSON.stringify(outcome) })
        switch (row.outcome) {
          case "invalid":
            return yield* new InvalidBatchOutcome({
              message: `step ${completed.stepName}: ${row.reason ?? "invalid batch_processing_outcome"}`,
              context: { batch_processing_outcome: outcome }
            })
          case "created":
            return {
              stepsCreated: row.stepUuids,
              detail: outcome.type === "no_batches"
                ? `${completed.stepName}: no batches, ${row.stepUuids.length} steps (no-op worker + convergence)`
                : `${completed.stepName}: ${outcome.cursor_configs.length} batch workers of ` +
                  `${outcome.worker_template_name} (${outcome.total_items} items), ${row.stepUuids.length} steps created`
            } satisfies DynamicStepsCreated
          default:
            return { stepsCreated: [], detail: `${completed.stepName}: ${row.reason ?? row.outcome}` } satisfies
              DynamicStepsCreated
        }
      }, (effect, completed) =>
        effect.pipe(
          Effect.catchTag("InvalidBatchOutcome", (invalid) => reject(completed, invalid)),
          Effect.catchTag(["SqlError", "SchemaError", "NoSuchElementError"], Effect.die),
          Effect.annotateLogs({ task_uuid: completed.taskUuid, step_uuid: completed.stepUuid })
        ))

      return BatchProcessing.of({ process })
    })
  )

  /** Needs `SqlClient` and `TaskerConfig`; the processor id is the lifecycle's (memoized layer). */
  static readonly layer = BatchProcessing.layerNoDeps.pipe(Layer.provide(ProcessorId.layer))
}
