/**
 * Loading YAML text, files and directories, and applying environment overrides.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, FileSystem, Path } from "effect"
import {
  applyEnvironment,
  loadTemplateDirectory,
  loadTemplateFile,
  parseTemplate
} from "../../src/templates/TemplateLoader.ts"
import { initialStepSet } from "../../src/templates/TemplateValidation.ts"

const fixtures = new URL("./fixtures/", import.meta.url).pathname
const examples = new URL("../../examples/templates/", import.meta.url).pathname

const yaml = (body: string) => `name: t\nnamespace_name: demo\nversion: 1.0.0\n${body}`

describe("parseTemplate", () => {
  it.effect("reports malformed YAML with line and column", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(parseTemplate("name: a\nname: b\n", { file: "dup.yaml" }))
      assert.strictEqual(e.file, "dup.yaml")
      assert.deepInclude(e.reason, { _tag: "MalformedYaml", line: 2, column: 1 })
      assert.include(e.message, "dup.yaml")
      assert.include(e.message, "line 2, column 1")
      const empty = yield* Effect.flip(parseTemplate(""))
      assert.strictEqual(empty.reason._tag, "MalformedYaml")
      const alias = yield* Effect.flip(parseTemplate("a: *nothing\n"))
      assert.strictEqual(alias.reason._tag, "MalformedYaml")
    }))

  it.effect("validates after parsing", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(
        parseTemplate(yaml("steps:\n  - name: a\n    handler: { callable: x }\n    retry: { max_attempts: 0 }\n"))
      )
      assert.deepInclude(e.reason, { _tag: "OutOfRange", field: "retry.max_attempts", value: 0 })
      assert.strictEqual(e.step, "a")
    }))
})

describe("applyEnvironment", () => {
  const source = yaml(`
steps:
  - name: a
    handler: { callable: x, initialization: { url: prod, keep: 1 } }
    retry: { max_attempts: 5, backoff: linear }
    timeout_seconds: 30
  - name: b
    dependencies: [a]
    handler: { callable: y }
environments:
  test:
    steps:
      - name: ALL
        retry: { max_attempts: 1 }
      - name: a
        handler: { initialization: { url: sandbox } }
        timeout_seconds: 5
  staging:
    steps:
      - name: b
        retry: { retryable: false }
`)

  it.effect("merges initialization and retry, replaces timeout", () =>
    Effect.gen(function*() {
      const t = yield* parseTemplate(source, { environment: "test" })
      const [a, b] = t.steps
      assert.deepStrictEqual(a!.handler.initialization, { url: "sandbox", keep: 1 })
      assert.deepStrictEqual(a!.retry, { retryable: true, max_attempts: 1, backoff: "linear" })
      assert.strictEqual(a!.timeout_seconds, 5)
      assert.strictEqual(b!.retry.max_attempts, 1)
      assert.isUndefined(b!.timeout_seconds)
    }))

  it.effect("only touches the named step, and unknown environments change nothing", () =>
    Effect.gen(function*() {
      const base = yield* parseTemplate(source)
      const staging = applyEnvironment(base, "staging")
      assert.deepStrictEqual(staging.steps[0], base.steps[0])
      assert.deepStrictEqual(staging.steps[1]!.retry, { retryable: false, max_attempts: 3, backoff: "exponential" })
      assert.strictEqual(applyEnvironment(base, "production"), base)
      assert.strictEqual(applyEnvironment(base, "toString"), base)
    }))

  it.effect("validates override values", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(parseTemplate(yaml(`
steps:
  - name: a
    handler: { callable: x }
environments:
  test:
    steps:
      - name: a
        retry: { max_attempts: 1000 }
`)))
      assert.deepInclude(e.reason, { _tag: "OutOfRange", field: "environments.test.steps[0].retry.max_attempts" })
    }))
})

layer(NodeServices.layer)("files", (it) => {
  it.effect("loads a template file", () =>
    Effect.gen(function*() {
      const t = yield* loadTemplateFile(`${fixtures}refund_decision.yaml`)
      assert.strictEqual(t.namespace_name, "billing")
      assert.deepStrictEqual(initialStepSet(t).map((s) => s.name), ["load_order", "choose_route", "audit_log"])
      const batch = yield* loadTemplateFile(`${fixtures}batch_pipeline.yaml`)
      assert.strictEqual(batch.identity_strategy, "caller_provided")
      assert.deepStrictEqual(initialStepSet(batch).map((s) => s.name), ["analyze_csv"])
      assert.strictEqual(batch.steps[1]!.batch_config?.failure_strategy, "fail_fast")
    }))

  it.effect("names the file in every error", () =>
    Effect.gen(function*() {
      const syntax = yield* Effect.flip(loadTemplateFile(`${fixtures}invalid_syntax.yaml`))
      assert.strictEqual(syntax.file, `${fixtures}invalid_syntax.yaml`)
      assert.strictEqual(syntax.reason._tag, "MalformedYaml")
      assert.isDefined((syntax.reason as { line?: number }).line)

      const graph = yield* Effect.flip(loadTemplateFile(`${fixtures}invalid_graph.yaml`))
      assert.strictEqual(graph.file, `${fixtures}invalid_graph.yaml`)
      assert.sameMembers(graph.problems.map((p) => p.reason._tag), [
        "DuplicateStepName",
        "UnknownDependency",
        "DecisionWithoutParent",
        "DependencyCycle",
        "UnknownOverrideStep"
      ])
      assert.include(graph.message, "dependency cycle: a → b → c → a")
      assert.include(graph.message, `step 'c': depends on unknown step "missing_step"`)

      const fields = yield* Effect.flip(loadTemplateFile(`${fixtures}invalid_fields.yaml`))
      assert.deepStrictEqual(
        fields.problems.map((p) => [p.step, p.reason._tag]),
        [
          [undefined, "NamespaceTooLong"],
          ["fetch", "UnknownStepType"],
          ["start", "OutOfRange"],
          ["start", "OutOfRange"]
        ]
      )

      const missing = yield* Effect.flip(loadTemplateFile(`${fixtures}does_not_exist.yaml`))
      assert.strictEqual(missing.reason._tag, "UnreadableFile")
    }))

  it.effect("loads the example directory with environment overrides", () =>
    Effect.gen(function*() {
      const loaded = yield* loadTemplateDirectory(examples, { environment: "test" })
      assert.deepStrictEqual(loaded.map((l) => l.template.name), ["diamond", "fanout", "order_fulfillment"])
      const order = loaded.find((l) => l.template.name === "order_fulfillment")!.template
      assert.strictEqual(order.namespace_name, "ecommerce")
      assert.deepStrictEqual(order.steps.map((s) => s.name), [
        "validate_order",
        "reserve_inventory",
        "charge_payment",
        "ship_order"
      ])
      assert.isTrue(order.steps.every((s) => s.retry.max_attempts === 1))
      assert.strictEqual(order.steps[2]!.handler.initialization["gateway"], "sandbox")
      const diamond = loaded[0]!.template
      assert.deepStrictEqual(diamond.steps[3]!.dependencies, ["diamond_left", "diamond_right"])
      assert.deepStrictEqual(diamond.steps[1]!.dependencies, ["diamond_start"])
    }))

  it.effect("fails on the first invalid file of a directory", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(loadTemplateDirectory(fixtures))
      assert.strictEqual(e.file, `${fixtures}invalid_fields.yaml`)
    }))

  it.effect("rejects two files defining the same template, and skips non-YAML files", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* fs.makeTempDirectoryScoped()
      const text = yield* fs.readFileString(`${examples}diamond.yaml`)
      yield* fs.makeDirectory(path.join(dir, "nested"))
      yield* fs.writeFileString(path.join(dir, "a.yaml"), text)
      yield* fs.writeFileString(path.join(dir, "notes.txt"), "not a template")
      const one = yield* loadTemplateDirectory(dir)
      assert.strictEqual(one.length, 1)
      yield* fs.writeFileString(path.join(dir, "nested", "b.yml"), text)
      const e = yield* Effect.flip(loadTemplateDirectory(dir))
      assert.deepInclude(e.reason, { _tag: "DuplicateTemplate", template: "demo/diamond@1.0.0" })
      assert.strictEqual(e.file, path.join(dir, "nested", "b.yml"))
    }))
})
