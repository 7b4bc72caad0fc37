/**
 * Manual step actions over HTTP (REFERENCE 7.4, 9, 12.15; DESIGN 4.7): resolving or completing a
 * permanently failed step lets its task run on to completion; a reset runs the step again; an
 * action that does not apply answers 400, a step of another task 404, a malformed body 400.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Ref, Schedule } from "effect"
import type { StepResponse } from "../../src/api/ApiSchemas.ts"
import { TaskerClient } from "../../src/client/TaskerClient.ts"
import type { TaskUuid } from "../../src/domain/Ids.ts"
import type { StepState } from "../../src/domain/StepState.ts"
import { registerYaml, requestFor, uniqueNamespace } from "../orchestration/lifecycle/LifecycleTestKit.ts"
import { Behaviour, TestWorker } from "../support/TestWorker.ts"
import { apiTestLayer, awaitTaskState, chainYaml, raw } from "./ApiTestKit.ts"

/** Polls the task's steps until the named one is in `state`; returns it. */
const awaitStep = (taskUuid: TaskUuid, name: string, state: StepState) =>
  Effect.gen(function*() {
    const client = yield* TaskerClient
    const steps = yield* client.steps.list({ params: { uuid: taskUuid } }).pipe(
      Effect.orDie,
      Effect.repeat({
        until: (steps: ReadonlyArray<StepResponse>) => steps.some((s) => s.name === name && s.current_state === state),
        schedule: Schedule.spaced("50 millis")
      }),
      Effect.timeoutOrElse({ duration: "15 seconds", orElse: () => Effect.die(new Error(`${name} never reached ${state}`)) })
    )
    return steps.find((s) => s.name === name)!
  })

/** A chain `ok -> broken -> after` whose middle step fails permanently (the task is then blocked). */
const failedMiddleStep = (prefix: string) =>
  Effect.gen(function*() {
    const client = yield* TaskerClient
    const ns = uniqueNamespace(prefix)
    const [ok, broken, after] = [`${prefix}_ok`, `${prefix}_broken`, `${prefix}_after`]
    const template = yield* registerYaml(chainYaml(ns, [ok, broken, after]))
    yield* TestWorker.run({
      namespace: ns,
      handlers: {
        [ok]: Behaviour.succeed({ ran: ok }),
        [broken]: Behaviour.failPermanent("broken"),
        [after]: Behaviour.succeed({ ran: after })
      },
      pollInterval: "20 millis"
    })
    const task = yield* client.tasks.create({ payload: yield* requestFor(template, { prefix }) })
    const failed = yield* awaitStep(task.task_uuid, broken, "error")
    const done = yield* awaitStep(task.task_uuid, ok, "complete")
    return { task, failed, done, after }
  })

