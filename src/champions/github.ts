// The `github` champion store: every promotion and rejection is a GitHub Deployment of the
// candidate's commit to the ml-promote environment, so the repository's Environments page is the
// promotion history. The champion is the newest of our deployments whose latest status is success.
import { randomUUID } from 'node:crypto'
import { fitText, isForbidden, type Octokit, type RepoRef } from '../github.js'
import { CLAIM_TTL_MS } from '../types.js'
import type {
  Candidate,
  Champion,
  ChampionStore,
  GateResult,
  Lineage,
  Logger,
  MetricOutcome,
  MetricRule,
  Metrics,
  PendingTraining,
  Promotion,
  RollbackRequest
} from '../types.js'
import { restoredRecord, rollbackCandidate } from './rollback.js'

const DESCRIPTION_LIMIT = 140
const PAGE = 100
const CLAIM_PREFIX = 'ml-promote claim '

/** Where trainings started without waiting are recorded, whatever their model and environment. */
export const PENDING_ENVIRONMENT = 'ml-promote-pending'
export const PENDING_TASK = 'ml-promote:pending'

export interface GithubChampionStoreOptions {
  /** The workflow run recording the promotion, linked from each deployment status. */
  runUrl?: string
  /** The last environment in promotion order: its deployments are marked production ones. */
  productionEnvironment?: string
}

/** The deployment task that marks our deployments apart from others (Actions' own are `deploy`). */
export function deploymentTask(model: string): string {
  return `ml-promote:${model}`
}

/** What a deployment's payload records: enough to rebuild the candidate and its gate. */
interface DeploymentPayload {
  model: string
  environment: string
  outcome: Promotion['outcome']
  metrics: Metrics
  run_id: string
  run_url?: string
  /** The pending training it concludes, when it was started without waiting. */
  pending_id?: string
  sha: string
  ref: string
  /** Lineage, each field only when set: payloads have a size limit. */
  model_uri?: string
  data_version?: string
  trained_in?: string
  trained_sha?: string
  training_run_url?: string
  trigger?: string
  gate_rules?: Record<string, MetricRule>
  rollback?: { reason: string; replaced_sha?: string }
  approved_by?: string
  gate: {
    verdict: MetricOutcome
    has_champion: boolean
    metrics: Array<{
      metric: string
      candidate?: number
      champion?: number
      rule: string
      outcome: MetricOutcome
      reason: string
    }>
  }
}

interface Deployment {
  id: number
  sha: string
  task: string
  environment: string
  payload: unknown
  created_at: string
}

export class GithubChampionStore implements ChampionStore {
  readonly name = 'github'
  /** One read per (model, environment) for the life of the store; promote() refreshes it. */
  private readonly champions = new Map<string, Promise<Champion | undefined>>()
  private readonly pages = new Map<string, Array<Promise<Deployment[]>>>()

  constructor(
    private readonly octokit: Octokit,
    private readonly repo: RepoRef,
    private readonly log: Logger,
    private readonly opts: GithubChampionStoreOptions = {}
  ) {}

  champion(model: string, environment: string): Promise<Champion | undefined> {
    const key = cacheKey(model, environment)
    let found = this.champions.get(key)
    if (!found) {
      found = this.lookup(model, environment)
      this.champions.set(key, found)
      // A failed read is not remembered: the next call asks again.
      const mine = found
      mine.catch(() => {
        if (this.champions.get(key) === mine) this.champions.delete(key)
      })
    }
    return found
  }

  async promote(candidate: Candidate, gate: GateResult): Promise<Champion> {
    if (gate.verdict !== 'pass') {
      throw new Error(
        `refusing to promote ${candidate.model} in ${candidate.environment}: its gate verdict is ${gate.verdict}`
      )
    }
    const { deployment, payload, at } = await this.record(candidate, gate, 'promoted')
    const champion = toChampion(deployment, payload, at)
    this.champions.set(cacheKey(candidate.model, candidate.environment), Promise.resolve(champion))
    this.log.info(
      `${candidate.model} [${candidate.environment}]: commit ${candidate.sha.slice(0, 7)} is the champion (deployment ${deployment.id})`
    )
    return champion
  }

  async reject(candidate: Candidate, gate: GateResult): Promise<void> {
    const { deployment } = await this.record(candidate, gate, 'rejected')
    this.log.info(
      `${candidate.model} [${candidate.environment}]: commit ${candidate.sha.slice(0, 7)} rejected (deployment ${deployment.id}); the champion stays`
    )
  }

