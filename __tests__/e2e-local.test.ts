// The bundled action run the way the runner runs it, with no GitHub token: the command backend
// trains the example for real and the file champion store records champions.
import { describe, expect, it } from '@jest/globals'
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync
} from 'node:fs'
import path from 'node:path'
import {
  commitAll,
  exampleWorkspace,
  git,
  pullRequestPayload,
  pushPayload,
  runAction
} from '../test/e2e/harness.js'

describe('push to main without a token: retrain in staging with the file store', () => {
  it('trains, promotes the first champion, and reports outputs and a summary table', async () => {
    const ws = exampleWorkspace()
    const run = await runAction({
      workspace: ws.dir,
      event: 'push',
      payload: pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: ws.sha })
    })
    expect(run.code).toBe(0)
    expect(run.outputs.verdict).toBe('pass')
    expect(run.outputs.environment).toBe('staging')
    const results = JSON.parse(run.outputs.results!)
    expect(results).toHaveLength(1)
    expect(results[0]).toMatchObject({
      model: 'fraud-detector',
      environment: 'staging',
      action: 'retrain',
      verdict: 'pass',
      promoted: true
    })
    expect(results[0].metrics.auc).toBeGreaterThan(0.85)
    expect(results[0].gate.hasChampion).toBe(false)
    expect(run.summary).toContain('| Metric | Candidate | Champion | Δ | Rule | Result |')
    expect(run.summary).toMatch(/\| auc \| 0\.9\d* \| — \| — \| ≥ 0\.85, Δ ≥ -0\.02 \| ✅ pass \|/)
    expect(run.summary).toContain('No champion yet')
    expect(run.stdout).toContain('::group::')
    const state = JSON.parse(readFileSync(path.join(ws.dir, '.ml-promote', 'state.json'), 'utf8'))
    expect(state.champions['fraud-detector'].staging.sha).toBe(ws.sha)

    // The next push compares like for like with that champion.
    const second = await runAction({
      workspace: ws.dir,
      event: 'push',
      payload: pushPayload({ ref: 'refs/heads/main', before: ws.sha, after: ws.sha })
    })
    expect(second.code).toBe(0)
    const again = JSON.parse(second.outputs.results!)[0]
    expect(again.gate.hasChampion).toBe(true)
    expect(again.champion.metrics.auc).toBe(results[0].metrics.auc)
    expect(second.summary).toMatch(/\| auc \| [\d.]+ \| [\d.]+ \| [+-]?[\d.]+ \|/)
    // The trend: the first promotion, then this candidate, on the gated metrics.
    expect(second.summary).toContain('Recent outcomes in <code>staging</code>')
    expect(second.summary).toMatch(
      new RegExp(`\\| \`${ws.sha.slice(0, 7)}\` \\| promoted \\| 0\\.9\\d* \\|`)
    )
    expect(second.summary).toMatch(/\| this run \| `[0-9a-f]{7}` \| \*\*candidate\*\* \|/)
  })
})

describe('a worse model on push', () => {
  it('fails the run and keeps the champion', async () => {
    const ws = exampleWorkspace()
    const first = await runAction({
      workspace: ws.dir,
      event: 'push',
      payload: pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: ws.sha })
    })
    expect(first.code).toBe(0)
    const paramsPath = path.join(ws.dir, 'models/fraud/params.json')
    const params = JSON.parse(readFileSync(paramsPath, 'utf8'))
    writeFileSync(
      paramsPath,
      JSON.stringify({ ...params, features: ['hour', 'card_present'], epochs: 1 })
    )
    const worse = commitAll(ws.dir, 'worse')
    const run = await runAction({
      workspace: ws.dir,
      event: 'push',
      payload: pushPayload({ ref: 'refs/heads/main', before: ws.sha, after: worse })
    })
    expect(run.code).toBe(1)
    expect(run.outputs.verdict).toBe('fail')
    expect(run.stdout).toMatch(
      /::error::fraud-detector \[staging\]: gate failed on auc, recall; the staging champion stays/
    )
    const state = JSON.parse(readFileSync(path.join(ws.dir, '.ml-promote', 'state.json'), 'utf8'))
    expect(state.champions['fraud-detector'].staging.sha).toBe(ws.sha)
    expect(state.history.map((h: { outcome: string }) => h.outcome).sort()).toEqual([
      'promoted',
      'rejected'
    ])
  })
})

