/**
 * Every setting of the engine in one typed value, read from the environment (`TASKER_*`,
 * `DATABASE_URL`) on top of a preset chosen by `TASKER_ENV` (development | test | production).
 * docs/configuration.md lists each setting, its default and its variable.
 */
import { Config, Context, Duration, Effect, Layer, Schema } from "effect"

export const DeploymentMode = Schema.Literals(["EventDrivenOnly", "PollingOnly", "Hybrid", "Disabled"])
export type DeploymentMode = typeof DeploymentMode.Type

export const Environment = Schema.Literals(["development", "test", "production"])
export type Environment = typeof Environment.Type

export interface TaskerSettings {
  readonly environment: Environment
  readonly database: {
    /** Pool size of the engine's client. */
    readonly maxConnections: number
  }
  readonly queues: {
    /** How long a read message stays invisible to other readers. */
    readonly visibilityTimeout: Duration.Duration
    /** Queue depth tiers (REFERENCE 6.6). */
    readonly depthWarning: number
    readonly depthCritical: number
    readonly depthOverflow: number
  }
  readonly orchestration: {
    readonly commandBufferSize: number
    /** Commands processed at once; commands of one task never run together. */
    readonly commandConcurrency: number
    readonly deploymentMode: DeploymentMode
    readonly fallbackPollInterval: Duration.Duration
    readonly pollBatchSize: number
    readonly readinessDeploymentMode: DeploymentMode
    readonly readinessPollInterval: Duration.Duration
    /** Tasks claimed per discovery cycle (the reference hard-codes 5). */
    readonly discoveryBatchSize: number
    readonly healthEvaluationInterval: Duration.Duration
  }
  readonly backoff: {
    readonly baseSeconds: number
    readonly maxSeconds: number
    readonly multiplier: number
    readonly jitter: boolean
    readonly jitterMaxFraction: number
  }
  readonly staleness: {
    readonly enabled: boolean
    readonly interval: Duration.Duration
    readonly batchSize: number
    readonly dryRun: boolean
    readonly waitingForDependenciesMinutes: number
    readonly waitingForRetryMinutes: number
    readonly stepsInProcessMinutes: number
    readonly maxLifetimeHours: number
  }
  readonly decisionPoints: {
    readonly maxStepsPerDecision: number
    readonly warnStepsPerDecision: number
  }
  readonly batchProcessing: {
    readonly maxParallelBatches: number
    readonly defaultBatchSize: number
    readonly checkpointStallMinutes: number
  }
  readonly backpressure: {
    readonly saturationWarning: number
    readonly saturationCritical: number
    readonly saturationEmergency: number
  }
  readonly api: {
    readonly host: string
    readonly port: number
  }
  readonly worker: {
    readonly concurrency: number
    readonly pollInterval: Duration.Duration
    readonly visibilityTimeout: Duration.Duration
    readonly handlerTimeout: Duration.Duration
  }
}

const base: TaskerSettings = {
  environment: "development",
  database: { maxConnections: 20 },
  queues: {
    visibilityTimeout: Duration.seconds(30),
    depthWarning: 1000,
    depthCritical: 5000,
    depthOverflow: 10000
  },
  orchestration: {
    commandBufferSize: 5000,
    commandConcurrency: 16,
    deploymentMode: "Hybrid",
    fallbackPollInterval: Duration.seconds(5),
    pollBatchSize: 20,
    readinessDeploymentMode: "Hybrid",
    readinessPollInterval: Duration.seconds(5),
    discoveryBatchSize: 50,
    healthEvaluationInterval: Duration.seconds(5)
  },
  backoff: { baseSeconds: 1, maxSeconds: 3600, multiplier: 2, jitter: true, jitterMaxFraction: 0.15 },
  staleness: {
    enabled: true,
    interval: Duration.minutes(5),
    batchSize: 100,
    dryRun: false,
    waitingForDependenciesMinutes: 60,
    waitingForRetryMinutes: 30,
    stepsInProcessMinutes: 30,
    maxLifetimeHours: 24
  },
  decisionPoints: { maxStepsPerDecision: 100, warnStepsPerDecision: 50 },
  batchProcessing: { maxParallelBatches: 50, defaultBatchSize: 1000, checkpointStallMinutes: 15 },
  backpressure: { saturationWarning: 0.7, saturationCritical: 0.8, saturationEmergency: 0.95 },
  api: { host: "127.0.0.1", port: 8080 },
  worker: {
    concurrency: 10,
    pollInterval: Duration.seconds(2),
    visibilityTimeout: Duration.seconds(30),
    handlerTimeout: Duration.seconds(30)
  }
}

