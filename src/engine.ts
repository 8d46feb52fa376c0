// The promotion engine shared by both adapters: for each planned model, train in the planned
// environment, gate against that environment's champion, and record the outcome. Side effects go
// through the Backend and ChampionStore interfaces only.
import { createHash } from 'node:crypto'
import path from 'node:path'
import { isTransient } from './backends/http.js'
import { PlanError } from './plan.js'
import { reported } from './backends/metrics.js'
import { evaluateGate } from './gate.js'
import { DEFAULT_MAX_PARALLEL, defaultLocalParallel, limiter } from './limit.js'
import type { DownstreamJob } from './config/schema.js'
import type {
  Backend,
  DownstreamOutcome,
  Candidate,
  Champion,
  Config,
  GateResult,
  Lineage,
  Logger,
  ModelConfig,
  ModelResult,
  Plan,
  PlannedModel,
  RemoteRun,
  RollbackRequest,
  RunStatus,
  PendingTraining,
  Promotion,
  TrainingContext,
  TrainSpec
} from './types.js'
import { CLAIM_TTL_MS, lineageOf, TrainingError } from './types.js'
import type { ChampionStore } from './types.js'
import { waitForRun } from './wait.js'

/** A backend that can await its run directly (local processes) instead of being polled. */
interface WaitingBackend extends Backend {
  wait?(run: RemoteRun, ctx: TrainingContext): Promise<RunStatus>
}

export interface RunContext {
  /** owner/name */
  repo: string
  sha: string
  ref: string
  /** Repository checkout; training runs relative to it. */
  workspace: string
  /** Stable id of this workflow run (GITHUB_RUN_ID; re-runs keep it) or of a local run. */
  runId: string
  /** Directory under which each training gets its own output directory. */
  outputRoot: string
  /**
   * The branch whose code is checked out, for retrains not triggered by a push (schedule, manual):
   * an environment only ever trains the code of its own branch.
   */
  checkedOutBranch?: string
  /** The pull request being gated, recorded with trainings that are not awaited. */
  pullNumber?: number
  /** Who or what started the run (`push by octocat`, `schedule`…), kept in every record. */
  trigger?: string
  /** Who approved the run in a GitHub environment with required reviewers. */
  approvedBy?: string
}

export interface EngineHooks {
  /** Training has started (remote run known). */
  started?(item: PlannedModel, run: RemoteRun): Promise<void>
  /** Training has finished, whatever its outcome. */
  finished?(item: PlannedModel, run: RemoteRun): Promise<void>
}

export interface EngineOptions {
  config: Config
  plan: Plan
  context: RunContext
  /** The backend that runs `spec` (a model's training or evaluation in `environment`). */
  backendFor(spec: TrainSpec, model: ModelConfig, environment: string): Backend | Promise<Backend>
  store: ChampionStore
  log: Logger
  signal: AbortSignal
  /** Epoch ms by which every training must have finished. */
  deadline: number
  hooks?: EngineHooks
  /**
   * `wait: false`: once a remote training has started, record it as pending in the store and
   * return, so no runner is held while it trains; `reconcilePending` concludes it later. Local
   * (command) training always runs to the end.
   */
  detach?: boolean
  /**
   * At most this many trainings at once across all backends (default DEFAULT_MAX_PARALLEL, 10); runner
   * (`command`) trainings are also bounded by the runner's cores.
   */
  maxParallel?: number
  /** The backend of an `on_promote` job (the adapters build it as they build training's). */
  jobBackend?(spec: TrainSpec): Backend | Promise<Backend>
}

/**
 * The idempotency key of one training: the same (repo, sha, model, environment) within the same
 * workflow run (re-runs keep GITHUB_RUN_ID) maps to the same key, so a re-run attaches to the
 * training it already started; a later scheduled run, with newer data, trains anew.
 */
export function idempotencyKey(
  repo: string,
  sha: string,
  model: string,
  env: string,
  runId: string
): string {
  return createHash('sha256').update([repo, sha, model, env, runId].join('\0')).digest('hex')
}

function championView(c: Champion | undefined): ModelResult['champion'] {
  return (
    c && {
      metrics: c.metrics,
      sha: c.sha,
      runUrl: c.runUrl,
      promotedAt: c.promotedAt,
      ...lineageOf(c)
    }
  )
}

