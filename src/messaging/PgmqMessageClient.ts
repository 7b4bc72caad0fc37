/**
 * `MessageClient` on pgmq in the engine's own database (docs/queues.md). Each method is one SQL
 * call through the `PgClient`, which follows the fiber's transaction: a send inside
 * `sql.withTransaction` commits or rolls back with it, and its NOTIFY is delivered only at commit.
 *
 * `notifications` is `Notifications.notificationStream`: one dedicated LISTEN session per call,
 * self-tested, reconnected with capped backoff.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Option, Ref, Schema, SchemaTransformation } from "effect"
import type { Statement } from "effect/sql"
import { MessageClient, MessagingError, type QueuedMessage, type QueueMetrics } from "./MessageClient.ts"
import { notificationStream } from "./Notifications.ts"

/** int8 columns arrive as `bigint`; ids and counts stay far below 2^53. */
const NumberFromBigInt = Schema.BigInt.pipe(
  Schema.decodeTo(Schema.Number, SchemaTransformation.transform({ decode: Number, encode: (n: number) => BigInt(n) }))
)

const MessageRow = Schema.Struct({
  msgId: NumberFromBigInt,
  readCt: Schema.Number,
  enqueuedAt: Schema.Date,
  vt: Schema.Date,
  message: Schema.Unknown
})
const MetricsRow = Schema.Struct({
  queueName: Schema.String,
  queueLength: NumberFromBigInt,
  queueVisibleLength: NumberFromBigInt,
  oldestMsgAgeSec: Schema.NullOr(Schema.Number),
  newestMsgAgeSec: Schema.NullOr(Schema.Number),
  totalMessages: NumberFromBigInt
})
const IdRow = Schema.Struct({ msgId: NumberFromBigInt })
const OkRow = Schema.Struct({ ok: Schema.Boolean })

const decodeMessages = Schema.decodeUnknownEffect(Schema.Array(MessageRow))
const decodeMetrics = Schema.decodeUnknownEffect(Schema.Array(MetricsRow))
const decodeOneMetrics = Schema.decodeUnknownEffect(Schema.Tuple([MetricsRow]))
const decodeIds = Schema.decodeUnknownEffect(Schema.Array(IdRow))
const decodeOneId = Schema.decodeUnknownEffect(Schema.Tuple([IdRow]))
const decodeOk = Schema.decodeUnknownEffect(Schema.Tuple([OkRow]))
const decodeOks = Schema.decodeUnknownEffect(Schema.Array(OkRow))

/** pgmq's queue-name rule as 0011 enforces it (1-47 letters, digits, underscores). */
const validQueueName = /^[A-Za-z0-9_]{1,47}$/

const messageColumns = "msg_id, read_ct, enqueued_at, vt, message"

const toQueued = (queue: string) => (row: typeof MessageRow.Type): QueuedMessage => ({
  queue,
  msgId: row.msgId,
  readCt: row.readCt,
  enqueuedAt: row.enqueuedAt,
  visibleAt: row.vt,
  message: row.message
})

const toMetrics = (row: typeof MetricsRow.Type): QueueMetrics => ({
  queue: row.queueName,
  length: row.queueLength,
  visibleLength: row.queueVisibleLength,
  oldestMessageAgeSeconds: row.oldestMsgAgeSec,
  newestMessageAgeSeconds: row.newestMsgAgeSec,
  totalMessages: row.totalMessages
})

/** Maps any failure of a method to `MessagingError { operation, queue }` (extra `Effect.fn` step). */
const wrap = (operation: string) => <A, E, R>(effect: Effect.Effect<A, E, R>, queue?: string) =>
  Effect.mapError(effect, (cause) =>
    queue === undefined
      ? new MessagingError({ operation, cause })
      : new MessagingError({ operation, queue, cause }))

