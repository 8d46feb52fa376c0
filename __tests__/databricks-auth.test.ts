import { afterEach, describe, expect, it } from '@jest/globals'
import { databricksAuth } from '../src/backends/databricks-auth.js'
import { DatabricksBackend } from '../src/backends/databricks.js'
import type { Logger, TrainingContext } from '../src/types.js'
import { waitForRun } from '../src/wait.js'
import { VirtualClock } from '../test/fakes/clock.js'
import { FakeDatabricks, type FakeDatabricksOptions } from '../test/fakes/databricks-server.js'

const PAT = 'dapi-pat-5f1e2d3c'
const CLIENT_ID = 'sp-1234'
const CLIENT_SECRET = 'dose-client-secret-9a8b7c'
const REQUEST_TOKEN = 'actions-request-token-42'

let fake: FakeDatabricks | undefined
afterEach(async () => {
  await fake?.close()
  fake = undefined
})

/** A logger that records every line and every value handed to secret(). */
function capture(): Logger & { lines: string[]; secrets: Set<string> } {
  const lines: string[] = []
  const secrets = new Set<string>()
  return {
    lines,
    secrets,
    info: (m) => lines.push(m),
    notice: (m) => lines.push(m),
    warning: (m) => lines.push(m),
    error: (m) => lines.push(m),
    debug: (m) => lines.push(m),
    group: (_n, fn) => fn(),
    secret: (v) => secrets.add(v)
  }
}

async function start(
  opts: FakeDatabricksOptions = {}
): Promise<{ fake: FakeDatabricks; clock: VirtualClock }> {
  const clock = new VirtualClock()
  fake = await FakeDatabricks.start({
    pats: [PAT],
    clients: { [CLIENT_ID]: CLIENT_SECRET },
    actionsRequestToken: REQUEST_TOKEN,
    accountId: 'acct-77',
    now: () => clock.now(),
    ...opts
  })
  return { fake, clock }
}

const m2m = { DATABRICKS_CLIENT_ID: CLIENT_ID, DATABRICKS_CLIENT_SECRET: CLIENT_SECRET }
const oidc = (f: FakeDatabricks): NodeJS.ProcessEnv => ({
  ACTIONS_ID_TOKEN_REQUEST_URL: f.actionsTokenUrl,
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN
})

function expectNoLeak(log: ReturnType<typeof capture>, tokens: string[]): void {
  for (const t of tokens) {
    expect(log.secrets).toContain(t)
    for (const line of log.lines) expect(line).not.toContain(t)
  }
}

describe('choosing credentials like the Databricks SDKs', () => {
  it.each([
    [
      'a PAT over everything else',
      (f: FakeDatabricks) => ({ DATABRICKS_TOKEN: PAT, ...m2m, ...oidc(f) }),
      'pat'
    ],
    ['M2M over OIDC', (f: FakeDatabricks) => ({ ...m2m, ...oidc(f) }), 'oauth-m2m'],
    ['OIDC when it is all there is', (f: FakeDatabricks) => oidc(f), 'github-oidc'],
    [
      'DATABRICKS_AUTH_TYPE over the order',
      (f: FakeDatabricks) => ({
        DATABRICKS_TOKEN: PAT,
        ...oidc(f),
        DATABRICKS_AUTH_TYPE: 'github-oidc'
      }),
      'github-oidc'
    ]
  ])('picks %s', async (_n, env, type) => {
    const { fake } = await start()
    expect((await databricksAuth(fake.url, env(fake), capture())).type).toBe(type)
  })

  it.each([
    [{}, 'no Databricks credentials: set DATABRICKS_TOKEN'],
    [{ DATABRICKS_CLIENT_ID: CLIENT_ID }, 'DATABRICKS_CLIENT_SECRET'],
    [{ DATABRICKS_AUTH_TYPE: 'azure-cli' }, 'DATABRICKS_AUTH_TYPE "azure-cli" is not supported'],
    [{ DATABRICKS_AUTH_TYPE: 'github-oidc' }, 'id-token: write']
  ])('explains what is missing (%j)', async (env, message) => {
    await expect(databricksAuth('https://w.example', env, capture())).rejects.toThrow(message)
  })
})

describe('personal access token', () => {
  it('sends it as a Bearer token and masks it', async () => {
    const log = capture()
    const auth = await databricksAuth('https://w.example', { DATABRICKS_TOKEN: PAT }, log)
    expect(await auth.headers()).toEqual({ authorization: `Bearer ${PAT}` })
    expect(log.secrets).toContain(PAT)
  })
})

