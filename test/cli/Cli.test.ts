/**
 * The `tasker` command end to end: the CLI runs as a child process (`node src/cli/main.ts …`)
 * against the REST API, orchestration core and a worker (example handlers plus a sleeping and a
 * failing one) started in this process over a fresh database. Each spawn costs about half a
 * second, so independent spawns run side by side.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Redacted, Schedule } from "effect"
import { exampleHandlers } from "../../examples/handlers/index.ts"
import type { StepResponse } from "../../src/api/ApiSchemas.ts"
import { TaskerClient } from "../../src/client/TaskerClient.ts"
import { createDatabase, dropDatabase, urlForDatabase } from "../../src/db/AdminDatabase.ts"
import type { TaskUuid } from "../../src/domain/Ids.ts"
import type { StepState } from "../../src/domain/StepState.ts"
import { decodeTaskRequest } from "../../src/domain/TaskRequest.ts"
import { parseTemplate } from "../../src/templates/TemplateLoader.ts"
import { PermanentError } from "../../src/worker/ErrorClassification.ts"
import { HandlerRegistry } from "../../src/worker/HandlerRegistry.ts"
import { StepHandler } from "../../src/worker/StepHandler.ts"
import { Worker } from "../../src/worker/Worker.ts"
import { apiTestLayer, awaitTaskState, BaseUrl } from "../api/ApiTestKit.ts"
import { adminUrl } from "../support/PgTest.ts"

const cliMain = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url))

const templates = [
  `
name: sleepy
namespace_name: clitest
version: 1.0.0
identity_strategy: always_unique
steps:
  - name: nap
    handler: { callable: clitest.Sleep }
`,
  `
name: broken
namespace_name: clitest
version: 1.0.0
identity_strategy: always_unique
steps:
  - name: first
    handler: { callable: clitest.Ok }
  - name: broken
    dependencies: [first]
    handler: { callable: clitest.Broken }
    retry: { max_attempts: 1 }
  - name: last
    dependencies: [broken]
    handler: { callable: clitest.Ok }
`
]

const handlers = HandlerRegistry.merge(
  exampleHandlers,
  HandlerRegistry.make({
    "clitest.Sleep": StepHandler.effect(() => Effect.as(Effect.sleep("20 seconds"), { slept: true })),
    "clitest.Ok": StepHandler.succeed({ ok: true }),
    "clitest.Broken": StepHandler.effect(() => Effect.fail(new PermanentError({ message: "broken on purpose" })))
  })
)

const TestLayer = Layer.unwrap(Effect.gen(function*() {
  const parsed = yield* Effect.forEach(templates, (yaml) => parseTemplate(yaml)).pipe(Effect.orDie)
  return Worker.layer({
    handlers,
    templatesDir: "examples/templates",
    templates: parsed,
    pollInterval: "100 millis",
    shutdownTimeout: "1 second"
  })
})).pipe(Layer.provideMerge(apiTestLayer()))

interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs `node src/cli/main.ts …args` with TASKER_URL set to the test server. */
const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const url = yield* BaseUrl
    return yield* Effect.callback<CliResult>((resume) => {
      const child = spawn(process.execPath, [cliMain, ...args], {
        env: { ...process.env, TASKER_URL: url, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (chunk) => (stdout += chunk))
      child.stderr.on("data", (chunk) => (stderr += chunk))
      child.on("close", (code) => resume(Effect.succeed({ code: code ?? -1, stdout, stderr })))
      return Effect.sync(() => child.kill("SIGKILL"))
    })
  })

const createTask = (name: string, context: object = {}) =>
  Effect.gen(function*() {
    const client = yield* TaskerClient
    const payload = yield* decodeTaskRequest({
      namespace: "clitest",
      name,
      version: "1.0.0",
      context,
      initiator: "test",
      source_system: "test",
      reason: "cli test"
    })
    return (yield* client.tasks.create({ payload }).pipe(Effect.orDie)).task_uuid
  })

/** Polls the task's steps until the named one is in `state`; returns it. */
const awaitStep = (taskUuid: TaskUuid, name: string, state: StepState) =>
  Effect.gen(function*() {
    const client = yield* TaskerClient
    const steps = yield* client.steps.list({ params: { uuid: taskUuid } }).pipe(
      Effect.orDie,
      Effect.repeat({
        until: (steps: ReadonlyArray<StepResponse>) => steps.some((s) => s.name === name && s.current_state === state),
        schedule: Schedule.spaced("50 millis")
      }),
      Effect.timeoutOrElse({ duration: "15 seconds", orElse: () => Effect.die(new Error(`${name} never reached ${state}`)) })
    )
    return steps.find((s) => s.name === name)!
  })

const order = { order_id: "cli-1", customer_id: "customer-7", items: [{ sku: "BOOK-1", quantity: 2, price: 12.5 }] }

