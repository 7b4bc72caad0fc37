/**
 * Task creation (REFERENCE 12.1 atomic creation + dispatch, 12.2 identity dedup) against a real
 * database: the initial step set, the root steps' worker messages, identity strategies, and a
 * cycle in the stored configuration.
 */
import { assert, layer } from "@effect/vitest"
import { Cause, Effect, Exit, PubSub } from "effect"
import { SqlClient } from "effect/sql"
import { LifecycleEvents } from "../../../src/orchestration/LifecycleEvents.ts"
import { TaskGraphCycle } from "../../../src/orchestration/lifecycle/LifecycleRepository.ts"
import { TaskInitializer } from "../../../src/orchestration/lifecycle/task-initialization/TaskInitializer.ts"
import { lifecycleLayer, registerYaml, requestFor, stepsOf, taskPath, taskRow, uniqueNamespace, workerMessages } from "./LifecycleTestKit.ts"

const mixedYaml = (ns: string) => `
name: mixed_creation
namespace_name: ${ns}
version: 1.0.0
steps:
  - { name: mc_root_a, handler: { callable: t.A }, retry: { retryable: false, max_attempts: 1 } }
  - { name: mc_root_b, handler: { callable: t.B, initialization: { region: eu } } }
  - { name: mc_after_a, dependencies: [mc_root_a], handler: { callable: t.C }, retry: { max_attempts: 7 } }
  - { name: mc_decide, type: decision, dependencies: [mc_root_a], handler: { callable: t.D } }
  - { name: mc_branch, dependencies: [mc_decide], handler: { callable: t.E } }
  - { name: mc_converge, type: deferred_convergence, dependencies: [mc_branch, mc_after_a], handler: { callable: t.F } }
  - name: mc_batch
    type: batchable
    dependencies: [mc_root_b]
    handler: { callable: t.G }
    batch_config: { worker_template: mc_worker }
  - { name: mc_worker, type: batch_worker, dependencies: [mc_batch], handler: { callable: t.H } }
  - { name: mc_batch_done, type: deferred_convergence, dependencies: [mc_worker], handler: { callable: t.I } }
`

const pairYaml = (ns: string, strategy: string) => `
name: pair
namespace_name: ${ns}
version: 1.0.0
identity_strategy: ${strategy}
steps:
  - { name: pair_first, handler: { callable: t.First } }
  - { name: pair_second, dependencies: [pair_first], handler: { callable: t.Second } }
`

const tasksOfTemplate = (namespace: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ tasks: number; steps: number }>`
      SELECT count(DISTINCT t.task_uuid)::int AS tasks, count(ws.workflow_step_uuid)::int AS steps
      FROM tasker.tasks t
      JOIN tasker.named_tasks nt USING (named_task_uuid)
      JOIN tasker.task_namespaces tns USING (task_namespace_uuid)
      LEFT JOIN tasker.workflow_steps ws ON ws.task_uuid = t.task_uuid
      WHERE tns.name = ${namespace}`
    return row!
  }).pipe(Effect.orDie)

