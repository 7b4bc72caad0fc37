/** StepEnqueuerActor (seed `step_enqueuer_actor.rs`): readiness work → StepEnqueuer. */
import { Context, Effect, Layer } from "effect"
import type { TaskNotFound } from "../../domain/Errors.ts"
import { type ReadinessCycle, StepEnqueuer, type TaskAdvanced } from "../lifecycle/step-enqueuer/StepEnqueuer.ts"
import { actorLifecycle, type OrchestrationActor } from "./OrchestrationActor.ts"

/** One task (a retry wake-up or an operator action), or a discovery cycle. */
export type ProcessBatchMessage =
  | { readonly _tag: "Task"; readonly taskUuid: string }
  | { readonly _tag: "Discover"; readonly limit?: number }

export class StepEnqueuerActor extends Context.Service<StepEnqueuerActor, OrchestrationActor & {
  advanceTask(taskUuid: string): Effect.Effect<TaskAdvanced, TaskNotFound>
  discover(limit?: number): Effect.Effect<ReadinessCycle>
}>()("tasker/orchestration/actors/StepEnqueuerActor") {
  static readonly layer = Layer.effect(
    StepEnqueuerActor,
    Effect.gen(function*() {
      yield* actorLifecycle("StepEnqueuerActor")
      const enqueuer = yield* StepEnqueuer
      return StepEnqueuerActor.of({
        name: "StepEnqueuerActor",
        advanceTask: (taskUuid) => enqueuer.advanceTask(taskUuid),
        discover: (limit) => enqueuer.discoverAndAdvance(limit)
      })
    })
  )
}
