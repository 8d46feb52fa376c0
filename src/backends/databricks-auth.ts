// Credentials for a Databricks workspace, found the way the Databricks CLI and SDKs find them
// ("unified authentication"), so a workflow that already works with them needs nothing new:
//   1. DATABRICKS_TOKEN — a personal access token;
//   2. DATABRICKS_CLIENT_ID + DATABRICKS_CLIENT_SECRET — OAuth machine-to-machine;
//   3. GitHub Actions OIDC federation (the job has `permissions: id-token: write`).
// DATABRICKS_AUTH_TYPE (pat, oauth-m2m, github-oidc) picks one explicitly.
import type { Logger } from '../types.js'
import { HttpError, requestJson, systemClock, type Clock } from './http.js'

export type DatabricksAuthType = 'pat' | 'oauth-m2m' | 'github-oidc'

export interface DatabricksAuth {
  readonly type: DatabricksAuthType
  /** Headers that authenticate one API request; fetches or refreshes a token when needed. */
  headers(): Promise<Record<string, string>>
  /** Forget the cached token (the API answered 401): the next headers() fetches a new one. */
  invalidate(): void
}

export interface DatabricksAuthOptions {
  clock?: Clock
  /** Per request to the token endpoints (default 30000). */
  timeoutMs?: number
}

/** An OAuth token is renewed this long before it expires, so no request carries a dying token. */
const EXPIRY_MARGIN_MS = 60_000
/** expires_in is optional in OAuth (RFC 6749 §5.1); without it a token is trusted this long. */
const DEFAULT_LIFETIME_MS = 300_000
const SCOPE = 'all-apis'

export async function databricksAuth(
  host: string,
  env: NodeJS.ProcessEnv,
  log: Logger,
  clockOrOptions: Clock | DatabricksAuthOptions = {}
): Promise<DatabricksAuth> {
  const opts: DatabricksAuthOptions =
    'now' in clockOrOptions ? { clock: clockOrOptions } : clockOrOptions
  const clock = opts.clock ?? systemClock
  const base = host.replace(/\/+$/, '')
  const tokenUrl = `${base}/oidc/v1/token`
  const type = pickType(env)
  const v = (name: string): string => env[name] ?? ''

  switch (type) {
    case 'pat': {
      const token = v('DATABRICKS_TOKEN')
      log.secret(token)
      return {
        type,
        headers: async () => ({ authorization: `Bearer ${token}` }),
        invalidate: () => undefined
      }
    }
    case 'oauth-m2m': {
      const id = v('DATABRICKS_CLIENT_ID')
      const secret = v('DATABRICKS_CLIENT_SECRET')
      log.secret(secret)
      const basic = Buffer.from(`${id}:${secret}`).toString('base64')
      log.secret(basic)
      return cachedToken(type, clock, log, () =>
        requestJson<TokenResponse>(tokenUrl, {
          form: { grant_type: 'client_credentials', scope: SCOPE },
          headers: { authorization: `Basic ${basic}` },
          timeoutMs: opts.timeoutMs,
          retry: { idempotent: true, clock }
        })
      )
    }
    case 'github-oidc': {
      const requestToken = v('ACTIONS_ID_TOKEN_REQUEST_TOKEN')
      log.secret(requestToken)
      const audience = await federationAudience(base, env, log, opts)
      log.debug(`Databricks: GitHub OIDC federation with audience ${audience}`)
      const clientId = env.DATABRICKS_CLIENT_ID || undefined
      return cachedToken(type, clock, log, async () => {
        const idUrl = new URL(v('ACTIONS_ID_TOKEN_REQUEST_URL'))
        idUrl.searchParams.set('audience', audience)
        const id = await requestJson<{ value?: unknown }>(idUrl.toString(), {
          headers: { authorization: `Bearer ${requestToken}` },
          timeoutMs: opts.timeoutMs,
          retry: { idempotent: true, clock }
        })
        if (typeof id?.value !== 'string' || id.value === '') {
          throw new Error('the GitHub Actions ID-token endpoint returned no token')
        }
        log.secret(id.value)
        const form: Record<string, string> = {
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
          subject_token: id.value,
          scope: SCOPE
        }
        // Without a client id the exchange uses account-wide federation; with one, the
        // service principal's own federation policy.
        if (clientId) form.client_id = clientId
        return requestJson<TokenResponse>(tokenUrl, {
          form,
          timeoutMs: opts.timeoutMs,
          retry: { idempotent: true, clock }
        })
      })
    }
  }
}

