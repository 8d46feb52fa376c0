import { afterEach, describe, expect, it } from '@jest/globals'
import type { AirflowTrainSpec } from '../src/config/schema.js'
import { AirflowBackend } from '../src/backends/airflow.js'
import {
  trainingEnv,
  TrainingError,
  type Logger,
  type RemoteRun,
  type TrainingContext
} from '../src/types.js'
import { waitForRun } from '../src/wait.js'
import {
  FakeAirflow,
  type AirflowFault,
  type FakeAirflowOptions
} from '../test/fakes/airflow-server.js'
import { VirtualClock } from '../test/fakes/clock.js'
import { recordingLogger } from '../test/support/logger.js'

const POLICY = { minMs: 5, maxMs: 50, fraction: 0.5, jitter: 0 }
const KEY = 'f'.repeat(64)
const RUN_ID = `ml-promote__${KEY}`

function context(clock: VirtualClock, log: Logger, deadlineMs = 3_600_000): TrainingContext {
  return {
    repo: 'acme/fraud',
    sha: 'a'.repeat(40),
    ref: 'refs/heads/main',
    environment: 'staging',
    model: 'fraud-detector',
    runId: '4242',
    idempotencyKey: KEY,
    outputDir: '/tmp/out',
    workspace: '/tmp',
    signal: new AbortController().signal,
    deadline: clock.now() + deadlineMs,
    log
  }
}

function spec(
  url: string,
  api_version: 1 | 2,
  extra: Partial<AirflowTrainSpec> = {}
): AirflowTrainSpec {
  return {
    backend: 'airflow',
    url,
    dag: 'train',
    api_version,
    metrics_task: 'evaluate',
    metrics_key: 'return_value',
    ...extra
  }
}

const JWT_ENV = { AIRFLOW_USERNAME: 'admin', AIRFLOW_PASSWORD: 'secret' }

let fake: FakeAirflow | undefined

afterEach(async () => {
  await fake?.close()
  fake = undefined
})

async function setup(
  options: FakeAirflowOptions,
  env: NodeJS.ProcessEnv = JWT_ENV,
  extra: Partial<AirflowTrainSpec> = {}
) {
  fake = await FakeAirflow.start(options)
  const clock = new VirtualClock()
  const log = recordingLogger()
  const backend = new AirflowBackend(spec(fake.url, options.apiVersion, extra), {
    env,
    log,
    clock,
    timeoutMs: 300
  })
  return { fake, clock, log, backend, ctx: context(clock, log) }
}

/** What the engine does: start, wait, read the metrics of a success, stop a run that overran. */
async function train(backend: AirflowBackend, ctx: TrainingContext, clock: VirtualClock) {
  const run = await backend.start(ctx)
  const status = await waitForRun(backend, run, ctx, { clock, policy: POLICY, random: () => 0 })
  if (status.state === 'timed_out') await backend.cancel(run, ctx)
  const metrics = status.state === 'succeeded' ? await backend.metrics(run, ctx) : undefined
  return { run, status, metrics }
}

describe('airflow backend: a DAG run end to end (Airflow 3, JWT)', () => {
  it('triggers with a deterministic dag_run_id, null logical_date and the context as conf', async () => {
    const { fake, backend, ctx, clock, log } = await setup({ apiVersion: 2 })
    const { run, status, metrics } = await train(backend, ctx, clock)
    expect(status).toEqual({ state: 'succeeded' })
    expect(metrics).toEqual({ auc: 0.93, recall: 0.81 })
    expect(run).toMatchObject({
      backend: 'airflow',
      id: RUN_ID,
      attached: false,
      url: `${fake.url}/dags/train/runs/${RUN_ID}`
    })
    const remote = fake.run(RUN_ID)
    expect(remote?.body.logical_date).toBeNull()
    expect(remote?.conf).toEqual(trainingEnv(ctx))
    expect(fake.runsCreated).toBe(1)
    expect(fake.violations).toEqual([])
    const jwt = fake.calls.find((c) => c.op === 'token')
    expect(jwt?.status).toBe(201)
    expect(log.secrets).toContain('secret')
    expect(log.secrets.some((s) => s.startsWith('jwt-'))).toBe(true)
  })
})

type Case = {
  name: string
  faults?: AirflowFault[]
  options?: Partial<FakeAirflowOptions>
  deadlineMs?: number
  state: 'succeeded' | 'failed' | 'timed_out'
  attached?: boolean
  tokens?: number
  /** A sleep at least this long must have happened (Retry-After honoured). */
  slept?: number
}