/** Presets (REFERENCE Appendix): test polls every second and caps backoff at 10 s. */
export const presets: Record<Environment, TaskerSettings> = {
  development: base,
  test: {
    ...base,
    environment: "test",
    orchestration: {
      ...base.orchestration,
      fallbackPollInterval: Duration.seconds(1),
      readinessPollInterval: Duration.seconds(1)
    },
    backoff: { ...base.backoff, maxSeconds: 10 },
    worker: { ...base.worker, pollInterval: Duration.seconds(1) }
  },
  production: {
    ...base,
    environment: "production",
    api: { ...base.api, host: "0.0.0.0" }
  }
}

const int = (name: string, fallback: number) => Config.Int(name).pipe(Config.withDefault(fallback))
const num = (name: string, fallback: number) => Config.Number(name).pipe(Config.withDefault(fallback))
const bool = (name: string, fallback: boolean) => Config.Boolean(name).pipe(Config.withDefault(fallback))
const duration = (name: string, fallback: Duration.Duration) => Config.Duration(name).pipe(Config.withDefault(fallback))
const mode = (name: string, fallback: DeploymentMode) =>
  Config.schema(DeploymentMode, name).pipe(Config.withDefault(fallback))

/** The environment's settings over the preset's defaults. */
export const settingsConfig = (preset: TaskerSettings): Config.Config<TaskerSettings> =>
  Config.all({
    environment: Config.succeed(preset.environment),
    database: Config.all({ maxConnections: int("TASKER_DATABASE_POOL_SIZE", preset.database.maxConnections) }),
    queues: Config.all({
      visibilityTimeout: duration("TASKER_QUEUE_VISIBILITY_TIMEOUT", preset.queues.visibilityTimeout),
      depthWarning: int("TASKER_QUEUE_DEPTH_WARNING", preset.queues.depthWarning),
      depthCritical: int("TASKER_QUEUE_DEPTH_CRITICAL", preset.queues.depthCritical),
      depthOverflow: int("TASKER_QUEUE_DEPTH_OVERFLOW", preset.queues.depthOverflow)
    }),
    orchestration: Config.all({
      commandBufferSize: int("TASKER_COMMAND_BUFFER_SIZE", preset.orchestration.commandBufferSize),
      commandConcurrency: int("TASKER_COMMAND_CONCURRENCY", preset.orchestration.commandConcurrency),
      deploymentMode: mode("TASKER_ORCHESTRATION_MODE", preset.orchestration.deploymentMode),
      fallbackPollInterval: duration("TASKER_ORCHESTRATION_POLL_INTERVAL", preset.orchestration.fallbackPollInterval),
      pollBatchSize: int("TASKER_ORCHESTRATION_POLL_BATCH_SIZE", preset.orchestration.pollBatchSize),
      readinessDeploymentMode: mode("TASKER_READINESS_MODE", preset.orchestration.readinessDeploymentMode),
      readinessPollInterval: duration("TASKER_READINESS_POLL_INTERVAL", preset.orchestration.readinessPollInterval),
      discoveryBatchSize: int("TASKER_DISCOVERY_BATCH_SIZE", preset.orchestration.discoveryBatchSize),
      healthEvaluationInterval: duration("TASKER_HEALTH_INTERVAL", preset.orchestration.healthEvaluationInterval)
    }),
    backoff: Config.all({
      baseSeconds: num("TASKER_BACKOFF_BASE_SECONDS", preset.backoff.baseSeconds),
      maxSeconds: num("TASKER_BACKOFF_MAX_SECONDS", preset.backoff.maxSeconds),
      multiplier: num("TASKER_BACKOFF_MULTIPLIER", preset.backoff.multiplier),
      jitter: bool("TASKER_BACKOFF_JITTER", preset.backoff.jitter),
      jitterMaxFraction: num("TASKER_BACKOFF_JITTER_MAX", preset.backoff.jitterMaxFraction)
    }),
    staleness: Config.all({
      enabled: bool("TASKER_STALENESS_ENABLED", preset.staleness.enabled),
      interval: duration("TASKER_STALENESS_INTERVAL", preset.staleness.interval),
      batchSize: int("TASKER_STALENESS_BATCH_SIZE", preset.staleness.batchSize),
      dryRun: bool("TASKER_STALENESS_DRY_RUN", preset.staleness.dryRun),
      waitingForDependenciesMinutes: int("TASKER_STALENESS_WAITING_FOR_DEPENDENCIES_MINUTES", preset.staleness.waitingForDependenciesMinutes),
      waitingForRetryMinutes: int("TASKER_STALENESS_WAITING_FOR_RETRY_MINUTES", preset.staleness.waitingForRetryMinutes),
      stepsInProcessMinutes: int("TASKER_STALENESS_STEPS_IN_PROCESS_MINUTES", preset.staleness.stepsInProcessMinutes),
      maxLifetimeHours: int("TASKER_STALENESS_MAX_LIFETIME_HOURS", preset.staleness.maxLifetimeHours)
    }),
    decisionPoints: Config.all({
      maxStepsPerDecision: int("TASKER_DECISION_MAX_STEPS", preset.decisionPoints.maxStepsPerDecision),
      warnStepsPerDecision: int("TASKER_DECISION_WARN_STEPS", preset.decisionPoints.warnStepsPerDecision)
    }),
    batchProcessing: Config.all({
      maxParallelBatches: int("TASKER_BATCH_MAX_PARALLEL", preset.batchProcessing.maxParallelBatches),
      defaultBatchSize: int("TASKER_BATCH_DEFAULT_SIZE", preset.batchProcessing.defaultBatchSize),
      checkpointStallMinutes: int("TASKER_BATCH_CHECKPOINT_STALL_MINUTES", preset.batchProcessing.checkpointStallMinutes)
    }),
    backpressure: Config.all({
      saturationWarning: num("TASKER_BACKPRESSURE_SATURATION_WARNING", preset.backpressure.saturationWarning),
      saturationCritical: num("TASKER_BACKPRESSURE_SATURATION_CRITICAL", preset.backpressure.saturationCritical),
      saturationEmergency: num("TASKER_BACKPRESSURE_SATURATION_EMERGENCY", preset.backpressure.saturationEmergency)
    }),
    api: Config.all({
      host: Config.String("TASKER_API_HOST").pipe(Config.withDefault(preset.api.host)),
      // 0 picks a free port (tests, several instances on one machine).
      port: int("TASKER_API_PORT", preset.api.port)
    }),
    worker: Config.all({
      concurrency: int("TASKER_WORKER_CONCURRENCY", preset.worker.concurrency),
      pollInterval: duration("TASKER_WORKER_POLL_INTERVAL", preset.worker.pollInterval),
      visibilityTimeout: duration("TASKER_WORKER_VISIBILITY_TIMEOUT", preset.worker.visibilityTimeout),
      handlerTimeout: duration("TASKER_WORKER_HANDLER_TIMEOUT", preset.worker.handlerTimeout)
    })
  })

