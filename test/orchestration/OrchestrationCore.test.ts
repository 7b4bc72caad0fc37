/**
 * The orchestration core end to end: OrchestrationCore.layer over a fresh database, the test
 * worker running steps through the real worker SQL, tasks created through the command processor.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, PubSub, type Redacted, Ref, Schedule, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { TaskerConfig } from "../../src/config/TaskerConfig.ts"
import { clientLayer } from "../../src/db/SqlLive.ts"
import { MessageClient } from "../../src/messaging/MessageClient.ts"
import { stepResultsQueue, taskFinalizationsQueue, taskRequestsQueue } from "../../src/messaging/QueueNames.ts"
import { CommandProcessor } from "../../src/orchestration/CommandProcessor.ts"
import { OrchestrationCommand } from "../../src/orchestration/commands/OrchestrationCommand.ts"
import { LifecycleEvents } from "../../src/orchestration/LifecycleEvents.ts"
import * as OrchestrationCore from "../../src/orchestration/OrchestrationCore.ts"
import { PgTest } from "../support/PgTest.ts"
import { Behaviour, TestWorker } from "../support/TestWorker.ts"
import { registerYaml, requestFor, uniqueNamespace } from "./lifecycle/LifecycleTestKit.ts"

const coreLayer = (url: Redacted.Redacted<string>, poll: Duration.Input = "200 millis", visibilitySeconds = 30) =>
  OrchestrationCore.layer.pipe(
    Layer.provideMerge(TaskerConfig.layerWith({
      queues: { visibilityTimeout: Duration.seconds(visibilitySeconds) },
      orchestration: {
        fallbackPollInterval: Duration.fromInputUnsafe(poll),
        readinessPollInterval: Duration.fromInputUnsafe(poll),
        healthEvaluationInterval: Duration.seconds(1)
      },
      staleness: { enabled: false }
    })),
    Layer.provideMerge(clientLayer(url, { applicationName: "tasker-core-test" }))
  )

/** Builds a core in its own scope, so a test can close it mid-flight. */
const startCore = (url: Redacted.Redacted<string>, poll?: Duration.Input, visibilitySeconds?: number) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(coreLayer(url, poll, visibilitySeconds), scope)
    return { context, processor: Context.get(context, CommandProcessor), close: Scope.close(scope, Exit.void) }
  })

const linearYaml = (namespace: string, steps: ReadonlyArray<string>) => `
name: linear
namespace_name: ${namespace}
version: 1.0.0
steps:
${steps.map((s, i) => `  - name: ${s}\n    handler: { callable: test.${s} }${i > 0 ? `\n    dependencies: [${steps[i - 1]}]` : ""}`).join("\n")}
`

