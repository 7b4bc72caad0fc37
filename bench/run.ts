/**
 * `npm run bench [-- --quick] [-- --processes [--workers=N]] [-- --scenarios=linear4,backlog]`:
 * the engine's latency, throughput, database cost and memory per scenario (docs/benchmarks.md).
 *
 * Database: with `DATABASE_URL` unset, an embedded PostgreSQL in a temporary directory, started
 * with `pg_stat_statements` preloaded and default durability (fsync on), removed at the end. With
 * `DATABASE_URL`, a fresh `bench_<timestamp>` database on that server, dropped at the end;
 * statement counts need `pg_stat_statements` preloaded there, else they are reported as n/a.
 *
 * The table is printed and the results written to `bench/results/<timestamp>.json`. The exit code
 * is non-zero only when something failed (a task, a timeout, a process): never for a slow figure.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Effect, Option, References } from "effect"
import { SqlClient } from "effect/sql"
import { createDatabase, dropDatabase, urlForDatabase, withClient } from "../src/db/AdminDatabase.ts"
import * as EmbeddedPostgres from "../src/db/EmbeddedPostgres.ts"
import { migrate } from "../src/db/Migrations.ts"
import { benchEnvironment, type Driver, inProcess } from "./driver.ts"
import { BenchError, type CostProbe, makeCostProbe, makeRssMonitor, mib, own } from "./measure.ts"
import { runBacklog } from "./backlog.ts"
import { fullSizes, quickSizes, runScenario, type ScenarioResult } from "./phases.ts"
import { pollMillis, processes } from "./processes.ts"
import { scenarios } from "./scenarios.ts"

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    processes: { type: "boolean", default: false },
    workers: { type: "string", default: "2" },
    scenarios: { type: "string" },
    /** Overrides the backlog size (default 100,000; 500 with --quick). */
    backlog: { type: "string" },
    /** With DATABASE_URL: keep the bench database for inspection. */
    keep: { type: "boolean", default: false }
  }
})
const sizes = {
  ...(args.quick ? quickSizes : fullSizes),
  ...(args.backlog === undefined ? {} : { backlog: Math.max(1, Number(args.backlog)) })
}
const wanted = args.scenarios?.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
const selected = (name: string) => wanted === undefined || wanted.includes(name)
const resultsDir = fileURLToPath(new URL("./results/", import.meta.url))

/** The server: `DATABASE_URL`, or an embedded one for this run (in the scope). */
const server = Effect.gen(function*() {
  const url = yield* Config.option(Config.Redacted("DATABASE_URL"))
  if (Option.isSome(url)) return { adminUrl: url.value, kind: "DATABASE_URL" }
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), "tasker-bench-"))
      fs.chmodSync(d, 0o755)
      return d
    }),
    (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
  )
  // track = all: statements inside the SQL functions are listed too (top-level ones are counted).
  const pg = yield* EmbeddedPostgres.make({
    dataDir: path.join(dir, "pg"),
    settings: { shared_preload_libraries: "pg_stat_statements", "pg_stat_statements.track": "all", max_connections: "200" }
  })
  return { adminUrl: pg.url, kind: "embedded" }
})

const fmt = (n: number | undefined, digits = 1) => n === undefined || Number.isNaN(n) ? "n/a" : n.toFixed(digits)

const rssText = (peaks: Readonly<Record<string, number>> | undefined, mode: Driver["mode"]) => {
  if (peaks === undefined) return "-"
  if (mode === "single-process") return `${fmt(mib(peaks.self), 0)} MiB`
  const workers = Object.entries(peaks).filter(([k]) => k.startsWith("worker")).map(([, v]) => v)
  return `${fmt(mib(peaks.orchestration), 0)}/${fmt(mib(Math.max(0, ...workers)), 0)} MiB`
}

