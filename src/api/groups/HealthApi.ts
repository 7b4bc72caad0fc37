/**
 * The public `health` group (REFERENCE 6.8): `/health`, `/health/live`, `/health/ready` (503 when
 * not ready), `/health/detailed` and the Prometheus `/metrics`. Not under `/v1`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { BasicHealth, DetailedHealth, Liveness, NotReady, Readiness } from "../schemas/HealthSchemas.ts"

/** The Prometheus text exposition format. @category constants @since 0.1.0 */
export const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

/** @category groups @since 0.1.0 */
export class HealthApi extends HttpApiGroup.make("health")
  .add(
    HttpApiEndpoint.get("basic", "/health", { success: BasicHealth })
      .annotateMerge(OpenApi.annotations({ summary: "The cached system status" })),
    HttpApiEndpoint.get("live", "/health/live", { success: Liveness })
      .annotateMerge(OpenApi.annotations({ summary: "Liveness: the process answers" })),
    HttpApiEndpoint.get("ready", "/health/ready", { success: Readiness, error: NotReady })
      .annotateMerge(OpenApi.annotations({
        summary: "Readiness: 503 when the database is unreachable, a circuit breaker is open or the command queue is full"
      })),
    HttpApiEndpoint.get("detailed", "/health/detailed", { success: DetailedHealth })
      .annotateMerge(OpenApi.annotations({
        summary: "System health, processor counters, circuit breakers, queue depths, task and step counts"
      })),
    HttpApiEndpoint.get("metrics", "/metrics", {
      success: Schema.String.pipe(HttpApiSchema.asText({ contentType: prometheusContentType }))
    }).annotateMerge(OpenApi.annotations({ summary: "Prometheus metrics (text exposition format)" }))
  )
  .annotateMerge(OpenApi.annotations({ title: "health", description: "Public health and metrics" }))
{}
