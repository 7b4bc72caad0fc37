import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Logger, Ref, Schema } from "effect"
import * as CommandQueue from "../../src/orchestration/CommandQueue.ts"

class Boom extends Schema.TaggedError<Boom>()("Boom", { id: Schema.Number }) {}

interface Cmd {
  readonly id: number
  readonly key?: string | undefined
  readonly kind?: "ok" | "fail" | "die" | "throw" | undefined
}

const keyOf = (c: Cmd) => c.key
/** Polls a condition that another fiber will make true. */
const eventually = (check: Effect.Effect<boolean>) =>
  Effect.gen(function*() {
    while (!(yield* check)) yield* Effect.sleep("1 millis")
  })

const cmds = (n: number, key?: string) => Array.from({ length: n }, (_, i): Cmd => ({ id: i, key }))

/** Counts how many handlers run at once (overall and per key) while each sleeps a little. */
const makeProbe = Effect.gen(function*() {
  const active = yield* Ref.make(0)
  const maxActive = yield* Ref.make(0)
  const perKey = new Map<string, number>()
  let keyOverlap = false
  const started: Array<string> = []
  const handle = (c: Cmd) =>
    Effect.gen(function*() {
      const now = yield* Ref.updateAndGet(active, (n) => n + 1)
      yield* Ref.update(maxActive, (m) => Math.max(m, now))
      const k = c.key ?? "-"
      perKey.set(k, (perKey.get(k) ?? 0) + 1)
      if (c.key !== undefined && perKey.get(k)! > 1) keyOverlap = true
      started.push(`${k}${c.id}`)
      yield* Effect.sleep("10 millis")
      perKey.set(k, perKey.get(k)! - 1)
      yield* Ref.update(active, (n) => n - 1)
      return c.id
    })
  return { handle, maxActive, started, overlapped: () => keyOverlap }
})

