// The bundled action training on a remote backend (a Databricks fake that enforces the Jobs 2.2
// contract): re-runs attach instead of starting twice, and cancelling the workflow cancels the
// remote run, from the main step on SIGINT and from the post step after a kill.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { FakeDatabricks } from '../test/fakes/databricks-server.js'
import { FakeGitHub } from '../test/fakes/github-server.js'
import {
  commitAll,
  exampleWorkspace,
  git,
  pullRequestPayload,
  pushPayload,
  runAction,
  runCli,
  signalWhenOutput
} from '../test/e2e/harness.js'

const PAT = 'dapi0123456789abcdef0123456789abcdef'
const METRICS = { auc: 0.93, recall: 0.74, latency_ms: 12 }
let fake: FakeDatabricks

async function start(pollsPerState: number): Promise<void> {
  fake = await FakeDatabricks.start({ pats: [PAT], pollsPerState })
  fake.addJob({
    job_id: 11,
    name: 'fraud-train',
    tasks: ['train', 'evaluate'],
    outcome: { exits: { evaluate: JSON.stringify(METRICS) } }
  })
}

afterEach(async () => {
  await fake.close()
})

/** The example project with its model trained on Databricks instead of the runner. */
function databricksWorkspace(): { dir: string; sha: string } {
  const ws = exampleWorkspace()
  writeFileSync(
    path.join(ws.dir, '.github/ml-promote.yml'),
    [
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      '  production: { branch: release, schedule: true }',
      'models:',
      '  fraud-detector:',
      '    train: { backend: databricks, job: fraud-train, metrics_task: evaluate }',
      '    gate:',
      '      auc: { threshold: 0.85, min_absolute_change: -0.02 }',
      '      recall: { threshold: 0.6 }',
      ''
    ].join('\n')
  )
  return { dir: ws.dir, sha: commitAll(ws.dir, 'train on databricks') }
}

const env = () => ({ DATABRICKS_HOST: fake.url, DATABRICKS_TOKEN: PAT })

describe('databricks backend through the bundled action', () => {
  beforeEach(() => start(1))

  it('trains remotely, gates the notebook exit metrics, and a re-run attaches to the same run', async () => {
    const ws = databricksWorkspace()
    const payload = pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: ws.sha })
    const first = await runAction({ workspace: ws.dir, event: 'push', payload, env: env() })
    expect(first.code).toBe(0)
    const r = JSON.parse(first.outputs.results!)[0]
    expect(r).toMatchObject({ verdict: 'pass', metrics: METRICS, run: { backend: 'databricks' } })
    expect(r.run.url).toContain('/jobs/11/runs/')
    expect(first.stdout).toContain(`::add-mask::${PAT}`)
    expect(
      first.stdout.split('\n').filter((l) => l.includes(PAT) && !l.startsWith('::add-mask::'))
    ).toEqual([])

    const rerun = await runAction({ workspace: ws.dir, event: 'push', payload, env: env() })
    expect(rerun.code).toBe(0)
    expect(fake.runsStarted).toBe(1)
    expect(JSON.parse(rerun.outputs.results!)[0].run).toMatchObject({
      id: r.run.id,
      attached: true
    })
  })
})

