// Training as a Databricks job run (Jobs API 2.2): run-now with an idempotency token, runs/get to
// follow it, runs/get-output on the metrics task for its notebook exit value, runs/cancel to stop.
import type { DatabricksTrainSpec } from '../config/schema.js'
import {
  TrainingError,
  type Backend,
  type Logger,
  type Metrics,
  type RemoteRun,
  type RunStatus,
  type TrainingContext
} from '../types.js'
import { databricksAuth, type DatabricksAuth } from './databricks-auth.js'
import { HttpError, isTransient, requestJson, systemClock, type Clock } from './http.js'
import { parseMetrics } from './metrics.js'

export interface DatabricksDeps {
  env: NodeJS.ProcessEnv
  log: Logger
  clock?: Clock
  /** Per request (default 30000). */
  requestTimeoutMs?: number
  /** Attempts per request for transient failures (default 5). */
  attempts?: number
}

/** Databricks refuses longer idempotency tokens. */
const MAX_IDEMPOTENCY_TOKEN = 64
/** Clock skew allowed between the runner and the workspace when telling an earlier run from ours. */
const SKEW_MS = 60_000

type LifeCycleState =
  | 'QUEUED'
  | 'PENDING'
  | 'RUNNING'
  | 'TERMINATING'
  | 'TERMINATED'
  | 'SKIPPED'
  | 'INTERNAL_ERROR'
  | 'BLOCKED'
  | 'WAITING_FOR_RETRY'

/** The parts of a Run (runs/get) this backend reads. */
export interface DatabricksRun {
  run_id?: number
  job_id?: number
  run_page_url?: string
  start_time?: number
  state?: {
    life_cycle_state?: LifeCycleState | string
    result_state?: string
    state_message?: string
    queue_reason?: string
  }
  status?: {
    state?: string
    termination_details?: { code?: string; type?: string; message?: string }
    queue_details?: { code?: string; message?: string }
  }
  tasks?: {
    task_key: string
    run_id?: number
    state?: DatabricksRun['state']
    status?: DatabricksRun['status']
  }[]
  next_page_token?: string
}

const WAITING_LIFE_CYCLE = new Set(['QUEUED', 'PENDING', 'BLOCKED', 'WAITING_FOR_RETRY'])
const WAITING_V2 = new Set(['QUEUED', 'PENDING', 'BLOCKED', 'WAITING'])
const TERMINAL_LIFE_CYCLE = new Set(['TERMINATED', 'SKIPPED', 'INTERNAL_ERROR'])

export class DatabricksBackend implements Backend {
  readonly name = 'databricks'
  private readonly host: string | undefined
  private readonly clock: Clock
  private auth?: Promise<DatabricksAuth>
  private jobId?: Promise<number>

  constructor(
    private readonly spec: DatabricksTrainSpec,
    private readonly deps: DatabricksDeps
  ) {
    this.clock = deps.clock ?? systemClock
    const host = spec.host ?? deps.env.DATABRICKS_HOST
    this.host = host ? normalizeHost(host) : undefined
  }

