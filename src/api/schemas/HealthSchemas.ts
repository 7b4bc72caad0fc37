/**
 * Response schemas of the public health routes (REFERENCE 6.8): basic, liveness, readiness (503
 * with the failed checks when not ready) and the detailed report.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { CircuitState } from "../../orchestration/resilience/CircuitBreaker.ts"

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const HealthStatus = Schema.Literals(["healthy", "degraded", "unhealthy"])

/** `GET /health`: the cached system status. @category schemas @since 0.1.0 */
export const BasicHealth = Schema.Struct({
  status: HealthStatus,
  timestamp: Schema.String
}).annotate({ identifier: "BasicHealth" })
/** @category models @since 0.1.0 */
export type BasicHealth = typeof BasicHealth.Type

/** `GET /health/live`: the process answers. @category schemas @since 0.1.0 */
export const Liveness = Schema.Struct({
  status: Schema.Literal("alive"),
  timestamp: Schema.String
}).annotate({ identifier: "Liveness" })
/** @category models @since 0.1.0 */
export type Liveness = typeof Liveness.Type

/** @category schemas @since 0.1.0 */
export const HealthCheck = Schema.Struct({
  status: HealthStatus,
  message: Schema.String
}).annotate({ identifier: "HealthCheck" })
/** @category models @since 0.1.0 */
export type HealthCheck = typeof HealthCheck.Type

const readinessFields = {
  status: Schema.Literals(["ready", "not_ready"]),
  checks: Schema.Struct({
    web_database: HealthCheck,
    orchestration_database: HealthCheck,
    circuit_breaker: HealthCheck,
    orchestration_system: HealthCheck,
    command_processor: HealthCheck
  }),
  timestamp: Schema.String
}

/** `GET /health/ready` when ready. @category schemas @since 0.1.0 */
export const Readiness = Schema.Struct(readinessFields).annotate({ identifier: "Readiness" })
/** @category models @since 0.1.0 */
export type Readiness = typeof Readiness.Type

/** `GET /health/ready` when not ready (503): the same body with the failed checks. @category errors @since 0.1.0 */
export class NotReady extends Schema.TaggedError<NotReady>()("NotReady", readinessFields, { httpApiStatus: 503 }) {
  override get message() {
    return "service not ready"
  }
}

/** The health evaluator's SystemHealth in snake_case. @category schemas @since 0.1.0 */
export const SystemHealthReport = Schema.Struct({
  status: HealthStatus,
  database_connected: Schema.Boolean,
  message_queues_healthy: Schema.Boolean,
  active_processors: Count,
  circuit_breaker_open: Schema.Boolean,
  circuit_breaker_failures: Count,
  command_channel_saturation_percent: Schema.Finite,
  backpressure_active: Schema.Boolean,
  backpressure_reason: Schema.NullOr(Schema.String),
  retry_after_seconds: Schema.NullOr(Schema.Finite),
  queue_depth_tier: Schema.Literals(["Normal", "Warning", "Critical", "Overflow"]),
  queue_depth_max: Count,
  queue_depth_worst_queue: Schema.NullOr(Schema.String),
  health_evaluated: Schema.Boolean,
  evaluated_at: Schema.NullOr(Schema.String)
}).annotate({ identifier: "SystemHealthReport" })

/** The command processor's counters. @category schemas @since 0.1.0 */
export const ProcessorStats = Schema.Struct({
  task_requests_processed: Count,
  step_results_processed: Count,
  tasks_finalized: Count,
  readiness_commands_processed: Count,
  processing_errors: Count,
  invalid_messages_archived: Count,
  commands_queued: Count,
  commands_in_flight: Count,
  command_channel_saturation: Schema.Finite
}).annotate({ identifier: "ProcessorStats" })

/** @category schemas @since 0.1.0 */
export const BreakerReport = Schema.Struct({
  name: Schema.String,
  state: CircuitState,
  consecutive_failures: Count,
  consecutive_successes: Count,
  total_calls: Count,
  total_failures: Count,
  rejected_calls: Count,
  openings: Count,
  retry_after_seconds: Schema.Finite,
  last_state_change_at: Schema.String
}).annotate({ identifier: "BreakerReport" })

/** @category schemas @since 0.1.0 */
export const QueueReport = Schema.Struct({
  queue: Schema.String,
  length: Count,
  visible_length: Count,
  oldest_message_age_seconds: Schema.NullOr(Schema.Finite),
  newest_message_age_seconds: Schema.NullOr(Schema.Finite),
  total_messages: Count
}).annotate({ identifier: "QueueReport" })

/** `get_system_health_counts`: tasks and steps per state. @category schemas @since 0.1.0 */
export const StateCounts = Schema.Struct({
  tasks: Schema.Record(Schema.String, Count),
  steps: Schema.Record(Schema.String, Count),
  total_tasks: Count,
  total_steps: Count
}).annotate({ identifier: "StateCounts" })
/** @category models @since 0.1.0 */
export type StateCounts = typeof StateCounts.Type

/** `GET /health/detailed`. @category schemas @since 0.1.0 */
export const DetailedHealth = Schema.Struct({
  status: HealthStatus,
  timestamp: Schema.String,
  system_health: SystemHealthReport,
  processor: ProcessorStats,
  circuit_breakers: Schema.Array(BreakerReport),
  queues: Schema.Array(QueueReport),
  queue_metrics_available: Schema.Boolean,
  counts: StateCounts
}).annotate({ identifier: "DetailedHealth" })
/** @category models @since 0.1.0 */
export type DetailedHealth = typeof DetailedHealth.Type
