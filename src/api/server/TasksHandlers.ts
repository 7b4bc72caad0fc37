/**
 * Handlers of the `tasks` group. `create` is admitted only without backpressure (HealthReport's
 * cached evaluation, or the command queue at the emergency saturation right now: 503 with
 * Retry-After), then runs `InitializeTask` through the CommandProcessor and answers 201 with the
 * created task. `cancel` is OperatorActions.cancelTask.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { TaskerConfig } from "../../config/TaskerConfig.ts"
import { ServiceOverloaded } from "../../domain/Errors.ts"
import { TaskUuid } from "../../domain/Ids.ts"
import { TaskRequest } from "../../domain/TaskRequest.ts"
import { CommandProcessor } from "../../orchestration/CommandProcessor.ts"
import { OrchestrationCommand } from "../../orchestration/commands/OrchestrationCommand.ts"
import { OperatorActions } from "../../orchestration/lifecycle/operator-actions/OperatorActions.ts"
import { HealthReport } from "../../orchestration/resilience/HealthReport.ts"
import { TaskQueries } from "../queries/TaskQueries.ts"
import { TaskerApi } from "../TaskerApi.ts"

/** Seconds a client should wait when the command queue is saturated (REFERENCE 6.6). */
const saturatedRetryAfter = 15

/** @category handlers @since 0.1.0 */
export const TasksHandlers = HttpApiBuilder.group(
  TaskerApi,
  "tasks",
  Effect.fn(function*(handlers) {
    const queries = yield* TaskQueries
    const processor = yield* CommandProcessor
    const report = yield* HealthReport
    const operator = yield* OperatorActions
    const { backpressure } = yield* TaskerConfig

    /** Fails with ServiceOverloaded while backpressure is active. */
    const admit = Effect.gen(function*() {
      const health = yield* report.current
      if (health.backpressureActive) {
        return yield* new ServiceOverloaded({
          reason: health.backpressureReason ?? "backpressure",
          retry_after_seconds: Math.max(1, Math.ceil(health.retryAfterSeconds ?? 30))
        })
      }
      const saturation = yield* processor.saturation
      if (saturation >= backpressure.saturationEmergency) {
        return yield* new ServiceOverloaded({
          reason: `command queue ${Math.round(saturation * 100)}% full`,
          retry_after_seconds: saturatedRetryAfter
        })
      }
    })

    const create = Effect.fn("TasksApi.create")(function*(payload: TaskRequest) {
      yield* admit
      // As the reference does, the API stamps the request time itself.
      const { requested_at: _, ...fields } = payload
      const request = new TaskRequest(fields, { disableChecks: true })
      const result = yield* processor.submit(OrchestrationCommand.InitializeTask({ request })).pipe(
        Effect.catchTag("CommandQueueShutdown", () =>
          Effect.fail(new ServiceOverloaded({ reason: "shutting down", retry_after_seconds: 5 })))
      )
      if (result._tag !== "TaskInitialize") return yield* Effect.die(new Error(`unexpected command result ${result._tag}`))
      const outcome = result.result
      switch (outcome._tag) {
        case "Success":
          return yield* queries.getTask(TaskUuid.make(outcome.task.taskUuid)).pipe(Effect.orDie)
        case "Failed":
          return outcome.error._tag === "InvalidMessage"
            ? yield* Effect.die(outcome.error)
            : yield* Effect.fail(outcome.error)
        case "Skipped":
          return yield* Effect.die(new Error(`task initialization skipped: ${outcome.reason}`))
      }
    })

    return handlers.handleAll({
      create: ({ payload }) => create(payload),
      list: ({ query }) =>
        queries.listTasks({
          page: query.page ?? 1,
          perPage: query.per_page ?? 25,
          namespace: query.namespace,
          status: query.status,
          initiator: query.initiator,
          sourceSystem: query.source_system
        }),
      get: ({ params }) => queries.getTask(params.uuid),
      cancel: Effect.fn("TasksApi.cancel")(function*({ params }) {
        yield* operator.cancelTask(params.uuid, { reason: "cancelled through the API" })
        return yield* queries.getTask(params.uuid)
      }),
      summary: ({ params }) => queries.getTaskSummary(params.uuid)
    })
  })
)
