// Detached gates concluded by a completion callback, through the bundled action against the fake
// GitHub (the training runs as a dispatched workflow there): the step that starts the training
// exits, the training's end sends `workflow_run` or `repository_dispatch`, and a reconcile for that
// one training concludes it — exactly once, whatever races, kills and faults happen meanwhile.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { FakeGitHub, type RecordedCall } from '../test/fakes/github-server.js'
import {
  commitAll,
  exampleWorkspace,
  git,
  pullRequestPayload,
  pushPayload,
  runAction,
  signalWhenOutput,
  webhookExample,
  type ActionRun
} from '../test/e2e/harness.js'
import { CLAIM_TTL_MS } from '../src/types.js'

const TOKEN = 'ghs_callbackToken'
const METRICS = '{"auc": 0.94, "recall": 0.81}'
let github: FakeGitHub
let dir: string
let base: string

beforeEach(async () => {
  github = await FakeGitHub.start({
    workflowRun: {
      queuedPolls: 1,
      // The training runs until a test ends it.
      runningPolls: 1_000_000,
      conclusion: 'success',
      artifacts: { 'ml-promote-metrics': { 'metrics.json': METRICS } }
    }
  })
  const ws = exampleWorkspace()
  dir = ws.dir
  writeFileSync(
    path.join(dir, '.github/ml-promote.yml'),
    [
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud-detector:',
      '    train: { backend: github-workflow, workflow: train.yml }',
      '    gate:',
      '      auc: { threshold: 0.9 }',
      ''
    ].join('\n')
  )
  base = commitAll(dir, 'train in a workflow')
  github.setBranch('main', base)
})

afterEach(async () => {
  expect(github.violations).toEqual([])
  await github.close()
})

function action(
  event: string,
  payload: Record<string, unknown>,
  extra: {
    inputs?: Record<string, string>
    ref?: string
    onSpawn?: Parameters<typeof runAction>[0]['onSpawn']
  } = {}
): Promise<ActionRun> {
  return runAction({
    workspace: dir,
    event,
    payload,
    ...(extra.ref ? { ref: extra.ref } : {}),
    inputs: { 'github-token': TOKEN, ...extra.inputs },
    env: { GITHUB_API_URL: github.url },
    ...(extra.onSpawn ? { onSpawn: extra.onSpawn } : {})
  })
}

/** A pull request gate started with `wait: false`: returns once the training runs. */
async function startGate(number = 7): Promise<{ head: string; runId: number }> {
  git(dir, 'checkout', '-q', '-b', `feature-${number}`)
  writeFileSync(path.join(dir, 'models/fraud/params.json'), `{"seed": ${number}}\n`)
  const head = commitAll(dir, 'change the model')
  git(dir, 'checkout', '-q', 'main')
  git(dir, 'checkout', '-q', `feature-${number}`)
  github.setBranch(`feature-${number}`, head)
  github.setPull(number, {
    head: { sha: head, ref: `feature-${number}` },
    base: { sha: base, ref: 'main' },
    files: ['models/fraud/params.json']
  })
  const started = await action(
    'pull_request',
    pullRequestPayload({
      number,
      headSha: head,
      headRef: `feature-${number}`,
      baseSha: base,
      baseRef: 'main'
    }),
    { inputs: { wait: 'false' }, ref: `refs/pull/${number}/merge` }
  )
  expect(started.stderr).toBe('')
  expect(started.code).toBe(0)
  expect(started.outputs.verdict).toBe('pending')
  git(dir, 'checkout', '-q', 'main')
  return { head, runId: github.workflowRuns.at(-1)!.id }
}

/** A push to main started with `wait: false`: the retrain promotes when it is concluded. */
async function startRetrain(): Promise<number> {
  const started = await action(
    'push',
    pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: base }),
    { inputs: { wait: 'false' } }
  )
  expect(started.code).toBe(0)
  expect(started.outputs.verdict).toBe('pending')
  return github.workflowRuns.at(-1)!.id
}

/** GitHub's `workflow_run` payload (from @octokit/webhooks-examples) for run `id`. */
function workflowRunEvent(id: number, conclusion = 'success'): Record<string, any> {
  const payload = webhookExample('workflow_run', 'completed')
  payload.workflow_run.id = id
  payload.workflow_run.status = 'completed'
  payload.workflow_run.conclusion = conclusion
  return payload
}

function dispatchEvent(client: Record<string, unknown>, type = 'ml-promote-training-ended') {
  const payload = webhookExample('repository_dispatch')
  payload.action = type
  payload.client_payload = client
  return payload
}

const check = (sha: string) =>
  github.checkRuns.find((c) => c.name === 'ml-promote / fraud-detector' && c.head_sha === sha)
const claims = () =>
  [...github.deployments, ...github.deletedDeployments].flatMap((d) =>
    d.statuses.filter((s) => s.description?.startsWith('ml-promote claim '))
  )