/**
 * promote: model — what a merge into an environment after the first evaluates: the artifact the
 * environment before it promoted. Undefined when the environment trains (deploy code, the first
 * environment, a pull request's gate).
 */
export function evaluates(
  config: Config,
  model: ModelConfig,
  env: string,
  action: PlannedModel['action']
): { upstream: string; spec: TrainSpec } | undefined {
  if (model.promote !== 'model' || action !== 'retrain') return undefined
  const index = config.environments.findIndex((e) => e.name === env)
  const spec = model.evaluate?.[env]
  if (index < 1 || !spec) return undefined
  return { upstream: config.environments[index - 1]!.name, spec }
}

/** The artifact a promote: model environment evaluates, as its records will name it. */
function artifactOf(upstream: Champion, upstreamEnv: string): Lineage {
  return {
    modelUri: upstream.modelUri,
    trainedIn: upstream.trainedIn ?? upstreamEnv,
    trainedSha: upstream.trainedSha ?? upstream.sha,
    ...((upstream.trainingRunUrl ?? upstream.runUrl)
      ? { trainingRunUrl: upstream.trainingRunUrl ?? upstream.runUrl }
      : {})
  }
}

function runView(run: RemoteRun): ModelResult['run'] {
  return { backend: run.backend, id: run.id, url: run.url, attached: run.attached }
}

/** The bounds of a run: all trainings at once, and of those the ones on the runner itself. */
export function parallelism(maxParallel: number | undefined): { all: number; local: number } {
  return {
    all: maxParallel ?? DEFAULT_MAX_PARALLEL,
    local: Math.min(maxParallel ?? Infinity, defaultLocalParallel())
  }
}

export async function runPlan(opts: EngineOptions): Promise<ModelResult[]> {
  const bounds = parallelism(opts.maxParallel)
  const all = limiter(bounds.all)
  const local = limiter(bounds.local)
  const models = new Map(opts.config.models.map((m) => [m.name, m]))
  return Promise.all(
    opts.plan.items.map(async (item): Promise<ModelResult> => {
      const model = models.get(item.model)
      if (item.action === 'skip' || !model || !item.environment) {
        return {
          model: item.model,
          environment: item.environment,
          action: item.action,
          verdict: 'skipped',
          reason: item.reason,
          promoted: false
        } satisfies ModelResult
      }
      const spec =
        evaluates(opts.config, model, item.environment, item.action)?.spec ??
        model.train[item.environment]
      // One model's crash never hides another's result: it becomes that model's error.
      const runIt = () =>
        all(async () => {
          const result = await trainAndGate(opts, item, model)
          const jobs = model.onPromote?.[item.environment!] ?? []
          if (result.promoted && jobs.length > 0) {
            result.downstream = await runDownstream(
              opts,
              model,
              item.environment!,
              jobs,
              result.lineage?.modelUri
            )
          }
          return result
        }).catch((e: unknown): ModelResult => ({
          model: item.model,
          environment: item.environment,
          action: item.action,
          verdict: 'error',
          reason: e instanceof Error ? e.message : String(e),
          promoted: false
        }))
      // A runner training waits for a core before it takes one of the run's slots.
      return spec?.backend === 'command' ? local(runIt) : runIt()
    })
  )
}

