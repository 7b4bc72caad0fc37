/**
 * The worker's database path (migrations/0013_worker_functions.sql, docs/sql-functions.md
 * "Worker functions"): one round trip to claim steps, one to heartbeat a lease, one to complete a
 * step (result + step-results message + worker-message delete in one transaction).
 *
 * A claim is a lease on the queue message, `(queue, msgId, readCt)`. Once the visibility timeout
 * lapses and another worker re-reads the message, the old lease can neither be extended
 * (`heartbeat` → false) nor completed (`complete` → false, nothing written).
 *
 * A batch worker's checkpoint is written under the same lease (`checkpoint` → false once it is lost).
 *
 * Transient database failures (connection, timeouts) surface as `WorkerDatabaseUnavailable` so a
 * poll loop can back off; deadlocks / serialization failures are retried a few times first; every
 * other SQL or decoding failure is a defect.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Schedule, Schema, SchemaTransformation } from "effect"
import { SqlClient, type SqlError, SqlSchema } from "effect/sql"
import { CorrelationId, JsonObject, StepUuid, TaskUuid } from "../domain/Ids.ts"
import { encodeStepExecutionResult, type StepExecutionResult } from "../domain/StepExecutionResult.ts"

/** pgmq message ids are int8, decoded by the driver as `bigint`; ours stay below 2^53. */
const MsgId = Schema.BigInt.pipe(
  Schema.decodeTo(Schema.Int, SchemaTransformation.transform({ decode: (b) => Number(b), encode: (n) => BigInt(n) }))
)

/** @category models @since 0.1.0 */
export const ClaimEvent = Schema.Literals(["Start", "Reclaim"])
/** @category models @since 0.1.0 */
export type ClaimEvent = typeof ClaimEvent.Type

/**
 * One claimed step: the lease (queue, msgId, readCt, leaseExpiresAt) and everything the handler
 * needs. `dependencyResults` maps each completed (or manually resolved) transitive ancestor's step
 * name to its full stored `StepExecutionResult` JSON (`.result` is the handler output).
 *
 * @category models
 * @since 0.1.0
 */
export class ClaimedStep extends Schema.Class<ClaimedStep>("ClaimedStep")({
  queue: Schema.String,
  workerId: Schema.String,
  msgId: MsgId,
  readCt: Schema.Int,
  leaseExpiresAt: Schema.DateTimeUtcFromDate,
  claimEvent: ClaimEvent,
  taskUuid: TaskUuid,
  stepUuid: StepUuid,
  correlationId: CorrelationId,
  namespace: Schema.String,
  taskName: Schema.String,
  taskVersion: Schema.String,
  stepName: Schema.String,
  /** The template step this step was made from (differs from `stepName` for batch workers). */
  templateStepName: Schema.String,
  stepType: Schema.String,
  /** `null` when the template has no step of that name: no handler can run it. */
  handlerCallable: Schema.NullOr(Schema.String),
  handlerInitialization: JsonObject,
  timeoutSeconds: Schema.NullOr(Schema.Int),
  stepDefinition: Schema.NullOr(JsonObject),
  inputs: Schema.NullOr(Schema.Json),
  taskContext: JsonObject,
  /** After this claim's increment: 1 on the first execution. */
  attempts: Schema.Int,
  maxAttempts: Schema.Int,
  retryable: Schema.Boolean,
  checkpoint: Schema.NullOr(Schema.Json),
  dependencyResults: Schema.Record(Schema.String, Schema.Json)
}) {}

/**
 * The database could not be reached or timed out; nothing is known to have changed. A claim can be
 * retried; a complete can be retried while the lease lasts (a retry after a lost commit answers
 * `false`).
 *
 * @category errors
 * @since 0.1.0
 */
export class WorkerDatabaseUnavailable extends Schema.TaggedError<WorkerDatabaseUnavailable>()(
  "WorkerDatabaseUnavailable",
  { operation: Schema.String, cause: Schema.Defect() }
) {}

/** @category models @since 0.1.0 */
export interface ClaimOptions {
  /** Seconds the messages stay invisible to other workers (heartbeat to extend). */
  readonly visibilityTimeoutSeconds: number
  readonly limit: number
  /** Recorded on the transitions (audit); also used when completing. */
  readonly workerId: string
}

/** @category models @since 0.1.0 */
export interface ClaimMessageOptions {
  readonly visibilityTimeoutSeconds: number
  readonly workerId: string
}

