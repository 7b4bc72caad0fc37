/**
 * How the bench creates tasks and sees them complete. A `Driver` hides whether the engine runs in
 * this process (`inProcess`: OrchestrationCore.layer + Worker.layer over one client) or in child
 * processes (`processes.ts`).
 *
 * In-process, a task is created with `CommandProcessor.submit(InitializeTask)`; its start time is
 * taken just before the submit. Completion is the moment the `task.completed` lifecycle event is
 * seen by the bench's subscriber. The lifecycle PubSub slides (drops its oldest events when a
 * subscriber lags): a task whose event does not come within 5 s is looked up in the database, so a
 * lost event delays the figure but never hangs the run.
 *
 * @since 0.1.0
 */
import { ConfigProvider, Context, Deferred, Duration, Effect, Exit, Layer, PubSub, type Redacted, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { fromEnvironment, TaskerConfig } from "../src/config/TaskerConfig.ts"
import { clientLayer } from "../src/db/SqlLive.ts"
import { decodeTaskRequest } from "../src/domain/TaskRequest.ts"
import { CommandProcessor } from "../src/orchestration/CommandProcessor.ts"
import { OrchestrationCommand } from "../src/orchestration/commands/OrchestrationCommand.ts"
import { LifecycleEvents } from "../src/orchestration/LifecycleEvents.ts"
import * as OrchestrationCore from "../src/orchestration/OrchestrationCore.ts"
import { parseTemplate } from "../src/templates/TemplateLoader.ts"
import { Worker } from "../src/worker/Worker.ts"
import { BenchError, now, own } from "./measure.ts"
import { handlers, namespace, type Scenario, templateName, templates, version } from "./scenarios.ts"

/** A created task: when its creation started, and its completion time (fails if the task fails). */
export interface TaskHandle {
  readonly startedAt: number
  readonly completion: Effect.Effect<number, BenchError>
}

export interface Driver {
  readonly mode: "single-process" | "processes"
  create(scenario: Scenario, context: object): Effect.Effect<TaskHandle, BenchError>
  readonly startWorkers: Effect.Effect<void, BenchError>
  readonly stopWorkers: Effect.Effect<void>
  /** A client on the bench database for the bench's own queries. */
  readonly sql: SqlClient.SqlClient
  /**
   * Makes the engine's connections report their statistics (see `makeCostProbe`); the bench's
   * statements it ran are counted with `countOwn`.
   */
  flushStats(countOwn: (n: number) => Effect.Effect<void>): Effect.Effect<void>
}

/**
 * The engine's settings for the bench: the environment's `TASKER_*` values over these defaults.
 * Pollers stay on at their defaults; only concurrency is raised for a 50-task load.
 */
export const benchEnvironment = (): Record<string, string> => {
  const defaults: Record<string, string> = {
    TASKER_ENV: "development",
    TASKER_WORKER_CONCURRENCY: "16",
    TASKER_COMMAND_CONCURRENCY: "16",
    TASKER_DATABASE_POOL_SIZE: "20"
  }
  const fromEnv = Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith("TASKER_") && e[1] !== undefined)
  )
  return { ...defaults, ...fromEnv }
}

/** The request of one bench task (always_unique templates: any context will do). */
export const requestOf = (scenario: Scenario, context: object, extra: Record<string, unknown> = {}) => ({
  namespace,
  name: templateName(scenario),
  version,
  context,
  initiator: "bench",
  source_system: "tasker-bench",
  reason: "benchmark",
  ...extra
})

const failedEvents = new Set(["task.failed", "task.blocked_by_failures", "task.cancelled", "task.resolved_manually"])

/**
 * Completions by task id. A completion seen before anyone waits for it is kept (at most 10,000,
 * oldest dropped) so a waiter that comes late still gets it; tasks nobody waits for (the backlog)
 * cost nothing beyond that.
 */
export const makeCompletions = () => {
  const waiters = new Map<string, Deferred.Deferred<number, BenchError>>()
  const early = new Map<string, Exit.Exit<number, BenchError>>()
  const settle = (id: string, exit: Exit.Exit<number, BenchError>) => {
    const waiter = waiters.get(id)
    if (waiter !== undefined) return void Deferred.doneUnsafe(waiter, exit)
    early.set(id, exit)
    if (early.size > 10_000) early.delete(early.keys().next().value!)
  }
  return {
    complete: (id: string, at: number) => settle(id, Exit.succeed(at)),
    fail: (id: string, message: string) => settle(id, Exit.fail(new BenchError({ message }))),
    /** The completion; `check` runs every 5 s while waiting (the database fallback), up to `timeout`. */
    await: (id: string, check: Effect.Effect<void, BenchError>, timeout: Duration.Input): Effect.Effect<number, BenchError> =>
      Effect.suspend(() => {
        const seen = early.get(id)
        if (seen !== undefined) {
          early.delete(id)
          return seen
        }
        const waiter = Deferred.makeUnsafe<number, BenchError>()
        waiters.set(id, waiter)
        return Deferred.await(waiter).pipe(
          Effect.timeoutOption("5 seconds"),
          Effect.tap((o) => o._tag === "None" ? check : Effect.void),
          Effect.repeat({ until: (o) => o._tag === "Some" }),
          Effect.map((o) => o._tag === "Some" ? o.value : NaN),
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () =>
              Effect.fail(new BenchError({ message: `task ${id} did not complete within ${Duration.format(Duration.fromInputUnsafe(timeout))}` }))
          }),
          Effect.ensuring(Effect.sync(() => waiters.delete(id)))
        )
      }),
    /** Tasks someone waits for. */
    pending: () => [...waiters.keys()]
  }
}

