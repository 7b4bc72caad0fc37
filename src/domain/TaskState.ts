/**
 * The task state machine as pure data: 12 states, the legal `(from, to)` pairs with their event, and
 * the lifecycle event published after a transition. The SQL transition functions encode exactly the
 * same pairs (docs/states.md, notes/contract.md); a test pins the counts so the two cannot drift.
 *
 * @since 0.1.0
 */
import { Option, Schema } from "effect"

/**
 * @category models
 * @since 0.1.0
 */
export const TaskState = Schema.Literals([
  "pending",
  "initializing",
  "enqueuing_steps",
  "steps_in_process",
  "evaluating_results",
  "waiting_for_dependencies",
  "waiting_for_retry",
  "blocked_by_failures",
  "complete",
  "error",
  "cancelled",
  "resolved_manually"
])
/** @category models @since 0.1.0 */
export type TaskState = typeof TaskState.Type

/**
 * The transition events (the `metadata.event` written with each transition row).
 *
 * @category models
 * @since 0.1.0
 */
export const TaskEvent = Schema.Literals([
  "Start",
  "ReadyStepsFound",
  "NoStepsFound",
  "NoDependenciesReady",
  "StepsEnqueued",
  "EnqueueFailed",
  "StepCompleted",
  "StepFailed",
  "AllStepsSuccessful",
  "PermanentFailure",
  "StepsStillProcessing",
  "DependenciesReady",
  "RetryReady",
  "GiveUp",
  "OperatorResume",
  "Cancel",
  "ResolveManually",
  "Fail"
])
/** @category models @since 0.1.0 */
export type TaskEvent = typeof TaskEvent.Type

/** One legal edge of the task state machine. @category models @since 0.1.0 */
export interface TaskTransition {
  readonly from: TaskState
  readonly to: TaskState
  readonly event: TaskEvent
}

/** All 12 states in declaration order. @category constants @since 0.1.0 */
export const taskStates: ReadonlyArray<TaskState> = TaskState.literals

/** `complete`, `error`, `cancelled`, `resolved_manually`. @category constants @since 0.1.0 */
export const terminalTaskStates: ReadonlySet<TaskState> = new Set<TaskState>([
  "complete",
  "error",
  "cancelled",
  "resolved_manually"
])

/** The 8 states that still have work (or a decision) ahead of them. @category constants @since 0.1.0 */
export const nonTerminalTaskStates: ReadonlySet<TaskState> = new Set(
  taskStates.filter((state) => !terminalTaskStates.has(state))
)

/** States in which an orchestrator is actively working on the task. @category constants @since 0.1.0 */
export const activeTaskStates: ReadonlySet<TaskState> = new Set<TaskState>([
  "initializing",
  "enqueuing_steps",
  "steps_in_process",
  "evaluating_results"
])

/** States the readiness poller picks tasks up from. @category constants @since 0.1.0 */
export const discoverableTaskStates: ReadonlySet<TaskState> = new Set<TaskState>([
  "pending",
  "waiting_for_dependencies",
  "waiting_for_retry"
])

/** @category predicates @since 0.1.0 */
export const isTerminalTaskState = (state: TaskState): boolean => terminalTaskStates.has(state)

const explicitTransitions: ReadonlyArray<TaskTransition> = [
  { from: "pending", to: "initializing", event: "Start" },
  { from: "initializing", to: "enqueuing_steps", event: "ReadyStepsFound" },
  { from: "initializing", to: "complete", event: "NoStepsFound" },
  { from: "initializing", to: "waiting_for_dependencies", event: "NoDependenciesReady" },
  { from: "enqueuing_steps", to: "steps_in_process", event: "StepsEnqueued" },
  { from: "enqueuing_steps", to: "error", event: "EnqueueFailed" },
  { from: "steps_in_process", to: "evaluating_results", event: "StepCompleted" },
  { from: "steps_in_process", to: "waiting_for_retry", event: "StepFailed" },
  { from: "evaluating_results", to: "complete", event: "AllStepsSuccessful" },
  { from: "evaluating_results", to: "enqueuing_steps", event: "ReadyStepsFound" },
  { from: "evaluating_results", to: "waiting_for_dependencies", event: "NoDependenciesReady" },
  { from: "evaluating_results", to: "blocked_by_failures", event: "PermanentFailure" },
  // ours: other steps are still running, so the task goes back to waiting for their results
  { from: "evaluating_results", to: "steps_in_process", event: "StepsStillProcessing" },
  { from: "waiting_for_dependencies", to: "evaluating_results", event: "DependenciesReady" },
  { from: "waiting_for_retry", to: "enqueuing_steps", event: "RetryReady" },
  { from: "blocked_by_failures", to: "error", event: "GiveUp" },
  // ours: a manual step action re-evaluates a blocked task at once
  { from: "blocked_by_failures", to: "evaluating_results", event: "OperatorResume" },
  // ours: resolving a DLQ entry re-opens an errored task
  { from: "error", to: "evaluating_results", event: "OperatorResume" }
]

