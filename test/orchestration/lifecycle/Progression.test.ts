/**
 * Task progression (REFERENCE 12.8) and the transition-log invariants after full runs (12.5):
 * linear, diamond and mixed DAGs run to `complete`; a permanent failure blocks the task and
 * finalization gives it up; an operator reset resumes a blocked task; lifecycle events.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Option, PubSub } from "effect"
import { SqlClient } from "effect/sql"
import { LifecycleEvents } from "../../../src/orchestration/LifecycleEvents.ts"
import { ProcessorId } from "../../../src/orchestration/ProcessorId.ts"
import { LifecycleRepository } from "../../../src/orchestration/lifecycle/LifecycleRepository.ts"
import { StepEnqueuer } from "../../../src/orchestration/lifecycle/step-enqueuer/StepEnqueuer.ts"
import { TaskFinalizer } from "../../../src/orchestration/lifecycle/task-finalization/TaskFinalizer.ts"
import { TaskInitializer } from "../../../src/orchestration/lifecycle/task-initialization/TaskInitializer.ts"
import {
  claim,
  execute,
  failure,
  lifecycleLayer,
  processResult,
  registerYaml,
  requestFor,
  runToRest,
  stepNamesIn,
  stepUuidOf,
  success,
  taskPath,
  taskRow,
  uniqueNamespace,
  workerMessages,
  writeResult
} from "./LifecycleTestKit.ts"

const step = (name: string, deps: ReadonlyArray<string> = [], extra = "") =>
  `  - { name: ${name}, dependencies: [${deps.join(", ")}], handler: { callable: t.${name} }${extra} }`

const templateYaml = (ns: string, name: string, steps: ReadonlyArray<string>) =>
  `name: ${name}\nnamespace_name: ${ns}\nversion: 1.0.0\nidentity_strategy: always_unique\nsteps:\n${steps.join("\n")}\n`

const createTask = (name: string, steps: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const ns = uniqueNamespace(name)
    const template = yield* registerYaml(templateYaml(ns, name, steps))
    const task = yield* (yield* TaskInitializer).initialize(yield* requestFor(template, { run: name }))
    return { ns, task }
  })

const run = (taskUuid: string, name: string) => Effect.flatMap(stepUuidOf(taskUuid, name), (uuid) => execute(uuid))

/** 12.5: one most_recent row per entity, gapless sort keys from 0, current_state = its to_state. */
const assertLogInvariants = (taskUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ entity: string; current: number; gapless: boolean; mirrors: boolean }>`
      SELECT 'task' AS entity,
             count(*) FILTER (WHERE tt.most_recent)::int AS current,
             (min(tt.sort_key) = 0 AND max(tt.sort_key) = count(*) - 1 AND count(DISTINCT tt.sort_key) = count(*)) AS gapless,
             bool_and(NOT tt.most_recent OR tt.to_state = t.current_state) AS mirrors
      FROM tasker.tasks t JOIN tasker.task_transitions tt USING (task_uuid)
      WHERE t.task_uuid = ${taskUuid}::uuid
      GROUP BY t.task_uuid
      UNION ALL
      SELECT ws.workflow_step_uuid::text,
             count(*) FILTER (WHERE wst.most_recent)::int,
             (min(wst.sort_key) = 0 AND max(wst.sort_key) = count(*) - 1 AND count(DISTINCT wst.sort_key) = count(*)),
             bool_and(NOT wst.most_recent OR wst.to_state = ws.current_state)
      FROM tasker.workflow_steps ws JOIN tasker.workflow_step_transitions wst USING (workflow_step_uuid)
      WHERE ws.task_uuid = ${taskUuid}::uuid
      GROUP BY ws.workflow_step_uuid`.pipe(Effect.orDie)
    assert.isAbove(rows.length, 1)
    for (const row of rows) assert.deepInclude(row, { current: 1, gapless: true, mirrors: true }, row.entity)
  })

const assertComplete = (taskUuid: string) =>
  Effect.gen(function*() {
    const row = yield* taskRow(taskUuid)
    assert.strictEqual(row.state, "complete")
    assert.isTrue(row.complete)
    assert.isNotNull(row.completedAt)
    yield* assertLogInvariants(taskUuid)
  })

