/**
 * A scripted worker for tests (not the product worker): it polls `worker_{namespace}_queue`,
 * claims steps and writes their results through the real worker SQL (`WorkerRepository`), so the
 * orchestration core can be tested end to end against a real database. Each step name maps to a
 * `Behaviour` (succeed, fail retryably / permanently, sleep first, or custom code); every finished
 * execution is recorded with its attempt number.
 *
 * ```ts
 * const worker = yield* TestWorker.run({
 *   namespace: "payments",
 *   handlers: { validate: Behaviour.succeed({ ok: true }), charge: Behaviour.failRetryable("busy", { retryAfterSeconds: 2 }) }
 * })
 * yield* worker.awaitExecutions((x) => (x.byStepName.charge?.length ?? 0) >= 3)
 * ```
 *
 * `run` needs a `SqlClient` and a `Scope`; the polling fiber and the handler fibers stop when the
 * scope closes. Polling only (no LISTEN). Steps without a behaviour fail permanently ("handler not
 * found", REFERENCE 7.1). A custom behaviour's failure becomes a retryable failure result.
 */
import { Cause, Clock, DateTime, Duration, Effect, FiberSet, Option, Ref, type Schema, type Scope } from "effect"
import type { SqlClient } from "effect/sql"
import { OrchestrationMetadata, StepExecutionResult } from "../../src/domain/StepExecutionResult.ts"
import { workerQueue } from "../../src/messaging/QueueNames.ts"
import { type ClaimedStep, type ClaimEvent, WorkerRepository } from "../../src/worker/WorkerRepository.ts"

export type Behaviour =
  | { readonly _tag: "Succeed"; readonly result: Schema.Json }
  | { readonly _tag: "FailRetryable"; readonly message: string; readonly retryAfterSeconds: number | undefined }
  | { readonly _tag: "FailPermanent"; readonly message: string }
  | { readonly _tag: "Sleep"; readonly millis: number; readonly then: Behaviour }
  | {
    readonly _tag: "Custom"
    readonly run: (claimed: ClaimedStep) => Effect.Effect<StepExecutionResult | Behaviour, unknown>
  }

type Terminal = Extract<Behaviour, { readonly _tag: "Succeed" | "FailRetryable" | "FailPermanent" }>

export const Behaviour = {
  succeed: (result: Schema.Json = {}): Behaviour => ({ _tag: "Succeed", result }),
  failRetryable: (message: string, options?: { readonly retryAfterSeconds?: number }): Behaviour => ({
    _tag: "FailRetryable",
    message,
    retryAfterSeconds: options?.retryAfterSeconds
  }),
  failPermanent: (message: string): Behaviour => ({ _tag: "FailPermanent", message }),
  sleep: (millis: number, then: Behaviour): Behaviour => ({ _tag: "Sleep", millis, then }),
  /** Runs code with the claim; returns a full result or another behaviour (e.g. chosen by attempt). */
  custom: (run: (claimed: ClaimedStep) => Effect.Effect<StepExecutionResult | Behaviour, unknown>): Behaviour => ({
    _tag: "Custom",
    run
  })
}

export interface Execution {
  readonly stepName: string
  readonly stepUuid: string
  readonly taskUuid: string
  /** `attempts` after the claim: 1 for the first execution. */
  readonly attempt: number
  readonly claimEvent: ClaimEvent
  readonly msgId: number
  readonly readCt: number
  readonly outcome: "success" | "retryable_failure" | "permanent_failure"
  readonly result: StepExecutionResult
  /** What `complete` answered: false when the lease was lost or the step moved on. */
  readonly completed: boolean
}

export interface Executions {
  readonly all: ReadonlyArray<Execution>
  readonly byStepName: Readonly<Record<string, ReadonlyArray<Execution>>>
  readonly byStepUuid: Readonly<Record<string, ReadonlyArray<Execution>>>
}

export interface TestWorkerOptions {
  readonly namespace: string
  /** By step name (or template step name, for batch workers). */
  readonly handlers: Readonly<Record<string, Behaviour>>
  /** Steps run at once (default 4). */
  readonly concurrency?: number
  /** Sleep between empty polls (default 25 ms). */
  readonly pollInterval?: Duration.Input
  readonly workerId?: string
  /** Lease length (default 30 s); the worker heartbeats every half lease while a handler runs. */
  readonly visibilityTimeoutSeconds?: number
  /** Default true. */
  readonly heartbeat?: boolean
}

