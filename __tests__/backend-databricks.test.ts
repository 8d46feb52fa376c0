import { afterEach, describe, expect, it } from '@jest/globals'
import type { DatabricksTrainSpec } from '../src/config/schema.js'
import { DatabricksBackend } from '../src/backends/databricks.js'
import { HttpError, requestJson } from '../src/backends/http.js'
import {
  TrainingError,
  type Metrics,
  type RemoteRun,
  type RunStatus,
  type TrainingContext
} from '../src/types.js'
import { waitForRun, type PollPolicy } from '../src/wait.js'
import { VirtualClock } from '../test/fakes/clock.js'
import {
  FakeDatabricks,
  type Fault,
  type FakeJob,
  type FakeDatabricksOptions
} from '../test/fakes/databricks-server.js'
import { recordingLogger } from '../test/support/logger.js'

const PAT = 'dapi-test-pat-0123456789'
const POLICY: PollPolicy = { minMs: 5, maxMs: 50, fraction: 0.1, jitter: 0 }
const METRICS = { auc: 0.93, recall: 0.81 }

let fake: FakeDatabricks | undefined
afterEach(async () => {
  await fake?.close()
  fake = undefined
})

interface Setup {
  fake: FakeDatabricks
  clock: VirtualClock
  backend: DatabricksBackend
  lines: string[]
  ctx: (over?: Partial<TrainingContext>) => TrainingContext
}

const defaultJob: FakeJob = {
  job_id: 11,
  name: 'fraud-train',
  tasks: ['train', 'evaluate'],
  outcome: { exits: { evaluate: JSON.stringify(METRICS) } }
}

async function setup(
  opts: {
    job?: FakeJob
    spec?: Partial<DatabricksTrainSpec>
    fake?: FakeDatabricksOptions
    env?: NodeJS.ProcessEnv
  } = {}
): Promise<Setup> {
  const clock = new VirtualClock()
  fake = await FakeDatabricks.start({ pats: [PAT], now: () => clock.now(), ...opts.fake })
  fake.addJob(opts.job ?? structuredClone(defaultJob))
  const lines: string[] = []
  const log = recordingLogger(lines)
  const spec: DatabricksTrainSpec = {
    backend: 'databricks',
    host: fake.url,
    job: 'fraud-train',
    metrics_task: 'evaluate',
    ...opts.spec
  }
  const backend = new DatabricksBackend(spec, {
    env: opts.env ?? { DATABRICKS_TOKEN: PAT },
    log,
    clock,
    requestTimeoutMs: 250
  })
  const ctx = (over: Partial<TrainingContext> = {}): TrainingContext => ({
    repo: 'acme/fraud',
    sha: 'a'.repeat(40),
    ref: 'refs/heads/main',
    environment: 'staging',
    model: 'fraud-detector',
    runId: '777',
    idempotencyKey: 'mlp-0123456789abcdef0123456789abcdef',
    outputDir: '/tmp/out',
    workspace: '/tmp',
    signal: new AbortController().signal,
    deadline: clock.now() + 6 * 3600_000,
    log,
    ...over
  })
  return { fake, clock, backend, lines, ctx }
}

async function train(s: Setup): Promise<{ run: RemoteRun; status: RunStatus; metrics?: Metrics }> {
  const ctx = s.ctx()
  const run = await s.backend.start(ctx)
  const status = await waitForRun(s.backend, run, ctx, { clock: s.clock, policy: POLICY })
  const metrics = status.state === 'succeeded' ? await s.backend.metrics(run, ctx) : undefined
  return { run, status, metrics }
}

