/**
 * Registering templates into a fresh migrated database (test/support/PgTest.ts).
 */
import { NodeServices } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import type { TaskTemplate } from "../../src/templates/TaskTemplate.ts"
import { loadTemplateFile } from "../../src/templates/TemplateLoader.ts"
import { TemplateRegistry } from "../../src/templates/TemplateRegistry.ts"
import { PgTest } from "../support/PgTest.ts"

const examples = new URL("../../examples/templates/", import.meta.url).pathname
const fixtures = new URL("./fixtures/", import.meta.url).pathname

const TestLayer = TemplateRegistry.layer.pipe(Layer.provideMerge(PgTest.layer), Layer.provideMerge(NodeServices.layer))

const counts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ namespaces: number; tasks: number; steps: number; links: number }>`
    SELECT (SELECT count(*)::int FROM tasker.task_namespaces) AS namespaces,
           (SELECT count(*)::int FROM tasker.named_tasks) AS tasks,
           (SELECT count(*)::int FROM tasker.named_steps) AS steps,
           (SELECT count(*)::int FROM tasker.named_tasks_named_steps) AS links`
  return row!
})

layer(TestLayer, { timeout: "60 seconds", excludeTestServices: true })("TemplateRegistry", (it) => {
  it.effect("registers a template with its namespace, steps and step links", () =>
    Effect.gen(function*() {
      const registry = yield* TemplateRegistry
      const sql = yield* SqlClient.SqlClient
      const template = yield* loadTemplateFile(`${examples}order_fulfillment.yaml`)
      const result = yield* registry.register(template)
      assert.isTrue(result.created)
      assert.isFalse(result.updated)
      assert.deepStrictEqual(yield* counts, { namespaces: 1, tasks: 1, steps: 4, links: 4 })

      const [task] = yield* sql<{ name: string; version: string; identityStrategy: string; description: string }>`
        SELECT name, version, identity_strategy::text, description FROM tasker.named_tasks
        WHERE named_task_uuid = ${result.namedTaskUuid}::uuid`
      assert.deepStrictEqual({ ...task }, {
        name: "order_fulfillment",
        version: "1.0.0",
        identityStrategy: "strict",
        description: "Validate an order, reserve stock, charge the customer and ship."
      })
      const links = yield* sql<{ name: string; defaultRetryable: boolean; defaultMaxAttempts: number }>`
        SELECT ns.name, l.default_retryable, l.default_max_attempts
        FROM tasker.named_tasks_named_steps l JOIN tasker.named_steps ns USING (named_step_uuid)
        WHERE l.named_task_uuid = ${result.namedTaskUuid}::uuid ORDER BY ns.name`
      assert.deepStrictEqual(links.map((l) => [l.name, l.defaultRetryable, l.defaultMaxAttempts]), [
        ["charge_payment", true, 3],
        ["reserve_inventory", true, 5],
        ["ship_order", true, 3],
        ["validate_order", true, 3]
      ])
    }))

  it.effect("stores the whole template as configuration and finds it again", () =>
    Effect.gen(function*() {
      const registry = yield* TemplateRegistry
      const template = yield* loadTemplateFile(`${examples}order_fulfillment.yaml`)
      const found = yield* registry.findTemplate("ecommerce", "order_fulfillment", "1.0.0")
      assert.isTrue(Option.isSome(found))
      const registered = Option.getOrThrow(found)
      assert.deepStrictEqual(registered.template, template)
      assert.strictEqual(registered.template.lifecycle?.max_waiting_for_dependencies_minutes, 60)
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ lifecycle: unknown; deps: unknown }>`
        SELECT configuration -> 'lifecycle' AS lifecycle, configuration #> '{steps,1,dependencies}' AS deps
        FROM tasker.named_tasks WHERE named_task_uuid = ${registered.namedTaskUuid}::uuid`
      assert.deepStrictEqual(row!.lifecycle, {
        max_duration_minutes: 120,
        max_waiting_for_dependencies_minutes: 60,
        staleness_action: "dlq"
      })
      assert.deepStrictEqual(row!.deps, ["validate_order"])
      assert.isTrue(Option.isNone(yield* registry.findTemplate("ecommerce", "order_fulfillment", "9.9.9")))
      assert.isTrue(Option.isNone(yield* registry.findTemplate("nope", "order_fulfillment", "1.0.0")))
    }))

  it.effect("registering the same template twice creates no rows and changes nothing", () =>
    Effect.gen(function*() {
      const registry = yield* TemplateRegistry
      const template = yield* loadTemplateFile(`${examples}order_fulfillment.yaml`)
      const before = yield* counts
      const first = yield* registry.register(template)
      const second = yield* registry.register(template)
      assert.deepStrictEqual(second, { ...first, created: false, updated: false })
      assert.deepStrictEqual(yield* counts, before)
    }))

  it.effect("a changed template under the same version replaces its configuration and step links", () =>
    Effect.gen(function*() {
      const registry = yield* TemplateRegistry
      const base = yield* loadTemplateFile(`${examples}order_fulfillment.yaml`)
      const changed: TaskTemplate = {
        ...base,
        description: "changed",
        identity_strategy: "always_unique",
        steps: base.steps.slice(0, 3).map((s) => ({ ...s, retry: { ...s.retry, retryable: false, max_attempts: 7 } }))
      }
      const result = yield* registry.register(changed)
      assert.isFalse(result.created)
      assert.isTrue(result.updated)
      const found = Option.getOrThrow(yield* registry.findTemplate("ecommerce", "order_fulfillment", "1.0.0"))
      assert.strictEqual(found.namedTaskUuid, result.namedTaskUuid)
      assert.deepStrictEqual(found.template, changed)
      const sql = yield* SqlClient.SqlClient
      const links = yield* sql<{ defaultRetryable: boolean; defaultMaxAttempts: number }>`
        SELECT default_retryable, default_max_attempts FROM tasker.named_tasks_named_steps
        WHERE named_task_uuid = ${result.namedTaskUuid}::uuid`
      assert.strictEqual(links.length, 3)
      assert.isTrue(links.every((l) => !l.defaultRetryable && l.defaultMaxAttempts === 7))
      // Put the example back for the other tests of this block.
      assert.isTrue((yield* registry.register(base)).updated)
    }))

  it.effect("a new version registers beside the old one and shares the named steps", () =>
    Effect.gen(function*() {
      const registry = yield* TemplateRegistry
      const base = yield* loadTemplateFile(`${examples}order_fulfillment.yaml`)
      const before = yield* counts
      const old = yield* registry.register(base)
      const next = yield* registry.register({ ...base, version: "1.1.0" })
      assert.isTrue(next.created)
      assert.notStrictEqual(next.namedTaskUuid, old.namedTaskUuid)
      assert.strictEqual(next.namespaceUuid, old.namespaceUuid)
      assert.deepStrictEqual(yield* counts, { ...before, tasks: before.tasks + 1, links: before.links + 4 })
      const versions = yield* registry.listTemplates("ecommerce")
      assert.deepStrictEqual(versions.map((v) => v.template.version), ["1.0.0", "1.1.0"])
    }))

  it.effect("lists templates of every namespace", () =>
    Effect.gen(function*() {
      const registry = yield* TemplateRegistry
      yield* registry.register(yield* loadTemplateFile(`${examples}diamond.yaml`))
      yield* registry.register(yield* loadTemplateFile(`${fixtures}refund_decision.yaml`))
      const all = yield* registry.listTemplates()
      assert.deepStrictEqual(all.map((t) => `${t.template.namespace_name}/${t.template.name}@${t.template.version}`), [
        "billing/issue_refund@2.1.0",
        "demo/diamond@1.0.0",
        "ecommerce/order_fulfillment@1.0.0",
        "ecommerce/order_fulfillment@1.1.0"
      ])
      assert.deepStrictEqual(yield* registry.listTemplates("nope"), [])
    }))

  it.effect("concurrent registrations of one new template create one row", () =>
    Effect.gen(function*() {
      const registry = yield* TemplateRegistry
      const template = yield* loadTemplateFile(`${fixtures}batch_pipeline.yaml`)
      const results = yield* Effect.all(Array.from({ length: 5 }, () => registry.register(template)), {
        concurrency: "unbounded"
      })
      assert.strictEqual(new Set(results.map((r) => r.namedTaskUuid)).size, 1)
      assert.strictEqual(results.filter((r) => r.created).length, 1)
      const stored = Option.getOrThrow(yield* registry.findTemplate("data_pipeline", "csv_import", "0.3.0"))
      assert.strictEqual(stored.template.identity_strategy, "caller_provided")
    }))
})
