// History at a glance: per gated metric, the last champions and the candidate as a Mermaid
// xychart, with the threshold as a line. Each chart is checked by Mermaid's own parser.
import { describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { evaluateGate } from '../src/gate.js'
import { CHART_CHAMPIONS, modelSection, trendCharts } from '../src/report/markdown.js'
import type { ModelResult } from '../src/types.js'
import { root } from '../test/e2e/harness.js'

/** Mermaid's verdict on each diagram: `{ ok, type }` or `{ ok: false, error }`. */
function mermaidParse(diagrams: string[]): Array<{ ok: boolean; type?: string; error?: string }> {
  const out = execFileSync('node', [path.join(root, 'test/support/mermaid-check.mjs')], {
    input: JSON.stringify(diagrams),
    encoding: 'utf8'
  })
  return JSON.parse(out)
}

function mermaidBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```mermaid\n([\s\S]*?)\n```/g)].map((m) => m[1]!)
}

const GATE = {
  auc: { threshold: 0.85, min_absolute_change: -0.02, greater_is_better: true },
  latency_ms: { threshold: 250, greater_is_better: false },
  recall: { min_absolute_change: -0.05, greater_is_better: true }
}

function result(history: ModelResult['history']): ModelResult {
  const metrics = { auc: 0.912, latency_ms: 4.2, recall: 0.7 }
  const gate = evaluateGate(GATE, metrics, history?.find((h) => h.outcome === 'promoted')?.metrics)
  return {
    model: 'fraud-detector',
    environment: 'staging',
    action: 'gate',
    verdict: gate.verdict,
    reason: 'r',
    promoted: false,
    sha: 'f'.repeat(40),
    metrics,
    gate,
    history
  }
}

/** Newest first, as the store returns it: promotions and a rejection in between. */
const HISTORY: NonNullable<ModelResult['history']> = [
  {
    sha: 'c3'.repeat(20),
    at: '2026-12-05T00:00:00Z',
    outcome: 'promoted',
    metrics: { auc: 0.905, latency_ms: 5, recall: 0.69 }
  },
  {
    sha: 'dd'.repeat(20),
    at: '2026-12-04T00:00:00Z',
    outcome: 'rejected',
    metrics: { auc: 0.7, latency_ms: 5, recall: 0.4 }
  },
  {
    sha: 'b2'.repeat(20),
    at: '2026-11-28T00:00:00Z',
    outcome: 'promoted',
    metrics: { auc: 0.9, latency_ms: 6, recall: 0.66 }
  },
  {
    sha: 'a1'.repeat(20),
    at: '2026-11-21T00:00:00Z',
    outcome: 'promoted',
    metrics: { auc: 0.88, latency_ms: 7 }
  }
]

describe('trend charts', () => {
  it('draws each gated metric: champions oldest first, then the candidate, and the threshold', () => {
    const charts = trendCharts(result(HISTORY), result(HISTORY).gate!)
    expect(charts).toHaveLength(3)
    const verdicts = mermaidParse(charts.map((c) => mermaidBlocks(c)[0]!))
    expect(verdicts).toEqual([
      { ok: true, type: 'xychart' },
      { ok: true, type: 'xychart' },
      { ok: true, type: 'xychart' }
    ])
    const [auc, latency, recall] = charts
    expect(auc).toContain('x-axis ["a1a1a1a", "b2b2b2b", "c3c3c3c", "candidate"]')
    expect(auc).toContain('bar [0.88, 0.9, 0.905, 0.912]')
    expect(auc).toContain('line [0.85, 0.85, 0.85, 0.85]')
    expect(auc).toContain('threshold 0.85')
    expect(latency).toContain('line [250, 250, 250, 250]')
    // A champion that did not record the metric is left out; no threshold, no line.
    expect(recall).toContain('x-axis ["b2b2b2b", "c3c3c3c", "candidate"]')
    expect(recall).not.toContain('line [')
  })

  it(`shows at most ${CHART_CHAMPIONS} champions`, () => {
    const many = Array.from({ length: 9 }, (_, i) => ({
      sha: String(i).repeat(40),
      at: `2026-11-0${i + 1}T00:00:00Z`,
      outcome: 'promoted' as const,
      metrics: { auc: 0.86 + i / 100, latency_ms: 5, recall: 0.7 }
    }))
    const [auc] = trendCharts(result(many), result(many).gate!)
    const labels = /x-axis \[(.*)\]/.exec(auc!)![1]!.split(', ')
    expect(labels).toEqual([
      '"4444444"',
      '"3333333"',
      '"2222222"',
      '"1111111"',
      '"0000000"',
      '"candidate"'
    ])
    expect(mermaidParse([mermaidBlocks(auc!)[0]!])[0]!.ok).toBe(true)
  })

  it('draws nothing without a champion, and the table stays for screen readers', () => {
    expect(trendCharts(result(undefined), result(undefined).gate!)).toEqual([])
    const section = modelSection(result(HISTORY))
    expect(mermaidBlocks(section)).toHaveLength(3)
    expect(section).toContain('| When | Commit | Outcome | auc | latency_ms | recall |')
  })

  it('keeps odd values and labels parseable', () => {
    const odd = result([
      {
        sha: 'e'.repeat(40),
        at: '2026-12-01T00:00:00Z',
        outcome: 'promoted',
        metrics: { auc: 1e-9, latency_ms: 1e22, recall: -3 }
      }
    ])
    odd.environment = 'stg"\nx-axis'
    const charts = trendCharts(odd, odd.gate!)
    const verdicts = mermaidParse(charts.map((c) => mermaidBlocks(c)[0]!))
    expect(verdicts.every((v) => v.ok)).toBe(true)
    expect(charts.join('\n')).not.toMatch(/\de[+-]?\d/)
  })

  it('the reports rendered from a real run carry charts Mermaid parses', () => {
    const blocks = ['docs/job-summary.md', 'docs/pr-comment.md'].flatMap((f) =>
      mermaidBlocks(readFileSync(path.join(root, f), 'utf8'))
    )
    expect(blocks.length).toBeGreaterThan(0)
    expect(mermaidParse(blocks).every((v) => v.ok && v.type === 'xychart')).toBe(true)
  })
})
