/**
 * The operator actions' door to the database: typed calls to the SQL functions of
 * `migrations/0014_operator_actions.sql` (`cancel_task`, `reset_step_for_retry`,
 * `resolve_step_manually`, `complete_step_manually`), one round trip and one transaction each,
 * every row decoded with Schema. Columns are aliased in quoted camelCase, so rows decode the same
 * with or without the client's snake_case → camelCase transform.
 *
 * `SqlError`s are defects, except: SQLSTATE `TK001` (the action does not apply to the step's
 * state) fails with the typed {@link IllegalTransition} built from the error's JSON `DETAIL`;
 * deadlocks and serialization failures are retried (3 times) before they die. A malformed task id
 * names no task (`Option.none()`); a malformed step id names no step of the task.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Predicate, Schedule, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import { IllegalTransition } from "../../../domain/Errors.ts"
import { Uuid } from "../../../domain/Ids.ts"
import { StepState } from "../../../domain/StepState.ts"
import { TaskState } from "../../../domain/TaskState.ts"
import { CommittedTransitions } from "../../LifecycleEvents.ts"
import { ProcessorId } from "../../ProcessorId.ts"
import { AdvanceAction } from "../LifecycleRepository.ts"

/** `cancel_task`. `already_terminal`: nothing changed, `state` is the task's. @category models @since 0.1.0 */
export const CancelTaskRow = Schema.Struct({
  previousState: TaskState,
  state: TaskState,
  outcome: Schema.Literals(["cancelled", "already_terminal"]),
  stepsCancelled: Schema.Int,
  messagesDeleted: Schema.Int,
  transitions: CommittedTransitions
})
/** @category models @since 0.1.0 */
export type CancelTaskRow = typeof CancelTaskRow.Type

/**
 * A step action. `applied`: the step moved (`stepFromState` → …, `stepState` is its state when the
 * call returned) and the advance columns describe the task's re-evaluation; otherwise nothing
 * changed and they describe the task as it is.
 *
 * @category models
 * @since 0.1.0
 */
export const StepActionRow = Schema.Struct({
  outcome: Schema.Literals(["applied", "step_not_found", "task_terminal"]),
  stepFromState: Schema.NullOr(StepState),
  stepState: Schema.NullOr(StepState),
  previousState: TaskState,
  state: TaskState,
  action: AdvanceAction,
  stepsEnqueued: Schema.Int,
  stepUuids: Schema.Array(Schema.String),
  transitions: CommittedTransitions
})
/** @category models @since 0.1.0 */
export type StepActionRow = typeof StepActionRow.Type

/** Transition metadata of an action (`reason`, `reset_by` / `resolved_by` / `completed_by`, ...). @category models @since 0.1.0 */
export type ActionMetadata = Readonly<Record<string, string>>

const IllegalDetail = Schema.fromJsonString(Schema.Struct({
  entity: Schema.Literal("step"),
  entity_uuid: Uuid,
  from: StepState,
  to: StepState
}))
const decodeIllegalDetail = Schema.decodeUnknownOption(IllegalDetail)

const causeOf = (error: SqlError): { readonly code?: unknown; readonly detail?: unknown } =>
  Predicate.isObject(error.reason.cause) ? error.reason.cause as { code?: unknown; detail?: unknown } : {}

/** TK001 with a decodable DETAIL → IllegalTransition; every other SqlError stays one. */
const illegalTransition = (error: SqlError): Effect.Effect<never, IllegalTransition | SqlError> => {
  const { code, detail } = causeOf(error)
  if (code !== "TK001") return Effect.fail(error)
  return Option.match(decodeIllegalDetail(detail), {
    onNone: () => Effect.fail(error),
    onSome: (d) => Effect.fail(new IllegalTransition({ entity: "step", entity_uuid: d.entity_uuid, from: d.from, to: d.to }))
  })
}

const isRetryable = (error: SqlError) =>
  error.reason._tag === "DeadlockError" || error.reason._tag === "SerializationError"

// Deadlocks / serialization failures (never expected: task → messages → steps everywhere) are
// retried a few times; every other SQL or decoding failure is a defect (catchTags at each call).
const retryTransient = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.retry(effect, {
    while: (e) => isSqlError(e) && isRetryable(e),
    schedule: Schedule.exponential("20 millis"),
    times: 3
  })

const isUuid = Schema.is(Uuid)
/** Matches no step: a malformed step id is reported like an unknown one, after the task lookup. */
const noStep = "00000000-0000-0000-0000-000000000000"

const stepActionColumns = `outcome, step_from_state AS "stepFromState", step_state AS "stepState",
  previous_state AS "previousState", state, action, steps_enqueued AS "stepsEnqueued",
  step_uuids AS "stepUuids", transitions`

/**
 * @category services
 * @since 0.1.0
 */
