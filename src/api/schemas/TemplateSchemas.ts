/**
 * Response schemas of the template routes (REFERENCE 9): the registry's namespaces and template
 * versions, and one template with its configuration and steps.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { JsonObject } from "../../domain/Ids.ts"

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** @category schemas @since 0.1.0 */
export const NamespaceInfo = Schema.Struct({
  name: Schema.String,
  description: Schema.NullOr(Schema.String),
  template_count: Count
}).annotate({ identifier: "NamespaceInfo" })

/** @category schemas @since 0.1.0 */
export const TemplateInfo = Schema.Struct({
  name: Schema.String,
  namespace: Schema.String,
  version: Schema.String,
  description: Schema.NullOr(Schema.String),
  step_count: Count
}).annotate({ identifier: "TemplateInfo" })

/** `GET /v1/templates`. @category schemas @since 0.1.0 */
export const TemplateListResponse = Schema.Struct({
  namespaces: Schema.Array(NamespaceInfo),
  templates: Schema.Array(TemplateInfo),
  total_count: Count
}).annotate({ identifier: "TemplateListResponse" })
/** @category models @since 0.1.0 */
export type TemplateListResponse = typeof TemplateListResponse.Type

/** @category schemas @since 0.1.0 */
export const TemplateStepInfo = Schema.Struct({
  name: Schema.String,
  description: Schema.NullOr(Schema.String),
  default_retryable: Schema.Boolean,
  default_max_attempts: Count,
  result_schema: Schema.NullOr(Schema.Json)
}).annotate({ identifier: "TemplateStepInfo" })

/** `GET /v1/templates/{namespace}/{name}/{version}`: `configuration` is the registered template. @category schemas @since 0.1.0 */
export const TemplateDetailResponse = Schema.Struct({
  name: Schema.String,
  namespace: Schema.String,
  version: Schema.String,
  description: Schema.NullOr(Schema.String),
  configuration: JsonObject,
  steps: Schema.Array(TemplateStepInfo)
}).annotate({ identifier: "TemplateDetailResponse" })
/** @category models @since 0.1.0 */
export type TemplateDetailResponse = typeof TemplateDetailResponse.Type
