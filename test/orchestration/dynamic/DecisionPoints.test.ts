/**
 * Decision points (REFERENCE 8.2, 10, 12.12) over a real database: the lifecycle services with
 * the real `DecisionPointActor.layer`, a worker simulated with SQL (LifecycleTestKit) whose
 * decision handler returns `decision_point_outcome` in `result`. Plus the pure creation-set rules.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Layer, PubSub } from "effect"
import { SqlClient } from "effect/sql"
import { type SettingsOverrides, TaskerConfig } from "../../../src/config/TaskerConfig.ts"
import { BatchProcessingActor, DecisionPointActor } from "../../../src/orchestration/actors/DynamicStepActors.ts"
import { DecisionPoints } from "../../../src/orchestration/dynamic/DecisionPoints.ts"
import { planDecision } from "../../../src/orchestration/dynamic/DecisionPlan.ts"
import { StepResultHydrator } from "../../../src/orchestration/hydration/StepResultHydrator.ts"
import { LifecycleEvents } from "../../../src/orchestration/LifecycleEvents.ts"
import { LifecycleRepository } from "../../../src/orchestration/lifecycle/LifecycleRepository.ts"
import { ResultProcessor } from "../../../src/orchestration/lifecycle/result-processing/ResultProcessor.ts"
import { StepEnqueuer } from "../../../src/orchestration/lifecycle/step-enqueuer/StepEnqueuer.ts"
import { TaskFinalizer } from "../../../src/orchestration/lifecycle/task-finalization/TaskFinalizer.ts"
import { TaskInitializer } from "../../../src/orchestration/lifecycle/task-initialization/TaskInitializer.ts"
import { ProcessorId } from "../../../src/orchestration/ProcessorId.ts"
import { parseTemplate } from "../../../src/templates/TemplateLoader.ts"
import { TemplateRegistry } from "../../../src/templates/TemplateRegistry.ts"
import { DecisionOutcome } from "../../../src/worker/StepHandler.ts"
import { PgTest } from "../../support/PgTest.ts"
import {
  execute,
  registerYaml,
  requestFor,
  runToRest,
  stepPath,
  stepsOf,
  stepUuidOf,
  success,
  taskRow,
  uniqueNamespace
} from "../lifecycle/LifecycleTestKit.ts"

/** The lifecycle services with the real decision actor (LifecycleTestKit's layer has test actors). */
const decisionLayer = (overrides: SettingsOverrides = {}) =>
  Layer.mergeAll(
    TaskInitializer.layer,
    StepEnqueuer.layer,
    ResultProcessor.layer,
    TaskFinalizer.layer,
    StepResultHydrator.layer,
    DecisionPoints.layer
  ).pipe(
    Layer.provideMerge(Layer.mergeAll(DecisionPointActor.layer, BatchProcessingActor.layerUnsupported)),
    Layer.provideMerge(Layer.mergeAll(
      TemplateRegistry.layer,
      LifecycleEvents.layer,
      TaskerConfig.layerWith({ ...overrides, backoff: { jitter: false } }),
      ProcessorId.layer,
      LifecycleRepository.layer
    )),
    Layer.provideMerge(PgTest.layer)
  )

/** REFERENCE 10's example, verbatim but for the namespace and identity strategy. */
const refundYaml = (ns: string) => `
name: issue_refund
namespace_name: ${ns}
version: 2.1.0
identity_strategy: always_unique
lifecycle:
  max_waiting_for_dependencies_minutes: 90
steps:
  - name: load_order
    handler: { callable: billing.LoadOrder }
    retry: { retryable: true, max_attempts: 5 }
  - name: choose_route
    type: decision
    dependencies: [load_order]
    handler: { callable: billing.ChooseRoute }
  - name: auto_refund
    dependencies: [choose_route]
    handler: { callable: billing.AutoRefund, initialization: { gateway: stripe } }
  - name: agent_review
    dependencies: [choose_route]
    handler: { callable: billing.AgentReview }
    retry: { retryable: false, max_attempts: 1 }
  - name: notify_customer
    type: deferred_convergence
    dependencies: [auto_refund, agent_review]
    handler: { callable: billing.NotifyCustomer }
`

/** Two branches that both get created, a convergence that must wait for both, a step after it. */
const forkYaml = (ns: string) => `
name: fork_join
namespace_name: ${ns}
version: 1.0.0
identity_strategy: always_unique
steps:
  - { name: start, handler: { callable: t.start } }
  - { name: decide, type: decision, dependencies: [start], handler: { callable: t.decide } }
  - { name: branch_a, dependencies: [decide], handler: { callable: t.a } }
  - { name: branch_b, dependencies: [decide], handler: { callable: t.b } }
  - { name: branch_c, dependencies: [decide], handler: { callable: t.c } }
  - { name: join, type: deferred_convergence, dependencies: [branch_a, branch_b, branch_c], handler: { callable: t.join } }
  - { name: finish, dependencies: [join], handler: { callable: t.finish } }
`

