/**
 * Waiting for a task with a live progress display (`tasker task create --wait`): the task is
 * polled until it is terminal or blocked by failures. On a terminal the display is one line on
 * stderr that updates in place (steps done/total and which steps are in which state); otherwise
 * (pipes, CI logs) a plain line is printed whenever that changes, and every 10 s while it does
 * not. stdout stays free for the result (`--json`).
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Option, Ref, Schedule } from "effect"
import type { TaskResponse } from "../api/ApiSchemas.ts"
import type { TaskerClient } from "../client/TaskerClient.ts"
import type { TaskUuid } from "../domain/Ids.ts"
import type { StepState } from "../domain/StepState.ts"
import { type TaskState, terminalTaskStates } from "../domain/TaskState.ts"
import { type ApiError, CliFailure } from "./Output.ts"

const settledStates: ReadonlySet<TaskState> = new Set<TaskState>([...terminalTaskStates, "blocked_by_failures"])

/** Terminal, or blocked by failures (nothing more happens without an operator). @category predicates @since 0.1.0 */
export const isSettled = (task: TaskResponse): boolean => settledStates.has(task.status)

const doneStates: ReadonlySet<StepState> = new Set<StepState>(["complete", "resolved_manually"])

/** Steps that are complete or resolved by hand. @category rendering @since 0.1.0 */
export const stepsDone = (task: TaskResponse): number => task.steps.filter((s) => doneStates.has(s.current_state)).length

/**
 * `ecommerce/order_fulfillment steps_in_process · 2/4 steps done · 1 in_progress (charge_payment), 1 pending (ship_order)`
 *
 * @category rendering
 * @since 0.1.0
 */
export const summarize = (task: TaskResponse): string => {
  const open = new Map<StepState, Array<string>>()
  for (const step of task.steps) {
    if (doneStates.has(step.current_state)) continue
    open.set(step.current_state, [...(open.get(step.current_state) ?? []), step.name])
  }
  const states = [...open].map(([state, names]) =>
    `${names.length} ${state}${names.length <= 2 ? ` (${names.join(", ")})` : ""}`
  )
  return [`${task.namespace}/${task.name} ${task.status}`, `${stepsDone(task)}/${task.steps.length} steps done`, ...states]
    .join(" · ")
}

const spinner = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
const heartbeat = Duration.seconds(10)

interface Display {
  readonly update: (task: TaskResponse) => Effect.Effect<void>
  readonly finish: (line: string) => Effect.Effect<void>
}

const write = (text: string) => Effect.sync(() => void process.stderr.write(text))

const fit = (line: string) => {
  const width = Math.max(20, (process.stderr.columns || 100) - 3)
  return line.length <= width ? line : `${line.slice(0, width - 1)}…`
}

const liveDisplay = Effect.gen(function*() {
  const frame = yield* Ref.make(0)
  return {
    update: (task) =>
      Ref.getAndUpdate(frame, (n) => n + 1).pipe(
        Effect.flatMap((n) => write(`\r\x1b[2K${spinner[n % spinner.length]} ${fit(summarize(task))}`))
      ),
    finish: (line) => write(`\r\x1b[2K${line}\n`)
  } satisfies Display
})

const plainDisplay = Effect.gen(function*() {
  const last = yield* Ref.make({ line: "", at: 0 })
  return {
    update: (task) =>
      Effect.gen(function*() {
        const line = summarize(task)
        const now = yield* Clock.currentTimeMillis
        const previous = yield* Ref.get(last)
        if (line === previous.line && now - previous.at < Duration.toMillis(heartbeat)) return
        yield* Ref.set(last, { line, at: now })
        yield* write(`${line}\n`)
      }),
    finish: (line) => write(`${line}\n`)
  } satisfies Display
})

/** @category models @since 0.1.0 */
export interface WaitOptions {
  /** Show progress on stderr (default true). */
  readonly display?: boolean | undefined
  /** Give up after this long (the task keeps running). */
  readonly timeout?: Duration.Duration | undefined
  /** Between polls (default 250 ms). */
  readonly interval?: Duration.Input | undefined
}

/**
 * Polls the task until it settles (terminal or `blocked_by_failures`) and returns it.
 *
 * @category waiting
 * @since 0.1.0
 */
export const awaitTask = Effect.fn("Progress.awaitTask")(function*(
  client: TaskerClient["Service"],
  taskUuid: TaskUuid,
  options: WaitOptions = {}
): Effect.fn.Return<TaskResponse, ApiError | CliFailure> {
  const show = options.display !== false
  const display: Display = process.stderr.isTTY === true ? yield* liveDisplay : yield* plainDisplay
  const started = yield* Clock.currentTimeMillis
  const latest = yield* Ref.make<Option.Option<TaskResponse>>(Option.none())
  const poll = client.tasks.get({ params: { uuid: taskUuid } }).pipe(
    Effect.tap((task) => Ref.set(latest, Option.some(task))),
    Effect.tap((task) => (show && !isSettled(task) ? display.update(task) : Effect.void))
  )
  const watched = poll.pipe(
    Effect.repeat({ until: isSettled, schedule: Schedule.spaced(options.interval ?? "250 millis") }),
    Effect.onInterrupt(() => (show ? display.finish("") : Effect.void))
  )
  const settled = options.timeout === undefined
    ? Option.some(yield* watched)
    : yield* Effect.timeoutOption(watched, options.timeout)
  const elapsed = Duration.format(Duration.millis((yield* Clock.currentTimeMillis) - started))
  if (Option.isNone(settled)) {
    const last = yield* Ref.get(latest)
    const state = Option.match(last, { onNone: () => "not yet visible", onSome: (task) => `still ${task.status}` })
    if (show) yield* display.finish(`… ${Option.match(last, { onNone: () => state, onSome: summarize })}`)
    return yield* new CliFailure({
      message: `task ${taskUuid} is ${state} after ${elapsed}; it keeps running: follow it with \`tasker task get ${taskUuid}\``
    })
  }
  const task = settled.value
  if (show) yield* display.finish(`${task.status === "complete" ? "✓" : "✗"} ${summarize(task)} · ${elapsed}`)
  return task
})
