import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Ref } from "effect"
import { SqlClient } from "effect/sql"
import { StepExecutionResult } from "../../src/domain/StepExecutionResult.ts"
import { workerQueue } from "../../src/messaging/QueueNames.ts"
import { ClaimedStep, WorkerRepository } from "../../src/worker/WorkerRepository.ts"
import { PgTest } from "../support/PgTest.ts"
import { Behaviour, TestWorker } from "../support/TestWorker.ts"

// Fixtures are plain SQL, unique per test (step names are global): a namespace, a template whose
// configuration lists the steps, named steps, one task, its steps and `provides` edges.
interface StepSpec {
  readonly name: string
  readonly deps?: ReadonlyArray<string>
}

const fixture = (steps: ReadonlyArray<StepSpec>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const suffix = Math.random().toString(36).slice(2, 10)
    const namespace = `w${suffix}`
    const name = (logical: string) => `${logical}_${suffix}`
    const configuration = {
      name: "flow",
      namespace_name: namespace,
      version: "1.0.0",
      steps: steps.map((s) => ({
        name: name(s.name),
        type: "standard",
        handler: { callable: `Handlers.${s.name}`, initialization: { step: s.name } },
        dependencies: (s.deps ?? []).map(name),
        retry: { retryable: true, max_attempts: 3 },
        timeout_seconds: 30
      }))
    }
    const [task] = yield* sql<{ taskUuid: string; correlationId: string }>`
      WITH ns AS (INSERT INTO tasker.task_namespaces (name) VALUES (${namespace}) RETURNING task_namespace_uuid),
      nt AS (
        INSERT INTO tasker.named_tasks (task_namespace_uuid, name, version, configuration)
        SELECT task_namespace_uuid, 'flow', '1.0.0', ${JSON.stringify(configuration)}::jsonb FROM ns
        RETURNING named_task_uuid)
      INSERT INTO tasker.tasks (named_task_uuid, context, identity_hash, correlation_id)
      SELECT named_task_uuid, '{"order": 42}'::jsonb, ${`h_${suffix}`}, tasker.uuid_generate_v7() FROM nt
      RETURNING task_uuid AS "taskUuid", correlation_id AS "correlationId"`
    const names = JSON.stringify(steps.map((s) => ({ name: name(s.name), logical: s.name })))
    yield* sql`INSERT INTO tasker.named_steps (name) SELECT s.name FROM jsonb_to_recordset(${names}::jsonb) AS s(name text)`
    const rows = yield* sql<{ stepUuid: string; logical: string }>`
      WITH ins AS (
        INSERT INTO tasker.workflow_steps (task_uuid, named_step_uuid, inputs)
        SELECT ${task.taskUuid}::uuid, ns.named_step_uuid, jsonb_build_object('input_of', s.logical)
        FROM jsonb_to_recordset(${names}::jsonb) AS s(name text, logical text)
        JOIN tasker.named_steps ns ON ns.name = s.name
        RETURNING workflow_step_uuid, inputs)
      SELECT workflow_step_uuid AS "stepUuid", inputs ->> 'input_of' AS "logical" FROM ins`
    const step: Record<string, string> = Object.fromEntries(rows.map((r) => [r.logical, r.stepUuid]))
    const edges = steps.flatMap((s) => (s.deps ?? []).map((d) => ({ f: step[d], t: step[s.name] })))
    if (edges.length > 0) {
      yield* sql`
        INSERT INTO tasker.workflow_step_edges (from_step_uuid, to_step_uuid)
        SELECT e.f::uuid, e.t::uuid FROM jsonb_to_recordset(${JSON.stringify(edges)}::jsonb) AS e(f text, t text)`
    }
    yield* sql`SELECT tasker.pgmq_ensure_queues(ARRAY[${workerQueue(namespace)}]::text[])`
    return { namespace, queue: workerQueue(namespace), ...task, step, name }
  })
