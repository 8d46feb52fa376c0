// The `airflow` backend: triggers a DAG run through Airflow's REST API (v1 = Airflow 2, v2 =
// Airflow 3) and reads the metrics back from an XCom of one task.
import type { AirflowTrainSpec } from '../config/schema.js'
import {
  TrainingError,
  trainingEnv,
  type Backend,
  type Logger,
  type Metrics,
  type RemoteRun,
  type RunStatus,
  type TrainingContext
} from '../types.js'
import { HttpError, requestJson, systemClock, type Clock, type RequestOptions } from './http.js'
import { parseMetrics } from './metrics.js'

export interface AirflowBackendDeps {
  env: NodeJS.ProcessEnv
  log: Logger
  /** Clock of the retry backoff (tests use a virtual one). */
  clock?: Clock
  /** Per-request timeout in ms (default 30 s). */
  timeoutMs?: number
}

/** The part of a DAG run (both API versions) this backend reads. */
interface DagRun {
  dag_run_id: string
  state: string
  note?: string | null
}

interface XComEntry {
  value: unknown
}

/** Prefix of every dag_run_id we create, so people can tell our runs from scheduled ones. */
const RUN_ID_PREFIX = 'ml-promote__'

export class AirflowBackend implements Backend {
  readonly name = 'airflow'
  private readonly base: string
  private readonly api: string
  private readonly clock: Clock
  private readonly timeoutMs: number | undefined
  /** A JWT we fetched ourselves (v2), as opposed to one given in AIRFLOW_TOKEN. */
  private jwt: Promise<string> | undefined

  constructor(
    private readonly spec: AirflowTrainSpec,
    private readonly deps: AirflowBackendDeps
  ) {
    this.base = spec.url.replace(/\/+$/, '')
    this.api = `${this.base}/api/v${spec.api_version}`
    this.clock = deps.clock ?? systemClock
    this.timeoutMs = deps.timeoutMs
    for (const key of ['AIRFLOW_TOKEN', 'AIRFLOW_PASSWORD'] as const) {
      const value = deps.env[key]
      if (value) deps.log.secret(value)
    }
  }

  async start(ctx: TrainingContext): Promise<RemoteRun> {
    const runId = `${RUN_ID_PREFIX}${ctx.idempotencyKey}`
    const body: Record<string, unknown> = { dag_run_id: runId, conf: trainingEnv(ctx) }
    // Airflow 3 requires the field and accepts null: a run with no logical date, which also
    // cannot collide with another run's logical date. Airflow 2 defaults it to "now".
    if (this.spec.api_version === 2) body.logical_date = null
    try {
      // The deterministic dag_run_id makes the trigger safe to resend: a second one gets 409.
      const run = await this.call<DagRun>(this.dagRunsPath(), {
        method: 'POST',
        body,
        signal: ctx.signal,
        retry: { idempotent: true }
      })
      ctx.log.info(`Triggered Airflow DAG ${this.spec.dag}: run ${run.dag_run_id}`)
      return this.remoteRun(run.dag_run_id, false)
    } catch (e) {
      if (e instanceof HttpError && e.status === 409) {
        const run = await this.getRun(runId, ctx, true)
        ctx.log.info(`Airflow DAG run ${runId} already exists (${run.state}): attaching to it`)
        return this.remoteRun(runId, true)
      }
      throw this.explain(e, `Could not trigger Airflow DAG ${this.spec.dag}`)
    }
  }

  async status(run: RemoteRun, ctx: TrainingContext): Promise<RunStatus> {
    let dagRun: DagRun
    try {
      // No retry here: the wait loop retries transient failures and honours Retry-After itself.
      dagRun = await this.getRun(run.id, ctx, false)
    } catch (e) {
      throw this.explain(e, `Could not read Airflow DAG run ${run.id}`, run)
    }
    switch (dagRun.state) {
      case 'queued':
        return { state: 'queued' }
      case 'running':
        return { state: 'running' }
      case 'success':
        return { state: 'succeeded' }
      case 'failed':
        return {
          state: 'failed',
          message: `Airflow DAG run ${run.id} of ${this.spec.dag} failed${dagRun.note ? `: ${dagRun.note}` : ''}`
        }
      default:
        throw new TrainingError(
          `Airflow DAG run ${run.id} has an unknown state "${dagRun.state}"`,
          run
        )
    }
  }

  async cancel(run: RemoteRun, ctx: TrainingContext): Promise<void> {
    // Airflow has no cancel for a DAG run: marking it failed is what the UI's "Mark failed" does;
    // it stops scheduling new tasks and fails the running ones. A finished run is left as it is so
    // that a success is never overwritten.
    try {
      const dagRun = await this.getRun(run.id, ctx, true)
      if (dagRun.state !== 'queued' && dagRun.state !== 'running') return
      await this.call(this.dagRunPath(run.id), {
        method: 'PATCH',
        body: { state: 'failed' },
        signal: ctx.signal,
        retry: { idempotent: true }
      })
      ctx.log.info(`Marked Airflow DAG run ${run.id} as failed (Airflow cannot cancel a run)`)
    } catch (e) {
      if (e instanceof HttpError && e.status === 404) return
      throw this.explain(e, `Could not stop Airflow DAG run ${run.id}`)
    }
  }

