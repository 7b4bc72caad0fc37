/**
 * What the `tasker` command prints: aligned tables and key/value blocks for people, `--json` for
 * scripts (the API's wire form, encoded with the route's schema), and the one failure type of the
 * CLI, `CliFailure`, whose message says what to fix. `apiFailure` turns every error the typed
 * client can fail with (transport, HTTP status, the routes' declared errors) into such a message.
 *
 * Exit codes: 0 ok, 1 failure (`CliFailure`), 2 usage (`UsageError`, set by src/cli/Cli.ts).
 *
 * @since 0.1.0
 */
import { Config, Console, DateTime, Effect, Predicate, Runtime, Schema } from "effect"
import { Flag } from "effect/cli"
import type { HttpClientError } from "effect/http"
import type { InvalidRequest, TaskNotInDlq } from "../api/ApiSchemas.ts"
import type { NotReady } from "../api/schemas/HealthSchemas.ts"
import type {
  DlqEntryNotFound,
  IdempotencyKeyRequired,
  IllegalTransition,
  InvalidTaskRequest,
  ServiceOverloaded,
  StepNotFound,
  TaskAlreadyTerminal,
  TaskConflict,
  TaskNotFound,
  TemplateNotFound
} from "../domain/Errors.ts"

/**
 * A command failed; `message` says what went wrong and what to do about it. Printed by the entry
 * point as `error: <message>` on stderr; the process exits with 1.
 *
 * @category errors
 * @since 0.1.0
 */
export class CliFailure extends Schema.TaggedError<CliFailure>()("CliFailure", { message: Schema.String }) {
  override readonly [Runtime.errorExitCode] = 1
  override readonly [Runtime.errorReported] = false
}

/**
 * The command line itself was wrong (the help with the parse error was already printed): exit 2.
 *
 * @category errors
 * @since 0.1.0
 */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {}) {
  override readonly [Runtime.errorExitCode] = 2
  override readonly [Runtime.errorReported] = false
}

/** @category constructors @since 0.1.0 */
export const fail = (message: string) => Effect.fail(new CliFailure({ message }))

// -----------------------------------------------------------------------------
// Text
// -----------------------------------------------------------------------------

/**
 * Columns padded to their widest cell, the header upper-cased; the last column is not padded.
 *
 * @category rendering
 * @since 0.1.0
 */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const all = [header.map((h) => h.toUpperCase()), ...rows]
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? "").length)))
  return all
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ").trimEnd())
    .join("\n")
}

/** `label  value` lines with the labels aligned; `undefined` values are left out. @category rendering @since 0.1.0 */
export const fields = (pairs: ReadonlyArray<readonly [string, string | undefined]>, indent = "  "): string => {
  const shown = pairs.filter((p): p is readonly [string, string] => p[1] !== undefined)
  const width = Math.max(0, ...shown.map(([label]) => label.length))
  return shown.map(([label, value]) => `${indent}${label.padEnd(width)}  ${value}`).join("\n")
}

/** `2025-01-31 12:34:56Z`, or `-`. @category rendering @since 0.1.0 */
export const time = (value: DateTime.Utc | null | undefined): string =>
  value == null ? "-" : DateTime.formatIso(value).replace("T", " ").replace(/\.\d+Z$/, "Z")

/** Compact JSON cut to `max` characters. @category rendering @since 0.1.0 */
export const shortJson = (value: unknown, max = 120): string => {
  const text = JSON.stringify(value) ?? "null"
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}

/** @category printing @since 0.1.0 */
export const print = (text: string) => Console.log(text)

/**
 * Prints a value as the API sends it: encoded with its schema (timestamps as ISO text), indented.
 *
 * @category printing
 * @since 0.1.0
 */
export const printJson = <S extends Schema.Codec<any, any>>(schema: S, value: S["Type"]) =>
  Schema.encodeEffect(schema)(value).pipe(
    Effect.orDie,
    Effect.flatMap((encoded) => Console.log(JSON.stringify(encoded, null, 2)))
  )

/** Prints plain data (already JSON) indented. @category printing @since 0.1.0 */
export const printPlainJson = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

// -----------------------------------------------------------------------------
// JSON flags
// -----------------------------------------------------------------------------

