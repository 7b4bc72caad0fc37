/**
 * The REST API's request and response schemas for tasks and steps, in the reference's snake_case
 * (REFERENCE 9), and the API's own errors. Templates, analytics, DLQ and health schemas live in
 * `src/api/schemas/`.
 *
 * Timestamps are ISO 8601 strings on the wire and `DateTime.Utc` in TypeScript. Each row-backed
 * model is declared once as a field list parameterized by its timestamp codec: the wire schema uses
 * {@link Timestamp}, the database row schema {@link DbTimestamp} (the driver returns `Date`s), and both
 * decode to the same type, so a decoded row is already the response value.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { HttpApiSchema } from "effect/http-api"
import { ServiceOverloaded } from "../domain/Errors.ts"
import { CorrelationId, JsonObject, StepUuid, TaskUuid, Uuid } from "../domain/Ids.ts"
import { StepState } from "../domain/StepState.ts"
import { TaskState } from "../domain/TaskState.ts"

// -----------------------------------------------------------------------------
// Shared field schemas
// -----------------------------------------------------------------------------

/** A timestamp on the wire: ISO 8601 text, `DateTime.Utc` decoded. @category schemas @since 0.1.0 */
export const Timestamp = Schema.DateTimeUtcFromString
/** A `timestamptz` column as the driver returns it. @category schemas @since 0.1.0 */
export const DbTimestamp = Schema.DateTimeUtcFromDate

/** The timestamp codec a field list is built with. @category models @since 0.1.0 */
export type TimestampCodec = typeof Timestamp | typeof DbTimestamp

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

// -----------------------------------------------------------------------------
// Errors of the API layer (domain errors live in src/domain/Errors.ts)
// -----------------------------------------------------------------------------

/**
 * A request that failed decoding outside `POST /v1/tasks` (a malformed uuid in the path, a query
 * value out of range, a bad PATCH body). `path` names the field, prefixed by where it was.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  location: Schema.Literals(["params", "query", "payload", "headers"]),
  path: Schema.String,
  message: Schema.String
}, { httpApiStatus: 400 }) {}

/** `GET /v1/dlq/task/{task_uuid}` for a task that never was in the DLQ. @category errors @since 0.1.0 */
export class TaskNotInDlq extends Schema.TaggedError<TaskNotInDlq>()("TaskNotInDlq", {
  task_uuid: TaskUuid
}, { httpApiStatus: 404 }) {
  override get message() {
    return `task ${this.task_uuid} has no DLQ entry`
  }
}

/**
 * `ServiceOverloaded` (503) with its `retry_after_seconds` also sent as the `Retry-After` header.
 *
 * @category errors
 * @since 0.1.0
 */
export const ServiceOverloadedWithRetryAfter = ServiceOverloaded.pipe(
  HttpApiSchema.encodeToWithHeaders({
    body: ServiceOverloaded,
    headers: { "retry-after": Schema.FiniteFromString }
  }, {
    decode: ({ body }) => body,
    encode: (error) => ({ body: error, headers: { "retry-after": error.retry_after_seconds } })
  })
)

// -----------------------------------------------------------------------------
// Step readiness (get_step_readiness_status) and the task response
// -----------------------------------------------------------------------------

/** @category fields @since 0.1.0 */
export const stepReadinessFields = <T extends TimestampCodec>(ts: T) => ({
  workflow_step_uuid: StepUuid,
  task_uuid: TaskUuid,
  named_step_uuid: Uuid,
  name: Schema.String,
  current_state: StepState,
  dependencies_satisfied: Schema.Boolean,
  retry_eligible: Schema.Boolean,
  ready_for_execution: Schema.Boolean,
  last_failure_at: Schema.NullOr(ts),
  next_retry_at: Schema.NullOr(ts),
  total_parents: Count,
  completed_parents: Count,
  attempts: Count,
  max_attempts: Count,
  backoff_request_seconds: Schema.NullOr(Count),
  last_attempted_at: Schema.NullOr(ts)
})

