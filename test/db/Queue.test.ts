/**
 * The pgmq queue API (0010) and Tasker's notify-on-send helpers (0011), docs/queues.md:
 * visibility timeouts, archive / delete, batches, metrics, LISTEN payloads and by-id claims.
 */
import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Effect, Queue, Ref } from "effect"
import { SqlClient } from "effect/sql"
import { raceTransactions, unique } from "../support/Fixtures.ts"
import { PgTest } from "../support/PgTest.ts"

interface Message {
  readonly msgId: number
  readonly readCt: number
  readonly message: unknown
}

const columns = "msg_id::int AS msg_id, read_ct, message"

/** A new queue named `worker_<ns>_queue`, so its namespace (and notify channel suffix) is `ns`. */
const createQueue = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const ns = unique("ns")
  const name = `worker_${ns}_queue`
  yield* sql`SELECT pgmq.create(${name})`
  return { name, ns, table: sql(`q_${name}`), archive: sql(`a_${name}`) }
})

const send = (queue: string, message: unknown) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ id: number }>`SELECT pgmq.send(${queue}, ${JSON.stringify(message)}::jsonb)::int AS id`
    return row!.id
  })

const read = (queue: string, vt: number, qty = 10) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<Message>`SELECT ${sql.literal(columns)} FROM pgmq.read(${queue}, ${vt}, ${qty})`
  })

const readSpecific = (queue: string, msgId: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<Message>`
      SELECT ${sql.literal(columns)} FROM tasker.pgmq_read_specific_message(${queue}, ${msgId}, 30)`
  })

const setVt = (queue: string, msgId: number, vt: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<Message>`SELECT ${sql.literal(columns)} FROM pgmq.set_vt(${queue}, ${msgId}, ${vt})`
  })

const sendWithNotify = (queue: string, message: unknown) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ id: number }>`
      SELECT tasker.pgmq_send_with_notify(${queue}, ${JSON.stringify(message)}::jsonb)::int AS id`
    return row!.id
  })

/** The next notification's payload, parsed. */
const nextPayload = <E>(queue: Queue.Dequeue<{ readonly payload: string }, E>) =>
  Queue.take(queue).pipe(Effect.timeout("5 seconds"), Effect.map((n) => JSON.parse(n.payload) as Record<string, unknown>))

const simplify = (rows: ReadonlyArray<Message>) => rows.map((r) => ({ ...r }))

