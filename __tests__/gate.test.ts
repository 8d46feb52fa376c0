import { describe, it, expect } from '@jest/globals'
import { evaluateGate, formatNumber } from '../src/gate.js'
import type { MetricRule } from '../src/config/schema.js'
import type { Metrics } from '../src/types.js'

function rule(fields: Partial<MetricRule> = {}): MetricRule {
  return { greater_is_better: true, ...fields }
}

/** The verdict of a one-metric gate on `m`. */
function judge(r: Partial<MetricRule>, candidate: number | undefined, champion?: number) {
  const cand: Metrics = candidate === undefined ? {} : { m: candidate }
  const champ: Metrics | undefined = champion === undefined ? undefined : { m: champion }
  const result = evaluateGate({ m: rule(r) }, cand, champ)
  return { result, metric: result.metrics[0]! }
}

describe('threshold', () => {
  it.each([
    { better: true, threshold: 0.9, value: 0.912, outcome: 'pass', reason: '0.912 ≥ 0.9.' },
    { better: true, threshold: 0.9, value: 0.9, outcome: 'pass', reason: '0.9 ≥ 0.9.' },
    { better: true, threshold: 0.9, value: 0.85, outcome: 'fail', reason: '0.85 < 0.9.' },
    { better: false, threshold: 50, value: 42, outcome: 'pass', reason: '42 ≤ 50.' },
    { better: false, threshold: 50, value: 50, outcome: 'pass', reason: '50 ≤ 50.' },
    { better: false, threshold: 50, value: 61.5, outcome: 'fail', reason: '61.5 > 50.' }
  ])(
    'greater_is_better $better: $value against $threshold → $outcome',
    ({ better, threshold, value, outcome, reason }) => {
      const { result, metric } = judge({ threshold, greater_is_better: better }, value)
      expect(metric.outcome).toBe(outcome)
      expect(metric.reason).toBe(reason)
      expect(result.verdict).toBe(outcome)
    }
  )

  it('applies without a champion', () => {
    expect(judge({ threshold: 0.9 }, 0.95).metric.outcome).toBe('pass')
    expect(judge({ threshold: 0.9 }, 0.85).metric.outcome).toBe('fail')
  })
})

describe('min_absolute_change', () => {
  it.each([
    {
      better: true,
      min: 0.01,
      champion: 0.9,
      value: 0.92,
      outcome: 'pass',
      reason: 'Δ +0.02 ≥ 0.01.'
    },
    {
      better: true,
      min: 0.01,
      champion: 0.9,
      value: 0.905,
      outcome: 'fail',
      reason: 'Δ +0.005 < 0.01.'
    },
    {
      better: true,
      min: 0.01,
      champion: 0.9,
      value: 0.88,
      outcome: 'fail',
      reason: 'Δ -0.02 < 0.01.'
    },
    { better: false, min: 5, champion: 50, value: 44, outcome: 'pass', reason: 'Δ -6 ≤ -5.' },
    { better: false, min: 5, champion: 50, value: 47, outcome: 'fail', reason: 'Δ -3 > -5.' },
    { better: false, min: 5, champion: 50, value: 52, outcome: 'fail', reason: 'Δ +2 > -5.' }
  ])(
    'greater_is_better $better, min $min: $champion → $value is $outcome',
    ({ better, min, champion, value, outcome, reason }) => {
      const { metric } = judge(
        { min_absolute_change: min, greater_is_better: better },
        value,
        champion
      )
      expect(metric.outcome).toBe(outcome)
      expect(metric.reason).toBe(reason)
      expect(metric.delta).toBeCloseTo(value - champion, 12)
    }
  )
})

