/**
 * The options, statistics and configuration error of `Worker` (re-exported there).
 *
 * @since 0.1.0
 */
import { type Duration, Schema } from "effect"
import type { TaskTemplate } from "../templates/TaskTemplate.ts"
import type { HandlerRegistry } from "./HandlerRegistry.ts"

/** @category models @since 0.1.0 */
export interface WorkerOptions<R = never> {
  /** Handlers by `handler.callable`. */
  readonly handlers: HandlerRegistry<R>
  /** Directories of `*.yaml` templates to register at start. */
  readonly templatesDir?: string | ReadonlyArray<string> | undefined
  /** Already-loaded templates to register at start. */
  readonly templates?: ReadonlyArray<TaskTemplate> | undefined
  /** The namespaces to serve; default: those of the templates. */
  readonly namespaces?: ReadonlyArray<string> | undefined
  /** The `environments` overrides applied to loaded files; default `TaskerConfig.environment`. */
  readonly environment?: string | undefined
  /** Recorded on transitions and results; default a random UUID. */
  readonly workerId?: string | undefined
  /** Overrides of the `worker` settings. */
  readonly concurrency?: number | undefined
  readonly pollInterval?: Duration.Input | undefined
  readonly visibilityTimeout?: Duration.Input | undefined
  readonly handlerTimeout?: Duration.Input | undefined
  /** How long closing waits for running handlers before interrupting them (default 10 s). */
  readonly shutdownTimeout?: Duration.Input | undefined
  /** LISTEN for queue notifications (default true); false: polling only. */
  readonly listen?: boolean | undefined
}

/** @category models @since 0.1.0 */
export interface WorkerStats {
  /** Handler slots in use (running steps and claims in flight). */
  readonly running: number
  readonly claimed: number
  readonly succeeded: number
  readonly retryableFailures: number
  readonly permanentFailures: number
  readonly leaseLost: number
  readonly notRecorded: number
}

/** @category errors @since 0.1.0 */
export class WorkerConfigurationError extends Schema.TaggedError<WorkerConfigurationError>()(
  "WorkerConfigurationError",
  { message: Schema.String }
) {}