describe('the fake holds clients to the Jobs API contract', () => {
  it.each([
    ['an unknown field', '/api/2.2/jobs/run-now', { job_id: 11, jobparameters: {} }],
    ['a missing job_id', '/api/2.2/jobs/run-now', { job_parameters: {} }],
    ['a wrong type', '/api/2.2/jobs/run-now', { job_id: '11' }],
    [
      'a token over 64 characters',
      '/api/2.2/jobs/run-now',
      { job_id: 11, idempotency_token: 'x'.repeat(65) }
    ],
    ['a string run_id in cancel', '/api/2.2/jobs/runs/cancel', { run_id: '5' }]
  ])('refuses %s with 400 INVALID_PARAMETER_VALUE', async (_n, path, body) => {
    const s = await setup()
    const e = await requestJson(`${s.fake.url}${path}`, {
      body,
      headers: { authorization: `Bearer ${PAT}` }
    }).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(HttpError)
    expect((e as HttpError).status).toBe(400)
    expect((e as HttpError).code).toBe('INVALID_PARAMETER_VALUE')
    expect(s.fake.runsStarted).toBe(0)
  })

  it('answers runs/get of a missing run with 400, and unauthenticated calls with 401/403', async () => {
    const s = await setup()
    const get = (auth?: string): Promise<unknown> =>
      requestJson(`${s.fake.url}/api/2.2/jobs/runs/get`, {
        query: { run_id: 99 },
        headers: auth ? { authorization: auth } : {}
      }).catch((x: unknown) => x)
    expect(await get(`Bearer ${PAT}`)).toMatchObject({
      status: 400,
      code: 'INVALID_PARAMETER_VALUE'
    })
    expect(await get()).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' })
    expect(await get('Bearer wrong')).toMatchObject({ status: 403, code: 'PERMISSION_DENIED' })
  })
})

describe('a training run end to end', () => {
  it('starts the job with its context as job parameters and reads the metrics task', async () => {
    const s = await setup({
      spec: { parameters: { DATA: 'prod.fraud', ML_PROMOTE_SHA: 'forged' } }
    })
    const { run, status, metrics } = await train(s)
    expect(status).toEqual({ state: 'succeeded' })
    expect(metrics).toEqual(METRICS)
    expect(run).toMatchObject({
      backend: 'databricks',
      attached: false,
      url: `${s.fake.url}/jobs/11/runs/${run.id}`
    })
    const body = s.fake.callsTo('run-now')[0]?.body
    expect(body).toEqual({
      job_id: 11,
      idempotency_token: 'mlp-0123456789abcdef0123456789abcdef',
      job_parameters: {
        DATA: 'prod.fraud',
        ML_PROMOTE_ENVIRONMENT: 'staging',
        ML_PROMOTE_MODEL: 'fraud-detector',
        ML_PROMOTE_SHA: 'a'.repeat(40),
        ML_PROMOTE_REF: 'refs/heads/main',
        ML_PROMOTE_RUN_ID: '777'
      }
    })
    const outputOf = s.fake.callsTo('runs/get-output').map((c) => c.query.run_id)
    expect(outputOf).toHaveLength(1)
    expect(outputOf[0]).not.toBe(run.id)
  })

  it('tells an evaluation which artifact to score, and a training nothing of the kind', async () => {
    const s = await setup({})
    await s.backend.start(s.ctx({ modelUri: 'models:/docs/3' }))
    await s.backend.start(s.ctx({ idempotencyKey: 'mlp-' + 'f'.repeat(32) }))
    const [evaluation, training] = s.fake.callsTo('run-now').map(
      (c) =>
        c.body as {
          job_parameters: Record<string, string>
        }
    )
    expect(evaluation!.job_parameters.ML_PROMOTE_MODEL_URI).toBe('models:/docs/3')
    expect(training!.job_parameters).not.toHaveProperty('ML_PROMOTE_MODEL_URI')
  })

  it('passes through every life-cycle state on the way', async () => {
    const s = await setup({ fake: { pollsPerState: 2 } })
    const ctx = s.ctx()
    const run = await s.backend.start(ctx)
    const seen: string[] = []
    await waitForRun(s.backend, run, ctx, {
      clock: s.clock,
      policy: POLICY,
      onStatus: (st) => seen.push(st.state)
    })
    expect([...new Set(seen)]).toEqual(['queued', 'running', 'succeeded'])
  })
})

type Case = [
  string,
  (f: FakeDatabricks) => void,
  { state: RunStatus['state']; message?: string; metrics?: Metrics; retried?: Fault['endpoint'] }
]

