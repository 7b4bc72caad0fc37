/**
 * The workflow-step state machine as pure data: 10 states, the legal `(from, to)` pairs with their
 * event, and the lifecycle events published after a transition. The SQL transition functions encode
 * exactly the same pairs (docs/states.md, notes/contract.md).
 *
 * @since 0.1.0
 */
import { Option, Schema } from "effect"

/**
 * @category models
 * @since 0.1.0
 */
export const StepState = Schema.Literals([
  "pending",
  "enqueued",
  "in_progress",
  "enqueued_for_orchestration",
  "enqueued_as_error_for_orchestration",
  "waiting_for_retry",
  "complete",
  "error",
  "cancelled",
  "resolved_manually"
])
/** @category models @since 0.1.0 */
export type StepState = typeof StepState.Type

/**
 * The transition events (serialized as `{"type": "<Event>", ...}` in transition metadata).
 *
 * @category models
 * @since 0.1.0
 */
export const StepEvent = Schema.Literals([
  "Enqueue",
  "Start",
  "Reclaim",
  "EnqueueForOrchestration",
  "EnqueueAsErrorForOrchestration",
  "Complete",
  "Fail",
  "WaitForRetry",
  "Retry",
  "ResetForRetry",
  "Cancel",
  "ResolveManually",
  "CompleteManually"
])
/** @category models @since 0.1.0 */
export type StepEvent = typeof StepEvent.Type

/** One legal edge of the step state machine. @category models @since 0.1.0 */
export interface StepTransition {
  readonly from: StepState
  readonly to: StepState
  readonly event: StepEvent
}

/** All 10 states in declaration order. @category constants @since 0.1.0 */
export const stepStates: ReadonlyArray<StepState> = StepState.literals

/**
 * `complete`, `cancelled`, `resolved_manually`. `error` is a permanent failure but still accepts
 * operator actions, so it is not terminal.
 *
 * @category constants
 * @since 0.1.0
 */
export const terminalStepStates: ReadonlySet<StepState> = new Set<StepState>([
  "complete",
  "cancelled",
  "resolved_manually"
])

/** The 7 states that accept further events. @category constants @since 0.1.0 */
export const nonTerminalStepStates: ReadonlySet<StepState> = new Set(
  stepStates.filter((state) => !terminalStepStates.has(state))
)

/** A parent in one of these states lets its children run. @category constants @since 0.1.0 */
export const dependencySatisfyingStepStates: ReadonlySet<StepState> = new Set<StepState>([
  "complete",
  "resolved_manually"
])

/**
 * Dispatched and not yet settled by orchestration: a queue message, a worker or a result is in
 * flight, so the step must not be enqueued again.
 *
 * @category constants
 * @since 0.1.0
 */
export const inFlightStepStates: ReadonlySet<StepState> = new Set<StepState>([
  "enqueued",
  "in_progress",
  "enqueued_for_orchestration",
  "enqueued_as_error_for_orchestration"
])

/** The states readiness may select a step from (REFERENCE 12.3). @category constants @since 0.1.0 */
export const readyCandidateStepStates: ReadonlySet<StepState> = new Set<StepState>([
  "pending",
  "waiting_for_retry"
])

/** @category predicates @since 0.1.0 */
export const isTerminalStepState = (state: StepState): boolean => terminalStepStates.has(state)

/** @category predicates @since 0.1.0 */
export const satisfiesDependents = (state: StepState): boolean => dependencySatisfyingStepStates.has(state)

/** @category predicates @since 0.1.0 */
export const isInFlightStepState = (state: StepState): boolean => inFlightStepStates.has(state)

const explicitTransitions: ReadonlyArray<StepTransition> = [
  { from: "pending", to: "enqueued", event: "Enqueue" },
  { from: "enqueued", to: "in_progress", event: "Start" },
  // ours: a worker re-claims a step whose previous worker's lease expired
  { from: "in_progress", to: "in_progress", event: "Reclaim" },
  { from: "in_progress", to: "enqueued_for_orchestration", event: "EnqueueForOrchestration" },
  { from: "in_progress", to: "enqueued_as_error_for_orchestration", event: "EnqueueAsErrorForOrchestration" },
  { from: "enqueued_for_orchestration", to: "complete", event: "Complete" },
  { from: "enqueued_for_orchestration", to: "error", event: "Fail" },
  { from: "enqueued_as_error_for_orchestration", to: "waiting_for_retry", event: "WaitForRetry" },
  { from: "enqueued_as_error_for_orchestration", to: "error", event: "Fail" },
  { from: "enqueued_as_error_for_orchestration", to: "complete", event: "Complete" },
  { from: "waiting_for_retry", to: "pending", event: "Retry" },
  { from: "error", to: "pending", event: "ResetForRetry" },
  ...(["pending", "enqueued", "in_progress"] as const).flatMap((from): ReadonlyArray<StepTransition> => [
    { from, to: "waiting_for_retry", event: "WaitForRetry" },
    { from, to: "error", event: "Fail" }
  ])
]