describe('OAuth machine-to-machine', () => {
  it('fetches a token with the client credentials once and reuses it until shortly before it expires', async () => {
    const { fake, clock } = await start({ tokenTtlSeconds: 3600 })
    const log = capture()
    const auth = await databricksAuth(fake.url, m2m, log, clock)
    const first = await auth.headers()
    await Promise.all([auth.headers(), auth.headers()])
    expect(fake.tokensIssued).toBe(1)
    const call = fake.callsTo('token')[0]
    expect(call?.body).toEqual({ grant_type: 'client_credentials', scope: 'all-apis' })
    expect(call?.authorization).toBe(
      `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`
    )

    clock.advance(3600_000 - 61_000)
    expect(await auth.headers()).toEqual(first)
    clock.advance(2_000)
    const renewed = await auth.headers()
    expect(renewed).not.toEqual(first)
    expect(fake.tokensIssued).toBe(2)
    expectNoLeak(log, [CLIENT_SECRET, ...fake.issuedTokens])
  })

  it('fetches a new token after invalidate()', async () => {
    const { fake, clock } = await start()
    const auth = await databricksAuth(fake.url, m2m, capture(), clock)
    await auth.headers()
    auth.invalidate()
    await auth.headers()
    expect(fake.tokensIssued).toBe(2)
  })

  it('reports refused client credentials without the secret', async () => {
    const { fake, clock } = await start()
    const log = capture()
    const auth = await databricksAuth(
      fake.url,
      { DATABRICKS_CLIENT_ID: CLIENT_ID, DATABRICKS_CLIENT_SECRET: 'wrong-secret-value' },
      log,
      clock
    )
    const e = await auth.headers().catch((x: unknown) => x)
    expect((e as Error).message).toContain('oauth-m2m authentication failed')
    expect((e as Error).message).toContain('invalid_client')
    expect((e as Error).message).not.toContain('wrong-secret-value')
  })
})

describe('GitHub OIDC federation', () => {
  it('exchanges a GitHub ID token for the account-level default audience', async () => {
    const { fake, clock } = await start()
    const log = capture()
    const auth = await databricksAuth(fake.url, oidc(fake), log, clock)
    const headers = await auth.headers()
    expect(headers.authorization).toMatch(/^Bearer dapi-oauth-/)
    expect(fake.idTokenAudiences).toEqual(['acct-77'])
    const exchange = fake.callsTo('token')[0]?.body as Record<string, string>
    expect(exchange).toMatchObject({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      scope: 'all-apis'
    })
    expect(exchange.client_id).toBeUndefined()
    expect(fake.callsTo('id-token')[0]?.authorization).toBe(`Bearer ${REQUEST_TOKEN}`)
    expectNoLeak(log, [REQUEST_TOKEN, ...fake.issuedTokens])
  })

  it.each([
    [
      'DATABRICKS_TOKEN_AUDIENCE',
      { DATABRICKS_TOKEN_AUDIENCE: 'https://github.com/acme' },
      {},
      'https://github.com/acme'
    ],
    [
      'the audience the workspace advertises',
      {},
      { defaultOidcAudiences: ['ws-default-aud'] },
      'ws-default-aud'
    ],
    [
      'the account id from DATABRICKS_ACCOUNT_ID',
      { DATABRICKS_ACCOUNT_ID: 'acct-env' },
      { accountId: undefined },
      'acct-env'
    ],
    [
      'the workspace token endpoint when nothing else is known',
      {},
      { accountId: undefined },
      '{url}/oidc/v1/token'
    ]
  ])('asks for %s', async (_n, env, fakeOpts, audience) => {
    const { fake, clock } = await start(fakeOpts)
    const want = audience.replace('{url}', fake.url)
    fake.federationAudiences.push(want)
    const auth = await databricksAuth(fake.url, { ...oidc(fake), ...env }, capture(), clock)
    expect((await auth.headers()).authorization).toMatch(/^Bearer /)
    expect(fake.idTokenAudiences).toEqual([want])
  })

  it('is refused when no federation policy accepts the audience', async () => {
    const { fake, clock } = await start()
    const auth = await databricksAuth(
      fake.url,
      { ...oidc(fake), DATABRICKS_TOKEN_AUDIENCE: 'elsewhere' },
      capture(),
      clock
    )
    await expect(auth.headers()).rejects.toThrow(/github-oidc authentication failed.*invalid_grant/)
  })

  it('sends the service principal’s client id when one is set', async () => {
    const { fake, clock } = await start()
    const auth = await databricksAuth(
      fake.url,
      { ...oidc(fake), DATABRICKS_CLIENT_ID: CLIENT_ID },
      capture(),
      clock
    )
    await auth.headers()
    expect(fake.exchangeClientIds).toEqual([CLIENT_ID])
  })
})

describe('an access token that expires during a run', () => {
  it('is renewed on the 401 and the run finishes, with every token masked', async () => {
    const { fake, clock } = await start()
    fake.addJob({ job_id: 11, name: 'fraud-train', outcome: { exits: { train: '{"auc":0.91}' } } })
    const log = capture()
    const backend = new DatabricksBackend(
      { backend: 'databricks', host: fake.url, job: 11 },
      { env: m2m, log, clock }
    )
    const ctx = {
      repo: 'o/r',
      sha: 'abc',
      ref: 'refs/heads/main',
      environment: 'production',
      model: 'fraud',
      runId: '1',
      idempotencyKey: 'key-1',
      outputDir: '/tmp',
      workspace: '/tmp',
      signal: new AbortController().signal,
      deadline: clock.now() + 3600_000,
      log
    } satisfies TrainingContext
    const run = await backend.start(ctx)
    fake.expireAccessTokens()
    const status = await waitForRun(backend, run, ctx, {
      clock,
      policy: { minMs: 5, maxMs: 50, fraction: 0.1, jitter: 0 }
    })
    expect(status.state).toBe('succeeded')
    expect(await backend.metrics(run, ctx)).toEqual({ auc: 0.91 })
    expect(fake.tokensIssued).toBe(2)
    expectNoLeak(log, [CLIENT_SECRET, ...fake.issuedTokens])
  })
})
