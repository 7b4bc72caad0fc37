/**
 * One circuit breaker for one dependency (REFERENCE 6.7): Closed → Open after `failureThreshold`
 * consecutive failures → HalfOpen once the open delay has passed → Closed after `successThreshold`
 * consecutive trial successes; any trial failure re-opens. While Open, `protect` fails with
 * `CircuitOpen` without running the effect; in HalfOpen at most `successThreshold` trials run at once.
 *
 * The open delay comes from a `Schedule` (default `Schedule.spaced(openTimeout)`): the n-th opening
 * in a row lasts the schedule's n-th delay (the last delay repeats once the schedule ends), so with
 * `exponentialOpenSchedule` repeated re-openings back off up to a cap. The count resets once the
 * circuit has stayed closed as long as it was last open. Transitions are lazy: they happen when a
 * call, `state`, `isOpen` or `metrics` reads the `Clock`, so no fiber runs and `TestClock` drives it.
 *
 * Why not `effect/persistence/CircuitBreaker` (4.1.0, experimental): its HalfOpen admits exactly one
 * probe and closes on the first success, while Tasker needs `successThreshold` consecutive successes
 * with up to that many concurrent trials; that state machine lives in its `CircuitBreakerStore`, so
 * building on it means writing a store anyway, and then translating its `CircuitBreakerError` reason
 * union into our flat `CircuitOpen`. It also keeps no call metrics and its `state` never moves
 * Open → HalfOpen by itself. We borrow its ideas: interruption-only exits are ignored, the open delay
 * replays a Schedule by opening count, and an epoch fences outcomes from before a transition.
 *
 * @since 0.1.0
 */
import { Cause, Clock, DateTime, Duration, Effect, Exit, PubSub, Schedule, Schema, Stream, SynchronizedRef } from "effect"
import type { Scope } from "effect"

/** @category models @since 0.1.0 */
export const CircuitState = Schema.Literals(["Closed", "Open", "HalfOpen"])
/** @category models @since 0.1.0 */
export type CircuitState = typeof CircuitState.Type

/**
 * A call rejected by an open circuit (or by a half-open one whose trial slots are all taken, with a
 * zero `retryAfter`). The effect was not run.
 *
 * @category errors
 * @since 0.1.0
 */
export class CircuitOpen extends Schema.TaggedError<CircuitOpen>()("CircuitOpen", {
  name: Schema.String,
  retryAfter: Schema.DurationFromMillis
}) {
  override get message() {
    return `circuit breaker "${this.name}" is open; retry after ${Duration.format(this.retryAfter)}`
  }
}

/**
 * `openSchedule` overrides the constant `openTimeout` delay (its input is the opening count).
 *
 * @category models
 * @since 0.1.0
 */
export interface CircuitBreakerConfig {
  readonly failureThreshold: number
  readonly openTimeout: Duration.Input
  readonly successThreshold: number
  readonly openSchedule?: Schedule.Schedule<unknown, number> | undefined
}

/** Base defaults (REFERENCE Appendix): 5 failures / 30 s / 2 successes. @category constructors @since 0.1.0 */
export const defaultConfig: CircuitBreakerConfig = { failureThreshold: 5, openTimeout: "30 seconds", successThreshold: 2 }

/**
 * Open delays `base, 2·base, 4·base, …` capped at `max`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const exponentialOpenSchedule = (base: Duration.Input, max: Duration.Input): Schedule.Schedule<unknown, number> =>
  Schedule.min([Schedule.exponential(base), Schedule.spaced(max)])

/** A state change; `openFor` is set when `to` is `Open`. @category models @since 0.1.0 */
export interface Transition {
  readonly name: string
  readonly from: CircuitState
  readonly to: CircuitState
  readonly at: DateTime.Utc
  readonly openFor: Duration.Duration | undefined
}

/**
 * `totalCalls` counts calls that ran (admitted), `rejectedCalls` those failed fast with `CircuitOpen`.
 * `openings` is the number of consecutive openings that drives the open-delay schedule.
 *
 * @category models
 * @since 0.1.0
 */
export interface CircuitBreakerMetrics {
  readonly name: string
  readonly state: CircuitState
  readonly consecutiveFailures: number
  readonly consecutiveSuccesses: number
  readonly totalCalls: number
  readonly totalFailures: number
  readonly rejectedCalls: number
  readonly openings: number
  readonly retryAfter: Duration.Duration
  readonly lastStateChangeAt: DateTime.Utc
}