async function trainAndGate(
  opts: EngineOptions,
  item: PlannedModel,
  model: ModelConfig
): Promise<ModelResult> {
  const env = item.environment as string
  const { context, log, store } = opts
  const base = { model: model.name, environment: env, action: item.action, promoted: false }
  // One read of the environment's history serves the checks before training and the trend after.
  let history: Promotion[] | undefined
  if (item.action === 'gate') {
    const reused = await store
      .history(model.name, env)
      .then((h) => reusePassedGate((history = h), model.name, env, context.sha))
      .catch((e: Error) => {
        log.warning(
          `could not look for an earlier gate of ${context.sha.slice(0, 7)}: ${e.message}`
        )
        return undefined
      })
    if (reused) return reused
  }

  const begun = Date.now()
  let champion: Champion | undefined
  const envBranch = opts.config.environments.find((e) => e.name === env)?.branch
  if (
    item.action === 'retrain' &&
    context.checkedOutBranch &&
    envBranch &&
    context.checkedOutBranch !== envBranch
  ) {
    return {
      ...base,
      verdict: 'error',
      reason: `${env} trains the code on "${envBranch}", but "${context.checkedOutBranch}" is checked out; check out "${envBranch}" for this environment (see the scheduled retrain recipe)`
    }
  }
  let backend: WaitingBackend | undefined
  const evaluation = evaluates(opts.config, model, env, item.action)
  const spec = evaluation?.spec ?? model.train[env]!
  const ctx = trainingContext(
    opts,
    env,
    model.name,
    model.name,
    outputDir(spec, context, env, model.name)
  )
  const lineage: Lineage = {
    ...(context.trigger ? { trigger: context.trigger } : {}),
    ...(context.approvedBy ? { approvedBy: context.approvedBy } : {}),
    gateRules: model.gate
  }

  let run: RemoteRun | undefined
  try {
    champion = await store.champion(model.name, env)
    if (evaluation) {
      const upstream = await store.champion(model.name, evaluation.upstream)
      const refusal = artifactRefusal(upstream, evaluation.upstream, env, champion)
      if (refusal) {
        return {
          ...base,
          ...refusal,
          champion: championView(champion),
          durationMs: Date.now() - begun
        }
      }
      Object.assign(lineage, artifactOf(upstream!, evaluation.upstream))
      ctx.modelUri = lineage.modelUri
    }
    // Only a person's explicit run retries what a rollback took back in this environment.
    if (item.action === 'retrain' && opts.plan.event !== 'workflow_dispatch') {
      history = await store.history(model.name, env)
      const taken = evaluation
        ? withdrawn(history, (r) => r.candidate.modelUri === lineage.modelUri)
        : withdrawn(history, (r) => r.candidate.sha === context.sha)
      if (taken) {
        const what = evaluation
          ? `the artifact ${lineage.modelUri}`
          : `commit ${context.sha.slice(0, 7)}`
        return {
          ...base,
          verdict: 'skipped',
          reason: `${what} was rolled back in ${env} on ${taken.at.slice(0, 10)} (${taken.candidate.rollback?.reason ?? 'no reason recorded'}): it is not promoted there again by a ${opts.plan.event === 'schedule' ? 'scheduled run' : 'push'}; ${evaluation ? `promote a new artifact into ${evaluation.upstream}` : 'merge a fix'}, or retrain by hand (workflow_dispatch) to retry it`,
          champion: championView(champion),
          durationMs: Date.now() - begun
        }
      }
    }
    if (evaluation) {
      log.info(
        `${model.name} [${env}]: evaluating the artifact ${evaluation.upstream} trained at ${lineage.trainedSha?.slice(0, 7)} (${lineage.modelUri}); nothing is trained`
      )
    }
    backend = await opts.backendFor(spec, model, env)
    run = await backend.start(ctx)
    // Record the run (post-step state) before announcing it: a kill right after the line must
    // still leave the post step what it needs to cancel the run.
    await opts.hooks?.started?.(item, run)
    log.info(
      `${model.name} [${env}]: ${evaluation ? 'evaluation' : 'training'} started on ${backend.name}${run.url ? ` — ${run.url}` : ''}${run.attached ? ' (attached to the run an earlier attempt started)' : ''}`
    )
    if (opts.detach && !backend.wait) {
      if (!store.addPending) {
        throw new Error(
          `wait: false needs a champion store that records pending trainings; ${store.name} does not`
        )
      }
      await store.addPending({
        model: model.name,
        environment: env,
        action: item.action === 'gate' ? 'gate' : 'retrain',
        sha: context.sha,
        ref: context.ref,
        runId: context.runId,
        run,
        gate: model.gate,
        ...(context.pullNumber === undefined ? {} : { pullNumber: context.pullNumber }),
        startedAt: new Date(begun).toISOString(),
        deadline: opts.deadline,
        lineage
      })
      return {
        ...base,
        verdict: 'pending',
        reason: `training on ${backend.name}; not awaited (wait: false): a reconcile run gates it when it ends`,
        run: runView(run),
        champion: championView(champion),
        durationMs: Date.now() - begun
      }
    }
    const status = backend.wait ? await backend.wait(run, ctx) : await waitForRun(backend, run, ctx)
    return await conclude({
      store,
      item,
      model,
      gate: model.gate,
      backend,
      run,
      ctx,
      champion,
      status,
      begun,
      lineage,
      history
    })
  } catch (e) {
    if (backend && run && opts.signal.aborted) await cancelQuietly(backend, run, ctx)
    const err = e as Error
    const url = (e instanceof TrainingError ? e.run?.url : undefined) ?? run?.url
    return {
      ...base,
      verdict: 'error',
      reason: withUrl(err.message, url),
      detail: e instanceof TrainingError ? e.detail : undefined,
      run: run && runView(run),
      champion: championView(champion),
      durationMs: Date.now() - begun
    }
  } finally {
    if (run) await opts.hooks?.finished?.(item, run)
  }
}

