import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import path from 'node:path'
import { createOctokit, type Octokit, type RepoRef } from '../src/github.js'
import { CheckReporter, SUMMARY_LIMIT } from '../src/report/checks.js'
import type { ConfigProblem, Logger } from '../src/types.js'
import { FakeGitHub } from '../test/fakes/github-server.js'

const SHA = 'a'.repeat(40)
const WORKSPACE = path.resolve('/work/checkout')
const RUN_URL = 'https://github.com/o/r/actions/runs/42'

function recordingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = []
  const log: Logger = {
    info: (m) => lines.push(`info: ${m}`),
    notice: (m) => lines.push(`notice: ${m}`),
    warning: (m) => lines.push(`warning: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
    debug: () => undefined,
    group: (_name, fn) => fn(),
    secret: () => undefined
  }
  return { log, lines }
}

let fake: FakeGitHub
let octokit: Octokit
let repo: RepoRef
let rec: ReturnType<typeof recordingLogger>

beforeEach(async () => {
  fake = await FakeGitHub.start()
  rec = recordingLogger()
  octokit = createOctokit('ghs_test', {
    baseUrl: fake.url,
    log: rec.log,
    backoffBaseMs: 10,
    paceWrites: false
  })
  repo = { owner: fake.owner, repo: fake.repo }
})

afterEach(async () => {
  expect(fake.violations).toEqual([])
  await fake.close()
})

const reporter = (opts = {}) =>
  new CheckReporter(octokit, repo, SHA, rec.log, { workspace: WORKSPACE, ...opts })
const writes = (method: string, pattern: RegExp) =>
  fake.calls.filter((c) => c.method === method && pattern.test(c.path))

function problems(n: number): ConfigProblem[] {
  return Array.from({ length: n }, (_, i) => ({
    file: path.join(WORKSPACE, '.github', 'ml-promote.yml'),
    line: i + 1,
    col: 3,
    endCol: 9,
    message: `problem ${i + 1}`
  }))
}

describe('one check run per model and commit', () => {
  it('start then complete leaves a single completed check run', async () => {
    const checks = reporter()
    await checks.start('fraud', { runUrl: RUN_URL, title: 'Training in staging' })
    expect(fake.checkRuns).toHaveLength(1)
    expect(fake.checkRuns[0]).toMatchObject({
      name: 'ml-promote / fraud',
      head_sha: SHA,
      status: 'in_progress',
      details_url: RUN_URL
    })
    await checks.complete('fraud', {
      conclusion: 'success',
      title: 'auc 0.93 ≥ 0.90',
      summary: '## fraud\npassed'
    })
    expect(fake.checkRuns).toHaveLength(1)
    expect(fake.checkRuns[0]).toMatchObject({
      name: 'ml-promote / fraud',
      status: 'completed',
      conclusion: 'success',
      output: { title: 'auc 0.93 ≥ 0.90', summary: '## fraud\npassed' }
    })
    expect(checks.mode).toBe('checks')
  })

  it('a re-run (a new reporter on the same commit) reuses the check run', async () => {
    const first = reporter()
    await first.start('fraud')
    await first.complete('fraud', {
      conclusion: 'failure',
      title: 'auc too low',
      summary: 'failed'
    })

    const rerun = reporter()
    await rerun.start('fraud', { title: 'Training again' })
    expect(fake.checkRuns).toHaveLength(1)
    expect(fake.checkRuns[0]!.status).toBe('in_progress')
    await rerun.complete('fraud', { conclusion: 'success', title: 'auc fine', summary: 'passed' })
    expect(fake.checkRuns).toHaveLength(1)
    expect(fake.checkRuns[0]).toMatchObject({ status: 'completed', conclusion: 'success' })
    expect(writes('POST', /\/check-runs$/)).toHaveLength(1)
  })

  it('keeps models apart, and completes a check that was never started', async () => {
    const checks = reporter()
    await checks.start('fraud')
    await checks.complete('churn', {
      conclusion: 'neutral',
      title: 'skipped',
      summary: 'nothing changed'
    })
    await checks.complete('fraud', { conclusion: 'success', title: 'ok', summary: 'ok' })
    const byName = Object.fromEntries(fake.checkRuns.map((r) => [r.name, r.conclusion]))
    expect(byName).toEqual({ 'ml-promote / fraud': 'success', 'ml-promote / churn': 'neutral' })
  })
})

describe('GitHub limits', () => {
  it('sends 120 annotations in three requests of at most 50, with repository-relative paths', async () => {
    await reporter().complete('fraud', {
      conclusion: 'failure',
      title: 'config problems',
      summary: 'see annotations',
      annotations: problems(120)
    })
    const sent = fake.calls
      .filter((c) => /\/check-runs(\/\d+)?$/.test(c.path) && c.method !== 'GET')
      .map((c) => (c.body as { output?: { annotations?: unknown[] } }).output?.annotations ?? [])
      .filter((a) => a.length > 0)
    expect(sent.map((a) => a.length)).toEqual([50, 50, 20])
    expect(sent[0]![0]).toEqual({
      path: '.github/ml-promote.yml',
      start_line: 1,
      end_line: 1,
      start_column: 3,
      end_column: 9,
      annotation_level: 'failure',
      message: 'problem 1'
    })
    expect(fake.checkRuns).toHaveLength(1)
    expect(fake.checkRuns[0]!.conclusion).toBe('failure')
  })

  it('leaves columns out of an annotation spanning several lines', async () => {
    await reporter().annotateConfig(
      [
        {
          file: 'models/ml-promote.yml',
          line: 3,
          col: 5,
          endLine: 6,
          endCol: 2,
          message: 'bad block'
        }
      ],
      'invalid'
    )
    const annotation = (
      fake.calls.find((c) => c.method === 'POST')!.body as { output: { annotations: unknown[] } }
    ).output.annotations[0]
    expect(annotation).toEqual({
      path: 'models/ml-promote.yml',
      start_line: 3,
      end_line: 6,
      annotation_level: 'failure',
      message: 'bad block'
    })
  })

  it('truncates a summary over 65535 characters and says so', async () => {
    await reporter({ detailsUrl: RUN_URL }).complete('fraud', {
      conclusion: 'success',
      title: 'big report',
      summary: 'x'.repeat(70_000)
    })
    const summary = fake.checkRuns[0]!.output!.summary!
    expect(summary.length).toBeLessThanOrEqual(SUMMARY_LIMIT)
    expect(summary.startsWith('x'.repeat(60_000))).toBe(true)
    expect(summary).toMatch(
      /Truncated: .*job summary of https:\/\/github.com\/o\/r\/actions\/runs\/42/
    )
  })
})

describe('config problems', () => {
  it('fail one ml-promote / config check with the problems as annotations', async () => {
    await reporter().annotateConfig(problems(3), '.github/ml-promote.yml is invalid')
    expect(fake.checkRuns).toHaveLength(1)
    const run = fake.checkRuns[0]!
    expect(run).toMatchObject({
      name: 'ml-promote / config',
      status: 'completed',
      conclusion: 'failure'
    })
    expect(run.output!.title).toBe('.github/ml-promote.yml is invalid')
    expect(run.output!.summary).toContain('`.github/ml-promote.yml:2:3` problem 2')
  })
})

describe('without checks: write', () => {
  const denyChecks = () =>
    fake.inject({ path: /\/check-runs/, times: 100, kind: 'status', status: 403 })

  it('falls back to commit statuses, logged once, descriptions within 140 characters', async () => {
    denyChecks()
    const checks = reporter({ detailsUrl: RUN_URL })
    await checks.start('fraud', {
      runUrl: 'https://dbc.example/run/7',
      title: 'Training in staging'
    })
    await checks.start('churn')
    await checks.complete('fraud', {
      conclusion: 'failure',
      title: 'auc '.repeat(60),
      summary: 'failed'
    })
    await checks.complete('churn', { conclusion: 'neutral', title: 'nothing to do', summary: '' })
    expect(checks.mode).toBe('statuses')
    expect(fake.checkRuns).toHaveLength(0)
    expect(fake.statuses.map((s) => [s.context, s.state])).toEqual([
      ['ml-promote / fraud', 'pending'],
      ['ml-promote / churn', 'pending'],
      ['ml-promote / fraud', 'failure'],
      ['ml-promote / churn', 'success']
    ])
    expect(fake.statuses.every((s) => s.sha === SHA && (s.description ?? '').length <= 140)).toBe(
      true
    )
    expect(fake.statuses[2]!.description).toMatch(/^auc auc .*…$/)
    expect(fake.statuses[0]!.target_url).toBe('https://dbc.example/run/7')
    expect(fake.statuses[1]!.target_url).toBe(RUN_URL)
    expect(
      rec.lines.filter((l) => l.includes('checks: write not granted; using commit statuses'))
    ).toHaveLength(1)
    // Once known, check runs are not attempted again.
    expect(
      writes('POST', /\/check-runs$/).length + writes('GET', /\/check-runs$/).length
    ).toBeLessThanOrEqual(2)
  })

  it('reports nothing, without failing, when statuses are not writable either', async () => {
    denyChecks()
    fake.inject({ path: /\/statuses\//, times: 100, kind: 'status', status: 403 })
    const checks = reporter()
    await checks.start('fraud')
    await checks.complete('fraud', { conclusion: 'success', title: 'ok', summary: 'ok' })
    expect(checks.mode).toBe('none')
    expect(rec.lines.filter((l) => l.includes('not granted'))).toHaveLength(2)
  })

  it('goes quiet for a fork PR token that may write nothing', async () => {
    const readOnly = await FakeGitHub.start({ readOnlyTokens: ['ghs_fork'] })
    try {
      const forkOctokit = createOctokit('ghs_fork', {
        baseUrl: readOnly.url,
        log: rec.log,
        paceWrites: false
      })
      const checks = new CheckReporter(
        forkOctokit,
        { owner: readOnly.owner, repo: readOnly.repo },
        SHA,
        rec.log
      )
      await checks.start('fraud')
      await checks.complete('fraud', {
        conclusion: 'neutral',
        title: 'fork: not trained',
        summary: ''
      })
      await checks.annotateConfig(problems(2), 'invalid')
      expect(checks.mode).toBe('none')
      expect(readOnly.checkRuns).toHaveLength(0)
      expect(readOnly.statuses).toHaveLength(0)
      expect(readOnly.calls.filter((c) => c.method === 'POST').map((c) => c.status)).toEqual([
        403, 403
      ])
      expect(readOnly.violations).toEqual([])
    } finally {
      await readOnly.close()
    }
  })

  it('still throws errors that are not about permissions', async () => {
    fake.inject({ path: /\/check-runs/, times: 100, kind: 'status', status: 422 })
    await expect(reporter().start('fraud')).rejects.toMatchObject({ status: 422 })
  })
})
