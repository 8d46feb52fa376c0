// The planner: an event (and the files it changed) against the config → which models to
// train, in which environment, and whether the result gates a pull request or promotes a
// champion. Pure: the adapters gather the input and act on the plan.
import picomatch from 'picomatch'
import type { Config, ModelConfig } from './config/schema.js'
import type { EventName, Plan, PlanInput, PlannedModel } from './types.js'

/** The input asks for something the config cannot give (unknown model, no environment…). */
export class PlanError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PlanError'
  }
}

type Kind = 'gate' | 'retrain'

const EVENT_KIND: Record<EventName, Kind> = {
  pull_request: 'gate',
  push: 'retrain',
  schedule: 'retrain',
  workflow_dispatch: 'retrain'
}

/** What an event resolves to before models are considered. */
type Target =
  | {
      environments: string[]
      /** How the summary names the event, e.g. `push to "main"`. */
      context: string
      /**
       * Item reason for events about data or a person's choice (schedule, dispatch). Absent for
       * code events, where the models' paths decide which models the changed files concern.
       */
      why?: string
    }
  | { nothing: string }

export function plan(config: Config, input: PlanInput): Plan {
  checkEnvironment(config, input.environment)
  const selected = selectModels(config, input.models)
  const { event, mode } = input

  if (mode === 'validate' || mode === 'reconcile') {
    const reason =
      mode === 'validate'
        ? 'mode validate: the config is checked, nothing is trained'
        : 'mode reconcile: champions are reconciled by the champion store, nothing is trained'
    return { event, mode, kind: 'none', environment: input.environment, items: [], reason }
  }

  const kind: Kind = mode === 'gate' || mode === 'retrain' ? mode : EVENT_KIND[event]
  const target = resolveTarget(config, input)
  if ('nothing' in target) {
    const items = config.models.map((m): PlannedModel => ({
      model: m.name,
      environment: undefined,
      action: 'skip',
      reason: target.nothing
    }))
    return { event, mode, kind: 'none', environment: undefined, items, reason: target.nothing }
  }

  const items: PlannedModel[] = []
  for (const environment of target.environments) {
    for (const model of config.models) {
      const item = (action: PlannedModel['action'], reason: string): void => {
        items.push({ model: model.name, environment, action, reason })
      }
      if (!selected.has(model.name)) item('skip', 'not selected by the models input')
      else if (target.why !== undefined) item(kind, target.why)
      else {
        const concern = changeConcern(model, input.changedFiles)
        const trains = kind === 'gate' || environment === config.environments[0]?.name
        const serving = concern.concerned && trains && servingOnly(model, input.changedFiles)
        if (serving) item('skip', serving)
        else item(concern.concerned ? kind : 'skip', concern.reason)
      }
    }
  }

  const active = items.filter((i) => i.action !== 'skip').length
  const where = target.environments.map((e) => `"${e}"`).join(' and ')
  let reason = `${target.context}: ${kind} in ${where}`
  if (kind !== EVENT_KIND[event]) reason += ` (mode ${mode})`
  if (active < items.length) reason += `, ${active} of ${items.length} models concerned`
  return {
    event,
    mode,
    kind,
    environment: target.environments.length === 1 ? target.environments[0] : undefined,
    items,
    reason
  }
}

function resolveTarget(config: Config, input: PlanInput): Target {
  const owner = (branch: string): string | undefined =>
    config.environments.find((e) => e.branch === branch)?.name
  const wanted = input.environment

  switch (input.event) {
    case 'pull_request': {
      const base = input.base ?? input.branch
      if (owner(base) === undefined)
        return { nothing: `base branch "${base}" belongs to no environment` }
      // Unmerged code trains only in the gate environment, whichever branch it targets.
      const environment = config.gateEnvironment
      if (wanted !== undefined && wanted !== environment) {
        return { nothing: `pull requests are gated in "${environment}", not "${wanted}"` }
      }
      return {
        environments: [environment],
        context: `pull request into "${base}"`
      }
    }
    case 'push': {
      const environment = owner(input.branch)
      if (environment === undefined) {
        return { nothing: `push to "${input.branch}": no environment is promoted from this branch` }
      }
      if (wanted !== undefined && wanted !== environment) {
        return {
          nothing: `push to "${input.branch}" promotes into "${environment}", not "${wanted}"`
        }
      }
      return {
        environments: [environment],
        context: `push to "${input.branch}"`
      }
    }
    case 'schedule': {
      const scheduled = config.environments.filter((e) => e.schedule).map((e) => e.name)
      if (scheduled.length === 0) return { nothing: 'schedule: no environment has schedule: true' }
      if (wanted !== undefined && !scheduled.includes(wanted)) {
        return { nothing: `schedule: environment "${wanted}" does not have schedule: true` }
      }
      const environments = wanted === undefined ? scheduled : [wanted]
      return { environments, context: 'schedule', why: 'scheduled retrain' }
    }
    case 'workflow_dispatch': {
      const environment = wanted ?? owner(input.branch)
      if (environment === undefined) {
        throw new PlanError(
          `workflow_dispatch on "${input.branch}": no environment is promoted from this branch; ` +
            `set the environment input (one of: ${names(config.environments)})`
        )
      }
      return {
        environments: [environment],
        context: `workflow_dispatch on "${input.branch}"`,
        why: 'manual run'
      }
    }
  }
}

