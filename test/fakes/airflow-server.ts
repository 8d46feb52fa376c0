// A fake Airflow REST API (v1 = Airflow 2, v2 = Airflow 3) on 127.0.0.1 that holds clients to the
// contract: every request body and every response is checked against schemas written from
// Airflow's published API reference, dag_run_id is unique per DAG (409), credentials are required
// (401), and a DAG run moves queued → running → success|failed one poll at a time. Faults can be
// injected per operation, before or after the server has acted.
import { listenOnLoopback, type Loopback } from './loopback.js'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'

export type AirflowOp = 'token' | 'trigger' | 'getRun' | 'patchRun' | 'xcom'

export type AirflowFault = {
  /** Operation the fault hits (default: any). */
  op?: AirflowOp
  /** How many matching requests it hits (default 1). */
  times?: number
  /** Act first (create the run, count the poll), then fail: the client cannot tell it happened. */
  afterEffect?: boolean
} & (
  | { status: 500 | 502 | 503 | 429; retryAfter?: string }
  | { reset: true }
  | { hang: true }
  /** Every token issued so far stops working (v2). */
  | { expireToken: true }
)

export interface FakeAirflowOptions {
  apiVersion: 1 | 2
  dags?: string[]
  users?: Record<string, string>
  /** Bearer tokens accepted as they are (AIRFLOW_TOKEN). */
  staticTokens?: string[]
  queuedPolls?: number
  /** Polls a run spends running; Infinity = never ends. */
  runningPolls?: number
  outcome?: 'success' | 'failed'
  /** XComs every successful run has: task → key → stored value. */
  xcom?: Record<string, Record<string, unknown>>
}

export interface FakeDagRun {
  dagId: string
  runId: string
  conf: Record<string, unknown>
  state: 'queued' | 'running' | 'success' | 'failed'
  polls: number
  /** Set when a client marked the run failed. */
  markedFailed: boolean
  body: Record<string, unknown>
}

export interface AirflowCall {
  op: AirflowOp | 'unknown'
  method: string
  path: string
  status: number
}

const ISO = { type: 'string', format: 'date-time' }
const NULLABLE_ISO = { anyOf: [ISO, { type: 'null' }] }
const NULLABLE_STRING = { type: ['string', 'null'] }
const STATES = ['queued', 'running', 'success', 'failed']

