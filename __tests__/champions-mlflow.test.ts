import { afterEach, describe, expect, it } from '@jest/globals'
import { MlflowChampionStore, TAGS } from '../src/champions/mlflow.js'
import type { Candidate, GateResult } from '../src/types.js'
import { VirtualClock } from '../test/fakes/clock.js'
import { FakeMlflow, type FakeMlflowOptions } from '../test/fakes/mlflow-server.js'
import { recordingLogger } from '../test/support/logger.js'
import { describeLineageAndRollback } from '../test/support/store-behaviour.js'

const PASS: GateResult = {
  verdict: 'pass',
  hasChampion: false,
  metrics: [
    {
      metric: 'auc',
      candidate: 0.93,
      champion: undefined,
      delta: undefined,
      rule: '≥ 0.9',
      outcome: 'pass',
      reason: '0.93 ≥ 0.9'
    }
  ],
  notes: ['No champion yet: thresholds only.']
}
const FAIL: GateResult = {
  verdict: 'fail',
  hasChampion: true,
  metrics: [
    {
      metric: 'auc',
      candidate: 0.85,
      champion: 0.93,
      delta: -0.08,
      rule: '≥ 0.9',
      outcome: 'fail',
      reason: '0.85 is below the threshold 0.9'
    }
  ],
  notes: []
}

function candidate(over: Partial<Candidate> = {}): Candidate {
  return {
    model: 'fraud',
    environment: 'staging',
    metrics: { auc: 0.93, recall: 0.81 },
    sha: 'b'.repeat(40),
    ref: 'refs/heads/main',
    runId: '1001',
    runUrl: 'https://github.com/acme/fraud/actions/runs/1001',
    ...over
  }
}

let fake: FakeMlflow | undefined
afterEach(async () => {
  await fake?.close()
  fake = undefined
})

const OSS_NAME = 'fraud-staging'
const UC_NAME = 'staging.ml.fraud'

async function setup(
  opts: { uc?: boolean; env?: NodeJS.ProcessEnv; fake?: FakeMlflowOptions } = {}
) {
  fake = await FakeMlflow.start(opts.fake)
  const log = recordingLogger()
  const uc = opts.uc ?? false
  const store = new MlflowChampionStore({
    trackingUri: fake.url,
    registeredModel: (model, env) => (uc ? `${env}.ml.${model}` : `${model}-${env}`),
    unityCatalog: uc,
    env: opts.env ?? {},
    log,
    clock: new VirtualClock(),
    now: () => new Date('2025-03-01T12:00:00Z')
  })
  return { fake, store, log }
}

describe('mlflow store: no champion', () => {
  it('is undefined when the registered model does not exist', async () => {
    const { fake, store } = await setup()
    expect(await store.champion('fraud', 'staging')).toBeUndefined()
    expect(fake.calls[0]?.status).toBe(404)
    expect(fake.violations).toEqual([])
  })

  it('is undefined when no version has the champion alias', async () => {
    const { fake, store } = await setup()
    fake.addVersion(OSS_NAME, { aliases: ['challenger'] })
    expect(await store.champion('fraud', 'staging')).toBeUndefined()
  })

  it('has an empty history', async () => {
    const { store } = await setup()
    expect(await store.history('fraud', 'staging')).toEqual([])
  })
})

