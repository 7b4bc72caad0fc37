import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import {
  formatPath,
  IllegalTransition,
  InvalidTaskRequest,
  TaskConflict,
  TaskNotFound,
  TemplateNotFound
} from "../../src/domain/Errors.ts"
import { TaskUuid } from "../../src/domain/Ids.ts"

const taskUuid = TaskUuid.make("0190f3a4-1c2b-7d3e-8f41-000000000001")

describe("Errors", () => {
  it.effect("formats paths", () =>
    Effect.gen(function*() {
      assert.strictEqual(formatPath([]), "")
      assert.strictEqual(formatPath(["context", "customer", "name"]), "context.customer.name")
      assert.strictEqual(formatPath(["tags", 2]), "tags[2]")
      assert.strictEqual(formatPath(["context", "a b", 0]), `context["a b"][0]`)
    }))

  it.effect("errors are yieldable, tagged and carry readable messages", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.gen(function*() {
        return yield* new TaskNotFound({ task_uuid: taskUuid })
      }))
      assert.strictEqual(error._tag, "TaskNotFound")
      assert.strictEqual(error.message, `task ${taskUuid} not found`)
      assert.strictEqual(
        new TemplateNotFound({ namespace: "ecommerce", name: "order", version: "1.0.0" }).message,
        "task template ecommerce/order:1.0.0 not found"
      )
      assert.strictEqual(
        new IllegalTransition({ entity: "task", from: "complete", to: "pending" }).message,
        "illegal transition of task: complete -> pending"
      )
    }))

  it.effect("a conflict does not need to reveal the existing task", () =>
    Effect.gen(function*() {
      const conflict = new TaskConflict({ identity_hash: "abc" })
      assert.deepStrictEqual(Schema.encodeSync(TaskConflict)(conflict), { _tag: "TaskConflict", identity_hash: "abc" })
    }))

  it.effect("errors declare their HTTP status", () =>
    Effect.gen(function*() {
      const status = (schema: Schema.Top) => schema.ast.annotations?.httpApiStatus
      assert.strictEqual(status(TaskNotFound), 404)
      assert.strictEqual(status(TaskConflict), 409)
      assert.strictEqual(status(InvalidTaskRequest), 400)
    }))
})
