import { assert, describe, it } from "@effect/vitest"
import { DateTime, Effect, Schema } from "effect"
import { InvalidTaskRequest } from "../../src/domain/Errors.ts"
import { contextLimits, decodeTaskRequest, encodeTaskRequest, TaskRequest } from "../../src/domain/TaskRequest.ts"

const base = {
  name: "order_fulfillment",
  namespace: "ecommerce",
  version: "1.0.0",
  initiator: "tester",
  source_system: "unit-test",
  reason: "testing"
}

const nested = (depth: number): Schema.Json => depth === 0 ? "leaf" : { a: nested(depth - 1) }

const rejects = (input: unknown) => Effect.flip(decodeTaskRequest(input))

describe("TaskRequest", () => {
  it.effect("decodes a minimal request and applies the defaults", () =>
    Effect.gen(function*() {
      const request = yield* decodeTaskRequest({ ...base, context: { order_id: 42 }, unknown_key: true })
      assert.instanceOf(request, TaskRequest)
      assert.deepStrictEqual(request.context, { order_id: 42 })
      assert.deepStrictEqual(request.tags, [])
      assert.strictEqual(request.priority, 0)
      assert.isUndefined(request.correlation_id)
      assert.isUndefined(request.idempotency_key)
      assert.isFalse("unknown_key" in request)
    }))

  it.effect("treats null optional fields as absent and normalizes ids", () =>
    Effect.gen(function*() {
      const request = yield* decodeTaskRequest({
        ...base,
        context: {},
        tags: null,
        priority: null,
        options: null,
        idempotency_key: null,
        correlation_id: "0190F3A4-1C2B-7D3E-8F41-123456789ABC",
        requested_at: "2026-03-21T12:00:00"
      })
      assert.deepStrictEqual(request.tags, [])
      assert.strictEqual(request.priority, 0)
      assert.isUndefined(request.options)
      assert.strictEqual(request.correlation_id, "0190f3a4-1c2b-7d3e-8f41-123456789abc")
      assert.strictEqual(
        request.requested_at !== undefined && DateTime.formatIso(request.requested_at),
        "2026-03-21T12:00:00.000Z"
      )
    }))

  it.effect("round-trips through the wire form", () =>
    Effect.gen(function*() {
      const request = yield* decodeTaskRequest({ ...base, context: { b: [1, { c: null }] }, tags: ["x"], priority: -5 })
      const encoded = yield* encodeTaskRequest(request)
      const again = yield* decodeTaskRequest(JSON.parse(JSON.stringify(encoded)))
      assert.deepStrictEqual(again, request)
    }))

  it.effect("constructs in code with defaults", () =>
    Effect.gen(function*() {
      const request = new TaskRequest({ ...base, context: {} })
      assert.strictEqual(request.priority, 0)
      assert.deepStrictEqual(request.tags, [])
    }))

  it.effect("accepts context exactly at the limits", () =>
    Effect.gen(function*() {
      yield* decodeTaskRequest({ ...base, context: nested(contextLimits.maxDepth) as Schema.JsonObject })
      yield* decodeTaskRequest({
        ...base,
        context: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i]))
      })
      yield* decodeTaskRequest({ ...base, context: { list: Array.from({ length: 1000 }, () => 0) } })
      yield* decodeTaskRequest({ ...base, context: { s: "x".repeat(10_000), emoji: "😀".repeat(10_000) } })
    }))

  const limitCases: ReadonlyArray<readonly [string, unknown, string, string]> = [
    [
      "depth 11",
      { ...base, context: nested(11) },
      "context.a.a.a.a.a.a.a.a.a.a",
      "nested deeper than 10 levels"
    ],
    [
      "1001 keys",
      { ...base, context: { inner: Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`k${i}`, i])) } },
      "context.inner",
      "object with more than 1000 keys"
    ],
    [
      "1001 items",
      { ...base, context: { list: [0, { items: Array.from({ length: 1001 }, () => 0) }] } },
      "context.list[1].items",
      "array with more than 1000 items"
    ],
    [
      "10001-char string",
      { ...base, context: { customer: { name: "x".repeat(10_001) } } },
      "context.customer.name",
      "string longer than 10000 characters"
    ],
    [
      "more than 1 MiB",
      { ...base, context: Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`k${i}`, "x".repeat(9_000)])) },
      "context",
      "exceeds 1048576 bytes"
    ],
    ["priority 101", { ...base, context: {}, priority: 101 }, "priority", "between -100 and 100"],
    ["fractional priority", { ...base, context: {}, priority: 1.5 }, "priority", "integer"],
    ["empty name", { ...base, name: "", context: {} }, "name", "at least 1"],
    ["long namespace", { ...base, namespace: "n".repeat(256), context: {} }, "namespace", "at most 255"],
    ["long version", { ...base, version: "1".repeat(51), context: {} }, "version", "at most 50"],
    ["long initiator", { ...base, initiator: "i".repeat(129), context: {} }, "initiator", "at most 128"],
    ["non-object context", { ...base, context: [1, 2] }, "context", "Expected a JSON object"],
    ["string context", { ...base, context: "{}" }, "context", "Expected a JSON object"],
    ["missing context", base, "context", "Missing key"],
    ["non-JSON value", { ...base, context: { n: Number.NaN } }, "context.n", "JSON value"],
    ["bad correlation id", { ...base, context: {}, correlation_id: "nope" }, "correlation_id", "UUID"],
    ["non-string tag", { ...base, context: {}, tags: ["ok", 3] }, "tags[1]", "string"],
    ["101 tags", { ...base, context: {}, tags: Array.from({ length: 101 }, () => "t") }, "tags", "at most 100"]
  ]

  for (const [label, input, path, fragment] of limitCases) {
    it.effect(`rejects ${label} naming ${path}`, () =>
      Effect.gen(function*() {
        const error = yield* rejects(input)
        assert.instanceOf(error, InvalidTaskRequest)
        assert.strictEqual(error.path, path)
        assert.isTrue(error.message.startsWith(`${path}: `), error.message)
        assert.include(error.message, fragment)
      }))
  }
})
