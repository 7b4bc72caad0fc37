/**
 * The CAS transition functions of 0004 against the TS state machines (REFERENCE 3, 12.5):
 * every (from, to) pair of both machines, the rule tables, side effects, and racing writers.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import { SqlClient } from "effect/sql"
import { isTerminalStepState, type StepState, stepEventFor, stepStates, stepTransitions } from "../../src/domain/StepState.ts"
import { isTerminalTaskState, type TaskState, taskEventFor, taskStates, taskTransitions } from "../../src/domain/TaskState.ts"
import {
  driveSteps,
  driveStepsTo,
  driveTasks,
  driveTasksTo,
  insertNamedTask,
  insertTasks,
  insertWorkflow,
  assertWellFormedLog,
  failureState,
  logSummaries,
  raceTransactions,
  sqlStateOf,
  stepLog,
  stepState,
  stepPaths,
  taskLog,
  taskPaths,
  taskState
} from "../support/Fixtures.ts"
import { PgTest } from "../support/PgTest.ts"

const pairsOf = <S extends string>(states: ReadonlyArray<S>) =>
  states.flatMap((from) => states.map((to) => ({ from, to })))

const legalTask = (p: { from: TaskState; to: TaskState }) => Option.isSome(taskEventFor(p.from, p.to))
const legalStep = (p: { from: StepState; to: StepState }) => Option.isSome(stepEventFor(p.from, p.to))
const taskEvent = (from: string, to: string) => Option.getOrNull(taskEventFor(from as TaskState, to as TaskState))
const stepEvent = (from: string, to: string) => Option.getOrNull(stepEventFor(from as StepState, to as StepState))

/** "true" / "false" for a CAS call, or the SQLSTATE it raised. */
const outcome = <E, R>(call: Effect.Effect<ReadonlyArray<{ ok: boolean }>, E, R>) =>
  Effect.match(call, { onFailure: (e) => sqlStateOf(e) ?? String(e), onSuccess: (rows) => String(rows[0]!.ok) })

/** What `logSummaries` must report for an entity that went pending -> ...path. */
const expectedRow = (path: ReadonlyArray<string>, eventFor: (from: string, to: string) => string | null) => {
  const states = ["pending", ...path]
  const n = states.length
  return {
    currentState: states[n - 1]!,
    logLength: n,
    maxSortKey: n - 1,
    currentRows: 1,
    headFrom: n > 1 ? states[n - 2]! : null,
    headTo: states[n - 1]!,
    headEvent: n > 1 ? eventFor(states[n - 2]!, states[n - 1]!) : null
  }
}