export class OperatorActionsRepository extends Context.Service<OperatorActionsRepository, {
  cancelTask(taskUuid: string, metadata: ActionMetadata): Effect.Effect<Option.Option<CancelTaskRow>>
  resetStepForRetry(taskUuid: string, stepUuid: string, metadata: ActionMetadata): Effect.Effect<Option.Option<StepActionRow>, IllegalTransition>
  resolveStepManually(taskUuid: string, stepUuid: string, metadata: ActionMetadata): Effect.Effect<Option.Option<StepActionRow>, IllegalTransition>
  completeStepManually(
    taskUuid: string,
    stepUuid: string,
    metadata: ActionMetadata,
    result: unknown,
    extraMetadata: Readonly<Record<string, unknown>> | undefined
  ): Effect.Effect<Option.Option<StepActionRow>, IllegalTransition>
  /** Runs the effect after the outermost transaction commits (at once when none is open). */
  afterCommit<R>(effect: Effect.Effect<void, never, R>): Effect.Effect<void, never, R>
}>()("tasker/orchestration/lifecycle/OperatorActionsRepository") {
  static readonly layerNoDeps = Layer.effect(
    OperatorActionsRepository,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { uuid: processor } = yield* ProcessorId
      const columns = sql.literal(stepActionColumns)

      const cancel = SqlSchema.findOneOption({
        Request: Schema.Struct({ taskUuid: Schema.String, metadata: Schema.String }),
        Result: CancelTaskRow,
        execute: (r) =>
          sql`
            SELECT previous_state AS "previousState", state, outcome, steps_cancelled AS "stepsCancelled",
                   messages_deleted AS "messagesDeleted", transitions
            FROM tasker.cancel_task(${r.taskUuid}::uuid, ${processor}::uuid, ${r.metadata}::jsonb)`
      })

      const StepRequest = Schema.Struct({ taskUuid: Schema.String, stepUuid: Schema.String, metadata: Schema.String })
      const reset = SqlSchema.findOneOption({
        Request: StepRequest,
        Result: StepActionRow,
        execute: (r) =>
          sql`SELECT ${columns} FROM tasker.reset_step_for_retry(${r.taskUuid}::uuid, ${r.stepUuid}::uuid,
                                                                 ${processor}::uuid, ${r.metadata}::jsonb)`
      })
      const resolve = SqlSchema.findOneOption({
        Request: StepRequest,
        Result: StepActionRow,
        execute: (r) =>
          sql`SELECT ${columns} FROM tasker.resolve_step_manually(${r.taskUuid}::uuid, ${r.stepUuid}::uuid,
                                                                  ${processor}::uuid, ${r.metadata}::jsonb)`
      })
      const complete = SqlSchema.findOneOption({
        Request: Schema.Struct({ ...StepRequest.fields, result: Schema.String, extra: Schema.NullOr(Schema.String) }),
        Result: StepActionRow,
        execute: (r) =>
          sql`SELECT ${columns} FROM tasker.complete_step_manually(${r.taskUuid}::uuid, ${r.stepUuid}::uuid,
                                                                   ${processor}::uuid, ${r.metadata}::jsonb,
                                                                   ${r.result}::jsonb, ${r.extra}::jsonb)`
      })

      const stepAction = (
        name: string,
        taskUuid: string,
        stepUuid: string,
        run: (ids: { readonly taskUuid: string; readonly stepUuid: string }) => Effect.Effect<
          Option.Option<StepActionRow>,
          SqlError | Schema.SchemaError
        >
      ): Effect.Effect<Option.Option<StepActionRow>, IllegalTransition> =>
        isUuid(taskUuid)
          ? run({ taskUuid, stepUuid: isUuid(stepUuid) ? stepUuid : noStep }).pipe(
            Effect.catchIf(isSqlError, illegalTransition),
            retryTransient,
            Effect.catchTags({ SqlError: Effect.die, SchemaError: Effect.die }),
            Effect.withSpan(`OperatorActionsRepository.${name}`)
          )
          : Effect.succeedNone

      return OperatorActionsRepository.of({
        cancelTask: (taskUuid, metadata) =>
          isUuid(taskUuid)
            ? cancel({ taskUuid, metadata: JSON.stringify(metadata) }).pipe(
              retryTransient,
              Effect.catchTags({ SqlError: Effect.die, SchemaError: Effect.die }),
              Effect.withSpan("OperatorActionsRepository.cancelTask")
            )
            : Effect.succeedNone,
        resetStepForRetry: (taskUuid, stepUuid, metadata) =>
          stepAction("resetStepForRetry", taskUuid, stepUuid, (ids) => reset({ ...ids, metadata: JSON.stringify(metadata) })),
        resolveStepManually: (taskUuid, stepUuid, metadata) =>
          stepAction("resolveStepManually", taskUuid, stepUuid, (ids) => resolve({ ...ids, metadata: JSON.stringify(metadata) })),
        completeStepManually: (taskUuid, stepUuid, metadata, result, extraMetadata) =>
          stepAction("completeStepManually", taskUuid, stepUuid, (ids) =>
            complete({
              ...ids,
              metadata: JSON.stringify(metadata),
              // JSON.stringify(undefined) is undefined: an absent result is JSON null
              result: JSON.stringify(result ?? null),
              extra: extraMetadata === undefined ? null : JSON.stringify(extraMetadata)
            })),
        afterCommit: (effect) => sql.afterCommit(effect)
      })
    })
  )

  /** Needs `SqlClient`; provides {@link ProcessorId} (the same layer object as the lifecycle's, so one build shares one id). */
  static readonly layer = OperatorActionsRepository.layerNoDeps.pipe(Layer.provide(ProcessorId.layer))
}
