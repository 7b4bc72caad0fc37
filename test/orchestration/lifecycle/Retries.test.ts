/**
 * Retries (REFERENCE 12.9 backoff, 12.10 exhaustion) and the readiness cycle: a retry waits for
 * `last_attempted_at + backoff`, is re-enqueued by discovery after it (waiting_for_retry → pending →
 * enqueued), handler backoff requests are honoured and capped, a step that always fails runs
 * exactly max_attempts times, and one failing task never aborts a discovery cycle.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { StepEnqueuer } from "../../../src/orchestration/lifecycle/step-enqueuer/StepEnqueuer.ts"
import { TaskInitializer } from "../../../src/orchestration/lifecycle/task-initialization/TaskInitializer.ts"
import {
  claim,
  execute,
  failure,
  lifecycleLayer,
  registerYaml,
  requestFor,
  runToRest,
  stepPath,
  stepsOf,
  stepUuidOf,
  taskRow,
  uniqueNamespace,
  workerMessages
} from "./LifecycleTestKit.ts"

const retryYaml = (ns: string) => `
name: flaky
namespace_name: ${ns}
version: 1.0.0
identity_strategy: always_unique
steps:
  - { name: rt_flaky, handler: { callable: t.Flaky }, retry: { retryable: true, max_attempts: 3 } }
  - { name: rt_after, dependencies: [rt_flaky], handler: { callable: t.After } }
`

const flakyTask = Effect.gen(function*() {
  const ns = uniqueNamespace("retry")
  const template = yield* registerYaml(retryYaml(ns))
  const task = yield* (yield* TaskInitializer).initialize(yield* requestFor(template, {}))
  return { ns, task, flaky: yield* stepUuidOf(task.taskUuid, "rt_flaky") }
})

/** Moves the step's backoff window into the past (as if the backoff had elapsed). */
const elapseBackoff = (stepUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`UPDATE tasker.workflow_steps SET last_attempted_at = last_attempted_at - interval '1 hour'
               WHERE workflow_step_uuid = ${stepUuid}::uuid`
  }).pipe(Effect.orDie)

const readiness = (taskUuid: string, stepUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ ready: boolean; atBackoff: boolean }>`
      SELECT r.ready_for_execution AS ready,
             r.next_retry_at = r.last_attempted_at + make_interval(secs => r.backoff_request_seconds) AS "atBackoff"
      FROM tasker.get_step_readiness_status(${taskUuid}::uuid, ARRAY[${stepUuid}::uuid]) r`
    return row!
  }).pipe(Effect.orDie)

