import { afterEach, describe, expect, it } from '@jest/globals'
import { unzipSync, strFromU8 } from 'fflate'
import { FakeGitHub, type FakeGitHubOptions } from '../test/fakes/github-server.js'
import {
  contractSource,
  getOperation,
  listOperations,
  matchOperation,
  openApiDocument,
  validateRequest,
  validateResponse
} from '../test/fakes/openapi-validator.js'

const SHA = 'a'.repeat(40)
const OTHER_SHA = 'b'.repeat(40)
const REPO = '/repos/octo-org/fraud-models'

let fakes: FakeGitHub[] = []

async function start(opts: FakeGitHubOptions = {}): Promise<FakeGitHub> {
  const fake = await FakeGitHub.start(opts)
  fakes.push(fake)
  return fake
}

afterEach(async () => {
  await Promise.all(fakes.map((f) => f.close()))
  fakes = []
})

interface Answer {
  status: number
  headers: Headers
  json: any
}

async function call(
  fake: FakeGitHub,
  method: string,
  path: string,
  body?: unknown,
  opts: { token?: string | null; headers?: Record<string, string>; signal?: AbortSignal } = {}
): Promise<Answer> {
  const headers: Record<string, string> = { accept: 'application/vnd.github+json', ...opts.headers }
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? 'ghs_test'}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(fake.url + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: opts.signal
  })
  const text = await res.text()
  let json: unknown = text
  try {
    json = text === '' ? undefined : JSON.parse(text)
  } catch {
    // raw bodies stay text
  }
  return { status: res.status, headers: res.headers, json }
}

const checkRun = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'ml-promote / fraud-detector',
  head_sha: SHA,
  status: 'in_progress',
  ...extra
})

describe('the contract fixture', () => {
  it('is cut from a pinned @octokit/openapi release and holds exactly the operations ml-promote calls', () => {
    expect(contractSource()).toMatch(/^@octokit\/openapi@\d+\.\d+\.\d+$/)
    expect(listOperations()).toHaveLength(30)
    expect(openApiDocument().components.examples).toBeUndefined()
  })

  it('documents return_run_details and its 200 response on workflow dispatch', () => {
    const op = getOperation('POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches')
    const schema = op.requestBody?.content['application/json'] as {
      properties: Record<string, { type: string }>
    }
    expect(schema.properties.return_run_details?.type).toBe('boolean')
    expect(Object.keys(op.responses).sort()).toEqual(['200', '204'])
    expect(
      validateResponse(op, 200, {
        workflow_run_id: 1,
        run_url: 'https://x/y',
        html_url: 'https://x/z'
      })
    ).toEqual([])
  })
})

describe('operation matching', () => {
  it.each([
    [
      'GET',
      `${REPO}/contents/models/fraud/train.py`,
      'GET /repos/{owner}/{repo}/contents/{path}',
      { path: 'models/fraud/train.py' }
    ],
    [
      'GET',
      `${REPO}/contents/models%2Ffraud%2Ftrain.py`,
      'GET /repos/{owner}/{repo}/contents/{path}',
      { path: 'models/fraud/train.py' }
    ],
    [
      'GET',
      `${REPO}/commits/refs%2Fheads%2Fmain/check-runs`,
      'GET /repos/{owner}/{repo}/commits/{ref}/check-runs',
      { ref: 'refs/heads/main' }
    ],
    [
      'POST',
      `${REPO}/actions/runs/42/cancel`,
      'POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel',
      { run_id: '42' }
    ],
    [
      'GET',
      `${REPO}/compare/main...feature`,
      'GET /repos/{owner}/{repo}/compare/{basehead}',
      { basehead: 'main...feature' }
    ]
  ])('%s %s → %s', (method, path, id, params) => {
    const found = matchOperation(method, path)
    expect(found?.operation.id).toBe(id)
    expect(found?.params).toMatchObject(params)
  })

  it('knows nothing outside the contract', () => {
    expect(matchOperation('DELETE', `${REPO}/check-runs/1`)).toBeUndefined()
    expect(matchOperation('GET', `${REPO}/branches`)).toBeUndefined()
  })
})

