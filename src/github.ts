// The one Octokit every GitHub call goes through: retries transient failures, waits out rate limits
// within the run's deadline, and keeps the token out of every log line.
import { getOctokit } from '@actions/github'
import { retry } from '@octokit/plugin-retry'
import { throttling, type ThrottlingOptions } from '@octokit/plugin-throttling'
import type { Logger } from './types.js'

export type Octokit = ReturnType<typeof getOctokit>

export interface RepoRef {
  owner: string
  repo: string
}

export interface OctokitOptions {
  /** API root (GitHub Enterprise, a fake in tests); default `$GITHUB_API_URL` or api.github.com. */
  baseUrl?: string
  log: Logger
  /** Epoch ms after which no rate-limit wait is started; default: none. */
  deadline?: number
  /** Retries of a failed request (5xx, connection reset, timeout) and of a rate-limited one. Default 3. */
  retries?: number
  /** Abort one attempt of a request after this long. Default 30 s (GitHub itself gives up after 10 s). */
  requestTimeoutMs?: number
  /** Base of the quadratic backoff between retries of a failed request (1×, 4×, 9×…). Default 1000. */
  backoffBaseMs?: number
  /**
   * Space writes as GitHub asks integrators to (≥1 s apart, 3 s for those that notify people).
   * Default true; only a caller talking to a local fake has a reason to turn it off.
   */
  paceWrites?: boolean
}

type Endpoint = Octokit['request']['endpoint']
type LimiterGroup = NonNullable<ThrottlingOptions['write']>

/**
 * Limiter group that runs every job at once, in place of the plugin's write and notification
 * pacing. The plugin only ever calls `key(id).schedule(options, job, ...args)` on these groups.
 */
const UNPACED = {
  key: () => ({
    schedule: (_options: unknown, job: (...args: unknown[]) => unknown, ...args: unknown[]) =>
      Promise.resolve(job(...args))
  })
} as unknown as LimiterGroup

// Rate-limit 403s are the throttling plugin's business, and 429 is always one.
const DO_NOT_RETRY = [400, 401, 403, 404, 410, 422, 429, 451]

export function createOctokit(token: string, opts: OctokitOptions): Octokit {
  const { log } = opts
  log.secret(token)
  const retries = opts.retries ?? 3
  const deadline = opts.deadline ?? Number.POSITIVE_INFINITY
  const timeoutMs = opts.requestTimeoutMs ?? 30_000
  const redact = redactor(token)

  const baseUrl = opts.baseUrl ?? process.env.GITHUB_API_URL ?? 'https://api.github.com'
  const sent = (endpoint: Endpoint, options: object) => {
    const { method, url } = endpoint.parse(options as Parameters<Endpoint['parse']>[0])
    return redact(`${method} ${url.startsWith(baseUrl) ? url.slice(baseUrl.length) : url}`)
  }

  const waitFor = (kind: string) =>
    function onLimit(
      retryAfter: number,
      options: object,
      octokit: { request: { endpoint: Endpoint } },
      retryCount: number
    ) {
      const what = sent(octokit.request.endpoint, options)
      if (retryCount >= retries) {
        log.warning(`GitHub ${kind} still exceeded for ${what} after ${retries} waits; giving up`)
        return false
      }
      if (Date.now() + retryAfter * 1000 >= deadline) {
        const left = Math.max(0, Math.round((deadline - Date.now()) / 1000))
        log.warning(
          `GitHub ${kind} exceeded for ${what}: it lifts in ${retryAfter} s, but the run's deadline is in ${left} s; giving up`
        )
        return false
      }
      log.warning(
        `GitHub ${kind} exceeded for ${what}; waiting ${retryAfter} s (wait ${retryCount + 1} of ${retries})`
      )
      return true
    }

  // Registered before retry and throttling, so its hook sits inside them: it sees (and times out)
  // every attempt, and runs outside the auth hook, so the options it logs carry no credentials.
  // Hooks hand the same options object down the chain (arguments passed to the inner hook are
  // ignored), so the attempt's signal is set on it in place; the caller's own signal is kept aside.
  const callerSignals = new WeakMap<object, AbortSignal | undefined>()
  const attempts = (octokit: { hook: Octokit['hook']; request: Octokit['request'] }) => {
    octokit.hook.wrap('request', async (request, options) => {
      const settings = (options.request ??= {}) as { signal?: AbortSignal }
      if (!callerSignals.has(options)) callerSignals.set(options, settings.signal)
      const outer = callerSignals.get(options)
      const timeout = AbortSignal.timeout(timeoutMs)
      settings.signal = outer ? AbortSignal.any([outer, timeout]) : timeout
      const what = sent(octokit.request.endpoint, options)
      try {
        const response = await request(options)
        log.debug(`github: ${what} → ${response.status}`)
        return response
      } catch (e) {
        const err = e as { status?: number; message?: string }
        log.debug(redact(`github: ${what} → ${err.status ?? 'error'}: ${err.message ?? String(e)}`))
        throw e
      }
    })
    return {}
  }

  return getOctokit(
    token,
    {
      baseUrl,
      log: {
        debug: (m: unknown, ...rest: unknown[]) => log.debug(redact(describe(m, rest))),
        info: (m: unknown, ...rest: unknown[]) => log.debug(redact(describe(m, rest))),
        warn: (m: unknown, ...rest: unknown[]) => log.warning(redact(describe(m, rest))),
        error: (m: unknown, ...rest: unknown[]) => log.error(redact(describe(m, rest)))
      },
      retry: { retries, doNotRetry: DO_NOT_RETRY, retryAfterBaseValue: opts.backoffBaseMs ?? 1000 },
      throttle: {
        onRateLimit: waitFor('rate limit'),
        onSecondaryRateLimit: waitFor('secondary rate limit'),
        ...(opts.paceWrites === false ? { write: UNPACED, notifications: UNPACED } : {})
      }
    },
    attempts,
    retry,
    throttling
  )
}

