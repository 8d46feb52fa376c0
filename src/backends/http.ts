// JSON over HTTP for the remote backends and champion stores: one place that knows how to time a
// request out, recognise a transient failure, honour Retry-After and decide whether a request may
// be sent again.
//
// The clock lives here rather than in wait.ts so that this module stays a leaf: wait.ts needs
// `isTransient` and re-exports `Clock` / `systemClock`, and a cycle between the two would be
// fragile under bundling.

/** Time as the retry and wait loops see it; tests inject a virtual one. */
export interface Clock {
  now(): number
  /** Resolves after `ms`, or rejects with the signal's reason as soon as `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal))
        return
      }
      const onAbort = (): void => {
        clearTimeout(timer)
        reject(abortReason(signal as AbortSignal))
      }
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
        Math.max(0, ms)
      )
      signal?.addEventListener('abort', onAbort, { once: true })
    })
}

export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError')
}

export class HttpError extends Error {
  constructor(
    message: string,
    /** 0 for network errors and timeouts. */
    readonly status: number,
    /** The request URL with credentials and secret-looking query values redacted. */
    readonly url: string,
    /** Parsed JSON, or the text when it is not JSON. */
    readonly body: unknown,
    readonly retryAfterMs?: number,
    /** The service's own error code (Databricks `error_code`, OAuth `error`). */
    readonly code?: string
  ) {
    super(message)
    this.name = 'HttpError'
  }
}

export interface RetryOptions {
  /**
   * True when sending the request twice is harmless: a GET, or a POST that carries an
   * idempotency key or a deterministic id the server deduplicates on.
   */
  idempotent: boolean
  /** Total attempts including the first (default 5). */
  attempts?: number
  clock?: Clock
  /** First backoff step in ms (default 500); doubled per attempt up to 10 s. */
  baseMs?: number
  /** Longest Retry-After honoured in ms (default 60000); a longer one is shortened to this. */
  maxRetryAfterMs?: number
  random?: () => number
}

export interface RequestOptions {
  method?: string
  headers?: Record<string, string>
  query?: Record<string, string | number | boolean | undefined>
  /** JSON-encoded. */
  body?: unknown
  /** Sent as application/x-www-form-urlencoded. */
  form?: Record<string, string>
  signal?: AbortSignal
  /** Per attempt (default 30000): a hung response is cut after this long. */
  timeoutMs?: number
  /** Without it the request is sent once. */
  retry?: RetryOptions
}

const DEFAULT_TIMEOUT_MS = 30_000
const DEFAULT_ATTEMPTS = 5
const DEFAULT_BASE_MS = 500
const MAX_BACKOFF_MS = 10_000
const DEFAULT_MAX_RETRY_AFTER_MS = 60_000

/** 429, 5xx and network failures (status 0: reset, refused, timed out) may succeed when tried again. */
export function isTransient(e: unknown): boolean {
  if (!(e instanceof HttpError)) return false
  return e.status === 0 || e.status === 429 || e.status >= 500
}

// 429 and 503 say the server refused the request without acting on it (RFC 9110 §15.6.4, RFC 6585
// §4), so even a request that is not idempotent may be sent again. Any other failure — a 500, a 502
// from a proxy, a reset connection, a timeout — may have happened after the server acted, and
// sending a non-idempotent request again could, for example, start a second training.
function mayResend(e: HttpError, idempotent: boolean): boolean {
  if (!isTransient(e)) return false
  return idempotent || e.status === 429 || e.status === 503
}

/**
 * Sends one JSON request (retrying per `opts.retry`) and returns the parsed response body
 * (undefined for an empty body). Non-2xx responses and network failures throw HttpError; an abort
 * of `opts.signal` throws the signal's reason.
 */
export async function requestJson<T = unknown>(url: string, opts: RequestOptions = {}): Promise<T> {
  const retry = opts.retry
  const attempts = retry ? Math.max(1, retry.attempts ?? DEFAULT_ATTEMPTS) : 1
  const clock = retry?.clock ?? systemClock
  const random = retry?.random ?? Math.random
  for (let attempt = 1; ; attempt++) {
    try {
      return (await attemptOnce(url, opts, clock)) as T
    } catch (e) {
      if (
        !(e instanceof HttpError) ||
        attempt >= attempts ||
        !mayResend(e, retry?.idempotent ?? false)
      ) {
        throw e
      }
      await clock.sleep(retryDelay(e, attempt, retry, random), opts.signal)
    }
  }
}

/**
 * Exponential backoff with jitter in [50%, 100%] of the step so that clients that failed together
 * do not retry together; a Retry-After longer than that wins, up to `maxRetryAfterMs`.
 */