const promotions = () =>
  github.deployments.filter((d) => (d.payload as { outcome?: string }).outcome === 'promoted')
const since = (n: number): RecordedCall[] => github.calls.slice(n)
const completions = (calls: RecordedCall[]) =>
  calls.filter(
    (c) =>
      c.operation.includes('check-runs') &&
      (c.body as { status?: string } | undefined)?.status === 'completed'
  )
const commentWrites = (calls: RecordedCall[]) =>
  calls.filter((c) => c.method !== 'GET' && c.operation.includes('comments'))

describe('a completion callback concludes the training it names', () => {
  it('workflow_run: the step exits, the training ends, the callback completes check and comment', async () => {
    const { head, runId } = await startGate()
    expect(check(head)).toMatchObject({ status: 'in_progress' })
    expect(github.comments[0]!.body).toContain('is training in `staging`')

    github.completeRun(runId)
    const before = github.calls.length
    const done = await action('workflow_run', workflowRunEvent(runId))
    expect(done.stderr).toBe('')
    expect(done.code).toBe(0)
    expect(done.outputs.verdict).toBe('pass')
    expect(check(head)).toMatchObject({ status: 'completed', conclusion: 'success' })
    expect(github.comments).toHaveLength(1)
    expect(github.comments[0]!.body).toContain('passed the `staging` gate')
    expect(claims()).toHaveLength(1)
    // Concluded and removed: the pending environment is empty again.
    expect(github.deployments).toEqual([])
    const calls = since(before)
    expect(completions(calls)).toHaveLength(1)
    expect(commentWrites(calls)).toHaveLength(1)
    expect(
      calls.filter((c) => c.operation === 'GET /repos/{owner}/{repo}/deployments')
    ).toHaveLength(
      2 // the pending list, then the staging history the gate compares against
    )
  })

  it('repository_dispatch: names the backend and run; a retrain is promoted once', async () => {
    const runId = await startRetrain()
    github.completeRun(runId)
    const done = await action(
      'repository_dispatch',
      dispatchEvent({ backend: 'github-workflow', run_id: String(runId) }),
      { inputs: { mode: 'reconcile' } }
    )
    expect(done.code).toBe(0)
    expect(done.outputs.verdict).toBe('pass')
    expect(promotions()).toHaveLength(1)
    expect(check(base)).toMatchObject({ status: 'completed', conclusion: 'success' })
  })

  it('forged and unrelated callbacks conclude nothing and cannot change the verdict', async () => {
    const { head, runId } = await startGate()

    // Another workflow's run: one read, nothing written.
    let before = github.calls.length
    const other = await action('workflow_run', workflowRunEvent(runId + 100))
    expect(other.code).toBe(0)
    expect(other.stdout).toContain('no training started without waiting matches')
    expect(since(before).map((c) => c.operation)).toEqual(['GET /repos/{owner}/{repo}/deployments'])
    expect(check(head)).toMatchObject({ status: 'in_progress' })

    // The right run named early, while it still trains: the backend is asked, nothing written.
    before = github.calls.length
    const early = await action('workflow_run', workflowRunEvent(runId))
    expect(early.code).toBe(0)
    expect(early.outputs.verdict).toBe('pending')
    expect(since(before).filter((c) => c.method !== 'GET')).toEqual([])
    expect(check(head)).toMatchObject({ status: 'in_progress' })

    // A payload that names no training is refused before anything is read.
    before = github.calls.length
    const bad = await action('repository_dispatch', dispatchEvent({ run: runId }))
    expect(bad.code).toBe(1)
    expect(bad.stdout).toMatch(/::error::.*client_payload names "backend" and "run_id"/)
    expect(since(before)).toEqual([])

    // Sent by the training's last task with a verdict, gate and metrics of its own, while the run
    // is still finishing; the run then fails. The reconcile waits for the end and judges what the
    // backend reports, not what the payload says.
    const ends = setTimeout(() => github.completeRun(runId, 'failure'), 2000)
    const forged = await action(
      'repository_dispatch',
      dispatchEvent({
        backend: 'github-workflow',
        run_id: runId,
        verdict: 'pass',
        gate: { auc: { threshold: 0 } },
        metrics: { auc: 1 }
      })
    )
    clearTimeout(ends)
    expect(forged.code).toBe(1)
    expect(forged.outputs.verdict).toBe('fail')
    expect(JSON.parse(forged.outputs.results!)[0].verdict).toBe('error')
    expect(check(head)).toMatchObject({ status: 'completed', conclusion: 'failure' })

    // Concluded: a later "success" callback for the same run finds nothing to conclude.
    const late = await action('workflow_run', workflowRunEvent(runId, 'success'))
    expect(late.code).toBe(0)
    expect(late.stdout).toContain('no training started without waiting matches')
    expect(check(head)).toMatchObject({ status: 'completed', conclusion: 'failure' })
  })
})

