/**
 * The implementations of `tasker serve | worker | migrate | demo` (src/cli/commands/System.ts
 * loads this module only when one of them runs, so the API commands start without importing
 * the engine). Each uses `DATABASE_URL`, or the embedded PostgreSQL in `TASKER_DATA_DIR`.
 *
 * @since 0.1.0
 */
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { Config, Console, Effect, Layer, Option, Predicate, Redacted } from "effect"
import { exampleHandlers } from "../../../examples/handlers/index.ts"
import * as ApiServer from "../../api/ApiServer.ts"
import { fromEnvironment, type SettingsOverrides, TaskerConfig, withOverrides } from "../../config/TaskerConfig.ts"
import { EmbeddedPostgres } from "../../db/EmbeddedPostgres.ts"
import { migrate } from "../../db/Migrations.ts"
import * as SqlLive from "../../db/SqlLive.ts"
import { exampleTemplatesDir, MainLive } from "../../demo/Demo.ts"
import * as OrchestrationCore from "../../orchestration/OrchestrationCore.ts"
import type { HandlerRegistry } from "../../worker/HandlerRegistry.ts"
import { Worker, type WorkerOptions } from "../../worker/Worker.ts"
import { CliFailure, print, printPlainJson } from "../Output.ts"

const hints: Record<string, string> = {
  SqlError: "check DATABASE_URL (unset it to use the embedded database in TASKER_DATA_DIR)",
  MigrationError: "the database could not be migrated; see the message above",
  ServeError: "is the port taken? pass --port (or set TASKER_API_PORT; 0 picks a free port)",
  ConfigError: "fix the setting (docs/configuration.md lists every TASKER_* variable)",
  EmbeddedPostgresError: "or point DATABASE_URL at a PostgreSQL server; to run an API and a worker on the embedded " +
    "database use `tasker serve --worker`",
  InvalidTemplate: "`tasker template validate <dir>` lists every problem",
  WorkerConfigurationError: "pass --templates <dir> with the templates the worker serves"
}

/** The error's message, else its cause's (a `ServeError` carries the listen error as its cause). */
const messageOf = (error: unknown): string => {
  if (Predicate.hasProperty(error, "message") && Predicate.isString(error.message) && error.message !== "") {
    return error.message
  }
  if (Predicate.hasProperty(error, "cause") && error.cause !== undefined) return messageOf(error.cause)
  return String(error)
}

/**
 * A startup or database failure as a `CliFailure` with a hint on what to fix.
 *
 * @category errors
 * @since 0.1.0
 */
export const startupFailure = (what: string) => (error: unknown): CliFailure => {
  const tag = Predicate.hasProperty(error, "_tag") && Predicate.isString(error._tag) ? error._tag : undefined
  const hint = tag === undefined ? undefined : hints[tag]
  return new CliFailure({ message: `${what} failed: ${messageOf(error)}${hint === undefined ? "" : `\n  → ${hint}`}` })
}

const launch = <A, E>(what: string, layer: Layer.Layer<A, E>) =>
  Layer.launch(layer).pipe(Effect.mapError(startupFailure(what)))

// -----------------------------------------------------------------------------
// Worker options
// -----------------------------------------------------------------------------

const registryKey = "~tasker/worker/HandlerRegistry"

/**
 * Imports a module that exports a `HandlerRegistry` as its default export or as `handlers`.
 * Handlers loaded this way must need no services from the host (their `R` is `never`).
 *
 * @category loading
 * @since 0.1.0
 */
export const loadHandlers = Effect.fn("loadHandlers")(function*(modulePath: string) {
  const url = pathToFileURL(path.resolve(modulePath)).href
  const module = yield* Effect.tryPromise({
    try: () => import(url) as Promise<Record<string, unknown>>,
    catch: (error) => new CliFailure({ message: `cannot import --handlers ${modulePath}: ${messageOf(error)}` })
  })
  const registry = [module.default, module.handlers].find((x) => Predicate.hasProperty(x, registryKey))
  if (registry === undefined) {
    return yield* new CliFailure({
      message: `--handlers ${modulePath} exports no HandlerRegistry: export one as the default export or as ` +
        "`handlers` (`export const handlers = HandlerRegistry.make({ \"ns.Callable\": handler })`)"
    })
  }
  return registry as HandlerRegistry
})

/** The worker flags as parsed. @category models @since 0.1.0 */
export interface WorkerInput {
  readonly templates: ReadonlyArray<string>
  readonly handlers: Option.Option<string>
  readonly concurrency: Option.Option<number>
}