  async metrics(run: RemoteRun, ctx: TrainingContext): Promise<Metrics> {
    const { metrics_task: task, metrics_key: key } = this.spec
    const where = `XCom "${key}" of task "${task}" in Airflow DAG run ${run.id}`
    let entry: XComEntry
    try {
      entry = await this.call<XComEntry>(
        `${this.dagRunPath(run.id)}/taskInstances/${enc(task)}/xcomEntries/${enc(key)}`,
        {
          // Airflow 2.10+ returns the stored JSON as is with stringify=false (earlier 2.x ignore the
          // parameter and send str(value)); Airflow 3 returns it as is by default.
          query: this.spec.api_version === 1 ? { stringify: false } : undefined,
          signal: ctx.signal,
          retry: { idempotent: true }
        }
      )
    } catch (e) {
      if (e instanceof HttpError && e.status === 404) {
        throw new TrainingError(
          `No ${where}: the task must push the metrics JSON under that key (a task's return value is pushed as "return_value")`,
          run,
          e.message
        )
      }
      throw this.explain(e, `Could not read ${where}`, run)
    }
    return parseMetrics(entry.value, where, run)
  }

  private remoteRun(id: string, attached: boolean): RemoteRun {
    const url =
      this.spec.api_version === 1
        ? `${this.base}/dags/${enc(this.spec.dag)}/grid?dag_run_id=${encodeURIComponent(id)}`
        : `${this.base}/dags/${enc(this.spec.dag)}/runs/${enc(id)}`
    return { backend: this.name, id, url, attached, data: { dag: this.spec.dag } }
  }

  private getRun(id: string, ctx: TrainingContext, retry: boolean): Promise<DagRun> {
    return this.call<DagRun>(this.dagRunPath(id), {
      signal: ctx.signal,
      retry: retry ? { idempotent: true } : undefined
    })
  }

  private dagRunsPath(): string {
    return `/dags/${enc(this.spec.dag)}/dagRuns`
  }

  private dagRunPath(id: string): string {
    return `${this.dagRunsPath()}/${enc(id)}`
  }

  /** One API call with credentials; a fetched JWT that expired is fetched again once. */
  private async call<T>(path: string, opts: RequestOptions): Promise<T> {
    const send = async (): Promise<T> =>
      requestJson<T>(`${this.api}${path}`, {
        ...opts,
        timeoutMs: this.timeoutMs,
        headers: { ...opts.headers, ...(await this.authHeader(opts.signal)) },
        retry: opts.retry && { ...opts.retry, clock: this.clock }
      })
    try {
      return await send()
    } catch (e) {
      if (!(e instanceof HttpError) || e.status !== 401 || !this.usesFetchedJwt()) throw e
      this.deps.log.debug('Airflow rejected the access token; fetching a new one')
      this.jwt = undefined
      return send()
    }
  }

  private usesFetchedJwt(): boolean {
    return (
      this.spec.api_version === 2 &&
      !this.deps.env.AIRFLOW_TOKEN &&
      !!this.deps.env.AIRFLOW_USERNAME
    )
  }

  private async authHeader(signal?: AbortSignal): Promise<Record<string, string>> {
    const {
      AIRFLOW_TOKEN: token,
      AIRFLOW_USERNAME: user,
      AIRFLOW_PASSWORD: password
    } = this.deps.env
    if (token) return { authorization: `Bearer ${token}` }
    if (!user) return {}
    if (this.spec.api_version === 1) {
      const basic = Buffer.from(`${user}:${password ?? ''}`).toString('base64')
      this.deps.log.secret(basic)
      return { authorization: `Basic ${basic}` }
    }
    this.jwt ??= this.fetchJwt(user, password ?? '', signal)
    try {
      return { authorization: `Bearer ${await this.jwt}` }
    } catch (e) {
      this.jwt = undefined
      throw e
    }
  }

  private async fetchJwt(
    username: string,
    password: string,
    signal?: AbortSignal
  ): Promise<string> {
    let answer: { access_token?: unknown }
    try {
      answer = await requestJson<{ access_token?: unknown }>(`${this.base}/auth/token`, {
        method: 'POST',
        body: { username, password },
        signal,
        timeoutMs: this.timeoutMs,
        retry: { idempotent: true, clock: this.clock }
      })
    } catch (e) {
      if (e instanceof HttpError && (e.status === 401 || e.status === 403)) {
        throw new TrainingError(
          `Airflow at ${this.base} refused AIRFLOW_USERNAME/AIRFLOW_PASSWORD (${e.status} from /auth/token)`,
          undefined,
          e.message
        )
      }
      throw e
    }
    if (typeof answer?.access_token !== 'string' || answer.access_token === '') {
      throw new TrainingError(
        `Airflow at ${this.base} answered /auth/token without an access_token`
      )
    }
    this.deps.log.secret(answer.access_token)
    return answer.access_token
  }

  /** Turns errors a user can act on into TrainingErrors; transient ones pass through unchanged. */
  private explain(e: unknown, what: string, run?: RemoteRun): unknown {
    if (!(e instanceof HttpError)) return e
    if (e.status === 401 || e.status === 403) {
      const hint = this.deps.env.AIRFLOW_TOKEN
        ? 'check AIRFLOW_TOKEN'
        : this.deps.env.AIRFLOW_USERNAME
          ? 'check AIRFLOW_USERNAME/AIRFLOW_PASSWORD and the user’s permissions on the DAG'
          : 'set AIRFLOW_USERNAME/AIRFLOW_PASSWORD or AIRFLOW_TOKEN'
      return new TrainingError(`${what}: Airflow answered ${e.status}; ${hint}`, run, e.message)
    }
    if (e.status === 404) {
      return new TrainingError(
        `${what}: Airflow at ${this.base} has no DAG "${this.spec.dag}" (or the run is gone)`,
        run,
        e.message
      )
    }
    if (e.status === 400 || e.status === 422) {
      return new TrainingError(`${what}: Airflow rejected the request`, run, e.message)
    }
    return e
  }
}

function enc(segment: string): string {
  return encodeURIComponent(segment)
}
