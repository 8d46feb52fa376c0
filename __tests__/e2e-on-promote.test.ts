// Downstream jobs on promotion, through the bundle: `on_promote` jobs run in order right after a
// model becomes champion, each reported; a failing one fails the run loudly and never un-promotes.
import { describe, expect, it } from '@jest/globals'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { loadConfig } from '../src/config/load.js'
import { commitAll, exampleWorkspace, pushPayload, runAction } from '../test/e2e/harness.js'

const CONFIG = '.github/ml-promote.yml'

/** The example with `jobs` as the staging on_promote list of its model. */
function workspace(jobs: string) {
  const ws = exampleWorkspace()
  const file = path.join(ws.dir, CONFIG)
  const text = readFileSync(file, 'utf8').replace(
    '    gate:\n',
    `    on_promote:\n      staging:\n${jobs}    gate:\n`
  )
  writeFileSync(file, text)
  ws.sha = commitAll(ws.dir, 'downstream jobs')
  return ws
}

const job = (name: string, run: string) =>
  `        - { name: ${name}, backend: command, run: '${run}' }\n`

function push(dir: string, sha: string) {
  return runAction({
    workspace: dir,
    event: 'push',
    payload: pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: sha })
  })
}

const champion = (dir: string) =>
  JSON.parse(readFileSync(path.join(dir, '.ml-promote', 'state.json'), 'utf8')).champions[
    'fraud-detector'
  ]?.staging

describe('on_promote jobs', () => {
  it('run in order after the promotion, with the context, each reported', async () => {
    const ws = workspace(
      job(
        'refresh-batch',
        'echo "$ML_PROMOTE_MODEL $ML_PROMOTE_ENVIRONMENT $ML_PROMOTE_SHA" >> downstream.log'
      ) + job('restart-monitoring', 'echo monitoring >> downstream.log')
    )
    const run = await push(ws.dir, ws.sha)
    expect(run.code).toBe(0)
    expect(readFileSync(path.join(ws.dir, 'downstream.log'), 'utf8')).toBe(
      `fraud-detector staging ${ws.sha}\nmonitoring\n`
    )
    expect(JSON.parse(run.outputs.results!)[0].downstream).toEqual([
      { name: 'refresh-batch', backend: 'command', ok: true },
      { name: 'restart-monitoring', backend: 'command', ok: true }
    ])
    expect(run.summary).toContain('on_promote `refresh-batch`: ✅ done')
    expect(champion(ws.dir).sha).toBe(ws.sha)
  })

  it('a failing job fails the run loudly, stops the next ones, and the champion stays', async () => {
    const ws = workspace(
      job('update-endpoint', 'echo endpoint down >&2; exit 3') +
        job('restart-monitoring', 'touch should-not-run')
    )
    const run = await push(ws.dir, ws.sha)
    expect(run.code).toBe(1)
    expect(run.stdout).toMatch(
      /::error::.*fraud-detector \[staging\]: promoted, but its on_promote job update-endpoint failed: failed: .*exit.*3.*the new champion stays/
    )
    expect(existsSync(path.join(ws.dir, 'should-not-run'))).toBe(false)
    const [result] = JSON.parse(run.outputs.results!)
    expect(result).toMatchObject({ verdict: 'pass', promoted: true })
    expect(result.downstream.map((d: { ok: boolean }) => d.ok)).toEqual([false, false])
    expect(result.downstream[1].message).toBe('not run: an earlier job failed')
    expect(champion(ws.dir).sha).toBe(ws.sha)
    expect(run.summary).toMatch(/on_promote `update-endpoint`: ⚠️ failed/)
  })

  it('do not run when the candidate is not promoted', async () => {
    const ws = workspace(job('refresh-batch', 'touch downstream-ran'))
    const p = path.join(ws.dir, 'models/fraud/params.json')
    const params = JSON.parse(readFileSync(p, 'utf8'))
    writeFileSync(p, JSON.stringify({ ...params, features: ['hour', 'card_present'], epochs: 1 }))
    const sha = commitAll(ws.dir, 'worse')
    const run = await push(ws.dir, sha)
    expect(run.code).toBe(1)
    expect(existsSync(path.join(ws.dir, 'downstream-ran'))).toBe(false)
    expect(JSON.parse(run.outputs.results!)[0].downstream).toBeUndefined()
  })
})

describe('on_promote config errors', () => {
  const base = (onPromote: string) =>
    [
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: x, metrics: m.json }',
      '    on_promote:',
      onPromote,
      '    gate: { auc: { threshold: 0.8 } }',
      ''
    ].join('\n')

  it.each([
    [
      '      stagin: [{ name: a, backend: command, run: x }]',
      '8:7 models.fraud.on_promote.stagin names an undeclared environment; did you mean "staging"?'
    ],
    [
      '      staging: [{ name: a, backend: command, run: x }, { name: a, backend: command, run: y }]',
      '8:64 models.fraud.on_promote.staging has two jobs named "a"'
    ]
  ])('%s', (yaml, expected) => {
    const problems = loadConfig(base(yaml), 'ml-promote.yml').problems
    expect(problems.map((p) => `${p.line}:${p.col} ${p.message}`)).toEqual([expected])
  })

  it('a job needs a name and a backend spec, but no metrics', () => {
    const ok = loadConfig(base('      staging: [{ name: a, backend: command, run: x }]'), 'f.yml')
    expect(ok.problems).toEqual([])
    expect(ok.config!.models[0]!.onPromote).toEqual({
      staging: [{ name: 'a', backend: 'command', run: 'x' }]
    })
    const bad = loadConfig(base('      staging: [{ backend: command, run: x }]'), 'f.yml').problems
    expect(bad.map((p) => `${p.line}:${p.col}`)).toEqual(['8:17'])
    expect(bad[0]!.message).toMatch(/name/)
  })
})