layer(lifecycleLayer(), { timeout: "60 seconds", excludeTestServices: true })("TaskInitializer", (it) => {
  it.effect("creates the task, the initial step set and its edges, and dispatches exactly the roots (12.1)", () =>
    Effect.gen(function*() {
      const ns = uniqueNamespace("create")
      const template = yield* registerYaml(mixedYaml(ns))
      const created = yield* (yield* TaskInitializer).initialize(yield* requestFor(template, { order: 1 }))

      assert.strictEqual(created.state, "steps_in_process")
      assert.strictEqual(created.stepsCreated, 5)
      assert.strictEqual(created.stepsEnqueued, 2)
      assert.deepStrictEqual(yield* taskPath(created.taskUuid), ["pending", "initializing", "enqueuing_steps", "steps_in_process"])

      const steps = yield* stepsOf(created.taskUuid)
      assert.deepStrictEqual([...steps.keys()].sort(), ["mc_after_a", "mc_batch", "mc_decide", "mc_root_a", "mc_root_b"])
      assert.deepStrictEqual(
        [...steps.values()].filter((s) => s.state === "enqueued").map((s) => s.name).sort(),
        ["mc_root_a", "mc_root_b"]
      )
      assert.deepStrictEqual([...created.enqueuedStepUuids].sort(), [steps.get("mc_root_a")!.stepUuid, steps.get("mc_root_b")!.stepUuid].sort())

      const sql = yield* SqlClient.SqlClient
      const details = yield* sql<{ name: string; retryable: boolean; maxAttempts: number; inputs: unknown }>`
        SELECT ns.name, ws.retryable, ws.max_attempts AS "maxAttempts", ws.inputs
        FROM tasker.workflow_steps ws JOIN tasker.named_steps ns USING (named_step_uuid)
        WHERE ws.task_uuid = ${created.taskUuid}::uuid ORDER BY ns.name`
      assert.deepStrictEqual(details.map((d) => [d.name, d.retryable, d.maxAttempts, d.inputs]), [
        ["mc_after_a", true, 7, {}],
        ["mc_batch", true, 3, {}],
        ["mc_decide", true, 3, {}],
        ["mc_root_a", false, 1, {}],
        ["mc_root_b", true, 3, { region: "eu" }]
      ])
      const edges = yield* sql<{ parent: string; child: string; name: string }>`
        SELECT pn.name AS parent, cn.name AS child, e.name
        FROM tasker.workflow_step_edges e
        JOIN tasker.workflow_steps p ON p.workflow_step_uuid = e.from_step_uuid
        JOIN tasker.named_steps pn ON pn.named_step_uuid = p.named_step_uuid
        JOIN tasker.workflow_steps c ON c.workflow_step_uuid = e.to_step_uuid
        JOIN tasker.named_steps cn ON cn.named_step_uuid = c.named_step_uuid
        WHERE p.task_uuid = ${created.taskUuid}::uuid ORDER BY 1, 2`
      assert.deepStrictEqual(edges.map((e) => [e.parent, e.child, e.name]), [
        ["mc_root_a", "mc_after_a", "provides"],
        ["mc_root_a", "mc_decide", "provides"],
        ["mc_root_b", "mc_batch", "provides"]
      ])

      const { correlationId } = yield* taskRow(created.taskUuid)
      assert.strictEqual(correlationId, created.correlationId)
      const messages = yield* workerMessages(ns, created.taskUuid)
      assert.deepStrictEqual(
        [...messages].sort((a, b) => a.step_uuid!.localeCompare(b.step_uuid!)),
        ["mc_root_a", "mc_root_b"].map((name) => ({
          task_uuid: created.taskUuid,
          step_uuid: steps.get(name)!.stepUuid,
          correlation_id: created.correlationId
        })).sort((a, b) => a.step_uuid.localeCompare(b.step_uuid))
      )
    }))

  it.effect("keeps a caller's correlation id and completes a task without initial steps", () =>
    Effect.gen(function*() {
      const ns = uniqueNamespace("empty")
      const template = yield* registerYaml(`
name: only_workers
namespace_name: ${ns}
version: 1.0.0
steps:
  - { name: lonely_worker, type: batch_worker, handler: { callable: t.W } }
`)
      const correlation = "0190f3a4-1c2b-7d3e-8f41-00000000c0de"
      const created = yield* (yield* TaskInitializer).initialize(yield* requestFor(template, {}, { correlation_id: correlation }))
      assert.strictEqual(created.correlationId, correlation)
      assert.strictEqual(created.state, "complete")
      assert.strictEqual(created.stepsCreated, 0)
      const row = yield* taskRow(created.taskUuid)
      assert.isTrue(row.complete)
      assert.isNotNull(row.completedAt)
      assert.deepStrictEqual(yield* taskPath(created.taskUuid), ["pending", "initializing", "complete"])
    }))

  it.effect("strict identity: an equivalent context conflicts and creates nothing; a different one succeeds (12.2)", () =>
    Effect.gen(function*() {
      const initializer = yield* TaskInitializer
      const ns = uniqueNamespace("strict")
      const template = yield* registerYaml(pairYaml(ns, "strict"))
      const first = yield* initializer.initialize(yield* requestFor(template, { a: 1, b: { c: [1, 2], d: "x" } }))
      const equivalent = JSON.parse(`{ "b" : { "d":"x",   "c": [1,2] },\n "a":1 }`)
      const conflict = yield* Effect.flip(initializer.initialize(yield* requestFor(template, equivalent)))
      assert.strictEqual(conflict._tag, "TaskConflict")
      assert.strictEqual(conflict._tag === "TaskConflict" ? conflict.existing_task_uuid : undefined, first.taskUuid)
      assert.deepStrictEqual(yield* tasksOfTemplate(ns), { tasks: 1, steps: 2 })
      assert.strictEqual((yield* workerMessages(ns, first.taskUuid)).length, 1)

      yield* initializer.initialize(yield* requestFor(template, { a: 2, b: { c: [1, 2], d: "x" } }))
      // array order is significant
      yield* initializer.initialize(yield* requestFor(template, { a: 1, b: { c: [2, 1], d: "x" } }))
      assert.deepStrictEqual(yield* tasksOfTemplate(ns), { tasks: 3, steps: 6 })
    }))

  it.effect("concurrent identical requests create one task; the others conflict", () =>
    Effect.gen(function*() {
      const initializer = yield* TaskInitializer
      const ns = uniqueNamespace("race")
      const template = yield* registerYaml(pairYaml(ns, "strict"))
      const request = yield* requestFor(template, { same: "payload" })
      const exits = yield* Effect.forEach([1, 2, 3, 4], () => Effect.exit(initializer.initialize(request)), { concurrency: 4 })
      assert.strictEqual(exits.filter(Exit.isSuccess).length, 1)
      const conflicts = exits.filter(Exit.isFailure).map((e) => Cause.squash(e.cause))
      assert.strictEqual(conflicts.length, 3)
      for (const conflict of conflicts) assert.strictEqual((conflict as { _tag?: string })._tag, "TaskConflict")
      assert.deepStrictEqual(yield* tasksOfTemplate(ns), { tasks: 1, steps: 2 })
    }))

  it.effect("caller_provided needs a key; the same key conflicts (12.2)", () =>
    Effect.gen(function*() {
      const initializer = yield* TaskInitializer
      const ns = uniqueNamespace("caller")
      const template = yield* registerYaml(pairYaml(ns, "caller_provided"))
      const missing = yield* Effect.flip(initializer.initialize(yield* requestFor(template, { a: 1 })))
      assert.strictEqual(missing._tag, "IdempotencyKeyRequired")
      assert.deepStrictEqual(yield* tasksOfTemplate(ns), { tasks: 0, steps: 0 })

      const first = yield* initializer.initialize(yield* requestFor(template, { a: 1 }, { idempotency_key: "order-17" }))
      const again = yield* Effect.flip(initializer.initialize(yield* requestFor(template, { a: 2 }, { idempotency_key: "order-17" })))
      assert.strictEqual(again._tag, "TaskConflict")
      assert.strictEqual(again._tag === "TaskConflict" ? again.existing_task_uuid : undefined, first.taskUuid)
      yield* initializer.initialize(yield* requestFor(template, { a: 1 }, { idempotency_key: "order-18" }))
      assert.deepStrictEqual(yield* tasksOfTemplate(ns), { tasks: 2, steps: 4 })
    }))

  it.effect("always_unique allows identical contexts; an idempotency key always wins (12.2)", () =>
    Effect.gen(function*() {
      const initializer = yield* TaskInitializer
      const uniqueNs = uniqueNamespace("unique")
      const unique = yield* registerYaml(pairYaml(uniqueNs, "always_unique"))
      yield* initializer.initialize(yield* requestFor(unique, { same: true }))
      yield* initializer.initialize(yield* requestFor(unique, { same: true }))
      assert.deepStrictEqual(yield* tasksOfTemplate(uniqueNs), { tasks: 2, steps: 4 })
      yield* initializer.initialize(yield* requestFor(unique, { same: true }, { idempotency_key: "k1" }))
      const keyed = yield* Effect.flip(initializer.initialize(yield* requestFor(unique, { other: true }, { idempotency_key: "k1" })))
      assert.strictEqual(keyed._tag, "TaskConflict")

      const strictNs = uniqueNamespace("keyed")
      const strict = yield* registerYaml(pairYaml(strictNs, "strict"))
      yield* initializer.initialize(yield* requestFor(strict, { a: 1 }, { idempotency_key: "k2" }))
      const sameKey = yield* Effect.flip(initializer.initialize(yield* requestFor(strict, { a: 2 }, { idempotency_key: "k2" })))
      assert.strictEqual(sameKey._tag, "TaskConflict")
      // the same context without the key hashes the context, not the key: a new task
      yield* initializer.initialize(yield* requestFor(strict, { a: 1 }))
      assert.deepStrictEqual(yield* tasksOfTemplate(strictNs), { tasks: 2, steps: 4 })
    }))

  it.effect("answers TemplateNotFound for an unregistered template", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip((yield* TaskInitializer).initialize(
        yield* requestFor({ namespace: "nowhere", name: "nothing", version: "1.0.0" })
      ))
      assert.strictEqual(error._tag, "TemplateNotFound")
    }))

  it.effect("refuses a cycle in the stored configuration with TaskGraphCycle and writes nothing", () =>
    Effect.gen(function*() {
      const ns = uniqueNamespace("cycle")
      const template = yield* registerYaml(`
name: loop
namespace_name: ${ns}
version: 1.0.0
steps:
  - { name: cy_a, handler: { callable: t.A } }
  - { name: cy_b, dependencies: [cy_a], handler: { callable: t.B } }
  - { name: cy_c, dependencies: [cy_b], handler: { callable: t.C } }
  - { name: cy_side, handler: { callable: t.S } }
`)
      const sql = yield* SqlClient.SqlClient
      yield* sql`
        UPDATE tasker.named_tasks nt SET configuration = jsonb_set(configuration, '{steps,0,dependencies}', '["cy_c"]')
        FROM tasker.task_namespaces tns
        WHERE tns.task_namespace_uuid = nt.task_namespace_uuid AND tns.name = ${ns}`.pipe(Effect.orDie)
      const exit = yield* Effect.exit((yield* TaskInitializer).initialize(yield* requestFor(template, {})))
      assert.isTrue(Exit.isFailure(exit))
      const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assert.instanceOf(defect, TaskGraphCycle)
      assert.deepStrictEqual((defect as TaskGraphCycle).steps, ["cy_a", "cy_b", "cy_c"])
      assert.deepStrictEqual(yield* tasksOfTemplate(ns), { tasks: 0, steps: 0 })
    }))

  it.effect("publishes the creation's lifecycle events after commit", () =>
    Effect.gen(function*() {
      const subscription = yield* (yield* LifecycleEvents).subscribe
      const ns = uniqueNamespace("events")
      const template = yield* registerYaml(pairYaml(ns, "strict"))
      const created = yield* (yield* TaskInitializer).initialize(yield* requestFor(template, { e: 1 }))
      const events = yield* PubSub.takeAll(subscription)
      const names = events.filter((e) => e.taskUuid === created.taskUuid).map((e) => e.name)
      assert.includeMembers(names, ["task.initialize_requested", "task.steps_discovery_completed", "task.steps_enqueued"])
    }))
})
