/**
 * The step enqueuer (REFERENCE 6.5): moves a task along its state machine from whatever state it
 * rests in, and enqueues every ready step of the task with one statement, their worker messages
 * in the same transaction. Also the readiness cycle: discover tasks with ready work
 * (`get_next_ready_tasks`, priority with aging) and advance each.
 *
 * `advanceTask` is one round trip (`tasker.advance_task`, mode `evaluate`); a discovery cycle is
 * one round trip plus one per task found. The transitions' lifecycle events are published after
 * commit.
 */
import { Cause, Clock, Context, Effect, Exit, Layer, Option } from "effect"
import { TaskerConfig } from "../../../config/TaskerConfig.ts"
import { TaskNotFound } from "../../../domain/Errors.ts"
import type { TaskUuid } from "../../../domain/Ids.ts"
import type { TaskState } from "../../../domain/TaskState.ts"
import { LifecycleEvents } from "../../LifecycleEvents.ts"
import { type AdvanceRow, LifecycleRepository } from "../LifecycleRepository.ts"

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

/** The advance part of a lifecycle row as a {@link TaskAdvanced}. */
export const toTaskAdvanced = (taskUuid: string, row: AdvanceRow): TaskAdvanced => ({
  taskUuid,
  previousState: row.previousState,
  state: row.state,
  action: row.action,
  stepsEnqueued: row.stepsEnqueued,
  enqueuedStepUuids: row.stepUuids
})

/** Tasks of one discovery cycle advanced at once (each is one short transaction). */
const discoveryConcurrency = 4

export class StepEnqueuer extends Context.Service<StepEnqueuer, {
  /** Runs the state handler of the task's current state; a terminal or busy task is a no-op. */
  advanceTask(taskUuid: string): Effect.Effect<TaskAdvanced, TaskNotFound>
  /** Discovers up to `limit` tasks with ready work (config discoveryBatchSize by default) and advances each. */
  discoverAndAdvance(limit?: number): Effect.Effect<ReadinessCycle>
}>()("tasker/orchestration/lifecycle/StepEnqueuer") {
  static readonly layerNoDeps = Layer.effect(
    StepEnqueuer,
    Effect.gen(function*() {
      const repo = yield* LifecycleRepository
      const events = yield* LifecycleEvents
      const settings = yield* TaskerConfig

      const advanceTask = Effect.fn("StepEnqueuer.advanceTask")(function*(taskUuid: string) {
        const row = yield* repo.advanceTask(taskUuid, "evaluate")
        if (Option.isNone(row)) {
          return yield* new TaskNotFound({ task_uuid: taskUuid as TaskUuid }, { disableChecks: true })
        }
        yield* repo.afterCommit(events.publishTransitions(row.value.transitions))
        return toTaskAdvanced(taskUuid, row.value)
      }, (effect, taskUuid) => Effect.annotateLogs(effect, { task_uuid: taskUuid }))

      const discoverAndAdvance = Effect.fn("StepEnqueuer.discoverAndAdvance")(function*(limit?: number) {
        const started = yield* Clock.currentTimeMillis
        const tasks = yield* repo.nextReadyTasks(Math.max(0, limit ?? settings.orchestration.discoveryBatchSize))
        const exits = yield* Effect.forEach(
          tasks,
          (task) =>
            advanceTask(task.taskUuid).pipe(
              Effect.tapCause((cause) =>
                Cause.hasInterruptsOnly(cause)
                  ? Effect.void
                  : Effect.logWarning("readiness: advancing a task failed", cause).pipe(
                    Effect.annotateLogs({ task_uuid: task.taskUuid })
                  )
              ),
              Effect.exit
            ),
          { concurrency: discoveryConcurrency }
        )
        let tasksAdvanced = 0
        let stepsEnqueued = 0
        for (const exit of exits) {
          if (Exit.isSuccess(exit)) {
            tasksAdvanced++
            stepsEnqueued += exit.value.stepsEnqueued
          }
        }
        return {
          tasksDiscovered: tasks.length,
          tasksAdvanced,
          tasksFailed: exits.length - tasksAdvanced,
          stepsEnqueued,
          durationMs: (yield* Clock.currentTimeMillis) - started
        } satisfies ReadinessCycle
      })

      return StepEnqueuer.of({ advanceTask, discoverAndAdvance })
    })
  )

  /** Needs `SqlClient`, `LifecycleEvents` and `TaskerConfig`. */
  static readonly layer = StepEnqueuer.layerNoDeps.pipe(Layer.provide(LifecycleRepository.layer))
}