// Schemas written from the field lists of the Airflow REST API reference (v1: stable REST API of
// Airflow 2; v2: the public API of Airflow 3). Request schemas reject unknown fields, as Airflow 3
// does (its bodies are strict models) and as a careful client should for Airflow 2.
const SCHEMAS = {
  1: {
    triggerBody: {
      type: 'object',
      additionalProperties: false,
      properties: {
        dag_run_id: NULLABLE_STRING,
        logical_date: NULLABLE_ISO,
        execution_date: NULLABLE_ISO,
        data_interval_start: NULLABLE_ISO,
        data_interval_end: NULLABLE_ISO,
        conf: { type: 'object' },
        note: NULLABLE_STRING
      }
    },
    patchBody: {
      type: 'object',
      additionalProperties: false,
      required: ['state'],
      properties: { state: { enum: ['success', 'failed', 'queued'] } }
    },
    dagRun: {
      type: 'object',
      required: [
        'dag_run_id',
        'dag_id',
        'logical_date',
        'execution_date',
        'start_date',
        'end_date',
        'state',
        'run_type',
        'external_trigger',
        'conf'
      ],
      properties: {
        dag_run_id: NULLABLE_STRING,
        dag_id: { type: 'string' },
        logical_date: NULLABLE_ISO,
        execution_date: NULLABLE_ISO,
        start_date: NULLABLE_ISO,
        end_date: NULLABLE_ISO,
        data_interval_start: NULLABLE_ISO,
        data_interval_end: NULLABLE_ISO,
        last_scheduling_decision: NULLABLE_ISO,
        run_type: { enum: ['backfill', 'manual', 'scheduled', 'dataset_triggered'] },
        state: { enum: STATES },
        external_trigger: { type: 'boolean' },
        conf: { type: 'object' },
        note: NULLABLE_STRING
      }
    },
    xcom: {
      type: 'object',
      required: ['key', 'timestamp', 'execution_date', 'map_index', 'task_id', 'dag_id', 'value'],
      properties: {
        key: { type: 'string' },
        timestamp: ISO,
        execution_date: ISO,
        map_index: { type: 'integer' },
        task_id: { type: 'string' },
        dag_id: { type: 'string' },
        value: {}
      }
    },
    // RFC 7807 problem details, as Airflow 2 sends every error.
    error: {
      type: 'object',
      required: ['type', 'title', 'status'],
      properties: {
        type: { type: 'string' },
        title: { type: 'string' },
        status: { type: 'number' },
        detail: { type: 'string' },
        instance: { type: 'string' }
      }
    }
  },
  2: {
    triggerBody: {
      type: 'object',
      additionalProperties: false,
      required: ['logical_date'],
      properties: {
        dag_run_id: NULLABLE_STRING,
        data_interval_start: NULLABLE_ISO,
        data_interval_end: NULLABLE_ISO,
        logical_date: NULLABLE_ISO,
        run_after: NULLABLE_ISO,
        conf: { type: ['object', 'null'] },
        note: NULLABLE_STRING
      }
    },
    patchBody: {
      type: 'object',
      additionalProperties: false,
      properties: {
        state: { anyOf: [{ enum: ['queued', 'success', 'failed'] }, { type: 'null' }] },
        note: { anyOf: [{ type: 'string', maxLength: 1000 }, { type: 'null' }] }
      }
    },
    dagRun: {
      type: 'object',
      required: [
        'dag_run_id',
        'dag_id',
        'logical_date',
        'queued_at',
        'start_date',
        'end_date',
        'duration',
        'data_interval_start',
        'data_interval_end',
        'run_after',
        'last_scheduling_decision',
        'run_type',
        'state',
        'triggered_by',
        'triggering_user_name',
        'conf',
        'note',
        'dag_versions',
        'bundle_version',
        'dag_display_name'
      ],
      properties: {
        dag_run_id: { type: 'string' },
        dag_id: { type: 'string' },
        logical_date: NULLABLE_ISO,
        queued_at: NULLABLE_ISO,
        start_date: NULLABLE_ISO,
        end_date: NULLABLE_ISO,
        duration: { type: ['number', 'null'] },
        data_interval_start: NULLABLE_ISO,
        data_interval_end: NULLABLE_ISO,
        run_after: ISO,
        last_scheduling_decision: NULLABLE_ISO,
        run_type: { enum: ['backfill', 'scheduled', 'manual', 'asset_triggered'] },
        state: { enum: STATES },
        triggered_by: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        triggering_user_name: NULLABLE_STRING,
        conf: { type: ['object', 'null'] },
        note: NULLABLE_STRING,
        dag_versions: { type: 'array' },
        bundle_version: NULLABLE_STRING,
        dag_display_name: { type: 'string' }
      }
    },
    xcom: {
      type: 'object',
      required: [
        'key',
        'timestamp',
        'logical_date',
        'map_index',
        'task_id',
        'dag_id',
        'run_id',
        'dag_display_name',
        'value'
      ],
      properties: {
        key: { type: 'string' },
        timestamp: ISO,
        logical_date: NULLABLE_ISO,
        map_index: { type: 'integer' },
        task_id: { type: 'string' },
        dag_id: { type: 'string' },
        run_id: { type: 'string' },
        dag_display_name: { type: 'string' },
        value: {}
      }
    },
    // FastAPI's HTTPException body.
    error: {
      type: 'object',
      required: ['detail'],
      properties: { detail: { anyOf: [{ type: 'string' }, { type: 'object' }, { type: 'array' }] } }
    }
  }
} as const

const TOKEN_SCHEMAS = {
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['username', 'password'],
    properties: { username: { type: 'string' }, password: { type: 'string' } }
  },
  response: {
    type: 'object',
    required: ['access_token'],
    properties: { access_token: { type: 'string', minLength: 1 } }
  }
}

