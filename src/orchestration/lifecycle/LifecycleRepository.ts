/**
 * The lifecycle's only door to the database: typed calls to the SQL functions of
 * `migrations/0012_orchestration_lifecycle.sql` (`create_task`, `advance_task`, `finalize_task`,
 * `apply_step_result`) plus discovery and the step lookup of result hydration, each one round
 * trip, every row decoded with Schema. Columns are aliased in quoted camelCase, so rows decode the
 * same with or without the client's snake_case → camelCase transform.
 *
 * `SqlError`s are defects, except: a dependency cycle in a new task's steps (SQLSTATE `TK010`) dies
 * with the typed {@link TaskGraphCycle}; deadlocks and serialization failures are retried (3 times)
 * before they die. The processor uuid of {@link ProcessorId} is passed to every call that
 * transitions a task.
 *
 * @since 0.1.0
 */
import { Context, Data, Effect, Layer, Option, Predicate, Schedule, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import { Uuid } from "../../domain/Ids.ts"
import { StepState } from "../../domain/StepState.ts"
import { TaskState } from "../../domain/TaskState.ts"
import { CommittedTransitions } from "../LifecycleEvents.ts"
import { ProcessorId } from "../ProcessorId.ts"

/** `advance_task` modes: see the SQL function. @category models @since 0.1.0 */
export type AdvanceMode = "evaluate" | "finalize" | "resume"

/** @category models @since 0.1.0 */
export const AdvanceAction = Schema.Literals(["Enqueued", "Completed", "Blocked", "Failed", "Waiting", "Processing", "NoAction"])
/** @category models @since 0.1.0 */
export type AdvanceAction = typeof AdvanceAction.Type

const advanceFields = {
  previousState: TaskState,
  state: TaskState,
  action: AdvanceAction,
  stepsEnqueued: Schema.Int,
  stepUuids: Schema.Array(Schema.String),
  transitions: CommittedTransitions
}

/** One `advance_task` result row. @category models @since 0.1.0 */
export const AdvanceRow = Schema.Struct(advanceFields)
/** @category models @since 0.1.0 */
export type AdvanceRow = typeof AdvanceRow.Type

/** `finalize_task`: the advance plus the execution context afterwards. @category models @since 0.1.0 */
export const FinalizeRow = Schema.Struct({
  ...advanceFields,
  totalSteps: Schema.Int,
  completedSteps: Schema.Int,
  failedSteps: Schema.Int,
  enqueuedSteps: Schema.Int,
  executionStatus: Schema.String,
  completionPercentage: Schema.Number,
  healthStatus: Schema.String
})
/** @category models @since 0.1.0 */
export type FinalizeRow = typeof FinalizeRow.Type

/** `create_task`: `created = false` means a task with the same identity exists (`existingTaskUuid`). @category models @since 0.1.0 */
export const CreateTaskRow = Schema.Struct({
  taskUuid: Schema.NullOr(Schema.String),
  created: Schema.Boolean,
  existingTaskUuid: Schema.NullOr(Schema.String),
  stepsCreated: Schema.Int,
  previousState: Schema.NullOr(TaskState),
  state: Schema.NullOr(TaskState),
  action: AdvanceAction,
  stepsEnqueued: Schema.Int,
  stepUuids: Schema.Array(Schema.String),
  transitions: CommittedTransitions
})
/** @category models @since 0.1.0 */
export type CreateTaskRow = typeof CreateTaskRow.Type

/** @category models @since 0.1.0 */
export const StepResultOutcomeName = Schema.Literals(["complete", "error", "waiting_for_retry", "skipped"])

/** `apply_step_result`. The task columns describe the advance when it ran, else the task as it is. @category models @since 0.1.0 */
export const ApplyResultRow = Schema.Struct({
  taskUuid: Schema.NullOr(Schema.String),
  outcome: StepResultOutcomeName,
  reason: Schema.NullOr(Schema.String),
  stepType: Schema.NullOr(Schema.String),
  stepName: Schema.NullOr(Schema.String),
  stepFromState: Schema.NullOr(StepState),
  attempts: Schema.Int,
  backoffSeconds: Schema.NullOr(Schema.Int),
  previousState: Schema.NullOr(TaskState),
  state: Schema.NullOr(TaskState),
  action: AdvanceAction,
  stepsEnqueued: Schema.Int,
  stepUuids: Schema.Array(Schema.String),
  transitions: CommittedTransitions
})
/** @category models @since 0.1.0 */
export type ApplyResultRow = typeof ApplyResultRow.Type

/** A step with what result hydration needs; `results` is decoded by the hydrator. @category models @since 0.1.0 */
export const StepForResultRow = Schema.Struct({
  stepUuid: Schema.String,
  taskUuid: Schema.String,
  correlationId: Schema.String,
  stepName: Schema.String,
  stepType: Schema.String,
  state: StepState,
  attempts: Schema.Int,
  maxAttempts: Schema.Int,
  retryable: Schema.Boolean,
  results: Schema.NullOr(Schema.Unknown)
})
/** @category models @since 0.1.0 */
export type StepForResultRow = typeof StepForResultRow.Type

/** A task discovery found with ready work (`get_next_ready_tasks`). @category models @since 0.1.0 */
export const ReadyTaskRow = Schema.Struct({
  taskUuid: Schema.String,
  namespaceName: Schema.String,
  readyStepsCount: Schema.Int,
  currentState: TaskState
})
/** @category models @since 0.1.0 */
export type ReadyTaskRow = typeof ReadyTaskRow.Type

/** Input of `create_task`; `steps` / `edges` are the initial step set and its `provides` edges. @category models @since 0.1.0 */
export interface CreateTaskInput {
  readonly namedTaskUuid: string
  readonly identityHash: string
  readonly context: unknown
  readonly steps: ReadonlyArray<{ readonly name: string; readonly retryable: boolean; readonly max_attempts: number; readonly inputs: unknown }>
  readonly edges: ReadonlyArray<{ readonly from_step: string; readonly to_step: string }>
  readonly correlationId: string
  readonly initiator: string
  readonly sourceSystem: string
  readonly reason: string
  readonly tags: ReadonlyArray<string>
  readonly priority: number
  readonly parentCorrelationId: string | undefined
  readonly idempotencyKey: string | undefined
  readonly requestedAt: string
}

/**
 * The steps of a new task form a cycle (the stored template configuration was edited after it was
 * validated). Raised as a defect: task creation's error channel is the request's errors.
 *
 * @category errors
 * @since 0.1.0
 */
export class TaskGraphCycle extends Data.TaggedError("TaskGraphCycle")<{ readonly steps: ReadonlyArray<string> }> {
  override get message() {
    return `dependency cycle among steps: ${this.steps.join(", ")}`
  }
}

const sqlStateOf = (error: SqlError): { readonly code?: unknown; readonly detail?: unknown } =>
  Predicate.isObject(error.reason.cause) ? error.reason.cause as { code?: unknown; detail?: unknown } : {}

const isRetryable = (error: SqlError) =>
  error.reason._tag === "DeadlockError" || error.reason._tag === "SerializationError"

// Deadlocks / serialization failures (never expected: every function locks task before steps) are
// retried a few times; everything else, and decoding failures, are defects.
const standalone = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, never, R> =>
  effect.pipe(
    Effect.retry({ while: (e) => isSqlError(e) && isRetryable(e), schedule: Schedule.exponential("20 millis"), times: 3 }),
    Effect.orDie
  )

const isUuid = Schema.is(Uuid)
const decodeCreateRow = Schema.decodeUnknownEffect(CreateTaskRow)

const advanceColumns = `previous_state AS "previousState", state, action, steps_enqueued AS "stepsEnqueued",
  step_uuids AS "stepUuids", transitions`

/**
 * @category services
 * @since 0.1.0
 */
export class LifecycleRepository extends Context.Service<LifecycleRepository, {
  createTask(input: CreateTaskInput): Effect.Effect<CreateTaskRow>
  advanceTask(taskUuid: string, mode: AdvanceMode): Effect.Effect<Option.Option<AdvanceRow>>
  finalizeTask(taskUuid: string): Effect.Effect<Option.Option<FinalizeRow>>
  applyStepResult(stepUuid: string, backoffSeconds: number | null, advance: boolean): Effect.Effect<ApplyResultRow>
  nextReadyTasks(limit: number): Effect.Effect<ReadonlyArray<ReadyTaskRow>>
  findStepForResult(stepUuid: string): Effect.Effect<Option.Option<StepForResultRow>>
  /** Runs the effect in a transaction (a savepoint when one is open); SQL failures are defects. */
  transaction<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R>
  /** Runs the effect after the outermost transaction commits (at once when none is open). */
  afterCommit<R>(effect: Effect.Effect<void, never, R>): Effect.Effect<void, never, R>
}>()("tasker/orchestration/lifecycle/LifecycleRepository") {
  static readonly layerNoDeps = Layer.effect(
    LifecycleRepository,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { uuid: processor } = yield* ProcessorId
      const advanceSql = sql.literal(advanceColumns)

      const advance = SqlSchema.findOneOption({
        Request: Schema.Struct({ taskUuid: Schema.String, mode: Schema.String }),
        Result: AdvanceRow,
        execute: (r) =>
          sql`SELECT ${advanceSql} FROM tasker.advance_task(${r.taskUuid}::uuid, ${processor}::uuid, ${r.mode})`
      })

      const finalize = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: FinalizeRow,
        execute: (taskUuid) =>
          sql`
            SELECT ${advanceSql}, total_steps AS "totalSteps", completed_steps AS "completedSteps",
                   failed_steps AS "failedSteps", enqueued_steps AS "enqueuedSteps",
                   execution_status AS "executionStatus", completion_percentage AS "completionPercentage",
                   health_status AS "healthStatus"
            FROM tasker.finalize_task(${taskUuid}::uuid, ${processor}::uuid)`
      })

      const apply = SqlSchema.findOne({
        Request: Schema.Struct({ stepUuid: Schema.String, backoffSeconds: Schema.NullOr(Schema.Int), advance: Schema.Boolean }),
        Result: ApplyResultRow,
        execute: (r) =>
          sql`
            SELECT task_uuid AS "taskUuid", outcome, reason, step_type AS "stepType", step_name AS "stepName",
                   step_from_state AS "stepFromState", attempts, backoff_seconds AS "backoffSeconds", ${advanceSql}
            FROM tasker.apply_step_result(${r.stepUuid}::uuid, ${processor}::uuid, ${r.backoffSeconds}::integer,
                                          ${r.advance})`
      })

      const nextReady = SqlSchema.findAll({
        Request: Schema.Int,
        Result: ReadyTaskRow,
        execute: (limit) =>
          sql`
            SELECT task_uuid AS "taskUuid", namespace_name AS "namespaceName",
                   ready_steps_count::integer AS "readyStepsCount", current_state AS "currentState"
            FROM tasker.get_next_ready_tasks(${limit}::integer)`
      })

      const findStep = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: StepForResultRow,
        execute: (stepUuid) =>
          sql`
            SELECT ws.workflow_step_uuid AS "stepUuid", ws.task_uuid AS "taskUuid", t.correlation_id AS "correlationId",
                   ns.name AS "stepName", tasker.template_step_type(nt.configuration, ns.name) AS "stepType",
                   ws.current_state AS state, ws.attempts, ws.max_attempts AS "maxAttempts", ws.retryable, ws.results
            FROM tasker.workflow_steps ws
            JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
            JOIN tasker.tasks t ON t.task_uuid = ws.task_uuid
            JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
            WHERE ws.workflow_step_uuid = ${stepUuid}::uuid`
      })

      const create = (input: CreateTaskInput) =>
        sql`
          SELECT task_uuid AS "taskUuid", created, existing_task_uuid AS "existingTaskUuid",
                 steps_created AS "stepsCreated", ${advanceSql}
          FROM tasker.create_task(
            p_named_task_uuid => ${input.namedTaskUuid}::uuid,
            p_identity_hash => ${input.identityHash},
            p_context => ${JSON.stringify(input.context)}::jsonb,
            p_steps => ${JSON.stringify(input.steps)}::jsonb,
            p_edges => ${JSON.stringify(input.edges)}::jsonb,
            p_processor_uuid => ${processor}::uuid,
            p_correlation_id => ${input.correlationId}::uuid,
            p_initiator => ${input.initiator},
            p_source_system => ${input.sourceSystem},
            p_reason => ${input.reason},
            p_tags => ${JSON.stringify(input.tags)}::jsonb,
            p_priority => ${input.priority}::integer,
            p_parent_correlation_id => ${input.parentCorrelationId ?? null}::uuid,
            p_idempotency_key => ${input.idempotencyKey ?? null}::text,
            p_requested_at => ${input.requestedAt}::timestamptz)`.pipe(
          Effect.flatMap((rows) => decodeCreateRow(rows[0]))
        )

      const createTask = (input: CreateTaskInput) =>
        create(input).pipe(
          Effect.catchTag("SqlError", (error): Effect.Effect<never, SqlError> => {
            const { code, detail } = sqlStateOf(error)
            return code === "TK010"
              ? Effect.die(new TaskGraphCycle({ steps: Predicate.isString(detail) ? detail.split(",") : [] }))
              : Effect.fail(error)
          }),
          standalone,
          Effect.withSpan("LifecycleRepository.createTask")
        )

      return LifecycleRepository.of({
        createTask,
        // A malformed id names no task: Option.none() like an unknown one.
        advanceTask: (taskUuid, mode) =>
          isUuid(taskUuid)
            ? standalone(advance({ taskUuid, mode })).pipe(Effect.withSpan("LifecycleRepository.advanceTask"))
            : Effect.succeedNone,
        finalizeTask: (taskUuid) =>
          isUuid(taskUuid)
            ? standalone(finalize(taskUuid)).pipe(Effect.withSpan("LifecycleRepository.finalizeTask"))
            : Effect.succeedNone,
        applyStepResult: (stepUuid, backoffSeconds, advance) =>
          standalone(apply({ stepUuid, backoffSeconds, advance })).pipe(
            Effect.withSpan("LifecycleRepository.applyStepResult")
          ),
        nextReadyTasks: (limit) =>
          standalone(nextReady(limit)).pipe(Effect.withSpan("LifecycleRepository.nextReadyTasks")),
        findStepForResult: (stepUuid) =>
          isUuid(stepUuid)
            ? standalone(findStep(stepUuid)).pipe(Effect.withSpan("LifecycleRepository.findStepForResult"))
            : Effect.succeedNone,
        transaction: (effect) => sql.withTransaction(effect).pipe(Effect.catchIf(isSqlError, Effect.die)),
        afterCommit: (effect) => sql.afterCommit(effect)
      })
    })
  )

  /** Needs `SqlClient`; this orchestrator's {@link ProcessorId} is built here. */
  static readonly layer = LifecycleRepository.layerNoDeps.pipe(Layer.provide(ProcessorId.layer))
}
