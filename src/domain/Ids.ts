/**
 * Branded identifiers and the small field schemas every domain model shares.
 *
 * Every key in Tasker is a UUID (UUIDv7 from `tasker.uuid_generate_v7()`). Each id is its own brand so a
 * `StepUuid` can never be passed where a `TaskUuid` is expected. Decoding lower-cases the text, the
 * form PostgreSQL prints, so ids compare equal as strings no matter how a client spelled them.
 *
 * @since 0.1.0
 */
import { Effect, Option, Predicate, Schema, SchemaGetter, SchemaTransformation } from "effect"

const UuidString = Schema.String.check(Schema.isUUID())

/**
 * A UUID of any version (and the nil / max UUIDs), normalized to lower case on decode.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Uuid = UuidString.pipe(
  Schema.decode({ decode: SchemaGetter.toLowerCase(), encode: SchemaGetter.passthrough() })
)

/** @category ids @since 0.1.0 */
export const TaskUuid = Uuid.pipe(Schema.brand("TaskUuid"))
/** @category ids @since 0.1.0 */
export type TaskUuid = typeof TaskUuid.Type

/** `workflow_steps.workflow_step_uuid`; called `step_uuid` on the wire. @category ids @since 0.1.0 */
export const StepUuid = Uuid.pipe(Schema.brand("StepUuid"))
/** @category ids @since 0.1.0 */
export type StepUuid = typeof StepUuid.Type

/** A registered template version (`named_tasks`). @category ids @since 0.1.0 */
export const NamedTaskUuid = Uuid.pipe(Schema.brand("NamedTaskUuid"))
/** @category ids @since 0.1.0 */
export type NamedTaskUuid = typeof NamedTaskUuid.Type

/** A globally shared step name (`named_steps`). @category ids @since 0.1.0 */
export const NamedStepUuid = Uuid.pipe(Schema.brand("NamedStepUuid"))
/** @category ids @since 0.1.0 */
export type NamedStepUuid = typeof NamedStepUuid.Type

/** @category ids @since 0.1.0 */
export const TaskNamespaceUuid = Uuid.pipe(Schema.brand("TaskNamespaceUuid"))
/** @category ids @since 0.1.0 */
export type TaskNamespaceUuid = typeof TaskNamespaceUuid.Type

/** @category ids @since 0.1.0 */
export const DlqEntryUuid = Uuid.pipe(Schema.brand("DlqEntryUuid"))
/** @category ids @since 0.1.0 */
export type DlqEntryUuid = typeof DlqEntryUuid.Type

/** Flows from the task into step messages, transition metadata and the audit table. @category ids @since 0.1.0 */
export const CorrelationId = Uuid.pipe(Schema.brand("CorrelationId"))
/** @category ids @since 0.1.0 */
export type CorrelationId = typeof CorrelationId.Type

/** One orchestrator (or worker) process instance; audit only, never an ownership lock. @category ids @since 0.1.0 */
export const ProcessorUuid = Uuid.pipe(Schema.brand("ProcessorUuid"))
/** @category ids @since 0.1.0 */
export type ProcessorUuid = typeof ProcessorUuid.Type

/** A row of `task_transitions` or `workflow_step_transitions`. @category ids @since 0.1.0 */
export const TransitionUuid = Uuid.pipe(Schema.brand("TransitionUuid"))
/** @category ids @since 0.1.0 */
export type TransitionUuid = typeof TransitionUuid.Type

// -----------------------------------------------------------------------------
// Shared field helpers (used by TaskRequest, Messages, StepExecutionResult)
// -----------------------------------------------------------------------------

/**
 * A string whose length in UTF-16 code units is within `[min, max]`. That is never less than the
 * character count PostgreSQL's `varchar(n)` checks, so a value that passes always fits its column.
 *
 * @category schemas
 * @since 0.1.0
 */
export const BoundedString = (min: number, max: number) =>
  Schema.String.check(Schema.isMinLength(min), Schema.isMaxLength(max))

/**
 * Any JSON object (`{ [key]: Json }`); arrays and primitives are refused.
 *
 * @category schemas
 * @since 0.1.0
 */
export const JsonObject = Schema.Record(Schema.String, Schema.Json).annotate({ message: "Expected a JSON object" })
/** @category models @since 0.1.0 */
export type JsonObject = typeof JsonObject.Type

/**
 * An optional field that also accepts `null` on the wire (serde `Option<T>` clients send `null`);
 * absent, `undefined` and `null` all decode to an absent key, and an absent key encodes as absent.
 *
 * @category schemas
 * @since 0.1.0
 */
export const optionalNullable = <S extends Schema.Top>(schema: S) =>
  Schema.optional(Schema.NullOr(schema)).pipe(
    Schema.decodeTo(
      Schema.optionalKey(Schema.toType(schema)),
      SchemaTransformation.transformOptional<S["Type"], S["Type"] | null | undefined>({
        decode: (o) => Option.filter(o, Predicate.isNotNullish),
        encode: (o) => o
      })
    )
  )

/**
 * A field that is required in the decoded type but may be absent, `undefined` or `null` on the wire,
 * in which case `value()` is used. The same default applies to class / struct constructors.
 *
 * @category schemas
 * @since 0.1.0
 */
export const withDefault = <S extends Schema.Top & Schema.WithoutConstructorDefault>(
  schema: S,
  value: () => S["Type"]
) => {
  const decoded = Schema.optional(Schema.NullOr(schema)).pipe(
    Schema.decodeTo(
      Schema.toType(schema),
      SchemaTransformation.transformOptional<S["Type"], S["Type"] | null | undefined>({
        decode: (o) => Option.orElse(Option.filter(o, Predicate.isNotNullish), () => Option.some(value())),
        encode: (o) => o
      })
    )
  )
  return Schema.withConstructorDefault<typeof decoded>(Effect.sync(value))(decoded)
}
