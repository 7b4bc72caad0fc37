/**
 * The task routes over real HTTP through the typed client (REFERENCE 9, 12.1, 12.2, 12.15): a task
 * created from a registered template runs to completion with the test worker and reads back with
 * each step's results; duplicates answer 409 with the existing uuid; invalid bodies 400 naming the
 * field; unknown templates 404; a running task cancels once, then 400; listing and pagination.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import type { StepResponse } from "../../src/api/ApiSchemas.ts"
import { TaskerClient } from "../../src/client/TaskerClient.ts"
import { TaskUuid } from "../../src/domain/Ids.ts"
import { decodeTaskRequest } from "../../src/domain/TaskRequest.ts"
import { registerYaml, requestFor, uniqueNamespace } from "../orchestration/lifecycle/LifecycleTestKit.ts"
import { Behaviour, TestWorker } from "../support/TestWorker.ts"
import { apiTestLayer, awaitTaskState, chainYaml, raw } from "./ApiTestKit.ts"

const body = (template: { namespace: string; name: string; version: string }, extra: Record<string, unknown> = {}) => ({
  ...template,
  context: { order: 1 },
  initiator: "api-test",
  source_system: "tests",
  reason: "testing",
  ...extra
})

layer(apiTestLayer(), { timeout: "60 seconds", excludeTestServices: true })("Tasks API", (it) => {
  it.effect("creates a task that a worker runs to completion; GET shows every step's results", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const ns = uniqueNamespace("e2e")
      const steps = ["e2e_fetch", "e2e_transform", "e2e_store"]
      const template = yield* registerYaml(chainYaml(ns, steps))
      yield* TestWorker.run({
        namespace: ns,
        handlers: Object.fromEntries(steps.map((s) => [s, Behaviour.succeed({ step: s })])),
        pollInterval: "20 millis"
      })
      const created = yield* client.tasks.create({ payload: yield* requestFor(template, { order: 1 }) })
      assert.strictEqual(created.name, "chain")
      assert.strictEqual(created.namespace, ns)
      assert.strictEqual(created.total_steps, 3)
      assert.strictEqual(created.steps.length, 3)
      assert.strictEqual(created.initiator, "test")

      const done = yield* awaitTaskState(created.task_uuid, "complete")
      assert.isNotNull(done.completed_at)
      assert.strictEqual(done.completion_percentage, 100)
      assert.strictEqual(done.execution_status, "all_complete")
      assert.deepStrictEqual(done.steps.map((s) => s.current_state), ["complete", "complete", "complete"])

      const listed = yield* client.steps.list({ params: { uuid: created.task_uuid } })
      assert.deepStrictEqual(listed.map((s) => s.name), steps)
      for (const step of listed) {
        assert.strictEqual(step.current_state, "complete")
        assert.isNotNull(step.completed_at)
        assert.strictEqual(step.attempts, 1)
        const results = step.results as { success: boolean; result: { step: string } }
        assert.isTrue(results.success)
        assert.deepStrictEqual(results.result, { step: step.name })
      }

      const one = yield* client.steps.get({ params: { uuid: created.task_uuid, step_uuid: listed[1]!.step_uuid } })
      assert.strictEqual(one.name, "e2e_transform")
      const audit = yield* client.steps.audit({ params: { uuid: created.task_uuid, step_uuid: listed[0]!.step_uuid } })
      assert.strictEqual(audit.length, 1)
      assert.isTrue(audit[0]!.success)
      assert.strictEqual(audit[0]!.to_state, "enqueued_for_orchestration")

      const summary = yield* client.tasks.summary({ params: { uuid: created.task_uuid } })
      assert.strictEqual(summary.task_status, "complete")
      assert.strictEqual(summary.step_summaries.length, 3)
      assert.isFalse(summary.dlq_status.in_dlq)
    }))

  it.effect("answers a duplicate with 409 and the existing task's uuid", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const template = yield* registerYaml(chainYaml(uniqueNamespace("dup"), ["dup_only"]))
      const first = yield* client.tasks.create({ payload: yield* requestFor(template, { a: 1, b: 2 }) })
      // The same context with another key order is the same identity.
      const error = yield* client.tasks.create({ payload: yield* requestFor(template, { b: 2, a: 1 }) }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "TaskConflict")
      assert.strictEqual(error._tag === "TaskConflict" ? error.existing_task_uuid : undefined, first.task_uuid)
      const response = yield* raw("POST", "/v1/tasks", body(template, { context: { a: 1, b: 2 } }))
      assert.strictEqual(response.status, 409)
    }))

  it.effect("answers an invalid request with 400 naming the field", () =>
    Effect.gen(function*() {
      const template = yield* registerYaml(chainYaml(uniqueNamespace("bad"), ["bad_only"]))
      const priority = yield* raw("POST", "/v1/tasks", body(template, { priority: 101 }))
      assert.strictEqual(priority.status, 400)
      assert.deepInclude(priority.body as object, { _tag: "InvalidTaskRequest", path: "priority" })

      const { name: _, ...withoutName } = body(template)
      const missing = yield* raw("POST", "/v1/tasks", withoutName)
      assert.strictEqual(missing.status, 400)
      assert.deepInclude(missing.body as object, { _tag: "InvalidTaskRequest", path: "name" })

      const notJson = yield* raw("POST", "/v1/tasks", "not an object")
      assert.strictEqual(notJson.status, 400)
      assert.strictEqual((notJson.body as { _tag: string })._tag, "InvalidTaskRequest")

      const badUuid = yield* raw("GET", "/v1/tasks/not-a-uuid")
      assert.strictEqual(badUuid.status, 400)
      assert.deepInclude(badUuid.body as object, { _tag: "InvalidRequest", location: "params", path: "uuid" })

      const badPage = yield* raw("GET", "/v1/tasks?per_page=101")
      assert.strictEqual(badPage.status, 400)
      assert.deepInclude(badPage.body as object, { _tag: "InvalidRequest", location: "query", path: "per_page" })
    }))

  it.effect("answers an unknown template with 404 and an unknown task with 404", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const request = yield* decodeTaskRequest(body({ namespace: "nowhere", name: "nothing", version: "9.9.9" }))
      const error = yield* client.tasks.create({ payload: request }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "TemplateNotFound")
      const missing = TaskUuid.make("0190c1d2-0000-7000-8000-00000000dead")
      const notFound = yield* client.tasks.get({ params: { uuid: missing } }).pipe(Effect.flip)
      assert.strictEqual(notFound._tag, "TaskNotFound")
      const response = yield* raw("GET", `/v1/tasks/${missing}/workflow_steps`)
      assert.strictEqual(response.status, 404)
      assert.deepInclude(response.body as object, { _tag: "TaskNotFound", task_uuid: missing })
    }))

  it.effect("cancels a running task once; a second cancel answers 400", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const ns = uniqueNamespace("cancel")
      const template = yield* registerYaml(chainYaml(ns, ["cancel_slow", "cancel_next"]))
      yield* TestWorker.run({
        namespace: ns,
        handlers: { cancel_slow: Behaviour.sleep(3_000, Behaviour.succeed()), cancel_next: Behaviour.succeed() },
        pollInterval: "20 millis"
      })
      const task = yield* client.tasks.create({ payload: yield* requestFor(template, { run: "cancel" }) })
      yield* client.steps.list({ params: { uuid: task.task_uuid } }).pipe(
        Effect.repeat({
          until: (steps: ReadonlyArray<StepResponse>) => steps[0]?.current_state === "in_progress",
          schedule: Schedule.spaced("50 millis")
        }),
        Effect.timeout("10 seconds")
      )
      const cancelled = yield* client.tasks.cancel({ params: { uuid: task.task_uuid } })
      assert.strictEqual(cancelled.status, "cancelled")
      assert.deepStrictEqual(cancelled.steps.map((s) => s.current_state), ["cancelled", "cancelled"])
      assert.isNotNull(cancelled.completed_at)
      const again = yield* client.tasks.cancel({ params: { uuid: task.task_uuid } }).pipe(Effect.flip)
      assert.strictEqual(again._tag, "TaskAlreadyTerminal")
      const response = yield* raw("DELETE", `/v1/tasks/${task.task_uuid}`)
      assert.strictEqual(response.status, 400)
    }))

  it.effect("lists tasks newest first with filters and pagination", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const ns = uniqueNamespace("list")
      const template = yield* registerYaml(chainYaml(ns, ["list_only"]))
      const created = yield* Effect.forEach([1, 2, 3, 4, 5], (i) =>
        Effect.flatMap(requestFor(template, { i }, { source_system: i % 2 === 0 ? "even" : "odd" }), (payload) =>
          client.tasks.create({ payload })))
      const page1 = yield* client.tasks.list({ query: { namespace: ns, per_page: 2 } })
      assert.deepStrictEqual(page1.pagination, {
        page: 1,
        per_page: 2,
        total_count: 5,
        total_pages: 3,
        has_next: true,
        has_previous: false
      })
      assert.deepStrictEqual(page1.tasks.map((t) => t.task_uuid), [created[4]!.task_uuid, created[3]!.task_uuid])
      assert.strictEqual(page1.tasks[0]!.steps.length, 1)
      const page3 = yield* client.tasks.list({ query: { namespace: ns, per_page: 2, page: 3 } })
      assert.deepStrictEqual(page3.tasks.map((t) => t.task_uuid), [created[0]!.task_uuid])
      const beyond = yield* client.tasks.list({ query: { namespace: ns, per_page: 2, page: 9 } })
      assert.strictEqual(beyond.tasks.length, 0)
      assert.strictEqual(beyond.pagination.total_count, 5)
      const even = yield* client.tasks.list({ query: { namespace: ns, source_system: "even" } })
      assert.strictEqual(even.pagination.total_count, 2)
      const byStatus = yield* client.tasks.list({ query: { namespace: ns, status: "complete" } })
      assert.strictEqual(byStatus.pagination.total_count, 0)
      const byInitiator = yield* client.tasks.list({ query: { namespace: ns, initiator: "test" } })
      assert.strictEqual(byInitiator.pagination.total_count, 5)
    }))
})
