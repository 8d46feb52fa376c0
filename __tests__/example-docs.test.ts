import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { createHash } from 'node:crypto'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parse } from 'yaml'
import { metricRule, type MetricRule } from '../src/config/schema.js'
import { evaluateGate } from '../src/gate.js'
import { python as runPython, type PythonResult } from '../test/support/python.js'

const SOURCE = path.resolve('examples/document-classifier')
const TRAIN = 'models/docs/train.py'
const EVALUATE = 'models/docs/evaluate.py'
const WORSE = { epochs: 1, max_features: 20, bigrams: false }
const TRAIN_METRICS = [
  'accuracy',
  'macro_f1',
  'latency_ms',
  'train_seconds',
  'train_docs',
  'test_docs',
  'model_uri',
  'data_version'
]
const EVALUATE_METRICS = ['accuracy', 'macro_f1', 'latency_ms', 'train_docs', 'test_docs']

const python = (args: string[], cwd: string, env: Record<string, string | undefined>) =>
  runPython(args, cwd, env, ['DOCS_'])

let work: string
let project: string
let dataDir: string
let runs = 0

/** A copy of the project, with params.json changed when `change` is given. */
function copyProject(change?: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(work, 'project-'))
  cpSync(SOURCE, dir, {
    recursive: true,
    filter: (src) => !/(^|\/)(out|artifacts|__pycache__)$/.test(src)
  })
  if (change) {
    const file = path.join(dir, 'models/docs/params.json')
    const params = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
    writeFileSync(file, JSON.stringify({ ...params, ...change }, null, 2))
  }
  return dir
}

type Output = Record<string, number | string>

/** Runs `script` in `cwd` with a fresh output dir and the shared data cache. */
async function run(
  script: string,
  env: Record<string, string | undefined>,
  cwd = project
): Promise<PythonResult & { metrics?: Output }> {
  const out = path.join(work, `run-${++runs}`, 'docs')
  const result = await python([script], cwd, {
    ML_PROMOTE_OUTPUT_DIR: out,
    DOCS_DATA_DIR: dataDir,
    ...env
  })
  const file = path.join(out, 'metrics.json')
  const metrics = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Output) : undefined
  return { ...result, metrics }
}

const artifacts = (dir: string) => {
  const store = path.join(dir, 'artifacts/doc-classifier')
  return existsSync(store) ? readdirSync(store).sort() : []
}

const numbers = (m: Output | undefined): Record<string, number> =>
  Object.fromEntries(Object.entries(m ?? {}).filter(([, v]) => typeof v === 'number')) as Record<
    string,
    number
  >

const CONFIG = parse(readFileSync(path.join(SOURCE, '.github/ml-promote.yml'), 'utf8')) as {
  models: Record<string, { gate: Record<string, unknown> } & Record<string, unknown>>
}
const MODEL = CONFIG.models['doc-classifier']!
// Parsed by the loader's own rule schema, so defaults (greater_is_better) are the engine's.
const GATE: Record<string, MetricRule> = Object.fromEntries(
  Object.entries(MODEL.gate).map(([metric, rule]) => [metric, metricRule.parse(rule)])
)

/** The gate metrics a candidate fails under the example's gate, as the engine judges them. */
function gateFailures(candidate: Output | undefined, champion?: Output) {
  return evaluateGate(GATE, numbers(candidate), champion && numbers(champion))
    .metrics.filter((m) => m.outcome === 'fail')
    .map((m) => m.metric)
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'ml-promote-example-docs-'))
  project = copyProject()
  dataDir = path.join(work, 'data-cache')
  mkdirSync(dataDir)
})

afterAll(() => {
  rmSync(work, { recursive: true, force: true })
})

