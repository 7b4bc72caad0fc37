/**
 * The named circuit breakers of the orchestration system (REFERENCE 6.7), one service so the health
 * and backpressure evaluators see them all:
 *
 * - `database`: the web/API database breaker (API DB calls; open → 503 with Retry-After), 5 / 30 s / 2.
 * - `messaging`: queue send/receive (ack, nack, health and ensure-queue bypass it), 5 / 30 s / 2.
 * - `taskReadiness`: the readiness poller (an open circuit skips poll cycles), 10 / 60 s / 3.
 *
 * `layerConfig` reads `TASKER_CIRCUIT_BREAKER_<NAME>_FAILURE_THRESHOLD`, `_OPEN_TIMEOUT` (a Duration
 * such as `"30 seconds"`), `_SUCCESS_THRESHOLD` and, to back off on repeated re-openings,
 * `_MAX_OPEN_TIMEOUT` (exponential from `_OPEN_TIMEOUT`, capped there), with `<NAME>` one of
 * `DATABASE`, `MESSAGING`, `TASK_READINESS`. Unset values keep the defaults.
 *
 * @since 0.1.0
 */
import { Config, Context, Duration, Effect, Layer, Option, Schema } from "effect"
import {
  type CircuitBreaker,
  type CircuitBreakerConfig,
  defaultConfig,
  exponentialOpenSchedule,
  makeCircuitBreaker
} from "./CircuitBreaker.ts"

/** @category models @since 0.1.0 */
export const BreakerName = Schema.Literals(["database", "messaging", "taskReadiness"])
/** @category models @since 0.1.0 */
export type BreakerName = typeof BreakerName.Type

/** @category models @since 0.1.0 */
export type BreakerConfigs = { readonly [K in BreakerName]: CircuitBreakerConfig }

/**
 * The base defaults (REFERENCE Appendix).
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultBreakerConfigs: BreakerConfigs = {
  database: defaultConfig,
  messaging: defaultConfig,
  taskReadiness: { failureThreshold: 10, openTimeout: "60 seconds", successThreshold: 3 }
}

const envNames: { readonly [K in BreakerName]: string } = {
  database: "DATABASE",
  messaging: "MESSAGING",
  taskReadiness: "TASK_READINESS"
}

const Threshold = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const PositiveDuration = Schema.DurationFromString.check(
  Schema.makeFilter((d: Duration.Duration) => Duration.isGreaterThan(d, Duration.zero) || "must be a positive duration")
)

const breakerConfig = (name: BreakerName, defaults: CircuitBreakerConfig): Config.Config<CircuitBreakerConfig> => {
  const key = (suffix: string) => `TASKER_CIRCUIT_BREAKER_${envNames[name]}_${suffix}`
  return Config.all({
    failureThreshold: Config.schema(Threshold, key("FAILURE_THRESHOLD")).pipe(
      Config.withDefault(defaults.failureThreshold)
    ),
    openTimeout: Config.schema(PositiveDuration, key("OPEN_TIMEOUT")).pipe(
      Config.withDefault(Duration.fromInputUnsafe(defaults.openTimeout))
    ),
    successThreshold: Config.schema(Threshold, key("SUCCESS_THRESHOLD")).pipe(
      Config.withDefault(defaults.successThreshold)
    ),
    maxOpenTimeout: Config.option(Config.schema(PositiveDuration, key("MAX_OPEN_TIMEOUT")))
  }).pipe(Config.map(({ maxOpenTimeout, ...config }): CircuitBreakerConfig =>
    Option.match(maxOpenTimeout, {
      onNone: () => ({ ...config, openSchedule: defaults.openSchedule }),
      onSome: (max) => ({ ...config, openSchedule: exponentialOpenSchedule(config.openTimeout, max) })
    })
  ))
}

/**
 * All breaker settings from the environment, each falling back to `defaults`.
 *
 * @category config
 * @since 0.1.0
 */
export const circuitBreakersConfig = (
  defaults: BreakerConfigs = defaultBreakerConfigs
): Config.Config<BreakerConfigs> =>
  Config.all({
    database: breakerConfig("database", defaults.database),
    messaging: breakerConfig("messaging", defaults.messaging),
    taskReadiness: breakerConfig("taskReadiness", defaults.taskReadiness)
  })

/**
 * @category services
 * @since 0.1.0
 */
export class CircuitBreakers extends Context.Service<CircuitBreakers, {
  readonly database: CircuitBreaker
  readonly messaging: CircuitBreaker
  readonly taskReadiness: CircuitBreaker
  /** Every breaker, for health (`all closed = healthy, half-open = degraded, open = unhealthy`). */
  readonly all: ReadonlyArray<CircuitBreaker>
}>()("tasker/orchestration/resilience/CircuitBreakers") {
  /** Builds the three breakers from explicit settings. */
  static readonly make = Effect.fnUntraced(function*(configs: BreakerConfigs) {
    const database = yield* makeCircuitBreaker("database", configs.database)
    const messaging = yield* makeCircuitBreaker("messaging", configs.messaging)
    const taskReadiness = yield* makeCircuitBreaker("taskReadiness", configs.taskReadiness)
    return CircuitBreakers.of({ database, messaging, taskReadiness, all: [database, messaging, taskReadiness] })
  })

  /** The base defaults: 5 / 30 s / 2, task readiness 10 / 60 s / 3. */
  static readonly layer: Layer.Layer<CircuitBreakers> = Layer.effect(
    CircuitBreakers,
    CircuitBreakers.make(defaultBreakerConfigs)
  )

  /** Explicit settings, e.g. an environment preset (test 2 / 5 s / 1, production 10 / 60 s / 5). */
  static readonly layerFrom = (configs: BreakerConfigs): Layer.Layer<CircuitBreakers> =>
    Layer.effect(CircuitBreakers, CircuitBreakers.make(configs))

  /** Settings from `TASKER_CIRCUIT_BREAKER_*` over the base defaults. */
  static readonly layerConfig: Layer.Layer<CircuitBreakers, Config.ConfigError> = Layer.effect(
    CircuitBreakers,
    Effect.flatMap(circuitBreakersConfig(), CircuitBreakers.make)
  )
}
