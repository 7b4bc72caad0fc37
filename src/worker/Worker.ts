/**
 * The worker runtime (REFERENCE 1.3 steps 3-4, DESIGN 4.6): registers its templates, watches
 * `worker_{namespace}_queue` of its namespaces, claims steps while it has free handler slots, runs
 * their handlers (`StepRunner.ts`) and writes their results.
 *
 * - `Worker.layer(options)` needs `SqlClient`, `MessageClient`, `TemplateRegistry` and
 *   `TaskerConfig` (what `OrchestrationCore.layer` provides, so an app embedding both composes
 *   them side by side), plus whatever the handlers need (`R`).
 * - `Worker.layerStandalone(options)` adds the pgmq `MessageClient`, the registry, the database
 *   (`DATABASE_URL` or embedded, migrated) and the environment's settings: a `tasker worker` process.
 *
 * Claiming: each notification (`Message` / `Available`: that message by id; `BatchAvailable`: a
 * claim of that many) is served when a slot is free; a `Resync`, every `worker.pollInterval`, and a
 * freed slot after work was left waiting trigger a poll that claims up to the free slots per queue.
 * Closing the layer stops claiming, lets running handlers finish for `shutdownTimeout`, then
 * interrupts them (their messages reappear after the visibility timeout). Every fiber belongs to
 * the layer's scope and every unexpected failure is logged.
 *
 * @since 0.1.0
 */
import * as os from "node:os"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { Cause, Context, Duration, Effect, Exit, Fiber, FiberSet, Layer, Option, Queue, Ref, Stream } from "effect"
import { TaskerConfig } from "../config/TaskerConfig.ts"
import * as SqlLive from "../db/SqlLive.ts"
import { MessageClient, type MessageNotification } from "../messaging/MessageClient.ts"
import * as PgmqMessageClient from "../messaging/PgmqMessageClient.ts"
import { workerQueue } from "../messaging/QueueNames.ts"
import { loadTemplateDirectory } from "../templates/TemplateLoader.ts"
import { TemplateRegistry } from "../templates/TemplateRegistry.ts"
import { makeStepRunner, type StepOutcome } from "./StepRunner.ts"
import { WorkerConfigurationError, type WorkerOptions, type WorkerStats } from "./WorkerOptions.ts"
import { type ClaimedStep, type WorkerDatabaseUnavailable, WorkerRepository } from "./WorkerRepository.ts"

export { WorkerConfigurationError, type WorkerOptions, type WorkerStats } from "./WorkerOptions.ts"

const counterOf: Record<StepOutcome, keyof Omit<WorkerStats, "running" | "claimed">> = {
  succeeded: "succeeded",
  retryable_failure: "retryableFailures",
  permanent_failure: "permanentFailures",
  lease_lost: "leaseLost",
  not_recorded: "notRecorded"
}

const logUnlessInterrupted = (message: string) => <E>(cause: Cause.Cause<E>): Effect.Effect<void, E> =>
  Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.logError(message, cause)

/** A loop of the layer: its end (other than by interruption) is logged. */
const supervised = <A, E>(name: string, loop: Effect.Effect<A, E>) =>
  Effect.onExit(loop, (exit) =>
    Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)
      ? Effect.logError(`worker ${name} stopped`, exit.cause)
      : Exit.isSuccess(exit)
      ? Effect.logError(`worker ${name} ended`)
      : Effect.void)

const loadTemplates = Effect.fnUntraced(function*(options: WorkerOptions<any>, environment: string) {
  const dirs = typeof options.templatesDir === "string" ? [options.templatesDir] : options.templatesDir ?? []
  const loaded = yield* Effect.forEach(dirs, (dir) => loadTemplateDirectory(dir, { environment }))
  return [...loaded.flat().map((l) => l.template), ...(options.templates ?? [])]
})

