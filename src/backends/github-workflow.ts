// The `github-workflow` backend: dispatches a workflow (in this repository or another one), follows
// its run and reads the metrics from an artifact of that run.
import { unzipSync } from 'fflate'
import type { GithubWorkflowTrainSpec } from '../config/schema.js'
import type { Octokit } from '../github.js'
import {
  TrainingError,
  type Backend,
  type Logger,
  type Metrics,
  type RemoteRun,
  type RunStatus,
  type TrainingContext
} from '../types.js'
import { parseMetrics } from './metrics.js'
import { HttpError, isTransient, systemClock, type Clock } from './http.js'

export interface GithubWorkflowBackendDeps {
  octokit: Octokit
  repo: { owner: string; repo: string }
  log: Logger
  /** Clock of the lookup backoff (tests use a virtual one). */
  clock?: Clock
  /**
   * Waits between lookups of a dispatched run that GitHub did not name in its answer (GHES answers
   * 204): a run takes a few seconds to appear in the list.
   */
  lookupDelaysMs?: number[]
}

/** workflow_dispatch accepts at most this many inputs. */
export const MAX_INPUTS = 25
/** The inputs ml-promote itself sends; they win over spec.inputs of the same name. */
export const OWN_INPUTS = ['environment', 'model', 'sha', 'run_id', 'correlation_id'] as const

const DEFAULT_LOOKUP_DELAYS_MS = [1000, 2000, 4000, 8000, 15000]
/** Dispatches tried when the answer is lost and the run cannot be found either. */
const DISPATCH_ATTEMPTS = 3
/** GitHub's clock and ours may disagree; the created-at filter allows for it. */
const CLOCK_SKEW_MS = 60_000

interface Target {
  owner: string
  repo: string
}

interface WorkflowRun {
  id: number
  name?: string | null
  display_title?: string
  status: string | null
  conclusion: string | null
  html_url: string
}

interface RunData extends Target {
  workflow: string
  [key: string]: unknown
}

export class GithubWorkflowBackend implements Backend {
  readonly name = 'github-workflow'
  private readonly target: Target
  private readonly sameRepo: boolean
  private readonly clock: Clock
  private readonly lookupDelaysMs: number[]

  constructor(
    private readonly spec: GithubWorkflowTrainSpec,
    private readonly deps: GithubWorkflowBackendDeps
  ) {
    const [owner, repo] = spec.repository?.split('/') ?? [deps.repo.owner, deps.repo.repo]
    this.target = { owner: owner as string, repo: repo as string }
    this.sameRepo =
      this.target.owner.toLowerCase() === deps.repo.owner.toLowerCase() &&
      this.target.repo.toLowerCase() === deps.repo.repo.toLowerCase()
    this.clock = deps.clock ?? systemClock
    this.lookupDelaysMs = deps.lookupDelaysMs ?? DEFAULT_LOOKUP_DELAYS_MS
  }

