/**
 * The task template: the YAML format of REFERENCE §10 as one Schema.
 *
 * Decoded values keep the YAML's snake_case keys, so a decoded template, its encoded form and the
 * `named_tasks.configuration` JSON all have the same shape. Decoding fills every default
 * (`type: standard`, `retry: {retryable: true, max_attempts: 3, backoff: exponential}`, …), merges the
 * `depends_on` alias into `dependencies`, and drops unknown keys. Graph rules (unknown dependencies,
 * cycles, decision parents) are checked by TemplateValidation, not here.
 *
 * @since 0.1.0
 */
import { Effect, Schema, SchemaIssue, SchemaTransformation } from "effect"
import { IdentityStrategy } from "../domain/TaskRequest.ts"

/** Filter annotation read by TemplateErrors to report `{minimum, maximum}` of a range check. */
export const RangeAnnotation = "tasker/range"
/** Filter annotation marking the namespace length check (reported as NamespaceTooLong). */
export const NamespaceLengthAnnotation = "tasker/namespaceLength"
/** Issue annotation marking a `dependencies` / `depends_on` conflict (reported as ConflictingDependencies). */
export const DependencyConflictAnnotation = "tasker/dependencyConflict"

/** pgmq queue names are `worker_{ns}_queue` and must stay within 47 characters. */
export const NAMESPACE_MAX_LENGTH = 29

const intBetween = (minimum: number, maximum: number) =>
  Schema.Int.check(Schema.isBetween({ minimum, maximum }, { [RangeAnnotation]: { minimum, maximum } }))

const stringBetween = (minimum: number, maximum: number) => Schema.String.check(Schema.isBetweenLength(minimum, maximum))

const withDefault = <S extends Schema.Top>(value: S["Encoded"]) =>
  Schema.withDecodingDefaultKey<S>(Effect.succeed(value))

const JsonObject = Schema.Record(Schema.String, Schema.Unknown)
const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const StepName = stringBetween(1, 128)

export const STEP_TYPES = ["standard", "decision", "deferred_convergence", "batchable", "batch_worker"] as const
export const StepType = Schema.Literals(STEP_TYPES)
export type StepType = typeof StepType.Type

export const BackoffStrategy = Schema.Literals(["none", "linear", "exponential", "fibonacci"])
export type BackoffStrategy = typeof BackoffStrategy.Type

export const FailureStrategy = Schema.Literals(["continue_on_failure", "fail_fast", "isolate"])
export type FailureStrategy = typeof FailureStrategy.Type

export const StalenessAction = Schema.Literals(["dlq", "error", "none"])
export type StalenessAction = typeof StalenessAction.Type

/** Our addition (DESIGN §4.3): how a task's identity hash is formed. Defined with the task request. */
export { IdentityStrategy }

export const HandlerDefinition = Schema.Struct({
  callable: stringBetween(1, 500),
  method: Schema.NonEmptyString.pipe(withDefault("call")),
  resolver: Schema.optionalKey(Schema.NonEmptyString),
  initialization: JsonObject.pipe(withDefault({}))
})
export type HandlerDefinition = typeof HandlerDefinition.Type

const retryFields = {
  retryable: Schema.Boolean,
  max_attempts: intBetween(1, 100),
  backoff: BackoffStrategy,
  backoff_base_ms: intBetween(100, 3_600_000),
  max_backoff_ms: intBetween(1000, 3_600_000)
}

export const RetryConfig = Schema.Struct({
  retryable: retryFields.retryable.pipe(withDefault(true)),
  max_attempts: retryFields.max_attempts.pipe(withDefault(3)),
  backoff: retryFields.backoff.pipe(withDefault("exponential")),
  // Absent: the engine's backoff configuration applies.
  backoff_base_ms: Schema.optionalKey(retryFields.backoff_base_ms),
  max_backoff_ms: Schema.optionalKey(retryFields.max_backoff_ms)
})
export type RetryConfig = typeof RetryConfig.Type