describe('request and response validation', () => {
  const update = getOperation('PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}')
  const parts = {
    params: { owner: 'o', repo: 'r', check_run_id: '7' },
    query: {},
    headers: { 'content-type': 'application/json' }
  }

  it('accepts a documented request', () => {
    expect(
      validateRequest(update, { ...parts, body: { status: 'completed', conclusion: 'success' } })
    ).toEqual([])
  })

  it.each([
    [
      'a non-integer path parameter',
      { params: { ...parts.params, check_run_id: 'abc' }, body: { status: 'queued' } },
      /path parameter check_run_id must be integer/
    ],
    [
      'an undocumented enum value',
      { body: { conclusion: 'passed' } },
      /request body\/conclusion must be equal to one of the allowed values/
    ],
    [
      'a misspelt body field',
      { body: { conlusion: 'success' } },
      /field conlusion is not part of checks\/update/
    ],
    [
      'an unknown query parameter',
      { query: { perPage: '10' }, body: { status: 'queued' } },
      /query parameter perPage/
    ],
    ['a missing body', { body: undefined }, /request body is required/],
    [
      'a form-encoded body',
      { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=b' },
      /content-type application\/x-www-form-urlencoded is not accepted/
    ]
  ])('rejects %s', (_name, override, message) => {
    const errors = validateRequest(update, { ...parts, ...override })
    expect(errors.join('\n')).toMatch(message)
  })

  it('checks response bodies, statuses and nullable fields against the description', () => {
    const get = getOperation('GET /repos/{owner}/{repo}/actions/runs/{run_id}')
    expect(validateResponse(get, 201, {})[0]).toMatch(/status 201 is not documented/)
    expect(validateResponse(get, 200, { id: 'one' }).join('\n')).toMatch(
      /must have required property 'node_id'/
    )
    const list = getOperation('GET /repos/{owner}/{repo}/commits/{ref}/check-runs')
    expect(validateResponse(list, 200, { total_count: 0, check_runs: [] })).toEqual([])
    expect(validateResponse(list, 200, { total_count: null, check_runs: [] }).join()).toMatch(
      /total_count must be integer/
    )
  })
})

describe('FakeGitHub: contract enforcement', () => {
  it('serves a valid call and records it without violations', async () => {
    const fake = await start()
    const res = await call(fake, 'POST', `${REPO}/check-runs`, checkRun())
    expect(res.status).toBe(201)
    expect(res.json).toMatchObject({
      id: fake.checkRuns[0]?.id,
      status: 'in_progress',
      conclusion: null
    })
    expect(fake.checkRuns).toHaveLength(1)
    expect(fake.calls[0]).toMatchObject({
      method: 'POST',
      operation: 'POST /repos/{owner}/{repo}/check-runs',
      status: 201,
      token: 'ghs_test'
    })
    expect(fake.count('POST /repos/{owner}/{repo}/check-runs')).toBe(1)
    expect(fake.count(/check-runs/)).toBe(1)
    expect(fake.violations).toEqual([])
  })

  it('rejects a body of the wrong type with 422 and records the violation', async () => {
    const fake = await start()
    const res = await call(
      fake,
      'POST',
      `${REPO}/check-runs`,
      checkRun({ status: 'completed', conclusion: 'passed' })
    )
    expect(res.status).toBe(422)
    expect(res.json.documentation_url).toBe(
      'https://docs.github.com/rest/reference/checks#create-a-check-run'
    )
    expect(res.json.message).toMatch(
      /^Invalid request\.\n\nrequest body\/conclusion must be equal to one of the allowed values/
    )
    expect(fake.violations).toHaveLength(1)
    expect(fake.violations[0]).toMatch(
      /^POST \/repos\/\{owner\}\/\{repo\}\/check-runs: request body\/conclusion/
    )
    expect(fake.checkRuns).toEqual([])
  })

  it('rejects a missing required field', async () => {
    const fake = await start()
    const res = await call(fake, 'POST', `${REPO}/check-runs`, { name: 'x' })
    expect(res.status).toBe(422)
    expect(fake.violations.join()).toMatch(/must have required property 'head_sha'/)
  })

  it('answers 404 for a route GitHub does not have, and records it', async () => {
    const fake = await start()
    const res = await call(fake, 'GET', `${REPO}/check-suites/1/whatever`)
    expect(res.status).toBe(404)
    expect(fake.violations).toEqual([
      `GET ${REPO}/check-suites/1/whatever: no such operation in GitHub's REST API description`
    ])
  })

  it('answers 404 without a violation for another repository', async () => {
    const fake = await start()
    expect((await call(fake, 'GET', '/repos/someone/else')).status).toBe(404)
    expect(fake.violations).toEqual([])
  })

  it('requires a token', async () => {
    const fake = await start()
    const res = await call(fake, 'GET', REPO, undefined, { token: null })
    expect(res.status).toBe(401)
    expect(res.json.message).toBe('Requires authentication')
    expect(fake.violations).toEqual([])
  })

  it('gives read-only tokens 403 on writes and answers their reads', async () => {
    const fake = await start({ readOnlyTokens: ['ghs_fork'] })
    const write = await call(
      fake,
      'POST',
      `${REPO}/issues/7/comments`,
      { body: 'hi' },
      { token: 'ghs_fork' }
    )
    expect(write.status).toBe(403)
    expect(write.json.message).toBe('Resource not accessible by integration')
    expect(write.headers.get('x-accepted-github-permissions')).toMatch(/issues=write/)
    expect(fake.comments).toEqual([])
    expect(
      (await call(fake, 'GET', `${REPO}/issues/7/comments`, undefined, { token: 'ghs_fork' }))
        .status
    ).toBe(200)
    expect((await call(fake, 'POST', `${REPO}/issues/7/comments`, { body: 'hi' })).status).toBe(201)
    expect(fake.violations).toEqual([])
  })

  it('serves the repository with the documented shape', async () => {
    const fake = await start()
    const res = await call(fake, 'GET', REPO)
    expect(res.json).toMatchObject({ full_name: 'octo-org/fraud-models', default_branch: 'main' })
    expect(fake.violations).toEqual([])
  })
})

describe('FakeGitHub: rate limit headers', () => {
  it('counts requests down from GITHUB_TOKEN’s 1000 per hour', async () => {
    const fake = await start()
    const first = await call(fake, 'GET', REPO)
    const second = await call(fake, 'GET', REPO)
    expect(first.headers.get('x-ratelimit-limit')).toBe('1000')
    expect(first.headers.get('x-ratelimit-remaining')).toBe('999')
    expect(second.headers.get('x-ratelimit-remaining')).toBe('998')
    expect(second.headers.get('x-ratelimit-used')).toBe('2')
    expect(second.headers.get('x-ratelimit-resource')).toBe('core')
    expect(Number(second.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000)
    const overview = await call(fake, 'GET', '/rate_limit')
    expect(overview.json.resources.core).toMatchObject({ limit: 1000, used: 2, remaining: 998 })
    expect(fake.violations).toEqual([])
  })

  it('answers 403 once the hourly budget is spent', async () => {
    const fake = await start({ rateLimit: 2 })
    await call(fake, 'GET', REPO)
    await call(fake, 'GET', REPO)
    const res = await call(fake, 'GET', REPO)
    expect(res.status).toBe(403)
    expect(res.headers.get('x-ratelimit-remaining')).toBe('0')
    expect(res.json.message).toMatch(/API rate limit exceeded/)
  })
})

describe('FakeGitHub: faults', () => {
  it("'status' answers that status for `times` matching requests, then recovers", async () => {
    const fake = await start()
    fake.inject({ kind: 'status', status: 503, method: 'GET', path: REPO, times: 2, retryAfter: 3 })
    const a = await call(fake, 'GET', REPO)
    const other = await call(fake, 'GET', '/rate_limit')
    const b = await call(fake, 'GET', REPO)
    const c = await call(fake, 'GET', REPO)
    expect([a.status, other.status, b.status, c.status]).toEqual([503, 200, 503, 200])
    expect(a.headers.get('retry-after')).toBe('3')
    expect(a.json.message).toBe('Service Unavailable')
  })

  it('matches faults by operation template and by RegExp', async () => {
    const fake = await start()
    fake.inject({ kind: 'status', status: 502, path: '/repos/{owner}/{repo}/check-runs' })
    fake.inject({ kind: 'status', status: 500, path: /\/issues\/\d+\/comments$/ })
    expect((await call(fake, 'POST', `${REPO}/check-runs`, checkRun())).status).toBe(502)
    expect((await call(fake, 'GET', `${REPO}/issues/3/comments`)).status).toBe(500)
    expect(fake.checkRuns).toEqual([])
  })

  it("'secondary-rate-limit' answers 403 with retry-after and GitHub's message", async () => {
    const fake = await start()
    fake.inject({ kind: 'secondary-rate-limit', retryAfter: 2 })
    const res = await call(fake, 'GET', REPO)
    expect(res.status).toBe(403)
    expect(res.headers.get('retry-after')).toBe('2')
    expect(res.json.message).toMatch(/^You have exceeded a secondary rate limit/)
  })

  it("'primary-rate-limit' answers 403 with no remaining requests until the reset", async () => {
    const fake = await start()
    fake.inject({ kind: 'primary-rate-limit', retryAfter: 5 })
    const before = Date.now() / 1000
    const res = await call(fake, 'GET', REPO)
    expect(res.status).toBe(403)
    expect(res.headers.get('x-ratelimit-remaining')).toBe('0')
    const reset = Number(res.headers.get('x-ratelimit-reset'))
    expect(reset).toBeGreaterThanOrEqual(Math.floor(before + 5))
    expect(reset).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000 + 5))
    expect((await call(fake, 'GET', REPO)).status).toBe(200)
  })

  it("'reset' drops the connection", async () => {
    const fake = await start()
    fake.inject({ kind: 'reset' })
    await expect(call(fake, 'GET', REPO)).rejects.toThrow(/fetch failed/)
    expect(fake.calls[0]?.status).toBe(0)
    expect((await call(fake, 'GET', REPO)).status).toBe(200)
  })

  it("'hang' never answers, and close() still returns", async () => {
    const fake = await start()
    fake.inject({ kind: 'hang' })
    const controller = new AbortController()
    const pending = call(fake, 'GET', REPO, undefined, { signal: controller.signal })
    while (fake.calls.length === 0) await new Promise((r) => setImmediate(r))
    const settled = await Promise.race([
      pending.then(() => 'answered'),
      new Promise((r) => setImmediate(() => r('waiting')))
    ])
    expect(settled).toBe('waiting')
    controller.abort()
    await expect(pending).rejects.toThrow(/abort/i)
    fake.inject({ kind: 'hang' })
    const orphan = call(fake, 'GET', REPO).catch((err: Error) => err.message)
    while (fake.calls.length < 2) await new Promise((r) => setImmediate(r))
    await fake.close()
    fakes = []
    expect(await orphan).toMatch(/fetch failed|terminated|other side closed/)
  })
})