describe('workflow cancellation', () => {
  beforeEach(() => start(100_000))

  it('SIGINT during the wait cancels the remote run before the runner would kill the step', async () => {
    const ws = databricksWorkspace()
    let signalled = 0
    const run = await runAction({
      workspace: ws.dir,
      event: 'push',
      payload: pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: ws.sha }),
      env: env(),
      onSpawn: signalWhenOutput(
        'training started on databricks',
        'SIGINT',
        (at) => (signalled = at)
      )
    })
    expect(signalled).toBeGreaterThan(0)
    const cancels = fake.callsTo('runs/cancel')
    expect(cancels).toHaveLength(1)
    // The runner sends SIGTERM 7.5 s after SIGINT and kills 2.5 s later: the cancel must land first.
    expect(Date.now() - signalled).toBeLessThan(7500)
    expect(run.code).toBe(1)
    expect(run.stdout).toMatch(/::error::.*cancel/i)
    expect(JSON.parse(run.outputs.results!)[0].verdict).toBe('error')
  })

  it('the post step cancels a remote run the killed main step left behind', async () => {
    const ws = databricksWorkspace()
    const main = await runAction({
      workspace: ws.dir,
      event: 'push',
      payload: pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: ws.sha }),
      env: env(),
      onSpawn: signalWhenOutput('training started on databricks', 'SIGKILL')
    })
    expect(main.signal).toBe('SIGKILL')
    expect(fake.callsTo('runs/cancel')).toHaveLength(0)
    expect(main.state.isPost).toBe('true')
    expect(JSON.parse(main.state.pending!)).toHaveLength(1)

    const post = await runAction({
      workspace: ws.dir,
      event: 'push',
      payload: pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: ws.sha }),
      env: env(),
      postState: main.state
    })
    expect(post.code).toBe(0)
    expect(fake.callsTo('runs/cancel')).toHaveLength(1)
    expect(post.stdout).toContain('cancelled databricks run')
  })
})

describe('wait: false — no runner held while the model trains', () => {
  let github: FakeGitHub
  beforeEach(async () => {
    await start(1)
    github = await FakeGitHub.start()
  })
  afterEach(async () => {
    expect(github.violations).toEqual([])
    await github.close()
  })
  const gh = () => ({ GITHUB_API_URL: github.url })
  const TOKEN = 'ghs_waitFalseToken'

  async function reconcileUntilDone(dir: string, checkName: string): Promise<number> {
    for (let i = 1; i <= 10; i++) {
      const r = await runAction({
        workspace: dir,
        event: 'schedule',
        payload: { schedule: '*/10 * * * *' },
        inputs: { mode: 'reconcile', 'github-token': TOKEN },
        env: { ...env(), ...gh() }
      })
      expect(r.stderr).toBe('')
      if (github.checkRuns.find((c) => c.name === checkName)?.status === 'completed') {
        expect(r.code).toBe(0)
        return i
      }
      expect(r.outputs.verdict).toBe('pending')
    }
    throw new Error('reconcile never concluded the training')
  }

  it('a PR gate returns at once with the check in progress; reconcile runs conclude it', async () => {
    const ws = databricksWorkspace()
    git(ws.dir, 'checkout', '-q', '-b', 'feature')
    writeFileSync(path.join(ws.dir, 'models/fraud/params.json'), '{}\n')
    const head = commitAll(ws.dir, 'change the model')
    github.setPull(31, {
      head: { sha: head, ref: 'feature' },
      base: { sha: ws.sha, ref: 'main' },
      files: ['models/fraud/params.json']
    })
    const started = await runAction({
      workspace: ws.dir,
      event: 'pull_request',
      ref: 'refs/pull/31/merge',
      payload: pullRequestPayload({
        number: 31,
        headSha: head,
        headRef: 'feature',
        baseSha: ws.sha,
        baseRef: 'main'
      }),
      inputs: { wait: 'false', 'github-token': TOKEN },
      env: { ...env(), ...gh() }
    })
    expect(started.stderr).toBe('')
    expect(started.code).toBe(0)
    expect(started.outputs.verdict).toBe('pending')
    const check = () => github.checkRuns.find((c) => c.name === 'ml-promote / fraud-detector')
    expect(check()).toMatchObject({ status: 'in_progress', head_sha: head })
    expect(fake.runsStarted).toBe(1)
    // Only the start and one look for the run page were made: nothing waited.
    expect(fake.callsTo('runs/get').length).toBeLessThanOrEqual(1)
    // Recorded apart from the history, in the one environment every pending training shares.
    expect(github.deployments).toHaveLength(1)
    expect(github.deployments[0]).toMatchObject({
      environment: 'ml-promote-pending',
      task: 'ml-promote:pending',
      sha: head
    })
    expect(github.deployments[0]!.statuses[0]!.state).toBe('in_progress')
    expect(github.comments[0]!.body).toContain('is training in `staging`')

    const rounds = await reconcileUntilDone(ws.dir, 'ml-promote / fraud-detector')
    expect(rounds).toBeGreaterThan(1)
    expect(check()).toMatchObject({ status: 'completed', conclusion: 'success' })
    expect(github.comments).toHaveLength(1)
    expect(github.comments[0]!.body).toContain('passed the `staging` gate')
    expect(github.comments[0]!.body).toContain(
      `## ml-promote: gate in staging\n\nCommit \`${head.slice(0, 7)}\``
    )
    // Concluded: claimed once, marked inactive, then deleted, so it is never listed again.
    expect(github.deployments).toHaveLength(0)
    const states = github.deletedDeployments[0]!.statuses.map((x) => x.state)
    expect(states.slice(-2)).toEqual(['in_progress', 'inactive'])
    expect(
      github.deletedDeployments[0]!.statuses.filter((x) =>
        x.description?.startsWith('ml-promote claim')
      )
    ).toHaveLength(1)
    expect(fake.runsStarted).toBe(1)

    // Nothing is left: another reconcile asks Databricks nothing.
    const polls = fake.callsTo('runs/get').length
    const callsBefore = github.calls.length
    const idle = await runAction({
      workspace: ws.dir,
      event: 'schedule',
      payload: {},
      inputs: { mode: 'reconcile', 'github-token': TOKEN },
      env: { ...env(), ...gh() }
    })
    expect(idle.code).toBe(0)
    expect(fake.callsTo('runs/get').length).toBe(polls)
    expect(github.calls.length - callsBefore).toBe(1)
    expect(idle.summary).toContain('No training was waiting')
  })

  it('a promotion started without waiting becomes the champion when reconcile concludes it', async () => {
    const ws = databricksWorkspace()
    const push = await runAction({
      workspace: ws.dir,
      event: 'push',
      payload: pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: ws.sha }),
      inputs: { wait: 'false', 'github-token': TOKEN },
      env: { ...env(), ...gh() }
    })
    expect(push.code).toBe(0)
    expect(push.outputs.verdict).toBe('pending')
    await reconcileUntilDone(ws.dir, 'ml-promote / fraud-detector')
    const promoted = github.deployments.find(
      (d) => (d.payload as { outcome?: string }).outcome === 'promoted'
    )
    expect(promoted).toMatchObject({ sha: ws.sha, environment: 'staging' })
    expect(promoted!.statuses[0]!.state).toBe('success')
    expect((promoted!.payload as { pending_id?: string }).pending_id).toBe(
      String(github.deletedDeployments[0]!.id)
    )
  })
})

