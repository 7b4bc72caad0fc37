/**
 * The Tasker REST API definition (REFERENCE 9, 6.8), shared by the server (src/api/server) and the
 * typed client (src/client/TaskerClient.ts) and the source of the OpenAPI document. One group per
 * concern, each in src/api/groups; every route answers request-decoding failures with a typed 400.
 *
 * @since 0.1.0
 */
import { HttpApi, OpenApi } from "effect/http-api"
import { AnalyticsApi } from "./groups/AnalyticsApi.ts"
import { DlqApi } from "./groups/DlqApi.ts"
import { HealthApi } from "./groups/HealthApi.ts"
import { StepsApi } from "./groups/StepsApi.ts"
import { TasksApi } from "./groups/TasksApi.ts"
import { TemplatesApi } from "./groups/TemplatesApi.ts"
import { RequestValidation } from "./RequestValidation.ts"

/** @category api @since 0.1.0 */
export class TaskerApi extends HttpApi.make("tasker")
  .add(TasksApi, StepsApi, TemplatesApi, AnalyticsApi, DlqApi, HealthApi)
  .middleware(RequestValidation)
  .annotateMerge(OpenApi.annotations({
    title: "Tasker API",
    version: "0.1.0",
    description: "Tasker: a PostgreSQL-backed DAG workflow orchestration engine. " +
      "Routes under /v1; health and metrics are public. Authentication is not enabled (see docs/api.md)."
  }))
{}