const startTask = (yaml: (ns: string) => string) =>
  Effect.gen(function*() {
    const template = yield* registerYaml(yaml(uniqueNamespace("dp")))
    return (yield* (yield* TaskInitializer).initialize(yield* requestFor(template, {}))).taskUuid
  })

/** Runs the task to rest; the decision step `decision` answers with `outcome` as its result. */
const runWithDecision = (taskUuid: string, decision: string, outcome: object) =>
  runToRest(taskUuid, (name, uuid) => success(uuid, name === decision ? outcome : { ok: true }))

/** The task's edges as `from -> to` by step name, sorted. */
const edgesOf = (taskUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ edge: string }>`
      SELECT fns.name || ' -> ' || tns.name AS edge
      FROM tasker.workflow_step_edges e
      JOIN tasker.workflow_steps f ON f.workflow_step_uuid = e.from_step_uuid
      JOIN tasker.named_steps fns ON fns.named_step_uuid = f.named_step_uuid
      JOIN tasker.workflow_steps t ON t.workflow_step_uuid = e.to_step_uuid
      JOIN tasker.named_steps tns ON tns.named_step_uuid = t.named_step_uuid
      WHERE f.task_uuid = ${taskUuid}::uuid AND e.name = 'provides'
      ORDER BY 1`
    return rows.map((r) => r.edge)
  }).pipe(Effect.orDie)

const stepNames = (taskUuid: string) => Effect.map(stepsOf(taskUuid), (steps) => [...steps.keys()].sort())

/** Asserts the decision step failed with the reason in its results and the task is blocked. */
const assertRejected = (taskUuid: string, decision: string, messagePart: string) =>
  Effect.gen(function*() {
    const step = (yield* stepsOf(taskUuid)).get(decision)!
    assert.strictEqual(step.state, "error")
    const results = step.results as {
      success: boolean
      error: { message: string; error_type: string }
      orchestration_metadata: { custom: { decision_error: { message: string } } }
    }
    assert.isFalse(results.success)
    assert.strictEqual(results.error.error_type, "InvalidDecisionOutcome")
    assert.include(results.error.message, messagePart)
    assert.include(results.orchestration_metadata.custom.decision_error.message, messagePart)
    // the log stays legal and gapless: the uncommitted `complete` was replaced by Fail
    assert.deepStrictEqual(yield* stepPath(step.stepUuid), [
      "pending",
      "enqueued",
      "in_progress",
      "enqueued_for_orchestration",
      "error"
    ])
    // the stored results still decode (the API and hydration read them)
    yield* (yield* StepResultHydrator).hydrateStep(step.stepUuid).pipe(Effect.orDie)
    assert.strictEqual((yield* taskRow(taskUuid)).state, "blocked_by_failures")
  })

