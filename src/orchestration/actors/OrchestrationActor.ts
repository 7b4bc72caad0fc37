/**
 * The actor contract (seed `actors/traits.rs`): an actor is a `Context.Service` with a typed
 * `handle` per message, built by a Layer. `started` runs when the layer is built and `stopped`
 * when its scope closes, so an actor's lifetime is exactly its layer's.
 */
import { Effect, type Scope } from "effect"

export interface OrchestrationActor {
  readonly name: string
}

/** Registers the actor's `started`/`stopped` hooks in the building layer's scope. */
export const actorLifecycle = (name: string): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.logDebug(`actor ${name} started`),
    () => Effect.logDebug(`actor ${name} stopped`)
  )
