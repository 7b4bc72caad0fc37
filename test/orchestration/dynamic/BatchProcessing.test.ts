/**
 * Batch processing end to end against PostgreSQL (REFERENCE 8.3, 12.13): the real
 * BatchProcessingActor in the result processor, and batch workers run by the product StepRunner
 * (claims, handlers with `ctx.checkpoint`, `complete_step`) on the worker queue.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Duration, Effect, Fiber, Layer, Ref } from "effect"
import { SqlClient } from "effect/sql"
import { TaskerConfig } from "../../../src/config/TaskerConfig.ts"
import { workerQueue } from "../../../src/messaging/QueueNames.ts"
import { BatchProcessingActor, DecisionPointActor } from "../../../src/orchestration/actors/DynamicStepActors.ts"
import { BatchProcessing } from "../../../src/orchestration/dynamic/BatchProcessing.ts"
import { StepResultHydrator } from "../../../src/orchestration/hydration/StepResultHydrator.ts"
import { LifecycleEvents } from "../../../src/orchestration/LifecycleEvents.ts"
import { LifecycleRepository } from "../../../src/orchestration/lifecycle/LifecycleRepository.ts"
import { ResultProcessor } from "../../../src/orchestration/lifecycle/result-processing/ResultProcessor.ts"
import { TaskInitializer } from "../../../src/orchestration/lifecycle/task-initialization/TaskInitializer.ts"
import { ProcessorId } from "../../../src/orchestration/ProcessorId.ts"
import { TemplateRegistry } from "../../../src/templates/TemplateRegistry.ts"
import { PermanentError } from "../../../src/worker/ErrorClassification.ts"
import { HandlerRegistry } from "../../../src/worker/HandlerRegistry.ts"
import { BatchOutcome, StepHandler } from "../../../src/worker/StepHandler.ts"
import { makeStepRunner } from "../../../src/worker/StepRunner.ts"
import { WorkerRepository } from "../../../src/worker/WorkerRepository.ts"
import { PgTest } from "../../support/PgTest.ts"
import { execute, processResult, stepPath, registerYaml, requestFor, stepsOf, stepUuidOf, success, taskRow, uniqueNamespace } from "../lifecycle/LifecycleTestKit.ts"

const base = Layer.mergeAll(
  TemplateRegistry.layer,
  LifecycleEvents.layer,
  TaskerConfig.layerWith({ backoff: { jitter: false }, batchProcessing: { maxParallelBatches: 50 } }),
  ProcessorId.layer,
  LifecycleRepository.layer
).pipe(Layer.provideMerge(PgTest.layer))
const actors = Layer.mergeAll(DecisionPointActor.layerUnsupported, BatchProcessingActor.layer, BatchProcessing.layer, WorkerRepository.layer)
  .pipe(Layer.provideMerge(base))
const testLayer = Layer.mergeAll(TaskInitializer.layer, ResultProcessor.layer, StepResultHydrator.layer)
  .pipe(Layer.provideMerge(actors))

const templateYaml = (ns: string, batchConfig = "{}") => `name: batch_sum
namespace_name: ${ns}
version: 1.0.0
identity_strategy: always_unique
steps:
  - { name: analyze, type: batchable, handler: { callable: b.analyze, initialization: { worker_template_name: process_batch } } }
  - { name: process_batch, type: batch_worker, dependencies: [analyze], handler: { callable: b.process, initialization: { source: rows } }, retry: { retryable: false, max_attempts: 1 }, batch_config: ${batchConfig} }
  - { name: aggregate, type: deferred_convergence, dependencies: [process_batch], handler: { callable: b.aggregate } }
`

const createTask = (context: object, batchConfig?: string) =>
  Effect.gen(function*() {
    const ns = uniqueNamespace("batch")
    const template = yield* registerYaml(templateYaml(ns, batchConfig))
    const task = yield* (yield* TaskInitializer).initialize(yield* requestFor(template, context)).pipe(Effect.orDie)
    return { ns, taskUuid: task.taskUuid }
  })

type Cursor = { readonly batch_id: string; readonly start_cursor: number; readonly end_cursor: number }
interface Ctx { readonly total: number; readonly size: number; readonly fail?: string; readonly hangAfter?: number; readonly checkpointEvery?: number }

/** Executions per item, for the checkpoint test. */
const makeHandlers = (seen: Ref.Ref<Map<number, number>>) =>
  HandlerRegistry.make({
    "b.analyze": StepHandler.effect((ctx) => {
      const { size, total } = ctx.context as unknown as Ctx
      return Effect.succeed(total === 0 ? BatchOutcome.noBatches() : BatchOutcome.createBatches({
        workerTemplateName: "process_batch",
        cursors: BatchOutcome.rangeCursors(total, size),
        totalItems: total
      }))
    }),
    "b.process": StepHandler.effect((ctx) =>
      Effect.gen(function*() {
        const cursor = ctx.inputs.cursor as unknown as Cursor
        const settings = ctx.context as unknown as Ctx
        if (settings.fail === cursor.batch_id) return yield* new PermanentError({ message: `batch ${cursor.batch_id} broke` })
        const resume = ctx.lastCheckpoint
        let sum = resume === null ? 0 : (resume.accumulated_results as number)
        const first = resume === null ? cursor.start_cursor : (resume.cursor as number) + 1
        for (let item = first; item < cursor.end_cursor; item++) {
          const counts = yield* Ref.get(seen) // mutated in place: cheap for 10,000 items
          counts.set(item, (counts.get(item) ?? 0) + 1)
          sum += item
          if ((item + 1) % (settings.checkpointEvery ?? 250) === 0) yield* ctx.checkpoint(item, item + 1 - cursor.start_cursor, sum)
          if (settings.hangAfter === item && ctx.attempt === 1) return yield* Effect.never
        }
        return { count: cursor.end_cursor - cursor.start_cursor, sum }
      })),
    "b.aggregate": StepHandler.effect((ctx) => {
      const parts = Object.entries(ctx.dependencyResults).filter(([name]) => name.startsWith("process_batch_"))
        .map(([, r]) => r as { count?: number; sum?: number } | null)
      return Effect.succeed({
        workers: parts.length,
        count: parts.reduce((n, r) => n + (r?.count ?? 0), 0),
        sum: parts.reduce((n, r) => n + (r?.sum ?? 0), 0)
      })
    })
  })

