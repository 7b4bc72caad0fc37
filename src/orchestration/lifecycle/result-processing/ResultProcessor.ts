/**
 * Result processing (REFERENCE 6.3, DESIGN 4.4): apply a step's result (complete, error, or wait
 * for retry with a backoff), hand decision and batchable steps to their actors, and coordinate the
 * task (enqueue what became ready, complete or block it), all in one transaction. A result for a
 * step that already left the orchestration-queued states is a duplicate and changes nothing.
 *
 * Round trips: a standard step's result is ONE call (`tasker.apply_step_result` with advance).
 * A completed `decision` / `batchable` step takes a transaction: apply without advance, the actor
 * (which creates the dynamic steps on the same connection), `advance_task`, commit; a defect in
 * the actor rolls everything back, so the result message is redelivered instead of the task
 * completing without its branches. Lifecycle events are published after commit.
 */
import { Context, Effect, Layer, Option } from "effect"
import { TaskerConfig } from "../../../config/TaskerConfig.ts"
import type { StepState } from "../../../domain/StepState.ts"
import { BatchProcessingActor, DecisionPointActor } from "../../actors/DynamicStepActors.ts"
import type { HydratedStepResult } from "../../hydration/StepResultHydrator.ts"
import { LifecycleEvents } from "../../LifecycleEvents.ts"
import { type AdvanceRow, type ApplyResultRow, LifecycleRepository } from "../LifecycleRepository.ts"
import { type TaskAdvanced, toTaskAdvanced } from "../step-enqueuer/StepEnqueuer.ts"
import { calculateBackoff } from "./BackoffCalculator.ts"

export type StepResultOutcome =
  | {
    readonly _tag: "Processed"
    readonly stepUuid: string
    readonly taskUuid: string
    readonly stepState: StepState
    /** Seconds until the retry, when the step now waits for one. */
    readonly backoffSeconds?: number
    readonly task: TaskAdvanced
  }
  | { readonly _tag: "Skipped"; readonly stepUuid: string; readonly taskUuid: string; readonly reason: string }

/** Step types whose completion creates steps (REFERENCE 8.2, 8.3). */
const dynamicStepTypes: ReadonlySet<string> = new Set(["decision", "batchable"])

const skipped = (input: HydratedStepResult, applied: ApplyResultRow): StepResultOutcome => ({
  _tag: "Skipped",
  stepUuid: input.stepUuid,
  taskUuid: applied.taskUuid ?? input.taskUuid,
  reason: applied.reason ?? "duplicate result"
})

const processed = (input: HydratedStepResult, applied: ApplyResultRow, advance: AdvanceRow): StepResultOutcome => ({
  _tag: "Processed",
  stepUuid: input.stepUuid,
  taskUuid: input.taskUuid,
  stepState: applied.outcome as StepState,
  ...(applied.outcome === "waiting_for_retry" && applied.backoffSeconds !== null
    ? { backoffSeconds: applied.backoffSeconds }
    : {}),
  task: toTaskAdvanced(input.taskUuid, advance)
})

/** The advance columns of an `apply_step_result` row that ran the advance. */
const advanceOf = (row: ApplyResultRow): Effect.Effect<AdvanceRow> =>
  row.previousState === null || row.state === null
    ? Effect.die(new Error(`apply_step_result returned no task state for ${row.outcome}`))
    : Effect.succeed({
      previousState: row.previousState,
      state: row.state,
      action: row.action,
      stepsEnqueued: row.stepsEnqueued,
      stepUuids: row.stepUuids,
      transitions: row.transitions
    })

export class ResultProcessor extends Context.Service<ResultProcessor, {
  process(input: HydratedStepResult): Effect.Effect<StepResultOutcome>
}>()("tasker/orchestration/lifecycle/ResultProcessor") {
  static readonly layerNoDeps = Layer.effect(
    ResultProcessor,
    Effect.gen(function*() {
      const repo = yield* LifecycleRepository
      const events = yield* LifecycleEvents
      const settings = yield* TaskerConfig
      const decisions = yield* DecisionPointActor
      const batches = yield* BatchProcessingActor

      // Computed for every failed execution; SQL uses it only when the step really waits for a retry.
      const backoffFor = (input: HydratedStepResult): Effect.Effect<number | null> =>
        input.result.success
          ? Effect.succeed(null)
          : Effect.map(calculateBackoff(input.result, input.attempts, settings.backoff), (b) => b.seconds)

      const standard = Effect.fnUntraced(function*(input: HydratedStepResult, backoff: number | null) {
        const applied = yield* repo.applyStepResult(input.stepUuid, backoff, true)
        if (applied.outcome === "skipped") return skipped(input, applied)
        yield* repo.afterCommit(events.publishTransitions(applied.transitions))
        return processed(input, applied, yield* advanceOf(applied))
      })

      const dynamic = (input: HydratedStepResult, backoff: number | null) =>
        repo.transaction(Effect.gen(function*() {
          const applied = yield* repo.applyStepResult(input.stepUuid, backoff, false)
          if (applied.outcome === "skipped") return skipped(input, applied)
          let stepTransitions = applied.transitions
          let rejected = false
          if (applied.outcome === "complete") {
            const actor = input.stepType === "decision" ? decisions : batches
            const created = yield* actor.handle({ ...input, state: "complete" })
            yield* Effect.logDebug(`${actor.name}: ${created.detail}`).pipe(
              Effect.annotateLogs({ steps_created: created.stepsCreated.length })
            )
            // An invalid outcome turned this step's `complete` into `error` in this transaction:
            // publish what was committed, not what was first written.
            if (created.rejected !== undefined) {
              rejected = true
              stepTransitions = [
                ...applied.transitions.filter((t) => !(t.entity === "step" && t.step_uuid === input.stepUuid)),
                ...created.rejected.transitions
              ]
            }
          }
          const advanced = yield* repo.advanceTask(input.taskUuid, "evaluate")
          if (Option.isNone(advanced)) return yield* Effect.die(new Error(`task ${input.taskUuid} vanished`))
          yield* repo.afterCommit(events.publishTransitions([...stepTransitions, ...advanced.value.transitions]))
          const outcome = processed(input, applied, advanced.value)
          return rejected && outcome._tag === "Processed" ? { ...outcome, stepState: "error" as const } : outcome
        }))

      const process = Effect.fn("ResultProcessor.process")(function*(input: HydratedStepResult) {
        const backoff = yield* backoffFor(input)
        return input.result.success && dynamicStepTypes.has(input.stepType)
          ? yield* dynamic(input, backoff)
          : yield* standard(input, backoff)
      }, (effect, input) => Effect.annotateLogs(effect, { task_uuid: input.taskUuid, step_uuid: input.stepUuid }))

      return ResultProcessor.of({ process })
    })
  )

  /** Needs `SqlClient`, `LifecycleEvents`, `TaskerConfig` and the two dynamic-step actors. */
  static readonly layer = ResultProcessor.layerNoDeps.pipe(Layer.provide(LifecycleRepository.layer))
}
