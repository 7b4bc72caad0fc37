/**
 * `tasker step reset | resolve | complete <task-uuid> <step-uuid> --reason r`: the manual step
 * actions (docs/states.md). Each one is a single transaction on the server that also re-evaluates
 * the task, so a task blocked by the step resumes at once.
 *
 * - `reset`: a step in `error` goes back to `pending` with its attempts reset, and runs again;
 * - `resolve`: the step is `resolved_manually` and satisfies its dependents without a result;
 * - `complete`: the step is `complete` with the `--result` given (default `{}`).
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { type StepActionRequest, StepResponse } from "../../api/ApiSchemas.ts"
import { StepUuid, type TaskUuid } from "../../domain/Ids.ts"
import { withApi } from "../Connection.ts"
import { byFlag, type CliFailure, jsonFlag, parseJson, print, printJson } from "../Output.ts"
import { taskUuidArgument } from "./Tasks.ts"

const stepUuidArgument = Argument.String("step-uuid").pipe(
  Argument.withDescription("The step's uuid (`tasker task steps <task-uuid>` lists them)"),
  Argument.withSchema(StepUuid)
)

const reasonFlag = Flag.String("reason").pipe(Flag.withDescription("Why (recorded with the transition)"))

const act = (
  taskUuid: TaskUuid,
  stepUuid: StepUuid,
  json: boolean,
  action: Effect.Effect<StepActionRequest, CliFailure>
) =>
  withApi((client) =>
    Effect.gen(function*() {
      const payload = yield* action
      const step = yield* client.steps.resolve({ params: { uuid: taskUuid, step_uuid: stepUuid }, payload })
      if (json) return yield* printJson(StepResponse, step)
      yield* print(
        `step ${step.name} (${step.step_uuid}) is now ${step.current_state}; the task was re-evaluated: ` +
          `tasker task get ${taskUuid}`
      )
    })
  )

const common = { taskUuid: taskUuidArgument, stepUuid: stepUuidArgument, reason: reasonFlag, by: byFlag, json: jsonFlag }

const reset = Command.make("reset", common, (input) =>
  act(
    input.taskUuid,
    input.stepUuid,
    input.json,
    Effect.succeed({ action_type: "reset_for_retry", reason: input.reason, reset_by: input.by })
  )).pipe(Command.withDescription("Run a failed step again (error → pending, attempts reset)"))

const resolve = Command.make("resolve", common, (input) =>
  act(
    input.taskUuid,
    input.stepUuid,
    input.json,
    Effect.succeed({ action_type: "resolve_manually", reason: input.reason, resolved_by: input.by })
  )).pipe(Command.withDescription("Mark a step resolved by hand; its dependents may run"))

const complete = Command.make("complete", {
  ...common,
  result: Flag.String("result").pipe(Flag.withDescription("The step's result as JSON (default {})"), Flag.optional)
}, (input) =>
  act(
    input.taskUuid,
    input.stepUuid,
    input.json,
    parseJson(Option.getOrElse(input.result, () => "{}"), "--result").pipe(
      Effect.map((result) => ({
        action_type: "complete_manually" as const,
        completion_data: { result },
        reason: input.reason,
        completed_by: input.by
      }))
    )
  )).pipe(Command.withDescription("Complete a step by hand with the given result"))

/** `tasker step …` @category commands @since 0.1.0 */
export const stepCommand = Command.make("step").pipe(
  Command.withDescription("Act on a step by hand: reset, resolve or complete it"),
  Command.withSubcommands([reset, resolve, complete])
)
