/**
 * Task finalization (REFERENCE 6.4): from the execution context, atomically complete the task
 * (setting `completed_at`), block it, move a blocked task to `error`, or hand it back to the step
 * enqueuer when steps are ready.
 */
import { Context, type Effect } from "effect"
import type { TaskNotFound } from "../../../domain/Errors.ts"
import type { TaskState } from "../../../domain/TaskState.ts"

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

export class TaskFinalizer extends Context.Service<TaskFinalizer, {
  finalize(taskUuid: string): Effect.Effect<FinalizationResult, TaskNotFound>
}>()("tasker/orchestration/lifecycle/TaskFinalizer") {}