const countTasks = (uuids: ReadonlyArray<string>, state: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tasker.tasks
      WHERE task_uuid = ANY(${uuids}::uuid[]) AND current_state = ${state}`
    return rows[0]!.n
  })

const awaitTasks = (uuids: ReadonlyArray<string>, state = "complete", timeout: Duration.Input = "30 seconds") =>
  countTasks(uuids, state).pipe(
    Effect.repeat({ until: (n) => n === uuids.length, schedule: Schedule.spaced("100 millis") }),
    Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.die(`tasks did not reach ${state} in time`) })
  )

const createTask = (processor: CommandProcessor["Service"], template: Parameters<typeof requestFor>[0], context: object) =>
  Effect.gen(function*() {
    const request = yield* requestFor(template, context)
    const result = yield* processor.submit(OrchestrationCommand.InitializeTask({ request }))
    if (result._tag !== "TaskInitialize" || result.result._tag !== "Success") return yield* Effect.die(result)
    return result.result.task.taskUuid
  })

describe("OrchestrationCore", () => {
  it.live("runs a linear task end to end on notifications alone (pollers every 30 s)", () =>
    Effect.gen(function*() {
      const db = yield* PgTest.freshDatabase
      const core = yield* startCore(db.url, "30 seconds")
      const events = yield* Context.get(core.context, LifecycleEvents).subscribe
      const namespace = uniqueNamespace("lin")
      const steps = ["a", "b", "c", "d"]
      const template = yield* registerYaml(linearYaml(namespace, steps)).pipe(Effect.provide(core.context))
      const worker = yield* TestWorker.run({
        namespace,
        handlers: Object.fromEntries(steps.map((s) => [s, Behaviour.succeed({ step: s })])),
        pollInterval: "10 millis"
      }).pipe(Effect.provide(core.context))
      const task = yield* createTask(core.processor, template, { order: 1 })
      yield* awaitTasks([task], "complete", "20 seconds").pipe(Effect.provide(core.context))
      const executions = yield* Ref.get(worker.executions)
      assert.deepStrictEqual(executions.all.map((e) => e.stepName), steps)
      const published = yield* PubSub.takeAll(events)
      assert.isTrue(published.some((e) => e._tag === "TaskEvent" && e.name === "task.completed" && e.taskUuid === task))
      yield* core.close
    }))

  it.live("archives a malformed message on each orchestration queue with its error and keeps processing", () =>
    Effect.gen(function*() {
      const db = yield* PgTest.freshDatabase
      const core = yield* startCore(db.url)
      const messages = Context.get(core.context, MessageClient)
      yield* messages.send(stepResultsQueue, { task_uuid: "not-a-uuid" })
      yield* messages.send(stepResultsQueue, {
        task_uuid: "0190c1d2-0000-7000-8000-000000000001",
        step_uuid: "0190c1d2-0000-7000-8000-000000000002",
        correlation_id: "0190c1d2-0000-7000-8000-000000000003"
      })
      yield* messages.send(taskRequestsQueue, { request_id: 42 })
      yield* messages.send(taskFinalizationsQueue, { task: "nothing" })
      const sql = Context.get(core.context, SqlClient.SqlClient)
      const archivedWithError = sql<{ n: number }>`
        SELECT (SELECT count(*) FROM pgmq.a_orchestration_step_results WHERE headers ? 'tasker_error')
             + (SELECT count(*) FROM pgmq.a_orchestration_task_requests WHERE headers ? 'tasker_error')
             + (SELECT count(*) FROM pgmq.a_orchestration_task_finalizations WHERE headers ? 'tasker_error') AS n`.pipe(
        Effect.map((rows) => Number(rows[0]!.n))
      )
      yield* archivedWithError.pipe(
        Effect.repeat({ until: (n) => n === 4, schedule: Schedule.spaced("100 millis") }),
        Effect.timeoutOrElse({ duration: "15 seconds", orElse: () => Effect.die("malformed messages not archived") })
      )
      const namespace = uniqueNamespace("ok")
      const template = yield* registerYaml(linearYaml(namespace, ["only"])).pipe(Effect.provide(core.context))
      yield* TestWorker.run({ namespace, handlers: { only: Behaviour.succeed() } }).pipe(Effect.provide(core.context))
      const task = yield* createTask(core.processor, template, {})
      yield* awaitTasks([task]).pipe(Effect.provide(core.context))
      const stats = yield* core.processor.stats
      assert.strictEqual(stats.invalidMessagesArchived, 4)
      yield* core.close
    }))

  it.live("acknowledges a result message only after its processing succeeded: a failed attempt is redelivered", () =>
    Effect.gen(function*() {
      const db = yield* PgTest.freshDatabase
      const core = yield* startCore(db.url, "300 millis", 1)
      const sql = Context.get(core.context, SqlClient.SqlClient)
      // A real database failure: while the flag row exists, completing a step raises.
      yield* sql`CREATE TABLE public.fail_completion (on_step text)`
      yield* sql`CREATE FUNCTION public.fail_completion() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.current_state = 'complete' AND EXISTS (SELECT 1 FROM public.fail_completion) THEN
            RAISE EXCEPTION 'injected failure';
          END IF;
          RETURN NEW;
        END $$`
      yield* sql`CREATE TRIGGER fail_completion BEFORE UPDATE ON tasker.workflow_steps
        FOR EACH ROW EXECUTE FUNCTION public.fail_completion()`
      yield* sql`INSERT INTO public.fail_completion VALUES ('any')`
      const namespace = uniqueNamespace("ack")
      const template = yield* registerYaml(linearYaml(namespace, ["once"])).pipe(Effect.provide(core.context))
      const worker = yield* TestWorker.run({ namespace, handlers: { once: Behaviour.succeed() } }).pipe(
        Effect.provide(core.context)
      )
      const task = yield* createTask(core.processor, template, {})
      yield* worker.awaitExecutions((x) => x.all.length === 1)
      const failures = sql<{ n: number }>`
        SELECT count(*)::int AS n FROM pgmq.q_orchestration_step_results WHERE read_ct >= 2`.pipe(
        Effect.map((rows) => rows[0]!.n)
      )
      // Processing failed at least twice (first delivery and one redelivery): the message stayed.
      yield* failures.pipe(
        Effect.repeat({ until: (n) => n === 1, schedule: Schedule.spaced("100 millis") }),
        Effect.timeoutOrElse({ duration: "15 seconds", orElse: () => Effect.die("result message was not redelivered") })
      )
      assert.strictEqual(yield* countTasks([task], "complete").pipe(Effect.provide(core.context)), 0)
      yield* sql`DELETE FROM public.fail_completion`
      yield* awaitTasks([task], "complete", "15 seconds").pipe(Effect.provide(core.context))
      const [archived] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM pgmq.a_orchestration_step_results`
      assert.strictEqual(archived!.n, 1)
      assert.strictEqual((yield* Ref.get(worker.executions)).all.length, 1)
      yield* core.close
    }))

  it.live("loses no work when the LISTEN connection is killed", () =>
    Effect.gen(function*() {
      const db = yield* PgTest.freshDatabase
      const core = yield* startCore(db.url, "1 second")
      const sql = Context.get(core.context, SqlClient.SqlClient)
      const namespace = uniqueNamespace("kill")
      const template = yield* registerYaml(linearYaml(namespace, ["x", "y"])).pipe(Effect.provide(core.context))
      yield* TestWorker.run({ namespace, handlers: { x: Behaviour.succeed(), y: Behaviour.succeed() } }).pipe(
        Effect.provide(core.context)
      )
      const killed = yield* sql<{ n: number }>`
        SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND query ILIKE 'LISTEN%'`
      assert.isAtLeast(killed[0]!.n, 1)
      const tasks = yield* Effect.forEach([1, 2, 3], (i) => createTask(core.processor, template, { i }))
      yield* awaitTasks(tasks, "complete", "20 seconds").pipe(Effect.provide(core.context))
      yield* core.close
    }))

  it.live("two cores on one database run 200 concurrent tasks: no step enqueued twice, every task completes", () =>
    Effect.gen(function*() {
      const db = yield* PgTest.freshDatabase
      const first = yield* startCore(db.url)
      const second = yield* startCore(db.url)
      const namespace = uniqueNamespace("two")
      const template = yield* registerYaml(linearYaml(namespace, ["p", "q"])).pipe(Effect.provide(first.context))
      const worker = yield* TestWorker.run({
        namespace,
        handlers: { p: Behaviour.succeed(), q: Behaviour.succeed() },
        concurrency: 8,
        pollInterval: "10 millis"
      }).pipe(Effect.provide(first.context))
      const tasks = yield* Effect.forEach(
        Array.from({ length: 200 }, (_, i) => i),
        (i) => createTask(i % 2 === 0 ? first.processor : second.processor, template, { i }),
        { concurrency: 16 }
      )
      yield* awaitTasks(tasks, "complete", "90 seconds").pipe(Effect.provide(first.context))
      const sql = Context.get(first.context, SqlClient.SqlClient)
      const [row] = yield* sql<{ steps: number; enqueues: number; maxEnqueues: number }>`
        SELECT count(*)::int AS steps, sum(e.n)::int AS enqueues, max(e.n)::int AS max_enqueues
        FROM (SELECT ws.workflow_step_uuid, count(wst.*) FILTER (WHERE wst.to_state = 'enqueued') AS n
              FROM tasker.workflow_steps ws
              JOIN tasker.workflow_step_transitions wst USING (workflow_step_uuid)
              WHERE ws.task_uuid = ANY(${tasks}::uuid[])
              GROUP BY ws.workflow_step_uuid) e`
      assert.strictEqual(row!.steps, 400)
      assert.strictEqual(row!.maxEnqueues, 1)
      const executions = yield* Ref.get(worker.executions)
      assert.strictEqual(executions.all.length, 400)
      assert.isTrue(Object.values(executions.byStepUuid).every((runs) => runs.length === 1))
      yield* second.close
      yield* first.close
    }), { timeout: 120_000 })

  it.live("closing the core in the middle of a load leaves nothing stuck: after a restart every task completes", () =>
    Effect.gen(function*() {
      const db = yield* PgTest.freshDatabase
      const first = yield* startCore(db.url)
      const namespace = uniqueNamespace("restart")
      const template = yield* registerYaml(linearYaml(namespace, ["r1", "r2", "r3"])).pipe(Effect.provide(first.context))
      const tasks = yield* Effect.forEach(Array.from({ length: 40 }, (_, i) => i), (i) =>
        createTask(first.processor, template, { i }), { concurrency: 8 })
      // The worker has its own client and scope: it keeps running across the restart.
      const workerScope = yield* Scope.make()
      const workerDb = yield* Layer.buildWithScope(clientLayer(db.url, { applicationName: "test-worker" }), workerScope)
      yield* TestWorker.run({
        namespace,
        handlers: { r1: Behaviour.succeed(), r2: Behaviour.sleep(20, Behaviour.succeed()), r3: Behaviour.succeed() },
        concurrency: 4
      }).pipe(Effect.provide(workerDb), Scope.provide(workerScope))
      yield* Effect.sleep("500 millis")
      yield* first.close
      const doneAtClose = yield* countTasks(tasks, "complete").pipe(Effect.provide(workerDb))
      assert.isBelow(doneAtClose, tasks.length, "the load was still running when the core closed")
      const second = yield* startCore(db.url)
      yield* awaitTasks(tasks, "complete", "60 seconds").pipe(Effect.provide(second.context))
      yield* Scope.close(workerScope, Exit.void)
      yield* second.close
    }), { timeout: 90_000 })
})
