/** Finalization hydration (REFERENCE 6.1): an `orchestration_task_finalizations` payload → task uuid. */
import { Effect } from "effect"
import { InvalidMessage } from "../../domain/Errors.ts"
import { decodeFinalizationMessage } from "../../domain/Messages.ts"
import { taskFinalizationsQueue } from "../../messaging/QueueNames.ts"

export const hydrateFinalization = (payload: unknown): Effect.Effect<string, InvalidMessage> =>
  decodeFinalizationMessage(payload).pipe(
    Effect.map((message) => message.task_uuid),
    Effect.mapError((error) => InvalidMessage.fromSchemaError(error, taskFinalizationsQueue))
  )
