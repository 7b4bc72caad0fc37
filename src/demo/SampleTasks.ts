/**
 * The sample run of `npm start` / `tasker demo`: once the API and the example worker are up, it
 * submits one task per example template, waits for them, and prints where to look and what they
 * produced. Each run's contexts carry a run stamp, so restarting on the same data directory
 * creates new tasks instead of colliding with the last run's identities.
 */
import { Console, DateTime, Duration, Effect, Layer, Schedule, Schema } from "effect"
import { HttpServer } from "effect/http"
import { SqlClient, SqlSchema } from "effect/sql"
import * as ApiServer from "../api/ApiServer.ts"
import { decodeTaskRequest } from "../domain/TaskRequest.ts"
import { CommandProcessor } from "../orchestration/CommandProcessor.ts"
import { OrchestrationCommand } from "../orchestration/commands/OrchestrationCommand.ts"

const samples = (stamp: string) => [
  {
    namespace: "ecommerce",
    name: "order_fulfillment",
    version: "1.0.0",
    context: {
      order_id: `order-${stamp}`,
      customer_id: "customer-42",
      items: [{ sku: "BOOK-1", quantity: 2, price: 12.5 }, { sku: "PEN-7", quantity: 1, price: 3 }]
    }
  },
  { namespace: "demo", name: "diamond", version: "1.0.0", context: { value: 7, run: stamp } },
  { namespace: "demo", name: "fanout", version: "1.0.0", context: { numbers: [3, 1, 4, 1, 5, 9, 2, 6], run: stamp } }
]

const TaskOutcome = Schema.Struct({
  currentState: Schema.String,
  elapsedMs: Schema.Number,
  steps: Schema.Number,
  lastResult: Schema.NullOr(Schema.Unknown)
})

/** Submits the samples and reports; a fiber of the layer's scope, so Ctrl-C stops it at once. */
export const SampleTasksLive = Layer.effectDiscard(Effect.gen(function*() {
  const processor = yield* CommandProcessor
  const sql = yield* SqlClient.SqlClient
  const baseUrl = yield* ApiServer.url
  yield* HttpServer.HttpServer

  const outcome = SqlSchema.findOne({
    Request: Schema.String,
    Result: TaskOutcome,
    execute: (taskUuid) => sql`
      SELECT t.current_state,
             (EXTRACT(EPOCH FROM (coalesce(t.completed_at, now()) - t.created_at)) * 1000)::float8 AS elapsed_ms,
             (SELECT count(*)::int FROM tasker.workflow_steps s WHERE s.task_uuid = t.task_uuid) AS steps,
             (SELECT s.results->'result' FROM tasker.workflow_steps s
               WHERE s.task_uuid = t.task_uuid AND s.current_state = 'complete'
               ORDER BY s.processed_at DESC NULLS LAST LIMIT 1) AS last_result
      FROM tasker.tasks t WHERE t.task_uuid = ${taskUuid}::uuid`
  })

  const run = Effect.gen(function*() {
    yield* Console.log([
      "",
      "Tasker is running.",
      `  API        ${baseUrl}/v1/tasks`,
      `  API docs   ${baseUrl}${ApiServer.docsPath}`,
      `  OpenAPI    ${baseUrl}${ApiServer.openapiPath}`,
      `  Health     ${baseUrl}/health/detailed`,
      "",
      "Submitting sample tasks…"
    ].join("\n"))
    const stamp = DateTime.formatIso(yield* DateTime.now).replace(/[^0-9]/g, "").slice(0, 17)
    const created = yield* Effect.forEach(samples(stamp), (sample) =>
      Effect.gen(function*() {
        const request = yield* decodeTaskRequest({
          ...sample,
          initiator: "npm start",
          source_system: "tasker-demo",
          reason: "sample task"
        })
        const result = yield* processor.submit(OrchestrationCommand.InitializeTask({ request }))
        if (result._tag !== "TaskInitialize" || result.result._tag !== "Success") {
          return yield* Effect.fail(new Error(`could not create ${sample.name}: ${JSON.stringify(result)}`))
        }
        return { label: `${sample.namespace}/${sample.name}`, taskUuid: result.result.task.taskUuid }
      }))
    for (const task of created) {
      const done = yield* outcome(task.taskUuid).pipe(
        Effect.repeat({
          until: (o) => ["complete", "error", "blocked_by_failures", "cancelled"].includes(o.currentState),
          schedule: Schedule.spaced("50 millis")
        }),
        Effect.timeoutOrElse({ duration: Duration.seconds(30), orElse: () => outcome(task.taskUuid) })
      )
      const mark = done.currentState === "complete" ? "✓" : "✗"
      yield* Console.log(
        `  ${mark} ${task.label.padEnd(28)} ${done.currentState.padEnd(10)} ${done.steps} steps in ${
          Math.round(done.elapsedMs)
        } ms   ${baseUrl}/v1/tasks/${task.taskUuid}`
      )
      if (done.lastResult !== null) yield* Console.log(`      result: ${JSON.stringify(done.lastResult)}`)
    }
    yield* Console.log("\nTry: curl " + `${baseUrl}/v1/tasks` + "   ·   Ctrl-C stops everything.")
  })

  yield* run.pipe(
    Effect.catchCause((cause) => Effect.logError("sample tasks failed", cause)),
    Effect.forkScoped
  )
}))
