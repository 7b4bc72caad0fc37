/**
 * Handlers of the public `health` group (REFERENCE 6.8). Readiness checks the database now
 * (`SELECT 1`, 1 s), the health evaluator's last view of it, the circuit breakers (open =
 * unhealthy, half-open = degraded), the evaluation itself and the command queue's saturation;
 * any unhealthy check answers 503 `NotReady` with every check.
 *
 * @since 0.1.0
 */
import { DateTime, Duration, Effect, Option } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { TaskerConfig } from "../../config/TaskerConfig.ts"
import { MessageClient } from "../../messaging/MessageClient.ts"
import { CommandProcessor } from "../../orchestration/CommandProcessor.ts"
import type { SystemHealth } from "../../orchestration/commands/CommandResults.ts"
import type { CircuitBreakerMetrics } from "../../orchestration/resilience/CircuitBreaker.ts"
import { CircuitBreakers } from "../../orchestration/resilience/CircuitBreakers.ts"
import { HealthReport } from "../../orchestration/resilience/HealthReport.ts"
import { SystemQueries } from "../queries/SystemQueries.ts"
import { type HealthCheck, NotReady, type Readiness } from "../schemas/HealthSchemas.ts"
import { TaskerApi } from "../TaskerApi.ts"
import { renderMetrics } from "./Metrics.ts"

const check = (status: HealthCheck["status"], message: string): HealthCheck => ({ status, message })

const breakerCheck = (breakers: ReadonlyArray<CircuitBreakerMetrics>): HealthCheck => {
  const open = breakers.filter((b) => b.state === "Open").map((b) => b.name)
  const halfOpen = breakers.filter((b) => b.state === "HalfOpen").map((b) => b.name)
  return open.length > 0
    ? check("unhealthy", `open: ${open.join(", ")}`)
    : halfOpen.length > 0
    ? check("degraded", `half-open: ${halfOpen.join(", ")}`)
    : check("healthy", "all closed")
}

const snakeHealth = (h: SystemHealth) => ({
  status: h.status,
  database_connected: h.databaseConnected,
  message_queues_healthy: h.messageQueuesHealthy,
  active_processors: h.activeProcessors,
  circuit_breaker_open: h.circuitBreakerOpen,
  circuit_breaker_failures: h.circuitBreakerFailures,
  command_channel_saturation_percent: h.commandChannelSaturationPercent,
  backpressure_active: h.backpressureActive,
  backpressure_reason: h.backpressureReason ?? null,
  retry_after_seconds: h.retryAfterSeconds ?? null,
  queue_depth_tier: h.queueDepthTier,
  queue_depth_max: h.queueDepthMax,
  queue_depth_worst_queue: h.queueDepthWorstQueue ?? null,
  health_evaluated: h.healthEvaluated,
  evaluated_at: h.evaluatedAt ?? null
})

/** @category handlers @since 0.1.0 */
export const HealthHandlers = HttpApiBuilder.group(
  TaskerApi,
  "health",
  Effect.fn(function*(handlers) {
    const report = yield* HealthReport
    const processor = yield* CommandProcessor
    const breakers = yield* CircuitBreakers
    const messages = yield* MessageClient
    const queries = yield* SystemQueries
    const { backpressure } = yield* TaskerConfig

    const now = Effect.map(DateTime.now, DateTime.formatIso)
    const breakerMetrics = Effect.forEach(breakers.all, (b) => b.metrics)
    const queueMetrics = messages.metricsAll.pipe(Effect.option, Effect.map(Option.getOrUndefined))

    const readiness = Effect.gen(function*() {
      const [dbUp, health, saturation, breakerStates, timestamp] = yield* Effect.all(
        [queries.ping, report.current, processor.saturation, breakerMetrics, now],
        { concurrency: "unbounded" }
      )
      const checks: Readiness["checks"] = {
        web_database: dbUp ? check("healthy", "SELECT 1 answered") : check("unhealthy", "database unreachable"),
        orchestration_database: !health.healthEvaluated
          ? check("healthy", "not evaluated yet")
          : health.databaseConnected
          ? check("healthy", "connected at the last evaluation")
          : check("unhealthy", "unreachable at the last evaluation"),
        circuit_breaker: breakerCheck(breakerStates),
        orchestration_system: health.healthEvaluated
          ? check(health.status, health.backpressureReason ?? `status ${health.status}`)
          : check("degraded", "health not evaluated yet"),
        command_processor: saturation >= backpressure.saturationEmergency
          ? check("unhealthy", `command queue ${Math.round(saturation * 100)}% full`)
          : saturation >= backpressure.saturationWarning
          ? check("degraded", `command queue ${Math.round(saturation * 100)}% full`)
          : check("healthy", `command queue ${Math.round(saturation * 100)}% full`)
      }
      const ready = Object.values(checks).every((c) => c.status !== "unhealthy")
      return { status: ready ? "ready" : "not_ready", checks, timestamp } as const
    })

    return handlers.handleAll({
      basic: () => Effect.all({ status: Effect.map(report.current, (h) => h.status), timestamp: now }),
      live: () => Effect.map(now, (timestamp) => ({ status: "alive" as const, timestamp })),
      ready: () =>
        Effect.flatMap(readiness, (r) => r.status === "ready" ? Effect.succeed(r) : Effect.fail(new NotReady(r))),
      detailed: Effect.fn("HealthApi.detailed")(function*() {
        const [health, stats, breakerStates, queues, counts, timestamp] = yield* Effect.all(
          [report.current, processor.stats, breakerMetrics, queueMetrics, queries.stateCounts, now],
          { concurrency: "unbounded" }
        )
        return {
          status: health.status,
          timestamp,
          system_health: snakeHealth(health),
          processor: {
            task_requests_processed: stats.taskRequestsProcessed,
            step_results_processed: stats.stepResultsProcessed,
            tasks_finalized: stats.tasksFinalized,
            readiness_commands_processed: stats.readinessCommandsProcessed,
            processing_errors: stats.processingErrors,
            invalid_messages_archived: stats.invalidMessagesArchived,
            commands_queued: stats.commandsQueued,
            commands_in_flight: stats.commandsInFlight,
            command_channel_saturation: stats.commandChannelSaturation
          },
          circuit_breakers: breakerStates.map((b) => ({
            name: b.name,
            state: b.state,
            consecutive_failures: b.consecutiveFailures,
            consecutive_successes: b.consecutiveSuccesses,
            total_calls: b.totalCalls,
            total_failures: b.totalFailures,
            rejected_calls: b.rejectedCalls,
            openings: b.openings,
            retry_after_seconds: Duration.toSeconds(b.retryAfter),
            last_state_change_at: DateTime.formatIso(b.lastStateChangeAt)
          })),
          queues: (queues ?? []).map((q) => ({
            queue: q.queue,
            length: q.length,
            visible_length: q.visibleLength,
            oldest_message_age_seconds: q.oldestMessageAgeSeconds,
            newest_message_age_seconds: q.newestMessageAgeSeconds,
            total_messages: q.totalMessages
          })),
          queue_metrics_available: queues !== undefined,
          counts
        }
      }),
      metrics: Effect.fn("HealthApi.metrics")(function*() {
        const [counts, stats, health, breakerStates, queues] = yield* Effect.all(
          [queries.stateCounts, processor.stats, report.current, breakerMetrics, queueMetrics],
          { concurrency: "unbounded" }
        )
        return renderMetrics({ counts, stats, health, breakers: breakerStates, queues })
      })
    })
  })
)
