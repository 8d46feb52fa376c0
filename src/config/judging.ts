// Judge with the base, train with the head. A pull request is judged by the config of its base
// commit: which models there are, their names, environments and branches, where pull requests are
// gated, which files concern a model (and which retrain it), how it is promoted, the gate, the
// metric names, the champion store and the schedules. Only what runs the code under test — each
// model's train spec — comes from the head. A pull request therefore cannot rename, redirect, skip
// or loosen the check that judges it.
import type { ModelResult, SourcePosition } from '../types.js'
import type { Config, EnvironmentConfig, ModelConfig, TrainSpec } from './schema.js'

/** Where a path of the config sits in a file (the loader's positions). */
export type Locate = (path: Array<string | number>) => SourcePosition | undefined

/** One judging difference between base and head: it applies only after merge. */
export interface JudgingChange {
  /** The model it concerns, or undefined for a config-wide key. */
  model?: string
  /** Dotted key, e.g. `models.fraud.gate.auc.threshold`. */
  key: string
  message: string
  /** The key in the head file, for an annotation. */
  at?: SourcePosition
}

export interface Judging {
  /** The config the pull request is judged by: the base's, with the head's train specs. */
  config: Config
  /** Judging keys the pull request changes; each applies after merge. */
  changes: JudgingChange[]
  /** Models of the base that the head removes (or renames): their checks fail. */
  removedModels: string[]
  /** Models the base does not know: judged by the gate this pull request brings. */
  newModels: string[]
}

/**
 * The config a pull request is judged by. `base` undefined = the base commit has no config yet,
 * so the head is all there is (every model is new, and the report says so).
 */
export function judgingConfig(head: Config, base: Config | undefined, locate?: Locate): Judging {
  if (base === undefined) {
    return {
      config: head,
      changes: [],
      removedModels: [],
      newModels: head.models.map((m) => m.name)
    }
  }
  const changes: JudgingChange[] = []
  const change = (path: Array<string | number>, message: string, model?: string): void => {
    changes.push({
      ...(model === undefined ? {} : { model }),
      key: path.join('.'),
      message,
      ...withPosition(locate?.(path))
    })
  }

  if (head.gateEnvironment !== base.gateEnvironment) {
    change(
      ['gate_environment'],
      `gate_environment becomes "${head.gateEnvironment}"; pull requests are gated in "${base.gateEnvironment}" until this is merged`
    )
  }
  compareEnvironments(base.environments, head.environments, change)
  compareRecords(
    ['champions'],
    { ...base.champions },
    { ...head.champions },
    (key) =>
      `the champion store setting ${key} changes; champions are read from the base's store until this is merged`,
    change
  )

  const headModels = new Map(head.models.map((m) => [m.name, m]))
  const baseNames = new Set(base.models.map((m) => m.name))
  const removedModels = base.models.filter((m) => !headModels.has(m.name)).map((m) => m.name)
  const newModels = head.models.filter((m) => !baseNames.has(m.name)).map((m) => m.name)
  for (const name of removedModels) {
    change(
      ['models'],
      `model "${name}" is removed or renamed: its required check "ml-promote / ${name}" fails until the removal is merged by someone allowed to bypass branch protection`,
      name
    )
  }

  const models: ModelConfig[] = []
  for (const judged of base.models) {
    const candidate = headModels.get(judged.name)
    if (!candidate) continue
    compareModel(judged, candidate, change)
    models.push({ ...judged, train: headTrain(candidate, judged, base.environments) })
  }
  for (const name of newModels) {
    const model = headModels.get(name) as ModelConfig
    models.push({ ...model, train: headTrain(model, undefined, base.environments) })
  }
  return { config: { ...base, models }, changes, removedModels, newModels }
}

function withPosition(at: SourcePosition | undefined): { at?: SourcePosition } {
  return at ? { at } : {}
}

type Change = (path: Array<string | number>, message: string, model?: string) => void

function compareEnvironments(
  base: EnvironmentConfig[],
  head: EnvironmentConfig[],
  change: Change
): void {
  const heads = new Map(head.map((e) => [e.name, e]))
  for (const env of base) {
    const h = heads.get(env.name)
    if (!h) {
      change(
        ['environments'],
        `environment "${env.name}" is removed or renamed; it stays until this is merged`
      )
      continue
    }
    if (h.branch !== env.branch) {
      change(
        ['environments', env.name, 'branch'],
        `environment "${env.name}" moves from branch "${env.branch}" to "${h.branch}" after merge`
      )
    }
    if (h.schedule !== env.schedule) {
      change(
        ['environments', env.name, 'schedule'],
        `environment "${env.name}" ${h.schedule ? 'is' : 'is no longer'} retrained on schedule after merge`
      )
    }
  }
  const known = new Set(base.map((e) => e.name))
  for (const env of head) {
    if (!known.has(env.name)) {
      change(['environments', env.name], `environment "${env.name}" is new; it exists after merge`)
    }
  }
  const order = (list: EnvironmentConfig[]) =>
    list.filter((e) => known.has(e.name) && heads.has(e.name)).map((e) => e.name)
  if (order(base).join('\0') !== order(head).join('\0')) {
    change(['environments'], 'the promotion order of the environments changes after merge')
  }
}

