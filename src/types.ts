// Domain types shared by the engine, the adapters, the backends and the champion stores.
// Config types are inferred from the schema in config/schema.ts (the single source).
import type { Config, MetricRule, ModelConfig, TrainSpec } from './config/schema.js'

export type { Config, MetricRule, ModelConfig, TrainSpec }

/** A flat set of evaluation metrics, as written by training. */
export type Metrics = Record<string, number>

export type EventName = 'pull_request' | 'push' | 'schedule' | 'workflow_dispatch'

export type Mode = 'auto' | 'gate' | 'retrain' | 'validate' | 'plan' | 'reconcile' | 'rollback'

/** Where a message or problem points in a file (1-based line and column). */
export interface SourcePosition {
  file: string
  line: number
  col: number
  endLine?: number
  endCol?: number
}

export interface ConfigProblem extends SourcePosition {
  message: string
}

/** Logging seam: the action maps it onto @actions/core, the CLI onto the terminal. */
export interface Logger {
  info(message: string): void
  /** Something a person should know, e.g. a config change that applies only after merge. */
  notice(message: string, at?: SourcePosition): void
  warning(message: string, at?: SourcePosition): void
  error(message: string, at?: SourcePosition): void
  debug(message: string): void
  /** Fold the output of `fn` into a named section. */
  group<T>(name: string, fn: () => Promise<T>): Promise<T>
  /** Mask a secret in every later line of output. */
  secret(value: string): void
}

/** What a training run is told about itself; every field reaches training as an env var / job parameter. */
export interface TrainingContext {
  /** owner/name of the repository whose code is trained. */
  repo: string
  sha: string
  ref: string
  environment: string
  model: string
  /** ml-promote's own id for this training: stable across re-runs of the same workflow run. */
  runId: string
  /** Deterministic key of (repo, sha, model, environment), ≤64 chars: re-runs never train twice. */
  idempotencyKey: string
  /** Directory where training writes its outputs (absolute). */
  outputDir: string
  /**
   * `promote: model`: the artifact this run evaluates (it trains nothing); reaches the job as
   * ML_PROMOTE_MODEL_URI.
   */
  modelUri?: string
  /** Working directory of the checked-out repository (absolute). */
  workspace: string
  /** Aborted on workflow cancellation (SIGINT/SIGTERM) or when the timeout passes. */
  signal: AbortSignal
  /** Wall-clock deadline (epoch ms) for the whole training, including waiting. */
  deadline: number
  log: Logger
}

/** The environment variables every backend hands to training (DESIGN: never interpolated into commands). */
export function trainingEnv(ctx: TrainingContext): Record<string, string> {
  return {
    ML_PROMOTE_ENVIRONMENT: ctx.environment,
    ML_PROMOTE_MODEL: ctx.model,
    ML_PROMOTE_SHA: ctx.sha,
    ML_PROMOTE_REF: ctx.ref,
    ML_PROMOTE_RUN_ID: ctx.runId,
    ML_PROMOTE_OUTPUT_DIR: ctx.outputDir,
    ...(ctx.modelUri === undefined ? {} : { ML_PROMOTE_MODEL_URI: ctx.modelUri })
  }
}

/**
 * Where a candidate or champion comes from, beyond its metrics: kept in every record (promotion,
 * rejection, rollback) by every champion store, and shown by `ml-promote champions` and the reports.
 */
export interface Lineage {
  /** Where the trained artifact is (`model_uri` reported beside the metrics). */
  modelUri?: string
  /** The data version training or evaluation reported (`data_version` beside the metrics). */
  dataVersion?: string
  /**
   * `promote: model`: the environment, commit and run that trained the artifact, when this record
   * evaluated an artifact trained elsewhere (absent: trained by this record's own run).
   */
  trainedIn?: string
  trainedSha?: string
  trainingRunUrl?: string
  /** Who or what started it, e.g. `push by octocat`, `schedule`, `pull request #12 by hubot`. */
  trigger?: string
  /** The rules it was judged by. */
  gateRules?: Record<string, MetricRule>
  /** A rollback: why, and the commit of the champion it replaced. */
  rollback?: { reason: string; replacedSha?: string }
  /** The person who approved the job in a GitHub environment with required reviewers. */
  approvedBy?: string
}

/** The lineage fields of a record, without its other fields. */
export function lineageOf(x: Lineage): Lineage {
  const out: Lineage = {}
  for (const key of LINEAGE_KEYS) {
    if (x[key] !== undefined) (out as Record<string, unknown>)[key] = x[key]
  }
  return out
}

export const LINEAGE_KEYS = [
  'modelUri',
  'dataVersion',
  'trainedIn',
  'trainedSha',
  'trainingRunUrl',
  'trigger',
  'gateRules',
  'rollback',
  'approvedBy'
] as const satisfies ReadonlyArray<keyof Lineage>

