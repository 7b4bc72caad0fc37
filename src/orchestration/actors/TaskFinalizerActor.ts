/** TaskFinalizerActor (seed `task_finalizer_actor.rs`): finalization requests → TaskFinalizer. */
import { Context, Effect, Layer } from "effect"
import type { TaskNotFound } from "../../domain/Errors.ts"
import { type FinalizationResult, TaskFinalizer } from "../lifecycle/task-finalization/TaskFinalizer.ts"
import { actorLifecycle, type OrchestrationActor } from "./OrchestrationActor.ts"

export interface FinalizeTaskMessage {
  readonly taskUuid: string
}

export class TaskFinalizerActor extends Context.Service<TaskFinalizerActor, OrchestrationActor & {
  handle(msg: FinalizeTaskMessage): Effect.Effect<FinalizationResult, TaskNotFound>
}>()("tasker/orchestration/actors/TaskFinalizerActor") {
  static readonly layer = Layer.effect(
    TaskFinalizerActor,
    Effect.gen(function*() {
      yield* actorLifecycle("TaskFinalizerActor")
      const finalizer = yield* TaskFinalizer
      return TaskFinalizerActor.of({ name: "TaskFinalizerActor", handle: (msg) => finalizer.finalize(msg.taskUuid) })
    })
  )
}