describe('FakeGitHub: pagination', () => {
  it('pages lists and links next/last, prev/first like GitHub', async () => {
    const fake = await start()
    for (let i = 1; i <= 5; i++)
      await call(fake, 'POST', `${REPO}/issues/9/comments`, { body: `c${i}` })
    const first = await call(fake, 'GET', `${REPO}/issues/9/comments?per_page=2`)
    expect(first.json.map((c: { body: string }) => c.body)).toEqual(['c1', 'c2'])
    const link = first.headers.get('link') ?? ''
    expect(link).toContain(`${fake.url}${REPO}/issues/9/comments?per_page=2&page=2>; rel="next"`)
    expect(link).toContain('page=3>; rel="last"')
    const last = await call(fake, 'GET', `${REPO}/issues/9/comments?per_page=2&page=3`)
    expect(last.json.map((c: { body: string }) => c.body)).toEqual(['c5'])
    expect(last.headers.get('link')).toMatch(/page=2>; rel="prev".*page=1>; rel="first"/)
    expect(last.headers.get('link')).not.toContain('rel="next"')
    const single = await call(fake, 'GET', `${REPO}/issues/9/comments`)
    expect(single.headers.get('link')).toBeNull()
    expect(fake.violations).toEqual([])
  })
})

describe('FakeGitHub: check runs', () => {
  const annotations = (n: number): unknown[] =>
    Array.from({ length: n }, (_, i) => ({
      path: 'a.py',
      start_line: i + 1,
      end_line: i + 1,
      annotation_level: 'warning',
      message: `m${i}`
    }))

  it.each([
    ['50 annotations', 201, { title: 't', summary: 's', annotations: annotations(50) }],
    ['51 annotations', 422, { title: 't', summary: 's', annotations: annotations(51) }],
    ['a 65535-character summary', 201, { title: 't', summary: 'x'.repeat(65535) }],
    ['a 65536-character summary', 422, { title: 't', summary: 'x'.repeat(65536) }]
  ])('a request with %s → %i', async (_name, status, output) => {
    const fake = await start()
    const res = await call(fake, 'POST', `${REPO}/check-runs`, checkRun({ output }))
    expect(res.status).toBe(status)
    if (status === 422)
      expect(fake.violations.join()).toMatch(/must NOT have more than (50 items|65535 characters)/)
    else expect(fake.violations).toEqual([])
  })

  it('accumulates annotations over updates and completes on a conclusion', async () => {
    const fake = await start()
    const created = await call(
      fake,
      'POST',
      `${REPO}/check-runs`,
      checkRun({ output: { title: 't', summary: 's', annotations: annotations(50) } })
    )
    const id = created.json.id as number
    const updated = await call(fake, 'PATCH', `${REPO}/check-runs/${id}`, {
      conclusion: 'failure',
      output: { summary: 's2', annotations: annotations(50) }
    })
    expect(updated.status).toBe(200)
    expect(updated.json).toMatchObject({
      status: 'completed',
      conclusion: 'failure',
      output: { annotations_count: 100, summary: 's2' }
    })
    expect(fake.checkRuns[0]?.output?.annotations).toHaveLength(100)
    expect(updated.json.completed_at).toEqual(expect.any(String))
    expect(fake.violations).toEqual([])
  })

  it("refuses status 'completed' without a conclusion, and a head_sha that is not a commit sha", async () => {
    const fake = await start()
    expect(
      (await call(fake, 'POST', `${REPO}/check-runs`, checkRun({ status: 'completed' }))).status
    ).toBe(422)
    expect(
      (await call(fake, 'POST', `${REPO}/check-runs`, checkRun({ head_sha: 'main' }))).status
    ).toBe(422)
    expect(fake.violations).toHaveLength(2)
  })

  it('lists the latest run per name for a commit, filtered by check_name', async () => {
    const fake = await start()
    await call(fake, 'POST', `${REPO}/check-runs`, checkRun({ name: 'a' }))
    await call(fake, 'POST', `${REPO}/check-runs`, checkRun({ name: 'a', conclusion: 'success' }))
    await call(fake, 'POST', `${REPO}/check-runs`, checkRun({ name: 'b' }))
    await call(fake, 'POST', `${REPO}/check-runs`, checkRun({ name: 'a', head_sha: OTHER_SHA }))
    const latest = await call(fake, 'GET', `${REPO}/commits/${SHA}/check-runs`)
    expect(
      latest.json.check_runs.map((r: { name: string; status: string }) => `${r.name}:${r.status}`)
    ).toEqual(['b:in_progress', 'a:completed'])
    const all = await call(fake, 'GET', `${REPO}/commits/${SHA}/check-runs?check_name=a&filter=all`)
    expect(all.json.total_count).toBe(2)
    expect(fake.violations).toEqual([])
  })
})