/** A training run as the backend knows it. */
export interface RemoteRun {
  backend: string
  /** The backend's own id (Databricks run_id, Actions run id, dag_run_id, pid…). */
  id: string
  /** Where a person can watch the run. */
  url?: string
  /** True when start() found the run already started by an earlier attempt (idempotency). */
  attached?: boolean
  /** Backend-specific data needed by status/metrics/cancel (kept JSON-serialisable for the post step). */
  data?: Record<string, unknown>
}

export type RunStatus =
  | { state: 'queued' | 'running'; message?: string }
  | { state: 'succeeded'; message?: string }
  | { state: 'failed' | 'cancelled' | 'timed_out'; message: string }

/** A place where training runs. One implementation per file in src/backends/. */
export interface Backend {
  readonly name: string
  /** Start (or attach to the already started) training for ctx. Must be idempotent on ctx.idempotencyKey. */
  start(ctx: TrainingContext): Promise<RemoteRun>
  /** One look at the run's state. Transient errors may throw; the wait engine retries them. */
  status(run: RemoteRun, ctx: TrainingContext): Promise<RunStatus>
  /** Ask the backend to stop the run. Best effort, must not throw for an already finished run. */
  cancel(run: RemoteRun, ctx: TrainingContext): Promise<void>
  /** The metrics of a succeeded run. Throws a TrainingError when they are missing or malformed. */
  metrics(run: RemoteRun, ctx: TrainingContext): Promise<Metrics>
}

/** A training failure the user can act on; carries the remote run's URL where there is one. */
export class TrainingError extends Error {
  constructor(
    message: string,
    readonly run?: RemoteRun,
    readonly detail?: string
  ) {
    super(message)
    this.name = 'TrainingError'
  }
}

/** The model currently serving an environment. */
export interface Champion extends Lineage {
  model: string
  environment: string
  metrics: Metrics
  sha: string
  ref?: string
  runId: string
  runUrl?: string
  /** ISO timestamp. */
  promotedAt: string
  /** Store-specific identifier (deployment id, model version…). */
  ref_id?: string
}

/** A trained, evaluated model that may become the champion. */
export interface Candidate extends Lineage {
  model: string
  environment: string
  metrics: Metrics
  sha: string
  ref: string
  runId: string
  runUrl?: string
  /** The pending training this candidate concludes (`wait: false`): a repair never records it twice. */
  pendingId?: string
}

/** The champion a promoted candidate becomes. */
export function championFrom(candidate: Candidate, promotedAt: string): Champion {
  return {
    model: candidate.model,
    environment: candidate.environment,
    metrics: { ...candidate.metrics },
    sha: candidate.sha,
    ref: candidate.ref,
    runId: candidate.runId,
    ...(candidate.runUrl === undefined ? {} : { runUrl: candidate.runUrl }),
    ...lineageOf(candidate),
    promotedAt
  }
}

export interface Promotion {
  candidate: Candidate
  gate: GateResult
  /** ISO timestamp. */
  at: string
  /** `rolled_back`: an earlier champion restored by `rollback` (its candidate is that champion). */
  outcome: 'promoted' | 'rejected' | 'rolled_back'
}

/** What `rollback` is asked to do. */
export interface RollbackRequest {
  model: string
  environment: string
  /** The commit of the champion to restore (default: the one before the current champion). */
  toSha?: string
  reason: string
  /** Who or what asked for it (`rollback by octocat`, `cli`). */
  trigger: string
}

/**
 * A training started with `wait: false`: the step returned while it runs, and a later run in
 * `reconcile` mode polls it once, concludes it with the gate recorded here, and reports.
 */
export interface PendingTraining {
  /** The store's id for the record. */
  id: string
  model: string
  environment: string
  action: 'gate' | 'retrain'
  sha: string
  ref: string
  /** Workflow run that started it (part of its idempotency key). */
  runId: string
  run: RemoteRun
  /** The gate fixed when training started (for pull requests: the base branch's). */
  gate: Record<string, MetricRule>
  /** The pull request whose sticky comment reports it. */
  pullNumber?: number
  /** ISO timestamp. */
  startedAt: string
  /** Epoch ms after which reconcile cancels it. */
  deadline: number
  /**
   * Lineage fixed when it started: the trigger, and for `promote: model` evaluations the artifact
   * evaluated (modelUri, trainedIn, trainedSha, trainingRunUrl).
   */
  lineage?: Lineage
}

/**
 * How long a reconcile's claim on a pending training holds. A reconcile killed mid-way leaves its
 * claim behind; the first reconcile after this long repairs what it left half done.
 */
export const CLAIM_TTL_MS = 10 * 60_000

