/**
 * Response schemas of the analytics routes (REFERENCE 9). The figures come from plain SQL over
 * tasks, steps, transitions and the step result audit; docs/api.md says how each is computed.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Timestamp, type TimestampCodec } from "../ApiSchemas.ts"

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Ratio = Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))

/** `GET /v1/analytics/performance` query: the window in hours (default 24, at most 720). @category schemas @since 0.1.0 */
export const PerformanceQuery = {
  hours: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 720 })))
}

/** @category fields @since 0.1.0 */
export const performanceFields = <T extends TimestampCodec>(ts: T) => ({
  total_tasks: Count,
  active_tasks: Count,
  completed_tasks: Count,
  failed_tasks: Count,
  completion_rate: Ratio,
  error_rate: Ratio,
  average_task_duration_seconds: Schema.NullOr(Schema.Finite),
  average_step_duration_seconds: Schema.NullOr(Schema.Finite),
  tasks_per_hour: Schema.Finite,
  steps_per_hour: Schema.Finite,
  system_health_score: Ratio,
  analysis_period_start: ts,
  calculated_at: ts
})

/** @category schemas @since 0.1.0 */
export const PerformanceMetrics = Schema.Struct(performanceFields(Timestamp)).annotate({ identifier: "PerformanceMetrics" })
/** @category models @since 0.1.0 */
export type PerformanceMetrics = typeof PerformanceMetrics.Type

/** `GET /v1/analytics/bottlenecks` query (defaults: limit 10, min_executions 5, hours 24). @category schemas @since 0.1.0 */
export const BottleneckQuery = {
  limit: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100 }))),
  min_executions: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 }))),
  hours: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 720 })))
}

/** One step of one template version, by its worker-reported execution time. @category schemas @since 0.1.0 */
export const SlowStep = Schema.Struct({
  namespace_name: Schema.String,
  task_name: Schema.String,
  version: Schema.String,
  step_name: Schema.String,
  executions: Count,
  average_duration_seconds: Schema.Finite,
  max_duration_seconds: Schema.Finite,
  failures: Count,
  error_rate: Ratio
}).annotate({ identifier: "SlowStep" })
/** @category models @since 0.1.0 */
export type SlowStep = typeof SlowStep.Type

/** One template version, by the wall time of its finished tasks (created → completed). @category schemas @since 0.1.0 */
export const SlowTask = Schema.Struct({
  namespace_name: Schema.String,
  task_name: Schema.String,
  version: Schema.String,
  finished: Count,
  average_duration_seconds: Schema.Finite,
  max_duration_seconds: Schema.Finite,
  failed: Count,
  error_rate: Ratio
}).annotate({ identifier: "SlowTask" })
/** @category models @since 0.1.0 */
export type SlowTask = typeof SlowTask.Type

/** Current load: counts, not percentages of an unknown capacity. @category schemas @since 0.1.0 */
export const ResourceUtilization = Schema.Struct({
  active_tasks: Count,
  blocked_tasks: Count,
  in_flight_steps: Count,
  waiting_for_retry_steps: Count,
  failed_steps: Count,
  pending_dlq_entries: Count
}).annotate({ identifier: "ResourceUtilization" })
/** @category models @since 0.1.0 */
export type ResourceUtilization = typeof ResourceUtilization.Type

/** @category schemas @since 0.1.0 */
export const BottleneckAnalysis = Schema.Struct({
  slow_steps: Schema.Array(SlowStep),
  slow_tasks: Schema.Array(SlowTask),
  resource_utilization: ResourceUtilization,
  recommendations: Schema.Array(Schema.String)
}).annotate({ identifier: "BottleneckAnalysis" })
/** @category models @since 0.1.0 */
export type BottleneckAnalysis = typeof BottleneckAnalysis.Type