// Quoted camelCase aliases: rows decode the same with or without the client's name transform.
const claimedColumns = `c.queue_name AS "queue", c.worker_id AS "workerId", c.msg_id AS "msgId",
  c.read_ct AS "readCt", c.lease_expires_at AS "leaseExpiresAt", c.claim_event AS "claimEvent",
  c.task_uuid AS "taskUuid", c.step_uuid AS "stepUuid", c.correlation_id AS "correlationId",
  c.namespace AS "namespace", c.task_name AS "taskName", c.task_version AS "taskVersion",
  c.step_name AS "stepName", c.template_step_name AS "templateStepName", c.step_type AS "stepType",
  c.handler_callable AS "handlerCallable", c.handler_initialization AS "handlerInitialization",
  c.timeout_seconds AS "timeoutSeconds", c.step_definition AS "stepDefinition", c.inputs AS "inputs",
  c.task_context AS "taskContext", c.attempts AS "attempts", c.max_attempts AS "maxAttempts",
  c.retryable AS "retryable", c.checkpoint AS "checkpoint", c.dependency_results AS "dependencyResults"`

const retriedReasons = new Set(["DeadlockError", "SerializationError", "LockTimeoutError"])

/** Deadlock / serialization / lock-timeout: retried (the transaction was rolled back); transient → typed; rest → defect. */
const databaseErrors = (operation: string) =>
<A, R>(effect: Effect.Effect<A, SqlError.SqlError | Schema.SchemaError, R>) =>
  effect.pipe(
    Effect.retry({
      while: (e) => e._tag === "SqlError" && retriedReasons.has(e.reason._tag),
      schedule: Schedule.max([Schedule.exponential("20 millis"), Schedule.recurs(3)])
    }),
    Effect.catchTag("SqlError", (e) =>
      e.isRetryable ? Effect.fail(new WorkerDatabaseUnavailable({ operation, cause: e })) : Effect.die(e)),
    Effect.catchTag("SchemaError", (e) => Effect.die(e))
  )

/**
 * @category services
 * @since 0.1.0
 */