export interface TestWorker {
  readonly workerId: string
  readonly queue: string
  readonly executions: Ref.Ref<Executions>
  /** Unexpected failures of the poll loop or of an execution (database errors, defects). */
  readonly errors: Ref.Ref<ReadonlyArray<Cause.Cause<unknown>>>
  /** Polls `executions` until `predicate` holds; dies after `timeout` (default 10 s). */
  awaitExecutions(predicate: (executions: Executions) => boolean, timeout?: Duration.Input): Effect.Effect<Executions>
}

const emptyExecutions: Executions = { all: [], byStepName: {}, byStepUuid: {} }

const addExecution = (x: Executions, e: Execution): Executions => ({
  all: [...x.all, e],
  byStepName: { ...x.byStepName, [e.stepName]: [...(x.byStepName[e.stepName] ?? []), e] },
  byStepUuid: { ...x.byStepUuid, [e.stepUuid]: [...(x.byStepUuid[e.stepUuid] ?? []), e] }
})

const messageOf = (error: unknown) =>
  error instanceof Error ? error.message : typeof error === "string" ? error : JSON.stringify(error)

const interpret = (
  behaviour: Behaviour,
  claimed: ClaimedStep
): Effect.Effect<Terminal | StepExecutionResult> => {
  switch (behaviour._tag) {
    case "Sleep":
      return Effect.sleep(Duration.millis(behaviour.millis)).pipe(Effect.andThen(interpret(behaviour.then, claimed)))
    case "Custom":
      return behaviour.run(claimed).pipe(
        Effect.flatMap((r) => r instanceof StepExecutionResult ? Effect.succeed(r) : interpret(r, claimed)),
        Effect.catch((error) => Effect.succeed(Behaviour.failRetryable(messageOf(error)) as Terminal))
      )
    default:
      return Effect.succeed(behaviour)
  }
}

const outcomeOf = (result: StepExecutionResult): Execution["outcome"] =>
  result.success ? "success" : result.metadata.retryable ? "retryable_failure" : "permanent_failure"

