/**
 * A host application that embeds Tasker, the way an Effect app adds workflows to itself:
 *
 * - it owns its database client (`PgClient.layerConfig` on its own `APP_DATABASE_URL`) and its
 *   settings (`TaskerConfig.layerWith`), and hands both to Tasker's layers;
 * - it composes `OrchestrationCore.layer` and `Worker.layer` beside a service of its own,
 *   `OrderNotifier`, which handlers use and which listens to Tasker's lifecycle events;
 * - it submits a task through the `CommandProcessor` and waits for `task.completed`.
 *
 * Run: `APP_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node examples/embedded-app/main.ts`
 */
import { NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { fileURLToPath } from "node:url"
import { Config, Console, Context, Effect, Layer, PubSub, Ref, String as Str } from "effect"
import {
  CommandProcessor,
  decodeTaskRequest,
  HandlerRegistry,
  LifecycleEvents,
  OrchestrationCommand,
  OrchestrationCore,
  StepHandler,
  TaskerConfig,
  Worker
} from "tasker"

/** The host's own service: handlers call it, and it hears about finished tasks. */
export class OrderNotifier extends Context.Service<OrderNotifier, {
  notify(message: string): Effect.Effect<void>
  readonly sent: Effect.Effect<ReadonlyArray<string>>
}>()("embedded-app/OrderNotifier") {
  static readonly layer = Layer.effect(
    OrderNotifier,
    Effect.map(Ref.make<ReadonlyArray<string>>([]), (sent) =>
      OrderNotifier.of({
        notify: (message) => Ref.update(sent, (all) => [...all, message]),
        sent: Ref.get(sent)
      }))
  )
}

const templatesDir = fileURLToPath(new URL("./templates", import.meta.url))

const handlers = HandlerRegistry.make({
  "embedded.CreateAccount": StepHandler.effect((ctx) =>
    Effect.succeed({ account_id: `acct-${String(ctx.context.email ?? "anonymous")}` })
  ),
  "embedded.SendWelcome": StepHandler.effect((ctx) =>
    Effect.gen(function*() {
      const notifier = yield* OrderNotifier
      const account = ctx.dependencyResults.create_account as { account_id: string }
      yield* notifier.notify(`welcome ${account.account_id}`)
      return { sent: true }
    })
  )
})

/** The host's database client: snake_case columns as camelCase, JSON left as it is. */
const HostDatabase = PgClient.layerConfig({
  url: Config.Redacted("APP_DATABASE_URL"),
  transformResultNames: Config.succeed(Str.snakeToCamel),
  transformQueryNames: Config.succeed(Str.camelToSnake),
  transformJson: Config.succeed(false)
})

const HostConfig = TaskerConfig.layerWith({ staleness: { enabled: false } }, "development")

/** Tasker inside the app: orchestration and a worker, over the host's client and settings. */
export const AppLive = Worker.layer({ handlers, templatesDir }).pipe(
  Layer.provideMerge(OrchestrationCore.layer),
  Layer.provideMerge(OrderNotifier.layer),
  Layer.provideMerge(HostConfig),
  Layer.provideMerge(HostDatabase)
)

/** Registers the template, runs one task, and returns what the notifier sent. */
export const program = Effect.gen(function*() {
  const events = yield* (yield* LifecycleEvents).subscribe
  const processor = yield* CommandProcessor
  const request = yield* decodeTaskRequest({
    namespace: "embedded",
    name: "welcome_customer",
    version: "1.0.0",
    context: { email: `ada-${Date.now()}@example.com` },
    initiator: "embedded-app",
    source_system: "embedded-app",
    reason: "welcome a customer"
  })
  const created = yield* processor.submit(OrchestrationCommand.InitializeTask({ request }))
  if (created._tag !== "TaskInitialize" || created.result._tag !== "Success") {
    return yield* Effect.die(new Error(`task not created: ${JSON.stringify(created)}`))
  }
  const taskUuid = created.result.task.taskUuid
  while (true) {
    const event = yield* PubSub.take(events)
    if (event._tag === "TaskEvent" && event.taskUuid === taskUuid && event.name === "task.completed") break
  }
  return yield* (yield* OrderNotifier).sent
}).pipe(Effect.scoped)

if (import.meta.main) {
  Effect.gen(function*() {
    const sent = yield* program
    yield* Console.log(`task completed; the app's notifier sent: ${sent.join(", ")}`)
  }).pipe(Effect.provide(AppLive), NodeRuntime.runMain)
}
