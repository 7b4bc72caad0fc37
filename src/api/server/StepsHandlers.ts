/**
 * Handlers of the `steps` group. The PATCH action goes to OperatorActions (one transaction that
 * also re-evaluates the task) and answers with the step as it is afterwards.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import type { StepUuid, TaskUuid } from "../../domain/Ids.ts"
import { OperatorActions } from "../../orchestration/lifecycle/operator-actions/OperatorActions.ts"
import type { StepActionRequest } from "../ApiSchemas.ts"
import { TaskQueries } from "../queries/TaskQueries.ts"
import { TaskerApi } from "../TaskerApi.ts"

/** @category handlers @since 0.1.0 */
export const StepsHandlers = HttpApiBuilder.group(
  TaskerApi,
  "steps",
  Effect.fn(function*(handlers) {
    const queries = yield* TaskQueries
    const operator = yield* OperatorActions

    const act = (taskUuid: TaskUuid, stepUuid: StepUuid, action: StepActionRequest) => {
      switch (action.action_type) {
        case "reset_for_retry":
          return operator.resetStepForRetry(taskUuid, stepUuid, { reason: action.reason, actor: action.reset_by })
        case "resolve_manually":
          return operator.resolveStepManually(taskUuid, stepUuid, { reason: action.reason, actor: action.resolved_by })
        case "complete_manually":
          return operator.completeStepManually(
            taskUuid,
            stepUuid,
            action.completion_data.metadata === undefined
              ? { result: action.completion_data.result }
              : { result: action.completion_data.result, metadata: action.completion_data.metadata },
            { reason: action.reason, actor: action.completed_by }
          )
      }
    }

    return handlers.handleAll({
      list: ({ params }) => queries.listSteps(params.uuid),
      get: ({ params }) => queries.getStep(params.uuid, params.step_uuid),
      resolve: Effect.fn("StepsApi.resolve")(function*({ params, payload }) {
        yield* act(params.uuid, params.step_uuid, payload)
        return yield* queries.getStep(params.uuid, params.step_uuid)
      }),
      audit: ({ params }) => queries.stepAudit(params.uuid, params.step_uuid)
    })
  })
)
