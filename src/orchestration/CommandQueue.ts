/**
 * The command-processing engine: a bounded queue of commands run by a dispatcher fiber with at most
 * `concurrency` commands at once and never two commands of the same key (task uuid) at once.
 *
 * - `capacity` bounds the backlog: commands accepted but not yet started, whether they sit in the
 *   queue or wait for their key or for a running permit. `submit` and `send` suspend while the
 *   backlog is full (backpressure); `send(c, { dropWhenFull: true })` never suspends.
 * - Commands of one key form a chain in dequeue order: each waits for its predecessor to finish,
 *   then takes a running permit. A command waiting for its key holds no running permit, so a busy
 *   task cannot occupy more than one slot of the concurrency.
 * - A failure, defect or interruption of one command completes that command's reply (or is logged
 *   for `send`) and never stops the dispatcher.
 * - Interrupting a `submit` caller after its command was accepted does not cancel the command:
 *   it may already be running, and the durable message it came from would be redelivered anyway.
 * - Closing the scope (or `shutdown`) drains: no new commands, everything accepted still runs.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Deferred, Effect, Exit, Fiber, FiberSet, Queue, Ref, Schema, Semaphore } from "effect"
import type { Scope } from "effect"

/**
 * `submit` after the queue stopped accepting commands.
 *
 * @category errors
 * @since 0.1.0
 */
export class CommandQueueShutdown extends Schema.TaggedError<CommandQueueShutdown>()("CommandQueueShutdown", {
  queue: Schema.String
}) {}

/** @category models @since 0.1.0 */
export interface OutcomeCounts {
  readonly succeeded: number
  /** Failed with the handler's typed error. */
  readonly failed: number
  /** Ended with a defect. */
  readonly died: number
  readonly interrupted: number
}

/** @category models @since 0.1.0 */
export interface CommandQueueStats extends OutcomeCounts {
  readonly name: string
  readonly capacity: number
  readonly concurrency: number
  readonly accepted: number
  /** `send(…, { dropWhenFull: true })` refused because the backlog was full. */
  readonly dropped: number
  /** Refused because the queue was shut down. */
  readonly rejected: number
  /** Finished, whatever the outcome. */
  readonly processed: number
  /** Accepted, not yet started. */
  readonly queued: number
  readonly inFlight: number
  /** `queued / capacity`, 0..1: the backpressure signal. */
  readonly saturation: number
  /** Mean time from acceptance to start over all started commands. */
  readonly averageWaitMillis: number
  /** Outcomes per `labelOf(command)`; empty without `labelOf`. */
  readonly byLabel: Readonly<Record<string, OutcomeCounts>>
}

/** @category models @since 0.1.0 */
export interface CommandQueueOptions<C, A, E, R> {
  readonly name?: string | undefined
  /** Maximum backlog (accepted, not yet started). Default 5000 (reference §6.1). */
  readonly capacity?: number | undefined
  readonly concurrency: number
  /** Commands with the same key never run at once and start in acceptance order; `undefined` = no key. */
  readonly keyOf: (command: C) => string | undefined
  readonly handle: (command: C) => Effect.Effect<A, E, R>
  /** Groups the outcome counts, e.g. by command tag. */
  readonly labelOf?: ((command: C) => string) | undefined
}

/** @category models @since 0.1.0 */
export interface CommandQueue<C, A, E> {
  /** Enqueues (suspending while the backlog is full) and waits for the command's result. */
  readonly submit: (command: C) => Effect.Effect<A, E | CommandQueueShutdown>
  /** Fire-and-forget; `true` if accepted. Failures are logged. */
  readonly send: (command: C, options?: { readonly dropWhenFull?: boolean | undefined }) => Effect.Effect<boolean>
  readonly stats: Effect.Effect<CommandQueueStats>
  readonly saturation: Effect.Effect<number>
  /** Stops accepting, waits until everything accepted has finished. Same as closing the scope. */
  readonly shutdown: Effect.Effect<void>
}