type Validators = Record<
  'triggerBody' | 'patchBody' | 'dagRun' | 'xcom' | 'error' | 'tokenBody' | 'tokenResponse',
  ValidateFunction
>

export class FakeAirflow {
  readonly calls: AirflowCall[] = []
  /** Contract breaches by the client (or by this fake's own answers); must stay empty. */
  readonly violations: string[] = []
  readonly runs = new Map<string, FakeDagRun>()
  /** DAG runs created, whatever the client was told. */
  runsCreated = 0
  private faults: (AirflowFault & { left: number })[] = []
  private tokens = new Set<string>()
  private tokenSeq = 0
  private loopback!: Loopback
  private readonly v: Validators
  private readonly opts: Required<FakeAirflowOptions>

  private constructor(options: FakeAirflowOptions) {
    this.opts = {
      dags: ['train'],
      users: { admin: 'secret' },
      staticTokens: [],
      queuedPolls: 1,
      runningPolls: 2,
      outcome: 'success',
      xcom: { evaluate: { return_value: { auc: 0.93, recall: 0.81 } } },
      ...options
    }
    const ajv = new Ajv({ allErrors: true, strict: false })
    addFormats.default(ajv)
    const s = SCHEMAS[options.apiVersion]
    this.v = {
      triggerBody: ajv.compile(s.triggerBody),
      patchBody: ajv.compile(s.patchBody),
      dagRun: ajv.compile(s.dagRun),
      xcom: ajv.compile(s.xcom),
      error: ajv.compile(s.error),
      tokenBody: ajv.compile(TOKEN_SCHEMAS.body),
      tokenResponse: ajv.compile(TOKEN_SCHEMAS.response)
    }
  }

