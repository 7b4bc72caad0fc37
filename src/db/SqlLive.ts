/**
 * The SQL layers: a PostgreSQL client for a URL (the `DATABASE_URL` server or the embedded one)
 * with every pending migration applied before anything else sees the database.
 */
import { PgClient } from "@effect/sql-pg"
import { Config, Effect, Layer, Option, type Redacted, String } from "effect"
import { EmbeddedPostgres } from "./EmbeddedPostgres.ts"
import { migrate } from "./Migrations.ts"

export interface ClientOptions {
  readonly maxConnections?: number
  readonly applicationName?: string
}

/**
 * Columns are snake_case in SQL and camelCase in TypeScript. JSON values (task context, step
 * results) are user data and are never renamed, hence `transformJson: false`.
 */
export const clientLayer = (url: Redacted.Redacted<string>, options: ClientOptions = {}) =>
  PgClient.layer({
    url,
    transformResultNames: String.snakeToCamel,
    transformQueryNames: String.camelToSnake,
    transformJson: false,
    maxConnections: options.maxConnections ?? 10,
    applicationName: options.applicationName ?? "tasker"
  })

/** Applies pending migrations once, when the layer is built. */
export const MigratorLive = Layer.effectDiscard(
  migrate().pipe(
    Effect.tap((applied) =>
      applied.length > 0 ? Effect.logInfo(`applied ${applied.length} migration(s)`) : Effect.void
    )
  )
)

/** A migrated client for a URL. */
export const layerUrl = (url: Redacted.Redacted<string>, options?: ClientOptions) =>
  MigratorLive.pipe(Layer.provideMerge(clientLayer(url, options)))

/** Where the embedded server keeps its data when `DATABASE_URL` is unset. */
export const DataDir = Config.String("TASKER_DATA_DIR").pipe(Config.withDefault(".tasker"))

/** The embedded server's cluster directory inside the data directory. */
export const embeddedLayer = (dataDir: string) => EmbeddedPostgres.layer({ dataDir: `${dataDir}/postgres` })

/**
 * The database of the main job: `DATABASE_URL` when set, otherwise an embedded PostgreSQL
 * in `TASKER_DATA_DIR` (default `.tasker/`), started before and stopped after the client.
 */
export const layer = (options?: ClientOptions) =>
  Layer.unwrap(Effect.gen(function*() {
    const url = yield* Config.option(Config.Redacted("DATABASE_URL"))
    if (Option.isSome(url)) return layerUrl(url.value, options)
    const dataDir = yield* DataDir
    const migratedClient = Layer.unwrap(Effect.gen(function*() {
      const pg = yield* EmbeddedPostgres
      return layerUrl(pg.url, options)
    }))
    return migratedClient.pipe(
      Layer.provideMerge(embeddedLayer(dataDir))
    )
  }))
