// The bundled action against a fake GitHub that enforces GitHub's OpenAPI description: check runs,
// the sticky comment, base-branch gates, deployments as champions, forks and rate limits.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
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

const TOKEN = 'ghs_e2eTestToken000000000000000000000'
const CHECK = 'ml-promote / fraud-detector'
let fake: FakeGitHub

beforeEach(async () => {
  fake = await FakeGitHub.start({ readOnlyTokens: ['ghs_forkReadOnly'] })
})
afterEach(async () => {
  expect(fake.violations).toEqual([])
  await fake.close()
})

function env(token = TOKEN): { env: Record<string, string>; inputs: Record<string, string> } {
  return { env: { GITHUB_API_URL: fake.url }, inputs: { 'github-token': token } }
}

function worsen(dir: string): void {
  const p = path.join(dir, 'models/fraud/params.json')
  const params = JSON.parse(readFileSync(p, 'utf8'))
  writeFileSync(
    p,
    JSON.stringify({ ...params, features: ['hour', 'card_present'], epochs: 1 }, null, 2)
  )
}

/** A feature branch off main with one commit touching the model; the PR is registered with the fake. */
function openPull(ws: { dir: string; sha: string }, number: number, change: (dir: string) => void) {
  git(ws.dir, 'checkout', '-q', '-b', `pr-${number}`)
  change(ws.dir)
  const head = commitAll(ws.dir, `change ${number}`)
  fake.setPull(number, {
    head: { sha: head, ref: `pr-${number}` },
    base: { sha: ws.sha, ref: 'main' },
    files: ['models/fraud/params.json']
  })
  return {
    head,
    payload: pullRequestPayload({
      number,
      headSha: head,
      headRef: `pr-${number}`,
      baseSha: ws.sha,
      baseRef: 'main'
    })
  }
}