export const parsedTemplates = Effect.forEach(templates, (yaml) => parseTemplate(yaml)).pipe(
  Effect.mapError((cause) => new BenchError({ message: "a bench template is invalid", cause }))
)

/** The orchestration core and a worker in this process, over one client. */
export const inProcess = (url: Redacted.Redacted<string>, taskTimeout: Duration.Input) =>
  Effect.gen(function*() {
    const env = benchEnvironment()
    const settings = yield* fromEnvironment.parse(ConfigProvider.fromEnv({ env })).pipe(
      Effect.mapError((cause) => new BenchError({ message: "invalid TASKER_* settings", cause }))
    )
    const core = OrchestrationCore.layer.pipe(
      Layer.provideMerge(Layer.succeed(TaskerConfig, TaskerConfig.of(settings))),
      Layer.provideMerge(clientLayer(url, { maxConnections: settings.database.maxConnections, applicationName: "tasker-bench" }))
    )
    const context = yield* Layer.build(core).pipe(
      Effect.mapError((cause) => new BenchError({ message: "the orchestration core did not start", cause }))
    )
    const processor = Context.get(context, CommandProcessor)
    const sql = Context.get(context, SqlClient.SqlClient)
    const parsed = yield* parsedTemplates

    const completions = makeCompletions()
    const subscription = yield* Context.get(context, LifecycleEvents).subscribe
    yield* PubSub.takeAll(subscription).pipe(
      Effect.map((events) => {
        const at = now()
        for (const e of events) {
          if (e._tag !== "TaskEvent") continue
          if (e.name === "task.completed") completions.complete(e.taskUuid, at)
          else if (failedEvents.has(e.name)) completions.fail(e.taskUuid, `task ${e.taskUuid}: ${e.name}`)
        }
      }),
      Effect.forever,
      Effect.forkScoped
    )

    /** The fallback when no event came: the task's state in the database. */
    const check = (id: string) =>
      sql<{ state: string }>`SELECT current_state AS state FROM tasker.tasks WHERE task_uuid = ${id} ${sql.unsafe(own)}`.pipe(
        Effect.orDie,
        Effect.flatMap(([row]) =>
          row?.state === "complete"
            ? Effect.sync(() => completions.complete(id, now()))
            : row !== undefined && ["error", "blocked_by_failures", "cancelled"].includes(row.state)
            ? Effect.sync(() => completions.fail(id, `task ${id} is ${row.state}`))
            : Effect.void
        )
      )

    let workerScope: Scope.Closeable | undefined
    const startWorkers = Effect.gen(function*() {
      if (workerScope !== undefined) return
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(
        Worker.layer({ handlers, templates: parsed, namespaces: [namespace], workerId: "bench-worker" }).pipe(
          Layer.provide(Layer.succeedContext(context))
        ),
        scope
      ).pipe(Effect.mapError((cause) => new BenchError({ message: "the worker did not start", cause })))
      workerScope = scope
    })
    const stopWorkers = Effect.suspend(() => {
      const scope = workerScope
      workerScope = undefined
      return scope === undefined ? Effect.void : Scope.close(scope, Exit.void)
    })
    yield* Effect.addFinalizer(() => stopWorkers)
    yield* startWorkers

    const create = (scenario: Scenario, taskContext: object) =>
      Effect.gen(function*() {
        const request = yield* decodeTaskRequest(requestOf(scenario, taskContext)).pipe(
          Effect.mapError((cause) => new BenchError({ message: "invalid bench request", cause }))
        )
        const startedAt = now()
        const result = yield* processor.submit(OrchestrationCommand.InitializeTask({ request })).pipe(
          Effect.mapError((cause) => new BenchError({ message: "the command processor is shut down", cause }))
        )
        if (result._tag !== "TaskInitialize" || result.result._tag !== "Success") {
          return yield* new BenchError({ message: `task creation failed: ${JSON.stringify(result)}` })
        }
        const id = result.result.task.taskUuid
        return { startedAt, completion: completions.await(id, check(id), taskTimeout) } satisfies TaskHandle
      })

    /** After a second, one short statement on every pooled connection: each reports as it goes idle. */
    const flushStats = (countOwn: (n: number) => Effect.Effect<void>) =>
      Effect.gen(function*() {
        const n = settings.database.maxConnections
        yield* Effect.sleep("1100 millis")
        yield* Effect.forEach(Array.from({ length: n }), () => sql`SELECT pg_sleep(0.05) ${sql.unsafe(own)}`, {
          concurrency: n,
          discard: true
        }).pipe(Effect.orDie)
        yield* countOwn(n)
      })

    return {
      mode: "single-process",
      create,
      flushStats,
      startWorkers,
      stopWorkers,
      sql
    } satisfies Driver
  })