const CASES: Case[] = [
  { name: '500 on a poll', faults: [{ op: 'getRun', status: 500 }], state: 'succeeded' },
  { name: '502 on a poll', faults: [{ op: 'getRun', status: 502 }], state: 'succeeded' },
  { name: '503 on the trigger', faults: [{ op: 'trigger', status: 503 }], state: 'succeeded' },
  {
    name: '429 with Retry-After on the trigger',
    faults: [{ op: 'trigger', status: 429, retryAfter: '7' }],
    state: 'succeeded',
    slept: 7000
  },
  {
    name: '429 without Retry-After on polls',
    faults: [{ op: 'getRun', status: 429, times: 3 }],
    state: 'succeeded'
  },
  // The wait loop honours Retry-After up to its longest poll interval.
  {
    name: '429 with Retry-After on a poll',
    faults: [{ op: 'getRun', status: 429, retryAfter: '2' }],
    state: 'succeeded',
    slept: POLICY.maxMs
  },
  {
    name: '500 after the run was created',
    faults: [{ op: 'trigger', status: 500, afterEffect: true }],
    state: 'succeeded',
    attached: true
  },
  {
    name: 'connection reset mid-poll',
    faults: [{ op: 'getRun', reset: true, afterEffect: true }],
    state: 'succeeded'
  },
  {
    name: 'connection reset after the run was created',
    faults: [{ op: 'trigger', reset: true, afterEffect: true }],
    state: 'succeeded',
    attached: true
  },
  { name: 'hung poll', faults: [{ op: 'getRun', hang: true }], state: 'succeeded' },
  {
    name: 'hung trigger that created the run',
    faults: [{ op: 'trigger', hang: true, afterEffect: true }],
    state: 'succeeded',
    attached: true
  },
  { name: '500 on the XCom read', faults: [{ op: 'xcom', status: 500 }], state: 'succeeded' },
  {
    name: 'expired token mid-poll',
    faults: [{ op: 'getRun', expireToken: true }],
    state: 'succeeded',
    tokens: 2
  },
  { name: 'remote run failure', options: { outcome: 'failed' }, state: 'failed' },
  {
    name: 'remote timeout',
    options: { runningPolls: Infinity },
    deadlineMs: 10_000,
    state: 'timed_out'
  }
]

describe('airflow backend: fault matrix', () => {
  it.each(CASES)('$name', async (c) => {
    const { fake, backend, clock, log } = await setup({ apiVersion: 2, ...c.options })
    const ctx = context(clock, log, c.deadlineMs)
    for (const f of c.faults ?? []) fake.inject(f)
    const { run, status, metrics } = await train(backend, ctx, clock)

    expect(status.state).toBe(c.state)
    expect(fake.runsCreated).toBe(1)
    expect(run.id).toBe(RUN_ID)
    expect(run.attached).toBe(c.attached ?? false)
    expect(fake.violations).toEqual([])
    if (c.state === 'succeeded') expect(metrics).toEqual({ auc: 0.93, recall: 0.81 })
    if (c.state === 'failed')
      expect(status.message).toContain(`Airflow DAG run ${RUN_ID} of train failed`)
    if (c.state === 'timed_out') {
      expect(status.message).toContain('still running')
      expect(fake.run(RUN_ID)?.markedFailed).toBe(true)
    }
    if (c.tokens) expect(fake.count('token')).toBe(c.tokens)
    if (c.slept) expect(Math.max(...clock.sleeps)).toBeGreaterThanOrEqual(c.slept)
  })
})

describe('airflow backend: idempotency', () => {
  it('a second start with the same key attaches to the first run', async () => {
    const { fake, backend, ctx, clock, log } = await setup({ apiVersion: 2 })
    const first = await backend.start(ctx)
    const again = new AirflowBackend(spec(fake.url, 2), { env: JWT_ENV, log, clock })
    const second = await again.start(ctx)
    expect(first.attached).toBe(false)
    expect(second).toMatchObject({ id: first.id, attached: true, url: first.url })
    expect(fake.runsCreated).toBe(1)
    expect(fake.calls.filter((c) => c.op === 'trigger').map((c) => c.status)).toEqual([200, 409])
    expect(fake.violations).toEqual([])
  })

  it('attaches on Airflow 2, whose 409 is problem JSON', async () => {
    const { fake, backend, ctx } = await setup({ apiVersion: 1 })
    await backend.start(ctx)
    const second = await backend.start(ctx)
    expect(second.attached).toBe(true)
    expect(fake.runsCreated).toBe(1)
  })
})

describe('airflow backend: cancel', () => {
  it('marks a running run failed, since Airflow has no cancel', async () => {
    const { fake, backend, ctx, log } = await setup({ apiVersion: 2, runningPolls: Infinity })
    const run = await backend.start(ctx)
    await backend.cancel(run, ctx)
    expect(fake.run(RUN_ID)?.state).toBe('failed')
    expect(fake.count('patchRun')).toBe(1)
    expect(log.lines.join('\n')).toContain('Airflow cannot cancel a run')
    expect(fake.violations).toEqual([])
  })

  it('leaves a finished run alone', async () => {
    const { fake, backend, ctx, clock } = await setup({
      apiVersion: 2,
      queuedPolls: 0,
      runningPolls: 0
    })
    const { run } = await train(backend, ctx, clock)
    await backend.cancel(run, ctx)
    expect(fake.run(RUN_ID)?.state).toBe('success')
    expect(fake.count('patchRun')).toBe(0)
  })

  it('does not throw for a run that is gone', async () => {
    const { backend, ctx } = await setup({ apiVersion: 2 })
    const ghost: RemoteRun = { backend: 'airflow', id: 'ml-promote__gone' }
    await expect(backend.cancel(ghost, ctx)).resolves.toBeUndefined()
  })
})