  /**
   * A new deployment of the restored champion's commit with a `success` status: the champion is
   * the newest successful one, so it wins, and the replaced champion's deployment stays as it was.
   */
  async rollback(request: RollbackRequest): Promise<{ restored: Champion; replaced?: Champion }> {
    const { model, environment } = request
    const replaced = await this.champion(model, environment)
    const records: Array<Promotion & { deployment: Deployment }> = []
    if (replaced) {
      for await (const deployment of this.deployments(model, environment)) {
        const payload = readPayload(deployment, model, environment)
        if (payload) records.push({ ...toPromotion(deployment, payload), deployment })
      }
    }
    const from = restoredRecord(request, replaced, records)
    const candidate = rollbackCandidate(from.candidate, request, replaced!)
    const { deployment, payload, at } = await this.record(candidate, from.gate, 'rolled_back')
    const restored = toChampion(deployment, payload, at)
    this.champions.set(cacheKey(model, environment), Promise.resolve(restored))
    this.log.info(
      `${model} [${environment}]: commit ${candidate.sha.slice(0, 7)} is the champion again, replacing ${replaced!.sha.slice(0, 7)} (deployment ${deployment.id})`
    )
    return { restored, replaced }
  }

  /**
   * A training started without waiting is a deployment of its commit to one environment shared by
   * every model, `ml-promote-pending`, with status `in_progress`; concluding it marks it `inactive`
   * and deletes it. So that environment holds only live trainings, and one read finds them all
   * whatever the number of models and the length of the history.
   */
  async addPending(p: Omit<PendingTraining, 'id'>): Promise<PendingTraining> {
    const description = fitText(
      `${p.model} [${p.environment}]: ${p.action} training on ${p.run.backend}`,
      DESCRIPTION_LIMIT,
      '…'
    )
    try {
      // A re-run that attached to the same remote run keeps the record the first attempt made.
      const same = (await this.pending()).find(
        (x) =>
          x.model === p.model &&
          x.environment === p.environment &&
          x.run.backend === p.run.backend &&
          x.run.id === p.run.id
      )
      if (same) return same
      const created = await this.octokit.rest.repos.createDeployment({
        ...this.repo,
        ref: p.sha,
        task: PENDING_TASK,
        environment: PENDING_ENVIRONMENT,
        payload: { pending: p } as unknown as Record<string, unknown>,
        description,
        auto_merge: false,
        required_contexts: [],
        transient_environment: true,
        production_environment: false
      })
      if (!('id' in created.data)) {
        throw new Error(
          `GitHub did not create the deployment: ${created.data.message ?? `HTTP ${created.status}`}`
        )
      }
      await this.octokit.rest.repos.createDeploymentStatus({
        ...this.repo,
        deployment_id: created.data.id,
        state: 'in_progress',
        description,
        auto_inactive: false,
        ...(p.run.url ? { log_url: p.run.url } : {})
      })
      return { id: String(created.data.id), ...p }
    } catch (e) {
      if (isForbidden(e)) {
        throw new Error(
          `recording a pending training needs the \`deployments: write\` permission: ${(e as Error).message}`
        )
      }
      throw e
    }
  }

  /** One read per 100 live trainings: concluded ones are deleted, so nothing else is listed. */
  async pending(): Promise<PendingTraining[]> {
    const out: PendingTraining[] = []
    for (let page = 1; ; page++) {
      const { data } = await this.octokit.rest.repos.listDeployments({
        ...this.repo,
        task: PENDING_TASK,
        environment: PENDING_ENVIRONMENT,
        per_page: PAGE,
        page
      })
      for (const d of data as Deployment[]) {
        if (d.task !== PENDING_TASK || d.environment !== PENDING_ENVIRONMENT) continue
        const p = readPending(d)
        if (p) out.push({ ...p, id: String(d.id) })
      }
      if (data.length < PAGE) break
    }
    return out.sort((a, b) => Number(a.id) - Number(b.id))
  }

