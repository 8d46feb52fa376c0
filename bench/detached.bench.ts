// What a detached gate costs while a remote model trains for two hours, measured on the bundled
// action against the fake GitHub (the training is a dispatched workflow run there): the process
// seconds of each step, then GitHub's billing applied (every job rounded up to a whole minute).
// Also the GitHub API calls of a reconcile: idle over 200 models with a year of history, and per
// pending training.
import { it } from '@jest/globals'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { FakeGitHub } from '../test/fakes/github-server.js'
import {
  commitAll,
  exampleWorkspace,
  pushPayload,
  runAction,
  webhookExample
} from '../test/e2e/harness.js'
import { figure } from './report.js'

/** Assumed seconds a job spends before the action starts: set-up job, checkout, Node. */
const JOB_STARTUP_S = 20
const TRAINING_S = 2 * 60 * 60
const CRON_EVERY_S = 10 * 60
/** The README's safety cron for the callback recipe. */
const SAFETY_EVERY_S = 3 * 60 * 60
const TOKEN = 'ghs_benchDetached'

const billed = (seconds: number) => Math.ceil((JOB_STARTUP_S + seconds) / 60)

function config(models: number, sweep = false): string {
  const lines = [
    'version: 1',
    ...(sweep ? ['sweep_workflow: ml-sweep.yml'] : []),
    'environments:',
    '  staging: { branch: main }',
    '  production: { branch: release }',
    'models:'
  ]
  for (let i = 0; i < models; i++) {
    lines.push(
      `  model-${i}:`,
      `    paths: ["models/m${i}/**"]`,
      '    train: { backend: github-workflow, workflow: train.yml }',
      '    gate: { auc: { threshold: 0.9 } }'
    )
  }
  return lines.join('\n') + '\n'
}

async function setUp(models: number, sweep = false) {
  const github = await FakeGitHub.start({
    workflowRun: {
      queuedPolls: 1,
      runningPolls: 1_000_000,
      conclusion: 'success',
      artifacts: { 'ml-promote-metrics': { 'metrics.json': '{"auc": 0.95}' } }
    }
  })
  const ws = exampleWorkspace()
  writeFileSync(path.join(ws.dir, '.github/ml-promote.yml'), config(models, sweep))
  const sha = commitAll(ws.dir, `${models} models`)
  github.setBranch('main', sha)
  const run = async (event: string, payload: Record<string, unknown>, inputs = {}) => {
    const t = process.hrtime.bigint()
    const r = await runAction({
      workspace: ws.dir,
      event,
      payload,
      inputs: { 'github-token': TOKEN, ...inputs },
      env: {
        GITHUB_API_URL: github.url,
        GITHUB_WORKFLOW_REF: 'octo-org/fraud-models/.github/workflows/ml-sweep.yml@refs/heads/main'
      }
    })
    return { ...r, seconds: Number(process.hrtime.bigint() - t) / 1e9 }
  }
  return { github, sha, run }
}

