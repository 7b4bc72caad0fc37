/**
 * What commands answer (REFERENCE 6.1), the processor's counters, and the system health report.
 */
import { Data } from "effect"
import type { IdempotencyKeyRequired, InvalidMessage, TaskConflict, TemplateNotFound } from "../../domain/Errors.ts"
import type { ReadinessCycle, TaskAdvanced } from "../lifecycle/step-enqueuer/StepEnqueuer.ts"
import type { FinalizationResult } from "../lifecycle/task-finalization/TaskFinalizer.ts"
import type { TaskInitialized } from "../lifecycle/task-initialization/TaskInitializer.ts"
import type { StepResultOutcome } from "../lifecycle/result-processing/ResultProcessor.ts"

export type TaskInitializeResult = Data.TaggedEnum<{
  Success: { readonly task: TaskInitialized }
  Failed: { readonly error: TemplateNotFound | TaskConflict | IdempotencyKeyRequired | InvalidMessage }
  Skipped: { readonly reason: string }
}>
export const TaskInitializeResult = Data.taggedEnum<TaskInitializeResult>()

export type StepProcessResult = Data.TaggedEnum<{
  Success: { readonly outcome: StepResultOutcome }
  Failed: { readonly error: string }
  Skipped: { readonly reason: string }
}>
export const StepProcessResult = Data.taggedEnum<StepProcessResult>()

export type TaskFinalizationResult = Data.TaggedEnum<{
  Success: { readonly result: FinalizationResult }
  NotClaimed: { readonly reason: string }
  Failed: { readonly error: string }
}>
export const TaskFinalizationResult = Data.taggedEnum<TaskFinalizationResult>()

export type ReadinessResult = Data.TaggedEnum<{
  Task: { readonly advanced: TaskAdvanced }
  Cycle: { readonly cycle: ReadinessCycle }
  Failed: { readonly error: string }
}>
export const ReadinessResult = Data.taggedEnum<ReadinessResult>()

/** Counters of the command processor (REFERENCE 6.1 GetProcessingStats, plus ours). */
export interface OrchestrationProcessingStats {
  readonly taskRequestsProcessed: number
  readonly stepResultsProcessed: number
  readonly tasksFinalized: number
  readonly readinessCommandsProcessed: number
  readonly processingErrors: number
  /** Messages that could not be decoded or named nothing that exists: archived with their error. */
  readonly invalidMessagesArchived: number
  readonly commandsQueued: number
  readonly commandsInFlight: number
  readonly commandChannelSaturation: number
}

export type QueueDepthTier = "Normal" | "Warning" | "Critical" | "Overflow"

/** REFERENCE 6.1 HealthCheck / 6.6: the cached evaluation of the health evaluator. */
export interface SystemHealth {
  readonly status: "healthy" | "degraded" | "unhealthy"
  readonly databaseConnected: boolean
  readonly messageQueuesHealthy: boolean
  readonly activeProcessors: number
  readonly circuitBreakerOpen: boolean
  readonly circuitBreakerFailures: number
  readonly commandChannelSaturationPercent: number
  readonly backpressureActive: boolean
  readonly backpressureReason?: string
  readonly retryAfterSeconds?: number
  readonly queueDepthTier: QueueDepthTier
  readonly queueDepthMax: number
  readonly queueDepthWorstQueue?: string
  readonly healthEvaluated: boolean
  readonly evaluatedAt?: string
}

export type CommandResult =
  | { readonly _tag: "TaskInitialize"; readonly result: TaskInitializeResult }
  | { readonly _tag: "StepProcess"; readonly result: StepProcessResult }
  | { readonly _tag: "TaskFinalization"; readonly result: TaskFinalizationResult }
  | { readonly _tag: "Readiness"; readonly result: ReadinessResult }
  | { readonly _tag: "Stats"; readonly stats: OrchestrationProcessingStats }
  | { readonly _tag: "Health"; readonly health: SystemHealth }
  | { readonly _tag: "Acknowledged" }