  async start(ctx: TrainingContext): Promise<RemoteRun> {
    if (ctx.idempotencyKey.length > MAX_IDEMPOTENCY_TOKEN) {
      throw new Error(
        `the idempotency key is ${ctx.idempotencyKey.length} characters; Databricks accepts at most ${MAX_IDEMPOTENCY_TOKEN}`
      )
    }
    const jobId = await this.resolveJob(ctx.signal)
    const requestedAt = this.clock.now()
    // ML_PROMOTE_* come last: a job parameter in the config cannot disguise the run's context.
    const jobParameters = { ...this.spec.parameters, ...remoteContext(ctx) }
    // The idempotency token makes run-now safe to send again: Databricks launches exactly one run
    // per token and answers a repeat with that run's id, even after a lost response.
    const started = await this.api<{ run_id?: number; number_in_job?: number }>(
      '/api/2.2/jobs/run-now',
      {
        method: 'POST',
        body: {
          job_id: jobId,
          job_parameters: jobParameters,
          idempotency_token: ctx.idempotencyKey
        },
        idempotent: true,
        signal: ctx.signal
      }
    )
    if (typeof started?.run_id !== 'number') {
      throw new Error(`Databricks run-now of job ${jobId} returned no run_id`)
    }
    const info = await this.api<DatabricksRun>('/api/2.2/jobs/runs/get', {
      query: { run_id: started.run_id },
      idempotent: true,
      signal: ctx.signal
    })
    const life = info.state?.life_cycle_state
    const attached =
      (life !== undefined && !WAITING_LIFE_CYCLE.has(life)) ||
      (typeof info.start_time === 'number' &&
        info.start_time > 0 &&
        info.start_time < requestedAt - SKEW_MS)
    return {
      backend: this.name,
      id: String(started.run_id),
      url: info.run_page_url,
      attached,
      data: {
        host: this.host,
        jobId,
        ...(started.number_in_job !== undefined ? { numberInJob: started.number_in_job } : {})
      }
    }
  }

  async status(run: RemoteRun, ctx: TrainingContext): Promise<RunStatus> {
    const where = describeRun(run)
    let info: DatabricksRun
    try {
      info = await this.api<DatabricksRun>('/api/2.2/jobs/runs/get', {
        query: { run_id: run.id },
        idempotent: true,
        signal: ctx.signal
      })
    } catch (e) {
      // The wait engine retries transient failures; anything else is worth the run's address.
      if (isTransient(e) || ctx.signal.aborted) throw e
      throw new TrainingError(`Could not read the state of ${where}: ${errorMessage(e)}`, run)
    }
    const status = mapRunState(info, where)
    if (status.state === 'failed')
      return { state: 'failed', message: await this.withTaskError(status.message, info, ctx) }
    return status
  }

  async cancel(run: RemoteRun, _ctx?: TrainingContext): Promise<void> {
    // Cancelling usually follows an abort, so it must not be tied to the aborted signal.
    try {
      await this.api('/api/2.2/jobs/runs/cancel', {
        method: 'POST',
        body: { run_id: Number(run.id) },
        idempotent: true,
        timeoutMs: 15_000,
        attempts: 3
      })
    } catch (e) {
      // A run that already ended cannot be cancelled, which is what was wanted.
      if (e instanceof HttpError && e.code === 'INVALID_STATE') return
      throw e
    }
  }

  async metrics(run: RemoteRun, ctx: TrainingContext): Promise<Metrics> {
    const where = describeRun(run)
    if (this.spec.metrics_task && this.spec.mlflow_run_task) {
      throw new TrainingError(
        `set either metrics_task or mlflow_run_task for ${where}, not both`,
        run
      )
    }
    try {
      const taskKey = this.spec.mlflow_run_task ?? this.spec.metrics_task
      const task = await this.findTask(run, taskKey, ctx)
      const exit = await this.exitValue(run, task, ctx)
      if (this.spec.mlflow_run_task) return await this.mlflowMetrics(run, task.task_key, exit, ctx)
      return parseMetrics(exit, `the exit value of task "${task.task_key}" of ${where}`, run)
    } catch (e) {
      if (e instanceof TrainingError) throw e
      throw new TrainingError(`Could not read the metrics of ${where}: ${errorMessage(e)}`, run)
    }
  }

