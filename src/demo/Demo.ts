/**
 * The whole system in one process, as `npm start` and `tasker demo` run it. With `DATABASE_URL`
 * unset, an embedded PostgreSQL keeps its data in `.tasker/` (TASKER_DATA_DIR) and is reused by
 * the next start. It migrates, runs the orchestration service, the REST API and a worker with the
 * example templates, submits sample tasks and prints where to look. Closing the layer (Ctrl-C)
 * closes every part in order, database last.
 *
 * @since 0.1.0
 */
import { fileURLToPath } from "node:url"
import { Layer } from "effect"
import { exampleHandlers } from "../../examples/handlers/index.ts"
import * as ApiServer from "../api/ApiServer.ts"
import * as OrchestrationCore from "../orchestration/OrchestrationCore.ts"
import { Worker } from "../worker/Worker.ts"
import { SampleTasksLive } from "./SampleTasks.ts"

/** The example templates shipped with the repository. @category constants @since 0.1.0 */
export const exampleTemplatesDir = fileURLToPath(new URL("../../examples/templates", import.meta.url))

/**
 * Orchestration, REST API, an example worker and the sample tasks, over `DATABASE_URL` or the
 * embedded database.
 *
 * @category layers
 * @since 0.1.0
 */
export const MainLive = SampleTasksLive.pipe(
  Layer.provideMerge(Layer.mergeAll(
    ApiServer.layer,
    Worker.layer({ handlers: exampleHandlers, templatesDir: exampleTemplatesDir })
  )),
  Layer.provideMerge(OrchestrationCore.layerStandalone)
)
