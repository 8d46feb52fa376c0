import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { FileChampionStore, type StoreFs } from '../src/champions/file.js'
import { CLAIM_TTL_MS, type Candidate, type GateResult } from '../src/types.js'
import { describeLineageAndRollback } from '../test/support/store-behaviour.js'

let root: string
let counter = 0

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'ml-promote-file-store-'))
})

afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true })
})

function freshDir(): string {
  return path.join(root, `store-${++counter}`, '.ml-promote')
}

function clock(start = Date.UTC(2025, 0, 6, 9, 0, 0)): () => Date {
  let t = start
  return () => new Date((t += 60_000))
}

function candidate(overrides: Partial<Candidate> = {}): Candidate {
  return {
    model: 'fraud-detector',
    environment: 'staging',
    metrics: { auc: 0.93, recall: 0.81 },
    sha: 'a'.repeat(40),
    ref: 'refs/heads/main',
    runId: 'run-1',
    ...overrides
  }
}

const pass: GateResult = { verdict: 'pass', hasChampion: false, metrics: [], notes: [] }
const fail: GateResult = { verdict: 'fail', hasChampion: true, metrics: [], notes: ['auc dropped'] }

describe('an empty store', () => {
  it('has no champion and no history, and writes nothing', async () => {
    const dir = freshDir()
    const store = new FileChampionStore(dir)
    expect(await store.champion('fraud-detector', 'staging')).toBeUndefined()
    expect(await store.history('fraud-detector', 'staging')).toEqual([])
    await expect(fs.stat(dir)).rejects.toMatchObject({ code: 'ENOENT' })
  })
})

describe('promote and reject', () => {
  it('promote records the candidate as champion, stamped by the clock', async () => {
    const store = new FileChampionStore(freshDir(), { now: clock() })
    const champion = await store.promote(candidate({ runUrl: 'https://ci.example/runs/1' }), pass)
    expect(champion).toEqual({
      model: 'fraud-detector',
      environment: 'staging',
      metrics: { auc: 0.93, recall: 0.81 },
      sha: 'a'.repeat(40),
      ref: 'refs/heads/main',
      runId: 'run-1',
      runUrl: 'https://ci.example/runs/1',
      promotedAt: '2025-01-06T09:01:00.000Z'
    })
    expect(await store.champion('fraud-detector', 'staging')).toEqual(champion)
  })

  it('reject records the candidate and keeps the champion', async () => {
    const store = new FileChampionStore(freshDir(), { now: clock() })
    const champion = await store.promote(candidate(), pass)
    await store.reject(candidate({ runId: 'run-2', metrics: { auc: 0.8 } }), fail)
    expect(await store.champion('fraud-detector', 'staging')).toEqual(champion)
    const [latest] = await store.history('fraud-detector', 'staging')
    expect(latest).toEqual({
      candidate: candidate({ runId: 'run-2', metrics: { auc: 0.8 } }),
      gate: fail,
      at: '2025-01-06T09:02:00.000Z',
      outcome: 'rejected'
    })
  })

  it('refuses to promote a candidate whose gate failed', async () => {
    const store = new FileChampionStore(freshDir())
    await expect(store.promote(candidate(), fail)).rejects.toThrow(
      'refusing to promote fraud-detector in staging: its gate verdict is fail'
    )
    expect(await store.champion('fraud-detector', 'staging')).toBeUndefined()
  })

  it('keeps champions per environment and per model', async () => {
    const store = new FileChampionStore(freshDir(), { now: clock() })
    const staging = await store.promote(candidate({ runId: 'staging-1' }), pass)
    const production = await store.promote(
      candidate({ environment: 'production', runId: 'prod-1', metrics: { auc: 0.95 } }),
      pass
    )
    await store.reject(candidate({ environment: 'production', runId: 'prod-2' }), fail)
    const churn = await store.promote(candidate({ model: 'churn', runId: 'churn-1' }), pass)

    expect(await store.champion('fraud-detector', 'staging')).toEqual(staging)
    expect(await store.champion('fraud-detector', 'production')).toEqual(production)
    expect(await store.champion('churn', 'staging')).toEqual(churn)
    expect(await store.champion('churn', 'production')).toBeUndefined()
    expect(
      (await store.history('fraud-detector', 'staging')).map((p) => p.candidate.runId)
    ).toEqual(['staging-1'])
  })

  it('lists history newest first, for one model and environment only', async () => {
    const store = new FileChampionStore(freshDir(), { now: clock() })
    await store.promote(candidate({ runId: 'r1' }), pass)
    await store.reject(candidate({ runId: 'r2' }), fail)
    await store.promote(candidate({ runId: 'other-env', environment: 'production' }), pass)
    await store.promote(candidate({ runId: 'r3' }), pass)
    const history = await store.history('fraud-detector', 'staging')
    expect(history.map((p) => [p.candidate.runId, p.outcome])).toEqual([
      ['r3', 'promoted'],
      ['r2', 'rejected'],
      ['r1', 'promoted']
    ])
  })
})

