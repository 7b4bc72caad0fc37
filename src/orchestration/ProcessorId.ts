/**
 * This orchestrator instance's id, generated when the layer is built. It is recorded as
 * `processor_uuid` on every task transition the instance makes: audit only, never an ownership
 * lock, so any instance may continue any task (REFERENCE 3.3, TAS-54).
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import { Context, Effect, Layer } from "effect"
import { ProcessorUuid } from "../domain/Ids.ts"

/**
 * @category services
 * @since 0.1.0
 */
export class ProcessorId extends Context.Service<ProcessorId, {
  readonly uuid: ProcessorUuid
}>()("tasker/orchestration/ProcessorId") {
  /** A fresh random id per build of the layer (one per orchestrator process). */
  static readonly layer = Layer.effect(ProcessorId, Effect.sync(() => ProcessorId.of({ uuid: ProcessorUuid.make(randomUUID()) })))

  /** A fixed id (tests, or a host app that names its instances). */
  static readonly layerWith = (uuid: string) => Layer.succeed(ProcessorId, ProcessorId.of({ uuid: ProcessorUuid.make(uuid) }))
}