/** @category schemas @since 0.1.0 */
export const StepReadiness = Schema.Struct(stepReadinessFields(Timestamp)).annotate({ identifier: "StepReadiness" })
/** @category models @since 0.1.0 */
export type StepReadiness = typeof StepReadiness.Type

/** The task execution context (get_task_execution_context), embedded in TaskResponse. @category fields @since 0.1.0 */
export const executionContextFields = {
  total_steps: Count,
  pending_steps: Count,
  in_progress_steps: Count,
  enqueued_steps: Count,
  completed_steps: Count,
  failed_steps: Count,
  ready_steps: Count,
  execution_status: Schema.Literals([
    "blocked_by_failures",
    "has_ready_steps",
    "processing",
    "all_complete",
    "waiting_for_dependencies"
  ]),
  recommended_action: Schema.Literals([
    "handle_failures",
    "execute_ready_steps",
    "wait_for_completion",
    "finalize_task",
    "wait_for_dependencies"
  ]),
  completion_percentage: Schema.Finite,
  health_status: Schema.Literals(["healthy", "recovering", "blocked"])
}

/** A task without its `steps` (one row of the task queries). @category fields @since 0.1.0 */
export const taskFields = <T extends TimestampCodec>(ts: T) => ({
  task_uuid: TaskUuid,
  name: Schema.String,
  namespace: Schema.String,
  version: Schema.String,
  status: TaskState,
  created_at: ts,
  updated_at: ts,
  completed_at: Schema.NullOr(ts),
  context: JsonObject,
  initiator: Schema.NullOr(Schema.String),
  source_system: Schema.NullOr(Schema.String),
  reason: Schema.NullOr(Schema.String),
  priority: Schema.Int,
  tags: Schema.Array(Schema.String),
  correlation_id: CorrelationId,
  parent_correlation_id: Schema.NullOr(CorrelationId),
  ...executionContextFields
})

/**
 * A task with its execution context and every step's readiness (REFERENCE 9 TaskResponse;
 * `completed_at` is set on entering any terminal state).
 *
 * @category schemas
 * @since 0.1.0
 */
export const TaskResponse = Schema.Struct({
  ...taskFields(Timestamp),
  steps: Schema.Array(StepReadiness)
}).annotate({ identifier: "TaskResponse" })
/** @category models @since 0.1.0 */
export type TaskResponse = typeof TaskResponse.Type

/** @category schemas @since 0.1.0 */
export const Pagination = Schema.Struct({
  page: Schema.Int,
  per_page: Schema.Int,
  total_count: Count,
  total_pages: Count,
  has_next: Schema.Boolean,
  has_previous: Schema.Boolean
}).annotate({ identifier: "Pagination" })
/** @category models @since 0.1.0 */
export type Pagination = typeof Pagination.Type

/** @category schemas @since 0.1.0 */
export const TaskListResponse = Schema.Struct({
  tasks: Schema.Array(TaskResponse),
  pagination: Pagination
}).annotate({ identifier: "TaskListResponse" })
/** @category models @since 0.1.0 */
export type TaskListResponse = typeof TaskListResponse.Type

/** `GET /v1/tasks` query: filters and a page (`page` ≥ 1, `per_page` 1..100, default 25). @category schemas @since 0.1.0 */
export const TaskListQuery = {
  page: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  per_page: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100 }))),
  namespace: Schema.optional(Schema.String),
  status: Schema.optional(TaskState),
  initiator: Schema.optional(Schema.String),
  source_system: Schema.optional(Schema.String)
}

/** @category models @since 0.1.0 */
export interface TaskListFilter {
  readonly page: number
  readonly perPage: number
  readonly namespace?: string | undefined
  readonly status?: TaskState | undefined
  readonly initiator?: string | undefined
  readonly sourceSystem?: string | undefined
}

