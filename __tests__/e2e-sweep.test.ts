// The safety sweep costs nothing while nothing is pending: through the bundled action against the
// fake GitHub, the run that starts a training with `wait: false` turns the `sweep_workflow` on, and
// the reconcile that leaves nothing pending turns it off again — even when a training is recorded
// while it does so.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { FakeGitHub } from '../test/fakes/github-server.js'
import {
  commitAll,
  exampleWorkspace,
  pushPayload,
  runAction,
  webhookExample,
  type ActionRun
} from '../test/e2e/harness.js'

const TOKEN = 'ghs_sweepToken'
const SWEEP = 'ml-sweep.yml'
const ENABLE = 'PUT /repos/{owner}/{repo}/actions/workflows/{workflow_id}/enable'
const DISABLE = 'PUT /repos/{owner}/{repo}/actions/workflows/{workflow_id}/disable'
const LIST = 'GET /repos/{owner}/{repo}/deployments'
let github: FakeGitHub
let dir: string
let base: string

beforeEach(async () => {
  github = await FakeGitHub.start({
    workflowRun: {
      queuedPolls: 1,
      runningPolls: 1_000_000,
      conclusion: 'success',
      artifacts: { 'ml-promote-metrics': { 'metrics.json': '{"auc": 0.95}' } }
    }
  })
  const ws = exampleWorkspace()
  dir = ws.dir
  writeFileSync(
    path.join(dir, '.github/ml-promote.yml'),
    [
      'version: 1',
      `sweep_workflow: ${SWEEP}`,
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud-detector:',
      '    train: { backend: github-workflow, workflow: train.yml }',
      '    gate: { auc: { threshold: 0.9 } }',
      ''
    ].join('\n')
  )
  base = commitAll(dir, 'train in a workflow, sweep only while pending')
  github.setBranch('main', base)
  // As an idle repository leaves it.
  github.disabledWorkflows.add(SWEEP)
})

afterEach(async () => {
  expect(github.violations).toEqual([])
  await github.close()
})

/** The action as the workflow `workflow` of this repository runs it. */
function action(
  workflow: string,
  event: string,
  payload: Record<string, unknown>,
  inputs: Record<string, string>
): Promise<ActionRun> {
  return runAction({
    workspace: dir,
    event,
    payload,
    inputs: { 'github-token': TOKEN, ...inputs },
    env: {
      GITHUB_API_URL: github.url,
      GITHUB_WORKFLOW_REF: `octo-org/fraud-models/.github/workflows/${workflow}@refs/heads/main`
    }
  })
}

const start = () =>
  action(
    'ml-promote.yml',
    'push',
    pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: base }),
    { wait: 'false' }
  )
const sweep = () => action(SWEEP, 'schedule', {}, { mode: 'reconcile' })

function callback(id: number): Promise<ActionRun> {
  const payload = webhookExample('workflow_run', 'completed')
  payload.workflow_run.id = id
  return action('ml-reconcile.yml', 'workflow_run', payload, { mode: 'reconcile' })
}

describe('the safety sweep is on only while a training is pending', () => {
  it('is turned on by the start, left on while it trains, turned off by the callback that ends it', async () => {
    const started = await start()
    expect(started.outputs.verdict).toBe('pending')
    expect(github.count(ENABLE)).toBe(1)
    expect(github.disabledWorkflows.has(SWEEP)).toBe(false)

    const running = await sweep()
    expect(running.outputs.verdict).toBe('pending')
    expect(github.count(DISABLE)).toBe(0)

    const id = github.workflowRuns[0]!.id
    github.completeRun(id)
    const ended = await callback(id)
    expect(ended.code).toBe(0)
    expect(ended.outputs.verdict).toBe('pass')
    expect(github.count(DISABLE)).toBe(1)
    expect(github.disabledWorkflows.has(SWEEP)).toBe(true)
    expect(ended.stdout).toContain(`safety sweep ${SWEEP} disabled: nothing is pending`)
  })

  it('turns itself off when it finds nothing, for a small constant number of calls', async () => {
    github.disabledWorkflows.delete(SWEEP)
    const before = github.calls.length
    const idle = await sweep()
    expect(idle.code).toBe(0)
    // One look at the pending trainings, the switch, one look again.
    expect(github.calls.slice(before).map((c) => c.operation)).toEqual([LIST, DISABLE, LIST])
    expect(github.disabledWorkflows.has(SWEEP)).toBe(true)
  })

  it('turns itself back on when a training is recorded while it turns off', async () => {
    github.disabledWorkflows.delete(SWEEP)
    // The switch is slow: a training starts and records itself in the meantime.
    github.inject({ kind: 'delay', method: 'PUT', path: /\/disable$/, delayMs: 8000 })
    const idle = sweep()
    while (github.count(DISABLE) === 0) await new Promise((r) => setTimeout(r, 50))
    const started = await start()
    expect(started.outputs.verdict).toBe('pending')
    expect((await idle).code).toBe(0)
    expect(github.count(ENABLE)).toBe(2)
    expect(github.disabledWorkflows.has(SWEEP)).toBe(false)
  }, 30_000)

  it('is never turned off by the workflow that receives the callbacks', async () => {
    await start()
    const id = github.workflowRuns[0]!.id
    github.completeRun(id)
    const payload = webhookExample('workflow_run', 'completed')
    payload.workflow_run.id = id
    const ended = await action(SWEEP, 'workflow_run', payload, { mode: 'reconcile' })
    expect(ended.outputs.verdict).toBe('pass')
    expect(github.count(DISABLE)).toBe(0)
    expect(ended.stdout).toMatch(/::warning::sweep_workflow ml-sweep\.yml also receives the/)
  })

  it('warns, and changes no result, when the token may not switch workflows', async () => {
    github.inject({ kind: 'status', status: 403, method: 'PUT', path: /\/enable$/ })
    const started = await start()
    expect(started.code).toBe(0)
    expect(started.outputs.verdict).toBe('pending')
    expect(started.stdout).toMatch(
      /::warning::could not enable the safety sweep ml-sweep\.yml \(sweep_workflow\)/
    )
    expect(github.disabledWorkflows.has(SWEEP)).toBe(true)
  })
})
