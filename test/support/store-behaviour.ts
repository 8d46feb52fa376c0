// What every champion store must do alike with lineage and rollbacks: each store's test file runs
// these cases against its own store and its own way of seeing what was written.
import { describe, expect, it } from '@jest/globals'
import type { Candidate, ChampionStore, GateResult, Lineage } from '../../src/types.js'

export interface StoreUnderTest {
  store: ChampionStore
  /** Everything the store has written so far, to show that a refused call wrote nothing. */
  written(): Promise<unknown>
}

const PASS: GateResult = {
  verdict: 'pass',
  hasChampion: false,
  metrics: [
    {
      metric: 'auc',
      candidate: 0.9,
      champion: undefined,
      delta: undefined,
      rule: '≥ 0.8',
      outcome: 'pass',
      reason: '0.9 ≥ 0.8'
    }
  ],
  notes: []
}
const FAIL: GateResult = { ...PASS, verdict: 'fail', hasChampion: true }

export const FULL_LINEAGE: Required<Omit<Lineage, 'rollback'>> = {
  modelUri: 'runs:/abc123/model',
  dataVersion: 'transactions@2025-02-28',
  trainedIn: 'staging',
  trainedSha: 'e'.repeat(40),
  trainingRunUrl: 'https://ci.example/runs/7',
  trigger: 'push by octocat',
  gateRules: { auc: { threshold: 0.8, min_absolute_change: -0.01, greater_is_better: true } },
  approvedBy: 'hubot'
}

let runs = 0
function candidate(sha: string, auc: number, over: Partial<Candidate> = {}): Candidate {
  const n = ++runs
  return {
    model: 'fraud',
    environment: 'staging',
    metrics: { auc },
    sha: sha.padEnd(40, sha.slice(-1)),
    ref: 'refs/heads/main',
    runId: `run-${n}`,
    runUrl: `https://ci.example/runs/${n}`,
    ...over
  }
}

const request = (over: { toSha?: string } = {}) => ({
  model: 'fraud',
  environment: 'staging',
  reason: 'auc dropped in production traffic',
  trigger: 'rollback by octocat',
  ...over
})