describe('persistence', () => {
  it('a new instance on the same directory sees what an earlier one wrote', async () => {
    const dir = freshDir()
    const champion = await new FileChampionStore(dir, { now: clock() }).promote(candidate(), pass)
    const reopened = new FileChampionStore(dir)
    expect(await reopened.champion('fraud-detector', 'staging')).toEqual(champion)
    expect(await reopened.history('fraud-detector', 'staging')).toHaveLength(1)
  })

  it('writes one versioned state.json and nothing else', async () => {
    const dir = freshDir()
    const store = new FileChampionStore(dir, { now: clock() })
    await store.promote(candidate(), pass)
    await store.reject(candidate({ runId: 'run-2' }), fail)
    expect(await fs.readdir(dir)).toEqual(['state.json'])
    const state = JSON.parse(await fs.readFile(path.join(dir, 'state.json'), 'utf8'))
    expect(state.version).toBe(1)
    expect(Object.keys(state.champions)).toEqual(['fraud-detector'])
    expect(state.history).toHaveLength(2)
    expect(store.file).toBe(path.join(dir, 'state.json'))
  })

  it('loses no update when many writes race, across instances on one directory', async () => {
    const dir = freshDir()
    const a = new FileChampionStore(dir)
    const b = new FileChampionStore(dir)
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? a : b)[i % 3 ? 'promote' : 'reject'](candidate({ runId: `r${i}` }), pass)
      )
    )
    const history = await new FileChampionStore(dir).history('fraud-detector', 'staging')
    expect(history.map((p) => p.candidate.runId).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `r${i}`).sort()
    )
  })
})

describe('atomic writes', () => {
  async function seeded(): Promise<{ dir: string; before: string }> {
    const dir = freshDir()
    await new FileChampionStore(dir, { now: clock() }).promote(candidate({ runId: 'old' }), pass)
    return { dir, before: await fs.readFile(path.join(dir, 'state.json'), 'utf8') }
  }

  it('a failed rename leaves the old file intact and no temporary file behind', async () => {
    const { dir, before } = await seeded()
    const broken: StoreFs = {
      ...fs,
      rename: async () => {
        throw Object.assign(new Error('EIO: i/o error, rename'), { code: 'EIO' })
      }
    }
    const store = new FileChampionStore(dir, { fs: broken })
    await expect(store.promote(candidate({ runId: 'new' }), pass)).rejects.toThrow(
      `champion store ${path.join(dir, 'state.json')} could not be written: EIO: i/o error, rename`
    )
    expect(await fs.readFile(path.join(dir, 'state.json'), 'utf8')).toBe(before)
    expect(await fs.readdir(dir)).toEqual(['state.json'])
    expect((await new FileChampionStore(dir).champion('fraud-detector', 'staging'))?.runId).toBe(
      'old'
    )
  })

  it('a crash before the rename leaves the old state readable, whatever the temporary file holds', async () => {
    const { dir, before } = await seeded()
    // The process "dies" after writing half of the new state: no rename and no cleanup happen.
    const crashing: StoreFs = {
      ...fs,
      open: async (file, flags) => {
        const handle = await fs.open(file, flags)
        if (!file.endsWith('.tmp')) return handle
        return Object.assign(Object.create(handle), {
          writeFile: async (data: string) => {
            await handle.writeFile(data.slice(0, data.length / 2))
            throw new Error('killed')
          },
          close: () => handle.close()
        })
      },
      rm: async () => undefined
    }
    await expect(
      new FileChampionStore(dir, { fs: crashing }).promote(candidate({ runId: 'new' }), pass)
    ).rejects.toThrow('killed')

    const leftovers = (await fs.readdir(dir)).filter((f) => f !== 'state.json')
    expect(leftovers).toEqual([expect.stringMatching(/^state\.json\.\d+\.[0-9a-f]+\.tmp$/)])
    expect(await fs.readFile(path.join(dir, 'state.json'), 'utf8')).toBe(before)
    const store = new FileChampionStore(dir)
    expect((await store.champion('fraud-detector', 'staging'))?.runId).toBe('old')
    // The next write goes through and ignores the leftover.
    await store.promote(candidate({ runId: 'next' }), pass)
    expect((await store.champion('fraud-detector', 'staging'))?.runId).toBe('next')
  })
})

