/**
 * Result processing (REFERENCE 12.7) and step result hydration: each result rule, the duplicate
 * no-op, invalid messages, and the transaction path of decision / batchable steps.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Ref } from "effect"
import { SqlClient } from "effect/sql"
import { StepExecutionResult } from "../../../src/domain/StepExecutionResult.ts"
import { StepResultHydrator } from "../../../src/orchestration/hydration/StepResultHydrator.ts"
import { TaskInitializer } from "../../../src/orchestration/lifecycle/task-initialization/TaskInitializer.ts"
import {
  ActorCalls,
  claim,
  execute,
  failure,
  lifecycleLayer,
  processResult,
  registerYaml,
  requestFor,
  runToRest,
  stepPath,
  stepsOf,
  stepUuidOf,
  success,
  taskPath,
  taskRow,
  uniqueNamespace,
  workerMessages,
  writeResult
} from "./LifecycleTestKit.ts"

const pairYaml = (ns: string, firstRetry = "{ retryable: true, max_attempts: 3 }") => `
name: rules
namespace_name: ${ns}
version: 1.0.0
identity_strategy: always_unique
steps:
  - { name: rp_first, handler: { callable: t.First }, retry: ${firstRetry} }
  - { name: rp_second, dependencies: [rp_first], handler: { callable: t.Second } }
`

/** A task of a fresh pair template; returns the task and its first (enqueued) step. */
const pairTask = (firstRetry?: string) =>
  Effect.gen(function*() {
    const ns = uniqueNamespace("rules")
    const template = yield* registerYaml(pairYaml(ns, firstRetry))
    const task = yield* (yield* TaskInitializer).initialize(yield* requestFor(template, {}))
    return { ns, task, first: yield* stepUuidOf(task.taskUuid, "rp_first") }
  })

const logSizes = (taskUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ tasks: number; steps: number }>`
      SELECT (SELECT count(*)::int FROM tasker.task_transitions WHERE task_uuid = ${taskUuid}::uuid) AS tasks,
             (SELECT count(*)::int FROM tasker.workflow_step_transitions wst
              JOIN tasker.workflow_steps ws USING (workflow_step_uuid) WHERE ws.task_uuid = ${taskUuid}::uuid) AS steps`
    return row!
  }).pipe(Effect.orDie)