const endpoints = ['run-now', 'runs/get', 'runs/get-output', 'jobs/list'] as const
const httpFaults: [string, Omit<Fault, 'endpoint'>][] = [
  ['500', { kind: 500 }],
  ['502', { kind: 502 }],
  ['503', { kind: 503 }],
  ['503 with Retry-After', { kind: 503, retryAfter: 1 }],
  ['429', { kind: 429 }],
  ['429 with Retry-After', { kind: 429, retryAfter: 2 }],
  ['a reset connection', { kind: 'reset' }],
  ['a hung response', { kind: 'hang' }],
  ['an expired token (401 once)', { kind: 'expired-token' }],
  ['three failures in a row', { kind: 503, times: 3 }]
]

const matrix: Case[] = [
  ...endpoints.flatMap((endpoint) =>
    httpFaults.map(([name, fault]): Case => [
      `${name} from ${endpoint}`,
      (f) => f.inject({ endpoint, ...fault }),
      { state: 'succeeded', metrics: METRICS, retried: endpoint }
    ])
  ),
  [
    'a reset connection mid-poll',
    (f) => f.inject({ endpoint: 'runs/get', kind: 'reset', after: 3 }),
    { state: 'succeeded', metrics: METRICS }
  ],
  [
    'a hung poll mid-run',
    (f) => f.inject({ endpoint: 'runs/get', kind: 'hang', after: 2 }),
    { state: 'succeeded', metrics: METRICS }
  ],
  [
    'an outage longer than one request’s retries',
    (f) => f.inject({ endpoint: 'runs/get', kind: 503, after: 2, times: 12 }),
    { state: 'succeeded', metrics: METRICS }
  ],
  [
    'a remote run failure',
    (f) => {
      const job = f.jobs[0] as FakeJob
      job.outcome = {
        result: 'FAILED',
        stateMessage: 'Task train failed with message: workload failed',
        error: 'ValueError: no rows'
      }
    },
    { state: 'failed', message: 'Task train failed with message: workload failed' }
  ],
  [
    'a remote run timeout',
    (f) => {
      ;(f.jobs[0] as FakeJob).outcome = {
        result: 'TIMEDOUT',
        stateMessage: 'Run timed out after 3600 seconds'
      }
    },
    { state: 'timed_out', message: 'Run timed out after 3600 seconds' }
  ],
  [
    'an internal error of the Jobs service',
    (f) => {
      ;(f.jobs[0] as FakeJob).outcome = {
        lifeCycle: 'INTERNAL_ERROR',
        stateMessage: 'Cluster lost'
      }
    },
    { state: 'failed', message: 'internal error' }
  ],
  [
    'a skipped run',
    (f) => {
      ;(f.jobs[0] as FakeJob).outcome = {
        lifeCycle: 'SKIPPED',
        stateMessage: 'An active run of this job exists'
      }
    },
    { state: 'failed', message: 'skipped' }
  ]
]

describe('the fault matrix', () => {
  it.each(matrix)('survives %s', async (_name, arrange, expected) => {
    const s = await setup()
    arrange(s.fake)
    const { run, status, metrics } = await train(s)
    expect(status.state).toBe(expected.state)
    if (expected.message) {
      expect(status.message).toContain(expected.message)
      expect(status.message).toContain(run.url as string)
    }
    expect(metrics).toEqual(expected.metrics)
    // The fault was hit and the call made again: it is the retry, not luck, that saved the run.
    if (expected.retried) expect(s.fake.callsTo(expected.retried).length).toBeGreaterThan(1)
    expect(s.fake.runsStarted).toBe(1)
  })

  it('reports the failed task’s error with the failure', async () => {
    const s = await setup()
    ;(s.fake.jobs[0] as FakeJob).outcome = {
      result: 'FAILED',
      stateMessage: 'Workload failed',
      error: 'ValueError: no rows'
    }
    const { status } = await train(s)
    expect(status.message).toContain('ValueError: no rows')
  })

  it('loses track of the run only after the retry budget, without starting another', async () => {
    const s = await setup()
    s.fake.inject({ endpoint: 'runs/get', kind: 503, after: 1, times: 10_000 })
    const ctx = s.ctx()
    const run = await s.backend.start(ctx)
    const e = await waitForRun(s.backend, run, ctx, {
      clock: s.clock,
      policy: POLICY,
      maxConsecutiveErrors: 2
    }).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(TrainingError)
    expect((e as Error).message).toContain(run.url as string)
    expect(s.fake.runsStarted).toBe(1)
  })

  it('does not retry a permission error', async () => {
    const s = await setup({ env: { DATABRICKS_TOKEN: 'not-a-valid-token' } })
    await expect(s.backend.start(s.ctx())).rejects.toThrow('PERMISSION_DENIED')
    expect(s.fake.callsTo('jobs/list')).toHaveLength(1)
  })
})

