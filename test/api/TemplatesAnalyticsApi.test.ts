/**
 * The template and analytics routes over HTTP (REFERENCE 9): namespaces and template versions from
 * the registry tables, one template with its steps' registry defaults and result schema; throughput
 * and durations after tasks ran; slowest steps and templates, load and recommendations.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { TaskerClient } from "../../src/client/TaskerClient.ts"
import { registerYaml, requestFor, uniqueNamespace } from "../orchestration/lifecycle/LifecycleTestKit.ts"
import { Behaviour, TestWorker } from "../support/TestWorker.ts"
import { apiTestLayer, awaitTaskState, chainYaml } from "./ApiTestKit.ts"

const detailedYaml = (ns: string) => `
name: detailed
namespace_name: ${ns}
version: 2.1.0
description: a template with defaults
steps:
  - name: ${ns}_validate
    description: validates the input
    handler: { callable: test.Validate }
    retry: { retryable: false, max_attempts: 1 }
    result_schema: { type: object, required: [valid] }
  - name: ${ns}_charge
    handler: { callable: test.Charge }
    retry: { max_attempts: 5 }
    dependencies: [${ns}_validate]
`

layer(apiTestLayer(), { timeout: "60 seconds", excludeTestServices: true })("Templates and analytics API", (it) => {
  it.effect("lists namespaces and template versions and reads one template with its steps", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const ns = uniqueNamespace("tpl")
      yield* registerYaml(detailedYaml(ns))
      yield* registerYaml(detailedYaml(ns).replace("version: 2.1.0", "version: 2.2.0"))
      const list = yield* client.templates.list({ query: { namespace: ns } })
      assert.deepStrictEqual(list.namespaces, [{ name: ns, description: null, template_count: 2 }])
      assert.deepStrictEqual(list.templates.map((t) => [t.name, t.version, t.step_count]), [
        ["detailed", "2.1.0", 2],
        ["detailed", "2.2.0", 2]
      ])
      assert.strictEqual(list.total_count, 2)
      const everything = yield* client.templates.list({ query: {} })
      assert.isAtLeast(everything.total_count, 2)

      const detail = yield* client.templates.get({ params: { namespace: ns, name: "detailed", version: "2.1.0" } })
      assert.strictEqual(detail.description, "a template with defaults")
      assert.strictEqual(detail.configuration["name"], "detailed")
      assert.deepStrictEqual(detail.steps, [
        {
          name: `${ns}_validate`,
          description: "validates the input",
          default_retryable: false,
          default_max_attempts: 1,
          result_schema: { type: "object", required: ["valid"] }
        },
        { name: `${ns}_charge`, description: null, default_retryable: true, default_max_attempts: 5, result_schema: null }
      ])
      const missing = yield* client.templates.get({ params: { namespace: ns, name: "detailed", version: "9.0.0" } })
        .pipe(Effect.flip)
      assert.strictEqual(missing._tag, "TemplateNotFound")
    }))

  it.effect("reports performance and bottlenecks after tasks ran", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const ns = uniqueNamespace("perf")
      const [fast, slow, broken] = [`${ns}_fast`, `${ns}_slow`, `${ns}_broken`]
      const good = yield* registerYaml(chainYaml(ns, [fast, slow]))
      const bad = yield* registerYaml(chainYaml(ns, [broken]).replace("name: chain", "name: failing"))
      yield* TestWorker.run({
        namespace: ns,
        handlers: {
          [fast]: Behaviour.succeed(),
          [slow]: Behaviour.sleep(150, Behaviour.succeed()),
          [broken]: Behaviour.failPermanent("always")
        },
        pollInterval: "20 millis"
      })
      const tasks = yield* Effect.forEach([1, 2], (i) =>
        Effect.flatMap(requestFor(good, { i }), (payload) => client.tasks.create({ payload })))
      yield* Effect.forEach(tasks, (t) => awaitTaskState(t.task_uuid, "complete"))
      const failing = yield* client.tasks.create({ payload: yield* requestFor(bad, {}) })
      yield* awaitTaskState(failing.task_uuid, "blocked_by_failures").pipe(
        Effect.catchDefect(() => awaitTaskState(failing.task_uuid, "error"))
      )

      const perf = yield* client.analytics.performance({ query: { hours: 1 } })
      assert.isAtLeast(perf.total_tasks, 3)
      assert.isAtLeast(perf.completed_tasks, 2)
      assert.isAbove(perf.completion_rate, 0)
      assert.isNotNull(perf.average_task_duration_seconds)
      assert.isNotNull(perf.average_step_duration_seconds)
      assert.isAbove(perf.steps_per_hour, 0)
      assert.isAtMost(perf.system_health_score, 1)

      const report = yield* client.analytics.bottlenecks({ query: { min_executions: 1, limit: 100 } })
      const slowStep = report.slow_steps.find((s) => s.step_name === slow)
      const fastStep = report.slow_steps.find((s) => s.step_name === fast)
      assert.isDefined(slowStep)
      assert.isDefined(fastStep)
      assert.strictEqual(slowStep!.executions, 2)
      assert.isAbove(slowStep!.average_duration_seconds, fastStep!.average_duration_seconds)
      const brokenStep = report.slow_steps.find((s) => s.step_name === broken)
      assert.strictEqual(brokenStep?.error_rate, 1)
      assert.isDefined(report.slow_tasks.find((t) => t.namespace_name === ns && t.task_name === "chain" && t.finished === 2))
      assert.isAtLeast(report.resource_utilization.failed_steps, 1)
      assert.isDefined(report.recommendations.find((r) => r.includes(broken)))

      const strict = yield* client.analytics.bottlenecks({ query: { min_executions: 1000 } })
      assert.strictEqual(strict.slow_steps.length, 0)
    }))
})
