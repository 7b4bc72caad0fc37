/**
 * The product worker end to end: OrchestrationCore.layer and Worker.layer in one process over a
 * fresh database, tasks created through the command processor, the example templates and
 * handlers plus test templates for timeouts, error classes and schemas. Then the SDK's pure parts.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, Schedule, Schema, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { exampleHandlers } from "../../examples/handlers/index.ts"
import { TaskerConfig } from "../../src/config/TaskerConfig.ts"
import { CommandProcessor } from "../../src/orchestration/CommandProcessor.ts"
import { OrchestrationCommand } from "../../src/orchestration/commands/OrchestrationCommand.ts"
import * as OrchestrationCore from "../../src/orchestration/OrchestrationCore.ts"
import { parseTemplate } from "../../src/templates/TemplateLoader.ts"
import { classifyError, PermanentError, RetryableError } from "../../src/worker/ErrorClassification.ts"
import { HandlerRegistry } from "../../src/worker/HandlerRegistry.ts"
import { BatchOutcome, DecisionOutcome, StepHandler } from "../../src/worker/StepHandler.ts"
import { Worker } from "../../src/worker/Worker.ts"
import { requestFor, stepsOf } from "../orchestration/lifecycle/LifecycleTestKit.ts"
import { PgTest } from "../support/PgTest.ts"

const step = (name: string, callable: string, extra = "") =>
  `  - name: ${name}\n    handler: { callable: ${callable} }${extra === "" ? "" : `\n${extra}`}`

const template = (name: string, steps: ReadonlyArray<string>) => `
name: ${name}
namespace_name: wtest
version: 1.0.0
identity_strategy: always_unique
steps:
${steps.join("\n")}
`

const testTemplates = [
  template("probe", [
    `  - name: probe_a\n    handler: { callable: wtest.Probe, initialization: { greeting: hi, shared: template } }`,
    step("probe_b", "wtest.Probe", "    dependencies: [probe_a]"),
    step("probe_c", "wtest.Probe", "    dependencies: [probe_b]")
  ]),
  template("slow", [step("slow_step", "wtest.SlowFirstAttempt", "    timeout_seconds: 1\n    retry: { max_attempts: 3 }")]),
  template("permanent", [step("permanent_step", "wtest.Permanent", "    retry: { max_attempts: 3 }")]),
  template("unknown", [step("unknown_step", "wtest.DoesNotExist", "    retry: { max_attempts: 3 }")]),
  template("retry_later", [step("retry_later_step", "wtest.RetryLater", "    retry: { max_attempts: 2 }")]),
  template("flaky", [step("flaky_step", "wtest.FlakyAsync", "    retry: { max_attempts: 3 }")]),
  template("bad_output", [step("bad_output_step", "wtest.BadOutput", "    retry: { max_attempts: 3 }")]),
  template("bad_input", [step("bad_input_step", "wtest.BadInput", "    retry: { max_attempts: 3 }")])
]

const testHandlers = HandlerRegistry.make({
  "wtest.Probe": StepHandler.effect((ctx) =>
    Effect.succeed({
      step: ctx.stepName,
      dependencies: ctx.dependencyResults,
      fullResultOfParent: Object.keys(ctx.dependencyExecutions).sort().map((name) =>
        Object.keys(ctx.dependencyExecutions[name] as object).includes("metadata")
      ),
      inputs: ctx.inputs,
      context: ctx.context,
      attempt: ctx.attempt,
      maxAttempts: ctx.maxAttempts,
      task: `${ctx.namespace}/${ctx.taskName}@${ctx.taskVersion}`,
      correlationId: ctx.correlationId,
      timeoutSeconds: Duration.toSeconds(ctx.timeout)
    })
  ),
  "wtest.SlowFirstAttempt": StepHandler.effect((ctx) =>
    Effect.gen(function*() {
      if (ctx.attempt === 1) yield* Effect.sleep("3 seconds")
      return { attempt: ctx.attempt }
    })
  ),
  "wtest.Permanent": StepHandler.effect(() =>
    Effect.fail(new PermanentError({ message: "card declined", errorCode: "declined", statusCode: 402 }))
  ),
  "wtest.RetryLater": StepHandler.effect(() => Effect.fail(new RetryableError({ message: "rate limited", retryAfterSeconds: 7 }))),
  "wtest.FlakyAsync": StepHandler.promise(async (ctx) => {
    if (ctx.attempt === 1) throw new Error("connection reset")
    return { attempt: ctx.attempt }
  }),
  "wtest.BadOutput": StepHandler.effect(() => Effect.succeed({ total: "twelve" as unknown as number }), {
    output: Schema.Struct({ total: Schema.Number })
  }),
  "wtest.BadInput": StepHandler.effect((ctx) => Effect.succeed({ id: ctx.input.order_id }), {
    input: Schema.Struct({ order_id: Schema.String })
  })
})

const TestLayer = Layer.unwrap(Effect.gen(function*() {
  const templates = yield* Effect.forEach(testTemplates, (yaml) => parseTemplate(yaml)).pipe(Effect.orDie)
  return Worker.layer({
    handlers: HandlerRegistry.merge(exampleHandlers, testHandlers),
    templatesDir: "examples/templates",
    templates,
    pollInterval: "250 millis"
  })
})).pipe(
  Layer.provideMerge(OrchestrationCore.layer),
  Layer.provideMerge(TaskerConfig.layerWith({
    orchestration: {
      fallbackPollInterval: Duration.millis(200),
      readinessPollInterval: Duration.millis(200),
      healthEvaluationInterval: Duration.seconds(1)
    },
    backoff: { baseSeconds: 0, jitter: false },
    staleness: { enabled: false }
  })),
  Layer.provideMerge(PgTest.layer)
)

const createTask = (namespace: string, name: string, context: object) =>
  Effect.gen(function*() {
    const processor = yield* CommandProcessor
    const request = yield* requestFor({ namespace, name, version: "1.0.0" }, context)
    const result = yield* processor.submit(OrchestrationCommand.InitializeTask({ request }))
    if (result._tag !== "TaskInitialize" || result.result._tag !== "Success") return yield* Effect.die(result)
    return result.result.task.taskUuid
  })

const taskState = (taskUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ state: string }>`SELECT current_state AS state FROM tasker.tasks WHERE task_uuid = ${taskUuid}::uuid`
    return rows[0]?.state ?? "missing"
  }).pipe(Effect.orDie)

const awaitTask = (taskUuid: string, states: ReadonlyArray<string>, timeout: Duration.Input = "15 seconds") =>
  taskState(taskUuid).pipe(
    Effect.repeat({ until: (state) => states.includes(state), schedule: Schedule.spaced("50 millis") }),
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () => Effect.flatMap(taskState(taskUuid), (state) => Effect.die(`task is ${state}, not ${states.join("/")}`))
    })
  )

const awaitStep = (taskUuid: string, name: string, states: ReadonlyArray<string>) =>
  stepsOf(taskUuid).pipe(
    Effect.map((steps) => steps.get(name)),
    Effect.repeat({ until: (s) => s !== undefined && states.includes(s.state), schedule: Schedule.spaced("50 millis") }),
    Effect.timeoutOrElse({ duration: "15 seconds", orElse: () => Effect.die(`step ${name} never reached ${states}`) }),
    Effect.map((s) => s!)
  )

type Stored = {
  readonly success: boolean
  readonly status: string
  readonly result: any
  readonly error: any
  readonly metadata: any
  readonly orchestration_metadata: any
}
const stored = (results: unknown) => results as Stored

layer(TestLayer, { timeout: "60 seconds", excludeTestServices: true })("Worker", (it) => {
  it.effect("runs order_fulfillment to completion with Effect and async handlers, storing each result", () =>
    Effect.gen(function*() {
      const task = yield* createTask("ecommerce", "order_fulfillment", {
        order_id: "o-1",
        customer_id: "c-1",
        items: [{ sku: "A", quantity: 2, price: 10.5 }, { sku: "B", quantity: 1, price: 4 }]
      })
      yield* awaitTask(task, ["complete"])
      const steps = yield* stepsOf(task)
      assert.deepStrictEqual(stored(steps.get("validate_order")!.results).result, {
        order_id: "o-1",
        customer_id: "c-1",
        item_count: 2,
        total: 25,
        validated: true
      })
      assert.deepStrictEqual(stored(steps.get("reserve_inventory")!.results).result, {
        reservation_id: "res_o-1",
        warehouse: "main",
        skus: ["A", "B"]
      })
      // the `test` environment's override of the template applies
      assert.deepStrictEqual(stored(steps.get("charge_payment")!.results).result, {
        payment_id: "pay_o-1",
        amount: 25,
        gateway: "sandbox"
      })
      const ship = stored(steps.get("ship_order")!.results)
      assert.strictEqual(ship.result.tracking_number, "TRK-O-1")
      assert.strictEqual(stored(steps.get("validate_order")!.results).metadata.handler_version, "1.0.0")
      assert.isTrue([...steps.values()].every((s) => s.attempts === 1 && s.state === "complete"))
      const worker = yield* Worker
      assert.isAtLeast((yield* worker.stats).succeeded, 4)
    }))

  it.effect("the diamond and fan-out examples join their branches", () =>
    Effect.gen(function*() {
      const diamond = yield* createTask("demo", "diamond", { value: 5 })
      const fanout = yield* createTask("demo", "fanout", { numbers: [1, 2, 3, 4, 5, 6, 7] })
      yield* awaitTask(diamond, ["complete"])
      yield* awaitTask(fanout, ["complete"])
      const join = stored((yield* stepsOf(diamond)).get("diamond_join")!.results)
      assert.deepStrictEqual(join.result, { left: 10, right: 15, value: 25 })
      const merge = stored((yield* stepsOf(fanout)).get("fanout_merge")!.results)
      assert.deepStrictEqual(merge.result, { shards: 3, count: 7, sum: 28, sum_of_squares: 140 })
    }))

  it.effect("a handler sees its inputs, context, attempt and the results of every ancestor", () =>
    Effect.gen(function*() {
      const task = yield* createTask("wtest", "probe", { customer: "c-9", shared: "context" })
      yield* awaitTask(task, ["complete"])
      const steps = yield* stepsOf(task)
      const a = stored(steps.get("probe_a")!.results).result
      const c = stored(steps.get("probe_c")!.results).result
      assert.deepStrictEqual(a.dependencies, {})
      assert.deepStrictEqual(a.inputs, { greeting: "hi", shared: "template" })
      assert.deepStrictEqual(a.context, { customer: "c-9", shared: "context" })
      assert.strictEqual(a.task, "wtest/probe@1.0.0")
      assert.strictEqual(a.attempt, 1)
      assert.strictEqual(a.maxAttempts, 3)
      assert.strictEqual(a.timeoutSeconds, 30)
      assert.deepStrictEqual(Object.keys(c.dependencies).sort(), ["probe_a", "probe_b"])
      assert.strictEqual(c.dependencies.probe_a.step, "probe_a")
      assert.strictEqual(c.dependencies.probe_b.step, "probe_b")
      assert.deepStrictEqual(c.fullResultOfParent, [true, true])
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ id: string }>`SELECT correlation_id::text AS id FROM tasker.tasks WHERE task_uuid = ${task}::uuid`
      assert.strictEqual(c.correlationId, row!.id)
    }))

  it.effect("a handler that times out is retried and completes on its second attempt", () =>
    Effect.gen(function*() {
      const task = yield* createTask("wtest", "slow", {})
      yield* awaitTask(task, ["complete"])
      const slow = (yield* stepsOf(task)).get("slow_step")!
      assert.strictEqual(slow.attempts, 2)
      assert.deepStrictEqual(stored(slow.results).result, { attempt: 2 })
      const sql = yield* SqlClient.SqlClient
      const audit = yield* sql<{ success: boolean }>`
        SELECT success FROM tasker.workflow_step_result_audit WHERE task_uuid = ${task}::uuid ORDER BY recorded_at`
      assert.deepStrictEqual(audit.map((r) => r.success), [false, true])
    }))

  it.effect("a PermanentError is not retried: step error, task blocked_by_failures, one execution", () =>
    Effect.gen(function*() {
      const task = yield* createTask("wtest", "permanent", {})
      yield* awaitTask(task, ["blocked_by_failures"])
      const s = (yield* stepsOf(task)).get("permanent_step")!
      assert.strictEqual(s.state, "error")
      assert.strictEqual(s.attempts, 1)
      const r = stored(s.results)
      assert.isFalse(r.success)
      assert.isFalse(r.metadata.retryable)
      assert.strictEqual(r.error.error_type, "PermanentError")
      assert.strictEqual(r.error.message, "card declined")
      assert.strictEqual(r.error.status_code, 402)
      assert.strictEqual(r.metadata.error_code, "declined")
    }))

  it.effect("a step whose callable has no handler fails permanently", () =>
    Effect.gen(function*() {
      const task = yield* createTask("wtest", "unknown", {})
      yield* awaitTask(task, ["blocked_by_failures"])
      const s = (yield* stepsOf(task)).get("unknown_step")!
      assert.strictEqual(s.state, "error")
      assert.strictEqual(s.attempts, 1)
      const r = stored(s.results)
      assert.strictEqual(r.error.error_type, "HandlerNotFound")
      assert.include(r.error.message, "wtest.DoesNotExist")
      assert.strictEqual(r.status, "error")
    }))

  it.effect("a RetryableError with retryAfterSeconds sets the step's backoff", () =>
    Effect.gen(function*() {
      const task = yield* createTask("wtest", "retry_later", {})
      const s = yield* awaitStep(task, "retry_later_step", ["waiting_for_retry"])
      assert.strictEqual(s.backoffRequestSeconds, 7)
      assert.strictEqual(s.attempts, 1)
      const r = stored(s.results)
      assert.isTrue(r.metadata.retryable)
      assert.deepStrictEqual(r.orchestration_metadata.headers, { "Retry-After": "7" })
      assert.deepStrictEqual(r.orchestration_metadata.backoff_hint, { backoff_type: "ServerRequested", delay_seconds: 7 })
    }))

  it.effect("a thrown error of an async handler is retryable", () =>
    Effect.gen(function*() {
      const task = yield* createTask("wtest", "flaky", {})
      yield* awaitTask(task, ["complete"])
      const s = (yield* stepsOf(task)).get("flaky_step")!
      assert.strictEqual(s.attempts, 2)
      assert.deepStrictEqual(stored(s.results).result, { attempt: 2 })
    }))

  it.effect("output and input that fail their schemas are permanent errors naming the field", () =>
    Effect.gen(function*() {
      const output = yield* createTask("wtest", "bad_output", {})
      const input = yield* createTask("wtest", "bad_input", { customer: 1 })
      yield* awaitTask(output, ["blocked_by_failures"])
      yield* awaitTask(input, ["blocked_by_failures"])
      const o = stored((yield* stepsOf(output)).get("bad_output_step")!.results)
      assert.strictEqual(o.error.error_type, "OutputValidationError")
      assert.include(o.error.message, "total")
      const i = stored((yield* stepsOf(input)).get("bad_input_step")!.results)
      assert.strictEqual(i.error.error_type, "InputValidationError")
      assert.include(i.error.message, "order_id")
      assert.strictEqual((yield* stepsOf(input)).get("bad_input_step")!.attempts, 1)
    }))

  it.effect("closing a worker lets running handlers finish, or interrupts them after the grace period", () =>
    Effect.gen(function*() {
      const drain = (namespace: string, sleep: Duration.Input, shutdownTimeout: Duration.Input) =>
        Effect.gen(function*() {
          const parsed = yield* parseTemplate(template("drain", [step(`${namespace}_step`, "wdrain.Sleep")])
            .replace("namespace_name: wtest", `namespace_name: ${namespace}`)).pipe(Effect.orDie)
          const scope = yield* Scope.make()
          yield* Layer.buildWithScope(
            Worker.layer({
              handlers: HandlerRegistry.make({
                "wdrain.Sleep": StepHandler.effect(() => Effect.as(Effect.sleep(sleep), { slept: true }))
              }),
              templates: [parsed],
              shutdownTimeout,
              pollInterval: "100 millis"
            }),
            scope
          )
          const task = yield* createTask(namespace, "drain", {})
          yield* awaitStep(task, `${namespace}_step`, ["in_progress"])
          yield* Scope.close(scope, Exit.void)
          return (yield* stepsOf(task)).get(`${namespace}_step`)!
        })
      const finished = yield* drain("wdrain_ok", "600 millis", "10 seconds")
      assert.include(["enqueued_for_orchestration", "complete"], finished.state)
      assert.deepStrictEqual(stored(finished.results).result, { slept: true })
      const interrupted = yield* drain("wdrain_cut", "30 seconds", "200 millis")
      assert.strictEqual(interrupted.state, "in_progress")
      assert.isNull(interrupted.results)
    }))

  it.effect("claims on queue notifications alone (the poller waits 30 s)", () =>
    Effect.gen(function*() {
      const parsed = yield* parseTemplate(template("listen", [
        step("listen_a", "wlisten.Step"),
        step("listen_b", "wlisten.Step", "    dependencies: [listen_a]"),
        step("listen_c", "wlisten.Step", "    dependencies: [listen_b]")
      ]).replace("namespace_name: wtest", "namespace_name: wlisten")).pipe(Effect.orDie)
      const worker = yield* Layer.build(Worker.layer({
        handlers: HandlerRegistry.make({ "wlisten.Step": StepHandler.succeed({ ok: true }) }),
        templates: [parsed],
        pollInterval: "30 seconds"
      }))
      yield* Effect.sleep("300 millis") // the start-up poll has run; the next one is 30 s away
      const tasks = yield* Effect.forEach([1, 2, 3], () => createTask("wlisten", "listen", {}))
      yield* Effect.forEach(tasks, (task) => awaitTask(task, ["complete"], "10 seconds"), { discard: true })
      assert.strictEqual((yield* Context.get(worker, Worker).stats).succeeded, 9)
    }))

  it.effect("handlers use services the host provides to the worker layer", () =>
    Effect.gen(function*() {
      class Greeter extends Context.Service<Greeter, { greet(name: string): Effect.Effect<string> }>()("test/Greeter") {}
      const parsed = yield* parseTemplate(template("greet", [step("greet_step", "wsvc.Greet")])
        .replace("namespace_name: wtest", "namespace_name: wsvc")).pipe(Effect.orDie)
      yield* Layer.build(
        Worker.layer({
          handlers: HandlerRegistry.make({
            "wsvc.Greet": StepHandler.effect((ctx) =>
              Effect.gen(function*() {
                const greeter = yield* Greeter
                return { greeting: yield* greeter.greet(String(ctx.context.name)) }
              })
            )
          }),
          templates: [parsed],
          pollInterval: "100 millis"
        }).pipe(Layer.provide(Layer.succeed(Greeter, Greeter.of({ greet: (name) => Effect.succeed(`hello ${name}`) }))))
      )
      const task = yield* createTask("wsvc", "greet", { name: "ada" })
      yield* awaitTask(task, ["complete"])
      assert.deepStrictEqual(stored((yield* stepsOf(task)).get("greet_step")!.results).result, { greeting: "hello ada" })
    }))
})

describe("handler SDK", () => {
  it("builds decision and batch outcomes", () => {
    assert.deepStrictEqual(DecisionOutcome.createSteps(["a", "b"]), {
      decision_point_outcome: { type: "create_steps", step_names: ["a", "b"] }
    })
    assert.deepStrictEqual(DecisionOutcome.noBranches({ reason: "none" }), {
      reason: "none",
      decision_point_outcome: { type: "no_branches" }
    })
    assert.deepStrictEqual(
      BatchOutcome.createBatches({ workerTemplateName: "process_batch", cursors: BatchOutcome.rangeCursors(25, 10), totalItems: 25 }),
      {
        batch_processing_outcome: {
          type: "create_batches",
          worker_template_name: "process_batch",
          worker_count: 3,
          cursor_configs: [
            { batch_id: "001", start_cursor: 0, end_cursor: 10, batch_size: 10 },
            { batch_id: "002", start_cursor: 10, end_cursor: 20, batch_size: 10 },
            { batch_id: "003", start_cursor: 20, end_cursor: 25, batch_size: 5 }
          ],
          total_items: 25
        }
      }
    )
    assert.deepStrictEqual(BatchOutcome.noBatches(), { batch_processing_outcome: { type: "no_batches" } })
  })

  it("classifies errors", () => {
    assert.isTrue(classifyError(new Error("boom")).retryable)
    assert.strictEqual(classifyError(new Error("boom")).errorType, "Error")
    assert.isFalse(classifyError(new PermanentError({ message: "no" })).retryable)
    assert.isFalse(classifyError({ message: "flagged", retryable: false }).retryable)
    assert.strictEqual(classifyError("a string").message, "a string")
    const hinted = classifyError(new RetryableError({ message: "later", retryAfterSeconds: 2.5, backoffType: "RateLimit" }))
    assert.strictEqual(hinted.retryAfterSeconds, 3)
    assert.strictEqual(hinted.backoffType, "RateLimit")
    assert.strictEqual(classifyError({ message: "any", retryAfterSeconds: 4 }).retryAfterSeconds, 4)
  })

  it("merges and looks up registries", () => {
    const a = StepHandler.succeed({ from: "a" })
    const b = StepHandler.succeed({ from: "b" })
    const merged = HandlerRegistry.merge(HandlerRegistry.make({ x: a, y: a }), HandlerRegistry.make({ y: b }))
    assert.deepStrictEqual(HandlerRegistry.callables(merged), ["x", "y"])
    assert.strictEqual(HandlerRegistry.lookup(merged, "y")._tag, "Some")
    assert.isTrue(HandlerRegistry.lookup(merged, "y").pipe((o) => o._tag === "Some" && o.value === b))
    assert.strictEqual(HandlerRegistry.lookup(merged, null)._tag, "None")
  })
})
