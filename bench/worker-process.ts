/**
 * A worker of `npm run bench -- --processes`: `Worker.layerStandalone` serving the `bench`
 * namespace with the scenarios' templates and trivial handlers, settings from the environment the
 * bench passes (`DATABASE_URL` = the bench database, `BENCH_WORKER_ID`).
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import { Worker } from "../src/worker/Worker.ts"
import { runChild } from "./child.ts"
import { parsedTemplates } from "./driver.ts"
import { handlers, namespace } from "./scenarios.ts"

runChild(Layer.unwrap(Effect.map(parsedTemplates, (templates) =>
  Worker.layerStandalone({
    handlers,
    templates,
    namespaces: [namespace],
    workerId: process.env.BENCH_WORKER_ID ?? "bench-worker"
  }))))