const runnerFor = (repo: WorkerRepository["Service"], handlers: HandlerRegistry, vt: number) =>
  makeStepRunner(repo, {
    workerId: "batch-test",
    hostname: "test",
    visibilityTimeoutSeconds: vt,
    handlerTimeout: Duration.seconds(20),
    handlers,
    services: Context.empty()
  })

/** Active (enqueued / running / awaiting orchestration) batch workers of the task. */
const activeWorkers = (taskUuid: string) =>
  Effect.map(stepsOf(taskUuid), (steps) =>
    [...steps.values()].filter((s) =>
      s.name.startsWith("process_batch_") &&
      ["enqueued", "in_progress", "enqueued_for_orchestration", "enqueued_as_error_for_orchestration"].includes(s.state)
    ).length)

/** Claims, runs and processes the namespace's steps until nothing is left; returns the peak of active workers. */
const drive = (ns: string, taskUuid: string, handlers: HandlerRegistry) =>
  Effect.gen(function*() {
    const repo = yield* WorkerRepository
    const runner = runnerFor(repo, handlers, 30)
    let peak = 0
    for (let round = 0; round < 100; round++) {
      peak = Math.max(peak, yield* activeWorkers(taskUuid))
      const claimed = yield* repo.claim(workerQueue(ns), { visibilityTimeoutSeconds: 30, limit: 100, workerId: "batch-test" })
        .pipe(Effect.orDie)
      if (claimed.length === 0) return peak
      yield* Effect.forEach(claimed, (c) => runner.run(c), { concurrency: "unbounded", discard: true })
      for (const c of claimed) yield* processResult(c.stepUuid)
    }
    return assert.fail("did not come to rest")
  })

const stateOf = (taskUuid: string) =>
  Effect.map(stepsOf(taskUuid), (steps) => Object.fromEntries([...steps.values()].map((s) => [s.name, s.state])))

