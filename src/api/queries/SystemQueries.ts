/**
 * Read repository of the template, analytics and health routes: the registry tables, simple
 * aggregate SQL over tasks, steps and the step result audit, `get_system_health_counts`, and a
 * database ping. One statement per figure set; rows decoded with Schema; queries run without the
 * client's name transforms. SQL failures are defects, except in `ping`, which answers false.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { TemplateNotFound } from "../../domain/Errors.ts"
import { stepStates } from "../../domain/StepState.ts"
import { taskStates } from "../../domain/TaskState.ts"
import { DbTimestamp } from "../ApiSchemas.ts"
import {
  type PerformanceMetrics,
  performanceFields,
  type ResourceUtilization,
  ResourceUtilization as UtilizationRow,
  type SlowStep,
  SlowStep as SlowStepRow,
  type SlowTask,
  SlowTask as SlowTaskRow
} from "../schemas/AnalyticsSchemas.ts"
import type { StateCounts } from "../schemas/HealthSchemas.ts"
import {
  NamespaceInfo,
  TemplateDetailResponse,
  TemplateInfo,
  type TemplateListResponse
} from "../schemas/TemplateSchemas.ts"

const PerformanceRow = Schema.Struct(performanceFields(DbTimestamp))
const Window = Schema.Struct({ hours: Schema.Int, limit: Schema.Int, minExecutions: Schema.Int })
const TemplateKey = Schema.Struct({ namespace: Schema.String, name: Schema.String, version: Schema.String })
const terminal = ["complete", "error", "cancelled", "resolved_manually"]
const inFlight = ["enqueued", "in_progress", "enqueued_for_orchestration", "enqueued_as_error_for_orchestration"]

export interface BottleneckOptions {
  readonly hours: number
  readonly limit: number
  readonly minExecutions: number
}

export class SystemQueries extends Context.Service<SystemQueries, {
  listTemplates(namespace?: string): Effect.Effect<TemplateListResponse>
  getTemplate(namespace: string, name: string, version: string): Effect.Effect<TemplateDetailResponse, TemplateNotFound>
  /** Tasks created in the last `hours`, and the step results recorded in that window. */
  performance(hours: number): Effect.Effect<PerformanceMetrics>
  slowSteps(options: BottleneckOptions): Effect.Effect<ReadonlyArray<SlowStep>>
  slowTasks(options: BottleneckOptions): Effect.Effect<ReadonlyArray<SlowTask>>
  readonly utilization: Effect.Effect<ResourceUtilization>
  /** `get_system_health_counts`, split into tasks and steps by state. */
  readonly stateCounts: Effect.Effect<StateCounts>
  /** `SELECT 1` within a second. */
  readonly ping: Effect.Effect<boolean>
}>()("tasker/api/queries/SystemQueries") {
  static readonly layer = Layer.effect(
    SystemQueries,
    Effect.gen(function*() {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const byNamespace = (namespace: string | null) => namespace === null ? sql`true` : sql`tns.name = ${namespace}`

      const namespaces = SqlSchema.findAll({
        Request: Schema.NullOr(Schema.String),
        Result: NamespaceInfo,
        execute: (namespace) =>
          sql`
            SELECT tns.name, tns.description, count(nt.named_task_uuid)::int AS template_count
            FROM tasker.task_namespaces tns
            LEFT JOIN tasker.named_tasks nt ON nt.task_namespace_uuid = tns.task_namespace_uuid
            WHERE ${byNamespace(namespace)}
            GROUP BY tns.task_namespace_uuid, tns.name, tns.description
            ORDER BY tns.name`
      })

      const templates = SqlSchema.findAll({
        Request: Schema.NullOr(Schema.String),
        Result: TemplateInfo,
        execute: (namespace) =>
          sql`
            SELECT nt.name, tns.name AS namespace, nt.version, nt.description,
                   CASE WHEN jsonb_typeof(nt.configuration -> 'steps') = 'array'
                        THEN jsonb_array_length(nt.configuration -> 'steps') ELSE 0 END AS step_count
            FROM tasker.named_tasks nt
            JOIN tasker.task_namespaces tns ON tns.task_namespace_uuid = nt.task_namespace_uuid
            WHERE ${byNamespace(namespace)}
            ORDER BY tns.name, nt.name, nt.created_at, nt.version`
      })

      // Steps in template order with their registry defaults (named_tasks_named_steps), falling back
      // to the template's retry settings.
      const template = SqlSchema.findOneOption({
        Request: TemplateKey,
        Result: TemplateDetailResponse,
        execute: (r) =>
          sql`
            SELECT nt.name, tns.name AS namespace, nt.version, nt.description, nt.configuration,
                   coalesce((
                     SELECT jsonb_agg(jsonb_build_object(
                              'name', s.step ->> 'name',
                              'description', s.step ->> 'description',
                              'default_retryable', coalesce(a.default_retryable, (s.step -> 'retry' ->> 'retryable')::boolean, true),
                              'default_max_attempts', coalesce(a.default_max_attempts, (s.step -> 'retry' ->> 'max_attempts')::int, 3),
                              'result_schema', s.step -> 'result_schema') ORDER BY s.ord)
                     FROM jsonb_array_elements(CASE WHEN jsonb_typeof(nt.configuration -> 'steps') = 'array'
                                                    THEN nt.configuration -> 'steps' ELSE '[]'::jsonb END)
                          WITH ORDINALITY AS s(step, ord)
                     LEFT JOIN tasker.named_steps nst ON nst.name = s.step ->> 'name'
                     LEFT JOIN tasker.named_tasks_named_steps a
                       ON a.named_task_uuid = nt.named_task_uuid AND a.named_step_uuid = nst.named_step_uuid
                   ), '[]'::jsonb) AS steps
            FROM tasker.named_tasks nt
            JOIN tasker.task_namespaces tns ON tns.task_namespace_uuid = nt.task_namespace_uuid
            WHERE tns.name = ${r.namespace} AND nt.name = ${r.name} AND nt.version = ${r.version}`
      })

      const performanceQuery = SqlSchema.findOne({
        Request: Schema.Int,
        Result: PerformanceRow,
        execute: (hours) =>
          sql`
            WITH w AS (SELECT now() - make_interval(hours => ${hours}) AS since),
            t AS (
              SELECT count(*) AS total,
                     count(*) FILTER (WHERE current_state <> ALL (${terminal}::text[])) AS active,
                     count(*) FILTER (WHERE current_state = 'complete') AS completed,
                     count(*) FILTER (WHERE current_state = 'error') AS failed,
                     count(*) FILTER (WHERE current_state IN ('complete', 'resolved_manually')) AS succeeded,
                     count(*) FILTER (WHERE current_state = ANY (${terminal}::text[])) AS finished,
                     avg(extract(epoch FROM completed_at - created_at)) FILTER (WHERE current_state = 'complete') AS avg_task
              FROM tasker.tasks, w WHERE created_at >= w.since
            ),
            s AS (
              SELECT count(*) AS results, avg(execution_time_ms) / 1000.0 AS avg_step
              FROM tasker.workflow_step_result_audit, w WHERE recorded_at >= w.since
            )
            SELECT t.total::int AS total_tasks, t.active::int AS active_tasks, t.completed::int AS completed_tasks,
                   t.failed::int AS failed_tasks,
                   CASE WHEN t.total = 0 THEN 0 ELSE t.completed::float8 / t.total END AS completion_rate,
                   CASE WHEN t.total = 0 THEN 0 ELSE t.failed::float8 / t.total END AS error_rate,
                   t.avg_task::float8 AS average_task_duration_seconds, s.avg_step::float8 AS average_step_duration_seconds,
                   t.total::float8 / ${hours} AS tasks_per_hour, s.results::float8 / ${hours} AS steps_per_hour,
                   CASE WHEN t.finished = 0 THEN 1 ELSE t.succeeded::float8 / t.finished END AS system_health_score,
                   w.since AS analysis_period_start, now() AS calculated_at
            FROM t, s, w`
      })

      const slowStepsQuery = SqlSchema.findAll({
        Request: Window,
        Result: SlowStepRow,
        execute: (r) =>
          sql`
            SELECT tns.name AS namespace_name, nt.name AS task_name, nt.version, ns.name AS step_name,
                   count(*)::int AS executions,
                   coalesce(avg(a.execution_time_ms), 0)::float8 / 1000 AS average_duration_seconds,
                   coalesce(max(a.execution_time_ms), 0)::float8 / 1000 AS max_duration_seconds,
                   count(*) FILTER (WHERE NOT a.success)::int AS failures,
                   (count(*) FILTER (WHERE NOT a.success))::float8 / count(*) AS error_rate
            FROM tasker.workflow_step_result_audit a
            JOIN tasker.workflow_steps ws ON ws.workflow_step_uuid = a.workflow_step_uuid
            JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
            JOIN tasker.tasks t ON t.task_uuid = a.task_uuid
            JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
            JOIN tasker.task_namespaces tns ON tns.task_namespace_uuid = nt.task_namespace_uuid
            WHERE a.recorded_at >= now() - make_interval(hours => ${r.hours})
            GROUP BY tns.name, nt.name, nt.version, ns.name
            HAVING count(*) >= ${r.minExecutions}
            ORDER BY average_duration_seconds DESC, executions DESC
            LIMIT ${r.limit}`
      })

      const slowTasksQuery = SqlSchema.findAll({
        Request: Window,
        Result: SlowTaskRow,
        execute: (r) =>
          sql`
            SELECT tns.name AS namespace_name, nt.name AS task_name, nt.version, count(*)::int AS finished,
                   avg(extract(epoch FROM t.completed_at - t.created_at))::float8 AS average_duration_seconds,
                   max(extract(epoch FROM t.completed_at - t.created_at))::float8 AS max_duration_seconds,
                   count(*) FILTER (WHERE t.current_state = 'error')::int AS failed,
                   (count(*) FILTER (WHERE t.current_state = 'error'))::float8 / count(*) AS error_rate
            FROM tasker.tasks t
            JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
            JOIN tasker.task_namespaces tns ON tns.task_namespace_uuid = nt.task_namespace_uuid
            WHERE t.created_at >= now() - make_interval(hours => ${r.hours}) AND t.completed_at IS NOT NULL
            GROUP BY tns.name, nt.name, nt.version
            HAVING count(*) >= ${r.minExecutions}
            ORDER BY average_duration_seconds DESC, finished DESC
            LIMIT ${r.limit}`
      })

      const utilizationQuery = SqlSchema.findOne({
        Request: Schema.Void,
        Result: UtilizationRow,
        execute: () =>
          sql`
            SELECT
              (SELECT count(*) FROM tasker.tasks WHERE current_state <> ALL (${terminal}::text[]))::int AS active_tasks,
              (SELECT count(*) FROM tasker.tasks WHERE current_state = 'blocked_by_failures')::int AS blocked_tasks,
              (SELECT count(*) FROM tasker.workflow_steps WHERE current_state = ANY (${inFlight}::text[]))::int AS in_flight_steps,
              (SELECT count(*) FROM tasker.workflow_steps WHERE current_state = 'waiting_for_retry')::int AS waiting_for_retry_steps,
              (SELECT count(*) FROM tasker.workflow_steps WHERE current_state = 'error')::int AS failed_steps,
              (SELECT count(*) FROM tasker.tasks_dlq WHERE resolution_status = 'pending')::int AS pending_dlq_entries`
      })

      const countsQuery = SqlSchema.findOne({
        Request: Schema.Void,
        Result: Schema.Struct({ counts: Schema.Record(Schema.String, Schema.Int) }),
        execute: () => sql`SELECT to_jsonb(c) AS counts FROM tasker.get_system_health_counts() c`
      })

      const listTemplates = Effect.fn("SystemQueries.listTemplates")(function*(namespace?: string) {
        const [ns, list] = yield* Effect.all([namespaces(namespace ?? null), templates(namespace ?? null)])
        return { namespaces: ns, templates: list, total_count: list.length } satisfies TemplateListResponse
      }, Effect.orDie)

      const getTemplate = Effect.fn("SystemQueries.getTemplate")(function*(namespace: string, name: string, version: string) {
        const found = yield* template({ namespace, name, version }).pipe(Effect.orDie)
        if (Option.isNone(found)) return yield* new TemplateNotFound({ namespace, name, version })
        return found.value
      })

      const stateCounts = Effect.gen(function*() {
        const { counts } = yield* countsQuery(undefined)
        const pick = (states: ReadonlyArray<string>, suffix: string) =>
          Object.fromEntries(states.map((state) => [state, counts[`${state}_${suffix}`] ?? 0]))
        return {
          tasks: pick(taskStates, "tasks"),
          steps: pick(stepStates, "steps"),
          total_tasks: counts["total_tasks"] ?? 0,
          total_steps: counts["total_steps"] ?? 0
        } satisfies StateCounts
      }).pipe(Effect.orDie, Effect.withSpan("SystemQueries.stateCounts"))

      const ping = sql`SELECT 1`.pipe(
        Effect.timeout(Duration.seconds(1)),
        Effect.as(true),
        Effect.catchCause(() => Effect.succeed(false))
      )

      return SystemQueries.of({
        listTemplates,
        getTemplate,
        performance: Effect.fn("SystemQueries.performance")((hours: number) => performanceQuery(hours), Effect.orDie),
        slowSteps: Effect.fn("SystemQueries.slowSteps")((o: BottleneckOptions) => slowStepsQuery(o), Effect.orDie),
        slowTasks: Effect.fn("SystemQueries.slowTasks")((o: BottleneckOptions) => slowTasksQuery(o), Effect.orDie),
        utilization: utilizationQuery(undefined).pipe(Effect.orDie, Effect.withSpan("SystemQueries.utilization")),
        stateCounts,
        ping
      })
    })
  )
}
