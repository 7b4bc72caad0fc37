/** Task request hydration (REFERENCE 6.1): an `orchestration_task_requests` payload → TaskRequestMessage. */
import { Effect } from "effect"
import { InvalidMessage } from "../../domain/Errors.ts"
import { decodeTaskRequestMessage, type TaskRequestMessage } from "../../domain/Messages.ts"
import { taskRequestsQueue } from "../../messaging/QueueNames.ts"

export const hydrateTaskRequest = (payload: unknown): Effect.Effect<TaskRequestMessage, InvalidMessage> =>
  decodeTaskRequestMessage(payload).pipe(
    Effect.mapError((error) => InvalidMessage.fromSchemaError(error, taskRequestsQueue))
  )
