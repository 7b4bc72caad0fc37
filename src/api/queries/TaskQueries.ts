/**
 * Read repository of the task and step routes. Every read is set-based: a page of tasks is one
 * statement (tasks + execution contexts, with the total) plus one for all their steps' readiness;
 * one task is the same two statements. Rows are decoded with the API's own field lists built on the
 * row timestamp codec, so a decoded row is the response value. The queries run without the client's
 * name transforms: columns are the wire's snake_case names. SQL failures are defects.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { StepNotFound, TaskNotFound } from "../../domain/Errors.ts"
import type { StepUuid, TaskUuid } from "../../domain/Ids.ts"
import {
  DbTimestamp,
  stepAuditFields,
  type StepAuditEntry,
  stepFields,
  type StepReadiness,
  stepReadinessFields,
  type StepResponse,
  type TaskListFilter,
  type TaskListResponse,
  type TaskResponse,
  type TaskSummaryResponse,
  taskFields,
  taskSummaryFields
} from "../ApiSchemas.ts"

const TaskRow = Schema.Struct(taskFields(DbTimestamp))
const TaskPageRow = Schema.Struct({ ...taskFields(DbTimestamp), total_count: Schema.Int })
const ReadinessRow = Schema.Struct(stepReadinessFields(DbTimestamp))
const StepRow = Schema.Struct(stepFields(DbTimestamp))
const AuditRow = Schema.Struct(stepAuditFields(DbTimestamp))
const SummaryRow = Schema.Struct(taskSummaryFields(DbTimestamp))
const Uuids = Schema.Array(Schema.String)
const StepKey = Schema.Struct({ taskUuid: Schema.String, stepUuid: Schema.String })

export class TaskQueries extends Context.Service<TaskQueries, {
  listTasks(filter: TaskListFilter): Effect.Effect<TaskListResponse>
  getTask(taskUuid: TaskUuid): Effect.Effect<TaskResponse, TaskNotFound>
  getTaskSummary(taskUuid: TaskUuid): Effect.Effect<TaskSummaryResponse, TaskNotFound>
  /** The task's steps by creation order. */
  listSteps(taskUuid: TaskUuid): Effect.Effect<ReadonlyArray<StepResponse>, TaskNotFound>
  getStep(taskUuid: TaskUuid, stepUuid: StepUuid): Effect.Effect<StepResponse, TaskNotFound | StepNotFound>
  /** The step's result audit joined to the transitions, newest first. */
  stepAudit(taskUuid: TaskUuid, stepUuid: StepUuid): Effect.Effect<ReadonlyArray<StepAuditEntry>, TaskNotFound | StepNotFound>
}>()("tasker/api/queries/TaskQueries") {
  static readonly layer = Layer.effect(
    TaskQueries,
    Effect.gen(function*() {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()

      // The task columns, over a relation `t` of tasks joined to `x`, the execution contexts.
      const taskColumns = sql`
        t.task_uuid, nt.name, tns.name AS namespace, nt.version, t.current_state AS status,
        t.created_at, t.updated_at, t.completed_at, t.context, t.initiator, t.source_system, t.reason,
        t.priority, coalesce(t.tags, '[]'::jsonb) AS tags, t.correlation_id, t.parent_correlation_id,
        coalesce(x.total_steps, 0)::int AS total_steps, coalesce(x.pending_steps, 0)::int AS pending_steps,
        coalesce(x.in_progress_steps, 0)::int AS in_progress_steps,
        coalesce(x.enqueued_steps, 0)::int AS enqueued_steps,
        coalesce(x.completed_steps, 0)::int AS completed_steps, coalesce(x.failed_steps, 0)::int AS failed_steps,
        coalesce(x.ready_steps, 0)::int AS ready_steps,
        coalesce(x.execution_status, 'waiting_for_dependencies') AS execution_status,
        coalesce(x.recommended_action, 'wait_for_dependencies') AS recommended_action,
        coalesce(x.completion_percentage, 0)::float8 AS completion_percentage,
        coalesce(x.health_status, 'healthy') AS health_status`

      const PageRequest = Schema.Struct({
        namespace: Schema.NullOr(Schema.String),
        status: Schema.NullOr(Schema.String),
        initiator: Schema.NullOr(Schema.String),
        sourceSystem: Schema.NullOr(Schema.String),
        limit: Schema.Int,
        offset: Schema.Int
      })

      const filtered = (r: typeof PageRequest.Encoded) =>
        sql`
          FROM tasker.tasks t
          JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
          JOIN tasker.task_namespaces tns ON tns.task_namespace_uuid = nt.task_namespace_uuid
          WHERE ${sql.and([
          ...(r.namespace === null ? [] : [sql`tns.name = ${r.namespace}`]),
          ...(r.status === null ? [] : [sql`t.current_state = ${r.status}`]),
          ...(r.initiator === null ? [] : [sql`t.initiator = ${r.initiator}`]),
          ...(r.sourceSystem === null ? [] : [sql`t.source_system = ${r.sourceSystem}`])
        ])}`

      const taskPage = SqlSchema.findAll({
        Request: PageRequest,
        Result: TaskPageRow,
        execute: (r) =>
          sql`
            WITH page AS (
              SELECT t.task_uuid, t.created_at, count(*) OVER () AS total_count
              ${filtered(r)}
              ORDER BY t.created_at DESC, t.task_uuid DESC
              LIMIT ${r.limit} OFFSET ${r.offset}
            )
            SELECT ${taskColumns}, p.total_count::int AS total_count
            FROM page p
            JOIN tasker.tasks t ON t.task_uuid = p.task_uuid
            JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
            JOIN tasker.task_namespaces tns ON tns.task_namespace_uuid = nt.task_namespace_uuid
            LEFT JOIN tasker.get_task_execution_contexts_batch(ARRAY(SELECT task_uuid FROM page)) x
              ON x.task_uuid = t.task_uuid
            ORDER BY p.created_at DESC, p.task_uuid DESC`
      })

      // Only for a page past the end, which has no rows to carry the total.
      const countTasks = SqlSchema.findOne({
        Request: PageRequest,
        Result: Schema.Struct({ n: Schema.Int }),
        execute: (r) => sql`SELECT count(*)::int AS n ${filtered(r)}`
      })

      const taskByUuid = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: TaskRow,
        execute: (taskUuid) =>
          sql`
            SELECT ${taskColumns}
            FROM tasker.tasks t
            JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
            JOIN tasker.task_namespaces tns ON tns.task_namespace_uuid = nt.task_namespace_uuid
            LEFT JOIN tasker.get_task_execution_context(t.task_uuid) x ON true
            WHERE t.task_uuid = ${taskUuid}::uuid`
      })

      const readiness = SqlSchema.findAll({
        Request: Uuids,
        Result: ReadinessRow,
        execute: (taskUuids) =>
          sql`SELECT * FROM tasker.get_step_readiness_status_batch(${taskUuids}::uuid[])`
      })

      const summary = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: SummaryRow,
        execute: (taskUuid) => sql`SELECT * FROM tasker.get_task_summary(${taskUuid}::uuid)`
      })

      // Steps with readiness and results; `stepUuid` null = every step of the task.
      const steps = SqlSchema.findAll({
        Request: Schema.Struct({ taskUuid: Schema.String, stepUuid: Schema.NullOr(Schema.String) }),
        Result: StepRow,
        execute: (r) =>
          sql`
            SELECT ws.workflow_step_uuid AS step_uuid, ws.task_uuid, r.name, ws.created_at, ws.updated_at,
                   ws.processed_at AS completed_at, ws.results, r.current_state, r.dependencies_satisfied,
                   r.retry_eligible, r.ready_for_execution, r.total_parents, r.completed_parents, r.attempts,
                   r.max_attempts, ws.retryable, r.last_failure_at, r.next_retry_at, r.last_attempted_at
            FROM tasker.get_step_readiness_status(
                   ${r.taskUuid}::uuid, ${r.stepUuid === null ? null : [r.stepUuid]}::uuid[]) r
            JOIN tasker.workflow_steps ws ON ws.workflow_step_uuid = r.workflow_step_uuid
            ORDER BY ws.created_at, ws.workflow_step_uuid`
      })

      const audit = SqlSchema.findAll({
        Request: StepKey,
        Result: AuditRow,
        execute: (r) =>
          sql`
            SELECT a.workflow_step_result_audit_uuid AS audit_uuid, a.workflow_step_uuid,
                   a.workflow_step_transition_uuid AS transition_uuid, a.task_uuid, a.recorded_at, a.worker_uuid,
                   a.correlation_id, a.success, a.execution_time_ms::float8 AS execution_time_ms,
                   tr.from_state, tr.to_state, tr.metadata ->> 'event' AS event,
                   coalesce(tr.metadata, '{}'::jsonb) AS transition_metadata
            FROM tasker.workflow_step_result_audit a
            JOIN tasker.workflow_step_transitions tr
              ON tr.workflow_step_transition_uuid = a.workflow_step_transition_uuid
            WHERE a.workflow_step_uuid = ${r.stepUuid}::uuid AND a.task_uuid = ${r.taskUuid}::uuid
            ORDER BY a.recorded_at DESC, tr.sort_key DESC`
      })

      const taskExists = SqlSchema.findOne({
        Request: Schema.String,
        Result: Schema.Struct({ exists: Schema.Boolean }),
        execute: (taskUuid) =>
          sql`SELECT EXISTS (SELECT 1 FROM tasker.tasks WHERE task_uuid = ${taskUuid}::uuid) AS exists`
      })

      /** Which of task / step exists, for a 404 that names the right one. */
      const existence = SqlSchema.findOneOption({
        Request: StepKey,
        Result: Schema.Struct({ task_exists: Schema.Boolean, step_in_task: Schema.Boolean }),
        execute: (r) =>
          sql`
            SELECT EXISTS (SELECT 1 FROM tasker.tasks WHERE task_uuid = ${r.taskUuid}::uuid) AS task_exists,
                   EXISTS (SELECT 1 FROM tasker.workflow_steps
                           WHERE workflow_step_uuid = ${r.stepUuid}::uuid AND task_uuid = ${r.taskUuid}::uuid) AS step_in_task`
      })

      const taskNotFound = (taskUuid: TaskUuid) => new TaskNotFound({ task_uuid: taskUuid })

      const requireStep = Effect.fnUntraced(function*(taskUuid: TaskUuid, stepUuid: StepUuid) {
        const found = yield* existence({ taskUuid, stepUuid }).pipe(Effect.orDie, Effect.map(Option.getOrUndefined))
        if (found?.task_exists !== true) return yield* taskNotFound(taskUuid)
        if (!found.step_in_task) return yield* new StepNotFound({ step_uuid: stepUuid, task_uuid: taskUuid })
      })

      const withSteps = Effect.fnUntraced(function*(tasks: ReadonlyArray<typeof TaskRow.Type>) {
        if (tasks.length === 0) return []
        const rows = yield* readiness(tasks.map((t) => t.task_uuid))
        const byTask = new Map<string, Array<StepReadiness>>()
        for (const row of rows) {
          const list = byTask.get(row.task_uuid)
          if (list === undefined) byTask.set(row.task_uuid, [row])
          else list.push(row)
        }
        return tasks.map((task): TaskResponse => ({ ...task, steps: byTask.get(task.task_uuid) ?? [] }))
      })

      const listTasks = Effect.fn("TaskQueries.listTasks")(function*(filter: TaskListFilter) {
        const request = {
          namespace: filter.namespace ?? null,
          status: filter.status ?? null,
          initiator: filter.initiator ?? null,
          sourceSystem: filter.sourceSystem ?? null,
          limit: filter.perPage,
          offset: (filter.page - 1) * filter.perPage
        }
        const rows = yield* taskPage(request)
        const total = rows.length > 0 ? rows[0]!.total_count : filter.page > 1 ? (yield* countTasks(request)).n : 0
        const tasks = yield* withSteps(rows.map(({ total_count: _, ...task }) => task))
        const totalPages = Math.ceil(total / filter.perPage)
        return {
          tasks,
          pagination: {
            page: filter.page,
            per_page: filter.perPage,
            total_count: total,
            total_pages: totalPages,
            has_next: filter.page < totalPages,
            has_previous: filter.page > 1
          }
        } satisfies TaskListResponse
      }, Effect.orDie)

      const getTask = Effect.fn("TaskQueries.getTask")(function*(taskUuid: TaskUuid) {
        const task = yield* taskByUuid(taskUuid).pipe(Effect.orDie)
        if (Option.isNone(task)) return yield* taskNotFound(taskUuid)
        const [withReadiness] = yield* withSteps([task.value]).pipe(Effect.orDie)
        return withReadiness!
      })

      const getTaskSummary = Effect.fn("TaskQueries.getTaskSummary")(function*(taskUuid: TaskUuid) {
        const row = yield* summary(taskUuid).pipe(Effect.orDie)
        if (Option.isNone(row)) return yield* taskNotFound(taskUuid)
        return row.value
      })

      const listSteps = Effect.fn("TaskQueries.listSteps")(function*(taskUuid: TaskUuid) {
        const rows = yield* steps({ taskUuid, stepUuid: null }).pipe(Effect.orDie)
        // No rows: an unknown task, or (never from the API) a task without steps.
        if (rows.length === 0 && !(yield* taskExists(taskUuid).pipe(Effect.orDie)).exists) {
          return yield* taskNotFound(taskUuid)
        }
        return rows
      })

      const getStep = Effect.fn("TaskQueries.getStep")(function*(taskUuid: TaskUuid, stepUuid: StepUuid) {
        const [row] = yield* steps({ taskUuid, stepUuid }).pipe(Effect.orDie)
        if (row === undefined) {
          yield* requireStep(taskUuid, stepUuid)
          return yield* Effect.die(new Error(`step ${stepUuid} exists but has no readiness row`))
        }
        return row
      })

      const stepAudit = Effect.fn("TaskQueries.stepAudit")(function*(taskUuid: TaskUuid, stepUuid: StepUuid) {
        yield* requireStep(taskUuid, stepUuid)
        return yield* audit({ taskUuid, stepUuid }).pipe(Effect.orDie)
      })

      return TaskQueries.of({ listTasks, getTask, getTaskSummary, listSteps, getStep, stepAudit })
    })
  )
}
