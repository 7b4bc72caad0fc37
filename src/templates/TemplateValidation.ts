/**
 * Template validation (Schema decode + graph rules) and the pure graph helpers the engine uses:
 * `initialStepSet` (REFERENCE §8.1), `descendantsOf`, `topologicalOrder`.
 *
 * Graph rules: unique step names, known dependencies, no cycles, decision steps have a parent,
 * environment overrides name existing steps, a batchable step has a batch_worker step. All problems are
 * collected and reported in one `InvalidTemplate`.
 *
 * @since 0.1.0
 */
import { Effect, Predicate, Schema } from "effect"
import { TaskTemplate, templateKey } from "./TaskTemplate.ts"
import type { StepDefinition } from "./TaskTemplate.ts"
import {
  DecisionWithoutParent,
  DependencyCycle,
  DuplicateStepName,
  fromSchemaIssue,
  InvalidField,
  invalidTemplate,
  makeProblem,
  MissingBatchWorker,
  UnknownDependency,
  UnknownOverrideStep
} from "./TemplateErrors.ts"
import type { InvalidTemplate, TemplateProblem } from "./TemplateErrors.ts"

const decode = Schema.decodeUnknownEffect(TaskTemplate)

/** `namespace/name@version` from a raw (not yet decoded) template, as far as it can be read. */
const rawLabel = (input: unknown): string | undefined => {
  if (!Predicate.isObject(input)) return undefined
  const { namespace_name: ns, name, version } = input as Record<string, unknown>
  if (!Predicate.isString(name)) return undefined
  return `${Predicate.isString(ns) ? ns : "?"}/${name}${Predicate.isString(version) ? `@${version}` : ""}`
}

/**
 * Decodes and validates a parsed template (e.g. the JS value of a YAML document).
 * Fails with InvalidTemplate listing every schema and graph problem found.
 */
export const validateTemplate = Effect.fn("validateTemplate")(function*(
  input: unknown,
  options: { readonly file?: string | undefined } = {}
): Effect.fn.Return<TaskTemplate, InvalidTemplate> {
  const template = yield* decode(input, { errors: "all", reportInput: true }).pipe(
    Effect.catchTag("SchemaError", (error) => {
      const [first = makeProblem(new InvalidField({ field: "", message: error.message })), ...rest] =
        fromSchemaIssue(error.issue, input)
      return Effect.fail(invalidTemplate([first, ...rest], { file: options.file, template: rawLabel(input) }))
    })
  )
  const [first, ...rest] = graphProblems(template)
  if (first !== undefined) {
    return yield* invalidTemplate([first, ...rest], { file: options.file, template: templateKey(template) })
  }
  return template
})

/** Every graph-level problem of a decoded template (empty when valid). */
export const graphProblems = (template: TaskTemplate): Array<TemplateProblem> => {
  const problems: Array<TemplateProblem> = []
  const counts = new Map<string, number>()
  for (const step of template.steps) counts.set(step.name, (counts.get(step.name) ?? 0) + 1)
  for (const [name, occurrences] of counts) {
    if (occurrences > 1) problems.push(makeProblem(new DuplicateStepName({ name, occurrences }), name))
  }
  const byName = stepsByName(template)
  for (const step of template.steps) {
    for (const dependency of step.dependencies) {
      if (!byName.has(dependency)) {
        problems.push(makeProblem(new UnknownDependency({ step: step.name, dependency }), step.name))
      }
    }
    if (step.type === "decision" && step.dependencies.length === 0) {
      problems.push(makeProblem(new DecisionWithoutParent({ step: step.name }), step.name))
    }
    if (step.type === "batchable") {
      const named = step.batch_config?.worker_template
      if (named !== undefined && byName.get(named)?.type !== "batch_worker") {
        problems.push(makeProblem(new MissingBatchWorker({ step: step.name, worker_template: named }), step.name))
      } else if (
        named === undefined &&
        !template.steps.some((s) => s.type === "batch_worker" && s.dependencies.includes(step.name))
      ) {
        problems.push(makeProblem(new MissingBatchWorker({ step: step.name }), step.name))
      }
    }
  }
  for (const cycle of findCycles(template)) problems.push(makeProblem(new DependencyCycle({ cycle })))
  for (const [environment, override] of Object.entries(template.environments)) {
    for (const { name } of override.steps) {
      if (name !== "ALL" && !byName.has(name)) {
        problems.push(makeProblem(new UnknownOverrideStep({ environment, step: name }), name))
      }
    }
  }
  return problems
}

