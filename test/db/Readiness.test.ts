/**
 * Step readiness (REFERENCE 4.1, 12.3) and the task execution-status ladder (REFERENCE 4.2, 12.4)
 * on fixture DAGs. States are reached through the transition functions; only timing columns
 * (last_attempted_at) are set directly.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import type { StepState } from "../../src/domain/StepState.ts"
import { driveStepsTo, insertWorkflow, moveSteps, type Workflow } from "../support/Fixtures.ts"
import { PgTest } from "../support/PgTest.ts"

interface Readiness {
  readonly currentState: string
  readonly dependenciesSatisfied: boolean
  readonly retryEligible: boolean
  readonly readyForExecution: boolean
  readonly totalParents: number
  readonly completedParents: number
  readonly attempts: number
  /** Seconds from now to next_retry_at (negative: in the past); null when there is none. */
  readonly retryInSeconds: number | null
  readonly lastFailureAtSet: boolean
}

/** Readiness rows of a workflow, keyed by logical step name. */
const readiness = (workflow: Workflow, only?: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const filter = only === undefined ? null : only.map((name) => workflow.steps[name]!)
    const rows = yield* sql<Readiness & { workflowStepUuid: string }>`
      SELECT workflow_step_uuid, current_state, dependencies_satisfied, retry_eligible, ready_for_execution,
             total_parents, completed_parents, attempts,
             extract(epoch FROM next_retry_at - now())::float8 AS retry_in_seconds,
             last_failure_at IS NOT NULL AS last_failure_at_set
      FROM tasker.get_step_readiness_status(${workflow.taskUuid}::uuid, ${filter}::uuid[])`
    const names = new Map(Object.entries(workflow.steps).map(([name, uuid]) => [uuid, name]))
    return Object.fromEntries(rows.map(({ workflowStepUuid, ...r }) => [names.get(workflowStepUuid)!, r]))
  })

const readyMap = (rows: Record<string, Readiness>) =>
  Object.fromEntries(Object.entries(rows).map(([name, r]) => [name, r.readyForExecution]))

/** The usual result path of a step that ran and failed retryably. */
const failedOnce: ReadonlyArray<StepState> = ["enqueued", "in_progress", "enqueued_as_error_for_orchestration", "waiting_for_retry"]
const completed: ReadonlyArray<StepState> = ["enqueued", "in_progress", "enqueued_for_orchestration", "complete"]

const setBackoff = (stepUuids: ReadonlyArray<string>, seconds: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`SELECT tasker.set_step_backoff_atomic(s, ${seconds}) FROM unnest(${stepUuids}::uuid[]) AS s`
  })

const attemptedAnHourAgo = (stepUuids: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`UPDATE tasker.workflow_steps SET last_attempted_at = now() - interval '1 hour'
               WHERE workflow_step_uuid = ANY (${stepUuids}::uuid[])`
  })

const context = (taskUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql`
      SELECT status, total_steps::int, pending_steps::int, in_progress_steps::int, enqueued_steps::int,
             completed_steps::int, failed_steps::int, ready_steps::int, execution_status, recommended_action,
             completion_percentage::text, health_status
      FROM tasker.get_task_execution_context(${taskUuid}::uuid)`
    return { ...row }
  })

