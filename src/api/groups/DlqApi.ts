/**
 * The `dlq` group (REFERENCE 9, 8.4): the dead-letter investigation log, its statistics, the
 * prioritized investigation queue and the staleness monitor, under `/v1/dlq`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import { DlqEntryNotFound } from "../../domain/Errors.ts"
import { DlqEntryUuid, TaskUuid } from "../../domain/Ids.ts"
import { TaskNotInDlq } from "../ApiSchemas.ts"
import {
  DlqEntry,
  DlqInvestigationItem,
  DlqLimitQuery,
  DlqListQuery,
  DlqStats,
  DlqUpdateRequest,
  StalenessItem
} from "../schemas/DlqSchemas.ts"

/** @category groups @since 0.1.0 */
export class DlqApi extends HttpApiGroup.make("dlq")
  .add(
    HttpApiEndpoint.get("list", "/dlq", {
      query: DlqListQuery,
      success: Schema.Array(DlqEntry)
    }).annotateMerge(OpenApi.annotations({ summary: "List DLQ entries, newest first (limit 50, offset 0)" })),
    HttpApiEndpoint.get("getByTask", "/dlq/task/:task_uuid", {
      params: { task_uuid: TaskUuid },
      success: DlqEntry,
      error: TaskNotInDlq
    }).annotateMerge(OpenApi.annotations({ summary: "The latest DLQ entry of a task, with its snapshot" })),
    HttpApiEndpoint.patch("update", "/dlq/entry/:dlq_entry_uuid", {
      params: { dlq_entry_uuid: DlqEntryUuid },
      payload: DlqUpdateRequest,
      success: DlqEntry,
      error: DlqEntryNotFound
    }).annotateMerge(OpenApi.annotations({ summary: "Record the resolution of a DLQ entry" })),
    HttpApiEndpoint.get("stats", "/dlq/stats", {
      success: Schema.Array(DlqStats)
    }).annotateMerge(OpenApi.annotations({ summary: "Entries per reason by resolution status" })),
    HttpApiEndpoint.get("investigationQueue", "/dlq/investigation-queue", {
      query: DlqLimitQuery,
      success: Schema.Array(DlqInvestigationItem)
    }).annotateMerge(OpenApi.annotations({ summary: "Pending entries, most urgent first (limit 100)" })),
    HttpApiEndpoint.get("staleness", "/dlq/staleness", {
      query: DlqLimitQuery,
      success: Schema.Array(StalenessItem)
    }).annotateMerge(OpenApi.annotations({ summary: "Non-terminal tasks with their staleness health, stale first (limit 100)" }))
  )
  .prefix("/v1")
  .annotateMerge(OpenApi.annotations({ title: "dlq", description: "Dead-letter investigations and staleness" }))
{}
