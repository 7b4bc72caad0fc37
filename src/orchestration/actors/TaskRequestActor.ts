/** TaskRequestActor (seed `task_request_actor.rs`): task requests → TaskInitializer. */
import { Context, Effect, Layer } from "effect"
import type { IdempotencyKeyRequired, TaskConflict, TemplateNotFound } from "../../domain/Errors.ts"
import type { TaskRequest } from "../../domain/TaskRequest.ts"
import { type TaskInitialized, TaskInitializer } from "../lifecycle/task-initialization/TaskInitializer.ts"
import { actorLifecycle, type OrchestrationActor } from "./OrchestrationActor.ts"

export interface ProcessTaskRequestMessage {
  readonly request: TaskRequest
}

export class TaskRequestActor extends Context.Service<TaskRequestActor, OrchestrationActor & {
  handle(msg: ProcessTaskRequestMessage): Effect.Effect<TaskInitialized, TemplateNotFound | TaskConflict | IdempotencyKeyRequired>
}>()("tasker/orchestration/actors/TaskRequestActor") {
  static readonly layer = Layer.effect(
    TaskRequestActor,
    Effect.gen(function*() {
      yield* actorLifecycle("TaskRequestActor")
      const initializer = yield* TaskInitializer
      return TaskRequestActor.of({ name: "TaskRequestActor", handle: (msg) => initializer.initialize(msg.request) })
    })
  )
}
