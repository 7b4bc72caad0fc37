/**
 * Errors of the template module: one wrapper, `InvalidTemplate`, whose `reason` is a tagged union
 * (CONVENTIONS §2.3). The wrapper names the file and template when known, the first problem's step and
 * text, and carries every problem found in `problems`. `fromSchemaIssue` turns a Schema decode failure
 * into such problems, naming steps by their `name` rather than their array index.
 *
 * @since 0.1.0
 */
import { Predicate, Schema, SchemaIssue } from "effect"
import type { SchemaAST } from "effect"
import { DependencyConflictAnnotation, NamespaceLengthAnnotation, RangeAnnotation } from "./TaskTemplate.ts"

export class UnreadableFile extends Schema.TaggedError<UnreadableFile>()("UnreadableFile", {
  path: Schema.String,
  message: Schema.String
}) {}

/** YAML syntax error; `line` / `column` are 1-based as reported by the `yaml` package. */
export class MalformedYaml extends Schema.TaggedError<MalformedYaml>()("MalformedYaml", {
  message: Schema.String,
  line: Schema.optionalKey(Schema.Int),
  column: Schema.optionalKey(Schema.Int)
}) {}

/** A field is missing, has the wrong type or the wrong format. `field` is a path such as `handler.callable`. */
export class InvalidField extends Schema.TaggedError<InvalidField>()("InvalidField", {
  field: Schema.String,
  message: Schema.String
}) {}

export class OutOfRange extends Schema.TaggedError<OutOfRange>()("OutOfRange", {
  field: Schema.String,
  value: Schema.Unknown,
  minimum: Schema.Number,
  maximum: Schema.Number
}) {}

export class UnknownStepType extends Schema.TaggedError<UnknownStepType>()("UnknownStepType", {
  value: Schema.Unknown,
  allowed: Schema.Array(Schema.String)
}) {}

export class NamespaceTooLong extends Schema.TaggedError<NamespaceTooLong>()("NamespaceTooLong", {
  namespace: Schema.String,
  length: Schema.Int,
  maximum: Schema.Int
}) {}

export class DuplicateStepName extends Schema.TaggedError<DuplicateStepName>()("DuplicateStepName", {
  name: Schema.String,
  occurrences: Schema.Int
}) {}

export class UnknownDependency extends Schema.TaggedError<UnknownDependency>()("UnknownDependency", {
  step: Schema.String,
  dependency: Schema.String
}) {}

/** `cycle` lists the steps in execution order and repeats the first at the end: [a, b, c, a]. */
export class DependencyCycle extends Schema.TaggedError<DependencyCycle>()("DependencyCycle", {
  cycle: Schema.Array(Schema.String)
}) {}

export class DecisionWithoutParent extends Schema.TaggedError<DecisionWithoutParent>()("DecisionWithoutParent", {
  step: Schema.String
}) {}

export class ConflictingDependencies extends Schema.TaggedError<ConflictingDependencies>()("ConflictingDependencies", {
  step: Schema.String,
  dependencies: Schema.Array(Schema.String),
  depends_on: Schema.Array(Schema.String)
}) {}

export class UnknownOverrideStep extends Schema.TaggedError<UnknownOverrideStep>()("UnknownOverrideStep", {
  environment: Schema.String,
  step: Schema.String
}) {}

/** A batchable step whose worker template is missing (or named but not of type batch_worker). */
export class MissingBatchWorker extends Schema.TaggedError<MissingBatchWorker>()("MissingBatchWorker", {
  step: Schema.String,
  worker_template: Schema.optionalKey(Schema.String)
}) {}

/** Two files of one directory define the same namespace/name@version. */
export class DuplicateTemplate extends Schema.TaggedError<DuplicateTemplate>()("DuplicateTemplate", {
  template: Schema.String,
  first_file: Schema.String
}) {}

export const TemplateProblemReason = Schema.Union([
  UnreadableFile,
  MalformedYaml,
  InvalidField,
  OutOfRange,
  UnknownStepType,
  NamespaceTooLong,
  DuplicateStepName,
  UnknownDependency,
  DependencyCycle,
  DecisionWithoutParent,
  ConflictingDependencies,
  UnknownOverrideStep,
  MissingBatchWorker,
  DuplicateTemplate
])
export type TemplateProblemReason = typeof TemplateProblemReason.Type

