import { afterEach, describe, expect, it } from '@jest/globals'
import type { GithubWorkflowTrainSpec } from '../src/config/schema.js'
import { GithubWorkflowBackend } from '../src/backends/github-workflow.js'
import { createOctokit } from '../src/github.js'
import { TrainingError, type Logger, type TrainingContext } from '../src/types.js'
import { waitForRun } from '../src/wait.js'
import { VirtualClock } from '../test/fakes/clock.js'
import { FakeGitHub, type Fault, type WorkflowRunOptions } from '../test/fakes/github-server.js'
import { recordingLogger } from '../test/support/logger.js'

const POLICY = { minMs: 5, maxMs: 50, fraction: 0.5, jitter: 0 }
const KEY = 'e'.repeat(64)
const METRICS = { 'ml-promote-metrics': { 'metrics.json': '{"auc": 0.92, "recall": 0.8}' } }
const RUN_PATH = /^\/repos\/[^/]+\/[^/]+\/actions\/runs\/\d+$/
const DISPATCH_PATH = /\/dispatches$/
const DISPATCH_OP = 'POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches'

function context(clock: VirtualClock, log: Logger, deadlineMs = 3_600_000): TrainingContext {
  return {
    repo: 'octo-org/fraud-models',
    sha: 'a'.repeat(40),
    ref: 'refs/heads/main',
    environment: 'staging',
    model: 'fraud-detector',
    runId: '777',
    idempotencyKey: KEY,
    outputDir: '/tmp/out',
    workspace: '/tmp',
    signal: new AbortController().signal,
    deadline: clock.now() + deadlineMs,
    log
  }
}

function spec(extra: Partial<GithubWorkflowTrainSpec> = {}): GithubWorkflowTrainSpec {
  return {
    backend: 'github-workflow',
    workflow: 'train.yml',
    artifact: 'ml-promote-metrics',
    metrics: 'metrics.json',
    ...extra
  }
}

let fake: FakeGitHub | undefined
afterEach(async () => {
  await fake?.close()
  fake = undefined
})

async function setup(
  workflowRun: WorkflowRunOptions = {},
  extra: Partial<GithubWorkflowTrainSpec> = {}
) {
  fake = await FakeGitHub.start({ workflowRun: { artifacts: METRICS, ...workflowRun } })
  const clock = new VirtualClock()
  const log = recordingLogger()
  const octokit = createOctokit('ghs_test_token', {
    baseUrl: fake.url,
    log,
    requestTimeoutMs: 300,
    backoffBaseMs: 1,
    paceWrites: false
  })
  const make = () =>
    new GithubWorkflowBackend(spec(extra), {
      octokit,
      repo: { owner: fake!.owner, repo: fake!.repo },
      log,
      clock,
      lookupDelaysMs: [5, 10, 20, 40]
    })
  return { fake, clock, log, backend: make(), make, ctx: context(clock, log) }
}

async function train(backend: GithubWorkflowBackend, ctx: TrainingContext, clock: VirtualClock) {
  const run = await backend.start(ctx)
  const status = await waitForRun(backend, run, ctx, { clock, policy: POLICY, random: () => 0 })
  if (status.state === 'timed_out') await backend.cancel(run, ctx)
  const metrics = status.state === 'succeeded' ? await backend.metrics(run, ctx) : undefined
  return { run, status, metrics }
}

describe('github-workflow backend: dispatch with run details (200)', () => {
  it('dispatches with the context inputs, follows the run and reads the artifact', async () => {
    const { fake, backend, ctx, clock } = await setup({}, { inputs: { dataset: 'weekly' } })
    const { run, status, metrics } = await train(backend, ctx, clock)
    expect(status).toEqual({ state: 'succeeded' })
    expect(metrics).toEqual({ auc: 0.92, recall: 0.8 })
    expect(fake.workflowRuns).toHaveLength(1)
    const remote = fake.workflowRuns[0]!
    expect(remote.ref).toBe('refs/heads/main')
    expect(remote.inputs).toEqual({
      dataset: 'weekly',
      environment: 'staging',
      model: 'fraud-detector',
      sha: 'a'.repeat(40),
      run_id: '777',
      correlation_id: KEY
    })
    expect(run).toMatchObject({
      backend: 'github-workflow',
      id: String(remote.id),
      attached: false,
      url: `${fake.url}/${fake.owner}/${fake.repo}/actions/runs/${remote.id}`
    })
    const dispatch = fake.calls.find((c) => c.operation === DISPATCH_OP)
    expect(dispatch?.body).toMatchObject({ return_run_details: true })
    expect(dispatch?.status).toBe(200)
    expect(fake.violations).toEqual([])
  })
})

