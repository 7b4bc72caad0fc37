/**
 * The step enqueuer (REFERENCE 6.5): moves a task along its state machine from whatever state it
 * rests in, and enqueues every ready step of the task with one statement, their worker messages
 * in the same transaction. Also the readiness cycle: discover tasks with ready work
 * (`get_next_ready_tasks`, priority with aging) and advance each.
 */
import { Context, type Effect } from "effect"
import type { TaskNotFound } from "../../../domain/Errors.ts"
import type { TaskState } from "../../../domain/TaskState.ts"

/** What advancing one task did. `action` names the outcome for stats and logs. */
export interface TaskAdvanced {
  readonly taskUuid: string
  readonly previousState: TaskState
  readonly state: TaskState
  readonly action: "Enqueued" | "Completed" | "Blocked" | "Failed" | "Waiting" | "Processing" | "NoAction"
  readonly stepsEnqueued: number
  readonly enqueuedStepUuids: ReadonlyArray<string>
}

/** One readiness cycle (REFERENCE 6.2 StepEnqueuerServiceResult, trimmed to what we measure). */
export interface ReadinessCycle {
  readonly tasksDiscovered: number
  readonly tasksAdvanced: number
  readonly tasksFailed: number
  readonly stepsEnqueued: number
  readonly durationMs: number
}

export class StepEnqueuer extends Context.Service<StepEnqueuer, {
  /** Runs the state handler of the task's current state; a terminal or busy task is a no-op. */
  advanceTask(taskUuid: string): Effect.Effect<TaskAdvanced, TaskNotFound>
  /** Discovers up to `limit` tasks with ready work (config discoveryBatchSize by default) and advances each. */
  discoverAndAdvance(limit?: number): Effect.Effect<ReadinessCycle>
}>()("tasker/orchestration/lifecycle/StepEnqueuer") {}
