/**
 * The health and backpressure evaluator (REFERENCE 6.6): every `healthEvaluationInterval` it
 * checks the database (through the database circuit breaker, 1 s timeout), the command queue's
 * saturation and the queue depths, and caches a SystemHealth in HealthReport. Backpressure, in
 * order of precedence: an open breaker (retry after 30 s) > command queue ≥ emergency saturation
 * (15 s) > a queue ≥ overflow depth (60 s) > a queue ≥ critical depth (30 s). The API answers
 * `POST /v1/tasks` with 503 and Retry-After while it is active; the warning tier only logs.
 */
import { Context, DateTime, Effect, Layer, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import { TaskerConfig } from "../../config/TaskerConfig.ts"
import { MessageClient } from "../../messaging/MessageClient.ts"
import type { QueueDepthTier, SystemHealth } from "../commands/CommandResults.ts"
import { CommandProcessor } from "../CommandProcessor.ts"
import { CircuitBreakers } from "./CircuitBreakers.ts"
import { HealthReport } from "./HealthReport.ts"

export class HealthEvaluator extends Context.Service<HealthEvaluator, {
  /** Evaluates now and stores the result in HealthReport. */
  readonly evaluate: Effect.Effect<SystemHealth>
}>()("tasker/orchestration/resilience/HealthEvaluator") {
  static readonly layer = Layer.effect(
    HealthEvaluator,
    Effect.gen(function*() {
      const config = yield* TaskerConfig
      const sql = yield* SqlClient.SqlClient
      const messages = yield* MessageClient
      const processor = yield* CommandProcessor
      const breakers = yield* CircuitBreakers
      const report = yield* HealthReport
      const { backpressure, queues } = config

      const databaseConnected = breakers.database.protect(sql`SELECT 1`.pipe(Effect.timeout("1 second"))).pipe(
        Effect.as(true),
        Effect.catchCause(() => Effect.succeed(false))
      )

      const tierOf = (depth: number): QueueDepthTier =>
        depth >= queues.depthOverflow
          ? "Overflow"
          : depth >= queues.depthCritical
          ? "Critical"
          : depth >= queues.depthWarning
          ? "Warning"
          : "Normal"

      const evaluate = Effect.gen(function*() {
        const dbUp = yield* databaseConnected
        const saturation = yield* processor.saturation
        const metrics = yield* messages.metricsAll.pipe(Effect.option)
        const worst = metrics._tag === "Some"
          ? metrics.value.reduce<{ queue?: string; depth: number }>(
            (acc, m) => (m.length > acc.depth ? { queue: m.queue, depth: m.length } : acc),
            { depth: 0 }
          )
          : { depth: 0 }
        const tier = tierOf(worst.depth)
        const breakerMetrics = yield* Effect.forEach(breakers.all, (b) => b.metrics)
        const anyOpen = breakerMetrics.some((m) => m.state === "Open")
        const anyHalfOpen = breakerMetrics.some((m) => m.state === "HalfOpen")
        const pressure = anyOpen
          ? { reason: "circuit breaker open", retryAfterSeconds: 30 }
          : saturation >= backpressure.saturationEmergency
          ? { reason: "command queue saturated", retryAfterSeconds: 15 }
          : tier === "Overflow"
          ? { reason: `queue ${worst.queue} overflowing`, retryAfterSeconds: 60 }
          : tier === "Critical"
          ? { reason: `queue ${worst.queue} at critical depth`, retryAfterSeconds: 30 }
          : undefined
        const degraded = anyHalfOpen || tier === "Warning" || saturation >= backpressure.saturationWarning
        const now = yield* DateTime.now
        const health: SystemHealth = {
          status: !dbUp || anyOpen ? "unhealthy" : pressure || degraded ? "degraded" : "healthy",
          databaseConnected: dbUp,
          messageQueuesHealthy: metrics._tag === "Some" && tier !== "Overflow",
          activeProcessors: 1,
          circuitBreakerOpen: anyOpen,
          circuitBreakerFailures: breakerMetrics.reduce((n, m) => n + m.consecutiveFailures, 0),
          commandChannelSaturationPercent: Math.round(saturation * 1000) / 10,
          backpressureActive: pressure !== undefined,
          ...(pressure ? { backpressureReason: pressure.reason, retryAfterSeconds: pressure.retryAfterSeconds } : {}),
          queueDepthTier: tier,
          queueDepthMax: worst.depth,
          ...(worst.queue ? { queueDepthWorstQueue: worst.queue } : {}),
          healthEvaluated: true,
          evaluatedAt: DateTime.formatIso(now)
        }
        if (tier === "Warning") yield* Effect.logWarning(`queue ${worst.queue} depth ${worst.depth} (warning tier)`)
        yield* report.update(health)
        return health
      })
      return HealthEvaluator.of({ evaluate })
    })
  )
}

/** The periodic evaluation, a fiber of this layer's scope. */
export const HealthEvaluatorLive = Layer.effectDiscard(Effect.gen(function*() {
  const config = yield* TaskerConfig
  const evaluator = yield* HealthEvaluator
  yield* evaluator.evaluate.pipe(
    Effect.catchCause((cause) => Effect.logError("health evaluation failed", cause)),
    Effect.repeat(Schedule.spaced(config.orchestration.healthEvaluationInterval)),
    Effect.forkScoped
  )
}))
