/**
 * Registration of templates into the registry tables (REFERENCE §2.1, migrations/0002_registry.sql):
 * `task_namespaces`, `named_tasks` (one row per version, `configuration` = the whole encoded template),
 * `named_steps` (step names are global) and `named_tasks_named_steps`.
 *
 * `register` is idempotent: a second call with the same template changes nothing; a changed template
 * under the same namespace/name/version replaces its configuration; a new version gets its own row.
 * Everything runs in one transaction with set-based statements. SQL failures are defects.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { NamedTaskUuid, TaskNamespaceUuid } from "../domain/Ids.ts"
import { encodeTaskTemplate, TaskTemplate } from "./TaskTemplate.ts"

export interface RegisterResult {
  readonly namedTaskUuid: NamedTaskUuid
  readonly namespaceUuid: TaskNamespaceUuid
  /** A new named_tasks row was inserted (first registration of this namespace/name/version). */
  readonly created: boolean
  /** An existing row's description, configuration or identity strategy was replaced. */
  readonly updated: boolean
}

export interface RegisteredTemplate {
  readonly namedTaskUuid: NamedTaskUuid
  readonly namespaceUuid: TaskNamespaceUuid
  readonly template: TaskTemplate
}

// Result columns are aliased in quoted camelCase, so rows decode the same with or without the client's
// snake_case → camelCase result transform.
const NamespaceRow = Schema.Struct({ namespaceUuid: TaskNamespaceUuid })
const NamedTaskRow = Schema.Struct({ namedTaskUuid: NamedTaskUuid, created: Schema.Boolean, changed: Schema.Boolean })
const TemplateRow = Schema.Struct({
  namedTaskUuid: NamedTaskUuid,
  namespaceUuid: TaskNamespaceUuid,
  configuration: TaskTemplate
})

const toRegistered = (row: typeof TemplateRow.Type): RegisteredTemplate => ({
  namedTaskUuid: row.namedTaskUuid,
  namespaceUuid: row.namespaceUuid,
  template: row.configuration
})

