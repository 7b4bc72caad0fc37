/**
 * The `templates` group (REFERENCE 9): registered namespaces and template versions, under `/v1`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import { TemplateNotFound } from "../../domain/Errors.ts"
import { TemplateDetailResponse, TemplateListResponse } from "../schemas/TemplateSchemas.ts"

/** @category groups @since 0.1.0 */
export class TemplatesApi extends HttpApiGroup.make("templates")
  .add(
    HttpApiEndpoint.get("list", "/templates", {
      query: { namespace: Schema.optional(Schema.String) },
      success: TemplateListResponse
    }).annotateMerge(OpenApi.annotations({ summary: "List namespaces and template versions" })),
    HttpApiEndpoint.get("get", "/templates/:namespace/:name/:version", {
      params: { namespace: Schema.String, name: Schema.String, version: Schema.String },
      success: TemplateDetailResponse,
      error: TemplateNotFound
    }).annotateMerge(OpenApi.annotations({ summary: "Get one template version with its steps" }))
  )
  .prefix("/v1")
  .annotateMerge(OpenApi.annotations({ title: "templates", description: "The template registry" }))
{}