it('detached gates: billed minutes and API calls', async () => {
  // One training: started without waiting, looked at while it runs, concluded by its callback.
  const one = await setUp(1)
  let seconds: { start: number; running: number; callback: number; idle: number }
  try {
    const push = pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: one.sha })
    const start = await one.run('push', push, { wait: 'false' })
    if (start.outputs.verdict !== 'pending') throw new Error(start.stdout)
    const running = await one.run('schedule', {}, { mode: 'reconcile' })
    if (running.outputs.verdict !== 'pending') throw new Error(running.stdout)
    const id = one.github.workflowRuns[0]!.id
    one.github.completeRun(id)
    const event = webhookExample('workflow_run', 'completed')
    event.workflow_run.id = id
    const callback = await one.run('workflow_run', event)
    if (callback.outputs.verdict !== 'pass') throw new Error(callback.stdout)
    const idle = await one.run('schedule', {}, { mode: 'reconcile' })
    if (idle.code !== 0) throw new Error(idle.stdout)
    seconds = {
      start: start.seconds,
      running: running.seconds,
      callback: callback.seconds,
      idle: idle.seconds
    }
  } finally {
    await one.github.close()
  }

  // The job that starts the training runs in every recipe; these count what comes on top of it.
  const startJob = billed(seconds.start)
  const waiting = billed(seconds.start + TRAINING_S) - startJob
  const cronRuns = TRAINING_S / CRON_EVERY_S
  const cron = (cronRuns - 1) * billed(seconds.running) + billed(seconds.callback)
  const safetyRuns = Math.ceil(TRAINING_S / SAFETY_EVERY_S)
  const callback = billed(seconds.callback) + safetyRuns * billed(seconds.idle)
  const hourly = billed(seconds.callback) + (TRAINING_S / 3600) * billed(seconds.idle)
  figure('job start-up assumed', JOB_STARTUP_S, 's')
  figure('billed minutes waiting', waiting)
  figure('billed minutes detached cron', cron)
  figure('billed minutes detached callback', callback)
  figure('billed minutes detached callback, hourly safety cron', hourly)
  const waitingSeconds = seconds.start + TRAINING_S
  const callbackSeconds = seconds.start + seconds.callback + safetyRuns * seconds.idle
  figure(
    'runner-seconds ratio',
    `${(waitingSeconds / callbackSeconds).toFixed(0)} (${waitingSeconds.toFixed(0)} s / ${callbackSeconds.toFixed(1)} s)`
  )

  // A month with nothing to train: an hourly safety sweep that always runs, against one that
  // turns itself off (sweep_workflow). Each hour's cron runs a job only while the fake says the
  // workflow is enabled, as GitHub does.
  const HOURS = 30 * 24
  const idleMonth = await setUp(1, true)
  let selfDisabling = 0
  try {
    for (let hour = 0; hour < HOURS; hour++) {
      if (idleMonth.github.disabledWorkflows.has('ml-sweep.yml')) continue
      const idle = await idleMonth.run('schedule', {}, { mode: 'reconcile' })
      if (idle.code !== 0) throw new Error(idle.stdout)
      selfDisabling += billed(idle.seconds)
    }
  } finally {
    await idleMonth.github.close()
  }
  figure('billed minutes idle month, hourly safety cron always on', HOURS * billed(seconds.idle))
  figure('billed minutes idle month, self-disabling safety sweep', selfDisabling)

  // 200 models × 2 environments with a year of weekly retrains recorded, nothing pending.
  const many = await setUp(200)
  try {
    const year = new Date(Date.now() - 365 * 86_400_000)
    let id = 1
    for (let m = 0; m < 200; m++) {
      for (const environment of ['staging', 'production']) {
        for (let week = 0; week < 52; week++) {
          const at = new Date(year.getTime() + week * 7 * 86_400_000).toISOString()
          many.github.deployments.push({
            id: id++,
            sha: many.sha,
            ref: many.sha,
            task: `ml-promote:model-${m}`,
            environment,
            payload: { model: `model-${m}`, environment, outcome: 'promoted', metrics: {} },
            description: null,
            transient_environment: false,
            production_environment: environment === 'production',
            created_at: at,
            statuses: [{ id: id++, state: 'success', created_at: at }]
          })
        }
      }
    }
    const before = many.github.calls.length
    const idle = await many.run('schedule', {}, { mode: 'reconcile' })
    if (idle.code !== 0) throw new Error(idle.stdout)
    figure(
      'reconcile api calls idle 200 models',
      `${many.github.calls.length - before} (${many.github.deployments.length} deployments recorded)`
    )
  } finally {
    await many.github.close()
  }

  // k pending trainings concluded by one reconcile: its calls grow with k only.
  const k = 4
  const several = await setUp(k)
  try {
    const push = pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: several.sha })
    const start = await several.run('push', push, { wait: 'false' })
    if (start.outputs.verdict !== 'pending') throw new Error(start.stdout)
    let before = several.github.calls.length
    await several.run('schedule', {}, { mode: 'reconcile' })
    const running = (several.github.calls.length - before - 1) / k
    for (const r of several.github.workflowRuns) several.github.completeRun(r.id)
    before = several.github.calls.length
    const done = await several.run('schedule', {}, { mode: 'reconcile' })
    if (done.outputs.verdict !== 'pass') throw new Error(done.stdout)
    const calls = several.github.calls.slice(before)
    const backend = calls.filter((c) => c.operation.includes('/actions/')).length
    figure(
      'reconcile api calls per pending training',
      `${(calls.length - 1) / k} (${backend / k} of them the training backend's; ${running} while it still runs)`
    )
  } finally {
    await several.github.close()
  }
})
