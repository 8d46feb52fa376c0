// A Databricks workspace on 127.0.0.1 that holds clients to the documented contract of the Jobs API
// 2.2, the workspace OAuth endpoint, MLflow runs/get and the GitHub Actions ID-token endpoint.
// Request schemas follow the field lists of the Databricks SDKs (RunNow, CancelRun, GetRun,
// GetRunOutput, ListJobs); an unknown field, a wrong type or a missing required field is refused
// with 400 INVALID_PARAMETER_VALUE, as the service does.
import { listenOnLoopback, type Loopback } from './loopback.js'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { Ajv, type ValidateFunction } from 'ajv'

export type Endpoint =
  | 'jobs/list'
  | 'run-now'
  | 'runs/get'
  | 'runs/get-output'
  | 'runs/cancel'
  | 'token'
  | 'mlflow/runs/get'
  | 'id-token'
  | 'well-known'

export type FaultKind =
  | 500
  | 502
  | 503
  | 429
  | 'reset'
  | 'hang'
  /** A 401 as for an access token that expired between two calls. */
  | 'expired-token'

export interface Fault {
  endpoint: Endpoint
  kind: FaultKind
  /** How many calls fail (default 1). */
  times?: number
  /** Calls that succeed before the fault starts (default 0). */
  after?: number
  /** Retry-After in seconds, for 429 and 503. */
  retryAfter?: number
}

/** How a run of a job ends. */
export interface RunOutcome {
  /** Default SUCCESS. */
  result?: 'SUCCESS' | 'FAILED' | 'TIMEDOUT' | 'CANCELED' | 'SUCCESS_WITH_FAILURES'
  /** A terminal life-cycle state other than TERMINATED. */
  lifeCycle?: 'INTERNAL_ERROR' | 'SKIPPED'
  stateMessage?: string
  /** dbutils.notebook.exit value per task key; absent = the notebook never called exit. */
  exits?: Record<string, string>
  truncated?: boolean
  /** runs/get-output `error` of every task, as for a notebook that raised. */
  error?: string
}

export interface FakeJob {
  job_id: number
  name: string
  /** Task keys; default ['train']. */
  tasks?: string[]
  outcome?: RunOutcome
}

export interface FakeDatabricksOptions {
  /** Personal access tokens accepted as Bearer tokens. */
  pats?: string[]
  /** OAuth M2M service principals: client id → secret. */
  clients?: Record<string, string>
  /** Lifetime of issued access tokens (default 3600 s). */
  tokenTtlSeconds?: number
  /** Audiences accepted in a federated ID token (default: the account id). */
  federationAudiences?: string[]
  /** Bearer token the Actions ID-token endpoint requires. */
  actionsRequestToken?: string
  /** Served by /.well-known/databricks-config when set. */
  defaultOidcAudiences?: string[]
  accountId?: string
  /** Page size of jobs/list when the request sets no limit (default 20, as documented). */
  jobsPageSize?: number
  /** runs/get calls a run spends in each non-terminal life-cycle state (default 1). */
  pollsPerState?: number
  now?: () => number
}

type LifeCycle =
  'QUEUED' | 'PENDING' | 'RUNNING' | 'TERMINATING' | 'TERMINATED' | 'SKIPPED' | 'INTERNAL_ERROR'

const PROGRESSION: LifeCycle[] = ['QUEUED', 'PENDING', 'RUNNING', 'TERMINATING']

interface FakeRun {
  run_id: number
  job: FakeJob
  token?: string
  parameters: Record<string, string>
  polls: number
  start_time: number
  cancelled: boolean
  taskRunIds: Record<string, number>
}

export interface Call {
  method: string
  path: string
  query: Record<string, string>
  body: unknown
  authorization?: string
}

