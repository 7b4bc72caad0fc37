/**
 * Database-level administration on a server: create, clone and drop databases. Used by the
 * test harness (a migrated template database cloned per test file) and by tooling.
 */
import { Effect, Redacted, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import { clientLayer } from "./SqlLive.ts"

/** The URL of another database on the same server. */
export const urlForDatabase = (url: Redacted.Redacted<string>, database: string) => {
  const parsed = new URL(Redacted.value(url))
  parsed.pathname = `/${database}`
  return Redacted.make(parsed.toString())
}

/** Runs `f` with a single-connection client on `url`, closed afterwards. */
export const withClient = <A, E>(
  url: Redacted.Redacted<string>,
  f: (sql: SqlClient.SqlClient) => Effect.Effect<A, E, SqlClient.SqlClient>
) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* f(sql)
  }).pipe(Effect.provide(clientLayer(url, { maxConnections: 1, applicationName: "tasker-admin" })))

/** CREATE DATABASE, optionally cloned from a template database. */
export const createDatabase = (adminUrl: Redacted.Redacted<string>, name: string, template?: string) =>
  withClient(adminUrl, (sql) =>
    template === undefined
      ? sql`CREATE DATABASE ${sql(name)}`
      : sql`CREATE DATABASE ${sql(name)} TEMPLATE ${sql(template)}`
  ).pipe(
    // Cloning fails while another session briefly touches the template; try again.
    Effect.retry({ times: 20, schedule: Schedule.spaced("100 millis"), while: (e) => String(e).includes("being accessed by other users") }),
    Effect.asVoid
  )

/** DROP DATABASE, disconnecting any leftover sessions. */
export const dropDatabase = (adminUrl: Redacted.Redacted<string>, name: string) =>
  withClient(adminUrl, (sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`).pipe(Effect.asVoid)