layer(lifecycleLayer({ backoff: { baseSeconds: 1, multiplier: 2, maxSeconds: 300 } }), {
  timeout: "60 seconds",
  excludeTestServices: true
})("ResultProcessor", (it) => {
  it.effect("success in enqueued_for_orchestration completes the step and enqueues its child", () =>
    Effect.gen(function*() {
      const { ns, task, first } = yield* pairTask()
      const outcome = yield* execute(first, success(first, { total: 42 }))
      assert.strictEqual(outcome._tag, "Processed")
      if (outcome._tag !== "Processed") return
      assert.strictEqual(outcome.stepState, "complete")
      assert.isUndefined(outcome.backoffSeconds)
      assert.strictEqual(outcome.task.action, "Enqueued")
      assert.strictEqual(outcome.task.previousState, "steps_in_process")
      assert.strictEqual(outcome.task.state, "steps_in_process")
      const steps = yield* stepsOf(task.taskUuid)
      const done = steps.get("rp_first")!
      assert.strictEqual(done.state, "complete")
      assert.isTrue(done.processed)
      assert.deepStrictEqual((done.results as { result: unknown }).result, { total: 42 })
      assert.strictEqual(steps.get("rp_second")!.state, "enqueued")
      assert.deepStrictEqual(outcome.task.enqueuedStepUuids, [steps.get("rp_second")!.stepUuid])
      assert.strictEqual((yield* workerMessages(ns, task.taskUuid)).length, 2)
      assert.deepStrictEqual(yield* taskPath(task.taskUuid), [
        "pending", "initializing", "enqueuing_steps", "steps_in_process",
        "evaluating_results", "enqueuing_steps", "steps_in_process"
      ])
    }))

  it.effect("success = false in enqueued_for_orchestration is an error; the task is blocked", () =>
    Effect.gen(function*() {
      const { task, first } = yield* pairTask()
      yield* claim(first)
      yield* writeResult(first, failure(first, true), "enqueued_for_orchestration")
      const outcome = yield* processResult(first)
      assert.strictEqual(outcome._tag === "Processed" ? outcome.stepState : outcome._tag, "error")
      assert.strictEqual(outcome._tag === "Processed" ? outcome.task.action : "", "Blocked")
      assert.strictEqual((yield* taskRow(task.taskUuid)).state, "blocked_by_failures")
    }))

  it.effect("a retryable failure with attempts left waits for a retry with a backoff", () =>
    Effect.gen(function*() {
      const { task, first } = yield* pairTask()
      const outcome = yield* execute(first, failure(first, true))
      assert.strictEqual(outcome._tag, "Processed")
      if (outcome._tag !== "Processed") return
      assert.strictEqual(outcome.stepState, "waiting_for_retry")
      assert.strictEqual(outcome.backoffSeconds, 2) // base 1 · 2^1 (attempts = 1), no jitter
      assert.strictEqual(outcome.task.action, "Waiting")
      assert.strictEqual(outcome.task.state, "waiting_for_dependencies")
      const step = (yield* stepsOf(task.taskUuid)).get("rp_first")!
      assert.strictEqual(step.state, "waiting_for_retry")
      assert.strictEqual(step.backoffRequestSeconds, 2)
      const sql = yield* SqlClient.SqlClient
      const [timing] = yield* sql<{ fresh: boolean }>`
        SELECT ws.last_attempted_at = wst.created_at AS fresh
        FROM tasker.workflow_steps ws
        JOIN tasker.workflow_step_transitions wst ON wst.workflow_step_uuid = ws.workflow_step_uuid AND wst.most_recent
        WHERE ws.workflow_step_uuid = ${first}::uuid AND wst.to_state = 'waiting_for_retry'`
      assert.isTrue(timing!.fresh, "last_attempted_at is set by the result's transaction")
    }))

  it.effect("the worker's verdict on error.retryable counts as much as metadata.retryable", () =>
    Effect.gen(function*() {
      const { first } = yield* pairTask()
      const base = failure(first, true)
      const errorOnly = new StepExecutionResult({ ...base, metadata: { ...base.metadata, retryable: false } })
      const outcome = yield* execute(first, errorOnly)
      assert.strictEqual(outcome._tag === "Processed" ? outcome.stepState : outcome._tag, "waiting_for_retry")
    }))

  it.effect("a permanent failure, a non-retryable template step, or exhausted attempts end in error", () =>
    Effect.gen(function*() {
      const permanent = yield* pairTask()
      const a = yield* execute(permanent.first, failure(permanent.first, false))
      assert.strictEqual(a._tag === "Processed" ? a.stepState : a._tag, "error")

      const notRetryable = yield* pairTask("{ retryable: false, max_attempts: 3 }")
      const b = yield* execute(notRetryable.first, failure(notRetryable.first, true))
      assert.strictEqual(b._tag === "Processed" ? b.stepState : b._tag, "error")

      const single = yield* pairTask("{ retryable: true, max_attempts: 1 }")
      const c = yield* execute(single.first, failure(single.first, true))
      assert.strictEqual(c._tag === "Processed" ? c.stepState : c._tag, "error")
      assert.strictEqual(c._tag === "Processed" ? c.task.state : "", "blocked_by_failures")
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ reason: string }>`
        SELECT metadata ->> 'reason' AS reason FROM tasker.workflow_step_transitions
        WHERE workflow_step_uuid = ${single.first}::uuid AND most_recent`
      assert.match(row!.reason, /retries exhausted \(1 of 1 attempts\)/)
    }))

  it.effect("a duplicate result message changes nothing (12.7)", () =>
    Effect.gen(function*() {
      const { ns, task, first } = yield* pairTask()
      yield* execute(first)
      const before = { log: yield* logSizes(task.taskUuid), messages: yield* workerMessages(ns, task.taskUuid) }
      const again = yield* processResult(first)
      assert.strictEqual(again._tag, "Skipped")
      assert.match(again._tag === "Skipped" ? again.reason : "", /step is complete/)
      assert.deepStrictEqual(yield* logSizes(task.taskUuid), before.log)
      assert.deepStrictEqual(yield* workerMessages(ns, task.taskUuid), before.messages)
      assert.deepStrictEqual(yield* stepPath(first), ["pending", "enqueued", "in_progress", "enqueued_for_orchestration", "complete"])
    }))

  it.effect("hydration refuses payloads, unknown steps, other tasks' steps and missing or broken results", () =>
    Effect.gen(function*() {
      const hydrator = yield* StepResultHydrator
      const { task, first } = yield* pairTask()
      const garbage = yield* Effect.flip(hydrator.hydrate({ task_uuid: "nope" }))
      assert.strictEqual(garbage.queue, "orchestration_step_results")
      const message = { task_uuid: task.taskUuid, step_uuid: first, correlation_id: task.correlationId }
      const unknown = yield* Effect.flip(hydrator.hydrate({ ...message, step_uuid: "0190f3a4-1c2b-7d3e-8f41-00000000dead" }))
      assert.match(unknown.message, /not found/)
      const other = yield* Effect.flip(hydrator.hydrate({ ...message, task_uuid: "0190f3a4-1c2b-7d3e-8f41-00000000beef" }))
      assert.strictEqual(other.path, "task_uuid")
      const noResults = yield* Effect.flip(hydrator.hydrate(message))
      assert.match(noResults.message, /has no results/)
      assert.strictEqual((yield* Effect.flip(hydrator.hydrateStep("not-a-uuid"))).path, "step_uuid")

      yield* claim(first)
      const sql = yield* SqlClient.SqlClient
      yield* sql`SELECT tasker.transition_step_state(${first}::uuid, 'in_progress', 'enqueued_for_orchestration',
                   '{}'::jsonb, '{"success": "yes"}'::jsonb)`.pipe(Effect.orDie)
      const broken = yield* Effect.flip(hydrator.hydrate(message))
      assert.match(broken.message, /do not decode/)
      assert.match(broken.path, /^results/)

      yield* sql`UPDATE tasker.workflow_steps SET results = ${JSON.stringify({ step_uuid: first, success: true, result: 1 })}::jsonb
                 WHERE workflow_step_uuid = ${first}::uuid`.pipe(Effect.orDie)
      const hydrated = yield* hydrator.hydrate(message)
      assert.strictEqual(hydrated.stepName, "rp_first")
      assert.strictEqual(hydrated.stepType, "standard")
      assert.strictEqual(hydrated.attempts, 1)
      assert.strictEqual(hydrated.maxAttempts, 3)
      assert.isTrue(hydrated.result.success)
    }))

  it.effect("a completed decision step calls its actor in the transaction; new steps are enqueued at once", () =>
    Effect.gen(function*() {
      const ns = uniqueNamespace("decide")
      const template = yield* registerYaml(`
name: decide
namespace_name: ${ns}
version: 1.0.0
steps:
  - { name: dp_load, handler: { callable: t.Load } }
  - { name: dp_choose, type: decision, dependencies: [dp_load], handler: { callable: t.Choose } }
  - { name: dp_auto, dependencies: [dp_choose], handler: { callable: t.Auto } }
  - { name: dp_audit, dependencies: [dp_load], handler: { callable: t.Audit } }
  - { name: dp_bulk, type: batchable, dependencies: [dp_load], handler: { callable: t.Bulk }, batch_config: { worker_template: dp_worker } }
  - { name: dp_worker, type: batch_worker, dependencies: [dp_bulk], handler: { callable: t.Worker } }
`)
      const task = yield* (yield* TaskInitializer).initialize(yield* requestFor(template, {}))
      const { calls, onDecision } = yield* ActorCalls
      yield* Ref.set(onDecision, (completed) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const rows = yield* sql<{ stepUuid: string }>`
            WITH s AS (
              INSERT INTO tasker.workflow_steps (task_uuid, named_step_uuid)
              SELECT ${completed.taskUuid}::uuid, named_step_uuid FROM tasker.named_steps WHERE name = 'dp_auto'
              RETURNING workflow_step_uuid)
            INSERT INTO tasker.workflow_step_edges (from_step_uuid, to_step_uuid)
            SELECT ${completed.stepUuid}::uuid, workflow_step_uuid FROM s RETURNING to_step_uuid AS "stepUuid"`
          return rows.map((r) => r.stepUuid)
        }).pipe(Effect.orDie))

      yield* execute(yield* stepUuidOf(task.taskUuid, "dp_load"))
      const decided = yield* execute(yield* stepUuidOf(task.taskUuid, "dp_choose"))
      const auto = yield* stepUuidOf(task.taskUuid, "dp_auto")
      assert.strictEqual(decided._tag, "Processed")
      assert.deepStrictEqual(decided._tag === "Processed" ? decided.task.enqueuedStepUuids : [], [auto])
      yield* execute(yield* stepUuidOf(task.taskUuid, "dp_bulk"))
      assert.deepStrictEqual(yield* Ref.get(calls), [
        { actor: "decision", stepName: "dp_choose", state: "complete" },
        { actor: "batch", stepName: "dp_bulk", state: "complete" }
      ])
      yield* runToRest(task.taskUuid)
      assert.strictEqual((yield* taskRow(task.taskUuid)).state, "complete")
    }))
})
