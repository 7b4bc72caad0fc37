/**
 * `tasker template list` (the server's registry) and `tasker template validate <file-or-dir>`
 * (local, no server): every `*.yaml` / `*.yml` file is loaded and validated on its own, so one
 * run reports the problems of every file, each with its file, step and what to fix; two files
 * defining the same namespace/name@version are a problem too. Exit 1 when anything is wrong.
 *
 * @since 0.1.0
 */
import { Effect, FileSystem, Option, Path } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { TemplateListResponse } from "../../api/schemas/TemplateSchemas.ts"
import type { TemplateProblem, TemplateProblemReason } from "../../templates/TemplateErrors.ts"
import { withApi } from "../Connection.ts"
import { CliFailure, jsonFlag, print, printJson, printPlainJson, table } from "../Output.ts"

/** What to change for each kind of template problem. @category rendering @since 0.1.0 */
export const fixFor = (reason: TemplateProblemReason): string => {
  switch (reason._tag) {
    case "UnreadableFile":
      return "check the path and its permissions"
    case "MalformedYaml":
      return "fix the YAML syntax there"
    case "InvalidField":
      return "give the field a value of the documented type (docs/templates.md)"
    case "OutOfRange":
      return `use a value between ${reason.minimum} and ${reason.maximum}`
    case "UnknownStepType":
      return `set type to one of ${reason.allowed.join(", ")}`
    case "NamespaceTooLong":
      return `shorten namespace_name to at most ${reason.maximum} characters`
    case "DuplicateStepName":
      return "rename all but one of these steps"
    case "UnknownDependency":
      return `add a step named "${reason.dependency}" or fix the name in dependencies`
    case "DependencyCycle":
      return "remove one of the dependencies in the cycle"
    case "DecisionWithoutParent":
      return "give the decision step a dependency"
    case "ConflictingDependencies":
      return "keep only dependencies (depends_on is its alias)"
    case "UnknownOverrideStep":
      return "name a step of the template (or ALL) in the override"
    case "MissingBatchWorker":
      return "add a step of type batch_worker that depends on it"
    case "DuplicateTemplate":
      return "change the version (or name) in one of the files"
  }
}

interface FileReport {
  readonly file: string
  readonly template?: string | undefined
  readonly steps?: number | undefined
  readonly problems: ReadonlyArray<{ readonly step?: string | undefined; readonly problem: string; readonly fix: string }>
}

const report = (problem: TemplateProblem) => ({
  ...(problem.step === undefined ? {} : { step: problem.step }),
  problem: problem.problem,
  fix: fixFor(problem.reason)
})

const isYaml = (file: string) => file.endsWith(".yaml") || file.endsWith(".yml")

/** The template files at `target`: the file itself, or every YAML file under the directory. */
const templateFiles = Effect.fn("templateFiles")(function*(target: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const cannot = (e: { readonly message: string }) =>
    new CliFailure({ message: `cannot read ${target}: ${e.message}: pass a template file or a directory of *.yaml files` })
  const info = yield* fs.stat(target).pipe(Effect.mapError(cannot))
  if (info.type !== "Directory") return [target]
  const entries = yield* fs.readDirectory(target, { recursive: true }).pipe(Effect.mapError(cannot))
  const files: Array<string> = []
  for (const entry of entries.filter(isYaml).sort()) {
    const file = path.join(target, entry)
    const stat = yield* fs.stat(file).pipe(Effect.mapError(cannot))
    if (stat.type === "File") files.push(file)
  }
  if (files.length === 0) return yield* new CliFailure({ message: `no *.yaml or *.yml files under ${target}` })
  return files
})

/**
 * Validates every template file at `target` on its own; the report of each file.
 *
 * @category validation
 * @since 0.1.0
 */
export const validateTemplates = Effect.fn("validateTemplates")(function*(target: string) {
  const files = yield* templateFiles(target)
  // Loaded here, not at start: the other commands do not need the YAML loader.
  const [{ loadTemplateFile }, { templateKey }, { DuplicateTemplate, makeProblem }] = yield* Effect.promise(() =>
    Promise.all([
      import("../../templates/TemplateLoader.ts"),
      import("../../templates/TaskTemplate.ts"),
      import("../../templates/TemplateErrors.ts")
    ])
  )
  const firstFile = new Map<string, string>()
  return yield* Effect.forEach(files, (file) =>
    loadTemplateFile(file).pipe(
      Effect.match({
        onFailure: (invalid): FileReport => ({ file, template: invalid.template, problems: invalid.problems.map(report) }),
        onSuccess: (template): FileReport => {
          const key = templateKey(template)
          const first = firstFile.get(key)
          if (first === undefined) firstFile.set(key, file)
          return {
            file,
            template: key,
            steps: template.steps.length,
            problems: first === undefined
              ? []
              : [report(makeProblem(new DuplicateTemplate({ template: key, first_file: first })))]
          }
        }
      })
    ))
})

const renderReport = (r: FileReport): string => {
  if (r.problems.length === 0) return `✓ ${r.file}  ${r.template} (${r.steps} steps)`
  return [
    `✗ ${r.file}${r.template === undefined ? "" : `  ${r.template}`}`,
    ...r.problems.map((p) => `    ${p.step === undefined ? "" : `step '${p.step}': `}${p.problem}\n      → ${p.fix}`)
  ].join("\n")
}

const validate = Command.make("validate", {
  target: Argument.String("file-or-dir").pipe(Argument.withDescription("A template file or a directory of them")),
  json: jsonFlag
}, ({ json, target }) =>
  Effect.gen(function*() {
    const reports = yield* validateTemplates(target)
    const problems = reports.reduce((n, r) => n + r.problems.length, 0)
    const broken = reports.filter((r) => r.problems.length > 0).length
    if (json) {
      yield* printPlainJson({ valid: problems === 0, files: reports.map((r) => ({ ...r, valid: r.problems.length === 0 })) })
    } else {
      yield* print(reports.map(renderReport).join("\n"))
    }
    if (problems > 0) {
      return yield* new CliFailure({
        message: `${problems} problem(s) in ${broken} of ${reports.length} template file(s)`
      })
    }
    if (!json) yield* print(`\n${reports.length} template file(s) valid`)
  })).pipe(Command.withDescription("Check template YAML files locally (no server needed)"))

const list = Command.make("list", {
  namespace: Flag.String("namespace").pipe(Flag.withDescription("Only this namespace"), Flag.optional),
  json: jsonFlag
}, ({ json, namespace }) =>
  withApi((client) =>
    Effect.gen(function*() {
      const response = yield* client.templates.list({ query: { namespace: Option.getOrUndefined(namespace) } })
      if (json) return yield* printJson(TemplateListResponse, response)
      if (response.templates.length === 0) {
        return yield* print("no templates registered: a worker registers its templates when it starts (`tasker worker`)")
      }
      yield* print(table(
        ["namespace", "name", "version", "steps", "description"],
        response.templates.map((t) => [t.namespace, t.name, t.version, String(t.step_count), t.description ?? ""])
      ))
    })
  )).pipe(Command.withDescription("List the templates registered on the server"))

/** `tasker template …` @category commands @since 0.1.0 */
export const templateCommand = Command.make("template").pipe(
  Command.withDescription("List registered templates; validate template files"),
  Command.withSubcommands([list, validate])
)
