/**
 * Server implementations of the request-validation middlewares (src/api/RequestValidation.ts): a
 * request-decoding failure becomes a typed 400 naming the field, instead of the runtime's empty
 * 400. Response-encoding failures are left alone (a defect: 500).
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import { HttpApiMiddleware } from "effect/http-api"
import { formatSchemaError, InvalidTaskRequest, schemaIssueEntries } from "../../domain/Errors.ts"
import { InvalidRequest } from "../ApiSchemas.ts"
import { RequestValidation, TaskRequestValidation } from "../RequestValidation.ts"

const locations = { Params: "params", Query: "query", Payload: "payload", Headers: "headers" } as const

/** @category layers @since 0.1.0 */
export const RequestValidationLive = HttpApiMiddleware.layerSchemaErrorTransform(RequestValidation, (error) => {
  if (error.kind === "Body" || error.kind === "ResponseHeaders") return Effect.fail(error)
  const [first] = schemaIssueEntries(error.cause)
  return Effect.fail(new InvalidRequest({
    location: locations[error.kind],
    path: first?.path ?? "",
    message: formatSchemaError(error.cause)
  }))
})

/** `POST /v1/tasks`: the body failed the domain `TaskRequest` schema. @category layers @since 0.1.0 */
export const TaskRequestValidationLive = HttpApiMiddleware.layerSchemaErrorTransform(
  TaskRequestValidation,
  (error) => error.kind === "Payload" ? Effect.fail(InvalidTaskRequest.fromSchemaError(error.cause)) : Effect.fail(error)
)

/** Both middlewares. @category layers @since 0.1.0 */
export const ValidationLive = Layer.mergeAll(RequestValidationLive, TaskRequestValidationLive)
