/**
 * The backlog scenario: with the workers stopped, create `backlog` single-step tasks (each one
 * through the engine's create path, 50 at a time; the orchestration enqueues their steps), then
 * start the workers and time the drain. RSS is sampled every 5 s of the fill and every second of
 * the drain: it must stay flat, not grow with the backlog.
 *
 * Both phases have a time budget (`Sizes.backlogFill`, `backlogDrain`). When one runs out while
 * tasks still progress, the scenario ends `incomplete` with what was done (the rates show how far
 * the engine got): a budget is not a failure. A failed task is.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Ref, Schedule } from "effect"
import type { Driver } from "./driver.ts"
import { BenchError, type CostProbe, now, own, type RssMonitor } from "./measure.ts"
import type { BacklogSample, ScenarioResult, Sizes } from "./phases.ts"
import { backlog as scenario, templateName } from "./scenarios.ts"

/** Tasks of the backlog template: created, complete, failed. */
const counts = (driver: Driver, cost: CostProbe) =>
  driver.sql<{ created: number; completed: number; failed: number }>`
    SELECT count(*)::int AS created,
           count(*) FILTER (WHERE t.current_state = 'complete')::int AS completed,
           count(*) FILTER (WHERE t.current_state IN ('error', 'blocked_by_failures', 'cancelled'))::int AS failed
    FROM tasker.tasks t JOIN tasker.named_tasks nt USING (named_task_uuid)
    WHERE nt.name = ${templateName(scenario)} ${driver.sql.unsafe(own)}`.pipe(
    Effect.map((rows) => rows[0]!),
    Effect.tap(() => cost.countOwn(1)),
    Effect.orDie
  )

const minutes = (d: Duration.Input) => Duration.format(Duration.fromInputUnsafe(d))

export const runBacklog = (driver: Driver, sizes: Sizes, cost: CostProbe, rss: RssMonitor) =>
  Effect.gen(function*() {
    const target = sizes.backlog
    const name = `backlog${target >= 1000 && target % 1000 === 0 ? `${target / 1000}k` : target}`
    yield* driver.stopWorkers
    yield* rss.reset
    const before = yield* cost.snapshot
    const rssBeforeFill = yield* rss.current

    // Fill: create until the target or the budget; a sampler records the creation rate and RSS.
    const fillStart = now()
    const sent = yield* Ref.make(0)
    const fillTimeline: Array<BacklogSample> = []
    const sample = (start: number, into: Array<BacklogSample>) =>
      Effect.gen(function*() {
        const c = yield* counts(driver, cost)
        if (c.failed > 0) return yield* new BenchError({ message: `${c.failed} backlog task(s) failed` })
        into.push({ second: Math.round((now() - start) / 100) / 10, created: c.created, completed: c.completed, rss: yield* rss.current })
        return c
      })
    const filled = yield* Effect.forEach(
      Array.from({ length: target }, (_, i) => i),
      (i) => Effect.andThen(driver.create(scenario, { i }), Ref.update(sent, (n) => n + 1)),
      { concurrency: 50, discard: true }
    ).pipe(
      Effect.raceFirst(sample(fillStart, fillTimeline).pipe(Effect.repeat(Schedule.spaced("5 seconds")), Effect.andThen(Effect.never))),
      Effect.timeoutOption(sizes.backlogFill)
    )
    // In --processes mode a create only queued the request: wait for the orchestration to create them.
    const requested = yield* Ref.get(sent)
    yield* counts(driver, cost).pipe(
      Effect.repeat({ until: (c) => c.created >= requested, schedule: Schedule.spaced("500 millis") }),
      Effect.timeoutOption("5 minutes")
    )
    const fillSeconds = (now() - fillStart) / 1000
    const created = (yield* sample(fillStart, fillTimeline)).created
    const rssAfterFill = yield* rss.current

    // Drain: start the workers, watch every second until all created tasks completed or the budget ran out.
    const drainStart = now()
    yield* driver.startWorkers
    const drainTimeline: Array<BacklogSample> = []
    const drained = yield* sample(drainStart, drainTimeline).pipe(
      Effect.repeat({ until: (c) => c.completed >= created, schedule: Schedule.spaced("1 second") }),
      Effect.timeoutOption(sizes.backlogDrain)
    )
    const drainSeconds = (now() - drainStart) / 1000
    const completed = drainTimeline.at(-1)?.completed ?? 0
    const reasons = [
      ...(filled._tag === "None" ? [`created ${created} of ${target} within the ${minutes(sizes.backlogFill)} fill budget`] : []),
      ...(drained._tag === "None" ? [`completed ${completed} of ${created} within the ${minutes(sizes.backlogDrain)} drain budget`] : [])
    ]
    return {
      scenario: name,
      description: `${target} waiting single-step tasks, then drained`,
      stepsPerTask: 1,
      stages: 1,
      status: reasons.length === 0 ? "ok" : "incomplete",
      ...(reasons.length === 0 ? {} : { reason: reasons.join("; ") }),
      throughput: {
        tasks: completed,
        inFlight: created,
        seconds: drainSeconds,
        tasksPerSecond: completed / drainSeconds,
        stepsPerSecond: completed / drainSeconds
      },
      cost: yield* cost.delta(before, Math.max(1, completed)),
      peakRssBytes: yield* rss.peaks,
      backlog: { target, created, fillSeconds, drainSeconds, completed, rssBeforeFill, rssAfterFill, fillTimeline, drainTimeline }
    } satisfies ScenarioResult
  }).pipe(
    Effect.catchTag("BenchError", (error) =>
      Effect.succeed({
        scenario: "backlog",
        description: `${sizes.backlog} waiting tasks, then drained`,
        stepsPerTask: 1,
        stages: 1,
        status: "error",
        reason: error.message
      } satisfies ScenarioResult))
  )