describe('train once in staging, evaluate the same artifact in production', () => {
  let trained: Awaited<ReturnType<typeof run>>
  let evaluated: Awaited<ReturnType<typeof run>>
  let stagingEvaluated: Awaited<ReturnType<typeof run>>
  let storedAfterTraining: string[]

  beforeAll(async () => {
    trained = await run(TRAIN, {
      ML_PROMOTE_ENVIRONMENT: 'staging',
      ML_PROMOTE_MODEL: 'doc-classifier',
      ML_PROMOTE_SHA: 'abc123',
      ML_PROMOTE_RUN_ID: 'run-7'
    })
    if (trained.code !== 0) throw new Error(`training failed (${trained.code}): ${trained.stderr}`)
    storedAfterTraining = artifacts(project)
    const uri = String(trained.metrics!.model_uri)
    ;[evaluated, stagingEvaluated] = await Promise.all([
      run(EVALUATE, { ML_PROMOTE_ENVIRONMENT: 'production', ML_PROMOTE_MODEL_URI: uri }),
      run(EVALUATE, { ML_PROMOTE_ENVIRONMENT: 'staging', ML_PROMOTE_MODEL_URI: uri })
    ])
  }, 60_000)

  it('training writes held-out metrics, model_uri and data_version', () => {
    const m = trained.metrics!
    expect(Object.keys(m)).toEqual(TRAIN_METRICS)
    for (const [key, value] of Object.entries(numbers(m))) {
      expect([key, Number.isFinite(value)]).toEqual([key, true])
    }
    expect(m.accuracy).toBeGreaterThanOrEqual(0.9)
    expect(m.accuracy).toBeLessThanOrEqual(1)
    expect(m.macro_f1).toBeGreaterThanOrEqual(0.9)
    expect(m.macro_f1).toBeLessThanOrEqual(1)
    expect(m.latency_ms).toBeGreaterThan(0)
    expect(m.train_seconds).toBeGreaterThan(0)
    expect(m.train_seconds).toBeLessThan(30)
    expect(m.train_docs).toBe(3000)
    expect(m.test_docs).toBe(1000)
    expect(m.data_version).toMatch(/^staging\/documents@sha256:[0-9a-f]{12}$/)
    expect(trained.stdout).toMatch(/epoch 8\/8/)
  })

  it('stores one immutable artifact, named by the hash of its content', () => {
    const uri = String(trained.metrics!.model_uri)
    expect(uri).toMatch(/^artifacts\/doc-classifier\/[0-9a-f]{16}\.json$/)
    const file = path.join(project, uri)
    expect(existsSync(file)).toBe(true)
    const digest = createHash('sha256').update(readFileSync(file)).digest('hex')
    expect(path.basename(uri)).toBe(`${digest.slice(0, 16)}.json`)
    expect(storedAfterTraining).toEqual([path.basename(uri)])
  })

  it('evaluation scores the artifact on production data and trains nothing', () => {
    expect(evaluated.stderr).toBe('')
    expect(evaluated.code).toBe(0)
    const m = evaluated.metrics!
    expect(Object.keys(m).sort()).toEqual([...EVALUATE_METRICS, 'data_version'].sort())
    expect(m).not.toHaveProperty('model_uri')
    expect(m).not.toHaveProperty('train_seconds')
    expect(m.data_version).toMatch(/^production\//)
    expect(m.test_docs).toBe(1000)
    expect(evaluated.stdout).not.toMatch(/epoch/)
    expect(artifacts(project)).toEqual(storedAfterTraining)
  })

  it('evaluating in staging reproduces what training measured', () => {
    const pick = (m: Output) => [m.accuracy, m.macro_f1, m.test_docs, m.data_version]
    expect(pick(stagingEvaluated.metrics!)).toEqual(pick(trained.metrics!))
  })

  it("the staging-trained artifact passes the example's gate in both environments", () => {
    expect(gateFailures(trained.metrics)).toEqual([])
    expect(gateFailures(evaluated.metrics)).toEqual([])
    // Production's vocabulary drift costs accuracy, but leaves a margin over the threshold.
    const production = numbers(evaluated.metrics)
    expect(production.accuracy).toBeLessThan(Number(trained.metrics!.accuracy))
    expect(production.accuracy! - GATE.accuracy!.threshold!).toBeGreaterThanOrEqual(0.03)
    expect(production.macro_f1! - GATE.macro_f1!.threshold!).toBeGreaterThanOrEqual(0.03)
  })

  it('training the same code on the same data gives the same model_uri', async () => {
    const again = await run(TRAIN, { ML_PROMOTE_ENVIRONMENT: 'staging' })
    expect(again.code).toBe(0)
    expect(again.metrics!.model_uri).toBe(trained.metrics!.model_uri)
    expect(artifacts(project)).toEqual(storedAfterTraining)
  }, 60_000)

  it('serves the artifact: one prediction per text, bad requests answered 400', async () => {
    const script = [
      'import json, sys',
      "sys.path.insert(0, 'serving')",
      'from predict import Handler',
      'h = Handler(sys.argv[1])',
      'print(json.dumps([',
      '  h.handle({"texts": ["I was charged twice on my invoice", "app keeps crashing"]}),',
      '  h.handle({"text": 3}),',
      ']))'
    ].join('\n')
    const result = await python(['-c', script, String(trained.metrics!.model_uri)], project, {})
    expect(result.stderr).toBe('')
    const [ok, bad] = JSON.parse(result.stdout) as [
      [number, { predictions: { label: string }[] }],
      [number, { error: string }]
    ]
    expect(ok[0]).toBe(200)
    expect(ok[1].predictions.map((p) => p.label)).toEqual(['billing', 'technical'])
    expect(bad[0]).toBe(400)
  })
})

describe('a worse change (one epoch over 20 unigrams)', () => {
  it('fails the gate in staging and on production data', async () => {
    const worse = copyProject(WORSE)
    const trained = await run(TRAIN, { ML_PROMOTE_ENVIRONMENT: 'staging' }, worse)
    expect(trained.code).toBe(0)
    const evaluated = await run(
      EVALUATE,
      {
        ML_PROMOTE_ENVIRONMENT: 'production',
        ML_PROMOTE_MODEL_URI: String(trained.metrics!.model_uri)
      },
      worse
    )
    expect(evaluated.code).toBe(0)
    expect(gateFailures(trained.metrics)).toEqual(expect.arrayContaining(['accuracy', 'macro_f1']))
    expect(gateFailures(evaluated.metrics)).toEqual(
      expect.arrayContaining(['accuracy', 'macro_f1'])
    )
  }, 60_000)
})

describe('evaluation stops with a clear message', () => {
  it.each([
    [
      'a missing artifact',
      { ML_PROMOTE_MODEL_URI: 'artifacts/doc-classifier/0123456789abcdef.json' },
      /evaluate\.py: error: ML_PROMOTE_MODEL_URI '.*0123456789abcdef\.json': .*no such artifact/
    ],
    ['no ML_PROMOTE_MODEL_URI', {}, /ML_PROMOTE_MODEL_URI is not set/],
    [
      'a remote URI',
      { ML_PROMOTE_MODEL_URI: 'models:/doc-classifier/3' },
      /is not a local path; .*download it first/
    ]
  ])('%s', async (_name, env, message) => {
    const result = await run(EVALUATE, { ML_PROMOTE_ENVIRONMENT: 'production', ...env })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(message)
    expect(result.stderr).not.toMatch(/Traceback/)
    expect(result.metrics).toBeUndefined()
  })

  it('a modified artifact', async () => {
    const dir = copyProject()
    const trained = await run(TRAIN, { ML_PROMOTE_ENVIRONMENT: 'staging' }, dir)
    const uri = String(trained.metrics!.model_uri)
    const file = path.join(dir, uri)
    writeFileSync(file, readFileSync(file, 'utf8').replace('"epochs":8', '"epochs":9'))
    const result = await run(
      EVALUATE,
      { ML_PROMOTE_ENVIRONMENT: 'production', ML_PROMOTE_MODEL_URI: uri },
      dir
    )
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/content does not match its name/)
    expect(result.metrics).toBeUndefined()
  }, 60_000)
})

describe('pipeline config', () => {
  it('trains with train.py, evaluates with evaluate.py, and gates what both report', () => {
    expect(MODEL).toMatchObject({
      promote: 'model',
      retrain_paths: ['models/docs/**', 'data/**'],
      train: { backend: 'command', run: `python3 ${TRAIN}`, metrics: 'out/docs/metrics.json' },
      evaluate: {
        backend: 'command',
        run: `python3 ${EVALUATE}`,
        metrics: 'out/docs/metrics.json'
      }
    })
    const names = MODEL.metric_names as string[]
    for (const metric of Object.keys(GATE)) {
      expect(names).toContain(metric)
      expect(EVALUATE_METRICS).toContain(metric)
    }
  })
})