describe('github-workflow backend: dispatch without run details (204, GHES)', () => {
  it('finds the run by the correlation id in its name, retrying while it is not listed yet', async () => {
    const { fake, backend, ctx, clock } = await setup({
      returnRunDetails: false,
      hiddenListPolls: 3
    })
    const { run, status, metrics } = await train(backend, ctx, clock)
    expect(status.state).toBe('succeeded')
    expect(metrics).toEqual({ auc: 0.92, recall: 0.8 })
    expect(run.id).toBe(String(fake.workflowRuns[0]!.id))
    expect(run.attached).toBe(false)
    expect(fake.calls.find((c) => c.operation === DISPATCH_OP)?.status).toBe(204)
    // One look before dispatching, then at least one miss while the run is hidden.
    expect(
      fake.count('GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs')
    ).toBeGreaterThan(2)
    expect(fake.workflowRuns).toHaveLength(1)
    expect(fake.violations).toEqual([])
  })

  it('says what the workflow lacks when no run carries the correlation id', async () => {
    const { fake, backend, ctx } = await setup({ returnRunDetails: false, hiddenListPolls: 100 })
    await expect(backend.start(ctx)).rejects.toThrow(
      /found no run named after correlation id .*run-name: ml-promote/
    )
    expect(fake.workflowRuns).toHaveLength(1)
  })
})

describe('github-workflow backend: inputs and refs', () => {
  it('gives an evaluation the artifact as the model_uri input, and a training no such input', async () => {
    const { fake, backend, ctx } = await setup({}, {})
    await backend.start({ ...ctx, modelUri: 'runs:/abc/model' })
    await backend.start({ ...ctx, idempotencyKey: 'f'.repeat(64) })
    expect(fake.workflowRuns.map((r) => r.inputs.model_uri)).toEqual(['runs:/abc/model', undefined])
    expect(fake.violations).toEqual([])
  })

  it('refuses more than 25 inputs before any call', async () => {
    const inputs = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`extra_${i}`, 'x']))
    const { fake, backend, ctx } = await setup({}, { inputs })
    const err = await backend.start(ctx).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TrainingError)
    expect((err as Error).message).toMatch(
      /26 inputs, more than the 25 workflow_dispatch accepts: train.inputs may name at most 20/
    )
    expect(fake.calls).toEqual([])
  })

  it('accepts exactly 25 inputs', async () => {
    const inputs = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`extra_${i}`, 'x']))
    const { fake, backend, ctx } = await setup({}, { inputs })
    await backend.start(ctx)
    expect(Object.keys(fake.workflowRuns[0]!.inputs)).toHaveLength(25)
  })

  it('requires a ref for a workflow of another repository, before any call', async () => {
    const { fake, backend, ctx } = await setup({}, { repository: 'other-org/trainer' })
    await expect(backend.start(ctx)).rejects.toThrow(
      /train.ref is required for workflow train.yml of other-org\/trainer/
    )
    expect(fake.calls).toEqual([])
  })

  it('uses train.ref when it is set', async () => {
    const { fake, backend, ctx } = await setup({}, { ref: 'release' })
    await backend.start(ctx)
    expect(fake.workflowRuns[0]!.ref).toBe('release')
  })
})

describe('github-workflow backend: re-runs', () => {
  it('attaches to the run an earlier attempt dispatched', async () => {
    const { fake, backend, make, ctx } = await setup()
    const first = await backend.start(ctx)
    const second = await make().start(ctx)
    expect(second).toMatchObject({ id: first.id, attached: true })
    expect(fake.workflowRuns).toHaveLength(1)
    expect(fake.count(DISPATCH_OP)).toBe(1)
  })
})

describe('github-workflow backend: metrics errors', () => {
  it.each<{ name: string; artifacts: Record<string, Record<string, string>>; message: RegExp }>([
    {
      name: 'artifact missing',
      artifacts: {},
      message: /uploaded no artifact "ml-promote-metrics": upload metrics.json/
    },
    {
      name: 'file missing',
      artifacts: { 'ml-promote-metrics': { 'other.json': '{}' } },
      message: /No metrics.json in artifact "ml-promote-metrics".*holds "other.json"/
    },
    {
      name: 'bad JSON',
      artifacts: { 'ml-promote-metrics': { 'metrics.json': '{auc: 0.9' } },
      message: /metrics.json in artifact .* is not valid JSON/
    },
    {
      name: 'not numbers',
      artifacts: { 'ml-promote-metrics': { 'metrics.json': '{"auc": "0.9"}' } },
      message: /must be a flat JSON object of numbers; "auc" is a/
    }
  ])('$name', async ({ artifacts, message }) => {
    const { backend, ctx, clock } = await setup({ artifacts })
    const run = await backend.start(ctx)
    await waitForRun(backend, run, ctx, { clock, policy: POLICY })
    const err = await backend.metrics(run, ctx).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TrainingError)
    expect((err as Error).message).toMatch(message)
  })
})