  /**
   * A claim is an `in_progress` status saying `ml-promote claim <token>`; of the claims younger
   * than CLAIM_TTL_MS (by GitHub's clock), the first one wins. Two reconciles racing both write
   * theirs, both read them back, and agree on one winner.
   */
  async claimPending(p: PendingTraining): Promise<boolean> {
    const token = randomUUID()
    let mine: { id: number; created_at: string }
    try {
      ;({ data: mine } = await this.octokit.rest.repos.createDeploymentStatus({
        ...this.repo,
        deployment_id: Number(p.id),
        state: 'in_progress',
        description: `${CLAIM_PREFIX}${token}`,
        auto_inactive: false,
        ...(this.opts.runUrl ? { log_url: this.opts.runUrl } : {})
      }))
    } catch (e) {
      // Deleted: another reconcile concluded it.
      if ((e as { status?: number }).status === 404) return false
      throw e
    }
    const { data } = await this.octokit.rest.repos.listDeploymentStatuses({
      ...this.repo,
      deployment_id: Number(p.id),
      per_page: PAGE
    })
    const since = Date.parse(mine.created_at) - CLAIM_TTL_MS
    const first = data
      .filter(
        (s) =>
          (s.description ?? '').startsWith(CLAIM_PREFIX) &&
          s.id <= mine.id &&
          Date.parse(s.created_at) > since
      )
      .sort((a, b) => a.id - b.id)[0]
    if (first?.id === mine.id) return true
    this.log.info(
      `${p.model} [${p.environment}]: another reconcile is concluding this training (deployment ${p.id})`
    )
    return false
  }

  async resolvePending(p: PendingTraining): Promise<void> {
    const id = Number(p.id)
    // GitHub deletes only inactive deployments; a racing claim may re-activate it in between.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.octokit.rest.repos.createDeploymentStatus({
          ...this.repo,
          deployment_id: id,
          state: 'inactive',
          description: fitText(`${p.model}: training concluded`, DESCRIPTION_LIMIT, '…'),
          auto_inactive: false
        })
        await this.octokit.rest.repos.deleteDeployment({ ...this.repo, deployment_id: id })
        return
      } catch (e) {
        const status = (e as { status?: number }).status
        if (status === 404) return
        if (status !== 422 || attempt >= 3) throw e
      }
    }
  }

  /**
   * Newest first, as recorded in the deployments' payloads (no per-deployment status reads, so the
   * history costs one call per 100 records). `limit` bounds how far back it reads.
   */
  async history(model: string, environment: string, limit = 100): Promise<Promotion[]> {
    const out: Promotion[] = []
    for await (const deployment of this.deployments(model, environment)) {
      const payload = readPayload(deployment, model, environment)
      if (!payload) continue
      out.push(toPromotion(deployment, payload))
      if (out.length >= limit) break
    }
    return out
  }

  private async lookup(model: string, environment: string): Promise<Champion | undefined> {
    for await (const deployment of this.deployments(model, environment)) {
      const payload = readPayload(deployment, model, environment)
      // A recorded rejection never held the environment: no need to read its statuses.
      if (!payload || payload.outcome === 'rejected') continue
      const latest = await this.latestStatus(deployment.id)
      if (latest?.state === 'success') return toChampion(deployment, payload, latest.created_at)
      this.log.debug(
        `${model} [${environment}]: deployment ${deployment.id} is not the champion (latest status: ${latest?.state ?? 'none'})`
      )
    }
    return undefined
  }

  /**
   * Our deployments for (model, environment), newest first, one page at a time. Pages are kept
   * for the store's lifetime (writes clear them), so the champion lookup and the history of one
   * gate share a single read.
   */
  private async *deployments(model: string, environment: string): AsyncGenerator<Deployment> {
    const task = deploymentTask(model)
    const key = cacheKey(model, environment)
    let pages = this.pages.get(key)
    if (!pages) this.pages.set(key, (pages = []))
    for (let page = 1; ; page++) {
      if (!pages[page - 1]) {
        const request = this.octokit.rest.repos
          .listDeployments({ ...this.repo, task, environment, per_page: PAGE, page })
          .then(({ data }) => data as Deployment[])
        pages[page - 1] = request
        request.catch(() => this.pages.delete(key))
      }
      const data = await pages[page - 1]!
      // Filtered again here: the query filters are the server's promise, the task name is ours.
      const ours = data.filter((d) => d.task === task && d.environment === environment)
      yield* ours.sort((a, b) => b.id - a.id)
      if (data.length < PAGE) return
    }
  }

  /**
   * The deployment's newest status other than `inactive`. GitHub adds `inactive` on its own when
   * another deployment (any model's, or an Actions job's) succeeds in the same environment; that
   * says nothing about this model, and this store writes `inactive` only on pending records.
   */
  private async latestStatus(
    id: number
  ): Promise<{ state: string; created_at: string } | undefined> {
    const { data } = await this.octokit.rest.repos.listDeploymentStatuses({
      ...this.repo,
      deployment_id: id,
      per_page: PAGE
    })
    return [...data].sort((a, b) => b.id - a.id).find((s) => s.state !== 'inactive')
  }

  private async record(
    candidate: Candidate,
    gate: GateResult,
    outcome: Promotion['outcome']
  ): Promise<{ deployment: Deployment; payload: DeploymentPayload; at: string }> {
    const { model, environment } = candidate
    this.pages.delete(cacheKey(model, environment))
    const payload = toPayload(candidate, gate, outcome)
    const description = fitText(describe(candidate, gate, outcome), DESCRIPTION_LIMIT, '…')
    const logUrl = candidate.runUrl ?? this.opts.runUrl
    try {
      const created = await this.octokit.rest.repos.createDeployment({
        ...this.repo,
        ref: candidate.sha,
        task: deploymentTask(model),
        environment,
        payload: payload as unknown as Record<string, unknown>,
        description,
        auto_merge: false,
        required_contexts: [],
        transient_environment: false,
        ...(this.opts.productionEnvironment === undefined
          ? {}
          : { production_environment: environment === this.opts.productionEnvironment })
      })
      if (!('id' in created.data)) {
        throw new Error(
          `GitHub did not create the deployment: ${created.data.message ?? `HTTP ${created.status}`}`
        )
      }
      const deployment = created.data as Deployment
      const { data: status } = await this.octokit.rest.repos.createDeploymentStatus({
        ...this.repo,
        deployment_id: deployment.id,
        state: outcome === 'rejected' ? 'failure' : 'success',
        description,
        // Statuses of other models share the environment: GitHub must not retire this one for them.
        auto_inactive: false,
        ...(logUrl ? { log_url: logUrl } : {})
      })
      return { deployment, payload, at: status.created_at }
    } catch (e) {
      if (isForbidden(e)) {
        throw new Error(
          `recording the ${environment} champion of ${model} needs the \`deployments: write\` permission: ${(e as Error).message}`
        )
      }
      throw e
    }
  }
}

