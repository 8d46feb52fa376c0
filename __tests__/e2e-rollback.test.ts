// Rolling back through the bundle: the CLI on the example project with the file store, and the
// action's `mode: rollback` on workflow_dispatch against a fake GitHub that enforces GitHub's
// OpenAPI description. In both, the next gate judges against the restored champion.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { FakeGitHub } from '../test/fakes/github-server.js'
import {
  commitAll,
  exampleWorkspace,
  git,
  pullRequestPayload,
  pushPayload,
  runAction,
  runCli,
  webhookExample
} from '../test/e2e/harness.js'

const MODEL = 'fraud-detector'
const REASON = 'false positives doubled after the last promotion'

/** `ml-promote rollback` of the example's model in `environment`, with `reason` and any `more`. */
const rollbackArgs = (environment: string, reason: string, ...more: string[]) => [
  'rollback',
  '--model',
  MODEL,
  '--environment',
  environment,
  '--reason',
  reason,
  ...more
]

/** A commit that changes the model a little: it still passes the gate, with other metrics. */
function reseed(dir: string, seed: number): string {
  const p = path.join(dir, 'models/fraud/params.json')
  writeFileSync(p, readFileSync(p, 'utf8').replace(/"seed": \d+/, `"seed": ${seed}`))
  return commitAll(dir, `seed ${seed}`)
}

describe('ml-promote rollback (CLI, file store)', () => {
  it('restores the champion before the current one, and the next gate compares with it', async () => {
    const ws = exampleWorkspace()
    const cli = (...args: string[]) =>
      runCli([...args, '--quiet'], { cwd: ws.dir, env: { USER: 'alice' } })
    const retrain = async () => {
      const run = await cli('run', '--event', 'push', '--branch', 'main', '--json')
      expect(run.stderr).toBe('')
      expect(run.status).toBe(0)
      return JSON.parse(run.stdout)[0]
    }
    const first = await retrain()
    expect(first.promoted).toBe(true)
    const second = reseed(ws.dir, 7)
    expect((await retrain()).promoted).toBe(true)

    const refused = await cli('rollback', '--model', MODEL, '--environment', 'staging')
    expect(refused.status).toBe(2)
    expect(refused.stderr).toContain('rollback needs --reason')

    const rollback = await cli(...rollbackArgs('staging', REASON))
    expect(rollback.stderr).toBe('')
    expect(rollback.status).toBe(0)
    expect(rollback.stdout).toContain(`${MODEL} [staging]: restored ${ws.sha.slice(0, 7)}`)
    expect(rollback.stdout).toContain(`rolled back: ${REASON} (replaced ${second.slice(0, 7)})`)
    expect(rollback.stdout).toContain(`replaced: ${second.slice(0, 7)}`)

    const champions = await cli('champions', '--json')
    const staging = JSON.parse(champions.stdout).find(
      (c: { environment: string }) => c.environment === 'staging'
    )
    expect(staging.champion).toMatchObject({
      sha: ws.sha,
      metrics: first.metrics,
      trigger: 'rollback by alice',
      rollback: { reason: REASON, replacedSha: second }
    })
    expect((await cli('champions')).stdout).toContain('  trigger: rollback by alice')

    const again = await cli(...rollbackArgs('staging', 'x', '--to', ws.sha.slice(0, 8)))
    expect(again.status).toBe(2)
    expect(again.stderr).toContain(`${ws.sha.slice(0, 7)} is already the champion`)

    reseed(ws.dir, 11)
    const next = await retrain()
    expect(next.gate.hasChampion).toBe(true)
    expect(next.champion).toMatchObject({ sha: ws.sha, metrics: first.metrics })
    expect(next.history.map((h: { outcome: string }) => h.outcome)).toEqual([
      'rolled_back',
      'promoted',
      'promoted'
    ])
  })
})

