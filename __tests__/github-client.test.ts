import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { createOctokit, fitText, isForbidden, type Octokit } from '../src/github.js'
import type { Logger } from '../src/types.js'
import { FakeGitHub } from '../test/fakes/github-server.js'

const TOKEN = 'ghs_0123456789abcdefSECRET'

function recordingLogger(): { log: Logger; lines: string[]; secrets: string[] } {
  const lines: string[] = []
  const secrets: string[] = []
  const log: Logger = {
    info: (m) => lines.push(`info: ${m}`),
    notice: (m) => lines.push(`notice: ${m}`),
    warning: (m) => lines.push(`warning: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
    debug: (m) => lines.push(`debug: ${m}`),
    group: (_name, fn) => fn(),
    secret: (v) => secrets.push(v)
  }
  return { log, lines, secrets }
}

let fake: FakeGitHub
let rec: ReturnType<typeof recordingLogger>

beforeEach(async () => {
  fake = await FakeGitHub.start()
  rec = recordingLogger()
})

afterEach(async () => {
  expect(fake.violations).toEqual([])
  await fake.close()
})

function client(
  opts: { deadline?: number; retries?: number; requestTimeoutMs?: number } = {}
): Octokit {
  return createOctokit(TOKEN, {
    baseUrl: fake.url,
    log: rec.log,
    backoffBaseMs: 10,
    paceWrites: false,
    ...opts
  })
}

const repoCalls = () =>
  fake.calls.filter((c) => c.method === 'GET' && c.path === `/repos/${fake.owner}/${fake.repo}`)

describe('transient failures', () => {
  it('retries a 500 and a 502, then returns the answer', async () => {
    fake.inject({
      method: 'GET',
      path: `/repos/${fake.owner}/${fake.repo}`,
      times: 1,
      kind: 'status',
      status: 500
    })
    fake.inject({
      method: 'GET',
      path: `/repos/${fake.owner}/${fake.repo}`,
      times: 1,
      kind: 'status',
      status: 502
    })
    const { data } = await client().rest.repos.get({ owner: fake.owner, repo: fake.repo })
    expect(data.name).toBe(fake.repo)
    expect(repoCalls().map((c) => c.status)).toEqual([500, 502, 200])
  })

  it('gives up after the configured number of retries', async () => {
    fake.inject({
      method: 'GET',
      path: `/repos/${fake.owner}/${fake.repo}`,
      times: 10,
      kind: 'status',
      status: 503
    })
    await expect(
      client({ retries: 2 }).rest.repos.get({ owner: fake.owner, repo: fake.repo })
    ).rejects.toMatchObject({
      status: 503
    })
    expect(repoCalls()).toHaveLength(3)
  })

  it('does not retry a 404', async () => {
    await expect(
      client().rest.repos.get({ owner: fake.owner, repo: 'no-such-repo' })
    ).rejects.toMatchObject({
      status: 404
    })
    expect(fake.calls.filter((c) => c.path.endsWith('/no-such-repo'))).toHaveLength(1)
  })

  it('retries a connection reset', async () => {
    fake.inject({
      method: 'GET',
      path: `/repos/${fake.owner}/${fake.repo}`,
      times: 1,
      kind: 'reset'
    })
    const { data } = await client().rest.repos.get({ owner: fake.owner, repo: fake.repo })
    expect(data.name).toBe(fake.repo)
  })

  it('abandons an attempt that hangs and retries it', async () => {
    fake.inject({
      method: 'GET',
      path: `/repos/${fake.owner}/${fake.repo}`,
      times: 1,
      kind: 'hang'
    })
    const { data } = await client({ requestTimeoutMs: 300 }).rest.repos.get({
      owner: fake.owner,
      repo: fake.repo
    })
    expect(data.name).toBe(fake.repo)
    expect(repoCalls().length).toBeGreaterThanOrEqual(1)
  })
})

describe('rate limits', () => {
  it('honours retry-after on a secondary rate limit, then succeeds', async () => {
    fake.inject({
      method: 'GET',
      path: `/repos/${fake.owner}/${fake.repo}`,
      times: 1,
      kind: 'secondary-rate-limit',
      retryAfter: 1
    })
    const started = Date.now()
    const { data } = await client().rest.repos.get({ owner: fake.owner, repo: fake.repo })
    expect(data.name).toBe(fake.repo)
    // The wait is at least what GitHub asked for (a lower bound, so machine load cannot break it).
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    expect(repoCalls()).toHaveLength(2)
    expect(
      rec.lines.some(
        (l) =>
          l.startsWith('warning: GitHub secondary rate limit exceeded') && /waiting 1 s/.test(l)
      )
    ).toBe(true)
  })

  it('waits for the primary limit to reset, then succeeds', async () => {
    fake.inject({
      method: 'GET',
      path: `/repos/${fake.owner}/${fake.repo}`,
      times: 1,
      kind: 'primary-rate-limit',
      retryAfter: 1
    })
    const { data } = await client().rest.repos.get({ owner: fake.owner, repo: fake.repo })
    expect(data.name).toBe(fake.repo)
    expect(repoCalls()).toHaveLength(2)
    expect(
      rec.lines.some(
        (l) => l.startsWith('warning: GitHub rate limit exceeded') && /waiting \d+ s/.test(l)
      )
    ).toBe(true)
  })

  it('gives up with a clear message when the limit lifts after the deadline', async () => {
    fake.inject({
      method: 'GET',
      path: `/repos/${fake.owner}/${fake.repo}`,
      times: 1,
      kind: 'primary-rate-limit',
      retryAfter: 600
    })
    const octokit = client({ deadline: Date.now() + 5_000 })
    await expect(
      octokit.rest.repos.get({ owner: fake.owner, repo: fake.repo })
    ).rejects.toMatchObject({ status: 403 })
    expect(repoCalls()).toHaveLength(1)
    const line = rec.lines.find((l) => l.includes('giving up'))
    expect(line).toMatch(
      /rate limit exceeded for GET \/repos\/.+: it lifts in \d+ s, but the run's deadline is in \d+ s; giving up/
    )
  })

  it('gives up a secondary limit past the deadline too', async () => {
    fake.inject({
      method: 'GET',
      path: `/repos/${fake.owner}/${fake.repo}`,
      times: 1,
      kind: 'secondary-rate-limit',
      retryAfter: 600
    })
    const octokit = client({ deadline: Date.now() + 5_000 })
    await expect(
      octokit.rest.repos.get({ owner: fake.owner, repo: fake.repo })
    ).rejects.toBeDefined()
    expect(repoCalls()).toHaveLength(1)
    expect(
      rec.lines.some((l) => l.includes('secondary rate limit') && l.includes('giving up'))
    ).toBe(true)
  })

  it('stops waiting after the configured number of retries', async () => {
    fake.inject({
      method: 'GET',
      path: `/repos/${fake.owner}/${fake.repo}`,
      times: 5,
      kind: 'secondary-rate-limit',
      retryAfter: 1
    })
    await expect(
      client({ retries: 1 }).rest.repos.get({ owner: fake.owner, repo: fake.repo })
    ).rejects.toBeDefined()
    expect(repoCalls()).toHaveLength(2)
    expect(rec.lines.some((l) => l.includes('after 1 waits; giving up'))).toBe(true)
  })
})

describe('write pacing', () => {
  it('spaces writes at least a second apart unless told not to', async () => {
    const paced = createOctokit(TOKEN, { baseUrl: fake.url, log: rec.log })
    const started = Date.now()
    for (const body of ['one', 'two', 'three']) {
      await paced.rest.repos.createCommitStatus({
        owner: fake.owner,
        repo: fake.repo,
        sha: 'e'.repeat(40),
        state: 'success',
        context: body
      })
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900)
    expect(fake.statuses).toHaveLength(3)
  })
})

describe('the token', () => {
  it('is registered as a secret and never appears in the log, even in debug lines', async () => {
    const octokit = client()
    expect(rec.secrets).toEqual([TOKEN])
    fake.inject({
      method: 'GET',
      path: `/repos/${fake.owner}/${fake.repo}`,
      times: 1,
      kind: 'status',
      status: 500
    })
    fake.inject({
      method: 'GET',
      path: `/repos/${fake.owner}/${fake.repo}`,
      times: 1,
      kind: 'secondary-rate-limit',
      retryAfter: 1
    })
    await octokit.rest.repos.get({ owner: fake.owner, repo: fake.repo })
    await octokit.rest.repos.get({ owner: fake.owner, repo: 'missing' }).catch(() => undefined)
    await octokit.rest.issues.createComment({
      owner: fake.owner,
      repo: fake.repo,
      issue_number: 1,
      body: 'hello'
    })
    // Every request reaches the server authenticated, and the log shows each attempt...
    expect(fake.calls.every((c) => c.token === TOKEN)).toBe(true)
    expect(rec.lines.filter((l) => l.startsWith('debug: github: GET /repos/'))).not.toHaveLength(0)
    // ...without the credential.
    const all = rec.lines.join('\n')
    expect(all).not.toContain(TOKEN)
    expect(all.toLowerCase()).not.toContain('authorization')
  })
})

describe('isForbidden', () => {
  it.each([
    [{ status: 403, message: 'Resource not accessible by integration' }, true],
    [{ status: 404, message: 'Resource not accessible by integration' }, true],
    [{ status: 404, message: 'Not Found' }, false],
    [{ status: 403, message: 'API rate limit exceeded for installation' }, false],
    [
      {
        status: 403,
        message: 'Forbidden',
        response: { headers: { 'x-ratelimit-remaining': '0' } }
      },
      false
    ],
    [{ status: 500, message: 'boom' }, false],
    [new Error('no status'), false],
    [undefined, false]
  ])('%j → %s', (error, expected) => {
    expect(isForbidden(error)).toBe(expected)
  })
})

describe('fitText', () => {
  it.each([
    ['short', 10, '…', 'short'],
    ['0123456789abc', 10, '…', '012345678…'],
    ['0123456789', 10, '…', '0123456789']
  ])('fits %j into %i', (text, limit, note, expected) => {
    expect(fitText(text, limit, note)).toBe(expected)
  })

  it('does not split a surrogate pair', () => {
    const out = fitText('abcd😀😀😀', 6, '…')
    expect(out.length).toBeLessThanOrEqual(6)
    expect(out).toBe('abcd…')
  })
})
