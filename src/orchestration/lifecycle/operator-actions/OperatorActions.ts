/**
 * Operator actions (REFERENCE 7.4, 9; DESIGN 4.7): cancel a task, and reset, resolve or complete
 * one of its steps by hand. Each is one transaction that also re-evaluates the task at once, so a
 * `blocked_by_failures` task resumes as soon as its failed step is dealt with. Cancelling a task
 * cancels every non-terminal step with it; results that arrive later for those steps are ignored.
 */
import { Context, type Effect } from "effect"
import type { IllegalTransition, StepNotFound, TaskAlreadyTerminal, TaskNotFound } from "../../../domain/Errors.ts"
import type { StepState } from "../../../domain/StepState.ts"
import type { TaskAdvanced } from "../step-enqueuer/StepEnqueuer.ts"

export interface TaskCancelled {
  readonly taskUuid: string
  readonly previousState: string
  readonly stepsCancelled: number
}

export interface StepActionResult {
  readonly taskUuid: string
  readonly stepUuid: string
  readonly previousState: StepState
  readonly state: StepState
  /** The task's re-evaluation right after the action. */
  readonly task: TaskAdvanced
}

export interface ActionAttribution {
  readonly reason: string
  /** Who acted (`reset_by`, `resolved_by`, `completed_by` in the API). */
  readonly actor: string
}

export class OperatorActions extends Context.Service<OperatorActions, {
  cancelTask(taskUuid: string, attribution?: Partial<ActionAttribution>): Effect.Effect<TaskCancelled, TaskNotFound | TaskAlreadyTerminal>
  /** error → pending with attempts reset to 0 (the documented behaviour, REFERENCE 7.5). */
  resetStepForRetry(taskUuid: string, stepUuid: string, attribution: ActionAttribution): Effect.Effect<StepActionResult, TaskNotFound | StepNotFound | IllegalTransition>
  /** Any non-terminal state → resolved_manually; satisfies dependents. */
  resolveStepManually(taskUuid: string, stepUuid: string, attribution: ActionAttribution): Effect.Effect<StepActionResult, TaskNotFound | StepNotFound | IllegalTransition>
  /** Any non-terminal state → complete with the operator's result, as a successful StepExecutionResult. */
  completeStepManually(
    taskUuid: string,
    stepUuid: string,
    completion: { readonly result: unknown; readonly metadata?: Record<string, unknown> },
    attribution: ActionAttribution
  ): Effect.Effect<StepActionResult, TaskNotFound | StepNotFound | IllegalTransition>
}>()("tasker/orchestration/lifecycle/OperatorActions") {}
