import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Effect, Exit, Layer, Option, Queue, Redacted, Schedule, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { MessageClient, MessagingError, type MessageNotification } from "../../src/messaging/MessageClient.ts"
import { PgmqMessageClient } from "../../src/messaging/PgmqMessageClient.ts"
import { workerQueue } from "../../src/messaging/QueueNames.ts"
import { PgTest } from "../support/PgTest.ts"

const TestLayer = PgmqMessageClient.layer.pipe(Layer.provideMerge(PgTest.layer))

let counter = 0
/** A unique namespace per test (the block shares one database). */
const uniqueNamespace = () => `ns${++counter}_${Math.random().toString(36).slice(2, 8)}`

/** A fresh worker queue of a fresh namespace. */
const freshQueue = Effect.gen(function*() {
  const namespace = uniqueNamespace()
  const queue = workerQueue(namespace)
  yield* (yield* MessageClient).ensureQueue(queue)
  return { namespace, queue }
})

/** Runs the stream into a queue in the current scope. */
const subscribe = (namespaces: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const client = yield* MessageClient
    const received = yield* Queue.unbounded<MessageNotification>()
    yield* client.notifications(namespaces).pipe(
      Stream.runForEach((n) => Queue.offer(received, n)),
      Effect.forkScoped
    )
    return received
  })

const next = (received: Queue.Queue<MessageNotification>) =>
  Queue.take(received).pipe(Effect.timeout("15 seconds"), Effect.orDie)

const listenerBackends = (sql: SqlClient.SqlClient) =>
  sql<{ pid: number }>`
    SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = 'tasker-test-listener'`