layer(lifecycleLayer({ backoff: { baseSeconds: 1, multiplier: 2, maxSeconds: 30 } }), {
  timeout: "60 seconds",
  excludeTestServices: true
})("Retries", (it) => {
  it.effect("a retry is held until last_attempted_at + backoff, then discovery re-enqueues it (12.9)", () =>
    Effect.gen(function*() {
      const enqueuer = yield* StepEnqueuer
      const { ns, task, flaky } = yield* flakyTask
      const outcome = yield* execute(flaky, failure(flaky, true))
      assert.strictEqual(outcome._tag === "Processed" ? outcome.backoffSeconds : -1, 2)
      assert.deepInclude(yield* readiness(task.taskUuid, flaky), { ready: false, atBackoff: true })

      const early = yield* enqueuer.advanceTask(task.taskUuid)
      assert.deepInclude(early, { action: "Waiting", state: "waiting_for_dependencies", stepsEnqueued: 0 })
      yield* enqueuer.discoverAndAdvance(50)
      assert.strictEqual((yield* stepsOf(task.taskUuid)).get("rt_flaky")!.state, "waiting_for_retry")
      assert.strictEqual((yield* workerMessages(ns, task.taskUuid)).length, 1)

      yield* elapseBackoff(flaky)
      assert.isTrue((yield* readiness(task.taskUuid, flaky)).ready)
      const cycle = yield* enqueuer.discoverAndAdvance(50)
      assert.isAtLeast(cycle.tasksAdvanced, 1)
      assert.isAtLeast(cycle.stepsEnqueued, 1)
      assert.strictEqual(cycle.tasksFailed, 0)
      assert.deepStrictEqual((yield* stepPath(flaky)).slice(-3), ["waiting_for_retry", "pending", "enqueued"])
      assert.strictEqual((yield* taskRow(task.taskUuid)).state, "steps_in_process")
      assert.deepStrictEqual((yield* workerMessages(ns, task.taskUuid)).map((m) => m.step_uuid), [flaky, flaky])

      yield* claim(flaky)
      assert.strictEqual((yield* stepsOf(task.taskUuid)).get("rt_flaky")!.attempts, 2)
    }))

  it.effect("Retry-After and backoff hints are honoured and capped at max backoff", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, unknown>, number]> = [
        [{ headers: { "Retry-After": "7" } }, 7],
        [{ headers: { "retry-after": "100000" } }, 30],
        [{ backoff_hint: { backoff_type: "RateLimit", delay_seconds: 5 } }, 5],
        [{ headers: { "RETRY-AFTER": "4" }, backoff_hint: { backoff_type: "Custom", delay_seconds: 9 } }, 4]
      ]
      for (const [metadata, expected] of cases) {
        const { task, flaky } = yield* flakyTask
        const outcome = yield* execute(flaky, failure(flaky, true, metadata))
        assert.strictEqual(outcome._tag === "Processed" ? outcome.backoffSeconds : -1, expected)
        assert.strictEqual((yield* stepsOf(task.taskUuid)).get("rt_flaky")!.backoffRequestSeconds, expected)
      }
    }))

  it.effect("a step that always fails retryably runs exactly max_attempts times, then blocks the task (12.10)", () =>
    Effect.gen(function*() {
      const enqueuer = yield* StepEnqueuer
      const { ns, task, flaky } = yield* flakyTask
      for (let round = 0; round < 10; round++) {
        const state = (yield* stepsOf(task.taskUuid)).get("rt_flaky")!.state
        if (state === "enqueued") yield* execute(flaky, failure(flaky, true))
        else if (state === "waiting_for_retry") {
          yield* elapseBackoff(flaky)
          yield* enqueuer.advanceTask(task.taskUuid)
        } else break
      }
      const step = (yield* stepsOf(task.taskUuid)).get("rt_flaky")!
      assert.strictEqual(step.state, "error")
      assert.strictEqual(step.attempts, 3)
      assert.strictEqual((yield* stepPath(flaky)).filter((s) => s === "in_progress").length, 3)
      assert.strictEqual((yield* workerMessages(ns, task.taskUuid)).length, 3)
      assert.strictEqual((yield* taskRow(task.taskUuid)).state, "blocked_by_failures")
      assert.strictEqual((yield* stepsOf(task.taskUuid)).get("rt_after")!.state, "pending")
    }))

  it.effect("a task that fails to advance is counted and does not abort the cycle", () =>
    Effect.gen(function*() {
      const enqueuer = yield* StepEnqueuer
      const poisoned = yield* flakyTask
      const healthy = yield* flakyTask
      for (const { flaky } of [poisoned, healthy]) {
        yield* execute(flaky, failure(flaky, true))
        yield* elapseBackoff(flaky)
      }
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(`
        CREATE FUNCTION public.lifecycle_test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'poisoned step'; END $$`).pipe(Effect.orDie)
      yield* sql.unsafe(`
        CREATE TRIGGER poison_step BEFORE INSERT ON tasker.workflow_step_transitions FOR EACH ROW
        WHEN (NEW.workflow_step_uuid = '${poisoned.flaky}' AND NEW.to_state = 'pending')
        EXECUTE FUNCTION public.lifecycle_test_poison()`).pipe(Effect.orDie)
      const cycle = yield* enqueuer.discoverAndAdvance(50).pipe(
        Effect.ensuring(Effect.orDie(Effect.all([
          sql`DROP TRIGGER poison_step ON tasker.workflow_step_transitions`,
          sql`DROP FUNCTION public.lifecycle_test_poison()`
        ], { discard: true })))
      )
      assert.strictEqual(cycle.tasksFailed, 1)
      assert.isAtLeast(cycle.tasksAdvanced, 1)
      assert.strictEqual((yield* stepsOf(healthy.task.taskUuid)).get("rt_flaky")!.state, "enqueued")
      assert.strictEqual((yield* stepsOf(poisoned.task.taskUuid)).get("rt_flaky")!.state, "waiting_for_retry")
      assert.strictEqual((yield* taskRow(poisoned.task.taskUuid)).state, "waiting_for_dependencies")

      const retried = yield* enqueuer.discoverAndAdvance(50)
      assert.strictEqual(retried.tasksFailed, 0)
      yield* runToRest(poisoned.task.taskUuid)
      yield* runToRest(healthy.task.taskUuid)
      assert.strictEqual((yield* taskRow(poisoned.task.taskUuid)).state, "complete")
      assert.strictEqual((yield* taskRow(healthy.task.taskUuid)).state, "complete")
    }))
})