describe('mlflow store: promote', () => {
  it('creates a version with the results as tags, sets challenger, then champion', async () => {
    const { fake, store } = await setup()
    const champion = await store.promote(candidate(), PASS)

    expect(fake.writes()).toEqual(['createModel', 'createVersion', 'setAlias', 'setAlias'])
    const aliasCalls = fake.calls
      .filter((c) => c.op === 'setAlias')
      .map((c) => (c.body as { alias: string }).alias)
    expect(aliasCalls).toEqual(['challenger', 'champion'])
    expect(fake.aliasOf(OSS_NAME, 'champion')).toBe(1)
    expect(fake.aliasOf(OSS_NAME, 'challenger')).toBe(1)
    const v = fake.version(OSS_NAME, 1)!
    expect(v.source).toBe('https://github.com/acme/fraud/actions/runs/1001')
    expect(v.run_link).toBe('https://github.com/acme/fraud/actions/runs/1001')
    expect(JSON.parse(v.tags[TAGS.metrics]!)).toEqual({ auc: 0.93, recall: 0.81 })
    expect(v.tags[TAGS.sha]).toBe('b'.repeat(40))
    expect(v.tags[TAGS.outcome]).toBe('promoted')
    expect(champion).toMatchObject({
      model: 'fraud',
      environment: 'staging',
      sha: 'b'.repeat(40),
      runId: '1001',
      ref_id: `${OSS_NAME}/1`,
      promotedAt: '2025-03-01T12:00:00.000Z'
    })
    expect(fake.violations).toEqual([])
  })

  it('reads back the champion it recorded', async () => {
    const { store } = await setup()
    await store.promote(candidate(), PASS)
    expect(await store.champion('fraud', 'staging')).toEqual({
      model: 'fraud',
      environment: 'staging',
      metrics: { auc: 0.93, recall: 0.81 },
      sha: 'b'.repeat(40),
      ref: 'refs/heads/main',
      runId: '1001',
      runUrl: 'https://github.com/acme/fraud/actions/runs/1001',
      promotedAt: '2025-03-01T12:00:00.000Z',
      ref_id: `${OSS_NAME}/1`
    })
  })

  it('moves the champion alias to the newer version', async () => {
    const { fake, store } = await setup()
    await store.promote(candidate(), PASS)
    await store.promote(
      candidate({ runId: '1002', sha: 'c'.repeat(40), metrics: { auc: 0.95 } }),
      PASS
    )
    expect(fake.aliasOf(OSS_NAME, 'champion')).toBe(2)
    expect((await store.champion('fraud', 'staging'))?.metrics).toEqual({ auc: 0.95 })
    expect(fake.count('createModel')).toBe(2)
  })

  it('reuses the version of an earlier attempt of the same run instead of creating another', async () => {
    const { fake, store } = await setup()
    await store.promote(candidate(), PASS)
    await store.promote(candidate(), PASS)
    expect(fake.models.get(OSS_NAME)?.versions).toHaveLength(1)
    expect(fake.count('createVersion')).toBe(1)
  })

  it('uses a ml-promote: source when the candidate has no run URL', async () => {
    const { fake, store } = await setup()
    await store.promote(candidate({ runUrl: undefined }), PASS)
    expect(fake.version(OSS_NAME, 1)?.source).toBe(`ml-promote:/fraud/staging/${'b'.repeat(40)}`)
  })

  it('refuses a candidate whose gate failed', async () => {
    const { fake, store } = await setup()
    await expect(store.promote(candidate(), FAIL)).rejects.toThrow(/gate verdict is fail/)
    expect(fake.calls).toEqual([])
  })

  it('retries a 503 on the alias and still sets both aliases once', async () => {
    const { fake, store } = await setup()
    fake.inject({ op: 'setAlias', status: 503, retryAfter: '1' })
    await store.promote(candidate(), PASS)
    expect(fake.aliasOf(OSS_NAME, 'champion')).toBe(1)
    expect(fake.calls.filter((c) => c.op === 'setAlias').map((c) => c.status)).toEqual([
      503, 200, 200
    ])
  })

  it('does not resend a version create that failed with a 500', async () => {
    const { fake, store } = await setup()
    fake.inject({ op: 'createVersion', status: 500 })
    await expect(store.promote(candidate(), PASS)).rejects.toThrow(
      /Could not create a version of fraud-staging/
    )
    expect(fake.count('createVersion')).toBe(1)
    expect(fake.aliasOf(OSS_NAME, 'champion')).toBeUndefined()
  })
})

describe('mlflow store: reject', () => {
  it('tags the candidate version rejected and keeps the champion', async () => {
    const { fake, store } = await setup()
    await store.promote(candidate(), PASS)
    await store.reject(candidate({ runId: '1002', metrics: { auc: 0.85 } }), FAIL)
    expect(fake.aliasOf(OSS_NAME, 'champion')).toBe(1)
    const rejected = fake.version(OSS_NAME, 2)!
    expect(rejected.tags[TAGS.rejected]).toBe('auc: 0.85 is below the threshold 0.9')
    expect(rejected.tags[TAGS.outcome]).toBe('rejected')
    expect(fake.calls.filter((c) => c.op === 'setAlias')).toHaveLength(2)
    expect((await store.champion('fraud', 'staging'))?.runId).toBe('1001')
  })
})