/** An environment's retry override: every field optional, merged over the step's retry. */
export const RetryOverride = Schema.Struct({
  retryable: Schema.optionalKey(retryFields.retryable),
  max_attempts: Schema.optionalKey(retryFields.max_attempts),
  backoff: Schema.optionalKey(retryFields.backoff),
  backoff_base_ms: Schema.optionalKey(retryFields.backoff_base_ms),
  max_backoff_ms: Schema.optionalKey(retryFields.max_backoff_ms)
})
export type RetryOverride = typeof RetryOverride.Type

export const BatchConfig = Schema.Struct({
  batch_size: intBetween(1, 100_000).pipe(withDefault(1000)),
  parallelism: intBetween(1, 1000).pipe(withDefault(10)),
  cursor_field: stringBetween(1, 255).pipe(withDefault("id")),
  worker_template: Schema.optionalKey(StepName),
  failure_strategy: FailureStrategy.pipe(withDefault("continue_on_failure"))
})
export type BatchConfig = typeof BatchConfig.Type

export const EventDeclaration = Schema.Struct({
  name: stringBetween(1, 255),
  description: Schema.optionalKey(Schema.String),
  schema: Schema.optionalKey(Schema.Unknown),
  condition: Schema.optionalKey(
    Schema.Literals(["success", "failure", "retryable_failure", "permanent_failure", "always"])
  ),
  delivery_mode: Schema.optionalKey(Schema.Literals(["durable", "fast", "broadcast"]))
})
export type EventDeclaration = typeof EventDeclaration.Type

const stepFields = {
  name: StepName,
  description: Schema.optionalKey(Schema.String),
  handler: HandlerDefinition,
  type: StepType.pipe(withDefault("standard")),
  system_dependency: Schema.optionalKey(Schema.String),
  retry: RetryConfig.pipe(withDefault({})),
  timeout_seconds: Schema.optionalKey(PositiveInt),
  publishes_events: Schema.Array(EventDeclaration).pipe(withDefault([])),
  batch_config: Schema.optionalKey(BatchConfig),
  result_schema: Schema.optionalKey(Schema.Unknown),
  composition: Schema.optionalKey(Schema.Unknown)
}

const StepDefinitionInput = Schema.Struct({
  ...stepFields,
  dependencies: Schema.optionalKey(Schema.Array(StepName)),
  depends_on: Schema.optionalKey(Schema.Array(StepName))
})

const StepDefinitionOutput = Schema.Struct({ ...stepFields, dependencies: Schema.Array(StepName) })

const sameSet = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => {
  const sa = new Set(a)
  const sb = new Set(b)
  return sa.size === sb.size && [...sa].every((x) => sb.has(x))
}

/** A step. `depends_on` is accepted as an alias of `dependencies`; the decoded value has only `dependencies`. */
export const StepDefinition = StepDefinitionInput.pipe(
  Schema.decodeTo(
    Schema.toType(StepDefinitionOutput),
    SchemaTransformation.transformEffect<typeof StepDefinitionOutput.Type, typeof StepDefinitionInput.Type>({
      decode: (input) => {
        const { dependencies, depends_on, ...rest } = input
        if (dependencies !== undefined && depends_on !== undefined && !sameSet(dependencies, depends_on)) {
          return Effect.fail(
            new SchemaIssue.InvalidValue({
              message: "`dependencies` and its alias `depends_on` are both given and differ",
              [DependencyConflictAnnotation]: { dependencies, depends_on }
            }, input)
          )
        }
        return Effect.succeed({ ...rest, dependencies: [...new Set([...(dependencies ?? []), ...(depends_on ?? [])])] })
      },
      encode: (step) => Effect.succeed(step)
    })
  )
)
export type StepDefinition = typeof StepDefinition.Type

export const StepOverride = Schema.Struct({
  /** A step name, or "ALL" for every step. */
  name: StepName,
  handler: Schema.optionalKey(Schema.Struct({ initialization: Schema.optionalKey(JsonObject) })),
  timeout_seconds: Schema.optionalKey(PositiveInt),
  retry: Schema.optionalKey(RetryOverride)
})
export type StepOverride = typeof StepOverride.Type

export const EnvironmentOverride = Schema.Struct({
  steps: Schema.Array(StepOverride).pipe(withDefault([]))
})
export type EnvironmentOverride = typeof EnvironmentOverride.Type

