/**
 * Applies `migrations/NNNN_name.sql` with the Effect Migrator.
 *
 * The driver runs one statement per call (extended protocol), so each file is split into
 * statements by the real PostgreSQL parser (libpg-query). Parsing every file before anything
 * runs also means a syntax error is reported at load time, with file and position, and no
 * migration of the batch is applied. All pending files run in one transaction (the Migrator's).
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { Migrator, SqlClient } from "effect/sql"
import { parse } from "libpg-query"

/** The migrations table; the Migrator records applied ids here. */
export const migrationsTable = "tasker_migrations"

/** The repository's `migrations/` directory, found relative to this module. */
export const defaultMigrationsDir = fileURLToPath(new URL("../../migrations/", import.meta.url))

const fileName = /^(\d{4})_([a-z0-9_]+)\.sql$/

/** Splits SQL text into statements. libpg-query reports byte offsets, hence the Buffer slicing. */
export const splitStatements = (file: string, text: string) =>
  Effect.tryPromise({
    try: async () => {
      const bytes = Buffer.from(text, "utf8")
      const { stmts } = await parse(text)
      return (stmts ?? []).map((s) => {
        const start = s.stmt_location ?? 0
        const end = s.stmt_len ? start + s.stmt_len : bytes.length
        return bytes.subarray(start, end).toString("utf8").trim()
      }).filter((s) => s.length > 0)
    },
    catch: (cause) =>
      new Migrator.MigrationError({
        kind: "BadState",
        message: `${file}: ${describeParseError(text, cause)}`,
        cause
      })
  })

const describeParseError = (text: string, cause: unknown) => {
  const error = cause as { message?: string; sqlDetails?: { cursorPosition?: number } }
  const position = error.sqlDetails?.cursorPosition
  if (position === undefined) return String(error.message ?? cause)
  const line = Buffer.from(text, "utf8").subarray(0, position).toString("utf8").split("\n").length
  return `line ${line}: ${error.message}`
}

/** A Migrator loader over a directory of `.sql` files; every file is parsed up front. */
export const fromSqlDirectory = (dir: string = defaultMigrationsDir): Migrator.Loader =>
  Effect.gen(function*() {
    const names = yield* Effect.tryPromise({
      try: () => fs.readdir(dir),
      catch: (cause) => new Migrator.MigrationError({ kind: "ImportError", message: `cannot read ${dir}`, cause })
    })
    const files = names.filter((n) => n.endsWith(".sql")).sort()
    const migrations: Array<Migrator.ResolvedMigration> = []
    for (const name of files) {
      const match = fileName.exec(name)
      if (!match) {
        return yield* new Migrator.MigrationError({
          kind: "BadState",
          message: `${name}: migration files are named NNNN_lowercase_name.sql`
        })
      }
      const text = yield* Effect.tryPromise({
        try: () => fs.readFile(path.join(dir, name), "utf8"),
        catch: (cause) => new Migrator.MigrationError({ kind: "ImportError", message: `cannot read ${name}`, cause })
      })
      const statements = yield* splitStatements(name, text)
      migrations.push([Number(match[1]), match[2]!, Effect.succeed(runStatements(statements))])
    }
    return migrations
  })

const runStatements = (statements: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const statement of statements) {
      yield* sql.unsafe(statement).unprepared
    }
  })

/** Runs every pending migration; returns the ids and names applied by this call. */
export const migrate = (dir?: string) =>
  Migrator.make({})({ loader: fromSqlDirectory(dir), table: migrationsTable })
