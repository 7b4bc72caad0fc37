/**
 * Read (and resolution-update) repository of the DLQ routes over `tasker.tasks_dlq` and the views
 * `v_dlq_dashboard`, `v_dlq_investigation_queue` and `v_task_staleness_monitoring` (REFERENCE 2.2,
 * 2.3). Each method is one statement; rows are decoded with the API's field lists on the row
 * timestamp codec. The queries run without the client's name transforms. SQL failures are defects.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { DlqEntryNotFound } from "../../domain/Errors.ts"
import type { DlqEntryUuid, TaskUuid } from "../../domain/Ids.ts"
import { DbTimestamp, TaskNotInDlq } from "../ApiSchemas.ts"
import {
  type DlqEntry,
  dlqEntryFields,
  type DlqInvestigationItem,
  type DlqResolutionStatus,
  type DlqStats,
  dlqStatsFields,
  type DlqUpdateRequest,
  investigationFields,
  type StalenessItem,
  StalenessItem as StalenessRow
} from "../schemas/DlqSchemas.ts"

const EntryRow = Schema.Struct(dlqEntryFields(DbTimestamp))
const StatsRow = Schema.Struct(dlqStatsFields(DbTimestamp))
const InvestigationRow = Schema.Struct(investigationFields(DbTimestamp))
const Limit = Schema.Int

export interface DlqListFilter {
  readonly resolutionStatus?: DlqResolutionStatus | undefined
  readonly limit: number
  readonly offset: number
}

export class DlqQueries extends Context.Service<DlqQueries, {
  /** Entries, newest first. */
  list(filter: DlqListFilter): Effect.Effect<ReadonlyArray<DlqEntry>>
  /** The task's latest entry (open or resolved). */
  byTask(taskUuid: TaskUuid): Effect.Effect<DlqEntry, TaskNotInDlq>
  /** Sets the given resolution fields; leaving `pending` stamps `resolution_timestamp`. */
  update(dlqEntryUuid: DlqEntryUuid, update: DlqUpdateRequest): Effect.Effect<DlqEntry, DlqEntryNotFound>
  readonly stats: Effect.Effect<ReadonlyArray<DlqStats>>
  investigationQueue(limit: number): Effect.Effect<ReadonlyArray<DlqInvestigationItem>>
  staleness(limit: number): Effect.Effect<ReadonlyArray<StalenessItem>>
}>()("tasker/api/queries/DlqQueries") {
  static readonly layer = Layer.effect(
    DlqQueries,
    Effect.gen(function*() {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()

      const entryColumns = sql`
        d.dlq_entry_uuid, d.task_uuid, d.original_state, d.dlq_reason::text AS dlq_reason, d.dlq_timestamp,
        d.resolution_status::text AS resolution_status, d.resolution_timestamp, d.resolution_notes,
        d.resolved_by, d.task_snapshot, d.metadata, d.created_at, d.updated_at`

      const listEntries = SqlSchema.findAll({
        Request: Schema.Struct({ status: Schema.NullOr(Schema.String), limit: Limit, offset: Limit }),
        Result: EntryRow,
        execute: (r) =>
          sql`
            SELECT ${entryColumns} FROM tasker.tasks_dlq d
            WHERE ${r.status === null ? sql`true` : sql`d.resolution_status = ${r.status}::tasker.dlq_resolution_status`}
            ORDER BY d.dlq_timestamp DESC, d.dlq_entry_uuid DESC
            LIMIT ${r.limit} OFFSET ${r.offset}`
      })

      const latestOfTask = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: EntryRow,
        execute: (taskUuid) =>
          sql`
            SELECT ${entryColumns} FROM tasker.tasks_dlq d
            WHERE d.task_uuid = ${taskUuid}::uuid
            ORDER BY d.dlq_timestamp DESC, d.dlq_entry_uuid DESC
            LIMIT 1`
      })

      const updateEntry = SqlSchema.findOneOption({
        Request: Schema.Struct({
          dlqEntryUuid: Schema.String,
          status: Schema.NullOr(Schema.String),
          notes: Schema.NullOr(Schema.String),
          resolvedBy: Schema.NullOr(Schema.String),
          metadata: Schema.NullOr(Schema.String)
        }),
        Result: EntryRow,
        execute: (r) =>
          sql`
            UPDATE tasker.tasks_dlq d SET
              resolution_status = coalesce(${r.status}::tasker.dlq_resolution_status, d.resolution_status),
              resolution_timestamp = CASE
                WHEN ${r.status}::text IS NOT NULL AND d.resolution_status = 'pending' THEN now()
                ELSE d.resolution_timestamp END,
              resolution_notes = coalesce(${r.notes}, d.resolution_notes),
              resolved_by = coalesce(${r.resolvedBy}, d.resolved_by),
              metadata = CASE WHEN ${r.metadata}::jsonb IS NULL THEN d.metadata
                              ELSE coalesce(d.metadata, '{}'::jsonb) || ${r.metadata}::jsonb END
            WHERE d.dlq_entry_uuid = ${r.dlqEntryUuid}::uuid
            RETURNING ${entryColumns}`
      })

      const statsQuery = SqlSchema.findAll({
        Request: Schema.Void,
        Result: StatsRow,
        execute: () =>
          sql`
            SELECT dlq_reason::text AS dlq_reason, total_entries::int AS total_entries, pending::int AS pending,
                   manually_resolved::int AS manually_resolved, permanent_failures::int AS permanent_failures,
                   cancelled::int AS cancelled, oldest_entry, newest_entry,
                   avg_resolution_time_minutes::float8 AS avg_resolution_time_minutes
            FROM tasker.v_dlq_dashboard
            ORDER BY dlq_reason`
      })

      const investigation = SqlSchema.findAll({
        Request: Limit,
        Result: InvestigationRow,
        execute: (limit) =>
          sql`
            SELECT dlq_entry_uuid, task_uuid, original_state, dlq_reason::text AS dlq_reason, dlq_timestamp,
                   minutes_in_dlq::float8 AS minutes_in_dlq, namespace_name, task_name, current_state,
                   time_in_state_minutes, priority_score::float8 AS priority_score
            FROM tasker.v_dlq_investigation_queue
            ORDER BY priority_score DESC, dlq_timestamp
            LIMIT ${limit}`
      })

      const stalenessQuery = SqlSchema.findAll({
        Request: Limit,
        Result: StalenessRow,
        execute: (limit) =>
          sql`
            SELECT task_uuid, namespace_name, task_name, current_state,
                   time_in_state_minutes::float8 AS time_in_state_minutes, task_age_minutes::float8 AS task_age_minutes,
                   staleness_threshold_minutes, max_lifetime_minutes, health_status, staleness_action, priority
            FROM tasker.v_task_staleness_monitoring
            ORDER BY CASE health_status WHEN 'stale' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
                     time_in_state_minutes DESC
            LIMIT ${limit}`
      })

      const list = Effect.fn("DlqQueries.list")(function*(filter: DlqListFilter) {
        return yield* listEntries({ status: filter.resolutionStatus ?? null, limit: filter.limit, offset: filter.offset })
      }, Effect.orDie)

      const byTask = Effect.fn("DlqQueries.byTask")(function*(taskUuid: TaskUuid) {
        const entry = yield* latestOfTask(taskUuid).pipe(Effect.orDie)
        if (Option.isNone(entry)) return yield* new TaskNotInDlq({ task_uuid: taskUuid })
        return entry.value
      })

      const update = Effect.fn("DlqQueries.update")(function*(dlqEntryUuid: DlqEntryUuid, change: DlqUpdateRequest) {
        const entry = yield* updateEntry({
          dlqEntryUuid,
          status: change.resolution_status ?? null,
          notes: change.resolution_notes ?? null,
          resolvedBy: change.resolved_by ?? null,
          metadata: change.metadata === undefined ? null : JSON.stringify(change.metadata)
        }).pipe(Effect.orDie)
        if (Option.isNone(entry)) return yield* new DlqEntryNotFound({ dlq_entry_uuid: dlqEntryUuid })
        return entry.value
      })

      return DlqQueries.of({
        list,
        byTask,
        update,
        stats: statsQuery(undefined).pipe(Effect.orDie, Effect.withSpan("DlqQueries.stats")),
        investigationQueue: Effect.fn("DlqQueries.investigationQueue")((limit: number) => investigation(limit), Effect.orDie),
        staleness: Effect.fn("DlqQueries.staleness")((limit: number) => stalenessQuery(limit), Effect.orDie)
      })
    })
  )
}
