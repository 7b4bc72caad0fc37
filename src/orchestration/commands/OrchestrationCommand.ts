/**
 * The commands of the orchestration command processor (REFERENCE 6.1), one variant per kind of
 * work. `…FromMessage` variants carry a claimed queue message (hydrated, processed, then
 * acknowledged only on success); `…FromMessageEvent` variants carry only a message id from a
 * signal-only notification and are fetched first.
 */
import { Data } from "effect"
import type { TaskRequest } from "../../domain/TaskRequest.ts"
import type { QueuedMessage } from "../../messaging/MessageClient.ts"

export interface MessageEvent {
  readonly queue: string
  readonly msgId: number
}

export type OrchestrationCommand = Data.TaggedEnum<{
  InitializeTask: { readonly request: TaskRequest }
  /** A step whose result is already written (the in-process path: no queue message). */
  ProcessStepResult: { readonly stepUuid: string }
  FinalizeTask: { readonly taskUuid: string }
  InitializeTaskFromMessage: { readonly message: QueuedMessage }
  ProcessStepResultFromMessage: { readonly message: QueuedMessage }
  FinalizeTaskFromMessage: { readonly message: QueuedMessage }
  InitializeTaskFromMessageEvent: { readonly event: MessageEvent }
  ProcessStepResultFromMessageEvent: { readonly event: MessageEvent }
  FinalizeTaskFromMessageEvent: { readonly event: MessageEvent }
  /** Advance one task (a retry wake-up), or run a discovery cycle when no task is given. */
  ProcessTaskReadiness: { readonly taskUuid?: string; readonly limit?: number }
  GetProcessingStats: {}
  HealthCheck: {}
  Shutdown: {}
}>

export const OrchestrationCommand = Data.taggedEnum<OrchestrationCommand>()

export type CommandTag = OrchestrationCommand["_tag"]

/**
 * The task a command belongs to, when known before running it: commands of one task are never
 * processed at the same time. Message payloads are peeked at, not trusted: hydration decodes them.
 */
export const commandTaskKey = (command: OrchestrationCommand): string | undefined => {
  switch (command._tag) {
    case "FinalizeTask":
      return command.taskUuid
    case "ProcessTaskReadiness":
      return command.taskUuid
    case "ProcessStepResultFromMessage":
    case "FinalizeTaskFromMessage": {
      const payload = command.message.message
      const taskUuid = typeof payload === "object" && payload !== null ? (payload as { task_uuid?: unknown }).task_uuid : undefined
      return typeof taskUuid === "string" ? taskUuid.toLowerCase() : undefined
    }
    default:
      return undefined
  }
}