// Field lists of the SDKs' RunNow, CancelRun and the query parameters of GetRun, GetRunOutput and
// ListJobs. Query parameters arrive as strings, hence the patterns.
const int64 = { type: 'string', pattern: '^[0-9]+$' }
const bool = { type: 'string', enum: ['true', 'false'] }
const stringMap = { type: 'object', additionalProperties: { type: 'string' } }
const strings = { type: 'array', items: { type: 'string' } }
const SCHEMAS: Record<string, object> = {
  'run-now': {
    type: 'object',
    required: ['job_id'],
    additionalProperties: false,
    properties: {
      job_id: { type: 'integer', minimum: 1 },
      idempotency_token: { type: 'string', maxLength: 64 },
      job_parameters: stringMap,
      notebook_params: stringMap,
      python_named_params: stringMap,
      sql_params: stringMap,
      jar_params: strings,
      python_params: strings,
      spark_submit_params: strings,
      dbt_commands: strings,
      only: strings,
      pipeline_params: { type: 'object' },
      queue: { type: 'object', properties: { enabled: { type: 'boolean' } } },
      performance_target: { type: 'string', enum: ['STANDARD', 'PERFORMANCE_OPTIMIZED'] }
    }
  },
  'runs/cancel': {
    type: 'object',
    required: ['run_id'],
    additionalProperties: false,
    properties: { run_id: { type: 'integer', minimum: 1 } }
  },
  'runs/get': {
    type: 'object',
    required: ['run_id'],
    additionalProperties: false,
    properties: {
      run_id: int64,
      include_history: bool,
      include_resolved_values: bool,
      page_token: { type: 'string' }
    }
  },
  'runs/get-output': {
    type: 'object',
    required: ['run_id'],
    additionalProperties: false,
    properties: { run_id: int64 }
  },
  'jobs/list': {
    type: 'object',
    additionalProperties: false,
    properties: {
      name: { type: 'string' },
      limit: { type: 'string', pattern: '^([1-9]|[1-9][0-9]|100)$' },
      page_token: { type: 'string' },
      offset: int64,
      expand_tasks: bool
    }
  },
  'mlflow/runs/get': {
    type: 'object',
    required: ['run_id'],
    additionalProperties: false,
    properties: { run_id: { type: 'string', minLength: 1 }, run_uuid: { type: 'string' } }
  }
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message)
  }
}

const invalid = (message: string): ApiError => new ApiError(400, 'INVALID_PARAMETER_VALUE', message)

export class FakeDatabricks {
  readonly calls: Call[] = []
  /** Runs created by run-now (a repeated idempotency token does not count). */
  runsStarted = 0
  tokensIssued = 0
  idTokensIssued = 0
  readonly jobs: FakeJob[] = []
  /** MLflow runs: run id → metric history (several entries per key = several steps). */
  readonly mlflowRuns = new Map<
    string,
    { key: string; value: number; timestamp: number; step: number }[]
  >()
  /** Audience of each ID token the Actions endpoint issued, in order. */
  readonly idTokenAudiences: string[] = []
  /** Audiences the federation policy accepts; tests may add to it. */
  readonly federationAudiences: string[]
  /** client_id sent with each token exchange. */
  readonly exchangeClientIds: (string | undefined)[] = []

  private loopback!: Loopback
  private readonly runs = new Map<number, FakeRun>()
  private readonly tokenRuns = new Map<string, number>()
  private readonly accessTokens = new Map<string, number>()
  private readonly idTokens = new Map<string, string>()
  private faults: (Fault & { seen: number; fired: number })[] = []
  private readonly validators = new Map<string, ValidateFunction>()
  private nextRunId = 1000
  private readonly now: () => number
  url = ''

  private constructor(private readonly opts: FakeDatabricksOptions) {
    this.now = opts.now ?? Date.now
    this.federationAudiences = [...(opts.federationAudiences ?? [opts.accountId ?? 'fake-account'])]
    const ajv = new Ajv({ allErrors: true })
    for (const [name, schema] of Object.entries(SCHEMAS))
      this.validators.set(name, ajv.compile(schema))
  }

  static async start(opts: FakeDatabricksOptions = {}): Promise<FakeDatabricks> {
    const fake = new FakeDatabricks(opts)
    fake.loopback = await listenOnLoopback(createServer((req, res) => void fake.handle(req, res)))
    fake.url = fake.loopback.url
    return fake
  }

  async close(): Promise<void> {
    await this.loopback.close()
  }

  addJob(job: FakeJob): FakeJob {
    this.jobs.push(job)
    return job
  }

  inject(fault: Fault): void {
    this.faults.push({ ...fault, seen: 0, fired: 0 })
  }

  /** ACTIONS_ID_TOKEN_REQUEST_URL as the runner sets it (it already carries a query). */
  get actionsTokenUrl(): string {
    return `${this.url}/_actions/idtoken?api-version=2.0`
  }

