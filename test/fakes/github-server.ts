// An in-memory GitHub REST API on 127.0.0.1 for tests. Every request is matched to an operation of
// GitHub's published OpenAPI description and validated against it, and so is every response the
// fake sends, so a test that passes against this fake uses the API the way GitHub documents it.
// Behaviour the description only states in prose (limits, defaults, auto-inactive deployment
// statuses, required status contexts) is modelled where ml-promote depends on it.
import { createHash, randomUUID } from 'node:crypto'
import {
  createServer,
  STATUS_CODES,
  type IncomingMessage,
  type Server,
  type ServerResponse
} from 'node:http'
import type { AddressInfo } from 'node:net'
import { strToU8, zipSync } from 'fflate'
import {
  deepMerge,
  matchOperation,
  sampleOf,
  validateErrorBody,
  validateRequest,
  validateResponse,
  type Operation
} from './openapi-validator.js'

export interface RecordedCall {
  method: string
  /** URL path, percent-decoded. */
  path: string
  query: Record<string, string>
  body: unknown
  /** 0 when the fake reset the connection or never answered. */
  status: number
  /** "POST /repos/{owner}/{repo}/check-runs"; "" for a route the contract does not know. */
  operation: string
  token?: string
}

export interface Fault {
  method?: string
  /** Matched against the request path (percent-decoded), or equal to it or to the operation's template. */
  path?: string | RegExp
  /** How many matching requests fail (default 1). */
  times?: number
  kind: 'status' | 'secondary-rate-limit' | 'primary-rate-limit' | 'reset' | 'hang' | 'delay'
  /** For kind 'delay': how long the request waits before it is answered normally (default 1000). */
  delayMs?: number
  /** For kind 'status': 500, 502, 503, 429… */
  status?: number
  /** Seconds: `retry-after` for 'status' and 'secondary-rate-limit', reset offset for 'primary-rate-limit'. */
  retryAfter?: number
}

export interface WorkflowRunOptions {
  /** `GET run` calls that still see `queued` (default 1). */
  queuedPolls?: number
  /** `GET run` calls after those that see `in_progress` (default 1). */
  runningPolls?: number
  conclusion?: 'success' | 'failure' | 'cancelled'
  /** Uploaded when the run completes: artifact name → file name → content. */
  artifacts?: Record<string, Record<string, string>>
  /** false → the dispatch answers 204 without run details, like GHES (default true). */
  returnRunDetails?: boolean
  /** Runs-list calls after a dispatch that do not show the new run yet, as on GitHub (default 0). */
  hiddenListPolls?: number
}

export interface FakeGitHubOptions {
  owner?: string
  repo?: string
  defaultBranch?: string
  /** Tokens that may only read (fork PRs): any write → 403 "Resource not accessible by integration". */
  readOnlyTokens?: string[]
  /** The lifecycle of dispatched workflow runs. */
  workflowRun?: WorkflowRunOptions
  /** Requests per hour before the primary rate limit answers 403 (default 1000, GITHUB_TOKEN's). */
  rateLimit?: number
  /** Who each token is (default for any token: github-actions[bot], as for GITHUB_TOKEN). */
  identities?: Record<string, Identity>
  /** The GraphQL API answers with errors (e.g. an older GitHub Enterprise Server). */
  graphqlUnavailable?: boolean
  /** Tokens without `issues: write`: creating or editing an issue → 403 (PR comments still work). */
  withoutIssuesWrite?: string[]
}

/** The account a token acts as: the author of what it writes, the GraphQL `viewer`. */
export interface Identity {
  login: string
  id: number
  type: 'User' | 'Bot'
}

const ACTIONS_BOT: Identity = { login: 'github-actions[bot]', id: 41898282, type: 'Bot' }

export interface CheckRunState {
  id: number
  name: string
  head_sha: string
  status: string
  conclusion: string | null
  started_at: string | null
  completed_at: string | null
  /** Annotations accumulate over create and updates, as on GitHub. */
  output?: { title?: string; summary?: string; text?: string; annotations?: unknown[] }
  details_url?: string
  external_id?: string
}

export interface CommentState {
  id: number
  issue_number: number
  body: string
  created_at: string
  updated_at: string
  user: Identity
}

export interface IssueState {
  number: number
  title: string
  body: string
  state: 'open' | 'closed'
  state_reason: 'completed' | 'not_planned' | 'reopened' | null
  labels: string[]
  user: Identity
  created_at: string
  updated_at: string
  closed_at: string | null
}

export interface StatusState {
  id: number
  sha: string
  state: string
  context: string
  description?: string
  target_url?: string
  created_at: string
}

export interface DeploymentStatusState {
  id: number
  state: string
  description?: string
  environment_url?: string
  log_url?: string
  created_at: string
}

export interface DeploymentState {
  id: number
  sha: string
  ref: string
  task: string
  environment: string
  payload: unknown
  description: string | null
  transient_environment: boolean
  production_environment: boolean
  created_at: string
  /** Oldest first (the API lists them newest first). */
  statuses: DeploymentStatusState[]
}

export interface WorkflowRunState {
  id: number
  workflow_id: string
  ref: string
  head_sha: string
  inputs: Record<string, string>
  status: string
  conclusion: string | null
  /** The display title (`run-name`); carries `inputs.correlation_id` when there is one. */
  name: string
  /** `GET run` calls so far. */
  polls: number
  cancelled: boolean
  run_number: number
  created_at: string
  artifactIds: number[]
}

interface ArtifactState {
  id: number
  runId: number
  name: string
  zip: Uint8Array
  created_at: string
}

interface PullState {
  head: { sha: string; ref: string }
  base: { sha: string; ref: string }
  files: string[]
  /** owner/name of the head repository when the PR comes from a fork. */
  headRepo?: string
}

const ACTIVE_DEPLOYMENT_STATES = new Set(['success', 'in_progress', 'queued', 'pending'])

interface Reply {
  status: number
  body?: unknown
  headers?: Record<string, string>
  /** A non-JSON body (raw file contents, zip archives); not checked against the description. */
  raw?: { contentType: string; data: string | Uint8Array }
}

interface Context {
  params: Record<string, string>
  query: Record<string, string>
  body: Record<string, unknown>
  headers: IncomingMessage['headers']
  requestUrl: URL
  token: string | undefined
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Whether the request broke the documented contract (recorded in `violations`). */
    readonly contractViolation = false,
    readonly extra: Record<string, unknown> = {}
  ) {
    super(message)
  }
}

const SHA = /^[0-9a-f]{40}$/
const WRITE_METHODS = new Set(['POST', 'PATCH', 'PUT', 'DELETE'])
// Statuses GitHub may send from any endpoint, whether or not the operation lists them.
const GENERIC_ERRORS = new Set([400, 401, 403, 404, 409, 422, 429, 500, 502, 503])
const MAX_STATUS_DESCRIPTION = 140
const MAX_COMMENT_BODY = 65536
const MAX_COMPARE_FILES = 300
const MAX_PULL_FILES = 3000
const RATE_LIMIT_DOCS =
  'https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api'
const SECONDARY_MESSAGE =
  'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. ' +
  'If you reach out to GitHub Support for help, please include the request ID.'
// The permission GitHub names in `x-accepted-github-permissions` when a token lacks it.
const PERMISSIONS: Array<[RegExp, string]> = [
  [/check-runs/, 'checks=write'],
  [/statuses/, 'statuses=write'],
  [/issues/, 'issues=write; pull_requests=write'],
  [/deployments/, 'deployments=write'],
  [/actions/, 'actions=write']
]

export class FakeGitHub {
  readonly url: string
  readonly owner: string
  readonly repo: string
  readonly defaultBranch: string
  readonly calls: RecordedCall[] = []
  /** Every request and response contract violation, human readable. */
  readonly violations: string[] = []
  readonly checkRuns: CheckRunState[] = []
  readonly comments: CommentState[] = []
  readonly issues: IssueState[] = []
  readonly statuses: StatusState[] = []
  readonly deployments: DeploymentState[] = []
  /** Deployments removed through the API, in the order they were deleted. */
  readonly deletedDeployments: DeploymentState[] = []
  readonly workflowRuns: WorkflowRunState[] = []
  /** Workflow files disabled through the API (`…/workflows/{workflow_id}/disable`). */
  readonly disabledWorkflows = new Set<string>()
  /** Reviews of environment deployments, by workflow run id (`…/runs/{run_id}/approvals`). */
  readonly approvals = new Map<
    number,
    Array<{
      login: string
      environments: string[]
      state: 'approved' | 'rejected'
      comment: string
    }>
  >()

