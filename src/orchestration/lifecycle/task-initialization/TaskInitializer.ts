/**
 * Task initialization (REFERENCE 1.3 step 2, 8.1, 12.1): in one transaction, the task row with
 * its identity hash, the initial step set, the `provides` edges (a cycle is refused), the initial
 * transitions, and the enqueue of the root steps with their worker messages.
 *
 * The template comes from the registry (`TemplateNotFound`), the identity hash from the template's
 * identity strategy (`IdempotencyKeyRequired`); the initial step set and its edges are computed here
 * (`initialStepSet`: no batch workers, deferred convergence steps or decision descendants) and
 * written by ONE call of `tasker.create_task`, which also advances the task to `steps_in_process`.
 * A task with the same identity answers `TaskConflict` with the existing task's uuid and writes
 * nothing. A cycle in the stored configuration dies with `TaskGraphCycle` (nothing is written).
 * Lifecycle events are published after commit.
 */
import { randomUUID } from "node:crypto"
import { Context, DateTime, Effect, Layer, Option } from "effect"
import { type IdempotencyKeyRequired, TaskConflict, TemplateNotFound } from "../../../domain/Errors.ts"
import { TaskUuid } from "../../../domain/Ids.ts"
import { identityHash } from "../../../domain/Identity.ts"
import type { TaskRequest } from "../../../domain/TaskRequest.ts"
import type { TaskState } from "../../../domain/TaskState.ts"
import type { TaskTemplate } from "../../../templates/TaskTemplate.ts"
import { TemplateRegistry } from "../../../templates/TemplateRegistry.ts"
import { initialStepSet } from "../../../templates/TemplateValidation.ts"
import { LifecycleEvents } from "../../LifecycleEvents.ts"
import { type CreateTaskInput, LifecycleRepository } from "../LifecycleRepository.ts"

export interface TaskInitialized {
  readonly taskUuid: string
  readonly correlationId: string
  readonly namespace: string
  readonly name: string
  readonly version: string
  readonly state: TaskState
  readonly stepsCreated: number
  readonly stepsEnqueued: number
  readonly enqueuedStepUuids: ReadonlyArray<string>
}

/**
 * The steps created with a task and their `provides` edges (dependency → dependent), both limited
 * to the initial step set, in template order.
 */
export const creationPlan = (template: TaskTemplate): Pick<CreateTaskInput, "steps" | "edges"> => {
  const steps = initialStepSet(template)
  const created = new Set(steps.map((s) => s.name))
  return {
    steps: steps.map((s) => ({
      name: s.name,
      retryable: s.retry.retryable,
      max_attempts: s.retry.max_attempts,
      inputs: s.handler.initialization
    })),
    edges: steps.flatMap((s) =>
      [...new Set(s.dependencies)].filter((d) => created.has(d)).map((d) => ({ from_step: d, to_step: s.name }))
    )
  }
}

export class TaskInitializer extends Context.Service<TaskInitializer, {
  initialize(request: TaskRequest): Effect.Effect<TaskInitialized, TemplateNotFound | TaskConflict | IdempotencyKeyRequired>
}>()("tasker/orchestration/lifecycle/TaskInitializer") {
  static readonly layerNoDeps = Layer.effect(
    TaskInitializer,
    Effect.gen(function*() {
      const registry = yield* TemplateRegistry
      const repo = yield* LifecycleRepository
      const events = yield* LifecycleEvents

      const initialize = Effect.fn("TaskInitializer.initialize")(function*(request: TaskRequest) {
        const found = yield* registry.findTemplate(request.namespace, request.name, request.version)
        if (Option.isNone(found)) {
          return yield* new TemplateNotFound({ namespace: request.namespace, name: request.name, version: request.version })
        }
        const { namedTaskUuid, template } = found.value
        const hash = yield* identityHash(template.identity_strategy, namedTaskUuid, request.context, request.idempotency_key)
        const correlationId = request.correlation_id ?? (yield* Effect.sync(randomUUID))
        const requestedAt = request.requested_at ?? (yield* DateTime.now)
        const row = yield* repo.createTask({
          namedTaskUuid,
          identityHash: hash,
          context: request.context,
          ...creationPlan(template),
          correlationId,
          initiator: request.initiator,
          sourceSystem: request.source_system,
          reason: request.reason,
          tags: request.tags,
          priority: request.priority,
          parentCorrelationId: request.parent_correlation_id,
          idempotencyKey: request.idempotency_key,
          requestedAt: DateTime.formatIso(requestedAt)
        })
        if (!row.created || row.taskUuid === null || row.state === null) {
          return yield* new TaskConflict(
            row.existingTaskUuid === null
              ? { identity_hash: hash }
              : { identity_hash: hash, existing_task_uuid: TaskUuid.make(row.existingTaskUuid) }
          )
        }
        yield* repo.afterCommit(events.publishTransitions(row.transitions))
        return {
          taskUuid: row.taskUuid,
          correlationId,
          namespace: template.namespace_name,
          name: template.name,
          version: template.version,
          state: row.state,
          stepsCreated: row.stepsCreated,
          stepsEnqueued: row.stepsEnqueued,
          enqueuedStepUuids: row.stepUuids
        } satisfies TaskInitialized
      }, (effect, request) => Effect.annotateLogs(effect, { template: `${request.namespace}/${request.name}@${request.version}` }))

      return TaskInitializer.of({ initialize })
    })
  )

  /** Needs `SqlClient` and `LifecycleEvents`. */
  static readonly layer = TaskInitializer.layerNoDeps.pipe(
    Layer.provide(Layer.mergeAll(LifecycleRepository.layer, TemplateRegistry.layer))
  )
}