/** `get_task_summary` (REFERENCE 4.6). @category fields @since 0.1.0 */
export const taskSummaryFields = <T extends TimestampCodec>(ts: T) => ({
  task_uuid: TaskUuid,
  named_task_uuid: Uuid,
  task_name: Schema.String,
  task_version: Schema.String,
  namespace_name: Schema.String,
  task_status: TaskState,
  created_at: ts,
  updated_at: ts,
  completed_at: Schema.NullOr(ts),
  initiator: Schema.NullOr(Schema.String),
  source_system: Schema.NullOr(Schema.String),
  reason: Schema.NullOr(Schema.String),
  correlation_id: CorrelationId,
  template_configuration: JsonObject,
  step_summaries: Schema.Array(JsonObject),
  execution_context: JsonObject,
  dlq_status: Schema.Struct({
    in_dlq: Schema.Boolean,
    dlq_entry_uuid: Schema.NullOr(Uuid),
    dlq_reason: Schema.NullOr(Schema.String),
    resolution_status: Schema.NullOr(Schema.String)
  })
})

/** @category schemas @since 0.1.0 */
export const TaskSummaryResponse = Schema.Struct(taskSummaryFields(Timestamp)).annotate({ identifier: "TaskSummary" })
/** @category models @since 0.1.0 */
export type TaskSummaryResponse = typeof TaskSummaryResponse.Type

// -----------------------------------------------------------------------------
// Steps
// -----------------------------------------------------------------------------

/** @category fields @since 0.1.0 */
export const stepFields = <T extends TimestampCodec>(ts: T) => ({
  step_uuid: StepUuid,
  task_uuid: TaskUuid,
  name: Schema.String,
  created_at: ts,
  updated_at: ts,
  completed_at: Schema.NullOr(ts),
  results: Schema.NullOr(Schema.Json),
  current_state: StepState,
  dependencies_satisfied: Schema.Boolean,
  retry_eligible: Schema.Boolean,
  ready_for_execution: Schema.Boolean,
  total_parents: Count,
  completed_parents: Count,
  attempts: Count,
  max_attempts: Count,
  retryable: Schema.Boolean,
  last_failure_at: Schema.NullOr(ts),
  next_retry_at: Schema.NullOr(ts),
  last_attempted_at: Schema.NullOr(ts)
})

/** A step with its readiness and its stored `results` (REFERENCE 9 StepResponse). @category schemas @since 0.1.0 */
export const StepResponse = Schema.Struct(stepFields(Timestamp)).annotate({ identifier: "StepResponse" })
/** @category models @since 0.1.0 */
export type StepResponse = typeof StepResponse.Type

/** One result-audit row joined to its transition. @category fields @since 0.1.0 */
export const stepAuditFields = <T extends TimestampCodec>(ts: T) => ({
  audit_uuid: Uuid,
  workflow_step_uuid: StepUuid,
  transition_uuid: Uuid,
  task_uuid: TaskUuid,
  recorded_at: ts,
  worker_uuid: Schema.NullOr(Uuid),
  correlation_id: Schema.NullOr(Uuid),
  success: Schema.Boolean,
  execution_time_ms: Schema.NullOr(Schema.Finite),
  from_state: Schema.NullOr(StepState),
  to_state: StepState,
  event: Schema.NullOr(Schema.String),
  transition_metadata: Schema.Json
})

/** @category schemas @since 0.1.0 */
export const StepAuditEntry = Schema.Struct(stepAuditFields(Timestamp)).annotate({ identifier: "StepAuditEntry" })
/** @category models @since 0.1.0 */
export type StepAuditEntry = typeof StepAuditEntry.Type

const Reason = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(1000))
const Actor = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(255))

/**
 * `PATCH /v1/tasks/{uuid}/workflow_steps/{step_uuid}`: a manual step action tagged by `action_type`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const StepActionRequest = Schema.Union([
  Schema.Struct({ action_type: Schema.Literal("reset_for_retry"), reason: Reason, reset_by: Actor }),
  Schema.Struct({ action_type: Schema.Literal("resolve_manually"), reason: Reason, resolved_by: Actor }),
  Schema.Struct({
    action_type: Schema.Literal("complete_manually"),
    completion_data: Schema.Struct({ result: Schema.Json, metadata: Schema.optionalKey(JsonObject) }),
    reason: Reason,
    completed_by: Actor
  })
]).annotate({ identifier: "StepActionRequest" })
/** @category models @since 0.1.0 */
export type StepActionRequest = typeof StepActionRequest.Type
