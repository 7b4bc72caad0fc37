/**
 * The domain errors shared across the engine, as `Schema.TaggedError`s so they are yieldable, cross
 * the HTTP API with their status (`httpApiStatus`) and decode on the client. Also the one formatter
 * that turns a `SchemaError` into "path: message" text, used wherever untrusted input is decoded.
 *
 * @since 0.1.0
 */
import { Schema, SchemaIssue } from "effect"
import { DlqEntryUuid, NamedTaskUuid, StepUuid, TaskUuid, Uuid } from "./Ids.ts"
import { StepState } from "./StepState.ts"
import { TaskState } from "./TaskState.ts"

// -----------------------------------------------------------------------------
// Schema error formatting
// -----------------------------------------------------------------------------

/** One decoding failure: where (`context.customer.name`, `tags[2]`, or `""` for the root) and what. @category models @since 0.1.0 */
export interface SchemaIssueEntry {
  readonly path: string
  readonly message: string
}

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/**
 * Renders a path as `a.b[3]["odd key"]`.
 *
 * @category formatting
 * @since 0.1.0
 */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((acc, key) => {
    if (typeof key === "number") return `${acc}[${key}]`
    const text = String(key)
    if (identifier.test(text)) return acc === "" ? text : `${acc}.${text}`
    return `${acc}[${JSON.stringify(text)}]`
  }, "")

const standardFormatter = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * Every failure of a decode, flattened with its path.
 *
 * @category formatting
 * @since 0.1.0
 */
export const schemaIssueEntries = (
  error: Schema.SchemaError | SchemaIssue.Issue
): ReadonlyArray<SchemaIssueEntry> => {
  const issue = Schema.isSchemaError(error) ? error.issue : error
  return standardFormatter(issue).issues.map((entry) => ({
    path: formatPath((entry.path ?? []).map((segment) => typeof segment === "object" ? segment.key : segment)),
    message: entry.message
  }))
}

/**
 * `"context.customer.name: string longer than 10000 characters"`; several failures are joined by `"; "`.
 *
 * @category formatting
 * @since 0.1.0
 */
export const formatSchemaError = (error: Schema.SchemaError | SchemaIssue.Issue): string =>
  schemaIssueEntries(error).map((e) => e.path === "" ? e.message : `${e.path}: ${e.message}`).join("; ")

// -----------------------------------------------------------------------------
// Not found (404)
// -----------------------------------------------------------------------------

/** @category errors @since 0.1.0 */
export class TaskNotFound extends Schema.TaggedError<TaskNotFound>()("TaskNotFound", {
  task_uuid: TaskUuid
}, { httpApiStatus: 404 }) {
  override get message() {
    return `task ${this.task_uuid} not found`
  }
}

/** Also used when the step exists but belongs to another task. @category errors @since 0.1.0 */
export class StepNotFound extends Schema.TaggedError<StepNotFound>()("StepNotFound", {
  step_uuid: StepUuid,
  task_uuid: Schema.optionalKey(TaskUuid)
}, { httpApiStatus: 404 }) {
  override get message() {
    return this.task_uuid === undefined
      ? `step ${this.step_uuid} not found`
      : `step ${this.step_uuid} not found in task ${this.task_uuid}`
  }
}

/** @category errors @since 0.1.0 */
export class TemplateNotFound extends Schema.TaggedError<TemplateNotFound>()("TemplateNotFound", {
  namespace: Schema.String,
  name: Schema.String,
  version: Schema.String
}, { httpApiStatus: 404 }) {
  override get message() {
    return `task template ${this.namespace}/${this.name}:${this.version} not found`
  }
}

/** @category errors @since 0.1.0 */
export class DlqEntryNotFound extends Schema.TaggedError<DlqEntryNotFound>()("DlqEntryNotFound", {
  dlq_entry_uuid: DlqEntryUuid
}, { httpApiStatus: 404 }) {
  override get message() {
    return `DLQ entry ${this.dlq_entry_uuid} not found`
  }
}

// -----------------------------------------------------------------------------
// Conflicts and invalid input (409 / 400)
// -----------------------------------------------------------------------------