describe('FakeGitHub: statuses and comments', () => {
  it('treats a commit status description over 140 characters as a contract error', async () => {
    const fake = await start()
    const ok = await call(fake, 'POST', `${REPO}/statuses/${SHA}`, {
      state: 'success',
      context: 'ml-promote',
      description: 'x'.repeat(140)
    })
    expect(ok.status).toBe(201)
    expect(fake.statuses[0]).toMatchObject({ sha: SHA, state: 'success', context: 'ml-promote' })
    const long = await call(fake, 'POST', `${REPO}/statuses/${SHA}`, {
      state: 'success',
      description: 'x'.repeat(141)
    })
    expect(long.status).toBe(422)
    expect(fake.violations).toEqual([
      expect.stringMatching(/description is too long \(maximum is 140 characters, got 141\)/)
    ])
  })

  it('refuses issue comments over 65536 characters and edits comments in place', async () => {
    const fake = await start()
    expect(
      (await call(fake, 'POST', `${REPO}/issues/3/comments`, { body: 'x'.repeat(65537) })).status
    ).toBe(422)
    expect(fake.violations).toHaveLength(1)
    const created = await call(fake, 'POST', `${REPO}/issues/3/comments`, {
      body: 'x'.repeat(65536)
    })
    expect(created.status).toBe(201)
    const edited = await call(fake, 'PATCH', `${REPO}/issues/comments/${created.json.id}`, {
      body: 'new'
    })
    expect(edited.json).toMatchObject({ id: created.json.id, body: 'new' })
    expect(fake.comments).toEqual([expect.objectContaining({ issue_number: 3, body: 'new' })])
    expect((await call(fake, 'PATCH', `${REPO}/issues/comments/1`, { body: 'x' })).status).toBe(404)
    expect(fake.violations).toHaveLength(1)
  })
})