describe('mlflow store: history', () => {
  it('lists promotions and rejections newest first, across result pages', async () => {
    const { store } = await setup({ fake: { pageSize: 1 } })
    await store.promote(candidate(), PASS)
    await store.reject(candidate({ runId: '1002', metrics: { auc: 0.85 } }), FAIL)
    await store.promote(candidate({ runId: '1003', metrics: { auc: 0.96 } }), PASS)
    const history = await store.history('fraud', 'staging')
    expect(history.map((p) => [p.candidate.runId, p.outcome])).toEqual([
      ['1003', 'promoted'],
      ['1002', 'rejected'],
      ['1001', 'promoted']
    ])
    expect(history[1]?.gate).toEqual(FAIL)
    expect(history[1]?.candidate.metrics).toEqual({ auc: 0.85 })
  })
})

describe('mlflow store: a champion set outside ml-promote', () => {
  it('takes the metrics and commit from the version’s MLflow run', async () => {
    const { fake, store } = await setup()
    fake.addRun({
      run_id: 'abc123',
      metrics: { auc: 0.9 },
      tags: { 'mlflow.source.git.commit': 'd'.repeat(40) }
    })
    fake.addVersion(OSS_NAME, { run_id: 'abc123', aliases: ['champion'] })
    const champion = await store.champion('fraud', 'staging')
    expect(champion).toMatchObject({
      metrics: { auc: 0.9 },
      sha: 'd'.repeat(40),
      runId: 'abc123',
      ref_id: `${OSS_NAME}/1`
    })
    expect(fake.count('getRun')).toBe(1)
  })
})

describe('mlflow store: Unity Catalog', () => {
  it('finds no champion through the Unity Catalog alias endpoint', async () => {
    const { fake, store } = await setup({ uc: true })
    fake.addModel(UC_NAME, true)
    expect(await store.champion('fraud', 'staging')).toBeUndefined()
    expect(fake.calls.map((c) => c.op)).toEqual(['ucGetAlias'])
    expect(fake.calls[0]?.path).toBe(`/api/2.1/unity-catalog/models/${UC_NAME}/aliases/champion`)
  })

  it('promotes the version training registered: tags it, then PUTs challenger and champion', async () => {
    const { fake, store } = await setup({ uc: true })
    fake.addModel(UC_NAME, true)
    fake.addVersion(UC_NAME, { run_id: 'r-1', tags: { [TAGS.runId]: '1001' } })
    await store.promote(candidate({ environment: 'staging' }), PASS)
    const writes = fake.writes()
    expect(writes.slice(-2)).toEqual(['ucSetAlias', 'ucSetAlias'])
    expect(writes.slice(0, -2).every((op) => op === 'ucSetTag')).toBe(true)
    expect(fake.calls.filter((c) => c.op === 'ucSetAlias').map((c) => c.path)).toEqual([
      `/api/2.1/unity-catalog/models/${UC_NAME}/aliases/challenger`,
      `/api/2.1/unity-catalog/models/${UC_NAME}/aliases/champion`
    ])
    expect(fake.aliasOf(UC_NAME, 'champion')).toBe(1)
    expect(await store.champion('fraud', 'staging')).toMatchObject({
      metrics: { auc: 0.93, recall: 0.81 },
      runId: '1001',
      ref_id: `${UC_NAME}/1`
    })
    expect(
      fake.calls.some((c) => c.op === 'createVersion' || c.op === 'setAlias' || c.op === 'getAlias')
    ).toBe(false)
    expect(fake.violations).toEqual([])
  })

  it('explains that training must register the version', async () => {
    const { fake, store } = await setup({ uc: true })
    fake.addModel(UC_NAME, true)
    await expect(store.promote(candidate(), PASS)).rejects.toThrow(
      /training registers the version itself.*ml_promote\.run_id/
    )
    expect(fake.aliasOf(UC_NAME, 'champion')).toBeUndefined()
  })

  it('rejects by tagging, leaving the champion', async () => {
    const { fake, store } = await setup({ uc: true })
    fake.addModel(UC_NAME, true)
    fake.addVersion(UC_NAME, { tags: { [TAGS.runId]: '1000' }, aliases: ['champion'] })
    fake.addVersion(UC_NAME, { tags: { [TAGS.runId]: '1001' } })
    await store.reject(candidate(), FAIL)
    expect(fake.version(UC_NAME, 2)?.tags[TAGS.rejected]).toContain('auc')
    expect(fake.aliasOf(UC_NAME, 'champion')).toBe(1)
  })
})