function changeConcern(
  model: ModelConfig,
  changedFiles: string[] | undefined
): { concerned: boolean; reason: string } {
  if (model.paths.length === 0)
    return { concerned: true, reason: 'no paths: every change concerns it' }
  if (changedFiles === undefined) return { concerned: true, reason: 'changed files unknown' }
  const matches = picomatch(model.paths, { dot: true })
  const hits = changedFiles.filter((f) => matches(f))
  const globs = model.paths.join(', ')
  if (hits.length === 0) return { concerned: false, reason: `no changed file matches ${globs}` }
  const more = hits.length > 1 ? ` and ${hits.length - 1} more` : ''
  return { concerned: true, reason: `${hits[0]}${more} changed` }
}

/**
 * promote: model — a change that concerns the model but touches none of its `retrain_paths`
 * (serving or monitoring code) deploys with the current artifact: nothing is trained or gated.
 * Returns the reason, or undefined when the change retrains.
 */
function servingOnly(model: ModelConfig, changedFiles: string[] | undefined): string | undefined {
  if (model.promote !== 'model' || !model.retrainPaths || changedFiles === undefined)
    return undefined
  const retrains = picomatch(model.retrainPaths, { dot: true })
  if (changedFiles.some((f) => retrains(f))) return undefined
  return `serving-only change: no changed file matches retrain_paths (${model.retrainPaths.join(', ')}); it deploys with the current champion's artifact, nothing is trained`
}

function checkEnvironment(config: Config, environment: string | undefined): void {
  if (environment === undefined) return
  const known = config.environments.map((e) => e.name)
  if (known.includes(environment)) return
  throw new PlanError(
    `unknown environment ${suggest(environment, known)}; declared environments: ${known.join(', ')}`
  )
}

function selectModels(config: Config, filter: string[] | undefined): Set<string> {
  const known = config.models.map((m) => m.name)
  // An empty filter is what an unset `models` input parses to: every model.
  if (filter === undefined || filter.length === 0) return new Set(known)
  const unknown = filter.filter((m) => !known.includes(m))
  if (unknown.length > 0) {
    const which = unknown.map((m) => suggest(m, known)).join(', ')
    throw new PlanError(
      `unknown model${unknown.length > 1 ? 's' : ''} ${which} in the models input; ` +
        `known models: ${known.join(', ')}`
    )
  }
  return new Set(filter)
}

function names(list: { name: string }[]): string {
  return list.map((e) => e.name).join(', ')
}

/** `"prod" (did you mean "production"?)` when a known name is close enough to be a typo. */
function suggest(name: string, known: string[]): string {
  const lower = name.toLowerCase()
  const distance = (candidate: string): number => {
    const c = candidate.toLowerCase()
    const abbreviation = lower.length >= 3 && (c.startsWith(lower) || lower.startsWith(c))
    return abbreviation ? 1 : editDistance(lower, c)
  }
  const [best] = known
    .map((candidate) => ({ candidate, distance: distance(candidate) }))
    .sort((a, b) => a.distance - b.distance)
  const close = best !== undefined && best.distance <= Math.max(2, Math.floor(name.length / 3))
  return close ? `"${name}" (did you mean "${best.candidate}"?)` : `"${name}"`
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution))
    }
    previous = current
  }
  return previous[b.length]!
}

/** The plan as aligned plain-text lines for a terminal or a log. */
export function renderPlan(plan: Plan): string {
  const width = (values: string[]): number => Math.max(0, ...values.map((v) => v.length)) + 2
  const modelWidth = width(plan.items.map((i) => i.model))
  const envWidth = width(plan.items.map((i) => i.environment ?? '-'))
  const lines = plan.items.map(
    (i) =>
      `${i.action.padEnd(8)}${i.model.padEnd(modelWidth)}${(i.environment ?? '-').padEnd(envWidth)}(${i.reason})`
  )
  return [plan.reason, ...lines].join('\n')
}
