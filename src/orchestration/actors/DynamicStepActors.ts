/**
 * The two actors that grow a task's DAG at runtime (REFERENCE 8.2, 8.3). Result processing calls
 * them inside its transaction when a `decision` or `batchable` step completes, before the task is
 * re-evaluated, so the new steps are seen by the same evaluation.
 *
 * `DecisionPointActor.layer` delegates to `DecisionPoints` (src/orchestration/dynamic/). Each
 * actor keeps a `layerUnsupported` that only logs the outcome it cannot apply, so a task whose
 * dynamic steps are not supported does not silently pretend its branches ran: it waits, visibly.
 */
import { Context, Effect, Layer } from "effect"
import { BatchProcessing } from "../dynamic/BatchProcessing.ts"
import { DecisionPoints } from "../dynamic/DecisionPoints.ts"
import type { HydratedStepResult } from "../hydration/StepResultHydrator.ts"
import type { CommittedTransition } from "../LifecycleEvents.ts"
import { actorLifecycle, type OrchestrationActor } from "./OrchestrationActor.ts"

/** What a dynamic-step actor created (uuids of new steps), for events and stats. */
export interface DynamicStepsCreated {
  readonly stepsCreated: ReadonlyArray<string>
  readonly detail: string
  /**
   * Set when the outcome was invalid and the step was moved to `error` instead of `complete`
   * (in the same transaction): the transitions that record it, to publish in place of `complete`.
   */
  readonly rejected?: { readonly transitions: ReadonlyArray<CommittedTransition> }
}

const outcomeOf = (completed: HydratedStepResult, key: string): unknown => {
  const result = completed.result.result
  return typeof result === "object" && result !== null ? (result as Record<string, unknown>)[key] : undefined
}

const unsupported = (actor: string, key: string) => (completed: HydratedStepResult) =>
  Effect.gen(function*() {
    const outcome = outcomeOf(completed, key)
    const detail = `${actor}: ${key} of step ${completed.stepName} is not applied (dynamic workflows not enabled)`
    yield* Effect.logWarning(detail).pipe(Effect.annotateLogs({ step_uuid: completed.stepUuid, outcome: JSON.stringify(outcome) }))
    return { stepsCreated: [], detail }
  })

export class DecisionPointActor extends Context.Service<DecisionPointActor, OrchestrationActor & {
  /** Processes `result.decision_point_outcome` of a completed decision step. */
  handle(completed: HydratedStepResult): Effect.Effect<DynamicStepsCreated>
}>()("tasker/orchestration/actors/DecisionPointActor") {
  static readonly layerUnsupported = Layer.effect(
    DecisionPointActor,
    Effect.as(actorLifecycle("DecisionPointActor"), DecisionPointActor.of({
      name: "DecisionPointActor",
      handle: unsupported("DecisionPointActor", "decision_point_outcome")
    }))
  )

  /** Applies decisions with `DecisionPoints`; needs `SqlClient` and `TaskerConfig`. */
  static readonly layer = Layer.effect(
    DecisionPointActor,
    Effect.gen(function*() {
      yield* actorLifecycle("DecisionPointActor")
      const decisions = yield* DecisionPoints
      return DecisionPointActor.of({ name: "DecisionPointActor", handle: (completed) => decisions.process(completed) })
    })
  ).pipe(Layer.provide(DecisionPoints.layer))
}

export class BatchProcessingActor extends Context.Service<BatchProcessingActor, OrchestrationActor & {
  /** Processes `result.batch_processing_outcome` of a completed batchable step. */
  handle(completed: HydratedStepResult): Effect.Effect<DynamicStepsCreated>
}>()("tasker/orchestration/actors/BatchProcessingActor") {
  static readonly layerUnsupported = Layer.effect(
    BatchProcessingActor,
    Effect.as(actorLifecycle("BatchProcessingActor"), BatchProcessingActor.of({
      name: "BatchProcessingActor",
      handle: unsupported("BatchProcessingActor", "batch_processing_outcome")
    }))
  )

  /** Applies batch outcomes with `BatchProcessing`; needs `SqlClient` and `TaskerConfig`. */
  static readonly layer = Layer.effect(
    BatchProcessingActor,
    Effect.gen(function*() {
      yield* actorLifecycle("BatchProcessingActor")
      const batches = yield* BatchProcessing
      return BatchProcessingActor.of({ name: "BatchProcessingActor", handle: (completed) => batches.process(completed) })
    })
  ).pipe(Layer.provide(BatchProcessing.layer))
}
