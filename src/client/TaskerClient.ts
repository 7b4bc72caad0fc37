/**
 * The typed client of the Tasker REST API, derived from the same definition as the server
 * (src/api/TaskerApi.ts): `client.tasks.create({ payload })`, `client.steps.resolve({ params,
 * payload })`, `client.health.ready()`, … Each method fails with the route's declared errors
 * (`TaskConflict`, `ServiceOverloaded`, `InvalidRequest`, …), decoded from the response body.
 *
 * `TaskerClient.layer(baseUrl)` uses the global `fetch`; `layerWith(baseUrl)` uses the
 * `HttpClient` the host provides.
 *
 * @since 0.1.0
 */
import { Context, Layer } from "effect"
import { FetchHttpClient, type HttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { TaskerApi } from "../api/TaskerApi.ts"

/** @category services @since 0.1.0 */
export class TaskerClient extends Context.Service<TaskerClient, HttpApiClient.ForApi<typeof TaskerApi>>()(
  "tasker/client/TaskerClient"
) {
  /** A client for the server at `baseUrl` (e.g. `http://127.0.0.1:8080`) over the host's `HttpClient`. */
  static readonly layerWith = (baseUrl: string | URL): Layer.Layer<TaskerClient, never, HttpClient.HttpClient> =>
    Layer.effect(TaskerClient, HttpApiClient.make(TaskerApi, { baseUrl }))

  /** A client for the server at `baseUrl` over `fetch`. */
  static readonly layer = (baseUrl: string | URL): Layer.Layer<TaskerClient> =>
    TaskerClient.layerWith(baseUrl).pipe(Layer.provide(FetchHttpClient.layer))
}
