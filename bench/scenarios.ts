/**
 * The benchmark scenarios: one task template per scenario (YAML text, namespace `bench`) and the
 * trivial handlers that run its steps. Handlers return a small object at once, so what a scenario
 * measures is the engine's own overhead: task creation, discovery, enqueueing, claiming, result
 * processing and finalization.
 *
 * `steps` is how many steps one task runs; `stages` is the length of its longest chain of
 * dependent steps (the per-stage latency divides by it). A scenario that needs an engine feature
 * that may not exist yet names it in `needs`: the runner probes it with one task and skips the
 * scenario, with the reason, unless the task completes having run every step.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { HandlerRegistry } from "../src/worker/HandlerRegistry.ts"
import { BatchOutcome, DecisionOutcome, StepHandler } from "../src/worker/StepHandler.ts"

/** The namespace of every bench template (and so the worker queue `worker_bench_queue`). */
export const namespace = "bench"
export const version = "1.0.0"

export interface Scenario {
  readonly name: string
  readonly description: string
  /** The template's YAML; its name is `bench_<scenario name>`. */
  readonly template: string
  /** Steps one task runs. */
  readonly steps: number
  /** Sequential stages (the longest dependency chain). */
  readonly stages: number
  /** An engine feature the scenario depends on, probed before it runs. */
  readonly needs?: { readonly feature: string; readonly reason: string } | undefined
}

export const templateName = (scenario: Pick<Scenario, "name">) => `bench_${scenario.name}`

/** Step YAML: `name`, handler `bench.Ok` unless given, optional type and dependencies. */
const step = (name: string, options: { deps?: ReadonlyArray<string>; type?: string; callable?: string } = {}) =>
  [
    `  - name: ${name}`,
    `    handler: { callable: ${options.callable ?? "bench.Ok"} }`,
    ...(options.type === undefined ? [] : [`    type: ${options.type}`]),
    ...(options.deps === undefined || options.deps.length === 0 ? [] : [`    dependencies: [${options.deps.join(", ")}]`])
  ].join("\n")

const template = (name: string, steps: ReadonlyArray<string>) =>
  [
    `name: bench_${name}`,
    `namespace_name: ${namespace}`,
    `version: ${version}`,
    `description: benchmark scenario ${name}`,
    "identity_strategy: always_unique",
    "steps:",
    ...steps
  ].join("\n") + "\n"

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

const linear4: Scenario = {
  name: "linear4",
  description: "4 sequential steps",
  template: template("linear4", range(4).map((i) => step(`linear4_s${i}`, i === 1 ? {} : { deps: [`linear4_s${i - 1}`] }))),
  steps: 4,
  stages: 4
}

const diamond4: Scenario = {
  name: "diamond4",
  description: "A, then B and C in parallel, then D",
  template: template("diamond4", [
    step("diamond4_a"),
    step("diamond4_b", { deps: ["diamond4_a"] }),
    step("diamond4_c", { deps: ["diamond4_a"] }),
    step("diamond4_d", { deps: ["diamond4_b", "diamond4_c"] })
  ]),
  steps: 4,
  stages: 3
}

/** root -> 2 branches -> 2 leaves each -> one join of the 4 leaves. */
const tree8: Scenario = {
  name: "tree8",
  description: "8 steps: root, 2 branches, 4 leaves, a 4-way fan-in",
  template: template("tree8", [
    step("tree8_root"),
    step("tree8_b1", { deps: ["tree8_root"] }),
    step("tree8_b2", { deps: ["tree8_root"] }),
    ...range(4).map((i) => step(`tree8_l${i}`, { deps: [i <= 2 ? "tree8_b1" : "tree8_b2"] })),
    step("tree8_join", { deps: range(4).map((i) => `tree8_l${i}`) })
  ]),
  steps: 8,
  stages: 4
}

const fanout100: Scenario = {
  name: "fanout100",
  description: "one step, 100 parallel steps, a join",
  template: template("fanout100", [
    step("fanout100_start"),
    ...range(100).map((i) => step(`fanout100_p${i}`, { deps: ["fanout100_start"] })),
    step("fanout100_join", { deps: range(100).map((i) => `fanout100_p${i}`) })
  ]),
  steps: 102,
  stages: 3
}

/** 5 declared, 4 run: the decision creates one of the two branches. */
const conditional: Scenario = {
  name: "conditional",
  description: "a decision point choosing one of two branches",
  template: template("conditional", [
    step("conditional_start"),
    step("conditional_decide", { deps: ["conditional_start"], type: "decision", callable: "bench.Decide" }),
    step("conditional_left", { deps: ["conditional_decide"] }),
    step("conditional_right", { deps: ["conditional_decide"] }),
    step("conditional_finish", { deps: ["conditional_left", "conditional_right"], type: "deferred_convergence" })
  ]),
  steps: 4,
  stages: 4,
  needs: { feature: "decision points", reason: "the orchestration did not apply the decision point" }
}

/** 10,000 items in 10 batches of 1,000: analyze, 10 batch workers, aggregate. */
const batch10k: Scenario = {
  name: "batch10k",
  description: "10,000 items in 10 batches of 1,000",
  template: template("batch10k", [
    step("batch10k_analyze", { type: "batchable", callable: "bench.Batches" }),
    step("batch10k_worker", { deps: ["batch10k_analyze"], type: "batch_worker" }),
    step("batch10k_aggregate", { deps: ["batch10k_worker"], type: "deferred_convergence" })
  ]),
  steps: 12,
  stages: 3,
  needs: { feature: "batch processing", reason: "the orchestration did not apply the batch outcome" }
}

/** The backlog scenario's template: a single step, so draining 100,000 tasks stays within minutes. */
export const backlog: Scenario = {
  name: "backlog",
  description: "single-step tasks created while no worker runs, then drained",
  template: template("backlog", [step("backlog_only")]),
  steps: 1,
  stages: 1
}

/** In run order. */
export const scenarios: ReadonlyArray<Scenario> = [linear4, diamond4, tree8, fanout100, conditional, batch10k]

/** Every template the worker registers. */
export const templates: ReadonlyArray<string> = [...scenarios, backlog].map((s) => s.template)

/** The handlers of every scenario: trivial, they return a small object at once. */
export const handlers = HandlerRegistry.make({
  "bench.Ok": StepHandler.effect((ctx) => Effect.succeed({ ok: true, step: ctx.stepName })),
  "bench.Decide": StepHandler.effect(() => Effect.succeed(DecisionOutcome.createSteps(["conditional_left"]))),
  "bench.Batches": StepHandler.effect(() =>
    Effect.succeed(BatchOutcome.createBatches({
      workerTemplateName: "batch10k_worker",
      cursors: BatchOutcome.rangeCursors(10_000, 1_000),
      totalItems: 10_000
    }))
  )
})
