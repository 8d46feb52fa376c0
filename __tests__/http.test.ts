import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import {
  HttpError,
  isTransient,
  parseRetryAfter,
  redactUrl,
  requestJson
} from '../src/backends/http.js'
import { VirtualClock } from '../test/fakes/clock.js'

type Reply = (req: IncomingMessage, res: ServerResponse, body: string) => void

interface Seen {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

let server: Server
let base: string
const sockets = new Set<Socket>()
let replies: Reply[] = []
let seen: Seen[] = []

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Reply =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers })
    res.end(JSON.stringify(body))
  }
const reset: Reply = (req) => req.socket.destroy()
const hang: Reply = () => undefined

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      const reply = replies.shift() ?? json(200, { ok: true })
      reply(req, res, body)
    })
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  for (const s of sockets) s.destroy()
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

beforeEach(() => {
  replies = []
  seen = []
})

async function rejection(p: Promise<unknown>): Promise<HttpError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err
  )
  expect(e).toBeInstanceOf(HttpError)
  return e as HttpError
}

describe('requests and responses', () => {
  it('sends JSON, query and headers and parses the JSON answer', async () => {
    replies = [json(200, { run_id: 7 })]
    const out = await requestJson<{ run_id: number }>(`${base}/api/x`, {
      method: 'POST',
      body: { a: 1 },
      query: { b: 'two', skip: undefined, n: 3 },
      headers: { authorization: 'Bearer t' }
    })
    expect(out).toEqual({ run_id: 7 })
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/api/x?b=two&n=3', body: '{"a":1}' })
    expect(seen[0]?.headers['content-type']).toBe('application/json')
    expect(seen[0]?.headers.authorization).toBe('Bearer t')
  })

  it('form-encodes `form`', async () => {
    await requestJson(`${base}/token`, {
      form: { grant_type: 'client_credentials', scope: 'all-apis' }
    })
    expect(seen[0]?.method).toBe('POST')
    expect(seen[0]?.headers['content-type']).toBe('application/x-www-form-urlencoded')
    expect(seen[0]?.body).toBe('grant_type=client_credentials&scope=all-apis')
  })

  it('returns undefined for an empty body', async () => {
    replies = [(_q, res) => res.writeHead(200).end()]
    expect(await requestJson(`${base}/empty`)).toBeUndefined()
  })

  it('surfaces a Databricks error body as code and message', async () => {
    replies = [
      json(400, { error_code: 'INVALID_PARAMETER_VALUE', message: 'Run 9 does not exist.' })
    ]
    const e = await rejection(
      requestJson(`${base}/api/2.2/jobs/runs/get`, { query: { run_id: 9 } })
    )
    expect(e.status).toBe(400)
    expect(e.code).toBe('INVALID_PARAMETER_VALUE')
    expect(e.body).toEqual({
      error_code: 'INVALID_PARAMETER_VALUE',
      message: 'Run 9 does not exist.'
    })
    expect(e.message).toContain('returned 400 (INVALID_PARAMETER_VALUE: Run 9 does not exist.)')
    expect(isTransient(e)).toBe(false)
  })

  it('keeps secrets out of the URL it reports', async () => {
    replies = [json(404, { error: 'not_found' })]
    const e = await rejection(
      requestJson(`${base}/x`, { query: { access_token: 's3cr3t', run_id: 1 } })
    )
    expect(e.url).not.toContain('s3cr3t')
    expect(e.message).not.toContain('s3cr3t')
    expect(e.url).toContain('run_id=1')
    expect(redactUrl('https://user:pw@h.example/p?api_key=k&x=1')).toBe(
      'https://h.example/p?api_key=***&x=1'
    )
  })
})

describe('Retry-After', () => {
  it('reads delay-seconds and HTTP dates', () => {
    const now = Date.UTC(2025, 0, 1, 12, 0, 0)
    expect(parseRetryAfter('3', now)).toBe(3000)
    expect(parseRetryAfter(new Date(now + 7000).toUTCString(), now)).toBe(7000)
    expect(parseRetryAfter(new Date(now - 7000).toUTCString(), now)).toBe(0)
    expect(parseRetryAfter('soon', now)).toBeUndefined()
    expect(parseRetryAfter(null, now)).toBeUndefined()
  })

  it.each([429, 503])('waits as long as the server asks on %i, then succeeds', async (status) => {
    const clock = new VirtualClock()
    replies = [json(status, { error_code: 'TEMPORARILY_UNAVAILABLE' }, { 'retry-after': '4' })]
    const out = await requestJson(`${base}/r`, {
      retry: { idempotent: true, clock, random: () => 0 }
    })
    expect(out).toEqual({ ok: true })
    expect(seen).toHaveLength(2)
    expect(clock.sleeps).toEqual([4000])
  })

  it('caps a Retry-After that is too long', async () => {
    const clock = new VirtualClock()
    replies = [json(429, {}, { 'retry-after': '86400' })]
    await requestJson(`${base}/r`, { retry: { idempotent: true, clock, maxRetryAfterMs: 2000 } })
    expect(clock.sleeps).toEqual([2000])
  })

  it('exposes the Retry-After of the last failure', async () => {
    replies = [json(429, {}, { 'retry-after': '2' })]
    const e = await rejection(requestJson(`${base}/r`))
    expect(e.retryAfterMs).toBe(2000)
    expect(isTransient(e)).toBe(true)
  })
})

