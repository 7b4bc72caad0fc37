import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { decodeNotification } from "../../src/messaging/Notifications.ts"

const readyAt = "2026-11-27T10:00:00.123456+00:00"

describe("Notifications", () => {
  it.effect("decodes an inline message, keeping the message as undecoded JSON", () =>
    Effect.gen(function*() {
      const payload = JSON.stringify({
        event_type: "message_with_payload",
        msg_id: 42,
        queue_name: "orchestration_step_results",
        namespace: "orchestration",
        message: { task_uuid: "t", nested: { a_b: [1, 2] } },
        ready_at: readyAt,
        delay_seconds: 0
      })
      const decoded = yield* decodeNotification(payload)
      assert.deepStrictEqual(decoded, Option.some({
        _tag: "Message" as const,
        queue: "orchestration_step_results",
        namespace: "orchestration",
        msgId: 42,
        message: { task_uuid: "t", nested: { a_b: [1, 2] } }
      }))
    }))

  it.effect("decodes the signal-only form, with and without truncated", () =>
    Effect.gen(function*() {
      for (const extra of [{}, { truncated: true }]) {
        const payload = JSON.stringify({
          event_type: "message_ready",
          msg_id: 7,
          queue_name: "worker_payments_queue",
          namespace: "payments",
          ready_at: readyAt,
          delay_seconds: 3,
          payload_omitted: true,
          ...extra
        })
        const decoded = yield* decodeNotification(payload)
        assert.deepStrictEqual(decoded, Option.some({
          _tag: "Available" as const,
          queue: "worker_payments_queue",
          namespace: "payments",
          msgId: 7
        }))
      }
    }))

  it.effect("decodes batch_ready with its ids", () =>
    Effect.gen(function*() {
      const payload = JSON.stringify({
        event_type: "batch_ready",
        msg_ids: [3, 4, 9],
        queue_name: "worker_payments_queue",
        namespace: "payments",
        message_count: 3,
        ready_at: readyAt,
        delay_seconds: 0
      })
      const decoded = yield* decodeNotification(payload)
      assert.deepStrictEqual(decoded, Option.some({
        _tag: "BatchAvailable" as const,
        queue: "worker_payments_queue",
        namespace: "payments",
        msgIds: [3, 4, 9]
      }))
    }))

  it.effect("decodes batch_ready without ids as the range first..last", () =>
    Effect.gen(function*() {
      const payload = JSON.stringify({
        event_type: "batch_ready",
        first_msg_id: 100,
        last_msg_id: 104,
        msg_ids_omitted: true,
        queue_name: "worker_payments_queue",
        namespace: "payments",
        message_count: 5,
        ready_at: readyAt,
        delay_seconds: 0
      })
      const decoded = yield* decodeNotification(payload)
      assert.isTrue(Option.isSome(decoded))
      const value = Option.getOrThrow(decoded)
      assert.strictEqual(value._tag, "BatchAvailable")
      if (value._tag === "BatchAvailable") assert.deepStrictEqual(value.msgIds, [100, 101, 102, 103, 104])
    }))

  it.effect("skips what does not decode instead of failing", () =>
    Effect.gen(function*() {
      const bad = [
        "not json",
        "",
        "null",
        JSON.stringify({ event_type: "queue_created", queue_name: "q", namespace: "default", created_at: readyAt }),
        JSON.stringify({ event_type: "message_ready", msg_id: "7", queue_name: "q", namespace: "n" }),
        JSON.stringify({ event_type: "message_with_payload", msg_id: 1.5, queue_name: "q", namespace: "n", message: 1, ready_at: readyAt, delay_seconds: 0 }),
        JSON.stringify({ event_type: "batch_ready", queue_name: "q", namespace: "n", message_count: 1, ready_at: readyAt, delay_seconds: 0 })
      ]
      for (const payload of bad) {
        assert.isTrue(Option.isNone(yield* decodeNotification(payload, "pgmq_message_ready.n")), payload)
      }
    }))
})