const stepsByName = (template: TaskTemplate): ReadonlyMap<string, StepDefinition> =>
  new Map(template.steps.map((s) => [s.name, s]))

/** step name → names of the steps that list it as a dependency, in template order. */
const childrenIndex = (template: TaskTemplate): ReadonlyMap<string, ReadonlyArray<string>> => {
  const children = new Map<string, Array<string>>()
  for (const step of template.steps) {
    for (const dependency of step.dependencies) {
      const list = children.get(dependency)
      if (list === undefined) children.set(dependency, [step.name])
      else list.push(step.name)
    }
  }
  return children
}

/**
 * Every dependency cycle, each listed in execution order and closed (`[a, b, c, a]` means b depends on a,
 * c on b, a on c). Unknown dependencies are ignored here. Each cycle is reported once.
 */
export const findCycles = (template: TaskTemplate): Array<Array<string>> => {
  const children = childrenIndex(template)
  const state = new Map<string, "active" | "done">()
  const stack: Array<string> = []
  const seen = new Set<string>()
  const cycles: Array<Array<string>> = []
  const visit = (name: string): void => {
    state.set(name, "active")
    stack.push(name)
    for (const child of children.get(name) ?? []) {
      const s = state.get(child)
      if (s === undefined) visit(child)
      else if (s === "active") {
        const cycle = stack.slice(stack.indexOf(child))
        // Rotate to the smallest name so the same cycle found twice is reported once.
        const start = cycle.indexOf([...cycle].sort()[0]!)
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)]
        const key = rotated.join("\u0000")
        if (!seen.has(key)) {
          seen.add(key)
          cycles.push([...rotated, rotated[0]!])
        }
      }
    }
    stack.pop()
    state.set(name, "done")
  }
  for (const step of template.steps) if (!state.has(step.name)) visit(step.name)
  return cycles
}

/** Names of every step that transitively depends on `stepName` (itself excluded), in template order. */
export const descendantsOf = (template: TaskTemplate, stepName: string): Array<string> => {
  const children = childrenIndex(template)
  const found = new Set<string>()
  const pending = [...(children.get(stepName) ?? [])]
  while (pending.length > 0) {
    const name = pending.pop()!
    if (found.has(name)) continue
    found.add(name)
    pending.push(...(children.get(name) ?? []))
  }
  found.delete(stepName)
  return template.steps.map((s) => s.name).filter((name) => found.has(name))
}

/**
 * The steps created at task creation (REFERENCE §8.1): all except `batch_worker` and `deferred_convergence`
 * steps and except every descendant of a decision step (the decision steps themselves are created unless
 * they descend from another decision). Template order is kept.
 */
export const initialStepSet = (template: TaskTemplate): Array<StepDefinition> => {
  const excluded = new Set<string>()
  for (const step of template.steps) {
    if (step.type === "decision") for (const name of descendantsOf(template, step.name)) excluded.add(name)
  }
  return template.steps.filter(
    (s) => s.type !== "batch_worker" && s.type !== "deferred_convergence" && !excluded.has(s.name)
  )
}

/**
 * Steps ordered so that every step comes after its dependencies; ties keep template order.
 * Meant for validated (acyclic) templates: steps on a cycle would be appended at the end in template order.
 */
export const topologicalOrder = (template: TaskTemplate): Array<StepDefinition> => {
  const byName = stepsByName(template)
  const remaining = new Map(
    template.steps.map((s) => [s.name, new Set(s.dependencies.filter((d) => byName.has(d)))])
  )
  const children = childrenIndex(template)
  const order: Array<StepDefinition> = []
  const emitted = new Set<string>()
  let progressed = true
  while (progressed) {
    progressed = false
    for (const step of template.steps) {
      if (emitted.has(step.name) || remaining.get(step.name)!.size > 0) continue
      emitted.add(step.name)
      order.push(step)
      progressed = true
      for (const child of children.get(step.name) ?? []) remaining.get(child)?.delete(step.name)
    }
  }
  return [...order, ...template.steps.filter((s) => !emitted.has(s.name))]
}
