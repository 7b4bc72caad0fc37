/**
 * The request-validation middlewares of the API definition. The HTTP API runtime answers a request
 * that fails decoding with an empty 400; these turn that into typed JSON errors that name the field:
 *
 * - `TaskRequestValidation` (on `POST /v1/tasks` only): the body decoded with the domain
 *   `TaskRequest` schema fails as the domain `InvalidTaskRequest` with its `path`.
 * - `RequestValidation` (every route): any other params / query / payload failure is `InvalidRequest`.
 *
 * They are declared here, apart from their server implementation (src/api/server/Validation.ts), so
 * the typed client knows both errors.
 *
 * @since 0.1.0
 */
import { HttpApiMiddleware } from "effect/http-api"
import { InvalidTaskRequest } from "../domain/Errors.ts"
import { InvalidRequest } from "./ApiSchemas.ts"

/** @category middleware @since 0.1.0 */
export class RequestValidation extends HttpApiMiddleware.Service<RequestValidation>()(
  "tasker/api/RequestValidation",
  { error: InvalidRequest }
) {}

/** @category middleware @since 0.1.0 */
export class TaskRequestValidation extends HttpApiMiddleware.Service<TaskRequestValidation>()(
  "tasker/api/TaskRequestValidation",
  { error: InvalidTaskRequest }
) {}