layer(TestLayer, { timeout: "60 seconds", excludeTestServices: true })("PgmqMessageClient", (it) => {
  it.effect("send, read, visibility timeout and reappearance", () =>
    Effect.gen(function*() {
      const client = yield* MessageClient
      const { queue } = yield* freshQueue
      const id = yield* client.send(queue, { task_uuid: "a", n: 1 })
      const [first] = yield* client.read(queue, { visibilityTimeoutSeconds: 1, limit: 10 })
      assert.strictEqual(first.msgId, id)
      assert.strictEqual(first.queue, queue)
      assert.strictEqual(first.readCt, 1)
      assert.deepStrictEqual(first.message, { task_uuid: "a", n: 1 })
      assert.isTrue(first.visibleAt > first.enqueuedAt)
      assert.deepStrictEqual(yield* client.read(queue, { visibilityTimeoutSeconds: 1, limit: 10 }), [])
      yield* Effect.sleep("1200 millis")
      const [again] = yield* client.read(queue, { visibilityTimeoutSeconds: 30, limit: 10 })
      assert.strictEqual(again.msgId, id)
      assert.strictEqual(again.readCt, 2)
    }))

  it.effect("delayed send stays invisible", () =>
    Effect.gen(function*() {
      const client = yield* MessageClient
      const { queue } = yield* freshQueue
      yield* client.send(queue, { later: true }, { delaySeconds: 30 })
      assert.deepStrictEqual(yield* client.read(queue, { visibilityTimeoutSeconds: 30, limit: 10 }), [])
      assert.strictEqual((yield* client.metrics(queue)).length, 1)
    }))

  it.effect("ack archives, nack requeues or deletes, delete", () =>
    Effect.gen(function*() {
      const client = yield* MessageClient
      const sql = yield* SqlClient.SqlClient
      const { queue } = yield* freshQueue
      const [a, b, c] = yield* client.sendBatch(queue, [{ i: 1 }, { i: 2 }, { i: 3 }])
      assert.lengthOf(yield* client.read(queue, { visibilityTimeoutSeconds: 30, limit: 10 }), 3)

      assert.isTrue(yield* client.ack(queue, a))
      assert.isFalse(yield* client.ack(queue, a))
      const archived = yield* sql<{ msgId: bigint }>`SELECT msg_id FROM ${sql(`pgmq.a_${queue}`)}`
      assert.deepStrictEqual(archived.map((r) => Number(r.msgId)), [a])

      yield* client.nack(queue, b, { requeue: true })
      const [requeued] = yield* client.read(queue, { visibilityTimeoutSeconds: 30, limit: 10 })
      assert.strictEqual(requeued.msgId, b)
      assert.strictEqual(requeued.readCt, 2)

      yield* client.nack(queue, b, { requeue: false })
      assert.isTrue(yield* client.delete(queue, c))
      assert.isFalse(yield* client.delete(queue, c))
      assert.strictEqual((yield* client.metrics(queue)).length, 0)
    }))

  it.effect("extend keeps a message invisible; readById claims only visible messages", () =>
    Effect.gen(function*() {
      const client = yield* MessageClient
      const { queue } = yield* freshQueue
      const id = yield* client.send(queue, { x: 1 })
      const claimed = yield* client.readById(queue, id, 1)
      assert.isTrue(Option.isSome(claimed))
      assert.strictEqual(Option.getOrThrow(claimed).readCt, 1)
      assert.isTrue(Option.isNone(yield* client.readById(queue, id, 1)))
      assert.isTrue(yield* client.extend(queue, id, 30))
      yield* Effect.sleep("1200 millis")
      assert.deepStrictEqual(yield* client.read(queue, { visibilityTimeoutSeconds: 30, limit: 10 }), [])
      assert.isFalse(yield* client.extend(queue, id + 1000, 30))
      assert.isTrue(Option.isNone(yield* client.readById(queue, id + 1000, 30)))
    }))

  it.effect("deadLetter archives with the error in the headers", () =>
    Effect.gen(function*() {
      const client = yield* MessageClient
      const sql = yield* SqlClient.SqlClient
      const { queue } = yield* freshQueue
      const id = yield* client.send(queue, { bad: true })
      assert.isTrue(yield* client.deadLetter(queue, id, "does not decode"))
      assert.isFalse(yield* client.deadLetter(queue, id, "again"))
      const [row] = yield* sql<{ headers: { tasker_error: string }; message: unknown }>`
        SELECT headers, message FROM ${sql(`pgmq.a_${queue}`)} WHERE msg_id = ${id}::bigint`
      assert.strictEqual(row.headers.tasker_error, "does not decode")
      assert.deepStrictEqual(row.message, { bad: true })
      assert.strictEqual((yield* client.metrics(queue)).length, 0)
      const invalid = yield* Effect.exit(client.deadLetter("bad-name", 1, "x"))
      assert.isTrue(Exit.isFailure(invalid))
    }))

  it.effect("metrics, metricsAll and sendBatch order", () =>
    Effect.gen(function*() {
      const client = yield* MessageClient
      const { queue } = yield* freshQueue
      const ids = yield* client.sendBatch(queue, [{ i: 1 }, { i: 2 }, { i: 3 }])
      assert.deepStrictEqual([...ids].sort((x, y) => x - y), [...ids])
      assert.deepStrictEqual(yield* client.sendBatch(queue, []), [])
      const read = yield* client.read(queue, { visibilityTimeoutSeconds: 30, limit: 1 })
      assert.deepStrictEqual(read.map((m) => m.message), [{ i: 1 }])
      const m = yield* client.metrics(queue)
      assert.strictEqual(m.queue, queue)
      assert.strictEqual(m.length, 3)
      assert.strictEqual(m.visibleLength, 2)
      assert.strictEqual(m.totalMessages, 3)
      assert.isNotNull(m.oldestMessageAgeSeconds)
      const all = yield* client.metricsAll
      assert.deepStrictEqual(all.find((x) => x.queue === queue), m)
    }))

  it.effect("ensureQueue is idempotent, and a rolled-back creation is not cached", () =>
    Effect.gen(function*() {
      const client = yield* MessageClient
      const sql = yield* SqlClient.SqlClient
      const queue = workerQueue(uniqueNamespace())
      yield* client.ensureQueue(queue).pipe(
        Effect.andThen(Effect.fail("rollback" as const)),
        sql.withTransaction,
        Effect.flip
      )
      const missing = yield* Effect.flip(client.read(queue, { visibilityTimeoutSeconds: 30, limit: 1 }))
      assert.instanceOf(missing, MessagingError)
      assert.strictEqual(missing.operation, "read")
      assert.strictEqual(missing.queue, queue)
      yield* client.ensureQueue(queue)
      yield* client.ensureQueue(queue)
      const meta = yield* sql`SELECT 1 FROM pgmq.meta WHERE queue_name = ${queue}`
      assert.lengthOf(meta, 1)
      assert.deepStrictEqual(yield* client.read(queue, { visibilityTimeoutSeconds: 30, limit: 1 }), [])
    }))

  it.effect("a send inside a rolled-back transaction leaves no message and no notification", () =>
    Effect.gen(function*() {
      const client = yield* MessageClient
      const sql = yield* SqlClient.SqlClient
      const { namespace, queue } = yield* freshQueue
      const received = yield* subscribe([namespace])
      assert.deepStrictEqual(yield* next(received), { _tag: "Resync", reason: "connected" })
      yield* client.send(queue, { rolled: "back" }).pipe(
        Effect.andThen(Effect.fail("rollback" as const)),
        sql.withTransaction,
        Effect.flip
      )
      assert.deepStrictEqual(yield* client.read(queue, { visibilityTimeoutSeconds: 30, limit: 10 }), [])
      const committed = yield* sql.withTransaction(client.send(queue, { committed: true }))
      const n = yield* next(received)
      assert.deepStrictEqual(n, { _tag: "Message", queue, namespace, msgId: committed, message: { committed: true } })
    }).pipe(Effect.scoped))

  it.effect("notifications: Resync, then Message, Available and BatchAvailable of the namespaces", () =>
    Effect.gen(function*() {
      const client = yield* MessageClient
      const { namespace, queue } = yield* freshQueue
      const other = yield* freshQueue
      const third = yield* freshQueue
      const received = yield* subscribe([namespace, third.namespace])
      assert.deepStrictEqual(yield* next(received), { _tag: "Resync", reason: "connected" })

      yield* client.send(other.queue, { ignored: true })
      const small = yield* client.send(queue, { small: true })
      assert.deepStrictEqual(yield* next(received), {
        _tag: "Message",
        queue,
        namespace,
        msgId: small,
        message: { small: true }
      })
      const large = yield* client.send(queue, { blob: "x".repeat(7100) })
      assert.deepStrictEqual(yield* next(received), { _tag: "Available", queue, namespace, msgId: large })
      const batch = yield* client.sendBatch(third.queue, [{ b: 1 }, { b: 2 }])
      assert.deepStrictEqual(yield* next(received), {
        _tag: "BatchAvailable",
        queue: third.queue,
        namespace: third.namespace,
        msgIds: batch
      })
      assert.strictEqual(yield* Queue.size(received), 0)
    }).pipe(Effect.scoped))

  it.effect("malformed payloads and foreign namespaces on the channel are skipped", () =>
    Effect.gen(function*() {
      const client = yield* MessageClient
      const sql = yield* SqlClient.SqlClient
      const { namespace, queue } = yield* freshQueue
      const received = yield* subscribe([namespace])
      assert.deepStrictEqual(yield* next(received), { _tag: "Resync", reason: "connected" })
      const channel = `pgmq_message_ready.${namespace}`
      yield* sql`SELECT pg_notify(${channel}, 'not json')`
      yield* sql`SELECT pg_notify(${channel}, ${JSON.stringify({ event_type: "bogus" })})`
      yield* sql`SELECT pg_notify(${channel}, ${
        JSON.stringify({
          event_type: "message_ready",
          msg_id: 1,
          queue_name: "worker_elsewhere_queue",
          namespace: "elsewhere",
          ready_at: "2026-01-01T00:00:00+00:00",
          delay_seconds: 0,
          payload_omitted: true
        })
      })`
      const id = yield* client.send(queue, { after: "garbage" })
      assert.deepStrictEqual(yield* next(received), {
        _tag: "Message",
        queue,
        namespace,
        msgId: id,
        message: { after: "garbage" }
      })
    }).pipe(Effect.scoped))

  it.effect("a killed LISTEN session is re-established with Resync reconnected; closing the scope frees it", () =>
    Effect.gen(function*() {
      const client = yield* MessageClient
      const sql = yield* SqlClient.SqlClient
      const { namespace, queue } = yield* freshQueue
      yield* Effect.gen(function*() {
        const received = yield* subscribe([namespace])
        assert.deepStrictEqual(yield* next(received), { _tag: "Resync", reason: "connected" })
        const killed = yield* sql<{ ok: boolean }>`
          SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
          WHERE datname = current_database() AND query ILIKE 'LISTEN%'`
        assert.isAtLeast(killed.length, 1)
        assert.deepStrictEqual(yield* next(received), { _tag: "Resync", reason: "reconnected" })
        const id = yield* client.send(queue, { after: "reconnect" })
        assert.deepStrictEqual(yield* next(received), {
          _tag: "Message",
          queue,
          namespace,
          msgId: id,
          message: { after: "reconnect" }
        })
        assert.lengthOf(yield* listenerBackends(sql), 1)
      }).pipe(Effect.scoped)
      // The scope closed: the dedicated listener connection is gone.
      yield* listenerBackends(sql).pipe(
        Effect.flatMap((rows) => rows.length === 0 ? Effect.void : Effect.fail("listener still connected")),
        Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 40 })
      )
    }))

  it.effect("without a reachable server the stream keeps retrying, never fails, and is interruptible", () =>
    Effect.gen(function*() {
      const client = yield* MessageClient
      const outcome = yield* client.notifications(["nowhere"]).pipe(
        Stream.runCollect,
        Effect.timeoutOption("1500 millis")
      )
      assert.isTrue(Option.isNone(outcome))
    }).pipe(
      Effect.provide(Layer.fresh(PgmqMessageClient.layer).pipe(
        Layer.provide(PgClient.layer({ url: Redacted.make("postgres://postgres@127.0.0.1:1/nowhere"), connectTimeout: "200 millis" }))
      ))
    ))
})
