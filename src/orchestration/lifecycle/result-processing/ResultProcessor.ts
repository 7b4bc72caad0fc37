/**
 * Result processing (REFERENCE 6.3, DESIGN 4.4): apply a step's result (complete, error, or wait
 * for retry with a backoff), hand decision and batchable steps to their actors, and coordinate the
 * task (enqueue what became ready, complete or block it), all in one transaction. A result for a
 * step that already left the orchestration-queued states is a duplicate and changes nothing.
 */
import { Context, type Effect } from "effect"
import type { StepState } from "../../../domain/StepState.ts"
import type { HydratedStepResult } from "../../hydration/StepResultHydrator.ts"
import type { TaskAdvanced } from "../step-enqueuer/StepEnqueuer.ts"

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

export class ResultProcessor extends Context.Service<ResultProcessor, {
  process(input: HydratedStepResult): Effect.Effect<StepResultOutcome>
}>()("tasker/orchestration/lifecycle/ResultProcessor") {}