  private async findTask(
    run: RemoteRun,
    taskKey: string | undefined,
    ctx: TrainingContext
  ): Promise<{ task_key: string; run_id: number }> {
    const tasks: NonNullable<DatabricksRun['tasks']> = []
    let pageToken: string | undefined
    do {
      const page: DatabricksRun = await this.api<DatabricksRun>('/api/2.2/jobs/runs/get', {
        query: { run_id: run.id, page_token: pageToken },
        idempotent: true,
        signal: ctx.signal
      })
      tasks.push(...(page.tasks ?? []))
      pageToken = page.next_page_token || undefined
    } while (pageToken)

    const keys = tasks.map((t) => t.task_key)
    const task = taskKey
      ? tasks.find((t) => t.task_key === taskKey)
      : tasks.length === 1
        ? tasks[0]
        : undefined
    if (!task) {
      const which = this.spec.mlflow_run_task ? 'mlflow_run_task' : 'metrics_task'
      throw new TrainingError(
        taskKey
          ? `${describeRun(run)} has no task "${taskKey}" (${which}); its tasks are ${keys.join(', ') || 'none'}`
          : `${describeRun(run)} has ${tasks.length} tasks (${keys.join(', ')}): set metrics_task to the task whose notebook exit value is the metrics JSON`,
        run
      )
    }
    if (typeof task.run_id !== 'number')
      throw new TrainingError(`task "${task.task_key}" of ${describeRun(run)} has no run id`, run)
    return { task_key: task.task_key, run_id: task.run_id }
  }

  private async exitValue(
    run: RemoteRun,
    task: { task_key: string; run_id: number },
    ctx: TrainingContext
  ): Promise<string> {
    // get-output takes the task's own run id: a multi-task job run has no single output.
    const out = await this.api<{
      notebook_output?: { result?: string; truncated?: boolean }
      error?: string
    }>('/api/2.2/jobs/runs/get-output', {
      query: { run_id: task.run_id },
      idempotent: true,
      signal: ctx.signal
    })
    const where = `task "${task.task_key}" of ${describeRun(run)}`
    const result = out?.notebook_output?.result
    if (out?.notebook_output?.truncated) {
      throw new TrainingError(
        `the exit value of ${where} was truncated by Databricks (notebook_output.truncated; it returns the first 5 MB): exit with the metrics only, or write them to storage`,
        run
      )
    }
    if (typeof result !== 'string' || result.trim() === '') {
      throw new TrainingError(
        `${where} returned no exit value: end the notebook with dbutils.notebook.exit(json.dumps(metrics))${out?.error ? `; task error: ${out.error}` : ''}`,
        run
      )
    }
    return result
  }

