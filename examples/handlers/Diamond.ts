/**
 * Handlers of `examples/templates/diamond.yaml` (namespace `demo`): one number flows down two
 * parallel branches (an Effect one and an async one) and the join adds their results.
 * Task context: `{ "value": number }`.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import { HandlerRegistry } from "../../src/worker/HandlerRegistry.ts"
import { StepHandler } from "../../src/worker/StepHandler.ts"

const Input = Schema.Struct({ value: Schema.Finite })
const Value = Schema.Struct({ value: Schema.Finite })

/** `demo.DiamondStart`: passes the context's value on. */
export const DiamondStart = StepHandler.effect((ctx) => Effect.succeed({ value: ctx.input.value }), { input: Input })

/** `demo.DiamondLeft` (Effect): doubles it. */
export const DiamondLeft = StepHandler.effect((ctx) =>
  Effect.map(StepHandler.dependency(ctx, "diamond_start", Value), ({ value }) => ({ value: value * 2 }))
)

/** `demo.DiamondRight` (async): adds ten. */
export const DiamondRight = StepHandler.promise(async (ctx) => {
  const { value } = StepHandler.dependencySync(ctx, "diamond_start", Value)
  return { value: value + 10 }
})

/** `demo.DiamondJoin`: sums both branches. */
export const DiamondJoin = StepHandler.effect((ctx) =>
  Effect.gen(function*() {
    const left = yield* StepHandler.dependency(ctx, "diamond_left", Value)
    const right = yield* StepHandler.dependency(ctx, "diamond_right", Value)
    return { left: left.value, right: right.value, value: left.value + right.value }
  })
)

/** @category registries @since 0.1.0 */
export const diamondHandlers = HandlerRegistry.make({
  "demo.DiamondStart": DiamondStart,
  "demo.DiamondLeft": DiamondLeft,
  "demo.DiamondRight": DiamondRight,
  "demo.DiamondJoin": DiamondJoin
})