  static async start(options: FakeAirflowOptions): Promise<FakeAirflow> {
    const server = createServer()
    const fake = new FakeAirflow(options)
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void fake.handle(req, res))
    fake.loopback = await listenOnLoopback(server)
    return fake
  }

  get url(): string {
    return this.loopback.url
  }

  inject(fault: AirflowFault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 })
  }

  count(op: AirflowOp): number {
    return this.calls.filter((c) => c.op === op).length
  }

  run(runId: string, dagId = this.opts.dags[0] as string): FakeDagRun | undefined {
    return this.runs.get(`${dagId}/${runId}`)
  }

  async close(): Promise<void> {
    await this.loopback.close()
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const method = req.method ?? 'GET'
    const text = await readBody(req)
    const route = this.route(method, url.pathname)
    const call: AirflowCall = {
      op: route?.op ?? 'unknown',
      method,
      path: url.pathname + url.search,
      status: 0
    }
    this.calls.push(call)

    const fault = route ? this.takeFault(route.op) : undefined
    if (fault && 'expireToken' in fault) this.tokens.clear()
    const hard = fault && !('expireToken' in fault) ? fault : undefined
    if (hard && !hard.afterEffect && this.applyFault(hard, res, call)) return

    let body: unknown
    if (text) {
      try {
        body = JSON.parse(text)
      } catch {
        this.violations.push(`${method} ${url.pathname}: body is not JSON`)
        return this.error(res, call, 400, 'Bad Request', 'body is not JSON')
      }
    }

    const answer = route
      ? await this.dispatch(route, method, url, body, req)
      : { status: 404, error: `no route ${method} ${url.pathname}` }
    if (hard?.afterEffect && this.applyFault(hard, res, call)) return
    if ('error' in answer) {
      return this.error(
        res,
        call,
        answer.status,
        answer.title ?? titleOf(answer.status),
        answer.error,
        answer.detail
      )
    }
    if (answer.validate && !answer.validate(answer.body)) {
      this.violations.push(
        `fake answered ${method} ${url.pathname} off-contract: ${JSON.stringify(answer.validate.errors)}`
      )
    }
    this.send(res, call, answer.status, answer.body)
  }

  private route(method: string, path: string): { op: AirflowOp; params: string[] } | undefined {
    if (path === '/auth/token' && method === 'POST') return { op: 'token', params: [] }
    const prefix = `/api/v${this.opts.apiVersion}/dags/`
    if (!path.startsWith(prefix)) return undefined
    const parts = path.slice(prefix.length).split('/').map(decodeURIComponent)
    if (parts.length === 2 && parts[1] === 'dagRuns' && method === 'POST')
      return { op: 'trigger', params: [parts[0] as string] }
    if (parts.length === 3 && parts[1] === 'dagRuns') {
      if (method === 'GET')
        return { op: 'getRun', params: [parts[0] as string, parts[2] as string] }
      if (method === 'PATCH')
        return { op: 'patchRun', params: [parts[0] as string, parts[2] as string] }
    }
    if (
      parts.length === 7 &&
      parts[1] === 'dagRuns' &&
      parts[3] === 'taskInstances' &&
      parts[5] === 'xcomEntries' &&
      method === 'GET'
    ) {
      return {
        op: 'xcom',
        params: [parts[0] as string, parts[2] as string, parts[4] as string, parts[6] as string]
      }
    }
    return undefined
  }

  private async dispatch(
    route: { op: AirflowOp; params: string[] },
    method: string,
    url: URL,
    body: unknown,
    req: IncomingMessage
  ): Promise<Answer> {
    if (route.op === 'token') return this.token(body)
    const auth = this.authenticate(req.headers.authorization)
    if (auth) return auth
    const [dagId, runId] = route.params as [string, string | undefined]
    if (!this.opts.dags.includes(dagId))
      return { status: 404, title: 'DAG not found', error: `DAG with dag_id: '${dagId}' not found` }
    if (route.op === 'trigger') return this.trigger(dagId, body)
    const run = this.runs.get(`${dagId}/${runId}`)
    if (!run)
      return {
        status: 404,
        title: 'DAGRun not found',
        error: `DAGRun with DAG ID: '${dagId}' and DagRun ID: '${runId}' not found`
      }
    if (route.op === 'getRun') {
      this.advance(run)
      return { status: 200, body: this.dagRunBody(run), validate: this.v.dagRun }
    }
    if (route.op === 'patchRun') {
      if (!this.v.patchBody(body)) return this.invalid(method, url, this.v.patchBody)
      const state = (body as { state?: FakeDagRun['state'] }).state
      if (state) {
        run.state = state
        run.markedFailed = state === 'failed'
      }
      return { status: 200, body: this.dagRunBody(run), validate: this.v.dagRun }
    }
    const [, , task, key] = route.params as [string, string, string, string]
    return this.xcom(run, task, key, url)
  }

  private token(body: unknown): Answer {
    if (!this.v.tokenBody(body)) {
      this.violations.push(
        `POST /auth/token off-contract: ${JSON.stringify(this.v.tokenBody.errors)}`
      )
      return { status: 422, error: 'invalid body' }
    }
    const { username, password } = body as { username: string; password: string }
    if (this.opts.users[username] !== password) return { status: 401, error: 'Invalid credentials' }
    const token = `jwt-${++this.tokenSeq}-${Math.random().toString(36).slice(2)}`
    this.tokens.add(token)
    return { status: 201, body: { access_token: token }, validate: this.v.tokenResponse }
  }

  private authenticate(header: string | undefined): Answer | undefined {
    const unauthorized: Answer = { status: 401, title: 'Unauthorized', error: 'Not authenticated' }
    if (!header) return unauthorized
    const [scheme, value = ''] = header.split(' ')
    if (scheme === 'Bearer') {
      return this.tokens.has(value) || this.opts.staticTokens.includes(value)
        ? undefined
        : unauthorized
    }
    if (scheme === 'Basic' && this.opts.apiVersion === 1) {
      const [user, password] = Buffer.from(value, 'base64').toString().split(':')
      return user !== undefined && this.opts.users[user] === password ? undefined : unauthorized
    }
    return unauthorized
  }

  private trigger(dagId: string, body: unknown): Answer {
    if (!this.v.triggerBody(body)) {
      this.violations.push(
        `trigger body off-contract: ${JSON.stringify(this.v.triggerBody.errors)}`
      )
      return this.opts.apiVersion === 2
        ? { status: 422, error: JSON.stringify(this.v.triggerBody.errors) }
        : { status: 400, title: 'Bad Request', error: JSON.stringify(this.v.triggerBody.errors) }
    }
    const b = body as Record<string, unknown>
    const runId =
      typeof b.dag_run_id === 'string' ? b.dag_run_id : `manual__${new Date().toISOString()}`
    const key = `${dagId}/${runId}`
    if (this.runs.has(key)) {
      // Airflow 2 answers with problem details; Airflow 3 reports the unique-constraint violation.
      return this.opts.apiVersion === 1
        ? {
            status: 409,
            title: 'Conflict',
            error: `DAGRun with DAG ID: '${dagId}' and DAGRun ID: '${runId}' already exists`
          }
        : {
            status: 409,
            error: 'Unique constraint violation',
            detail: {
              reason: 'Unique constraint violation',
              statement: 'INSERT INTO dag_run',
              orig_error: 'UNIQUE constraint failed: dag_run.dag_id, dag_run.run_id'
            }
          }
    }
    const run: FakeDagRun = {
      dagId,
      runId,
      conf: (b.conf as Record<string, unknown>) ?? {},
      state: 'queued',
      polls: 0,
      markedFailed: false,
      body: b
    }
    this.runs.set(key, run)
    this.runsCreated++
    return { status: 200, body: this.dagRunBody(run), validate: this.v.dagRun }
  }

  private xcom(run: FakeDagRun, task: string, key: string, url: URL): Answer {
    const stored = run.state === 'success' ? this.opts.xcom[task]?.[key] : undefined
    if (stored === undefined)
      return {
        status: 404,
        title: 'XCom entry not found',
        error: `XCom entry with key: \`${key}\` not found`
      }
    const now = new Date().toISOString()
    // Airflow 2 sends str(value) unless stringify=false (2.10+); Airflow 3 sends the stored JSON.
    const raw = this.opts.apiVersion === 1 && url.searchParams.get('stringify') !== 'false'
    const value = raw && typeof stored !== 'string' ? pythonRepr(stored) : stored
    const body =
      this.opts.apiVersion === 1
        ? {
            key,
            timestamp: now,
            execution_date: now,
            map_index: -1,
            task_id: task,
            dag_id: run.dagId,
            value
          }
        : {
            key,
            timestamp: now,
            logical_date: null,
            map_index: -1,
            task_id: task,
            dag_id: run.dagId,
            run_id: run.runId,
            dag_display_name: run.dagId,
            task_display_name: task,
            value
          }
    return { status: 200, body, validate: this.v.xcom }
  }

  private advance(run: FakeDagRun): void {
    if (run.markedFailed || run.state === 'success' || run.state === 'failed') return
    run.polls++
    const { queuedPolls, runningPolls, outcome } = this.opts
    if (run.polls <= queuedPolls) run.state = 'queued'
    else if (run.polls <= queuedPolls + runningPolls) run.state = 'running'
    else run.state = outcome
  }

  private dagRunBody(run: FakeDagRun): Record<string, unknown> {
    const now = new Date().toISOString()
    const started = run.state === 'queued' ? null : now
    const ended = run.state === 'success' || run.state === 'failed' ? now : null
    if (this.opts.apiVersion === 1) {
      return {
        dag_run_id: run.runId,
        dag_id: run.dagId,
        logical_date: now,
        execution_date: now,
        start_date: started,
        end_date: ended,
        data_interval_start: now,
        data_interval_end: now,
        last_scheduling_decision: null,
        run_type: 'manual',
        state: run.state,
        external_trigger: true,
        conf: run.conf,
        note: null
      }
    }
    return {
      dag_run_id: run.runId,
      dag_id: run.dagId,
      logical_date: null,
      queued_at: now,
      start_date: started,
      end_date: ended,
      duration: ended ? 1 : null,
      data_interval_start: null,
      data_interval_end: null,
      run_after: now,
      last_scheduling_decision: null,
      run_type: 'manual',
      state: run.state,
      triggered_by: 'rest_api',
      triggering_user_name: 'admin',
      conf: run.conf,
      note: null,
      dag_versions: [],
      bundle_version: null,
      dag_display_name: run.dagId
    }
  }

  private invalid(method: string, url: URL, validate: ValidateFunction): Answer {
    this.violations.push(
      `${method} ${url.pathname} body off-contract: ${JSON.stringify(validate.errors)}`
    )
    return {
      status: this.opts.apiVersion === 2 ? 422 : 400,
      error: JSON.stringify(validate.errors)
    }
  }

  private takeFault(op: AirflowOp): AirflowFault | undefined {
    const i = this.faults.findIndex((f) => f.op === undefined || f.op === op)
    if (i < 0) return undefined
    const f = this.faults[i] as AirflowFault & { left: number }
    if (--f.left <= 0) this.faults.splice(i, 1)
    return f
  }

  /** True when the fault took over the response. */
  private applyFault(fault: AirflowFault, res: ServerResponse, call: AirflowCall): boolean {
    if ('reset' in fault) {
      call.status = -1
      res.socket?.destroy()
      return true
    }
    if ('hang' in fault) {
      call.status = -2
      return true
    }
    if ('status' in fault) {
      const headers: Record<string, string> =
        fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter }
      this.error(
        res,
        call,
        fault.status,
        titleOf(fault.status),
        'injected fault',
        undefined,
        headers
      )
      return true
    }
    return false
  }

  private error(
    res: ServerResponse,
    call: AirflowCall,
    status: number,
    title: string,
    detail: string,
    detailObject?: Record<string, unknown>,
    headers: Record<string, string> = {}
  ): void {
    const body =
      this.opts.apiVersion === 1
        ? {
            type: `https://airflow.apache.org/docs/apache-airflow/stable/stable-rest-api-ref.html#section/Errors/${title.replace(/\s+/g, '')}`,
            title,
            status,
            detail
          }
        : { detail: detailObject ?? detail }
    if (!this.v.error(body))
      this.violations.push(`fake error body off-contract: ${JSON.stringify(this.v.error.errors)}`)
    this.send(
      res,
      call,
      status,
      body,
      this.opts.apiVersion === 1 ? 'application/problem+json' : 'application/json',
      headers
    )
  }

  private send(
    res: ServerResponse,
    call: AirflowCall,
    status: number,
    body: unknown,
    type = 'application/json',
    headers: Record<string, string> = {}
  ): void {
    call.status = status
    res.writeHead(status, { 'content-type': type, ...headers })
    res.end(JSON.stringify(body))
  }
}

type Answer =
  | { status: number; body: unknown; validate?: ValidateFunction }
  | { status: number; error: string; title?: string; detail?: Record<string, unknown> }

function titleOf(status: number): string {
  return (
    (
      {
        400: 'Bad Request',
        401: 'Unauthorized',
        404: 'Not Found',
        409: 'Conflict',
        422: 'Unprocessable Entity',
        429: 'Too Many Requests',
        500: 'Internal Server Error',
        502: 'Bad Gateway',
        503: 'Service Unavailable'
      } as Record<number, string>
    )[status] ?? 'Error'
  )
}

/** What Python's str() makes of a JSON-like value, as Airflow 2 sends XComs by default. */
function pythonRepr(value: unknown): string {
  if (value === null) return 'None'
  if (value === true) return 'True'
  if (value === false) return 'False'
  if (typeof value === 'string') return `'${value}'`
  if (Array.isArray(value)) return `[${value.map(pythonRepr).join(', ')}]`
  if (typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `'${k}': ${pythonRepr(v)}`)
      .join(', ')}}`
  }
  return String(value)
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}
