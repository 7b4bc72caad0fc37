/**
 * Handlers of the `templates` group: reads of the registry tables.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { SystemQueries } from "../queries/SystemQueries.ts"
import { TaskerApi } from "../TaskerApi.ts"

/** @category handlers @since 0.1.0 */
export const TemplatesHandlers = HttpApiBuilder.group(
  TaskerApi,
  "templates",
  Effect.fn(function*(handlers) {
    const queries = yield* SystemQueries
    return handlers.handleAll({
      list: ({ query }) => queries.listTemplates(query.namespace),
      get: ({ params }) => queries.getTemplate(params.namespace, params.name, params.version)
    })
  })
)
