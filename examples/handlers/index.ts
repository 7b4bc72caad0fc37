/**
 * Every example handler in one registry, for `examples/templates/*.yaml`:
 *
 * ```ts
 * Worker.layer({ handlers: exampleHandlers, templatesDir: "examples/templates" })
 * ```
 *
 * @since 0.1.0
 */
import { HandlerRegistry } from "../../src/worker/HandlerRegistry.ts"
import { diamondHandlers } from "./Diamond.ts"
import { fanoutHandlers } from "./Fanout.ts"
import { orderFulfillmentHandlers } from "./OrderFulfillment.ts"

export { diamondHandlers } from "./Diamond.ts"
export { fanoutHandlers } from "./Fanout.ts"
export { orderFulfillmentHandlers } from "./OrderFulfillment.ts"

/** @category registries @since 0.1.0 */
export const exampleHandlers = HandlerRegistry.merge(orderFulfillmentHandlers, diamondHandlers, fanoutHandlers)