/**
 * Where training writes: for the command backend, the folder of the metrics file the config
 * names (so the file lands where it is read); for remote backends, a scratch folder per training.
 */
function outputDir(spec: TrainSpec, context: RunContext, env: string, model: string): string {
  if (spec.backend === 'command') {
    return path.dirname(
      path.resolve(context.workspace, spec.working_directory ?? '.', spec.metrics)
    )
  }
  return path.resolve(context.outputRoot, env, model)
}

interface Conclusion {
  store: ChampionStore
  item: Pick<PlannedModel, 'action'>
  model: ModelConfig
  gate: ModelConfig['gate']
  backend: Backend
  run: RemoteRun
  ctx: TrainingContext
  champion: Champion | undefined
  status: RunStatus
  begun: number
  /** The pending training concluded, recorded with the outcome. */
  pendingId?: string
  /** Fixed when it started: trigger, gate, and the artifact an evaluation scores. */
  lineage: Lineage
  /** The environment's history, when it was read before training (else it is read here). */
  history?: Promotion[]
}

/**
 * The rollback that took back, in this environment, a champion `replaced` describes (newest first
 * history): a rolled_back record whose replaced champion — the newest earlier champion record of
 * the commit it names — matches.
 */
function withdrawn(
  history: Promotion[],
  replaced: (record: Promotion) => boolean
): Promotion | undefined {
  return history.find((rollback, i) => {
    const sha = rollback.outcome === 'rolled_back' ? rollback.candidate.rollback?.replacedSha : ''
    if (!sha) return false
    const was = history
      .slice(i + 1)
      .find((r) => r.outcome !== 'rejected' && r.candidate.sha === sha)
    return was !== undefined && replaced(was)
  })
}

/**
 * Why a promote: model environment has nothing to evaluate: no upstream champion, one without an
 * artifact, or an artifact that already is this environment's champion.
 */
function artifactRefusal(
  upstream: Champion | undefined,
  upstreamEnv: string,
  env: string,
  champion: Champion | undefined
): Pick<ModelResult, 'verdict' | 'reason'> | undefined {
  if (!upstream) {
    return {
      verdict: 'error',
      reason: `${upstreamEnv} has no champion to promote: with promote: model, ${env} evaluates the artifact ${upstreamEnv} trained, so promote the code into ${upstreamEnv} first`
    }
  }
  if (!upstream.modelUri) {
    return {
      verdict: 'error',
      reason: `the ${upstreamEnv} champion (${upstream.sha.slice(0, 7)}) names no artifact: with promote: model, training must write "model_uri" beside its metrics`
    }
  }
  if (champion?.modelUri === upstream.modelUri) {
    return {
      verdict: 'skipped',
      reason: `the ${env} champion already is the artifact ${upstreamEnv} trained (${upstream.modelUri}); nothing to evaluate`
    }
  }
  return undefined
}

