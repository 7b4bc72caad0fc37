import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Deferred, Duration, Effect, Fiber, Layer, PubSub, Ref, Schema } from "effect"
import { TestClock } from "effect/testing"
import {
  type CircuitBreaker,
  CircuitOpen,
  exponentialOpenSchedule,
  makeCircuitBreaker
} from "../../../src/orchestration/resilience/CircuitBreaker.ts"
import { CircuitBreakers } from "../../../src/orchestration/resilience/CircuitBreakers.ts"

class Boom extends Schema.TaggedError<Boom>()("Boom", {}) {}

const fail = (breaker: CircuitBreaker) => breaker.protect(Effect.fail(new Boom())).pipe(Effect.flip)
const succeed = (breaker: CircuitBreaker) => breaker.protect(Effect.succeed("ok"))
const times = (n: number, effect: Effect.Effect<unknown, unknown>) => Effect.repeat(effect, { times: n - 1 })

const retryAfterMillis = (error: unknown) => {
  assert.instanceOf(error, CircuitOpen)
  return Duration.toMillis((error as CircuitOpen).retryAfter)
}

describe("CircuitBreaker", () => {
  it.effect("runs the full cycle closed → open → half-open → closed", () =>
    Effect.gen(function*() {
      const breaker = yield* makeCircuitBreaker("db", { failureThreshold: 3, openTimeout: "30 seconds", successThreshold: 2 })
      const transitions = yield* breaker.subscribe

      yield* times(2, fail(breaker))
      assert.strictEqual(yield* breaker.state, "Closed")
      const third = yield* fail(breaker)
      assert.instanceOf(third, Boom)
      assert.strictEqual(yield* breaker.state, "Open")
      assert.isTrue(yield* breaker.isOpen)

      const rejected = yield* succeed(breaker).pipe(Effect.flip)
      assert.strictEqual(retryAfterMillis(rejected), 30_000)
      assert.strictEqual((rejected as CircuitOpen).name, "db")

      yield* TestClock.adjust("29999 millis")
      assert.strictEqual(yield* breaker.state, "Open")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* breaker.state, "HalfOpen")
      assert.isFalse(yield* breaker.isOpen)

      assert.strictEqual(yield* succeed(breaker), "ok")
      assert.strictEqual(yield* breaker.state, "HalfOpen")
      yield* succeed(breaker)
      assert.strictEqual(yield* breaker.state, "Closed")

      const moves = yield* PubSub.takeAll(transitions)
      assert.deepStrictEqual(moves.map((t) => `${t.from}->${t.to}`), ["Closed->Open", "Open->HalfOpen", "HalfOpen->Closed"])
      assert.strictEqual(Duration.toMillis(moves[0].openFor!), 30_000)
      assert.strictEqual(moves[2].at.epochMilliseconds, 30_000)

      const metrics = yield* breaker.metrics
      assert.strictEqual(metrics.state, "Closed")
      assert.strictEqual(metrics.totalCalls, 5)
      assert.strictEqual(metrics.totalFailures, 3)
      assert.strictEqual(metrics.rejectedCalls, 1)
      assert.strictEqual(metrics.lastStateChangeAt.epochMilliseconds, 30_000)
    }))

  it.effect("re-opens on any failure in half-open", () =>
    Effect.gen(function*() {
      const breaker = yield* makeCircuitBreaker("db", { failureThreshold: 1, openTimeout: "10 seconds", successThreshold: 3 })
      yield* fail(breaker)
      yield* TestClock.adjust("10 seconds")
      yield* succeed(breaker)
      yield* succeed(breaker)
      assert.strictEqual(yield* breaker.state, "HalfOpen")
      yield* fail(breaker)
      assert.strictEqual(yield* breaker.state, "Open")
      const metrics = yield* breaker.metrics
      assert.strictEqual(metrics.consecutiveSuccesses, 0)
      assert.strictEqual(Duration.toMillis(metrics.retryAfter), 10_000)
    }))

  it.effect("backs off on repeated re-openings with an exponential, capped schedule", () =>
    Effect.gen(function*() {
      const breaker = yield* makeCircuitBreaker("mq", {
        failureThreshold: 1,
        openTimeout: "1 second",
        successThreshold: 1,
        openSchedule: exponentialOpenSchedule("1 second", "5 seconds")
      })
      const delays: Array<number> = []
      yield* fail(breaker)
      for (let i = 0; i < 5; i++) {
        const { retryAfter } = yield* breaker.metrics
        delays.push(Duration.toMillis(retryAfter))
        yield* TestClock.adjust(retryAfter)
        assert.strictEqual(yield* breaker.state, "HalfOpen")
        yield* fail(breaker) // the trial fails: re-open with the next delay
      }
      assert.deepStrictEqual(delays, [1000, 2000, 4000, 5000, 5000])
      assert.strictEqual((yield* breaker.metrics).openings, 6)

      // Recovered, and closed for at least as long as the last opening: the backoff starts over.
      yield* TestClock.adjust("5 seconds")
      yield* succeed(breaker)
      assert.strictEqual(yield* breaker.state, "Closed")
      yield* TestClock.adjust("5 seconds")
      yield* fail(breaker)
      assert.strictEqual(Duration.toMillis((yield* breaker.metrics).retryAfter), 1000)
    }))

  it.effect("keeps backing off when the circuit trips again soon after closing", () =>
    Effect.gen(function*() {
      const breaker = yield* makeCircuitBreaker("mq", {
        failureThreshold: 1,
        openTimeout: "1 second",
        successThreshold: 1,
        openSchedule: exponentialOpenSchedule("1 second", "1 minute")
      })
      yield* fail(breaker)
      yield* TestClock.adjust("1 second")
      yield* succeed(breaker)
      yield* fail(breaker) // flapping: closed for 0 s < 1 s last open
      assert.strictEqual(Duration.toMillis((yield* breaker.metrics).retryAfter), 2000)
    }))

  it.effect("fails fast while open without running the effect", () =>
    Effect.gen(function*() {
      const breaker = yield* makeCircuitBreaker("db", { failureThreshold: 2, openTimeout: "30 seconds", successThreshold: 1 })
      const runs = yield* Ref.make(0)
      const call = breaker.protect(Ref.update(runs, (n) => n + 1).pipe(Effect.andThen(Effect.fail(new Boom()))))
      yield* times(2, Effect.flip(call))
      assert.strictEqual(yield* Ref.get(runs), 2)

      yield* TestClock.adjust("10 seconds")
      for (let i = 0; i < 3; i++) {
        const error = yield* Effect.flip(call)
        assert.strictEqual(retryAfterMillis(error), 20_000)
      }
      assert.strictEqual(yield* Ref.get(runs), 2)
      const metrics = yield* breaker.metrics
      assert.strictEqual(metrics.rejectedCalls, 3)
      assert.strictEqual(metrics.totalCalls, 2)
    }))

  it.effect("a success in closed resets the consecutive-failure count", () =>
    Effect.gen(function*() {
      const breaker = yield* makeCircuitBreaker("db", { failureThreshold: 3, openTimeout: "30 seconds", successThreshold: 1 })
      yield* times(2, fail(breaker))
      assert.strictEqual((yield* breaker.metrics).consecutiveFailures, 2)
      yield* succeed(breaker)
      assert.strictEqual((yield* breaker.metrics).consecutiveFailures, 0)
      yield* times(2, fail(breaker))
      assert.strictEqual(yield* breaker.state, "Closed")
      yield* fail(breaker)
      assert.strictEqual(yield* breaker.state, "Open")
    }))

  it.effect("defects count as failures", () =>
    Effect.gen(function*() {
      const breaker = yield* makeCircuitBreaker("db", { failureThreshold: 1, openTimeout: "30 seconds", successThreshold: 1 })
      const exit = yield* Effect.exit(breaker.protect(Effect.die("kaboom")))
      assert.isTrue(exit._tag === "Failure")
      assert.strictEqual(yield* breaker.state, "Open")
    }))

  it.effect("limits concurrent trials in half-open to successThreshold", () =>
    Effect.gen(function*() {
      const breaker = yield* makeCircuitBreaker("db", { failureThreshold: 1, openTimeout: "5 seconds", successThreshold: 2 })
      yield* fail(breaker)
      yield* TestClock.adjust("5 seconds")

      const gate = yield* Deferred.make<void>()
      const runs = yield* Ref.make(0)
      const trial = breaker.protect(Ref.update(runs, (n) => n + 1).pipe(Effect.andThen(Deferred.await(gate))))
      const first = yield* Effect.forkChild(trial, { startImmediately: true })
      const second = yield* Effect.forkChild(trial, { startImmediately: true })
      assert.strictEqual(yield* Ref.get(runs), 2)

      const rejected = yield* Effect.flip(trial)
      assert.strictEqual(retryAfterMillis(rejected), 0)
      assert.strictEqual(yield* Ref.get(runs), 2)
      assert.strictEqual(yield* breaker.state, "HalfOpen")

      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      assert.strictEqual(yield* breaker.state, "Closed")
    }))

  it.effect("interruption does not count as a failure and frees a half-open trial slot", () =>
    Effect.gen(function*() {
      const breaker = yield* makeCircuitBreaker("db", { failureThreshold: 1, openTimeout: "5 seconds", successThreshold: 1 })
      const hung = yield* Effect.forkChild(breaker.protect(Effect.never), { startImmediately: true })
      yield* Fiber.interrupt(hung)
      let metrics = yield* breaker.metrics
      assert.strictEqual(metrics.state, "Closed")
      assert.strictEqual(metrics.consecutiveFailures, 0)
      assert.strictEqual(metrics.totalFailures, 0)

      yield* fail(breaker)
      yield* TestClock.adjust("5 seconds")
      const trial = yield* Effect.forkChild(breaker.protect(Effect.never), { startImmediately: true })
      assert.instanceOf(yield* Effect.flip(succeed(breaker)), CircuitOpen)
      yield* Fiber.interrupt(trial)
      assert.strictEqual(yield* breaker.state, "HalfOpen")
      yield* succeed(breaker)
      metrics = yield* breaker.metrics
      assert.strictEqual(metrics.state, "Closed")
      assert.strictEqual(metrics.totalFailures, 1)
    }))

  it.effect("outcomes of calls admitted before a transition change no state", () =>
    Effect.gen(function*() {
      const breaker = yield* makeCircuitBreaker("db", { failureThreshold: 1, openTimeout: "5 seconds", successThreshold: 1 })
      const gate = yield* Deferred.make<void>()
      const slow = yield* Effect.forkChild(breaker.protect(Deferred.await(gate)), { startImmediately: true })
      yield* fail(breaker)
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* breaker.state, "HalfOpen")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(slow) // admitted while closed: not a half-open trial
      assert.strictEqual(yield* breaker.state, "HalfOpen")
    }))

  it.effect("rejects thresholds below 1", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(makeCircuitBreaker("x", { failureThreshold: 0, openTimeout: "1 second", successThreshold: 1 }))
      assert.isTrue(exit._tag === "Failure")
    }))
})

