/**
 * The queue notifications: decoding of the NOTIFY payloads that `tasker.pgmq_send_with_notify` and
 * `tasker.pgmq_send_batch_with_notify` (migrations/0011_pgmq_notify.sql, docs/queues.md §6) put on
 * `pgmq_message_ready.{namespace}`, and the LISTEN session that receives them
 * (`notificationStream`, behind `MessageClient.notifications`). Every payload goes through
 * `Schema`; one that does not decode is logged and skipped, so a stray `NOTIFY` never stops a
 * listener.
 *
 * @since 0.1.0
 */
import { type PgClient, PgConnection } from "@effect/sql-pg"
import { Array as Arr, Effect, Option, Predicate, Queue, Ref, Result, Schedule, Schema, Stream } from "effect"
import type { SqlError } from "effect/sql/SqlError"
import { type MessageNotification, MessagingError } from "./MessageClient.ts"
import { readyChannel } from "./QueueNames.ts"

const MsgId = Schema.Int

const common = {
  queue_name: Schema.String,
  namespace: Schema.String,
  ready_at: Schema.String,
  delay_seconds: Schema.Int
}

/**
 * `message_with_payload`: the message text was under 7000 bytes and rides inline. The message
 * stays undecoded JSON; hydration decodes it.
 *
 * @category models
 * @since 0.1.0
 */
export const MessageWithPayload = Schema.Struct({
  event_type: Schema.Literal("message_with_payload"),
  msg_id: MsgId,
  message: Schema.Unknown,
  ...common
})

/**
 * `message_ready`: signal only (`payload_omitted`, and `truncated` for the 7800-byte safety net);
 * the consumer claims the message with `tasker.pgmq_read_specific_message`.
 *
 * @category models
 * @since 0.1.0
 */
export const MessageReady = Schema.Struct({
  event_type: Schema.Literal("message_ready"),
  msg_id: MsgId,
  payload_omitted: Schema.optionalKey(Schema.Boolean),
  truncated: Schema.optionalKey(Schema.Boolean),
  ...common
})

/**
 * `batch_ready` with every id of the batch, ascending.
 *
 * @category models
 * @since 0.1.0
 */
export const BatchReady = Schema.Struct({
  event_type: Schema.Literal("batch_ready"),
  msg_ids: Schema.Array(MsgId),
  message_count: Schema.Int,
  ...common
})

/**
 * `batch_ready` for a batch too large to list (about 700+ ids): only the first and last id.
 *
 * @category models
 * @since 0.1.0
 */
export const BatchReadyIdsOmitted = Schema.Struct({
  event_type: Schema.Literal("batch_ready"),
  msg_ids_omitted: Schema.Literal(true),
  first_msg_id: MsgId,
  last_msg_id: MsgId,
  message_count: Schema.Int,
  ...common
})

/**
 * Any payload of the `pgmq_message_ready.*` channels.
 *
 * @category models
 * @since 0.1.0
 */
export const PgmqNotification = Schema.Union([MessageWithPayload, MessageReady, BatchReady, BatchReadyIdsOmitted])
/** @category models @since 0.1.0 */
export type PgmqNotification = typeof PgmqNotification.Type

/**
 * The payload as the JSON text `pg_notify` delivers.
 *
 * @category schemas
 * @since 0.1.0
 */
export const PgmqNotificationFromJson = Schema.fromJsonString(PgmqNotification)

/**
 * The port's view of a payload. For a batch whose ids were omitted, `msgIds` is the whole range
 * `first_msg_id..last_msg_id`: every batch id is in it, and any other id in it belongs to the
 * same queue (one msg_id sequence per queue) and was sent by an interleaved sender, so claiming
 * it by id is correct too.
 *
 * @category conversions
 * @since 0.1.0
 */
export const toMessageNotification = (n: PgmqNotification): MessageNotification => {
  switch (n.event_type) {
    case "message_with_payload":
      return { _tag: "Message", queue: n.queue_name, namespace: n.namespace, msgId: n.msg_id, message: n.message }
    case "message_ready":
      return { _tag: "Available", queue: n.queue_name, namespace: n.namespace, msgId: n.msg_id }
    case "batch_ready":
      return {
        _tag: "BatchAvailable",
        queue: n.queue_name,
        namespace: n.namespace,
        msgIds: "msg_ids" in n
          ? n.msg_ids
          : Arr.makeBy(Math.max(0, n.last_msg_id - n.first_msg_id + 1), (i) => n.first_msg_id + i)
      }
  }
}

const decodePayload = Schema.decodeUnknownEffect(PgmqNotificationFromJson)

/**
 * Decodes one payload; a payload that is not one of the forms above is logged (with its first
 * 200 characters) and answered with `None`.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodeNotification = Effect.fnUntraced(function*(payload: string, channel?: string) {
  return yield* decodePayload(payload).pipe(
    Effect.map((n) => Option.some(toMessageNotification(n))),
    Effect.catch((error) =>
      Effect.logWarning("skipping an undecodable queue notification").pipe(
        Effect.annotateLogs({ channel: channel ?? "", payload: payload.slice(0, 200), error: error.message }),
        Effect.as(Option.none<MessageNotification>())
      )
    )
  )
})

/**
 * Reconnect backoff of the LISTEN session: 100 ms doubling, capped at 5 s, jittered. Forever;
 * `Stream.retry` resets it once a new session emits its `Resync`.
 *
 * @category listening
 * @since 0.1.0
 */
