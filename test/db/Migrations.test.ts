import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Exit } from "effect"
import { SqlClient } from "effect/sql"
import { createDatabase, dropDatabase, urlForDatabase, withClient } from "../../src/db/AdminDatabase.ts"
import { defaultMigrationsDir, migrate, splitStatements } from "../../src/db/Migrations.ts"
import { adminUrl } from "../support/PgTest.ts"

/** An empty database (not cloned from the migrated template) for the scope of a test. */
const emptyDatabase = Effect.gen(function*() {
  const admin = adminUrl()
  const name = `t_empty_${Math.random().toString(36).slice(2, 10)}`
  yield* Effect.acquireRelease(createDatabase(admin, name), () => dropDatabase(admin, name).pipe(Effect.ignore))
  return urlForDatabase(admin, name)
})

/** Every object migrations create, as one comparable text. */
const schemaFingerprint = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ kind: string; name: string }>`
    SELECT 'relation' AS kind, n.nspname || '.' || c.relname || ':' || c.relkind::text AS name
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname IN ('tasker', 'pgmq', 'public')
    UNION ALL
    SELECT 'function', n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname IN ('tasker', 'pgmq')
    ORDER BY 1, 2`
  return rows.map((r) => `${r.kind} ${r.name}`).join("\n")
})

describe("migrations", () => {
  it.live("apply to an empty database, and a second run changes nothing", () =>
    Effect.gen(function*() {
      const url = yield* emptyDatabase
      const files = fs.readdirSync(defaultMigrationsDir).filter((f) => f.endsWith(".sql"))
      const first = yield* withClient(url, () => migrate())
      assert.strictEqual(first.length, files.length)
      const before = yield* withClient(url, () => schemaFingerprint)
      assert.isTrue(before.includes("tasker.tasks"), "the tasker schema exists")
      const second = yield* withClient(url, () => migrate())
      assert.strictEqual(second.length, 0)
      const after = yield* withClient(url, () => schemaFingerprint)
      assert.strictEqual(after, before)
    }))

  it.effect("split statements with the PostgreSQL parser, dollar quoting included", () =>
    Effect.gen(function*() {
      const statements = yield* splitStatements("x.sql", `
        -- a comment; with a semicolon
        CREATE TABLE a (id int);
        CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $fn$ BEGIN RETURN 1; END $fn$;
        DO $$ BEGIN RAISE NOTICE 'semi;colon'; END $$;
        SELECT 'é;'`)
      assert.strictEqual(statements.length, 4)
      assert.isTrue(statements[1]!.endsWith("END $fn$"))
      assert.strictEqual(statements[3], "SELECT 'é;'")
    }))

  it.live("a syntax error names the file and line, and nothing of the batch is applied", () =>
    Effect.gen(function*() {
      const url = yield* emptyDatabase
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tasker-mig-"))
      fs.writeFileSync(path.join(dir, "0001_ok.sql"), "CREATE TABLE ok_table (id int);")
      fs.writeFileSync(path.join(dir, "0002_broken.sql"), "CREATE TABLE b (id int);\nCREATE TABL c (id int);")
      const exit = yield* withClient(url, () => migrate(dir)).pipe(Effect.exit)
      fs.rmSync(dir, { recursive: true, force: true })
      assert.isTrue(Exit.isFailure(exit))
      assert.match(String(Exit.isFailure(exit) ? exit.cause : ""), /0002_broken\.sql: line 2: syntax error at or near "TABL"/)
      const tables = yield* withClient(url, (sql) =>
        sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'ok_table'`)
      assert.strictEqual(tables[0]!.n, 0)
    }))
})
