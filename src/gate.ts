// The gate: a candidate's metrics against the thresholds and the champion, with MLflow
// MetricThreshold semantics. Pure: the caller brings the metrics, the gate brings the verdict.
import type { MetricRule } from './config/schema.js'
import type { GateResult, MetricVerdict, Metrics } from './types.js'

/**
 * Metrics are floats written by training code; 0.1 + 0.2 must still "equal" 0.3, so every
 * comparison allows this much relative slack, scaled by the magnitudes involved.
 */
const EPSILON = 1e-12

const NO_CHAMPION_NOTE = 'No champion yet: thresholds only, change rules not applied.'

interface Clause {
  pass: boolean
  text: string
}

/**
 * Judges `candidate` against every rule of `gate`. Without a champion (or when the champion
 * lacks a metric) only thresholds apply. The verdict passes iff every gated metric passes.
 */
export function evaluateGate(
  gate: Record<string, MetricRule>,
  candidate: Metrics,
  champion?: Metrics
): GateResult {
  const notes: string[] = []
  if (champion === undefined) notes.push(NO_CHAMPION_NOTE)
  const metrics = Object.entries(gate).map(([metric, rule]) =>
    judgeMetric(metric, rule, candidate, champion, notes)
  )
  return {
    verdict: metrics.every((m) => m.outcome === 'pass') ? 'pass' : 'fail',
    hasChampion: champion !== undefined,
    metrics,
    notes
  }
}

function judgeMetric(
  metric: string,
  rule: MetricRule,
  candidate: Metrics,
  champion: Metrics | undefined,
  notes: string[]
): MetricVerdict {
  const value = ownNumber(candidate, metric)
  const base = champion === undefined ? undefined : ownNumber(champion, metric)
  const verdict = {
    metric,
    candidate: value,
    champion: base,
    delta: isFinite(value) && isFinite(base) ? value - base : undefined,
    rule: describeRule(rule),
    ...(rule.threshold === undefined ? {} : { threshold: rule.threshold })
  }

  // Metrics come from JSON written by arbitrary training code, so the type is not a promise.
  const raw: unknown = Object.hasOwn(candidate, metric) ? candidate[metric] : undefined
  if (raw === undefined) {
    return {
      ...verdict,
      outcome: 'fail',
      reason: `${metric} is missing from the candidate's metrics.`
    }
  }
  if (!isFinite(value)) {
    return {
      ...verdict,
      outcome: 'fail',
      reason: `${metric} is ${show(raw)}, not a finite number.`
    }
  }

  const hasChangeRule =
    rule.min_absolute_change !== undefined || rule.min_relative_change !== undefined
  const comparable = isFinite(base)
  if (champion !== undefined && hasChangeRule && !comparable) {
    notes.push(
      base === undefined
        ? `The champion has no ${metric}: change rules for ${metric} not applied.`
        : `The champion's ${metric} is ${show(base)}: change rules for ${metric} not applied.`
    )
  }

  const better = rule.greater_is_better
  const clauses: Clause[] = []
  if (rule.threshold !== undefined) clauses.push(thresholdClause(value, rule.threshold, better))
  if (comparable) {
    if (rule.min_absolute_change !== undefined) {
      clauses.push(absoluteClause(value, base, rule.min_absolute_change, better))
    }
    if (rule.min_relative_change !== undefined) {
      if (base === 0) {
        notes.push(
          `The champion's ${metric} is 0, so its relative change is undefined: ` +
            `${relativeRule(rule.min_relative_change, better)} was judged on the absolute change.`
        )
        clauses.push(zeroBaseClause(value, rule.min_relative_change, better))
      } else {
        clauses.push(relativeClause(value, base, rule.min_relative_change, better))
      }
    }
  }

  const pass = clauses.every((c) => c.pass)
  let reason = clauses.length
    ? clauses.map((c) => c.text).join(' and ')
    : `${formatNumber(value)} (no threshold)`
  if (hasChangeRule && !comparable) {
    reason += `; change rules not applied (${champion === undefined ? 'no champion' : `the champion has no finite ${metric}`})`
  }
  return { ...verdict, outcome: pass ? 'pass' : 'fail', reason: `${reason}.` }
}

function thresholdClause(value: number, threshold: number, better: boolean): Clause {
  const pass = better ? atLeast(value, threshold) : atLeast(threshold, value)
  const [v, t] = formatPair(value, threshold)
  return { pass, text: `${v} ${symbol(better, pass)} ${t}` }
}