/** A finished training: read its metrics, gate them, and promote or reject when retraining. */
async function conclude(c: Conclusion): Promise<ModelResult> {
  const { store, item, model, backend, run, ctx, champion, status } = c
  const env = ctx.environment
  const base = {
    model: model.name,
    environment: env,
    action: item.action,
    sha: ctx.sha,
    promoted: false
  }
  if (status.state !== 'succeeded') {
    if (status.state !== 'failed') await cancelQuietly(backend, run, ctx)
    const where = run.url ? ` (${run.url})` : ''
    return {
      ...base,
      verdict: 'error',
      reason: `training ${status.state === 'failed' ? 'failed' : status.state.replace('_', ' ')}: ${firstLine(status.message)}${where}`,
      detail: restLines(status.message),
      run: runView(run),
      champion: championView(champion),
      durationMs: Date.now() - c.begun
    }
  }
  const metrics = await backend.metrics(run, ctx)
  const gate = evaluateGate(c.gate, metrics, champion?.metrics)
  const history = c.history
    ? trend(c.history)
    : await recentHistory(store, model.name, env, ctx.log)
  const training = reported(metrics)
  // An evaluation names the artifact it scored; what it reports as model_uri is not a new one.
  const lineage: Lineage = lineageOf({
    ...c.lineage,
    modelUri: c.lineage.trainedIn ? c.lineage.modelUri : training.modelUri,
    dataVersion: training.dataVersion
  })
  const candidate: Candidate = {
    model: model.name,
    environment: env,
    metrics,
    sha: ctx.sha,
    ref: ctx.ref,
    runId: ctx.runId,
    runUrl: run.url,
    ...lineage,
    ...(c.pendingId ? { pendingId: c.pendingId } : {})
  }
  let promoted = false
  if (item.action === 'retrain') {
    if (gate.verdict === 'pass') {
      await store.promote(candidate, gate)
      promoted = true
    } else {
      await store.reject(candidate, gate)
    }
  }
  return {
    ...base,
    verdict: gate.verdict,
    reason: gateReason(gate, item.action, promoted, env),
    run: runView(run),
    metrics,
    champion: championView(champion),
    gate,
    lineage,
    ...(history.length ? { history } : {}),
    promoted,
    durationMs: Date.now() - c.begun
  }
}

const HISTORY_SHOWN = 5

/** The report's trend: the environment's latest outcomes (history newest first). */
function trend(history: Promotion[]): NonNullable<ModelResult['history']> {
  return history.slice(0, HISTORY_SHOWN).map((p) => ({
    sha: p.candidate.sha,
    at: p.at,
    outcome: p.outcome,
    metrics: p.candidate.metrics
  }))
}

/**
 * The last few outcomes in the environment, for the report's trend. Read before this outcome is
 * recorded; the GitHub store answers it from the same page as the champion lookup.
 */
async function recentHistory(
  store: ChampionStore,
  model: string,
  env: string,
  log: Logger
): Promise<NonNullable<ModelResult['history']>> {
  try {
    return trend(await store.history(model, env))
  } catch (e) {
    log.warning(`could not read the ${env} history of ${model}: ${(e as Error).message}`)
    return []
  }
}

export interface ReconcileOptions {
  config: Config
  store: ChampionStore
  backendFor(spec: TrainSpec, model: ModelConfig, environment: string): Backend | Promise<Backend>
  log: Logger
  signal: AbortSignal
  /** Repository checkout (for backends that resolve paths). */
  workspace: string
  repo: string
  outputRoot: string
  now?: () => number
  /**
   * A completion callback names one training: only the recorded pending trainings it matches are
   * looked at. What concludes them is still the backend's own answer, never the callback's.
   */
  only?: (p: PendingTraining) => boolean
  /**
   * A callback sent by the training's own last task arrives while the run is still finishing: look
   * again every few seconds for up to this long before leaving it pending (default 0).
   */
  settleMs?: number
  /**
   * Reports a concluded training (check run, pull request comment). Runs before its record is
   * removed, so a reconcile killed in between leaves the record for the next one to finish.
   */
  report?: (r: Reconciled) => Promise<void>
}

export interface Reconciled {
  pending: PendingTraining
  result: ModelResult
  /** False while the training still runs, or while another reconcile concludes it. */
  concluded: boolean
}

/**
 * Looks once at every training started with `wait: false`; each one that has ended is claimed,
 * gated (with the gate recorded when it started) and, for a retrain, promoted or rejected. One
 * status call per pending training: nothing waits, so a reconcile run holds a runner for seconds.
 *
 * Exactly once: of reconciles racing on one training, only the claim holder writes; its outcome
 * is recorded under the training's id, so one that resumes after a killed reconcile reuses the
 * recorded outcome instead of recording a second one.
 */
export async function reconcilePending(opts: ReconcileOptions): Promise<Reconciled[]> {
  const { store, log } = opts
  if (!store.pending || !store.resolvePending) return []
  const now = opts.now ?? Date.now
  const all = await store.pending()
  const chosen = opts.only ? all.filter(opts.only) : all
  const out: Reconciled[] = []
  for (const p of chosen) {
    const r = await reconcileOne(opts, p, now)
    log.info(`${p.model} [${p.environment}]: ${r.result.verdict} — ${r.result.reason}`)
    out.push(r)
  }
  return out
}

