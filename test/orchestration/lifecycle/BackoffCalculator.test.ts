/**
 * The backoff calculator (REFERENCE 7.2, DESIGN 4.4) with TestClock and seeded Random: handler
 * requests (Retry-After in seconds or as an HTTP date, backoff hints) win and are capped;
 * otherwise exponential, capped, with bounded, reproducible jitter.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Random } from "effect"
import { TestClock } from "effect/testing"
import { StepUuid } from "../../../src/domain/Ids.ts"
import { type OrchestrationMetadata, StepExecutionResult } from "../../../src/domain/StepExecutionResult.ts"
import {
  type BackoffSettings,
  calculateBackoff,
  exponentialSeconds,
  retryAfterSeconds
} from "../../../src/orchestration/lifecycle/result-processing/BackoffCalculator.ts"

const settings: BackoffSettings = { baseSeconds: 1, maxSeconds: 60, multiplier: 2, jitter: false, jitterMaxFraction: 0.15 }
const jittered: BackoffSettings = { ...settings, baseSeconds: 10, maxSeconds: 3600, jitter: true, jitterMaxFraction: 0.2 }

const failed = (metadata?: Partial<OrchestrationMetadata>) =>
  StepExecutionResult.failure({
    step_uuid: StepUuid.make("0190f3a4-1c2b-7d3e-8f41-000000000001"),
    message: "boom",
    retryable: true,
    ...(metadata === undefined ? {} : { orchestration_metadata: { headers: {}, custom: {}, ...metadata } })
  })

describe("BackoffCalculator", () => {
  it.effect("grows exponentially with the attempts and stops at the cap", () =>
    Effect.gen(function*() {
      const seconds: Array<number> = []
      for (const attempts of [0, 1, 2, 3, 5, 6, 10]) seconds.push((yield* calculateBackoff(failed(), attempts, settings)).seconds)
      assert.deepStrictEqual(seconds, [1, 2, 4, 8, 32, 60, 60])
      assert.strictEqual((yield* calculateBackoff(failed(), 1, settings)).source, "exponential")
      assert.strictEqual(exponentialSeconds(3, { ...settings, baseSeconds: 5, multiplier: 3 }), 60)
    }))

  it.effect("jitters within ± jitterMaxFraction, reproducibly for a seed", () =>
    Effect.gen(function*() {
      const draw = Effect.forEach([1, 2, 3, 4, 5, 6, 7, 8], (attempts) =>
        Effect.map(calculateBackoff(failed(), attempts, jittered), (b) => [attempts, b.seconds] as const))
      const first = yield* draw.pipe(Random.withSeed("tasker"))
      const second = yield* draw.pipe(Random.withSeed("tasker"))
      assert.deepStrictEqual(first, second)
      for (const [attempts, value] of first) {
        const base = Math.min(10 * 2 ** attempts, 3600)
        assert.isAtLeast(value, Math.floor(base * 0.8), `attempt ${attempts}`)
        assert.isAtMost(value, Math.min(Math.ceil(base * 1.2), 3600), `attempt ${attempts}`)
      }
      assert.isTrue(first.some(([attempts, value]) => value !== Math.min(10 * 2 ** attempts, 3600)), "some jitter applied")
      const other = yield* draw.pipe(Random.withSeed("another seed"))
      assert.notDeepEqual(first, other)
    }))

  it.effect("honours Retry-After in seconds, any letter case, capped", () =>
    Effect.gen(function*() {
      const seven = yield* calculateBackoff(failed({ headers: { "retry-AFTER": " 7 " } }), 5, jittered)
      assert.deepStrictEqual(seven, { seconds: 7, source: "retry_after" })
      const capped = yield* calculateBackoff(failed({ headers: { "Retry-After": "86400" } }), 1, settings)
      assert.deepStrictEqual(capped, { seconds: 60, source: "retry_after" })
    }))

  it.effect("honours Retry-After as an HTTP date against the clock", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2026-03-21T12:00:00Z"))
      const later = yield* calculateBackoff(failed({ headers: { "Retry-After": "Sat, 21 Mar 2026 12:00:45 GMT" } }), 1, settings)
      assert.deepStrictEqual(later, { seconds: 45, source: "retry_after" })
      const past = yield* calculateBackoff(failed({ headers: { "Retry-After": "Sat, 21 Mar 2026 11:00:00 GMT" } }), 1, settings)
      assert.deepStrictEqual(past, { seconds: 0, source: "retry_after" })
      assert.deepStrictEqual(retryAfterSeconds({ "Retry-After": "Sat, 21 Mar 2026 12:10:00 GMT" }, Date.parse("2026-03-21T12:00:00Z")), Option.some(600))
    }))

  it.effect("uses a backoff hint when there is no Retry-After, and ignores unreadable headers", () =>
    Effect.gen(function*() {
      const hint = { backoff_type: "RateLimit" as const, delay_seconds: 12 }
      assert.deepStrictEqual(yield* calculateBackoff(failed({ backoff_hint: hint }), 1, settings), { seconds: 12, source: "backoff_hint" })
      assert.deepStrictEqual(
        yield* calculateBackoff(failed({ headers: { "Retry-After": "soon" }, backoff_hint: hint }), 1, settings),
        { seconds: 12, source: "backoff_hint" }
      )
      assert.deepStrictEqual(
        yield* calculateBackoff(failed({ backoff_hint: { ...hint, delay_seconds: 1000 } }), 1, settings),
        { seconds: 60, source: "backoff_hint" }
      )
      assert.deepStrictEqual(yield* calculateBackoff(failed({ headers: { "X-Other": "1" } }), 2, settings), { seconds: 4, source: "exponential" })
      assert.isTrue(Option.isNone(retryAfterSeconds({ "Retry-After": "" }, 0)))
    }))
})