  private readonly faults: Array<Fault & { left: number }> = []
  private readonly files = new Map<string, string>()
  private readonly branches = new Map<string, string>()
  private readonly pulls = new Map<number, PullState>()
  private readonly compares = new Map<string, { files: string[]; truncated: boolean }>()
  private readonly artifacts = new Map<number, ArtifactState>()
  private readonly workflowIds = new Map<string, number>()
  private readonly hiddenFromList = new Map<number, number>()
  private readonly readOnly: Set<string>
  private readonly identities: Record<string, Identity>
  private readonly graphqlUnavailable: boolean
  private readonly withoutIssuesWrite: Set<string>
  private readonly runOptions: Required<Omit<WorkflowRunOptions, 'artifacts'>> &
    Pick<WorkflowRunOptions, 'artifacts'>
  private readonly ids = {
    checkRun: 4_000_000,
    comment: 5_000_000,
    status: 6_000_000,
    deployment: 7_000_000,
    deploymentStatus: 8_000_000,
    run: 9_000_000,
    artifact: 10_000_000,
    // Issues and pull requests share numbers on GitHub; the fake's pulls are set by tests.
    issue: 1000
  }
  private lastTime = 0
  private readonly rate: { limit: number; used: number; reset: number }

  private constructor(
    private readonly server: Server,
    port: number,
    opts: FakeGitHubOptions
  ) {
    this.url = `http://127.0.0.1:${port}`
    this.owner = opts.owner ?? 'octo-org'
    this.repo = opts.repo ?? 'fraud-models'
    this.defaultBranch = opts.defaultBranch ?? 'main'
    this.readOnly = new Set(opts.readOnlyTokens ?? [])
    this.identities = opts.identities ?? {}
    this.graphqlUnavailable = opts.graphqlUnavailable ?? false
    this.withoutIssuesWrite = new Set(opts.withoutIssuesWrite ?? [])
    const run = opts.workflowRun ?? {}
    this.runOptions = {
      queuedPolls: run.queuedPolls ?? 1,
      runningPolls: run.runningPolls ?? 1,
      conclusion: run.conclusion ?? 'success',
      artifacts: run.artifacts,
      returnRunDetails: run.returnRunDetails ?? true,
      hiddenListPolls: run.hiddenListPolls ?? 0
    }
    this.rate = {
      limit: opts.rateLimit ?? 1000,
      used: 0,
      reset: Math.floor(Date.now() / 1000) + 3600
    }
  }

