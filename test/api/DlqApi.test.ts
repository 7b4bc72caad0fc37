/**
 * The DLQ routes over HTTP (REFERENCE 2.2, 2.3, 8.4, 9): an entry opened for a task is listed,
 * found by task, ranked in the investigation queue, resolved by PATCH (stamped, metadata merged),
 * counted in the stats; the staleness monitor lists non-terminal tasks; unknown ids answer 404.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { TaskerClient } from "../../src/client/TaskerClient.ts"
import { DlqEntryUuid, TaskUuid } from "../../src/domain/Ids.ts"
import { registerYaml, requestFor, uniqueNamespace } from "../orchestration/lifecycle/LifecycleTestKit.ts"
import { apiTestLayer, chainYaml, raw } from "./ApiTestKit.ts"

layer(apiTestLayer(), { timeout: "60 seconds", excludeTestServices: true })("DLQ API", (it) => {
  it.effect("lists, finds, ranks, resolves and counts a DLQ entry", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const sql = yield* SqlClient.SqlClient
      const ns = uniqueNamespace("dlq")
      const template = yield* registerYaml(chainYaml(ns, ["dlq_waits"]))
      const task = yield* client.tasks.create({ payload: yield* requestFor(template, { dlq: true }) })
      const [opened] = yield* sql<{ id: string }>`
        SELECT tasker.create_dlq_entry(${task.task_uuid}::uuid, ${ns}, 'chain', 'steps_in_process', 45, 30,
                                       'staleness_timeout') AS id`
      const entryUuid = DlqEntryUuid.make(opened!.id)

      const pending = yield* client.dlq.list({ query: { resolution_status: "pending" } })
      const listed = pending.find((e) => e.dlq_entry_uuid === entryUuid)
      assert.isDefined(listed)
      assert.strictEqual(listed!.dlq_reason, "staleness_timeout")
      assert.strictEqual(listed!.original_state, "steps_in_process")
      assert.isNull(listed!.resolution_timestamp)

      const byTask = yield* client.dlq.getByTask({ params: { task_uuid: task.task_uuid } })
      assert.strictEqual(byTask.dlq_entry_uuid, entryUuid)
      assert.deepInclude(byTask.task_snapshot, { namespace: ns, task_name: "chain" })

      const queue = yield* client.dlq.investigationQueue({ query: {} })
      const ranked = queue.find((e) => e.dlq_entry_uuid === entryUuid)
      assert.isDefined(ranked)
      assert.isAtLeast(ranked!.priority_score, 100)
      assert.strictEqual(ranked!.namespace_name, ns)

      const summary = yield* client.tasks.summary({ params: { uuid: task.task_uuid } })
      assert.isTrue(summary.dlq_status.in_dlq)

      const resolved = yield* client.dlq.update({
        params: { dlq_entry_uuid: entryUuid },
        payload: {
          resolution_status: "manually_resolved",
          resolution_notes: "re-ran by hand",
          resolved_by: "ops@example.com",
          metadata: { ticket: "OPS-7" }
        }
      })
      assert.strictEqual(resolved.resolution_status, "manually_resolved")
      assert.strictEqual(resolved.resolved_by, "ops@example.com")
      assert.isNotNull(resolved.resolution_timestamp)
      assert.deepInclude(resolved.metadata as object, { ticket: "OPS-7", detection_method: "automatic_staleness" })

      const stats = yield* client.dlq.stats()
      const staleness = stats.find((s) => s.dlq_reason === "staleness_timeout")
      assert.deepInclude(staleness as object, { total_entries: 1, pending: 0, manually_resolved: 1 })
      assert.isNotNull(staleness!.avg_resolution_time_minutes)

      const after = yield* client.dlq.investigationQueue({ query: { limit: 10 } })
      assert.isUndefined(after.find((e) => e.dlq_entry_uuid === entryUuid))
      const all = yield* client.dlq.list({ query: { limit: 10, offset: 0 } })
      assert.isDefined(all.find((e) => e.dlq_entry_uuid === entryUuid))
    }))

  it.effect("lists non-terminal tasks in the staleness monitor", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const ns = uniqueNamespace("stale")
      const template = yield* registerYaml(chainYaml(ns, ["stale_waits"]))
      const task = yield* client.tasks.create({ payload: yield* requestFor(template, {}) })
      const rows = yield* client.dlq.staleness({ query: { limit: 1000 } })
      const row = rows.find((r) => r.task_uuid === task.task_uuid)
      assert.isDefined(row)
      assert.deepInclude(row as object, {
        namespace_name: ns,
        current_state: "steps_in_process",
        health_status: "healthy",
        staleness_threshold_minutes: 30,
        staleness_action: "dlq"
      })
    }))

  it.effect("answers unknown entries and tasks without an entry with 404, a re-opening PATCH with 400", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const missingEntry = yield* client.dlq.update({
        params: { dlq_entry_uuid: DlqEntryUuid.make("0190c1d2-0000-7000-8000-00000000beef") },
        payload: { resolution_notes: "x" }
      }).pipe(Effect.flip)
      assert.strictEqual(missingEntry._tag, "DlqEntryNotFound")
      const noEntry = yield* client.dlq.getByTask({
        params: { task_uuid: TaskUuid.make("0190c1d2-0000-7000-8000-00000000beef") }
      }).pipe(Effect.flip)
      assert.strictEqual(noEntry._tag, "TaskNotInDlq")
      const reopen = yield* raw("PATCH", "/v1/dlq/entry/0190c1d2-0000-7000-8000-00000000beef", {
        resolution_status: "pending"
      })
      assert.strictEqual(reopen.status, 400)
      assert.deepInclude(reopen.body as object, { _tag: "InvalidRequest", location: "payload", path: "resolution_status" })
    }))
})