describe('FakeGitHub: deployments', () => {
  it('refuses a deployment while checks on the commit are pending unless required_contexts is []', async () => {
    const fake = await start()
    await call(fake, 'POST', `${REPO}/check-runs`, checkRun())
    const blocked = await call(fake, 'POST', `${REPO}/deployments`, {
      ref: SHA,
      environment: 'staging'
    })
    expect(blocked.status).toBe(409)
    expect(blocked.json.message).toMatch(/Commit status checks failed/)
    const ok = await call(fake, 'POST', `${REPO}/deployments`, {
      ref: SHA,
      environment: 'staging',
      auto_merge: false,
      required_contexts: []
    })
    expect(ok.status).toBe(201)
    expect(fake.violations).toEqual([])
  })

  it('filters and lists deployments and their statuses newest first', async () => {
    const fake = await start()
    const make = async (ref: string, environment: string): Promise<number> =>
      (
        await call(fake, 'POST', `${REPO}/deployments`, {
          ref,
          environment,
          task: 'ml-promote:fraud',
          auto_merge: false,
          required_contexts: [],
          payload: { auc: 0.93 }
        })
      ).json.id
    const a = await make(SHA, 'staging')
    const b = await make(OTHER_SHA, 'staging')
    await make(SHA, 'production')
    const staging = await call(
      fake,
      'GET',
      `${REPO}/deployments?environment=staging&task=ml-promote:fraud`
    )
    expect(staging.json.map((d: { id: number }) => d.id)).toEqual([b, a])
    expect(staging.json[0].payload).toEqual({ auc: 0.93 })
    expect((await call(fake, 'GET', `${REPO}/deployments?sha=${SHA}`)).json).toHaveLength(2)
    await call(fake, 'POST', `${REPO}/deployments/${a}/statuses`, { state: 'in_progress' })
    await call(fake, 'POST', `${REPO}/deployments/${a}/statuses`, {
      state: 'success',
      log_url: 'https://ci/1',
      environment_url: 'https://models/1'
    })
    const statuses = await call(fake, 'GET', `${REPO}/deployments/${a}/statuses`)
    expect(statuses.json.map((s: { state: string }) => s.state)).toEqual(['success', 'in_progress'])
    expect(statuses.json[0]).toMatchObject({
      log_url: 'https://ci/1',
      environment_url: 'https://models/1'
    })
    expect(fake.violations).toEqual([])
  })

  it('marks the previous successful deployment of an environment inactive (auto_inactive)', async () => {
    const fake = await start()
    const base = { environment: 'staging', auto_merge: false, required_contexts: [] }
    const first = (await call(fake, 'POST', `${REPO}/deployments`, { ...base, ref: SHA })).json.id
    await call(fake, 'POST', `${REPO}/deployments/${first}/statuses`, { state: 'success' })
    const second = (await call(fake, 'POST', `${REPO}/deployments`, { ...base, ref: OTHER_SHA }))
      .json.id
    await call(fake, 'POST', `${REPO}/deployments/${second}/statuses`, { state: 'success' })
    expect(fake.deployments.map((d) => d.statuses.map((s) => s.state))).toEqual([
      ['success', 'inactive'],
      ['success']
    ])
    expect(fake.violations).toEqual([])
  })

  it('refuses a deployment status description over 140 characters', async () => {
    const fake = await start()
    const id = (
      await call(fake, 'POST', `${REPO}/deployments`, { ref: SHA, required_contexts: [] })
    ).json.id
    expect(
      (
        await call(fake, 'POST', `${REPO}/deployments/${id}/statuses`, {
          state: 'failure',
          description: 'y'.repeat(141)
        })
      ).status
    ).toBe(422)
    expect(
      (await call(fake, 'POST', `${REPO}/deployments/${id}/statuses`, { state: 'bogus' })).status
    ).toBe(422)
    expect(fake.violations).toHaveLength(2)
  })
})

