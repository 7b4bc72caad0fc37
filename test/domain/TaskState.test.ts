import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import {
  activeTaskStates,
  discoverableTaskStates,
  isLegalTaskTransition,
  isTerminalTaskState,
  nonTerminalTaskStates,
  TaskEvent,
  taskEventFor,
  taskLifecycleEventFor,
  TaskState,
  taskStates,
  taskTargetsFrom,
  taskTransitions,
  terminalTaskStates
} from "../../src/domain/TaskState.ts"

// The contract's pairs, written out by hand so the programmatic expansion is checked against them.
const contractPairs: ReadonlyArray<readonly [TaskState, TaskState, TaskEvent]> = [
  ["pending", "initializing", "Start"],
  ["initializing", "enqueuing_steps", "ReadyStepsFound"],
  ["initializing", "complete", "NoStepsFound"],
  ["initializing", "waiting_for_dependencies", "NoDependenciesReady"],
  ["enqueuing_steps", "steps_in_process", "StepsEnqueued"],
  ["enqueuing_steps", "error", "EnqueueFailed"],
  ["steps_in_process", "evaluating_results", "StepCompleted"],
  ["steps_in_process", "waiting_for_retry", "StepFailed"],
  ["evaluating_results", "complete", "AllStepsSuccessful"],
  ["evaluating_results", "enqueuing_steps", "ReadyStepsFound"],
  ["evaluating_results", "waiting_for_dependencies", "NoDependenciesReady"],
  ["evaluating_results", "blocked_by_failures", "PermanentFailure"],
  ["evaluating_results", "steps_in_process", "StepsStillProcessing"],
  ["waiting_for_dependencies", "evaluating_results", "DependenciesReady"],
  ["waiting_for_retry", "enqueuing_steps", "RetryReady"],
  ["blocked_by_failures", "error", "GiveUp"],
  ["blocked_by_failures", "evaluating_results", "OperatorResume"],
  ["error", "evaluating_results", "OperatorResume"],
  ...(["pending", "initializing", "enqueuing_steps", "steps_in_process", "evaluating_results",
    "waiting_for_dependencies", "waiting_for_retry", "blocked_by_failures"] as const).flatMap((from) => [
      [from, "cancelled", "Cancel"] as const,
      [from, "resolved_manually", "ResolveManually"] as const
    ]),
  ...(["pending", "initializing", "steps_in_process", "evaluating_results", "waiting_for_dependencies",
    "waiting_for_retry"] as const).map((from) => [from, "error", "Fail"] as const)
]

describe("TaskState", () => {
  it.effect("has 12 states, 4 terminal and 8 non-terminal", () =>
    Effect.gen(function*() {
      assert.strictEqual(taskStates.length, 12)
      assert.deepStrictEqual([...terminalTaskStates].sort(), ["cancelled", "complete", "error", "resolved_manually"])
      assert.strictEqual(nonTerminalTaskStates.size, 8)
      for (const state of taskStates) {
        assert.strictEqual(isTerminalTaskState(state), !nonTerminalTaskStates.has(state))
      }
      assert.deepStrictEqual([...activeTaskStates], [
        "initializing",
        "enqueuing_steps",
        "steps_in_process",
        "evaluating_results"
      ])
      assert.deepStrictEqual([...discoverableTaskStates], ["pending", "waiting_for_dependencies", "waiting_for_retry"])
    }))

  it.effect("encodes exactly the contract's 40 transitions", () =>
    Effect.gen(function*() {
      assert.strictEqual(contractPairs.length, 40)
      assert.strictEqual(taskTransitions.length, 40)
      const table = new Set(taskTransitions.map((t) => `${t.from}->${t.to}:${t.event}`))
      assert.strictEqual(table.size, 40, "each (from, to) pair appears once")
      for (const [from, to, event] of contractPairs) {
        assert.isTrue(table.has(`${from}->${to}:${event}`), `${from} -> ${to} : ${event}`)
        assert.isTrue(isLegalTaskTransition(from, to))
        assert.deepStrictEqual(taskEventFor(from, to), Option.some(event))
      }
    }))

  it.effect("refuses every other pair, including self-transitions", () =>
    Effect.gen(function*() {
      const legal = new Set(contractPairs.map(([from, to]) => `${from}->${to}`))
      let illegal = 0
      for (const from of taskStates) {
        for (const to of taskStates) {
          if (legal.has(`${from}->${to}`)) continue
          illegal++
          assert.isFalse(isLegalTaskTransition(from, to), `${from} -> ${to}`)
          assert.isTrue(Option.isNone(taskEventFor(from, to)))
        }
        assert.isFalse(isLegalTaskTransition(from, from))
      }
      assert.strictEqual(illegal, 12 * 12 - 40)
      assert.isFalse(isLegalTaskTransition("steps_in_process", "complete"))
      assert.isFalse(isLegalTaskTransition("error", "pending"))
      assert.isTrue(isLegalTaskTransition("blocked_by_failures", "resolved_manually"))
      assert.isFalse(isLegalTaskTransition("evaluating_results", "waiting_for_retry"))
    }))

  it.effect("terminal states have no exits except error -> evaluating_results", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(taskTargetsFrom("complete"), [])
      assert.deepStrictEqual(taskTargetsFrom("cancelled"), [])
      assert.deepStrictEqual(taskTargetsFrom("resolved_manually"), [])
      assert.deepStrictEqual(taskTargetsFrom("error"), ["evaluating_results"])
      assert.deepStrictEqual(taskEventFor("error", "evaluating_results"), Option.some("OperatorResume"))
    }))

  it.effect("every state and event in the table is a valid literal", () =>
    Effect.gen(function*() {
      const isState = Schema.is(TaskState)
      const isEvent = Schema.is(TaskEvent)
      for (const t of taskTransitions) {
        assert.isTrue(isState(t.from) && isState(t.to) && isEvent(t.event))
      }
      const used = new Set(taskTransitions.map((t) => t.event))
      assert.strictEqual(used.size, TaskEvent.literals.length, "every event is used")
    }))

  it.effect("maps transitions to the reference's lifecycle events", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [TaskState, TaskState, string | undefined]> = [
        ["pending", "initializing", "task.initialize_requested"],
        ["initializing", "enqueuing_steps", "task.steps_discovery_completed"],
        ["evaluating_results", "enqueuing_steps", "task.steps_discovery_completed"],
        ["enqueuing_steps", "steps_in_process", "task.steps_enqueued"],
        ["steps_in_process", "evaluating_results", "task.step_results_received"],
        ["initializing", "waiting_for_dependencies", "task.awaiting_dependencies"],
        ["waiting_for_dependencies", "evaluating_results", "task.dependencies_satisfied"],
        ["steps_in_process", "waiting_for_retry", "task.retry_backoff_started"],
        ["evaluating_results", "blocked_by_failures", "task.blocked_by_failures"],
        ["initializing", "complete", "task.completed"],
        ["blocked_by_failures", "error", "task.failed"],
        ["pending", "cancelled", "task.cancelled"],
        ["waiting_for_retry", "resolved_manually", "task.resolved_manually"],
        ["evaluating_results", "steps_in_process", undefined],
        ["error", "evaluating_results", undefined],
        ["complete", "pending", undefined]
      ]
      for (const [from, to, expected] of cases) {
        assert.deepStrictEqual(taskLifecycleEventFor(from, to), Option.fromUndefinedOr(expected), `${from} -> ${to}`)
      }
    }))
})
