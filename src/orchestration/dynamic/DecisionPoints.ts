/**
 * Decision points (REFERENCE 8.2, 12.12): a completed `decision` step's
 * `result.decision_point_outcome` becomes new workflow steps and `provides` edges, in the
 * caller's transaction (the result processor's), before the task is re-evaluated.
 *
 * `process` reads the task's template from `named_tasks.configuration` (one query), decodes the
 * outcome with Schema, validates it (segment, `decisionPoints.maxStepsPerDecision`, a warning
 * above `warnStepsPerDecision`), computes the creation set (`DecisionPlan.ts`) and writes it with
 * ONE call, `tasker.create_decision_steps` (find-or-create steps and edges: re-processing creates
 * nothing). An invalid outcome (undecodable, names outside the decision's segments, too many steps,
 * an edge that would close a cycle) creates nothing and is recorded where an operator sees it:
 * `tasker.fail_decision_step` moves the decision step to `error` with the reason in its results
 * (`error`, `orchestration_metadata.custom.decision_error`), so the task becomes
 * `blocked_by_failures`; resetting the step re-runs the decision.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Predicate, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { TaskerConfig } from "../../config/TaskerConfig.ts"
import { TaskTemplate } from "../../templates/TaskTemplate.ts"
import { DecisionPointOutcome } from "../../worker/StepHandler.ts"
import type { DynamicStepsCreated } from "../actors/DynamicStepActors.ts"
import type { HydratedStepResult } from "../hydration/StepResultHydrator.ts"
import { CommittedTransitions } from "../LifecycleEvents.ts"
import { ProcessorId } from "../ProcessorId.ts"
import { type InvalidOutcome, invalidOutcome, planDecision } from "./DecisionPlan.ts"

const OutcomeHolder = Schema.Struct({ decision_point_outcome: DecisionPointOutcome })
const decodeOutcome = Schema.decodeUnknownEffect(OutcomeHolder)

const CreatedRow = Schema.Struct({
  outcome: Schema.Literals(["created", "refused", "not_found"]),
  stepUuids: Schema.Array(Schema.String),
  edgesCreated: Schema.Int,
  message: Schema.NullOr(Schema.String),
  transitions: CommittedTransitions
})

const FailedRow = Schema.Struct({
  outcome: Schema.Literals(["failed", "recorded", "not_found"]),
  transitions: CommittedTransitions
})

/**
 * @category services
 * @since 0.1.0
 */
