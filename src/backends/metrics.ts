// What every backend reads back from training: a flat JSON object of numbers, plus two optional
// strings, `model_uri` (where the trained artifact is) and `data_version`. One parser, so a
// malformed result reads the same whichever backend produced it.
import { TrainingError, type Lineage, type Metrics, type RemoteRun } from '../types.js'

/** The keys of training's output that are lineage, not metrics. */
const LINEAGE_FIELDS = { model_uri: 'modelUri', data_version: 'dataVersion' } as const

// The Backend contract stays "metrics are numbers"; what training reported beside them travels with
// the parsed object, so no backend has to thread it through.
const reportedLineage = new WeakMap<Metrics, Pick<Lineage, 'modelUri' | 'dataVersion'>>()

/** `model_uri` and `data_version` as training reported them beside `metrics` (parsed here). */
export function reported(metrics: Metrics): Pick<Lineage, 'modelUri' | 'dataVersion'> {
  return reportedLineage.get(metrics) ?? {}
}

/**
 * Parses `value` (JSON text, or an already decoded value) into metrics, or throws a
 * TrainingError that names `where` and what is wrong with it.
 */
export function parseMetrics(
  value: unknown,
  where: string,
  run?: RemoteRun,
  detail?: string
): Metrics {
  let parsed = value
  if (typeof value === 'string') {
    const text = value.replace(/^\uFEFF/, '')
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      // Python's str() of a dict is the usual slip: say how to write JSON instead.
      const hint = /^\s*\{\s*'/.test(text)
        ? '; it looks like a Python dict: write json.dumps(metrics)'
        : ''
      throw new TrainingError(
        `${where} is not valid JSON: ${(err as Error).message}${hint}`,
        run,
        detail ?? text.slice(0, 300)
      )
    }
  }
  const flat = `${where} must be a flat JSON object of numbers`
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new TrainingError(`${flat}; got ${kindOf(parsed)}`, run, detail)
  }
  const metrics: Metrics = {}
  const lineage: Pick<Lineage, 'modelUri' | 'dataVersion'> = {}
  for (const [name, v] of Object.entries(parsed)) {
    if (Object.hasOwn(LINEAGE_FIELDS, name)) {
      if (typeof v !== 'string' || v === '' || v.length > 2048) {
        throw new TrainingError(
          `${where}: ${JSON.stringify(name)} must be a non-empty string of at most 2048 characters; got ${kindOf(v)}`,
          run,
          detail
        )
      }
      lineage[LINEAGE_FIELDS[name as keyof typeof LINEAGE_FIELDS]] = v
      continue
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new TrainingError(`${flat}; ${JSON.stringify(name)} is ${kindOf(v)}`, run, detail)
    }
    metrics[name] = v
  }
  reportedLineage.set(metrics, lineage)
  return metrics
}

function kindOf(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') {
    return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)})`
  }
  if (typeof value === 'number') return Number.isFinite(value) ? 'a number' : String(value)
  if (typeof value === 'object') return 'an object'
  return `a ${typeof value}`
}
