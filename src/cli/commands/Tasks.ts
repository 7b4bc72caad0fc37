/**
 * `tasker task create | get | list | cancel | steps`: tasks through the REST API. `create --wait`
 * follows the task with the live progress display (src/cli/Progress.ts) and exits 0 only when it
 * completes.
 *
 * @since 0.1.0
 */
import { Duration, Effect, FileSystem, Option, Schema } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { StepResponse, TaskListResponse, TaskResponse } from "../../api/ApiSchemas.ts"
import type { TaskerClient } from "../../client/TaskerClient.ts"
import { JsonObject, TaskUuid } from "../../domain/Ids.ts"
import { decodeTaskRequest } from "../../domain/TaskRequest.ts"
import { TaskState } from "../../domain/TaskState.ts"
import { withApi } from "../Connection.ts"
import { CliFailure, fail, fields, intBetween, jsonFlag, parseJson, print, printJson, shortJson, table, time } from "../Output.ts"
import { awaitTask, stepsDone } from "../Progress.ts"

/** `<task-uuid>`, checked before any request. @category arguments @since 0.1.0 */
export const taskUuidArgument = Argument.String("task-uuid").pipe(
  Argument.withDescription("The task's uuid"),
  Argument.withSchema(TaskUuid)
)

// -----------------------------------------------------------------------------
// Rendering
// -----------------------------------------------------------------------------

const StepError = Schema.Struct({ error: Schema.Struct({ message: Schema.String }) })
const decodeStepError = Schema.decodeUnknownOption(StepError)

/** The error message a failed attempt stored in the step's results, if any. */
const stepError = (step: StepResponse): string | undefined =>
  Option.getOrUndefined(Option.map(decodeStepError(step.results), (r) => r.error.message))

const renderTask = (task: TaskResponse): string =>
  [
    `task ${task.task_uuid}  ${task.namespace}/${task.name}@${task.version}`,
    fields([
      ["status", `${task.status} (${task.execution_status}, ${task.health_status}, ${Math.round(task.completion_percentage)}%)`],
      ["steps", `${stepsDone(task)}/${task.total_steps} done, ${task.failed_steps} failed, ${task.in_progress_steps} in progress`],
      ["created", time(task.created_at)],
      ["completed", task.completed_at === null ? undefined : time(task.completed_at)],
      ["initiator", task.initiator ?? "-"],
      ["source", task.source_system ?? "-"],
      ["reason", task.reason ?? "-"],
      ["priority", String(task.priority)],
      ["tags", task.tags.length === 0 ? undefined : task.tags.join(", ")],
      ["correlation", task.correlation_id],
      ["context", shortJson(task.context, 200)]
    ]),
    "",
    table(
      ["step", "state", "attempts", "parents done", "ready", "next retry", "step uuid"],
      task.steps.map((s) => [
        s.name,
        s.current_state,
        `${s.attempts}/${s.max_attempts}`,
        `${s.completed_parents}/${s.total_parents}`,
        s.ready_for_execution ? "yes" : "no",
        time(s.next_retry_at),
        s.workflow_step_uuid
      ])
    )
  ].join("\n")

const renderSteps = (steps: ReadonlyArray<StepResponse>): string =>
  steps.length === 0 ? "no steps" : table(
    ["step", "state", "attempts", "parents done", "last attempt", "error", "step uuid"],
    steps.map((s) => [
      s.name,
      s.current_state,
      `${s.attempts}/${s.max_attempts}`,
      `${s.completed_parents}/${s.total_parents}`,
      time(s.last_attempted_at),
      s.current_state === "complete" ? "" : shortJson(stepError(s) ?? "", 60).replace(/^"|"$/g, ""),
      s.step_uuid
    ])
  )