type Fixture = Effect.Success<ReturnType<typeof fixture>>

const uuidArray = (uuids: ReadonlyArray<string>) => JSON.stringify(uuids)

/** What the orchestrator does: pending → enqueued and one StepMessage each, in one transaction. */
const enqueue = (fx: Fixture, logical: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const uuids = uuidArray(logical.map((l) => fx.step[l]))
    yield* sql.withTransaction(Effect.all([
      sql`SELECT tasker.transition_steps_state(
        ARRAY(SELECT x::uuid FROM jsonb_array_elements_text(${uuids}::jsonb) x), 'pending', 'enqueued')`,
      sql`SELECT tasker.pgmq_send_batch_with_notify(${fx.queue}, ARRAY(
        SELECT jsonb_build_object('task_uuid', ws.task_uuid, 'step_uuid', ws.workflow_step_uuid,
                                  'correlation_id', t.correlation_id)
        FROM tasker.workflow_steps ws JOIN tasker.tasks t ON t.task_uuid = ws.task_uuid
        WHERE ws.workflow_step_uuid IN (SELECT x::uuid FROM jsonb_array_elements_text(${uuids}::jsonb) x)
        ORDER BY ws.workflow_step_uuid))`
    ], { discard: true }))
  })

/** Orchestration side, by hand: a step's state change through the CAS function. */
const transition = (stepUuid: string, from: string, to: string) =>
  SqlClient.SqlClient.pipe(Effect.flatMap((sql) =>
    sql`SELECT tasker.transition_step_state(${stepUuid}::uuid, ${from}, ${to}) AS "ok"`
  ))

const stepRow = (stepUuid: string) =>
  SqlClient.SqlClient.pipe(Effect.flatMap((sql) =>
    sql<{ state: string; attempts: number; results: any; transitions: bigint; audits: bigint }>`
      SELECT ws.current_state AS "state", ws.attempts AS "attempts", ws.results AS "results",
             (SELECT count(*) FROM tasker.workflow_step_transitions x WHERE x.workflow_step_uuid = ws.workflow_step_uuid) AS "transitions",
             (SELECT count(*) FROM tasker.workflow_step_result_audit a WHERE a.workflow_step_uuid = ws.workflow_step_uuid) AS "audits"
      FROM tasker.workflow_steps ws WHERE ws.workflow_step_uuid = ${stepUuid}::uuid`
  ), Effect.map((rows) => rows[0]))

const queueRows = (queue: string, table: "q" | "a" = "q") =>
  SqlClient.SqlClient.pipe(Effect.flatMap((sql) =>
    sql<{ msgId: bigint; readCt: number; message: any }>`
      SELECT msg_id AS "msgId", read_ct AS "readCt", message FROM ${sql.literal(`pgmq.${table}_${queue}`)} ORDER BY msg_id`
  ))

const resultMessages = (stepUuid: string) =>
  SqlClient.SqlClient.pipe(Effect.flatMap((sql) =>
    sql<{ message: any }>`
      SELECT message FROM pgmq.q_orchestration_step_results WHERE message ->> 'step_uuid' = ${stepUuid}`
  ))

const success = (c: ClaimedStep, result: StepExecutionResult["result"] = { ok: true }) =>
  StepExecutionResult.success({ step_uuid: c.stepUuid, result, execution_time_ms: 12, worker_id: c.workerId })

const claimOpts = (workerId: string, vt = 30) => ({ visibilityTimeoutSeconds: vt, limit: 10, workerId })

