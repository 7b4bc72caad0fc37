/**
 * Task initialization (REFERENCE 1.3 step 2, 8.1, 12.1): in one transaction, the task row with
 * its identity hash, the initial step set, the `provides` edges (a cycle is refused), the initial
 * transitions, and the enqueue of the root steps with their worker messages.
 */
import { Context, type Effect } from "effect"
import type { IdempotencyKeyRequired, TaskConflict, TemplateNotFound } from "../../../domain/Errors.ts"
import type { TaskRequest } from "../../../domain/TaskRequest.ts"
import type { TaskState } from "../../../domain/TaskState.ts"

export interface TaskInitialized {
  readonly taskUuid: string
  readonly correlationId: string
  readonly namespace: string
  readonly name: string
  readonly version: string
  readonly state: TaskState
  readonly stepsCreated: number
  readonly stepsEnqueued: number
  readonly enqueuedStepUuids: ReadonlyArray<string>
}

export class TaskInitializer extends Context.Service<TaskInitializer, {
  initialize(request: TaskRequest): Effect.Effect<TaskInitialized, TemplateNotFound | TaskConflict | IdempotencyKeyRequired>
}>()("tasker/orchestration/lifecycle/TaskInitializer") {}
