/**
 * Measurement helpers of `npm run bench`: latency percentiles, peak RSS sampling, and the database
 * cost of a phase (top-level SQL statements from `pg_stat_statements`, commits from
 * `pg_stat_database`, both as deltas of snapshots of the bench database).
 *
 * The bench's own statements (snapshots, completion polls, backlog counts) carry the marker
 * `bench:own` in their text: they are left out of the statement figures, and as many commits as
 * the bench ran are subtracted from the commit delta.
 *
 * @since 0.1.0
 */
import { Data, Effect, Ref, Schedule } from "effect"
import { SqlClient } from "effect/sql"

/** A failure of the benchmark itself: a task that failed, a timeout, a process that died. */
export class BenchError extends Data.TaggedError("BenchError")<{ readonly message: string; readonly cause?: unknown }> {}

export const now = () => performance.now()

// ---------------------------------------------------------------------------------------------
// Latency
// ---------------------------------------------------------------------------------------------

export interface Percentiles {
  readonly n: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly mean: number
  readonly max: number
}

/** Nearest-rank percentile of sorted samples. */
const rank = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!

export const percentiles = (samples: ReadonlyArray<number>): Percentiles => {
  const sorted = [...samples].sort((a, b) => a - b)
  if (sorted.length === 0) return { n: 0, p50: NaN, p95: NaN, p99: NaN, mean: NaN, max: NaN }
  return {
    n: sorted.length,
    p50: rank(sorted, 50),
    p95: rank(sorted, 95),
    p99: rank(sorted, 99),
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    max: sorted[sorted.length - 1]!
  }
}

// ---------------------------------------------------------------------------------------------
// Peak RSS
// ---------------------------------------------------------------------------------------------

/** Peak resident set size per process since `reset` (bytes); `self` is this process. */
export interface RssMonitor {
  /** A sample from another process (the `--processes` children report theirs). */
  report(source: string, bytes: number): Effect.Effect<void>
  readonly reset: Effect.Effect<void>
  readonly peaks: Effect.Effect<Readonly<Record<string, number>>>
  readonly current: Effect.Effect<Readonly<Record<string, number>>>
}

/** Samples this process every 100 ms for the rest of the scope. */
export const makeRssMonitor = Effect.gen(function*() {
  const peaks = yield* Ref.make<Record<string, number>>({})
  const current = yield* Ref.make<Record<string, number>>({})
  const report = (source: string, bytes: number) =>
    Effect.andThen(
      Ref.update(current, (c) => ({ ...c, [source]: bytes })),
      Ref.update(peaks, (p) => ({ ...p, [source]: Math.max(p[source] ?? 0, bytes) }))
    )
  const sampleSelf = Effect.suspend(() => report("self", process.memoryUsage.rss()))
  yield* sampleSelf.pipe(Effect.repeat(Schedule.spaced("100 millis")), Effect.forkScoped)
  return {
    report,
    reset: Effect.andThen(Ref.get(current), (c) => Ref.set(peaks, { ...c })),
    peaks: Effect.andThen(sampleSelf, Ref.get(peaks)),
    current: Effect.andThen(sampleSelf, Ref.get(current))
  } satisfies RssMonitor
})

export const mib = (bytes: number | undefined) => bytes === undefined ? NaN : bytes / (1024 * 1024)

// ---------------------------------------------------------------------------------------------
// Database cost
// ---------------------------------------------------------------------------------------------

/** The marker of the bench's own statements. */
export const own = "/* bench:own */"

interface StatementRow {
  readonly query: string
  readonly toplevel: boolean
  readonly calls: number
  readonly totalMs: number
  readonly blocks: number
}

interface TableRow {
  readonly seqScan: number
  readonly seqTupRead: number
  readonly idxScan: number
}

export interface CostSnapshot {
  readonly statements: ReadonlyMap<string, StatementRow> | undefined
  readonly tables: ReadonlyMap<string, TableRow>
  readonly commits: number
  /** The next transaction id (server-wide): its delta counts write transactions. */
  readonly nextXid: number
  readonly ownStatements: number
}

export interface TopStatement {
  readonly query: string
  /** Run inside a function (seen with `pg_stat_statements.track = all`). */
  readonly nested: boolean
  readonly calls: number
  readonly totalMs: number
  readonly callsPerStep: number
  /** Shared buffers touched (hit + read) per call: a scan shows as a large number. */
  readonly blocksPerCall: number
}

export interface TableScans {
  readonly table: string
  readonly seqScansPerStep: number
  readonly seqRowsPerStep: number
  readonly indexScansPerStep: number
}

export interface Cost {
  /** Top-level statements of the engine, or undefined without pg_stat_statements. */
  readonly statements: number | undefined
  readonly commits: number
  readonly statementsPerStep: number | undefined
  readonly commitsPerStep: number
  /** Transaction ids assigned (write transactions, server-wide) per step. */
  readonly writeTransactionsPerStep: number
  /** By total execution time, nested statements included when tracked. */
  readonly top: ReadonlyArray<TopStatement>
  /** Tables of `tasker` and `pgmq` by rows read in sequential scans. */
  readonly tables: ReadonlyArray<TableScans>
}

export interface CostProbe {
  readonly statementsAvailable: boolean
  readonly snapshot: Effect.Effect<CostSnapshot>
  /** Counts statements the bench ran on the bench database (their commits are subtracted). */
  readonly countOwn: (n: number) => Effect.Effect<void>
  /** Makes the server's statistics current (`flush`), then the delta since `before`. */
  delta(before: CostSnapshot, steps: number): Effect.Effect<Cost>
}