layer(decisionLayer(), { timeout: "60 seconds", excludeTestServices: true })("Decision points", (it) => {
  it.effect("REFERENCE 10: create_steps [auto_refund] creates auto_refund and notify_customer only", () =>
    Effect.gen(function*() {
      const task = yield* startTask(refundYaml)
      assert.deepStrictEqual(yield* stepNames(task), ["choose_route", "load_order"])
      yield* runWithDecision(task, "choose_route", DecisionOutcome.createSteps(["auto_refund"]))

      const steps = yield* stepsOf(task)
      assert.deepStrictEqual([...steps.keys()].sort(), ["auto_refund", "choose_route", "load_order", "notify_customer"])
      assert.isFalse(steps.has("agent_review"))
      assert.deepStrictEqual(yield* edgesOf(task), [
        "auto_refund -> notify_customer",
        "choose_route -> auto_refund",
        "load_order -> choose_route"
      ])
      for (const step of steps.values()) assert.strictEqual(step.state, "complete", step.name)
      const sql = yield* SqlClient.SqlClient
      const [inputs] = yield* sql<{ inputs: unknown }>`
        SELECT inputs FROM tasker.workflow_steps WHERE workflow_step_uuid = ${steps.get("auto_refund")!.stepUuid}::uuid`
      assert.deepStrictEqual(inputs!.inputs, { gateway: "stripe" })
      // notify_customer was enqueued only after auto_refund completed
      const [order] = yield* sql<{ after: boolean }>`
        SELECT (SELECT min(created_at) FROM tasker.workflow_step_transitions
                WHERE workflow_step_uuid = ${steps.get("notify_customer")!.stepUuid}::uuid AND to_state = 'enqueued')
            >= (SELECT min(created_at) FROM tasker.workflow_step_transitions
                WHERE workflow_step_uuid = ${steps.get("auto_refund")!.stepUuid}::uuid AND to_state = 'complete') AS after`
      assert.isTrue(order!.after)
      assert.strictEqual((yield* taskRow(task)).state, "complete")
    }).pipe(Effect.orDie))

  it.effect("no_branches creates nothing and the task completes with its existing steps", () =>
    Effect.gen(function*() {
      const task = yield* startTask(refundYaml)
      yield* runWithDecision(task, "choose_route", DecisionOutcome.noBranches())
      assert.deepStrictEqual(yield* stepNames(task), ["choose_route", "load_order"])
      assert.strictEqual((yield* taskRow(task)).state, "complete")
    }).pipe(Effect.orDie))

  it.effect("a step outside the decision's segments creates nothing; step error, task blocked", () =>
    Effect.gen(function*() {
      const events = yield* (yield* LifecycleEvents).subscribe
      const task = yield* startTask(refundYaml)
      yield* runWithDecision(task, "choose_route", DecisionOutcome.createSteps(["auto_refund", "load_order", "nope"]))
      assert.deepStrictEqual(yield* stepNames(task), ["choose_route", "load_order"])
      // Events tell what was committed: the decision step failed, it never completed.
      const decisionUuid = (yield* stepsOf(task)).get("choose_route")!.stepUuid
      const published = (yield* PubSub.takeAll(events)).filter((e) => e._tag === "StepEvent" && e.stepUuid === decisionUuid)
      assert.include(published.map((e) => e.name), "step.failed")
      assert.notInclude(published.map((e) => e.name), "step.completed")
      yield* assertRejected(task, "choose_route", "outside the segments reachable from choose_route: load_order")
      const results = (yield* stepsOf(task)).get("choose_route")!.results as { error: { message: string } }
      assert.include(results.error.message, "not steps of template issue_refund: nope")
    }).pipe(Effect.orDie))

  it.effect("an undecodable outcome is an invalid outcome", () =>
    Effect.gen(function*() {
      const task = yield* startTask(refundYaml)
      yield* runWithDecision(task, "choose_route", { decision_point_outcome: { type: "all_of_them" } })
      assert.deepStrictEqual(yield* stepNames(task), ["choose_route", "load_order"])
      yield* assertRejected(task, "choose_route", "returned no valid decision_point_outcome")
    }).pipe(Effect.orDie))

  it.effect("processing the same decision twice creates no duplicate steps or edges", () =>
    Effect.gen(function*() {
      const task = yield* startTask(refundYaml)
      yield* execute(yield* stepUuidOf(task, "load_order"))
      const decision = yield* stepUuidOf(task, "choose_route")
      yield* execute(decision, success(decision, DecisionOutcome.createSteps(["auto_refund"])))
      const steps = yield* stepNames(task)
      const edges = yield* edgesOf(task)
      assert.deepStrictEqual(steps, ["auto_refund", "choose_route", "load_order", "notify_customer"])

      const hydrated = yield* (yield* StepResultHydrator).hydrateStep(decision)
      const again = yield* (yield* DecisionPoints).process(hydrated)
      const third = yield* (yield* DecisionPoints).process(hydrated)
      assert.deepStrictEqual(again.stepsCreated, [])
      assert.deepStrictEqual(third.stepsCreated, [])
      assert.deepStrictEqual(yield* stepNames(task), steps)
      assert.deepStrictEqual(yield* edgesOf(task), edges)

      yield* runToRest(task)
      assert.strictEqual((yield* taskRow(task)).state, "complete")
    }).pipe(Effect.orDie))

  it.effect("create_decision_steps refuses edges that close a cycle and writes nothing", () =>
    Effect.gen(function*() {
      const task = yield* startTask(refundYaml)
      yield* execute(yield* stepUuidOf(task, "load_order"))
      const decision = yield* stepUuidOf(task, "choose_route")
      yield* execute(decision, success(decision, DecisionOutcome.noBranches()))
      const sql = yield* SqlClient.SqlClient
      const cyclic = JSON.stringify([
        { name: "auto_refund", type: "standard", dependencies: ["choose_route", "notify_customer"] },
        { name: "notify_customer", type: "standard", dependencies: ["auto_refund"] }
      ])
      const [row] = yield* sql<{ outcome: string; message: string }>`
        SELECT outcome, message FROM tasker.create_decision_steps(${task}::uuid, ${decision}::uuid,
          tasker.uuid_generate_v7(), ${cyclic}::jsonb)`
      assert.strictEqual(row!.outcome, "refused")
      assert.include(row!.message, "cycle through: auto_refund, notify_customer")
      assert.deepStrictEqual(yield* stepNames(task), ["choose_route", "load_order"])
      // not completed in this transaction: the reason is recorded, the state left alone
      const step = (yield* stepsOf(task)).get("choose_route")!
      assert.strictEqual(step.state, "complete")
      const results = step.results as { success: boolean; orchestration_metadata: { custom: { decision_error: { message: string } } } }
      assert.isTrue(results.success)
      assert.include(results.orchestration_metadata.custom.decision_error.message, "cycle")
    }).pipe(Effect.orDie))

  it.effect("a convergence whose two created branches both exist waits for both", () =>
    Effect.gen(function*() {
      const task = yield* startTask(forkYaml)
      yield* execute(yield* stepUuidOf(task, "start"))
      const decide = yield* stepUuidOf(task, "decide")
      yield* execute(decide, success(decide, DecisionOutcome.createSteps(["branch_a", "branch_b"])))
      assert.deepStrictEqual(yield* stepNames(task), ["branch_a", "branch_b", "decide", "finish", "join", "start"])
      assert.deepStrictEqual(yield* edgesOf(task), [
        "branch_a -> join",
        "branch_b -> join",
        "decide -> branch_a",
        "decide -> branch_b",
        "join -> finish",
        "start -> decide"
      ])

      yield* execute(yield* stepUuidOf(task, "branch_a"))
      assert.strictEqual((yield* stepsOf(task)).get("join")!.state, "pending")
      yield* execute(yield* stepUuidOf(task, "branch_b"))
      assert.strictEqual((yield* stepsOf(task)).get("join")!.state, "enqueued")
      yield* runToRest(task)
      assert.strictEqual((yield* taskRow(task)).state, "complete")
    }).pipe(Effect.orDie))
})

