/**
 * Backpressure, health, metrics and the API's self-description over real HTTP (REFERENCE 6.6, 6.8,
 * 9, 12.15): 503 with Retry-After while HealthReport reports backpressure; readiness (and 503
 * NotReady once a circuit breaker is open); the Prometheus series; the OpenAPI document lists
 * every route; the docs page loads nothing from a CDN.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { TaskerClient } from "../../src/client/TaskerClient.ts"
import { CircuitBreakers } from "../../src/orchestration/resilience/CircuitBreakers.ts"
import { HealthReport } from "../../src/orchestration/resilience/HealthReport.ts"
import { registerYaml, requestFor, uniqueNamespace } from "../orchestration/lifecycle/LifecycleTestKit.ts"
import { apiTestLayer, chainYaml, raw } from "./ApiTestKit.ts"

/** Every route of REFERENCE 9 and 6.8, as the OpenAPI document spells it. */
const routes: ReadonlyArray<readonly [string, string]> = [
  ["post", "/v1/tasks"],
  ["get", "/v1/tasks"],
  ["get", "/v1/tasks/{uuid}"],
  ["delete", "/v1/tasks/{uuid}"],
  ["get", "/v1/tasks/{uuid}/summary"],
  ["get", "/v1/tasks/{uuid}/workflow_steps"],
  ["get", "/v1/tasks/{uuid}/workflow_steps/{step_uuid}"],
  ["patch", "/v1/tasks/{uuid}/workflow_steps/{step_uuid}"],
  ["get", "/v1/tasks/{uuid}/workflow_steps/{step_uuid}/audit"],
  ["get", "/v1/templates"],
  ["get", "/v1/templates/{namespace}/{name}/{version}"],
  ["get", "/v1/analytics/performance"],
  ["get", "/v1/analytics/bottlenecks"],
  ["get", "/v1/dlq"],
  ["get", "/v1/dlq/task/{task_uuid}"],
  ["patch", "/v1/dlq/entry/{dlq_entry_uuid}"],
  ["get", "/v1/dlq/stats"],
  ["get", "/v1/dlq/investigation-queue"],
  ["get", "/v1/dlq/staleness"],
  ["get", "/health"],
  ["get", "/health/live"],
  ["get", "/health/ready"],
  ["get", "/health/detailed"],
  ["get", "/metrics"]
]

