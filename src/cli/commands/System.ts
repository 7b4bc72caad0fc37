/**
 * The long-running and database commands: `tasker serve` (orchestration + REST API, optionally
 * with a worker), `tasker worker`, `tasker migrate` and `tasker demo` (what `npm start` runs).
 * Each uses `DATABASE_URL`, or, when it is unset, the embedded PostgreSQL in `TASKER_DATA_DIR`
 * (default `.tasker/`), which one process owns at a time: to run `serve` and `worker` as separate
 * processes, point both at one server with `DATABASE_URL` (or run `tasker serve --worker`).
 * They run until Ctrl-C, which closes every part in order; a failure to start says what to fix.
 *
 * Their implementation (src/cli/commands/SystemRun.ts) is imported when one of them runs, so the
 * API commands do not pay for loading the engine.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { jsonFlag } from "../Output.ts"

const runtime = Effect.promise(() => import("./SystemRun.ts"))

const workerFlags = {
  templates: Flag.String("templates").pipe(
    Flag.withDescription("A directory of template YAML files the worker registers and serves (repeatable; default: examples/templates)"),
    Flag.atLeast(0)
  ),
  handlers: Flag.String("handlers").pipe(
    Flag.withDescription("A module exporting a HandlerRegistry (default export or `handlers`; default: the example handlers)"),
    Flag.optional
  ),
  concurrency: Flag.Int("concurrency").pipe(Flag.withDescription("Steps run at once (default TASKER_WORKER_CONCURRENCY, 10)"), Flag.optional)
}

const serve = Command.make("serve", {
  port: Flag.Int("port").pipe(Flag.withDescription("Listen on this port (default TASKER_API_PORT, else 8080)"), Flag.optional),
  host: Flag.String("host").pipe(Flag.withDescription("Listen on this address (default TASKER_API_HOST)"), Flag.optional),
  worker: Flag.Boolean("worker").pipe(Flag.withDescription("Also run a worker in this process"), Flag.withDefault(false)),
  ...workerFlags
}, (input) => Effect.flatMap(runtime, (run) => run.serve(input))).pipe(
  Command.withDescription("Run the orchestration service and the REST API until Ctrl-C")
)

const worker = Command.make("worker", workerFlags, (input) => Effect.flatMap(runtime, (run) => run.worker(input))).pipe(
  Command.withDescription("Run a worker: claim the steps of its templates' namespaces and run their handlers")
)

const migrate = Command.make("migrate", { json: jsonFlag }, ({ json }) =>
  Effect.flatMap(runtime, (run) => run.runMigrations(json))).pipe(
    Command.withDescription("Apply pending migrations to DATABASE_URL (or the embedded database) and list them")
  )

const demo = Command.make("demo", {}, () => Effect.flatMap(runtime, (run) => run.demo)).pipe(
  Command.withDescription("Run everything in one process with the example worker and sample tasks (= npm start)")
)

/** `serve`, `worker`, `migrate`, `demo`. @category commands @since 0.1.0 */
export const systemCommands = [serve, worker, migrate, demo] as const
