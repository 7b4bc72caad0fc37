/**
 * Retry wake-ups (DESIGN 4.5): a step waiting for a retry wakes its task at `next_retry_at`
 * instead of at the next readiness poll. One timer fiber per step in a FiberMap owned by the
 * caller's scope; a newer schedule for the same step replaces the older one. Timers are a
 * latency optimisation only: after a restart the readiness poller finds the same work.
 */
import { Duration, Effect, FiberMap, type Scope } from "effect"

export interface RetryWakeups {
  schedule(taskUuid: string, stepUuid: string, delaySeconds: number): Effect.Effect<void>
  readonly pending: Effect.Effect<number>
}

export const make = (wake: (taskUuid: string) => Effect.Effect<unknown>): Effect.Effect<RetryWakeups, never, Scope.Scope> =>
  Effect.gen(function*() {
    const timers = yield* FiberMap.make<string>()
    return {
      schedule: (taskUuid, stepUuid, delaySeconds) =>
        FiberMap.run(timers, stepUuid)(
          Effect.sleep(Duration.seconds(Math.max(0, delaySeconds))).pipe(
            Effect.andThen(wake(taskUuid)),
            Effect.catchCause((cause) => Effect.logError("retry wake-up failed", cause))
          )
        ).pipe(Effect.asVoid),
      pending: FiberMap.size(timers)
    }
  })