layer(apiTestLayer(), { timeout: "60 seconds", excludeTestServices: true })("System API", (it) => {
  it.effect("answers POST /v1/tasks with 503 and Retry-After while HealthReport reports backpressure", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const report = yield* HealthReport
      const template = yield* registerYaml(chainYaml(uniqueNamespace("bp"), ["bp_only"]))
      const request = yield* requestFor(template, { n: 1 })
      const healthy = yield* report.current
      yield* Effect.gen(function*() {
        yield* report.update({
          ...healthy,
          status: "degraded",
          backpressureActive: true,
          backpressureReason: "queue worker_x_queue at critical depth",
          retryAfterSeconds: 42
        })
        const error = yield* client.tasks.create({ payload: request }).pipe(Effect.flip)
        assert.strictEqual(error._tag, "ServiceOverloaded")
        assert.deepInclude(error as object, { retry_after_seconds: 42, reason: "queue worker_x_queue at critical depth" })
        const response = yield* raw("POST", "/v1/tasks", {
          ...template,
          context: { n: 2 },
          initiator: "t",
          source_system: "t",
          reason: "t"
        })
        assert.strictEqual(response.status, 503)
        assert.strictEqual(response.headers["retry-after"], "42")
        assert.deepInclude(response.body as object, { _tag: "ServiceOverloaded", retry_after_seconds: 42 })
        const metrics = yield* raw("GET", "/metrics")
        assert.include(metrics.text, "tasker_backpressure_active 1")
      }).pipe(Effect.ensuring(report.update(healthy)))

      const created = yield* client.tasks.create({ payload: request })
      assert.strictEqual(created.status, "steps_in_process")
    }))

  it.effect("serves an OpenAPI document that lists every route, and a docs page without CDN assets", () =>
    Effect.gen(function*() {
      const response = yield* raw("GET", "/openapi.json")
      assert.strictEqual(response.status, 200)
      const spec = response.body as { openapi: string; info: { title: string }; paths: Record<string, Record<string, unknown>> }
      assert.match(spec.openapi, /^3\./)
      assert.strictEqual(spec.info.title, "Tasker API")
      for (const [method, path] of routes) {
        assert.isDefined(spec.paths[path]?.[method], `${method.toUpperCase()} ${path} in the OpenAPI document`)
      }
      const operations = Object.values(spec.paths).reduce((n, item) => n + Object.keys(item).length, 0)
      assert.strictEqual(operations, routes.length)
      const create = spec.paths["/v1/tasks"]!["post"] as { responses: Record<string, unknown> }
      assert.includeMembers(Object.keys(create.responses), ["201", "400", "404", "409", "503"])

      const docs = yield* raw("GET", "/docs")
      assert.strictEqual(docs.status, 200)
      assert.match(docs.headers["content-type"] ?? "", /text\/html/)
      assert.include(docs.text, "api-reference-container")
      // the Scalar script is inline: no external script or stylesheet
      assert.notMatch(docs.text, /<script[^>]*\ssrc=/)
      assert.notMatch(docs.text, /<link[^>]*\shref="https?:/)
    }))

  it.effect("exposes the Prometheus series", () =>
    Effect.gen(function*() {
      const response = yield* raw("GET", "/metrics")
      assert.strictEqual(response.status, 200)
      assert.match(response.headers["content-type"] ?? "", /^text\/plain/)
      for (
        const series of [
          "# TYPE tasker_tasks gauge",
          "tasker_tasks{state=\"complete\"}",
          "tasker_tasks{state=\"steps_in_process\"}",
          "tasker_steps{state=\"enqueued\"}",
          "# TYPE tasker_commands_processed_total counter",
          "tasker_commands_processed_total{kind=\"task_request\"}",
          "# TYPE tasker_commands_queued gauge",
          "tasker_command_channel_saturation",
          "tasker_queue_depth{queue=\"orchestration_step_results\"}",
          "tasker_circuit_breaker_state{name=\"database\",state=\"Closed\"} 1",
          "tasker_backpressure_active 0",
          "tasker_database_connected 1",
          "tasker_health_status{status=\"healthy\"} 1"
        ]
      ) assert.include(response.text, series)
      // a task created by the first test is counted
      assert.match(response.text, /tasker_tasks\{state="steps_in_process"\} [1-9]/)
    }))

  it.effect("answers the health routes", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const basic = yield* client.health.basic()
      assert.strictEqual(basic.status, "healthy")
      const cors = yield* raw("GET", "/health")
      assert.strictEqual(cors.headers["access-control-allow-origin"], "*")
      const live = yield* client.health.live()
      assert.strictEqual(live.status, "alive")
      const ready = yield* client.health.ready()
      assert.strictEqual(ready.status, "ready")
      assert.strictEqual(ready.checks.web_database.status, "healthy")
      const detailed = yield* client.health.detailed()
      assert.isTrue(detailed.system_health.database_connected)
      assert.isTrue(detailed.queue_metrics_available)
      assert.deepStrictEqual(detailed.circuit_breakers.map((b) => b.name), ["database", "messaging", "taskReadiness"])
      assert.isAtLeast(detailed.counts.total_tasks, 1)
      assert.strictEqual(detailed.counts.tasks["steps_in_process"], detailed.counts.total_tasks)
      assert.isAtLeast(detailed.processor.task_requests_processed, 1)
    }))

  // Last: the open breaker stays open for the rest of the file.
  it.effect("answers /health/ready with 503 NotReady once a circuit breaker is open", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const { messaging } = yield* CircuitBreakers
      yield* Effect.forEach([1, 2, 3, 4, 5], () => Effect.ignore(messaging.protect(Effect.fail("down"))))
      const error = yield* client.health.ready().pipe(Effect.flip)
      assert.strictEqual(error._tag, "NotReady")
      assert.strictEqual(error._tag === "NotReady" ? error.checks.circuit_breaker.status : undefined, "unhealthy")
      const response = yield* raw("GET", "/health/ready")
      assert.strictEqual(response.status, 503)
      assert.deepInclude(response.body as object, { _tag: "NotReady", status: "not_ready" })
    }))
})