layer(PgTest.layer, { timeout: "60 seconds", excludeTestServices: true })("transitions", (it) => {
  it.effect("the SQL rule tables hold exactly the TS transition tables", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const key = (r: { from: string; to: string; event: string }) => `${r.from} -> ${r.to} : ${r.event}`
      const read = (table: "task_transition_rules" | "step_transition_rules") =>
        sql<{ from: string; to: string; event: string }>`
          SELECT from_state AS "from", to_state AS "to", event FROM tasker.${sql(table)}`
      assert.deepStrictEqual((yield* read("task_transition_rules")).map(key).sort(), taskTransitions.map(key).sort())
      assert.deepStrictEqual((yield* read("step_transition_rules")).map(key).sort(), stepTransitions.map(key).sort())
    }))

  it.effect("every task (from, to) pair: legal pairs move with their event, illegal ones raise TK001", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { namedTaskUuid } = yield* insertNamedTask()
      const pairs = pairsOf(taskStates)
      const uuids = yield* insertTasks(namedTaskUuid, pairs.length)
      const cases = pairs.map((p, i) => ({ ...p, uuid: uuids[i]!, path: taskPaths.get(p.from)! }))
      yield* driveTasks(cases)

      const outcomes = yield* Effect.forEach(cases, (c) =>
        outcome(sql<{ ok: boolean }>`SELECT tasker.transition_task_state(${c.uuid}::uuid, ${c.from}, ${c.to}) AS ok`)
          .pipe(Effect.map((result) => `${c.from} -> ${c.to}: ${result}`)), { concurrency: 8 })
      assert.deepStrictEqual(outcomes, cases.map((c) => `${c.from} -> ${c.to}: ${legalTask(c) ? "true" : "TK001"}`))

      const summary = yield* logSummaries("task", uuids)
      const effects = new Map((yield* sql<{ uuid: string; complete: boolean; completedAtSet: boolean }>`
        SELECT task_uuid AS uuid, complete, completed_at IS NOT NULL AS completed_at_set
        FROM tasker.tasks WHERE task_uuid = ANY (${uuids}::uuid[])`).map((r) => [r.uuid, r]))
      const actual = cases.map((c) => {
        const { uuid: _, ...row } = summary.get(c.uuid)!
        const { complete, completedAtSet } = effects.get(c.uuid)!
        return { pair: `${c.from} -> ${c.to}`, ...row, complete, completedAtSet }
      })
      const expected = cases.map((c) => {
        const row = expectedRow(legalTask(c) ? [...c.path, c.to] : c.path, taskEvent)
        const current = row.currentState as TaskState
        return {
          pair: `${c.from} -> ${c.to}`,
          ...row,
          complete: current === "complete",
          completedAtSet: isTerminalTaskState(current)
        }
      })
      assert.deepStrictEqual(actual, expected)
    }))

  it.effect("every step (from, to) pair: legal pairs move with their event and side effects, illegal ones raise TK001", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const pairs = pairsOf(stepStates)
      const workflow = yield* insertWorkflow({ steps: pairs.map((_, i) => `s${i}`) })
      const cases = pairs.map((p, i) => ({ ...p, uuid: workflow.steps[`s${i}`]!, path: stepPaths.get(p.from)! }))
      const uuids = cases.map((c) => c.uuid)
      yield* driveSteps(cases)

      const outcomes = yield* Effect.forEach(cases, (c) =>
        outcome(sql<{ ok: boolean }>`SELECT tasker.transition_step_state(${c.uuid}::uuid, ${c.from}, ${c.to}) AS ok`)
          .pipe(Effect.map((result) => `${c.from} -> ${c.to}: ${result}`)), { concurrency: 8 })
      assert.deepStrictEqual(outcomes, cases.map((c) => `${c.from} -> ${c.to}: ${legalStep(c) ? "true" : "TK001"}`))

      const summary = yield* logSummaries("step", uuids)
      const effects = new Map((yield* sql<{
        uuid: string
        attempts: number
        inProcess: boolean
        processed: boolean
        processedAtSet: boolean
        lastAttemptedAtSet: boolean
      }>`
        SELECT workflow_step_uuid AS uuid, attempts, in_process, processed,
               processed_at IS NOT NULL AS processed_at_set, last_attempted_at IS NOT NULL AS last_attempted_at_set
        FROM tasker.workflow_steps WHERE workflow_step_uuid = ANY (${uuids}::uuid[])`).map((r) => [r.uuid, r]))
      const actual = cases.map((c) => {
        const { uuid: _, ...row } = summary.get(c.uuid)!
        const { uuid: __, ...sideEffects } = effects.get(c.uuid)!
        return { pair: `${c.from} -> ${c.to}`, ...row, ...sideEffects }
      })
      const expected = cases.map((c) => {
        const path = legalStep(c) ? [...c.path, c.to] : c.path
        const row = expectedRow(path, stepEvent)
        const current = row.currentState as StepState
        // Start / Reclaim count an attempt; ResetForRetry (error -> pending) zeroes the count.
        const attempts = path.reduce((n, to, i) => {
          const from = i === 0 ? "pending" : path[i - 1]
          return to === "in_progress" ? n + 1 : from === "error" && to === "pending" ? 0 : n
        }, 0)
        return {
          pair: `${c.from} -> ${c.to}`,
          ...row,
          attempts,
          inProcess: current === "in_progress",
          processed: isTerminalStepState(current),
          processedAtSet: isTerminalStepState(current),
          lastAttemptedAtSet: path.includes("in_progress")
        }
      })
      assert.deepStrictEqual(actual, expected)
    }))

  it.effect("task side effects: complete sets complete/completed_at, OperatorResume out of error clears it", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { namedTaskUuid } = yield* insertNamedTask()
      const [done, failed] = yield* insertTasks(namedTaskUuid, 2)
      const read = (uuid: string) =>
        sql<{ complete: boolean; completedAtSet: boolean }>`
          SELECT complete, completed_at IS NOT NULL AS completed_at_set FROM tasker.tasks
          WHERE task_uuid = ${uuid}::uuid`.pipe(Effect.map((rows) => ({ ...rows[0]! })))
      const cas = (uuid: string, from: TaskState, to: TaskState) =>
        sql<{ ok: boolean }>`
          SELECT tasker.transition_task_state(${uuid}::uuid, ${from}, ${to}, tasker.uuid_generate_v7(),
                                              '{"reason": "test"}') AS ok`.pipe(Effect.map((rows) => rows[0]!.ok))

      yield* driveTasks([{ uuid: done!, path: ["initializing", "enqueuing_steps", "steps_in_process", "evaluating_results"] }])
      assert.deepStrictEqual(yield* read(done!), { complete: false, completedAtSet: false })
      assert.isTrue(yield* cas(done!, "evaluating_results", "complete"))
      assert.deepStrictEqual(yield* read(done!), { complete: true, completedAtSet: true })
      const log = yield* taskLog(done!)
      assertWellFormedLog(log, "complete")
      assert.deepStrictEqual(log.map((r) => r.event), [
        null, "Start", "ReadyStepsFound", "StepsEnqueued", "StepCompleted", "AllStepsSuccessful"
      ])
      // A second CAS from the old state is a lost race: false, nothing appended.
      assert.isFalse(yield* cas(done!, "evaluating_results", "complete"))
      assert.strictEqual((yield* taskLog(done!)).length, log.length)

      yield* driveTasksTo([failed!], "error")
      assert.deepStrictEqual(yield* read(failed!), { complete: false, completedAtSet: true })
      assert.isTrue(yield* cas(failed!, "error", "evaluating_results"))
      assert.deepStrictEqual(yield* read(failed!), { complete: false, completedAtSet: false })
      assert.deepStrictEqual((yield* taskLog(failed!)).map((r) => r.event), [null, "Fail", "OperatorResume"])

      // An unknown task is "not transitioned"; a NULL from state is illegal for the single CAS.
      assert.isFalse(yield* cas(crypto.randomUUID(), "pending", "initializing"))
      assert.strictEqual(
        yield* failureState(sql`SELECT tasker.transition_task_state(${failed!}::uuid, NULL, 'cancelled')`),
        "TK001"
      )
    }))

  it.effect("step side effects: Start/Reclaim count attempts, results are kept, ResetForRetry zeroes attempts", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { steps } = yield* insertWorkflow({ steps: ["work"] })
      const step = steps.work!
      const read = sql<{
        attempts: number
        inProcess: boolean
        lastAttemptedAtSet: boolean
        backoffRequestSeconds: number | null
        results: unknown
      }>`
        SELECT attempts, in_process, last_attempted_at IS NOT NULL AS last_attempted_at_set,
               backoff_request_seconds, results
        FROM tasker.workflow_steps WHERE workflow_step_uuid = ${step}::uuid`.pipe(Effect.map((rows) => ({ ...rows[0]! })))
      const cas = (from: StepState, to: StepState, results: unknown = null) =>
        sql<{ ok: boolean }>`
          SELECT tasker.transition_step_state(${step}::uuid, ${from}, ${to}, '{}'::jsonb,
                                              ${results === null ? null : JSON.stringify(results)}::jsonb) AS ok`.pipe(
          Effect.map((rows) => rows[0]!.ok)
        )

      yield* driveStepsTo([step], "enqueued")
      assert.deepStrictEqual(yield* read, {
        attempts: 0, inProcess: false, lastAttemptedAtSet: false, backoffRequestSeconds: null, results: null
      })
      assert.isTrue(yield* cas("enqueued", "in_progress"))
      assert.deepStrictEqual(yield* read, {
        attempts: 1, inProcess: true, lastAttemptedAtSet: true, backoffRequestSeconds: null, results: null
      })
      assert.isTrue(yield* cas("in_progress", "in_progress"))
      assert.strictEqual((yield* read).attempts, 2)
      assert.isTrue(yield* cas("in_progress", "enqueued_for_orchestration", { success: true, result: { n: 1 } }))
      assert.deepStrictEqual(yield* read, {
        attempts: 2,
        inProcess: false,
        lastAttemptedAtSet: true,
        backoffRequestSeconds: null,
        results: { success: true, result: { n: 1 } }
      })
      assert.isTrue(yield* cas("enqueued_for_orchestration", "error"))
      const [backoff] = yield* sql<{ ok: boolean }>`SELECT tasker.set_step_backoff_atomic(${step}::uuid, 30) AS ok`
      assert.isTrue(backoff!.ok)
      assert.deepStrictEqual({ ...(yield* read), results: null }, {
        attempts: 2, inProcess: false, lastAttemptedAtSet: true, backoffRequestSeconds: 30, results: null
      })
      assert.isTrue(yield* cas("error", "pending"))
      const reset = yield* read
      assert.strictEqual(reset.attempts, 0)
      assert.isNull(reset.backoffRequestSeconds)
      const log = yield* stepLog(step)
      assertWellFormedLog(log, "pending")
      assert.deepStrictEqual(log.map((r) => r.event), [
        null, "Enqueue", "Start", "Reclaim", "EnqueueForOrchestration", "Fail", "ResetForRetry"
      ])
    }))

  it.effect("two tasks racing a CAS from the same state: one wins, the loser gets false, the log stays gapless", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { namedTaskUuid } = yield* insertNamedTask()
      const [task] = yield* insertTasks(namedTaskUuid, 1)
      const cas = (to: TaskState) =>
        sql<{ ok: boolean }>`SELECT tasker.transition_task_state(${task!}::uuid, 'pending', ${to}) AS ok`.pipe(
          Effect.map((rows) => rows[0]!.ok)
        )
      const results = yield* raceTransactions(cas("initializing"), cas("cancelled"), { secondBlocks: true })
      assert.deepStrictEqual(results, [true, false])
      const log = yield* taskLog(task!)
      assertWellFormedLog(log, "initializing")
      assert.strictEqual(log.length, 2)
      assert.strictEqual(yield* taskState(task!), "initializing")
    }))

  it.effect("an any-state batch transition racing a writer moves the row from the state that writer committed", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { namedTaskUuid } = yield* insertNamedTask()
      const [task] = yield* insertTasks(namedTaskUuid, 1)
      const start = sql`SELECT tasker.transition_task_state(${task!}::uuid, 'pending', 'initializing')`
      const cancelAny = sql<{ moved: string }>`
        SELECT m AS moved FROM tasker.transition_tasks_state(ARRAY[${task!}::uuid], NULL, 'cancelled') AS m`
      const [, moved] = yield* raceTransactions(start, cancelAny, { secondBlocks: true })
      assert.strictEqual(moved.length, 1)
      assert.strictEqual(yield* taskState(task!), "cancelled")
      assertWellFormedLog(yield* taskLog(task!), "cancelled")
    }))

  it.effect("two workers racing Start on one step: one wins, one attempt is counted, the log stays gapless", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { steps } = yield* insertWorkflow({ steps: ["work"] })
      const step = steps.work!
      yield* driveStepsTo([step], "enqueued")
      const cas = (from: StepState, to: StepState) =>
        sql<{ ok: boolean }>`SELECT tasker.transition_step_state(${step}::uuid, ${from}, ${to}) AS ok`.pipe(
          Effect.map((rows) => rows[0]!.ok)
        )
      const results = yield* raceTransactions(cas("enqueued", "in_progress"), cas("enqueued", "in_progress"), {
        secondBlocks: true
      })
      assert.deepStrictEqual(results, [true, false])
      const log = yield* stepLog(step)
      assertWellFormedLog(log, "in_progress")
      assert.strictEqual(log.length, 3)
      const [row] = yield* sql<{ attempts: number }>`
        SELECT attempts FROM tasker.workflow_steps WHERE workflow_step_uuid = ${step}::uuid`
      assert.strictEqual(row!.attempts, 1)

      // Reclaim is a self-edge: both racers match in_progress, so both move, one after the other.
      const reclaims = yield* raceTransactions(cas("in_progress", "in_progress"), cas("in_progress", "in_progress"), {
        secondBlocks: true
      })
      assert.deepStrictEqual(reclaims, [true, true])
      const after = yield* stepLog(step)
      assertWellFormedLog(after, "in_progress")
      assert.strictEqual(after.length, 5)
      assert.strictEqual(yield* stepState(step), "in_progress")
    }))
})