describe('exactly once', () => {
  it('two reconciles started together on the same trainings conclude each once', async () => {
    const { head, runId: gateRun } = await startGate()
    const retrainRun = await startRetrain()
    github.completeRun(gateRun)
    github.completeRun(retrainRun)
    // Both read the claims back only after both wrote theirs.
    github.inject({
      method: 'GET',
      path: '/repos/{owner}/{repo}/deployments/{deployment_id}/statuses',
      kind: 'delay',
      delayMs: 1500,
      times: 4
    })
    const before = github.calls.length
    const [a, b] = await Promise.all([
      action('workflow_run', workflowRunEvent(gateRun)),
      action('schedule', { schedule: '17 * * * *' }, { inputs: { mode: 'reconcile' } })
    ])
    expect([a.code, b.code]).toEqual([0, 0])
    expect(a.stderr + b.stderr).toBe('')
    expect(`${a.stdout}\n${b.stdout}`).toContain('another reconcile is concluding')
    expect(claims().length).toBeGreaterThanOrEqual(3)
    const calls = since(before)
    expect(promotions()).toHaveLength(1)
    expect(completions(calls)).toHaveLength(2)
    expect(commentWrites(calls)).toHaveLength(1)
    expect(check(head)).toMatchObject({ status: 'completed', conclusion: 'success' })
    expect(check(base)).toMatchObject({ status: 'completed', conclusion: 'success' })
    expect(github.deployments.filter((d) => d.environment === 'ml-promote-pending')).toEqual([])
  })

  it('a reconcile killed between recording and reporting is repaired by a later one', async () => {
    const runId = await startRetrain()
    github.completeRun(runId)
    // Reporting stalls, so the kill lands after the promotion is recorded and before the check.
    github.inject({ path: /check-runs/, kind: 'delay', delayMs: 5000, times: 2 })
    const killed = await action('workflow_run', workflowRunEvent(runId), {
      onSpawn: signalWhenOutput('is the champion', 'SIGKILL')
    })
    expect(killed.signal).toBe('SIGKILL')
    expect(promotions()).toHaveLength(1)
    expect(check(base)).toMatchObject({ status: 'in_progress' })

    // Its claim is young: a reconcile now leaves the training alone.
    const soon = await action('schedule', {}, { inputs: { mode: 'reconcile' } })
    expect(soon.code).toBe(0)
    expect(soon.outputs.verdict).toBe('pending')
    expect(soon.stdout).toContain('another reconcile is concluding')

    // Once the claim is old, the next one finishes the job without recording a second promotion.
    github.advanceClock(CLAIM_TTL_MS + 60_000)
    const later = await action('schedule', {}, { inputs: { mode: 'reconcile' } })
    expect(later.code).toBe(0)
    expect(later.outputs.verdict).toBe('pass')
    expect(promotions()).toHaveLength(1)
    expect(check(base)).toMatchObject({ status: 'completed', conclusion: 'success' })
    expect(github.deployments.filter((d) => d.environment === 'ml-promote-pending')).toEqual([])
  })
})

describe('faults and deadlines', () => {
  it('a backend that is down leaves the training pending, never failed', async () => {
    const { head, runId } = await startGate()
    github.completeRun(runId)
    github.inject({
      method: 'GET',
      path: '/repos/{owner}/{repo}/actions/runs/{run_id}',
      kind: 'status',
      status: 503,
      times: 50
    })
    const down = await action('workflow_run', workflowRunEvent(runId))
    expect(down.code).toBe(0)
    expect(down.outputs.verdict).toBe('pending')
    expect(down.summary).toContain('will retry')
    expect(check(head)).toMatchObject({ status: 'in_progress' })
    expect(claims()).toEqual([])
  })

  it('a training past its deadline is cancelled remotely and concluded timed out', async () => {
    git(dir, 'checkout', '-q', 'main')
    const started = await action(
      'push',
      pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: base }),
      { inputs: { wait: 'false', 'timeout-minutes': '0.05' } }
    )
    expect(started.outputs.verdict).toBe('pending')
    const runId = github.workflowRuns.at(-1)!.id
    await new Promise((r) => setTimeout(r, 3500))
    const late = await action('schedule', {}, { inputs: { mode: 'reconcile' } })
    expect(late.code).toBe(1)
    expect(late.outputs.verdict).toBe('fail')
    expect(JSON.parse(late.outputs.results!)[0].reason).toMatch(/timed out/)
    expect(
      github.calls.filter(
        (c) => c.operation === 'POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel'
      )
    ).toHaveLength(1)
    expect(github.workflowRuns.find((r) => r.id === runId)!.cancelled).toBe(true)
    expect(check(base)).toMatchObject({ status: 'completed', conclusion: 'failure' })
    expect(promotions()).toEqual([])
  })
})
