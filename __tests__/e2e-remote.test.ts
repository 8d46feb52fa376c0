// The bundled action training on a remote backend (a Databricks fake that enforces the Jobs 2.2
// contract): re-runs attach instead of starting twice, and cancelling the workflow cancels the
// remote run, from the main step on SIGINT and from the post step after a kill.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { FakeDatabricks } from '../test/fakes/databricks-server.js'
import { commitAll, exampleWorkspace, pushPayload, runAction } from '../test/e2e/harness.js'

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
      onSpawn: (child, output) => {
        const timer = setInterval(() => {
          if (output().includes('training started on databricks')) {
            clearInterval(timer)
            signalled = Date.now()
            child.kill('SIGINT')
          }
        }, 50)
        child.on('close', () => clearInterval(timer))
      }
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
      onSpawn: (child, output) => {
        const timer = setInterval(() => {
          if (output().includes('training started on databricks')) {
            clearInterval(timer)
            child.kill('SIGKILL')
          }
        }, 50)
        child.on('close', () => clearInterval(timer))
      }
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