/** Where champions and the promotion history live. One implementation per file in src/champions/. */
export interface ChampionStore {
  readonly name: string
  /** Record a training started without waiting (stores that cannot hold them omit these four). */
  addPending?(p: Omit<PendingTraining, 'id'>): Promise<PendingTraining>
  /**
   * Every unconcluded training of every model, oldest first. Kept apart from the history, so it
   * costs one or two reads whatever the number of models and the length of the history.
   */
  pending?(): Promise<PendingTraining[]>
  /**
   * Claims the concluding of `p` for this process. False when another reconcile holds a claim
   * younger than CLAIM_TTL_MS, or the training is no longer pending.
   */
  claimPending?(p: PendingTraining): Promise<boolean>
  /** The training is concluded (its outcome is recorded by promote/reject or the check run). */
  resolvePending?(p: PendingTraining): Promise<void>
  champion(model: string, environment: string): Promise<Champion | undefined>
  /** Record a passing candidate as the environment's champion. */
  promote(candidate: Candidate, gate: GateResult): Promise<Champion>
  /** Record a failed candidate; the champion stays. */
  reject(candidate: Candidate, gate: GateResult): Promise<void>
  /** Newest first. */
  history(model: string, environment: string): Promise<Promotion[]>
  /**
   * Restores an earlier champion (`toSha`, else the one before the current): recorded as a new
   * `rolled_back` entry carrying the restored champion's metrics and lineage, so the next gate
   * compares against it. Throws when there is nothing to restore.
   */
  rollback(request: RollbackRequest): Promise<{ restored: Champion; replaced?: Champion }>
}

export type MetricOutcome = 'pass' | 'fail'

export interface MetricVerdict {
  metric: string
  candidate: number | undefined
  champion: number | undefined
  /** candidate − champion, when both exist. */
  delta: number | undefined
  /** Human-readable rule, e.g. "≥ 0.90, Δ ≥ −0.005". */
  rule: string
  /** The rule's threshold, when it has one (drawn on the trend chart). */
  threshold?: number
  outcome: MetricOutcome
  /** Why it passed or failed, one sentence. */
  reason: string
}

export interface GateResult {
  verdict: MetricOutcome
  hasChampion: boolean
  metrics: MetricVerdict[]
  /** Extra lines for the report, e.g. "No champion yet: thresholds only." */
  notes: string[]
}

export type PlannedAction = 'gate' | 'retrain' | 'skip'

export interface PlannedModel {
  model: string
  environment: string | undefined
  action: PlannedAction
  reason: string
}

export interface PlanInput {
  event: EventName
  /** Branch the event happened on (push/schedule/dispatch) or the PR's base branch's head branch. */
  branch: string
  /** For pull_request: the base branch the PR targets. */
  base?: string
  /** Files changed by the PR / push; undefined = unknown (all models concerned). */
  changedFiles?: string[]
  /** workflow_dispatch / explicit input: environment to act on. */
  environment?: string
  /** Filter by model name (the `models` input). */
  models?: string[]
  /** Explicit mode; `auto` derives it from the event. */
  mode: Mode
}

export interface Plan {
  event: EventName
  mode: Mode
  kind: 'gate' | 'retrain' | 'none'
  environment: string | undefined
  items: PlannedModel[]
  /** Why the plan is what it is (one line for the summary). */
  reason: string
}

export type Verdict = 'pass' | 'fail' | 'skipped' | 'pending'

/** What happened to one model in one run; serialised into the `results` output. */
export interface ModelResult {
  model: string
  environment: string | undefined
  /** `rollback`: an earlier champion restored (`mode: rollback`); `champion` is the restored one. */
  action: PlannedAction | 'rollback'
  verdict: Verdict | 'error'
  reason: string
  /** The commit trained. */
  sha?: string
  run?: { backend: string; id: string; url?: string; attached?: boolean }
  metrics?: Metrics
  champion?: { metrics: Metrics; sha: string; runUrl?: string; promotedAt: string } & Lineage
  /** Lineage of this run's candidate (artifact, data version, trigger…). */
  lineage?: Lineage
  gate?: GateResult
  /** The environment's latest promotions and rejections before this one, newest first. */
  history?: Array<{ sha: string; at: string; outcome: Promotion['outcome']; metrics: Metrics }>
  promoted: boolean
  /** Set when the result was reused from an earlier gate of the same commit. */
  reused?: boolean
  durationMs?: number
  /** Last lines of training output or the backend's error detail, for errors. */
  detail?: string
  /** How the pull request changes the way this model is judged (applies after merge). */
  notes?: string[]
  /** The `on_promote` jobs run after this promotion, in order. */
  downstream?: DownstreamOutcome[]
}

export interface DownstreamOutcome {
  name: string
  backend: string
  ok: boolean
  url?: string
  /** Why it failed, or what it reported. */
  message?: string
}
