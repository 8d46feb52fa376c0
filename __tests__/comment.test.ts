import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { createOctokit, type Octokit, type RepoRef } from '../src/github.js'
import {
  COMMENT_LIMIT,
  COMMENT_MARKER,
  mergeSections,
  parseSections,
  upsertStickyComment
} from '../src/report/comment.js'
import { FakeGitHub } from '../test/fakes/github-server.js'
import { quietLogger } from '../test/support/logger.js'

const PR = 7

let fake: FakeGitHub
let octokit: Octokit
let repo: RepoRef

beforeEach(async () => {
  fake = await FakeGitHub.start()
  fake.setPull(PR, {
    head: { sha: 'b'.repeat(40), ref: 'feature' },
    base: { sha: 'c'.repeat(40), ref: 'main' },
    files: []
  })
  octokit = createOctokit('ghs_test', {
    baseUrl: fake.url,
    log: quietLogger,
    backoffBaseMs: 10,
    paceWrites: false
  })
  repo = { owner: fake.owner, repo: fake.repo }
})

afterEach(async () => {
  expect(fake.violations).toEqual([])
  await fake.close()
})

const ours = () =>
  fake.comments.filter((c) => c.issue_number === PR && c.body.startsWith(COMMENT_MARKER))

describe('the sticky comment', () => {
  it('is created once, then edited in place by later runs', async () => {
    const first = await upsertStickyComment(octokit, repo, PR, 'run 1')
    const second = await upsertStickyComment(octokit, repo, PR, 'run 2')
    expect(first.created).toBe(true)
    expect(second).toEqual({ id: first.id, created: false })
    expect(ours()).toHaveLength(1)
    expect(ours()[0]!.body).toBe(`${COMMENT_MARKER}\n\nrun 2`)
  })

  it('is found among many comments, past the first page', async () => {
    for (let i = 0; i < 120; i++) {
      await octokit.rest.issues.createComment({ ...repo, issue_number: PR, body: `chatter ${i}` })
    }
    const { id } = await upsertStickyComment(octokit, repo, PR, 'report')
    await upsertStickyComment(octokit, repo, PR, 'report 2')
    expect(ours()).toEqual([expect.objectContaining({ id, body: `${COMMENT_MARKER}\n\nreport 2` })])
    const listed = fake.calls.filter(
      (c) => c.method === 'GET' && c.path.endsWith(`/issues/${PR}/comments`)
    )
    expect(listed.length).toBeGreaterThanOrEqual(4)
  })

  it('ignores a comment that only quotes the marker', async () => {
    await octokit.rest.issues.createComment({
      ...repo,
      issue_number: PR,
      body: `> ${COMMENT_MARKER}\n> what does this mean?`
    })
    const { created } = await upsertStickyComment(octokit, repo, PR, 'report')
    expect(created).toBe(true)
    expect(fake.comments).toHaveLength(2)
  })

  it('makes no request to edit a comment that already says the same', async () => {
    await upsertStickyComment(octokit, repo, PR, 'same')
    await upsertStickyComment(octokit, repo, PR, 'same')
    expect(fake.calls.filter((c) => c.method === 'PATCH')).toHaveLength(0)
  })

  it('keeps the sections of models this run did not gate, with a fresh header', async () => {
    await upsertStickyComment(
      octokit,
      repo,
      PR,
      mergeSections(undefined, { fraud: 'fraud: pass', churn: 'churn: fail' }),
      '## run 1'
    )
    await upsertStickyComment(
      octokit,
      repo,
      PR,
      mergeSections(undefined, { churn: 'churn: pass now' }),
      '## run 2'
    )
    const body = ours()[0]!.body
    expect(body.startsWith(`${COMMENT_MARKER}\n\n## run 2\n\n`)).toBe(true)
    expect(body).not.toContain('run 1')
    expect(parseSections(body)).toEqual({ churn: 'churn: pass now', fraud: 'fraud: pass' })
    expect(body.indexOf('churn: pass now')).toBeLessThan(body.indexOf('fraud: pass'))
  })

  it('is truncated under 65536 characters with a note, marker kept', async () => {
    await upsertStickyComment(octokit, repo, PR, 'y'.repeat(70_000))
    const body = ours()[0]!.body
    expect(body.length).toBeLessThanOrEqual(COMMENT_LIMIT)
    expect(body.startsWith(COMMENT_MARKER)).toBe(true)
    expect(body).toMatch(/Truncated: the report is longer than a pull request comment can hold/)
  })
})

