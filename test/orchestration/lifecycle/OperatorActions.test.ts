/**
 * Operator actions (REFERENCE 7.4, 9, 12.15; DESIGN 4.7) against a real database: cancelling a
 * task with steps in flight (queued, held by a worker, waiting for orchestration) and under a
 * racing worker pool; resetting, resolving and completing steps by hand, each re-evaluating the
 * task at once; the typed errors.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Option, PubSub, Ref } from "effect"
import { SqlClient } from "effect/sql"
import { decodeStepExecutionResult } from "../../../src/domain/StepExecutionResult.ts"
import { workerQueue } from "../../../src/messaging/QueueNames.ts"
import { LifecycleEvents } from "../../../src/orchestration/LifecycleEvents.ts"
import { OperatorActions } from "../../../src/orchestration/lifecycle/operator-actions/OperatorActions.ts"
import { StepEnqueuer } from "../../../src/orchestration/lifecycle/step-enqueuer/StepEnqueuer.ts"
import { TaskFinalizer } from "../../../src/orchestration/lifecycle/task-finalization/TaskFinalizer.ts"
import { TaskInitializer } from "../../../src/orchestration/lifecycle/task-initialization/TaskInitializer.ts"
import { ProcessorId } from "../../../src/orchestration/ProcessorId.ts"
import { WorkerRepository } from "../../../src/worker/WorkerRepository.ts"
import { TestWorker } from "../../support/TestWorker.ts"
import {
  execute,
  failure,
  lifecycleLayer,
  processResult,
  registerYaml,
  requestFor,
  runToRest,
  stepNamesIn,
  stepPath,
  stepsOf,
  stepUuidOf,
  success,
  taskPath,
  taskRow,
  uniqueNamespace,
  workerMessages
} from "./LifecycleTestKit.ts"

const step = (name: string, deps: ReadonlyArray<string> = []) =>
  `  - { name: ${name}, dependencies: [${deps.join(", ")}], handler: { callable: t.${name} } }`

const createTask = (name: string, steps: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const ns = uniqueNamespace(name)
    const template = yield* registerYaml(
      `name: ${name}\nnamespace_name: ${ns}\nversion: 1.0.0\nidentity_strategy: always_unique\nsteps:\n${steps.join("\n")}\n`
    )
    const task = yield* (yield* TaskInitializer).initialize(yield* requestFor(template, { run: name }))
    return { ns, taskUuid: task.taskUuid }
  })

/** The fields of a typed value (branded ids), for `deepInclude` with plain strings. */
const fields = (error: object) => error as Record<string, unknown>

const ops = { reason: "operator test", actor: "ops@example.com" }

/** A worker's claim of the (first) queue message of one step, through the real worker SQL. */
const claimStep = (ns: string, stepUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ msgId: number }>`
      SELECT msg_id::int AS "msgId" FROM ${sql.literal(`pgmq.q_worker_${ns}_queue`)}
      WHERE message ->> 'step_uuid' = ${stepUuid} ORDER BY msg_id LIMIT 1`.pipe(Effect.orDie)
    assert.isDefined(row, `a message for ${stepUuid}`)
    const worker = yield* WorkerRepository.make
    const claimed = yield* worker.claimMessage(workerQueue(ns), row!.msgId, { visibilityTimeoutSeconds: 60, workerId: "ops-test" })
      .pipe(Effect.orDie)
    return { worker, claimed: Option.getOrThrow(claimed) }
  })

/** The metadata of the step's latest transition into `toState`. */
const transitionMetadata = (stepUuid: string, toState: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ metadata: Record<string, unknown> }>`
      SELECT metadata FROM tasker.workflow_step_transitions
      WHERE workflow_step_uuid = ${stepUuid}::uuid AND to_state = ${toState}
      ORDER BY sort_key DESC LIMIT 1`.pipe(Effect.orDie)
    assert.isDefined(row, `a transition of ${stepUuid} to ${toState}`)
    return row!.metadata
  })

const testLayer = OperatorActions.layer.pipe(Layer.provideMerge(lifecycleLayer()))

