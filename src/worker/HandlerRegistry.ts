/**
 * Handlers by the template's `handler.callable` (REFERENCE 10: the resolver key):
 *
 * ```ts
 * const handlers = HandlerRegistry.make({ "ecommerce.ValidateOrder": ValidateOrder, "ecommerce.ShipOrder": ShipOrder })
 * const all = HandlerRegistry.merge(handlers, moreHandlers)
 * ```
 *
 * A registry is an immutable value; `R` is the union of what its handlers need from the host
 * (the worker layer requires it). A step whose callable has no handler fails permanently.
 *
 * @since 0.1.0
 */
import { Option } from "effect"
import type { StepHandler } from "./StepHandler.ts"

const TypeId = "~tasker/worker/HandlerRegistry" as const

/** @category models @since 0.1.0 */
export interface HandlerRegistry<R = never> {
  readonly [TypeId]: typeof TypeId
  readonly handlers: ReadonlyMap<string, StepHandler<R>>
}

type RequirementsOf<H> = H extends StepHandler<infer R> ? R : never
type RegistryRequirements<X> = X extends HandlerRegistry<infer R> ? R : never

/**
 * A registry from a record of callables to handlers.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <const H extends Record<string, StepHandler<any>>>(
  handlers: H
): HandlerRegistry<RequirementsOf<H[keyof H]>> => ({
  [TypeId]: TypeId,
  handlers: new Map(Object.entries(handlers))
})

/** @category constructors @since 0.1.0 */
export const empty: HandlerRegistry = { [TypeId]: TypeId, handlers: new Map() }

/**
 * One registry with the handlers of all; a later registry's handler replaces an earlier one's for
 * the same callable.
 *
 * @category combinators
 * @since 0.1.0
 */
export const merge = <const Rs extends ReadonlyArray<HandlerRegistry<any>>>(
  ...registries: Rs
): HandlerRegistry<RegistryRequirements<Rs[number]>> => ({
  [TypeId]: TypeId,
  handlers: new Map(registries.flatMap((registry) => [...registry.handlers]))
})

/**
 * The handler of a callable.
 *
 * @category lookups
 * @since 0.1.0
 */
export const lookup = <R>(registry: HandlerRegistry<R>, callable: string | null): Option.Option<StepHandler<R>> =>
  callable === null ? Option.none() : Option.fromUndefinedOr(registry.handlers.get(callable))

/** The registered callables, sorted. @category lookups @since 0.1.0 */
export const callables = (registry: HandlerRegistry<unknown>): ReadonlyArray<string> => [...registry.handlers.keys()].sort()

/** @since 0.1.0 */
export const HandlerRegistry = { make, empty, merge, lookup, callables } as const