  static async start(opts: FakeGitHubOptions = {}): Promise<FakeGitHub> {
    const server = createServer()
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', resolve)
    })
    const fake = new FakeGitHub(server, (server.address() as AddressInfo).port, opts)
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      fake.handle(req, res).catch((err: unknown) => {
        fake.violations.push(`fake GitHub crashed on ${req.method} ${req.url}: ${String(err)}`)
        if (!res.headersSent) res.writeHead(500).end()
      })
    })
    return fake
  }

  /** Stops the server and drops every open connection, including hanging requests. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.server.closeAllConnections()
    await closed
  }

  inject(fault: Fault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 })
  }

  /** Recorded calls whose operation ("GET /rate_limit") or "METHOD /concrete/path" matches. */
  count(operation: string | RegExp): number {
    return this.calls.filter((c) => {
      const concrete = `${c.method} ${c.path}`
      return typeof operation === 'string'
        ? c.operation === operation || concrete === operation
        : operation.test(c.operation) || operation.test(concrete)
    }).length
  }

  // ---- seeding -------------------------------------------------------------------------------

  /** A file for the contents API; `ref` is a branch or a sha (branches also answer for their sha). */
  setFile(ref: string, path: string, content: string): void {
    this.files.set(`${ref}\0${path.replace(/^\/+/, '')}`, content)
  }

  /** Points a branch at a commit (used by the contents API, deployments and dispatches). */
  setBranch(name: string, sha: string): void {
    this.branches.set(name, sha)
  }

  setPull(
    number: number,
    pr: {
      head: { sha: string; ref: string }
      base: { sha: string; ref: string }
      files: string[]
      headRepo?: string
    }
  ): void {
    this.pulls.set(number, pr)
    if (!pr.headRepo) this.branches.set(pr.head.ref, pr.head.sha)
    this.branches.set(pr.base.ref, pr.base.sha)
  }

  /**
   * The comparison `base...head`. GitHub lists at most 300 files per comparison; `truncated` makes
   * the fake answer as for a larger one: exactly 300 files, the given ones first.
   */
  setCompare(
    base: string,
    head: string,
    files: string[],
    opts: { truncated?: boolean } = {}
  ): void {
    this.compares.set(`${base}...${head}`, { files, truncated: opts.truncated ?? false })
  }

  /** A comment written by someone else, e.g. one that imitates ml-promote's. */
  addComment(issueNumber: number, body: string, user: Identity): CommentState {
    const at = this.now()
    const comment = {
      id: ++this.ids.comment,
      issue_number: issueNumber,
      body,
      created_at: at,
      updated_at: at,
      user
    }
    this.comments.push(comment)
    return comment
  }

  private identity(token: string | undefined): Identity {
    return (token !== undefined ? this.identities[token] : undefined) ?? ACTIONS_BOT
  }

  // ---- request handling ----------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const text = Buffer.concat(chunks).toString('utf8')
    const method = (req.method ?? 'GET').toUpperCase()
    const requestUrl = new URL(req.url ?? '/', this.url)
    const rawPath = requestUrl.pathname
    let path = rawPath
    try {
      path = decodeURIComponent(rawPath)
    } catch {
      // keep the raw path: it is only used for display and fault matching
    }
    const query = Object.fromEntries(requestUrl.searchParams)
    const token = /^(?:token|bearer)\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1]
    let body: unknown = text === '' ? undefined : text
    let badJson = false
    if (text !== '') {
      try {
        body = JSON.parse(text)
      } catch {
        badJson = true
      }
    }
    const isGraphql = method === 'POST' && rawPath === '/graphql'
    const isBlob = method === 'GET' && rawPath.startsWith('/_blobs/')
    const match = isBlob || isGraphql ? undefined : matchOperation(method, rawPath)
    const call: RecordedCall = {
      method,
      path,
      query,
      body,
      status: 0,
      operation: isGraphql
        ? 'POST /graphql'
        : isBlob
          ? 'GET /_blobs/{file}'
          : (match?.operation.id ?? ''),
      ...(token !== undefined ? { token } : {})
    }
    this.calls.push(call)
    if (isGraphql) return this.send(res, call, undefined, this.graphql(body, token))

    const fault = this.takeFault(method, path, match?.operation)
    if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.delayMs ?? 1000))
    else if (fault) return this.applyFault(fault, call, res)
    if (isBlob) return this.send(res, call, undefined, this.serveBlob(rawPath))
    if (!match) {
      this.violations.push(`${method} ${path}: no such operation in GitHub's REST API description`)
      return this.send(res, call, undefined, this.error(404, 'Not Found'))
    }
    const { operation: op, params } = match
    const reply = this.dispatch(op, params, {
      method,
      query,
      body,
      badJson,
      token,
      req,
      requestUrl
    })
    return this.send(res, call, op, reply)
  }

  private dispatch(
    op: Operation,
    params: Record<string, string>,
    r: {
      method: string
      query: Record<string, string>
      body: unknown
      badJson: boolean
      token: string | undefined
      req: IncomingMessage
      requestUrl: URL
    }
  ): Reply {
    if (r.token === undefined) return this.error(401, 'Requires authentication', op)
    if (op.id !== 'GET /rate_limit') {
      if (this.rate.used >= this.rate.limit) {
        return this.error(403, 'API rate limit exceeded for installation.', undefined, {
          documentation_url: RATE_LIMIT_DOCS
        })
      }
      this.rate.used += 1
    }
    if (r.badJson) {
      this.violations.push(`${op.id}: request body is not valid JSON`)
      return this.error(400, 'Problems parsing JSON', op)
    }
    if (
      params.owner !== undefined &&
      (params.owner.toLowerCase() !== this.owner.toLowerCase() ||
        params.repo?.toLowerCase() !== this.repo.toLowerCase())
    ) {
      return this.error(404, 'Not Found', op)
    }
    if (
      WRITE_METHODS.has(r.method) &&
      r.token !== undefined &&
      this.withoutIssuesWrite.has(r.token) &&
      this.isIssueWrite(op.path, params)
    ) {
      const reply = this.error(403, 'Resource not accessible by integration', op)
      reply.headers = { 'x-accepted-github-permissions': 'issues=write' }
      return reply
    }
    if (WRITE_METHODS.has(r.method) && this.readOnly.has(r.token)) {
      const permission = PERMISSIONS.find(([re]) => re.test(op.path))?.[1]
      const reply = this.error(403, 'Resource not accessible by integration', op)
      if (permission) reply.headers = { 'x-accepted-github-permissions': permission }
      return reply
    }
    const problems = validateRequest(op, {
      params,
      query: r.query,
      body: r.body,
      headers: r.req.headers
    })
    if (problems.length > 0) {
      for (const p of problems) this.violations.push(`${op.id}: ${p}`)
      return this.error(422, `Invalid request.\n\n${problems.join('\n')}`, op)
    }
    const handler = this.routes[op.id]
    if (!handler) {
      this.violations.push(`${op.id}: the fake does not implement this operation`)
      return this.error(404, 'Not Found', op)
    }
    const ctx: Context = {
      params,
      query: r.query,
      body: (r.body ?? {}) as Record<string, unknown>,
      headers: r.req.headers,
      requestUrl: r.requestUrl,
      token: r.token
    }
    try {
      return handler(ctx)
    } catch (err) {
      if (!(err instanceof HttpError)) throw err
      if (err.contractViolation) this.violations.push(`${op.id}: ${err.message}`)
      return this.error(err.status, err.message, op, err.extra)
    }
  }

  private takeFault(method: string, path: string, op: Operation | undefined): Fault | undefined {
    const fault = this.faults.find(
      (f) =>
        f.left > 0 &&
        (f.method === undefined || f.method.toUpperCase() === method) &&
        (f.path === undefined ||
          (typeof f.path === 'string' ? f.path === path || f.path === op?.path : f.path.test(path)))
    )
    if (fault) fault.left -= 1
    return fault
  }

  private applyFault(fault: Fault, call: RecordedCall, res: ServerResponse): void {
    switch (fault.kind) {
      case 'reset':
        res.socket?.destroy()
        return
      case 'hang':
      case 'delay':
        return
      case 'secondary-rate-limit':
        return this.send(res, call, undefined, {
          status: 403,
          body: { message: SECONDARY_MESSAGE, documentation_url: RATE_LIMIT_DOCS, status: '403' },
          headers: { 'retry-after': String(fault.retryAfter ?? 1) }
        })
      case 'primary-rate-limit': {
        const reset = Math.ceil(Date.now() / 1000 + (fault.retryAfter ?? 1))
        return this.send(res, call, undefined, {
          status: 403,
          body: {
            message: 'API rate limit exceeded for installation.',
            documentation_url: RATE_LIMIT_DOCS,
            status: '403'
          },
          headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) }
        })
      }
      case 'status': {
        const status = fault.status ?? 500
        return this.send(res, call, undefined, {
          status,
          body: { message: STATUS_CODES[status] ?? 'Error', status: String(status) },
          headers: fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {}
        })
      }
    }
  }

  private send(
    res: ServerResponse,
    call: RecordedCall,
    op: Operation | undefined,
    reply: Reply
  ): void {
    call.status = reply.status
    if (op && !reply.raw) this.checkResponse(op, reply)
    const headers: Record<string, string> = {
      'x-github-request-id': randomUUID().toUpperCase(),
      'x-github-api-version-selected': '2022-11-28',
      'x-ratelimit-limit': String(this.rate.limit),
      'x-ratelimit-remaining': String(Math.max(0, this.rate.limit - this.rate.used)),
      'x-ratelimit-reset': String(this.rate.reset),
      'x-ratelimit-used': String(this.rate.used),
      'x-ratelimit-resource': 'core',
      ...reply.headers
    }
    let payload: string | Uint8Array = ''
    if (reply.raw) {
      headers['content-type'] = reply.raw.contentType
      payload = reply.raw.data
    } else if (reply.body !== undefined) {
      headers['content-type'] = 'application/json; charset=utf-8'
      payload = JSON.stringify(reply.body)
    }
    headers['content-length'] = String(Buffer.byteLength(payload))
    res.writeHead(reply.status, headers).end(payload)
  }

  /** The fake checks itself: what it serves must match what GitHub documents. */
  private checkResponse(op: Operation, reply: Reply): void {
    const documented = String(reply.status) in op.responses || 'default' in op.responses
    const problems =
      !documented && GENERIC_ERRORS.has(reply.status)
        ? validateErrorBody(reply.status, reply.body)
        : validateResponse(op, reply.status, reply.body)
    for (const p of problems) this.violations.push(`fake response to ${op.id}: ${p}`)
  }

  private error(
    status: number,
    message: string,
    op?: Operation,
    extra: Record<string, unknown> = {}
  ): Reply {
    return {
      status,
      body: {
        message,
        documentation_url: op?.docsUrl ?? 'https://docs.github.com/rest',
        status: String(status),
        ...extra
      }
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  /** Ends a dispatched workflow run now, as its last job finishing would (artifacts uploaded). */
  completeRun(id: number, conclusion: 'success' | 'failure' = 'success'): void {
    const run = this.workflowRuns.find((r) => r.id === id)
    if (!run) throw new Error(`no workflow run ${id}`)
    run.status = 'completed'
    run.conclusion = conclusion
    if (conclusion === 'success') this.upload(run)
  }

  /** Moves the server's clock forward: what it records from now on is `ms` later (e.g. to let a
   *  claim left by a killed process grow old without waiting). */
  advanceClock(ms: number): void {
    this.lastTime = Math.max(this.lastTime, Date.now()) + ms
  }

  /** GitHub timestamps have one-second resolution; the fake's clock moves a second per event so
   *  "newest first" orderings are never ties. */
  private now(): string {
    this.lastTime = Math.max(Math.floor(Date.now() / 1000) * 1000, this.lastTime + 1000)
    return new Date(this.lastTime).toISOString().replace(/\.\d{3}Z$/, 'Z')
  }

  private get api(): string {
    return `${this.url}/repos/${this.owner}/${this.repo}`
  }

  private get html(): string {
    return `${this.url}/${this.owner}/${this.repo}`
  }

  private sample(name: string, fields: unknown): Record<string, unknown> {
    const now = new Date(this.lastTime || Date.now()).toISOString().replace(/\.\d{3}Z$/, 'Z')
    return deepMerge(sampleOf(name, { baseUrl: this.url, now }), fields) as Record<string, unknown>
  }

  private user(
    login: string,
    id: number,
    type: 'User' | 'Bot' | 'Organization'
  ): Record<string, unknown> {
    return this.sample('simple-user', {
      login,
      id,
      node_id: `U_${id}`,
      avatar_url: `${this.url}/avatars/u/${id}`,
      url: `${this.url}/users/${encodeURIComponent(login)}`,
      html_url: `${this.url}/${encodeURIComponent(login)}`,
      type,
      site_admin: false
    })
  }

  private bot(): Record<string, unknown> {
    return this.user('github-actions[bot]', 41898282, 'Bot')
  }

  private app(): Record<string, unknown> {
    return this.sample('nullable-integration', {
      id: 15368,
      slug: 'github-actions',
      node_id: 'MDM6QXBwMTUzNjg=',
      owner: this.user('github', 9919, 'Organization'),
      name: 'GitHub Actions',
      description: 'Automate your workflow from idea to production',
      external_url: 'https://help.github.com/en/actions',
      html_url: `${this.url}/apps/github-actions`,
      created_at: '2018-07-30T09:30:17Z',
      updated_at: '2019-12-10T19:04:12Z',
      permissions: { checks: 'write', contents: 'read' },
      events: ['check_run']
    })
  }

  private repository(name = `${this.owner}/${this.repo}`): Record<string, unknown> {
    const [owner = this.owner, repo = this.repo] = name.split('/')
    const api = `${this.url}/repos/${owner}/${repo}`
    return {
      id: name === `${this.owner}/${this.repo}` ? 101 : 202,
      node_id: `R_${owner}_${repo}`,
      name: repo,
      full_name: `${owner}/${repo}`,
      owner: this.user(
        owner,
        owner === this.owner ? 301 : 302,
        owner === this.owner ? 'Organization' : 'User'
      ),
      private: true,
      fork: name !== `${this.owner}/${this.repo}`,
      html_url: `${this.url}/${owner}/${repo}`,
      url: api,
      default_branch: this.defaultBranch
    }
  }

  private shaOf(ref: string): string {
    if (SHA.test(ref)) return ref
    return this.branches.get(ref) ?? createHash('sha1').update(`ref:${ref}`).digest('hex')
  }

  /** The names a ref's files may be stored under: itself, and every branch pointing at it. */
  private refAliases(ref: string): string[] {
    const out = [ref]
    for (const [branch, sha] of this.branches) if (sha === ref) out.push(branch)
    const sha = this.branches.get(ref)
    if (sha) out.push(sha)
    return out
  }

  private intParam(ctx: Context, name: string): number {
    return Number(ctx.params[name])
  }

  private paginate<T>(ctx: Context, items: T[]): { items: T[]; headers: Record<string, string> } {
    const perPage = Math.min(100, Math.max(1, Number(ctx.query.per_page ?? 30)))
    const page = Math.max(1, Number(ctx.query.page ?? 1))
    const last = Math.max(1, Math.ceil(items.length / perPage))
    const link = (p: number, rel: string): string => {
      const u = new URL(ctx.requestUrl)
      u.searchParams.set('per_page', String(perPage))
      u.searchParams.set('page', String(p))
      return `<${u.toString()}>; rel="${rel}"`
    }
    const links: string[] = []
    if (page > 1) links.push(link(page - 1, 'prev'))
    if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'))
    if (page > 1) links.push(link(1, 'first'))
    return {
      items: items.slice((page - 1) * perPage, page * perPage),
      headers: links.length > 0 ? { link: links.join(', ') } : {}
    }
  }

  private checkDescription(description: unknown): void {
    if (typeof description === 'string' && description.length > MAX_STATUS_DESCRIPTION) {
      // GitHub documents 140 characters as the maximum; treating more as an error keeps callers
      // from relying on GitHub silently cutting the text.
      throw new HttpError(
        422,
        `description is too long (maximum is ${MAX_STATUS_DESCRIPTION} characters, got ${description.length})`,
        true
      )
    }
  }

  private requireSha(sha: string, field: string): void {
    if (!SHA.test(sha))
      throw new HttpError(
        422,
        `No commit found for SHA: ${sha} (${field} must be a full commit sha)`,
        true
      )
  }

  // ---- operations ----------------------------------------------------------------------------

  private readonly routes: Record<string, (ctx: Context) => Reply> = {
    'GET /rate_limit': () => {
      const core = {
        limit: this.rate.limit,
        remaining: Math.max(0, this.rate.limit - this.rate.used),
        reset: this.rate.reset,
        used: this.rate.used
      }
      const search = { limit: 30, remaining: 30, reset: this.rate.reset, used: 0 }
      return { status: 200, body: { resources: { core, search }, rate: core } }
    },

    'GET /repos/{owner}/{repo}': () => ({
      status: 200,
      body: this.sample('full-repository', {
        ...this.repository(),
        permissions: { admin: false, maintain: false, push: true, triage: true, pull: true }
      })
    }),

    'GET /repos/{owner}/{repo}/contents/{path}': (ctx) => this.getContent(ctx),

    'GET /repos/{owner}/{repo}/pulls/{pull_number}': (ctx) => {
      const number = this.intParam(ctx, 'pull_number')
      const pr = this.pulls.get(number)
      if (!pr) throw new HttpError(404, 'Not Found')
      const side = (
        s: { sha: string; ref: string },
        repoName?: string
      ): Record<string, unknown> => {
        const repo = this.sample('repository', this.repository(repoName))
        return {
          label: `${String((repo.owner as { login: string }).login)}:${s.ref}`,
          ref: s.ref,
          sha: s.sha,
          repo,
          user: repo.owner
        }
      }
      return {
        status: 200,
        body: this.sample('pull-request', {
          url: `${this.api}/pulls/${number}`,
          id: 100_000 + number,
          node_id: `PR_${number}`,
          html_url: `${this.html}/pull/${number}`,
          number,
          state: 'open',
          title: `Pull request #${number}`,
          user: this.user('contributor', 401, 'User'),
          head: side(pr.head, pr.headRepo),
          base: side(pr.base),
          changed_files: pr.files.length,
          draft: false,
          merged: false
        })
      }
    },

    'GET /repos/{owner}/{repo}/pulls/{pull_number}/files': (ctx) => {
      const pr = this.pulls.get(this.intParam(ctx, 'pull_number'))
      if (!pr) throw new HttpError(404, 'Not Found')
      const page = this.paginate(
        ctx,
        pr.files.slice(0, MAX_PULL_FILES).map((f) => this.diffEntry(f, pr.head.sha))
      )
      return { status: 200, body: page.items, headers: page.headers }
    },

    'GET /repos/{owner}/{repo}/compare/{basehead}': (ctx) => {
      const basehead = ctx.params.basehead ?? ''
      const [base = '', head = ''] = basehead.split(/\.\.\.?/)
      const cmp = this.compares.get(`${base}...${head}`)
      if (!cmp) throw new HttpError(404, 'Not Found')
      const headSha = this.shaOf(head)
      let files = cmp.files.slice(0, MAX_COMPARE_FILES)
      if (cmp.truncated) {
        for (let i = files.length; i < MAX_COMPARE_FILES; i++)
          files = [...files, `unlisted/file-${i}.txt`]
      }
      const commit = (sha: string): Record<string, unknown> =>
        this.sample('commit', {
          url: `${this.api}/commits/${sha}`,
          sha,
          node_id: `C_${sha}`,
          html_url: `${this.html}/commit/${sha}`,
          comments_url: `${this.api}/commits/${sha}/comments`,
          author: this.user('contributor', 401, 'User'),
          committer: this.user('contributor', 401, 'User')
        })
      const page = this.paginate(ctx, [commit(headSha)])
      return {
        status: 200,
        headers: page.headers,
        body: this.sample('commit-comparison', {
          url: `${this.api}/compare/${basehead}`,
          html_url: `${this.html}/compare/${basehead}`,
          permalink_url: `${this.html}/compare/${basehead}`,
          diff_url: `${this.html}/compare/${basehead}.diff`,
          patch_url: `${this.html}/compare/${basehead}.patch`,
          base_commit: commit(this.shaOf(base)),
          merge_base_commit: commit(this.shaOf(base)),
          status: 'ahead',
          ahead_by: 1,
          behind_by: 0,
          total_commits: 1,
          commits: page.items,
          files: files.map((f) => this.diffEntry(f, headSha))
        })
      }
    },

    'POST /repos/{owner}/{repo}/check-runs': (ctx) => {
      const b = ctx.body
      this.requireSha(String(b.head_sha), 'head_sha')
      const output = b.output as CheckRunState['output'] | undefined
      const run: CheckRunState = {
        id: ++this.ids.checkRun,
        name: String(b.name),
        head_sha: String(b.head_sha),
        status: 'queued',
        conclusion: null,
        started_at: null,
        completed_at: null,
        ...(output ? { output: { ...output, annotations: [...(output.annotations ?? [])] } } : {}),
        ...(typeof b.details_url === 'string' ? { details_url: b.details_url } : {}),
        ...(typeof b.external_id === 'string' ? { external_id: b.external_id } : {})
      }
      this.applyCheckRunProgress(run, b, true)
      this.checkRuns.push(run)
      return { status: 201, body: this.checkRunBody(run) }
    },

    'PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}': (ctx) => {
      const run = this.checkRuns.find((r) => r.id === this.intParam(ctx, 'check_run_id'))
      if (!run) throw new HttpError(404, 'Not Found')
      const b = ctx.body
      const output = b.output as CheckRunState['output'] | undefined
      const next: CheckRunState = { ...run }
      if (typeof b.name === 'string') next.name = b.name
      if (typeof b.details_url === 'string') next.details_url = b.details_url
      if (typeof b.external_id === 'string') next.external_id = b.external_id
      if (output) {
        next.output = {
          ...run.output,
          ...output,
          annotations: [...(run.output?.annotations ?? []), ...(output.annotations ?? [])]
        }
      }
      this.applyCheckRunProgress(next, b, false)
      Object.assign(run, next)
      return { status: 200, body: this.checkRunBody(run) }
    },

    'GET /repos/{owner}/{repo}/commits/{ref}/check-runs': (ctx) => {
      const shas = new Set(this.refAliases(ctx.params.ref ?? '').map((r) => this.shaOf(r)))
      let runs = this.checkRuns.filter((r) => shas.has(r.head_sha))
      if (ctx.query.check_name !== undefined)
        runs = runs.filter((r) => r.name === ctx.query.check_name)
      if (ctx.query.status !== undefined) runs = runs.filter((r) => r.status === ctx.query.status)
      runs = [...runs].sort((a, b) => b.id - a.id)
      if ((ctx.query.filter ?? 'latest') === 'latest') {
        const seen = new Set<string>()
        runs = runs.filter((r) => !seen.has(r.name) && seen.add(r.name))
      }
      const page = this.paginate(ctx, runs)
      return {
        status: 200,
        headers: page.headers,
        body: { total_count: runs.length, check_runs: page.items.map((r) => this.checkRunBody(r)) }
      }
    },

    'POST /repos/{owner}/{repo}/statuses/{sha}': (ctx) => {
      const sha = ctx.params.sha ?? ''
      this.requireSha(sha, 'sha')
      const b = ctx.body
      this.checkDescription(b.description)
      const status: StatusState = {
        id: ++this.ids.status,
        sha,
        state: String(b.state),
        context: typeof b.context === 'string' ? b.context : 'default',
        ...(typeof b.description === 'string' ? { description: b.description } : {}),
        ...(typeof b.target_url === 'string' ? { target_url: b.target_url } : {}),
        created_at: this.now()
      }
      this.statuses.push(status)
      return {
        status: 201,
        headers: { location: `${this.api}/statuses/${sha}` },
        body: {
          url: `${this.api}/statuses/${sha}`,
          avatar_url: `${this.url}/avatars/u/41898282`,
          id: status.id,
          node_id: `SC_${status.id}`,
          state: status.state,
          description: status.description ?? null,
          target_url: status.target_url ?? null,
          context: status.context,
          created_at: status.created_at,
          updated_at: status.created_at,
          creator: this.bot()
        }
      }
    },

    'GET /repos/{owner}/{repo}/issues': (ctx) => {
      const q = ctx.query
      const state = q.state ?? 'open'
      const labels = (q.labels ?? '').split(',').filter(Boolean)
      let list = this.issues.filter(
        (i) =>
          (state === 'all' || i.state === state) &&
          labels.every((l) => i.labels.includes(l)) &&
          (q.creator === undefined || i.user.login === q.creator)
      )
      list = [...list].sort((a, b) =>
        q.direction === 'asc' ? a.number - b.number : b.number - a.number
      )
      const page = this.paginate(ctx, list)
      return { status: 200, headers: page.headers, body: page.items.map((i) => this.issueBody(i)) }
    },

    'POST /repos/{owner}/{repo}/issues': (ctx) => {
      const b = ctx.body as { title: string | number; body?: string; labels?: unknown[] }
      this.checkCommentBody(b.body ?? '')
      const at = this.now()
      const issue: IssueState = {
        number: ++this.ids.issue,
        title: String(b.title),
        body: b.body ?? '',
        state: 'open',
        state_reason: null,
        // Labels that do not exist yet are created, as GitHub does for a writer.
        labels: (b.labels ?? []).map((l) =>
          typeof l === 'string' ? l : String((l as { name?: string }).name)
        ),
        user: this.identity(ctx.token),
        created_at: at,
        updated_at: at,
        closed_at: null
      }
      this.issues.push(issue)
      return {
        status: 201,
        headers: { location: `${this.api}/issues/${issue.number}` },
        body: this.issueBody(issue)
      }
    },

    'PATCH /repos/{owner}/{repo}/issues/{issue_number}': (ctx) => {
      const issue = this.issues.find((i) => i.number === this.intParam(ctx, 'issue_number'))
      if (!issue) throw new HttpError(404, 'Not Found')
      const b = ctx.body as {
        title?: string | number
        body?: string
        state?: 'open' | 'closed'
        state_reason?: IssueState['state_reason']
      }
      if (b.body !== undefined) {
        this.checkCommentBody(b.body)
        issue.body = b.body
      }
      if (b.title !== undefined) issue.title = String(b.title)
      const at = this.now()
      if (b.state !== undefined && b.state !== issue.state) {
        issue.state = b.state
        issue.closed_at = b.state === 'closed' ? at : null
        issue.state_reason = b.state === 'closed' ? (b.state_reason ?? 'completed') : 'reopened'
      }
      issue.updated_at = at
      return { status: 200, body: this.issueBody(issue) }
    },

    'GET /repos/{owner}/{repo}/issues/{issue_number}/comments': (ctx) => {
      const issue = this.intParam(ctx, 'issue_number')
      let list = this.comments.filter((c) => c.issue_number === issue)
      const since = ctx.query.since
      if (since !== undefined) list = list.filter((c) => c.updated_at >= since)
      const page = this.paginate(ctx, list)
      return {
        status: 200,
        headers: page.headers,
        body: page.items.map((c) => this.commentBody(c))
      }
    },

    'POST /repos/{owner}/{repo}/issues/{issue_number}/comments': (ctx) => {
      const body = String(ctx.body.body)
      this.checkCommentBody(body)
      const at = this.now()
      const comment: CommentState = {
        id: ++this.ids.comment,
        issue_number: this.intParam(ctx, 'issue_number'),
        body,
        created_at: at,
        updated_at: at,
        user: this.identity(ctx.token)
      }
      this.comments.push(comment)
      return {
        status: 201,
        headers: { location: `${this.api}/issues/comments/${comment.id}` },
        body: this.commentBody(comment)
      }
    },

    'PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}': (ctx) => {
      const comment = this.comments.find((c) => c.id === this.intParam(ctx, 'comment_id'))
      if (!comment) throw new HttpError(404, 'Not Found')
      const body = String(ctx.body.body)
      this.checkCommentBody(body)
      comment.body = body
      comment.updated_at = this.now()
      return { status: 200, body: this.commentBody(comment) }
    },

    'GET /repos/{owner}/{repo}/deployments': (ctx) => {
      const q = ctx.query
      const list = this.deployments
        .filter(
          (d) =>
            (q.sha === undefined || d.sha === q.sha) &&
            (q.ref === undefined || d.ref === q.ref) &&
            (q.task === undefined || d.task === q.task) &&
            (q.environment === undefined || d.environment === q.environment)
        )
        .sort((a, b) => b.id - a.id)
      const page = this.paginate(ctx, list)
      return {
        status: 200,
        headers: page.headers,
        body: page.items.map((d) => this.deploymentBody(d))
      }
    },

    'POST /repos/{owner}/{repo}/deployments': (ctx) => this.createDeployment(ctx),

    // GitHub deletes only deployments that are not active (latest status not success or still
    // running), unless it is the repository's only one.
    'DELETE /repos/{owner}/{repo}/deployments/{deployment_id}': (ctx) => {
      const d = this.deployment(ctx)
      const latest = d.statuses[d.statuses.length - 1]?.state
      const active = latest === undefined || ACTIVE_DEPLOYMENT_STATES.has(latest)
      if (active && this.deployments.length > 1) {
        throw new HttpError(
          422,
          'We cannot delete an active deployment unless it is the only deployment in a given environment.'
        )
      }
      this.deployments.splice(this.deployments.indexOf(d), 1)
      this.deletedDeployments.push(d)
      return { status: 204 }
    },

    'GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses': (ctx) => {
      const d = this.deployment(ctx)
      const page = this.paginate(ctx, [...d.statuses].reverse())
      return {
        status: 200,
        headers: page.headers,
        body: page.items.map((s) => this.deploymentStatusBody(d, s))
      }
    },

    'POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses': (ctx) => {
      const d = this.deployment(ctx)
      const b = ctx.body
      this.checkDescription(b.description)
      if (typeof b.environment === 'string') d.environment = b.environment
      const logUrl = typeof b.log_url === 'string' && b.log_url !== '' ? b.log_url : undefined
      const targetUrl =
        typeof b.target_url === 'string' && b.target_url !== '' ? b.target_url : undefined
      const envUrl =
        typeof b.environment_url === 'string' && b.environment_url !== ''
          ? b.environment_url
          : undefined
      const status = this.addDeploymentStatus(d, {
        state: String(b.state),
        ...(typeof b.description === 'string' ? { description: b.description } : {}),
        ...(envUrl ? { environment_url: envUrl } : {}),
        ...((logUrl ?? targetUrl) ? { log_url: logUrl ?? targetUrl } : {})
      })
      if (status.state === 'success' && b.auto_inactive !== false) this.deactivateOthers(d)
      return {
        status: 201,
        headers: { location: `${this.api}/deployments/${d.id}/statuses/${status.id}` },
        body: this.deploymentStatusBody(d, status)
      }
    },

    'POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches': (ctx) =>
      this.dispatchWorkflow(ctx),

    'GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs': (ctx) => {
      const workflow = ctx.params.workflow_id ?? ''
      const q = ctx.query
      const list = this.workflowRuns
        .filter((run) => {
          const hidden = this.hiddenFromList.get(run.id) ?? 0
          if (hidden > 0) {
            this.hiddenFromList.set(run.id, hidden - 1)
            return false
          }
          return (
            (run.workflow_id === workflow ||
              String(this.workflowNumber(run.workflow_id)) === workflow) &&
            (q.branch === undefined || run.ref === q.branch) &&
            (q.event === undefined || q.event === 'workflow_dispatch') &&
            (q.status === undefined || run.status === q.status || run.conclusion === q.status) &&
            (q.head_sha === undefined || run.head_sha === q.head_sha)
          )
        })
        .sort((a, b) => b.id - a.id)
      const page = this.paginate(ctx, list)
      return {
        status: 200,
        headers: page.headers,
        body: { total_count: list.length, workflow_runs: page.items.map((r) => this.runBody(r)) }
      }
    },

    'GET /repos/{owner}/{repo}/actions/runs/{run_id}': (ctx) => {
      const run = this.run(ctx)
      run.polls += 1
      this.advance(run)
      return { status: 200, body: this.runBody(run) }
    },

    'POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel': (ctx) => {
      const run = this.run(ctx)
      if (run.status === 'completed') {
        throw new HttpError(409, 'Cannot cancel a workflow run that is completed.')
      }
      run.cancelled = true
      run.status = 'completed'
      run.conclusion = 'cancelled'
      return { status: 202, body: {} }
    },

    'PUT /repos/{owner}/{repo}/actions/workflows/{workflow_id}/enable': (ctx) => {
      this.disabledWorkflows.delete(String(ctx.params.workflow_id))
      return { status: 204 }
    },

    'PUT /repos/{owner}/{repo}/actions/workflows/{workflow_id}/disable': (ctx) => {
      this.disabledWorkflows.add(String(ctx.params.workflow_id))
      return { status: 204 }
    },

    'GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals': (ctx) => {
      const reviews = this.approvals.get(this.intParam(ctx, 'run_id')) ?? []
      const at = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
      return {
        status: 200,
        body: reviews.map((r, i) => ({
          environments: r.environments.map((name, j) => ({
            id: 300 + j,
            node_id: `EN_${300 + j}`,
            name,
            url: `${this.url}/repos/${this.owner}/${this.repo}/environments/${encodeURIComponent(name)}`,
            html_url: `${this.url}/${this.owner}/${this.repo}/deployments/activity_log?environments_filter=${encodeURIComponent(name)}`,
            created_at: at,
            updated_at: at
          })),
          state: r.state,
          user: this.user(r.login, 7000 + i, 'User'),
          comment: r.comment
        }))
      }
    },

    'GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts': (ctx) => {
      const run = this.run(ctx)
      let list = run.artifactIds.map((id) => this.artifacts.get(id)).filter((a) => a !== undefined)
      if (ctx.query.name !== undefined) list = list.filter((a) => a.name === ctx.query.name)
      const page = this.paginate(ctx, list)
      return {
        status: 200,
        headers: page.headers,
        body: {
          total_count: list.length,
          artifacts: page.items.map((a) => this.artifactBody(a, run))
        }
      }
    },

    'GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}': (ctx) => {
      const artifact = this.artifacts.get(this.intParam(ctx, 'artifact_id'))
      if (!artifact || ctx.params.archive_format !== 'zip') throw new HttpError(404, 'Not Found')
      return { status: 302, headers: { location: `${this.url}/_blobs/${artifact.id}.zip` } }
    }
  }

  // ---- contents ------------------------------------------------------------------------------

  private getContent(ctx: Context): Reply {
    const path = (ctx.params.path ?? '').replace(/^\/+|\/+$/g, '')
    const ref = ctx.query.ref ?? this.defaultBranch
    const aliases = this.refAliases(ref)
    const stored = aliases
      .map((r) => ({ r, content: this.files.get(`${r}\0${path}`) }))
      .find((x) => x.content !== undefined)
    const accept = String(ctx.headers.accept ?? '')
    if (stored?.content !== undefined) {
      if (/vnd\.github(\.v3)?\.raw/.test(accept)) {
        return {
          status: 200,
          raw: { contentType: 'text/plain; charset=utf-8', data: stored.content }
        }
      }
      return { status: 200, body: this.contentEntry(path, ref, stored.content, true) }
    }
    const children = new Map<string, { type: 'file' | 'dir'; content?: string }>()
    for (const [key, content] of this.files) {
      const [r = '', p = ''] = key.split('\0')
      if (!aliases.includes(r) || !(path === '' || p.startsWith(`${path}/`))) continue
      const rest = path === '' ? p : p.slice(path.length + 1)
      const [first = '', ...deeper] = rest.split('/')
      children.set(first, deeper.length > 0 ? { type: 'dir' } : { type: 'file', content })
    }
    if (children.size === 0) throw new HttpError(404, 'Not Found')
    const entries = [...children.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, child]) => {
        const childPath = path === '' ? name : `${path}/${name}`
        return child.type === 'file'
          ? this.contentEntry(childPath, ref, child.content ?? '', false)
          : this.contentEntry(childPath, ref, undefined, false)
      })
    return { status: 200, body: entries }
  }

  private contentEntry(
    path: string,
    ref: string,
    content: string | undefined,
    withContent: boolean
  ): Record<string, unknown> {
    const name = path.split('/').pop() ?? path
    const bytes = Buffer.from(content ?? '', 'utf8')
    const sha =
      content === undefined
        ? createHash('sha1').update(`tree:${ref}:${path}`).digest('hex')
        : createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex')
    const self = `${this.api}/contents/${path}?ref=${encodeURIComponent(ref)}`
    const html = `${this.html}/${content === undefined ? 'tree' : 'blob'}/${ref}/${path}`
    const git = `${this.api}/git/${content === undefined ? 'trees' : 'blobs'}/${sha}`
    const entry: Record<string, unknown> = {
      type: content === undefined ? 'dir' : 'file',
      size: content === undefined ? 0 : bytes.length,
      name,
      path,
      sha,
      url: self,
      git_url: git,
      html_url: html,
      download_url:
        content === undefined ? null : `${this.url}/_raw/${this.owner}/${this.repo}/${ref}/${path}`,
      _links: { git, html, self }
    }
    if (withContent) {
      // GitHub wraps the base64 text at 60 characters.
      entry.content = (bytes.toString('base64').match(/.{1,60}/g) ?? []).join('\n') + '\n'
      entry.encoding = 'base64'
    }
    return entry
  }

  private diffEntry(filename: string, headSha: string): Record<string, unknown> {
    const sha = createHash('sha1').update(`file:${headSha}:${filename}`).digest('hex')
    return {
      sha,
      filename,
      status: 'modified',
      additions: 1,
      deletions: 0,
      changes: 1,
      blob_url: `${this.html}/blob/${headSha}/${filename}`,
      raw_url: `${this.html}/raw/${headSha}/${filename}`,
      contents_url: `${this.api}/contents/${filename}?ref=${headSha}`,
      patch: '@@ -1 +1,2 @@\n line\n+changed'
    }
  }

  // ---- check runs ----------------------------------------------------------------------------

  /** GitHub: a conclusion implies `completed`, and `completed` requires a conclusion. */
  private applyCheckRunProgress(
    run: CheckRunState,
    b: Record<string, unknown>,
    creating: boolean
  ): void {
    if (typeof b.status === 'string') run.status = b.status
    if (typeof b.conclusion === 'string') {
      run.conclusion = b.conclusion
      run.status = 'completed'
    }
    if (run.status === 'completed' && run.conclusion === null) {
      throw new HttpError(422, 'conclusion is required when status is completed', true)
    }
    if (typeof b.started_at === 'string') run.started_at = b.started_at
    else if (creating || run.started_at === null) run.started_at = this.now()
    if (run.status === 'completed') {
      run.completed_at =
        typeof b.completed_at === 'string' ? b.completed_at : (run.completed_at ?? this.now())
    }
  }

  private checkRunBody(run: CheckRunState): Record<string, unknown> {
    return this.sample('check-run', {
      id: run.id,
      head_sha: run.head_sha,
      node_id: `CR_${run.id}`,
      external_id: run.external_id ?? '',
      url: `${this.api}/check-runs/${run.id}`,
      html_url: `${this.html}/runs/${run.id}`,
      details_url: run.details_url ?? `${this.url}/apps/github-actions`,
      status: run.status,
      conclusion: run.conclusion,
      started_at: run.started_at,
      completed_at: run.completed_at,
      output: {
        title: run.output?.title ?? null,
        summary: run.output?.summary ?? null,
        text: run.output?.text ?? null,
        annotations_count: run.output?.annotations?.length ?? 0,
        annotations_url: `${this.api}/check-runs/${run.id}/annotations`
      },
      name: run.name,
      check_suite: { id: 1_000_001 },
      app: this.app(),
      pull_requests: []
    })
  }

  // ---- GraphQL (outside the REST description: only the viewer query ml-promote sends) --------

  private graphql(body: unknown, token: string | undefined): Reply {
    if (token === undefined)
      return { status: 401, body: { message: 'This endpoint requires you to be authenticated.' } }
    const request = body as { query?: unknown; variables?: unknown } | undefined
    if (typeof request !== 'object' || request === null || typeof request.query !== 'string') {
      this.violations.push(
        'POST /graphql: the body must be {"query": string, "variables"?: object}'
      )
      return { status: 400, body: { message: 'Problems parsing JSON' } }
    }
    if (this.graphqlUnavailable) {
      return { status: 200, body: { errors: [{ message: "Field 'viewer' is not available" }] } }
    }
    const fields = /^\s*(?:query\s*)?\{\s*viewer\s*\{([^{}]*)\}\s*\}\s*$/.exec(request.query)?.[1]
    if (fields === undefined) {
      this.violations.push(
        `POST /graphql: the fake answers only the viewer query (got ${request.query})`
      )
      return { status: 200, body: { errors: [{ message: 'unsupported query' }] } }
    }
    const who = this.identity(token)
    const known: Record<string, unknown> = {
      login: who.login,
      databaseId: who.id,
      __typename: who.type
    }
    const viewer: Record<string, unknown> = {}
    for (const field of fields.split(/[\s,]+/).filter(Boolean)) {
      if (!(field in known)) {
        return {
          status: 200,
          body: { errors: [{ message: `Field '${field}' doesn't exist on type 'User'` }] }
        }
      }
      viewer[field] = known[field]
    }
    return { status: 200, body: { data: { viewer } } }
  }

  // ---- comments ------------------------------------------------------------------------------

  private checkCommentBody(body: string): void {
    if (body.length > MAX_COMMENT_BODY) {
      throw new HttpError(
        422,
        `body is too long (maximum is ${MAX_COMMENT_BODY} characters, got ${body.length})`,
        true,
        {
          errors: [
            {
              resource: 'IssueComment',
              code: 'custom',
              field: 'body',
              message: 'body is too long (maximum is 65536 characters)'
            }
          ]
        }
      )
    }
  }

  /** Creating or editing an issue, or commenting on one that is not a pull request. */
  private isIssueWrite(template: string, params: Record<string, string>): boolean {
    if (template === '/repos/{owner}/{repo}/issues') return true
    if (template === '/repos/{owner}/{repo}/issues/{issue_number}') return true
    if (template === '/repos/{owner}/{repo}/issues/{issue_number}/comments') {
      return !this.pulls.has(Number(params.issue_number))
    }
    return false
  }

  private issueBody(i: IssueState): Record<string, unknown> {
    return this.sample('issue', {
      id: 20_000_000 + i.number,
      node_id: `I_${i.number}`,
      number: i.number,
      url: `${this.api}/issues/${i.number}`,
      html_url: `${this.html}/issues/${i.number}`,
      title: i.title,
      body: i.body,
      state: i.state,
      state_reason: i.state_reason,
      labels: i.labels.map((name, n) => ({
        id: 30_000_000 + n,
        node_id: `LA_${n}`,
        url: `${this.api}/labels/${encodeURIComponent(name)}`,
        name,
        color: 'ededed',
        default: false,
        description: null
      })),
      user: this.user(i.user.login, i.user.id, i.user.type),
      comments: this.comments.filter((c) => c.issue_number === i.number).length,
      created_at: i.created_at,
      updated_at: i.updated_at,
      closed_at: i.closed_at,
      author_association: 'NONE'
    })
  }

  private commentBody(c: CommentState): Record<string, unknown> {
    return this.sample('issue-comment', {
      id: c.id,
      node_id: `IC_${c.id}`,
      url: `${this.api}/issues/comments/${c.id}`,
      body: c.body,
      html_url: `${this.html}/pull/${c.issue_number}#issuecomment-${c.id}`,
      user: this.user(c.user.login, c.user.id, c.user.type),
      created_at: c.created_at,
      updated_at: c.updated_at,
      issue_url: `${this.api}/issues/${c.issue_number}`,
      author_association: 'NONE'
    })
  }

  // ---- deployments ---------------------------------------------------------------------------

  private deployment(ctx: Context): DeploymentState {
    const d = this.deployments.find((x) => x.id === this.intParam(ctx, 'deployment_id'))
    if (!d) throw new HttpError(404, 'Not Found')
    return d
  }

  private createDeployment(ctx: Context): Reply {
    const b = ctx.body
    const ref = String(b.ref)
    const sha = this.shaOf(ref)
    // Without `required_contexts`, GitHub requires every status context and check on the commit to
    // have succeeded, including the check run of the job creating the deployment.
    const required = Array.isArray(b.required_contexts)
      ? (b.required_contexts as string[])
      : undefined
    const contexts = this.commitContexts(sha)
    const failing = (required ?? [...contexts.keys()]).filter(
      (name) => contexts.get(name) !== 'success'
    )
    if (failing.length > 0) {
      throw new HttpError(409, `Conflict: Commit status checks failed for ${ref}.`, false, {
        errors: [
          {
            contexts: failing.map((context) => ({
              context,
              state: contexts.get(context) ?? 'missing'
            })),
            resource: 'Deployment',
            field: 'required_contexts',
            code: 'invalid'
          }
        ]
      })
    }
    const environment = typeof b.environment === 'string' ? b.environment : 'production'
    const d: DeploymentState = {
      id: ++this.ids.deployment,
      sha,
      ref,
      task: typeof b.task === 'string' ? b.task : 'deploy',
      environment,
      payload: b.payload ?? {},
      description:
        typeof b.description === 'string' ? b.description : b.description === null ? null : '',
      transient_environment: b.transient_environment === true,
      production_environment:
        typeof b.production_environment === 'boolean'
          ? b.production_environment
          : environment === 'production',
      created_at: this.now(),
      statuses: []
    }
    this.deployments.push(d)
    return { status: 201, body: this.deploymentBody(d) }
  }

  /** Latest state per status context and per check run name on a commit. */
  private commitContexts(sha: string): Map<string, string> {
    const out = new Map<string, string>()
    for (const s of this.statuses) if (s.sha === sha) out.set(s.context, s.state)
    for (const r of this.checkRuns) {
      if (r.head_sha === sha)
        out.set(r.name, r.status === 'completed' ? (r.conclusion ?? 'pending') : 'pending')
    }
    for (const [name, state] of out)
      if (state === 'neutral' || state === 'skipped') out.set(name, 'success')
    return out
  }

  private addDeploymentStatus(
    d: DeploymentState,
    fields: Omit<DeploymentStatusState, 'id' | 'created_at'>
  ): DeploymentStatusState {
    const status: DeploymentStatusState = {
      id: ++this.ids.deploymentStatus,
      ...fields,
      created_at: this.now()
    }
    d.statuses.push(status)
    return status
  }

  /** GitHub's `auto_inactive`: earlier successful non-transient, non-production deployments of the
   *  environment get an `inactive` status. */
  private deactivateOthers(current: DeploymentState): void {
    for (const d of this.deployments) {
      if (d === current || d.environment !== current.environment) continue
      if (d.transient_environment || d.production_environment) continue
      if (d.statuses[d.statuses.length - 1]?.state !== 'success') continue
      this.addDeploymentStatus(d, { state: 'inactive', description: '' })
    }
  }

  private deploymentBody(d: DeploymentState): Record<string, unknown> {
    return {
      url: `${this.api}/deployments/${d.id}`,
      id: d.id,
      node_id: `DE_${d.id}`,
      sha: d.sha,
      ref: d.ref,
      task: d.task,
      payload: d.payload,
      original_environment: d.environment,
      environment: d.environment,
      description: d.description,
      creator: this.bot(),
      created_at: d.created_at,
      updated_at: d.statuses[d.statuses.length - 1]?.created_at ?? d.created_at,
      statuses_url: `${this.api}/deployments/${d.id}/statuses`,
      repository_url: this.api,
      transient_environment: d.transient_environment,
      production_environment: d.production_environment,
      performed_via_github_app: null
    }
  }

  private deploymentStatusBody(
    d: DeploymentState,
    s: DeploymentStatusState
  ): Record<string, unknown> {
    // The description marks target_url a required uri; GitHub sends "" when none was given, which
    // that format rejects, so the fake points it at the deployments page instead.
    const target = s.log_url ?? `${this.html}/deployments`
    return {
      url: `${this.api}/deployments/${d.id}/statuses/${s.id}`,
      id: s.id,
      node_id: `DES_${s.id}`,
      state: s.state,
      creator: this.bot(),
      description: s.description ?? '',
      environment: d.environment,
      target_url: target,
      created_at: s.created_at,
      updated_at: s.created_at,
      deployment_url: `${this.api}/deployments/${d.id}`,
      repository_url: this.api,
      ...(s.environment_url ? { environment_url: s.environment_url } : {}),
      ...(s.log_url ? { log_url: s.log_url } : {}),
      performed_via_github_app: null
    }
  }

  // ---- workflow runs -------------------------------------------------------------------------

  private workflowNumber(workflow: string): number {
    if (/^\d+$/.test(workflow)) return Number(workflow)
    let id = this.workflowIds.get(workflow)
    if (id === undefined) {
      id = 161_335 + this.workflowIds.size
      this.workflowIds.set(workflow, id)
    }
    return id
  }

  private dispatchWorkflow(ctx: Context): Reply {
    const b = ctx.body
    const ref = String(b.ref)
    if (SHA.test(ref)) {
      // The dispatch API takes a branch or tag; a commit sha is refused.
      throw new HttpError(422, `No ref found for: ${ref} (ref must be a branch or tag)`, true)
    }
    const workflow = ctx.params.workflow_id ?? ''
    const inputs = Object.fromEntries(
      Object.entries((b.inputs ?? {}) as Record<string, unknown>).map(([k, v]) => [k, String(v)])
    )
    const workflowName = workflow.replace(/\.ya?ml$/, '')
    const run: WorkflowRunState = {
      id: ++this.ids.run,
      workflow_id: workflow,
      ref,
      head_sha: this.shaOf(ref),
      inputs,
      status: 'queued',
      conclusion: null,
      name:
        inputs.correlation_id !== undefined
          ? `${workflowName} ${inputs.correlation_id}`
          : workflowName,
      polls: 0,
      cancelled: false,
      run_number: this.workflowRuns.filter((r) => r.workflow_id === workflow).length + 1,
      created_at: this.now(),
      artifactIds: []
    }
    this.workflowRuns.push(run)
    if (this.runOptions.hiddenListPolls > 0)
      this.hiddenFromList.set(run.id, this.runOptions.hiddenListPolls)
    if (b.return_run_details === true && this.runOptions.returnRunDetails) {
      return {
        status: 200,
        body: {
          workflow_run_id: run.id,
          run_url: `${this.api}/actions/runs/${run.id}`,
          html_url: `${this.html}/actions/runs/${run.id}`
        }
      }
    }
    return { status: 204 }
  }

  private run(ctx: Context): WorkflowRunState {
    const run = this.workflowRuns.find((r) => r.id === this.intParam(ctx, 'run_id'))
    if (!run) throw new HttpError(404, 'Not Found')
    return run
  }

  /** The first `queuedPolls` reads see queued, the next `runningPolls` in_progress, then completed. */
  private advance(run: WorkflowRunState): void {
    if (run.cancelled || run.status === 'completed') return
    const { queuedPolls, runningPolls, conclusion } = this.runOptions
    if (run.polls <= queuedPolls) run.status = 'queued'
    else if (run.polls <= queuedPolls + runningPolls) run.status = 'in_progress'
    else {
      run.status = 'completed'
      run.conclusion = conclusion
      if (conclusion !== 'cancelled') this.upload(run)
    }
  }

  private upload(run: WorkflowRunState): void {
    for (const [name, files] of Object.entries(this.runOptions.artifacts ?? {})) {
      const zip = zipSync(
        Object.fromEntries(Object.entries(files).map(([f, c]) => [f, strToU8(c)]))
      )
      const artifact: ArtifactState = {
        id: ++this.ids.artifact,
        runId: run.id,
        name,
        zip,
        created_at: this.now()
      }
      this.artifacts.set(artifact.id, artifact)
      run.artifactIds.push(artifact.id)
    }
  }

  private runBody(run: WorkflowRunState): Record<string, unknown> {
    const runUrl = `${this.api}/actions/runs/${run.id}`
    const workflowId = this.workflowNumber(run.workflow_id)
    const repository = this.sample('minimal-repository', this.repository())
    return this.sample('workflow-run', {
      id: run.id,
      name: run.name,
      node_id: `WFR_${run.id}`,
      check_suite_id: 2_000_000 + run.id,
      head_branch: run.ref,
      head_sha: run.head_sha,
      path: /^\d+$/.test(run.workflow_id)
        ? `.github/workflows/${workflowId}.yml`
        : `.github/workflows/${run.workflow_id}`,
      run_number: run.run_number,
      run_attempt: 1,
      event: 'workflow_dispatch',
      status: run.status,
      conclusion: run.conclusion,
      workflow_id: workflowId,
      url: runUrl,
      html_url: `${this.html}/actions/runs/${run.id}`,
      pull_requests: [],
      created_at: run.created_at,
      updated_at: run.created_at,
      actor: this.bot(),
      triggering_actor: this.bot(),
      run_started_at: run.created_at,
      jobs_url: `${runUrl}/jobs`,
      logs_url: `${runUrl}/logs`,
      check_suite_url: `${this.api}/check-suites/${2_000_000 + run.id}`,
      artifacts_url: `${runUrl}/artifacts`,
      cancel_url: `${runUrl}/cancel`,
      rerun_url: `${runUrl}/rerun`,
      workflow_url: `${this.api}/actions/workflows/${workflowId}`,
      head_commit: null,
      repository,
      head_repository: repository,
      display_title: run.name
    })
  }

  private artifactBody(a: ArtifactState, run: WorkflowRunState): Record<string, unknown> {
    return {
      id: a.id,
      node_id: `MDg6QXJ0aWZhY3Q${a.id}`,
      name: a.name,
      size_in_bytes: a.zip.length,
      url: `${this.api}/actions/artifacts/${a.id}`,
      archive_download_url: `${this.api}/actions/artifacts/${a.id}/zip`,
      expired: false,
      created_at: a.created_at,
      expires_at: new Date(Date.parse(a.created_at) + 90 * 86_400_000).toISOString(),
      updated_at: a.created_at,
      digest: `sha256:${createHash('sha256').update(a.zip).digest('hex')}`,
      workflow_run: {
        id: run.id,
        repository_id: 101,
        head_repository_id: 101,
        head_branch: run.ref,
        head_sha: run.head_sha
      }
    }
  }

  private serveBlob(rawPath: string): Reply {
    const id = Number(/^\/_blobs\/(\d+)\.zip$/.exec(rawPath)?.[1])
    const artifact = this.artifacts.get(id)
    if (!artifact) return this.error(404, 'Not Found')
    return { status: 200, raw: { contentType: 'application/zip', data: artifact.zip } }
  }
}
