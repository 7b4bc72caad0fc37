/**
 * How the `tasker` command reaches the REST API: the global `--url` flag (default `TASKER_URL`,
 * then http://127.0.0.1:8080) and `withApi`, which runs a command body with the typed client
 * (src/client/TaskerClient.ts) for that URL and turns every API error into a `CliFailure` that
 * says what to fix.
 *
 * @since 0.1.0
 */
import { Config, Effect } from "effect"
import { Flag, GlobalFlag } from "effect/cli"
import { TaskerClient } from "../client/TaskerClient.ts"
import { type ApiError, apiFailure, CliFailure } from "./Output.ts"

/** @category constants @since 0.1.0 */
export const defaultUrl = "http://127.0.0.1:8080"

/**
 * `--url <url>`: the Tasker API; accepted anywhere on the command line.
 *
 * @category flags
 * @since 0.1.0
 */
export const ApiUrl = GlobalFlag.Setting("url")({
  flag: Flag.String("url").pipe(
    Flag.withDescription(`The Tasker API (default: $TASKER_URL, else ${defaultUrl})`),
    Flag.withFallbackConfig(Config.String("TASKER_URL")),
    Flag.withDefault(defaultUrl)
  )
})

/** The API base URL in use, checked and without a trailing slash. @category accessors @since 0.1.0 */
export const baseUrl: Effect.Effect<string, CliFailure, GlobalFlag.Setting.Identifier<"url">> = Effect.gen(function*() {
  const url = (yield* ApiUrl).trim().replace(/\/+$/, "")
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    return yield* new CliFailure({
      message: `--url ${JSON.stringify(url)} is not an http(s) URL: pass e.g. --url ${defaultUrl} (or set TASKER_URL)`
    })
  }
  return url
})

/**
 * Runs `body` with the typed client of the API at `--url`; API errors become `CliFailure`s.
 *
 * @category combinators
 * @since 0.1.0
 */
export const withApi = <A, E extends ApiError | CliFailure, R>(
  body: (client: TaskerClient["Service"], url: string) => Effect.Effect<A, E, R>
): Effect.Effect<A, CliFailure, R | GlobalFlag.Setting.Identifier<"url">> =>
  Effect.gen(function*() {
    const url = yield* baseUrl
    return yield* TaskerClient.use((client) => body(client, url)).pipe(
      Effect.mapError((error): CliFailure => error._tag === "CliFailure" ? error : apiFailure(url)(error)),
      Effect.provide(TaskerClient.layer(url))
    )
  })