describe('the CLI without waiting', () => {
  beforeEach(() => start(1))

  it('run --no-wait records the training in the file store; reconcile concludes and promotes it', async () => {
    const ws = databricksWorkspace()
    const cli = (...args: string[]) => runCli([...args, '--quiet'], { cwd: ws.dir, env: env() })
    const started = await cli('run', '--event', 'push', '--branch', 'main', '--no-wait', '--json')
    expect(started.status).toBe(0)
    expect(JSON.parse(started.stdout)[0]).toMatchObject({
      verdict: 'pending',
      run: { backend: 'databricks' }
    })
    const state = JSON.parse(readFileSync(path.join(ws.dir, '.ml-promote/state.json'), 'utf8'))
    expect(state.pending).toHaveLength(1)

    let last: Awaited<ReturnType<typeof cli>> | undefined
    for (let i = 0; i < 10; i++) {
      last = await cli('reconcile', '--json')
      expect(last.status).toBe(0)
      if (JSON.parse(last.stdout)[0]?.verdict !== 'pending') break
    }
    expect(JSON.parse(last!.stdout)[0]).toMatchObject({
      verdict: 'pass',
      promoted: true,
      metrics: METRICS
    })
    expect(fake.runsStarted).toBe(1)
    expect((await cli('champions')).stdout).toMatch(
      /^fraud-detector \[staging\]: [0-9a-f]{7} since /m
    )
    expect(JSON.parse((await cli('reconcile', '--json')).stdout)).toEqual([])
  })
})