export const TemplateProblem = Schema.Struct({
  step: Schema.optionalKey(Schema.String),
  problem: Schema.String,
  reason: TemplateProblemReason
})
export type TemplateProblem = typeof TemplateProblem.Type

export class InvalidTemplate extends Schema.TaggedError<InvalidTemplate>()("InvalidTemplate", {
  file: Schema.optionalKey(Schema.String),
  /** `namespace/name@version` as far as known. */
  template: Schema.optionalKey(Schema.String),
  step: Schema.optionalKey(Schema.String),
  problem: Schema.String,
  reason: TemplateProblemReason,
  /** Every problem found, the first one included. */
  problems: Schema.Array(TemplateProblem)
}) {
  override get message(): string {
    const where = [this.file, this.template === undefined ? undefined : `(${this.template})`]
      .filter(Predicate.isNotUndefined)
      .join(" ")
    const line = (p: TemplateProblem) => (p.step === undefined ? p.problem : `step '${p.step}': ${p.problem}`)
    const head = `Invalid template${where === "" ? "" : ` ${where}`}`
    return this.problems.length <= 1
      ? `${head}: ${line(this.problems[0] ?? this)}`
      : `${head}: ${this.problems.length} problems\n${this.problems.map((p) => `  - ${line(p)}`).join("\n")}`
  }
}

const show = (value: unknown): string => (Predicate.isString(value) ? `"${value}"` : JSON.stringify(value) ?? String(value))

/** The human text of a reason (without file / step prefixes). */
export const describeReason = (reason: TemplateProblemReason): string => {
  switch (reason._tag) {
    case "UnreadableFile":
      return `cannot read ${reason.path}: ${reason.message}`
    case "MalformedYaml":
      return reason.line === undefined
        ? `malformed YAML: ${reason.message}`
        : `malformed YAML at line ${reason.line}, column ${reason.column ?? 1}: ${reason.message}`
    case "InvalidField":
      return reason.field === "" ? reason.message : `${reason.field}: ${reason.message}`
    case "OutOfRange":
      return `${reason.field} = ${show(reason.value)} is out of range (allowed ${reason.minimum}..${reason.maximum})`
    case "UnknownStepType":
      return `unknown step type ${show(reason.value)} (allowed: ${reason.allowed.join(", ")})`
    case "NamespaceTooLong":
      return `namespace_name "${reason.namespace}" has ${reason.length} characters, at most ${reason.maximum} are allowed ` +
        `(it becomes part of the queue name worker_{namespace}_queue)`
    case "DuplicateStepName":
      return `step name "${reason.name}" is used ${reason.occurrences} times; step names must be unique`
    case "UnknownDependency":
      return `depends on unknown step "${reason.dependency}"`
    case "DependencyCycle":
      return `dependency cycle: ${reason.cycle.join(" → ")}`
    case "DecisionWithoutParent":
      return "a decision step needs at least one dependency (parent step)"
    case "ConflictingDependencies":
      return `dependencies [${reason.dependencies.join(", ")}] and its alias depends_on [${
        reason.depends_on.join(", ")
      }] are both given and differ`
    case "UnknownOverrideStep":
      return `environment "${reason.environment}" overrides unknown step "${reason.step}"`
    case "MissingBatchWorker":
      return reason.worker_template === undefined
        ? "a batchable step needs a batch_worker step that depends on it (or is named by batch_config.worker_template)"
        : `batch_config.worker_template "${reason.worker_template}" is not a step of type batch_worker`
    case "DuplicateTemplate":
      return `${reason.template} is already defined in ${reason.first_file}`
  }
}

export const makeProblem = (reason: TemplateProblemReason, step?: string): TemplateProblem =>
  step === undefined ? { problem: describeReason(reason), reason } : { step, problem: describeReason(reason), reason }

