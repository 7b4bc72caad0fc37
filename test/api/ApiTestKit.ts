/**
 * Test kit of the API suites: the REST server on port 0 beside `OrchestrationCore.layer` and
 * `OperatorActions.layer` over a fresh database (PgTest), the typed client pointed at the bound
 * address, raw HTTP for what the typed client cannot send (invalid bodies) or hides (headers),
 * template registration, and polling helpers.
 */
import { Context, Duration, Effect, Layer, Schedule } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import * as ApiServer from "../../src/api/ApiServer.ts"
import type { TaskResponse } from "../../src/api/ApiSchemas.ts"
import { TaskerClient } from "../../src/client/TaskerClient.ts"
import { type SettingsOverrides, TaskerConfig } from "../../src/config/TaskerConfig.ts"
import type { TaskUuid } from "../../src/domain/Ids.ts"
import type { TaskState } from "../../src/domain/TaskState.ts"
import { OperatorActions } from "../../src/orchestration/lifecycle/operator-actions/OperatorActions.ts"
import * as OrchestrationCore from "../../src/orchestration/OrchestrationCore.ts"
import { PgTest } from "../support/PgTest.ts"

/** The server's base URL. */
export class BaseUrl extends Context.Service<BaseUrl, string>()("test/api/BaseUrl") {}

/** Fast pollers, no staleness sweep, and a health evaluation that runs once at start (tests set the report). */
export const testSettings: SettingsOverrides = {
  api: { host: "127.0.0.1", port: 0 },
  orchestration: {
    fallbackPollInterval: Duration.millis(200),
    readinessPollInterval: Duration.millis(200),
    healthEvaluationInterval: Duration.hours(1)
  },
  staleness: { enabled: false },
  backoff: { jitter: false }
}

/** Server + core + operator actions over a fresh database, the typed client and raw HTTP. */
export const apiTestLayer = (overrides: SettingsOverrides = {}) => {
  const server = ApiServer.layerWith({ logRequests: false }).pipe(
    Layer.provideMerge(OperatorActions.layer),
    Layer.provideMerge(OrchestrationCore.layer),
    Layer.provideMerge(TaskerConfig.layerWith({ ...testSettings, ...overrides })),
    Layer.provideMerge(PgTest.layer)
  )
  const clients = Layer.unwrap(Effect.map(ApiServer.url, (url) =>
    Layer.mergeAll(TaskerClient.layer(url), Layer.succeed(BaseUrl, url), FetchHttpClient.layer)))
  return clients.pipe(Layer.provideMerge(server))
}

export interface RawResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: unknown
  readonly text: string
}

/** A request with the raw HTTP client; a JSON body is sent as is (no client-side validation). */
export const raw = (method: "GET" | "POST" | "PATCH" | "DELETE", path: string, body?: unknown) =>
  Effect.gen(function*() {
    const base = yield* BaseUrl
    const http = yield* HttpClient.HttpClient
    let request = HttpClientRequest.make(method)(`${base}${path}`)
    if (body !== undefined) request = HttpClientRequest.bodyJsonUnsafe(request, body)
    const response = yield* http.execute(request)
    const text = yield* response.text
    const contentType = response.headers["content-type"] ?? ""
    return {
      status: response.status,
      headers: response.headers,
      text,
      body: contentType.includes("json") && text.length > 0 ? JSON.parse(text) : text
    } satisfies RawResponse
  }).pipe(Effect.orDie)

/** Polls `GET /v1/tasks/{uuid}` until the task is in `state`. */
export const awaitTaskState = (taskUuid: TaskUuid, state: TaskState, timeout: Duration.Input = "20 seconds") =>
  Effect.gen(function*() {
    const client = yield* TaskerClient
    return yield* client.tasks.get({ params: { uuid: taskUuid } }).pipe(
      Effect.orDie,
      Effect.repeat({ until: (task: TaskResponse) => task.status === state, schedule: Schedule.spaced("100 millis") }),
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () =>
          client.tasks.get({ params: { uuid: taskUuid } }).pipe(
            Effect.orDie,
            Effect.flatMap((task) => Effect.die(new Error(`task ${taskUuid} is ${task.status}, not ${state}`)))
          )
      })
    )
  })

/** A template of steps in a chain (`a -> b -> c`), identity `strict` unless given. */
export const chainYaml = (namespace: string, steps: ReadonlyArray<string>, options: { readonly strategy?: string } = {}) => `
name: chain
namespace_name: ${namespace}
version: 1.0.0
description: steps in a chain
identity_strategy: ${options.strategy ?? "strict"}
steps:
${
  steps.map((s, i) =>
    `  - name: ${s}\n    description: step ${s}\n    handler: { callable: test.${s} }\n    retry: { max_attempts: 1 }${
      i > 0 ? `\n    dependencies: [${steps[i - 1]}]` : ""
    }`
  ).join("\n")
}
`