layer(PgTest.layer, { timeout: "60 seconds", excludeTestServices: true })("readiness", (it) => {
  it.effect("diamond A -> B, A -> C, B + C -> D: each step becomes ready exactly when its parents are done", () =>
    Effect.gen(function*() {
      const wf = yield* insertWorkflow({
        steps: ["A", "B", "C", "D"],
        edges: [["A", "B"], ["A", "C"], ["B", "D"], ["C", "D"]]
      })
      const { A, B, C } = wf.steps
      const initial = yield* readiness(wf)
      assert.deepStrictEqual(readyMap(initial), { A: true, B: false, C: false, D: false })
      assert.deepStrictEqual(
        ["A", "B", "C", "D"].map((n) => [n, initial[n]!.totalParents, initial[n]!.completedParents, initial[n]!.dependenciesSatisfied]),
        [["A", 0, 0, true], ["B", 1, 0, false], ["C", 1, 0, false], ["D", 2, 0, false]]
      )

      // Enqueued / running: not ready again, and the children still wait.
      yield* moveSteps([A!], "pending", ["enqueued"])
      assert.deepStrictEqual(readyMap(yield* readiness(wf)), { A: false, B: false, C: false, D: false })
      yield* moveSteps([A!], "enqueued", ["in_progress"])
      assert.deepStrictEqual(readyMap(yield* readiness(wf)), { A: false, B: false, C: false, D: false })

      yield* moveSteps([A!], "in_progress", ["enqueued_for_orchestration", "complete"])
      const afterA = yield* readiness(wf)
      assert.deepStrictEqual(readyMap(afterA), { A: false, B: true, C: true, D: false })
      assert.deepStrictEqual([afterA.D!.totalParents, afterA.D!.completedParents], [2, 0])

      yield* moveSteps([B!], "pending", completed)
      const afterB = yield* readiness(wf)
      assert.deepStrictEqual(readyMap(afterB), { A: false, B: false, C: true, D: false })
      assert.deepStrictEqual([afterB.D!.completedParents, afterB.D!.dependenciesSatisfied], [1, false])

      // resolved_manually satisfies dependents like complete.
      yield* moveSteps([C!], "pending", ["resolved_manually"])
      const afterC = yield* readiness(wf)
      assert.deepStrictEqual(readyMap(afterC), { A: false, B: false, C: false, D: true })
      assert.deepStrictEqual([afterC.D!.completedParents, afterC.D!.dependenciesSatisfied], [2, true])

      // The step filter returns only the listed steps.
      assert.deepStrictEqual(Object.keys(yield* readiness(wf, ["D"])), ["D"])
    }))

  it.effect("retries: backoff gates readiness, exhausted and non-retryable steps are not eligible, the first run always is", () =>
    Effect.gen(function*() {
      const wf = yield* insertWorkflow({
        steps: [
          "backoff_pending",
          "backoff_elapsed",
          { name: "exhausted", maxAttempts: 3 },
          { name: "non_retryable", retryable: false },
          { name: "first_run", retryable: false, maxAttempts: 0 },
          "reset"
        ]
      })
      const s = wf.steps
      yield* moveSteps([s.backoff_pending!, s.backoff_elapsed!, s.non_retryable!], "pending", failedOnce)
      yield* moveSteps([s.exhausted!], "pending", [
        "enqueued", "in_progress", "in_progress", "in_progress", "enqueued_as_error_for_orchestration", "waiting_for_retry"
      ])
      yield* moveSteps([s.reset!], "pending", ["enqueued", "in_progress", "enqueued_for_orchestration", "error"])
      yield* setBackoff([s.backoff_pending!, s.backoff_elapsed!], 60)
      yield* attemptedAnHourAgo([s.backoff_elapsed!, s.exhausted!, s.non_retryable!])

      const rows = yield* readiness(wf)
      const view = (r: Readiness) => [r.currentState, r.attempts, r.retryEligible, r.readyForExecution]
      assert.deepStrictEqual(view(rows.backoff_pending!), ["waiting_for_retry", 1, true, false])
      const wait = rows.backoff_pending!.retryInSeconds!
      assert.isTrue(wait > 50 && wait <= 60, `next_retry_at ${wait}s ahead`)
      assert.deepStrictEqual(view(rows.backoff_elapsed!), ["waiting_for_retry", 1, true, true])
      assert.isTrue(rows.backoff_elapsed!.retryInSeconds! < -3000, "next_retry_at an hour ago + 60s")
      assert.deepStrictEqual(view(rows.exhausted!), ["waiting_for_retry", 3, false, false])
      assert.deepStrictEqual(view(rows.non_retryable!), ["waiting_for_retry", 1, false, false])
      assert.deepStrictEqual(view(rows.first_run!), ["pending", 0, true, true])
      assert.deepStrictEqual(view(rows.reset!), ["error", 1, true, false])
      assert.isTrue(rows.reset!.lastFailureAtSet)

      // ResetForRetry: a fresh budget, and the earlier failure does not delay the next run.
      yield* moveSteps([s.reset!], "error", ["pending"])
      const reset = (yield* readiness(wf, ["reset"])).reset!
      assert.deepStrictEqual(view(reset), ["pending", 0, true, true])
      assert.isTrue(reset.lastFailureAtSet)
      assert.isNull(reset.retryInSeconds)
    }))

  it.effect("execution status: blocked_by_failures beats has_ready_steps", () =>
    Effect.gen(function*() {
      const wf = yield* insertWorkflow({ steps: ["failed", "ready", "running", "done"] })
      yield* driveStepsTo([wf.steps.failed!], "error")
      yield* driveStepsTo([wf.steps.running!], "in_progress")
      yield* driveStepsTo([wf.steps.done!], "complete")
      assert.deepStrictEqual(yield* context(wf.taskUuid), {
        status: "pending",
        totalSteps: 4,
        pendingSteps: 1,
        inProgressSteps: 1,
        enqueuedSteps: 0,
        completedSteps: 1,
        failedSteps: 1,
        readySteps: 1,
        executionStatus: "blocked_by_failures",
        recommendedAction: "handle_failures",
        completionPercentage: "25.00",
        healthStatus: "blocked"
      })
    }))

  it.effect("execution status: has_ready_steps beats processing (a retrying step makes it recovering)", () =>
    Effect.gen(function*() {
      const wf = yield* insertWorkflow({ steps: ["ready", "running", "queued", "retrying"] })
      yield* driveStepsTo([wf.steps.running!], "in_progress")
      yield* driveStepsTo([wf.steps.queued!], "enqueued")
      yield* moveSteps([wf.steps.retrying!], "pending", failedOnce)
      yield* setBackoff([wf.steps.retrying!], 60)
      assert.deepStrictEqual(yield* context(wf.taskUuid), {
        status: "pending",
        totalSteps: 4,
        pendingSteps: 1,
        inProgressSteps: 1,
        enqueuedSteps: 1,
        completedSteps: 0,
        failedSteps: 0,
        readySteps: 1,
        executionStatus: "has_ready_steps",
        recommendedAction: "execute_ready_steps",
        completionPercentage: "0.00",
        healthStatus: "recovering"
      })
    }))

  it.effect("execution status: processing beats all_complete and waiting_for_dependencies", () =>
    Effect.gen(function*() {
      const wf = yield* insertWorkflow({ steps: ["done", "reporting", "child"], edges: [["reporting", "child"]] })
      yield* driveStepsTo([wf.steps.done!], "complete")
      yield* moveSteps([wf.steps.reporting!], "pending", ["enqueued", "in_progress", "enqueued_for_orchestration"])
      assert.deepStrictEqual(yield* context(wf.taskUuid), {
        status: "pending",
        totalSteps: 3,
        pendingSteps: 1,
        inProgressSteps: 0,
        enqueuedSteps: 1,
        completedSteps: 1,
        failedSteps: 0,
        readySteps: 0,
        executionStatus: "processing",
        recommendedAction: "wait_for_completion",
        completionPercentage: "33.33",
        healthStatus: "healthy"
      })
    }))

  it.effect("execution status: all_complete beats waiting_for_dependencies (resolved_manually counts as done)", () =>
    Effect.gen(function*() {
      const wf = yield* insertWorkflow({ steps: ["done", "manual"], edges: [["done", "manual"]] })
      yield* driveStepsTo([wf.steps.done!], "complete")
      yield* driveStepsTo([wf.steps.manual!], "resolved_manually")
      assert.deepStrictEqual(yield* context(wf.taskUuid), {
        status: "pending",
        totalSteps: 2,
        pendingSteps: 0,
        inProgressSteps: 0,
        enqueuedSteps: 0,
        completedSteps: 2,
        failedSteps: 0,
        readySteps: 0,
        executionStatus: "all_complete",
        recommendedAction: "finalize_task",
        completionPercentage: "100.00",
        healthStatus: "healthy"
      })
    }))

  it.effect("execution status: waiting_for_dependencies otherwise (backoff pending, or no steps at all)", () =>
    Effect.gen(function*() {
      const wf = yield* insertWorkflow({ steps: ["retrying", "child"], edges: [["retrying", "child"]] })
      yield* moveSteps([wf.steps.retrying!], "pending", failedOnce)
      yield* setBackoff([wf.steps.retrying!], 60)
      const waiting = {
        status: "pending",
        totalSteps: 2,
        pendingSteps: 1,
        inProgressSteps: 0,
        enqueuedSteps: 0,
        completedSteps: 0,
        failedSteps: 0,
        readySteps: 0,
        executionStatus: "waiting_for_dependencies",
        recommendedAction: "wait_for_dependencies",
        completionPercentage: "0.00",
        healthStatus: "recovering"
      }
      assert.deepStrictEqual(yield* context(wf.taskUuid), waiting)

      const empty = yield* insertWorkflow({ steps: [] })
      assert.deepStrictEqual(yield* context(empty.taskUuid), {
        ...waiting,
        totalSteps: 0,
        pendingSteps: 0,
        healthStatus: "healthy"
      })
    }))
})