function cacheKey(model: string, environment: string): string {
  return JSON.stringify([model, environment])
}

function describe(candidate: Candidate, gate: GateResult, outcome: Promotion['outcome']): string {
  if (outcome === 'promoted') {
    const metrics = Object.entries(candidate.metrics)
      .map(([name, value]) => `${name}=${Number(value.toPrecision(4))}`)
      .join(', ')
    return `${candidate.model} promoted${metrics ? `: ${metrics}` : ''}`
  }
  if (outcome === 'rolled_back') {
    return `${candidate.model} rolled back: ${candidate.rollback?.reason ?? ''}`
  }
  const failed = gate.metrics.filter((m) => m.outcome === 'fail').map((m) => m.metric)
  return `${candidate.model} rejected${failed.length ? `: ${failed.join(', ')} failed the gate` : ''}`
}

function toPayload(
  candidate: Candidate,
  gate: GateResult,
  outcome: Promotion['outcome']
): DeploymentPayload {
  return {
    model: candidate.model,
    environment: candidate.environment,
    outcome,
    metrics: candidate.metrics,
    run_id: candidate.runId,
    ...(candidate.runUrl ? { run_url: candidate.runUrl } : {}),
    ...(candidate.pendingId ? { pending_id: candidate.pendingId } : {}),
    sha: candidate.sha,
    ref: candidate.ref,
    ...lineagePayload(candidate),
    gate: {
      verdict: gate.verdict,
      has_champion: gate.hasChampion,
      metrics: gate.metrics.map((m) => ({
        metric: m.metric,
        ...(m.candidate === undefined ? {} : { candidate: m.candidate }),
        ...(m.champion === undefined ? {} : { champion: m.champion }),
        rule: m.rule,
        outcome: m.outcome,
        reason: m.reason
      }))
    }
  }
}

