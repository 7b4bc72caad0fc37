/**
 * Test kit of the lifecycle suites: the services composed over a fresh database (PgTest), trivial
 * dynamic-step actors, template registration from YAML, task requests, a worker simulated with
 * direct SQL (claim = enqueued -> in_progress; write result = in_progress ->
 * enqueued_[as_error_]for_orchestration with a StepExecutionResult), and readers for steps, tasks,
 * transition logs and worker queue messages.
 */
import { assert } from "@effect/vitest"
import { Context, Effect, Layer, Ref } from "effect"
import { SqlClient } from "effect/sql"
import { type SettingsOverrides, TaskerConfig } from "../../../src/config/TaskerConfig.ts"
import { StepUuid } from "../../../src/domain/Ids.ts"
import { decodeTaskRequest } from "../../../src/domain/TaskRequest.ts"
import {
  encodeStepExecutionResult,
  type OrchestrationMetadata,
  StepExecutionResult
} from "../../../src/domain/StepExecutionResult.ts"
import { BatchProcessingActor, DecisionPointActor } from "../../../src/orchestration/actors/DynamicStepActors.ts"
import type { HydratedStepResult } from "../../../src/orchestration/hydration/StepResultHydrator.ts"
import { StepResultHydrator } from "../../../src/orchestration/hydration/StepResultHydrator.ts"
import { LifecycleEvents } from "../../../src/orchestration/LifecycleEvents.ts"
import { ProcessorId } from "../../../src/orchestration/ProcessorId.ts"
import { LifecycleRepository } from "../../../src/orchestration/lifecycle/LifecycleRepository.ts"
import { ResultProcessor } from "../../../src/orchestration/lifecycle/result-processing/ResultProcessor.ts"
import { StepEnqueuer } from "../../../src/orchestration/lifecycle/step-enqueuer/StepEnqueuer.ts"
import { TaskFinalizer } from "../../../src/orchestration/lifecycle/task-finalization/TaskFinalizer.ts"
import { TaskInitializer } from "../../../src/orchestration/lifecycle/task-initialization/TaskInitializer.ts"
import { parseTemplate } from "../../../src/templates/TemplateLoader.ts"
import { TemplateRegistry } from "../../../src/templates/TemplateRegistry.ts"
import { PgTest } from "../../support/PgTest.ts"

/** What the test actors were called with, and a hook a test may set to create steps. */
type DecisionHook = (completed: HydratedStepResult) => Effect.Effect<ReadonlyArray<string>, never, SqlClient.SqlClient>

export class ActorCalls extends Context.Service<ActorCalls, {
  readonly calls: Ref.Ref<ReadonlyArray<{ readonly actor: string; readonly stepName: string; readonly state: string }>>
  readonly onDecision: Ref.Ref<DecisionHook>
}>()("test/lifecycle/ActorCalls") {
  static readonly layer = Layer.effect(ActorCalls, Effect.gen(function*() {
    return ActorCalls.of({
      calls: yield* Ref.make<ReadonlyArray<{ actor: string; stepName: string; state: string }>>([]),
      onDecision: yield* Ref.make<DecisionHook>(() => Effect.succeed([]))
    })
  }))
}

