/**
 * The Prometheus text exposition (format 0.0.4) of `GET /metrics`: tasks and steps by state
 * (`get_system_health_counts`), the command processor's counters, queue depths, circuit breakers,
 * backpressure and the health status. Pure rendering; the handler gathers the inputs.
 *
 * @since 0.1.0
 */
import { Duration } from "effect"
import type { OrchestrationProcessingStats, SystemHealth } from "../../orchestration/commands/CommandResults.ts"
import type { CircuitBreakerMetrics } from "../../orchestration/resilience/CircuitBreaker.ts"
import type { QueueMetrics } from "../../messaging/MessageClient.ts"
import type { StateCounts } from "../schemas/HealthSchemas.ts"

/** @category models @since 0.1.0 */
export interface MetricsInput {
  readonly counts: StateCounts
  readonly stats: OrchestrationProcessingStats
  readonly health: SystemHealth
  readonly breakers: ReadonlyArray<CircuitBreakerMetrics>
  /** `undefined` when the queue metrics could not be read. */
  readonly queues: ReadonlyArray<QueueMetrics> | undefined
}

type Labels = Readonly<Record<string, string>>
type Sample = readonly [labels: Labels, value: number]

const escape = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

const formatLabels = (labels: Labels) => {
  const entries = Object.entries(labels)
  return entries.length === 0 ? "" : `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(",")}}`
}

const formatValue = (value: number) => Number.isFinite(value) ? String(value) : value > 0 ? "+Inf" : value < 0 ? "-Inf" : "NaN"

const family = (name: string, type: "gauge" | "counter", help: string, samples: ReadonlyArray<Sample>) =>
  [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} ${type}`,
    ...samples.map(([labels, value]) => `${name}${formatLabels(labels)} ${formatValue(value)}`)
  ].join("\n")

const breakerStates = ["Closed", "HalfOpen", "Open"] as const
const healthStates = ["healthy", "degraded", "unhealthy"] as const

/** @category rendering @since 0.1.0 */
export const renderMetrics = (input: MetricsInput): string => {
  const { breakers, counts, health, stats } = input
  const queues = input.queues ?? []
  return [
    family("tasker_tasks", "gauge", "Tasks by current state.",
      Object.entries(counts.tasks).map(([state, n]) => [{ state }, n])),
    family("tasker_steps", "gauge", "Workflow steps by current state.",
      Object.entries(counts.steps).map(([state, n]) => [{ state }, n])),
    family("tasker_commands_processed_total", "counter", "Orchestration commands processed, by kind.", [
      [{ kind: "task_request" }, stats.taskRequestsProcessed],
      [{ kind: "step_result" }, stats.stepResultsProcessed],
      [{ kind: "task_finalization" }, stats.tasksFinalized],
      [{ kind: "task_readiness" }, stats.readinessCommandsProcessed]
    ]),
    family("tasker_command_processing_errors_total", "counter", "Commands that failed or died.", [[{}, stats.processingErrors]]),
    family("tasker_invalid_messages_archived_total", "counter", "Queue messages dead-lettered because they cannot succeed.",
      [[{}, stats.invalidMessagesArchived]]),
    family("tasker_commands_queued", "gauge", "Commands waiting in the command queue.", [[{}, stats.commandsQueued]]),
    family("tasker_commands_in_flight", "gauge", "Commands being processed.", [[{}, stats.commandsInFlight]]),
    family("tasker_command_channel_saturation", "gauge", "Command queue fill, 0..1.", [[{}, stats.commandChannelSaturation]]),
    family("tasker_queue_metrics_available", "gauge", "1 when the queue metrics could be read.",
      [[{}, input.queues === undefined ? 0 : 1]]),
    family("tasker_queue_depth", "gauge", "Messages in a queue.", queues.map((q) => [{ queue: q.queue }, q.length])),
    family("tasker_queue_visible_depth", "gauge", "Messages in a queue that a reader can take now.",
      queues.map((q) => [{ queue: q.queue }, q.visibleLength])),
    family("tasker_queue_oldest_message_age_seconds", "gauge", "Age of the oldest message of a queue.",
      queues.map((q) => [{ queue: q.queue }, q.oldestMessageAgeSeconds ?? 0])),
    family("tasker_circuit_breaker_state", "gauge", "1 for the current state of each circuit breaker.",
      breakers.flatMap((b) => breakerStates.map((state): Sample => [{ name: b.name, state }, b.state === state ? 1 : 0]))),
    family("tasker_circuit_breaker_consecutive_failures", "gauge", "Consecutive failures seen by a circuit breaker.",
      breakers.map((b) => [{ name: b.name }, b.consecutiveFailures])),
    family("tasker_circuit_breaker_rejected_calls_total", "counter", "Calls a circuit breaker refused while open.",
      breakers.map((b) => [{ name: b.name }, b.rejectedCalls])),
    family("tasker_circuit_breaker_retry_after_seconds", "gauge", "Seconds until an open circuit breaker half-opens.",
      breakers.map((b) => [{ name: b.name }, Duration.toSeconds(b.retryAfter)])),
    family("tasker_backpressure_active", "gauge", "1 while POST /v1/tasks answers 503.", [[{}, health.backpressureActive ? 1 : 0]]),
    family("tasker_backpressure_retry_after_seconds", "gauge", "The Retry-After of the current backpressure, 0 when none.",
      [[{}, health.backpressureActive ? health.retryAfterSeconds ?? 0 : 0]]),
    family("tasker_database_connected", "gauge", "1 when the last health evaluation reached the database.",
      [[{}, health.databaseConnected ? 1 : 0]]),
    family("tasker_health_status", "gauge", "1 for the current system status.",
      healthStates.map((status): Sample => [{ status }, health.status === status ? 1 : 0]))
  ].join("\n") + "\n"
}