describe("CircuitBreakers", () => {
  it.effect("layer uses the reference defaults", () =>
    Effect.gen(function*() {
      const breakers = yield* CircuitBreakers
      assert.deepStrictEqual(breakers.all.map((b) => b.name), ["database", "messaging", "taskReadiness"])
      assert.strictEqual(breakers.database.config.failureThreshold, 5)
      assert.strictEqual(breakers.messaging.config.successThreshold, 2)
      assert.strictEqual(breakers.taskReadiness.config.failureThreshold, 10)
      assert.strictEqual(Duration.toMillis(Duration.fromInputUnsafe(breakers.taskReadiness.config.openTimeout)), 60_000)
      assert.strictEqual(breakers.taskReadiness.config.successThreshold, 3)
    }).pipe(Effect.provide(CircuitBreakers.layer)))

  it.effect("layerConfig reads TASKER_CIRCUIT_BREAKER_* through the ConfigProvider", () =>
    Effect.gen(function*() {
      const { database, messaging, taskReadiness } = yield* CircuitBreakers
      assert.strictEqual(database.config.failureThreshold, 2)
      assert.strictEqual(Duration.toMillis(Duration.fromInputUnsafe(database.config.openTimeout)), 5_000)
      assert.strictEqual(database.config.successThreshold, 1)
      assert.strictEqual(messaging.config.failureThreshold, 5) // unset: default
      assert.strictEqual(taskReadiness.config.failureThreshold, 10)

      // TASK_READINESS has a max open timeout: re-openings back off 2 s, 4 s, 5 s.
      yield* times(10, fail(taskReadiness))
      const delays: Array<number> = []
      for (let i = 0; i < 3; i++) {
        const { retryAfter } = yield* taskReadiness.metrics
        delays.push(Duration.toMillis(retryAfter))
        yield* TestClock.adjust(retryAfter)
        yield* fail(taskReadiness)
      }
      assert.deepStrictEqual(delays, [2000, 4000, 5000])
    }).pipe(Effect.provide(CircuitBreakers.layerConfig.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({
      TASKER_CIRCUIT_BREAKER_DATABASE_FAILURE_THRESHOLD: "2",
      TASKER_CIRCUIT_BREAKER_DATABASE_OPEN_TIMEOUT: "5 seconds",
      TASKER_CIRCUIT_BREAKER_DATABASE_SUCCESS_THRESHOLD: "1",
      TASKER_CIRCUIT_BREAKER_TASK_READINESS_OPEN_TIMEOUT: "2 seconds",
      TASKER_CIRCUIT_BREAKER_TASK_READINESS_MAX_OPEN_TIMEOUT: "5 seconds"
    })))))))

  it.effect("layerConfig rejects invalid values", () =>
    Effect.gen(function*() {
      const invalid = (env: Record<string, string>) =>
        Effect.flip(Layer.build(CircuitBreakers.layerConfig.pipe(
          Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env)))
        )))
      const zero = yield* invalid({ TASKER_CIRCUIT_BREAKER_MESSAGING_FAILURE_THRESHOLD: "0" })
      assert.strictEqual(zero._tag, "ConfigError")
      const noUnit = yield* invalid({ TASKER_CIRCUIT_BREAKER_MESSAGING_OPEN_TIMEOUT: "30" })
      assert.strictEqual(noUnit._tag, "ConfigError")
      const negative = yield* invalid({ TASKER_CIRCUIT_BREAKER_MESSAGING_OPEN_TIMEOUT: "-1 seconds" })
      assert.strictEqual(negative._tag, "ConfigError")
    }))
})