const make = Effect.fnUntraced(function*<R>(options: WorkerOptions<R>) {
  const config = yield* TaskerConfig
  const repo = yield* WorkerRepository
  const templateRegistry = yield* TemplateRegistry
  const messages = yield* MessageClient
  const services = yield* Effect.context<R>()

  const workerId = options.workerId ?? crypto.randomUUID()
  const concurrency = Math.max(1, options.concurrency ?? config.worker.concurrency)
  const pollInterval = Duration.fromInputUnsafe(options.pollInterval ?? config.worker.pollInterval)
  const visibilityTimeoutSeconds = Math.max(
    1,
    Math.ceil(Duration.toSeconds(Duration.fromInputUnsafe(options.visibilityTimeout ?? config.worker.visibilityTimeout)))
  )
  const shutdownTimeout = Duration.fromInputUnsafe(options.shutdownTimeout ?? "10 seconds")

  const templates = yield* loadTemplates(options, options.environment ?? config.environment)
  yield* Effect.forEach(templates, (template) => templateRegistry.register(template), { discard: true })
  const namespaces = [...new Set(options.namespaces ?? templates.map((t) => t.namespace_name))].sort()
  if (namespaces.length === 0) {
    return yield* new WorkerConfigurationError({
      message: "the worker has no namespace: pass templatesDir, templates or namespaces"
    })
  }
  const missing = [...new Set(templates.filter((t) => namespaces.includes(t.namespace_name))
    .flatMap((t) => t.steps.map((s) => s.handler.callable))
    .filter((callable) => !options.handlers.handlers.has(callable)))]
  if (missing.length > 0) {
    yield* Effect.logWarning(`no handler for ${missing.join(", ")}: their steps will fail permanently`)
  }
  const queues = namespaces.map(workerQueue)
  const ownQueues = new Set(queues)
  yield* Effect.forEach(queues, (queue) => repo.ensureQueue(queue), { discard: true }).pipe(Effect.orDie)

  const runner = makeStepRunner(repo, {
    workerId,
    hostname: os.hostname(),
    visibilityTimeoutSeconds,
    handlerTimeout: Duration.fromInputUnsafe(options.handlerTimeout ?? config.worker.handlerTimeout),
    handlers: options.handlers,
    services
  })

  const free = yield* Ref.make(concurrency)
  const stopping = yield* Ref.make(false)
  /** Work was left in a queue for lack of a slot: a freed slot polls. */
  const backlog = yield* Ref.make(false)
  const wake = yield* Queue.sliding<void>(1)
  const counters = yield* Ref.make({
    claimed: 0,
    succeeded: 0,
    retryableFailures: 0,
    permanentFailures: 0,
    leaseLost: 0,
    notRecorded: 0
  })
  const runners = yield* FiberSet.make()

  const reserve = (want: number) => Ref.modify(free, (n) => [Math.min(n, want), n - Math.min(n, want)] as const)
  const release = (k: number) => k > 0 ? Ref.update(free, (n) => n + k) : Effect.void
  const releaseSlot = release(1).pipe(
    Effect.andThen(Ref.get(backlog)),
    Effect.flatMap((waiting) => waiting ? Queue.offer(wake, undefined) : Effect.void)
  )

  const runStep = (claimed: ClaimedStep) =>
    runner.run(claimed).pipe(
      Effect.flatMap((outcome) => Ref.update(counters, (c) => ({ ...c, [counterOf[outcome]]: c[counterOf[outcome]] + 1 }))),
      Effect.catchCause(logUnlessInterrupted("step execution failed unexpectedly")),
      Effect.ensuring(releaseSlot),
      Effect.interruptible
    )

  /** Reserves up to `want` slots, claims that many, starts what was claimed, frees the rest. */
  const claimWith = (
    want: number,
    claim: (limit: number) => Effect.Effect<ReadonlyArray<ClaimedStep>, WorkerDatabaseUnavailable>
  ) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        if (yield* Ref.get(stopping)) return { requested: 0, claimed: 0 }
        const requested = yield* reserve(want)
        if (requested === 0) return { requested, claimed: 0 }
        const claimed = yield* restore(claim(requested)).pipe(Effect.onError(() => release(requested)))
        yield* release(requested - claimed.length)
        yield* Ref.update(counters, (c) => ({ ...c, claimed: c.claimed + claimed.length }))
        yield* Effect.forEach(claimed, (step) => FiberSet.run(runners, runStep(step)), { discard: true })
        return { requested, claimed: claimed.length }
      })
    )

  const claimOptions = (limit: number) => ({ visibilityTimeoutSeconds, limit, workerId })

  let round = 0
  /** Claims up to the free slots from each queue (a rotating first queue); the number started. */
  const pollOnce = Effect.gen(function*() {
    let started = 0
    let limited = false
    const offset = round++ % queues.length
    for (let i = 0; i < queues.length; i++) {
      const queue = queues[(offset + i) % queues.length]!
      const r = yield* claimWith(yield* Ref.get(free), (limit) => repo.claim(queue, claimOptions(limit)))
      started += r.claimed
      if (r.requested === 0 || r.claimed === r.requested) limited = true
    }
    yield* Ref.set(backlog, limited)
    return started
  }).pipe(
    Effect.catchTag("WorkerDatabaseUnavailable", (error) =>
      Effect.as(Effect.logWarning("worker poll failed; retrying at the next poll", error.cause), 0)),
    Effect.catchCause((cause) => Effect.as(logUnlessInterrupted("worker poll failed")(cause), 0))
  )

  const pollLoop = Effect.forever(Effect.gen(function*() {
    const started = yield* pollOnce
    if (started > 0 && (yield* Ref.get(free)) > 0) return
    yield* Effect.timeoutOption(Queue.take(wake), pollInterval)
  }))

  const onNotification = (notification: MessageNotification): Effect.Effect<void, WorkerDatabaseUnavailable> => {
    switch (notification._tag) {
      case "Resync":
        return Queue.offer(wake, undefined).pipe(Effect.asVoid)
      case "Message":
      case "Available": {
        if (!ownQueues.has(notification.queue)) return Effect.void
        const { msgId, queue } = notification
        return claimWith(1, () =>
          repo.claimMessage(queue, msgId, { visibilityTimeoutSeconds, workerId }).pipe(Effect.map(Option.toArray))).pipe(
            Effect.flatMap((r) => r.requested === 0 ? Ref.set(backlog, true) : Effect.void)
          )
      }
      case "BatchAvailable": {
        if (!ownQueues.has(notification.queue)) return Effect.void
        const { msgIds, queue } = notification
        return claimWith(msgIds.length, (limit) => repo.claim(queue, claimOptions(limit))).pipe(
          Effect.flatMap((r) => r.requested < msgIds.length ? Ref.set(backlog, true) : Effect.void)
        )
      }
    }
  }

  const pollFiber = yield* Effect.forkScoped(supervised("poller", pollLoop))
  const listenFiber = options.listen === false ? undefined : yield* Effect.forkScoped(supervised(
    "listener",
    Stream.runForEach(messages.notifications(namespaces), (notification) =>
      onNotification(notification).pipe(
        Effect.catchTag("WorkerDatabaseUnavailable", (error) =>
          Effect.andThen(Effect.logWarning("claim on notification failed", error.cause), Ref.set(backlog, true))),
        Effect.catchCause(logUnlessInterrupted("claim on notification failed"))
      ))
  ))

  // Registered after the forks, so it runs before their interruption (finalizers run last-in-first-out).
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      yield* Ref.set(stopping, true)
      yield* Fiber.interrupt(pollFiber)
      if (listenFiber !== undefined) yield* Fiber.interrupt(listenFiber)
      const running = yield* FiberSet.size(runners)
      if (running === 0) return
      yield* Effect.logInfo(`worker stopping: waiting for ${running} running step(s)`)
      const drained = yield* Effect.timeoutOption(FiberSet.awaitEmpty(runners), shutdownTimeout)
      if (Option.isNone(drained)) {
        yield* Effect.logWarning(
          `worker stopping: interrupting ${yield* FiberSet.size(runners)} step(s) after ${Duration.format(shutdownTimeout)}; ` +
            "their messages reappear after the visibility timeout"
        )
        yield* FiberSet.clear(runners)
      }
    }).pipe(Effect.annotateLogs({ worker_id: workerId }))
  )

  yield* Effect.logInfo("worker started").pipe(
    Effect.annotateLogs({ worker_id: workerId, namespaces: namespaces.join(","), concurrency, templates: templates.length })
  )

  return Worker.of({
    workerId,
    namespaces,
    queues,
    stats: Effect.map(
      Effect.all([Ref.get(counters), Ref.get(free)]),
      ([c, f]): WorkerStats => ({ ...c, running: concurrency - f })
    ),
    poll: pollOnce
  })
})

