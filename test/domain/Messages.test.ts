import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { formatSchemaError } from "../../src/domain/Errors.ts"
import {
  decodeFinalizationMessage,
  decodeFinalizationMessageJson,
  decodeStepMessage,
  decodeStepMessageJson,
  decodeTaskRequestMessage,
  encodeStepMessage,
  StepMessage
} from "../../src/domain/Messages.ts"
import { TaskRequest } from "../../src/domain/TaskRequest.ts"

const taskUuid = "0190f3a4-1c2b-7d3e-8f41-000000000001"
const stepUuid = "0190f3a4-1c2b-7d3e-8f41-000000000002"
const correlationId = "0190f3a4-1c2b-7d3e-8f41-000000000003"

describe("Messages", () => {
  it.effect("StepMessage carries exactly three ids", () =>
    Effect.gen(function*() {
      const message = yield* decodeStepMessage({
        task_uuid: taskUuid,
        step_uuid: stepUuid,
        correlation_id: correlationId,
        extra: "dropped"
      })
      assert.instanceOf(message, StepMessage)
      assert.deepStrictEqual(yield* encodeStepMessage(message), {
        task_uuid: taskUuid,
        step_uuid: stepUuid,
        correlation_id: correlationId
      })
      const fromJson = yield* decodeStepMessageJson(JSON.stringify(message))
      assert.deepStrictEqual(fromJson, message)
    }))

  it.effect("rejects a step message with a bad id, naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decodeStepMessage({ task_uuid: taskUuid, step_uuid: "x", correlation_id: correlationId }))
      assert.strictEqual(formatSchemaError(error), "step_uuid: Expected a UUID")
      const notJson = yield* Effect.flip(decodeStepMessageJson("{not json"))
      assert.isTrue(Schema.isSchemaError(notJson))
    }))

  it.effect("FinalizationMessage decodes from an object or JSON text", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* decodeFinalizationMessage({ task_uuid: taskUuid })).task_uuid, taskUuid)
      assert.strictEqual((yield* decodeFinalizationMessageJson(`{"task_uuid":"${taskUuid}"}`)).task_uuid, taskUuid)
    }))

  it.effect("TaskRequestMessage nests a TaskRequest and defaults its metadata", () =>
    Effect.gen(function*() {
      const message = yield* decodeTaskRequestMessage({
        request_id: "req-1",
        task_request: {
          name: "n",
          namespace: "ns",
          version: "1.0.0",
          context: { a: 1 },
          initiator: "i",
          source_system: "s",
          reason: "r"
        },
        metadata: { requested_at: "2026-03-21T12:00:00Z", requester: "cli" }
      })
      assert.instanceOf(message.task_request, TaskRequest)
      assert.strictEqual(message.metadata.priority, "Normal")
      assert.deepStrictEqual(message.metadata.custom, {})
      const error = yield* Effect.flip(decodeTaskRequestMessage({
        request_id: "req-1",
        task_request: { name: "n" },
        metadata: { requested_at: "2026-03-21T12:00:00Z", requester: "cli", priority: "Highest" }
      }))
      assert.include(formatSchemaError(error), "task_request.namespace: Missing key")
    }))
})
