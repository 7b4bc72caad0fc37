/**
 * Task finalization (REFERENCE 6.4): from the execution context, atomically complete the task
 * (setting `completed_at`), block it, move a blocked task to `error`, or hand it back to the step
 * enqueuer when steps are ready.
 *
 * One round trip: `tasker.finalize_task` runs `advance_task` in `finalize` mode (the step
 * enqueuer's state handlers, plus: a task still `blocked_by_failures` gives up → `error`) and
 * returns the execution context afterwards. Lifecycle events are published after commit.
 * Actions: Completed (→ complete), Failed (→ error, or → blocked_by_failures in this call),
 * Reenqueued (ready steps were enqueued), Pending (waiting for dependencies or a retry backoff),
 * NoAction (steps still processing, or the task is terminal).
 */
import { Context, Effect, Layer, Option } from "effect"
import { TaskNotFound } from "../../../domain/Errors.ts"
import type { TaskUuid } from "../../../domain/Ids.ts"
import type { TaskState } from "../../../domain/TaskState.ts"
import { LifecycleEvents } from "../../LifecycleEvents.ts"
import { type FinalizeRow, LifecycleRepository } from "../LifecycleRepository.ts"

export interface FinalizationResult {
  readonly taskUuid: string
  readonly action: "Completed" | "Failed" | "Pending" | "Reenqueued" | "NoAction"
  readonly state: TaskState
  readonly completionPercentage: number
  readonly totalSteps: number
  readonly enqueuedSteps: number
  readonly healthStatus: string
  readonly reason?: string
}

const actionOf = (row: FinalizeRow): Pick<FinalizationResult, "action" | "reason"> => {
  switch (row.action) {
    case "Completed":
      return { action: "Completed" }
    case "Failed":
      return { action: "Failed", reason: `${row.failedSteps} step(s) failed permanently; the task gave up` }
    case "Blocked":
      return { action: "Failed", reason: `${row.failedSteps} step(s) failed permanently; the task is blocked` }
    case "Enqueued":
      return { action: "Reenqueued", reason: `${row.stepsEnqueued} ready step(s) enqueued` }
    case "Waiting":
      return { action: "Pending", reason: "waiting for dependencies or a retry backoff" }
    case "Processing":
      return { action: "NoAction", reason: "steps are still processing" }
    case "NoAction":
      return { action: "NoAction", reason: `task is ${row.state}` }
  }
}

export class TaskFinalizer extends Context.Service<TaskFinalizer, {
  finalize(taskUuid: string): Effect.Effect<FinalizationResult, TaskNotFound>
}>()("tasker/orchestration/lifecycle/TaskFinalizer") {
  static readonly layerNoDeps = Layer.effect(
    TaskFinalizer,
    Effect.gen(function*() {
      const repo = yield* LifecycleRepository
      const events = yield* LifecycleEvents

      const finalize = Effect.fn("TaskFinalizer.finalize")(function*(taskUuid: string) {
        const found = yield* repo.finalizeTask(taskUuid)
        if (Option.isNone(found)) {
          return yield* new TaskNotFound({ task_uuid: taskUuid as TaskUuid }, { disableChecks: true })
        }
        const row = found.value
        yield* repo.afterCommit(events.publishTransitions(row.transitions))
        return {
          taskUuid,
          ...actionOf(row),
          state: row.state,
          completionPercentage: row.completionPercentage,
          totalSteps: row.totalSteps,
          enqueuedSteps: row.enqueuedSteps,
          healthStatus: row.healthStatus
        } satisfies FinalizationResult
      }, (effect, taskUuid) => Effect.annotateLogs(effect, { task_uuid: taskUuid }))

      return TaskFinalizer.of({ finalize })
    })
  )

  /** Needs `SqlClient` and `LifecycleEvents`. */
  static readonly layer = TaskFinalizer.layerNoDeps.pipe(Layer.provide(LifecycleRepository.layer))
}
