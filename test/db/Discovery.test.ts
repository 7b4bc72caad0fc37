/**
 * Ready-task discovery (REFERENCE 4.3): which tasks the readiness poller gets, in which order,
 * and that concurrent pollers never receive the same task (FOR UPDATE SKIP LOCKED).
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import type { TaskState } from "../../src/domain/TaskState.ts"
import {
  driveStepsTo,
  driveTasksTo,
  insertNamedTask,
  insertTasks,
  insertWorkflow,
  raceTransactions
} from "../support/Fixtures.ts"
import { PgTest } from "../support/PgTest.ts"

interface ReadyTask {
  readonly taskUuid: string
  readonly taskName: string
  readonly namespaceName: string
  readonly priority: number
  readonly readyStepsCount: number
  readonly currentState: string
}

const nextReadyTasks = (limit: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<ReadyTask>`
      SELECT task_uuid, task_name, namespace_name, priority, ready_steps_count::int, current_state
      FROM tasker.get_next_ready_tasks(${limit})`
  })

const uuidsOf = (rows: ReadonlyArray<ReadyTask>) => rows.map((r) => r.taskUuid)

layer(PgTest.layer, { timeout: "60 seconds", excludeTestServices: true })("discovery", (it) => {
  it.effect("returns pending tasks and waiting tasks with ready steps, best priority first", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const named = yield* insertNamedTask()
      const task = (
        state: TaskState,
        options: { readonly priority?: number; readonly steps?: "ready" | "blocked" | "none" } = {}
      ) =>
        Effect.gen(function*() {
          const steps = options.steps ?? "ready"
          const wf = yield* insertWorkflow({
            namedTaskUuid: named.namedTaskUuid,
            priority: options.priority ?? 5,
            steps: steps === "none" ? [] : steps === "ready" ? ["root"] : ["parent", "child"],
            edges: steps === "blocked" ? [["parent", "child"]] : []
          })
          if (steps === "blocked") yield* driveStepsTo([wf.steps.parent!], "in_progress")
          yield* driveTasksTo([wf.taskUuid], state)
          return wf.taskUuid
        })

      const urgent = yield* task("pending", { priority: 9, steps: "none" })
      const waitingReady = yield* task("waiting_for_dependencies")
      const retryReady = yield* task("waiting_for_retry")
      const waitingBlocked = yield* task("waiting_for_dependencies", { steps: "blocked" })
      const waitingStale = yield* task("waiting_for_dependencies")
      const inProcess = yield* task("steps_in_process")
      const done = yield* task("complete")
      // Over 60 minutes in waiting_for_dependencies: left to the staleness sweep.
      yield* sql`UPDATE tasker.task_transitions SET created_at = now() - interval '2 hours'
                 WHERE task_uuid = ${waitingStale}::uuid AND most_recent`

      const mine = new Set([urgent, waitingReady, retryReady, waitingBlocked, waitingStale, inProcess, done])
      const found = (yield* nextReadyTasks(50)).filter((r) => mine.has(r.taskUuid))
      const row = (taskUuid: string, currentState: TaskState, priority: number, readyStepsCount: number) => ({
        taskUuid, taskName: named.taskName, namespaceName: named.namespaceName, priority, readyStepsCount, currentState
      })
      assert.deepStrictEqual(found.map((r) => ({ ...r })), [
        row(urgent, "pending", 9, 0),
        row(waitingReady, "waiting_for_dependencies", 5, 1),
        row(retryReady, "waiting_for_retry", 5, 1)
      ])
    }))

  it.effect("two concurrent pollers never receive the same task", () =>
    Effect.gen(function*() {
      const named = yield* insertNamedTask()
      const mine = yield* insertTasks(named.namedTaskUuid, 4, { priority: 1000 })
      const [first, second] = yield* raceTransactions(
        nextReadyTasks(2),
        // SKIP LOCKED: the second poller must not wait for the first one's locks.
        nextReadyTasks(10).pipe(Effect.timeout("10 seconds")),
        { secondBlocks: false }
      )

      assert.strictEqual(first.length, 2)
      assert.isTrue(first.every((r) => mine.includes(r.taskUuid)), "the top two are ours (priority 1000)")
      const overlap = uuidsOf(second).filter((uuid) => uuidsOf(first).includes(uuid))
      assert.deepStrictEqual(overlap, [], "no task handed to both pollers")
      assert.sameMembers(uuidsOf(second).filter((uuid) => mine.includes(uuid)), mine.filter((u) => !uuidsOf(first).includes(u)))

      // The locks end with the first transaction: every task is available again.
      const again = uuidsOf(yield* nextReadyTasks(10))
      assert.includeMembers(again, mine)
      const sql = yield* SqlClient.SqlClient
      const [single] = yield* sql<{ taskUuid: string }>`SELECT task_uuid FROM tasker.get_next_ready_task()`
      assert.include(mine, single!.taskUuid)
    }))
})
