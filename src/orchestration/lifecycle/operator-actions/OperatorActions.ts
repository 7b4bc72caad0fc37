/**
 * Operator actions (REFERENCE 7.4, 9; DESIGN 4.7): cancel a task, and reset, resolve or complete
 * one of its steps by hand. Each is one transaction that also re-evaluates the task at once, so a
 * `blocked_by_failures` task resumes as soon as its failed step is dealt with. Cancelling a task
 * cancels every non-terminal step with it; results that arrive later for those steps are ignored.
 *
 * Each method is one repository call (`migrations/0014_operator_actions.sql`); the transitions it
 * made are published as lifecycle events after commit. An unknown (or malformed) task id is
 * `TaskNotFound`; a step that is not the task's is `StepNotFound`; a terminal task is
 * `TaskAlreadyTerminal` (cancel: complete / error / cancelled / resolved_manually; step actions:
 * complete / cancelled / resolved_manually, while an `error` task is re-opened); an action that
 * does not apply to the step's state (SQLSTATE TK001) is `IllegalTransition` with from / to.
 */
import { Context, Effect, Layer, Option } from "effect"
import { type IllegalTransition, StepNotFound, TaskAlreadyTerminal, TaskNotFound } from "../../../domain/Errors.ts"
import type { StepUuid, TaskUuid } from "../../../domain/Ids.ts"
import type { StepState } from "../../../domain/StepState.ts"
import { LifecycleEvents } from "../../LifecycleEvents.ts"
import type { TaskAdvanced } from "../step-enqueuer/StepEnqueuer.ts"
import { toTaskAdvanced } from "../step-enqueuer/StepEnqueuer.ts"
import { type ActionMetadata, OperatorActionsRepository, type StepActionRow } from "./OperatorActionsRepository.ts"

export interface TaskCancelled {
  readonly taskUuid: string
  readonly previousState: string
  readonly stepsCancelled: number
  /** Worker queue messages deleted (those no worker held). */
  readonly messagesDeleted: number
}

export interface StepActionResult {
  readonly taskUuid: string
  readonly stepUuid: string
  readonly previousState: StepState
  /** The step's state when the call returned (`enqueued` after a reset the re-evaluation enqueued again). */
  readonly state: StepState
  /** The task's re-evaluation right after the action. */
  readonly task: TaskAdvanced
}

export interface ActionAttribution {
  readonly reason: string
  /** Who acted (`reset_by`, `resolved_by`, `completed_by` in the API). */
  readonly actor: string
}

type StepActionError = TaskNotFound | StepNotFound | TaskAlreadyTerminal | IllegalTransition

/** Transition metadata: `reason` and the API's name for the actor; absent values are left out. */
const metadataOf = (attribution: Partial<ActionAttribution> | undefined, actorKey: string): ActionMetadata => ({
  ...(attribution?.reason === undefined ? {} : { reason: attribution.reason }),
  ...(attribution?.actor === undefined ? {} : { [actorKey]: attribution.actor })
})

