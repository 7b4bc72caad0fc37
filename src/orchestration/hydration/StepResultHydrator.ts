/**
 * Step result hydration (REFERENCE 6.1): a `StepMessage` from `orchestration_step_results` →
 * the step row → its stored `StepExecutionResult`, decoded with Schema. A payload that does not
 * decode, names an unknown step (or a step of another task), or points at a step without results
 * or with results that do not decode is an `InvalidMessage` naming why: the caller archives it
 * with the error instead of retrying it forever. One query per hydration.
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { formatSchemaError, InvalidMessage, schemaIssueEntries } from "../../domain/Errors.ts"
import { StepUuid } from "../../domain/Ids.ts"
import { decodeStepMessage, type StepMessage } from "../../domain/Messages.ts"
import { decodeStepExecutionResult, type StepExecutionResult } from "../../domain/StepExecutionResult.ts"
import type { StepState } from "../../domain/StepState.ts"
import { stepResultsQueue } from "../../messaging/QueueNames.ts"
import { LifecycleRepository, type StepForResultRow } from "../lifecycle/LifecycleRepository.ts"

export interface HydratedStepResult {
  readonly message: StepMessage
  readonly stepUuid: string
  readonly taskUuid: string
  readonly stepName: string
  /** The template's step type (standard, decision, batchable, …). */
  readonly stepType: string
  readonly state: StepState
  readonly attempts: number
  readonly maxAttempts: number
  readonly retryable: boolean
  readonly result: StepExecutionResult
}

const decodeStepUuid = Schema.decodeUnknownEffect(StepUuid)

const invalid = (queue: string | undefined, message: string, path: string) =>
  new InvalidMessage(queue === undefined ? { message, path } : { queue, message, path })

export class StepResultHydrator extends Context.Service<StepResultHydrator, {
  /** From a raw queue payload (jsonb already parsed). */
  hydrate(payload: unknown): Effect.Effect<HydratedStepResult, InvalidMessage>
  /** From a step uuid (the in-process path, no queue message). */
  hydrateStep(stepUuid: string): Effect.Effect<HydratedStepResult, InvalidMessage>
}>()("tasker/orchestration/hydration/StepResultHydrator") {
  static readonly layerNoDeps = Layer.effect(
    StepResultHydrator,
    Effect.gen(function*() {
      const repo = yield* LifecycleRepository

      const load = (stepUuid: string, queue: string | undefined) =>
        Effect.flatMap(repo.findStepForResult(stepUuid), Option.match({
          onNone: () => Effect.fail(invalid(queue, `step ${stepUuid} not found`, "step_uuid")),
          onSome: Effect.succeed
        }))

      const toHydrated = (row: StepForResultRow, message: StepMessage, queue: string | undefined) =>
        Effect.gen(function*() {
          if (row.results === null) {
            return yield* invalid(queue, `step ${row.stepUuid} (${row.stepName}, ${row.state}) has no results`, "step_uuid")
          }
          const result = yield* decodeStepExecutionResult(row.results).pipe(
            Effect.mapError((error) => {
              const [first] = schemaIssueEntries(error)
              return invalid(
                queue,
                `results of step ${row.stepUuid} (${row.stepName}) do not decode: ${formatSchemaError(error)}`,
                first === undefined || first.path === "" ? "results" : `results.${first.path}`
              )
            })
          )
          return {
            message,
            stepUuid: row.stepUuid,
            taskUuid: row.taskUuid,
            stepName: row.stepName,
            stepType: row.stepType,
            state: row.state,
            attempts: row.attempts,
            maxAttempts: row.maxAttempts,
            retryable: row.retryable,
            result
          } satisfies HydratedStepResult
        })

      const hydrate = Effect.fn("StepResultHydrator.hydrate")(function*(payload: unknown) {
        const message = yield* decodeStepMessage(payload).pipe(
          Effect.mapError((error) => InvalidMessage.fromSchemaError(error, stepResultsQueue))
        )
        const row = yield* load(message.step_uuid, stepResultsQueue)
        if (row.taskUuid !== message.task_uuid) {
          return yield* invalid(
            stepResultsQueue,
            `step ${row.stepUuid} belongs to task ${row.taskUuid}, not ${message.task_uuid}`,
            "task_uuid"
          )
        }
        return yield* toHydrated(row, message, stepResultsQueue)
      })

      const hydrateStep = Effect.fn("StepResultHydrator.hydrateStep")(function*(stepUuid: string) {
        const uuid = yield* decodeStepUuid(stepUuid).pipe(
          Effect.mapError(() => invalid(undefined, `not a step uuid: ${JSON.stringify(stepUuid)}`, "step_uuid"))
        )
        const row = yield* load(uuid, undefined)
        const message = yield* decodeStepMessage({
          task_uuid: row.taskUuid,
          step_uuid: row.stepUuid,
          correlation_id: row.correlationId
        }).pipe(Effect.orDie)
        return yield* toHydrated(row, message, undefined)
      })

      return StepResultHydrator.of({ hydrate, hydrateStep })
    })
  )

  /** Needs `SqlClient`. */
  static readonly layer = StepResultHydrator.layerNoDeps.pipe(Layer.provide(LifecycleRepository.layer))
}