const workerOptions = Effect.fn("workerOptions")(function*(input: WorkerInput) {
  const handlers = Option.isSome(input.handlers) ? yield* loadHandlers(input.handlers.value) : exampleHandlers
  return {
    handlers,
    templatesDir: input.templates.length === 0 ? [exampleTemplatesDir] : input.templates.map((dir) => path.resolve(dir)),
    concurrency: Option.getOrUndefined(input.concurrency)
  } satisfies WorkerOptions
})

// -----------------------------------------------------------------------------
// Commands
// -----------------------------------------------------------------------------

/** The environment's settings with the command line's overrides on top. */
const settingsLayer = (overrides: SettingsOverrides) =>
  Layer.effect(TaskerConfig, Effect.map(fromEnvironment, (settings) => TaskerConfig.of(withOverrides(settings, overrides))))

const announce = Layer.effectDiscard(Effect.gen(function*() {
  const url = yield* ApiServer.url
  yield* Console.log(`Tasker API on ${url} (docs ${url}${ApiServer.docsPath}) · Ctrl-C stops`)
}))

/** @category models @since 0.1.0 */
export interface ServeInput extends WorkerInput {
  readonly port: Option.Option<number>
  readonly host: Option.Option<string>
  readonly worker: boolean
}

/** `tasker serve`: orchestration + REST API (+ a worker with `--worker`) until interrupted. @category commands @since 0.1.0 */
export const serve = Effect.fn("serve")(function*(input: ServeInput) {
  const api = {
    ...Option.match(input.port, { onNone: () => ({}), onSome: (port) => ({ port }) }),
    ...Option.match(input.host, { onNone: () => ({}), onSome: (host) => ({ host }) })
  }
  const server = announce.pipe(Layer.provideMerge(ApiServer.layer))
  const parts = input.worker ? Layer.merge(server, Worker.layer(yield* workerOptions(input))) : server
  return yield* launch(
    "tasker serve",
    parts.pipe(
      Layer.provideMerge(OrchestrationCore.layer),
      Layer.provideMerge(OrchestrationCore.databaseLayer),
      Layer.provideMerge(settingsLayer({ api }))
    )
  )
})

/** `tasker worker` until interrupted. @category commands @since 0.1.0 */
export const worker = Effect.fn("worker")(function*(input: WorkerInput) {
  return yield* launch("tasker worker", Worker.layerStandalone(yield* workerOptions(input)))
})

/** `postgres://user@host:port/db` without the password. */
const redactUrl = (url: Redacted.Redacted<string>) => {
  const parsed = new URL(Redacted.value(url))
  parsed.password = ""
  return parsed.toString()
}

/** `tasker migrate`: applies the pending migrations and lists them. @category commands @since 0.1.0 */
export const runMigrations = Effect.fn("runMigrations")(function*(json: boolean) {
  const url = yield* Config.option(Config.Redacted("DATABASE_URL"))
  const dataDir = yield* SqlLive.DataDir
  const target = Option.match(url, {
    onNone: () => `the embedded database in ${path.join(dataDir, "postgres")}`,
    onSome: redactUrl
  })
  const options = { maxConnections: 2, applicationName: "tasker-migrate" }
  const client = Option.match(url, {
    onSome: (u) => SqlLive.clientLayer(u, options),
    onNone: () =>
      Layer.unwrap(EmbeddedPostgres.use((pg) => Effect.succeed(SqlLive.clientLayer(pg.url, options)))).pipe(
        Layer.provide(SqlLive.embeddedLayer(dataDir))
      )
  })
  const applied = yield* migrate().pipe(Effect.provide(client), Effect.mapError(startupFailure("tasker migrate")))
  if (json) return yield* printPlainJson({ target, applied: applied.map(([id, name]) => ({ id, name })) })
  if (applied.length === 0) return yield* print(`${target} is up to date: no migration to apply`)
  yield* print([
    `applied ${applied.length} migration(s) to ${target}:`,
    ...applied.map(([id, name]) => `  ${String(id).padStart(4, "0")}_${name}`)
  ].join("\n"))
}, Effect.catchTag("ConfigError", (e) => Effect.fail(startupFailure("tasker migrate")(e))))

/** `tasker demo`: what `npm start` runs. @category commands @since 0.1.0 */
export const demo = launch("tasker demo", MainLive)