  async start(ctx: TrainingContext): Promise<RemoteRun> {
    const inputs = this.inputs(ctx)
    const ref = this.spec.ref ?? (this.sameRepo ? ctx.ref : undefined)
    if (!ref) {
      throw new TrainingError(
        `train.ref is required for workflow ${this.spec.workflow} of ${this.repoName()}: the commit being trained belongs to another repository`
      )
    }
    const correlationId = ctx.idempotencyKey

    // A re-run of our own workflow must attach to the run an earlier attempt dispatched.
    const existing = await this.findRun(correlationId, undefined, ctx, true)
    if (existing) {
      ctx.log.info(
        `Workflow run ${existing.html_url} was already dispatched for this commit: attaching to it`
      )
      return this.remoteRun(existing, true)
    }

    for (let attempt = 1; ; attempt++) {
      const dispatchedAt = Date.now()
      let answer: { status: number; data: unknown }
      try {
        // Octokit must not resend it blindly: a dispatch whose answer was lost (a 500, a reset)
        // may still have started a run, which is looked for below before dispatching again.
        answer = await this.call(
          'POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches',
          { workflow_id: this.spec.workflow, ref, inputs, return_run_details: true },
          ctx,
          false
        )
      } catch (e) {
        if (!isTransient(e)) {
          throw this.explain(
            e,
            `Could not dispatch workflow ${this.spec.workflow}`,
            undefined,
            true
          )
        }
        // 429 and 503 say the request was refused before anything happened.
        const refused = e instanceof HttpError && (e.status === 429 || e.status === 503)
        const found = refused ? undefined : await this.lookUp(correlationId, dispatchedAt, ctx)
        if (found) return this.remoteRun(found, false)
        if (attempt >= DISPATCH_ATTEMPTS) throw e
        ctx.log.warning(
          `Dispatch of workflow ${this.spec.workflow} failed, trying again: ${errorMessage(e)}`
        )
        await this.clock.sleep(retryAfter(e) ?? this.lookupDelaysMs[0] ?? 0, ctx.signal)
        continue
      }

      const details = answer.data as { workflow_run_id?: number; html_url?: string } | undefined
      if (answer.status === 200 && typeof details?.workflow_run_id === 'number') {
        const run: RemoteRun = {
          backend: this.name,
          id: String(details.workflow_run_id),
          url: details.html_url,
          attached: false,
          data: this.runData()
        }
        ctx.log.info(`Dispatched workflow ${this.spec.workflow}: ${run.url ?? run.id}`)
        return run
      }
      // GitHub Enterprise Server answers 204 without the run: find it by its run-name.
      const found = await this.lookUp(correlationId, dispatchedAt, ctx)
      if (found) {
        ctx.log.info(`Dispatched workflow ${this.spec.workflow}: ${found.html_url}`)
        return this.remoteRun(found, false)
      }
      throw new TrainingError(
        `Dispatched workflow ${this.spec.workflow} of ${this.repoName()} but found no run named after correlation id ${correlationId}: the workflow needs \`run-name: ml-promote \${{ inputs.correlation_id }}\` (see docs/called-workflow.md)`
      )
    }
  }

  async status(run: RemoteRun, ctx: TrainingContext): Promise<RunStatus> {
    try {
      // No retry here: the wait loop retries transient failures and honours Retry-After itself.
      const { data } = await this.call(
        'GET /repos/{owner}/{repo}/actions/runs/{run_id}',
        { run_id: Number(run.id) },
        ctx,
        false,
        this.runTarget(run)
      )
      return mapStatus(data as WorkflowRun)
    } catch (e) {
      throw this.explain(e, `Could not read workflow run ${run.id}`, run)
    }
  }

  async cancel(run: RemoteRun, ctx: TrainingContext): Promise<void> {
    try {
      await this.call(
        'POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel',
        { run_id: Number(run.id) },
        ctx,
        true,
        this.runTarget(run)
      )
      ctx.log.info(`Asked GitHub to cancel workflow run ${run.url ?? run.id}`)
    } catch (e) {
      // 409: the run has already completed, which is what cancelling wanted.
      if (e instanceof HttpError && e.status === 409) return
      throw this.explain(e, `Could not cancel workflow run ${run.id}`, run)
    }
  }

  async metrics(run: RemoteRun, ctx: TrainingContext): Promise<Metrics> {
    const target = this.runTarget(run)
    const { artifact: artifactName, metrics: file } = this.spec
    let listed: { artifacts: { id: number; name: string; expired?: boolean }[] }
    try {
      const { data } = await this.read(
        'GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts',
        { run_id: Number(run.id), name: artifactName, per_page: 100 },
        ctx,
        target
      )
      listed = data as typeof listed
    } catch (e) {
      throw this.explain(e, `Could not list the artifacts of workflow run ${run.id}`, run)
    }
    const artifact = listed.artifacts.find((a) => a.name === artifactName)
    if (!artifact) {
      throw new TrainingError(
        `Workflow run ${run.url ?? run.id} uploaded no artifact "${artifactName}": upload ${file} with actions/upload-artifact (see docs/called-workflow.md)`,
        run
      )
    }
    if (artifact.expired) {
      throw new TrainingError(
        `Artifact "${artifactName}" of workflow run ${run.url ?? run.id} has expired`,
        run
      )
    }

    let zip: ArrayBuffer
    try {
      // GitHub answers 302 to a short-lived storage URL; fetch follows it.
      const { data } = await this.read(
        'GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}',
        { artifact_id: artifact.id, archive_format: 'zip' },
        ctx,
        target
      )
      zip = data as ArrayBuffer
    } catch (e) {
      throw this.explain(
        e,
        `Could not download artifact "${artifactName}" of workflow run ${run.id}`,
        run
      )
    }

    let files: Record<string, Uint8Array>
    try {
      files = unzipSync(new Uint8Array(zip))
    } catch (e) {
      throw new TrainingError(
        `Artifact "${artifactName}" of workflow run ${run.id} is not a readable zip`,
        run,
        errorMessage(e)
      )
    }
    const wanted = file.replace(/^\.?\/+/, '')
    const content = files[wanted]
    const where = `${wanted} in artifact "${artifactName}" of workflow run ${run.url ?? run.id}`
    if (!content) {
      const names = Object.keys(files).filter((n) => !n.endsWith('/'))
      throw new TrainingError(
        `No ${where}; the artifact holds ${names.length ? names.map((n) => JSON.stringify(n)).join(', ') : 'no files'}`,
        run
      )
    }
    return parseMetrics(new TextDecoder().decode(content), where, run)
  }