const jsonParseMessage = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** A caret under the character at `position` (from the engine's "at position N"), with its line. */
const pointAt = (text: string, message: string): string => {
  const match = /position (\d+)/.exec(message)
  if (match === null) return ""
  const position = Number(match[1])
  const lineStart = text.lastIndexOf("\n", position - 1) + 1
  const lineEnd = text.indexOf("\n", position)
  const line = text.slice(lineStart, lineEnd === -1 ? undefined : lineEnd)
  const column = position - lineStart
  const from = Math.max(0, column - 60)
  return `\n  ${line.slice(from, from + 120)}\n  ${" ".repeat(column - from)}^`
}

/**
 * Parses the JSON text of a flag or file; the failure names the source, the parser's message with
 * its position and a caret under the offending character.
 *
 * @category parsing
 * @since 0.1.0
 */
export const parseJson = (text: string, source: string): Effect.Effect<Schema.Json, CliFailure> =>
  Effect.try({
    try: () => JSON.parse(text) as Schema.Json,
    catch: (error) => {
      const message = jsonParseMessage(error)
      return new CliFailure({ message: `${source} is not valid JSON: ${message}${pointAt(text, message)}` })
    }
  })

// -----------------------------------------------------------------------------
// API errors
// -----------------------------------------------------------------------------

/** Every error a call of the typed client can fail with. @category models @since 0.1.0 */
export type ApiError =
  | HttpClientError.HttpClientError
  | Schema.SchemaError
  | InvalidRequest
  | InvalidTaskRequest
  | IdempotencyKeyRequired
  | TaskNotFound
  | StepNotFound
  | TemplateNotFound
  | DlqEntryNotFound
  | TaskNotInDlq
  | TaskConflict
  | IllegalTransition
  | TaskAlreadyTerminal
  | ServiceOverloaded
  | NotReady

/** Which manual step action applies to which step state (docs/states.md). */
const stepActionHint = "reset applies to a step in error; resolve to any step not yet complete, cancelled or " +
  "resolved_manually; complete to a step in pending, enqueued, in_progress, waiting_for_retry or error"

const unreachable = (url: string) =>
  `cannot reach the Tasker API at ${url}: is \`tasker serve\` (or \`npm start\`) running? set --url or TASKER_URL`

/**
 * The message of a failed API call, saying what to fix. `url` is the API base URL in use.
 *
 * @category errors
 * @since 0.1.0
 */
export const describeApiError = (error: ApiError, url: string): string => {
  switch (error._tag) {
    case "HttpClientError": {
      const reason = error.reason
      switch (reason._tag) {
        case "TransportError":
          return unreachable(url)
        case "InvalidUrlError":
          return `--url ${url} is not a usable URL (expected e.g. http://127.0.0.1:8080)`
        case "EncodeError":
          return `could not encode the request: ${reason.message}`
        default:
          return `the server at ${url} answered ${reason.request.method} ${new URL(reason.request.url).pathname} ` +
            `with HTTP ${reason.response.status}, which the Tasker API does not send: is --url the Tasker API?`
      }
    }
    case "SchemaError":
      return `the request or the answer of ${url} does not match the Tasker API (is --url a Tasker API of this ` +
        `version?): ${error.message}`
    case "InvalidRequest":
      return `invalid ${error.location}${error.path === "" ? "" : ` field ${error.path}`}: ${error.message}`
    case "InvalidTaskRequest":
      return `invalid task request${error.path === "" ? "" : `, field ${error.path}`}: ${error.message}`
    case "IdempotencyKeyRequired":
      return `${error.message}: pass --idempotency-key <key>`
    case "TaskNotFound":
      return `${error.message}: check the uuid (\`tasker task list\` shows recent tasks)`
    case "StepNotFound":
      return `${error.message}: \`tasker task steps <task-uuid>\` lists the task's steps`
    case "TemplateNotFound":
      return `${error.message}: no worker has registered it. Start a worker with its template ` +
        `(\`tasker worker --templates <dir>\`) or check the name and --version (\`tasker template list\`)`
    case "DlqEntryNotFound":
      return `${error.message}: \`tasker dlq list\` shows the entries`
    case "TaskNotInDlq":
      return `${error.message}: \`tasker dlq list\` shows the tasks under investigation`
    case "TaskConflict":
      return error.existing_task_uuid === undefined
        ? `${error.message} (identity ${error.identity_hash}): change --context or pass a new --idempotency-key`
        : `${error.message}: ${error.existing_task_uuid} (see \`tasker task get ${error.existing_task_uuid}\`); ` +
          "to create another, change --context or pass a new --idempotency-key"
    case "IllegalTransition":
      return error.entity === "step" ? `${error.message}: ${stepActionHint}` : error.message
    case "TaskAlreadyTerminal":
      return `${error.message}: nothing to do`
    case "ServiceOverloaded":
      return `the Tasker API is overloaded (${error.reason}): try again in ${error.retry_after_seconds} s`
    case "NotReady":
      return `the Tasker API at ${url} is not ready`
  }
}

/**
 * Maps a failed API call to a `CliFailure`; defects stay defects.
 *
 * @category errors
 * @since 0.1.0
 */
export const apiFailure = (url: string) => (error: ApiError): CliFailure =>
  new CliFailure({ message: describeApiError(error, url) })

/** True for a `CliFailure` or `UsageError` (the failures the entry point reports itself). @category guards @since 0.1.0 */
export const isReported = (u: unknown): u is CliFailure | UsageError =>
  Predicate.isTagged(u, "CliFailure") || Predicate.isTagged(u, "UsageError")

// -----------------------------------------------------------------------------
// Shared flags
// -----------------------------------------------------------------------------

/** `--json`: print the API's JSON instead of tables. @category flags @since 0.1.0 */
export const jsonFlag = Flag.Boolean("json").pipe(
  Flag.withDescription("Print JSON (the API's wire form) for scripts"),
  Flag.withDefault(false)
)

/** An integer flag value within `min..max` (out of range is a usage error). @category flags @since 0.1.0 */
export const intBetween = (minimum: number, maximum: number) =>
  Schema.Int.check(Schema.isBetween({ minimum, maximum }))

/** `--by <who>`: who acts (default $USER, else tasker-cli). @category flags @since 0.1.0 */
export const byFlag = Flag.String("by").pipe(
  Flag.withDescription("Who is acting, recorded with the action (default: $USER)"),
  Flag.withFallbackConfig(Config.String("USER")),
  Flag.withDefault("tasker-cli")
)
