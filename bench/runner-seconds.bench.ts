// Runner time held by a gate on a remote training, measured on the bundled action against the
// Databricks and GitHub fakes: waiting in the step (wait: true) against starting it and letting
// reconcile runs conclude it (wait: false). The fake job ends after the same number of status
// looks in both cases.
import { it } from '@jest/globals'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { FakeDatabricks } from '../test/fakes/databricks-server.js'
import { FakeGitHub } from '../test/fakes/github-server.js'
import { commitAll, exampleWorkspace, pushPayload, runAction } from '../test/e2e/harness.js'
import { figure } from './report.js'

const PAT = 'dapi0123456789abcdef0123456789abcdef'

async function setUp() {
  const databricks = await FakeDatabricks.start({ pats: [PAT], pollsPerState: 1 })
  databricks.addJob({
    job_id: 11,
    name: 'fraud-train',
    tasks: ['evaluate'],
    outcome: { exits: { evaluate: JSON.stringify({ auc: 0.93 }) } }
  })
  const github = await FakeGitHub.start()
  const ws = exampleWorkspace()
  writeFileSync(
    path.join(ws.dir, '.github/ml-promote.yml'),
    'version: 1\nenvironments:\n  staging: { branch: main }\nmodels:\n  fraud-detector:\n    train: { backend: databricks, job: fraud-train }\n    gate:\n      auc: { threshold: 0.85 }\n'
  )
  const sha = commitAll(ws.dir, 'databricks')
  const env = { DATABRICKS_HOST: databricks.url, DATABRICKS_TOKEN: PAT, GITHUB_API_URL: github.url }
  return { databricks, github, dir: ws.dir, sha, env }
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = Date.now()
  const value = await fn()
  return [value, (Date.now() - t) / 1000]
}

it('runner-seconds held', async () => {
  const waiting = await setUp()
  const [waited, waitSeconds] = await timed(() =>
    runAction({
      workspace: waiting.dir,
      event: 'push',
      payload: pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: waiting.sha }),
      inputs: { 'github-token': 'ghs_bench' },
      env: waiting.env
    })
  )
  if (waited.outputs.verdict !== 'pass') throw new Error(waited.stdout)
  const looks = waiting.databricks.callsTo('runs/get').length
  await waiting.databricks.close()
  await waiting.github.close()

  const detached = await setUp()
  const [started, startSeconds] = await timed(() =>
    runAction({
      workspace: detached.dir,
      event: 'push',
      payload: pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: detached.sha }),
      inputs: { 'github-token': 'ghs_bench', wait: 'false' },
      env: detached.env
    })
  )
  if (started.outputs.verdict !== 'pending') throw new Error(started.stdout)
  let reconcileSeconds = 0
  let reconciles = 0
  for (; reconciles < 20;) {
    const [r, s] = await timed(() =>
      runAction({
        workspace: detached.dir,
        event: 'schedule',
        payload: {},
        inputs: { mode: 'reconcile', 'github-token': 'ghs_bench' },
        env: detached.env
      })
    )
    reconciles++
    reconcileSeconds += s
    if (r.outputs.verdict === 'pass') break
  }
  await detached.databricks.close()
  await detached.github.close()
  figure('runner-seconds held, wait: true', waitSeconds.toFixed(1), 's')
  figure(
    'runner-seconds held, wait: false + reconcile',
    (startSeconds + reconcileSeconds).toFixed(1),
    's'
  )
  figure('reconcile runs to conclude', reconciles)
  figure('status looks per training (wait: true)', looks)
})