function compareModel(base: ModelConfig, head: ModelConfig, change: Change): void {
  const at = (...rest: Array<string | number>) => ['models', base.name, ...rest]
  if (!sameList(base.paths, head.paths)) {
    change(
      at('paths'),
      `the paths of "${base.name}" change; which files concern it is decided by the base until this is merged`,
      base.name
    )
  }
  if ((base.promote ?? 'code') !== (head.promote ?? 'code')) {
    change(
      at('promote'),
      `"${base.name}" switches to promote: ${head.promote ?? 'code'} after merge; until then it is promoted as ${base.promote ?? 'code'}`,
      base.name
    )
  }
  if (!sameList(base.retrainPaths ?? [], head.retrainPaths ?? [])) {
    change(
      at('retrain_paths'),
      `the retrain_paths of "${base.name}" change; which changes retrain it is decided by the base until this is merged`,
      base.name
    )
  }
  if (!sameList(base.metricNames ?? [], head.metricNames ?? [])) {
    change(at('metric_names'), `the metric_names of "${base.name}" change after merge`, base.name)
  }
  const metrics = new Set([...Object.keys(base.gate), ...Object.keys(head.gate)])
  for (const metric of metrics) {
    const was = Object.hasOwn(base.gate, metric) ? base.gate[metric] : undefined
    const now = Object.hasOwn(head.gate, metric) ? head.gate[metric] : undefined
    if (!now) {
      change(
        at('gate'),
        `the gate of "${base.name}" drops ${metric}; it is judged on ${metric} until this is merged`,
        base.name
      )
    } else if (!was) {
      change(at('gate', metric), `the gate of "${base.name}" adds ${metric} after merge`, base.name)
    } else {
      compareRecords(
        at('gate', metric),
        was,
        now,
        (key) =>
          `the gate of "${base.name}" changes ${metric}.${key}; the base's rule applies until this is merged`,
        change,
        base.name
      )
    }
  }
  for (const [env, spec] of Object.entries(head.train)) {
    const before = base.train[env]
    const granted = passEnv(spec).filter((v) => !passEnv(before).includes(v))
    if (granted.length) {
      change(
        at('train', 'pass_env'),
        `"${base.name}" passes ${granted.join(', ')} to training in ${env}; a pull request cannot grant itself variables, so this applies after merge`,
        base.name
      )
    }
  }
}

function compareRecords<T extends object>(
  path: Array<string | number>,
  base: T,
  head: T,
  message: (key: string) => string,
  change: Change,
  model?: string
): void {
  const b = base as Record<string, unknown>
  const h = head as Record<string, unknown>
  for (const key of new Set([...Object.keys(b), ...Object.keys(h)])) {
    if (b[key] !== h[key]) change([...path, key], message(key), model)
  }
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

function passEnv(spec: TrainSpec | undefined): string[] {
  return spec && 'pass_env' in spec && Array.isArray(spec.pass_env) ? spec.pass_env : []
}

/**
 * The head's train spec for each of the base's environments (an environment the head renamed
 * gets the head's default spec). Variables passed through to training are the base's: a pull
 * request cannot hand its own code a credential the base did not already give it.
 */
function headTrain(
  head: ModelConfig,
  base: ModelConfig | undefined,
  environments: EnvironmentConfig[]
): Record<string, TrainSpec> {
  return Object.fromEntries(
    environments.map(({ name }) => {
      const spec: TrainSpec = head.train[name] ?? head.defaultTrain
      if (passEnv(spec).length === 0) return [name, spec]
      const allowed = passEnv(base?.train[name])
      const kept = passEnv(spec).filter((v) => allowed.includes(v))
      const judged = { ...spec, pass_env: kept } as TrainSpec & { pass_env?: string[] }
      if (kept.length === 0) delete judged.pass_env
      return [name, judged]
    })
  )
}

/** A failing result for each base model the pull request removes or renames: no silent exit. */
export function removedModelResults(judging: Judging | undefined, file: string): ModelResult[] {
  return (judging?.removedModels ?? []).map((model) => ({
    model,
    environment: judging!.config.gateEnvironment,
    action: 'gate',
    verdict: 'fail',
    promoted: false,
    reason: `this pull request removes (or renames) ${model} in ${file}; its check fails, so only someone allowed to bypass branch protection can merge the removal (see "Removing or renaming a model" in the README)`
  }))
}

/** What a model's report says about how this pull request changes the way it is judged. */
export function modelNotes(judging: Judging | undefined, model: string, base: string): string[] {
  if (!judging) return []
  const notes = judging.changes
    .filter((c) => c.model === model)
    .map((c) => `${c.message} (judged by the config on "${base}").`)
  if (judging.newModels.includes(model)) {
    notes.push(`"${model}" is new: its gate is set by this pull request.`)
  }
  return notes
}