export class TemplateRegistry extends Context.Service<TemplateRegistry, {
  /** Upserts the namespace, the template version, its named steps and their associations. */
  register(template: TaskTemplate): Effect.Effect<RegisterResult>
  findTemplate(namespace: string, name: string, version: string): Effect.Effect<Option.Option<RegisteredTemplate>>
  /** Every registered template version (of one namespace when given), by namespace, name and age. */
  listTemplates(namespace?: string): Effect.Effect<ReadonlyArray<RegisteredTemplate>>
}>()("tasker/templates/TemplateRegistry") {
  static readonly layer = Layer.effect(
    TemplateRegistry,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      // Insert-or-select in one statement. Under a concurrent first insert of the same key the SELECT
      // branch cannot see the other transaction's row (statement snapshot), so callers run it again once.
      const upsertNamespace = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: NamespaceRow,
        execute: (name) =>
          sql`
            WITH inserted AS (
              INSERT INTO tasker.task_namespaces (name) VALUES (${name})
              ON CONFLICT (name) DO NOTHING
              RETURNING task_namespace_uuid
            )
            SELECT task_namespace_uuid AS "namespaceUuid" FROM inserted
            UNION ALL
            SELECT task_namespace_uuid FROM tasker.task_namespaces
            WHERE name = ${name} AND NOT EXISTS (SELECT 1 FROM inserted)`
      })

      const upsertNamedTask = SqlSchema.findOneOption({
        Request: Schema.Struct({
          namespaceUuid: Schema.String,
          name: Schema.String,
          version: Schema.String,
          description: Schema.NullOr(Schema.String),
          configuration: Schema.String,
          identityStrategy: Schema.String
        }),
        Result: NamedTaskRow,
        execute: (r) =>
          sql`
            WITH upserted AS (
              INSERT INTO tasker.named_tasks AS nt
                (task_namespace_uuid, name, version, description, configuration, identity_strategy)
              VALUES (${r.namespaceUuid}::uuid, ${r.name}, ${r.version}, left(${r.description}, 255),
                      ${r.configuration}::jsonb, ${r.identityStrategy}::tasker.identity_strategy)
              ON CONFLICT (task_namespace_uuid, name, version) DO UPDATE
                SET description = EXCLUDED.description,
                    configuration = EXCLUDED.configuration,
                    identity_strategy = EXCLUDED.identity_strategy
                WHERE (nt.description, nt.configuration, nt.identity_strategy)
                      IS DISTINCT FROM (EXCLUDED.description, EXCLUDED.configuration, EXCLUDED.identity_strategy)
              RETURNING named_task_uuid, (xmax = 0) AS created
            )
            SELECT named_task_uuid AS "namedTaskUuid", created, true AS changed FROM upserted
            UNION ALL
            SELECT named_task_uuid, false, false FROM tasker.named_tasks
            WHERE task_namespace_uuid = ${r.namespaceUuid}::uuid AND name = ${r.name} AND version = ${r.version}
              AND NOT EXISTS (SELECT 1 FROM upserted)`
      })

      // Step rows as one jsonb array, expanded with jsonb_to_recordset: one statement for all steps.
      // Rows are inserted in name order so concurrent registrations lock them in the same order.
      const upsertSteps = (namedTaskUuid: string, stepsJson: string) =>
        Effect.all([
          sql`
            INSERT INTO tasker.named_steps (name, description)
            SELECT s.name, left(s.description, 255)
            FROM jsonb_to_recordset(${stepsJson}::jsonb) AS s(name text, description text)
            ORDER BY s.name
            ON CONFLICT (name) DO NOTHING`,
          sql`
            INSERT INTO tasker.named_tasks_named_steps AS a
              (named_task_uuid, named_step_uuid, default_retryable, default_max_attempts)
            SELECT ${namedTaskUuid}::uuid, ns.named_step_uuid, s.retryable, s.max_attempts
            FROM jsonb_to_recordset(${stepsJson}::jsonb) AS s(name text, retryable boolean, max_attempts integer)
            JOIN tasker.named_steps ns ON ns.name = s.name
            ORDER BY ns.name
            ON CONFLICT (named_task_uuid, named_step_uuid) DO UPDATE
              SET default_retryable = EXCLUDED.default_retryable,
                  default_max_attempts = EXCLUDED.default_max_attempts
              WHERE (a.default_retryable, a.default_max_attempts)
                    IS DISTINCT FROM (EXCLUDED.default_retryable, EXCLUDED.default_max_attempts)`,
          // A same-version re-registration may have dropped steps.
          sql`
            DELETE FROM tasker.named_tasks_named_steps a
            USING tasker.named_steps ns
            WHERE a.named_task_uuid = ${namedTaskUuid}::uuid
              AND ns.named_step_uuid = a.named_step_uuid
              AND ns.name NOT IN (SELECT s.name FROM jsonb_to_recordset(${stepsJson}::jsonb) AS s(name text))`
        ], { discard: true })

      const selectTemplates = (where: { namespace?: string; name?: string; version?: string }) =>
        sql`
          SELECT nt.named_task_uuid AS "namedTaskUuid", nt.task_namespace_uuid AS "namespaceUuid", nt.configuration
          FROM tasker.named_tasks nt
          JOIN tasker.task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid
          WHERE (${where.namespace ?? null}::text IS NULL OR ns.name = ${where.namespace ?? null})
            AND (${where.name ?? null}::text IS NULL OR nt.name = ${where.name ?? null})
            AND (${where.version ?? null}::text IS NULL OR nt.version = ${where.version ?? null})
          ORDER BY ns.name, nt.name, nt.created_at, nt.version`

      const findOne = SqlSchema.findOneOption({
        Request: Schema.Struct({ namespace: Schema.String, name: Schema.String, version: Schema.String }),
        Result: TemplateRow,
        execute: selectTemplates
      })
      const findAll = SqlSchema.findAll({
        Request: Schema.Struct({ namespace: Schema.optionalKey(Schema.String) }),
        Result: TemplateRow,
        execute: selectTemplates
      })

      const orRetryOnce = <A, E>(effect: Effect.Effect<Option.Option<A>, E>, what: string): Effect.Effect<A, E> =>
        Effect.flatMap(effect, (first) =>
          Option.isSome(first)
            ? Effect.succeed(first.value)
            : Effect.flatMap(effect, (second) =>
              Option.isSome(second) ? Effect.succeed(second.value) : Effect.die(`no ${what} row returned`)
            ))

      const register = Effect.fn("TemplateRegistry.register")(
        function*(template: TaskTemplate) {
          const configuration = JSON.stringify(yield* encodeTaskTemplate(template))
          const { namespaceUuid } = yield* orRetryOnce(upsertNamespace(template.namespace_name), "namespace")
          const row = yield* orRetryOnce(
            upsertNamedTask({
              namespaceUuid,
              name: template.name,
              version: template.version,
              description: template.description ?? null,
              configuration,
              identityStrategy: template.identity_strategy
            }),
            "named task"
          )
          if (row.changed) {
            const steps = [...new Map(template.steps.map((s) => [s.name, s])).values()].map((s) => ({
              name: s.name,
              description: s.description ?? null,
              retryable: s.retry.retryable,
              max_attempts: s.retry.max_attempts
            }))
            yield* upsertSteps(row.namedTaskUuid, JSON.stringify(steps))
          }
          return {
            namedTaskUuid: row.namedTaskUuid,
            namespaceUuid,
            created: row.created,
            updated: row.changed && !row.created
          } satisfies RegisterResult
        },
        sql.withTransaction,
        Effect.orDie
      )

      const findTemplate = Effect.fn("TemplateRegistry.findTemplate")(
        function*(namespace: string, name: string, version: string) {
          const row = yield* findOne({ namespace, name, version })
          return Option.map(row, toRegistered)
        },
        Effect.orDie
      )

      const listTemplates = Effect.fn("TemplateRegistry.listTemplates")(
        function*(namespace?: string) {
          const rows = yield* findAll(namespace === undefined ? {} : { namespace })
          return rows.map(toRegistered)
        },
        Effect.orDie
      )

      return TemplateRegistry.of({ register, findTemplate, listTemplates })
    })
  )
}