/**
 * Builds the client on the `PgClient` in context.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const created = yield* Ref.make<ReadonlySet<string>>(new Set())

  const ensureQueue = Effect.fn("PgmqMessageClient.ensureQueue")(function*(queue: string) {
    if ((yield* Ref.get(created)).has(queue)) return
    yield* sql`SELECT tasker.pgmq_ensure_queues(ARRAY[${queue}]::text[])`
    // Remembered only once the creation is committed (at once outside a transaction).
    yield* sql.afterCommit(Ref.update(created, (set) => new Set(set).add(queue)))
  }, wrap("ensureQueue"))

  const send = Effect.fn("PgmqMessageClient.send")(
    function*(queue: string, message: unknown, options?: { readonly delaySeconds?: number }) {
      const [row] = yield* sql`SELECT tasker.pgmq_send_with_notify(${queue}, ${sql.json(message)}, ${
        options?.delaySeconds ?? 0
      }::integer) AS msg_id`.pipe(Effect.flatMap(decodeOneId))
      return row.msgId
    },
    wrap("send")
  )

  const sendBatch = Effect.fn("PgmqMessageClient.sendBatch")(function*(queue: string, messages: ReadonlyArray<unknown>) {
    const ids = yield* sql`
      SELECT s AS msg_id FROM tasker.pgmq_send_batch_with_notify(
        ${queue},
        ARRAY(SELECT e FROM jsonb_array_elements(${sql.json(messages)}) WITH ORDINALITY AS t(e, i) ORDER BY i),
        0) AS s`.pipe(Effect.flatMap(decodeIds))
    return ids.map((row) => row.msgId)
  }, wrap("sendBatch"))

  const read = Effect.fn("PgmqMessageClient.read")(
    function*(queue: string, options: { readonly visibilityTimeoutSeconds: number; readonly limit: number }) {
      const found = yield* sql`
        SELECT ${sql.literal(messageColumns)}
        FROM pgmq.read(${queue}, ${options.visibilityTimeoutSeconds}::integer, ${options.limit}::integer)`.pipe(
        Effect.flatMap(decodeMessages)
      )
      return found.map(toQueued(queue))
    },
    wrap("read")
  )

  const readById = Effect.fn("PgmqMessageClient.readById")(
    function*(queue: string, msgId: number, visibilityTimeoutSeconds: number) {
      const found = yield* sql`
        SELECT ${sql.literal(messageColumns)}
        FROM tasker.pgmq_read_specific_message(${queue}, ${msgId}::bigint, ${visibilityTimeoutSeconds}::integer)`
        .pipe(Effect.flatMap(decodeMessages))
      return Option.map(Option.fromNullishOr(found[0]), toQueued(queue))
    },
    wrap("readById")
  )

  const bool = (statement: Statement.Statement<unknown>) =>
    statement.pipe(Effect.flatMap(decodeOk), Effect.map(([row]) => row.ok))

  const ack = Effect.fn("PgmqMessageClient.ack")(function*(queue: string, msgId: number) {
    return yield* bool(sql`SELECT pgmq.archive(${queue}, ${msgId}::bigint) AS ok`)
  }, wrap("ack"))

  const nack = Effect.fn("PgmqMessageClient.nack")(
    function*(queue: string, msgId: number, options: { readonly requeue: boolean }) {
      yield* options.requeue
        ? sql`SELECT msg_id FROM pgmq.set_vt(${queue}, ${msgId}::bigint, 0)`
        : sql`SELECT pgmq.delete(${queue}, ${msgId}::bigint)`
    },
    wrap("nack")
  )

  const extend = Effect.fn("PgmqMessageClient.extend")(
    function*(queue: string, msgId: number, visibilityTimeoutSeconds: number) {
      return yield* bool(sql`
        SELECT tasker.pgmq_extend_vt_specific_message(${queue}, ${msgId}::bigint, ${visibilityTimeoutSeconds}::integer) AS ok`)
    },
    wrap("extend")
  )

  const deleteMessage = Effect.fn("PgmqMessageClient.delete")(function*(queue: string, msgId: number) {
    return yield* bool(sql`SELECT pgmq.delete(${queue}, ${msgId}::bigint) AS ok`)
  }, wrap("delete"))

  // One statement doing what pgmq.archive does, with the error added to the headers. The table
  // name is inlined only after the same validation as tasker.pgmq_queue_table_name.
  const deadLetter = Effect.fn("PgmqMessageClient.deadLetter")(function*(queue: string, msgId: number, error: string) {
    if (!validQueueName.test(queue)) return yield* Effect.fail(new Error(`invalid queue name ${JSON.stringify(queue)}`))
    const name = queue.toLowerCase()
    return yield* sql`
      WITH moved AS (
        DELETE FROM ${sql.literal(`pgmq."q_${name}"`)} WHERE msg_id = ${msgId}::bigint
        RETURNING msg_id, read_ct, enqueued_at, vt, message, headers
      )
      INSERT INTO ${sql.literal(`pgmq."a_${name}"`)} (msg_id, read_ct, enqueued_at, vt, message, headers)
      SELECT msg_id, read_ct, enqueued_at, vt, message,
             coalesce(headers, '{}'::jsonb) || jsonb_build_object('tasker_error', ${error}::text)
      FROM moved
      RETURNING true AS ok`.pipe(Effect.flatMap(decodeOks), Effect.map((found) => found.length > 0))
  }, wrap("deadLetter"))

  const metricsColumns =
    "queue_name, queue_length, queue_visible_length, oldest_msg_age_sec, newest_msg_age_sec, total_messages"

  const metrics = Effect.fn("PgmqMessageClient.metrics")(function*(queue: string) {
    const [row] = yield* sql`SELECT ${sql.literal(metricsColumns)} FROM pgmq.metrics(${queue})`.pipe(
      Effect.flatMap(decodeOneMetrics)
    )
    return toMetrics(row)
  }, wrap("metrics"))

  const metricsAll = sql`SELECT ${sql.literal(metricsColumns)} FROM pgmq.metrics_all() ORDER BY queue_name`.pipe(
    Effect.flatMap(decodeMetrics),
    Effect.map((found) => found.map(toMetrics)),
    wrap("metricsAll"),
    Effect.withSpan("PgmqMessageClient.metricsAll")
  )

  const notifications = (namespaces: ReadonlyArray<string>) => notificationStream(sql, namespaces)

  return MessageClient.of({
    ensureQueue,
    send,
    sendBatch,
    read,
    readById,
    ack,
    nack,
    extend,
    delete: deleteMessage,
    deadLetter,
    metrics,
    metricsAll,
    notifications
  })
})

/**
 * The pgmq `MessageClient`; needs the `PgClient` (SqlLive / PgTest provide it).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = Layer.effect(MessageClient, make)

/** `PgmqMessageClient.layer` / `PgmqMessageClient.make`. */
export const PgmqMessageClient = { layer, make } as const