describe('a negative min_absolute_change tolerates a drop', () => {
  it.each([
    {
      better: true,
      min: -0.005,
      champion: 0.91,
      value: 0.906,
      outcome: 'pass',
      reason: 'Δ -0.004 ≥ -0.005.'
    },
    {
      better: true,
      min: -0.005,
      champion: 0.91,
      value: 0.905,
      outcome: 'pass',
      reason: 'Δ -0.005 ≥ -0.005.'
    },
    {
      better: true,
      min: -0.005,
      champion: 0.91,
      value: 0.9,
      outcome: 'fail',
      reason: 'Δ -0.01 < -0.005.'
    },
    { better: false, min: -2, champion: 40, value: 41.5, outcome: 'pass', reason: 'Δ +1.5 ≤ 2.' },
    { better: false, min: -2, champion: 40, value: 43, outcome: 'fail', reason: 'Δ +3 > 2.' }
  ])(
    'greater_is_better $better, min $min: $champion → $value is $outcome',
    ({ better, min, champion, value, outcome, reason }) => {
      const { metric } = judge(
        { min_absolute_change: min, greater_is_better: better },
        value,
        champion
      )
      expect(metric.outcome).toBe(outcome)
      expect(metric.reason).toBe(reason)
    }
  )
})

describe('min_relative_change', () => {
  it.each([
    {
      better: true,
      min: 0.01,
      champion: 0.8,
      value: 0.81,
      outcome: 'pass',
      reason: 'Δ% +1.25% ≥ 1%.'
    },
    {
      better: true,
      min: 0.01,
      champion: 0.8,
      value: 0.805,
      outcome: 'fail',
      reason: 'Δ% +0.625% < 1%.'
    },
    {
      better: true,
      min: -0.02,
      champion: 0.8,
      value: 0.79,
      outcome: 'pass',
      reason: 'Δ% -1.25% ≥ -2%.'
    },
    {
      better: true,
      min: -0.02,
      champion: 0.8,
      value: 0.78,
      outcome: 'fail',
      reason: 'Δ% -2.5% < -2%.'
    },
    {
      better: false,
      min: 0.1,
      champion: 100,
      value: 85,
      outcome: 'pass',
      reason: 'Δ% -15% ≤ -10%.'
    },
    {
      better: false,
      min: 0.1,
      champion: 100,
      value: 95,
      outcome: 'fail',
      reason: 'Δ% -5% > -10%.'
    },
    // Relative to |champion|: a negative champion (a log-likelihood) keeps its direction.
    {
      better: true,
      min: 0.1,
      champion: -2,
      value: -1.7,
      outcome: 'pass',
      reason: 'Δ% +15% ≥ 10%.'
    },
    { better: true, min: 0.1, champion: -2, value: -1.9, outcome: 'fail', reason: 'Δ% +5% < 10%.' },
    {
      better: false,
      min: 0.1,
      champion: -2,
      value: -2.3,
      outcome: 'pass',
      reason: 'Δ% -15% ≤ -10%.'
    }
  ])(
    'greater_is_better $better, min $min: $champion → $value is $outcome',
    ({ better, min, champion, value, outcome, reason }) => {
      const { metric } = judge(
        { min_relative_change: min, greater_is_better: better },
        value,
        champion
      )
      expect(metric.outcome).toBe(outcome)
      expect(metric.reason).toBe(reason)
    }
  )
})

describe('min_relative_change against a champion of 0 falls back to the absolute change', () => {
  it.each([
    { better: true, min: 0.01, value: 0.1, outcome: 'pass', op: 'Δ +0.1 > 0' },
    { better: true, min: 0.01, value: 0, outcome: 'fail', op: 'Δ 0 = 0' },
    { better: true, min: -0.05, value: 0, outcome: 'pass', op: 'Δ 0 = 0' },
    { better: true, min: -0.05, value: -0.1, outcome: 'fail', op: 'Δ -0.1 < 0' },
    { better: false, min: 0.01, value: -1, outcome: 'pass', op: 'Δ -1 < 0' },
    { better: false, min: 0.01, value: 1, outcome: 'fail', op: 'Δ +1 > 0' }
  ])(
    'greater_is_better $better, min $min: 0 → $value is $outcome',
    ({ better, min, value, outcome, op }) => {
      const { result, metric } = judge(
        { min_relative_change: min, greater_is_better: better },
        value,
        0
      )
      expect(metric.outcome).toBe(outcome)
      expect(metric.reason.startsWith(`${op} (champion is 0, Δ% `)).toBe(true)
      expect(metric.reason).toContain('judged on the absolute change')
      expect(result.notes).toEqual([
        expect.stringMatching(
          /^The champion's m is 0, so its relative change is undefined: Δ% [≥≤] -?\d+(\.\d+)?% was judged on the absolute change\.$/
        )
      ])
    }
  )
})

