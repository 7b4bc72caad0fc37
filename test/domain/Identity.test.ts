import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { IdempotencyKeyRequired } from "../../src/domain/Errors.ts"
import { NamedTaskUuid } from "../../src/domain/Ids.ts"
import { canonicalJson, contextIdentityHash, identityHash, sha256Hex } from "../../src/domain/Identity.ts"

const namedTask = NamedTaskUuid.make("0190f3a4-1c2b-7d3e-8f41-123456789abc")
const otherNamedTask = NamedTaskUuid.make("0190f3a4-1c2b-7d3e-8f41-cba987654321")

describe("canonicalJson", () => {
  it.effect("sorts keys recursively, keeps array order, drops whitespace", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        canonicalJson({ b: 1, a: { d: [3, 1, { z: true, y: null }], c: "x" } }),
        `{"a":{"c":"x","d":[3,1,{"y":null,"z":true}]},"b":1}`
      )
      assert.strictEqual(canonicalJson([]), "[]")
      assert.strictEqual(canonicalJson({}), "{}")
      assert.strictEqual(canonicalJson("a\"b"), `"a\\"b"`)
      assert.notStrictEqual(canonicalJson([1, 2]), canonicalJson([2, 1]))
    }))

  it.effect("is independent of key order and formatting", () =>
    Effect.gen(function*() {
      const a = JSON.parse(`{ "customer": { "id": 7, "name": "Ada" }, "items": [ {"sku": "x", "qty": 2} ] }`)
      const b = JSON.parse(`{"items":[{"qty":2,"sku":"x"}],"customer":{"name":"Ada","id":7}}`)
      assert.strictEqual(canonicalJson(a), canonicalJson(b))
      assert.strictEqual(canonicalJson(a), JSON.stringify(JSON.parse(canonicalJson(b))))
    }))
})

describe("identityHash", () => {
  it.effect("strict: hash of named task + canonical context", () =>
    Effect.gen(function*() {
      const h1 = yield* identityHash("strict", namedTask, { a: 1, b: [1, 2] })
      const h2 = yield* identityHash("strict", namedTask, { b: [1, 2], a: 1 })
      assert.match(h1, /^[0-9a-f]{64}$/)
      assert.strictEqual(h1, h2)
      assert.strictEqual(h1, contextIdentityHash(namedTask, { a: 1, b: [1, 2] }))
      assert.notStrictEqual(h1, yield* identityHash("strict", namedTask, { a: 1, b: [2, 1] }))
      assert.notStrictEqual(h1, yield* identityHash("strict", otherNamedTask, { a: 1, b: [1, 2] }))
      assert.strictEqual(
        h1,
        sha256Hex(`{"context":{"a":1,"b":[1,2]},"named_task_uuid":"0190f3a4-1c2b-7d3e-8f41-123456789abc"}`)
      )
    }))

  it.effect("an idempotency key wins over every strategy and ignores the context", () =>
    Effect.gen(function*() {
      const strict = yield* identityHash("strict", namedTask, { a: 1 }, "order-42")
      const caller = yield* identityHash("caller_provided", namedTask, { a: 2 }, "order-42")
      const unique = yield* identityHash("always_unique", namedTask, { a: 3 }, "order-42")
      assert.strictEqual(strict, caller)
      assert.strictEqual(caller, unique)
      assert.notStrictEqual(strict, yield* identityHash("strict", namedTask, { a: 1 }, "order-43"))
      assert.notStrictEqual(strict, yield* identityHash("strict", otherNamedTask, { a: 1 }, "order-42"))
      assert.notStrictEqual(strict, yield* identityHash("strict", namedTask, { a: 1 }))
    }))

  it.effect("caller_provided without a key fails with IdempotencyKeyRequired", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(identityHash("caller_provided", namedTask, { a: 1 }))
      assert.instanceOf(error, IdempotencyKeyRequired)
      assert.strictEqual(error.named_task_uuid, namedTask)
    }))

  it.effect("always_unique gives a fresh hash each time", () =>
    Effect.gen(function*() {
      const first = yield* identityHash("always_unique", namedTask, { a: 1 })
      const second = yield* identityHash("always_unique", namedTask, { a: 1 })
      assert.match(first, /^[0-9a-f]{64}$/)
      assert.notStrictEqual(first, second)
      assert.notStrictEqual(first, yield* identityHash("strict", namedTask, { a: 1 }))
    }))
})