/** Reads `TASKER_ENV`, then every setting over that preset. */
export const fromEnvironment: Config.Config<TaskerSettings> = Config.schema(Environment, "TASKER_ENV").pipe(
  Config.withDefault<Environment>("development"),
  Config.flatMap((env) => settingsConfig(presets[env]))
)

/** A deep partial, for tests and embedding apps that override a few settings. */
export type SettingsOverrides = { readonly [K in keyof TaskerSettings]?: Partial<TaskerSettings[K]> }

export const withOverrides = (settings: TaskerSettings, overrides: SettingsOverrides): TaskerSettings => {
  const merged: Record<string, unknown> = { ...settings }
  for (const [key, value] of Object.entries(overrides)) {
    const current = (settings as unknown as Record<string, unknown>)[key]
    merged[key] = typeof current === "object" && current !== null ? { ...(current as object), ...(value as object) } : value
  }
  return merged as unknown as TaskerSettings
}

export class TaskerConfig extends Context.Service<TaskerConfig, TaskerSettings>()("tasker/config/TaskerConfig") {
  /** Settings from the environment. */
  static readonly layer = Layer.effect(TaskerConfig, Effect.map(fromEnvironment, TaskerConfig.of))
  /** Fixed settings: a preset with overrides (tests, embedding apps). */
  static readonly layerWith = (overrides: SettingsOverrides = {}, environment: Environment = "test") =>
    Layer.succeed(TaskerConfig, TaskerConfig.of(withOverrides(presets[environment], overrides)))
}