describe('pull request gate', () => {
  it('passes, reports one check run and one comment, and a re-run updates both in place', async () => {
    const ws = exampleWorkspace()
    const pr = openPull(ws, 12, (dir) => {
      const p = path.join(dir, 'models/fraud/params.json')
      writeFileSync(p, readFileSync(p, 'utf8').replace('"seed": 42', '"seed": 43'))
    })
    const first = await runAction({
      workspace: ws.dir,
      event: 'pull_request',
      payload: pr.payload,
      ref: 'refs/pull/12/merge',
      ...env()
    })
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    expect(first.outputs.verdict).toBe('pass')
    const runs = fake.checkRuns.filter((c) => c.name === CHECK)
    expect(runs).toHaveLength(1)
    expect(runs[0]).toMatchObject({ head_sha: pr.head, status: 'completed', conclusion: 'success' })
    expect(runs[0]!.output?.summary).toContain('| auc |')
    expect(fake.comments).toHaveLength(1)
    expect(fake.comments[0]!.issue_number).toBe(12)
    expect(fake.comments[0]!.body).toContain('<!-- ml-promote:sticky -->')
    expect(fake.comments[0]!.body).toContain('passed the `staging` gate')
    // Only this PR's files decided the plan.
    expect(fake.count('GET /repos/{owner}/{repo}/pulls/{pull_number}/files')).toBe(1)

    const rerun = await runAction({
      workspace: ws.dir,
      event: 'pull_request',
      payload: pr.payload,
      ref: 'refs/pull/12/merge',
      ...env()
    })
    expect(rerun.code).toBe(0)
    expect(fake.checkRuns.filter((c) => c.name === CHECK)).toHaveLength(1)
    expect(fake.comments).toHaveLength(1)
    expect(fake.count('POST /repos/{owner}/{repo}/issues/{issue_number}/comments')).toBe(1)
    expect(fake.calls.every((c) => c.token === undefined || c.token === TOKEN)).toBe(true)
    // The token reaches the log only in the runner's masking command.
    const leaks = (first.stdout + rerun.stdout).split('\n').filter((l) => l.includes(TOKEN))
    expect(leaks.length).toBeGreaterThan(0)
    expect(leaks.every((l) => l === `::add-mask::${TOKEN}`)).toBe(true)
  })

  it('fails a worse model: failing check, red run, comment says why', async () => {
    const ws = exampleWorkspace()
    const pr = openPull(ws, 13, worsen)
    const run = await runAction({
      workspace: ws.dir,
      event: 'pull_request',
      payload: pr.payload,
      ref: 'refs/pull/13/merge',
      ...env()
    })
    expect(run.code).toBe(1)
    expect(run.outputs.verdict).toBe('fail')
    expect(fake.checkRuns.find((c) => c.name === CHECK)).toMatchObject({ conclusion: 'failure' })
    expect(fake.comments[0]!.body).toContain('failed the `staging` gate')
    expect(fake.deployments).toHaveLength(0)
  })

  it('is judged by the base gate read through the contents API when the history is not checked out', async () => {
    const ws = exampleWorkspace()
    const cfgPath = path.join(ws.dir, '.github/ml-promote.yml')
    const strict = readFileSync(cfgPath, 'utf8').replace('threshold: 0.85', 'threshold: 0.99')
    const baseSha = 'b'.repeat(40)
    fake.setFile(baseSha, '.github/ml-promote.yml', strict)
    git(ws.dir, 'checkout', '-q', '-b', 'pr-14')
    writeFileSync(
      cfgPath,
      readFileSync(cfgPath, 'utf8').replace('threshold: 0.85', 'threshold: 0.5')
    )
    const head = commitAll(ws.dir, 'loosen my own gate')
    fake.setPull(14, {
      head: { sha: head, ref: 'pr-14' },
      base: { sha: baseSha, ref: 'main' },
      files: ['.github/ml-promote.yml', 'models/fraud/train.py']
    })
    const payload = pullRequestPayload({
      number: 14,
      headSha: head,
      headRef: 'pr-14',
      baseSha,
      baseRef: 'main'
    })
    const run = await runAction({
      workspace: ws.dir,
      event: 'pull_request',
      payload,
      ref: 'refs/pull/14/merge',
      ...env()
    })
    expect(run.code).toBe(1)
    expect(fake.count('GET /repos/{owner}/{repo}/contents/{path}')).toBe(1)
    const auc = JSON.parse(run.outputs.results!)[0].gate.metrics.find(
      (m: { metric: string }) => m.metric === 'auc'
    )
    expect(auc).toMatchObject({ outcome: 'fail', rule: expect.stringContaining('0.99') })
    expect(fake.comments[0]!.body).toContain('the change applies after merge')
  })

  it('annotates an invalid config on a failing config check and trains nothing', async () => {
    const ws = exampleWorkspace()
    git(ws.dir, 'checkout', '-q', '-b', 'typo')
    const cfgPath = path.join(ws.dir, '.github/ml-promote.yml')
    writeFileSync(
      cfgPath,
      readFileSync(cfgPath, 'utf8')
        .replace('threshold: 0.85', 'treshold: 0.85')
        .replace('backend: command', 'backend: comand')
    )
    const head = commitAll(ws.dir, 'typos')
    fake.setPull(17, {
      head: { sha: head, ref: 'typo' },
      base: { sha: ws.sha, ref: 'main' },
      files: ['.github/ml-promote.yml']
    })
    const payload = pullRequestPayload({
      number: 17,
      headSha: head,
      headRef: 'typo',
      baseSha: ws.sha,
      baseRef: 'main'
    })
    const run = await runAction({
      workspace: ws.dir,
      event: 'pull_request',
      payload,
      ref: 'refs/pull/17/merge',
      ...env()
    })
    expect(run.code).toBe(1)
    const check = fake.checkRuns.find((c) => c.name === 'ml-promote / config')
    expect(check).toMatchObject({ head_sha: head, conclusion: 'failure' })
    const annotations = check!.output!.annotations as Array<{
      path: string
      start_line: number
      annotation_level: string
      message: string
    }>
    expect(annotations).toHaveLength(2)
    for (const a of annotations)
      expect(a).toMatchObject({ path: '.github/ml-promote.yml', annotation_level: 'failure' })
    expect(annotations.map((a) => a.message).join('\n')).toContain('did you mean "threshold"?')
    // The base's model gets a failing check too, so its required check neither hangs nor passes.
    expect(fake.checkRuns.find((c) => c.name === CHECK)).toMatchObject({
      conclusion: 'failure',
      output: expect.objectContaining({
        title: '.github/ml-promote.yml in this pull request is invalid'
      })
    })
    // Check runs are the only calls: no champion read, no training, no comment.
    expect(new Set(fake.calls.map((c) => c.operation))).toEqual(
      new Set([
        'GET /repos/{owner}/{repo}/commits/{ref}/check-runs',
        'POST /repos/{owner}/{repo}/check-runs'
      ])
    )
    expect(existsSync(path.join(ws.dir, 'out'))).toBe(false)
  })

  it('gives a model the change does not concern a neutral check, so a required check never hangs', async () => {
    const ws = exampleWorkspace()
    git(ws.dir, 'checkout', '-q', '-b', 'docs')
    writeFileSync(path.join(ws.dir, 'NOTES.md'), 'notes\n')
    const head = commitAll(ws.dir, 'docs only')
    fake.setPull(16, {
      head: { sha: head, ref: 'docs' },
      base: { sha: ws.sha, ref: 'main' },
      files: ['NOTES.md']
    })
    const payload = pullRequestPayload({
      number: 16,
      headSha: head,
      headRef: 'docs',
      baseSha: ws.sha,
      baseRef: 'main'
    })
    const run = await runAction({
      workspace: ws.dir,
      event: 'pull_request',
      payload,
      ref: 'refs/pull/16/merge',
      ...env()
    })
    expect(run.code).toBe(0)
    expect(run.outputs.verdict).toBe('skipped')
    expect(fake.checkRuns.find((c) => c.name === CHECK)).toMatchObject({
      head_sha: head,
      status: 'completed',
      conclusion: 'neutral'
    })
    expect(run.summary).toContain('skipped')
  })

  it('ends neutral for a fork: no training, no writes, no 403', async () => {
    const ws = exampleWorkspace()
    const payload = pullRequestPayload({
      number: 15,
      headSha: ws.sha,
      headRef: 'patch-1',
      baseSha: ws.sha,
      baseRef: 'main',
      fork: true
    })
    const run = await runAction({
      workspace: ws.dir,
      event: 'pull_request',
      payload,
      ref: 'refs/pull/15/merge',
      ...env('ghs_forkReadOnly')
    })
    expect(run.code).toBe(0)
    expect(run.outputs.verdict).toBe('skipped')
    expect(run.stdout).toContain('::notice::Pull request from a fork')
    expect(run.summary).toContain('fork')
    expect(fake.calls.filter((c) => c.method !== 'GET')).toEqual([])
    expect(fake.calls.every((c) => c.status < 400)).toBe(true)
  })
})

