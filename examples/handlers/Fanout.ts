/**
 * Handlers of `examples/templates/fanout.yaml` (namespace `demo`): split a list of numbers into
 * shards, process every shard in parallel with one handler configured per step
 * (`handler.initialization.shard`), merge the partial sums. Task context: `{ "numbers": number[] }`.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import { HandlerRegistry } from "../../src/worker/HandlerRegistry.ts"
import { PermanentError } from "../../src/worker/ErrorClassification.ts"
import { StepHandler } from "../../src/worker/StepHandler.ts"

const Numbers = Schema.Struct({ numbers: Schema.Array(Schema.Finite) })
const Split = Schema.Struct({ shards: Schema.Array(Schema.Array(Schema.Finite)) })
const ShardSummary = Schema.Struct({ shard: Schema.Int, count: Schema.Int, sum: Schema.Finite, sum_of_squares: Schema.Finite })
const ShardCount = Schema.Int.check(Schema.isGreaterThan(0))

/** `demo.FanoutSplit`: deals the numbers round-robin into `config.shards` shards. */
export const FanoutSplit = StepHandler.effect(
  (ctx) =>
    Effect.succeed({
      shards: Array.from({ length: ctx.config.shards }, (_, shard) =>
        ctx.input.numbers.filter((_, i) => i % ctx.config.shards === shard))
    }),
  { input: Numbers, config: Schema.Struct({ shards: ShardCount }), output: Split }
)

/** `demo.FanoutProcessShard`: summarizes shard `config.shard` of the split. */
export const FanoutProcessShard = StepHandler.effect(
  (ctx) =>
    Effect.gen(function*() {
      const { shards } = yield* StepHandler.dependency(ctx, "fanout_split", Split)
      const numbers = shards[ctx.config.shard]
      if (numbers === undefined) {
        return yield* new PermanentError({ message: `the split has no shard ${ctx.config.shard}` })
      }
      return {
        shard: ctx.config.shard,
        count: numbers.length,
        sum: numbers.reduce((a, b) => a + b, 0),
        sum_of_squares: numbers.reduce((a, b) => a + b * b, 0)
      }
    }),
  { config: Schema.Struct({ shard: Schema.Int }), output: ShardSummary }
)

/** `demo.FanoutMerge`: adds up the summaries of every `fanout_shard_*` dependency. */
export const FanoutMerge = StepHandler.effect((ctx) =>
  Effect.gen(function*() {
    const names = Object.keys(ctx.dependencyResults).filter((name) => name.startsWith("fanout_shard_")).sort()
    const summaries = yield* Effect.forEach(names, (name) => StepHandler.dependency(ctx, name, ShardSummary))
    return {
      shards: summaries.length,
      count: summaries.reduce((a, s) => a + s.count, 0),
      sum: summaries.reduce((a, s) => a + s.sum, 0),
      sum_of_squares: summaries.reduce((a, s) => a + s.sum_of_squares, 0)
    }
  })
)

/** @category registries @since 0.1.0 */
export const fanoutHandlers = HandlerRegistry.make({
  "demo.FanoutSplit": FanoutSplit,
  "demo.FanoutProcessShard": FanoutProcessShard,
  "demo.FanoutMerge": FanoutMerge
})