function lineagePayload(l: Lineage): Partial<DeploymentPayload> {
  const { rollback } = l
  return omitUndefined({
    model_uri: l.modelUri,
    data_version: l.dataVersion,
    trained_in: l.trainedIn,
    trained_sha: l.trainedSha,
    training_run_url: l.trainingRunUrl,
    trigger: l.trigger,
    gate_rules: l.gateRules,
    rollback:
      rollback && omitUndefined({ reason: rollback.reason, replaced_sha: rollback.replacedSha }),
    approved_by: l.approvedBy
  })
}

function lineageOfPayload(p: DeploymentPayload): Lineage {
  const { rollback } = p
  return omitUndefined({
    modelUri: p.model_uri,
    dataVersion: p.data_version,
    trainedIn: p.trained_in,
    trainedSha: p.trained_sha,
    trainingRunUrl: p.training_run_url,
    trigger: p.trigger,
    gateRules: p.gate_rules,
    rollback:
      rollback && omitUndefined({ reason: rollback.reason, replacedSha: rollback.replaced_sha }),
    approvedBy: p.approved_by
  })
}

function omitUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}

/** A deployment's payload as an object; GitHub may return it as a JSON string. */
function payloadOf(deployment: Deployment): unknown {
  if (typeof deployment.payload !== 'string') return deployment.payload
  try {
    return JSON.parse(deployment.payload)
  } catch {
    return undefined
  }
}

/** The payload when the deployment is one of ours for this model. */
function readPayload(
  deployment: Deployment,
  model: string,
  environment: string
): DeploymentPayload | undefined {
  const p = payloadOf(deployment) as Partial<DeploymentPayload> | null
  const ok =
    typeof p === 'object' &&
    p !== null &&
    p.model === model &&
    (p.environment === undefined || p.environment === environment) &&
    (p.outcome === 'promoted' || p.outcome === 'rejected' || p.outcome === 'rolled_back') &&
    typeof p.metrics === 'object' &&
    typeof p.gate === 'object'
  return ok ? (p as DeploymentPayload) : undefined
}

function toCandidate(deployment: Deployment, p: DeploymentPayload): Candidate {
  return {
    model: p.model,
    environment: deployment.environment,
    metrics: p.metrics,
    sha: p.sha ?? deployment.sha,
    ref: p.ref,
    runId: p.run_id,
    ...(p.run_url ? { runUrl: p.run_url } : {}),
    ...(p.pending_id ? { pendingId: p.pending_id } : {}),
    ...lineageOfPayload(p)
  }
}

function toPromotion(deployment: Deployment, p: DeploymentPayload): Promotion {
  return {
    candidate: toCandidate(deployment, p),
    gate: toGate(p),
    at: deployment.created_at,
    outcome: p.outcome
  }
}

function toGate(p: DeploymentPayload): GateResult {
  return {
    verdict: p.gate.verdict,
    hasChampion: p.gate.has_champion,
    metrics: (p.gate.metrics ?? []).map((m) => ({
      metric: m.metric,
      candidate: m.candidate,
      champion: m.champion,
      delta:
        m.candidate !== undefined && m.champion !== undefined
          ? m.candidate - m.champion
          : undefined,
      rule: m.rule,
      outcome: m.outcome,
      reason: m.reason
    })),
    notes: []
  }
}

function toChampion(deployment: Deployment, p: DeploymentPayload, promotedAt: string): Champion {
  return {
    model: p.model,
    environment: deployment.environment,
    metrics: p.metrics,
    sha: deployment.sha,
    ref: p.ref,
    runId: p.run_id,
    ...(p.run_url ? { runUrl: p.run_url } : {}),
    ...lineageOfPayload(p),
    promotedAt,
    ref_id: String(deployment.id)
  }
}

/** The pending training a deployment in the pending environment records. */
function readPending(deployment: Deployment): Omit<PendingTraining, 'id'> | undefined {
  const p = (payloadOf(deployment) as { pending?: Partial<PendingTraining> } | null)?.pending
  const ok =
    typeof p === 'object' &&
    p !== null &&
    typeof p.model === 'string' &&
    typeof p.environment === 'string' &&
    (p.action === 'gate' || p.action === 'retrain') &&
    typeof p.run === 'object' &&
    p.run !== null &&
    typeof p.gate === 'object' &&
    typeof p.deadline === 'number'
  if (!ok) return undefined
  const rest: Partial<PendingTraining> = { ...p }
  delete rest.id
  return rest as Omit<PendingTraining, 'id'>
}
