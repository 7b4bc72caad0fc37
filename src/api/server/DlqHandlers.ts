/**
 * Handlers of the `dlq` group: reads of the DLQ log and views, and resolution updates.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { DlqQueries } from "../queries/DlqQueries.ts"
import { TaskerApi } from "../TaskerApi.ts"

/** @category handlers @since 0.1.0 */
export const DlqHandlers = HttpApiBuilder.group(
  TaskerApi,
  "dlq",
  Effect.fn(function*(handlers) {
    const queries = yield* DlqQueries
    return handlers.handleAll({
      list: ({ query }) =>
        queries.list({ resolutionStatus: query.resolution_status, limit: query.limit ?? 50, offset: query.offset ?? 0 }),
      getByTask: ({ params }) => queries.byTask(params.task_uuid),
      update: ({ params, payload }) => queries.update(params.dlq_entry_uuid, payload),
      stats: () => queries.stats,
      investigationQueue: ({ query }) => queries.investigationQueue(query.limit ?? 100),
      staleness: ({ query }) => queries.staleness(query.limit ?? 100)
    })
  })
)