layer(testLayer, { timeout: "60 seconds", excludeTestServices: true })("Operator actions", (it) => {
  it.effect("cancelling a task with steps in flight cancels them and leaves only held messages", () =>
    Effect.gen(function*() {
      const subscription = yield* (yield* LifecycleEvents).subscribe
      const { ns, taskUuid } = yield* createTask("cancel", [step("k_a"), step("k_b"), step("k_c"), step("k_d", ["k_a"])])
      const [b, c] = [yield* stepUuidOf(taskUuid, "k_b"), yield* stepUuidOf(taskUuid, "k_c")]
      const held = yield* claimStep(ns, b) // in_progress, its message held by the worker
      const done = yield* claimStep(ns, c)
      assert.isTrue(yield* done.worker.complete(done.claimed, success(c)).pipe(Effect.orDie)) // awaiting orchestration
      assert.deepStrictEqual(yield* stepNamesIn(taskUuid, "enqueued"), ["k_a"])

      const cancelled = yield* (yield* OperatorActions).cancelTask(taskUuid, { reason: "customer asked", actor: "ops" })
      assert.deepStrictEqual(cancelled, { taskUuid, previousState: "steps_in_process", stepsCancelled: 4, messagesDeleted: 1 })
      const task = yield* taskRow(taskUuid)
      assert.strictEqual(task.state, "cancelled")
      assert.isFalse(task.complete)
      assert.isNotNull(task.completedAt)
      for (const s of (yield* stepsOf(taskUuid)).values()) {
        assert.deepInclude(s, { state: "cancelled", processed: true }, s.name)
      }
      assert.deepStrictEqual((yield* workerMessages(ns, taskUuid)).map((m) => m.step_uuid), [b], "only the held message")

      // the worker holding k_b finishes: nothing is written, its message goes
      assert.isFalse(yield* held.worker.complete(held.claimed, success(b)).pipe(Effect.orDie))
      assert.deepStrictEqual(yield* workerMessages(ns, taskUuid), [])
      assert.deepStrictEqual((yield* stepPath(b)).slice(-2), ["in_progress", "cancelled"])

      // k_c's result arrives late: skipped, nothing enqueued; advancing the task does nothing
      const late = yield* processResult(c)
      assert.strictEqual(late._tag, "Skipped")
      assert.strictEqual((yield* stepsOf(taskUuid)).get("k_c")!.state, "cancelled")
      const advanced = yield* (yield* StepEnqueuer).advanceTask(taskUuid)
      assert.deepInclude(advanced, { state: "cancelled", action: "NoAction", stepsEnqueued: 0 })
      assert.deepStrictEqual(yield* workerMessages(ns, taskUuid), [])
      assert.strictEqual((yield* taskPath(taskUuid)).at(-1), "cancelled")

      const sql = yield* SqlClient.SqlClient
      const [meta] = yield* sql<{ metadata: Record<string, unknown>; processorUuid: string }>`
        SELECT metadata, processor_uuid AS "processorUuid" FROM tasker.task_transitions
        WHERE task_uuid = ${taskUuid}::uuid AND most_recent`.pipe(Effect.orDie)
      assert.deepInclude(meta!.metadata, { event: "Cancel", reason: "customer asked", cancelled_by: "ops", operator_action: "cancel_task" })
      assert.strictEqual(meta!.processorUuid, (yield* ProcessorId).uuid)

      const events = (yield* PubSub.takeAll(subscription)).filter((e) => e.taskUuid === taskUuid)
      assert.strictEqual(events.filter((e) => e.name === "step.cancelled").length, 4)
      assert.strictEqual(events.filter((e) => e.name === "task.cancelled").length, 1)
    }))

  it.effect("cancelling twice, an unknown task or a completed task fails with typed errors", () =>
    Effect.gen(function*() {
      const actions = yield* OperatorActions
      const { taskUuid } = yield* createTask("cancel_twice", [step("t_one")])
      yield* actions.cancelTask(taskUuid)
      const again = yield* Effect.flip(actions.cancelTask(taskUuid))
      assert.deepInclude(fields(again), { _tag: "TaskAlreadyTerminal", task_uuid: taskUuid, state: "cancelled" })
      const missing = yield* Effect.flip(actions.cancelTask("0190f3a4-1c2b-7d3e-8f41-00000000f00d"))
      assert.strictEqual(missing._tag, "TaskNotFound")
      assert.strictEqual((yield* Effect.flip(actions.cancelTask("garbage")))._tag, "TaskNotFound")

      const done = yield* createTask("cancel_done", [step("u_one")])
      yield* runToRest(done.taskUuid)
      const terminal = yield* Effect.flip(actions.cancelTask(done.taskUuid))
      assert.deepInclude(fields(terminal), { _tag: "TaskAlreadyTerminal", state: "complete" })
      assert.strictEqual((yield* taskRow(done.taskUuid)).state, "complete")
    }))

  it.effect("a task with 50 steps cancelled while a worker pool races it leaves nothing enqueued", () =>
    Effect.gen(function*() {
      const names = Array.from({ length: 50 }, (_, i) => `w_${String(i).padStart(2, "0")}`)
      const { ns, taskUuid } = yield* createTask("cancel_many", names.map((n) => step(n)))
      assert.strictEqual((yield* stepNamesIn(taskUuid, "enqueued")).length, 50)
      const worker = yield* TestWorker.run({
        namespace: ns,
        concurrency: 8,
        handlers: Object.fromEntries(names.map((n) => [n, TestWorker.Behaviour.sleep(40, TestWorker.Behaviour.succeed({ n }))]))
      })
      yield* worker.awaitExecutions((x) => x.all.length >= 8)

      const cancelled = yield* (yield* OperatorActions).cancelTask(taskUuid)
      assert.strictEqual(cancelled.stepsCancelled, 50)
      // the messages workers still held go when their executions finish (complete answers false)
      yield* Effect.gen(function*() {
        while ((yield* workerMessages(ns, taskUuid)).length > 0) yield* Effect.sleep("20 millis")
      }).pipe(Effect.timeout("10 seconds"), Effect.orDie)

      const steps = [...(yield* stepsOf(taskUuid)).values()]
      assert.deepStrictEqual([...new Set(steps.map((s) => s.state))], ["cancelled"])
      const executions = (yield* Ref.get(worker.executions)).all
      assert.isBelow(executions.length, 50, "the cancel stopped the run")
      assert.strictEqual(new Set(executions.map((e) => e.stepUuid)).size, executions.length, "each step ran at most once")
      assert.deepStrictEqual(yield* Ref.get(worker.errors), [])

      // results written before the cancel are skipped; nothing is ever enqueued again
      for (const s of steps.filter((s) => s.results !== null)) {
        assert.strictEqual((yield* processResult(s.stepUuid))._tag, "Skipped")
      }
      assert.deepInclude(yield* (yield* StepEnqueuer).advanceTask(taskUuid), { stepsEnqueued: 0, state: "cancelled" })
      assert.deepStrictEqual(yield* stepNamesIn(taskUuid, "enqueued"), [])
      assert.deepStrictEqual(yield* workerMessages(ns, taskUuid), [])
    }))

  it.effect("reset_for_retry re-enqueues an errored step with attempts 0 and resumes a blocked task", () =>
    Effect.gen(function*() {
      const { ns, taskUuid } = yield* createTask("reset", [step("r_one"), step("r_two", ["r_one"])])
      const one = yield* stepUuidOf(taskUuid, "r_one")
      yield* execute(one, failure(one, false))
      assert.strictEqual((yield* taskRow(taskUuid)).state, "blocked_by_failures")
      assert.strictEqual((yield* stepsOf(taskUuid)).get("r_one")!.attempts, 1)

      const reset = yield* (yield* OperatorActions).resetStepForRetry(taskUuid, one, ops)
      assert.deepInclude(reset, { stepUuid: one, previousState: "error", state: "enqueued" })
      assert.deepInclude(reset.task, { previousState: "blocked_by_failures", state: "steps_in_process", action: "Enqueued" })
      assert.deepStrictEqual(reset.task.enqueuedStepUuids, [one])
      assert.deepInclude((yield* stepsOf(taskUuid)).get("r_one")!, { attempts: 0, backoffRequestSeconds: null })
      assert.deepStrictEqual((yield* stepPath(one)).slice(-3), ["error", "pending", "enqueued"])
      assert.strictEqual((yield* workerMessages(ns, taskUuid)).filter((m) => m.step_uuid === one).length, 2)
      assert.includeMembers(yield* taskPath(taskUuid), ["blocked_by_failures", "evaluating_results"])
      assert.deepInclude(yield* transitionMetadata(one, "pending"), {
        event: "ResetForRetry", reason: ops.reason, reset_by: ops.actor, operator_action: "reset_for_retry"
      })

      yield* execute(one)
      assert.strictEqual((yield* stepsOf(taskUuid)).get("r_one")!.attempts, 1)
      yield* runToRest(taskUuid)
      assert.strictEqual((yield* taskRow(taskUuid)).state, "complete")
    }))

  it.effect("a step action re-opens an errored task", () =>
    Effect.gen(function*() {
      const { taskUuid } = yield* createTask("reopen", [step("o_one"), step("o_two", ["o_one"])])
      const one = yield* stepUuidOf(taskUuid, "o_one")
      yield* execute(one, failure(one, false))
      yield* (yield* TaskFinalizer).finalize(taskUuid)
      assert.strictEqual((yield* taskRow(taskUuid)).state, "error")
      const reset = yield* (yield* OperatorActions).resetStepForRetry(taskUuid, one, ops)
      assert.deepInclude(reset.task, { previousState: "error", state: "steps_in_process", action: "Enqueued" })
      assert.isNull((yield* taskRow(taskUuid)).completedAt)
      yield* runToRest(taskUuid)
      assert.strictEqual((yield* taskRow(taskUuid)).state, "complete")
    }))

  it.effect("resolve_manually on a permanently failed step lets the task run to completion", () =>
    Effect.gen(function*() {
      const subscription = yield* (yield* LifecycleEvents).subscribe
      const { taskUuid } = yield* createTask("resolve", [step("v_one"), step("v_two", ["v_one"])])
      const one = yield* stepUuidOf(taskUuid, "v_one")
      yield* execute(one, failure(one, false))
      assert.strictEqual((yield* taskRow(taskUuid)).state, "blocked_by_failures")

      const resolved = yield* (yield* OperatorActions).resolveStepManually(taskUuid, one, ops)
      assert.deepInclude(resolved, { previousState: "error", state: "resolved_manually" })
      assert.deepInclude(resolved.task, { state: "steps_in_process", action: "Enqueued" })
      assert.deepStrictEqual(resolved.task.enqueuedStepUuids, [yield* stepUuidOf(taskUuid, "v_two")])
      assert.deepInclude(yield* transitionMetadata(one, "resolved_manually"), {
        event: "ResolveManually", reason: ops.reason, resolved_by: ops.actor, operator_action: "resolve_manually"
      })
      const events = (yield* PubSub.takeAll(subscription)).filter((e) => e.taskUuid === taskUuid).map((e) => e.name)
      assert.includeMembers(events, ["step.resolved_manually", "step.enqueue_requested"])

      yield* runToRest(taskUuid)
      const task = yield* taskRow(taskUuid)
      assert.strictEqual(task.state, "complete")
      assert.isTrue(task.complete)
    }))

  it.effect("complete_manually stores a successful result and its children become ready", () =>
    Effect.gen(function*() {
      const { ns, taskUuid } = yield* createTask("manual", [step("m_one"), step("m_two", ["m_one"])])
      const [one, two] = [yield* stepUuidOf(taskUuid, "m_one"), yield* stepUuidOf(taskUuid, "m_two")]
      const completed = yield* (yield* OperatorActions).completeStepManually(
        taskUuid,
        one,
        { result: { total: 42 }, metadata: { ticket: "T-1" } },
        ops
      )
      assert.deepInclude(completed, { previousState: "enqueued", state: "complete" })
      assert.deepStrictEqual(completed.task.enqueuedStepUuids, [two])

      const stored = yield* decodeStepExecutionResult((yield* stepsOf(taskUuid)).get("m_one")!.results).pipe(Effect.orDie)
      assert.deepInclude(fields(stored), { step_uuid: one, success: true, status: "completed", result: { total: 42 }, error: null })
      assert.deepStrictEqual(stored.metadata.custom, {
        ticket: "T-1", manually_completed: true, completed_by: ops.actor, completion_reason: ops.reason
      })
      assert.deepInclude(yield* transitionMetadata(one, "complete"), { event: "CompleteManually", completed_by: ops.actor })

      // a worker drops m_one's stale message and gets m_two with the operator's result as input
      const worker = yield* WorkerRepository.make
      const claimed = yield* worker.claim(workerQueue(ns), { visibilityTimeoutSeconds: 30, limit: 10, workerId: "ops-test" })
        .pipe(Effect.orDie)
      assert.deepStrictEqual(claimed.map((c) => c.stepName), ["m_two"])
      assert.deepInclude(claimed[0]!.dependencyResults["m_one"] as object, { result: { total: 42 } })
      assert.isTrue(yield* worker.complete(claimed[0]!, success(two)).pipe(Effect.orDie))
      assert.strictEqual((yield* processResult(two))._tag, "Processed")
      assert.strictEqual((yield* taskRow(taskUuid)).state, "complete")
    }))

  it.effect("an action that does not apply to the step's state is an IllegalTransition and changes nothing", () =>
    Effect.gen(function*() {
      const actions = yield* OperatorActions
      const { taskUuid } = yield* createTask("illegal", [step("i_one"), step("i_two", ["i_one"])])
      const [one, two] = [yield* stepUuidOf(taskUuid, "i_one"), yield* stepUuidOf(taskUuid, "i_two")]
      const pathBefore = yield* stepPath(two)
      const pending = yield* Effect.flip(actions.resetStepForRetry(taskUuid, two, ops))
      assert.deepInclude(fields(pending), { _tag: "IllegalTransition", entity: "step", entity_uuid: two, from: "pending", to: "pending" })
      assert.deepStrictEqual(yield* stepPath(two), pathBefore)

      yield* execute(one)
      const complete = yield* Effect.flip(actions.resolveStepManually(taskUuid, one, ops))
      assert.deepInclude(fields(complete), { _tag: "IllegalTransition", from: "complete", to: "resolved_manually" })
      const again = yield* Effect.flip(actions.completeStepManually(taskUuid, one, { result: null }, ops))
      assert.deepInclude(fields(again), { _tag: "IllegalTransition", from: "complete", to: "complete" })
    }))

  it.effect("a step of another task, unknown ids and a terminal task fail with typed errors", () =>
    Effect.gen(function*() {
      const actions = yield* OperatorActions
      const first = yield* createTask("owner", [step("n_one")])
      const other = yield* createTask("other", [step("n_two")])
      const foreign = yield* stepUuidOf(other.taskUuid, "n_two")
      const notHers = yield* Effect.flip(actions.resolveStepManually(first.taskUuid, foreign, ops))
      assert.deepInclude(fields(notHers), { _tag: "StepNotFound", step_uuid: foreign, task_uuid: first.taskUuid })
      assert.strictEqual((yield* stepsOf(other.taskUuid)).get("n_two")!.state, "enqueued")
      assert.strictEqual((yield* Effect.flip(actions.resetStepForRetry(first.taskUuid, "garbage", ops)))._tag, "StepNotFound")
      const missing = yield* Effect.flip(actions.completeStepManually("0190f3a4-1c2b-7d3e-8f41-00000000f00d", foreign, { result: 1 }, ops))
      assert.strictEqual(missing._tag, "TaskNotFound")

      yield* actions.cancelTask(other.taskUuid)
      const terminal = yield* Effect.flip(actions.resolveStepManually(other.taskUuid, foreign, ops))
      assert.deepInclude(fields(terminal), { _tag: "TaskAlreadyTerminal", state: "cancelled" })
    }))
})
