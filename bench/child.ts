/**
 * What the `--processes` children share: the lines they print for the bench (`BENCH_READY` once
 * their layers are up, `BENCH_RSS <bytes>` every 100 ms) and how they run (`NodeRuntime.runMain`,
 * so SIGTERM closes their layers in order).
 *
 * @since 0.1.0
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, References, Schedule } from "effect"

const ReportLive = Layer.effectDiscard(Effect.gen(function*() {
  yield* Effect.sync(() => process.stdout.write(`BENCH_RSS ${process.memoryUsage.rss()}\n`)).pipe(
    Effect.repeat(Schedule.spaced("100 millis")),
    Effect.forkScoped
  )
  yield* Effect.sync(() => process.stdout.write("BENCH_READY\n"))
}))

/** Runs `main` until SIGTERM, announcing readiness once it is built. */
export const runChild = <A, E>(main: Layer.Layer<A, E, never>) =>
  NodeRuntime.runMain(Layer.launch(ReportLive.pipe(Layer.provide(main))).pipe(
    Effect.provideService(References.MinimumLogLevel, "Warn")
  ))