describe('a gated metric the candidate lacks or cannot be a number fails', () => {
  it.each<{ name: string; metrics: Record<string, unknown>; reason: string }>([
    {
      name: 'missing',
      metrics: { other: 1 },
      reason: "m is missing from the candidate's metrics."
    },
    { name: 'NaN', metrics: { m: NaN }, reason: 'm is NaN, not a finite number.' },
    { name: 'Infinity', metrics: { m: Infinity }, reason: 'm is Infinity, not a finite number.' },
    {
      name: '-Infinity',
      metrics: { m: -Infinity },
      reason: 'm is -Infinity, not a finite number.'
    },
    {
      name: 'a string',
      metrics: { m: '0.95' },
      reason: 'm is "0.95", not a finite number.'
    },
    {
      name: 'null',
      metrics: { m: null },
      reason: 'm is null, not a finite number.'
    }
  ])('$name', ({ metrics, reason }) => {
    // A permissive rule: only the value's absence or shape can fail it.
    const result = evaluateGate(
      { m: rule({ threshold: -1e9 }), ok: rule({ threshold: 0 }) },
      { ...metrics, ok: 1 } as Metrics,
      { m: 0.9, ok: 1 }
    )
    expect(result.verdict).toBe('fail')
    expect(result.metrics[0]).toMatchObject({
      metric: 'm',
      outcome: 'fail',
      reason,
      delta: undefined
    })
    expect(result.metrics[1]).toMatchObject({ metric: 'ok', outcome: 'pass' })
  })

  it('does not take a metric from the prototype chain', () => {
    const metric = evaluateGate({ constructor: rule({ threshold: 0 }) }, {}).metrics[0]!
    expect(metric.outcome).toBe('fail')
    expect(metric.reason).toBe("constructor is missing from the candidate's metrics.")
  })
})

describe('without a champion only thresholds apply', () => {
  const gate = {
    auc: rule({ threshold: 0.9, min_absolute_change: 0.01 }),
    recall: rule({ min_relative_change: 0.05 })
  }

  it('passes on thresholds alone and says so', () => {
    const result = evaluateGate(gate, { auc: 0.91, recall: 0.1 })
    expect(result.verdict).toBe('pass')
    expect(result.hasChampion).toBe(false)
    expect(result.notes).toEqual(['No champion yet: thresholds only, change rules not applied.'])
    expect(result.metrics.map((m) => m.reason)).toEqual([
      '0.91 ≥ 0.9; change rules not applied (no champion).',
      '0.1 (no threshold); change rules not applied (no champion).'
    ])
    expect(result.metrics.map((m) => [m.champion, m.delta])).toEqual([
      [undefined, undefined],
      [undefined, undefined]
    ])
  })

  it('still fails a threshold', () => {
    const result = evaluateGate(gate, { auc: 0.89, recall: 0.1 })
    expect(result.verdict).toBe('fail')
    expect(result.metrics[0]!.reason).toBe('0.89 < 0.9; change rules not applied (no champion).')
  })
})

