/**
 * The measured phases of one scenario, and the backlog scenario.
 *
 * A scenario runs: (probe, when it needs a feature) → warm-up tasks one after another → measured
 * tasks one after another (latency) → the throughput load (`throughput` tasks, at most `inFlight`
 * at once). Its database cost covers all of its tasks (warm-up, latency and throughput), divided
 * by the steps they ran; its peak RSS is sampled over the whole scenario.
 *
 * The backlog scenario is in `backlog.ts`.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Option } from "effect"
import type { Driver } from "./driver.ts"
import { type Cost, type CostProbe, now, own, type Percentiles, percentiles, type RssMonitor } from "./measure.ts"
import { type Scenario, templateName } from "./scenarios.ts"

/**
 * The run's sizes. The figures (20 warm-up + 200 measured tasks, 2,000 throughput tasks)
 * hold for small tasks; a scenario with many steps per task runs fewer tasks so that each phase
 * stays within a step budget (`latencySteps`, `throughputSteps`), never fewer than the minimums.
 */
export interface Sizes {
  readonly warmup: number
  readonly measured: number
  readonly minMeasured: number
  readonly latencySteps: number
  readonly throughput: number
  readonly minThroughput: number
  readonly throughputSteps: number
  readonly inFlight: number
  readonly backlog: number
  /** Time budgets of the backlog's fill and drain. */
  readonly backlogFill: Duration.Input
  readonly backlogDrain: Duration.Input
  readonly probeTimeout: Duration.Input
}

export const fullSizes: Sizes = {
  warmup: 20,
  measured: 200,
  minMeasured: 20,
  latencySteps: 2_000,
  throughput: 2_000,
  minThroughput: 50,
  throughputSteps: 10_000,
  inFlight: 50,
  backlog: 100_000,
  backlogFill: "10 minutes",
  backlogDrain: "10 minutes",
  probeTimeout: "20 seconds"
}

export const quickSizes: Sizes = {
  warmup: 3,
  measured: 20,
  minMeasured: 3,
  latencySteps: 80,
  throughput: 200,
  minThroughput: 4,
  throughputSteps: 200,
  inFlight: 20,
  backlog: 500,
  backlogFill: "5 minutes",
  backlogDrain: "5 minutes",
  probeTimeout: "10 seconds"
}

const clamp = (n: number, min: number, max: number) => Math.max(min, Math.min(max, n))

/** The task counts of one scenario's phases. */
export const phaseSizes = (sizes: Sizes, scenario: Scenario) => {
  const measured = clamp(Math.floor(sizes.latencySteps / scenario.steps), sizes.minMeasured, sizes.measured)
  return {
    warmup: Math.min(sizes.warmup, Math.ceil(measured / 10)),
    measured,
    throughput: clamp(Math.floor(sizes.throughputSteps / scenario.steps), sizes.minThroughput, sizes.throughput)
  }
}

export interface ScenarioResult {
  readonly scenario: string
  readonly description: string
  readonly stepsPerTask: number
  readonly stages: number
  /** `incomplete`: a time budget ran out while every task still progressed (not a failure). */
  readonly status: "ok" | "skipped" | "incomplete" | "error"
  readonly reason?: string
  readonly tasks?: ReturnType<typeof phaseSizes>
  readonly latencyMs?: Percentiles
  readonly p50PerStageMs?: number
  readonly throughput?: { readonly tasks: number; readonly inFlight: number; readonly seconds: number; readonly tasksPerSecond: number; readonly stepsPerSecond: number }
  readonly cost?: Cost
  readonly peakRssBytes?: Readonly<Record<string, number>>
  readonly backlog?: BacklogFigures
}

export interface BacklogSample {
  readonly second: number
  readonly created: number
  readonly completed: number
  readonly rss: Readonly<Record<string, number>>
}

export interface BacklogFigures {
  /** Tasks asked for, and created within the fill budget. */
  readonly target: number
  readonly created: number
  readonly fillSeconds: number
  readonly drainSeconds: number
  readonly completed: number
  readonly rssBeforeFill: Readonly<Record<string, number>>
  readonly rssAfterFill: Readonly<Record<string, number>>
  /** Every 5 s of the fill, then every second of the drain. */
  readonly fillTimeline: ReadonlyArray<BacklogSample>
  readonly drainTimeline: ReadonlyArray<BacklogSample>
}

