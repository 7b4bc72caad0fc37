/**
 * The ActorRegistry (seed `actors/registry.rs`): the six lifecycle actors, built once, with their
 * started/stopped hooks tied to this layer's scope. The command processor routes through it.
 */
import { Context, Effect, Layer } from "effect"
import { BatchProcessingActor, DecisionPointActor } from "./DynamicStepActors.ts"
import { ResultProcessorActor } from "./ResultProcessorActor.ts"
import { StepEnqueuerActor } from "./StepEnqueuerActor.ts"
import { TaskFinalizerActor } from "./TaskFinalizerActor.ts"
import { TaskRequestActor } from "./TaskRequestActor.ts"

export class ActorRegistry extends Context.Service<ActorRegistry, {
  readonly taskRequest: TaskRequestActor["Service"]
  readonly resultProcessor: ResultProcessorActor["Service"]
  readonly stepEnqueuer: StepEnqueuerActor["Service"]
  readonly taskFinalizer: TaskFinalizerActor["Service"]
  readonly decisionPoint: DecisionPointActor["Service"]
  readonly batchProcessing: BatchProcessingActor["Service"]
  /** Names of the registered actors, for health and logs. */
  readonly names: ReadonlyArray<string>
}>()("tasker/orchestration/actors/ActorRegistry") {
  /** The registry over actor services provided from outside (see `layer`). */
  static readonly layerNoDeps = Layer.effect(
    ActorRegistry,
    Effect.gen(function*() {
      const actors = {
        taskRequest: yield* TaskRequestActor,
        resultProcessor: yield* ResultProcessorActor,
        stepEnqueuer: yield* StepEnqueuerActor,
        taskFinalizer: yield* TaskFinalizerActor,
        decisionPoint: yield* DecisionPointActor,
        batchProcessing: yield* BatchProcessingActor
      }
      yield* Effect.logDebug("actor registry started with 6 actors")
      return ActorRegistry.of({
        ...actors,
        names: [
          "TaskRequestActor",
          "ResultProcessorActor",
          "StepEnqueuerActor",
          "TaskFinalizerActor",
          "DecisionPointActor",
          "BatchProcessingActor"
        ]
      })
    })
  )

  /** The four lifecycle actors built here; the two dynamic-step actors come from their own layers. */
  static readonly layer = ActorRegistry.layerNoDeps.pipe(
    Layer.provideMerge(Layer.mergeAll(
      TaskRequestActor.layer,
      ResultProcessorActor.layer,
      StepEnqueuerActor.layer,
      TaskFinalizerActor.layer
    ))
  )
}