/** Statements of one snapshot. */
const snapshotStatements = 3

/**
 * pg_stat_statements is used when the extension can be created in the bench database and was
 * preloaded (reading the view fails otherwise).
 *
 * A backend reports its commits and table scans when it goes idle, but at most once a second:
 * otherwise it waits up to 10 s (PGSTAT_IDLE_INTERVAL). `flush` must get every engine connection
 * to report before the "after" snapshot (the drivers know how: see `Driver.flushStats`).
 */
export const makeCostProbe = (flush: Effect.Effect<void>) => Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const available = yield* sql.unsafe(`CREATE EXTENSION IF NOT EXISTS pg_stat_statements ${own}`).pipe(
    Effect.andThen(sql.unsafe(`SELECT 1 FROM pg_stat_statements LIMIT 1 ${own}`)),
    Effect.as(true),
    Effect.catch(() => Effect.succeed(false))
  )
  const ownCount = yield* Ref.make(0)
  const countOwn = (n: number) => Ref.update(ownCount, (c) => c + n)

  const statements = sql<{ key: string; query: string; toplevel: boolean; calls: string; totalMs: number; blocks: string }>`
    SELECT queryid::text || ':' || userid::text || ':' || toplevel::text AS key, query, toplevel,
           calls::text AS calls, total_exec_time AS total_ms, (shared_blks_hit + shared_blks_read)::text AS blocks
    FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND query NOT LIKE '%bench:own%' ${sql.unsafe(own)}`.pipe(
    Effect.map((rows) => new Map(rows.map((r) => [r.key, { ...r, calls: Number(r.calls), blocks: Number(r.blocks) }])))
  )
  const tables = sql<{ name: string; seqScan: string; seqTupRead: string; idxScan: string | null }>`
    SELECT schemaname || '.' || relname AS name, seq_scan::text AS seq_scan, seq_tup_read::text AS seq_tup_read,
           idx_scan::text AS idx_scan
    FROM pg_stat_user_tables WHERE schemaname IN ('tasker', 'pgmq') ${sql.unsafe(own)}`.pipe(
    Effect.map((rows) =>
      new Map(rows.map((r) => [r.name, { seqScan: Number(r.seqScan), seqTupRead: Number(r.seqTupRead), idxScan: Number(r.idxScan ?? 0) }]))
    )
  )
  const commits = sql<{ commits: string; nextXid: string }>`
    SELECT xact_commit::text AS commits, pg_snapshot_xmax(pg_current_snapshot())::text AS next_xid
    FROM pg_stat_database WHERE datname = current_database() ${sql.unsafe(own)}`.pipe(
    Effect.map((rows) => ({ commits: Number(rows[0]?.commits ?? 0), nextXid: Number(rows[0]?.nextXid ?? 0) }))
  )

  const snapshot: Effect.Effect<CostSnapshot> = Effect.gen(function*() {
    const s = available ? yield* statements : undefined
    const t = yield* tables
    const c = yield* commits
    yield* countOwn(snapshotStatements)
    return { statements: s, tables: t, commits: c.commits, nextXid: c.nextXid, ownStatements: yield* Ref.get(ownCount) }
  }).pipe(Effect.orDie)

  const delta = (before: CostSnapshot, steps: number): Effect.Effect<Cost> =>
    Effect.gen(function*() {
      yield* flush
      const after = yield* snapshot
      const ownDuring = after.ownStatements - before.ownStatements - snapshotStatements
      const commitsDelta = Math.max(0, after.commits - before.commits - ownDuring)
      let total: number | undefined
      const top: Array<TopStatement> = []
      if (after.statements !== undefined && before.statements !== undefined) {
        total = 0
        for (const [key, row] of after.statements) {
          const calls = row.calls - (before.statements.get(key)?.calls ?? 0)
          if (calls <= 0) continue
          if (row.toplevel) total += calls
          const previous = before.statements.get(key)
          const totalMs = row.totalMs - (previous?.totalMs ?? 0)
          const blocksPerCall = (row.blocks - (previous?.blocks ?? 0)) / calls
          const query = row.query.replace(/\s+/g, " ").slice(0, 240)
          top.push({ query, nested: !row.toplevel, calls, totalMs, callsPerStep: calls / steps, blocksPerCall })
        }
        top.sort((a, b) => b.totalMs - a.totalMs)
      }
      const scans = [...after.tables].map(([table, row]) => {
        const b = before.tables.get(table) ?? { seqScan: 0, seqTupRead: 0, idxScan: 0 }
        return {
          table,
          seqScansPerStep: (row.seqScan - b.seqScan) / steps,
          seqRowsPerStep: (row.seqTupRead - b.seqTupRead) / steps,
          indexScansPerStep: (row.idxScan - b.idxScan) / steps
        }
      }).filter((t) => t.seqScansPerStep > 0 || t.indexScansPerStep > 0).sort((a, b) => b.seqRowsPerStep - a.seqRowsPerStep)
      return {
        statements: total,
        commits: commitsDelta,
        statementsPerStep: total === undefined ? undefined : total / steps,
        commitsPerStep: commitsDelta / steps,
        writeTransactionsPerStep: (after.nextXid - before.nextXid) / steps,
        top: top.slice(0, 25),
        tables: scans.slice(0, 10)
      }
    })

  return { statementsAvailable: available, snapshot, countOwn, delta } satisfies CostProbe
})