describe('a rollback redeploys, and does not vouch for the commit it replaced', () => {
  it('runs on_promote for the restored champion; the replaced commit is gated again', async () => {
    const ws = exampleWorkspace()
    const served = path.join(mkdtempSync(path.join(tmpdir(), 'ml-promote-served-')), 'served.log')
    // Training names its artifact after the commit; the downstream job logs what it would serve.
    writeFileSync(
      path.join(ws.dir, 'models/fraud/name_artifact.py'),
      [
        'import json, os',
        'path = "out/fraud/metrics.json"',
        'metrics = json.load(open(path))',
        'metrics["model_uri"] = "runs:/" + os.environ["ML_PROMOTE_SHA"][:7] + "/model"',
        'json.dump(metrics, open(path, "w"))',
        ''
      ].join('\n')
    )
    const config = path.join(ws.dir, '.github/ml-promote.yml')
    writeFileSync(
      config,
      readFileSync(config, 'utf8')
        .replace(
          'run: python3 models/fraud/train.py',
          'run: python3 models/fraud/train.py && python3 models/fraud/name_artifact.py'
        )
        .replace(
          '    gate:\n',
          `    on_promote:\n      staging:\n        - { name: serve, backend: command, run: 'echo "$ML_PROMOTE_SHA $ML_PROMOTE_MODEL_URI" >> ${served}' }\n    gate:\n`
        )
    )
    const first = commitAll(ws.dir, 'name the artifact, serve on promotion')
    const cli = (...args: string[]) => runCli([...args, '--quiet'], { cwd: ws.dir })
    const retrain = async () => {
      const run = await cli('run', '--event', 'push', '--branch', 'main', '--json')
      expect(run.status).toBe(0)
      return JSON.parse(run.stdout)[0]
    }
    expect((await retrain()).lineage.modelUri).toBe(`runs:/${first.slice(0, 7)}/model`)
    const second = reseed(ws.dir, 7)
    expect((await retrain()).promoted).toBe(true)

    git(ws.dir, 'checkout', '-q', '-b', 'feature')
    const gate = () =>
      cli(
        'run',
        '--event',
        'pull_request',
        '--base',
        'main',
        '--changed',
        'models/fraud/params.json',
        '--json'
      )
    const before = JSON.parse((await gate()).stdout)[0]
    expect(before).toMatchObject({ verdict: 'pass', reused: true })

    const rollback = await cli(...rollbackArgs('staging', REASON))
    expect(rollback.stderr).toBe('')
    expect(rollback.status).toBe(0)
    expect(rollback.stdout).toContain('on_promote serve: done')
    expect(readFileSync(served, 'utf8').trim().split('\n')).toEqual([
      `${first} runs:/${first.slice(0, 7)}/model`,
      `${second} runs:/${second.slice(0, 7)}/model`,
      `${first} runs:/${first.slice(0, 7)}/model`
    ])

    // The same head, after its champion was rolled back: trained and judged again.
    const after = JSON.parse((await gate()).stdout)[0]
    expect(after.reused).toBeUndefined()
    expect(after.run.backend).toBe('command')
    expect(after.champion.sha).toBe(first)
  })

  it('a scheduled retrain does not promote a rolled-back commit again; a manual one may', async () => {
    const ws = exampleWorkspace()
    const cli = (...args: string[]) => runCli([...args, '--quiet'], { cwd: ws.dir })
    git(ws.dir, 'checkout', '-q', '-b', 'release')
    const release = async (...args: string[]) => {
      const run = await cli('run', '--branch', 'release', '--json', ...args)
      return { status: run.status, result: JSON.parse(run.stdout)[0] }
    }
    expect((await release('--event', 'push')).result.promoted).toBe(true)
    const second = reseed(ws.dir, 7)
    expect((await release('--event', 'push')).result.promoted).toBe(true)
    const rolledBack = await cli(...rollbackArgs('production', REASON))
    expect(rolledBack.status).toBe(0)

    const scheduled = await release('--event', 'schedule')
    expect(scheduled.status).toBe(0)
    expect(scheduled.result).toMatchObject({ verdict: 'skipped', promoted: false })
    expect(scheduled.result.reason).toContain(
      `commit ${second.slice(0, 7)} was rolled back in production on`
    )
    expect(scheduled.result.reason).toContain('not promoted there again by a scheduled run')
    expect(scheduled.result.run).toBeUndefined()

    const manual = await release('--event', 'workflow_dispatch', '--environment', 'production')
    expect(manual.result.run.backend).toBe('command')
    expect(manual.result.champion.sha).toBe(ws.sha)
  })

  it('refuses a reason longer than the history keeps, writing nothing', async () => {
    const ws = exampleWorkspace()
    const cli = (...args: string[]) => runCli([...args, '--quiet'], { cwd: ws.dir })
    expect((await cli('run', '--event', 'push', '--branch', 'main')).status).toBe(0)
    reseed(ws.dir, 7)
    expect((await cli('run', '--event', 'push', '--branch', 'main')).status).toBe(0)
    const state = readFileSync(path.join(ws.dir, '.ml-promote/state.json'), 'utf8')
    const long = await cli(...rollbackArgs('staging', 'x'.repeat(1001)))
    expect(long.status).not.toBe(0)
    expect(long.stderr).toContain('a rollback needs a reason of 1 to 1000 characters (got 1001)')
    expect(readFileSync(path.join(ws.dir, '.ml-promote/state.json'), 'utf8')).toBe(state)
  })
})

