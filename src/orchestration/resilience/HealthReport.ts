/**
 * The latest SystemHealth evaluation, shared between the evaluator that writes it every few
 * seconds and its readers (the HealthCheck command, the API's backpressure gate, /health).
 */
import { Context, Effect, Layer, Ref } from "effect"
import type { SystemHealth } from "../commands/CommandResults.ts"

export const notYetEvaluated: SystemHealth = {
  status: "healthy",
  databaseConnected: true,
  messageQueuesHealthy: true,
  activeProcessors: 0,
  circuitBreakerOpen: false,
  circuitBreakerFailures: 0,
  commandChannelSaturationPercent: 0,
  backpressureActive: false,
  queueDepthTier: "Normal",
  queueDepthMax: 0,
  healthEvaluated: false
}

export class HealthReport extends Context.Service<HealthReport, {
  readonly current: Effect.Effect<SystemHealth>
  update(health: SystemHealth): Effect.Effect<void>
}>()("tasker/orchestration/resilience/HealthReport") {
  static readonly layer = Layer.effect(
    HealthReport,
    Effect.map(Ref.make(notYetEvaluated), (ref) =>
      HealthReport.of({ current: Ref.get(ref), update: (health) => Ref.set(ref, health) }))
  )
}
