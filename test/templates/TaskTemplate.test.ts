/**
 * Decoding the template Schema: defaults, the depends_on alias, unknown keys, and the stored JSON shape.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { decodeTaskTemplate, encodeTaskTemplate, templateKey } from "../../src/templates/TaskTemplate.ts"

const minimal = {
  name: "minimal",
  namespace_name: "demo",
  version: "1.0.0",
  steps: [{ name: "only", handler: { callable: "demo.Only" } }]
}

describe("TaskTemplate", () => {
  it.effect("fills every default", () =>
    Effect.gen(function*() {
      const t = yield* decodeTaskTemplate(minimal)
      const step = t.steps[0]!
      assert.strictEqual(step.type, "standard")
      assert.deepStrictEqual(step.dependencies, [])
      assert.deepStrictEqual(step.handler, { callable: "demo.Only", method: "call", initialization: {} })
      assert.deepStrictEqual(step.retry, { retryable: true, max_attempts: 3, backoff: "exponential" })
      assert.deepStrictEqual(step.publishes_events, [])
      assert.isUndefined(step.timeout_seconds)
      assert.strictEqual(t.identity_strategy, "strict")
      assert.deepStrictEqual(t.environments, {})
      assert.deepStrictEqual(t.system_dependencies, { primary: "default", secondary: [] })
      assert.deepStrictEqual(t.domain_events, [])
      assert.isUndefined(t.lifecycle)
      assert.strictEqual(templateKey(t), "demo/minimal@1.0.0")
    }))

  it.effect("fills nested defaults of lifecycle and batch_config", () =>
    Effect.gen(function*() {
      const t = yield* decodeTaskTemplate({
        ...minimal,
        lifecycle: { max_duration_minutes: 30 },
        steps: [{ name: "b", type: "batchable", handler: { callable: "x" }, batch_config: {} }]
      })
      assert.deepStrictEqual(t.lifecycle, { max_duration_minutes: 30, staleness_action: "dlq" })
      assert.deepStrictEqual(t.steps[0]!.batch_config, {
        batch_size: 1000,
        parallelism: 10,
        cursor_field: "id",
        failure_strategy: "continue_on_failure"
      })
    }))

  it.effect("accepts depends_on as an alias and merges / deduplicates with dependencies", () =>
    Effect.gen(function*() {
      const steps = (deps: object) => [
        { name: "a", handler: { callable: "x" } },
        { name: "b", handler: { callable: "x" } },
        { name: "c", handler: { callable: "x" }, ...deps }
      ]
      const alias = yield* decodeTaskTemplate({ ...minimal, steps: steps({ depends_on: ["a", "b", "a"] }) })
      assert.deepStrictEqual(alias.steps[2]!.dependencies, ["a", "b"])
      assert.isFalse("depends_on" in alias.steps[2]!)
      const both = yield* decodeTaskTemplate({
        ...minimal,
        steps: steps({ dependencies: ["b", "a"], depends_on: ["a", "b"] })
      })
      assert.deepStrictEqual(both.steps[2]!.dependencies, ["b", "a"])
    }))

  it.effect("ignores unknown keys", () =>
    Effect.gen(function*() {
      const t = yield* decodeTaskTemplate({
        ...minimal,
        owner: "someone",
        steps: [{ name: "only", handler: { callable: "x", extra: 1 }, skippable: true }]
      })
      assert.isFalse("owner" in t)
      assert.isFalse("skippable" in t.steps[0]!)
      assert.isFalse("extra" in t.steps[0]!.handler)
    }))

  it.effect("keeps opaque JSON fields", () =>
    Effect.gen(function*() {
      const schema = { type: "object", properties: { id: { type: "string" } } }
      const t = yield* decodeTaskTemplate({
        ...minimal,
        input_schema: schema,
        steps: [{ name: "only", handler: { callable: "x" }, result_schema: schema, composition: { via: ["a"] } }]
      })
      assert.deepStrictEqual(t.input_schema, schema)
      assert.deepStrictEqual(t.steps[0]!.result_schema, schema)
      assert.deepStrictEqual(t.steps[0]!.composition, { via: ["a"] })
    }))

  it.effect("encodes to the stored JSON shape and decodes back unchanged", () =>
    Effect.gen(function*() {
      const t = yield* decodeTaskTemplate({
        ...minimal,
        steps: [
          { name: "a", handler: { callable: "x" } },
          { name: "b", depends_on: ["a"], handler: { callable: "y" } }
        ]
      })
      const json = yield* encodeTaskTemplate(t)
      const roundTrip = JSON.parse(JSON.stringify(json))
      assert.deepStrictEqual(roundTrip.steps[1].dependencies, ["a"])
      assert.isUndefined(roundTrip.steps[1].depends_on)
      assert.deepStrictEqual(yield* decodeTaskTemplate(roundTrip), t)
    }))

  it.effect("rejects bad versions and namespaces", () =>
    Effect.gen(function*() {
      for (const bad of [{ version: "1.0" }, { version: 1 }, { namespace_name: "Demo" }, { namespace_name: "" }]) {
        const exit = yield* Effect.exit(decodeTaskTemplate({ ...minimal, ...bad }))
        assert.strictEqual(exit._tag, "Failure", JSON.stringify(bad))
      }
      const ok = yield* decodeTaskTemplate({ ...minimal, version: "2.0.0-rc.1" })
      assert.strictEqual(ok.version, "2.0.0-rc.1")
    }))
})
