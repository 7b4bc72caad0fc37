/**
 * The staleness detector (REFERENCE 4.5, 7.3; DESIGN 4.8): every `staleness.interval` it runs
 * `tasker.detect_and_transition_stale_tasks`, which sends tasks stuck in any non-terminal state
 * past their threshold (template `lifecycle` overrides or the configured defaults) to the DLQ and
 * to `error`. The SQL is idempotent under concurrent detectors: at most one pending DLQ entry per
 * task (partial unique index) and compare-and-swap transitions. `dryRun` only reports.
 */
import { Context, Effect, Layer, Schedule, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { TaskerConfig } from "../../config/TaskerConfig.ts"

export const StaleTaskAction = Schema.Struct({
  taskUuid: Schema.String,
  namespaceName: Schema.String,
  taskName: Schema.String,
  currentState: Schema.String,
  timeInStateMinutes: Schema.Number,
  stalenessThresholdMinutes: Schema.Number,
  actionTaken: Schema.String,
  movedToDlq: Schema.Boolean,
  transitionSuccess: Schema.Boolean
})
export type StaleTaskAction = typeof StaleTaskAction.Type

export class StalenessDetector extends Context.Service<StalenessDetector, {
  /** One detection pass; `dryRun` (default from config) reports what would happen and changes nothing. */
  detect(options?: { readonly dryRun?: boolean }): Effect.Effect<ReadonlyArray<StaleTaskAction>>
}>()("tasker/orchestration/event-systems/StalenessDetector") {
  static readonly layer = Layer.effect(
    StalenessDetector,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { staleness } = yield* TaskerConfig
      const run = SqlSchema.findAll({
        Request: Schema.Boolean,
        Result: StaleTaskAction,
        execute: (dryRun) =>
          sql`SELECT * FROM tasker.detect_and_transition_stale_tasks(
                ${dryRun}, ${staleness.batchSize}, ${staleness.waitingForDependenciesMinutes},
                ${staleness.waitingForRetryMinutes}, ${staleness.stepsInProcessMinutes}, ${staleness.maxLifetimeHours})`
      })
      return StalenessDetector.of({
        detect: Effect.fn("StalenessDetector.detect")(function*(options) {
          const actions = yield* run(options?.dryRun ?? staleness.dryRun).pipe(Effect.orDie)
          if (actions.length > 0) {
            yield* Effect.logWarning(`staleness: ${actions.length} task(s) acted on`).pipe(
              Effect.annotateLogs("actions", actions.map((a) => `${a.taskUuid}:${a.actionTaken}`).join(","))
            )
          }
          return actions
        })
      })
    })
  )
}

/** The periodic sweep, a fiber of this layer's scope. */
export const StalenessDetectorLive = Layer.effectDiscard(Effect.gen(function*() {
  const { staleness } = yield* TaskerConfig
  const detector = yield* StalenessDetector
  if (!staleness.enabled) return
  yield* detector.detect().pipe(
    Effect.catchCause((cause) => Effect.logError("staleness detection failed", cause)),
    Effect.repeat(Schedule.spaced(staleness.interval)),
    Effect.forkScoped
  )
}))
