/**
 * The task-readiness event system (REFERENCE 5.4): there is no database trigger for "a step
 * became ready" after a backoff elapsed or an operator acted, so a poller runs discovery every
 * `readinessPollInterval` (PollingOnly and Hybrid), guarded by the task-readiness circuit breaker:
 * while it is open, cycles are skipped. Retry wake-ups at `next_retry_at` come from the command
 * processor's timers; this poller is the safety net (and covers restarts).
 */
import { Effect, Layer, Schedule } from "effect"
import { TaskerConfig } from "../../config/TaskerConfig.ts"
import { CommandProcessor } from "../CommandProcessor.ts"
import { OrchestrationCommand } from "../commands/OrchestrationCommand.ts"
import { CircuitBreakers } from "../resilience/CircuitBreakers.ts"

export const TaskReadinessEventsLive = Layer.effectDiscard(Effect.gen(function*() {
  const config = yield* TaskerConfig
  const processor = yield* CommandProcessor
  const breakers = yield* CircuitBreakers
  const mode = config.orchestration.readinessDeploymentMode
  if (mode === "Disabled" || mode === "EventDrivenOnly") return

  const cycle = breakers.taskReadiness.protect(processor.submit(OrchestrationCommand.ProcessTaskReadiness({}))).pipe(
    Effect.catchTag("CircuitOpen", () => Effect.logDebug("readiness cycle skipped: circuit open")),
    Effect.catchCause((cause) => Effect.logError("readiness cycle failed", cause))
  )
  yield* cycle.pipe(Effect.repeat(Schedule.spaced(config.orchestration.readinessPollInterval)), Effect.forkScoped)
  yield* Effect.logDebug(`task readiness events started (${mode})`)
}))