/**
 * True when the token lacks the permission for a call: GitHub answers 403 "Resource not accessible
 * by integration" (or a 404 for some endpoints). A rate-limit 403 is not a permission problem.
 */
export function isForbidden(e: unknown): boolean {
  const err = e as {
    status?: unknown
    message?: unknown
    response?: { headers?: Record<string, unknown> }
  }
  const message = typeof err?.message === 'string' ? err.message : ''
  if (err?.status === 403) {
    return !/rate limit/i.test(message) && err.response?.headers?.['x-ratelimit-remaining'] !== '0'
  }
  return err?.status === 404 && /resource not accessible/i.test(message)
}

/** Octokit logs messages with extra arguments (errors, request options); keep only what is text. */
function describe(message: unknown, rest: unknown[]): string {
  return [message, ...rest]
    .map((part) =>
      typeof part === 'string' ? part : part instanceof Error ? part.message : undefined
    )
    .filter((part): part is string => part !== undefined)
    .join(' ')
}

/**
 * Masks the token and any authorization header value, whatever the logger does with secrets.
 * (A token too short to be real would mask ordinary words.)
 */
function redactor(token: string): (line: string) => string {
  return (line) =>
    (token.length >= 8 ? line.split(token).join('***') : line).replace(
      /(authorization["']?\s*[:=]\s*["']?)(?:(?:token|bearer|basic)\s+)?[^\s"',}]+/gi,
      '$1***'
    )
}

/**
 * `text` cut to at most `limit` characters (GitHub's field limits), ending with `note` when cut.
 * Never splits a surrogate pair.
 */
export function fitText(text: string, limit: number, note: string): string {
  if (text.length <= limit) return text
  let end = Math.max(0, limit - note.length)
  const last = text.charCodeAt(end - 1)
  if (last >= 0xd800 && last <= 0xdbff) end -= 1
  return text.slice(0, end) + note
}

/**
 * Who approved this workflow run's jobs in GitHub environments with required reviewers, e.g.
 * `octocat (production)`; undefined when nobody did, or when the token may not read it (`actions:
 * read`). One call per run; approval itself stays GitHub's.
 */
export async function runApprovals(
  octokit: Octokit,
  repo: RepoRef,
  runId: number,
  log: { debug(message: string): void }
): Promise<string | undefined> {
  try {
    const { data } = await octokit.rest.actions.getReviewsForRun({ ...repo, run_id: runId })
    const approved = data
      .filter((a) => a.state === 'approved')
      .map((a) => `${a.user.login} (${a.environments.map((e) => e.name ?? '?').join(', ')})`)
    return approved.length ? approved.join('; ') : undefined
  } catch (e) {
    log.debug(`could not read the approvals of run ${runId}: ${(e as Error).message}`)
    return undefined
  }
}

/**
 * Turns the safety-sweep workflow on (a training is pending) or off (none is). True when GitHub
 * took it; a token without `actions: write` gets a warning and the run's result is unchanged.
 */
export async function switchWorkflow(
  octokit: Octokit,
  repo: RepoRef,
  workflow: string,
  on: boolean,
  log: { info(message: string): void; warning(message: string): void }
): Promise<boolean> {
  try {
    const args = { ...repo, workflow_id: workflow }
    if (on) await octokit.rest.actions.enableWorkflow(args)
    else await octokit.rest.actions.disableWorkflow(args)
    log.info(
      `safety sweep ${workflow} ${on ? 'enabled: a training is pending' : 'disabled: nothing is pending'}`
    )
    return true
  } catch (e) {
    log.warning(
      `could not ${on ? 'enable' : 'disable'} the safety sweep ${workflow} (sweep_workflow)${isForbidden(e) ? ': the token needs actions: write' : ''}: ${(e as Error).message}`
    )
    return false
  }
}