export class WorkerRepository extends Context.Service<WorkerRepository, {
  /** Creates the worker queue if missing (idempotent); call once at start. */
  ensureQueue(queue: string): Effect.Effect<void, WorkerDatabaseUnavailable>
  /** Claims up to `limit` steps from the queue (`tasker.claim_steps`). */
  claim(queue: string, options: ClaimOptions): Effect.Effect<ReadonlyArray<ClaimedStep>, WorkerDatabaseUnavailable>
  /** Claims the step of one message by id, if it is visible and claimable (`tasker.claim_step_message`). */
  claimMessage(
    queue: string,
    msgId: number,
    options: ClaimMessageOptions
  ): Effect.Effect<Option.Option<ClaimedStep>, WorkerDatabaseUnavailable>
  /**
   * Writes the result and hands the step to orchestration (`tasker.complete_step`). `false`: the
   * lease was lost (re-claimed by another worker) or the step moved on (e.g. cancelled); nothing
   * was written.
   */
  complete(claimed: ClaimedStep, result: StepExecutionResult): Effect.Effect<boolean, WorkerDatabaseUnavailable>
  /** Extends the lease by `seconds` from now; `false` once the lease is lost. */
  heartbeat(claimed: ClaimedStep, seconds: number): Effect.Effect<boolean, WorkerDatabaseUnavailable>
  /** Stores a batch worker's checkpoint (`tasker.checkpoint_step`); `false` once the lease is lost. */
  checkpoint(claimed: ClaimedStep, checkpoint: Schema.Json): Effect.Effect<boolean, WorkerDatabaseUnavailable>
}>()("tasker/worker/WorkerRepository") {
  /** @category constructors @since 0.1.0 */
  static readonly make = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const columns = sql.literal(claimedColumns)

    const claimSteps = SqlSchema.findAll({
      Request: Schema.Struct({ queue: Schema.String, vt: Schema.Int, limit: Schema.Int, workerId: Schema.String }),
      Result: ClaimedStep,
      execute: (r) =>
        sql`SELECT ${columns} FROM tasker.claim_steps(${r.queue}, ${r.vt}, ${r.limit}, ${r.workerId}) c`
    })

    const claimOne = SqlSchema.findOneOption({
      Request: Schema.Struct({ queue: Schema.String, msgId: Schema.Int, vt: Schema.Int, workerId: Schema.String }),
      Result: ClaimedStep,
      execute: (r) =>
        sql`SELECT ${columns}
            FROM tasker.claim_step_message(${r.queue}, ${r.msgId}::bigint, ${r.vt}, ${r.workerId}) c`
    })

    const Flag = Schema.Struct({ ok: Schema.Boolean })
    const completeStep = SqlSchema.findOneOption({
      Request: Schema.Struct({
        queue: Schema.String,
        msgId: Schema.Int,
        stepUuid: Schema.String,
        results: Schema.String,
        workerId: Schema.String,
        readCt: Schema.Int
      }),
      Result: Flag,
      execute: (r) =>
        sql`SELECT tasker.complete_step(${r.queue}, ${r.msgId}::bigint, ${r.stepUuid}::uuid, ${r.results}::jsonb,
                                        ${r.workerId}, ${r.readCt}) AS "ok"`
    })

    const heartbeatStep = SqlSchema.findOneOption({
      Request: Schema.Struct({ queue: Schema.String, msgId: Schema.Int, vt: Schema.Int, readCt: Schema.Int }),
      Result: Flag,
      execute: (r) =>
        sql`SELECT tasker.heartbeat_step(${r.queue}, ${r.msgId}::bigint, ${r.vt}, ${r.readCt}) AS "ok"`
    })

    const checkpointStep = SqlSchema.findOneOption({
      Request: Schema.Struct({
        queue: Schema.String,
        msgId: Schema.Int,
        stepUuid: Schema.String,
        readCt: Schema.Int,
        checkpoint: Schema.String
      }),
      Result: Flag,
      execute: (r) =>
        sql`SELECT tasker.checkpoint_step(${r.queue}, ${r.msgId}::bigint, ${r.stepUuid}::uuid, ${r.readCt},
                                          ${r.checkpoint}::jsonb) AS "ok"`
    })

    const isTrue = (row: Option.Option<{ readonly ok: boolean }>) => Option.isSome(row) && row.value.ok

    return WorkerRepository.of({
      ensureQueue: Effect.fn("WorkerRepository.ensureQueue")(
        function*(queue: string) {
          yield* sql`SELECT tasker.pgmq_ensure_queues(ARRAY[${queue}]::text[])`
        },
        databaseErrors("ensureQueue")
      ),

      claim: Effect.fn("WorkerRepository.claim")(
        function*(queue: string, options: ClaimOptions) {
          return yield* claimSteps({
            queue,
            vt: Math.max(1, Math.ceil(options.visibilityTimeoutSeconds)),
            limit: options.limit,
            workerId: options.workerId
          })
        },
        databaseErrors("claim")
      ),

      claimMessage: Effect.fn("WorkerRepository.claimMessage")(
        function*(queue: string, msgId: number, options: ClaimMessageOptions) {
          return yield* claimOne({
            queue,
            msgId,
            vt: Math.max(1, Math.ceil(options.visibilityTimeoutSeconds)),
            workerId: options.workerId
          })
        },
        databaseErrors("claimMessage")
      ),

      complete: Effect.fn("WorkerRepository.complete")(
        function*(claimed: ClaimedStep, result: StepExecutionResult) {
          if (result.step_uuid !== claimed.stepUuid) {
            return yield* Effect.die(
              new Error(`result for step ${result.step_uuid} passed with the claim of step ${claimed.stepUuid}`)
            )
          }
          const encoded = yield* encodeStepExecutionResult(result)
          return isTrue(
            yield* completeStep({
              queue: claimed.queue,
              msgId: claimed.msgId,
              stepUuid: claimed.stepUuid,
              results: JSON.stringify(encoded),
              workerId: claimed.workerId,
              readCt: claimed.readCt
            })
          )
        },
        databaseErrors("complete")
      ),

      heartbeat: Effect.fn("WorkerRepository.heartbeat")(
        function*(claimed: ClaimedStep, seconds: number) {
          return isTrue(
            yield* heartbeatStep({
              queue: claimed.queue,
              msgId: claimed.msgId,
              vt: Math.max(1, Math.ceil(seconds)),
              readCt: claimed.readCt
            })
          )
        },
        databaseErrors("heartbeat")
      ),

      checkpoint: Effect.fn("WorkerRepository.checkpoint")(
        function*(claimed: ClaimedStep, checkpoint: Schema.Json) {
          return isTrue(
            yield* checkpointStep({
              queue: claimed.queue,
              msgId: claimed.msgId,
              stepUuid: claimed.stepUuid,
              readCt: claimed.readCt,
              checkpoint: JSON.stringify(checkpoint)
            })
          )
        },
        databaseErrors("checkpoint")
      )
    })
  })

  /** @category layers @since 0.1.0 */
  static readonly layer = Layer.effect(this, this.make)
}