/** @category models @since 0.1.0 */
export interface CircuitBreaker {
  readonly name: string
  readonly config: CircuitBreakerConfig
  /** Runs `self` through the circuit; only its typed failures and defects count as failures. */
  readonly protect: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitOpen, R>
  readonly state: Effect.Effect<CircuitState>
  readonly isOpen: Effect.Effect<boolean>
  readonly metrics: Effect.Effect<CircuitBreakerMetrics>
  /** Every transition from the moment the stream starts (a sliding buffer of 256: a slow reader loses the oldest). */
  readonly transitions: Stream.Stream<Transition>
  /** A subscription that sees every transition after it is taken, for consumers that must not race. */
  readonly subscribe: Effect.Effect<PubSub.Subscription<Transition>, never, Scope.Scope>
}

interface Circuit {
  readonly state: CircuitState
  /** Bumped on every transition; an outcome admitted under an older epoch changes no state. */
  readonly epoch: number
  readonly consecutiveFailures: number
  readonly consecutiveSuccesses: number
  readonly trials: number
  readonly openUntil: number
  readonly openings: number
  readonly lastOpenFor: number
  readonly closedAt: number
  readonly changedAt: number
  readonly totalCalls: number
  readonly totalFailures: number
  readonly rejectedCalls: number
}

interface Ticket {
  readonly epoch: number
}

type Outcome = "success" | "failure" | "ignored"

const outcomeOf = <A, E>(exit: Exit.Exit<A, E>): Outcome =>
  Exit.isSuccess(exit) ? "success" : Cause.hasInterruptsOnly(exit.cause) ? "ignored" : "failure"

/**
 * Replays the schedule for the n-th consecutive opening against a simulated clock (so `upTo` and
 * `during` measure time spent open). Past 1024 openings the 1024th delay repeats, bounding the work.
 */
const openDelay = (schedule: Schedule.Schedule<unknown, number>, fallback: Duration.Duration) =>
  Effect.fnUntraced(function*(opening: number) {
    const step = yield* Schedule.toStep(schedule)
    let now = 0
    let delay: Duration.Duration | undefined
    for (let attempt = 1; attempt <= Math.min(opening, 1024); attempt++) {
      const result = yield* Effect.exit(step(now, attempt))
      if (Exit.isFailure(result)) break
      delay = result.value[1]
      now += Duration.toMillis(delay)
    }
    return delay ?? fallback
  })

const positiveInt = (field: string, value: number) => {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`CircuitBreaker: ${field} must be an integer >= 1, got ${value}`)
  }
}