// These two reach `error` through their own events (EnqueueFailed, GiveUp), so they get no `Fail` edge.
const noGenericFail: ReadonlySet<TaskState> = new Set<TaskState>(["enqueuing_steps", "blocked_by_failures"])

/**
 * Every legal task transition (40): the explicit edges, then Cancel / ResolveManually / Fail expanded
 * over the non-terminal states. Each `(from, to)` pair appears once, so the event is a function of it.
 *
 * @category constants
 * @since 0.1.0
 */
export const taskTransitions: ReadonlyArray<TaskTransition> = [
  ...explicitTransitions,
  ...[...nonTerminalTaskStates].map((from): TaskTransition => ({ from, to: "cancelled", event: "Cancel" })),
  ...[...nonTerminalTaskStates].map((from): TaskTransition => ({
    from,
    to: "resolved_manually",
    event: "ResolveManually"
  })),
  ...[...nonTerminalTaskStates].filter((from) => !noGenericFail.has(from)).map((from): TaskTransition => ({
    from,
    to: "error",
    event: "Fail"
  }))
]

const byPair: ReadonlyMap<string, TaskEvent> = new Map(
  taskTransitions.map((t) => [`${t.from}->${t.to}`, t.event])
)

/** @category predicates @since 0.1.0 */
export const isLegalTaskTransition = (from: TaskState, to: TaskState): boolean => byPair.has(`${from}->${to}`)

/** The event that moves a task from `from` to `to`, or none if the pair is illegal. @category lookups @since 0.1.0 */
export const taskEventFor = (from: TaskState, to: TaskState): Option.Option<TaskEvent> =>
  Option.fromUndefinedOr(byPair.get(`${from}->${to}`))

/** The states a task may move to from `from`. @category lookups @since 0.1.0 */
export const taskTargetsFrom = (from: TaskState): ReadonlyArray<TaskState> =>
  taskTransitions.filter((t) => t.from === from).map((t) => t.to)

/**
 * The in-process lifecycle events published after a persisted task transition (REFERENCE 3.1).
 *
 * @category models
 * @since 0.1.0
 */
export const TaskLifecycleEvent = Schema.Literals([
  "task.initialize_requested",
  "task.steps_discovery_completed",
  "task.steps_enqueued",
  "task.step_results_received",
  "task.awaiting_dependencies",
  "task.dependencies_satisfied",
  "task.retry_backoff_started",
  "task.blocked_by_failures",
  "task.completed",
  "task.failed",
  "task.cancelled",
  "task.resolved_manually"
])
/** @category models @since 0.1.0 */
export type TaskLifecycleEvent = typeof TaskLifecycleEvent.Type

/**
 * The lifecycle event for a transition, following the reference's `(from, to)` match order. Entering
 * `enqueuing_steps` from any state means ready steps were found (the reference names only the
 * `initializing` edge). `evaluating_results -> steps_in_process` and the OperatorResume edges publish
 * nothing: they are bookkeeping, not lifecycle milestones.
 *
 * @category lookups
 * @since 0.1.0
 */
export const taskLifecycleEventFor = (from: TaskState, to: TaskState): Option.Option<TaskLifecycleEvent> => {
  if (!isLegalTaskTransition(from, to)) return Option.none()
  switch (to) {
    case "initializing":
      return Option.some("task.initialize_requested")
    case "enqueuing_steps":
      return Option.some("task.steps_discovery_completed")
    case "steps_in_process":
      return from === "enqueuing_steps" ? Option.some("task.steps_enqueued") : Option.none()
    case "evaluating_results":
      return from === "steps_in_process"
        ? Option.some("task.step_results_received")
        : from === "waiting_for_dependencies"
        ? Option.some("task.dependencies_satisfied")
        : Option.none()
    case "waiting_for_dependencies":
      return Option.some("task.awaiting_dependencies")
    case "waiting_for_retry":
      return Option.some("task.retry_backoff_started")
    case "blocked_by_failures":
      return Option.some("task.blocked_by_failures")
    case "complete":
      return Option.some("task.completed")
    case "error":
      return Option.some("task.failed")
    case "cancelled":
      return Option.some("task.cancelled")
    case "resolved_manually":
      return Option.some("task.resolved_manually")
    case "pending":
      return Option.none()
  }
}
