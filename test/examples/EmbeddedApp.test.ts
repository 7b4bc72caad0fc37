/**
 * examples/embedded-app: a host app with its own client, settings and service, embedding
 * OrchestrationCore.layer and Worker.layer, completes a task.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import { AppLive, program } from "../../examples/embedded-app/main.ts"
import { PgTest } from "../support/PgTest.ts"

describe("examples/embedded-app", () => {
  it.live("composes Tasker's layers with its own client and service and completes a task", () =>
    Effect.gen(function*() {
      const db = yield* PgTest.freshDatabase
      const hostEnv = ConfigProvider.layer(ConfigProvider.fromUnknown({ APP_DATABASE_URL: Redacted.value(db.url) }))
      const sent = yield* program.pipe(Effect.provide(AppLive.pipe(Layer.provide(hostEnv))))
      assert.strictEqual(sent.length, 1)
      assert.match(sent[0]!, /^welcome acct-ada-\d+@example\.com$/)
    }), { timeout: 60_000 })
})
