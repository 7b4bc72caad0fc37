/**
 * Server-side retry backoff (REFERENCE 7.2, DESIGN 4.4): how long a retryably failed step waits
 * before it may run again. Pure, apart from the clock (an HTTP-date `Retry-After`) and effect's
 * `Random` (jitter), so tests drive both with `TestClock` and `Random.withSeed`.
 *
 * 1. A handler's request wins: a `Retry-After` response header (any letter case; integer seconds or
 *    an HTTP date), else `orchestration_metadata.backoff_hint.delay_seconds`; capped at
 *    `maxSeconds`.
 * 2. Otherwise exponential: `baseSeconds · multiplier^attempts`, capped at `maxSeconds`, then
 *    ± uniform jitter up to `jitterMaxFraction` of it (when `jitter` is on), kept within
 *    `[0, maxSeconds]`.
 *
 * Results are whole seconds (`workflow_steps.backoff_request_seconds` is an integer); readiness
 * then holds the step until `last_attempted_at + backoff`.
 *
 * @since 0.1.0
 */
import { Clock, DateTime, Effect, Option, Random } from "effect"
import type { TaskerSettings } from "../../../config/TaskerConfig.ts"
import type { StepExecutionResult } from "../../../domain/StepExecutionResult.ts"

/** @category models @since 0.1.0 */
export type BackoffSettings = TaskerSettings["backoff"]

/** Where the delay came from. @category models @since 0.1.0 */
export type BackoffSource = "retry_after" | "backoff_hint" | "exponential"

/** @category models @since 0.1.0 */
export interface Backoff {
  readonly seconds: number
  readonly source: BackoffSource
}

const integerSeconds = /^\s*\d+\s*$/

/**
 * The `Retry-After` header's delay in whole seconds at `nowMillis`: integer seconds, or an HTTP
 * date (a date in the past is 0). None when absent or unreadable.
 *
 * @category parsing
 * @since 0.1.0
 */
export const retryAfterSeconds = (headers: Readonly<Record<string, string>>, nowMillis: number): Option.Option<number> => {
  const key = Object.keys(headers).find((name) => name.toLowerCase() === "retry-after")
  if (key === undefined) return Option.none()
  const value = headers[key]!
  if (integerSeconds.test(value)) return Option.some(Number.parseInt(value.trim(), 10))
  return Option.map(
    DateTime.make(value.trim()),
    (date) => Math.max(0, Math.ceil((DateTime.toEpochMillis(date) - nowMillis) / 1000))
  )
}

/**
 * `base · multiplier^attempts`, capped at `max` (no jitter).
 *
 * @category computations
 * @since 0.1.0
 */
export const exponentialSeconds = (attempts: number, settings: BackoffSettings): number =>
  Math.min(settings.baseSeconds * Math.pow(settings.multiplier, Math.max(0, attempts)), settings.maxSeconds)

const clampSeconds = (seconds: number, settings: BackoffSettings): number =>
  Math.min(Math.max(0, Math.round(seconds)), Math.max(0, Math.floor(settings.maxSeconds)))

/**
 * The backoff for a failed execution after `attempts` executions (the step's `attempts`, counted
 * at claim time).
 *
 * @category computations
 * @since 0.1.0
 */
export const calculateBackoff = (
  result: StepExecutionResult,
  attempts: number,
  settings: BackoffSettings
): Effect.Effect<Backoff> =>
  Effect.gen(function*() {
    const metadata = result.orchestration_metadata
    if (metadata !== null) {
      const retryAfter = retryAfterSeconds(metadata.headers, yield* Clock.currentTimeMillis)
      if (Option.isSome(retryAfter)) return { seconds: clampSeconds(retryAfter.value, settings), source: "retry_after" }
      const hint = metadata.backoff_hint?.delay_seconds
      if (hint !== undefined) return { seconds: clampSeconds(hint, settings), source: "backoff_hint" }
    }
    const base = exponentialSeconds(attempts, settings)
    const fraction = settings.jitter ? Math.max(0, settings.jitterMaxFraction) : 0
    const jitter = fraction > 0 ? base * fraction * (2 * (yield* Random.next) - 1) : 0
    return { seconds: clampSeconds(base + jitter, settings), source: "exponential" }
  })