describe('a damaged state file', () => {
  it.each([
    [
      'truncated JSON',
      '{"version": 1, "champions": {',
      /is corrupt \(not valid JSON: .+\); repair or remove it$/
    ],
    ['not an object', '[]', /is corrupt \(not a JSON object\)/],
    [
      'champions of the wrong shape',
      '{"version":1,"champions":{"m":3},"history":[]}',
      /"champions" must map/
    ],
    [
      'history of the wrong shape',
      '{"version":1,"champions":{},"history":{}}',
      /"history" must be an array/
    ],
    [
      'another version',
      '{"version":2,"champions":{},"history":[]}',
      /has version 2; this ml-promote reads version 1$/
    ]
  ])('%s is reported with the file name and never overwritten', async (_what, content, message) => {
    const dir = freshDir()
    await fs.mkdir(dir, { recursive: true })
    const file = path.join(dir, 'state.json')
    await fs.writeFile(file, content)
    const store = new FileChampionStore(dir)
    const err = await store.champion('fraud-detector', 'staging').catch((e: unknown) => e)
    expect((err as Error).message).toMatch(message)
    expect((err as Error).message).toContain(`champion store ${file} `)
    await expect(store.promote(candidate(), pass)).rejects.toThrow(file)
    expect(await fs.readFile(file, 'utf8')).toBe(content)
  })
})

describe('trainings started without waiting', () => {
  const record = (id: string, environment = 'staging') => ({
    model: 'fraud-detector',
    environment,
    action: 'gate' as const,
    sha: 'b'.repeat(40),
    ref: 'refs/heads/feature',
    runId: 'run-9',
    run: { backend: 'databricks', id, url: `https://dbc.example/run/${id}` },
    gate: { auc: { threshold: 0.9, greater_is_better: true } },
    pullNumber: 4,
    startedAt: '2025-01-06T09:00:00.000Z',
    deadline: Date.UTC(2025, 0, 6, 15)
  })

  it('are all listed from one read until resolved, and survive a new instance', async () => {
    const dir = freshDir()
    const store = new FileChampionStore(dir)
    const a = await store.addPending(record('11'))
    await store.addPending(record('12', 'production'))
    expect((await store.pending()).map((p) => [p.environment, p.run.id])).toEqual([
      ['staging', '11'],
      ['production', '12']
    ])
    const again = new FileChampionStore(dir)
    await again.resolvePending(a)
    expect((await store.pending()).map((p) => p.run.id)).toEqual(['12'])
    expect(await store.champion('fraud-detector', 'staging')).toBeUndefined()
  })

  it('one process at a time holds the claim on a training; a stale claim is taken over', async () => {
    const dir = freshDir()
    const one = new FileChampionStore(dir)
    const two = new FileChampionStore(dir)
    const p = await one.addPending(record('31'))
    const claims = await Promise.all([one.claimPending(p), two.claimPending(p)])
    expect(claims.filter(Boolean)).toHaveLength(1)
    expect(await two.claimPending(p)).toBe(false)
    // A claim left by a killed process grows old: the next reconcile takes it over.
    const old = new Date(Date.now() - CLAIM_TTL_MS - 1000)
    await fs.utimes(path.join(dir, 'claims', p.id), old, old)
    expect(await two.claimPending(p)).toBe(true)
    await two.resolvePending(p)
    expect(await one.claimPending(p)).toBe(false)
    await expect(fs.readdir(path.join(dir, 'claims'))).resolves.toEqual([])
  })

  it('a re-run that attached to the same remote run replaces its record instead of adding one', async () => {
    const store = new FileChampionStore(freshDir())
    const first = await store.addPending(record('21'))
    const second = await store.addPending({
      ...record('21'),
      startedAt: '2025-01-06T09:05:00.000Z'
    })
    expect(second.id).toBe(first.id)
    const listed = await store.pending()
    expect(listed).toHaveLength(1)
    expect(listed[0]!.startedAt).toBe('2025-01-06T09:05:00.000Z')
  })
})

describeLineageAndRollback(async () => {
  const dir = freshDir()
  const store = new FileChampionStore(dir, { now: clock() })
  return {
    store,
    written: () => fs.readFile(path.join(dir, 'state.json'), 'utf8').catch(() => 'no file')
  }
})
