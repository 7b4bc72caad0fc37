/**
 * The `analytics` group (REFERENCE 9): throughput and duration figures, and the slowest steps and
 * templates, under `/v1/analytics`.
 *
 * @since 0.1.0
 */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import { BottleneckAnalysis, BottleneckQuery, PerformanceMetrics, PerformanceQuery } from "../schemas/AnalyticsSchemas.ts"

/** @category groups @since 0.1.0 */
export class AnalyticsApi extends HttpApiGroup.make("analytics")
  .add(
    HttpApiEndpoint.get("performance", "/analytics/performance", {
      query: PerformanceQuery,
      success: PerformanceMetrics
    }).annotateMerge(OpenApi.annotations({
      summary: "Task and step throughput over the last `hours` (default 24)"
    })),
    HttpApiEndpoint.get("bottlenecks", "/analytics/bottlenecks", {
      query: BottleneckQuery,
      success: BottleneckAnalysis
    }).annotateMerge(OpenApi.annotations({
      summary: "Slowest steps and templates with at least `min_executions` runs, current load, recommendations"
    }))
  )
  .prefix("/v1")
  .annotateMerge(OpenApi.annotations({ title: "analytics", description: "Performance figures from the database" }))
{}