/** Starts the worker in the current scope. */
export const run = Effect.fnUntraced(function*(
  options: TestWorkerOptions
): Effect.fn.Return<TestWorker, never, SqlClient.SqlClient | Scope.Scope> {
  const repo = yield* WorkerRepository.make
  const workerId = options.workerId ?? `test-worker-${Math.random().toString(36).slice(2, 10)}`
  const queue = workerQueue(options.namespace)
  const concurrency = Math.max(1, options.concurrency ?? 4)
  const pollInterval = options.pollInterval ?? Duration.millis(25)
  const vt = Math.max(1, options.visibilityTimeoutSeconds ?? 30)

  yield* repo.ensureQueue(queue).pipe(Effect.orDie)
  const executions = yield* Ref.make(emptyExecutions)
  const errors = yield* Ref.make<ReadonlyArray<Cause.Cause<unknown>>>([])
  const inFlight = yield* Ref.make(0)
  const fibers = yield* FiberSet.make()

  const recordError = (cause: Cause.Cause<unknown>) =>
    Cause.hasInterruptsOnly(cause)
      ? Effect.failCause(cause)
      : Ref.update(errors, (es) => [...es, cause]).pipe(
        Effect.andThen(Effect.logWarning("TestWorker failure", Cause.pretty(cause)))
      )

  const heartbeatLoop = (claimed: ClaimedStep) =>
    Effect.sleep(Duration.millis(vt * 500)).pipe(
      Effect.andThen(repo.heartbeat(claimed, vt)),
      Effect.repeat({ while: (extended) => extended }),
      Effect.ignore
    )

  const build = (
    outcome: Terminal | StepExecutionResult,
    claimed: ClaimedStep,
    timing: { readonly started: DateTime.Utc; readonly completed: DateTime.Utc; readonly millis: number }
  ): StepExecutionResult => {
    if (outcome instanceof StepExecutionResult) return outcome
    const common = {
      step_uuid: claimed.stepUuid,
      execution_time_ms: Math.max(0, Math.round(timing.millis)),
      started_at: timing.started,
      completed_at: timing.completed,
      worker_id: workerId
    }
    switch (outcome._tag) {
      case "Succeed":
        return StepExecutionResult.success({ ...common, result: outcome.result })
      case "FailRetryable":
        return StepExecutionResult.failure({
          ...common,
          message: outcome.message,
          retryable: true,
          orchestration_metadata: outcome.retryAfterSeconds === undefined ? undefined : OrchestrationMetadata.make({
            headers: { "Retry-After": String(outcome.retryAfterSeconds) }
          })
        })
      case "FailPermanent":
        return StepExecutionResult.failure({ ...common, message: outcome.message, retryable: false })
    }
  }

  const execute = (claimed: ClaimedStep) =>
    Effect.gen(function*() {
      const behaviour = options.handlers[claimed.stepName] ?? options.handlers[claimed.templateStepName] ??
        Behaviour.failPermanent(`no handler for step ${claimed.stepName}`)
      const started = yield* DateTime.now
      const startMillis = yield* Clock.currentTimeMillis
      let handler = interpret(behaviour, claimed)
      if (claimed.timeoutSeconds !== null) {
        const seconds = claimed.timeoutSeconds
        handler = handler.pipe(
          Effect.timeoutOption(Duration.seconds(seconds)),
          Effect.map(Option.getOrElse(() =>
            Behaviour.failRetryable(`step timed out after ${seconds} s`) as Terminal
          ))
        )
      }
      if (options.heartbeat !== false) {
        handler = Effect.scoped(Effect.forkScoped(heartbeatLoop(claimed)).pipe(Effect.andThen(handler)))
      }
      const outcome = yield* handler
      const completed = yield* DateTime.now
      const millis = (yield* Clock.currentTimeMillis) - startMillis
      const result = build(outcome, claimed, { started, completed, millis })
      const written = yield* repo.complete(claimed, result)
      yield* Ref.update(executions, (x) =>
        addExecution(x, {
          stepName: claimed.stepName,
          stepUuid: claimed.stepUuid,
          taskUuid: claimed.taskUuid,
          attempt: claimed.attempts,
          claimEvent: claimed.claimEvent,
          msgId: claimed.msgId,
          readCt: claimed.readCt,
          outcome: outcomeOf(result),
          result,
          completed: written
        }))
    }).pipe(
      Effect.catchCause(recordError),
      Effect.ensuring(Ref.update(inFlight, (n) => n - 1))
    )

  // Claims as many steps as there are free slots; 0 when nothing was claimed (then sleep).
  const pollOnce = Effect.gen(function*() {
    const free = concurrency - (yield* Ref.get(inFlight))
    if (free <= 0) return 0
    const claimed = yield* repo.claim(queue, { visibilityTimeoutSeconds: vt, limit: free, workerId })
    yield* Ref.update(inFlight, (n) => n + claimed.length)
    for (const c of claimed) yield* FiberSet.run(fibers, execute(c))
    return claimed.length
  }).pipe(Effect.catchCause((cause) => recordError(cause).pipe(Effect.as(0))))

  yield* pollOnce.pipe(
    Effect.flatMap((n) => n > 0 ? Effect.void : Effect.sleep(pollInterval)),
    Effect.forever,
    Effect.forkScoped
  )

  const awaitExecutions = (predicate: (executions: Executions) => boolean, timeout: Duration.Input = "10 seconds") =>
    Effect.gen(function*() {
      while (true) {
        const x = yield* Ref.get(executions)
        if (predicate(x)) return x
        yield* Effect.sleep(Duration.millis(10))
      }
    }).pipe(
      Effect.timeoutOption(timeout),
      Effect.flatMap(Option.match({
        onNone: () =>
          Ref.get(executions).pipe(Effect.flatMap((x) =>
            Effect.die(new Error(`TestWorker.awaitExecutions timed out after ${x.all.length} execution(s)`))
          )),
        onSome: Effect.succeed
      }))
    )

  return { workerId, queue, executions, errors, awaitExecutions }
})

export const TestWorker = { run, Behaviour }
