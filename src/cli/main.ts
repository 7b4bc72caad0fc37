/**
 * The entry point of the `tasker` command (`bin/tasker.mjs`, `npm run tasker -- …`,
 * `node src/cli/main.ts …`). Exit codes: 0 ok, 1 failure, 2 usage, 130 interrupted.
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import { run } from "./Cli.ts"

run(process.argv.slice(2)).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain)