layer(testLayer, { timeout: "60 seconds", excludeTestServices: true })("BatchProcessing", (it) => {
  it.effect("12.13 create_batches: N workers with cursors, both edge kinds, one convergence; re-processing is a no-op", () =>
    Effect.gen(function*() {
      const { taskUuid } = yield* createTask({})
      assert.deepStrictEqual(Object.keys(yield* stateOf(taskUuid)), ["analyze"])
      const analyze = yield* stepUuidOf(taskUuid, "analyze")
      yield* execute(analyze, success(analyze, BatchOutcome.createBatches({
        workerTemplateName: "process_batch",
        cursors: BatchOutcome.rangeCursors(25, 10),
        totalItems: 25
      })))
      const states = yield* stateOf(taskUuid)
      assert.deepStrictEqual(Object.keys(states).sort(), ["aggregate", "analyze", "process_batch_001", "process_batch_002", "process_batch_003"])
      assert.strictEqual(states.aggregate, "pending")
      const sql = yield* SqlClient.SqlClient
      const inputs = yield* sql<{ name: string; inputs: any }>`
        SELECT ns.name, ws.inputs FROM tasker.workflow_steps ws JOIN tasker.named_steps ns USING (named_step_uuid)
        WHERE ws.task_uuid = ${taskUuid}::uuid AND ns.name = 'process_batch_003'`
      assert.deepStrictEqual(inputs[0]!.inputs.cursor, { batch_id: "003", start_cursor: 20, end_cursor: 25, batch_size: 5 })
      assert.strictEqual(inputs[0]!.inputs.is_no_op, false)
      assert.strictEqual(inputs[0]!.inputs.source, "rows")
      assert.strictEqual(inputs[0]!.inputs.__template_step_name, "process_batch")
      assert.deepStrictEqual(inputs[0]!.inputs.batch_metadata.failure_strategy, "continue_on_failure")
      const edges = () => sql<{ name: string; n: number }>`
        SELECT e.name, count(*)::int AS n FROM tasker.workflow_step_edges e
        JOIN tasker.workflow_steps ws ON ws.workflow_step_uuid = e.to_step_uuid
        WHERE ws.task_uuid = ${taskUuid}::uuid GROUP BY e.name ORDER BY e.name`
      assert.deepStrictEqual(yield* edges(), [{ name: "batch_dependency", n: 3 }, { name: "worker_to_convergence", n: 3 }])
      const again = yield* (yield* BatchProcessing).process(yield* (yield* StepResultHydrator).hydrateStep(analyze).pipe(Effect.orDie))
      assert.deepStrictEqual(again.stepsCreated, [])
      assert.strictEqual(Object.keys(yield* stateOf(taskUuid)).length, 5)
      assert.deepStrictEqual((yield* edges()).map((e) => e.n), [3, 3])
    }))

  it.effect("no_batches creates the no-op worker _000, which succeeds without its handler, then the convergence runs", () =>
    Effect.gen(function*() {
      const { ns, taskUuid } = yield* createTask({ total: 0, size: 10 })
      const calls = yield* Ref.make<Map<number, number>>(new Map())
      yield* drive(ns, taskUuid, makeHandlers(calls))
      const steps = yield* stepsOf(taskUuid)
      assert.deepStrictEqual([...steps.keys()].sort(), ["aggregate", "analyze", "process_batch_000"])
      assert.deepStrictEqual((steps.get("process_batch_000")!.results as any).result, { no_op: true, items_processed: 0 })
      assert.deepStrictEqual((steps.get("aggregate")!.results as any).result, { workers: 1, count: 0, sum: 0 })
      assert.strictEqual((yield* taskRow(taskUuid)).state, "complete")
    }))

  it.effect("an invalid outcome fails the batchable step and creates nothing", () =>
    Effect.gen(function*() {
      const { taskUuid } = yield* createTask({})
      const analyze = yield* stepUuidOf(taskUuid, "analyze")
      yield* execute(analyze, success(analyze, { batch_processing_outcome: { type: "create_batches", worker_template_name: "aggregate", worker_count: 1, cursor_configs: [{ batch_id: "001", start_cursor: 0, end_cursor: 1, batch_size: 1 }], total_items: 1 } }))
      const steps = yield* stepsOf(taskUuid)
      assert.deepStrictEqual([...steps.keys()], ["analyze"])
      assert.strictEqual(steps.get("analyze")!.state, "error")
      assert.match((steps.get("analyze")!.results as any).error.message, /aggregate is not a batch_worker step/)
      assert.strictEqual((yield* taskRow(taskUuid)).state, "blocked_by_failures")
    }))

  it.effect("10,000 rows over 10 workers: the convergence sums every batch", () =>
    Effect.gen(function*() {
      const { ns, taskUuid } = yield* createTask({ total: 10_000, size: 1000 })
      const seen = yield* Ref.make<Map<number, number>>(new Map())
      yield* drive(ns, taskUuid, makeHandlers(seen))
      const steps = yield* stepsOf(taskUuid)
      assert.strictEqual([...steps.keys()].filter((n) => n.startsWith("process_batch_")).length, 10)
      assert.deepStrictEqual((steps.get("aggregate")!.results as any).result, { workers: 10, count: 10_000, sum: 49_995_000 })
      assert.strictEqual((yield* taskRow(taskUuid)).state, "complete")
      assert.isTrue([...(yield* Ref.get(seen)).values()].every((n) => n === 1))
    }))

  it.effect("parallelism 2 is never exceeded and fail_fast cancels the workers not yet enqueued", () =>
    Effect.gen(function*() {
      const ok = yield* createTask({ total: 60, size: 10 }, "{ parallelism: 2 }")
      const seen = yield* Ref.make<Map<number, number>>(new Map())
      assert.strictEqual(yield* drive(ok.ns, ok.taskUuid, makeHandlers(seen)), 2)
      assert.strictEqual((yield* taskRow(ok.taskUuid)).state, "complete")

      const ff = yield* createTask({ total: 60, size: 10, fail: "001" }, "{ parallelism: 2, failure_strategy: fail_fast }")
      yield* drive(ff.ns, ff.taskUuid, makeHandlers(seen))
      const states = yield* stateOf(ff.taskUuid)
      assert.strictEqual(states.process_batch_001, "error")
      assert.strictEqual(states.process_batch_002, "complete")
      for (const id of ["003", "004", "005", "006"]) {
        assert.deepStrictEqual(yield* stepPath(yield* stepUuidOf(ff.taskUuid, `process_batch_${id}`)), ["pending", "cancelled"])
      }
      assert.strictEqual(states.aggregate, "pending")
      assert.strictEqual((yield* taskRow(ff.taskUuid)).state, "blocked_by_failures")
    }))

  it.effect("continue_on_failure runs the other workers and then blocks; isolate lets the convergence run without the failed one", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<Map<number, number>>(new Map())
      const cof = yield* createTask({ total: 40, size: 10, fail: "001" }, "{ parallelism: 1 }")
      yield* drive(cof.ns, cof.taskUuid, makeHandlers(seen))
      const states = yield* stateOf(cof.taskUuid)
      assert.deepStrictEqual([states.process_batch_001, states.process_batch_002, states.process_batch_004], ["error", "complete", "complete"])
      assert.strictEqual(states.aggregate, "pending")
      assert.strictEqual((yield* taskRow(cof.taskUuid)).state, "blocked_by_failures")

      const iso = yield* createTask({ total: 40, size: 10, fail: "002" }, "{ failure_strategy: isolate }")
      yield* drive(iso.ns, iso.taskUuid, makeHandlers(seen))
      const steps = yield* stepsOf(iso.taskUuid)
      assert.strictEqual(steps.get("process_batch_002")!.state, "resolved_manually")
      assert.deepStrictEqual((steps.get("aggregate")!.results as any).result, { workers: 4, count: 30, sum: 780 - 145 })
      assert.strictEqual((yield* taskRow(iso.taskUuid)).state, "complete")
    }))

  it.effect("a worker killed mid-batch is re-claimed and resumes after its last checkpoint", () =>
    Effect.gen(function*() {
      const { ns, taskUuid } = yield* createTask({ total: 100, size: 100, hangAfter: 54, checkpointEvery: 10 })
      const seen = yield* Ref.make<Map<number, number>>(new Map())
      const handlers = makeHandlers(seen)
      const repo = yield* WorkerRepository
      const analyze = yield* repo.claim(workerQueue(ns), { visibilityTimeoutSeconds: 30, limit: 1, workerId: "a" }).pipe(Effect.orDie)
      yield* runnerFor(repo, handlers, 30).run(analyze[0]!)
      yield* processResult(analyze[0]!.stepUuid)

      const [first] = yield* repo.claim(workerQueue(ns), { visibilityTimeoutSeconds: 1, limit: 1, workerId: "a" }).pipe(Effect.orDie)
      const fiber = yield* Effect.forkChild(runnerFor(repo, handlers, 1).run(first!))
      const sql = yield* SqlClient.SqlClient
      const checkpointAt = sql<{ cursor: number | null }>`
        SELECT (checkpoint ->> 'cursor')::int AS cursor FROM tasker.workflow_steps WHERE workflow_step_uuid = ${first!.stepUuid}::uuid`
      for (let i = 0; i < 400; i++) {
        const [row] = yield* checkpointAt.pipe(Effect.orDie)
        if (row?.cursor === 49 && (yield* Ref.get(seen)).size >= 55) break
        yield* Effect.sleep("25 millis")
      }
      yield* Fiber.interrupt(fiber) // the worker dies: no result, no more heartbeats
      yield* Effect.sleep("1200 millis") // its lease lapses

      const [again] = yield* repo.claim(workerQueue(ns), { visibilityTimeoutSeconds: 30, limit: 1, workerId: "b" }).pipe(Effect.orDie)
      assert.strictEqual(again!.claimEvent, "Reclaim")
      assert.strictEqual((again!.checkpoint as any).cursor, 49)
      assert.strictEqual(yield* runnerFor(repo, handlers, 30).run(again!), "succeeded")
      yield* processResult(again!.stepUuid)
      yield* drive(ns, taskUuid, handlers)

      const counts = yield* Ref.get(seen)
      for (let item = 0; item < 100; item++) {
        assert.strictEqual(counts.get(item), item <= 49 || item > 54 ? 1 : 2, `item ${item}`)
      }
      assert.strictEqual((yield* taskRow(taskUuid)).state, "complete")
      assert.deepStrictEqual(((yield* stepsOf(taskUuid)).get("aggregate")!.results as any).result, { workers: 1, count: 100, sum: 4950 })
    }))
})