/** The database client of a standalone worker: `DATABASE_URL` or the embedded server, migrated. */
const databaseLayer = Layer.unwrap(Effect.gen(function*() {
  const config = yield* TaskerConfig
  return SqlLive.layer({ maxConnections: config.database.maxConnections })
}))

/**
 * @category services
 * @since 0.1.0
 */
export class Worker extends Context.Service<Worker, {
  readonly workerId: string
  readonly namespaces: ReadonlyArray<string>
  readonly queues: ReadonlyArray<string>
  readonly stats: Effect.Effect<WorkerStats>
  /** Claims now, as the poller does; the number of steps started. */
  readonly poll: Effect.Effect<number>
}>()("tasker/worker/Worker") {
  /** The worker with `WorkerRepository`, file system and path left to the caller. @category layers @since 0.1.0 */
  static readonly layerNoDeps = <R = never>(options: WorkerOptions<R>) => Layer.effect(Worker, make(options))

  /**
   * For embedding: needs `SqlClient`, `MessageClient`, `TemplateRegistry`, `TaskerConfig` and the
   * handlers' `R`.
   *
   * @category layers
   * @since 0.1.0
   */
  static readonly layer = <R = never>(options: WorkerOptions<R>) =>
    Worker.layerNoDeps(options).pipe(
      Layer.provide(Layer.mergeAll(WorkerRepository.layer, NodeFileSystem.layer, NodePath.layer))
    )

  /**
   * A worker process: settings from the environment, database from `DATABASE_URL` or embedded.
   *
   * @category layers
   * @since 0.1.0
   */
  static readonly layerStandalone = <R = never>(options: WorkerOptions<R>) =>
    Worker.layer(options).pipe(
      Layer.provide(Layer.mergeAll(PgmqMessageClient.layer, TemplateRegistry.layer)),
      Layer.provideMerge(databaseLayer),
      Layer.provideMerge(TaskerConfig.layer)
    )
}