describe('a champion that lacks a metric gets thresholds only for that metric', () => {
  it.each([
    {
      name: 'missing',
      champion: { recall: 0.5 },
      note: 'The champion has no auc: change rules for auc not applied.'
    },
    {
      name: 'NaN',
      champion: { auc: NaN, recall: 0.5 },
      note: "The champion's auc is NaN: change rules for auc not applied."
    }
  ])('champion metric $name', ({ champion, note }) => {
    const gate = {
      auc: rule({ threshold: 0.9, min_absolute_change: 0.5 }),
      recall: rule({ min_absolute_change: 0.1 })
    }
    const result = evaluateGate(gate, { auc: 0.91, recall: 0.55 }, champion as Metrics)
    expect(result.hasChampion).toBe(true)
    expect(result.notes).toEqual([note])
    const [auc, recall] = result.metrics
    expect(auc).toMatchObject({
      outcome: 'pass',
      delta: undefined,
      reason: '0.91 ≥ 0.9; change rules not applied (the champion has no finite auc).'
    })
    // The champion's other metrics are still compared.
    expect(recall).toMatchObject({ outcome: 'fail', reason: 'Δ +0.05 < 0.1.' })
    expect(result.verdict).toBe('fail')
  })

  it('adds no note when that metric has no change rule', () => {
    const result = evaluateGate({ auc: rule({ threshold: 0.9 }) }, { auc: 0.95 }, { loss: 1 })
    expect(result.notes).toEqual([])
    expect(result.verdict).toBe('pass')
  })
})

describe('every rule of a metric must pass', () => {
  it.each([
    {
      name: 'threshold passes, change fails',
      r: { threshold: 0.9, min_absolute_change: -0.005 },
      value: 0.91,
      champion: 0.93,
      outcome: 'fail',
      reason: '0.91 ≥ 0.9 and Δ -0.02 < -0.005.'
    },
    {
      name: 'threshold fails, change passes',
      r: { threshold: 0.9, min_absolute_change: -0.005 },
      value: 0.89,
      champion: 0.88,
      outcome: 'fail',
      reason: '0.89 < 0.9 and Δ +0.01 ≥ -0.005.'
    },
    {
      name: 'all three pass',
      r: { threshold: 0.9, min_absolute_change: 0, min_relative_change: 0.01 },
      value: 0.912,
      champion: 0.9,
      outcome: 'pass',
      reason: '0.912 ≥ 0.9 and Δ +0.012 ≥ 0 and Δ% +1.3333% ≥ 1%.'
    },
    {
      name: 'relative fails while absolute passes',
      r: { min_absolute_change: 0, min_relative_change: 0.05 },
      value: 0.912,
      champion: 0.9,
      outcome: 'fail',
      reason: 'Δ +0.012 ≥ 0 and Δ% +1.3333% < 5%.'
    }
  ])('$name', ({ r, value, champion, outcome, reason }) => {
    const { result, metric } = judge(r, value, champion)
    expect(metric.outcome).toBe(outcome)
    expect(metric.reason).toBe(reason)
    expect(result.verdict).toBe(outcome)
  })
})

describe('comparisons absorb floating-point noise', () => {
  it.each([
    {
      name: '0.1 + 0.2 ≤ 0.3',
      r: { threshold: 0.3, greater_is_better: false },
      value: 0.1 + 0.2,
      champion: undefined
    },
    {
      name: '0.3 - 0.1 ≥ 0.2 absolute',
      r: { min_absolute_change: 0.2 },
      value: 0.3,
      champion: 0.1
    },
    {
      name: '(0.11 - 0.1) / 0.1 ≥ 10% relative',
      r: { min_relative_change: 0.1 },
      value: 0.11,
      champion: 0.1
    },
    { name: 'large values', r: { min_absolute_change: 0.2 }, value: 1e6 + 0.3, champion: 1e6 + 0.1 }
  ])('$name passes', ({ r, value, champion }) => {
    const { metric } = judge(r, value, champion)
    expect(metric.outcome).toBe('pass')
  })

  it('the noise is real without the tolerance', () => {
    expect(0.1 + 0.2 <= 0.3).toBe(false)
    expect(0.3 - 0.1 >= 0.2).toBe(false)
    expect((0.11 - 0.1) / 0.1 >= 0.1).toBe(false)
  })

  it.each([
    { r: { threshold: 0.3 }, value: 0.29999, reason: '0.29999 < 0.3.' },
    {
      r: { threshold: 0.3, greater_is_better: false },
      value: 0.3000001,
      reason: '0.3000001 > 0.3.'
    },
    { r: { min_absolute_change: 0.2 }, value: 0.29999, champion: 0.1, reason: 'Δ +0.19999 < 0.2.' }
  ])(
    'a real difference still fails and shows enough digits: $reason',
    ({ r, value, champion, reason }) => {
      const { metric } = judge(r, value, champion)
      expect(metric.outcome).toBe('fail')
      expect(metric.reason).toBe(reason)
    }
  )
})