/**
 * Builds a breaker. Throws a `RangeError` (a defect) for thresholds below 1.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeCircuitBreaker = Effect.fnUntraced(function*(
  name: string,
  config: CircuitBreakerConfig = defaultConfig
): Effect.fn.Return<CircuitBreaker> {
  positiveInt("failureThreshold", config.failureThreshold)
  positiveInt("successThreshold", config.successThreshold)
  const openTimeout = Duration.fromInputUnsafe(config.openTimeout)
  const delayFor = openDelay(config.openSchedule ?? Schedule.spaced(openTimeout), openTimeout)
  const pubsub = yield* PubSub.sliding<Transition>(256)
  const ref = yield* SynchronizedRef.make<Circuit>({
    state: "Closed",
    epoch: 0,
    consecutiveFailures: 0,
    consecutiveSuccesses: 0,
    trials: 0,
    openUntil: 0,
    openings: 0,
    lastOpenFor: 0,
    closedAt: 0,
    changedAt: yield* Clock.currentTimeMillis,
    totalCalls: 0,
    totalFailures: 0,
    rejectedCalls: 0
  })

  // Runs `f` under the ref's lock with the current time, publishing its transitions in order.
  const transact = <B>(f: (c: Circuit, now: number, moves: Array<Transition>) => Effect.Effect<readonly [B, Circuit]>) =>
    SynchronizedRef.modifyEffect(ref, (c) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const moves: Array<Transition> = []
        const result = yield* f(c, now, moves)
        if (moves.length > 0) yield* PubSub.publishAll(pubsub, moves)
        return result
      }))

  const move = (c: Circuit, to: CircuitState, now: number, moves: Array<Transition>, openFor?: Duration.Duration) => {
    moves.push({ name, from: c.state, to, at: DateTime.makeUnsafe(now), openFor })
    return { ...c, state: to, epoch: c.epoch + 1, trials: 0, changedAt: now }
  }

  // Open → HalfOpen once the delay has passed; every read goes through this.
  const advance = (c: Circuit, now: number, moves: Array<Transition>): Circuit =>
    c.state === "Open" && now >= c.openUntil
      ? { ...move(c, "HalfOpen", now, moves), consecutiveFailures: 0, consecutiveSuccesses: 0 }
      : c

  const open = Effect.fnUntraced(function*(c: Circuit, now: number, moves: Array<Transition>) {
    const settled = c.state === "Closed" && now - c.closedAt >= c.lastOpenFor
    const openings = (settled ? 0 : c.openings) + 1
    const openFor = yield* delayFor(openings)
    const millis = Duration.toMillis(openFor)
    return { ...move(c, "Open", now, moves, openFor), openUntil: now + millis, openings, lastOpenFor: millis }
  })

  const admit = transact<Ticket | CircuitOpen>((current, now, moves) => {
    const c = advance(current, now, moves)
    const reject = (retryAfter: number) =>
      Effect.succeed([
        new CircuitOpen({ name, retryAfter: Duration.millis(retryAfter) }),
        { ...c, rejectedCalls: c.rejectedCalls + 1 }
      ] as const)
    if (c.state === "Open") return reject(c.openUntil - now)
    if (c.state === "HalfOpen" && c.trials >= config.successThreshold) return reject(0)
    const trials = c.state === "HalfOpen" ? c.trials + 1 : c.trials
    return Effect.succeed([{ epoch: c.epoch }, { ...c, trials, totalCalls: c.totalCalls + 1 }] as const)
  })

  const record = (ticket: Ticket, outcome: Outcome) =>
    transact<void>(Effect.fnUntraced(function*(current, now, moves) {
      const counted = outcome === "failure" ? { ...current, totalFailures: current.totalFailures + 1 } : current
      if (ticket.epoch !== counted.epoch) return [undefined, counted] as const
      const c = counted.state === "HalfOpen" ? { ...counted, trials: counted.trials - 1 } : counted
      if (outcome === "ignored") return [undefined, c] as const
      if (outcome === "failure") {
        const failed = { ...c, consecutiveFailures: c.consecutiveFailures + 1, consecutiveSuccesses: 0 }
        const trips = c.state === "HalfOpen" || failed.consecutiveFailures >= config.failureThreshold
        return [undefined, trips ? yield* open(failed, now, moves) : failed] as const
      }
      const succeeded = { ...c, consecutiveFailures: 0, consecutiveSuccesses: c.consecutiveSuccesses + 1 }
      if (c.state === "HalfOpen" && succeeded.consecutiveSuccesses >= config.successThreshold) {
        return [undefined, { ...move(succeeded, "Closed", now, moves), consecutiveSuccesses: 0, closedAt: now }] as const
      }
      return [undefined, succeeded] as const
    }))

  // Generic, so not `Effect.fn` (it would erase A, E, R); the span is added by hand. The effect runs
  // interruptibly, but admission and recording do not, so an interrupted trial always frees its slot.
  const protect = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | CircuitOpen, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(admit, (ticket): Effect.Effect<A, E | CircuitOpen, R> =>
        ticket instanceof CircuitOpen
          ? Effect.fail(ticket)
          : Effect.flatMap(Effect.exit(restore(self)), (exit) => Effect.andThen(record(ticket, outcomeOf(exit)), exit)))
    ).pipe(Effect.withSpan("CircuitBreaker.protect", { attributes: { "circuit_breaker.name": name } }))

  const read = transact<readonly [Circuit, number]>((current, now, moves) => {
    const c = advance(current, now, moves)
    return Effect.succeed([[c, now], c] as const)
  })

  const state = Effect.map(read, ([c]) => c.state)

  const metrics = Effect.map(read, ([c, now]): CircuitBreakerMetrics => ({
    name,
    state: c.state,
    consecutiveFailures: c.consecutiveFailures,
    consecutiveSuccesses: c.consecutiveSuccesses,
    totalCalls: c.totalCalls,
    totalFailures: c.totalFailures,
    rejectedCalls: c.rejectedCalls,
    openings: c.openings,
    retryAfter: Duration.millis(c.state === "Open" ? Math.max(0, c.openUntil - now) : 0),
    lastStateChangeAt: DateTime.makeUnsafe(c.changedAt)
  }))

  return {
    name,
    config,
    protect,
    state,
    isOpen: Effect.map(state, (s) => s === "Open"),
    metrics,
    transitions: Stream.fromPubSub(pubsub),
    subscribe: PubSub.subscribe(pubsub)
  }
})