interface Envelope<C, A, E> {
  readonly command: C
  readonly key: string | undefined
  readonly label: string | undefined
  readonly deferred: Deferred.Deferred<A, E> | undefined
  readonly enqueuedAt: number
}

type Outcome = keyof OutcomeCounts

interface Counters extends OutcomeCounts {
  readonly accepted: number
  readonly dropped: number
  readonly rejected: number
  readonly started: number
  readonly waitMillis: number
  readonly byLabel: Readonly<Record<string, OutcomeCounts>>
}

const noOutcomes: OutcomeCounts = { succeeded: 0, failed: 0, died: 0, interrupted: 0 }
const noCounters: Counters = { ...noOutcomes, accepted: 0, dropped: 0, rejected: 0, started: 0, waitMillis: 0, byLabel: {} }

const outcomeOf = (exit: Exit.Exit<unknown, unknown>): Outcome =>
  Exit.isSuccess(exit)
    ? "succeeded"
    : Cause.hasDies(exit.cause)
    ? "died"
    : Cause.hasFails(exit.cause)
    ? "failed"
    : "interrupted"

const bump = (counts: OutcomeCounts, outcome: Outcome): OutcomeCounts => ({ ...counts, [outcome]: counts[outcome] + 1 })

/**
 * Builds the engine in the caller's scope; closing the scope drains it.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*<C, A, E, R = never>(
  options: CommandQueueOptions<C, A, E, R>
): Effect.fn.Return<CommandQueue<C, A, E>, never, Scope.Scope | R> {
  const name = options.name ?? "CommandQueue"
  const capacity = Math.max(1, Math.floor(options.capacity ?? 5000))
  const concurrency = Math.max(1, Math.floor(options.concurrency))
  const queue = yield* Queue.bounded<Envelope<C, A, E>, Cause.Done>(capacity)
  // Backlog slots: taken on acceptance, given back when the command starts. They, not the queue,
  // bound the backlog, because commands waiting for their key have already left the queue.
  const slots = yield* Semaphore.make(capacity)
  const running = yield* Semaphore.make(concurrency)
  const counters = yield* Ref.make(noCounters)
  const fibers = yield* FiberSet.make<void, never>()
  // Last command accepted per key; entries go when the last command of a key finishes.
  const tails = new Map<string, Deferred.Deferred<void>>()
  let accepting = true

  const count = (f: (c: Counters) => Counters) => Ref.update(counters, f)

  const settle = (envelope: Envelope<C, A, E>, exit: Exit.Exit<A, E>) => {
    const outcome = outcomeOf(exit)
    const record = count((c) => ({
      ...c,
      [outcome]: c[outcome] + 1,
      byLabel: envelope.label === undefined
        ? c.byLabel
        : { ...c.byLabel, [envelope.label]: bump(c.byLabel[envelope.label] ?? noOutcomes, outcome) }
    }))
    if (envelope.deferred !== undefined) return Effect.andThen(record, Deferred.done(envelope.deferred, exit))
    if (Exit.isSuccess(exit) || outcome === "interrupted") return record
    return Effect.andThen(
      record,
      Effect.logError(`${name}: command failed`, exit.cause).pipe(
        Effect.annotateLogs({ commandQueue: name, command: envelope.label ?? "unlabelled", key: envelope.key ?? "" })
      )
    )
  }

  // The single wrapper around every handler run: stats, reply, logging. A handler that throws
  // while building its effect is a defect like any other.
  const execute = (envelope: Envelope<C, A, E>) =>
    Effect.gen(function*() {
      yield* slots.release(1)
      const now = yield* Clock.currentTimeMillis
      yield* count((c) => ({ ...c, started: c.started + 1, waitMillis: c.waitMillis + now - envelope.enqueuedAt }))
      yield* Effect.suspend(() => options.handle(envelope.command)).pipe(
        Effect.onExit((exit) => settle(envelope, exit)),
        Effect.exit
      )
    })

  const run = (envelope: Envelope<C, A, E>) => {
    const body = running.withPermit(execute(envelope))
    const interrupted = Effect.onInterrupt(() =>
      envelope.deferred === undefined ? Effect.void : Deferred.interrupt(envelope.deferred)
    )
    const key = envelope.key
    if (key === undefined) return interrupted(body)
    // Registered synchronously in dequeue order, which is what keeps FIFO per key.
    const previous = tails.get(key)
    const done = Deferred.makeUnsafe<void>()
    tails.set(key, done)
    const turn = previous === undefined ? body : Effect.andThen(Deferred.await(previous), body)
    return interrupted(turn).pipe(
      Effect.ensuring(Effect.sync(() => {
        Deferred.doneUnsafe(done, Exit.void)
        if (tails.get(key) === done) tails.delete(key)
      }))
    )
  }

  const consumer = yield* Effect.gen(function*() {
    while (true) {
      for (const envelope of yield* Queue.takeAll(queue)) yield* FiberSet.run(fibers, run(envelope))
    }
  }).pipe(
    Effect.catchIf(Cause.isDone, () => FiberSet.awaitEmpty(fibers)),
    Effect.forkScoped
  )

  const shutdown = Effect.suspend(() => {
    accepting = false
    return Queue.end(queue)
  }).pipe(Effect.andThen(Fiber.await(consumer)), Effect.asVoid)
  // Added after the fork, so it runs first (finalizers are LIFO): drain, then the fork's interrupt.
  yield* Effect.addFinalizer(() => shutdown)

  const accept = (command: C, deferred: Deferred.Deferred<A, E> | undefined, wait: boolean) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        if (!accepting) {
          yield* count((c) => ({ ...c, rejected: c.rejected + 1 }))
          return false
        }
        const key = options.keyOf(command)
        const label = options.labelOf?.(command)
        if (wait) {
          yield* restore(slots.take(1))
        } else if (!(yield* slots.takeIfAvailable(1))) {
          yield* count((c) => ({ ...c, dropped: c.dropped + 1 }))
          return false
        }
        const enqueuedAt = yield* Clock.currentTimeMillis
        // Never suspends: a held slot means the queue has room.
        if (yield* Queue.offer(queue, { command, key, label, deferred, enqueuedAt })) {
          yield* count((c) => ({ ...c, accepted: c.accepted + 1 }))
          return true
        }
        yield* slots.release(1)
        yield* count((c) => ({ ...c, rejected: c.rejected + 1 }))
        return false
      })
    )

  const submit = Effect.fnUntraced(function*(command: C): Effect.fn.Return<A, E | CommandQueueShutdown> {
    const deferred = yield* Deferred.make<A, E>()
    if (!(yield* accept(command, deferred, true))) return yield* new CommandQueueShutdown({ queue: name })
    return yield* Deferred.await(deferred)
  })

  const send = (command: C, sendOptions?: { readonly dropWhenFull?: boolean | undefined }) =>
    accept(command, undefined, sendOptions?.dropWhenFull !== true)

  const stats = Effect.map(Ref.get(counters), (c): CommandQueueStats => {
    const processed = c.succeeded + c.failed + c.died + c.interrupted
    const queued = c.accepted - c.started
    return {
      name,
      capacity,
      concurrency,
      accepted: c.accepted,
      dropped: c.dropped,
      rejected: c.rejected,
      succeeded: c.succeeded,
      failed: c.failed,
      died: c.died,
      interrupted: c.interrupted,
      processed,
      queued,
      inFlight: c.started - processed,
      saturation: Math.min(1, queued / capacity),
      averageWaitMillis: c.started === 0 ? 0 : c.waitMillis / c.started,
      byLabel: c.byLabel
    }
  })

  return {
    submit,
    send,
    stats,
    saturation: Effect.map(stats, (s) => s.saturation),
    shutdown
  }
})
