/**
 * The `tasks` group (REFERENCE 9): create, list, read, cancel and summarize tasks, under `/v1`.
 *
 * @since 0.1.0
 */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import {
  IdempotencyKeyRequired,
  TaskAlreadyTerminal,
  TaskConflict,
  TaskNotFound,
  TemplateNotFound
} from "../../domain/Errors.ts"
import { TaskUuid } from "../../domain/Ids.ts"
import { TaskRequest } from "../../domain/TaskRequest.ts"
import {
  ServiceOverloadedWithRetryAfter,
  TaskListQuery,
  TaskListResponse,
  TaskResponse,
  TaskSummaryResponse
} from "../ApiSchemas.ts"
import { TaskRequestValidation } from "../RequestValidation.ts"

const doc = (summary: string, description?: string) =>
  OpenApi.annotations(description === undefined ? { summary } : { summary, description })

/** @category groups @since 0.1.0 */
export class TasksApi extends HttpApiGroup.make("tasks")
  .add(
    HttpApiEndpoint.post("create", "/tasks", {
      payload: TaskRequest,
      success: TaskResponse.pipe(HttpApiSchema.status(201)),
      error: [TemplateNotFound, TaskConflict, IdempotencyKeyRequired, ServiceOverloadedWithRetryAfter]
    }).middleware(TaskRequestValidation).annotateMerge(doc(
      "Create a task",
      "Creates a task from a registered template and enqueues its root steps. 400 names the invalid field; " +
        "404 when the template is not registered; 409 when a task with the same identity exists; " +
        "503 with Retry-After under backpressure."
    )),
    HttpApiEndpoint.get("list", "/tasks", {
      query: TaskListQuery,
      success: TaskListResponse
    }).annotateMerge(doc("List tasks", "Newest first, filtered by namespace, status, initiator and source_system.")),
    HttpApiEndpoint.get("get", "/tasks/:uuid", {
      params: { uuid: TaskUuid },
      success: TaskResponse,
      error: TaskNotFound
    }).annotateMerge(doc("Get a task with its execution context and step readiness")),
    HttpApiEndpoint.delete("cancel", "/tasks/:uuid", {
      params: { uuid: TaskUuid },
      success: TaskResponse,
      error: [TaskNotFound, TaskAlreadyTerminal]
    }).annotateMerge(doc("Cancel a task", "Cancels every non-terminal step, then the task. 400 when the task is terminal.")),
    HttpApiEndpoint.get("summary", "/tasks/:uuid/summary", {
      params: { uuid: TaskUuid },
      success: TaskSummaryResponse,
      error: TaskNotFound
    }).annotateMerge(doc("Summarize a task", "Metadata, template configuration, step summaries, execution context and DLQ status."))
  )
  .prefix("/v1")
  .annotateMerge(OpenApi.annotations({ title: "tasks", description: "Task creation, listing, inspection and cancellation" }))
{}