describe('mode: rollback (action, GitHub Deployments store)', () => {
  const TOKEN = 'ghs_e2eTestToken000000000000000000000'
  let fake: FakeGitHub
  beforeEach(async () => {
    fake = await FakeGitHub.start()
  })
  afterEach(async () => {
    expect(fake.violations).toEqual([])
    await fake.close()
  })
  const push = async (dir: string, before: string, after: string) => {
    const run = await runAction({
      workspace: dir,
      event: 'push',
      payload: pushPayload({ ref: 'refs/heads/main', before, after }),
      env: { GITHUB_API_URL: fake.url },
      inputs: { 'github-token': TOKEN }
    })
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    return JSON.parse(run.outputs.results!)[0]
  }
  const dispatch = (dir: string, inputs: Record<string, string>, event = 'workflow_dispatch') =>
    runAction({
      workspace: dir,
      event,
      payload: { ...webhookExample('workflow_dispatch'), ref: 'refs/heads/main', inputs },
      env: { GITHUB_API_URL: fake.url, GITHUB_ACTOR: 'octocat' },
      inputs: { 'github-token': TOKEN, mode: 'rollback', ...inputs }
    })

  it('deploys the restored commit with a success status; the next gate judges against it', async () => {
    const ws = exampleWorkspace()
    const first = await push(ws.dir, '0'.repeat(40), ws.sha)
    const second = reseed(ws.dir, 7)
    fake.setCompare(ws.sha, second, ['models/fraud/params.json'])
    await push(ws.dir, ws.sha, second)
    expect(fake.deployments).toHaveLength(2)

    const run = await dispatch(ws.dir, { models: MODEL, environment: 'staging', reason: REASON })
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.outputs.verdict).toBe('pass')
    expect(run.outputs.environment).toBe('staging')
    expect(JSON.parse(run.outputs.results!)).toEqual([
      expect.objectContaining({
        model: MODEL,
        action: 'rollback',
        verdict: 'pass',
        champion: expect.objectContaining({
          sha: ws.sha,
          metrics: first.metrics,
          trigger: 'rollback by octocat',
          rollback: { reason: REASON, replacedSha: second }
        })
      })
    ])
    expect(fake.deployments).toHaveLength(3)
    const d = fake.deployments[2]!
    expect(d).toMatchObject({ sha: ws.sha, task: `ml-promote:${MODEL}`, environment: 'staging' })
    expect(d.payload).toMatchObject({
      outcome: 'rolled_back',
      trigger: 'rollback by octocat',
      rollback: { reason: REASON, replaced_sha: second }
    })
    expect(d.statuses.map((s) => s.state)).toEqual(['success'])
    expect(run.summary).toContain(`rollback of ${MODEL} in \`staging\``)
    expect(run.summary).toContain(`| Restored | \`${ws.sha.slice(0, 7)}\``)
    expect(run.summary).toContain(`| Replaced | \`${second.slice(0, 7)}\``)
    expect(run.summary).toContain(REASON)
    expect(run.summary).toContain('octocat')

    git(ws.dir, 'checkout', '-q', '-b', 'pr-31')
    const head = reseed(ws.dir, 11)
    fake.setPull(31, {
      head: { sha: head, ref: 'pr-31' },
      base: { sha: second, ref: 'main' },
      files: ['models/fraud/params.json']
    })
    const gate = await runAction({
      workspace: ws.dir,
      event: 'pull_request',
      payload: pullRequestPayload({
        number: 31,
        headSha: head,
        headRef: 'pr-31',
        baseSha: second,
        baseRef: 'main'
      }),
      ref: 'refs/pull/31/merge',
      env: { GITHUB_API_URL: fake.url },
      inputs: { 'github-token': TOKEN }
    })
    expect(gate.code).toBe(0)
    const r = JSON.parse(gate.outputs.results!)[0]
    expect(r.gate.hasChampion).toBe(true)
    expect(r.champion).toMatchObject({ sha: ws.sha, metrics: first.metrics })
  })

  it.each([
    [
      'with nothing earlier to restore',
      { models: MODEL, environment: 'staging', reason: REASON },
      'workflow_dispatch',
      /no earlier champion to restore/
    ],
    [
      'without a reason',
      { models: MODEL, environment: 'staging' },
      'workflow_dispatch',
      /mode rollback needs input reason/
    ],
    [
      'with two models',
      { models: `${MODEL},churn`, environment: 'staging', reason: REASON },
      'workflow_dispatch',
      /input models must name exactly one/
    ],
    [
      'on a pull request',
      { models: MODEL, environment: 'staging', reason: REASON },
      'pull_request',
      /not on a pull request/
    ]
  ])('fails %s and records nothing', async (_why, inputs, event, message) => {
    const ws = exampleWorkspace()
    await push(ws.dir, '0'.repeat(40), ws.sha)
    const run = await dispatch(ws.dir, inputs, event)
    expect(run.code).toBe(1)
    expect(run.stdout).toMatch(message)
    expect(fake.deployments).toHaveLength(1)
  })
})