describe('promotion on push', () => {
  it('records the champion as a deployment; the next pull request compares with it', async () => {
    const ws = exampleWorkspace()
    const before = '0'.repeat(40)
    const push = await runAction({
      workspace: ws.dir,
      event: 'push',
      payload: pushPayload({ ref: 'refs/heads/main', before, after: ws.sha }),
      ...env()
    })
    expect(push.stderr).toBe('')
    expect(push.code).toBe(0)
    expect(fake.deployments).toHaveLength(1)
    const d = fake.deployments[0]!
    expect(d).toMatchObject({
      sha: ws.sha,
      task: 'ml-promote:fraud-detector',
      environment: 'staging'
    })
    expect(d.statuses[0]!.state).toBe('success')
    const promotedAuc = JSON.parse(push.outputs.results!)[0].metrics.auc
    expect((d.payload as { metrics: { auc: number } }).metrics.auc).toBe(promotedAuc)

    const pr = openPull(ws, 21, (dir) => {
      const p = path.join(dir, 'models/fraud/params.json')
      writeFileSync(p, readFileSync(p, 'utf8').replace('"seed": 42', '"seed": 7'))
    })
    const gate = await runAction({
      workspace: ws.dir,
      event: 'pull_request',
      payload: pr.payload,
      ref: 'refs/pull/21/merge',
      ...env()
    })
    expect(gate.code).toBe(0)
    const r = JSON.parse(gate.outputs.results!)[0]
    expect(r.gate.hasChampion).toBe(true)
    expect(r.champion).toMatchObject({ sha: ws.sha, metrics: { auc: promotedAuc } })
    expect(fake.deployments).toHaveLength(1)

    // main → release: the head commit already passed staging, so nothing is trained again.
    const release = pullRequestPayload({
      number: 22,
      headSha: ws.sha,
      headRef: 'main',
      baseSha: ws.sha,
      baseRef: 'release'
    })
    fake.setPull(22, {
      head: { sha: ws.sha, ref: 'main' },
      base: { sha: ws.sha, ref: 'release' },
      files: ['models/fraud/train.py']
    })
    const reuse = await runAction({
      workspace: ws.dir,
      event: 'pull_request',
      payload: release,
      ref: 'refs/pull/22/merge',
      ...env()
    })
    expect(reuse.code).toBe(0)
    expect(JSON.parse(reuse.outputs.results!)[0]).toMatchObject({ verdict: 'pass', reused: true })
  })

  it('names who approved the run in an environment with reviewers, and nobody otherwise', async () => {
    const ws = exampleWorkspace()
    const payload = pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: ws.sha })
    const unreviewed = await runAction({ workspace: ws.dir, event: 'push', payload, ...env() })
    expect(unreviewed.code).toBe(0)
    expect(JSON.parse(unreviewed.outputs.results!)[0].lineage.approvedBy).toBeUndefined()
    expect(unreviewed.summary).not.toContain('Approved by')

    // The harness runs as workflow run 4242; its job waited for a reviewer of "staging".
    fake.approvals.set(4242, [
      { login: 'release-manager', environments: ['staging'], state: 'approved', comment: 'ok' },
      { login: 'someone-else', environments: ['staging'], state: 'rejected', comment: 'no' }
    ])
    const reviewed = await runAction({ workspace: ws.dir, event: 'push', payload, ...env() })
    expect(reviewed.code).toBe(0)
    const lineage = JSON.parse(reviewed.outputs.results!)[0].lineage
    expect(lineage).toMatchObject({
      approvedBy: 'release-manager (staging)',
      trigger: expect.stringMatching(/^push to main/)
    })
    expect(reviewed.summary).toContain('Approved by: release-manager (staging)')
    expect(fake.count('GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals')).toBe(2)
  })

  it('recovers from a secondary rate limit and a 502', async () => {
    const ws = exampleWorkspace()
    fake.inject({
      method: 'POST',
      path: /\/deployments$/,
      kind: 'secondary-rate-limit',
      retryAfter: 1
    })
    fake.inject({ method: 'POST', path: /\/check-runs$/, kind: 'status', status: 502 })
    const run = await runAction({
      workspace: ws.dir,
      event: 'push',
      payload: pushPayload({ ref: 'refs/heads/main', before: '0'.repeat(40), after: ws.sha }),
      ...env()
    })
    expect(run.code).toBe(0)
    expect(fake.deployments).toHaveLength(1)
    expect(fake.count('POST /repos/{owner}/{repo}/deployments')).toBe(2)
    expect(fake.checkRuns.filter((c) => c.name === CHECK)).toHaveLength(1)
  })
})