/** Creates a task and waits for it; the latency in ms. */
const runTask = (driver: Driver, scenario: Scenario, i: number) =>
  Effect.flatMap(driver.create(scenario, { i }), (handle) => Effect.map(handle.completion, (at) => at - handle.startedAt))

/** Completed steps of the scenario's tasks (the probe is its only task when this runs). */
const completedSteps = (driver: Driver, scenario: Scenario) =>
  driver.sql<{ n: number }>`
    SELECT count(*)::int AS n FROM tasker.workflow_steps ws
    JOIN tasker.tasks t USING (task_uuid) JOIN tasker.named_tasks nt USING (named_task_uuid)
    WHERE nt.name = ${templateName(scenario)} AND ws.current_state = 'complete' ${driver.sql.unsafe(own)}`.pipe(
    Effect.map((rows) => rows[0]?.n ?? 0),
    Effect.orDie
  )

/** Why the scenario cannot run, if its probe task does not complete having run every step. */
const probe = (driver: Driver, scenario: Scenario, timeout: Duration.Input) =>
  Effect.gen(function*() {
    if (scenario.needs === undefined) return Option.none<string>()
    const outcome = yield* runTask(driver, scenario, -1).pipe(
      Effect.timeoutOption(timeout),
      Effect.result
    )
    const steps = yield* completedSteps(driver, scenario)
    if (outcome._tag === "Success" && Option.isSome(outcome.success) && steps === scenario.steps) return Option.none<string>()
    const seen = outcome._tag === "Failure"
      ? outcome.failure.message
      : Option.isNone(outcome.success)
      ? `its probe task did not complete within ${Duration.format(Duration.fromInputUnsafe(timeout))}`
      : "its probe task completed"
    return Option.some(`${scenario.needs.reason} (${seen}; ${steps} of ${scenario.steps} steps ran)`)
  })

export const runScenario = (driver: Driver, scenario: Scenario, sizes: Sizes, cost: CostProbe, rss: RssMonitor) =>
  Effect.gen(function*() {
    const base = { scenario: scenario.name, description: scenario.description, stepsPerTask: scenario.steps, stages: scenario.stages }
    const skip = yield* probe(driver, scenario, sizes.probeTimeout)
    if (Option.isSome(skip)) return { ...base, status: "skipped", reason: skip.value } satisfies ScenarioResult
    const n = phaseSizes(sizes, scenario)
    yield* rss.reset
    const before = yield* cost.snapshot
    yield* Effect.forEach(Array.from({ length: n.warmup }, (_, i) => i), (i) => runTask(driver, scenario, i), { discard: true })
    const latencies = yield* Effect.forEach(Array.from({ length: n.measured }, (_, i) => i), (i) => runTask(driver, scenario, i))
    const started = now()
    yield* Effect.forEach(
      Array.from({ length: n.throughput }, (_, i) => i),
      (i) => runTask(driver, scenario, i),
      { concurrency: sizes.inFlight, discard: true }
    )
    const seconds = (now() - started) / 1000
    const tasks = n.warmup + n.measured + n.throughput
    const latencyMs = percentiles(latencies)
    return {
      ...base,
      status: "ok",
      tasks: n,
      latencyMs,
      p50PerStageMs: latencyMs.p50 / scenario.stages,
      throughput: {
        tasks: n.throughput,
        inFlight: sizes.inFlight,
        seconds,
        tasksPerSecond: n.throughput / seconds,
        stepsPerSecond: (n.throughput * scenario.steps) / seconds
      },
      cost: yield* cost.delta(before, tasks * scenario.steps),
      peakRssBytes: yield* rss.peaks
    } satisfies ScenarioResult
  }).pipe(
    Effect.catchTag("BenchError", (error) =>
      Effect.succeed({
        scenario: scenario.name,
        description: scenario.description,
        stepsPerTask: scenario.steps,
        stages: scenario.stages,
        status: "error",
        reason: error.message
      } satisfies ScenarioResult))
  )