  private async mlflowMetrics(
    run: RemoteRun,
    taskKey: string,
    exit: string,
    ctx: TrainingContext
  ): Promise<Metrics> {
    const mlflowRunId = exit.trim()
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(mlflowRunId)) {
      throw new TrainingError(
        `the exit value of task "${taskKey}" (mlflow_run_task) of ${describeRun(run)} is not an MLflow run id: ${quote(mlflowRunId)}`,
        run
      )
    }
    const res = await this.api<{
      run?: {
        data?: {
          metrics?: { key?: unknown; value?: unknown; timestamp?: unknown; step?: unknown }[]
        }
      }
    }>('/api/2.0/mlflow/runs/get', {
      query: { run_id: mlflowRunId },
      idempotent: true,
      signal: ctx.signal
    })
    const latest = new Map<string, { value: number; step: number; timestamp: number }>()
    for (const m of res?.run?.data?.metrics ?? []) {
      if (typeof m.key !== 'string') continue
      // MLflow's JSON writes NaN and ±Infinity as strings; they stay non-finite and fail the gate.
      const value = typeof m.value === 'number' ? m.value : Number(m.value)
      const step = typeof m.step === 'number' ? m.step : Number(m.step ?? 0)
      const timestamp = typeof m.timestamp === 'number' ? m.timestamp : Number(m.timestamp ?? 0)
      const seen = latest.get(m.key)
      if (!seen || step > seen.step || (step === seen.step && timestamp >= seen.timestamp)) {
        latest.set(m.key, { value, step, timestamp })
      }
    }
    if (latest.size === 0) {
      throw new TrainingError(
        `MLflow run ${mlflowRunId} (from task "${taskKey}" of ${describeRun(run)}) has no metrics`,
        run
      )
    }
    return Object.fromEntries([...latest].map(([k, v]) => [k, v.value]))
  }

  /** For a failed run, the first failed task's error tells more than the run's state message. */
  private async withTaskError(
    message: string,
    info: DatabricksRun,
    ctx: TrainingContext
  ): Promise<string> {
    const failed = info.tasks?.find(
      (t) => t.state?.result_state === 'FAILED' && typeof t.run_id === 'number'
    )
    if (!failed) return message
    try {
      const out = await this.api<{ error?: string; error_trace?: string }>(
        '/api/2.2/jobs/runs/get-output',
        {
          query: { run_id: failed.run_id },
          idempotent: true,
          signal: ctx.signal
        }
      )
      if (!out?.error) return message
      const trace = out.error_trace ? `\n${out.error_trace.split('\n').slice(-20).join('\n')}` : ''
      return `${message}\ntask "${failed.task_key}": ${out.error}${trace}`
    } catch {
      return message
    }
  }

  private resolveJob(signal: AbortSignal): Promise<number> {
    const job = this.spec.job
    if (typeof job === 'number') return Promise.resolve(job)
    this.jobId ??= this.findJobByName(job, signal)
    // A failed lookup is not cached: the next start may succeed.
    this.jobId.catch(() => (this.jobId = undefined))
    return this.jobId
  }

  private async findJobByName(name: string, signal: AbortSignal): Promise<number> {
    const found: { id: number; name: string }[] = []
    let pageToken: string | undefined
    do {
      const page: {
        jobs?: { job_id?: number; settings?: { name?: string } }[]
        next_page_token?: string
      } = await this.api('/api/2.2/jobs/list', {
        query: { name, page_token: pageToken },
        idempotent: true,
        signal
      })
      for (const j of page.jobs ?? []) {
        if (typeof j.job_id === 'number') found.push({ id: j.job_id, name: j.settings?.name ?? '' })
      }
      pageToken = page.next_page_token || undefined
    } while (pageToken)
    // The name filter ignores case; an exact match wins over jobs that differ only in case.
    const exact = found.filter((j) => j.name === name)
    const matches = exact.length > 0 ? exact : found
    if (matches.length === 1) return (matches[0] as { id: number }).id
    if (matches.length === 0) {
      throw new Error(
        `no Databricks job is named "${name}" in ${this.requireHost()} (or the credentials cannot see it)`
      )
    }
    throw new Error(
      `${matches.length} Databricks jobs are named "${name}" (ids ${matches.map((j) => j.id).join(', ')}): set job to the numeric id of the one to run`
    )
  }

  private requireHost(): string {
    if (!this.host) {
      throw new Error(
        'no Databricks workspace: set `host` in the databricks train settings or the DATABRICKS_HOST environment variable'
      )
    }
    return this.host
  }

  /** One API call; a 401 (an access token that expired) gets one retry with fresh credentials. */
  private async api<T>(
    path: string,
    opts: {
      method?: string
      query?: Record<string, string | number | undefined>
      body?: unknown
      idempotent: boolean
      signal?: AbortSignal
      timeoutMs?: number
      attempts?: number
    }
  ): Promise<T> {
    const host = this.requireHost()
    this.auth ??= databricksAuth(host, this.deps.env, this.deps.log, {
      clock: this.clock,
      timeoutMs: this.deps.requestTimeoutMs
    })
    this.auth.catch(() => (this.auth = undefined))
    const auth = await this.auth
    for (let attempt = 1; ; attempt++) {
      try {
        return await requestJson<T>(`${host}${path}`, {
          method: opts.method,
          query: opts.query,
          body: opts.body,
          headers: await auth.headers(),
          signal: opts.signal,
          timeoutMs: opts.timeoutMs ?? this.deps.requestTimeoutMs,
          retry: {
            idempotent: opts.idempotent,
            attempts: opts.attempts ?? this.deps.attempts,
            clock: this.clock
          }
        })
      } catch (e) {
        if (attempt === 1 && e instanceof HttpError && e.status === 401) {
          this.deps.log.debug(`Databricks answered 401 to ${e.url}; renewing credentials`)
          auth.invalidate()
          continue
        }
        throw e
      }
    }
  }
}