const TestActors = Layer.effect(
  DecisionPointActor,
  Effect.gen(function*() {
    const { calls, onDecision } = yield* ActorCalls
    const sql = yield* SqlClient.SqlClient
    return DecisionPointActor.of({
      name: "TestDecisionPointActor",
      handle: (completed) =>
        Effect.gen(function*() {
          yield* Ref.update(calls, (all) => [...all, { actor: "decision", stepName: completed.stepName, state: completed.state }])
          const created = yield* Effect.flatMap(Ref.get(onDecision), (hook) => hook(completed))
          return { stepsCreated: created, detail: "test" }
        }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
    })
  })
).pipe(
  Layer.merge(Layer.effect(
    BatchProcessingActor,
    Effect.map(ActorCalls, ({ calls }) =>
      BatchProcessingActor.of({
        name: "TestBatchProcessingActor",
        handle: (completed) =>
          Effect.as(
            Ref.update(calls, (all) => [...all, { actor: "batch", stepName: completed.stepName, state: completed.state }]),
            { stepsCreated: [], detail: "test" }
          )
      }))
  )),
  Layer.provideMerge(ActorCalls.layer)
)

/** The five lifecycle services with their collaborators over a fresh database. */
export const lifecycleLayer = (overrides: SettingsOverrides = {}) => {
  const services = Layer.mergeAll(
    TaskInitializer.layer,
    StepEnqueuer.layer,
    ResultProcessor.layer,
    TaskFinalizer.layer,
    StepResultHydrator.layer
  )
  return services.pipe(
    Layer.provideMerge(Layer.mergeAll(
      TemplateRegistry.layer,
      LifecycleEvents.layer,
      TaskerConfig.layerWith({ ...overrides, backoff: { jitter: false, ...overrides.backoff } }),
      TestActors,
      // the same layer objects the services provide themselves: memoized, so tests share them
      ProcessorId.layer,
      LifecycleRepository.layer
    )),
    Layer.provideMerge(PgTest.layer)
  )
}

let counter = 0
/** A namespace (lowercase, ≤ 29 chars) no other call of this run uses. */
export const uniqueNamespace = (prefix: string) =>
  `${prefix}_${(counter++).toString(36)}${Math.random().toString(36).slice(2, 6)}`.slice(0, 29)

/** Parses, validates and registers a template; returns its namespace, name and version. */
export const registerYaml = (yaml: string) =>
  Effect.gen(function*() {
    const template = yield* parseTemplate(yaml).pipe(Effect.orDie)
    yield* (yield* TemplateRegistry).register(template)
    return { namespace: template.namespace_name, name: template.name, version: template.version }
  })

/** A task request for a registered template. */
export const requestFor = (
  template: { readonly namespace: string; readonly name: string; readonly version: string },
  context: object = {},
  extra: Record<string, unknown> = {}
) =>
  decodeTaskRequest({
    ...template,
    context,
    initiator: "test",
    source_system: "lifecycle-tests",
    reason: "testing",
    ...extra
  }).pipe(Effect.orDie)

// ---------------------------------------------------------------------------------------------
// The worker, simulated with SQL
// ---------------------------------------------------------------------------------------------

/** enqueued -> in_progress (Start: attempts + 1). */
export const claim = (stepUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ ok: boolean }>`
      SELECT tasker.transition_step_state(${stepUuid}::uuid, 'enqueued', 'in_progress') AS ok`
    assert.isTrue(row!.ok, `claim of ${stepUuid}`)
  }).pipe(Effect.orDie)

/** in_progress -> the given state with the result as `results`. */
export const writeResult = (
  stepUuid: string,
  result: StepExecutionResult,
  to: "enqueued_for_orchestration" | "enqueued_as_error_for_orchestration" = result.success
    ? "enqueued_for_orchestration"
    : "enqueued_as_error_for_orchestration"
) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const json = JSON.stringify(yield* encodeStepExecutionResult(result))
    const [row] = yield* sql<{ ok: boolean }>`
      SELECT tasker.transition_step_state(${stepUuid}::uuid, 'in_progress', ${to}, '{}'::jsonb, ${json}::jsonb) AS ok`
    assert.isTrue(row!.ok, `result of ${stepUuid}`)
  }).pipe(Effect.orDie)

export const success = (stepUuid: string, result: object = { ok: true }) =>
  StepExecutionResult.success({ step_uuid: StepUuid.make(stepUuid), result: result as never })

export const failure = (
  stepUuid: string,
  retryable: boolean,
  orchestration_metadata?: Partial<OrchestrationMetadata>
) =>
  StepExecutionResult.failure({
    step_uuid: StepUuid.make(stepUuid),
    message: "handler failed",
    retryable,
    ...(orchestration_metadata === undefined
      ? {}
      : { orchestration_metadata: { headers: {}, custom: {}, ...orchestration_metadata } })
  })

/** Orchestration side of a written result: hydrate + process. */
export const processResult = (stepUuid: string) =>
  Effect.gen(function*() {
    const hydrated = yield* (yield* StepResultHydrator).hydrateStep(stepUuid).pipe(Effect.orDie)
    return yield* (yield* ResultProcessor).process(hydrated)
  })

