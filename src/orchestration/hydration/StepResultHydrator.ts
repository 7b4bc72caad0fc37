/**
 * Step result hydration (REFERENCE 6.1): a `StepMessage` from `orchestration_step_results` →
 * the step row → its stored `StepExecutionResult`, decoded with Schema. A payload that does not
 * decode, names an unknown step, or points at a step without results is an `InvalidMessage`: the
 * caller archives it with the error instead of retrying it forever.
 */
import { Context, type Effect } from "effect"
import type { InvalidMessage } from "../../domain/Errors.ts"
import type { StepMessage } from "../../domain/Messages.ts"
import type { StepExecutionResult } from "../../domain/StepExecutionResult.ts"
import type { StepState } from "../../domain/StepState.ts"

export interface HydratedStepResult {
  readonly message: StepMessage
  readonly stepUuid: string
  readonly taskUuid: string
  readonly stepName: string
  /** The template's step type (standard, decision, batchable, …). */
  readonly stepType: string
  readonly state: StepState
  readonly attempts: number
  readonly maxAttempts: number
  readonly retryable: boolean
  readonly result: StepExecutionResult
}

export class StepResultHydrator extends Context.Service<StepResultHydrator, {
  /** From a raw queue payload (jsonb already parsed). */
  hydrate(payload: unknown): Effect.Effect<HydratedStepResult, InvalidMessage>
  /** From a step uuid (the in-process path, no queue message). */
  hydrateStep(stepUuid: string): Effect.Effect<HydratedStepResult, InvalidMessage>
}>()("tasker/orchestration/hydration/StepResultHydrator") {}