/** The context a run is told about, as job parameters (the output directory is local and not sent). */
function remoteContext(ctx: TrainingContext): Record<string, string> {
  return {
    ML_PROMOTE_ENVIRONMENT: ctx.environment,
    ML_PROMOTE_MODEL: ctx.model,
    ML_PROMOTE_SHA: ctx.sha,
    ML_PROMOTE_REF: ctx.ref,
    ML_PROMOTE_RUN_ID: ctx.runId,
    // Only an evaluation (promote: model) is told which artifact to score.
    ...(ctx.modelUri === undefined ? {} : { ML_PROMOTE_MODEL_URI: ctx.modelUri })
  }
}

/**
 * The run's state in ml-promote's terms. The legacy `state` is always present and says how a run
 * ended (result_state); the newer `status` explains why (termination_details), and decides alone
 * when `state` is missing.
 */
export function mapRunState(info: DatabricksRun, where: string): RunStatus {
  const life = info.state?.life_cycle_state
  const result = info.state?.result_state
  const v2 = info.status?.state
  const term = info.status?.termination_details
  const said = [info.state?.state_message, term?.message]
    .find((m) => typeof m === 'string' && m.trim() !== '')
    ?.trim()
  const terminal = life !== undefined ? TERMINAL_LIFE_CYCLE.has(life) : v2 === 'TERMINATED'
  if (!terminal) {
    const waiting =
      life !== undefined ? WAITING_LIFE_CYCLE.has(life) : v2 !== undefined && WAITING_V2.has(v2)
    const why = said ?? info.status?.queue_details?.message ?? info.state?.queue_reason
    return { state: waiting ? 'queued' : 'running', ...(why ? { message: why } : {}) }
  }
  const code = term?.code
  const detail = (text: string): string =>
    `${where} ${text}${code && !text.includes(code) ? ` [${code}]` : ''}${said ? `: ${said}` : ''}`
  const outcome = result ?? codeToResult(code) ?? (life === 'SKIPPED' ? 'SKIPPED' : 'FAILED')
  switch (outcome) {
    case 'SUCCESS':
      return { state: 'succeeded' }
    case 'SUCCESS_WITH_FAILURES':
      // Databricks counts it a success: the leaf tasks, which produce the metrics, succeeded.
      return { state: 'succeeded', message: detail('succeeded although some tasks failed') }
    case 'TIMEDOUT':
      return { state: 'timed_out', message: detail("timed out (the job's timeout passed)") }
    case 'CANCELED':
    case 'USER_CANCELED':
      return { state: 'cancelled', message: detail('was cancelled') }
    case 'SKIPPED':
    case 'MAXIMUM_CONCURRENT_RUNS_REACHED':
    case 'EXCLUDED':
    case 'DISABLED':
    case 'UPSTREAM_CANCELED':
      return { state: 'failed', message: detail(`was skipped (${outcome})`) }
    default:
      return {
        state: 'failed',
        message: detail(
          life === 'INTERNAL_ERROR'
            ? 'failed with a Databricks internal error'
            : `failed (${outcome})`
        )
      }
  }
}

function codeToResult(code: string | undefined): string | undefined {
  switch (code) {
    case undefined:
      return undefined
    case 'SUCCESS':
    case 'SUCCESS_WITH_FAILURES':
    case 'USER_CANCELED':
    case 'CANCELED':
    case 'SKIPPED':
    case 'DISABLED':
      return code
    default:
      return 'FAILED'
  }
}

function describeRun(run: RemoteRun): string {
  return run.url ? `Databricks run ${run.url}` : `Databricks run ${run.id}`
}

function normalizeHost(host: string): string {
  const withScheme = /^https?:\/\//i.test(host) ? host : `https://${host}`
  return withScheme.replace(/\/+$/, '')
}

function quote(text: string): string {
  const t = text.length > 200 ? `${text.slice(0, 200)}…` : text
  return JSON.stringify(t)
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}
