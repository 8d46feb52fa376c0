// What every backend reads back from training: a flat JSON object of numbers. One parser, so a
// malformed result reads the same whichever backend produced it.
import { TrainingError, type Metrics, type RemoteRun } from '../types.js'

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
  for (const [name, v] of Object.entries(parsed)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new TrainingError(`${flat}; ${JSON.stringify(name)} is ${kindOf(v)}`, run, detail)
    }
    metrics[name] = v
  }
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