describe('FakeGitHub: workflow runs', () => {
  const dispatch = `${REPO}/actions/workflows/train.yml/dispatches`

  it('returns run details, moves the run queued → in_progress → completed and serves its artifacts as a zip', async () => {
    const fake = await start({
      workflowRun: {
        queuedPolls: 1,
        runningPolls: 2,
        conclusion: 'success',
        artifacts: { metrics: { 'metrics.json': '{"auc":0.94}' } }
      }
    })
    const res = await call(fake, 'POST', dispatch, {
      ref: 'main',
      inputs: { correlation_id: 'mlp-123', model: 'fraud' },
      return_run_details: true
    })
    expect(res.status).toBe(200)
    const runId = res.json.workflow_run_id as number
    expect(res.json.run_url).toBe(`${fake.url}${REPO}/actions/runs/${runId}`)
    expect(fake.workflowRuns[0]).toMatchObject({
      id: runId,
      workflow_id: 'train.yml',
      ref: 'main',
      inputs: { correlation_id: 'mlp-123', model: 'fraud' }
    })

    const seen: string[] = []
    for (let i = 0; i < 5; i++) {
      const run = await call(fake, 'GET', `${REPO}/actions/runs/${runId}`)
      seen.push(`${run.json.status}:${run.json.conclusion}`)
    }
    expect(seen).toEqual([
      'queued:null',
      'in_progress:null',
      'in_progress:null',
      'completed:success',
      'completed:success'
    ])

    const artifacts = await call(fake, 'GET', `${REPO}/actions/runs/${runId}/artifacts`)
    expect(artifacts.json.total_count).toBe(1)
    const artifact = artifacts.json.artifacts[0]
    expect(artifact.name).toBe('metrics')
    const redirect = await fetch(artifact.archive_download_url, {
      headers: { authorization: 'token t' },
      redirect: 'manual'
    })
    expect(redirect.status).toBe(302)
    expect(redirect.headers.get('location')).toBe(`${fake.url}/_blobs/${artifact.id}.zip`)
    const zip = await fetch(artifact.archive_download_url, {
      headers: { authorization: 'token t' }
    })
    expect(zip.headers.get('content-type')).toBe('application/zip')
    const files = unzipSync(new Uint8Array(await zip.arrayBuffer()))
    expect(strFromU8(files['metrics.json'] as Uint8Array)).toBe('{"auc":0.94}')
    expect(fake.violations).toEqual([])
  })

  it('answers 204 like GHES and lets the run be found by the correlation id in its name', async () => {
    const fake = await start({ workflowRun: { returnRunDetails: false, hiddenListPolls: 1 } })
    const res = await call(fake, 'POST', dispatch, {
      ref: 'main',
      inputs: { correlation_id: 'mlp-xyz' },
      return_run_details: true
    })
    expect(res.status).toBe(204)
    expect(res.json).toBeUndefined()
    const list = `${REPO}/actions/workflows/train.yml/runs?event=workflow_dispatch&branch=main`
    expect((await call(fake, 'GET', list)).json.workflow_runs).toEqual([])
    const runs = (await call(fake, 'GET', list)).json.workflow_runs
    expect(runs).toHaveLength(1)
    expect(runs[0].name).toContain('mlp-xyz')
    expect(runs[0].display_title).toContain('mlp-xyz')
    expect(fake.violations).toEqual([])
  })

  it('cancels a run (202) and refuses to cancel a completed one (409)', async () => {
    const fake = await start({ workflowRun: { artifacts: { m: { f: 'x' } } } })
    await call(fake, 'POST', dispatch, { ref: 'main' })
    const id = fake.workflowRuns[0]?.id
    const cancel = await call(fake, 'POST', `${REPO}/actions/runs/${id}/cancel`)
    expect(cancel.status).toBe(202)
    expect(cancel.json).toEqual({})
    expect(fake.workflowRuns[0]).toMatchObject({
      status: 'completed',
      conclusion: 'cancelled',
      cancelled: true
    })
    expect((await call(fake, 'GET', `${REPO}/actions/runs/${id}`)).json.conclusion).toBe(
      'cancelled'
    )
    expect((await call(fake, 'GET', `${REPO}/actions/runs/${id}/artifacts`)).json.total_count).toBe(
      0
    )
    expect((await call(fake, 'POST', `${REPO}/actions/runs/${id}/cancel`)).status).toBe(409)
    expect(fake.violations).toEqual([])
  })

  it('refuses to dispatch on a commit sha: the API takes a branch or tag', async () => {
    const fake = await start()
    expect((await call(fake, 'POST', dispatch, { ref: SHA })).status).toBe(422)
    expect(fake.workflowRuns).toEqual([])
    expect(fake.violations).toHaveLength(1)
  })
})

