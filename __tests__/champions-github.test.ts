import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { deploymentTask, GithubChampionStore } from '../src/champions/github.js'
import { createOctokit, type Octokit, type RepoRef } from '../src/github.js'
import type { Candidate, GateResult } from '../src/types.js'
import { FakeGitHub } from '../test/fakes/github-server.js'
import { quietLogger } from '../test/support/logger.js'
import { describeLineageAndRollback } from '../test/support/store-behaviour.js'

const RUN_URL = 'https://github.com/o/r/actions/runs/99'

let fake: FakeGitHub
let octokit: Octokit
let repo: RepoRef

beforeEach(async () => {
  fake = await FakeGitHub.start()
  octokit = createOctokit('ghs_test', {
    baseUrl: fake.url,
    log: quietLogger,
    backoffBaseMs: 10,
    paceWrites: false
  })
  repo = { owner: fake.owner, repo: fake.repo }
})

afterEach(async () => {
  expect(fake.violations).toEqual([])
  await fake.close()
})

const store = () =>
  new GithubChampionStore(octokit, repo, quietLogger, {
    runUrl: RUN_URL,
    productionEnvironment: 'production'
  })

function candidate(sha: string, auc: number, over: Partial<Candidate> = {}): Candidate {
  return {
    model: 'fraud',
    environment: 'staging',
    metrics: { auc, latency_ms: 12 },
    sha: sha.repeat(40).slice(0, 40),
    ref: 'refs/heads/main',
    runId: `run-${sha}`,
    runUrl: `https://dbc.example/run/${sha}`,
    ...over
  }
}

function gate(verdict: 'pass' | 'fail', champion?: number): GateResult {
  return {
    verdict,
    hasChampion: champion !== undefined,
    metrics: [
      {
        metric: 'auc',
        candidate: verdict === 'pass' ? 0.93 : 0.8,
        champion,
        delta: champion === undefined ? undefined : (verdict === 'pass' ? 0.93 : 0.8) - champion,
        rule: '≥ 0.90',
        outcome: verdict,
        reason: verdict === 'pass' ? 'auc 0.93 ≥ 0.90' : 'auc 0.80 < 0.90'
      }
    ],
    notes:
      champion === undefined ? ['No champion yet: thresholds only, change rules not applied.'] : []
  }
}

describe('promote', () => {
  it('records a deployment with a success status, and becomes the champion', async () => {
    const promoted = await store().promote(candidate('1', 0.93), gate('pass'))
    expect(fake.deployments).toHaveLength(1)
    const d = fake.deployments[0]!
    expect(d).toMatchObject({
      sha: '1'.repeat(40),
      ref: '1'.repeat(40),
      task: 'ml-promote:fraud',
      environment: 'staging'
    })
    expect(d.payload).toMatchObject({
      model: 'fraud',
      metrics: { auc: 0.93, latency_ms: 12 },
      run_id: 'run-1',
      run_url: 'https://dbc.example/run/1',
      sha: '1'.repeat(40),
      ref: 'refs/heads/main',
      gate: { verdict: 'pass', metrics: [{ metric: 'auc', candidate: 0.93, outcome: 'pass' }] }
    })
    expect(d.statuses.map((s) => s.state)).toEqual(['success'])
    expect(d.statuses[0]!.description!.length).toBeLessThanOrEqual(140)

    const body = fake.calls.find(
      (c) => c.method === 'POST' && c.path.endsWith('/deployments')
    )!.body
    expect(body).toMatchObject({
      auto_merge: false,
      required_contexts: [],
      transient_environment: false,
      production_environment: false
    })
    const status = fake.calls.find((c) => c.method === 'POST' && c.path.endsWith('/statuses'))!.body
    expect(status).toMatchObject({
      state: 'success',
      log_url: 'https://dbc.example/run/1',
      auto_inactive: false
    })

    const champion = await store().champion('fraud', 'staging')
    expect(champion).toEqual(promoted)
    expect(champion).toMatchObject({
      model: 'fraud',
      environment: 'staging',
      metrics: { auc: 0.93, latency_ms: 12 },
      sha: '1'.repeat(40),
      runId: 'run-1',
      runUrl: 'https://dbc.example/run/1',
      ref_id: String(d.id)
    })
  })

  it('marks deployments to the last environment as production ones', async () => {
    await store().promote(candidate('1', 0.93, { environment: 'production' }), gate('pass'))
    const body = fake.calls.find(
      (c) => c.method === 'POST' && c.path.endsWith('/deployments')
    )!.body
    expect(body).toMatchObject({ environment: 'production', production_environment: true })
  })

  it('refuses a candidate whose gate failed', async () => {
    await expect(store().promote(candidate('1', 0.8), gate('fail'))).rejects.toThrow(
      /gate verdict is fail/
    )
    expect(fake.deployments).toHaveLength(0)
  })

  it('the newest promotion wins', async () => {
    const s = store()
    await s.promote(candidate('1', 0.91), gate('pass'))
    await s.promote(candidate('2', 0.93), gate('pass', 0.91))
    expect((await s.champion('fraud', 'staging'))?.sha).toBe('2'.repeat(40))
    expect((await store().champion('fraud', 'staging'))?.sha).toBe('2'.repeat(40))
  })
})

