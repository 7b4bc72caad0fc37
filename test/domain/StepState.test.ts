import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import {
  dependencySatisfyingStepStates,
  inFlightStepStates,
  isInFlightStepState,
  isLegalStepTransition,
  isTerminalStepState,
  nonTerminalStepStates,
  satisfiesDependents,
  StepEvent,
  stepEventFor,
  stepLifecycleEventsFor,
  StepState,
  stepStates,
  stepTargetsFrom,
  stepTransitions,
  terminalStepStates
} from "../../src/domain/StepState.ts"

const nonTerminal = [
  "pending",
  "enqueued",
  "in_progress",
  "enqueued_for_orchestration",
  "enqueued_as_error_for_orchestration",
  "waiting_for_retry",
  "error"
] as const

const contractPairs: ReadonlyArray<readonly [StepState, StepState, StepEvent]> = [
  ["pending", "enqueued", "Enqueue"],
  ["enqueued", "in_progress", "Start"],
  ["in_progress", "in_progress", "Reclaim"],
  ["in_progress", "enqueued_for_orchestration", "EnqueueForOrchestration"],
  ["in_progress", "enqueued_as_error_for_orchestration", "EnqueueAsErrorForOrchestration"],
  ["enqueued_for_orchestration", "complete", "Complete"],
  ["enqueued_for_orchestration", "error", "Fail"],
  ["enqueued_as_error_for_orchestration", "waiting_for_retry", "WaitForRetry"],
  ["enqueued_as_error_for_orchestration", "error", "Fail"],
  ["enqueued_as_error_for_orchestration", "complete", "Complete"],
  ["waiting_for_retry", "pending", "Retry"],
  ["error", "pending", "ResetForRetry"],
  ["pending", "waiting_for_retry", "WaitForRetry"],
  ["enqueued", "waiting_for_retry", "WaitForRetry"],
  ["in_progress", "waiting_for_retry", "WaitForRetry"],
  ["pending", "error", "Fail"],
  ["enqueued", "error", "Fail"],
  ["in_progress", "error", "Fail"],
  ...nonTerminal.flatMap((from) => [
    [from, "cancelled", "Cancel"] as const,
    [from, "resolved_manually", "ResolveManually"] as const
  ]),
  ...(["pending", "enqueued", "in_progress", "waiting_for_retry", "error"] as const).map((from) =>
    [from, "complete", "CompleteManually"] as const
  )
]

describe("StepState", () => {
  it.effect("has 10 states, 3 terminal; error is not terminal", () =>
    Effect.gen(function*() {
      assert.strictEqual(stepStates.length, 10)
      assert.deepStrictEqual([...terminalStepStates], ["complete", "cancelled", "resolved_manually"])
      assert.deepStrictEqual([...nonTerminalStepStates], [...nonTerminal])
      assert.isFalse(isTerminalStepState("error"))
      assert.isTrue(isTerminalStepState("resolved_manually"))
    }))

  it.effect("knows which states satisfy dependents and which are in flight", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual([...dependencySatisfyingStepStates], ["complete", "resolved_manually"])
      for (const state of stepStates) {
        assert.strictEqual(satisfiesDependents(state), state === "complete" || state === "resolved_manually")
        assert.strictEqual(isInFlightStepState(state), inFlightStepStates.has(state))
      }
      assert.isTrue(isInFlightStepState("in_progress"))
      assert.isFalse(isInFlightStepState("pending"))
      assert.isFalse(isInFlightStepState("waiting_for_retry"))
    }))

  it.effect("encodes exactly the contract's 37 transitions", () =>
    Effect.gen(function*() {
      assert.strictEqual(contractPairs.length, 37)
      assert.strictEqual(stepTransitions.length, 37)
      const table = new Set(stepTransitions.map((t) => `${t.from}->${t.to}:${t.event}`))
      assert.strictEqual(table.size, 37)
      assert.strictEqual(new Set(stepTransitions.map((t) => `${t.from}->${t.to}`)).size, 37, "one event per pair")
      for (const [from, to, event] of contractPairs) {
        assert.isTrue(table.has(`${from}->${to}:${event}`), `${from} -> ${to} : ${event}`)
        assert.deepStrictEqual(stepEventFor(from, to), Option.some(event))
      }
      const used = new Set(stepTransitions.map((t) => t.event))
      assert.strictEqual(used.size, StepEvent.literals.length, "every event is used")
      const isState = Schema.is(StepState)
      for (const t of stepTransitions) assert.isTrue(isState(t.from) && isState(t.to))
    }))

  it.effect("refuses every other pair; in_progress is the only self-transition", () =>
    Effect.gen(function*() {
      const legal = new Set(contractPairs.map(([from, to]) => `${from}->${to}`))
      for (const from of stepStates) {
        for (const to of stepStates) {
          assert.strictEqual(isLegalStepTransition(from, to), legal.has(`${from}->${to}`), `${from} -> ${to}`)
        }
        assert.strictEqual(isLegalStepTransition(from, from), from === "in_progress")
      }
      for (const terminal of terminalStepStates) assert.deepStrictEqual(stepTargetsFrom(terminal), [])
      // the reference's legacy edges are gone
      assert.isFalse(isLegalStepTransition("pending", "in_progress"))
      assert.isFalse(isLegalStepTransition("complete", "resolved_manually"))
      assert.isFalse(isLegalStepTransition("waiting_for_retry", "enqueued"))
      assert.deepStrictEqual(stepEventFor("error", "pending"), Option.some("ResetForRetry"))
      assert.deepStrictEqual(stepEventFor("in_progress", "complete"), Option.some("CompleteManually"))
      assert.deepStrictEqual(stepEventFor("enqueued_as_error_for_orchestration", "complete"), Option.some("Complete"))
    }))

  it.effect("maps transitions to the reference's lifecycle events", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(stepLifecycleEventsFor("pending", "enqueued"), ["step.enqueue_requested"])
      assert.deepStrictEqual(stepLifecycleEventsFor("enqueued", "in_progress"), ["step.execution_requested"])
      assert.deepStrictEqual(stepLifecycleEventsFor("in_progress", "in_progress"), ["step.handle"])
      assert.deepStrictEqual(stepLifecycleEventsFor("in_progress", "enqueued_for_orchestration"), [
        "step.enqueued_for_orchestration"
      ])
      assert.deepStrictEqual(stepLifecycleEventsFor("enqueued_as_error_for_orchestration", "waiting_for_retry"), [
        "step.retry_requested"
      ])
      assert.deepStrictEqual(stepLifecycleEventsFor("error", "pending"), ["step.retry_requested"])
      assert.deepStrictEqual(stepLifecycleEventsFor("enqueued_for_orchestration", "complete"), [
        "step.completed",
        "step.discovery_triggered"
      ])
      assert.deepStrictEqual(stepLifecycleEventsFor("in_progress", "error"), ["step.failed"])
      assert.deepStrictEqual(stepLifecycleEventsFor("error", "cancelled"), ["step.cancelled"])
      assert.deepStrictEqual(stepLifecycleEventsFor("pending", "resolved_manually"), ["step.resolved_manually"])
      assert.deepStrictEqual(stepLifecycleEventsFor("complete", "pending"), [])
    }))
})
