// Scheduled retrains that fail are tracked: through the bundle, against the OpenAPI-checked fake
// GitHub, one issue per (model, environment) is opened, updated by the next failure and closed by
// the next pass; without `issues: write` the run says so and its result is unchanged.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import MarkdownIt from 'markdown-it'
import { FakeGitHub } from '../test/fakes/github-server.js'
import { commitAll, exampleWorkspace, git, runAction } from '../test/e2e/harness.js'

const TOKEN = 'ghs_e2eTrackingToken0000000000000000'
const NO_ISSUES = 'ghs_e2eNoIssuesWrite0000000000000000'
const MARKER = '<!-- ml-promote:tracking:fraud-detector:production -->'
let fake: FakeGitHub

beforeEach(async () => {
  fake = await FakeGitHub.start({ withoutIssuesWrite: [NO_ISSUES] })
})
afterEach(async () => {
  expect(fake.violations).toEqual([])
  await fake.close()
})

const PARAMS = 'models/fraud/params.json'

/** The example with `release` checked out, as the weekly recipe does for production. */
function releaseWorkspace() {
  const ws = exampleWorkspace()
  git(ws.dir, 'checkout', '-q', '-b', 'release')
  return { ...ws, good: readFileSync(path.join(ws.dir, PARAMS), 'utf8') }
}

function setParams(dir: string, worse: boolean, good: string): void {
  const params = JSON.parse(good)
  writeFileSync(
    path.join(dir, PARAMS),
    worse ? JSON.stringify({ ...params, features: ['hour', 'card_present'], epochs: 1 }) : good
  )
  commitAll(dir, worse ? 'worse' : 'better')
}

function scheduled(dir: string, token = TOKEN) {
  return runAction({
    workspace: dir,
    event: 'schedule',
    payload: { schedule: '0 3 * * 1' },
    ref: 'refs/heads/release',
    env: { GITHUB_API_URL: fake.url },
    inputs: { 'github-token': token }
  })
}

const ours = () => fake.issues.filter((i) => i.user.login === 'github-actions[bot]')

describe('a scheduled retrain that fails is tracked in one issue', () => {
  it('opens it on the first failure, updates it on the next, closes it on a pass', async () => {
    const ws = releaseWorkspace()
    const first = await scheduled(ws.dir)
    expect(first.code).toBe(0)
    expect(fake.issues).toEqual([])

    setParams(ws.dir, true, ws.good)
    const failing = await scheduled(ws.dir)
    expect(failing.code).toBe(1)
    expect(JSON.parse(failing.outputs.results!)[0]).toMatchObject({
      verdict: 'fail',
      promoted: false
    })
    expect(ours()).toHaveLength(1)
    const issue = ours()[0]!
    expect(issue).toMatchObject({ state: 'open', labels: ['ml-promote'] })
    expect(issue.title).toBe('Retraining fraud-detector in production fails')
    expect(issue.body.startsWith(MARKER)).toBe(true)
    expect(issue.body).toContain('https://github.com/octo-org/fraud-models/actions/runs/4242')
    const champion = JSON.parse(first.outputs.results!)[0].sha as string
    expect(issue.body).toContain(`- Champion: \`${champion.slice(0, 7)}\``)
    expect(issue.body).toContain('- Remote run: on the runner')
    // The metric table as a reader sees it: one row per gated metric.
    const tokens = new MarkdownIt().parse(issue.body, {})
    const rows = tokens.filter((t) => t.type === 'tr_open').length
    expect(rows).toBeGreaterThanOrEqual(1 + 3)
    expect(issue.body).toMatch(
      /\| auc \| 0\.\d+ \| 0\.9\d* \| -0\.\d+ \| ≥ 0\.85, Δ ≥ -0\.02 \| ❌ fail \|/
    )
    expect(failing.summary).toContain(`tracking issue [#${issue.number}]`)
    expect(failing.summary).toContain('opened')

    const again = await scheduled(ws.dir)
    expect(again.code).toBe(1)
    expect(ours()).toHaveLength(1)
    expect(fake.comments.filter((c) => c.issue_number === issue.number)).toHaveLength(1)
    expect(again.summary).toContain('updated')

    setParams(ws.dir, false, ws.good)
    const passing = await scheduled(ws.dir)
    expect(passing.code).toBe(0)
    expect(ours()).toHaveLength(1)
    expect(ours()[0]).toMatchObject({ state: 'closed', state_reason: 'completed' })
    const last = fake.comments.filter((c) => c.issue_number === issue.number).at(-1)!
    expect(last.body).toContain('passed the gate')
    expect(passing.summary).toContain('closed')

    // A later pass with nothing open lists the open issues once and writes nothing.
    const issueCalls = () => fake.calls.filter((c) => /\/issues(\/|$|\?)/.test(c.path))
    const before = issueCalls().length
    const quiet = await scheduled(ws.dir)
    expect(quiet.code).toBe(0)
    expect(fake.issues).toHaveLength(1)
    expect(
      issueCalls()
        .slice(before)
        .map((c) => c.operation)
    ).toEqual(['GET /repos/{owner}/{repo}/issues'])
  })

  it('never adopts an issue someone else wrote with our marker and label', async () => {
    const ws = releaseWorkspace()
    expect((await scheduled(ws.dir)).code).toBe(0)
    const forged = {
      number: 999,
      title: 'Retraining fraud-detector in production fails',
      body: `${MARKER}\nforged`,
      state: 'open' as const,
      state_reason: null,
      labels: ['ml-promote'],
      user: { login: 'mallory', id: 666, type: 'User' as const },
      created_at: '2026-12-01T00:00:00Z',
      updated_at: '2026-12-01T00:00:00Z',
      closed_at: null
    }
    fake.issues.push(forged)
    setParams(ws.dir, true, ws.good)
    expect((await scheduled(ws.dir)).code).toBe(1)
    expect(forged.body).toBe(`${MARKER}\nforged`)
    expect(fake.comments.filter((c) => c.issue_number === 999)).toEqual([])
    expect(ours()).toHaveLength(1)
  })

  it('without issues: write it warns, and the run result is what it would have been', async () => {
    const ws = releaseWorkspace()
    expect((await scheduled(ws.dir, NO_ISSUES)).code).toBe(0)
    setParams(ws.dir, true, ws.good)
    const run = await scheduled(ws.dir, NO_ISSUES)
    expect(run.code).toBe(1)
    expect(run.stdout).toMatch(/::warning::tracking issues need `issues: write`/)
    expect(JSON.parse(run.outputs.results!)[0].verdict).toBe('fail')
    expect(fake.issues).toEqual([])
  })
})