describe("CommandQueue", () => {
  it.live("never runs more than `concurrency` commands at once", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      const q = yield* CommandQueue.make({ concurrency: 3, keyOf, handle: probe.handle })
      const results = yield* Effect.forEach(cmds(20), q.submit, { concurrency: "unbounded" })
      assert.deepStrictEqual(results, cmds(20).map((c) => c.id))
      assert.strictEqual(yield* Ref.get(probe.maxActive), 3)
    }).pipe(Effect.scoped))

  it.live("serializes one key in FIFO order while other keys run in parallel", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      const q = yield* CommandQueue.make({ concurrency: 4, keyOf, handle: probe.handle })
      for (let i = 0; i < 5; i++) {
        yield* q.send({ id: i, key: "a" })
        yield* q.send({ id: i, key: "b" })
      }
      yield* q.shutdown
      assert.isFalse(probe.overlapped(), "two commands of one key overlapped")
      assert.deepStrictEqual(probe.started.filter((s) => s.startsWith("a")), ["a0", "a1", "a2", "a3", "a4"])
      assert.deepStrictEqual(probe.started.filter((s) => s.startsWith("b")), ["b0", "b1", "b2", "b3", "b4"])
      assert.strictEqual(yield* Ref.get(probe.maxActive), 2)
    }).pipe(Effect.scoped))

  it.live("commands waiting for their key do not hold running slots", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      const q = yield* CommandQueue.make({ concurrency: 2, keyOf, handle: probe.handle })
      for (const c of cmds(5, "hot")) yield* q.send(c)
      yield* q.send({ id: 0, key: "cold" })
      yield* q.send({ id: 1 })
      yield* q.shutdown
      // Both run next to hot0 instead of waiting behind the whole hot chain.
      assert.deepStrictEqual(probe.started.slice(0, 3).sort(), ["-1", "cold0", "hot0"])
      assert.isFalse(probe.overlapped())
    }).pipe(Effect.scoped))

  it.live("a failing, dying or throwing command does not stop later ones; callers get the failure", () =>
    Effect.gen(function*() {
      const logs: Array<{ readonly message: unknown; readonly cause: Cause.Cause<unknown> }> = []
      const capture = Logger.make((o) => {
        logs.push({ message: o.message, cause: o.cause })
      })
      const handle = (c: Cmd): Effect.Effect<number, Boom> => {
        if (c.kind === "throw") throw new Error("thrown while building")
        return c.kind === "fail"
          ? Effect.fail(new Boom({ id: c.id }))
          : c.kind === "die"
          ? Effect.die("kaboom")
          : Effect.succeed(c.id)
      }
      yield* Effect.gen(function*() {
        const q = yield* CommandQueue.make({ concurrency: 1, keyOf, handle, labelOf: (c: Cmd) => c.kind ?? "ok" })
        const failed = yield* Effect.exit(q.submit({ id: 1, kind: "fail", key: "t" }))
        const died = yield* Effect.exit(q.submit({ id: 2, kind: "die", key: "t" }))
        const threw = yield* Effect.exit(q.submit({ id: 3, kind: "throw", key: "t" }))
        assert.deepStrictEqual(failed, Exit.fail(new Boom({ id: 1 })))
        assert.isTrue(Exit.isFailure(died) && Cause.hasDies(died.cause))
        assert.isTrue(Exit.isFailure(threw) && Cause.hasDies(threw.cause))
        assert.isTrue(yield* q.send({ id: 4, kind: "fail", key: "t" }))
        assert.isTrue(yield* q.send({ id: 5, kind: "die" }))
        assert.strictEqual(yield* q.submit({ id: 6, key: "t" }), 6)
        yield* q.shutdown
        const stats = yield* q.stats
        assert.deepStrictEqual(
          { succeeded: stats.succeeded, failed: stats.failed, died: stats.died, processed: stats.processed },
          { succeeded: 1, failed: 2, died: 3, processed: 6 }
        )
        assert.deepStrictEqual(stats.byLabel["fail"], { succeeded: 0, failed: 2, died: 0, interrupted: 0 })
      }).pipe(Effect.scoped, Effect.provide(Logger.layer([capture])))
      // Only the two send() failures are logged, each with its cause.
      const errors = logs.filter((l) => String(l.message).includes("command failed"))
      assert.strictEqual(errors.length, 2)
      assert.isTrue(errors.some((l) => Cause.hasFails(l.cause)))
      assert.isTrue(errors.some((l) => Cause.hasDies(l.cause)))
    }))

  it.live("backpressure: a full backlog suspends submit and drops send({ dropWhenFull })", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const running = yield* Deferred.make<void>()
      const q = yield* CommandQueue.make({
        capacity: 2,
        concurrency: 1,
        keyOf,
        handle: (c: Cmd) => Deferred.succeed(running, undefined).pipe(Effect.andThen(Deferred.await(gate)), Effect.as(c.id))
      })
      const first = yield* Effect.forkChild(q.submit({ id: 1 }))
      yield* Deferred.await(running)
      // The running command left the backlog: two more fill it.
      const queued = yield* Effect.forEach([2, 3], (id) => Effect.forkChild(q.submit({ id })))
      yield* eventually(Effect.map(q.stats, (s) => s.queued === 2))
      const blocked = yield* Effect.forkChild(q.submit({ id: 4 }))
      yield* Effect.sleep("20 millis")
      assert.strictEqual((yield* q.stats).accepted, 3, "the submit beyond capacity is not accepted")
      assert.isUndefined(blocked.pollUnsafe(), "the submit beyond capacity suspends")
      assert.isFalse(yield* q.send({ id: 5 }, { dropWhenFull: true }))
      const full = yield* q.stats
      assert.deepStrictEqual([full.queued, full.inFlight, full.saturation, full.dropped], [2, 1, 1, 1])
      yield* Deferred.succeed(gate, undefined)
      assert.deepStrictEqual(yield* Fiber.joinAll([first, ...queued, blocked]), [1, 2, 3, 4])
      assert.strictEqual(yield* q.saturation, 0)
    }).pipe(Effect.scoped))

  it.live("closing the scope drains: every queued command completes first", () =>
    Effect.gen(function*() {
      const done = yield* Ref.make<Array<number>>([])
      yield* Effect.gen(function*() {
        const q = yield* CommandQueue.make({
          concurrency: 2,
          keyOf,
          handle: (c: Cmd) => Effect.sleep("5 millis").pipe(Effect.andThen(Ref.update(done, (xs) => [...xs, c.id])))
        })
        for (const c of cmds(10)) assert.isTrue(yield* q.send(c))
        assert.isBelow((yield* Ref.get(done)).length, 10)
      }).pipe(Effect.scoped)
      assert.deepStrictEqual((yield* Ref.get(done)).sort((a, b) => a - b), cmds(10).map((c) => c.id))
    }))

  it.live("after shutdown submit fails with CommandQueueShutdown and send returns false", () =>
    Effect.gen(function*() {
      const q = yield* CommandQueue.make({ concurrency: 1, keyOf, handle: (c: Cmd) => Effect.succeed(c.id) })
      assert.strictEqual(yield* q.submit({ id: 1 }), 1)
      yield* q.shutdown
      const error = yield* Effect.flip(q.submit({ id: 2 }))
      assert.instanceOf(error, CommandQueue.CommandQueueShutdown)
      assert.isFalse(yield* q.send({ id: 3 }))
      const stats = yield* q.stats
      assert.deepStrictEqual([stats.accepted, stats.rejected, stats.processed], [1, 2, 1])
    }).pipe(Effect.scoped))

  it.live("interrupting a submit caller does not cancel the accepted command", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const running = yield* Deferred.make<void>()
      const finished = yield* Deferred.make<number>()
      const q = yield* CommandQueue.make({
        concurrency: 1,
        keyOf,
        handle: (c: Cmd) =>
          Deferred.succeed(running, undefined).pipe(
            Effect.andThen(Deferred.await(gate)),
            Effect.andThen(Deferred.succeed(finished, c.id))
          )
      })
      const caller = yield* Effect.forkChild(q.submit({ id: 7, key: "t" }))
      yield* Deferred.await(running)
      yield* Fiber.interrupt(caller)
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* Deferred.await(finished), 7)
      yield* q.shutdown
      const stats = yield* q.stats
      assert.deepStrictEqual([stats.succeeded, stats.interrupted, stats.inFlight, stats.queued], [1, 0, 0, 0])
    }).pipe(Effect.scoped))

  it.live("stats count accepted, outcomes, labels and wait time", () =>
    Effect.gen(function*() {
      const q = yield* CommandQueue.make({
        name: "test-queue",
        capacity: 10,
        concurrency: 2,
        keyOf,
        labelOf: (c: Cmd) => (c.id % 2 === 0 ? "even" : "odd"),
        handle: (c: Cmd) => (c.kind === "fail" ? Effect.fail(new Boom({ id: c.id })) : Effect.succeed(c.id))
      })
      yield* Effect.forEach(cmds(6, "k"), q.submit, { concurrency: "unbounded" })
      yield* Effect.exit(q.submit({ id: 7, kind: "fail" }))
      const stats = yield* q.stats
      assert.strictEqual(stats.name, "test-queue")
      assert.deepStrictEqual(
        [stats.accepted, stats.processed, stats.succeeded, stats.failed, stats.queued, stats.inFlight, stats.saturation],
        [7, 7, 6, 1, 0, 0, 0]
      )
      assert.deepStrictEqual(stats.byLabel, {
        even: { succeeded: 3, failed: 0, died: 0, interrupted: 0 },
        odd: { succeeded: 3, failed: 1, died: 0, interrupted: 0 }
      })
      assert.isAtLeast(stats.averageWaitMillis, 0)
    }).pipe(Effect.scoped))
})