describe('FakeGitHub: contents, pulls and compare', () => {
  it('serves files base64-encoded by branch or by that branch’s sha, raw on request, and 404 when absent', async () => {
    const fake = await start()
    fake.setFile('main', '.github/ml-promote.yml', 'version: 1\n')
    fake.setBranch('main', SHA)
    const file = await call(fake, 'GET', `${REPO}/contents/.github%2Fml-promote.yml?ref=main`)
    expect(file.json).toMatchObject({
      type: 'file',
      encoding: 'base64',
      path: '.github/ml-promote.yml'
    })
    expect(Buffer.from(file.json.content, 'base64').toString()).toBe('version: 1\n')
    const bySha = await call(fake, 'GET', `${REPO}/contents/.github/ml-promote.yml?ref=${SHA}`)
    expect(bySha.status).toBe(200)
    const raw = await call(fake, 'GET', `${REPO}/contents/.github/ml-promote.yml`, undefined, {
      headers: { accept: 'application/vnd.github.raw+json' }
    })
    expect(raw.json).toBe('version: 1\n')
    const dir = await call(fake, 'GET', `${REPO}/contents/.github`)
    expect(dir.json.map((e: { name: string; type: string }) => `${e.type}:${e.name}`)).toEqual([
      'file:ml-promote.yml'
    ])
    expect((await call(fake, 'GET', `${REPO}/contents/missing.yml?ref=main`)).status).toBe(404)
    expect(
      (await call(fake, 'GET', `${REPO}/contents/.github/ml-promote.yml?ref=release`)).status
    ).toBe(404)
    expect(fake.violations).toEqual([])
  })

  it('serves pull requests and their files', async () => {
    const fake = await start()
    const files = Array.from({ length: 35 }, (_, i) => `models/fraud/f${i}.py`)
    fake.setPull(12, {
      head: { sha: SHA, ref: 'feature' },
      base: { sha: OTHER_SHA, ref: 'main' },
      files,
      headRepo: 'contributor/fraud-models'
    })
    const pr = await call(fake, 'GET', `${REPO}/pulls/12`)
    expect(pr.json).toMatchObject({
      number: 12,
      head: {
        sha: SHA,
        ref: 'feature',
        repo: { full_name: 'contributor/fraud-models', fork: true }
      },
      base: { sha: OTHER_SHA, ref: 'main' }
    })
    const page2 = await call(fake, 'GET', `${REPO}/pulls/12/files?page=2`)
    expect(page2.json.map((f: { filename: string }) => f.filename)).toEqual(files.slice(30))
    expect((await call(fake, 'GET', `${REPO}/pulls/13`)).status).toBe(404)
    expect(fake.violations).toEqual([])
  })

  it('serves comparisons, capped at 300 files like GitHub', async () => {
    const fake = await start()
    fake.setCompare('main', 'release', ['models/fraud/train.py'])
    fake.setCompare(SHA, OTHER_SHA, ['a.py'], { truncated: true })
    const small = await call(fake, 'GET', `${REPO}/compare/main...release`)
    expect(small.json.files.map((f: { filename: string }) => f.filename)).toEqual([
      'models/fraud/train.py'
    ])
    const big = await call(fake, 'GET', `${REPO}/compare/${SHA}...${OTHER_SHA}`)
    expect(big.json.files).toHaveLength(300)
    expect(big.json.files[0].filename).toBe('a.py')
    expect((await call(fake, 'GET', `${REPO}/compare/x...y`)).status).toBe(404)
    expect(fake.violations).toEqual([])
  })
})