describe('reject', () => {
  it('records a failed deployment and keeps the previous champion', async () => {
    await store().promote(candidate('1', 0.93), gate('pass'))
    const s = store()
    await s.reject(candidate('2', 0.8), gate('fail', 0.93))
    expect(fake.deployments.map((d) => [d.sha[0], d.statuses.map((x) => x.state)])).toEqual([
      ['1', ['success']],
      ['2', ['failure']]
    ])
    expect((await s.champion('fraud', 'staging'))?.sha).toBe('1'.repeat(40))
    expect((await store().champion('fraud', 'staging'))?.sha).toBe('1'.repeat(40))
  })

  it('leaves no champion when nothing was ever promoted', async () => {
    await store().reject(candidate('2', 0.8), gate('fail'))
    expect(await store().champion('fraud', 'staging')).toBeUndefined()
  })
})

describe('what is not ours', () => {
  it('ignores the deployments Actions makes for environment: jobs', async () => {
    await store().promote(candidate('1', 0.93), gate('pass'))
    // An `environment: staging` job deploys later; GitHub's default retires earlier successes.
    const { data } = await octokit.rest.repos.createDeployment({
      ...repo,
      ref: '3'.repeat(40),
      environment: 'staging',
      auto_merge: false,
      required_contexts: []
    })
    expect('id' in data).toBe(true)
    if (!('id' in data)) return
    await octokit.rest.repos.createDeploymentStatus({
      ...repo,
      deployment_id: data.id,
      state: 'success'
    })
    expect(fake.deployments[1]!.task).toBe('deploy')

    const champion = await store().champion('fraud', 'staging')
    expect(champion?.sha).toBe('1'.repeat(40))
  })

  it('keeps environments apart', async () => {
    const s = store()
    await s.promote(candidate('1', 0.93), gate('pass'))
    await s.promote(candidate('2', 0.95, { environment: 'production' }), gate('pass'))
    expect((await store().champion('fraud', 'staging'))?.sha).toBe('1'.repeat(40))
    expect((await store().champion('fraud', 'production'))?.sha).toBe('2'.repeat(40))
    expect(await store().champion('fraud', 'qa')).toBeUndefined()
  })

  it('keeps models apart in the same environment', async () => {
    const s = store()
    await s.promote(candidate('1', 0.93), gate('pass'))
    await s.promote(candidate('2', 0.95, { model: 'churn' }), gate('pass'))
    expect((await store().champion('fraud', 'staging'))?.sha).toBe('1'.repeat(40))
    expect((await store().champion('churn', 'staging'))?.model).toBe('churn')
    expect(fake.deployments.map((d) => d.task)).toEqual([
      deploymentTask('fraud'),
      deploymentTask('churn')
    ])
  })
})

describe('API calls', () => {
  it('a gate of one model reads the champion in at most 3 calls, once per store', async () => {
    const writer = store()
    await writer.promote(candidate('1', 0.91), gate('pass'))
    await writer.promote(candidate('2', 0.93), gate('pass', 0.91))
    await writer.reject(candidate('3', 0.8), gate('fail', 0.93))
    await writer.reject(candidate('4', 0.8), gate('fail', 0.93))
    await writer.promote(candidate('9', 0.9, { model: 'churn' }), gate('pass'))

    const before = fake.calls.length
    const s = store()
    const champion = await s.champion('fraud', 'staging')
    expect(champion?.sha).toBe('2'.repeat(40))
    expect(fake.calls.length - before).toBeLessThanOrEqual(3)
    const afterRead = fake.calls.length
    await s.champion('fraud', 'staging')
    expect(fake.calls.length).toBe(afterRead)

    // Recording the outcome is two writes, and the store then knows the new champion.
    await s.promote(candidate('5', 0.95), gate('pass', 0.93))
    expect(fake.calls.length - afterRead).toBe(2)
    expect((await s.champion('fraud', 'staging'))?.sha).toBe('5'.repeat(40))
    expect(fake.calls.length - afterRead).toBe(2)
  })
})

describe('history', () => {
  it('lists promotions and rejections newest first, with their gates', async () => {
    const s = store()
    await s.promote(candidate('1', 0.93), gate('pass'))
    await s.reject(candidate('2', 0.8), gate('fail', 0.93))
    await s.promote(candidate('9', 0.9, { model: 'churn' }), gate('pass'))
    const history = await store().history('fraud', 'staging')
    expect(history.map((p) => [p.candidate.sha[0], p.outcome, p.gate.verdict])).toEqual([
      ['2', 'rejected', 'fail'],
      ['1', 'promoted', 'pass']
    ])
    expect(history[0]!.candidate).toEqual(candidate('2', 0.8))
    expect(history[0]!.gate.metrics[0]).toMatchObject({
      metric: 'auc',
      candidate: 0.8,
      champion: 0.93,
      outcome: 'fail'
    })
    expect(history[0]!.gate.metrics[0]!.delta).toBeCloseTo(-0.13)
    expect(history[0]!.gate.hasChampion).toBe(true)
  })
})

describe('permissions', () => {
  it('explains a missing deployments: write permission', async () => {
    fake.inject({ method: 'POST', path: /\/deployments$/, times: 5, kind: 'status', status: 403 })
    await expect(store().promote(candidate('1', 0.93), gate('pass'))).rejects.toThrow(
      /deployments: write/
    )
  })
})

describeLineageAndRollback(async () => ({
  store: store(),
  written: async () => fake.calls.filter((c) => c.method !== 'GET').length
}))
