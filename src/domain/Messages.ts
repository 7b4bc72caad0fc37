/**
 * Queue message payloads (REFERENCE 5.1). Messages carry ids only; consumers read everything else
 * from the database. Each has a decoder for a parsed payload (pgmq hands jsonb back as an object)
 * and one for JSON text (notification payloads, raw bodies), both defined once here.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { BoundedString, CorrelationId, JsonObject, StepUuid, TaskUuid, withDefault } from "./Ids.ts"
import { TaskRequest } from "./TaskRequest.ts"

/**
 * Sent to `worker_{namespace}_queue` for each enqueued step and to the step-results queue when a
 * worker has written its result.
 *
 * @category models
 * @since 0.1.0
 */
export class StepMessage extends Schema.Class<StepMessage>("StepMessage")({
  task_uuid: TaskUuid,
  step_uuid: StepUuid,
  correlation_id: CorrelationId
}) {}

/**
 * The requester's priority hint; informational only (the task's priority is `task_request.priority`).
 *
 * @category models
 * @since 0.1.0
 */
export const MessagePriority = Schema.Literals(["Low", "Normal", "High", "Urgent"])
/** @category models @since 0.1.0 */
export type MessagePriority = typeof MessagePriority.Type

/** @category models @since 0.1.0 */
export const TaskRequestMetadata = Schema.Struct({
  requested_at: Schema.DateTimeUtcFromString,
  requester: Schema.String,
  priority: withDefault(MessagePriority, (): MessagePriority => "Normal"),
  custom: withDefault(JsonObject, () => ({}))
})
/** @category models @since 0.1.0 */
export type TaskRequestMetadata = typeof TaskRequestMetadata.Type

/**
 * A task creation request delivered through the orchestration requests queue.
 *
 * @category models
 * @since 0.1.0
 */
export class TaskRequestMessage extends Schema.Class<TaskRequestMessage>("TaskRequestMessage")({
  request_id: BoundedString(1, 255),
  task_request: TaskRequest,
  metadata: TaskRequestMetadata
}) {}

/**
 * Asks orchestration to (re-)run finalization for a task.
 *
 * @category models
 * @since 0.1.0
 */
export class FinalizationMessage extends Schema.Class<FinalizationMessage>("FinalizationMessage")({
  task_uuid: TaskUuid
}) {}

/** @category schemas @since 0.1.0 */
export const StepMessageFromJson = Schema.fromJsonString(StepMessage)
/** @category schemas @since 0.1.0 */
export const TaskRequestMessageFromJson = Schema.fromJsonString(TaskRequestMessage)
/** @category schemas @since 0.1.0 */
export const FinalizationMessageFromJson = Schema.fromJsonString(FinalizationMessage)

/** @category decoding @since 0.1.0 */
export const decodeStepMessage = Schema.decodeUnknownEffect(StepMessage)
/** @category decoding @since 0.1.0 */
export const decodeTaskRequestMessage = Schema.decodeUnknownEffect(TaskRequestMessage)
/** @category decoding @since 0.1.0 */
export const decodeFinalizationMessage = Schema.decodeUnknownEffect(FinalizationMessage)

/** @category decoding @since 0.1.0 */
export const decodeStepMessageJson = Schema.decodeUnknownEffect(StepMessageFromJson)
/** @category decoding @since 0.1.0 */
export const decodeTaskRequestMessageJson = Schema.decodeUnknownEffect(TaskRequestMessageFromJson)
/** @category decoding @since 0.1.0 */
export const decodeFinalizationMessageJson = Schema.decodeUnknownEffect(FinalizationMessageFromJson)

/** To the plain JSON-ready object a queue send takes. @category encoding @since 0.1.0 */
export const encodeStepMessage = Schema.encodeEffect(StepMessage)
/** @category encoding @since 0.1.0 */
export const encodeTaskRequestMessage = Schema.encodeEffect(TaskRequestMessage)
/** @category encoding @since 0.1.0 */
export const encodeFinalizationMessage = Schema.encodeEffect(FinalizationMessage)
