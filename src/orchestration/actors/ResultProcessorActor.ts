/** ResultProcessorActor (seed `result_processor_actor.rs`): hydrated step results → ResultProcessor. */
import { Context, Effect, Layer } from "effect"
import type { HydratedStepResult } from "../hydration/StepResultHydrator.ts"
import { ResultProcessor, type StepResultOutcome } from "../lifecycle/result-processing/ResultProcessor.ts"
import { actorLifecycle, type OrchestrationActor } from "./OrchestrationActor.ts"

export interface ProcessStepResultMessage {
  readonly result: HydratedStepResult
}

export class ResultProcessorActor extends Context.Service<ResultProcessorActor, OrchestrationActor & {
  handle(msg: ProcessStepResultMessage): Effect.Effect<StepResultOutcome>
}>()("tasker/orchestration/actors/ResultProcessorActor") {
  static readonly layer = Layer.effect(
    ResultProcessorActor,
    Effect.gen(function*() {
      yield* actorLifecycle("ResultProcessorActor")
      const processor = yield* ResultProcessor
      return ResultProcessorActor.of({ name: "ResultProcessorActor", handle: (msg) => processor.process(msg.result) })
    })
  )
}
