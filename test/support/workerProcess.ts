/**
 * A worker process for tests: `node test/support/workerProcess.ts <namespace> [database url]`
 * (or `TASKER_WORKER_NAMESPACE` / `DATABASE_URL` in the environment). It runs
 * `Worker.layerStandalone` for that namespace with settings from the environment
 * (`TASKER_WORKER_VISIBILITY_TIMEOUT`, ...) and one handler, `crash.Sleep`, that sleeps for ten
 * minutes: a step it claims stays `in_progress` until the process is killed.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { HandlerRegistry } from "../../src/worker/HandlerRegistry.ts"
import { StepHandler } from "../../src/worker/StepHandler.ts"
import { Worker } from "../../src/worker/Worker.ts"

const [namespace = process.env.TASKER_WORKER_NAMESPACE, url] = process.argv.slice(2)
if (url !== undefined) process.env.DATABASE_URL = url
if (namespace === undefined || process.env.DATABASE_URL === undefined) {
  console.error("usage: node test/support/workerProcess.ts <namespace> [database url]")
  process.exit(2)
}

const handlers = HandlerRegistry.make({
  "crash.Sleep": StepHandler.effect(() => Effect.as(Effect.sleep("10 minutes"), { slept: true }))
})

NodeRuntime.runMain(Layer.launch(Worker.layerStandalone({ handlers, namespaces: [namespace] })))