const table = (results: ReadonlyArray<ScenarioResult>, mode: Driver["mode"]) => {
  const header = ["scenario", "p50 ms", "p95 ms", "p99 ms", "p50/stage", "tasks/s", "steps/s", "stmts/step", "commits/step", mode === "single-process" ? "peak RSS" : "peak RSS orch/worker"]
  const measured = (r: ScenarioResult) => r.status === "ok" || r.status === "incomplete"
  const rows = results.map((r) =>
    !measured(r)
      ? [r.scenario, ...header.slice(1).map(() => "-")]
      : [
        `${r.scenario}${r.status === "incomplete" ? "*" : ""}`,
        fmt(r.latencyMs?.p50),
        fmt(r.latencyMs?.p95),
        fmt(r.latencyMs?.p99),
        fmt(r.p50PerStageMs),
        fmt(r.throughput?.tasksPerSecond),
        fmt(r.throughput?.stepsPerSecond, 0),
        fmt(r.cost?.statementsPerStep),
        fmt(r.cost?.commitsPerStep),
        rssText(r.peakRssBytes, mode)
      ]
  )
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`
  const notes = results.filter((r) => r.status !== "ok").map((r) =>
    `${r.scenario}${r.status === "incomplete" ? "*" : ""}: ${r.status}: ${r.reason ?? ""}`
  )
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line), ...(notes.length > 0 ? ["", ...notes] : [])].join("\n")
}

const program = Effect.gen(function*() {
  const startedAt = new Date()
  const stamp = startedAt.toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "_").toLowerCase()
  const { adminUrl, kind } = yield* server
  const mode = args.processes ? "processes" : "single-process"

  /** A database for the scope: created (from `template` when given) and dropped (kept with --keep). */
  const database = (name: string, template?: string) =>
    Effect.acquireRelease(createDatabase(adminUrl, name, template), () =>
      args.keep && kind === "DATABASE_URL"
        ? Effect.sync(() => console.log(`kept database ${name}`))
        : dropDatabase(adminUrl, name).pipe(Effect.ignore)).pipe(Effect.as(urlForDatabase(adminUrl, name)))

  // One migrated template; every scenario runs on its own clone, so its figures do not depend on
  // what ran before it (or whether it did).
  const template = `bench_${stamp}_${process.pid}`
  const templateUrl = yield* database(template)
  const pgVersion = yield* withClient(templateUrl, (sql) =>
    migrate().pipe(
      Effect.andThen(sql.unsafe(`CREATE EXTENSION IF NOT EXISTS pg_stat_statements ${own}`).pipe(Effect.ignore)),
      Effect.andThen(sql<{ v: string }>`SELECT current_setting('server_version') AS v`)
    )).pipe(Effect.map((rows) => rows[0]!.v))
  // BENCH_DB_SETTINGS="name=value;…": ALTER DATABASE … SET on each scenario's database (a diagnosis, e.g. auto_explain).
  const dbSettings = (process.env.BENCH_DB_SETTINGS ?? "").split(";").filter((kv) => kv.includes("="))

  const loadAtStart = os.loadavg()
  console.log(`tasker bench: ${args.quick ? "quick" : "full"} run, ${mode}, PostgreSQL ${pgVersion} (${kind}), ${os.cpus().length} CPUs`)
  if (loadAtStart[0]! > 0.5) console.log(`note: the machine is busy (load average ${loadAtStart[0]!.toFixed(2)}): figures will be noisy`)
  const rss = yield* makeRssMonitor
  let statementsAvailable = false

  /** The engine on a fresh clone for one scenario, closed after it. */
  const withEngine = (name: string, run: (driver: Driver, cost: CostProbe) => Effect.Effect<ScenarioResult>) =>
    Effect.gen(function*() {
      const db = `${template}_${name}`
      const url = yield* database(db, template)
      yield* withClient(adminUrl, (sql) =>
        Effect.forEach(dbSettings, (kv) =>
          sql.unsafe(`ALTER DATABASE ${db} SET ${kv.slice(0, kv.indexOf("="))} = '${kv.slice(kv.indexOf("=") + 1)}'`), { discard: true }))
      const driver = args.processes
        ? yield* processes(url, { workers: Math.max(1, Number(args.workers)), taskTimeout: "3 minutes", rss })
        : yield* inProcess(url, "3 minutes")
      let countOwn: (n: number) => Effect.Effect<void> = () => Effect.void
      const cost = yield* makeCostProbe(Effect.suspend(() => driver.flushStats(countOwn))).pipe(
        Effect.provideService(SqlClient.SqlClient, driver.sql)
      )
      countOwn = cost.countOwn
      statementsAvailable = cost.statementsAvailable
      // The start-up's commits (template registration) are reported before the first snapshot.
      yield* driver.flushStats(cost.countOwn)
      const result = yield* run(driver, cost)
      console.log(`  ${result.scenario}: ${result.status}${result.reason === undefined ? "" : ` (${result.reason})`}`)
      return result
    }).pipe(
      Effect.scoped,
      Effect.catchTag("BenchError", (error) =>
        Effect.succeed({ scenario: name, description: "", stepsPerTask: 0, stages: 0, status: "error", reason: error.message } satisfies ScenarioResult))
    )

  const results: Array<ScenarioResult> = []
  for (const scenario of scenarios.filter((s) => selected(s.name))) {
    results.push(yield* withEngine(scenario.name, (driver, cost) => runScenario(driver, scenario, sizes, cost, rss)))
  }
  if (selected("backlog") || selected("backlog100k")) {
    results.push(yield* withEngine("backlog", (driver, cost) => runBacklog(driver, sizes, cost, rss)))
  }
  if (!statementsAvailable) console.log("pg_stat_statements is not available (not preloaded): statements per step are n/a")

  console.log(`\n${table(results, mode)}\n`)
  const output = {
    startedAt: startedAt.toISOString(),
    seconds: (Date.now() - startedAt.getTime()) / 1000,
    run: args.quick ? "quick" : "full",
    mode,
    workers: args.processes ? Number(args.workers) : 1,
    completionPollMillis: args.processes ? pollMillis : undefined,
    sizes,
    machine: { loadAverageAtStart: loadAtStart, loadAverageAtEnd: os.loadavg(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryBytes: os.totalmem(), node: process.version, platform: `${os.platform()} ${os.release()}` },
    database: { server: kind, version: pgVersion, pgStatStatements: statementsAvailable },
    settings: benchEnvironment(),
    results
  }
  fs.mkdirSync(resultsDir, { recursive: true })
  const file = path.join(resultsDir, `${stamp}.json`)
  fs.writeFileSync(file, `${JSON.stringify(output, null, 2)}\n`)
  console.log(`results: ${path.relative(process.cwd(), file)} (${output.seconds.toFixed(0)} s)`)
  const failed = results.filter((r) => r.status === "error")
  if (failed.length > 0) return yield* new BenchError({ message: `${failed.length} scenario(s) failed: ${failed.map((r) => r.scenario).join(", ")}` })
}).pipe(
  Effect.scoped,
  // The engine's start-up chatter would bury the table; warnings and errors still show.
  Effect.provideService(References.MinimumLogLevel, process.env.BENCH_LOG_LEVEL === "debug" ? "Debug" : "Warn")
)

NodeRuntime.runMain(program)