export const reconnectSchedule = Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("5 seconds")]).pipe(
  Schedule.jittered
)

/** How long a new LISTEN session waits for its own self-test notification. */
export const selfTestTimeout = "5 seconds"

class SelfTestTimeout extends Schema.TaggedError<SelfTestTimeout>()("SelfTestTimeout", { channel: Schema.String }) {}

/** The distinct messages along a failure's `cause` chain, e.g. the server's reason for a kill. */
const describeFailure = (failure: unknown): string => {
  const messages: Array<string> = []
  for (let current = failure, depth = 0; Predicate.hasProperty(current, "message") && depth < 5; depth++) {
    const message = String(current.message)
    if (!messages.includes(message)) messages.push(message)
    current = Predicate.hasProperty(current, "cause") ? current.cause : undefined
  }
  return messages.length > 0 ? messages.join(": ") : String(failure)
}

/**
 * One LISTEN session: a dedicated connection (outside the pool, application name
 * `<name>-listener`), LISTEN on a private self-test channel and on each namespace channel, a
 * self-test NOTIFY through the pool that must come back within `selfTestTimeout`, then `Resync`
 * and the decoded notifications of the requested namespaces. Fails when the connection does.
 */
const session = (sql: PgClient.PgClient, namespaces: ReadonlySet<string>, connectedBefore: Ref.Ref<boolean>) =>
  Stream.unwrap(Effect.gen(function*() {
    // Pinned once: a second LISTEN through the unpinned session would wait forever for the first one's pin.
    const conn = yield* Effect.flatMap(
      PgConnection.make({
        ...sql.config,
        applicationName: `${sql.config.applicationName ?? "tasker"}-listener`,
        keepAlive: sql.config.keepAlive ?? "30 seconds"
      }),
      (connection) => connection.pin
    )
    const token = crypto.randomUUID()
    const selfTestChannel = `tasker_listener_selftest_${token.replaceAll("-", "")}`
    const selfTest = yield* conn.listen(selfTestChannel)
    const queues = yield* Effect.forEach(namespaces, (namespace) => conn.listen(readyChannel(namespace)))
    // `notify` uses a pool connection outside any transaction, so it is delivered at once.
    yield* sql.notify(selfTestChannel, token)
    const awaitToken: Effect.Effect<void, SqlError> = Effect.flatMap(
      Queue.take(selfTest),
      (n) => n.payload === token ? Effect.void : awaitToken
    )
    yield* awaitToken.pipe(
      Effect.timeoutOrElse({
        duration: selfTestTimeout,
        orElse: () => Effect.fail(new SelfTestTimeout({ channel: selfTestChannel }))
      })
    )
    const reconnected = yield* Ref.getAndSet(connectedBefore, true)
    yield* Effect.logInfo(`queue notifications ${reconnected ? "reconnected" : "connected"}`).pipe(
      Effect.annotateLogs({ namespaces: [...namespaces].join(","), pid: conn.processId })
    )
    const resync: MessageNotification = { _tag: "Resync", reason: reconnected ? "reconnected" : "connected" }
    // The self-test queue takes part so that the merge ends only when the session fails.
    const received = Stream.mergeAll([selfTest, ...queues].map(Stream.fromQueue), { concurrency: "unbounded" })
    return Stream.succeed(resync).pipe(Stream.concat(Stream.filterMapEffect(received, (n) =>
      n.channel === selfTestChannel
        ? Effect.succeed(Result.fail(n))
        : Effect.map(decodeNotification(n.payload, n.channel), (decoded) =>
          Option.isSome(decoded) && decoded.value._tag !== "Resync" && namespaces.has(decoded.value.namespace)
            ? Result.succeed(decoded.value)
            : Result.fail(n)))))
  }))

/**
 * `MessageClient.notifications`: the notifications of `namespaces` on one LISTEN session that is
 * re-established after any failure (`reconnectSchedule`); each (re)connection emits `Resync`
 * (`connected` the first time, `reconnected` after). Never fails; interrupting it closes the
 * session's connection.
 *
 * @category listening
 * @since 0.1.0
 */
export const notificationStream = (
  sql: PgClient.PgClient,
  namespaces: ReadonlyArray<string>
): Stream.Stream<MessageNotification> =>
  Stream.unwrap(Effect.map(Ref.make(false), (connectedBefore) =>
    session(sql, new Set(namespaces), connectedBefore).pipe(
      Stream.mapError((cause) => new MessagingError({ operation: "notifications", cause })),
      Stream.tapError((error) =>
        Effect.logWarning("queue notification session failed; reconnecting").pipe(
          Effect.annotateLogs({ namespaces: namespaces.join(","), error: describeFailure(error.cause) })
        )
      ),
      Stream.retry(reconnectSchedule),
      Stream.orDie
    )))
