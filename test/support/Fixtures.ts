/**
 * Database fixtures for the SQL acceptance tests: registry rows, tasks with steps and edges
 * addressed by step name, state drivers that walk legal transitions, and readers for the
 * current state and the transition log. Every name is unique per call, because the tests of a
 * file share one database (test/support/PgTest.ts).
 */
import { assert } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import { type StepState, stepTransitions } from "../../src/domain/StepState.ts"
import { type TaskState, taskTransitions } from "../../src/domain/TaskState.ts"

let counter = 0

/** A name no other fixture call of this run uses (letters, digits, underscores). */
export const unique = (prefix: string) =>
  `${prefix}_${Date.now().toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 6)}`

/** The SQLSTATE of a failed query (`TK001`, `40001`, ...), if the error carries one. */
export const sqlStateOf = (error: unknown): string | undefined => {
  let current: unknown = error
  for (let depth = 0; depth < 6 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === "string") return code
    const next = current as { reason?: unknown; cause?: unknown }
    current = next.reason ?? next.cause
  }
  return undefined
}

/** Runs `effect` expecting a failure; returns its SQLSTATE (`"no failure"` when it succeeded). */
export const failureState = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.match(effect, { onFailure: (e) => sqlStateOf(e) ?? "no SQLSTATE", onSuccess: () => "no failure" })

// ---------------------------------------------------------------------------------------------
// Registry and runtime rows
// ---------------------------------------------------------------------------------------------

/** A fresh namespace with one named task (template) in it. */
export const insertNamedTask = (configuration: object = {}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const namespaceName = unique("ns")
    const taskName = unique("task")
    const [row] = yield* sql<{ namespaceUuid: string; namedTaskUuid: string }>`
      WITH ns AS (INSERT INTO tasker.task_namespaces (name) VALUES (${namespaceName}) RETURNING task_namespace_uuid)
      INSERT INTO tasker.named_tasks (task_namespace_uuid, name, configuration)
      SELECT task_namespace_uuid, ${taskName}, ${JSON.stringify(configuration)}::jsonb FROM ns
      RETURNING task_namespace_uuid AS namespace_uuid, named_task_uuid`
    return { namespaceUuid: row!.namespaceUuid, namespaceName, namedTaskUuid: row!.namedTaskUuid, taskName }
  })

/** Named steps for the given logical names (stored under unique names); logical name -> uuid. */
export const insertNamedSteps = (names: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const stored = names.map((name) => unique(name))
    const rows = yield* sql<{ namedStepUuid: string; name: string }>`
      INSERT INTO tasker.named_steps (name) SELECT unnest(${stored}::text[])
      RETURNING named_step_uuid, name`
    const byStored = new Map(rows.map((r) => [r.name, r.namedStepUuid]))
    return Object.fromEntries(names.map((name, i) => [name, byStored.get(stored[i]!)!])) as Record<string, string>
  })

/** `count` pending tasks of a named task in one INSERT; returns their uuids. */
export const insertTasks = (namedTaskUuid: string, count: number, options: { readonly priority?: number } = {}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const hash = unique("identity")
    const rows = yield* sql<{ taskUuid: string }>`
      INSERT INTO tasker.tasks (named_task_uuid, identity_hash, correlation_id, priority)
      SELECT ${namedTaskUuid}::uuid, ${hash} || '_' || g, tasker.uuid_generate_v7(), ${options.priority ?? 0}
      FROM generate_series(1, ${count}) AS g
      RETURNING task_uuid`
    return rows.map((r) => r.taskUuid)
  })

export interface StepSpec {
  readonly name: string
  readonly retryable?: boolean
  readonly maxAttempts?: number
}

export interface WorkflowSpec {
  readonly steps: ReadonlyArray<string | StepSpec>
  /** Parent -> child, by logical step name. */
  readonly edges?: ReadonlyArray<readonly [string, string]>
  readonly namedTaskUuid?: string
  readonly priority?: number
}

export interface Workflow {
  readonly taskUuid: string
  readonly namedTaskUuid: string
  /** Logical step name -> workflow_step_uuid. */
  readonly steps: Record<string, string>
}

