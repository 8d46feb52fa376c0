// 200 models in one report: the job summary stays under the runner's 1 MiB, the PR comment under
// GitHub's 65,536 characters, passing models fold away and every failure keeps its whole section.
import { describe, expect, it } from '@jest/globals'
import MarkdownIt from 'markdown-it'
import { evaluateGate } from '../src/gate.js'
import { COMMENT_LIMIT, parseSections, upsertStickyComment } from '../src/report/comment.js'
import { renderSummary, reportSections } from '../src/report/markdown.js'
import type { ModelResult } from '../src/types.js'
import { useFakeGitHub } from '../test/support/fake-github.js'

const MIB = 1024 * 1024
const GATE = {
  auc: { threshold: 0.85, min_absolute_change: -0.02, greater_is_better: true },
  recall: { threshold: 0.6, greater_is_better: true },
  latency_ms: { threshold: 250, greater_is_better: false }
}

/** 200 results; every 20th fails its gate. Each carries a five-deep history, as reports do. */
function results(count = 200): ModelResult[] {
  return Array.from({ length: count }, (_, i) => {
    const failing = i % 20 === 7
    const metrics = { auc: failing ? 0.7 : 0.9 + i / 10000, recall: 0.7, latency_ms: 5 }
    const champion = { auc: 0.9, recall: 0.69, latency_ms: 6 }
    const gate = evaluateGate(GATE, metrics, champion)
    return {
      model: `model-${String(i).padStart(3, '0')}`,
      environment: 'staging',
      action: 'gate',
      verdict: gate.verdict,
      reason: failing ? 'auc failed' : 'passed',
      promoted: false,
      sha: 'a'.repeat(40),
      metrics,
      gate,
      champion: { metrics: champion, sha: 'b'.repeat(40), promotedAt: '2026-12-01T00:00:00Z' },
      history: Array.from({ length: 5 }, (_, h) => ({
        sha: String(h).repeat(40),
        at: `2026-11-0${h + 1}T00:00:00Z`,
        outcome: 'promoted' as const,
        metrics: champion
      }))
    } satisfies ModelResult
  })
}

describe('a report on 200 models', () => {
  it('the job summary stays under 1 MiB with failures in full and passing models folded', () => {
    const all = results()
    const summary = renderSummary({ title: 'gate in staging', results: all, limit: MIB - 1024 })
    expect(summary.length).toBeLessThan(MIB)
    const tokens = new MarkdownIt({ html: true }).parse(summary, {})
    // One heading per failing model; passing models sit in <details>.
    const headings = tokens.filter((t) => t.type === 'heading_open' && t.tag === 'h3')
    expect(headings).toHaveLength(10)
    expect(summary.match(/<details><summary>✅ <b>model-\d{3}<\/b>/g)).toHaveLength(190)
    for (const r of all.filter((x) => x.verdict === 'fail')) {
      expect(summary).toContain(`### ❌ **${r.model}** failed the \`staging\` gate`)
    }
  })

  it('a short report shows every model in full', () => {
    const few = results(3)
    const summary = renderSummary({ title: 'gate', results: few })
    expect(summary).not.toContain('<details><summary>✅')
    expect(summary.match(/^### /gm)).toHaveLength(3)
  })

  it('the comment cuts passing models to their headline when even folded they do not fit', () => {
    const all = results()
    const sections = reportSections(all, COMMENT_LIMIT - 4096)
    expect(Object.keys(sections)).toHaveLength(200)
    const failing = all.filter((r) => r.verdict === 'fail').map((r) => r.model)
    for (const m of failing) expect(sections[m]).toContain('| auc | 0.7 |')
    const passing = Object.entries(sections).filter(([m]) => !failing.includes(m))
    expect(
      passing.every(([, s]) => s.includes('full report on this model is in the job summary'))
    ).toBe(true)
  })
})

describe('the 200-model comment on GitHub', () => {
  const github = useFakeGitHub()

  it('is accepted, under 65,536 characters, with one section per model', async () => {
    const fake = github.fake()
    const octokit = github.octokit()
    const { mergeSections } = await import('../src/report/comment.js')
    const body = mergeSections(undefined, reportSections(results(), COMMENT_LIMIT - 4096))
    await upsertStickyComment(
      octokit,
      { owner: 'octo-org', repo: 'fraud-models' },
      7,
      body,
      '## ml-promote: gate in staging'
    )
    expect(fake.comments).toHaveLength(1)
    const posted = fake.comments[0]!.body
    expect(posted.length).toBeLessThan(65536)
    expect(Object.keys(parseSections(posted))).toHaveLength(200)
    expect(posted).not.toContain('Truncated')
  })
})