describe('airflow backend: Airflow 2 (API v1)', () => {
  it('uses basic auth, the grid URL and reads the XCom as JSON', async () => {
    const { fake, backend, ctx, clock, log } = await setup({ apiVersion: 1 })
    const { run, status, metrics } = await train(backend, ctx, clock)
    expect(status.state).toBe('succeeded')
    expect(metrics).toEqual({ auc: 0.93, recall: 0.81 })
    expect(run.url).toBe(`${fake.url}/dags/train/grid?dag_run_id=${RUN_ID}`)
    expect(fake.count('token')).toBe(0)
    expect(fake.run(RUN_ID)?.body).not.toHaveProperty('logical_date')
    expect(log.secrets).toContain(Buffer.from('admin:secret').toString('base64'))
    expect(fake.violations).toEqual([])
  })

  it('explains an XCom that arrives as a Python dict', async () => {
    const { backend, ctx, clock } = await setup({
      apiVersion: 1,
      xcom: { evaluate: { return_value: "{'auc': 0.9}" } }
    })
    const run = await backend.start(ctx)
    await waitForRun(backend, run, ctx, { clock, policy: POLICY })
    await expect(backend.metrics(run, ctx)).rejects.toThrow(
      /looks like a Python dict: write json.dumps\(metrics\)/
    )
  })
})

describe('airflow backend: metrics errors', () => {
  it.each<{ name: string; xcom: Record<string, Record<string, unknown>>; message: RegExp }>([
    {
      name: 'no such XCom',
      xcom: {},
      message: /No XCom "return_value" of task "evaluate".*must push the metrics JSON/
    },
    {
      name: 'a JSON string that is not JSON',
      xcom: { evaluate: { return_value: 'auc=0.9' } },
      message: /is not valid JSON/
    },
    {
      name: 'a non-numeric metric',
      xcom: { evaluate: { return_value: { auc: 'high' } } },
      message: /must be a flat JSON object of numbers; "auc" is a string \("high"\)/
    },
    {
      name: 'an array',
      xcom: { evaluate: { return_value: [0.9] } },
      message: /must be a flat JSON object of numbers; got an array/
    }
  ])('$name', async ({ xcom, message }) => {
    const { backend, ctx, clock } = await setup({ apiVersion: 2, xcom })
    const run = await backend.start(ctx)
    await waitForRun(backend, run, ctx, { clock, policy: POLICY })
    const err = await backend.metrics(run, ctx).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TrainingError)
    expect((err as Error).message).toMatch(message)
  })

  it('parses a JSON string XCom', async () => {
    const { backend, ctx, clock } = await setup({
      apiVersion: 2,
      xcom: { evaluate: { return_value: '{"auc": 0.91}' } }
    })
    const { metrics } = await train(backend, ctx, clock)
    expect(metrics).toEqual({ auc: 0.91 })
  })
})

describe('airflow backend: credentials and configuration errors', () => {
  it('sends AIRFLOW_TOKEN as a bearer token without asking for a JWT', async () => {
    const { fake, backend, ctx, clock, log } = await setup(
      { apiVersion: 2, staticTokens: ['tok-123'] },
      { AIRFLOW_TOKEN: 'tok-123' }
    )
    const { status } = await train(backend, ctx, clock)
    expect(status.state).toBe('succeeded')
    expect(fake.count('token')).toBe(0)
    expect(log.secrets).toContain('tok-123')
  })

  it('says which variables to set when there are no credentials', async () => {
    const { fake, backend, ctx } = await setup({ apiVersion: 2 }, {})
    await expect(backend.start(ctx)).rejects.toThrow(
      /401; set AIRFLOW_USERNAME\/AIRFLOW_PASSWORD or AIRFLOW_TOKEN/
    )
    expect(fake.runsCreated).toBe(0)
  })

  it('reports wrong credentials at the token endpoint', async () => {
    const { backend, ctx } = await setup(
      { apiVersion: 2 },
      { AIRFLOW_USERNAME: 'admin', AIRFLOW_PASSWORD: 'wrong' }
    )
    await expect(backend.start(ctx)).rejects.toThrow(
      /refused AIRFLOW_USERNAME\/AIRFLOW_PASSWORD \(401 from \/auth\/token\)/
    )
  })

  it('names a DAG that does not exist', async () => {
    const { backend, ctx } = await setup({ apiVersion: 2 }, JWT_ENV, { dag: 'nope' })
    const err = await backend.start(ctx).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TrainingError)
    expect((err as Error).message).toMatch(/has no DAG "nope"/)
  })
})