/** Why a waited-for task did not complete, and what to do next. */
const notComplete = (client: TaskerClient["Service"], task: TaskResponse) =>
  Effect.gen(function*() {
    const uuid = task.task_uuid
    if (task.status === "cancelled" || task.status === "resolved_manually") {
      return new CliFailure({ message: `task ${uuid} ended ${task.status}` })
    }
    const steps = yield* client.steps.list({ params: { uuid } })
    const failed = steps.filter((s) => s.current_state === "error")
    const lines = failed.map((s) => `  step ${s.name} (${s.step_uuid}) failed${stepError(s) ? `: ${stepError(s)}` : ""}`)
    return new CliFailure({
      message: [
        `task ${uuid} is ${task.status}${failed.length === 0 ? "" : ` (${failed.length} failed step(s))`}`,
        ...lines,
        failed.length === 0
          ? `see \`tasker task steps ${uuid}\``
          : `fix the cause, then \`tasker step reset ${uuid} ${failed.length === 1 ? failed[0]!.step_uuid : "<step-uuid>"} ` +
            "--reason '…'` to run it again (or `step resolve` / `step complete` to skip it)"
      ].join("\n")
    })
  })

// -----------------------------------------------------------------------------
// Commands
// -----------------------------------------------------------------------------

const readContext = Effect.fn("readContext")(function*(inline: Option.Option<string>, file: Option.Option<string>) {
  if (Option.isSome(inline) && Option.isSome(file)) {
    return yield* fail("pass either --context or --context-file, not both")
  }
  const [text, source] = Option.isSome(file)
    ? [
      yield* FileSystem.FileSystem.use((fs) => fs.readFileString(file.value)).pipe(
        Effect.mapError((e) => new CliFailure({ message: `cannot read --context-file ${file.value}: ${e.message}` }))
      ),
      `--context-file ${file.value}`
    ]
    : [Option.getOrElse(inline, () => "{}"), "--context"]
  const value = yield* parseJson(text, source)
  return yield* Schema.decodeUnknownEffect(JsonObject)(value).pipe(
    Effect.mapError(() => new CliFailure({ message: `${source} must be a JSON object, e.g. '{"order_id": "A-1"}'` }))
  )
})

const create = Command.make("create", {
  namespace: Argument.String("namespace").pipe(Argument.withDescription("The template's namespace")),
  name: Argument.String("name").pipe(Argument.withDescription("The template's name")),
  version: Flag.String("version").pipe(Flag.withDescription("The template's version"), Flag.withDefault("1.0.0")),
  context: Flag.String("context").pipe(Flag.withDescription("The task context as a JSON object"), Flag.optional),
  contextFile: Flag.String("context-file").pipe(Flag.withDescription("Read the context from a JSON file"), Flag.optional),
  priority: Flag.Int("priority").pipe(
    Flag.withDescription("-100..100 (default 0)"),
    Flag.withSchema(intBetween(-100, 100)),
    Flag.optional
  ),
  idempotencyKey: Flag.String("idempotency-key").pipe(Flag.withDescription("Deduplication key"), Flag.optional),
  tags: Flag.String("tag").pipe(Flag.withDescription("A tag (repeatable)"), Flag.atLeast(0)),
  initiator: Flag.String("initiator").pipe(Flag.withDescription("Who asks (default tasker-cli)"), Flag.withDefault("tasker-cli")),
  sourceSystem: Flag.String("source-system").pipe(Flag.withDescription("Which system asks"), Flag.withDefault("tasker-cli")),
  reason: Flag.String("reason").pipe(Flag.withDescription("Why"), Flag.withDefault("created with tasker task create")),
  wait: Flag.Boolean("wait").pipe(Flag.withDescription("Follow the task until it completes or fails"), Flag.withDefault(false)),
  timeout: Flag.Int("timeout").pipe(Flag.withDescription("With --wait: give up after this many seconds"), Flag.optional),
  json: jsonFlag
}, (input) =>
  withApi((client) =>
    Effect.gen(function*() {
      const context = yield* readContext(input.context, input.contextFile)
      const request = yield* decodeTaskRequest({
        namespace: input.namespace,
        name: input.name,
        version: input.version,
        context,
        initiator: input.initiator,
        source_system: input.sourceSystem,
        reason: input.reason,
        tags: input.tags,
        ...Option.match(input.priority, { onNone: () => ({}), onSome: (priority) => ({ priority }) }),
        ...Option.match(input.idempotencyKey, { onNone: () => ({}), onSome: (key) => ({ idempotency_key: key }) })
      })
      const created = yield* client.tasks.create({ payload: request })
      if (!input.wait) {
        if (input.json) return yield* printJson(TaskResponse, created)
        return yield* print(
          `created task ${created.task_uuid} (${created.namespace}/${created.name}@${created.version}, ${created.status})\n` +
            `follow it: tasker task get ${created.task_uuid}`
        )
      }
      if (!input.json) yield* print(`created task ${created.task_uuid}`)
      const task = yield* awaitTask(client, created.task_uuid, {
        timeout: Option.getOrUndefined(Option.map(input.timeout, Duration.seconds))
      })
      yield* input.json ? printJson(TaskResponse, task) : print(renderTask(task))
      if (task.status !== "complete") return yield* Effect.flatMap(notComplete(client, task), Effect.fail)
    })
  )).pipe(
    Command.withDescription("Create a task from a registered template"),
    Command.withExamples([{
      command: `tasker task create ecommerce order_fulfillment --context-file order.json --wait`,
      description: "Create an order task and follow it until it completes"
    }])
  )

