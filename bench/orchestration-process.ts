/**
 * The orchestration service of `npm run bench -- --processes`: `OrchestrationCore.layerStandalone`
 * with settings from the environment the bench passes (`DATABASE_URL` = the bench database).
 *
 * @since 0.1.0
 */
import * as OrchestrationCore from "../src/orchestration/OrchestrationCore.ts"
import { runChild } from "./child.ts"

runChild(OrchestrationCore.layerStandalone)
