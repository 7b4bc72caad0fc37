import { assert, describe, it } from "@effect/vitest"
import { DateTime, Effect, Option } from "effect"
import { formatSchemaError } from "../../src/domain/Errors.ts"
import { StepUuid } from "../../src/domain/Ids.ts"
import {
  decodeStepExecutionResult,
  encodeStepExecutionResult,
  isRetryableFailure,
  requestedBackoffSeconds,
  StepExecutionResult
} from "../../src/domain/StepExecutionResult.ts"

const stepUuid = StepUuid.make("0190f3a4-1c2b-7d3e-8f41-000000000002")

describe("StepExecutionResult", () => {
  it.effect("success() builds a completed, non-retryable result", () =>
    Effect.gen(function*() {
      const completedAt = DateTime.makeUnsafe("2026-03-21T12:00:00Z")
      const result = StepExecutionResult.success({
        step_uuid: stepUuid,
        result: { total: 42 },
        execution_time_ms: 12,
        completed_at: completedAt,
        worker_id: "worker-1"
      })
      assert.isTrue(result.success)
      assert.strictEqual(result.effectiveStatus, "completed")
      assert.isNull(result.error)
      assert.isFalse(isRetryableFailure(result))
      const encoded = yield* encodeStepExecutionResult(result)
      assert.deepStrictEqual(JSON.parse(JSON.stringify(encoded)), {
        step_uuid: stepUuid,
        success: true,
        result: { total: 42 },
        status: "completed",
        error: null,
        metadata: {
          execution_time_ms: 12,
          retryable: false,
          completed_at: "2026-03-21T12:00:00.000Z",
          worker_id: "worker-1",
          custom: {},
          context: {}
        },
        orchestration_metadata: null
      })
      const decoded = yield* decodeStepExecutionResult(JSON.parse(JSON.stringify(encoded)))
      assert.deepStrictEqual(decoded, result)
    }))

  it.effect("failure() records retryable on the error and in the metadata", () =>
    Effect.gen(function*() {
      const result = StepExecutionResult.failure({
        step_uuid: stepUuid,
        message: "gateway timeout",
        retryable: true,
        error_type: "TimeoutError",
        status_code: 504,
        orchestration_metadata: {
          headers: { "Retry-After": "30" },
          backoff_hint: { backoff_type: "ServiceUnavailable", delay_seconds: 30 },
          custom: {}
        }
      })
      assert.isFalse(result.success)
      assert.strictEqual(result.status, "failed")
      assert.deepStrictEqual(result.result, {})
      assert.deepStrictEqual(result.error, {
        message: "gateway timeout",
        error_type: "TimeoutError",
        status_code: 504,
        retryable: true
      })
      assert.isTrue(result.metadata.retryable)
      assert.strictEqual(result.metadata.error_type, "TimeoutError")
      assert.isTrue(isRetryableFailure(result))
      assert.deepStrictEqual(requestedBackoffSeconds(result), Option.some(30))
      const permanent = StepExecutionResult.failure({ step_uuid: stepUuid, message: "bad", retryable: false, status: "error" })
      assert.strictEqual(permanent.effectiveStatus, "error")
      assert.isFalse(isRetryableFailure(permanent))
    }))

  it.effect("decodes the reference's lenient shapes", () =>
    Effect.gen(function*() {
      const minimal = yield* decodeStepExecutionResult({ step_uuid: stepUuid, success: false, status: "" })
      assert.isNull(minimal.result)
      assert.isUndefined(minimal.status)
      assert.strictEqual(minimal.effectiveStatus, "failed")
      assert.isNull(minimal.error)
      assert.isNull(minimal.orchestration_metadata)
      assert.strictEqual(minimal.metadata.execution_time_ms, 0)
      assert.isFalse(minimal.metadata.retryable)
      const partial = yield* decodeStepExecutionResult({
        step_uuid: stepUuid,
        success: false,
        error: { message: "m", backtrace: null },
        metadata: { retryable: true, started_at: "2026-03-21T11:59:59.5", custom: null },
        orchestration_metadata: { error_context: "rate limited" }
      })
      assert.deepStrictEqual(partial.error, { message: "m", retryable: false })
      assert.isTrue(partial.metadata.retryable)
      assert.deepStrictEqual(partial.metadata.custom, {})
      assert.deepStrictEqual(partial.orchestration_metadata?.headers, {})
      assert.deepStrictEqual(requestedBackoffSeconds(partial), Option.none())
    }))

  it.effect("is strict about the types of present fields", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{ step_uuid: stepUuid, success: "yes" }, "success: Expected boolean"],
        [{ step_uuid: "nope", success: true }, "step_uuid: Expected a UUID"],
        [{ step_uuid: stepUuid, success: true, status: "done" }, "status: "],
        [{ step_uuid: stepUuid, success: true, metadata: { execution_time_ms: -1 } }, "metadata.execution_time_ms: "],
        [
          { step_uuid: stepUuid, success: false, orchestration_metadata: { backoff_hint: { backoff_type: "Soon", delay_seconds: 1 } } },
          "orchestration_metadata.backoff_hint.backoff_type: "
        ]
      ]
      for (const [input, prefix] of cases) {
        const error = yield* Effect.flip(decodeStepExecutionResult(input))
        assert.isTrue(formatSchemaError(error).startsWith(prefix), formatSchemaError(error))
      }
    }))
})
