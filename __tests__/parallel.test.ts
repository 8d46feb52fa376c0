// Many models in one repository: the planner picks exactly the models a change concerns, and the
// engine runs their trainings side by side within the bound, each result kept whatever the others do.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { loadConfig } from '../src/config/load.js'
import type { Config } from '../src/config/schema.js'
import { parallelism } from '../src/engine.js'
import { DEFAULT_MAX_PARALLEL, defaultLocalParallel, limiter } from '../src/limit.js'
import { plan } from '../src/plan.js'
import type { Backend } from '../src/types.js'
import { CountingBackend, retrainAll } from '../test/fakes/counting-backend.js'

let root: string
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'ml-promote-parallel-'))
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

/** A monorepo: `count` models under models/<name>/, three of them also reading libs/features/. */
function monorepo(count: number, backend: 'command' | 'databricks', extra = ''): Config {
  const models = Array.from({ length: count }, (_, i) => {
    const name = `m${String(i).padStart(3, '0')}`
    const paths = [`models/${name}/**`, ...(i < 3 ? ['libs/features/**'] : [])]
    const train =
      backend === 'command'
        ? `{ backend: command, run: "python3 train.py", metrics: out/${name}.json }`
        : `{ backend: databricks, host: "https://adb-1.azuredatabricks.net", job: ${name} }`
    return `  ${name}:\n    paths: ${JSON.stringify(paths)}\n    train: ${train}\n    gate: { auc: { threshold: 0.5 } }`
  })
  const text = `version: 1\n${extra}environments:\n  staging: { branch: main }\n  production: { branch: release }\nmodels:\n${models.join('\n')}\n`
  const result = loadConfig(text, '.github/ml-promote.yml')
  if (!result.config) throw new Error(JSON.stringify(result.problems))
  return result.config
}

function run(config: Config, backend: Backend, maxParallel?: number) {
  return retrainAll(config, backend, root, { maxParallel })
}

describe('the planner over a monorepo', () => {
  const config = monorepo(12, 'databricks')
  const concerned = (changedFiles: string[]) =>
    plan(config, {
      event: 'pull_request',
      branch: 'feature',
      base: 'main',
      mode: 'auto',
      changedFiles
    })
      .items.filter((i) => i.action !== 'skip')
      .map((i) => i.model)

  it('a change to one model concerns that model only', () => {
    expect(concerned(['models/m007/train.py'])).toEqual(['m007'])
  })

  it('a shared path concerns every model that reads it', () => {
    expect(concerned(['libs/features/encode.py'])).toEqual(['m000', 'm001', 'm002'])
  })

  it('changes to several models and a shared path concern their union, once each', () => {
    expect(
      concerned(['models/m011/a.py', 'libs/features/x.py', 'models/m001/b.py', 'README.md'])
    ).toEqual(['m000', 'm001', 'm002', 'm011'])
  })

  it('a change outside every path concerns nothing', () => {
    expect(concerned(['docs/index.md'])).toEqual([])
  })
})

describe('bounded concurrency', () => {
  it('the limiter never runs more than its bound and runs everything', async () => {
    const limit = limiter(3)
    let active = 0
    let peak = 0
    const done = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limit(async () => {
          active++
          peak = Math.max(peak, active)
          await new Promise((r) => setTimeout(r, 5))
          active--
          if (i === 4) throw new Error('boom')
          return i
        }).catch(() => -1)
      )
    )
    expect(peak).toBe(3)
    expect(done.filter((d) => d >= 0)).toHaveLength(19)
  })

  it('rejects a bound that is not a whole number ≥ 1', () => {
    expect(() => limiter(0)).toThrow(RangeError)
    expect(() => limiter(1.5)).toThrow(RangeError)
  })

  it(`50 remote trainings run ${DEFAULT_MAX_PARALLEL} at a time by default`, async () => {
    const backend = new CountingBackend(20)
    const results = await run(monorepo(50, 'databricks'), backend)
    expect(backend.peak).toBe(DEFAULT_MAX_PARALLEL)
    expect(results.filter((r) => r.verdict === 'pass')).toHaveLength(50)
  })

  it('max-parallel bounds them to N', async () => {
    const backend = new CountingBackend(10)
    await run(monorepo(20, 'databricks'), backend, 3)
    expect(backend.peak).toBe(3)
    expect(backend.started).toHaveLength(20)
  })

  it("the config's max_parallel is read and checked with its line", () => {
    expect(monorepo(2, 'databricks', 'max_parallel: 4\n').maxParallel).toBe(4)
    expect(monorepo(2, 'databricks').maxParallel).toBeUndefined()
    const problems = loadConfig(
      'version: 1\nmax_parallel: 0\nenvironments: { staging: { branch: main } }\nmodels: { a: { train: { backend: command, run: x, metrics: m.json }, gate: { auc: { threshold: 1 } } } }\n',
      'ml-promote.yml'
    ).problems
    expect(problems.map((p) => `${p.line}:${p.col} ${p.message}`)).toEqual([
      expect.stringMatching(/^2:\d+ .*max_parallel/)
    ])
  })

  it('runner trainings take at most one core each', async () => {
    const backend = new CountingBackend(10)
    await run(monorepo(12, 'command'), backend)
    expect(backend.peak).toBe(Math.min(DEFAULT_MAX_PARALLEL, defaultLocalParallel()))
    expect(parallelism(undefined)).toEqual({ all: 10, local: defaultLocalParallel() })
    expect(parallelism(1)).toEqual({ all: 1, local: 1 })
  })

  it("one model's failure or crash never hides another's result", async () => {
    const backend = new CountingBackend(5, new Set(['m002']))
    const results = await retrainAll(monorepo(6, 'databricks'), backend, root, {
      maxParallel: 2,
      hooks: {
        finished: async (item) => {
          if (item.model === 'm004') throw new Error('the post-training hook crashed')
        }
      }
    })
    expect(results.map((r) => `${r.model}:${r.verdict}`)).toEqual([
      'm000:pass',
      'm001:pass',
      'm002:error',
      'm003:pass',
      'm004:error',
      'm005:pass'
    ])
    expect(results[2]!.reason).toContain('ran out of memory')
    expect(results[4]!.reason).toContain('hook crashed')
  })
})