layer(PgTest.layer, { timeout: "60 seconds", excludeTestServices: true })("queue", (it) => {
  it.effect("read hides a message for its visibility timeout; it reappears afterwards; set_vt moves the timeout", () =>
    Effect.gen(function*() {
      const q = yield* createQueue
      const id = yield* send(q.name, { step: 1 })
      assert.deepStrictEqual(simplify(yield* read(q.name, 1)), [{ msgId: id, readCt: 1, message: { step: 1 } }])
      assert.deepStrictEqual(yield* read(q.name, 1), [], "invisible while the timeout runs")
      yield* Effect.sleep("1200 millis")
      assert.deepStrictEqual(simplify(yield* read(q.name, 30)), [{ msgId: id, readCt: 2, message: { step: 1 } }])
      assert.deepStrictEqual(yield* read(q.name, 30), [])
      assert.strictEqual((yield* setVt(q.name, id, 0)).length, 1)
      assert.deepStrictEqual(simplify(yield* read(q.name, 30)).map((m) => m.readCt), [3], "set_vt 0: visible at once")
      assert.strictEqual((yield* setVt(q.name, id, 0)).length, 1)
      assert.strictEqual((yield* setVt(q.name, id, 60)).length, 1)
      assert.deepStrictEqual(yield* read(q.name, 30), [], "set_vt 60: hidden again")
      assert.deepStrictEqual(yield* setVt(q.name, id + 1000, 0), [], "set_vt of a missing message: no row")
    }))

  it.effect("archive moves a message to pgmq.a_<queue>, delete removes it; single and array forms", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const q = yield* createQueue
      const [kept, dropped] = [yield* send(q.name, { n: 1 }), yield* send(q.name, { n: 2 })]
      const ok = (query: Effect.Effect<ReadonlyArray<{ ok: boolean }>, unknown>) => Effect.map(query, (r) => r[0]!.ok)

      assert.isTrue(yield* ok(sql`SELECT pgmq.archive(${q.name}, ${kept}) AS ok`))
      assert.isFalse(yield* ok(sql`SELECT pgmq.archive(${q.name}, ${kept}) AS ok`))
      const archived = yield* sql<{ msgId: number; message: unknown; archivedAtSet: boolean }>`
        SELECT msg_id::int, message, archived_at IS NOT NULL AS archived_at_set FROM pgmq.${q.archive}`
      assert.deepStrictEqual(archived.map((r) => ({ ...r })), [{ msgId: kept, message: { n: 1 }, archivedAtSet: true }])

      assert.isTrue(yield* ok(sql`SELECT pgmq.delete(${q.name}, ${dropped}) AS ok`))
      assert.isFalse(yield* ok(sql`SELECT pgmq.delete(${q.name}, ${dropped}) AS ok`))
      const live = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM pgmq.${q.table}`
      assert.strictEqual(live[0]!.n, 0)
      assert.strictEqual((yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM pgmq.${q.archive}`)[0]!.n, 1)

      const [a, b, c] = [yield* send(q.name, { n: 3 }), yield* send(q.name, { n: 4 }), yield* send(q.name, { n: 5 })]
      const moved = yield* sql<{ id: number }>`SELECT id::int FROM pgmq.archive(${q.name}, ${[a, b]}::bigint[]) AS id`
      assert.sameMembers(moved.map((r) => r.id), [a, b])
      const deleted = yield* sql<{ id: number }>`
        SELECT id::int FROM pgmq.delete(${q.name}, ${[c, c + 1000]}::bigint[]) AS id`
      assert.deepStrictEqual(deleted.map((r) => r.id), [c])
      assert.strictEqual((yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM pgmq.${q.archive}`)[0]!.n, 3)
      assert.strictEqual((yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM pgmq.${q.table}`)[0]!.n, 0)
    }))

  it.effect("send_batch returns ascending ids in array order; metrics and metrics_all count the queue", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const q = yield* createQueue
      const batch = [{ i: 0 }, { i: 1 }, { i: 2 }]
      const ids = (yield* sql<{ id: number }>`
        SELECT id::int FROM pgmq.send_batch(${q.name}, ${batch.map((m) => JSON.stringify(m))}::jsonb[]) AS id`)
        .map((r) => r.id)
      assert.strictEqual(ids.length, 3)
      assert.deepStrictEqual(ids, [...ids].sort((x, y) => x - y))
      assert.deepStrictEqual(simplify(yield* read(q.name, 30, 1)), [{ msgId: ids[0]!, readCt: 1, message: batch[0] }])

      type Metrics = { queueName: string; queueLength: number; queueVisibleLength: number; totalMessages: number }
      const metricColumns = sql.literal("queue_name, queue_length::int, queue_visible_length::int, total_messages::int")
      const [metrics] = yield* sql<Metrics & { oldestMsgAgeSec: number }>`
        SELECT ${metricColumns}, oldest_msg_age_sec FROM pgmq.metrics(${q.name})`
      const { oldestMsgAgeSec, ...counts } = metrics!
      assert.deepStrictEqual(counts, { queueName: q.name, queueLength: 3, queueVisibleLength: 2, totalMessages: 3 })
      assert.isTrue(oldestMsgAgeSec >= 0 && oldestMsgAgeSec < 60)
      const all = yield* sql<Metrics>`SELECT ${metricColumns} FROM pgmq.metrics_all()`
      assert.deepStrictEqual(all.filter((m) => m.queueName === q.name).map((m) => ({ ...m })), [counts])
      assert.deepStrictEqual((yield* read(q.name, 30)).map((m) => m.message), [batch[1], batch[2]])
    }))

  it.effect("pgmq_send_with_notify: inline payload under 7000 bytes, signal only from 7000 bytes, nothing on rollback", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const pg = yield* PgClient.PgClient
      const q = yield* createQueue
      const perNamespace = yield* pg.listen(`pgmq_message_ready.${q.ns}`)
      const global = yield* pg.listen("pgmq_message_ready")
      /** The payload on the namespace channel; the global channel carries the same one. */
      const notified = Effect.gen(function*() {
        const payload = yield* nextPayload(perNamespace)
        assert.deepStrictEqual(yield* nextPayload(global), payload)
        return payload
      })
      const common = (msgId: number) => ({ msg_id: msgId, queue_name: q.name, namespace: q.ns, delay_seconds: 0 })
      const withoutReadyAt = ({ ready_at, ...rest }: Record<string, unknown>) => {
        assert.isString(ready_at)
        return rest
      }

      const textBytes = (message: unknown) =>
        sql<{ n: number }>`SELECT octet_length(${JSON.stringify(message)}::jsonb::text) AS n`.pipe(
          Effect.map((rows) => rows[0]!.n)
        )
      const small = { blob: "x".repeat(6987) }
      assert.strictEqual(yield* textBytes(small), 6999)
      const smallId = yield* sendWithNotify(q.name, small)
      assert.deepStrictEqual(withoutReadyAt(yield* notified), {
        event_type: "message_with_payload", ...common(smallId), message: small
      })

      // 7000 bytes of message text (bytes, not characters: "é" is two) -> signal only.
      for (const large of [{ blob: "x".repeat(6988) }, { blob: "é".repeat(3494) }]) {
        assert.strictEqual(yield* textBytes(large), 7000)
        const id = yield* sendWithNotify(q.name, large)
        assert.deepStrictEqual(withoutReadyAt(yield* notified), {
          event_type: "message_ready", ...common(id), payload_omitted: true
        })
        assert.deepStrictEqual((yield* readSpecific(q.name, id)).map((m) => m.message), [large])
      }

      // A rolled-back send notifies nobody: the next notification is the committed marker's.
      const rolledBack = yield* Ref.make(0)
      const failure = yield* sql.withTransaction(Effect.gen(function*() {
        yield* Ref.set(rolledBack, yield* sendWithNotify(q.name, { rolled: "back" }))
        return yield* Effect.fail("rollback" as const)
      })).pipe(Effect.flip)
      assert.strictEqual(failure, "rollback")
      const marker = yield* sendWithNotify(q.name, { marker: true })
      const next = yield* notified
      assert.strictEqual(next.msg_id, marker)
      assert.notStrictEqual(next.msg_id, yield* Ref.get(rolledBack))
      assert.deepStrictEqual(yield* readSpecific(q.name, yield* Ref.get(rolledBack)), [])
    }))

  it.effect("pgmq_read_specific_message claims a message only while it is visible and unlocked", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const q = yield* createQueue
      const id = yield* send(q.name, { claim: "me" })
      assert.deepStrictEqual(simplify(yield* readSpecific(q.name, id)), [{ msgId: id, readCt: 1, message: { claim: "me" } }])
      assert.deepStrictEqual(yield* readSpecific(q.name, id), [], "claimed: invisible for 30 s")
      yield* setVt(q.name, id, 0)
      assert.deepStrictEqual((yield* readSpecific(q.name, id)).map((m) => m.readCt), [2])
      assert.deepStrictEqual(yield* readSpecific(q.name, id + 1000), [], "missing message")

      const [delayed] = yield* sql<{ id: number }>`SELECT pgmq.send(${q.name}, '{"later": true}'::jsonb, 60)::int AS id`
      assert.deepStrictEqual(yield* readSpecific(q.name, delayed!.id), [], "delayed message not visible yet")

      // A row locked by another open transaction is skipped at once, not waited for.
      const free = yield* send(q.name, { locked: true })
      const [, whileLocked] = yield* raceTransactions(
        sql`SELECT msg_id FROM pgmq.${q.table} WHERE msg_id = ${free} FOR UPDATE`,
        readSpecific(q.name, free).pipe(Effect.timeout("10 seconds")),
        { secondBlocks: false }
      )
      assert.deepStrictEqual(whileLocked, [])
      assert.deepStrictEqual((yield* readSpecific(q.name, free)).map((m) => m.readCt), [1])
    }))
})