describe('invalid config', () => {
  it('reports every problem as an annotation at its line and column, and trains nothing', async () => {
    const ws = exampleWorkspace()
    const cfg = path.join(ws.dir, '.github/ml-promote.yml')
    writeFileSync(
      cfg,
      readFileSync(cfg, 'utf8')
        .replace('threshold: 0.85', 'treshold: 0.85')
        .replace('backend: command', 'backend: comand')
    )
    const run = await runAction({
      workspace: ws.dir,
      event: 'push',
      payload: pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: ws.sha })
    })
    expect(run.code).toBe(1)
    const annotations = run.stdout
      .split('\n')
      .filter((l) => l.startsWith('::error file=.github/ml-promote.yml'))
    expect(annotations).toHaveLength(2)
    for (const a of annotations)
      expect(a).toMatch(
        /^::error file=\.github\/ml-promote\.yml,line=\d+,endLine=\d+,col=\d+,endColumn=\d+::/
      )
    expect(run.stdout).toContain('did you mean "threshold"?')
    expect(run.stdout).toContain('did you mean "command"?')
    expect(run.outputs.verdict).toBe('fail')
    expect(run.summary).toContain('is invalid')
    expect(existsSync(path.join(ws.dir, 'out'))).toBe(false)
    expect(existsSync(path.join(ws.dir, '.ml-promote'))).toBe(false)
  })
})

describe('mode plan and validate', () => {
  it('plan prints what would happen and trains nothing', async () => {
    const ws = exampleWorkspace()
    const run = await runAction({
      workspace: ws.dir,
      event: 'push',
      inputs: { mode: 'plan' },
      ref: 'refs/heads/release',
      payload: pushPayload({ ref: 'refs/heads/release', before: '0'.repeat(40), after: ws.sha })
    })
    expect(run.code).toBe(0)
    expect(run.outputs.verdict).toBe('skipped')
    expect(run.outputs.environment).toBe('production')
    expect(run.summary).toContain('nothing was run')
    expect(run.summary).toMatch(/\| fraud-detector \| production \| retrain \|/)
    expect(existsSync(path.join(ws.dir, 'out'))).toBe(false)
  })
})

describe('pull request without a token', () => {
  it('is judged by the base branch gate even when it loosens its own thresholds', async () => {
    const ws = exampleWorkspace()
    git(ws.dir, 'checkout', '-q', '-b', 'loosen')
    const cfg = path.join(ws.dir, '.github/ml-promote.yml')
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('threshold: 0.85', 'threshold: 0.99'))
    // Make the base gate the strict one instead: the PR lowers 0.99 → 0.5.
    const base = commitAll(ws.dir, 'strict gate on main')
    git(ws.dir, 'checkout', '-q', '-b', 'pr')
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('threshold: 0.99', 'threshold: 0.5'))
    const head = commitAll(ws.dir, 'loosen the gate')
    const run = await runAction({
      workspace: ws.dir,
      event: 'pull_request',
      ref: 'refs/pull/7/merge',
      payload: pullRequestPayload({
        number: 7,
        headSha: head,
        headRef: 'pr',
        baseSha: base,
        baseRef: 'main'
      })
    })
    expect(run.code).toBe(1)
    expect(run.outputs.verdict).toBe('fail')
    const r = JSON.parse(run.outputs.results!)[0]
    expect(r.action).toBe('gate')
    expect(r.promoted).toBe(false)
    expect(r.gate.metrics.find((m: { metric: string }) => m.metric === 'auc')).toMatchObject({
      rule: expect.stringContaining('0.99'),
      outcome: 'fail'
    })
    expect(run.summary).toContain('the change applies after merge')
    expect(existsSync(path.join(ws.dir, '.ml-promote', 'state.json'))).toBe(false)
  })
})

describe('working-directory: a project in a subfolder of the repository', () => {
  it('trains there, and annotates config problems with repository-relative paths', async () => {
    const ws = exampleWorkspace()
    const sub = path.join(ws.dir, 'projects', 'fraud')
    mkdirSync(sub, { recursive: true })
    for (const entry of readdirSync(ws.dir)) {
      if (entry !== 'projects' && entry !== '.git')
        renameSync(path.join(ws.dir, entry), path.join(sub, entry))
    }
    const sha = commitAll(ws.dir, 'move into projects/fraud')
    const inputs = { 'working-directory': 'projects/fraud' }
    const run = await runAction({
      workspace: ws.dir,
      event: 'push',
      inputs,
      payload: pushPayload({ ref: 'refs/heads/main', before: ws.sha, after: sha })
    })
    expect(run.code).toBe(0)
    expect(run.outputs.verdict).toBe('pass')
    expect(existsSync(path.join(sub, 'out/fraud/metrics.json'))).toBe(true)
    expect(existsSync(path.join(sub, '.ml-promote/state.json'))).toBe(true)

    const cfg = path.join(sub, '.github/ml-promote.yml')
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('threshold: 0.85', 'treshold: 0.85'))
    const bad = await runAction({
      workspace: ws.dir,
      event: 'push',
      inputs,
      payload: pushPayload({ ref: 'refs/heads/main', before: sha, after: sha })
    })
    expect(bad.code).toBe(1)
    expect(bad.stdout).toMatch(/^::error file=projects\/fraud\/\.github\/ml-promote\.yml,line=\d+/m)
  })
})
