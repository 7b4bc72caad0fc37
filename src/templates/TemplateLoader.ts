/**
 * Loading templates: YAML text, files and directories → validated TaskTemplates, with the overrides of
 * one environment (`environments[env]`) applied when an environment name is given.
 *
 * Files are read through effect's FileSystem service (provide NodeServices.layer / NodeFileSystem.layer).
 * A directory is searched recursively for `*.yaml` / `*.yml` files, in sorted path order.
 *
 * @since 0.1.0
 */
import { Effect, FileSystem, Path, Predicate } from "effect"
import { parseDocument } from "yaml"
import { templateKey } from "./TaskTemplate.ts"
import type { StepDefinition, StepOverride, TaskTemplate } from "./TaskTemplate.ts"
import { DuplicateTemplate, invalidTemplate, makeProblem, MalformedYaml, UnreadableFile } from "./TemplateErrors.ts"
import type { InvalidTemplate } from "./TemplateErrors.ts"
import { validateTemplate } from "./TemplateValidation.ts"

export interface LoadOptions {
  /** Apply `environments[environment]` overrides; templates without that environment are returned as is. */
  readonly environment?: string | undefined
}

export interface LoadedTemplate {
  readonly file: string
  readonly template: TaskTemplate
}

const malformed = (file: string | undefined, reason: MalformedYaml) => invalidTemplate([makeProblem(reason)], { file })

/** Parses one YAML document into a plain JS value; syntax errors carry the line and column. */
export const parseYaml = (text: string, file?: string): Effect.Effect<unknown, InvalidTemplate> =>
  Effect.suspend(() => {
    const doc = parseDocument(text)
    const [error] = doc.errors
    if (error !== undefined) {
      const pos = error.linePos?.[0]
      // The yaml package appends "at line L, column C:" and a source excerpt; we report those as fields.
      const message = (error.message.split("\n")[0] ?? error.message).replace(/ at line \d+, column \d+:?$/, "")
      return Effect.fail(
        malformed(file, new MalformedYaml({ message, ...(pos === undefined ? {} : { line: pos.line, column: pos.col }) }))
      )
    }
    if (doc.contents === null) return Effect.fail(malformed(file, new MalformedYaml({ message: "the document is empty" })))
    return Effect.try({
      try: () => doc.toJS() as unknown,
      catch: (cause) => malformed(file, new MalformedYaml({ message: cause instanceof Error ? cause.message : String(cause) }))
    })
  })

const mergeOverride = (step: StepDefinition, override: StepOverride): StepDefinition => ({
  ...step,
  handler: override.handler?.initialization === undefined
    ? step.handler
    : { ...step.handler, initialization: { ...step.handler.initialization, ...override.handler.initialization } },
  ...(override.timeout_seconds === undefined ? {} : { timeout_seconds: override.timeout_seconds }),
  retry: override.retry === undefined ? step.retry : { ...step.retry, ...override.retry }
})

/**
 * Applies `environments[environment]`: for each override in order, the named step (or every step for
 * "ALL") gets `handler.initialization` merged key by key, `timeout_seconds` replaced and `retry` merged
 * field by field. An environment the template does not mention leaves it unchanged.
 */
export const applyEnvironment = (template: TaskTemplate, environment: string): TaskTemplate => {
  const overrides = Object.hasOwn(template.environments, environment)
    ? template.environments[environment]!.steps
    : []
  if (overrides.length === 0) return template
  return {
    ...template,
    steps: template.steps.map((step) =>
      overrides.reduce<StepDefinition>((acc, o) => (o.name === "ALL" || o.name === step.name ? mergeOverride(acc, o) : acc), step)
    )
  }
}

/** YAML text → validated template (with environment overrides when asked). `file` only labels errors. */
export const parseTemplate = Effect.fn("parseTemplate")(function*(
  text: string,
  options: LoadOptions & { readonly file?: string | undefined } = {}
): Effect.fn.Return<TaskTemplate, InvalidTemplate> {
  const raw = yield* parseYaml(text, options.file)
  const template = yield* validateTemplate(raw, { file: options.file })
  return options.environment === undefined ? template : applyEnvironment(template, options.environment)
})

const unreadable = (path: string, message: string) =>
  invalidTemplate([makeProblem(new UnreadableFile({ path, message }))], { file: path })

/** Reads, parses and validates one template file. */
export const loadTemplateFile = Effect.fn("loadTemplateFile")(function*(
  path: string,
  options: LoadOptions = {}
): Effect.fn.Return<TaskTemplate, InvalidTemplate, FileSystem.FileSystem> {
  const fs = yield* FileSystem.FileSystem
  const text = yield* fs.readFileString(path).pipe(Effect.mapError((e) => unreadable(path, e.message)))
  return yield* parseTemplate(text, { ...options, file: path })
})

const isYaml = (file: string) => file.endsWith(".yaml") || file.endsWith(".yml")

/**
 * Loads every `*.yaml` / `*.yml` file under `dir` (recursively, sorted by path). Fails with the first
 * invalid file, or with DuplicateTemplate when two files define the same namespace/name@version.
 */
export const loadTemplateDirectory = Effect.fn("loadTemplateDirectory")(function*(
  dir: string,
  options: LoadOptions = {}
): Effect.fn.Return<Array<LoadedTemplate>, InvalidTemplate, FileSystem.FileSystem | Path.Path> {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const entries = yield* fs.readDirectory(dir, { recursive: true }).pipe(
    Effect.mapError((e) => unreadable(dir, e.message))
  )
  const files = entries.filter(isYaml).map((entry) => path.join(dir, entry)).sort()
  const loaded: Array<LoadedTemplate> = []
  const firstFile = new Map<string, string>()
  for (const file of files) {
    const info = yield* fs.stat(file).pipe(Effect.mapError((e) => unreadable(file, e.message)))
    if (info.type !== "File") continue
    const template = yield* loadTemplateFile(file, options)
    const key = templateKey(template)
    const first = firstFile.get(key)
    if (Predicate.isString(first)) {
      return yield* invalidTemplate([makeProblem(new DuplicateTemplate({ template: key, first_file: first }))], {
        file,
        template: key
      })
    }
    firstFile.set(key, file)
    loaded.push({ file, template })
  }
  return loaded
})
