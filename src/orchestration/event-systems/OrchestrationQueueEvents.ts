/**
 * The orchestration queue event system (REFERENCE 5.4): how messages on the three orchestration
 * queues become commands.
 *
 * - Listener (EventDrivenOnly, Hybrid): LISTEN on `pgmq_message_ready.orchestration`. Every
 *   notification, inline or signal-only, becomes a `…FromMessageEvent` command that first claims
 *   the message by id (so two orchestrators never process one message at once). After every
 *   (re)connection the queues are re-read from the tables, since notifications sent while the
 *   session was down are gone.
 * - Fallback poller (PollingOnly, Hybrid): every `fallbackPollInterval`, read what is visible
 *   (messages whose visibility timeout lapsed, or whose notification was lost).
 *
 * Both run as fibers of this layer's scope; a failing poll is logged and the loop goes on.
 */
import { Duration, Effect, Layer, Schedule, Stream } from "effect"
import { TaskerConfig } from "../../config/TaskerConfig.ts"
import { MessageClient, type MessageNotification, type QueuedMessage } from "../../messaging/MessageClient.ts"
import {
  orchestrationNamespace,
  orchestrationQueues,
  stepResultsQueue,
  taskFinalizationsQueue,
  taskRequestsQueue
} from "../../messaging/QueueNames.ts"
import { CommandProcessor } from "../CommandProcessor.ts"
import { type MessageEvent, OrchestrationCommand } from "../commands/OrchestrationCommand.ts"

const fromMessage = (message: QueuedMessage): OrchestrationCommand | undefined => {
  switch (message.queue) {
    case stepResultsQueue:
      return OrchestrationCommand.ProcessStepResultFromMessage({ message })
    case taskRequestsQueue:
      return OrchestrationCommand.InitializeTaskFromMessage({ message })
    case taskFinalizationsQueue:
      return OrchestrationCommand.FinalizeTaskFromMessage({ message })
    default:
      return undefined
  }
}

const fromEvent = (event: MessageEvent): OrchestrationCommand | undefined => {
  switch (event.queue) {
    case stepResultsQueue:
      return OrchestrationCommand.ProcessStepResultFromMessageEvent({ event })
    case taskRequestsQueue:
      return OrchestrationCommand.InitializeTaskFromMessageEvent({ event })
    case taskFinalizationsQueue:
      return OrchestrationCommand.FinalizeTaskFromMessageEvent({ event })
    default:
      return undefined
  }
}

export const OrchestrationQueueEventsLive = Layer.effectDiscard(Effect.gen(function*() {
  const config = yield* TaskerConfig
  const messages = yield* MessageClient
  const processor = yield* CommandProcessor
  const mode = config.orchestration.deploymentMode
  if (mode === "Disabled") return
  const visibilityTimeoutSeconds = Math.ceil(Duration.toSeconds(config.queues.visibilityTimeout))
  yield* Effect.forEach(orchestrationQueues, (queue) => messages.ensureQueue(queue), { discard: true })

  /** Reads every visible message of the orchestration queues (up to a batch each) into commands. */
  const pollOnce = Effect.forEach(orchestrationQueues, (queue) =>
    messages.read(queue, { visibilityTimeoutSeconds, limit: config.orchestration.pollBatchSize }).pipe(
      Effect.flatMap((batch) =>
        Effect.forEach(batch, (message) => {
          const command = fromMessage(message)
          return command ? processor.send(command) : Effect.void
        }, { discard: true })
      )
    ), { discard: true }).pipe(
    Effect.catchCause((cause) => Effect.logError("orchestration queue poll failed", cause))
  )

  const onNotification = (notification: MessageNotification): Effect.Effect<unknown> => {
    switch (notification._tag) {
      case "Resync":
        return pollOnce
      case "Message":
      case "Available": {
        const command = fromEvent({ queue: notification.queue, msgId: notification.msgId })
        return command ? processor.send(command) : Effect.void
      }
      case "BatchAvailable":
        return Effect.forEach(notification.msgIds, (msgId) => {
          const command = fromEvent({ queue: notification.queue, msgId })
          return command ? processor.send(command) : Effect.void
        }, { discard: true })
    }
  }

  if (mode === "EventDrivenOnly" || mode === "Hybrid") {
    yield* Stream.runForEach(messages.notifications([orchestrationNamespace]), onNotification).pipe(
      Effect.forkScoped
    )
  }
  if (mode === "PollingOnly" || mode === "Hybrid") {
    yield* pollOnce.pipe(
      Effect.repeat(Schedule.spaced(config.orchestration.fallbackPollInterval)),
      Effect.forkScoped
    )
  }
  yield* Effect.logDebug(`orchestration queue events started (${mode})`)
}))
