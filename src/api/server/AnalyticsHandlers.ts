/**
 * Handlers of the `analytics` group. Bottleneck recommendations are plain rules over the figures
 * (failing steps, blocked tasks, open DLQ entries, retry backlog, the slowest step).
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { SystemQueries } from "../queries/SystemQueries.ts"
import type { ResourceUtilization, SlowStep } from "../schemas/AnalyticsSchemas.ts"
import { TaskerApi } from "../TaskerApi.ts"

/** A step failing at least this share of its executions is called out. */
const failingStepRate = 0.25

const percent = (ratio: number) => `${Math.round(ratio * 100)}%`

/** @category analytics @since 0.1.0 */
export const recommendations = (
  slowSteps: ReadonlyArray<SlowStep>,
  load: ResourceUtilization
): ReadonlyArray<string> => {
  const label = (s: SlowStep) => `${s.namespace_name}/${s.task_name}@${s.version} step ${s.step_name}`
  return [
    ...slowSteps
      .filter((s) => s.error_rate >= failingStepRate)
      .map((s) =>
        `${label(s)} fails ${percent(s.error_rate)} of ${s.executions} executions: check its handler and retry policy`
      ),
    ...(load.blocked_tasks > 0
      ? [`${load.blocked_tasks} task(s) are blocked_by_failures: reset, resolve or complete their failed steps`]
      : []),
    ...(load.pending_dlq_entries > 0
      ? [`${load.pending_dlq_entries} DLQ entr${load.pending_dlq_entries === 1 ? "y awaits" : "ies await"} investigation`]
      : []),
    ...(load.waiting_for_retry_steps > 0 ? [`${load.waiting_for_retry_steps} step(s) are waiting for a retry`] : []),
    ...(slowSteps.length > 0
      ? [
        `slowest step: ${label(slowSteps[0]!)} averages ${slowSteps[0]!.average_duration_seconds.toFixed(3)} s over ${
          slowSteps[0]!.executions
        } executions`
      ]
      : [])
  ]
}

/** @category handlers @since 0.1.0 */
export const AnalyticsHandlers = HttpApiBuilder.group(
  TaskerApi,
  "analytics",
  Effect.fn(function*(handlers) {
    const queries = yield* SystemQueries
    return handlers.handleAll({
      performance: ({ query }) => queries.performance(query.hours ?? 24),
      bottlenecks: Effect.fn("AnalyticsApi.bottlenecks")(function*({ query }) {
        const options = { hours: query.hours ?? 24, limit: query.limit ?? 10, minExecutions: query.min_executions ?? 5 }
        const [slowSteps, slowTasks, load] = yield* Effect.all(
          [queries.slowSteps(options), queries.slowTasks(options), queries.utilization],
          { concurrency: 3 }
        )
        return {
          slow_steps: slowSteps,
          slow_tasks: slowTasks,
          resource_utilization: load,
          recommendations: recommendations(slowSteps, load)
        }
      })
    })
  })
)
