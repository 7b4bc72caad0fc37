/**
 * The messaging port of the engine (TAS-133's MessageClient): send, read, acknowledge and watch
 * queues. The pgmq implementation (`PgmqMessageClient.ts`) keeps the queues in the engine's own
 * database, so a send inside a SQL transaction commits or rolls back with it.
 */
import { Context, Schema, type Effect, type Option, type Stream } from "effect"

/** A message read from a queue; `message` is the undecoded JSON payload (hydration decodes it). */
export interface QueuedMessage {
  readonly queue: string
  readonly msgId: number
  readonly readCt: number
  readonly enqueuedAt: Date
  readonly visibleAt: Date
  readonly message: unknown
}

export interface QueueMetrics {
  readonly queue: string
  readonly length: number
  readonly visibleLength: number
  readonly oldestMessageAgeSeconds: number | null
  readonly newestMessageAgeSeconds: number | null
  readonly totalMessages: number
}

/**
 * What the notification stream yields. `Message` carries the payload inline (under 7000 bytes),
 * `Available` and `BatchAvailable` only say where to look. `Resync` is emitted after every
 * (re)connection of the LISTEN session: notifications sent while it was down are lost, so the
 * consumer must re-read its queues from the tables.
 */
export type MessageNotification =
  | { readonly _tag: "Message"; readonly queue: string; readonly namespace: string; readonly msgId: number; readonly message: unknown }
  | { readonly _tag: "Available"; readonly queue: string; readonly namespace: string; readonly msgId: number }
  | { readonly _tag: "BatchAvailable"; readonly queue: string; readonly namespace: string; readonly msgIds: ReadonlyArray<number> }
  | { readonly _tag: "Resync"; readonly reason: "connected" | "reconnected" }

export class MessagingError extends Schema.TaggedError<MessagingError>()("MessagingError", {
  operation: Schema.String,
  queue: Schema.optional(Schema.String),
  cause: Schema.Defect()
}) {}

export interface ReadOptions {
  /** Seconds the read messages stay invisible to other readers. */
  readonly visibilityTimeoutSeconds: number
  readonly limit: number
}

export class MessageClient extends Context.Service<MessageClient, {
  /** Creates the queue if it does not exist (idempotent). */
  ensureQueue(queue: string): Effect.Effect<void, MessagingError>
  /** Sends with a NOTIFY on the queue's namespace channel, delivered at commit. */
  send(queue: string, message: unknown, options?: { readonly delaySeconds?: number }): Effect.Effect<number, MessagingError>
  sendBatch(queue: string, messages: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<number>, MessagingError>
  read(queue: string, options: ReadOptions): Effect.Effect<ReadonlyArray<QueuedMessage>, MessagingError>
  /** Claims one message by id if it is visible (for signal-only notifications). */
  readById(queue: string, msgId: number, visibilityTimeoutSeconds: number): Effect.Effect<Option.Option<QueuedMessage>, MessagingError>
  /** Acknowledges: moves the message to the archive table. */
  ack(queue: string, msgId: number): Effect.Effect<boolean, MessagingError>
  /** Negative acknowledgement: visible again now (`requeue`), or deleted. */
  nack(queue: string, msgId: number, options: { readonly requeue: boolean }): Effect.Effect<void, MessagingError>
  /** Keeps a message invisible for another `visibilityTimeoutSeconds` from now (heartbeat). */
  extend(queue: string, msgId: number, visibilityTimeoutSeconds: number): Effect.Effect<boolean, MessagingError>
  delete(queue: string, msgId: number): Effect.Effect<boolean, MessagingError>
  /**
   * A message that can never be processed (it does not decode, or names nothing that exists):
   * records `error` in the message's headers (`tasker_error`) and archives it, so it is kept for
   * inspection in `pgmq.a_<queue>` and never redelivered.
   */
  deadLetter(queue: string, msgId: number, error: string): Effect.Effect<boolean, MessagingError>
  metrics(queue: string): Effect.Effect<QueueMetrics, MessagingError>
  readonly metricsAll: Effect.Effect<ReadonlyArray<QueueMetrics>, MessagingError>
  /**
   * Notifications for the given namespaces (`orchestration`, or worker namespaces) on one LISTEN
   * session, verified by a self-test notification at start, reconnected with backoff after any
   * failure; each (re)connection yields `Resync` first. The stream never fails.
   */
  notifications(namespaces: ReadonlyArray<string>): Stream.Stream<MessageNotification>
}>()("tasker/messaging/MessageClient") {}