async function reconcileOne(
  opts: ReconcileOptions,
  p: PendingTraining,
  now: () => number
): Promise<Reconciled> {
  const { store, log } = opts
  const env = p.environment
  const model = opts.config.models.find((m) => m.name === p.model)
  const ctx: TrainingContext = {
    repo: opts.repo,
    sha: p.sha,
    ref: p.ref,
    environment: env,
    model: p.model,
    runId: p.runId,
    idempotencyKey: idempotencyKey(opts.repo, p.sha, p.model, env, p.runId),
    outputDir: path.resolve(opts.outputRoot, env, p.model),
    ...(p.lineage?.trainedIn ? { modelUri: p.lineage.modelUri } : {}),
    workspace: opts.workspace,
    signal: opts.signal,
    deadline: p.deadline,
    log
  }
  const begun = Date.parse(p.startedAt)
  const base = {
    model: p.model,
    environment: env,
    action: p.action,
    sha: p.sha,
    promoted: false,
    run: runView(p.run)
  }
  const waiting = (reason: string): Reconciled => ({
    pending: p,
    concluded: false,
    result: { ...base, verdict: 'pending', reason, durationMs: now() - begun }
  })
  let claimedAt: number | undefined
  // Writes stop once half the claim's life is gone: a claim older than that may be taken over.
  const stillMine = (): void => {
    if (claimedAt !== undefined && now() - claimedAt > CLAIM_TTL_MS / 2) {
      throw new ClaimLapsed()
    }
  }
  const claim = async (): Promise<boolean> => {
    if (!store.claimPending) return true
    if (!(await store.claimPending(p))) return false
    claimedAt = now()
    return true
  }
  let result: ModelResult
  try {
    try {
      // The job that started: an evaluation when it names an artifact trained elsewhere.
      const spec = p.lineage?.trainedIn ? model?.evaluate?.[env] : model?.train[env]
      if (!model || !spec) {
        throw new TrainingError(
          `${p.model} ${model ? `no longer ${p.lineage?.trainedIn ? 'evaluates' : 'trains'} in ${env}` : 'is no longer in the config'}; the training started at ${p.startedAt} is concluded without a gate`
        )
      }
      const backend = await opts.backendFor(spec, model, env)
      let status = await backend.status(p.run, ctx)
      const settleUntil = Math.min(now() + (opts.settleMs ?? 0), p.deadline)
      while ((status.state === 'queued' || status.state === 'running') && now() < settleUntil) {
        await new Promise((r) => setTimeout(r, Math.min(SETTLE_POLL_MS, settleUntil - now())))
        status = await backend.status(p.run, ctx)
      }
      if (status.state === 'queued' || status.state === 'running') {
        if (now() < p.deadline) return waiting(`still ${status.state} on ${backend.name}`)
        status = {
          state: 'timed_out',
          message: `not finished by its deadline (${new Date(p.deadline).toISOString()})`
        }
      }
      if (!(await claim())) return waiting('another reconcile is concluding it')
      const recorded = (await store.history(p.model, env)).find(
        (h) => h.candidate.pendingId === p.id
      )
      if (recorded) {
        result = recordedResult(base, recorded, env)
      } else {
        const champion = await store.champion(p.model, env)
        stillMine()
        result = await conclude({
          store,
          item: { action: p.action },
          model,
          gate: p.gate,
          backend,
          run: p.run,
          ctx,
          champion,
          status,
          begun,
          pendingId: p.id,
          lineage: p.lineage ?? { gateRules: p.gate }
        })
      }
    } catch (e) {
      if (e instanceof ClaimLapsed) throw e
      // A passing fault (a backend that is down, a 5xx) must not lose the training.
      if (isTransient(e)) return waiting(`will retry: ${withUrl((e as Error).message, p.run.url)}`)
      if (claimedAt === undefined && !(await claim())) {
        return waiting('another reconcile is concluding it')
      }
      result = {
        ...base,
        verdict: 'error',
        reason: withUrl((e as Error).message, p.run.url),
        ...(e instanceof TrainingError && e.detail ? { detail: e.detail } : {})
      }
    }
    const done: Reconciled = { pending: p, result, concluded: true }
    stillMine()
    await opts.report?.(done)
    stillMine()
    await store.resolvePending!(p)
    return done
  } catch (e) {
    if (!(e instanceof ClaimLapsed)) throw e
    log.warning(
      `${p.model} [${env}]: this reconcile took longer than its claim allows; the next one finishes concluding it`
    )
    return waiting('left for the next reconcile: its claim ran out')
  }
}

