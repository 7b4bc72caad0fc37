/**
 * Validation errors (each names the step and the problem) and the graph helpers used by the engine.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { TaskTemplate } from "../../src/templates/TaskTemplate.ts"
import type { TemplateProblemReason } from "../../src/templates/TemplateErrors.ts"
import {
  descendantsOf,
  findCycles,
  initialStepSet,
  topologicalOrder,
  validateTemplate
} from "../../src/templates/TemplateValidation.ts"

type RawStep = { name: string; type?: string; dependencies?: Array<string>; [k: string]: unknown }

const step = (name: string, dependencies: Array<string> = [], extra: Record<string, unknown> = {}): RawStep => ({
  name,
  handler: { callable: `demo.${name}` },
  dependencies,
  ...extra
})

const raw = (steps: Array<RawStep>, extra: Record<string, unknown> = {}) => ({
  name: "t",
  namespace_name: "demo",
  version: "1.0.0",
  steps,
  ...extra
})

const valid = (steps: Array<RawStep>) => validateTemplate(raw(steps))

const invalid = (input: unknown, file?: string) => Effect.flip(validateTemplate(input, { file }))

const reasonTags = (reasons: ReadonlyArray<{ reason: TemplateProblemReason }>) => reasons.map((p) => p.reason._tag)

describe("validateTemplate", () => {
  it.effect("accepts a valid template", () =>
    Effect.gen(function*() {
      const t = yield* valid([step("a"), step("b", ["a"]), step("c", ["a", "b"])])
      assert.strictEqual(t.steps.length, 3)
    }))

  it.effect("unknown dependency names the step and the missing name", () =>
    Effect.gen(function*() {
      const e = yield* invalid(raw([step("a"), step("b", ["a", "ghost"])]), "t.yaml")
      assert.strictEqual(e.file, "t.yaml")
      assert.strictEqual(e.template, "demo/t@1.0.0")
      assert.strictEqual(e.step, "b")
      assert.strictEqual(e.reason._tag, "UnknownDependency")
      assert.deepInclude(e.reason, { step: "b", dependency: "ghost" })
      assert.include(e.message, "t.yaml")
      assert.include(e.message, `step 'b': depends on unknown step "ghost"`)
    }))

  it.effect("cycle names the cycle", () =>
    Effect.gen(function*() {
      const e = yield* invalid(raw([step("a", ["c"]), step("b", ["a"]), step("c", ["b"]), step("d", ["c"])]))
      assert.strictEqual(e.reason._tag, "DependencyCycle")
      assert.strictEqual(e.problem, "dependency cycle: a → b → c → a")
      const self = yield* invalid(raw([step("x", ["x"])]))
      assert.strictEqual(self.problem, "dependency cycle: x → x")
    }))

  it.effect("duplicate step name", () =>
    Effect.gen(function*() {
      const e = yield* invalid(raw([step("a"), step("a")]))
      assert.strictEqual(e.reason._tag, "DuplicateStepName")
      assert.strictEqual(e.step, "a")
      assert.deepInclude(e.reason, { name: "a", occurrences: 2 })
    }))

  it.effect("decision step without a parent", () =>
    Effect.gen(function*() {
      const e = yield* invalid(raw([step("decide", [], { type: "decision" }), step("after", ["decide"])]))
      assert.strictEqual(e.reason._tag, "DecisionWithoutParent")
      assert.strictEqual(e.step, "decide")
    }))

  it.effect("namespace over 29 characters", () =>
    Effect.gen(function*() {
      const e = yield* invalid(raw([step("a")], { namespace_name: "a".repeat(30) }))
      assert.strictEqual(e.reason._tag, "NamespaceTooLong")
      assert.deepInclude(e.reason, { length: 30, maximum: 29 })
      assert.include(e.problem, "at most 29")
      const ok = yield* validateTemplate(raw([step("a")], { namespace_name: "a".repeat(29) }))
      assert.strictEqual(ok.namespace_name.length, 29)
    }))

  it.effect("out-of-range retry values name the field, the value and the range", () =>
    Effect.gen(function*() {
      const cases: Array<[Record<string, unknown>, string, number, number, number]> = [
        [{ max_attempts: 0 }, "retry.max_attempts", 0, 1, 100],
        [{ max_attempts: 101 }, "retry.max_attempts", 101, 1, 100],
        [{ backoff_base_ms: 99 }, "retry.backoff_base_ms", 99, 100, 3_600_000],
        [{ max_backoff_ms: 3_600_001 }, "retry.max_backoff_ms", 3_600_001, 1000, 3_600_000]
      ]
      for (const [retry, field, value, minimum, maximum] of cases) {
        const e = yield* invalid(raw([step("a"), step("b", ["a"], { retry })]))
        assert.strictEqual(e.step, "b")
        assert.strictEqual(e.reason._tag, "OutOfRange")
        assert.deepStrictEqual<object>({ ...e.reason }, { _tag: "OutOfRange", field, value, minimum, maximum })
        assert.include(e.problem, `${field} = ${value} is out of range (allowed ${minimum}..${maximum})`)
      }
    }))

  it.effect("batch_config ranges", () =>
    Effect.gen(function*() {
      const e = yield* invalid(raw([step("w", [], { type: "batch_worker", batch_config: { batch_size: 0 } })]))
      assert.deepInclude(e.reason, { _tag: "OutOfRange", field: "batch_config.batch_size", minimum: 1, maximum: 100000 })
    }))

  it.effect("unknown step type names the value and the allowed ones", () =>
    Effect.gen(function*() {
      const e = yield* invalid(raw([step("a", [], { type: "decision_point" })]))
      assert.strictEqual(e.step, "a")
      assert.strictEqual(e.reason._tag, "UnknownStepType")
      assert.deepInclude(e.reason, {
        value: "decision_point",
        allowed: ["standard", "decision", "deferred_convergence", "batchable", "batch_worker"]
      })
    }))

  it.effect("dependencies and depends_on that differ", () =>
    Effect.gen(function*() {
      const e = yield* invalid(raw([step("a"), step("b"), { ...step("c", ["a"]), depends_on: ["b"] }]))
      assert.strictEqual(e.step, "c")
      assert.strictEqual(e.reason._tag, "ConflictingDependencies")
      assert.deepInclude(e.reason, { step: "c", dependencies: ["a"], depends_on: ["b"] })
    }))

  it.effect("missing and mistyped fields name the field", () =>
    Effect.gen(function*() {
      const e = yield* invalid({ name: "t", namespace_name: "demo", version: "1.0.0", steps: [{ name: "a" }] })
      assert.deepInclude(e.reason, { _tag: "InvalidField", field: "handler", message: "is required" })
      assert.strictEqual(e.step, "a")
      const top = yield* invalid({ namespace_name: "demo", version: "1.0.0", steps: [] })
      assert.sameMembers(top.problems.map((p) => (p.reason as { field: string }).field), ["name", "steps"])
      const notObject = yield* invalid(null)
      assert.strictEqual(notObject.reason._tag, "InvalidField")
    }))

  it.effect("collects every problem", () =>
    Effect.gen(function*() {
      const e = yield* invalid(
        raw([step("a", ["ghost"]), step("b", ["b"]), step("d", [], { type: "decision" })], {
          environments: { prod: { steps: [{ name: "nope", timeout_seconds: 5 }, { name: "ALL", timeout_seconds: 9 }] } }
        })
      )
      assert.sameMembers(reasonTags(e.problems), [
        "UnknownDependency",
        "DecisionWithoutParent",
        "DependencyCycle",
        "UnknownOverrideStep"
      ])
      assert.include(e.message, "4 problems")
    }))

  it.effect("a batchable step needs a batch_worker", () =>
    Effect.gen(function*() {
      const lonely = yield* invalid(raw([step("split", [], { type: "batchable" })]))
      assert.deepInclude(lonely.reason, { _tag: "MissingBatchWorker", step: "split" })
      const misnamed = yield* invalid(
        raw([step("split", [], { type: "batchable", batch_config: { worker_template: "other" } }), step("other", ["split"])])
      )
      assert.deepInclude(misnamed.reason, { _tag: "MissingBatchWorker", worker_template: "other" })
      yield* valid([step("split", [], { type: "batchable" }), step("work", ["split"], { type: "batch_worker" })])
    }))
})

// The graph helpers work on decoded templates; these fixtures are decoded without the graph checks.
const decode = (steps: Array<RawStep>) => Schema.decodeUnknownSync(TaskTemplate)(raw(steps))
const names = (steps: ReadonlyArray<{ name: string }>) => steps.map((s) => s.name)

describe("graph helpers", () => {
  const refund: TaskTemplate = decode([
    step("load_order"),
    step("choose_route", ["load_order"], { type: "decision" }),
    step("auto_refund", ["choose_route"]),
    step("agent_review", ["choose_route"]),
    step("notify_customer", ["auto_refund", "agent_review"], { type: "deferred_convergence" }),
    step("audit_log", ["load_order"])
  ])

  it("initialStepSet without decisions excludes batch_worker and deferred_convergence", () => {
    const t = decode([
      step("split", [], { type: "batchable" }),
      step("work", ["split"], { type: "batch_worker" }),
      step("merge", ["work"], { type: "deferred_convergence" }),
      step("other")
    ])
    assert.deepStrictEqual(names(initialStepSet(t)), ["split", "other"])
  })

  it("initialStepSet with decisions excludes every descendant of a decision step", () => {
    assert.deepStrictEqual(names(initialStepSet(refund)), ["load_order", "choose_route", "audit_log"])
  })

  it("a decision below another decision is not created initially", () => {
    const t = decode([
      step("root"),
      step("d1", ["root"], { type: "decision" }),
      step("d2", ["d1"], { type: "decision" }),
      step("leaf", ["d2"])
    ])
    assert.deepStrictEqual(names(initialStepSet(t)), ["root", "d1"])
  })

  it("descendantsOf lists transitive dependents in template order", () => {
    assert.deepStrictEqual(descendantsOf(refund, "choose_route"), ["auto_refund", "agent_review", "notify_customer"])
    assert.deepStrictEqual(descendantsOf(refund, "load_order"), [
      "choose_route",
      "auto_refund",
      "agent_review",
      "notify_customer",
      "audit_log"
    ])
    assert.deepStrictEqual(descendantsOf(refund, "audit_log"), [])
  })

  it("topologicalOrder puts dependencies first and keeps template order for ties", () => {
    const t = decode([step("join", ["left", "right"]), step("right", ["start"]), step("left", ["start"]), step("start")])
    assert.deepStrictEqual(names(topologicalOrder(t)), ["start", "right", "left", "join"])
  })

  it("findCycles reports each cycle once", () => {
    const cyclic = decode([step("y", ["x"]), step("x", ["y"]), step("z", ["x"])])
    assert.deepStrictEqual(findCycles(cyclic), [["x", "y", "x"]])
    assert.deepStrictEqual(findCycles(refund), [])
  })
})