export class DecisionPoints extends Context.Service<DecisionPoints, {
  /** Applies the outcome of a completed decision step (inside the caller's transaction). */
  process(completed: HydratedStepResult): Effect.Effect<DynamicStepsCreated>
}>()("tasker/orchestration/dynamic/DecisionPoints") {
  static readonly layerNoDeps = Layer.effect(
    DecisionPoints,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const settings = yield* TaskerConfig
      const processor = (yield* ProcessorId).uuid
      const limits = settings.decisionPoints

      const templateOf = SqlSchema.findOne({
        Request: Schema.String,
        Result: Schema.Struct({ configuration: TaskTemplate }),
        execute: (taskUuid) =>
          sql`SELECT nt.configuration FROM tasker.tasks t
              JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
              WHERE t.task_uuid = ${taskUuid}::uuid`
      })

      const createSteps = SqlSchema.findOne({
        Request: Schema.Struct({ taskUuid: Schema.String, stepUuid: Schema.String, steps: Schema.String }),
        Result: CreatedRow,
        execute: (r) =>
          sql`SELECT outcome, step_uuids AS "stepUuids", edges_created AS "edgesCreated", message, transitions
              FROM tasker.create_decision_steps(${r.taskUuid}::uuid, ${r.stepUuid}::uuid, ${processor}::uuid,
                                                ${r.steps}::jsonb)`
      })

      const failStep = SqlSchema.findOne({
        Request: Schema.Struct({ stepUuid: Schema.String, message: Schema.String, error: Schema.String }),
        Result: FailedRow,
        execute: (r) =>
          sql`SELECT outcome, transitions FROM tasker.fail_decision_step(${r.stepUuid}::uuid, ${processor}::uuid,
                                                            ${r.message}, ${r.error}::jsonb)`
      })

      const reject = Effect.fnUntraced(function*(completed: HydratedStepResult, invalid: InvalidOutcome) {
        const { outcome, transitions } = yield* failStep({
          stepUuid: completed.stepUuid,
          message: invalid.message,
          error: JSON.stringify(invalid.context)
        })
        yield* Effect.logWarning(`invalid decision outcome: ${invalid.message}`).pipe(
          Effect.annotateLogs({ recorded_as: outcome })
        )
        return {
          stepsCreated: [],
          detail: `rejected (${outcome}): ${invalid.message}`,
          ...(outcome === "failed" ? { rejected: { transitions } } : {})
        } satisfies DynamicStepsCreated
      })

      const requestedOf = (completed: HydratedStepResult) =>
        decodeOutcome(completed.result.result).pipe(
          Effect.map(({ decision_point_outcome: o }) => o.type === "create_steps" ? o.step_names : []),
          Effect.mapError((error) =>
            invalidOutcome(`step ${completed.stepName} returned no valid decision_point_outcome: ${error.message}`, {
              decision_point_outcome: outcomeField(completed) ?? null
            })
          )
        )

      const process = Effect.fn("DecisionPoints.process")(function*(completed: HydratedStepResult) {
        const requested = yield* requestedOf(completed)
        if (requested.length === 0) {
          return { stepsCreated: [], detail: `no branches from ${completed.stepName}` } satisfies DynamicStepsCreated
        }
        const unique = new Set(requested).size
        if (unique > limits.maxStepsPerDecision) {
          return yield* invalidOutcome(
            `decision ${completed.stepName} requested ${unique} steps, more than decisionPoints.maxStepsPerDecision (${limits.maxStepsPerDecision})`,
            { requested, max_steps_per_decision: limits.maxStepsPerDecision }
          )
        }
        if (unique > limits.warnStepsPerDecision) {
          yield* Effect.logWarning(
            `decision ${completed.stepName} requested ${unique} steps (warning above ${limits.warnStepsPerDecision})`
          )
        }
        const { configuration: template } = yield* templateOf(completed.taskUuid)
        const plan = planDecision(template, completed.stepName, requested)
        if (plan._tag === "InvalidOutcome") return yield* plan
        const row = yield* createSteps({
          taskUuid: completed.taskUuid,
          stepUuid: completed.stepUuid,
          steps: JSON.stringify(plan.steps)
        })
        if (row.outcome !== "created") {
          yield* Effect.logWarning(`decision ${completed.stepName} refused: ${row.message ?? row.outcome}`)
          return {
            stepsCreated: [],
            detail: `rejected (${row.outcome}): ${row.message ?? ""}`,
            ...(row.outcome === "refused" ? { rejected: { transitions: row.transitions } } : {})
          } satisfies DynamicStepsCreated
        }
        return {
          stepsCreated: row.stepUuids,
          detail: `${completed.stepName} created ${row.stepUuids.length} of ${plan.steps.length} steps ` +
            `(${plan.steps.map((s) => s.name).join(", ")}), ${row.edgesCreated} edges`
        } satisfies DynamicStepsCreated
      }, (effect, completed) =>
        effect.pipe(
          Effect.catchTag("InvalidOutcome", (invalid) => reject(completed, invalid)),
          Effect.catchTag(["SqlError", "SchemaError", "NoSuchElementError"], Effect.die),
          Effect.annotateLogs({ task_uuid: completed.taskUuid, step_uuid: completed.stepUuid })
        ))

      return DecisionPoints.of({ process })
    })
  )

  /** Needs `SqlClient` and `TaskerConfig`; the processor id is the lifecycle's (memoized layer). */
  static readonly layer = DecisionPoints.layerNoDeps.pipe(Layer.provide(ProcessorId.layer))
}

const outcomeField = (completed: HydratedStepResult): unknown => {
  const result: unknown = completed.result.result
  return Predicate.hasProperty(result, "decision_point_outcome") ? result.decision_point_outcome : undefined
}