const get = Command.make("get", { uuid: taskUuidArgument, json: jsonFlag }, ({ json, uuid }) =>
  withApi((client) =>
    client.tasks.get({ params: { uuid } }).pipe(
      Effect.flatMap((task) => (json ? printJson(TaskResponse, task) : print(renderTask(task))))
    )
  )).pipe(Command.withDescription("Show a task with its steps' readiness"))

const list = Command.make("list", {
  namespace: Flag.String("namespace").pipe(Flag.withDescription("Only this namespace"), Flag.optional),
  status: Flag.Literals("status", TaskState.literals).pipe(Flag.withDescription("Only tasks in this state"), Flag.optional),
  page: Flag.Int("page").pipe(
    Flag.withDescription("Page number, from 1"),
    Flag.withSchema(intBetween(1, Number.MAX_SAFE_INTEGER)),
    Flag.withDefault(1)
  ),
  perPage: Flag.Int("per-page").pipe(
    Flag.withDescription("Tasks per page, 1..100"),
    Flag.withSchema(intBetween(1, 100)),
    Flag.withDefault(25)
  ),
  json: jsonFlag
}, (input) =>
  withApi((client) =>
    Effect.gen(function*() {
      const response = yield* client.tasks.list({
        query: {
          page: input.page,
          per_page: input.perPage,
          namespace: Option.getOrUndefined(input.namespace),
          status: Option.getOrUndefined(input.status)
        }
      })
      if (input.json) return yield* printJson(TaskListResponse, response)
      const { pagination: p, tasks } = response
      if (tasks.length === 0) return yield* print(p.total_count === 0 ? "no tasks" : `no tasks on page ${p.page}`)
      yield* print(table(
        ["task uuid", "task", "status", "steps done", "created"],
        tasks.map((t) => [t.task_uuid, `${t.namespace}/${t.name}@${t.version}`, t.status, `${stepsDone(t)}/${t.total_steps}`, time(t.created_at)])
      ))
      yield* print(`\npage ${p.page}/${p.total_pages} · ${p.total_count} task(s)${p.has_next ? ` · next: --page ${p.page + 1}` : ""}`)
    })
  )).pipe(Command.withDescription("List tasks, newest first"))

const cancel = Command.make("cancel", { uuid: taskUuidArgument, json: jsonFlag }, ({ json, uuid }) =>
  withApi((client) =>
    client.tasks.cancel({ params: { uuid } }).pipe(
      Effect.flatMap((task) =>
        json ? printJson(TaskResponse, task) : print(`task ${task.task_uuid} is ${task.status}; its unfinished steps were cancelled`)
      )
    )
  )).pipe(Command.withDescription("Cancel a task and its unfinished steps"))

const steps = Command.make("steps", { uuid: taskUuidArgument, json: jsonFlag }, ({ json, uuid }) =>
  withApi((client) =>
    client.steps.list({ params: { uuid } }).pipe(
      Effect.flatMap((list) => (json ? printJson(Schema.Array(StepResponse), list) : print(renderSteps(list))))
    )
  )).pipe(Command.withDescription("List a task's steps with their state, attempts and last error"))

/** `tasker task …` @category commands @since 0.1.0 */
export const taskCommand = Command.make("task").pipe(
  Command.withDescription("Create, inspect and cancel tasks"),
  Command.withSubcommands([create, get, list, cancel, steps])
)
