// A pull request must not loosen the gate it is judged by: its training definitions come from the
// PR head (that is the code under test), its gates from the base branch.
import type { Config, MetricRule, ModelConfig } from './schema.js'

export interface GateSource {
  /** The head config with every model's gate taken from the base config where the base has one. */
  config: Config
  /** Models whose gate in the head differs from the base: the head's gate applies after merge. */
  changedGates: string[]
  /** Models the base does not know: they can only be judged by the gate the PR brings. */
  newModels: string[]
}

/** `base` is undefined when the base branch has no config yet: every model is new. */
export function withBaseGates(head: Config, base: Config | undefined): GateSource {
  const baseGates = new Map((base?.models ?? []).map((m) => [m.name, m.gate]))
  const changedGates: string[] = []
  const newModels: string[] = []
  const models = head.models.map((model): ModelConfig => {
    const gate = baseGates.get(model.name)
    if (gate === undefined) {
      newModels.push(model.name)
      return model
    }
    if (!sameGate(model.gate, gate)) changedGates.push(model.name)
    return { ...model, gate }
  })
  return { config: { ...head, models }, changedGates, newModels }
}

/** Key order does not matter; the loader has already applied defaults on both sides. */
function sameGate(a: Record<string, MetricRule>, b: Record<string, MetricRule>): boolean {
  const metrics = Object.keys(a)
  if (metrics.length !== Object.keys(b).length) return false
  return metrics.every((metric) => {
    const x = a[metric]
    const y = Object.hasOwn(b, metric) ? b[metric] : undefined
    if (x === undefined || y === undefined) return false
    const fields = new Set([...Object.keys(x), ...Object.keys(y)]) as Set<keyof MetricRule>
    return [...fields].every((field) => x[field] === y[field])
  })
}