export const LifecycleConfig = Schema.Struct({
  max_duration_minutes: Schema.optionalKey(intBetween(1, 43_200)),
  max_waiting_for_dependencies_minutes: Schema.optionalKey(intBetween(1, 10_080)),
  max_waiting_for_retry_minutes: Schema.optionalKey(intBetween(1, 10_080)),
  max_steps_in_process_minutes: Schema.optionalKey(intBetween(1, 10_080)),
  staleness_action: StalenessAction.pipe(withDefault("dlq")),
  auto_fail_on_timeout: Schema.optionalKey(Schema.Boolean),
  auto_dlq_on_timeout: Schema.optionalKey(Schema.Boolean)
})
export type LifecycleConfig = typeof LifecycleConfig.Type

export const TemplateMetadata = Schema.Struct({
  author: Schema.optionalKey(Schema.String),
  tags: Schema.Array(Schema.String).pipe(withDefault([])),
  documentation_url: Schema.optionalKey(Schema.String),
  created_at: Schema.optionalKey(Schema.String),
  updated_at: Schema.optionalKey(Schema.String)
})
export type TemplateMetadata = typeof TemplateMetadata.Type

export const SystemDependencies = Schema.Struct({
  primary: stringBetween(1, 255).pipe(withDefault("default")),
  secondary: Schema.Array(Schema.String).pipe(withDefault([]))
})
export type SystemDependencies = typeof SystemDependencies.Type

export const DomainEventDefinition = Schema.Struct({
  name: stringBetween(1, 255),
  description: Schema.optionalKey(Schema.String),
  schema: Schema.optionalKey(Schema.Unknown)
})
export type DomainEventDefinition = typeof DomainEventDefinition.Type

/** Lowercase letters, digits and underscores, 1..29 characters. */
export const NamespaceName = Schema.String.check(
  Schema.isMinLength(1),
  Schema.isMaxLength(NAMESPACE_MAX_LENGTH, { [NamespaceLengthAnnotation]: NAMESPACE_MAX_LENGTH }),
  Schema.isPattern(/^[a-z0-9_]+$/, { expected: "lowercase letters, digits and underscores only" })
)

/** `MAJOR.MINOR.PATCH` with optional pre-release / build suffixes; at most 64 characters (`named_tasks.version`). */
export const SemVer = Schema.String.check(
  Schema.isPattern(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/, {
    expected: "a semantic version such as 1.0.0"
  }),
  Schema.isMaxLength(64)
)

export const TaskTemplate = Schema.Struct({
  name: stringBetween(1, 255),
  namespace_name: NamespaceName,
  version: SemVer,
  description: Schema.optionalKey(Schema.String),
  metadata: Schema.optionalKey(TemplateMetadata),
  system_dependencies: SystemDependencies.pipe(withDefault({})),
  domain_events: Schema.Array(DomainEventDefinition).pipe(withDefault([])),
  input_schema: Schema.optionalKey(Schema.Unknown),
  steps: Schema.Array(StepDefinition).check(Schema.isNonEmpty({ message: "a template needs at least one step" })),
  environments: Schema.Record(Schema.String, EnvironmentOverride).pipe(withDefault({})),
  lifecycle: Schema.optionalKey(LifecycleConfig),
  identity_strategy: IdentityStrategy.pipe(withDefault("strict"))
})
export type TaskTemplate = typeof TaskTemplate.Type
/** The encoded (JSON) side. `encodeTaskTemplate` output, stored in `named_tasks.configuration`, has every default filled in and no `depends_on`. */
export type TaskTemplateJson = typeof TaskTemplate.Encoded

/** Decodes without the graph checks; prefer TemplateValidation.validateTemplate, which reports InvalidTemplate. */
export const decodeTaskTemplate = Schema.decodeUnknownEffect(TaskTemplate)
export const encodeTaskTemplate = Schema.encodeEffect(TaskTemplate)

/** `namespace/name@version`, the key a template is registered and looked up under. */
export const templateKey = (t: Pick<TaskTemplate, "namespace_name" | "name" | "version">): string =>
  `${t.namespace_name}/${t.name}@${t.version}`