export function retryDelay(
  e: HttpError,
  attempt: number,
  retry: Pick<RetryOptions, 'baseMs' | 'maxRetryAfterMs'> = {},
  random: () => number = Math.random
): number {
  const step = Math.min(MAX_BACKOFF_MS, (retry.baseMs ?? DEFAULT_BASE_MS) * 2 ** (attempt - 1))
  const backoff = step * (0.5 + 0.5 * random())
  if (e.retryAfterMs === undefined) return backoff
  return Math.max(
    backoff,
    Math.min(e.retryAfterMs, retry.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS)
  )
}

async function attemptOnce(url: string, opts: RequestOptions, clock: Clock): Promise<unknown> {
  const method = (
    opts.method ?? (opts.body !== undefined || opts.form ? 'POST' : 'GET')
  ).toUpperCase()
  const target = withQuery(url, opts.query)
  const shown = redactUrl(target)
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'ml-promote' }
  let body: string | undefined
  if (opts.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded'
    body = new URLSearchParams(opts.form).toString()
  } else if (opts.body !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(opts.body)
  }
  Object.assign(headers, opts.headers)

  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const attempt = linkedAbort(opts.signal, timeoutMs)
  let response: Response
  let text: string
  try {
    response = await fetch(target, {
      method,
      headers,
      body,
      signal: attempt.signal,
      redirect: 'follow'
    })
    // The body is read under the same timeout: a server that sends headers and then stalls is hung too.
    text = await response.text()
  } catch (e) {
    if (opts.signal?.aborted) throw abortReason(opts.signal)
    if (attempt.timedOut()) {
      throw new HttpError(`${method} ${shown} timed out after ${timeoutMs} ms`, 0, shown, undefined)
    }
    throw new HttpError(`${method} ${shown} failed: ${networkCause(e)}`, 0, shown, undefined)
  } finally {
    attempt.dispose()
  }

  const parsed = parseBody(text)
  if (response.ok) return parsed
  const { code, message } = describeErrorBody(parsed)
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), clock.now())
  const detail = [code, message].filter(Boolean).join(': ')
  throw new HttpError(
    `${method} ${shown} returned ${response.status}${detail ? ` (${detail})` : ''}`,
    response.status,
    shown,
    parsed,
    retryAfterMs,
    code
  )
}

/**
 * The caller's signal combined by hand with a per-attempt timeout. AbortSignal.any exists on Node
 * 20.3+, but doing it here also tells a timeout apart from a caller abort and always clears the timer.
 */
function linkedAbort(
  outer: AbortSignal | undefined,
  timeoutMs: number
): { signal: AbortSignal; timedOut(): boolean; dispose(): void } {
  const controller = new AbortController()
  let timedOut = false
  const onOuterAbort = (): void => controller.abort(outer?.reason)
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError'))
  }, timeoutMs)
  if (outer?.aborted) controller.abort(outer.reason)
  else outer?.addEventListener('abort', onOuterAbort, { once: true })
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    dispose: () => {
      clearTimeout(timer)
      outer?.removeEventListener('abort', onOuterAbort)
    }
  }
}

function networkCause(e: unknown): string {
  // undici reports "fetch failed" and keeps the useful part (ECONNRESET, ECONNREFUSED…) in `cause`.
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause
  if (cause?.code) return cause.code
  if (cause?.message) return cause.message
  return e instanceof Error ? e.message : String(e)
}

function withQuery(url: string, query: RequestOptions['query']): string {
  if (!query) return url
  const u = new URL(url)
  for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v))
  return u.toString()
}

const SECRET_QUERY = /token|secret|password|passwd|key|sig|auth|code/i

/** The URL as it may appear in messages: no user info, secret-looking query values replaced. */
export function redactUrl(url: string): string {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return url.replace(/\?.*$/, '')
  }
  u.username = ''
  u.password = ''
  for (const k of [...u.searchParams.keys()]) if (SECRET_QUERY.test(k)) u.searchParams.set(k, '***')
  return u.toString()
}

function parseBody(text: string): unknown {
  if (text === '') return undefined
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

function describeErrorBody(body: unknown): { code?: string; message?: string } {
  if (typeof body === 'string') return { message: body.trim().slice(0, 300) || undefined }
  if (!body || typeof body !== 'object') return {}
  const b = body as Record<string, unknown>
  const str = (v: unknown): string | undefined =>
    typeof v === 'string' && v !== '' ? v : undefined
  // Databricks: {error_code, message}; OAuth (RFC 6749 §5.2): {error, error_description};
  // Airflow / RFC 7807 problem details: {title, detail}.
  const code = str(b.error_code) ?? str(b.error)
  const message = str(b.message) ?? str(b.error_description) ?? str(b.detail) ?? str(b.title)
  return { code, message }
}

/** Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3), in ms from `now`. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined
  const v = value.trim()
  if (/^\d+$/.test(v)) return Number(v) * 1000
  const at = Date.parse(v)
  if (Number.isNaN(at)) return undefined
  return Math.max(0, at - now)
}