layer(WorkerRepository.layer.pipe(Layer.provideMerge(PgTest.layer)), {
  timeout: "60 seconds",
  excludeTestServices: true
})("WorkerRepository", (it) => {
  it.effect("claim starts the step and returns its context and its ancestors' results", () =>
    Effect.gen(function*() {
      const repo = yield* WorkerRepository
      const fx = yield* fixture([{ name: "a" }, { name: "b", deps: ["a"] }, { name: "c", deps: ["b"] }])
      for (const [logical, output] of [["a", { a: 1 }], ["b", { b: 2 }]] as const) {
        yield* enqueue(fx, [logical])
        const [c] = yield* repo.claim(fx.queue, claimOpts("w-setup"))
        assert.isTrue(yield* repo.complete(c, success(c, output)))
        yield* transition(c.stepUuid, "enqueued_for_orchestration", "complete")
      }
      yield* enqueue(fx, ["c"])
      const claimed = yield* repo.claim(fx.queue, claimOpts("w1"))
      assert.strictEqual(claimed.length, 1)
      const c = claimed[0]
      assert.strictEqual(c.stepUuid, fx.step.c)
      assert.strictEqual(c.taskUuid, fx.taskUuid)
      assert.strictEqual(c.correlationId, fx.correlationId)
      assert.strictEqual(c.claimEvent, "Start")
      assert.strictEqual(c.attempts, 1)
      assert.strictEqual(c.readCt, 1)
      assert.strictEqual(c.maxAttempts, 3)
      assert.isTrue(c.retryable)
      assert.deepStrictEqual(
        [c.namespace, c.taskName, c.taskVersion, c.stepName, c.templateStepName, c.stepType],
        [fx.namespace, "flow", "1.0.0", fx.name("c"), fx.name("c"), "standard"]
      )
      assert.strictEqual(c.handlerCallable, "Handlers.c")
      assert.deepStrictEqual(c.handlerInitialization, { step: "c" })
      assert.strictEqual(c.timeoutSeconds, 30)
      assert.deepStrictEqual(c.inputs, { input_of: "c" })
      assert.deepStrictEqual(c.taskContext, { order: 42 })
      assert.deepStrictEqual(Object.keys(c.dependencyResults).sort(), [fx.name("a"), fx.name("b")].sort())
      assert.deepStrictEqual((c.dependencyResults[fx.name("a")] as any).result, { a: 1 })
      assert.deepStrictEqual((c.dependencyResults[fx.name("b")] as any).result, { b: 2 })
      const row = yield* stepRow(fx.step.c)
      assert.strictEqual(row.state, "in_progress")
      assert.strictEqual(row.attempts, 1)
    }))

  it.effect("complete writes the result, sends one StepMessage and deletes the worker message", () =>
    Effect.gen(function*() {
      const repo = yield* WorkerRepository
      const fx = yield* fixture([{ name: "ok" }, { name: "bad" }])
      yield* enqueue(fx, ["ok", "bad"])
      const claimed = yield* repo.claim(fx.queue, claimOpts("worker-7"))
      const ok = claimed.find((c) => c.stepUuid === fx.step.ok)!
      const bad = claimed.find((c) => c.stepUuid === fx.step.bad)!
      assert.isTrue(yield* repo.complete(ok, success(ok, { total: 3 })))
      const failure = StepExecutionResult.failure({ step_uuid: bad.stepUuid, message: "boom", retryable: true })
      assert.isTrue(yield* repo.complete(bad, failure))

      const okRow = yield* stepRow(fx.step.ok)
      assert.strictEqual(okRow.state, "enqueued_for_orchestration")
      assert.deepStrictEqual(okRow.results.result, { total: 3 })
      assert.strictEqual(okRow.results.metadata.worker_id, "worker-7")
      assert.strictEqual(Number(okRow.audits), 1)
      const badRow = yield* stepRow(fx.step.bad)
      assert.strictEqual(badRow.state, "enqueued_as_error_for_orchestration")
      assert.strictEqual(badRow.results.error.message, "boom")
      for (const s of ["ok", "bad"]) {
        const messages = yield* resultMessages(fx.step[s])
        assert.deepStrictEqual(messages.map((m) => m.message), [
          { task_uuid: fx.taskUuid, step_uuid: fx.step[s], correlation_id: fx.correlationId }
        ])
      }
      assert.strictEqual((yield* queueRows(fx.queue)).length, 0)
      assert.strictEqual((yield* queueRows(fx.queue, "a")).length, 0)
    }))

  it.effect("complete is atomic: a failure part-way leaves nothing behind", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const repo = yield* WorkerRepository
      const fx = yield* fixture([{ name: "s" }])
      yield* enqueue(fx, ["s"])
      const [c] = yield* repo.claim(fx.queue, claimOpts("w1"))
      const before = yield* stepRow(fx.step.s)

      const missingQueue = yield* repo.complete(new ClaimedStep({ ...c, queue: "worker_nowhere_queue" }), success(c))
        .pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(missingQueue))

      // Fail after the CAS: the result queue refuses the insert.
      yield* sql`CREATE OR REPLACE FUNCTION public.refuse_insert() RETURNS trigger LANGUAGE plpgsql
                 AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$`
      yield* sql`CREATE TRIGGER refuse_results BEFORE INSERT ON pgmq.q_orchestration_step_results
                 FOR EACH ROW EXECUTE FUNCTION public.refuse_insert()`
      const midway = yield* repo.complete(c, success(c)).pipe(
        Effect.exit,
        Effect.ensuring(sql`DROP TRIGGER refuse_results ON pgmq.q_orchestration_step_results`.pipe(Effect.orDie))
      )
      assert.isTrue(Exit.isFailure(midway))

      assert.deepStrictEqual(yield* stepRow(fx.step.s), before)
      assert.strictEqual(before.state, "in_progress")
      assert.isNull(before.results)
      assert.strictEqual((yield* resultMessages(fx.step.s)).length, 0)
      const queued = yield* queueRows(fx.queue)
      assert.deepStrictEqual(queued.map((q) => q.readCt), [1])
      // The lease survived: the same call now goes through.
      assert.isTrue(yield* repo.complete(c, success(c)))
    }))

  it.effect("messages of steps that cannot be claimed are dropped, not returned", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const repo = yield* WorkerRepository
      const fx = yield* fixture([{ name: "live" }, { name: "cancelled" }])
      yield* enqueue(fx, ["live", "cancelled"])
      yield* transition(fx.step.cancelled, "enqueued", "cancelled")
      yield* sql`SELECT pgmq.send(${fx.queue}, jsonb_build_object(
        'task_uuid', ${fx.taskUuid}::uuid, 'step_uuid', tasker.uuid_generate_v7(), 'correlation_id', ${fx.correlationId}::uuid))`
      const claimed = yield* repo.claim(fx.queue, claimOpts("w1"))
      assert.deepStrictEqual(claimed.map((c) => c.stepUuid), [fx.step.live])
      const left = yield* queueRows(fx.queue)
      assert.deepStrictEqual(left.map((q) => q.message.step_uuid), [fx.step.live])
      // the unknown step's message is archived for inspection; the cancelled step's is deleted
      const archived = yield* queueRows(fx.queue, "a")
      assert.strictEqual(archived.length, 1)
      assert.notStrictEqual(archived[0].message.step_uuid, fx.step.cancelled)
      assert.strictEqual((yield* stepRow(fx.step.cancelled)).state, "cancelled")

      // A second (fresh) message for a step already in progress is dropped too.
      yield* sql`SELECT pgmq.send(${fx.queue}, jsonb_build_object(
        'task_uuid', ${fx.taskUuid}::uuid, 'step_uuid', ${fx.step.live}::uuid, 'correlation_id', ${fx.correlationId}::uuid))`
      assert.strictEqual((yield* repo.claim(fx.queue, claimOpts("w2"))).length, 0)
      assert.strictEqual((yield* stepRow(fx.step.live)).attempts, 1)
      assert.strictEqual((yield* queueRows(fx.queue)).length, 1)

      // Cancelled while running: complete answers false, writes nothing and drops the message.
      yield* transition(fx.step.live, "in_progress", "cancelled")
      assert.isFalse(yield* repo.complete(claimed[0], success(claimed[0])))
      const row = yield* stepRow(fx.step.live)
      assert.strictEqual(row.state, "cancelled")
      assert.isNull(row.results)
      assert.strictEqual((yield* queueRows(fx.queue)).length, 0)
      assert.strictEqual((yield* resultMessages(fx.step.live)).length, 0)
    }))

  it.effect("concurrent claimers never get the same step", () =>
    Effect.gen(function*() {
      const repo = yield* WorkerRepository
      const specs = Array.from({ length: 30 }, (_, i) => ({ name: `p${i}` }))
      const fx = yield* fixture(specs)
      yield* enqueue(fx, specs.map((s) => s.name))
      const drain = (workerId: string) =>
        Effect.gen(function*() {
          const mine: Array<string> = []
          while (true) {
            const got = yield* repo.claim(fx.queue, { visibilityTimeoutSeconds: 30, limit: 3, workerId })
            if (got.length === 0) return mine
            mine.push(...got.map((c) => c.stepUuid))
          }
        })
      const results = yield* Effect.all(["A", "B", "C", "D"].map(drain), { concurrency: "unbounded" })
      const all = results.flat()
      assert.strictEqual(all.length, 30)
      assert.strictEqual(new Set(all).size, 30)
    }))

  it.effect("an expired lease is reclaimed; the stale worker can neither heartbeat nor complete", () =>
    Effect.gen(function*() {
      const repo = yield* WorkerRepository
      const fx = yield* fixture([{ name: "slow" }])
      yield* enqueue(fx, ["slow"])
      const [first] = yield* repo.claim(fx.queue, claimOpts("w-first", 1))
      assert.strictEqual(first.attempts, 1)
      assert.strictEqual((yield* repo.claim(fx.queue, claimOpts("w-second"))).length, 0)
      yield* Effect.sleep("1200 millis")
      const [second] = yield* repo.claim(fx.queue, claimOpts("w-second"))
      assert.strictEqual(second.stepUuid, fx.step.slow)
      assert.strictEqual(second.claimEvent, "Reclaim")
      assert.strictEqual(second.attempts, 2)
      assert.strictEqual(second.readCt, 2)

      assert.isFalse(yield* repo.heartbeat(first, 30))
      assert.isFalse(yield* repo.complete(first, success(first, { from: "first" })))
      const row = yield* stepRow(fx.step.slow)
      assert.strictEqual(row.state, "in_progress")
      assert.isNull(row.results)
      assert.strictEqual((yield* queueRows(fx.queue)).length, 1)

      assert.isTrue(yield* repo.complete(second, success(second, { from: "second" })))
      const done = yield* stepRow(fx.step.slow)
      assert.strictEqual(done.state, "enqueued_for_orchestration")
      assert.deepStrictEqual(done.results.result, { from: "second" })
      assert.strictEqual((yield* resultMessages(fx.step.slow)).length, 1)
    }))

  it.effect("heartbeat keeps the message invisible; claimMessage claims by id once", () =>
    Effect.gen(function*() {
      const repo = yield* WorkerRepository
      const fx = yield* fixture([{ name: "hb" }, { name: "byid" }])
      yield* enqueue(fx, ["hb"])
      const [c] = yield* repo.claim(fx.queue, claimOpts("w1", 1))
      assert.isTrue(yield* repo.heartbeat(c, 5))
      yield* Effect.sleep("1300 millis")
      assert.strictEqual((yield* repo.claim(fx.queue, claimOpts("w2"))).length, 0)
      assert.strictEqual((yield* stepRow(fx.step.hb)).attempts, 1)
      assert.isTrue(yield* repo.complete(c, success(c)))

      yield* enqueue(fx, ["byid"])
      const [msg] = yield* queueRows(fx.queue)
      const once = yield* repo.claimMessage(fx.queue, Number(msg.msgId), { visibilityTimeoutSeconds: 30, workerId: "w3" })
      assert.isTrue(Option.isSome(once))
      assert.strictEqual(Option.getOrThrow(once).stepUuid, fx.step.byid)
      assert.strictEqual(Option.getOrThrow(once).msgId, Number(msg.msgId))
      const twice = yield* repo.claimMessage(fx.queue, Number(msg.msgId), { visibilityTimeoutSeconds: 30, workerId: "w3" })
      assert.isTrue(Option.isNone(twice))
    }))

  it.effect("TestWorker runs a chain of behaviours through the worker SQL", () =>
    Effect.gen(function*() {
      const fx = yield* fixture([{ name: "first" }, { name: "second", deps: ["first"] }])
      const worker = yield* TestWorker.run({
        namespace: fx.namespace,
        handlers: {
          [fx.name("first")]: Behaviour.succeed({ total: 10 }),
          [fx.name("second")]: Behaviour.custom((c) =>
            Effect.succeed(
              c.attempts === 1
                ? Behaviour.sleep(20, Behaviour.failRetryable(
                  `saw ${JSON.stringify((c.dependencyResults[fx.name("first")] as any).result)}`,
                  { retryAfterSeconds: 7 }
                ))
                : Behaviour.succeed({ attempt: c.attempts })
            )
          )
        }
      })
      yield* enqueue(fx, ["first"])
      yield* worker.awaitExecutions((x) => x.all.length >= 1)
      const first = yield* stepRow(fx.step.first)
      assert.strictEqual(first.state, "enqueued_for_orchestration")
      assert.strictEqual(first.results.success, true)
      assert.strictEqual(first.results.status, "completed")
      assert.deepStrictEqual(first.results.result, { total: 10 })
      assert.strictEqual(first.results.metadata.worker_id, worker.workerId)
      assert.strictEqual(first.results.metadata.retryable, false)
      assert.strictEqual(typeof first.results.metadata.execution_time_ms, "number")
      assert.strictEqual((yield* resultMessages(fx.step.first)).length, 1)

      // Orchestration's part, by hand: complete `first`, enqueue `second`.
      yield* transition(fx.step.first, "enqueued_for_orchestration", "complete")
      yield* enqueue(fx, ["second"])
      yield* worker.awaitExecutions((x) => x.all.length >= 2)
      const second = yield* stepRow(fx.step.second)
      assert.strictEqual(second.state, "enqueued_as_error_for_orchestration")
      assert.strictEqual(second.results.success, false)
      assert.strictEqual(second.results.status, "failed")
      assert.deepStrictEqual(second.results.error.message, "saw {\"total\":10}")
      assert.strictEqual(second.results.error.retryable, true)
      assert.strictEqual(second.results.metadata.retryable, true)
      assert.strictEqual(second.results.metadata.worker_id, worker.workerId)
      assert.deepStrictEqual(second.results.orchestration_metadata.headers, { "Retry-After": "7" })

      // A retry: waiting_for_retry -> pending -> enqueued, claimed again with attempt 2.
      yield* transition(fx.step.second, "enqueued_as_error_for_orchestration", "waiting_for_retry")
      yield* transition(fx.step.second, "waiting_for_retry", "pending")
      yield* enqueue(fx, ["second"])
      const x = yield* worker.awaitExecutions((x) => x.all.length >= 3)
      assert.deepStrictEqual(x.byStepName[fx.name("second")].map((e) => [e.attempt, e.outcome, e.completed]), [
        [1, "retryable_failure", true],
        [2, "success", true]
      ])
      assert.deepStrictEqual(x.byStepUuid[fx.step.first].map((e) => e.attempt), [1])
      assert.deepStrictEqual((yield* stepRow(fx.step.second)).results.result, { attempt: 2 })
      assert.strictEqual((yield* resultMessages(fx.step.second)).length, 2)
      assert.strictEqual((yield* Ref.get(worker.errors)).length, 0)
    }))
})