describe('the result', () => {
  const gate = {
    latency_ms: rule({ threshold: 50, greater_is_better: false }),
    auc: rule({ threshold: 0.9, min_absolute_change: -0.005 }),
    recall: rule({ threshold: 0.7 })
  }

  it('lists metrics in gate order with values, delta and rule', () => {
    const result = evaluateGate(
      gate,
      { recall: 0.75, auc: 0.912, latency_ms: 42, extra: 7 },
      { auc: 0.908, recall: 0.8, latency_ms: 40 }
    )
    expect(result).toEqual({
      verdict: 'pass',
      hasChampion: true,
      notes: [],
      metrics: [
        {
          metric: 'latency_ms',
          candidate: 42,
          champion: 40,
          delta: 2,
          rule: '≤ 50',
          threshold: 50,
          outcome: 'pass',
          reason: '42 ≤ 50.'
        },
        {
          metric: 'auc',
          candidate: 0.912,
          champion: 0.908,
          delta: expect.closeTo(0.004, 12),
          rule: '≥ 0.9, Δ ≥ -0.005',
          threshold: 0.9,
          outcome: 'pass',
          reason: '0.912 ≥ 0.9 and Δ +0.004 ≥ -0.005.'
        },
        {
          metric: 'recall',
          candidate: 0.75,
          champion: 0.8,
          delta: expect.closeTo(-0.05, 12),
          rule: '≥ 0.7',
          threshold: 0.7,
          outcome: 'pass',
          reason: '0.75 ≥ 0.7.'
        }
      ]
    })
  })

  it('fails when any metric fails', () => {
    const result = evaluateGate(gate, { recall: 0.75, auc: 0.912, latency_ms: 51 })
    expect(result.verdict).toBe('fail')
    expect(result.metrics.map((m) => m.outcome)).toEqual(['fail', 'pass', 'pass'])
  })

  it.each([
    { r: { threshold: 0.9, min_absolute_change: -0.005 }, text: '≥ 0.9, Δ ≥ -0.005' },
    { r: { threshold: 50, greater_is_better: false }, text: '≤ 50' },
    { r: { min_relative_change: 0.01 }, text: 'Δ% ≥ 1%' },
    { r: { min_absolute_change: 5, greater_is_better: false }, text: 'Δ ≤ -5' },
    { r: { min_relative_change: -0.02, greater_is_better: false }, text: 'Δ% ≤ 2%' },
    {
      r: { threshold: 0.8, min_absolute_change: 0, min_relative_change: 0.005 },
      text: '≥ 0.8, Δ ≥ 0, Δ% ≥ 0.5%'
    },
    { r: {}, text: 'no rule' }
  ])('rule $text', ({ r, text }) => {
    expect(judge(r, 1).metric.rule).toBe(text)
  })
})

describe('formatNumber', () => {
  it.each([
    [0.9, '0.9'],
    [0.912345, '0.9123'],
    [50, '50'],
    [1234.56789, '1234.5679'],
    [-0.005, '-0.005'],
    [0.1 + 0.2, '0.3'],
    [0.000123456, '0.0001235'],
    [0.99999, '1'],
    [0, '0'],
    [-0, '0'],
    [1.2e-7, '1.2e-7'],
    [-3.14159e-9, '-3.142e-9'],
    [2.5e30, '2.5e+30'],
    [NaN, 'NaN'],
    [-Infinity, '-Infinity']
  ])('%p → %s', (n, text) => {
    expect(formatNumber(n)).toBe(text)
  })
})
