/**
 * Request and response schemas of the DLQ routes (REFERENCE 2.2 `tasks_dlq`, 2.3 views, 9). The DLQ
 * is an investigation log: entries point at tasks that stay in `tasks`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { DlqEntryUuid, JsonObject, TaskUuid } from "../../domain/Ids.ts"
import { TaskState } from "../../domain/TaskState.ts"
import { Timestamp, type TimestampCodec } from "../ApiSchemas.ts"

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** @category schemas @since 0.1.0 */
export const DlqReason = Schema.Literals([
  "staleness_timeout",
  "max_retries_exceeded",
  "dependency_cycle_detected",
  "worker_unavailable",
  "manual_dlq"
])
/** @category models @since 0.1.0 */
export type DlqReason = typeof DlqReason.Type

/** @category schemas @since 0.1.0 */
export const DlqResolutionStatus = Schema.Literals(["pending", "manually_resolved", "permanently_failed", "cancelled"])
/** @category models @since 0.1.0 */
export type DlqResolutionStatus = typeof DlqResolutionStatus.Type

/** @category fields @since 0.1.0 */
export const dlqEntryFields = <T extends TimestampCodec>(ts: T) => ({
  dlq_entry_uuid: DlqEntryUuid,
  task_uuid: TaskUuid,
  original_state: Schema.String,
  dlq_reason: DlqReason,
  dlq_timestamp: ts,
  resolution_status: DlqResolutionStatus,
  resolution_timestamp: Schema.NullOr(ts),
  resolution_notes: Schema.NullOr(Schema.String),
  resolved_by: Schema.NullOr(Schema.String),
  task_snapshot: JsonObject,
  metadata: Schema.NullOr(Schema.Json),
  created_at: ts,
  updated_at: ts
})

/** @category schemas @since 0.1.0 */
export const DlqEntry = Schema.Struct(dlqEntryFields(Timestamp)).annotate({ identifier: "DlqEntry" })
/** @category models @since 0.1.0 */
export type DlqEntry = typeof DlqEntry.Type

/** `GET /v1/dlq` query (defaults: limit 50, offset 0). @category schemas @since 0.1.0 */
export const DlqListQuery = {
  resolution_status: Schema.optional(DlqResolutionStatus),
  limit: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1000 }))),
  offset: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)))
}

/** `limit` of the investigation queue and staleness routes (default 100). @category schemas @since 0.1.0 */
export const DlqLimitQuery = {
  limit: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1000 })))
}

/**
 * `PATCH /v1/dlq/entry/{dlq_entry_uuid}`: resolution fields to set (absent ones are kept). Leaving
 * `pending` stamps `resolution_timestamp`; an entry cannot be re-opened (`pending`), because a task
 * has at most one open investigation.
 *
 * @category schemas
 * @since 0.1.0
 */
export const DlqUpdateRequest = Schema.Struct({
  resolution_status: Schema.optionalKey(Schema.Literals(["manually_resolved", "permanently_failed", "cancelled"])),
  resolution_notes: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(10_000))),
  resolved_by: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(255))),
  metadata: Schema.optionalKey(JsonObject)
}).annotate({ identifier: "DlqUpdateRequest" })
/** @category models @since 0.1.0 */
export type DlqUpdateRequest = typeof DlqUpdateRequest.Type

/** One row of `v_dlq_dashboard`. @category fields @since 0.1.0 */
export const dlqStatsFields = <T extends TimestampCodec>(ts: T) => ({
  dlq_reason: DlqReason,
  total_entries: Count,
  pending: Count,
  manually_resolved: Count,
  permanent_failures: Count,
  cancelled: Count,
  oldest_entry: Schema.NullOr(ts),
  newest_entry: Schema.NullOr(ts),
  avg_resolution_time_minutes: Schema.NullOr(Schema.Finite)
})

/** @category schemas @since 0.1.0 */
export const DlqStats = Schema.Struct(dlqStatsFields(Timestamp)).annotate({ identifier: "DlqStats" })
/** @category models @since 0.1.0 */
export type DlqStats = typeof DlqStats.Type

/** One row of `v_dlq_investigation_queue` (pending entries, most urgent first). @category fields @since 0.1.0 */
export const investigationFields = <T extends TimestampCodec>(ts: T) => ({
  dlq_entry_uuid: DlqEntryUuid,
  task_uuid: TaskUuid,
  original_state: Schema.String,
  dlq_reason: DlqReason,
  dlq_timestamp: ts,
  minutes_in_dlq: Schema.Finite,
  namespace_name: Schema.NullOr(Schema.String),
  task_name: Schema.NullOr(Schema.String),
  current_state: TaskState,
  time_in_state_minutes: Schema.NullOr(Schema.Int),
  priority_score: Schema.Finite
})

/** @category schemas @since 0.1.0 */
export const DlqInvestigationItem = Schema.Struct(investigationFields(Timestamp)).annotate({
  identifier: "DlqInvestigationItem"
})
/** @category models @since 0.1.0 */
export type DlqInvestigationItem = typeof DlqInvestigationItem.Type

/** One row of `v_task_staleness_monitoring` (every non-terminal task, stale first). @category schemas @since 0.1.0 */
export const StalenessItem = Schema.Struct({
  task_uuid: TaskUuid,
  namespace_name: Schema.String,
  task_name: Schema.String,
  current_state: TaskState,
  time_in_state_minutes: Schema.Finite,
  task_age_minutes: Schema.Finite,
  staleness_threshold_minutes: Schema.NullOr(Schema.Int),
  max_lifetime_minutes: Schema.NullOr(Schema.Int),
  health_status: Schema.Literals(["stale", "warning", "healthy"]),
  staleness_action: Schema.String,
  priority: Schema.Int
}).annotate({ identifier: "StalenessItem" })
/** @category models @since 0.1.0 */
export type StalenessItem = typeof StalenessItem.Type