describe('github-workflow backend: cancel', () => {
  it('cancels a running run', async () => {
    const { fake, backend, ctx } = await setup({ runningPolls: Infinity })
    const run = await backend.start(ctx)
    await backend.cancel(run, ctx)
    expect(fake.workflowRuns[0]!.cancelled).toBe(true)
  })

  it('ignores the 409 of a run that already completed', async () => {
    const { fake, backend, ctx, clock } = await setup({ queuedPolls: 0, runningPolls: 0 })
    const { run } = await train(backend, ctx, clock)
    await expect(backend.cancel(run, ctx)).resolves.toBeUndefined()
    expect(
      fake.calls.find(
        (c) => c.operation === 'POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel'
      )?.status
    ).toBe(409)
  })
})

type Case = {
  name: string
  faults?: Fault[]
  run?: WorkflowRunOptions
  deadlineMs?: number
  state: 'succeeded' | 'failed' | 'timed_out' | 'error'
  message?: RegExp
}

const CASES: Case[] = [
  {
    name: '500 on a poll',
    faults: [{ method: 'GET', path: RUN_PATH, kind: 'status', status: 500 }],
    state: 'succeeded'
  },
  {
    name: '502 on a poll',
    faults: [{ method: 'GET', path: RUN_PATH, kind: 'status', status: 502 }],
    state: 'succeeded'
  },
  {
    name: '503 on a poll',
    faults: [{ method: 'GET', path: RUN_PATH, kind: 'status', status: 503 }],
    state: 'succeeded'
  },
  {
    name: '429 with Retry-After on a poll',
    faults: [{ method: 'GET', path: RUN_PATH, kind: 'status', status: 429, retryAfter: 3 }],
    state: 'succeeded'
  },
  {
    name: '429 without Retry-After on the dispatch',
    faults: [{ path: DISPATCH_PATH, kind: 'status', status: 429 }],
    state: 'succeeded'
  },
  {
    name: '429 with Retry-After on the dispatch',
    faults: [{ path: DISPATCH_PATH, kind: 'status', status: 429, retryAfter: 2 }],
    state: 'succeeded'
  },
  {
    name: '500 on the dispatch',
    faults: [{ path: DISPATCH_PATH, kind: 'status', status: 500 }],
    state: 'succeeded'
  },
  {
    name: 'connection reset mid-poll',
    faults: [{ method: 'GET', path: RUN_PATH, kind: 'reset' }],
    state: 'succeeded'
  },
  {
    name: 'hung poll',
    faults: [{ method: 'GET', path: RUN_PATH, kind: 'hang' }],
    state: 'succeeded'
  },
  {
    name: '500 on the artifact list',
    faults: [{ method: 'GET', path: /\/artifacts$/, kind: 'status', status: 500 }],
    state: 'succeeded'
  },
  {
    name: 'expired token',
    faults: [{ method: 'GET', path: RUN_PATH, kind: 'status', status: 401 }],
    state: 'error',
    message: /GitHub rejected the token \(401\)/
  },
  {
    name: 'remote run failure',
    run: { conclusion: 'failure' },
    state: 'failed',
    message: /concluded failure/
  },
  {
    name: 'remote timeout',
    run: { runningPolls: Infinity },
    deadlineMs: 10_000,
    state: 'timed_out',
    message: /still running/
  }
]

describe('github-workflow backend: fault matrix', () => {
  it.each(CASES)('$name', async (c) => {
    const { fake, backend, clock, log } = await setup(c.run)
    const ctx = context(clock, log, c.deadlineMs)
    for (const f of c.faults ?? []) fake.inject(f)
    const outcome = await train(backend, ctx, clock).catch((e: unknown) => e)

    expect(fake.workflowRuns).toHaveLength(1)
    expect(fake.violations).toEqual([])
    if (c.state === 'error') {
      expect(outcome).toBeInstanceOf(TrainingError)
      expect((outcome as Error).message).toMatch(c.message!)
      return
    }
    const { status, metrics } = outcome as Awaited<ReturnType<typeof train>>
    expect(status.state).toBe(c.state)
    if (c.message) expect(status.message).toMatch(c.message)
    if (c.state === 'succeeded') expect(metrics).toEqual({ auc: 0.92, recall: 0.8 })
    if (c.state === 'timed_out') expect(fake.workflowRuns[0]!.cancelled).toBe(true)
  })
})