describe('idempotent start', () => {
  it('attaches a re-run to the run the first attempt started', async () => {
    const s = await setup()
    const first = await s.backend.start(s.ctx())
    s.clock.advance(10 * 60_000)
    const again = await s.backend.start(s.ctx())
    expect(again.id).toBe(first.id)
    expect(first.attached).toBe(false)
    expect(again.attached).toBe(true)
    expect(s.fake.runsStarted).toBe(1)
  })

  it('starts a new run for a new key', async () => {
    const s = await setup()
    const a = await s.backend.start(s.ctx())
    const b = await s.backend.start(s.ctx({ idempotencyKey: 'another-key' }))
    expect(b.id).not.toBe(a.id)
    expect(s.fake.runsStarted).toBe(2)
  })

  it('refuses a key Databricks would refuse, before calling it', async () => {
    const s = await setup()
    await expect(s.backend.start(s.ctx({ idempotencyKey: 'k'.repeat(65) }))).rejects.toThrow(
      'at most 64'
    )
    expect(s.fake.callsTo('run-now')).toHaveLength(0)
  })
})

describe('finding the job', () => {
  it('uses a numeric id as it is', async () => {
    const s = await setup({ spec: { job: 11 } })
    await s.backend.start(s.ctx())
    expect(s.fake.callsTo('jobs/list')).toHaveLength(0)
  })

  it('resolves a name across pages, preferring the exact-case match', async () => {
    const s = await setup({ fake: { jobsPageSize: 2 }, job: { job_id: 1, name: 'Fraud-Train' } })
    s.fake.addJob({ job_id: 2, name: 'FRAUD-TRAIN' })
    s.fake.addJob({ ...structuredClone(defaultJob), job_id: 3 })
    s.fake.addJob({ job_id: 4, name: 'unrelated' })
    await s.backend.start(s.ctx())
    const lists = s.fake.callsTo('jobs/list')
    expect(lists).toHaveLength(2)
    expect(lists[0]?.query).toEqual({ name: 'fraud-train' })
    expect(lists[1]?.query.page_token).toBeTruthy()
    expect(s.fake.callsTo('run-now')[0]?.body).toMatchObject({ job_id: 3 })
  })

  it('refuses an ambiguous name, listing the ids', async () => {
    const s = await setup({ fake: { jobsPageSize: 1 } })
    s.fake.addJob({ job_id: 12, name: 'fraud-train' })
    await expect(s.backend.start(s.ctx())).rejects.toThrow(
      /2 Databricks jobs are named "fraud-train" \(ids 11, 12\)/
    )
    expect(s.fake.runsStarted).toBe(0)
  })

  it('says when no job has the name', async () => {
    const s = await setup({ spec: { job: 'nope' } })
    await expect(s.backend.start(s.ctx())).rejects.toThrow('no Databricks job is named "nope"')
  })

  it('names both places a host can come from when there is none', async () => {
    const s = await setup()
    const backend = new DatabricksBackend(
      { backend: 'databricks', job: 11 },
      { env: { DATABRICKS_TOKEN: PAT }, log: recordingLogger() }
    )
    await expect(backend.start(s.ctx())).rejects.toThrow(/`host`.*DATABRICKS_HOST/)
  })

  it('takes the host from DATABRICKS_HOST', async () => {
    const s = await setup()
    const backend = new DatabricksBackend(
      { backend: 'databricks', job: 11, metrics_task: 'evaluate' },
      {
        env: { DATABRICKS_TOKEN: PAT, DATABRICKS_HOST: `${s.fake.url}/` },
        log: recordingLogger(),
        clock: s.clock
      }
    )
    expect((await backend.start(s.ctx())).url).toContain(s.fake.url)
  })
})

