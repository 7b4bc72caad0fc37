/**
 * `tasker dlq list | show | resolve`: the dead-letter investigation log. An entry points at a
 * task that stays in place; resolving an entry records the outcome of the investigation.
 *
 * @since 0.1.0
 */
import { Effect, Option, Schema } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { DlqEntry, DlqResolutionStatus } from "../../api/schemas/DlqSchemas.ts"
import { DlqEntryUuid } from "../../domain/Ids.ts"
import { withApi } from "../Connection.ts"
import { byFlag, fields, intBetween, jsonFlag, print, printJson, table, time } from "../Output.ts"
import { taskUuidArgument } from "./Tasks.ts"

const list = Command.make("list", {
  status: Flag.Literals("status", DlqResolutionStatus.literals).pipe(
    Flag.withDescription("Only entries with this resolution status"),
    Flag.optional
  ),
  limit: Flag.Int("limit").pipe(
    Flag.withDescription("At most this many entries, 1..1000 (default 50)"),
    Flag.withSchema(intBetween(1, 1000)),
    Flag.optional
  ),
  json: jsonFlag
}, (input) =>
  withApi((client) =>
    Effect.gen(function*() {
      const entries = yield* client.dlq.list({
        query: { resolution_status: Option.getOrUndefined(input.status), limit: Option.getOrUndefined(input.limit) }
      })
      if (input.json) return yield* printJson(Schema.Array(DlqEntry), entries)
      if (entries.length === 0) return yield* print("no DLQ entries")
      yield* print(table(
        ["entry uuid", "task uuid", "reason", "status", "task was", "since"],
        entries.map((e) => [
          e.dlq_entry_uuid,
          e.task_uuid,
          e.dlq_reason,
          e.resolution_status,
          e.original_state,
          time(e.dlq_timestamp)
        ])
      ))
    })
  )).pipe(Command.withDescription("List DLQ entries, newest first"))

const renderEntry = (e: DlqEntry): string =>
  [
    `DLQ entry ${e.dlq_entry_uuid}`,
    fields([
      ["task", e.task_uuid],
      ["reason", e.dlq_reason],
      ["task was", e.original_state],
      ["since", time(e.dlq_timestamp)],
      ["status", e.resolution_status],
      ["resolved", e.resolution_timestamp === null ? undefined : time(e.resolution_timestamp)],
      ["resolved by", e.resolved_by ?? undefined],
      ["notes", e.resolution_notes ?? undefined]
    ]),
    "",
    "task snapshot:",
    JSON.stringify(e.task_snapshot, null, 2)
  ].join("\n")

const show = Command.make("show", { taskUuid: taskUuidArgument, json: jsonFlag }, ({ json, taskUuid }) =>
  withApi((client) =>
    client.dlq.getByTask({ params: { task_uuid: taskUuid } }).pipe(
      Effect.flatMap((entry) => (json ? printJson(DlqEntry, entry) : print(renderEntry(entry))))
    )
  )).pipe(Command.withDescription("Show a task's latest DLQ entry with its snapshot"))

const resolve = Command.make("resolve", {
  entryUuid: Argument.String("entry-uuid").pipe(
    Argument.withDescription("The DLQ entry's uuid (`tasker dlq list`)"),
    Argument.withSchema(DlqEntryUuid)
  ),
  status: Flag.Literals("status", ["manually_resolved", "permanently_failed", "cancelled"]).pipe(
    Flag.withDescription("The outcome of the investigation")
  ),
  notes: Flag.String("notes").pipe(Flag.withDescription("What was found and done"), Flag.optional),
  by: byFlag,
  json: jsonFlag
}, (input) =>
  withApi((client) =>
    Effect.gen(function*() {
      const entry = yield* client.dlq.update({
        params: { dlq_entry_uuid: input.entryUuid },
        payload: {
          resolution_status: input.status,
          resolved_by: input.by,
          ...Option.match(input.notes, { onNone: () => ({}), onSome: (notes) => ({ resolution_notes: notes }) })
        }
      })
      if (input.json) return yield* printJson(DlqEntry, entry)
      yield* print(`DLQ entry ${entry.dlq_entry_uuid} (task ${entry.task_uuid}) is ${entry.resolution_status}`)
    })
  )).pipe(Command.withDescription("Record the outcome of a DLQ investigation"))

/** `tasker dlq …` @category commands @since 0.1.0 */
export const dlqCommand = Command.make("dlq").pipe(
  Command.withDescription("Investigate dead-lettered tasks"),
  Command.withSubcommands([list, show, resolve])
)
