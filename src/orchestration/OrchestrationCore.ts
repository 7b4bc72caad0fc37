/**
 * OrchestrationCore (seed `orchestration/core.rs`): the one Layer that wires the orchestration
 * service: messaging, the template registry, the lifecycle services, the actors, the command
 * processor, and the event systems (queue listener and fallback poller, readiness poller, retry
 * wake-ups, staleness detector, health evaluator).
 *
 * - `OrchestrationCore.layer` needs a PostgreSQL client (`PgClient` + `SqlClient`) and
 *   `TaskerConfig` from the host: an embedding Effect app provides its own. It applies the
 *   migrations on that client first.
 * - `OrchestrationCore.layerStandalone` adds the client (`DATABASE_URL` or the embedded server)
 *   and the environment's settings: what `tasker serve` launches.
 *
 * Closing the layer stops the event systems first (no new work is picked up), then drains the
 * command processor (accepted commands finish), then closes the rest, database last.
 */
import { Effect, Layer } from "effect"
import { TaskerConfig } from "../config/TaskerConfig.ts"
import * as SqlLive from "../db/SqlLive.ts"
import * as PgmqMessageClient from "../messaging/PgmqMessageClient.ts"
import { TemplateRegistry } from "../templates/TemplateRegistry.ts"
import { ActorRegistry } from "./actors/ActorRegistry.ts"
import { BatchProcessingActor, DecisionPointActor } from "./actors/DynamicStepActors.ts"
import { CommandProcessor } from "./CommandProcessor.ts"
import { OrchestrationQueueEventsLive } from "./event-systems/OrchestrationQueueEvents.ts"
import { StalenessDetector, StalenessDetectorLive } from "./event-systems/StalenessDetector.ts"
import { TaskReadinessEventsLive } from "./event-systems/TaskReadinessEvents.ts"
import { StepResultHydrator } from "./hydration/StepResultHydrator.ts"
import { LifecycleEvents } from "./LifecycleEvents.ts"
import { ResultProcessor } from "./lifecycle/result-processing/ResultProcessor.ts"
import { StepEnqueuer } from "./lifecycle/step-enqueuer/StepEnqueuer.ts"
import { OperatorActions } from "./lifecycle/operator-actions/OperatorActions.ts"
import { TaskFinalizer } from "./lifecycle/task-finalization/TaskFinalizer.ts"
import { TaskInitializer } from "./lifecycle/task-initialization/TaskInitializer.ts"
import { CircuitBreakers } from "./resilience/CircuitBreakers.ts"
import { HealthEvaluator, HealthEvaluatorLive } from "./resilience/HealthEvaluator.ts"
import { HealthReport } from "./resilience/HealthReport.ts"

/** Shared infrastructure: events, health, breakers, queues, templates, dynamic-step actors. */
const Infrastructure = Layer.mergeAll(
  LifecycleEvents.layer,
  HealthReport.layer,
  CircuitBreakers.layerConfig,
  PgmqMessageClient.layer,
  TemplateRegistry.layer,
  DecisionPointActor.layer,
  BatchProcessingActor.layer
)

const Lifecycle = Layer.mergeAll(
  TaskInitializer.layer,
  StepEnqueuer.layer,
  ResultProcessor.layer,
  TaskFinalizer.layer,
  StepResultHydrator.layer,
  OperatorActions.layer
).pipe(Layer.provideMerge(Infrastructure))

const Processing = CommandProcessor.layerNoDeps.pipe(
  Layer.provideMerge(ActorRegistry.layer),
  Layer.provideMerge(Lifecycle)
)

const Services = Layer.mergeAll(HealthEvaluator.layer, StalenessDetector.layer).pipe(
  Layer.provideMerge(Processing)
)

const EventSystems = Layer.mergeAll(
  OrchestrationQueueEventsLive,
  TaskReadinessEventsLive,
  StalenessDetectorLive,
  HealthEvaluatorLive
)

/** Everything, with the database client and settings left to the host. */
export const layerNoDeps = EventSystems.pipe(Layer.provideMerge(Services))

/** For embedding: the host provides `PgClient`/`SqlClient` and `TaskerConfig`; migrations run first. */
export const layer = layerNoDeps.pipe(Layer.provideMerge(SqlLive.MigratorLive))

/** The database client for the settings' pool size: `DATABASE_URL` or the embedded server. */
export const databaseLayer = Layer.unwrap(
  Effect.gen(function*() {
    const config = yield* TaskerConfig
    return SqlLive.layer({ maxConnections: config.database.maxConnections })
  })
)

/** The service as `tasker serve` runs it: settings from the environment, database from `DATABASE_URL` or embedded. */
export const layerStandalone = layer.pipe(
  Layer.provideMerge(databaseLayer),
  Layer.provideMerge(TaskerConfig.layer)
)