function pickType(env: NodeJS.ProcessEnv): DatabricksAuthType {
  const has = (name: string): boolean => Boolean(env[name])
  const oidc = has('ACTIONS_ID_TOKEN_REQUEST_URL') && has('ACTIONS_ID_TOKEN_REQUEST_TOKEN')
  const explicit = env.DATABRICKS_AUTH_TYPE?.trim()
  if (explicit) {
    const need: Record<DatabricksAuthType, [boolean, string]> = {
      pat: [has('DATABRICKS_TOKEN'), 'DATABRICKS_TOKEN'],
      'oauth-m2m': [
        has('DATABRICKS_CLIENT_ID') && has('DATABRICKS_CLIENT_SECRET'),
        'DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET'
      ],
      'github-oidc': [
        oidc,
        'ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN (grant the job `permissions: id-token: write`)'
      ]
    }
    if (!(explicit in need)) {
      throw new Error(
        `DATABRICKS_AUTH_TYPE "${explicit}" is not supported; use one of ${Object.keys(need).join(', ')}`
      )
    }
    const [ok, what] = need[explicit as DatabricksAuthType]
    if (!ok) throw new Error(`DATABRICKS_AUTH_TYPE is ${explicit} but ${what} is not set`)
    return explicit as DatabricksAuthType
  }
  if (has('DATABRICKS_TOKEN')) return 'pat'
  if (has('DATABRICKS_CLIENT_ID') && has('DATABRICKS_CLIENT_SECRET')) return 'oauth-m2m'
  if (oidc) return 'github-oidc'
  if (has('DATABRICKS_CLIENT_ID')) {
    throw new Error(
      'DATABRICKS_CLIENT_ID is set but neither DATABRICKS_CLIENT_SECRET (OAuth M2M) nor a GitHub OIDC token (`permissions: id-token: write`) is available'
    )
  }
  throw new Error(
    'no Databricks credentials: set DATABRICKS_TOKEN, or DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET, or grant the job `permissions: id-token: write` for GitHub OIDC federation'
  )
}

/**
 * The `aud` to request in the GitHub ID token: DATABRICKS_TOKEN_AUDIENCE when set; else the default
 * the workspace advertises in /.well-known/databricks-config; else the account id (the audience a
 * federation policy accepts when its `audiences` are left empty); else the workspace token
 * endpoint, which is what the Databricks SDKs fall back to.
 */
async function federationAudience(
  base: string,
  env: NodeJS.ProcessEnv,
  log: Logger,
  opts: DatabricksAuthOptions
): Promise<string> {
  if (env.DATABRICKS_TOKEN_AUDIENCE) return env.DATABRICKS_TOKEN_AUDIENCE
  let meta: { token_federation_default_oidc_audiences?: unknown; account_id?: unknown } | undefined
  try {
    meta = await requestJson(`${base}/.well-known/databricks-config`, {
      timeoutMs: Math.min(opts.timeoutMs ?? 10_000, 10_000)
    })
  } catch (e) {
    log.debug(`Databricks: no host metadata (${e instanceof Error ? e.message : String(e)})`)
  }
  const defaults = meta?.token_federation_default_oidc_audiences
  if (Array.isArray(defaults) && typeof defaults[0] === 'string' && defaults[0]) return defaults[0]
  const account =
    env.DATABRICKS_ACCOUNT_ID || (typeof meta?.account_id === 'string' ? meta.account_id : '')
  if (account) return account
  return `${base}/oidc/v1/token`
}

interface TokenResponse {
  access_token?: unknown
  token_type?: unknown
  expires_in?: unknown
}

function cachedToken(
  type: DatabricksAuthType,
  clock: Clock,
  log: Logger,
  fetchToken: () => Promise<TokenResponse>
): DatabricksAuth {
  let current: { header: string; renewAt: number } | undefined
  // Parallel requests share one refresh instead of each asking for a token.
  let pending: Promise<{ header: string; renewAt: number }> | undefined
  const refresh = async (): Promise<{ header: string; renewAt: number }> => {
    let res: TokenResponse
    try {
      res = await fetchToken()
    } catch (e) {
      const why = e instanceof HttpError ? e.message : e instanceof Error ? e.message : String(e)
      throw new Error(`Databricks ${type} authentication failed: ${why}`, { cause: e })
    }
    if (typeof res?.access_token !== 'string' || res.access_token === '') {
      throw new Error(
        `Databricks ${type} authentication failed: the token endpoint returned no access_token`
      )
    }
    log.secret(res.access_token)
    const lifetime =
      typeof res.expires_in === 'number' && res.expires_in > 0
        ? res.expires_in * 1000
        : DEFAULT_LIFETIME_MS
    const tokenType =
      typeof res.token_type === 'string' && res.token_type ? res.token_type : 'Bearer'
    return {
      header: `${tokenType === 'bearer' ? 'Bearer' : tokenType} ${res.access_token}`,
      // A short-lived token is renewed at half its life rather than at once.
      renewAt: clock.now() + lifetime - Math.min(EXPIRY_MARGIN_MS, lifetime / 2)
    }
  }
  return {
    type,
    async headers() {
      if (!current || clock.now() >= current.renewAt) {
        pending ??= refresh().finally(() => (pending = undefined))
        current = await pending
      }
      return { authorization: current.header }
    },
    invalidate() {
      current = undefined
    }
  }
}