class ClaimLapsed extends Error {}

/** How often a training named by a callback is looked at while it finishes. */
const SETTLE_POLL_MS = 3_000

/** An error message that links the remote run, unless it already does. */
function withUrl(message: string, url: string | undefined): string {
  return `${message}${url && !message.includes(url) ? ` (${url})` : ''}`
}

/** One line on a gated training's outcome, whether just decided or read back from the store. */
function gateReason(
  gate: GateResult,
  action: PlannedModel['action'],
  promoted: boolean,
  env: string
): string {
  if (gate.verdict === 'pass') {
    return promoted ? `promoted to champion of ${env}` : `passed the ${env} gate`
  }
  const failed = gate.metrics.filter((m) => m.outcome === 'fail').map((m) => m.metric)
  return `gate failed on ${failed.join(', ')}${action === 'retrain' ? `; the ${env} champion stays` : ''}`
}

/** A training whose outcome an earlier, interrupted reconcile already recorded. */
function recordedResult(
  base: Pick<ModelResult, 'model' | 'environment' | 'action' | 'sha' | 'run'>,
  recorded: Promotion,
  env: string
): ModelResult {
  const promoted = recorded.outcome === 'promoted'
  return {
    ...base,
    verdict: recorded.gate.verdict,
    reason: gateReason(recorded.gate, 'retrain', promoted, env),
    metrics: recorded.candidate.metrics,
    gate: recorded.gate,
    promoted
  }
}

/** What running `on_promote` jobs needs; the context's commit is the new champion's. */
export type JobRunner = Pick<
  EngineOptions,
  'context' | 'log' | 'signal' | 'deadline' | 'jobBackend'
>

/** What a training or a downstream job of `model` in `env` is told; `keyed` names it for idempotency. */
function trainingContext(
  opts: Pick<EngineOptions, 'context' | 'log' | 'signal' | 'deadline'>,
  env: string,
  model: string,
  keyed: string,
  dir: string
): TrainingContext {
  const { context } = opts
  return {
    repo: context.repo,
    sha: context.sha,
    ref: context.ref,
    environment: env,
    model,
    runId: context.runId,
    idempotencyKey: idempotencyKey(context.repo, context.sha, keyed, env, context.runId),
    outputDir: dir,
    workspace: context.workspace,
    signal: opts.signal,
    deadline: opts.deadline,
    log: opts.log
  }
}

/**
 * The `on_promote` jobs of a new champion, in order, each through its backend. A failure stops the
 * ones after it and is reported; the promotion stands (it is recorded before the first job starts).
 */
async function runDownstream(
  opts: JobRunner,
  model: ModelConfig,
  env: string,
  jobs: DownstreamJob[],
  modelUri: string | undefined
): Promise<DownstreamOutcome[]> {
  const { context, log } = opts
  const outcomes: DownstreamOutcome[] = []
  for (const job of jobs) {
    if (outcomes.some((o) => !o.ok)) {
      outcomes.push({
        name: job.name,
        backend: job.backend,
        ok: false,
        message: 'not run: an earlier job failed'
      })
      continue
    }
    const { name, ...rest } = job
    // Downstream jobs write no metrics; a command job's metrics path is a scratch file never read.
    const spec = (
      rest.backend === 'command'
        ? { ...rest, metrics: path.join('.ml-promote', 'on-promote', `${model.name}-${name}.json`) }
        : rest
    ) as TrainSpec
    const ctx = trainingContext(
      opts,
      env,
      model.name,
      `${model.name}\0on_promote\0${name}`,
      path.resolve(context.outputRoot, env, model.name, 'on-promote', name)
    )
    // The jobs serve the new champion: its artifact, where it has one.
    if (modelUri !== undefined) ctx.modelUri = modelUri
    let run: RemoteRun | undefined
    try {
      if (!opts.jobBackend) throw new Error('this run cannot start on_promote jobs')
      const backend: WaitingBackend = await opts.jobBackend(spec)
      run = await backend.start(ctx)
      log.info(
        `${model.name} [${env}]: on_promote job ${name} started on ${backend.name}${run.url ? ` — ${run.url}` : ''}`
      )
      const status = backend.wait
        ? await backend.wait(run, ctx)
        : await waitForRun(backend, run, ctx)
      const ok = status.state === 'succeeded'
      outcomes.push({
        name,
        backend: backend.name,
        ok,
        ...(run.url ? { url: run.url } : {}),
        ...(ok
          ? {}
          : { message: `${status.state.replace('_', ' ')}: ${firstLine(status.message)}` })
      })
    } catch (e) {
      outcomes.push({
        name,
        backend: job.backend,
        ok: false,
        ...(run?.url ? { url: run.url } : {}),
        message: (e as Error).message
      })
    }
  }
  return outcomes
}