/** One pending task with its steps and edges (three set-based INSERTs after the registry rows). */
export const insertWorkflow = (spec: WorkflowSpec) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const steps = spec.steps.map((s): StepSpec => typeof s === "string" ? { name: s } : s)
    const namedTaskUuid = spec.namedTaskUuid ?? (yield* insertNamedTask()).namedTaskUuid
    const [taskUuid] = yield* insertTasks(namedTaskUuid, 1, spec.priority === undefined ? {} : { priority: spec.priority })
    const named = yield* insertNamedSteps(steps.map((s) => s.name))
    const rows = steps.length === 0 ? [] : yield* sql<{ workflowStepUuid: string; namedStepUuid: string }>`
      INSERT INTO tasker.workflow_steps (task_uuid, named_step_uuid, retryable, max_attempts)
      SELECT ${taskUuid!}::uuid, u.named_step_uuid, u.retryable, u.max_attempts
      FROM unnest(${steps.map((s) => named[s.name]!)}::uuid[], ${steps.map((s) => s.retryable ?? true)}::boolean[],
                  ${steps.map((s) => s.maxAttempts ?? 3)}::integer[]) AS u(named_step_uuid, retryable, max_attempts)
      RETURNING workflow_step_uuid, named_step_uuid`
    const byNamed = new Map(rows.map((r) => [r.namedStepUuid, r.workflowStepUuid]))
    const stepUuids = Object.fromEntries(steps.map((s) => [s.name, byNamed.get(named[s.name]!)!])) as Record<string, string>
    const edges = spec.edges ?? []
    if (edges.length > 0) {
      yield* sql`
        INSERT INTO tasker.workflow_step_edges (from_step_uuid, to_step_uuid)
        SELECT * FROM unnest(${edges.map(([from]) => stepUuids[from]!)}::uuid[], ${edges.map(([, to]) => stepUuids[to]!)}::uuid[])`
    }
    return { taskUuid: taskUuid!, namedTaskUuid, steps: stepUuids } satisfies Workflow
  })

// ---------------------------------------------------------------------------------------------
// Legal paths and drivers
// ---------------------------------------------------------------------------------------------

/** Shortest legal path (states after `start`) to every reachable state; paths share prefixes. */
export const shortestPaths = <S extends string>(edges: ReadonlyArray<{ readonly from: S; readonly to: S }>, start: S) => {
  const paths = new Map<S, ReadonlyArray<S>>([[start, []]])
  const queue: Array<S> = [start]
  while (queue.length > 0) {
    const state = queue.shift()!
    for (const edge of edges) {
      if (edge.from === state && !paths.has(edge.to)) {
        paths.set(edge.to, [...paths.get(state)!, edge.to])
        queue.push(edge.to)
      }
    }
  }
  return paths as ReadonlyMap<S, ReadonlyArray<S>>
}

export const taskPaths = shortestPaths<TaskState>(taskTransitions, "pending")
export const stepPaths = shortestPaths<StepState>(stepTransitions, "pending")

/**
 * Moves entities along their paths (states after `start`) with the set-based CAS function,
 * one call per distinct (depth, from, to) edge; dies if any entity did not move.
 */
const driveAlong = (fn: "transition_tasks_state" | "transition_steps_state") =>
<S extends string>(moves: ReadonlyArray<{ readonly uuid: string; readonly path: ReadonlyArray<S> }>, start: S) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const depth = Math.max(0, ...moves.map((m) => m.path.length))
    for (let d = 0; d < depth; d++) {
      const groups = new Map<string, Array<string>>()
      for (const m of moves) {
        if (d >= m.path.length) continue
        const key = `${d === 0 ? start : m.path[d - 1]}>${m.path[d]}`
        groups.set(key, [...(groups.get(key) ?? []), m.uuid])
      }
      for (const [key, uuids] of groups) {
        const [from, to] = key.split(">") as [string, string]
        const moved = yield* sql<{ uuid: string }>`
          SELECT m AS uuid FROM tasker.${sql(fn)}(${uuids}::uuid[], ${from}, ${to}) AS m`
        if (moved.length !== uuids.length) {
          return yield* Effect.die(new Error(`${fn} ${from} -> ${to}: moved ${moved.length} of ${uuids.length}`))
        }
      }
    }
  })

type Moves<S> = ReadonlyArray<{ readonly uuid: string; readonly path: ReadonlyArray<S> }>

/** Drives tasks along explicit paths (states after `start`, default `pending`). */
export const driveTasks = (moves: Moves<TaskState>, start: TaskState = "pending") =>
  driveAlong("transition_tasks_state")(moves, start)
/** Drives steps along explicit paths (states after `start`, default `pending`). */
export const driveSteps = (moves: Moves<StepState>, start: StepState = "pending") =>
  driveAlong("transition_steps_state")(moves, start)

/** Moves pending tasks to `target` along the shortest legal path. */
export const driveTasksTo = (uuids: ReadonlyArray<string>, target: TaskState) =>
  driveTasks(uuids.map((uuid) => ({ uuid, path: taskPaths.get(target)! })))

/** Moves pending steps to `target` along the shortest legal path. */
export const driveStepsTo = (uuids: ReadonlyArray<string>, target: StepState) =>
  driveSteps(uuids.map((uuid) => ({ uuid, path: stepPaths.get(target)! })))

/** Moves steps from `start` through each state of `path` in turn. */
export const moveSteps = (uuids: ReadonlyArray<string>, start: StepState, path: ReadonlyArray<StepState>) =>
  driveSteps(uuids.map((uuid) => ({ uuid, path })), start)

// ---------------------------------------------------------------------------------------------
// Readers
// ---------------------------------------------------------------------------------------------

export interface LogRow {
  readonly fromState: string | null
  readonly toState: string
  readonly sortKey: number
  readonly mostRecent: boolean
  readonly event: string | null
}