  private inputs(ctx: TrainingContext): Record<string, string> {
    const own: Record<(typeof OWN_INPUTS)[number], string> = {
      environment: ctx.environment,
      model: ctx.model,
      sha: ctx.sha,
      run_id: ctx.runId,
      correlation_id: ctx.idempotencyKey
    }
    // Only an evaluation (promote: model) is told which artifact to score; a workflow that
    // evaluates declares the input, one that trains never receives it.
    const inputs = {
      ...this.spec.inputs,
      ...own,
      ...(ctx.modelUri === undefined ? {} : { model_uri: ctx.modelUri })
    }
    const count = Object.keys(inputs).length
    if (count > MAX_INPUTS) {
      throw new TrainingError(
        `Workflow ${this.spec.workflow} would get ${count} inputs, more than the ${MAX_INPUTS} workflow_dispatch accepts: train.inputs may name at most ${MAX_INPUTS - OWN_INPUTS.length} besides ${OWN_INPUTS.join(', ')}`
      )
    }
    return inputs
  }

  /** Looks for the dispatched run a few times: it takes a moment to show up in the list. */
  private async lookUp(
    correlationId: string,
    dispatchedAt: number,
    ctx: TrainingContext
  ): Promise<WorkflowRun | undefined> {
    const since = dispatchedAt - CLOCK_SKEW_MS
    for (let i = 0; ; i++) {
      try {
        const run = await this.findRun(correlationId, since, ctx)
        if (run) return run
      } catch (e) {
        if (!isTransient(e)) throw e
        ctx.log.debug(`Looking up the dispatched run failed: ${errorMessage(e)}`)
      }
      const delay = this.lookupDelaysMs[i]
      if (delay === undefined) return undefined
      await this.clock.sleep(delay, ctx.signal)
    }
  }

  private async findRun(
    correlationId: string,
    createdSince: number | undefined,
    ctx: TrainingContext,
    persist = false
  ): Promise<WorkflowRun | undefined> {
    let data: { workflow_runs: (WorkflowRun & { created_at?: string })[] }
    try {
      // The created-at bound is applied here rather than with the `created` query parameter, whose
      // range syntax (">=…") GitHub documents in prose but its API description types as a bare
      // date-time.
      const params = { workflow_id: this.spec.workflow, event: 'workflow_dispatch', per_page: 100 }
      const route = 'GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs'
      const answer = persist
        ? await this.read(route, params, ctx)
        : await this.call(route, params, ctx, true)
      data = answer.data as typeof data
    } catch (e) {
      throw this.explain(e, `Could not list the runs of workflow ${this.spec.workflow}`)
    }
    // The run-name carries the correlation id; `display_title` is where GitHub shows it, `name`
    // where older servers do.
    return data.workflow_runs.find(
      (r) =>
        (r.display_title?.includes(correlationId) || r.name?.includes(correlationId)) &&
        (createdSince === undefined || !r.created_at || Date.parse(r.created_at) >= createdSince)
    )
  }

  private remoteRun(run: WorkflowRun, attached: boolean): RemoteRun {
    return {
      backend: this.name,
      id: String(run.id),
      url: run.html_url,
      attached,
      data: this.runData()
    }
  }

  private runData(): RunData {
    return { ...this.target, workflow: this.spec.workflow }
  }

  private runTarget(run: RemoteRun): Target {
    const d = run.data
    if (typeof d?.owner === 'string' && typeof d.repo === 'string')
      return { owner: d.owner, repo: d.repo }
    return this.target
  }

  private repoName(): string {
    return `${this.target.owner}/${this.target.repo}`
  }