export class OperatorActions extends Context.Service<OperatorActions, {
  cancelTask(taskUuid: string, attribution?: Partial<ActionAttribution>): Effect.Effect<TaskCancelled, TaskNotFound | TaskAlreadyTerminal>
  /** error → pending with attempts reset to 0 (the documented behaviour, REFERENCE 7.5). */
  resetStepForRetry(taskUuid: string, stepUuid: string, attribution: ActionAttribution): Effect.Effect<StepActionResult, StepActionError>
  /** Any non-terminal state → resolved_manually; satisfies dependents. */
  resolveStepManually(taskUuid: string, stepUuid: string, attribution: ActionAttribution): Effect.Effect<StepActionResult, StepActionError>
  /** Any non-terminal state → complete with the operator's result, as a successful StepExecutionResult. */
  completeStepManually(
    taskUuid: string,
    stepUuid: string,
    completion: { readonly result: unknown; readonly metadata?: Record<string, unknown> },
    attribution: ActionAttribution
  ): Effect.Effect<StepActionResult, StepActionError>
}>()("tasker/orchestration/lifecycle/OperatorActions") {
  static readonly layerNoDeps = Layer.effect(
    OperatorActions,
    Effect.gen(function*() {
      const repo = yield* OperatorActionsRepository
      const events = yield* LifecycleEvents

      const taskNotFound = (taskUuid: string) => new TaskNotFound({ task_uuid: taskUuid as TaskUuid }, { disableChecks: true })

      const cancelTask = Effect.fn("OperatorActions.cancelTask")(function*(
        taskUuid: string,
        attribution?: Partial<ActionAttribution>
      ) {
        const found = yield* repo.cancelTask(taskUuid, metadataOf(attribution, "cancelled_by"))
        if (Option.isNone(found)) return yield* taskNotFound(taskUuid)
        const row = found.value
        if (row.outcome === "already_terminal") {
          return yield* new TaskAlreadyTerminal({ task_uuid: taskUuid as TaskUuid, state: row.state }, { disableChecks: true })
        }
        yield* repo.afterCommit(events.publishTransitions(row.transitions))
        return {
          taskUuid,
          previousState: row.previousState,
          stepsCancelled: row.stepsCancelled,
          messagesDeleted: row.messagesDeleted
        } satisfies TaskCancelled
      }, (effect, taskUuid) => Effect.annotateLogs(effect, { task_uuid: taskUuid }))

      /** Maps a step action's row to its result or typed error and publishes its transitions. */
      const finish = Effect.fnUntraced(function*(
        taskUuid: string,
        stepUuid: string,
        found: Option.Option<StepActionRow>
      ): Effect.fn.Return<StepActionResult, StepActionError> {
        if (Option.isNone(found)) return yield* taskNotFound(taskUuid)
        const row = found.value
        switch (row.outcome) {
          case "task_terminal":
            return yield* new TaskAlreadyTerminal({ task_uuid: taskUuid as TaskUuid, state: row.state }, { disableChecks: true })
          case "step_not_found":
            return yield* new StepNotFound(
              { step_uuid: stepUuid as StepUuid, task_uuid: taskUuid as TaskUuid },
              { disableChecks: true }
            )
          case "applied":
            break
        }
        if (row.stepFromState === null || row.stepState === null) {
          return yield* Effect.die(new Error(`operator action on step ${stepUuid} returned no step state`))
        }
        yield* repo.afterCommit(events.publishTransitions(row.transitions))
        return {
          taskUuid,
          stepUuid,
          previousState: row.stepFromState,
          state: row.stepState,
          task: toTaskAdvanced(taskUuid, row)
        } satisfies StepActionResult
      })

      const resetStepForRetry = Effect.fn("OperatorActions.resetStepForRetry")(
        function*(taskUuid: string, stepUuid: string, attribution: ActionAttribution) {
          const found = yield* repo.resetStepForRetry(taskUuid, stepUuid, metadataOf(attribution, "reset_by"))
          return yield* finish(taskUuid, stepUuid, found)
        },
        (effect, taskUuid, stepUuid) => Effect.annotateLogs(effect, { task_uuid: taskUuid, step_uuid: stepUuid })
      )

      const resolveStepManually = Effect.fn("OperatorActions.resolveStepManually")(
        function*(taskUuid: string, stepUuid: string, attribution: ActionAttribution) {
          const found = yield* repo.resolveStepManually(taskUuid, stepUuid, metadataOf(attribution, "resolved_by"))
          return yield* finish(taskUuid, stepUuid, found)
        },
        (effect, taskUuid, stepUuid) => Effect.annotateLogs(effect, { task_uuid: taskUuid, step_uuid: stepUuid })
      )

      const completeStepManually = Effect.fn("OperatorActions.completeStepManually")(
        function*(
          taskUuid: string,
          stepUuid: string,
          completion: { readonly result: unknown; readonly metadata?: Record<string, unknown> },
          attribution: ActionAttribution
        ) {
          const found = yield* repo.completeStepManually(
            taskUuid,
            stepUuid,
            metadataOf(attribution, "completed_by"),
            completion.result,
            completion.metadata
          )
          return yield* finish(taskUuid, stepUuid, found)
        },
        (effect, taskUuid, stepUuid) => Effect.annotateLogs(effect, { task_uuid: taskUuid, step_uuid: stepUuid })
      )

      return OperatorActions.of({ cancelTask, resetStepForRetry, resolveStepManually, completeStepManually })
    })
  )

  /** Needs `SqlClient` and `LifecycleEvents`. */
  static readonly layer = OperatorActions.layerNoDeps.pipe(Layer.provide(OperatorActionsRepository.layer))
}
