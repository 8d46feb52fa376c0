import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { changedFiles, isForkPull, readFileAt } from '../src/changes.js'
import { createOctokit, type Octokit, type RepoRef } from '../src/github.js'
import type { Logger } from '../src/types.js'
import { FakeGitHub } from '../test/fakes/github-server.js'

const BASE = 'b'.repeat(40)
const HEAD = 'c'.repeat(40)
const ZERO = '0'.repeat(40)

function recordingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = []
  const log: Logger = {
    info: (m) => lines.push(m),
    notice: (m) => lines.push(`notice: ${m}`),
    warning: (m) => lines.push(m),
    error: (m) => lines.push(m),
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

const files = (n: number, dir = 'models/fraud') =>
  Array.from({ length: n }, (_, i) => `${dir}/f${i}.py`)
const pullEvent = (number: number) => ({
  name: 'pull_request',
  payload: { pull_request: { number } }
})
const pushEvent = (over: Record<string, unknown> = {}) => ({
  name: 'push',
  payload: { before: BASE, after: HEAD, forced: false, ...over }
})

describe('pull requests', () => {
  it('lists every changed file across pages', async () => {
    fake.setPull(5, {
      head: { sha: HEAD, ref: 'feature' },
      base: { sha: BASE, ref: 'main' },
      files: files(250)
    })
    const changed = await changedFiles(octokit, repo, pullEvent(5), rec.log)
    expect(changed).toEqual(files(250))
    expect(fake.calls.filter((c) => c.path.endsWith('/pulls/5/files'))).toHaveLength(3)
  })

  it('treats every model as changed when the PR reaches the 3000-file listing cap', async () => {
    fake.setPull(6, {
      head: { sha: HEAD, ref: 'big' },
      base: { sha: BASE, ref: 'main' },
      files: files(3000)
    })
    expect(await changedFiles(octokit, repo, pullEvent(6), rec.log)).toBeUndefined()
    expect(rec.lines.some((l) => /3000 files or more/.test(l))).toBe(true)
  })
})

describe('pushes', () => {
  it('compares the previous head with the new one', async () => {
    fake.setCompare(BASE, HEAD, ['models/fraud/train.py', 'README.md'])
    expect(await changedFiles(octokit, repo, pushEvent(), rec.log)).toEqual([
      'models/fraud/train.py',
      'README.md'
    ])
    expect(fake.calls.filter((c) => c.path.endsWith(`/compare/${BASE}...${HEAD}`))).toHaveLength(1)
  })

  it.each([
    ['a forced push', { forced: true }, /forced push/],
    ['a new branch', { before: ZERO }, /created the branch/]
  ])('answers "unknown" for %s, without asking GitHub', async (_what, over, why) => {
    expect(await changedFiles(octokit, repo, pushEvent(over), rec.log)).toBeUndefined()
    expect(fake.calls).toHaveLength(0)
    expect(rec.lines.some((l) => why.test(l))).toBe(true)
  })

  it('answers "nothing" for a deleted branch', async () => {
    expect(await changedFiles(octokit, repo, pushEvent({ after: ZERO }), rec.log)).toEqual([])
  })

  it('answers "unknown" when the comparison is truncated', async () => {
    fake.setCompare(BASE, HEAD, files(300), { truncated: true })
    expect(await changedFiles(octokit, repo, pushEvent(), rec.log)).toBeUndefined()
    expect(rec.lines.some((l) => /300 files or more/.test(l))).toBe(true)
  })

  it('answers "unknown" when the previous head cannot be compared', async () => {
    expect(
      await changedFiles(octokit, repo, pushEvent({ before: 'd'.repeat(40) }), rec.log)
    ).toBeUndefined()
  })
})

describe('other events', () => {
  it.each(['schedule', 'workflow_dispatch'])('%s → unknown', async (name) => {
    expect(await changedFiles(octokit, repo, { name, payload: {} }, rec.log)).toBeUndefined()
    expect(fake.calls).toHaveLength(0)
  })
})

describe('readFileAt', () => {
  it('reads a file at a commit, and undefined where it does not exist', async () => {
    const text = 'version: 1\n# gate — base branch\n'
    fake.setFile(BASE, '.github/ml-promote.yml', text)
    expect(await readFileAt(octokit, repo, BASE, '.github/ml-promote.yml')).toBe(text)
    expect(await readFileAt(octokit, repo, HEAD, '.github/ml-promote.yml')).toBeUndefined()
    expect(await readFileAt(octokit, repo, BASE, '.github/other.yml')).toBeUndefined()
  })
})

describe('isForkPull', () => {
  const pr = (head: unknown) => ({
    pull_request: { head: { repo: head }, base: { repo: { full_name: 'acme/models' } } }
  })
  it.each([
    ['same repository', pr({ full_name: 'acme/models' }), false],
    ['a fork', pr({ full_name: 'someone/models' }), true],
    ['a deleted fork', pr(null), true],
    ['not a pull request', { ref: 'refs/heads/main' }, false]
  ])('%s → %s', (_what, payload, expected) => {
    expect(isForkPull(payload)).toBe(expected)
  })
})
