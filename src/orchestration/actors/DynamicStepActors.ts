/**
 * The two actors that grow a task's DAG at runtime (REFERENCE 8.2, 8.3). Result processing calls
 * them inside its transaction when a `decision` or `batchable` step completes, before the task is
 * re-evaluated, so the new steps are seen by the same evaluation.
 */
import { Context, type Effect } from "effect"
import type { HydratedStepResult } from "../hydration/StepResultHydrator.ts"

/** What a dynamic-step actor created (uuids of new steps), for events and stats. */
export interface DynamicStepsCreated {
  readonly stepsCreated: ReadonlyArray<string>
  readonly detail: string
}

export class DecisionPointActor extends Context.Service<DecisionPointActor, {
  /** Processes `result.decision_point_outcome` of a completed decision step. */
  handle(completed: HydratedStepResult): Effect.Effect<DynamicStepsCreated>
}>()("tasker/orchestration/actors/DecisionPointActor") {}

export class BatchProcessingActor extends Context.Service<BatchProcessingActor, {
  /** Processes `result.batch_processing_outcome` of a completed batchable step. */
  handle(completed: HydratedStepResult): Effect.Effect<DynamicStepsCreated>
}>()("tasker/orchestration/actors/BatchProcessingActor") {}
