/**
 * Lifecycle events: every task and step transition the engine commits is published here, under
 * the reference's event names (`task.completed`, `step.discovery_triggered`, …), for embedding
 * apps, the API and tests. The PubSub slides: a slow subscriber loses its oldest events instead
 * of ever blocking orchestration.
 */
import { Context, DateTime, Effect, Layer, Option, PubSub, Schema, type Scope } from "effect"
import { StepState, stepLifecycleEventsFor } from "../domain/StepState.ts"
import { TaskState, taskLifecycleEventFor } from "../domain/TaskState.ts"

/** A transition as the SQL lifecycle functions report it (their `transitions` jsonb array). */
export const CommittedTransition = Schema.Union([
  Schema.Struct({
    entity: Schema.Literal("task"),
    task_uuid: Schema.String,
    from_state: TaskState,
    to_state: TaskState
  }),
  Schema.Struct({
    entity: Schema.Literal("step"),
    task_uuid: Schema.String,
    step_uuid: Schema.String,
    from_state: StepState,
    to_state: StepState
  })
])
export type CommittedTransition = typeof CommittedTransition.Type
export const CommittedTransitions = Schema.Array(CommittedTransition)
export const decodeCommittedTransitions = Schema.decodeUnknownEffect(CommittedTransitions)

export interface TaskLifecycleEvent {
  readonly _tag: "TaskEvent"
  readonly name: string
  readonly taskUuid: string
  readonly from: TaskState
  readonly to: TaskState
  readonly at: DateTime.Utc
}

export interface StepLifecycleEvent {
  readonly _tag: "StepEvent"
  readonly name: string
  readonly taskUuid: string
  readonly stepUuid: string
  readonly from: StepState
  readonly to: StepState
  readonly at: DateTime.Utc
}

export type LifecycleEvent = TaskLifecycleEvent | StepLifecycleEvent

/** The named events of committed transitions (a transition may publish none, one or two). */
export const eventsOf = (transitions: ReadonlyArray<CommittedTransition>, at: DateTime.Utc): Array<LifecycleEvent> =>
  transitions.flatMap((t): Array<LifecycleEvent> =>
    t.entity === "task"
      ? Option.match(taskLifecycleEventFor(t.from_state, t.to_state), {
        onNone: () => [],
        onSome: (name) => [{ _tag: "TaskEvent", name, taskUuid: t.task_uuid, from: t.from_state, to: t.to_state, at }]
      })
      : stepLifecycleEventsFor(t.from_state, t.to_state).map((name) => ({
        _tag: "StepEvent",
        name,
        taskUuid: t.task_uuid,
        stepUuid: t.step_uuid,
        from: t.from_state,
        to: t.to_state,
        at
      }))
  )

export class LifecycleEvents extends Context.Service<LifecycleEvents, {
  /** Publishes the events of transitions that were committed. Never blocks. */
  publishTransitions(transitions: ReadonlyArray<CommittedTransition>): Effect.Effect<void>
  /** Subscribes for the rest of the scope. */
  readonly subscribe: Effect.Effect<PubSub.Subscription<LifecycleEvent>, never, Scope.Scope>
}>()("tasker/orchestration/LifecycleEvents") {
  static readonly layerCapacity = (capacity: number) =>
    Layer.effect(
      LifecycleEvents,
      Effect.gen(function*() {
        const pubsub = yield* Effect.acquireRelease(PubSub.sliding<LifecycleEvent>(capacity), PubSub.shutdown)
        return LifecycleEvents.of({
          publishTransitions: (transitions) =>
            transitions.length === 0
              ? Effect.void
              : Effect.flatMap(DateTime.now, (at) => PubSub.publishAll(pubsub, eventsOf(transitions, at))).pipe(
                Effect.asVoid
              ),
          subscribe: PubSub.subscribe(pubsub)
        })
      })
    )

  static readonly layer = LifecycleEvents.layerCapacity(10_000)
}