/**
 * Every legal step transition (37): the explicit edges, then Cancel / ResolveManually over the
 * non-terminal states, then CompleteManually from each non-terminal state that has no other edge to
 * `complete` (so each `(from, to)` pair keeps exactly one event).
 *
 * @category constants
 * @since 0.1.0
 */
export const stepTransitions: ReadonlyArray<StepTransition> = (() => {
  const base: Array<StepTransition> = [
    ...explicitTransitions,
    ...[...nonTerminalStepStates].map((from): StepTransition => ({ from, to: "cancelled", event: "Cancel" })),
    ...[...nonTerminalStepStates].map((from): StepTransition => ({
      from,
      to: "resolved_manually",
      event: "ResolveManually"
    }))
  ]
  const completesAlready = new Set(base.filter((t) => t.to === "complete").map((t) => t.from))
  return [
    ...base,
    ...[...nonTerminalStepStates].filter((from) => !completesAlready.has(from)).map((from): StepTransition => ({
      from,
      to: "complete",
      event: "CompleteManually"
    }))
  ]
})()

const byPair: ReadonlyMap<string, StepEvent> = new Map(
  stepTransitions.map((t) => [`${t.from}->${t.to}`, t.event])
)

/** @category predicates @since 0.1.0 */
export const isLegalStepTransition = (from: StepState, to: StepState): boolean => byPair.has(`${from}->${to}`)

/** The event that moves a step from `from` to `to`, or none if the pair is illegal. @category lookups @since 0.1.0 */
export const stepEventFor = (from: StepState, to: StepState): Option.Option<StepEvent> =>
  Option.fromUndefinedOr(byPair.get(`${from}->${to}`))

/** The states a step may move to from `from`. @category lookups @since 0.1.0 */
export const stepTargetsFrom = (from: StepState): ReadonlyArray<StepState> =>
  stepTransitions.filter((t) => t.from === from).map((t) => t.to)

/**
 * The in-process lifecycle events published after a persisted step transition, named as the
 * reference publishes them (`determine_step_event_name` plus `step.discovery_triggered`).
 *
 * @category models
 * @since 0.1.0
 */
export const StepLifecycleEvent = Schema.Literals([
  "step.enqueue_requested",
  "step.execution_requested",
  "step.handle",
  "step.enqueued_for_orchestration",
  "step.enqueued_as_error_for_orchestration",
  "step.retry_requested",
  "step.completed",
  "step.failed",
  "step.cancelled",
  "step.resolved_manually",
  "step.discovery_triggered"
])
/** @category models @since 0.1.0 */
export type StepLifecycleEvent = typeof StepLifecycleEvent.Type

/**
 * The lifecycle events for a transition, in publish order; empty for an illegal pair. Entering
 * `complete` also publishes `step.discovery_triggered` (children may have become ready). The
 * Reclaim self-transition maps to `step.handle`, the reference's name for any other entry into
 * `in_progress`.
 *
 * @category lookups
 * @since 0.1.0
 */
export const stepLifecycleEventsFor = (from: StepState, to: StepState): ReadonlyArray<StepLifecycleEvent> => {
  if (!isLegalStepTransition(from, to)) return []
  switch (to) {
    case "enqueued":
      return ["step.enqueue_requested"]
    case "in_progress":
      return from === "enqueued" ? ["step.execution_requested"] : ["step.handle"]
    case "enqueued_for_orchestration":
      return ["step.enqueued_for_orchestration"]
    case "enqueued_as_error_for_orchestration":
      return ["step.enqueued_as_error_for_orchestration"]
    case "waiting_for_retry":
    case "pending":
      return ["step.retry_requested"]
    case "complete":
      return ["step.completed", "step.discovery_triggered"]
    case "error":
      return ["step.failed"]
    case "cancelled":
      return ["step.cancelled"]
    case "resolved_manually":
      return ["step.resolved_manually"]
  }
}
