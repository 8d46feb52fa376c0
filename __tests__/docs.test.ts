// docs/pr-comment.md and docs/job-summary.md are rendered by script/render-docs.mjs from a real run of
// the bundled action; this renders them again and fails when the committed files are stale.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { root } from '../test/e2e/harness.js'

const SCRIPT = path.join(root, 'script', 'render-docs.mjs')
const FILES = ['docs/pr-comment.md', 'docs/job-summary.md']

interface RenderDocs {
  normalise(markdown: string): string
  readmeWithExample(readme: string, comment: string): string
}

describe('docs/ rendered from a real run', () => {
  const fresh: Record<string, string> = {}
  const out = mkdtempSync(path.join(tmpdir(), 'ml-promote-docs-test-'))

  beforeAll(() => {
    const res = spawnSync(process.execPath, [SCRIPT, '--out', out], {
      cwd: root,
      encoding: 'utf8'
    })
    if (res.status !== 0) throw new Error(`render-docs failed:\n${res.stdout}\n${res.stderr}`)
    for (const file of FILES) fresh[file] = readFileSync(path.join(out, file), 'utf8')
  })

  afterAll(() => rmSync(out, { recursive: true, force: true }))

  it.each(FILES)('%s is current (regenerate with `node script/render-docs.mjs`)', (file) => {
    expect(readFileSync(path.join(root, file), 'utf8')).toBe(fresh[file])
  })

  it('the PR comment is the sticky comment of a gate against the staging champion', () => {
    const comment = fresh['docs/pr-comment.md']!
    expect(comment).toContain('<!-- ml-promote:sticky -->')
    expect(comment).toContain('## ml-promote: gate in staging')
    expect(comment).toMatch(/passed the `staging` gate/)
    expect(comment).toMatch(/^Champion: `[0-9a-f]{7}` promoted/m)
    expect(comment).toMatch(/^\| auc \| 0\.9\d* \| 0\.9\d* \| [+-]?[\d.e-]+ \|/m)
  })

  it('the job summary is the promotion that followed the merge', () => {
    const summary = fresh['docs/job-summary.md']!
    expect(summary).toContain('## ml-promote: retrain in staging — ✅ pass')
    expect(summary).toContain('| fraud-detector | staging | retrain | ✅ pass | yes |')
    expect(summary).toContain('is the new champion')
  })
})

describe('normalising what differs between identical runs', () => {
  it('replaces latency, durations, dates and process ids, and keeps every other figure', async () => {
    const { normalise } = (await import(pathToFileURL(SCRIPT).href)) as RenderDocs
    const raw = [
      'Training: command run 31337  ',
      'Champion: `2931b7a` promoted 2027-03-04  ',
      'Took 3.7 s.',
      '',
      '| auc | 0.9138 | 0.913 | +0.000816 | ≥ 0.85, Δ ≥ -0.02 | ✅ pass |',
      '| latency_ms | 12.31 | 9.87 | +2.44 | ≤ 250 | ✅ pass |'
    ].join('\n')
    expect(normalise(raw)).toBe(
      [
        'Training: command run 2048  ',
        'Champion: `2931b7a` promoted 2026-12-01  ',
        'Took 1.2 s.',
        '',
        '| auc | 0.9138 | 0.913 | +0.000816 | ≥ 0.85, Δ ≥ -0.02 | ✅ pass |',
        '| latency_ms | 10 | 10 | 0 | ≤ 250 | ✅ pass |'
      ].join('\n')
    )
  })

  it('keeps "no champion" dashes in the latency row', async () => {
    const { normalise } = (await import(pathToFileURL(SCRIPT).href)) as RenderDocs
    expect(normalise('| latency_ms | 11.2 | — | — | ≤ 250 | ✅ pass |')).toBe(
      '| latency_ms | 10 | — | — | ≤ 250 | ✅ pass |'
    )
  })

  it('the README quotes the committed PR comment', async () => {
    const { readmeWithExample } = (await import(pathToFileURL(SCRIPT).href)) as RenderDocs
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8')
    const comment = readFileSync(path.join(root, 'docs/pr-comment.md'), 'utf8')
    expect(readmeWithExample(readme, comment)).toBe(readme)
    expect(readme).toContain('> | Metric | Candidate | Champion | Δ | Rule | Result |')
  })
})
