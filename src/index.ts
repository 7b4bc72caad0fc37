/**
 * Tasker's public surface for applications that embed it: the layers and services by name.
 *
 * ```ts
 * import { OrchestrationCore, Worker, TaskerConfig } from "tasker"
 * ```
 */
export * as ApiServer from "./api/ApiServer.ts"
export { TaskerApi } from "./api/TaskerApi.ts"
export { TaskerClient } from "./client/TaskerClient.ts"
export { TaskerConfig } from "./config/TaskerConfig.ts"
export * as SqlLive from "./db/SqlLive.ts"
export { EmbeddedPostgres } from "./db/EmbeddedPostgres.ts"
export * as Errors from "./domain/Errors.ts"
export { TaskRequest, decodeTaskRequest } from "./domain/TaskRequest.ts"
export { StepExecutionResult } from "./domain/StepExecutionResult.ts"
export { MessageClient } from "./messaging/MessageClient.ts"
export * as PgmqMessageClient from "./messaging/PgmqMessageClient.ts"
export { CommandProcessor } from "./orchestration/CommandProcessor.ts"
export { OrchestrationCommand } from "./orchestration/commands/OrchestrationCommand.ts"
export { LifecycleEvents, type LifecycleEvent } from "./orchestration/LifecycleEvents.ts"
export { OperatorActions } from "./orchestration/lifecycle/operator-actions/OperatorActions.ts"
export * as OrchestrationCore from "./orchestration/OrchestrationCore.ts"
export { HealthReport } from "./orchestration/resilience/HealthReport.ts"
export { TemplateRegistry } from "./templates/TemplateRegistry.ts"
export * as TemplateLoader from "./templates/TemplateLoader.ts"
export { HandlerRegistry } from "./worker/HandlerRegistry.ts"
export { BatchOutcome, DecisionOutcome, StepHandler } from "./worker/StepHandler.ts"
export { PermanentError, RetryableError } from "./worker/ErrorClassification.ts"
export { Worker } from "./worker/Worker.ts"