  /**
   * One GitHub request, with Octokit's failures turned into HttpError so that the wait loop and
   * the retry decisions here see the same transient/permanent split as for the other backends.
   * `retry: false` switches Octokit's own retries off for requests that must not be resent or
   * whose caller retries itself.
   */
  private async call(
    route: string,
    params: Record<string, unknown>,
    ctx: TrainingContext,
    retry: boolean,
    target: Target = this.target
  ): Promise<{ status: number; data: unknown }> {
    try {
      const answer = await this.deps.octokit.request(route, {
        ...target,
        ...params,
        request: { signal: ctx.signal, ...(retry ? {} : { retries: 0 }) }
      })
      return { status: answer.status, data: answer.data }
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason
      throw toHttpError(e, route)
    }
  }

  /**
   * A read, tried again on transient failures that Octokit does not retry itself (429 without a
   * rate-limit header, or its own retries used up).
   */
  private async read(
    route: string,
    params: Record<string, unknown>,
    ctx: TrainingContext,
    target: Target = this.target
  ): Promise<{ status: number; data: unknown }> {
    for (let i = 0; ; i++) {
      try {
        return await this.call(route, params, ctx, true, target)
      } catch (e) {
        const delay = this.lookupDelaysMs[i]
        if (!isTransient(e) || delay === undefined) throw e
        ctx.log.debug(`${route} failed, trying again: ${errorMessage(e)}`)
        await this.clock.sleep(Math.max(delay, retryAfter(e) ?? 0), ctx.signal)
      }
    }
  }

  private explain(e: unknown, what: string, run?: RemoteRun, dispatch = false): unknown {
    if (!(e instanceof HttpError) || isTransient(e)) return e
    if (e.status === 401) {
      return new TrainingError(
        `${what}: GitHub rejected the token (401); it may have expired`,
        run,
        e.message
      )
    }
    if (e.status === 403) {
      return new TrainingError(
        `${what}: the token may not run workflows in ${this.repoName()} (403); it needs actions: write`,
        run,
        e.message
      )
    }
    if (e.status === 404) {
      return new TrainingError(
        `${what}: ${this.repoName()} has no workflow "${this.spec.workflow}", or the token cannot see it (404)`,
        run,
        e.message
      )
    }
    if (e.status === 422 && dispatch) {
      return new TrainingError(
        `${what}: GitHub rejected the dispatch (422); the workflow must have \`on: workflow_dispatch\` with the inputs ${OWN_INPUTS.join(', ')} (see docs/called-workflow.md) and the ref must be a branch or tag`,
        run,
        e.message
      )
    }
    return new TrainingError(`${what}: ${e.message}`, run, e.message)
  }
}

export function mapStatus(run: WorkflowRun): RunStatus {
  const where = `Workflow run ${run.html_url}`
  if (run.status !== 'completed') {
    return run.status === 'in_progress'
      ? { state: 'running' }
      : { state: 'queued', message: run.status ?? undefined }
  }
  switch (run.conclusion) {
    case 'success':
      return { state: 'succeeded' }
    case 'cancelled':
      return { state: 'cancelled', message: `${where} was cancelled` }
    case 'timed_out':
      return { state: 'timed_out', message: `${where} timed out` }
    default:
      return {
        state: 'failed',
        message: `${where} concluded ${run.conclusion ?? 'without a conclusion'}`
      }
  }
}

function toHttpError(e: unknown, route: string): unknown {
  const status = (e as { status?: unknown })?.status
  if (typeof status !== 'number') return e
  const response = (
    e as { response?: { data?: unknown; headers?: Record<string, string | undefined> } }
  ).response
  const url = (e as { request?: { url?: string } }).request?.url ?? route
  // Octokit reports a failure to get any answer (reset, refused, timed out) as a 500 without a
  // response.
  if (!response) return new HttpError(`${route} failed: ${errorMessage(e)}`, 0, url, undefined)
  const header = response.headers?.['retry-after']
  const retryAfterMs = header && /^\d+$/.test(header.trim()) ? Number(header) * 1000 : undefined
  return new HttpError(
    `${route} returned ${status}: ${errorMessage(e)}`,
    status,
    url,
    response.data,
    retryAfterMs
  )
}

function retryAfter(e: unknown): number | undefined {
  return e instanceof HttpError ? e.retryAfterMs : undefined
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}