/**
 * A task with the same identity hash exists. `existing_task_uuid` is filled only when the caller is
 * allowed to read that task (DESIGN 4.3), so a duplicate answer never leaks ids by default.
 *
 * @category errors
 * @since 0.1.0
 */
export class TaskConflict extends Schema.TaggedError<TaskConflict>()("TaskConflict", {
  identity_hash: Schema.String,
  existing_task_uuid: Schema.optionalKey(TaskUuid)
}, { httpApiStatus: 409 }) {
  override get message() {
    return "a task with the same identity already exists"
  }
}

/**
 * A task request failed validation. `path` names the offending field (`""` for the whole body).
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidTaskRequest extends Schema.TaggedError<InvalidTaskRequest>()("InvalidTaskRequest", {
  message: Schema.String,
  path: Schema.String
}, { httpApiStatus: 400 }) {
  /** The first failure of a decode, with the full formatted text as the message. */
  static fromSchemaError(error: Schema.SchemaError): InvalidTaskRequest {
    const [first] = schemaIssueEntries(error)
    return new InvalidTaskRequest({ message: formatSchemaError(error), path: first?.path ?? "" })
  }
}

/** The template's identity strategy is `caller_provided` and the request has no `idempotency_key`. @category errors @since 0.1.0 */
export class IdempotencyKeyRequired extends Schema.TaggedError<IdempotencyKeyRequired>()("IdempotencyKeyRequired", {
  named_task_uuid: NamedTaskUuid
}, { httpApiStatus: 400 }) {
  override get message() {
    return "idempotency_key: required by the template's caller_provided identity strategy"
  }
}

/**
 * A requested state change is not an edge of the state machine (or no longer applies because the
 * entity moved on).
 *
 * @category errors
 * @since 0.1.0
 */
export class IllegalTransition extends Schema.TaggedError<IllegalTransition>()("IllegalTransition", {
  entity: Schema.Literals(["task", "step"]),
  entity_uuid: Schema.optionalKey(Uuid),
  from: Schema.Union([TaskState, StepState]),
  to: Schema.Union([TaskState, StepState])
}, { httpApiStatus: 400 }) {
  override get message() {
    const which = this.entity_uuid === undefined ? this.entity : `${this.entity} ${this.entity_uuid}`
    return `illegal transition of ${which}: ${this.from} -> ${this.to}`
  }
}

/** The operation needs a non-terminal task (e.g. cancelling a completed task). @category errors @since 0.1.0 */
export class TaskAlreadyTerminal extends Schema.TaggedError<TaskAlreadyTerminal>()("TaskAlreadyTerminal", {
  task_uuid: TaskUuid,
  state: TaskState
}, { httpApiStatus: 400 }) {
  override get message() {
    return `task ${this.task_uuid} is already ${this.state}`
  }
}

// A template that cannot be registered or used is `InvalidTemplate` in src/templates/TemplateErrors.ts.

// -----------------------------------------------------------------------------
// Availability (503) and internal
// -----------------------------------------------------------------------------

/** Backpressure or an open circuit breaker; the API adds `Retry-After`. @category errors @since 0.1.0 */
export class ServiceOverloaded extends Schema.TaggedError<ServiceOverloaded>()("ServiceOverloaded", {
  reason: Schema.String,
  retry_after_seconds: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
}, { httpApiStatus: 503 }) {
  override get message() {
    return `service overloaded (${this.reason}); retry after ${this.retry_after_seconds}s`
  }
}

/**
 * A queue message that did not decode. It is archived with this error, never retried forever
 * (DESIGN 3, hydration); no HTTP status because it never reaches a client.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidMessage extends Schema.TaggedError<InvalidMessage>()("InvalidMessage", {
  queue: Schema.optionalKey(Schema.String),
  message: Schema.String,
  path: Schema.String
}) {
  static fromSchemaError(error: Schema.SchemaError, queue?: string): InvalidMessage {
    const [first] = schemaIssueEntries(error)
    const fields = { message: formatSchemaError(error), path: first?.path ?? "" }
    return new InvalidMessage(queue === undefined ? fields : { ...fields, queue })
  }
}