describe('github-workflow backend through the bundled action', () => {
  it('dispatches the training workflow, follows its run and gates the metrics artifact', async () => {
    await fake.close()
    fake = await FakeGitHub.start({
      workflowRun: {
        queuedPolls: 1,
        runningPolls: 1,
        conclusion: 'success',
        artifacts: { 'ml-promote-metrics': { 'metrics.json': '{"auc": 0.94, "recall": 0.81}' } }
      }
    })
    const ws = exampleWorkspace()
    writeFileSync(
      path.join(ws.dir, '.github/ml-promote.yml'),
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
    const sha = commitAll(ws.dir, 'train in a workflow')
    fake.setBranch('main', sha)
    const run = await runAction({
      workspace: ws.dir,
      event: 'push',
      payload: pushPayload({ ref: 'refs/heads/main', before: ws.sha, after: sha }),
      ...env()
    })
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const r = JSON.parse(run.outputs.results!)[0]
    expect(r).toMatchObject({
      verdict: 'pass',
      promoted: true,
      metrics: { auc: 0.94, recall: 0.81 },
      run: { backend: 'github-workflow' }
    })
    expect(fake.workflowRuns).toHaveLength(1)
    expect(fake.workflowRuns[0]!.inputs).toMatchObject({
      environment: 'staging',
      model: 'fraud-detector',
      sha
    })
    expect(fake.deployments[0]!.payload).toMatchObject({ metrics: { auc: 0.94 } })
  })
})
