/**
 * The orchestration command processor (seed `command_processor_actor.rs`, TAS-148): a bounded
 * queue of OrchestrationCommands consumed by fibers of this layer's scope (CommandQueue), at most
 * `commandConcurrency` at once and never two of one task together. Each command is routed to its
 * actor through the ActorRegistry; message commands are hydrated first and acknowledged only when
 * processing succeeded. A message that can never succeed (it does not decode, or names nothing
 * that exists) is dead-lettered: archived with its error, counted, never retried forever.
 */
import { Context, Duration, Effect, Layer, Option, Ref } from "effect"
import type { InvalidMessage, TaskNotFound } from "../domain/Errors.ts"
import { MessageClient, type QueuedMessage } from "../messaging/MessageClient.ts"
import { TaskerConfig } from "../config/TaskerConfig.ts"
import { ActorRegistry } from "./actors/ActorRegistry.ts"
import * as CommandQueue from "./CommandQueue.ts"
import {
  type CommandResult,
  type OrchestrationProcessingStats,
  ReadinessResult,
  StepProcessResult,
  TaskFinalizationResult,
  TaskInitializeResult
} from "./commands/CommandResults.ts"
import { commandTaskKey, type MessageEvent, OrchestrationCommand } from "./commands/OrchestrationCommand.ts"
import { make as makeRetryWakeups } from "./event-systems/RetryWakeups.ts"
import { hydrateFinalization } from "./hydration/FinalizationHydrator.ts"
import { type HydratedStepResult, StepResultHydrator } from "./hydration/StepResultHydrator.ts"
import { hydrateTaskRequest } from "./hydration/TaskRequestHydrator.ts"
import { HealthReport } from "./resilience/HealthReport.ts"

interface Counters {
  readonly taskRequestsProcessed: number
  readonly stepResultsProcessed: number
  readonly tasksFinalized: number
  readonly readinessCommandsProcessed: number
  readonly processingErrors: number
  readonly invalidMessagesArchived: number
}

const zero: Counters = {
  taskRequestsProcessed: 0,
  stepResultsProcessed: 0,
  tasksFinalized: 0,
  readinessCommandsProcessed: 0,
  processingErrors: 0,
  invalidMessagesArchived: 0
}