describe('metrics', () => {
  it('reads them from the only task when the job has one', async () => {
    const s = await setup({
      job: { job_id: 11, name: 'fraud-train', outcome: { exits: { train: '{"auc": 0.9}' } } },
      spec: { metrics_task: undefined }
    })
    expect((await train(s)).metrics).toEqual({ auc: 0.9 })
  })

  it('reads them from MLflow when the task exits with a run id, keeping the latest value per key', async () => {
    const s = await setup({
      job: {
        job_id: 11,
        name: 'fraud-train',
        tasks: ['train', 'evaluate'],
        outcome: { exits: { train: ' 0a1b2c3d4e5f \n' } }
      },
      spec: { metrics_task: undefined, mlflow_run_task: 'train' }
    })
    s.fake.mlflowRuns.set('0a1b2c3d4e5f', [
      { key: 'auc', value: 0.88, timestamp: 1, step: 0 },
      { key: 'auc', value: 0.92, timestamp: 2, step: 1 },
      { key: 'recall', value: 0.75, timestamp: 2, step: 0 }
    ])
    expect((await train(s)).metrics).toEqual({ auc: 0.92, recall: 0.75 })
    expect(s.fake.callsTo('mlflow/runs/get')[0]?.query).toEqual({ run_id: '0a1b2c3d4e5f' })
  })

  it('says when the MLflow run does not exist', async () => {
    const s = await setup({
      job: { job_id: 11, name: 'fraud-train', outcome: { exits: { train: 'deadbeef' } } },
      spec: { metrics_task: undefined, mlflow_run_task: 'train' }
    })
    await expect(train(s)).rejects.toThrow(/RESOURCE_DOES_NOT_EXIST/)
  })

  it.each([
    ['not JSON', 'auc=0.9', 'is not valid JSON'],
    ['an array', '[0.9]', 'must be a flat JSON object of numbers; got an array'],
    ['a string value', '{"auc":"0.9"}', '"auc" is a string ("0.9")'],
    ['a nested object', '{"auc":0.9,"by_class":{"a":1}}', '"by_class" is'],
    ['an empty exit value', '', 'returned no exit value']
  ])('refuses an exit value that is %s', async (_n, exit, message) => {
    const s = await setup({
      job: { ...structuredClone(defaultJob), outcome: { exits: { evaluate: exit } } }
    })
    const e = await train(s).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(TrainingError)
    expect((e as Error).message).toContain(message)
    expect((e as Error).message).toContain('task "evaluate"')
  })

  it('says when the notebook never called exit', async () => {
    const s = await setup({ job: { ...structuredClone(defaultJob), outcome: {} } })
    await expect(train(s)).rejects.toThrow('dbutils.notebook.exit')
  })

  it('says when Databricks truncated the exit value', async () => {
    const s = await setup({
      job: {
        ...structuredClone(defaultJob),
        outcome: { exits: { evaluate: '{"auc":0.9' }, truncated: true }
      }
    })
    await expect(train(s)).rejects.toThrow('notebook_output.truncated')
  })

  it('asks for metrics_task when the job has several tasks', async () => {
    const s = await setup({ spec: { metrics_task: undefined } })
    await expect(train(s)).rejects.toThrow('has 2 tasks (train, evaluate): set metrics_task')
  })

  it('lists the tasks when metrics_task names none of them', async () => {
    const s = await setup({ spec: { metrics_task: 'score' } })
    await expect(train(s)).rejects.toThrow(
      'has no task "score" (metrics_task); its tasks are train, evaluate'
    )
  })
})

describe('cancel', () => {
  it('cancels a running run, even once the workflow signal is aborted', async () => {
    const s = await setup({ fake: { pollsPerState: 3 } })
    const controller = new AbortController()
    const ctx = s.ctx({ signal: controller.signal })
    const run = await s.backend.start(ctx)
    controller.abort()
    await s.backend.cancel(run, ctx)
    expect(s.fake.callsTo('runs/cancel')[0]?.body).toEqual({ run_id: Number(run.id) })
    const status = await s.backend.status(run, s.ctx())
    expect(status.state).toBe('cancelled')
    expect(status.message).toContain(run.url as string)
  })

  it('does not throw for a run that already ended', async () => {
    const s = await setup()
    const { run } = await train(s)
    await expect(s.backend.cancel(run, s.ctx())).resolves.toBeUndefined()
  })
})