describe('the sticky comment is ours alone', () => {
  const stranger = { login: 'mallory', id: 666, type: 'User' as const }

  it('never adopts or edits a comment by another account that imitates ours', async () => {
    const forged = fake.addComment(
      PR,
      `${COMMENT_MARKER}\n\n<!-- ml-promote:model:fraud -->\n✅ fraud passed\n<!-- /ml-promote:model:fraud -->`,
      stranger
    )
    const before = forged.body
    const { created, id } = await upsertStickyComment(
      octokit,
      repo,
      PR,
      mergeSections(undefined, { churn: 'churn: fail' }),
      '## run 1'
    )
    expect(created).toBe(true)
    expect(id).not.toBe(forged.id)
    expect(forged.body).toBe(before)
    expect(fake.calls.filter((c) => c.method === 'PATCH')).toHaveLength(0)
    // The forged section is not carried into our comment.
    const mine = fake.comments.find((c) => c.id === id)!
    expect(mine.user.login).toBe('github-actions[bot]')
    expect(parseSections(mine.body)).toEqual({ churn: 'churn: fail' })
  })

  it('finds the account from the token, asking once: a user token owns the comments it wrote', async () => {
    const mine = await FakeGitHub.start({ identities: { ghp_user: stranger } })
    try {
      const client = createOctokit('ghp_user', {
        baseUrl: mine.url,
        log: quietLogger,
        paceWrites: false
      })
      const other = mine.addComment(PR, `${COMMENT_MARKER}\n\nby the bot`, {
        login: 'github-actions[bot]',
        id: 41898282,
        type: 'Bot'
      })
      const first = await upsertStickyComment(client, repo, PR, 'run 1')
      const second = await upsertStickyComment(client, repo, PR, 'run 2')
      expect(first.created).toBe(true)
      expect(second).toEqual({ id: first.id, created: false })
      expect(other.body).toBe(`${COMMENT_MARKER}\n\nby the bot`)
      expect(mine.count('POST /graphql')).toBe(1)
      expect(mine.violations).toEqual([])
    } finally {
      await mine.close()
    }
  })

  it('posts a new comment, and says why, when the account cannot be found', async () => {
    const blind = await FakeGitHub.start({ graphqlUnavailable: true })
    try {
      const client = createOctokit('ghs_x', {
        baseUrl: blind.url,
        log: quietLogger,
        paceWrites: false
      })
      const warnings: string[] = []
      const log = { warning: (m: string) => warnings.push(m) }
      await upsertStickyComment(client, repo, PR, 'run 1', undefined, log)
      await upsertStickyComment(client, repo, PR, 'run 2', undefined, log)
      expect(blind.comments).toHaveLength(2)
      expect(blind.count('GET /repos/{owner}/{repo}/issues/{issue_number}/comments')).toBe(0)
      expect(warnings[0]).toMatch(/could not tell which account the token acts as/)
    } finally {
      await blind.close()
    }
  })
})

describe('mergeSections', () => {
  const section = (model: string, text: string) =>
    `<!-- ml-promote:model:${model} -->\n${text}\n<!-- /ml-promote:model:${model} -->`

  it('renders sections in model order', () => {
    expect(mergeSections(undefined, { b: 'B', a: 'A' })).toBe(
      `${section('a', 'A')}\n\n${section('b', 'B')}`
    )
  })

  it('replaces the models given and keeps the others from the previous body', () => {
    const previous = `${COMMENT_MARKER}\n\n## old header\n\n${section('a', 'old A')}\n\n${section('c', 'C\n| t |\n| - |')}`
    expect(mergeSections(previous, { a: 'new A', b: 'B' })).toBe(
      [section('a', 'new A'), section('b', 'B'), section('c', 'C\n| t |\n| - |')].join('\n\n')
    )
  })

  it('is stable when merged again and again', () => {
    const once = mergeSections(undefined, { a: '\nA\n\n' })
    expect(mergeSections(once, {})).toBe(once)
    expect(mergeSections(mergeSections(once, {}), {})).toBe(once)
  })

  it('drops a section whose end was cut off', () => {
    const previous = `${section('a', 'A')}\n\n<!-- ml-promote:model:b -->\nB cut here`
    expect(parseSections(previous)).toEqual({ a: 'A' })
    expect(mergeSections(previous, { c: 'C' })).toBe(`${section('a', 'A')}\n\n${section('c', 'C')}`)
  })

  it('does not confuse models whose names share a prefix', () => {
    const previous = `${section('fraud', 'F')}\n\n${section('fraud-v2', 'F2')}`
    expect(parseSections(previous)).toEqual({ fraud: 'F', 'fraud-v2': 'F2' })
  })
})