export class CommandProcessor extends Context.Service<CommandProcessor, {
  /** Runs a command and waits for its result; suspends while the queue is full. */
  submit(command: OrchestrationCommand): Effect.Effect<CommandResult, CommandQueue.CommandQueueShutdown>
  /** Fire-and-forget for listeners and pollers; with `dropWhenFull` it never suspends. */
  send(command: OrchestrationCommand, options?: { readonly dropWhenFull?: boolean }): Effect.Effect<boolean>
  readonly stats: Effect.Effect<OrchestrationProcessingStats>
  /** Queue fill, 0..1, for backpressure. */
  readonly saturation: Effect.Effect<number>
  /** Stops accepting, drains what was accepted. Also runs when the layer's scope closes. */
  readonly shutdown: Effect.Effect<void>
}>()("tasker/orchestration/CommandProcessor") {
  static readonly layerNoDeps = Layer.effect(
    CommandProcessor,
    Effect.gen(function*() {
      const config = yield* TaskerConfig
      const actors = yield* ActorRegistry
      const messages = yield* MessageClient
      const hydrator = yield* StepResultHydrator
      const health = yield* HealthReport
      const counters = yield* Ref.make(zero)
      const count = (key: keyof Counters) => Ref.update(counters, (c) => ({ ...c, [key]: c[key] + 1 }))
      const visibility = Math.ceil(Duration.toSeconds(config.queues.visibilityTimeout))

      // Set when the queue exists; retry timers send through it.
      let queueRef: CommandQueue.CommandQueue<OrchestrationCommand, CommandResult, never> | undefined
      const wakeups = yield* makeRetryWakeups((taskUuid) =>
        queueRef ? queueRef.send(OrchestrationCommand.ProcessTaskReadiness({ taskUuid })) : Effect.void
      )

      const deadLetter = (message: QueuedMessage, error: InvalidMessage | { readonly message: string }) =>
        messages.deadLetter(message.queue, message.msgId, error.message).pipe(
          Effect.andThen(count("invalidMessagesArchived")),
          Effect.andThen(Effect.logWarning(`dead-lettered message ${message.msgId} of ${message.queue}: ${error.message}`))
        )

      const ack = (message: QueuedMessage) => messages.ack(message.queue, message.msgId)

      /** Claims the message a signal-only notification names; none if another reader has it. */
      const fetch = (event: MessageEvent) => messages.readById(event.queue, event.msgId, visibility)

      const processStepResult = (hydrated: HydratedStepResult) =>
        actors.resultProcessor.handle({ result: hydrated }).pipe(
          Effect.tap((outcome) =>
            outcome._tag === "Processed" && outcome.backoffSeconds !== undefined
              ? wakeups.schedule(outcome.taskUuid, outcome.stepUuid, outcome.backoffSeconds)
              : Effect.void
          ),
          Effect.tap(() => count("stepResultsProcessed"))
        )

      const initializeFromMessage = Effect.fnUntraced(function*(message: QueuedMessage) {
        const decoded = yield* Effect.result(hydrateTaskRequest(message.message))
        if (decoded._tag === "Failure") {
          yield* deadLetter(message, decoded.failure)
          return TaskInitializeResult.Failed({ error: decoded.failure })
        }
        const result = yield* initialize(decoded.success.task_request)
        // A duplicate or an unknown template will never succeed: the message is done either way.
        if (result._tag === "Success" || result.error._tag === "TaskConflict") yield* ack(message)
        else yield* deadLetter(message, result.error)
        return result
      })

      const initialize = (request: Parameters<typeof actors.taskRequest.handle>[0]["request"]) =>
        actors.taskRequest.handle({ request }).pipe(
          Effect.map((task) => TaskInitializeResult.Success({ task })),
          // A duplicate or an unknown template is the caller's mistake, not a processing error.
          Effect.catch((error) => Effect.succeed(TaskInitializeResult.Failed({ error }))),
          Effect.tap(() => count("taskRequestsProcessed"))
        )

      const stepResultFromMessage = Effect.fnUntraced(function*(message: QueuedMessage) {
        const hydrated = yield* Effect.result(hydrator.hydrate(message.message))
        if (hydrated._tag === "Failure") {
          yield* deadLetter(message, hydrated.failure)
          return StepProcessResult.Failed({ error: hydrated.failure.message })
        }
        const outcome = yield* processStepResult(hydrated.success)
        yield* ack(message)
        return StepProcessResult.Success({ outcome })
      })

      const finalize = (taskUuid: string) =>
        actors.taskFinalizer.handle({ taskUuid }).pipe(
          Effect.map((result) => TaskFinalizationResult.Success({ result })),
          Effect.catchTag("TaskNotFound", (e) => Effect.succeed(TaskFinalizationResult.Failed({ error: e.message }))),
          Effect.tap(() => count("tasksFinalized"))
        )

      const finalizeFromMessage = Effect.fnUntraced(function*(message: QueuedMessage) {
        const taskUuid = yield* Effect.result(hydrateFinalization(message.message))
        if (taskUuid._tag === "Failure") {
          yield* deadLetter(message, taskUuid.failure)
          return TaskFinalizationResult.Failed({ error: taskUuid.failure.message })
        }
        const result = yield* finalize(taskUuid.success)
        if (result._tag === "Success") yield* ack(message)
        else yield* deadLetter(message, { message: result.error })
        return result
      })

      const fromEvent = <A, E>(
        event: MessageEvent,
        onMessage: (m: QueuedMessage) => Effect.Effect<A, E>,
        skipped: (reason: string) => A
      ) =>
        fetch(event).pipe(
          Effect.flatMap(Option.match({
            onNone: (): Effect.Effect<A, E> => Effect.succeed(skipped(`message ${event.msgId} is not visible (claimed elsewhere or done)`)),
            onSome: onMessage
          }))
        )

      const route = (command: OrchestrationCommand): Effect.Effect<CommandResult> => {
        const taskInit = (e: Effect.Effect<TaskInitializeResult, any>) =>
          Effect.map(Effect.orDie(e), (result): CommandResult => ({ _tag: "TaskInitialize", result }))
        const step = (e: Effect.Effect<StepProcessResult, any>) =>
          Effect.map(Effect.orDie(e), (result): CommandResult => ({ _tag: "StepProcess", result }))
        const fin = (e: Effect.Effect<TaskFinalizationResult, any>) =>
          Effect.map(Effect.orDie(e), (result): CommandResult => ({ _tag: "TaskFinalization", result }))
        switch (command._tag) {
          case "InitializeTask":
            return taskInit(initialize(command.request))
          case "InitializeTaskFromMessage":
            return taskInit(initializeFromMessage(command.message))
          case "InitializeTaskFromMessageEvent":
            return taskInit(fromEvent(command.event, initializeFromMessage, (reason): TaskInitializeResult => TaskInitializeResult.Skipped({ reason })))
          case "ProcessStepResult":
            return step(hydrator.hydrateStep(command.stepUuid).pipe(
              Effect.flatMap(processStepResult),
              Effect.map((outcome) => StepProcessResult.Success({ outcome })),
              Effect.catchTag("InvalidMessage", (e) => Effect.succeed(StepProcessResult.Failed({ error: e.message })))
            ))
          case "ProcessStepResultFromMessage":
            return step(stepResultFromMessage(command.message))
          case "ProcessStepResultFromMessageEvent":
            return step(fromEvent(command.event, stepResultFromMessage, (reason): StepProcessResult => StepProcessResult.Skipped({ reason })))
          case "FinalizeTask":
            return fin(finalize(command.taskUuid))
          case "FinalizeTaskFromMessage":
            return fin(finalizeFromMessage(command.message))
          case "FinalizeTaskFromMessageEvent":
            return fin(fromEvent(command.event, finalizeFromMessage, (reason): TaskFinalizationResult => TaskFinalizationResult.NotClaimed({ reason })))
          case "ProcessTaskReadiness": {
            const work: Effect.Effect<ReadinessResult, TaskNotFound> = command.taskUuid !== undefined
              ? Effect.map(actors.stepEnqueuer.advanceTask(command.taskUuid), (advanced) => ReadinessResult.Task({ advanced }))
              : Effect.map(actors.stepEnqueuer.discover(command.limit), (cycle) => ReadinessResult.Cycle({ cycle }))
            return work.pipe(
              Effect.catchTag("TaskNotFound", (e) => Effect.succeed(ReadinessResult.Failed({ error: e.message }))),
              Effect.tap(() => count("readinessCommandsProcessed")),
              Effect.map((result): CommandResult => ({ _tag: "Readiness", result }))
            )
          }
          case "GetProcessingStats":
            return Effect.map(stats, (s): CommandResult => ({ _tag: "Stats", stats: s }))
          case "HealthCheck":
            return Effect.map(health.current, (h): CommandResult => ({ _tag: "Health", health: h }))
          case "Shutdown":
            return Effect.succeed({ _tag: "Acknowledged" })
        }
      }

      const queue = yield* CommandQueue.make<OrchestrationCommand, CommandResult, never>({
        name: "orchestration-commands",
        capacity: config.orchestration.commandBufferSize,
        concurrency: config.orchestration.commandConcurrency,
        keyOf: commandTaskKey,
        labelOf: (command) => command._tag,
        // A defect is counted and surfaces to the caller (or the log for sends); the message, if
        // any, was not acknowledged and comes back after its visibility timeout.
        handle: (command) => route(command).pipe(Effect.tapDefect(() => count("processingErrors")))
      })
      queueRef = queue

      const stats: Effect.Effect<OrchestrationProcessingStats> = Effect.gen(function*() {
        const c = yield* Ref.get(counters)
        const q = yield* queue.stats
        return { ...c, commandsQueued: q.queued, commandsInFlight: q.inFlight, commandChannelSaturation: q.saturation }
      })

      return CommandProcessor.of({
        submit: queue.submit,
        send: (command, options) => queue.send(command, options ?? {}),
        stats,
        saturation: queue.saturation,
        shutdown: queue.shutdown
      })
    })
  )
}