  /** Calls of one endpoint, e.g. 'runs/get'. */
  callsTo(endpoint: Endpoint): Call[] {
    return this.calls.filter((c) => endpointOf(c.method, c.path) === endpoint)
  }

  /** Every access token and ID token handed out so far. */
  get issuedTokens(): string[] {
    return [...this.accessTokens.keys(), ...this.idTokens.keys()]
  }

  /** Makes every access token issued so far expire. */
  expireAccessTokens(): void {
    for (const t of this.accessTokens.keys()) this.accessTokens.set(t, 0)
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req)
    const u = new URL(req.url ?? '/', 'http://fake')
    const query = Object.fromEntries(u.searchParams)
    const method = req.method ?? 'GET'
    const contentType = req.headers['content-type'] ?? ''
    let body: unknown
    if (raw !== '') {
      if (contentType.includes('application/x-www-form-urlencoded')) {
        body = Object.fromEntries(new URLSearchParams(raw))
      } else {
        try {
          body = JSON.parse(raw)
        } catch {
          return send(res, 400, { error_code: 'MALFORMED_REQUEST', message: 'Malformed JSON body' })
        }
      }
    }
    this.calls.push({
      method,
      path: u.pathname,
      query,
      body,
      authorization: req.headers.authorization
    })
    const endpoint = endpointOf(method, u.pathname)
    if (!endpoint) {
      return send(res, 404, {
        error_code: 'ENDPOINT_NOT_FOUND',
        message: `No API found for '${method} ${u.pathname}'`
      })
    }