// greater_is_better: candidate − champion ≥ min; else champion − candidate ≥ min, i.e. Δ ≤ −min.
function absoluteClause(value: number, base: number, min: number, better: boolean): Clause {
  const delta = value - base
  const pass = better
    ? atLeast(value, base + min, value, base, min)
    : atLeast(base, value + min, value, base, min)
  const [d, m] = formatPair(delta, better ? min : -min)
  return { pass, text: `Δ ${signed(d)} ${symbol(better, pass)} ${m}` }
}

// Relative to |champion| so a negative champion (e.g. a log-likelihood) keeps the direction.
function relativeClause(value: number, base: number, min: number, better: boolean): Clause {
  const scale = Math.abs(base)
  const pass = better
    ? atLeast(value - base, min * scale, value, base, min * scale)
    : atLeast(base - value, min * scale, value, base, min * scale)
  const [r, m] = formatPair(((value - base) / scale) * 100, (better ? min : -min) * 100)
  return { pass, text: `Δ% ${signed(r)}% ${symbol(better, pass)} ${m}%` }
}

/**
 * With a champion of 0 the relative change is ±∞ or 0/0, so it reduces to the sign of the
 * absolute change: an improvement passes, a regression fails, no change passes only when
 * the rule tolerates a drop (min ≤ 0).
 */
function zeroBaseClause(value: number, min: number, better: boolean): Clause {
  const pass = value === 0 ? min <= 0 : better === value > 0
  const op = value === 0 ? '=' : value > 0 ? '>' : '<'
  return {
    pass,
    text: `Δ ${signed(formatNumber(value))} ${op} 0 (champion is 0, ${relativeRule(min, better)} judged on the absolute change)`
  }
}

/** `lhs ≥ rhs`, give or take EPSILON relative to the largest magnitude involved. */
function atLeast(lhs: number, rhs: number, ...magnitudes: number[]): boolean {
  const scale = Math.max(Math.abs(lhs), Math.abs(rhs), ...magnitudes.map(Math.abs))
  return lhs - rhs >= -EPSILON * scale
}

function describeRule(rule: MetricRule): string {
  const better = rule.greater_is_better
  const parts: string[] = []
  if (rule.threshold !== undefined)
    parts.push(`${symbol(better, true)} ${formatNumber(rule.threshold)}`)
  if (rule.min_absolute_change !== undefined) {
    const min = better ? rule.min_absolute_change : -rule.min_absolute_change
    parts.push(`Δ ${symbol(better, true)} ${formatNumber(min)}`)
  }
  if (rule.min_relative_change !== undefined)
    parts.push(relativeRule(rule.min_relative_change, better))
  return parts.length ? parts.join(', ') : 'no rule'
}

function relativeRule(min: number, better: boolean): string {
  return `Δ% ${symbol(better, true)} ${formatNumber((better ? min : -min) * 100)}%`
}

function symbol(greaterIsBetter: boolean, pass: boolean): string {
  if (greaterIsBetter) return pass ? '≥' : '<'
  return pass ? '≤' : '>'
}

function ownNumber(metrics: Metrics, metric: string): number | undefined {
  if (!Object.hasOwn(metrics, metric)) return undefined
  const value: unknown = metrics[metric]
  return typeof value === 'number' ? value : undefined
}

function isFinite(n: number | undefined): n is number {
  return n !== undefined && Number.isFinite(n)
}

function show(value: unknown): string {
  return typeof value === 'number' ? String(value) : JSON.stringify(value)
}

function signed(formatted: string): string {
  return formatted.startsWith('-') || formatted === '0' ? formatted : `+${formatted}`
}

/**
 * Formats two numbers that are compared with each other; when the short form would make
 * different numbers look equal (0.29999 vs 0.3) both get enough digits to tell them apart.
 */
function formatPair(a: number, b: number): [string, string] {
  const short: [string, string] = [formatNumber(a), formatNumber(b)]
  if (short[0] !== short[1] || Math.abs(a - b) <= EPSILON * Math.max(Math.abs(a), Math.abs(b))) {
    return short
  }
  return [precise(a), precise(b)]
}

function precise(n: number): string {
  return String(Number(n.toPrecision(12)))
}

/**
 * A metric for people: at most 4 decimals, or 4 significant digits below 1 (0.0001235), no
 * trailing zeros, ASCII '-' for negatives.
 */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n)
  if (n === 0) return '0'
  const magnitude = Math.abs(n)
  if (magnitude >= 1e21) return String(n)
  if (magnitude < 1e-6) return n.toPrecision(4).replace(/\.?0+e/, 'e')
  const decimals = Math.max(4, 3 - Math.floor(Math.log10(magnitude)))
  const fixed = n.toFixed(decimals)
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed
}
