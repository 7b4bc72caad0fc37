/**
 * A worker process dies mid-handler (SIGKILL): its lease lapses, another worker re-claims the
 * step (Reclaim, attempts 2) and the task completes. The dying worker is a real child process
 * (test/support/workerProcess.ts) with a 2-second visibility timeout.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Redacted, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import { TaskerConfig } from "../../src/config/TaskerConfig.ts"
import { clientLayer } from "../../src/db/SqlLive.ts"
import { CommandProcessor } from "../../src/orchestration/CommandProcessor.ts"
import { OrchestrationCommand } from "../../src/orchestration/commands/OrchestrationCommand.ts"
import * as OrchestrationCore from "../../src/orchestration/OrchestrationCore.ts"
import { HandlerRegistry } from "../../src/worker/HandlerRegistry.ts"
import { StepHandler } from "../../src/worker/StepHandler.ts"
import { Worker } from "../../src/worker/Worker.ts"
import { registerYaml, requestFor, stepsOf, uniqueNamespace } from "../orchestration/lifecycle/LifecycleTestKit.ts"
import { PgTest } from "../support/PgTest.ts"

const script = path.resolve(import.meta.dirname, "../support/workerProcess.ts")

/** The child worker, killed (SIGKILL) when the scope closes if still alive; `output` collects its logs. */
const spawnWorker = (namespace: string, url: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const output: Array<string> = []
      const child = spawn(process.execPath, [script, namespace], {
        cwd: path.resolve(import.meta.dirname, "../.."),
        env: {
          ...process.env,
          DATABASE_URL: url,
          TASKER_ENV: "test",
          TASKER_WORKER_VISIBILITY_TIMEOUT: "2 seconds",
          TASKER_WORKER_POLL_INTERVAL: "200 millis"
        },
        stdio: ["ignore", "pipe", "pipe"]
      })
      child.stdout?.on("data", (chunk) => output.push(String(chunk)))
      child.stderr?.on("data", (chunk) => output.push(String(chunk)))
      return { child, output }
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
  )

const exited = (child: ChildProcess) =>
  Effect.callback<string>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.succeed(String(child.signalCode)))
    child.once("exit", (code, signal) => resume(Effect.succeed(signal ?? String(code))))
  })

describe("Worker crash", () => {
  it.live("a killed worker's step is re-claimed after its lease lapses and the task completes (attempts 2)", () =>
    Effect.gen(function*() {
      const db = yield* PgTest.freshDatabase
      const core = yield* Layer.build(OrchestrationCore.layer.pipe(
        Layer.provideMerge(TaskerConfig.layerWith({
          orchestration: { fallbackPollInterval: Duration.millis(200), readinessPollInterval: Duration.millis(200) },
          staleness: { enabled: false }
        })),
        Layer.provideMerge(clientLayer(db.url, { applicationName: "worker-crash-test" }))
      ))
      const namespace = uniqueNamespace("crash")
      const template = yield* registerYaml(`
name: crash
namespace_name: ${namespace}
version: 1.0.0
steps:
  - name: crash_sleep
    handler: { callable: crash.Sleep }
    timeout_seconds: 600
    retry: { max_attempts: 3 }
`).pipe(Effect.provide(core))
      const { child, output } = yield* spawnWorker(namespace, Redacted.value(db.url))
      const request = yield* requestFor(template, { order: 1 })
      const created = yield* Context.get(core, CommandProcessor).submit(OrchestrationCommand.InitializeTask({ request }))
      if (created._tag !== "TaskInitialize" || created.result._tag !== "Success") return yield* Effect.die(created)
      const task = created.result.task.taskUuid

      const step = () => stepsOf(task).pipe(Effect.map((steps) => steps.get("crash_sleep")!), Effect.provide(core))
      const claimed = yield* step().pipe(
        Effect.repeat({ until: (s) => s.state === "in_progress", schedule: Schedule.spaced("100 millis") }),
        Effect.timeoutOrElse({
          duration: "30 seconds",
          orElse: () => Effect.die(`the child worker never claimed the step:\n${output.join("")}`)
        })
      )
      assert.strictEqual(claimed.attempts, 1)
      child.kill("SIGKILL")
      assert.strictEqual(yield* exited(child), "SIGKILL")

      yield* Layer.build(Worker.layer({
        handlers: HandlerRegistry.make({ "crash.Sleep": StepHandler.succeed({ recovered: true }) }),
        namespaces: [namespace],
        pollInterval: "200 millis"
      }).pipe(Layer.provide(Layer.succeedContext(core))))
      const done = yield* step().pipe(
        Effect.repeat({ until: (s) => s.state === "complete", schedule: Schedule.spaced("100 millis") }),
        Effect.timeoutOrElse({ duration: "20 seconds", orElse: () => Effect.die("the step was not re-claimed") })
      )
      assert.strictEqual(done.attempts, 2)
      assert.deepStrictEqual((done.results as { result: unknown }).result, { recovered: true })
      const sql = Context.get(core, SqlClient.SqlClient)
      const events = yield* sql<{ event: string }>`
        SELECT metadata ->> 'event' AS event FROM tasker.workflow_step_transitions
        WHERE workflow_step_uuid = ${done.stepUuid}::uuid AND to_state = 'in_progress' ORDER BY sort_key`
      assert.deepStrictEqual(events.map((e) => e.event), ["Start", "Reclaim"])
      const taskState = sql<{ state: string }>`SELECT current_state AS state FROM tasker.tasks WHERE task_uuid = ${task}::uuid`
      yield* taskState.pipe(
        Effect.repeat({ until: (rows) => rows[0]?.state === "complete", schedule: Schedule.spaced("100 millis") }),
        Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.die("the task did not complete") })
      )
    }), { timeout: 60_000 })
})