describe('backoff', () => {
  it('doubles the delay between attempts and gives up after `attempts`', async () => {
    const clock = new VirtualClock()
    replies = Array.from({ length: 4 }, () => json(502, 'bad gateway'))
    const e = await rejection(
      requestJson(`${base}/b`, {
        retry: { idempotent: true, attempts: 4, clock, baseMs: 100, random: () => 1 }
      })
    )
    expect(e.status).toBe(502)
    expect(seen).toHaveLength(4)
    expect(clock.sleeps).toEqual([100, 200, 400])
  })

  it('spreads delays with jitter between half and all of the step', async () => {
    const clock = new VirtualClock()
    replies = [json(500, {}), json(500, {})]
    await requestJson(`${base}/b`, {
      retry: { idempotent: true, clock, baseMs: 1000, random: () => 0 }
    })
    expect(clock.sleeps).toEqual([500, 1000])
  })

  it('does not retry a client error', async () => {
    const clock = new VirtualClock()
    replies = [json(403, { error_code: 'PERMISSION_DENIED', message: 'no' })]
    const e = await rejection(requestJson(`${base}/c`, { retry: { idempotent: true, clock } }))
    expect(e.code).toBe('PERMISSION_DENIED')
    expect(seen).toHaveLength(1)
  })

  it('retries a reset connection when the request is idempotent', async () => {
    const clock = new VirtualClock()
    replies = [reset]
    expect(await requestJson(`${base}/d`, { retry: { idempotent: true, clock } })).toEqual({
      ok: true
    })
    expect(seen).toHaveLength(2)
  })
})

describe('requests that are not idempotent', () => {
  it.each([
    ['a 500', json(500, { error_code: 'INTERNAL_ERROR' })],
    ['a 502', json(502, 'bad gateway')],
    ['a reset connection', reset]
  ])('are not sent again after %s', async (_name, reply) => {
    const clock = new VirtualClock()
    replies = [reply]
    const e = await rejection(
      requestJson(`${base}/n`, { body: {}, retry: { idempotent: false, clock } })
    )
    expect(isTransient(e)).toBe(true)
    expect(seen).toHaveLength(1)
  })

  it.each([429, 503])('are sent again after a %i, which means "not processed"', async (status) => {
    const clock = new VirtualClock()
    replies = [json(status, {})]
    await requestJson(`${base}/n`, { body: {}, retry: { idempotent: false, clock } })
    expect(seen).toHaveLength(2)
  })
})

describe('timeouts and aborts', () => {
  it('cuts a hung response after timeoutMs with a transient status-0 error', async () => {
    replies = [hang]
    const e = await rejection(requestJson(`${base}/h`, { timeoutMs: 150 }))
    expect(e.status).toBe(0)
    expect(e.message).toContain('timed out after 150 ms')
    expect(isTransient(e)).toBe(true)
  })

  it('cuts a body that stalls after the headers', async () => {
    replies = [
      (_q, res) => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.write('{"partial":')
      }
    ]
    const e = await rejection(requestJson(`${base}/h`, { timeoutMs: 150 }))
    expect(e.message).toContain('timed out')
  })

  it('retries a hung idempotent request on a fresh attempt', async () => {
    const clock = new VirtualClock()
    replies = [hang]
    expect(
      await requestJson(`${base}/h`, { timeoutMs: 150, retry: { idempotent: true, clock } })
    ).toEqual({
      ok: true
    })
    expect(seen).toHaveLength(2)
  })

  it("stops at once when the caller's signal aborts, without retrying", async () => {
    const clock = new VirtualClock()
    replies = [hang]
    const controller = new AbortController()
    const reason = new Error('workflow cancelled')
    setTimeout(() => controller.abort(reason), 50)
    const e = await requestJson(`${base}/h`, {
      signal: controller.signal,
      timeoutMs: 60_000,
      retry: { idempotent: true, clock }
    }).catch((err: unknown) => err)
    expect(e).toBe(reason)
    expect(seen).toHaveLength(1)
  })

  it('does not send a request whose signal is already aborted', async () => {
    const controller = new AbortController()
    controller.abort(new Error('gone'))
    await expect(requestJson(`${base}/h`, { signal: controller.signal })).rejects.toThrow('gone')
    expect(seen).toHaveLength(0)
  })
})