/** Builds the wrapper from a non-empty list of problems; the first one is the headline. */
export const invalidTemplate = (
  problems: readonly [TemplateProblem, ...Array<TemplateProblem>],
  context: { readonly file?: string | undefined; readonly template?: string | undefined } = {}
): InvalidTemplate => {
  const [first] = problems
  return new InvalidTemplate({
    ...(context.file === undefined ? {} : { file: context.file }),
    ...(context.template === undefined ? {} : { template: context.template }),
    ...(first.step === undefined ? {} : { step: first.step }),
    problem: first.problem,
    reason: first.reason,
    problems
  })
}

const formatIssue = SchemaIssue.makeFormatterDefault()

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (acc, key) => (Predicate.isNumber(key) ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`),
    ""
  )

const valueAt = (input: unknown, path: ReadonlyArray<PropertyKey>): unknown =>
  path.reduce<unknown>((acc, key) => (Predicate.isObjectOrArray(acc) ? (acc as Record<PropertyKey, unknown>)[key] : undefined), input)

const literalsOf = (ast: SchemaAST.AST): ReadonlyArray<string> | undefined =>
  ast._tag === "Union" && ast.types.every((t) => t._tag === "Literal")
    ? ast.types.map((t) => String((t as SchemaAST.Literal).literal))
    : undefined

type Leaf = { readonly path: ReadonlyArray<PropertyKey>; readonly issue: SchemaIssue.Issue }

const leaves = (issue: SchemaIssue.Issue, path: ReadonlyArray<PropertyKey>, out: Array<Leaf>): Array<Leaf> => {
  switch (issue._tag) {
    case "Pointer":
      return leaves(issue.issue, [...path, ...issue.path], out)
    case "Encoding":
      return leaves(issue.issue, path, out)
    case "Composite":
      for (const inner of issue.issues) leaves(inner, path, out)
      return out
    default:
      out.push({ path, issue })
      return out
  }
}

const toReason = (leaf: Leaf, field: string, input: unknown): TemplateProblemReason => {
  const { issue, path } = leaf
  const value = SchemaIssue.hasInput(issue) ? issue.input : valueAt(input, path)
  if (issue._tag === "Filter") {
    const annotations = issue.filter.annotations ?? {}
    const range = annotations[RangeAnnotation] as { minimum: number; maximum: number } | undefined
    if (range !== undefined) return new OutOfRange({ field, value, ...range })
    const maxNamespace = annotations[NamespaceLengthAnnotation]
    if (Predicate.isNumber(maxNamespace) && Predicate.isString(value)) {
      return new NamespaceTooLong({ namespace: value, length: value.length, maximum: maxNamespace })
    }
  }
  if (issue._tag === "InvalidValue") {
    const conflict = issue.annotations?.[DependencyConflictAnnotation] as
      | { dependencies: ReadonlyArray<string>; depends_on: ReadonlyArray<string> }
      | undefined
    if (conflict !== undefined) {
      return new ConflictingDependencies({ step: String(valueAt(input, [...path, "name"])), ...conflict })
    }
  }
  if ((issue._tag === "AnyOf" || issue._tag === "InvalidType") && path.length === 3 && path[2] === "type") {
    const allowed = literalsOf(issue.ast)
    if (allowed !== undefined) return new UnknownStepType({ value, allowed })
  }
  const message = issue._tag === "MissingKey" ? "is required" : formatIssue(issue)
  return new InvalidField({ field, message })
}

/**
 * Maps a Schema decode failure of a template to problems. Decode with `{ errors: "all", reportInput: true }`
 * to get every problem with its value. `input` is the raw template, used to name steps.
 */
export const fromSchemaIssue = (issue: SchemaIssue.Issue, input: unknown): Array<TemplateProblem> =>
  leaves(issue, [], []).map((leaf) => {
    const [first, index] = leaf.path
    if (first === "steps" && Predicate.isNumber(index)) {
      const name = valueAt(input, ["steps", index, "name"])
      const step = Predicate.isString(name) && name !== "" ? name : `steps[${index}]`
      return makeProblem(toReason(leaf, formatPath(leaf.path.slice(2)), input), step)
    }
    return makeProblem(toReason(leaf, formatPath(leaf.path), input))
  })