export function describeLineageAndRollback(setup: () => Promise<StoreUnderTest>): void {
  describe('lineage', () => {
    it('is read back whole from a promotion, as champion and in the history', async () => {
      const { store } = await setup()
      await store.promote(candidate('a', 0.9, FULL_LINEAGE), PASS)
      expect(await store.champion('fraud', 'staging')).toMatchObject(FULL_LINEAGE)
      expect((await store.history('fraud', 'staging'))[0]!.candidate).toMatchObject(FULL_LINEAGE)
    })

    it('is read back whole from a rejection', async () => {
      const { store } = await setup()
      await store.promote(candidate('a', 0.9), PASS)
      await store.reject(candidate('b', 0.7, FULL_LINEAGE), FAIL)
      const [rejected] = await store.history('fraud', 'staging')
      expect(rejected).toMatchObject({ outcome: 'rejected', candidate: FULL_LINEAGE })
    })

    it('is left out where unset', async () => {
      const { store } = await setup()
      await store.promote(candidate('a', 0.9), PASS)
      const champion = (await store.champion('fraud', 'staging'))!
      for (const key of Object.keys(FULL_LINEAGE)) expect(champion).not.toHaveProperty(key)
    })

    it('of a training started without waiting is read back whole', async () => {
      const { store } = await setup()
      if (!store.addPending || !store.pending) return
      await store.addPending({
        model: 'fraud',
        environment: 'staging',
        action: 'retrain',
        sha: 'b'.repeat(40),
        ref: 'refs/heads/main',
        runId: 'run-p',
        run: { backend: 'databricks', id: '77' },
        gate: { auc: { threshold: 0.8, greater_is_better: true } },
        startedAt: '2025-03-01T12:00:00.000Z',
        deadline: Date.UTC(2025, 2, 2),
        lineage: FULL_LINEAGE
      })
      expect((await store.pending())[0]?.lineage).toEqual(FULL_LINEAGE)
    })
  })

  describe('rollback', () => {
    it('restores the champion before the current one as a new rolled_back record', async () => {
      const { store } = await setup()
      await store.promote(candidate('a', 0.91, { modelUri: 'runs:/a/model' }), PASS)
      await store.promote(candidate('b', 0.95, { modelUri: 'runs:/b/model' }), PASS)
      const { restored, replaced } = await store.rollback(request())
      expect(replaced?.sha).toBe('b'.repeat(40))
      const expected = {
        sha: 'a'.repeat(40),
        metrics: { auc: 0.91 },
        modelUri: 'runs:/a/model',
        trigger: 'rollback by octocat',
        rollback: { reason: 'auc dropped in production traffic', replacedSha: 'b'.repeat(40) }
      }
      expect(restored).toMatchObject(expected)
      expect(await store.champion('fraud', 'staging')).toMatchObject(expected)
      const history = await store.history('fraud', 'staging')
      expect(history.map((p) => [p.outcome, p.candidate.sha[0]])).toEqual([
        ['rolled_back', 'a'],
        ['promoted', 'b'],
        ['promoted', 'a']
      ])
      expect(history[0]!.candidate).toMatchObject(expected)
      expect(history[0]!.gate.verdict).toBe('pass')
    })

    it('restores the commit named by a prefix, and a later promotion replaces it', async () => {
      const { store } = await setup()
      await store.promote(candidate('a', 0.91), PASS)
      await store.promote(candidate('b', 0.93), PASS)
      await store.promote(candidate('c', 0.95), PASS)
      const { restored } = await store.rollback(request({ toSha: 'a'.repeat(8) }))
      expect(restored).toMatchObject({ sha: 'a'.repeat(40), metrics: { auc: 0.91 } })
      expect((await store.champion('fraud', 'staging'))?.sha).toBe('a'.repeat(40))
      await store.promote(candidate('d', 0.96), PASS)
      expect((await store.champion('fraud', 'staging'))?.sha).toBe('d'.repeat(40))
      expect((await store.history('fraud', 'staging')).map((p) => p.outcome)).toEqual([
        'promoted',
        'rolled_back',
        'promoted',
        'promoted',
        'promoted'
      ])
    })

    it('restores an earlier artifact of the same commit', async () => {
      const { store } = await setup()
      await store.promote(candidate('a', 0.91, { modelUri: 'runs:/1/model' }), PASS)
      await store.promote(candidate('a', 0.94, { modelUri: 'runs:/2/model' }), PASS)
      const { restored } = await store.rollback(request())
      expect(restored).toMatchObject({ modelUri: 'runs:/1/model', metrics: { auc: 0.91 } })
    })

    it.each([
      ['there is no champion', [], {}, /no champion: there is nothing to roll back/],
      ['there is nothing earlier', ['a'], {}, /no earlier champion to restore; aaaaaaa/],
      [
        'no champion has the commit',
        ['a', 'b'],
        { toSha: 'f'.repeat(7) },
        /no champion was recorded at fffffff; known champions: bbbbbbb, aaaaaaa/
      ],
      ['the commit is the champion', ['a', 'b'], { toSha: 'b'.repeat(40) }, /already the champion/],
      ['the prefix is too short', ['a', 'b'], { toSha: 'aaa' }, /at least 7 hex digits/],
      ['the prefix is ambiguous', ['abcdef01', 'abcdef02', 'c'], { toSha: 'abcdef0' }, /several/]
    ])('is refused, writing nothing, when %s', async (_why, shas, over, message) => {
      const { store, written } = await setup()
      let auc = 0.9
      for (const sha of shas) await store.promote(candidate(sha, (auc += 0.01)), PASS)
      await store.reject(candidate('9', 0.5), FAIL)
      const before = await written()
      await expect(store.rollback(request(over))).rejects.toThrow(message)
      expect(await written()).toEqual(before)
    })
  })
}
