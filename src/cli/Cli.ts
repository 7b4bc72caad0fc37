/**
 * The `tasker` command: the root with its global `--url` flag and the subcommands, one module per
 * area in src/cli/commands (tasks, steps, templates, dlq, system). `run(args)` parses and runs a
 * command line: a usage error prints the help with the error and fails with `UsageError` (exit 2),
 * a failed command prints `error: <what to fix>` on stderr and fails with `CliFailure` (exit 1).
 *
 * The built-in `--version` flag is left out: `task create --version` is the template's version.
 *
 * @since 0.1.0
 */
import { Console, Effect } from "effect"
import { CliConfig, Command, GlobalFlag } from "effect/cli"
import { dlqCommand } from "./commands/Dlq.ts"
import { stepCommand } from "./commands/Steps.ts"
import { systemCommands } from "./commands/System.ts"
import { taskCommand } from "./commands/Tasks.ts"
import { templateCommand } from "./commands/Templates.ts"
import { ApiUrl } from "./Connection.ts"
import { UsageError } from "./Output.ts"

/** @category constants @since 0.1.0 */
export const version = "0.1.0"

/** @category commands @since 0.1.0 */
export const tasker = Command.make("tasker").pipe(
  Command.withDescription(
    "Tasker: a PostgreSQL-backed DAG workflow engine. Run the service (serve, worker, demo, migrate) " +
      "or drive it through its REST API (task, step, template, dlq)."
  ),
  Command.withSubcommands([...systemCommands, taskCommand, stepCommand, templateCommand, dlqCommand]),
  Command.withGlobalFlags([ApiUrl])
)

const builtIns = [GlobalFlag.Help, GlobalFlag.Completions, GlobalFlag.LogLevel]

/**
 * Runs one command line (without the `node` and script arguments).
 *
 * @category running
 * @since 0.1.0
 */
export const run = (args: ReadonlyArray<string>) =>
  Command.runWith(tasker, { version })(args).pipe(
    Effect.catchTag("ShowHelp", (help) => (help.errors.length > 0 ? Effect.fail(new UsageError()) : Effect.void)),
    Effect.tapError((error) => (error._tag === "CliFailure" ? Console.error(`error: ${error.message}`) : Effect.void)),
    Effect.provide(CliConfig.layer({ builtIns }))
  )