    const fault = this.fault(endpoint)
    // 429 and 503 refuse a request before it is processed; 500, 502, a reset and a hang lose the
    // answer after the server acted on it — the case an idempotency token exists for.
    if (
      fault &&
      fault.kind !== 500 &&
      fault.kind !== 502 &&
      fault.kind !== 'reset' &&
      fault.kind !== 'hang'
    ) {
      return this.fail(res, req, fault)
    }
    let status = 200
    let out: unknown
    try {
      out = this.route(endpoint, req, query, body)
    } catch (e) {
      if (!(e instanceof ApiError)) throw e
      status = e.status
      out =
        endpoint === 'token'
          ? { error: e.code, error_description: e.message }
          : { error_code: e.code, message: e.message }
    }
    if (fault) return this.fail(res, req, fault)
    send(res, status, out)
  }

  private fault(endpoint: Endpoint): Fault | undefined {
    for (const f of this.faults) {
      if (f.endpoint !== endpoint) continue
      f.seen++
      if (f.seen > (f.after ?? 0) && f.fired < (f.times ?? 1)) {
        f.fired++
        return f
      }
    }
    return undefined
  }

  private fail(res: ServerResponse, req: IncomingMessage, f: Fault): void {
    const headers: Record<string, string> = {}
    if (f.retryAfter !== undefined) headers['retry-after'] = String(f.retryAfter)
    switch (f.kind) {
      case 'reset':
        req.socket.destroy()
        return
      case 'hang':
        return
      case 'expired-token':
        return send(res, 401, { error_code: 'UNAUTHENTICATED', message: 'Token is expired.' })
      case 429:
        return send(
          res,
          429,
          { error_code: 'REQUEST_LIMIT_EXCEEDED', message: 'Too many requests.' },
          headers
        )
      case 503:
        return send(
          res,
          503,
          {
            error_code: 'TEMPORARILY_UNAVAILABLE',
            message: 'The service is temporarily unavailable.'
          },
          headers
        )
      case 502:
        res.writeHead(502, { 'content-type': 'text/html' })
        res.end('<html><body>502 Bad Gateway</body></html>')
        return
      case 500:
        return send(res, 500, { error_code: 'INTERNAL_ERROR', message: 'Internal error.' })
    }
  }

  private route(
    endpoint: Endpoint,
    req: IncomingMessage,
    query: Record<string, string>,
    body: unknown
  ): unknown {
    switch (endpoint) {
      case 'token':
        return this.token(req, body)
      case 'id-token':
        return this.idToken(req, query)
      case 'well-known':
        return this.wellKnown()
    }
    this.authenticate(req)
    switch (endpoint) {
      case 'jobs/list':
        return this.listJobs(this.valid('jobs/list', query))
      case 'run-now':
        return this.runNow(this.valid('run-now', body))
      case 'runs/get':
        return this.getRun(this.valid('runs/get', query))
      case 'runs/get-output':
        return this.getOutput(this.valid('runs/get-output', query))
      case 'runs/cancel':
        return this.cancel(this.valid('runs/cancel', body))
      case 'mlflow/runs/get':
        return this.mlflowRun(this.valid('mlflow/runs/get', query))
    }
  }

  private valid<T = Record<string, unknown>>(name: string, value: unknown): T {
    const validate = this.validators.get(name) as ValidateFunction
    if (!validate(value ?? {})) {
      const e = validate.errors?.[0]
      const field =
        e?.params && 'additionalProperty' in e.params
          ? String(e.params.additionalProperty)
          : e?.instancePath
      throw invalid(`Invalid request: ${field ? `${field} ` : ''}${e?.message ?? 'is invalid'}`)
    }
    return (value ?? {}) as T
  }

  private authenticate(req: IncomingMessage): void {
    const header = req.headers.authorization
    if (!header)
      throw new ApiError(
        401,
        'UNAUTHENTICATED',
        'Credential was not sent or was of an unsupported type for this API.'
      )
    const m = /^Bearer (.+)$/.exec(header)
    const token = m?.[1] ?? ''
    if (this.opts.pats?.includes(token)) return
    const expires = this.accessTokens.get(token)
    if (expires === undefined) throw new ApiError(403, 'PERMISSION_DENIED', 'Invalid access token.')
    if (expires <= this.now()) throw new ApiError(401, 'UNAUTHENTICATED', 'Token is expired.')
  }

  private token(req: IncomingMessage, body: unknown): unknown {
    const form = (body ?? {}) as Record<string, string>
    if (!String(req.headers['content-type']).includes('application/x-www-form-urlencoded')) {
      throw new ApiError(400, 'invalid_request', 'The token endpoint takes a form-encoded body.')
    }
    if (form.scope !== 'all-apis')
      throw new ApiError(400, 'invalid_scope', `Unsupported scope ${form.scope}`)
    if (form.grant_type === 'client_credentials') {
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1]
      const [id, secret] = basic ? Buffer.from(basic, 'base64').toString().split(':') : []
      if (!id || this.opts.clients?.[id] === undefined || this.opts.clients[id] !== secret) {
        throw new ApiError(401, 'invalid_client', 'Client authentication failed.')
      }
    } else if (form.grant_type === 'urn:ietf:params:oauth:grant-type:token-exchange') {
      if (form.subject_token_type !== 'urn:ietf:params:oauth:token-type:jwt') {
        throw new ApiError(400, 'invalid_request', 'subject_token_type must be a JWT')
      }
      const aud = this.idTokens.get(form.subject_token ?? '')
      if (aud === undefined)
        throw new ApiError(401, 'invalid_grant', 'The subject token is not trusted.')
      const accepted = this.federationAudiences
      if (!accepted.includes(aud))
        throw new ApiError(401, 'invalid_grant', `No federation policy accepts audience ${aud}.`)
      this.exchangeClientIds.push(form.client_id)
    } else {
      throw new ApiError(400, 'unsupported_grant_type', `Unsupported grant_type ${form.grant_type}`)
    }
    const ttl = this.opts.tokenTtlSeconds ?? 3600
    const accessToken = `dapi-oauth-${++this.tokensIssued}-${Math.random().toString(36).slice(2)}`
    this.accessTokens.set(accessToken, this.now() + ttl * 1000)
    return { access_token: accessToken, token_type: 'Bearer', expires_in: ttl, scope: 'all-apis' }
  }

  private idToken(req: IncomingMessage, query: Record<string, string>): unknown {
    if (req.headers.authorization !== `Bearer ${this.opts.actionsRequestToken ?? ''}`) {
      throw new ApiError(401, 'Unauthorized', 'Bad request token')
    }
    const audience = query.audience ?? 'https://github.com/fake-org'
    const part = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url')
    const jwt = [
      part({ alg: 'RS256', typ: 'JWT' }),
      part({
        iss: 'https://token.actions.githubusercontent.com',
        aud: audience,
        sub: 'repo:o/r:environment:prod',
        n: ++this.idTokensIssued
      }),
      'sig'
    ].join('.')
    this.idTokens.set(jwt, audience)
    this.idTokenAudiences.push(audience)
    return { count: 1, value: jwt }
  }

  private listJobs(q: { name?: string; limit?: string; page_token?: string }): unknown {
    const matching = this.jobs.filter(
      (j) => q.name === undefined || j.name.toLowerCase() === q.name.toLowerCase()
    )
    const size = q.limit ? Number(q.limit) : (this.opts.jobsPageSize ?? 20)
    const start = q.page_token ? Number(Buffer.from(q.page_token, 'base64url').toString()) : 0
    if (!Number.isInteger(start)) throw invalid('Invalid page_token')
    const page = matching.slice(start, start + size)
    const more = start + size < matching.length
    return {
      jobs: page.map((j) => ({ job_id: j.job_id, created_time: 1, settings: { name: j.name } })),
      has_more: more,
      ...(more ? { next_page_token: Buffer.from(String(start + size)).toString('base64url') } : {}),
      ...(start > 0
        ? { prev_page_token: Buffer.from(String(Math.max(0, start - size))).toString('base64url') }
        : {})
    }
  }

  private runNow(b: {
    job_id: number
    idempotency_token?: string
    job_parameters?: Record<string, string>
  }): unknown {
    const job = this.jobs.find((j) => j.job_id === b.job_id)
    if (!job) throw invalid(`Job ${b.job_id} does not exist.`)
    const existing = b.idempotency_token ? this.tokenRuns.get(b.idempotency_token) : undefined
    if (existing !== undefined) return { run_id: existing, number_in_job: existing }
    const run: FakeRun = {
      run_id: this.nextRunId++,
      job,
      token: b.idempotency_token,
      parameters: b.job_parameters ?? {},
      polls: 0,
      start_time: this.now(),
      cancelled: false,
      taskRunIds: {}
    }
    for (const key of job.tasks ?? ['train']) run.taskRunIds[key] = this.nextRunId++
    this.runs.set(run.run_id, run)
    if (b.idempotency_token) this.tokenRuns.set(b.idempotency_token, run.run_id)
    this.runsStarted++
    return { run_id: run.run_id, number_in_job: run.run_id }
  }

  /** The run's state after `polls` looks at it. */
  private stateOf(run: FakeRun): { life: LifeCycle; result?: string; message: string } {
    const outcome = run.job.outcome ?? {}
    if (run.cancelled) return { life: 'TERMINATED', result: 'CANCELED', message: 'Run cancelled.' }
    const step = Math.floor(run.polls / (this.opts.pollsPerState ?? 1))
    const life = PROGRESSION[step]
    if (life) return { life, message: life === 'QUEUED' ? 'Queued: waiting for capacity' : '' }
    if (outcome.lifeCycle)
      return { life: outcome.lifeCycle, message: outcome.stateMessage ?? `${outcome.lifeCycle}` }
    const result = outcome.result ?? 'SUCCESS'
    return { life: 'TERMINATED', result, message: outcome.stateMessage ?? '' }
  }

  private runBody(run: FakeRun): Record<string, unknown> {
    const s = this.stateOf(run)
    const terminal = !PROGRESSION.includes(s.life)
    const v2 =
      s.life === 'SKIPPED' || s.life === 'INTERNAL_ERROR'
        ? 'TERMINATED'
        : s.life === 'QUEUED'
          ? 'QUEUED'
          : s.life
    const code =
      s.life === 'INTERNAL_ERROR'
        ? 'INTERNAL_ERROR'
        : s.life === 'SKIPPED'
          ? 'SKIPPED'
          : s.result === 'SUCCESS'
            ? 'SUCCESS'
            : s.result === 'CANCELED'
              ? 'USER_CANCELED'
              : s.result === 'TIMEDOUT'
                ? 'CANCELED'
                : 'RUN_EXECUTION_ERROR'
    const state = {
      life_cycle_state: s.life,
      ...(s.result ? { result_state: s.result } : {}),
      state_message: s.message,
      user_cancelled_or_timedout: run.cancelled || s.result === 'TIMEDOUT'
    }
    const status = {
      state: v2,
      ...(terminal
        ? {
            termination_details: {
              code,
              type:
                code === 'SUCCESS'
                  ? 'SUCCESS'
                  : code === 'INTERNAL_ERROR'
                    ? 'INTERNAL_ERROR'
                    : 'CLIENT_ERROR',
              message: s.message
            }
          }
        : {})
    }
    return {
      job_id: run.job.job_id,
      run_id: run.run_id,
      number_in_job: run.run_id,
      run_name: run.job.name,
      run_page_url: `${this.url}/jobs/${run.job.job_id}/runs/${run.run_id}`,
      run_type: 'JOB_RUN',
      start_time: run.start_time,
      end_time: terminal ? this.now() : 0,
      state,
      status,
      job_parameters: Object.entries(run.parameters).map(([name, value]) => ({ name, value })),
      tasks: Object.entries(run.taskRunIds).map(([task_key, id]) => ({
        task_key,
        run_id: id,
        state,
        status,
        run_page_url: `${this.url}/jobs/${run.job.job_id}/runs/${id}`
      }))
    }
  }

  private findRun(id: string | number): FakeRun {
    const run = this.runs.get(Number(id))
    if (!run) throw invalid(`Run ${id} does not exist.`)
    return run
  }

  private getRun(q: { run_id: string }): unknown {
    const run = this.findRun(q.run_id)
    const body = this.runBody(run)
    run.polls++
    return body
  }

  private getOutput(q: { run_id: string }): unknown {
    const id = Number(q.run_id)
    let found: { run: FakeRun; key: string; taskRunId: number } | undefined
    const jobRun = this.runs.get(id)
    if (jobRun) {
      const keys = Object.keys(jobRun.taskRunIds)
      if (keys.length > 1) {
        throw invalid(
          'Retrieving the output of runs with multiple tasks is not supported. Please retrieve the output of each individual task run instead.'
        )
      }
      const key = keys[0] as string
      found = { run: jobRun, key, taskRunId: jobRun.taskRunIds[key] as number }
    }
    for (const run of this.runs.values()) {
      for (const [key, taskRunId] of Object.entries(run.taskRunIds)) {
        if (taskRunId === id) found = { run, key, taskRunId }
      }
    }
    if (!found) throw invalid(`Run ${q.run_id} does not exist.`)
    const outcome = found.run.job.outcome ?? {}
    const exit = outcome.exits?.[found.key]
    return {
      metadata: { ...this.runBody(found.run), run_id: found.taskRunId, task_key: found.key },
      notebook_output:
        exit === undefined ? {} : { result: exit, truncated: outcome.truncated ?? false },
      ...(outcome.error ? { error: outcome.error } : {})
    }
  }

  private cancel(b: { run_id: number }): unknown {
    const run = this.findRun(b.run_id)
    const s = this.stateOf(run)
    if (PROGRESSION.includes(s.life)) run.cancelled = true
    return {}
  }

  private mlflowRun(q: { run_id: string }): unknown {
    const metrics = this.mlflowRuns.get(q.run_id)
    if (!metrics) {
      throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `Run with id=${q.run_id} not found`)
    }
    return {
      run: {
        info: {
          run_id: q.run_id,
          run_uuid: q.run_id,
          status: 'FINISHED',
          lifecycle_stage: 'active'
        },
        data: { metrics, params: [], tags: [] }
      }
    }
  }

  private wellKnown(): unknown {
    return {
      oidc_endpoint: `${this.url}/oidc`,
      workspace_id: '1234567890',
      ...(this.opts.accountId ? { account_id: this.opts.accountId } : {}),
      ...(this.opts.defaultOidcAudiences
        ? { token_federation_default_oidc_audiences: this.opts.defaultOidcAudiences }
        : {})
    }
  }
}

function endpointOf(method: string, path: string): Endpoint | undefined {
  const table: Record<string, Endpoint> = {
    'GET /api/2.2/jobs/list': 'jobs/list',
    'POST /api/2.2/jobs/run-now': 'run-now',
    'GET /api/2.2/jobs/runs/get': 'runs/get',
    'GET /api/2.2/jobs/runs/get-output': 'runs/get-output',
    'POST /api/2.2/jobs/runs/cancel': 'runs/cancel',
    'POST /oidc/v1/token': 'token',
    'GET /api/2.0/mlflow/runs/get': 'mlflow/runs/get',
    'GET /_actions/idtoken': 'id-token',
    'GET /.well-known/databricks-config': 'well-known'
  }
  return table[`${method} ${path}`]
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = ''
    req.on('data', (c: Buffer) => (data += c.toString()))
    req.on('end', () => resolve(data))
    req.on('error', reject)
  })
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {}
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(body === undefined ? '' : JSON.stringify(body))
}
