/**
 * Per-test-file database: `PgTest.layer` clones the run's migrated template database into a
 * fresh database, provides `SqlClient` and `PgClient` for it, and drops it when the layer closes.
 * The client maps snake_case columns to camelCase (`transformResultNames`) and leaves JSON
 * values untouched. Use it with `layer(PgTest.layer, { timeout: "60 seconds", excludeTestServices: true })`.
 */
import { Effect, Layer, Redacted } from "effect"
import { inject } from "vitest"
import { createDatabase, dropDatabase, urlForDatabase } from "../../src/db/AdminDatabase.ts"
import { clientLayer } from "../../src/db/SqlLive.ts"

export const adminUrl = () => Redacted.make(inject("taskerAdminUrl"))

/** Creates a fresh migrated database for the current scope; returns its URL. */
export const freshDatabase = Effect.gen(function*() {
  const admin = adminUrl()
  const name = `t_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  yield* Effect.acquireRelease(
    createDatabase(admin, name, inject("taskerTemplateDb")),
    () => dropDatabase(admin, name).pipe(Effect.ignore)
  )
  return { name, url: urlForDatabase(admin, name) }
})

export const PgTest = {
  layer: Layer.unwrap(Effect.map(freshDatabase, ({ url }) => clientLayer(url, { applicationName: "tasker-test" }))),
  /** Like `layer`, with the database URL exposed for tests that start their own services. */
  freshDatabase
}