layer(apiTestLayer(), { timeout: "60 seconds", excludeTestServices: true })("Steps API", (it) => {
  it.effect("resolve_manually on a permanently failed step lets its task run on to completion", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const { after, failed, task } = yield* failedMiddleStep("resolve")
      const resolved = yield* client.steps.resolve({
        params: { uuid: task.task_uuid, step_uuid: failed.step_uuid },
        payload: { action_type: "resolve_manually", reason: "fixed upstream", resolved_by: "ops@example.com" }
      })
      assert.strictEqual(resolved.current_state, "resolved_manually")
      const done = yield* awaitTaskState(task.task_uuid, "complete")
      assert.deepStrictEqual(done.steps.map((s) => s.current_state), ["complete", "resolved_manually", "complete"])
      const afterStep = (yield* client.steps.list({ params: { uuid: task.task_uuid } })).find((s) => s.name === after)!
      assert.deepStrictEqual((afterStep.results as { result: unknown }).result, { ran: after })
    }))

  it.effect("complete_manually stores the operator's result and the task completes", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const { failed, task } = yield* failedMiddleStep("complete")
      const completed = yield* client.steps.resolve({
        params: { uuid: task.task_uuid, step_uuid: failed.step_uuid },
        payload: {
          action_type: "complete_manually",
          completion_data: { result: { fixed: true }, metadata: { ticket: "OPS-1" } },
          reason: "computed by hand",
          completed_by: "ops@example.com"
        }
      })
      assert.strictEqual(completed.current_state, "complete")
      const results = completed.results as { success: boolean; result: unknown }
      assert.isTrue(results.success)
      assert.deepStrictEqual(results.result, { fixed: true })
      yield* awaitTaskState(task.task_uuid, "complete")
    }))

  it.effect("reset_for_retry runs the step again with its attempts reset", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const ns = uniqueNamespace("reset")
      const template = yield* registerYaml(chainYaml(ns, ["reset_flaky"]))
      const runs = yield* Ref.make(0)
      yield* TestWorker.run({
        namespace: ns,
        handlers: {
          reset_flaky: Behaviour.custom(() =>
            Ref.getAndUpdate(runs, (n) => n + 1).pipe(
              Effect.map((n) => n === 0 ? Behaviour.failPermanent("first run fails") : Behaviour.succeed({ run: n }))
            )
          )
        },
        pollInterval: "20 millis"
      })
      const task = yield* client.tasks.create({ payload: yield* requestFor(template, {}) })
      const failed = yield* awaitStep(task.task_uuid, "reset_flaky", "error")
      assert.strictEqual(failed.attempts, 1)
      assert.isFalse(failed.retry_eligible)
      const reset = yield* client.steps.resolve({
        params: { uuid: task.task_uuid, step_uuid: failed.step_uuid },
        payload: { action_type: "reset_for_retry", reason: "try again", reset_by: "ops@example.com" }
      })
      assert.include(["pending", "enqueued", "in_progress", "enqueued_for_orchestration", "complete"], reset.current_state)
      yield* awaitTaskState(task.task_uuid, "complete")
      assert.strictEqual(yield* Ref.get(runs), 2)
    }))

  it.effect("answers 400 for an action that does not apply, 404 for another task's step, 400 for a bad body", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const { done, failed, task } = yield* failedMiddleStep("errors")
      const other = yield* failedMiddleStep("other")

      // a complete step of a blocked task: no manual action applies
      const illegal = yield* client.steps.resolve({
        params: { uuid: task.task_uuid, step_uuid: done.step_uuid },
        payload: { action_type: "reset_for_retry", reason: "again", reset_by: "ops" }
      }).pipe(Effect.flip)
      assert.strictEqual(illegal._tag, "IllegalTransition")
      const status = yield* raw("PATCH", `/v1/tasks/${task.task_uuid}/workflow_steps/${done.step_uuid}`, {
        action_type: "resolve_manually",
        reason: "again",
        resolved_by: "ops"
      })
      assert.strictEqual(status.status, 400)
      assert.deepInclude(status.body as object, { _tag: "IllegalTransition", from: "complete", to: "resolved_manually" })

      const foreign = yield* client.steps.get({ params: { uuid: task.task_uuid, step_uuid: other.done.step_uuid } })
        .pipe(Effect.flip)
      assert.strictEqual(foreign._tag, "StepNotFound")
      const foreignPatch = yield* raw("PATCH", `/v1/tasks/${task.task_uuid}/workflow_steps/${other.failed.step_uuid}`, {
        action_type: "resolve_manually",
        reason: "x",
        resolved_by: "ops"
      })
      assert.strictEqual(foreignPatch.status, 404)
      assert.strictEqual((foreignPatch.body as { _tag: string })._tag, "StepNotFound")

      const badBody = yield* raw("PATCH", `/v1/tasks/${task.task_uuid}/workflow_steps/${failed.step_uuid}`, {
        action_type: "explode",
        reason: "x"
      })
      assert.strictEqual(badBody.status, 400)
      assert.deepInclude(badBody.body as object, { _tag: "InvalidRequest", location: "payload" })
    }))
})
