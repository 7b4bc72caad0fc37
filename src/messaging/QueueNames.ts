/**
 * Queue and notification-channel names (REFERENCE 1.2, 5.2). Namespaces are at most 29
 * characters, so `worker_{namespace}_queue` stays within pgmq's 47-character limit.
 */
export const stepResultsQueue = "orchestration_step_results"
export const taskRequestsQueue = "orchestration_task_requests"
export const taskFinalizationsQueue = "orchestration_task_finalizations"

/** The three queues orchestration consumes. */
export const orchestrationQueues = [stepResultsQueue, taskRequestsQueue, taskFinalizationsQueue] as const
export type OrchestrationQueue = typeof orchestrationQueues[number]

/** The queue the workers of a namespace consume. */
export const workerQueue = (namespace: string) => `worker_${namespace}_queue`

/** The NOTIFY channel for a namespace (`orchestration` for the orchestration queues). */
export const readyChannel = (namespace: string) => `pgmq_message_ready.${namespace}`

/** Every send also notifies this channel. */
export const globalReadyChannel = "pgmq_message_ready"

export const orchestrationNamespace = "orchestration"