layer(decisionLayer({ decisionPoints: { maxStepsPerDecision: 1, warnStepsPerDecision: 0 } }), {
  timeout: "60 seconds",
  excludeTestServices: true
})("Decision points: step limit", (it) => {
  it.effect("more requested steps than maxStepsPerDecision is an invalid outcome", () =>
    Effect.gen(function*() {
      const task = yield* startTask(forkYaml)
      yield* runWithDecision(task, "decide", DecisionOutcome.createSteps(["branch_a", "branch_b"]))
      assert.deepStrictEqual(yield* stepNames(task), ["decide", "start"])
      yield* assertRejected(task, "decide", "more than decisionPoints.maxStepsPerDecision (1)")
    }).pipe(Effect.orDie))

  it.effect("one step is within the limit", () =>
    Effect.gen(function*() {
      const task = yield* startTask(forkYaml)
      yield* runWithDecision(task, "decide", DecisionOutcome.createSteps(["branch_c"]))
      assert.deepStrictEqual(yield* stepNames(task), ["branch_c", "decide", "finish", "join", "start"])
      assert.strictEqual((yield* taskRow(task)).state, "complete")
    }).pipe(Effect.orDie))
})

describe("DecisionPlan", () => {
  const template = (yaml: string) => Effect.runSync(parseTemplate(yaml).pipe(Effect.orDie))
  const names = (plan: ReturnType<typeof planDecision>) =>
    plan._tag === "DecisionPlan" ? plan.steps.map((s) => s.name) : plan.message

  it("adds in-segment dependents, stops at nested decisions, and convergence descendants", () => {
    const t = template(`
name: nested
namespace_name: plan
version: 1.0.0
steps:
  - { name: root, handler: { callable: t } }
  - { name: d1, type: decision, dependencies: [root], handler: { callable: t } }
  - { name: x, dependencies: [d1], handler: { callable: t } }
  - { name: y, dependencies: [x], handler: { callable: t } }
  - { name: d2, type: decision, dependencies: [x], handler: { callable: t } }
  - { name: z, dependencies: [d2], handler: { callable: t } }
  - { name: other, dependencies: [d1], handler: { callable: t } }
  - { name: conv, type: deferred_convergence, dependencies: [y, other], handler: { callable: t } }
  - { name: after_conv, dependencies: [conv, root], handler: { callable: t } }
  - { name: needs_z, dependencies: [conv, z], handler: { callable: t } }
`)
    assert.deepStrictEqual(names(planDecision(t, "d1", ["x"])), ["x", "y", "d2", "conv", "after_conv"])
    assert.deepStrictEqual(names(planDecision(t, "d1", ["x", "x"])), ["x", "y", "d2", "conv", "after_conv"])
    assert.deepStrictEqual(names(planDecision(t, "d2", ["z"])), ["z", "needs_z"])
    assert.include(names(planDecision(t, "d1", ["root"])), "outside the segments reachable from d1: root")
    assert.include(names(planDecision(t, "x", ["y"])), "not a decision step")
  })
})