describe('mlflow store: credentials', () => {
  it.each([
    { env: { MLFLOW_TRACKING_TOKEN: 't0k' }, header: 'Bearer t0k', secret: 't0k' },
    {
      env: { MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p' },
      header: `Basic ${Buffer.from('u:p').toString('base64')}`,
      secret: 'p'
    },
    { env: { DATABRICKS_TOKEN: 'dapi1' }, header: 'Bearer dapi1', secret: 'dapi1' }
  ])('sends $header', async ({ env, header, secret }) => {
    const { store, log } = await setup({ env, fake: { accept: [header] } })
    expect(await store.champion('fraud', 'staging')).toBeUndefined()
    expect(log.secrets).toContain(secret)
  })

  it('says which variables to set on 401', async () => {
    const { store } = await setup({ fake: { accept: ['Bearer right'] } })
    await expect(store.champion('fraud', 'staging')).rejects.toThrow(
      /401.*set MLFLOW_TRACKING_TOKEN/
    )
  })
})

describeLineageAndRollback(async () => {
  const { fake, store } = await setup()
  return { store, written: async () => fake.writes().length }
})

describe('mlflow store: rollback', () => {
  it('moves the champion alias back and tags the restored version, leaving the other as it was', async () => {
    const { fake, store } = await setup()
    await store.promote(candidate({ runId: '1', sha: 'a'.repeat(40) }), PASS)
    await store.promote(candidate({ runId: '2', sha: 'c'.repeat(40) }), PASS)
    const replacedTags = { ...fake.version(OSS_NAME, 2)!.tags }
    await store.rollback({
      model: 'fraud',
      environment: 'staging',
      reason: 'drift',
      trigger: 'rollback by octocat'
    })
    expect(fake.aliasOf(OSS_NAME, 'champion')).toBe(1)
    expect(JSON.parse(fake.version(OSS_NAME, 1)!.tags[`${TAGS.rolledBack}1`]!)).toEqual({
      at: '2025-03-01T12:00:00.000Z',
      reason: 'drift',
      replaced_sha: 'c'.repeat(40),
      trigger: 'rollback by octocat',
      after: 2
    })
    expect(fake.version(OSS_NAME, 2)!.tags).toEqual(replacedTags)
    expect(fake.violations).toEqual([])
  })
})

describe('mlflow store: rollback in Unity Catalog', () => {
  it('tags the restored version and PUTs the champion alias back to it', async () => {
    const { fake, store } = await setup({ uc: true })
    fake.addModel(UC_NAME, true)
    fake.addVersion(UC_NAME, { tags: { [TAGS.runId]: '1' } })
    fake.addVersion(UC_NAME, { tags: { [TAGS.runId]: '2' } })
    await store.promote(candidate({ runId: '1', sha: 'a'.repeat(40) }), PASS)
    await store.promote(candidate({ runId: '2', sha: 'c'.repeat(40) }), PASS)
    const before = fake.writes().length
    const { restored } = await store.rollback({
      model: 'fraud',
      environment: 'staging',
      toSha: 'aaaaaaa',
      reason: 'drift',
      trigger: 'rollback by octocat'
    })
    expect(fake.writes().slice(before)).toEqual(['ucSetTag', 'ucSetAlias'])
    expect(fake.aliasOf(UC_NAME, 'champion')).toBe(1)
    expect(restored).toMatchObject({ sha: 'a'.repeat(40), ref_id: `${UC_NAME}/1` })
    expect(await store.champion('fraud', 'staging')).toMatchObject({
      sha: 'a'.repeat(40),
      rollback: { reason: 'drift', replacedSha: 'c'.repeat(40) }
    })
    expect(fake.violations).toEqual([])
  })
})
