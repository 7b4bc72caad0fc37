/**
 * The `steps` group (REFERENCE 9, 7.4): a task's workflow steps, one step, manual step actions and
 * a step's result audit, under `/v1/tasks/{uuid}/workflow_steps`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import { IllegalTransition, StepNotFound, TaskAlreadyTerminal, TaskNotFound } from "../../domain/Errors.ts"
import { StepUuid, TaskUuid } from "../../domain/Ids.ts"
import { StepActionRequest, StepAuditEntry, StepResponse } from "../ApiSchemas.ts"

const doc = (summary: string, description?: string) =>
  OpenApi.annotations(description === undefined ? { summary } : { summary, description })

const stepParams = { uuid: TaskUuid, step_uuid: StepUuid }

/** @category groups @since 0.1.0 */
export class StepsApi extends HttpApiGroup.make("steps")
  .add(
    HttpApiEndpoint.get("list", "/tasks/:uuid/workflow_steps", {
      params: { uuid: TaskUuid },
      success: Schema.Array(StepResponse),
      error: TaskNotFound
    }).annotateMerge(doc("List a task's steps", "Sorted by created_at, each with its readiness and results.")),
    HttpApiEndpoint.get("get", "/tasks/:uuid/workflow_steps/:step_uuid", {
      params: stepParams,
      success: StepResponse,
      error: [TaskNotFound, StepNotFound]
    }).annotateMerge(doc("Get one step of a task")),
    HttpApiEndpoint.patch("resolve", "/tasks/:uuid/workflow_steps/:step_uuid", {
      params: stepParams,
      payload: StepActionRequest,
      success: StepResponse,
      error: [TaskNotFound, StepNotFound, IllegalTransition, TaskAlreadyTerminal]
    }).annotateMerge(doc(
      "Act on a step by hand",
      "reset_for_retry (error → pending, attempts reset), resolve_manually (→ resolved_manually) or " +
        "complete_manually (→ complete with the given result). The task is re-evaluated at once. " +
        "400 when the action does not apply to the step's state; 404 when the step is not the task's."
    )),
    HttpApiEndpoint.get("audit", "/tasks/:uuid/workflow_steps/:step_uuid/audit", {
      params: stepParams,
      success: Schema.Array(StepAuditEntry),
      error: [TaskNotFound, StepNotFound]
    }).annotateMerge(doc("A step's result audit", "Each result a worker wrote, with its transition, newest first."))
  )
  .prefix("/v1")
  .annotateMerge(OpenApi.annotations({ title: "steps", description: "Workflow steps and manual step actions" }))
{}
