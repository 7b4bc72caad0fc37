/**
 * The REST API server: the TaskerApi handlers, the OpenAPI document at `GET /openapi.json`, a
 * Scalar page that browses it at `GET /docs` (its script is bundled in effect, nothing is loaded
 * from a CDN), open CORS, served by Node's HTTP server on `TaskerConfig.api` host and port.
 *
 * - `ApiServer.routes`: everything on an `HttpRouter`, for a host app that serves its own router
 *   (it also needs the platform's HTTP services: `HttpServer.layerServices` or a Node server layer).
 * - `ApiServer.layer` (`layerWith(options)`): `routes` on a Node HTTP server (graceful shutdown
 *   10 s). It provides `HttpServer`, whose `address` is the bound one (port 0 picks a free port):
 *   `ApiServer.url`.
 *
 * Both need what the orchestration core provides (`OrchestrationCore.layer`: CommandProcessor,
 * HealthReport, CircuitBreakers, MessageClient, and the host's `SqlClient` and `TaskerConfig`)
 * plus `OperatorActions`. The read repositories are built here.
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Duration, Effect, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { HttpApiBuilder, HttpApiScalar } from "effect/http-api"
import { NetAddress } from "effect/net"
import { TaskerConfig } from "../config/TaskerConfig.ts"
import { DlqQueries } from "./queries/DlqQueries.ts"
import { SystemQueries } from "./queries/SystemQueries.ts"
import { TaskQueries } from "./queries/TaskQueries.ts"
import { AnalyticsHandlers } from "./server/AnalyticsHandlers.ts"
import { DlqHandlers } from "./server/DlqHandlers.ts"
import { HealthHandlers } from "./server/HealthHandlers.ts"
import { StepsHandlers } from "./server/StepsHandlers.ts"
import { TasksHandlers } from "./server/TasksHandlers.ts"
import { TemplatesHandlers } from "./server/TemplatesHandlers.ts"
import { ValidationLive } from "./server/Validation.ts"
import { TaskerApi } from "./TaskerApi.ts"

/** Where the OpenAPI document and its browser page are served. @category constants @since 0.1.0 */
export const openapiPath = "/openapi.json"
/** @category constants @since 0.1.0 */
export const docsPath = "/docs"

/** Time in-flight requests get to finish when the server closes. @category constants @since 0.1.0 */
export const gracefulShutdownTimeout = Duration.seconds(10)

/** The read repositories of the handlers (need `SqlClient`). @category layers @since 0.1.0 */
export const QueriesLive = Layer.mergeAll(TaskQueries.layer, DlqQueries.layer, SystemQueries.layer)

/** Every group's handlers with the validation middlewares and the read repositories. @category layers @since 0.1.0 */
export const HandlersLive = Layer.mergeAll(
  TasksHandlers,
  StepsHandlers,
  TemplatesHandlers,
  AnalyticsHandlers,
  DlqHandlers,
  HealthHandlers
).pipe(Layer.provide(Layer.mergeAll(QueriesLive, ValidationLive)))

/** The API, its OpenAPI document, the docs page and CORS on an `HttpRouter`. @category layers @since 0.1.0 */
export const routes = Layer.mergeAll(
  HttpApiBuilder.layer(TaskerApi, { openapiPath }).pipe(Layer.provide(HandlersLive)),
  HttpApiScalar.layer(TaskerApi, { path: docsPath, scalar: { withDefaultFonts: false } }),
  // Open CORS, as the reference; browsers may read Retry-After on a 503.
  HttpRouter.cors({ exposedHeaders: ["retry-after"] })
)

/** @category models @since 0.1.0 */
export interface ServerOptions {
  /** Log every response (method, url, status, duration) at Info. Default true. */
  readonly logRequests?: boolean | undefined
}

/** `routes` served by Node's HTTP server on `TaskerConfig.api`. @category layers @since 0.1.0 */
export const layerWith = (options: ServerOptions = {}) =>
  Layer.unwrap(Effect.gen(function*() {
    const { api } = yield* TaskerConfig
    return HttpRouter.serve(routes, { disableLogger: options.logRequests === false }).pipe(
      Layer.provideMerge(NodeHttpServer.layer(createServer, { host: api.host, port: api.port, gracefulShutdownTimeout }))
    )
  }))

/** `layerWith()`: the server with request logging. @category layers @since 0.1.0 */
export const layer = layerWith()

/**
 * The server's base URL (`http://127.0.0.1:34567`), from the bound address; an unspecified
 * listen address (`0.0.0.0`, `::`) is reported as the IPv4 loopback.
 *
 * @category accessors
 * @since 0.1.0
 */
export const url: Effect.Effect<string, never, HttpServer.HttpServer> = Effect.gen(function*() {
  const { address } = yield* HttpServer.HttpServer
  if (NetAddress.isUnixPathAddress(address)) return `unix://${address.path}`
  const base = yield* Effect.fromResult(NetAddress.toUrl(address)).pipe(Effect.orDie)
  if (NetAddress.isUnspecified(address.address)) base.hostname = NetAddress.formatIp(NetAddress.ipv4Loopback)
  return base.origin
})
