/**
 * `npm start`: the whole system in one process. With `DATABASE_URL` unset, an embedded PostgreSQL
 * keeps its data in `.tasker/` (TASKER_DATA_DIR) and is reused by the next start. It migrates,
 * runs the orchestration service, the REST API and a worker with the example templates, submits
 * sample tasks and prints where to look. Ctrl-C closes every layer in order, database last.
 */
import { fileURLToPath } from "node:url"
import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import { exampleHandlers } from "../examples/handlers/index.ts"
import * as ApiServer from "./api/ApiServer.ts"
import { SampleTasksLive } from "./demo/SampleTasks.ts"
import * as OrchestrationCore from "./orchestration/OrchestrationCore.ts"
import { Worker } from "./worker/Worker.ts"

const templatesDir = fileURLToPath(new URL("../examples/templates", import.meta.url))

const MainLive = SampleTasksLive.pipe(
  Layer.provideMerge(Layer.mergeAll(
    ApiServer.layer,
    Worker.layer({ handlers: exampleHandlers, templatesDir })
  )),
  Layer.provideMerge(OrchestrationCore.layerStandalone)
)

NodeRuntime.runMain(Layer.launch(MainLive))