const firstState = (rows: ReadonlyArray<{ readonly currentState: string }>) => rows[0]?.currentState

export const taskState = (taskUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return firstState(
      yield* sql<{ currentState: string }>`SELECT current_state FROM tasker.tasks WHERE task_uuid = ${taskUuid}::uuid`
    )
  })

export const stepState = (stepUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return firstState(yield* sql<{ currentState: string }>`
      SELECT current_state FROM tasker.workflow_steps WHERE workflow_step_uuid = ${stepUuid}::uuid`)
  })

/** A task's transition log in sort_key order. */
export const taskLog = (taskUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<LogRow>`
      SELECT from_state, to_state, sort_key, most_recent, metadata ->> 'event' AS event
      FROM tasker.task_transitions WHERE task_uuid = ${taskUuid}::uuid ORDER BY sort_key`
  })

/** A step's transition log in sort_key order. */
export const stepLog = (stepUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<LogRow>`
      SELECT from_state, to_state, sort_key, most_recent, metadata ->> 'event' AS event
      FROM tasker.workflow_step_transitions WHERE workflow_step_uuid = ${stepUuid}::uuid ORDER BY sort_key`
  })

export interface LogSummary {
  readonly uuid: string
  readonly currentState: string
  readonly logLength: number
  readonly maxSortKey: number
  readonly currentRows: number
  readonly headFrom: string | null
  readonly headTo: string
  readonly headEvent: string | null
}

/** Current state and transition-log summary (length, max sort_key, current rows, head row) of many entities in one query. */
export const logSummaries = (kind: "task" | "step", uuids: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [entity, log, key] = kind === "task"
      ? ["tasks", "task_transitions", "task_uuid"]
      : ["workflow_steps", "workflow_step_transitions", "workflow_step_uuid"]
    const rows = yield* sql<LogSummary>`
      SELECT e.${sql(key)} AS uuid, e.current_state, l.log_length, l.max_sort_key, l.current_rows,
             h.from_state AS head_from, h.to_state AS head_to, h.metadata ->> 'event' AS head_event
      FROM tasker.${sql(entity)} e
      CROSS JOIN LATERAL (
        SELECT count(*)::int AS log_length, max(x.sort_key) AS max_sort_key,
               count(*) FILTER (WHERE x.most_recent)::int AS current_rows
        FROM tasker.${sql(log)} x WHERE x.${sql(key)} = e.${sql(key)}) l
      LEFT JOIN tasker.${sql(log)} h ON h.${sql(key)} = e.${sql(key)} AND h.most_recent
      WHERE e.${sql(key)} = ANY (${uuids}::uuid[])`
    return new Map(rows.map((r) => [r.uuid, r]))
  })

/** Gapless 0..n sort keys, exactly one most_recent row (the last), states chained. */
export const assertWellFormedLog = (log: ReadonlyArray<LogRow>, current: string) => {
  assert.deepStrictEqual(log.map((r) => r.sortKey), log.map((_, i) => i))
  assert.deepStrictEqual(log.map((r) => r.mostRecent), log.map((_, i) => i === log.length - 1))
  assert.strictEqual(log[log.length - 1]!.toState, current)
  log.slice(1).forEach((r, i) => assert.strictEqual(r.fromState, log[i]!.toState))
}

/** Waits until some session of this database is blocked on a lock (a racer queued behind a holder). */
export const awaitLockWaiter = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ n: number }>`
    SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock'`
  if (row!.n === 0) return yield* Effect.fail("no lock waiter yet" as const)
}).pipe(Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }))

/**
 * Two transactions on two connections: `first` runs and its transaction stays open while
 * `second` runs in its own transaction. With `secondBlocks`, `second` is expected to queue on a
 * row lock of `first`: it is forked, and `first` commits once a lock waiter shows up. Without it,
 * `second` runs to completion before `first` commits. Returns both results.
 */
export const raceTransactions = <A, B, E1, E2, R1, R2>(
  first: Effect.Effect<A, E1, R1>,
  second: Effect.Effect<B, E2, R2>,
  options: { readonly secondBlocks: boolean }
) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const holding = yield* Deferred.make<void>()
    const release = yield* Deferred.make<void>()
    const holder = yield* Effect.forkChild(sql.withTransaction(Effect.gen(function*() {
      const result = yield* first
      yield* Deferred.succeed(holding, undefined)
      yield* Deferred.await(release)
      return result
    })))
    // A failing `first` ends the wait (and the test) instead of hanging it.
    yield* Effect.raceFirst(Deferred.await(holding), Fiber.join(holder))
    const secondResult = yield* (options.secondBlocks
      ? Effect.gen(function*() {
        const racer = yield* Effect.forkChild(sql.withTransaction(second))
        yield* awaitLockWaiter
        yield* Deferred.succeed(release, undefined)
        return yield* Fiber.join(racer)
      })
      : sql.withTransaction(second)).pipe(Effect.ensuring(Deferred.succeed(release, undefined)))
    return [yield* Fiber.join(holder), secondResult] as const
  })