/** Claim, write the result, process it. */
export const execute = (stepUuid: string, result: StepExecutionResult = success(stepUuid)) =>
  Effect.gen(function*() {
    yield* claim(stepUuid)
    yield* writeResult(stepUuid, result)
    return yield* processResult(stepUuid)
  })

// ---------------------------------------------------------------------------------------------
// Readers
// ---------------------------------------------------------------------------------------------

export interface StepRow {
  readonly stepUuid: string
  readonly name: string
  readonly state: string
  readonly attempts: number
  readonly processed: boolean
  readonly results: unknown
  readonly backoffRequestSeconds: number | null
  readonly lastAttemptedAt: Date | null
}

/** The task's steps by name. */
export const stepsOf = (taskUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<StepRow>`
      SELECT ws.workflow_step_uuid AS "stepUuid", ns.name, ws.current_state AS state, ws.attempts, ws.processed,
             ws.results, ws.backoff_request_seconds AS "backoffRequestSeconds", ws.last_attempted_at AS "lastAttemptedAt"
      FROM tasker.workflow_steps ws JOIN tasker.named_steps ns USING (named_step_uuid)
      WHERE ws.task_uuid = ${taskUuid}::uuid ORDER BY ws.workflow_step_uuid`
    return new Map(rows.map((r) => [r.name, r]))
  }).pipe(Effect.orDie)

export const stepUuidOf = (taskUuid: string, name: string) =>
  Effect.map(stepsOf(taskUuid), (steps) => {
    const step = steps.get(name)
    assert.isDefined(step, `step ${name}`)
    return step!.stepUuid
  })

/** Names of the task's steps in the given state, sorted. */
export const stepNamesIn = (taskUuid: string, state: string) =>
  Effect.map(stepsOf(taskUuid), (steps) => [...steps.values()].filter((s) => s.state === state).map((s) => s.name).sort())

export const taskRow = (taskUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ state: string; complete: boolean; completedAt: Date | null; correlationId: string }>`
      SELECT current_state AS state, complete, completed_at AS "completedAt", correlation_id AS "correlationId"
      FROM tasker.tasks WHERE task_uuid = ${taskUuid}::uuid`
    return row!
  }).pipe(Effect.orDie)

/** The messages of a worker queue that name the task, in send order. */
export const workerMessages = (namespace: string, taskUuid: string) =>
  Effect.gen(function*() {
    assert.match(namespace, /^[a-z0-9_]+$/)
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ message: Record<string, string> }>`
      SELECT message FROM ${sql.literal(`pgmq.q_worker_${namespace}_queue`)}
      WHERE message ->> 'task_uuid' = ${taskUuid} ORDER BY msg_id`
    return rows.map((r) => r.message)
  }).pipe(Effect.orDie)

/** The task's state path from its transition log (sort_key order). */
export const taskPath = (taskUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ toState: string }>`
      SELECT to_state AS "toState" FROM tasker.task_transitions WHERE task_uuid = ${taskUuid}::uuid ORDER BY sort_key`
    return rows.map((r) => r.toState)
  }).pipe(Effect.orDie)

/** A step's state path from its transition log (sort_key order). */
export const stepPath = (stepUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ toState: string }>`
      SELECT to_state AS "toState" FROM tasker.workflow_step_transitions
      WHERE workflow_step_uuid = ${stepUuid}::uuid ORDER BY sort_key`
    return rows.map((r) => r.toState)
  }).pipe(Effect.orDie)

/**
 * Runs the task to a resting point like a worker pool that succeeds every step: claims every
 * enqueued step, writes a success and processes it, until nothing is enqueued.
 */
export const runToRest = (taskUuid: string, resultFor: (name: string, stepUuid: string) => StepExecutionResult = (_, uuid) => success(uuid)) =>
  Effect.gen(function*() {
    for (let round = 0; round < 50; round++) {
      const steps = [...(yield* stepsOf(taskUuid)).values()].filter((s) => s.state === "enqueued")
      if (steps.length === 0) return
      for (const step of steps) yield* execute(step.stepUuid, resultFor(step.name, step.stepUuid))
    }
    assert.fail("task did not come to rest in 50 rounds")
  })
