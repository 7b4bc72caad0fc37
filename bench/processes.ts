/**
 * The `--processes` mode: the orchestration service and the workers run as child processes
 * (`bench/orchestration-process.ts`, `bench/worker-process.ts`, started with this Node binary,
 * `process.execPath`) and coordinate with the bench only over the database:
 *
 * - a task is created by sending its request to the `orchestration_task_requests` queue (the
 *   engine's own cross-process path; the send is the "create call" whose start is the latency's
 *   start); the request carries a correlation id the bench chose;
 * - completion is seen by polling `tasker.tasks` by correlation id every `pollMillis` (10 ms): a
 *   task is seen on average half a poll interval (5 ms) after it completed, and at most one
 *   interval, so latencies here include that delay on top of the engine's.
 *
 * Children print two kinds of lines the bench reads: `BENCH_READY` once their layers are up, and
 * `BENCH_RSS <bytes>` every 100 ms. Everything else they print is passed on to stderr. A child that
 * exits on its own fails every task still waiting.
 *
 * @since 0.1.0
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { Context, Deferred, Duration, Effect, Exit, Layer, Redacted, Schedule, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { clientLayer } from "../src/db/SqlLive.ts"
import { MessageClient } from "../src/messaging/MessageClient.ts"
import * as PgmqMessageClient from "../src/messaging/PgmqMessageClient.ts"
import { taskRequestsQueue } from "../src/messaging/QueueNames.ts"
import { TemplateRegistry } from "../src/templates/TemplateRegistry.ts"
import { benchEnvironment, type Driver, makeCompletions, parsedTemplates, requestOf, type TaskHandle } from "./driver.ts"
import { BenchError, now, own, type RssMonitor } from "./measure.ts"
import type { Scenario } from "./scenarios.ts"

export const pollMillis = 10

const script = (name: string) => fileURLToPath(new URL(name, import.meta.url))

/** Spawns a child for the scope; its end (TERM, then KILL after 15 s) is awaited on close. */
const child = (
  label: string,
  file: string,
  env: Record<string, string>,
  rss: RssMonitor,
  onUnexpectedExit: (message: string) => void
) =>
  Effect.gen(function*() {
    const ready = yield* Deferred.make<void, BenchError>()
    let stopping = false
    const proc = yield* Effect.acquireRelease(
      Effect.sync(() => spawn(process.execPath, [file], { env, stdio: ["ignore", "pipe", "inherit"] })),
      (p: ChildProcess) =>
        Effect.callback<void>((resume) => {
          stopping = true
          if (p.exitCode !== null || p.signalCode !== null) return resume(Effect.void)
          const killer = setTimeout(() => p.kill("SIGKILL"), 15_000)
          p.once("exit", () => {
            clearTimeout(killer)
            resume(Effect.void)
          })
          p.kill("SIGTERM")
        })
    )
    createInterface({ input: proc.stdout! }).on("line", (line) => {
      if (line === "BENCH_READY") Deferred.doneUnsafe(ready, Exit.void)
      else if (line.startsWith("BENCH_RSS ")) Effect.runSync(rss.report(label, Number(line.slice(10))))
      else process.stderr.write(`[${label}] ${line}\n`)
    })
    proc.once("exit", (code, signal) => {
      if (stopping) return
      const message = `${label} exited unexpectedly (code ${code}, signal ${signal})`
      Deferred.doneUnsafe(ready, Exit.fail(new BenchError({ message })))
      onUnexpectedExit(message)
    })
    yield* Deferred.await(ready).pipe(
      Effect.timeoutOrElse({ duration: "60 seconds", orElse: () => Effect.fail(new BenchError({ message: `${label} did not start` })) })
    )
  })

export const processes = (
  url: Redacted.Redacted<string>,
  options: { readonly workers: number; readonly taskTimeout: Duration.Input; readonly rss: RssMonitor }
) =>
  Effect.gen(function*() {
    const settings = benchEnvironment()
    const env: Record<string, string> = {
      ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined)),
      ...settings,
      DATABASE_URL: Redacted.value(url)
    }
    const context = yield* Layer.build(
      Layer.mergeAll(PgmqMessageClient.layer, TemplateRegistry.layer).pipe(
        Layer.provideMerge(clientLayer(url, { maxConnections: 4, applicationName: "tasker-bench-driver" }))
      )
    )
    const sql = Context.get(context, SqlClient.SqlClient)
    const messages = Context.get(context, MessageClient)
    const registry = Context.get(context, TemplateRegistry)
    // Registered here too, so tasks can be created while no worker runs (the backlog).
    yield* Effect.forEach(yield* parsedTemplates, (t) => registry.register(t), { discard: true })

    const completions = makeCompletions()
    const failAll = (message: string) => completions.pending().forEach((id) => completions.fail(id, message))

    yield* child("orchestration", script("./orchestration-process.ts"), env, options.rss, failAll)

    let workerScope: Scope.Closeable | undefined
    const startWorkers = Effect.gen(function*() {
      if (workerScope !== undefined) return
      const scope = yield* Scope.make()
      workerScope = scope
      yield* Effect.forEach(
        Array.from({ length: options.workers }, (_, i) => i + 1),
        (i) => child(`worker${i}`, script("./worker-process.ts"), { ...env, BENCH_WORKER_ID: `bench-worker-${i}` }, options.rss, failAll),
        { concurrency: "unbounded", discard: true }
      ).pipe(Scope.provide(scope))
    })
    const stopWorkers = Effect.suspend(() => {
      const scope = workerScope
      workerScope = undefined
      return scope === undefined ? Effect.void : Scope.close(scope, Exit.void)
    })
    yield* Effect.addFinalizer(() => stopWorkers)
    yield* startWorkers

    const terminal = ["complete", "error", "blocked_by_failures", "cancelled", "resolved_manually"]
    const poll = Effect.gen(function*() {
      const ids = completions.pending()
      if (ids.length === 0) return
      const rows = yield* sql<{ id: string; state: string }>`
        SELECT correlation_id::text AS id, current_state AS state FROM tasker.tasks
        WHERE correlation_id = ANY(${ids}::uuid[]) AND current_state = ANY(${terminal}) ${sql.unsafe(own)}`
      const at = now()
      for (const row of rows) {
        if (row.state === "complete") completions.complete(row.id, at)
        else completions.fail(row.id, `task with correlation id ${row.id} is ${row.state}`)
      }
    }).pipe(Effect.catchCause((cause) => Effect.logWarning("completion poll failed", cause)))
    yield* poll.pipe(Effect.repeat(Schedule.spaced(Duration.millis(pollMillis))), Effect.forkScoped)

    const create = (scenario: Scenario, taskContext: object) =>
      Effect.gen(function*() {
        const correlationId = crypto.randomUUID()
        const message = {
          request_id: correlationId,
          task_request: requestOf(scenario, taskContext, { correlation_id: correlationId }),
          metadata: { requested_at: new Date().toISOString(), requester: "bench" }
        }
        const startedAt = now()
        yield* messages.send(taskRequestsQueue, message).pipe(
          Effect.mapError((cause) => new BenchError({ message: "could not send the task request", cause }))
        )
        return { startedAt, completion: completions.await(correlationId, Effect.void, options.taskTimeout) } satisfies TaskHandle
      })

    /** The children's connections cannot be reached: wait out PostgreSQL's 10 s idle report interval. */
    const flushStats = () => Effect.sleep("11 seconds")

    return { mode: "processes", create, startWorkers, stopWorkers, sql, flushStats } satisfies Driver
  })
