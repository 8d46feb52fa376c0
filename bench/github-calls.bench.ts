// GitHub API calls the bundled action makes for one PR gate and for one promotion, counted by
// the fake GitHub server, per model.
import { it } from '@jest/globals'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { FakeGitHub } from '../test/fakes/github-server.js'
import {
  commitAll,
  exampleWorkspace,
  git,
  pullRequestPayload,
  pushPayload,
  runAction
} from '../test/e2e/harness.js'
import { figure } from './report.js'

it('github api calls', async () => {
  const fake = await FakeGitHub.start()
  try {
    const ws = exampleWorkspace()
    const opts = { env: { GITHUB_API_URL: fake.url }, inputs: { 'github-token': 'ghs_benchToken' } }
    const push = await runAction({
      workspace: ws.dir,
      event: 'push',
      payload: pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: ws.sha }),
      ...opts
    })
    if (push.code !== 0) throw new Error(push.stdout)
    const promotionCalls = fake.calls.length
    const models = JSON.parse(push.outputs.results!).length

    git(ws.dir, 'checkout', '-q', '-b', 'pr')
    const p = path.join(ws.dir, 'models/fraud/params.json')
    writeFileSync(p, readFileSync(p, 'utf8').replace('"seed": 42', '"seed": 5'))
    const head = commitAll(ws.dir, 'change')
    fake.setPull(3, {
      head: { sha: head, ref: 'pr' },
      base: { sha: ws.sha, ref: 'main' },
      files: ['models/fraud/params.json']
    })
    const gate = await runAction({
      workspace: ws.dir,
      event: 'pull_request',
      ref: 'refs/pull/3/merge',
      payload: pullRequestPayload({
        number: 3,
        headSha: head,
        headRef: 'pr',
        baseSha: ws.sha,
        baseRef: 'main'
      }),
      ...opts
    })
    if (gate.code !== 0) throw new Error(gate.stdout)
    const gateCalls = fake.calls.length - promotionCalls
    if (fake.violations.length) throw new Error(fake.violations.join('\n'))
    figure('github api calls per gate', gateCalls / models)
    figure('github api calls per promotion', promotionCalls / models)
  } finally {
    await fake.close()
  }
})