layer(lifecycleLayer(), { timeout: "60 seconds", excludeTestServices: true })("Task progression", (it) => {
  it.effect("a linear 4-step task runs one step at a time to complete", () =>
    Effect.gen(function*() {
      const { ns, task } = yield* createTask("linear", [
        step("l_one"), step("l_two", ["l_one"]), step("l_three", ["l_two"]), step("l_four", ["l_three"])
      ])
      for (const [name, next] of [["l_one", "l_two"], ["l_two", "l_three"], ["l_three", "l_four"]] as const) {
        assert.deepStrictEqual(yield* stepNamesIn(task.taskUuid, "enqueued"), [name])
        const outcome = yield* run(task.taskUuid, name)
        assert.strictEqual(outcome._tag === "Processed" ? outcome.task.action : "", "Enqueued")
        assert.deepStrictEqual(yield* stepNamesIn(task.taskUuid, "enqueued"), [next])
      }
      const last = yield* run(task.taskUuid, "l_four")
      assert.strictEqual(last._tag === "Processed" ? last.task.action : "", "Completed")
      yield* assertComplete(task.taskUuid)
      assert.strictEqual((yield* workerMessages(ns, task.taskUuid)).length, 4)
      const sql = yield* SqlClient.SqlClient
      const processors = yield* sql<{ processorUuid: string | null; initial: boolean }>`
        SELECT DISTINCT processor_uuid AS "processorUuid", sort_key = 0 AS initial
        FROM tasker.task_transitions WHERE task_uuid = ${task.taskUuid}::uuid ORDER BY 2`.pipe(Effect.orDie)
      assert.deepStrictEqual(processors.map((p) => ({ ...p })), [
        { processorUuid: (yield* ProcessorId).uuid, initial: false },
        { processorUuid: null, initial: true }
      ])
      assert.deepStrictEqual((yield* taskPath(task.taskUuid)).slice(-3), ["steps_in_process", "evaluating_results", "complete"])
    }))

  it.effect("a diamond waits for both branches before the join", () =>
    Effect.gen(function*() {
      const { task } = yield* createTask("diamond", [
        step("d_start"), step("d_left", ["d_start"]), step("d_right", ["d_start"]), step("d_join", ["d_left", "d_right"])
      ])
      yield* run(task.taskUuid, "d_start")
      assert.deepStrictEqual(yield* stepNamesIn(task.taskUuid, "enqueued"), ["d_left", "d_right"])
      const pathBefore = yield* taskPath(task.taskUuid)
      const left = yield* run(task.taskUuid, "d_left")
      assert.strictEqual(left._tag === "Processed" ? left.task.action : "", "Processing")
      assert.deepStrictEqual(yield* taskPath(task.taskUuid), pathBefore, "a sibling still running: no transition")
      assert.deepStrictEqual(yield* stepNamesIn(task.taskUuid, "pending"), ["d_join"])
      yield* run(task.taskUuid, "d_right")
      assert.deepStrictEqual(yield* stepNamesIn(task.taskUuid, "enqueued"), ["d_join"])
      yield* run(task.taskUuid, "d_join")
      yield* assertComplete(task.taskUuid)
    }))

  it.effect("results of sibling steps processed at once enqueue the join exactly once", () =>
    Effect.gen(function*() {
      const { ns, task } = yield* createTask("race", [
        step("x_start"), step("x_left", ["x_start"]), step("x_right", ["x_start"]), step("x_join", ["x_left", "x_right"])
      ])
      yield* run(task.taskUuid, "x_start")
      const siblings = [yield* stepUuidOf(task.taskUuid, "x_left"), yield* stepUuidOf(task.taskUuid, "x_right")]
      for (const uuid of siblings) {
        yield* claim(uuid)
        yield* writeResult(uuid, success(uuid))
      }
      const outcomes = yield* Effect.forEach(siblings, processResult, { concurrency: 2 })
      const enqueued = outcomes.flatMap((o) => o._tag === "Processed" ? o.task.enqueuedStepUuids : [])
      assert.deepStrictEqual(enqueued, [yield* stepUuidOf(task.taskUuid, "x_join")])
      assert.deepStrictEqual(outcomes.map((o) => o._tag === "Processed" ? o.task.action : o._tag).sort(), ["Enqueued", "Processing"])
      assert.strictEqual((yield* workerMessages(ns, task.taskUuid)).length, 4)
      yield* run(task.taskUuid, "x_join")
      yield* assertComplete(task.taskUuid)
    }))

  it.effect("many tasks created and run concurrently all complete with intact logs", () =>
    Effect.gen(function*() {
      const ns = uniqueNamespace("crowd")
      const template = yield* registerYaml(templateYaml(ns, "crowd", [
        step("c_start"), step("c_left", ["c_start"]), step("c_right", ["c_start"]), step("c_join", ["c_left", "c_right"])
      ]))
      const initializer = yield* TaskInitializer
      const tasks = yield* Effect.forEach(
        Array.from({ length: 12 }, (_, i) => i),
        (i) => Effect.flatMap(requestFor(template, { i }), initializer.initialize),
        { concurrency: 6 }
      )
      yield* Effect.forEach(tasks, (task) => runToRest(task.taskUuid), { concurrency: 6 })
      for (const task of tasks) yield* assertComplete(task.taskUuid)
    }))

  it.effect("a 7-step mixed DAG enqueues each step exactly when its parents are complete", () =>
    Effect.gen(function*() {
      const { ns, task } = yield* createTask("mixed", [
        step("m_a"), step("m_b"), step("m_c", ["m_a"]), step("m_d", ["m_a", "m_b"]),
        step("m_e", ["m_c"]), step("m_f", ["m_d", "m_e"]), step("m_g", ["m_b"])
      ])
      assert.deepStrictEqual(yield* stepNamesIn(task.taskUuid, "enqueued"), ["m_a", "m_b"])
      yield* run(task.taskUuid, "m_a")
      assert.deepStrictEqual(yield* stepNamesIn(task.taskUuid, "enqueued"), ["m_b", "m_c"])
      yield* run(task.taskUuid, "m_b")
      assert.deepStrictEqual(yield* stepNamesIn(task.taskUuid, "enqueued"), ["m_c", "m_d", "m_g"])
      yield* run(task.taskUuid, "m_d")
      assert.deepStrictEqual(yield* stepNamesIn(task.taskUuid, "pending"), ["m_e", "m_f"])
      yield* run(task.taskUuid, "m_c")
      assert.deepStrictEqual(yield* stepNamesIn(task.taskUuid, "enqueued"), ["m_e", "m_g"])
      yield* runToRest(task.taskUuid)
      yield* assertComplete(task.taskUuid)
      const messages = yield* workerMessages(ns, task.taskUuid)
      assert.strictEqual(messages.length, 7)
      assert.strictEqual(new Set(messages.map((m) => m.step_uuid)).size, 7, "one message per step")
    }))

  it.effect("a permanent failure blocks the task; finalization then gives it up", () =>
    Effect.gen(function*() {
      const finalizer = yield* TaskFinalizer
      const { task } = yield* createTask("blocked", [step("b_one"), step("b_two"), step("b_three", ["b_one", "b_two"])])
      const one = yield* stepUuidOf(task.taskUuid, "b_one")
      const failed = yield* execute(one, failure(one, false))
      assert.strictEqual(failed._tag === "Processed" ? failed.task.action : "", "Blocked")
      assert.strictEqual((yield* taskRow(task.taskUuid)).state, "blocked_by_failures")
      // the sibling's result still lands; the task stays blocked
      yield* run(task.taskUuid, "b_two")
      assert.strictEqual((yield* taskRow(task.taskUuid)).state, "blocked_by_failures")
      const advanced = yield* (yield* StepEnqueuer).advanceTask(task.taskUuid)
      assert.deepInclude(advanced, { action: "Blocked", previousState: "blocked_by_failures", state: "blocked_by_failures" })

      const result = yield* finalizer.finalize(task.taskUuid)
      assert.deepInclude(result, { action: "Failed", state: "error", totalSteps: 3, healthStatus: "blocked" })
      assert.strictEqual(result.completionPercentage, 33.33)
      const row = yield* taskRow(task.taskUuid)
      assert.strictEqual(row.state, "error")
      assert.isFalse(row.complete)
      assert.isNotNull(row.completedAt)
      assert.deepInclude(yield* finalizer.finalize(task.taskUuid), { action: "NoAction", state: "error" })
      yield* assertLogInvariants(task.taskUuid)
    }))

  it.effect("a blocked task resumes when an operator resets the failed step", () =>
    Effect.gen(function*() {
      const { task } = yield* createTask("resume", [step("r_one"), step("r_two", ["r_one"])])
      const one = yield* stepUuidOf(task.taskUuid, "r_one")
      yield* execute(one, failure(one, false))
      const sql = yield* SqlClient.SqlClient
      yield* sql`SELECT tasker.transition_step_state(${one}::uuid, 'error', 'pending')`.pipe(Effect.orDie)
      const resumed = yield* (yield* StepEnqueuer).advanceTask(task.taskUuid)
      assert.deepInclude(resumed, { action: "Enqueued", previousState: "blocked_by_failures", state: "steps_in_process" })
      assert.deepStrictEqual(resumed.enqueuedStepUuids, [one])
      yield* runToRest(task.taskUuid)
      yield* assertComplete(task.taskUuid)
    }))

  it.effect("a DLQ resolution re-opens an errored task (advance mode resume)", () =>
    Effect.gen(function*() {
      const repo = yield* LifecycleRepository
      const { task } = yield* createTask("reopen", [step("o_one"), step("o_two", ["o_one"])])
      const one = yield* stepUuidOf(task.taskUuid, "o_one")
      yield* execute(one, failure(one, false))
      yield* (yield* TaskFinalizer).finalize(task.taskUuid)
      assert.strictEqual((yield* taskRow(task.taskUuid)).state, "error")
      const sql = yield* SqlClient.SqlClient
      yield* sql`SELECT tasker.transition_step_state(${one}::uuid, 'error', 'pending')`.pipe(Effect.orDie)
      const evaluated = yield* repo.advanceTask(task.taskUuid, "evaluate")
      assert.strictEqual(Option.getOrThrow(evaluated).action, "NoAction", "only resume re-opens an errored task")
      const resumed = Option.getOrThrow(yield* repo.advanceTask(task.taskUuid, "resume"))
      assert.deepInclude(resumed, { previousState: "error", state: "steps_in_process", action: "Enqueued" })
      assert.isNull((yield* taskRow(task.taskUuid)).completedAt)
      yield* runToRest(task.taskUuid)
      yield* assertComplete(task.taskUuid)
    }))

  it.effect("finalization reports processing, completion and unknown tasks", () =>
    Effect.gen(function*() {
      const finalizer = yield* TaskFinalizer
      const { task } = yield* createTask("finalize", [step("f_one"), step("f_two")])
      assert.deepInclude(yield* finalizer.finalize(task.taskUuid), {
        action: "NoAction", state: "steps_in_process", totalSteps: 2, enqueuedSteps: 2, completionPercentage: 0
      })
      yield* runToRest(task.taskUuid)
      assert.deepInclude(yield* finalizer.finalize(task.taskUuid), {
        action: "NoAction", state: "complete", completionPercentage: 100, healthStatus: "healthy"
      })
      const missing = yield* Effect.flip(finalizer.finalize("0190f3a4-1c2b-7d3e-8f41-00000000f00d"))
      assert.strictEqual(missing._tag, "TaskNotFound")
      assert.strictEqual((yield* Effect.flip(finalizer.finalize("garbage")))._tag, "TaskNotFound")
      assert.strictEqual((yield* Effect.flip((yield* StepEnqueuer).advanceTask("garbage")))._tag, "TaskNotFound")
    }))

  it.effect("publishes step and task lifecycle events of a run, ending in task.completed", () =>
    Effect.gen(function*() {
      const subscription = yield* (yield* LifecycleEvents).subscribe
      const { task } = yield* createTask("events", [step("e_one"), step("e_two", ["e_one"])])
      yield* runToRest(task.taskUuid, (_, uuid) => success(uuid))
      const events = (yield* PubSub.takeAll(subscription)).filter((e) => e.taskUuid === task.taskUuid)
      const taskEvents = events.filter((e) => e._tag === "TaskEvent").map((e) => e.name)
      assert.strictEqual(taskEvents.at(-1), "task.completed")
      assert.includeMembers(taskEvents, ["task.initialize_requested", "task.steps_enqueued", "task.step_results_received"])
      const completedSteps = events.filter((e) => e.name === "step.completed")
      assert.strictEqual(completedSteps.length, 2)
      assert.strictEqual(events.filter((e) => e.name === "step.enqueue_requested").length, 2)
    }))
})
