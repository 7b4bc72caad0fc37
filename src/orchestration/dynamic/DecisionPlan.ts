/**
 * The pure half of decision points (REFERENCE 8.2): which steps a decision may create (its
 * segment), validation of a requested outcome, and the creation set. No I/O: `DecisionPoints`
 * feeds it the task's template and writes the plan with one SQL call.
 *
 * Creation set, in order:
 * 1. the requested steps;
 * 2. their transitive dependents inside the decision's segment, skipping `deferred_convergence`
 *    and `batch_worker` steps and not expanding below a nested decision (its branches are its own);
 * 3. every `deferred_convergence` step with at least one declared dependency in the set;
 * 4. descendants of those convergence steps whose dependencies are all in the set, are the
 *    decision step, or were created with the task (the initial step set).
 *
 * @since 0.1.0
 */
import { Data } from "effect"
import type { StepDefinition, TaskTemplate } from "../../templates/TaskTemplate.ts"
import { descendantsOf, initialStepSet, topologicalOrder } from "../../templates/TemplateValidation.ts"

/**
 * A step of the creation set as `tasker.create_decision_steps` takes it.
 *
 * @category models
 * @since 0.1.0
 */
export interface PlannedStep {
  readonly name: string
  readonly type: string
  readonly retryable: boolean
  readonly max_attempts: number
  readonly inputs: unknown
  readonly dependencies: ReadonlyArray<string>
}

/**
 * Why an outcome cannot be applied; `context` goes into the decision step's results.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidOutcome extends Data.TaggedError("InvalidOutcome")<{
  readonly message: string
  readonly context: Record<string, unknown>
}> {}

/** @category models @since 0.1.0 */
export interface DecisionPlan {
  readonly _tag: "DecisionPlan"
  readonly requested: ReadonlyArray<string>
  /** The creation set, in dependency order. */
  readonly steps: ReadonlyArray<PlannedStep>
}

/** @category constructors @since 0.1.0 */
export const invalidOutcome = (message: string, context: Record<string, unknown> = {}): InvalidOutcome =>
  new InvalidOutcome({ message, context })

/**
 * The steps a decision may request: its descendants in the template graph that the initial step
 * set does not create, except `batch_worker` templates (their batchable step clones them).
 *
 * @category planning
 * @since 0.1.0
 */
export const decisionSegment = (template: TaskTemplate, decision: string): ReadonlySet<string> => {
  const initial = new Set(initialStepSet(template).map((s) => s.name))
  const byName = new Map(template.steps.map((s) => [s.name, s]))
  return new Set(
    descendantsOf(template, decision).filter((name) => !initial.has(name) && byName.get(name)?.type !== "batch_worker")
  )
}

const planned = (step: StepDefinition): PlannedStep => ({
  name: step.name,
  type: step.type,
  retryable: step.retry.retryable,
  max_attempts: step.retry.max_attempts,
  inputs: step.handler.initialization,
  dependencies: [...new Set(step.dependencies)]
})

/**
 * Validates `requested` against the decision's segment and computes the creation set. The step
 * limit is the caller's (it comes from settings).
 *
 * @category planning
 * @since 0.1.0
 */
export const planDecision = (
  template: TaskTemplate,
  decision: string,
  requested: ReadonlyArray<string>
): DecisionPlan | InvalidOutcome => {
  const byName = new Map(template.steps.map((s) => [s.name, s]))
  const names = [...new Set(requested)]
  if (byName.get(decision)?.type !== "decision") {
    return invalidOutcome(`step ${decision} is not a decision step of template ${template.name}`, { decision })
  }
  const segment = decisionSegment(template, decision)
  const unknown = names.filter((n) => !byName.has(n))
  const outside = names.filter((n) => byName.has(n) && !segment.has(n))
  if (unknown.length > 0 || outside.length > 0) {
    const parts = [
      unknown.length > 0 ? `not steps of template ${template.name}: ${unknown.join(", ")}` : undefined,
      outside.length > 0 ? `outside the segments reachable from ${decision}: ${outside.join(", ")}` : undefined
    ].filter((p) => p !== undefined)
    return invalidOutcome(`decision ${decision} requested steps it cannot create (${parts.join("; ")})`, {
      requested: names,
      unknown_steps: unknown,
      steps_outside_segment: outside,
      allowed_steps: [...segment]
    })
  }

  const children = new Map<string, Array<string>>()
  for (const step of template.steps) {
    for (const dependency of step.dependencies) children.set(dependency, [...(children.get(dependency) ?? []), step.name])
  }
  const set = new Set(names)

  // 2. transitive dependents inside the segment
  const pending = [...names]
  while (pending.length > 0) {
    const name = pending.pop()!
    if (name !== decision && byName.get(name)?.type === "decision") continue
    for (const child of children.get(name) ?? []) {
      const type = byName.get(child)?.type
      if (set.has(child) || !segment.has(child) || type === "deferred_convergence" || type === "batch_worker") continue
      set.add(child)
      pending.push(child)
    }
  }

  // 3. convergence steps with at least one declared dependency in the set
  const convergence = template.steps.filter((s) =>
    s.type === "deferred_convergence" && !set.has(s.name) && s.dependencies.some((d) => set.has(d))
  )
  for (const step of convergence) set.add(step.name)

  // 4. their descendants whose dependencies are all satisfied, in dependency order
  const initial = new Set(initialStepSet(template).map((s) => s.name))
  const below = new Set(convergence.flatMap((s) => descendantsOf(template, s.name)))
  for (const step of topologicalOrder(template)) {
    if (!below.has(step.name) || set.has(step.name) || step.type === "batch_worker") continue
    if (step.dependencies.every((d) => set.has(d) || d === decision || initial.has(d))) set.add(step.name)
  }

  return {
    _tag: "DecisionPlan",
    requested: names,
    steps: topologicalOrder(template).filter((s) => set.has(s.name)).map(planned)
  }
}