layer(TestLayer, { timeout: "60 seconds", excludeTestServices: true })("tasker CLI", (it) => {
  it.effect("template validate: the examples pass; a broken file fails naming the step and the fix", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tasker-cli-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const broken = path.join(dir, "broken.yaml")
      fs.writeFileSync(broken, templates[1]!.replace("dependencies: [first]", "dependencies: [frist]"))
      const [ok, bad] = yield* Effect.all([cli(["template", "validate", "examples/templates"]), cli(["template", "validate", dir])], {
        concurrency: "unbounded"
      })
      assert.strictEqual(ok.code, 0, ok.stderr)
      assert.include(ok.stdout, "ecommerce/order_fulfillment@1.0.0")
      assert.include(ok.stdout, "3 template file(s) valid")
      assert.strictEqual(bad.code, 1)
      assert.include(bad.stdout, broken)
      assert.include(bad.stdout, `step 'broken': depends on unknown step "frist"`)
      assert.include(bad.stdout, `add a step named "frist"`)
      assert.include(bad.stderr, "error: 1 problem(s) in 1 of 1 template file(s)")
    }))

  it.effect("task create --wait --json completes an order; task get, task list and task steps show it", () =>
    Effect.gen(function*() {
      const created = yield* cli([
        "task",
        "create",
        "ecommerce",
        "order_fulfillment",
        "--context",
        JSON.stringify(order),
        "--wait",
        "--json"
      ])
      assert.strictEqual(created.code, 0, created.stderr)
      const task = JSON.parse(created.stdout) as { task_uuid: string; status: string; steps: Array<unknown> }
      assert.strictEqual(task.status, "complete")
      assert.strictEqual(task.steps.length, 4)
      assert.include(created.stderr, "4/4 steps done")

      const [get, list, steps] = yield* Effect.all([
        cli(["task", "get", task.task_uuid]),
        cli(["task", "list", "--namespace", "ecommerce", "--json"]),
        cli(["task", "steps", task.task_uuid])
      ], { concurrency: "unbounded" })
      assert.strictEqual(get.code, 0, get.stderr)
      assert.include(get.stdout, `task ${task.task_uuid}  ecommerce/order_fulfillment@1.0.0`)
      assert.match(get.stdout, /status\s+complete/)
      assert.strictEqual(list.code, 0, list.stderr)
      const listed = JSON.parse(list.stdout) as { tasks: Array<{ task_uuid: string }>; pagination: { total_count: number } }
      assert.isTrue(listed.tasks.some((t) => t.task_uuid === task.task_uuid))
      assert.strictEqual(steps.code, 0, steps.stderr)
      for (const name of ["validate_order", "reserve_inventory", "charge_payment", "ship_order"]) {
        assert.match(steps.stdout, new RegExp(`${name}\\s+complete`))
      }
    }))

  it.effect("task cancel cancels a running task", () =>
    Effect.gen(function*() {
      const taskUuid = yield* createTask("sleepy")
      yield* awaitStep(taskUuid, "nap", "in_progress")
      const cancelled = yield* cli(["task", "cancel", taskUuid, "--json"])
      assert.strictEqual(cancelled.code, 0, cancelled.stderr)
      const task = JSON.parse(cancelled.stdout) as { status: string; steps: Array<{ current_state: string }> }
      assert.strictEqual(task.status, "cancelled")
      assert.deepStrictEqual(task.steps.map((s) => s.current_state), ["cancelled"])
    }))

  it.effect("step resolve on a failed step lets its task complete", () =>
    Effect.gen(function*() {
      const taskUuid = yield* createTask("broken")
      const failed = yield* awaitStep(taskUuid, "broken", "error")
      const resolved = yield* cli(["step", "resolve", taskUuid, failed.step_uuid, "--reason", "fixed upstream", "--by", "ci", "--json"])
      assert.strictEqual(resolved.code, 0, resolved.stderr)
      assert.strictEqual((JSON.parse(resolved.stdout) as { current_state: string }).current_state, "resolved_manually")
      const done = yield* awaitTaskState(taskUuid, "complete")
      assert.deepStrictEqual(done.steps.map((s) => s.current_state), ["complete", "resolved_manually", "complete"])
    }))

  it.effect("dlq list --json; errors say what to fix: unreachable API, invalid JSON, usage", () =>
    Effect.gen(function*() {
      const [dlq, unreachable, badJson, usage] = yield* Effect.all([
        cli(["dlq", "list", "--json"]),
        cli(["task", "list"], { TASKER_URL: "http://127.0.0.1:9" }),
        cli(["task", "create", "ecommerce", "order_fulfillment", "--context", `{"order_id": "x",}`]),
        cli(["task", "get", "not-a-uuid"])
      ], { concurrency: "unbounded" })
      assert.strictEqual(dlq.code, 0, dlq.stderr)
      assert.isArray(JSON.parse(dlq.stdout))
      assert.strictEqual(unreachable.code, 1)
      assert.include(
        unreachable.stderr,
        "cannot reach the Tasker API at http://127.0.0.1:9: is `tasker serve` (or `npm start`) running? set --url or TASKER_URL"
      )
      assert.strictEqual(badJson.code, 1)
      assert.include(badJson.stderr, "--context is not valid JSON")
      assert.include(badJson.stderr, "at position 17 (line 1 column 18)")
      assert.strictEqual(usage.code, 2)
      assert.include(usage.stderr, "not-a-uuid")
    }))

  it.effect("migrate applies every migration to an empty database, then has nothing to apply", () =>
    Effect.gen(function*() {
      const admin = adminUrl()
      const name = `t_cli_${Math.random().toString(36).slice(2, 8)}`
      yield* Effect.acquireRelease(createDatabase(admin, name), () => dropDatabase(admin, name).pipe(Effect.ignore))
      const env = { DATABASE_URL: Redacted.value(urlForDatabase(admin, name)) }
      const first = yield* cli(["migrate"], env)
      assert.strictEqual(first.code, 0, first.stderr)
      assert.match(first.stdout, /applied \d+ migration\(s\) to postgres:\/\//)
      assert.include(first.stdout, "0001_schema_and_uuid")
      const second = yield* cli(["migrate", "--json"], env)
      assert.strictEqual(second.code, 0, second.stderr)
      assert.deepStrictEqual((JSON.parse(second.stdout) as { applied: Array<unknown> }).applied, [])
    }))
})