export interface RollbackOptions extends Omit<JobRunner, 'context'> {
  config: Config
  store: ChampionStore
  request: RollbackRequest
  /** Where the restored champion's `on_promote` jobs run; their commit is the champion's. */
  context: Omit<RunContext, 'sha' | 'ref'>
}

/**
 * Restores an earlier champion of one model in one environment (the store picks and records it),
 * then runs the environment's `on_promote` jobs for it — its commit as ML_PROMOTE_SHA, its artifact
 * as ML_PROMOTE_MODEL_URI — so what serves follows the record. A failing job is in the result's
 * `downstream`; the rollback stands.
 */
export async function rollbackChampion(
  opts: RollbackOptions
): Promise<{ result: ModelResult; restored: Champion; replaced?: Champion }> {
  const { config, store, request } = opts
  const model = config.models.find((m) => m.name === request.model)
  if (!model) {
    throw new PlanError(
      `${config.file} has no model "${request.model}" (models: ${config.models.map((m) => m.name).join(', ')})`
    )
  }
  const env = config.environments.find((e) => e.name === request.environment)
  if (!env) {
    throw new PlanError(
      `${config.file} has no environment "${request.environment}" (environments: ${config.environments.map((e) => e.name).join(', ')})`
    )
  }
  const { restored, replaced } = await store.rollback(request)
  const jobs = model.onPromote?.[env.name] ?? []
  const context = {
    ...opts.context,
    sha: restored.sha,
    ref: restored.ref ?? `refs/heads/${env.branch}`
  }
  const downstream = jobs.length
    ? await runDownstream({ ...opts, context }, model, env.name, jobs, restored.modelUri)
    : []
  const result: ModelResult = {
    model: model.name,
    environment: env.name,
    action: 'rollback',
    verdict: 'pass',
    reason: `restored ${restored.sha.slice(0, 7)}${replaced ? `, replacing ${replaced.sha.slice(0, 7)}` : ''}: ${request.reason}`,
    sha: restored.sha,
    metrics: restored.metrics,
    champion: restored,
    promoted: true,
    ...(downstream.length ? { downstream } : {})
  }
  return { result, restored, ...(replaced ? { replaced } : {}) }
}

async function cancelQuietly(
  backend: Backend,
  run: RemoteRun,
  ctx: TrainingContext
): Promise<void> {
  try {
    await backend.cancel(run, ctx)
    ctx.log.info(`${ctx.model} [${ctx.environment}]: cancelled ${backend.name} run ${run.id}`)
  } catch (e) {
    ctx.log.warning(
      `could not cancel ${backend.name} run ${run.id}${run.url ? ` (${run.url})` : ''}: ${(e as Error).message}`
    )
  }
}

function firstLine(s: string | undefined): string {
  return (s ?? '').split('\n')[0] ?? ''
}

function restLines(s: string | undefined): string | undefined {
  const rest = (s ?? '').split('\n').slice(1).join('\n').trim()
  return rest || undefined
}

/**
 * A pull request whose head commit already passed this environment's gate (e.g. main → release,
 * whose head was promoted in staging when it was pushed to main) is not trained again.
 */
function reusePassedGate(
  history: Promotion[],
  model: string,
  environment: string,
  sha: string
): ModelResult | undefined {
  // A commit rolled back in this environment earned no trust there: it is gated again.
  if (withdrawn(history, (r) => r.candidate.sha === sha)) return undefined
  const passed = history.find((p) => p.candidate.sha === sha && p.gate.verdict === 'pass')
  if (!passed) return undefined
  return {
    model,
    environment,
    action: 'gate',
    verdict: 'pass',
    reason: `commit ${sha.slice(0, 7)} already passed the ${environment} gate on ${passed.at.slice(0, 10)}`,
    run: { backend: 'earlier run', id: passed.candidate.runId, url: passed.candidate.runUrl },
    metrics: passed.candidate.metrics,
    gate: passed.gate,
    promoted: false,
    reused: true
  }
}
