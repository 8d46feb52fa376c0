// The `mlflow` champion store: the champion of an environment is the version of its registered
// model that carries the alias `champion`, in an MLflow Model Registry or in Unity Catalog.
//
// What ml-promote knows about a version (metrics, commit, gate, outcome) lives in the version's
// `ml_promote.*` tags, written by promote() and reject(). A champion set by something else (no
// tags) gets its metrics from the MLflow run the version was registered from. A rollback moves the
// alias back to an earlier version and adds a `ml_promote.rolled_back.<n>` tag to it, so the
// history shows each rollback as its own entry.
import {
  HttpError,
  requestJson,
  systemClock,
  type Clock,
  type RequestOptions
} from '../backends/http.js'
import {
  championFrom,
  type Candidate,
  type Champion,
  type ChampionStore,
  type GateResult,
  type Lineage,
  type Logger,
  type Metrics,
  type Promotion,
  type RollbackRequest
} from '../types.js'
import { restoredRecord, rollbackCandidate } from './rollback.js'

export interface MlflowChampionStoreOptions {
  /** http(s) URL of the tracking server or Databricks workspace; `databricks` = $DATABRICKS_HOST. */
  trackingUri: string
  registeredModel: (model: string, env: string) => string
  unityCatalog: boolean
  env: NodeJS.ProcessEnv
  log: Logger
  now?: () => Date
  /** Clock of the retry backoff (tests use a virtual one). */
  clock?: Clock
  /** Per-request timeout in ms (default 30 s). */
  timeoutMs?: number
}

export const CHAMPION_ALIAS = 'champion'
export const CHALLENGER_ALIAS = 'challenger'

export const TAGS = {
  model: 'ml_promote.model',
  environment: 'ml_promote.environment',
  sha: 'ml_promote.sha',
  ref: 'ml_promote.ref',
  runId: 'ml_promote.run_id',
  runUrl: 'ml_promote.run_url',
  metrics: 'ml_promote.metrics',
  gate: 'ml_promote.gate',
  outcome: 'ml_promote.outcome',
  at: 'ml_promote.at',
  rejected: 'ml_promote.rejected',
  modelUri: 'ml_promote.model_uri',
  dataVersion: 'ml_promote.data_version',
  trainedIn: 'ml_promote.trained_in',
  trainedSha: 'ml_promote.trained_sha',
  trainingRunUrl: 'ml_promote.training_run_url',
  trigger: 'ml_promote.trigger',
  gateRules: 'ml_promote.gate_rules',
  rollback: 'ml_promote.rollback',
  approvedBy: 'ml_promote.approved_by',
  /** One tag per rollback that restored the version: `ml_promote.rolled_back.<n>`, n counting up. */
  rolledBack: 'ml_promote.rolled_back.'
} as const

/** What a `ml_promote.rolled_back.<n>` tag holds. */
interface RollbackEvent {
  at: string
  reason: string
  replaced_sha: string
  trigger: string
  /** The highest version number when it happened: orders it among promotions recorded as fast. */
  after: number
}

/** Room left in a tag for a rollback's reason once the rest of its event is written. */
const MAX_REASON = 4000

/** MLflow caps model version tag values at 5000 characters in older servers. */
const MAX_TAG_VALUE = 5000
const SEARCH_PAGE = 1000
const MAX_SEARCH_PAGES = 20

interface Tag {
  key: string
  value: string
}

/** A model version as both registries describe it, reduced to what the store reads. */
interface Version {
  name: string
  version: string
  runId?: string
  tags: Record<string, string>
  updatedAt?: number
}

interface MlflowModelVersion {
  name: string
  version: string | number
  run_id?: string
  tags?: Tag[]
  creation_timestamp?: number
  last_updated_timestamp?: number
}

interface UcModelVersionInfo {
  version?: number | string
  run_id?: string
  updated_at?: number
}

interface MlflowRun {
  run?: {
    info?: { end_time?: number }
    data?: { metrics?: { key: string; value: number }[]; tags?: Tag[] }
  }
}

export class MlflowChampionStore implements ChampionStore {
  readonly name = 'mlflow'
  private readonly base: string
  private readonly headers: Record<string, string>
  private readonly now: () => Date
  private readonly clock: Clock

  constructor(private readonly opts: MlflowChampionStoreOptions) {
    const uri = opts.trackingUri === 'databricks' ? opts.env.DATABRICKS_HOST : opts.trackingUri
    if (!uri || !/^https?:\/\//.test(uri)) {
      throw new Error(
        `the mlflow champion store needs an http(s) tracking URI (champions.tracking_uri, $MLFLOW_TRACKING_URI or $DATABRICKS_HOST); got ${JSON.stringify(opts.trackingUri)}`
      )
    }
    this.base = uri.replace(/\/+$/, '')
    this.headers = authHeaders(opts.env, opts.log)
    this.now = opts.now ?? (() => new Date())
    this.clock = opts.clock ?? systemClock
  }

  async champion(model: string, environment: string): Promise<Champion | undefined> {
    const name = this.opts.registeredModel(model, environment)
    const version = await this.aliased(name, CHAMPION_ALIAS)
    if (!version) return undefined
    return this.toChampion(model, environment, version)
  }

  async promote(candidate: Candidate, gate: GateResult): Promise<Champion> {
    if (gate.verdict !== 'pass') {
      throw new Error(
        `refusing to promote ${candidate.model} in ${candidate.environment}: its gate verdict is ${gate.verdict}`
      )
    }
    const name = this.opts.registeredModel(candidate.model, candidate.environment)
    const at = this.now().toISOString()
    const tags = candidateTags(candidate, gate, 'promoted', at)
    const version = await this.candidateVersion(name, candidate, tags)
    if (!version) {
      throw new Error(
        `Unity Catalog model ${name} has no version tagged ${TAGS.runId}=${candidate.runId}: in Unity Catalog, training registers the version itself (mlflow.register_model) and tags it with ${TAGS.runId} = $ML_PROMOTE_RUN_ID`
      )
    }
    // The Databricks MLOps Stacks sequence: the candidate becomes the challenger, then the champion.
    await this.setAlias(name, CHALLENGER_ALIAS, version.version)
    await this.setAlias(name, CHAMPION_ALIAS, version.version)
    this.opts.log.info(`${name} version ${version.version} is now the ${CHAMPION_ALIAS}`)
    return { ...championFrom(candidate, at), ref_id: `${name}/${version.version}` }
  }

  async reject(candidate: Candidate, gate: GateResult): Promise<void> {
    const name = this.opts.registeredModel(candidate.model, candidate.environment)
    const tags = candidateTags(candidate, gate, 'rejected', this.now().toISOString())
    tags[TAGS.rejected] = truncate(rejectionReason(gate), MAX_TAG_VALUE)
    const version = await this.candidateVersion(name, candidate, tags)
    if (!version) {
      this.opts.log.warning(
        `Unity Catalog model ${name} has no version from run ${candidate.runId}; the rejection is not recorded there`
      )
      return
    }
    this.opts.log.info(`${name} version ${version.version} rejected; the ${CHAMPION_ALIAS} stays`)
  }

  async history(model: string, environment: string): Promise<Promotion[]> {
    const name = this.opts.registeredModel(model, environment)
    return (await this.records(name, model, environment)).map((r) => r.promotion)
  }

  async rollback(request: RollbackRequest): Promise<{ restored: Champion; replaced?: Champion }> {
    const { model, environment } = request
    const name = this.opts.registeredModel(model, environment)
    const replaced = await this.champion(model, environment)
    const records = replaced ? await this.records(name, model, environment) : []
    const from = restoredRecord(
      request,
      replaced,
      records.map((r) => ({ ...r.promotion, version: r.version }))
    )
    const candidate = rollbackCandidate(from.candidate, request, replaced!)
    const at = this.now().toISOString()
    const events = records.filter((r) => r.event).map((r) => r.event!)
    const event: RollbackEvent = {
      at,
      reason: truncate(request.reason, MAX_REASON),
      replaced_sha: replaced!.sha,
      trigger: truncate(request.trigger, 200),
      after: Math.max(0, ...records.map((r) => Number(r.version.version)))
    }
    const seq = Math.max(0, ...events.map((e) => e.seq)) + 1
    await this.setTag(name, from.version.version, `${TAGS.rolledBack}${seq}`, JSON.stringify(event))
    await this.setAlias(name, CHAMPION_ALIAS, from.version.version)
    this.opts.log.info(
      `${name} version ${from.version.version} is the ${CHAMPION_ALIAS} again, replacing ${replaced!.ref_id ?? replaced!.sha.slice(0, 7)}`
    )
    return {
      restored: { ...championFrom(candidate, at), ref_id: `${name}/${from.version.version}` },
      replaced
    }
  }

  /**
   * The history of `name` newest first, each with the version it was read from: one entry per
   * promoted or rejected version, and one per rollback that restored a version.
   */
  private async records(
    name: string,
    model: string,
    environment: string
  ): Promise<Array<{ promotion: Promotion; version: Version; event?: { seq: number } }>> {
    const out: Array<{
      promotion: Promotion
      version: Version
      event?: { seq: number }
      order: [number, number, number]
    }> = []
    for (const v of await this.versions(name)) {
      const ours =
        (v.tags[TAGS.outcome] === 'promoted' || v.tags[TAGS.outcome] === 'rejected') &&
        (v.tags[TAGS.model] ?? model) === model &&
        (v.tags[TAGS.environment] ?? environment) === environment
      if (!ours) continue
      const promotion = toPromotion(v, model, environment)
      out.push({
        promotion,
        version: v,
        order: [Date.parse(promotion.at) || 0, Number(v.version), 0]
      })
      for (const { seq, event } of rollbackEvents(v)) {
        out.push({
          promotion: rolledBackPromotion(promotion, event),
          version: v,
          event: { seq },
          order: [Date.parse(event.at) || 0, event.after, seq]
        })
      }
    }
    const newestFirst = (a: [number, number, number], b: [number, number, number]): number =>
      b[0] - a[0] || b[1] - a[1] || b[2] - a[2]
    return out
      .sort((a, b) => newestFirst(a.order, b.order))
      .map(({ promotion, version, event }) => ({ promotion, version, ...(event ? { event } : {}) }))
  }

  /** The version holding `alias`, or undefined when the alias (or the model) does not exist. */
  private async aliased(name: string, alias: string): Promise<Version | undefined> {
    try {
      if (!this.opts.unityCatalog) {
        const { model_version } = await this.get<{ model_version: MlflowModelVersion }>(
          '/api/2.0/mlflow/registered-models/alias',
          { name, alias }
        )
        return fromMlflow(model_version)
      }
      const info = await this.get<UcModelVersionInfo>(
        `/api/2.1/unity-catalog/models/${encodeURIComponent(name)}/aliases/${encodeURIComponent(alias)}`
      )
      // The Unity Catalog REST API has no version tags; the registry's MLflow endpoint has them.
      const { model_version } = await this.get<{ model_version: MlflowModelVersion }>(
        '/api/2.0/mlflow/unity-catalog/model-versions/get',
        { name, version: String(info.version) }
      )
      return fromMlflow(model_version)
    } catch (e) {
      if (e instanceof HttpError && e.status === 404) return undefined
      throw this.explain(e, `Could not read alias ${alias} of ${name}`)
    }
  }

  /**
   * The candidate's version with `tags` written on it: the one registered by training or by an
   * earlier attempt (same ml-promote run id), else a new one in an MLflow registry. Undefined in
   * Unity Catalog when training registered none, as its versions need files ml-promote has not got.
   */
  private async candidateVersion(
    name: string,
    candidate: Candidate,
    tags: Record<string, string>
  ): Promise<Version | undefined> {
    const existing = (await this.versions(name)).find(
      (v) =>
        v.tags[TAGS.runId] === candidate.runId &&
        (v.tags[TAGS.environment] ?? candidate.environment) === candidate.environment
    )
    if (existing) {
      for (const [key, value] of Object.entries(tags)) {
        if (existing.tags[key] !== value) await this.setTag(name, existing.version, key, value)
      }
      return existing
    }
    if (this.opts.unityCatalog) return undefined
    await this.ensureRegisteredModel(name)
    try {
      const { model_version } = await this.post<{ model_version: MlflowModelVersion }>(
        '/api/2.0/mlflow/model-versions/create',
        {
          name,
          // A version of a training that did not log to MLflow: it points at the training run and
          // carries its results as tags. The path has no `..`, which the server rejects.
          source:
            candidate.runUrl ??
            `ml-promote:/${encodeURIComponent(candidate.model)}/${encodeURIComponent(candidate.environment)}/${candidate.sha}`,
          ...(candidate.runUrl ? { run_link: candidate.runUrl } : {}),
          description: `Trained by ml-promote from ${candidate.sha} (${candidate.ref})`,
          tags: Object.entries(tags).map(([key, value]) => ({ key, value }))
        },
        // Creating twice would make two versions: only a refused request (429/503) is resent.
        false
      )
      return fromMlflow(model_version)
    } catch (e) {
      throw this.explain(e, `Could not create a version of ${name}`)
    }
  }

  private async ensureRegisteredModel(name: string): Promise<void> {
    try {
      await this.post('/api/2.0/mlflow/registered-models/create', { name }, true)
      this.opts.log.info(`Created registered model ${name}`)
    } catch (e) {
      if (e instanceof HttpError && e.code === 'RESOURCE_ALREADY_EXISTS') return
      throw this.explain(e, `Could not create registered model ${name}`)
    }
  }

  /** Every version of `name`, with its tags. */
  private async versions(name: string): Promise<Version[]> {
    const path = this.opts.unityCatalog
      ? '/api/2.0/mlflow/unity-catalog/model-versions/search'
      : '/api/2.0/mlflow/model-versions/search'
    const out: Version[] = []
    let pageToken: string | undefined
    try {
      for (let page = 0; page < MAX_SEARCH_PAGES; page++) {
        const answer = await this.get<{
          model_versions?: MlflowModelVersion[]
          next_page_token?: string
        }>(path, {
          filter: `name='${name.replace(/'/g, "\\'")}'`,
          max_results: String(SEARCH_PAGE),
          page_token: pageToken
        })
        for (const v of answer.model_versions ?? []) out.push(fromMlflow(v))
        pageToken = answer.next_page_token || undefined
        if (!pageToken) break
      }
    } catch (e) {
      if (e instanceof HttpError && e.status === 404) return out
      throw this.explain(e, `Could not list the versions of ${name}`)
    }
    return out
  }

  private async setTag(name: string, version: string, key: string, value: string): Promise<void> {
    const path = this.opts.unityCatalog
      ? '/api/2.0/mlflow/unity-catalog/model-versions/set-tag'
      : '/api/2.0/mlflow/model-versions/set-tag'
    try {
      await this.post(path, { name, version, key, value }, true)
    } catch (e) {
      throw this.explain(e, `Could not tag ${name} version ${version}`)
    }
  }

  private async setAlias(name: string, alias: string, version: string): Promise<void> {
    try {
      if (this.opts.unityCatalog) {
        await this.send(
          `/api/2.1/unity-catalog/models/${encodeURIComponent(name)}/aliases/${encodeURIComponent(alias)}`,
          { method: 'PUT', body: { version_num: Number(version) } },
          true
        )
      } else {
        await this.post('/api/2.0/mlflow/registered-models/alias', { name, alias, version }, true)
      }
    } catch (e) {
      throw this.explain(e, `Could not point alias ${alias} of ${name} at version ${version}`)
    }
  }

  private async toChampion(model: string, environment: string, v: Version): Promise<Champion> {
    let metrics = parseMetricsTag(v.tags[TAGS.metrics])
    let sha = v.tags[TAGS.sha]
    let runEnd: number | undefined
    if (!metrics && v.runId) {
      const run = await this.run(v.runId)
      metrics = Object.fromEntries((run?.data?.metrics ?? []).map((m) => [m.key, m.value]))
      sha ??= run?.data?.tags?.find((t) => t.key === 'mlflow.source.git.commit')?.value
      runEnd = run?.info?.end_time
    }
    if (!metrics || Object.keys(metrics).length === 0) {
      this.opts.log.warning(
        `${v.name} version ${v.version} (the ${CHAMPION_ALIAS}) carries no metrics`
      )
    }
    // A version holding the alias after a rollback holds it because of the latest one.
    const rollback = rollbackEvents(v).at(-1)?.event
    const when =
      rollback?.at ?? v.tags[TAGS.at] ?? isoOf(v.updatedAt ?? runEnd) ?? this.now().toISOString()
    const runUrl = v.tags[TAGS.runUrl]
    return {
      model,
      environment,
      metrics: metrics ?? {},
      sha: sha ?? '',
      ...(v.tags[TAGS.ref] ? { ref: v.tags[TAGS.ref] } : {}),
      runId: v.tags[TAGS.runId] ?? v.runId ?? '',
      ...(runUrl ? { runUrl } : {}),
      ...lineageOfTags(v.tags),
      ...(rollback ? rollbackLineage(rollback) : {}),
      promotedAt: when,
      ref_id: `${v.name}/${v.version}`
    }
  }

  private async run(runId: string): Promise<MlflowRun['run'] | undefined> {
    try {
      return (await this.get<MlflowRun>('/api/2.0/mlflow/runs/get', { run_id: runId })).run
    } catch (e) {
      if (e instanceof HttpError && e.status === 404) return undefined
      throw this.explain(e, `Could not read MLflow run ${runId}`)
    }
  }

  private get<T>(path: string, query?: Record<string, string | undefined>): Promise<T> {
    return this.send<T>(path, { query }, true)
  }

  private post<T = unknown>(path: string, body: unknown, idempotent: boolean): Promise<T> {
    return this.send<T>(path, { method: 'POST', body }, idempotent)
  }

  private send<T>(path: string, opts: RequestOptions, idempotent: boolean): Promise<T> {
    return requestJson<T>(`${this.base}${path}`, {
      ...opts,
      headers: this.headers,
      timeoutMs: this.opts.timeoutMs,
      retry: { idempotent, clock: this.clock }
    })
  }

  private explain(e: unknown, what: string): unknown {
    if (!(e instanceof HttpError)) return e
    const hint =
      e.status === 401 || e.status === 403
        ? '; set MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or DATABRICKS_TOKEN'
        : ''
    return new Error(`${what}: ${e.message}${hint}`, { cause: e })
  }
}

function authHeaders(env: NodeJS.ProcessEnv, log: Logger): Record<string, string> {
  const {
    MLFLOW_TRACKING_TOKEN,
    MLFLOW_TRACKING_USERNAME,
    MLFLOW_TRACKING_PASSWORD,
    DATABRICKS_TOKEN
  } = env
  for (const secret of [MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_PASSWORD, DATABRICKS_TOKEN]) {
    if (secret) log.secret(secret)
  }
  if (MLFLOW_TRACKING_TOKEN) return { authorization: `Bearer ${MLFLOW_TRACKING_TOKEN}` }
  if (MLFLOW_TRACKING_USERNAME) {
    const basic = Buffer.from(
      `${MLFLOW_TRACKING_USERNAME}:${MLFLOW_TRACKING_PASSWORD ?? ''}`
    ).toString('base64')
    log.secret(basic)
    return { authorization: `Basic ${basic}` }
  }
  if (DATABRICKS_TOKEN) return { authorization: `Bearer ${DATABRICKS_TOKEN}` }
  return {}
}

function fromMlflow(v: MlflowModelVersion): Version {
  return {
    name: v.name,
    version: String(v.version),
    runId: v.run_id || undefined,
    tags: Object.fromEntries((v.tags ?? []).map((t) => [t.key, t.value])),
    updatedAt: v.last_updated_timestamp ?? v.creation_timestamp
  }
}

function candidateTags(
  candidate: Candidate,
  gate: GateResult,
  outcome: Promotion['outcome'],
  at: string
): Record<string, string> {
  return {
    [TAGS.model]: candidate.model,
    [TAGS.environment]: candidate.environment,
    [TAGS.sha]: candidate.sha,
    [TAGS.ref]: candidate.ref,
    [TAGS.runId]: candidate.runId,
    ...(candidate.runUrl ? { [TAGS.runUrl]: candidate.runUrl } : {}),
    [TAGS.metrics]: JSON.stringify(candidate.metrics),
    [TAGS.gate]: gateTag(gate),
    [TAGS.outcome]: outcome,
    [TAGS.at]: at,
    ...lineageTags(candidate)
  }
}

const TEXT_LINEAGE = [
  'modelUri',
  'dataVersion',
  'trainedIn',
  'trainedSha',
  'trainingRunUrl',
  'trigger',
  'approvedBy'
] as const satisfies ReadonlyArray<keyof Lineage>

/**
 * Lineage as tags, each only when set. Text is cut to the tag limit; a JSON field too long for it
 * is left out rather than cut into something unreadable.
 */
function lineageTags(l: Lineage): Record<string, string> {
  const tags: Record<string, string> = {}
  for (const key of TEXT_LINEAGE) {
    const value = l[key]
    if (value !== undefined) tags[TAGS[key]] = truncate(value, MAX_TAG_VALUE)
  }
  for (const key of ['gateRules', 'rollback'] as const) {
    const json = l[key] === undefined ? undefined : JSON.stringify(l[key])
    if (json !== undefined && json.length <= MAX_TAG_VALUE) tags[TAGS[key]] = json
  }
  return tags
}

function lineageOfTags(t: Record<string, string>): Lineage {
  const out: Lineage = {}
  for (const key of TEXT_LINEAGE) {
    const value = t[TAGS[key]]
    if (value !== undefined) out[key] = value
  }
  const gateRules = parseJsonObject(t[TAGS.gateRules])
  if (gateRules) out.gateRules = gateRules as Lineage['gateRules']
  const rollback = parseJsonObject(t[TAGS.rollback])
  if (typeof rollback?.reason === 'string') out.rollback = rollback as Lineage['rollback']
  return out
}

function parseJsonObject(value: string | undefined): Record<string, unknown> | undefined {
  if (value === undefined) return undefined
  try {
    const parsed: unknown = JSON.parse(value)
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/** The version's rollback events, oldest first; unreadable ones are skipped. */
function rollbackEvents(v: Version): Array<{ seq: number; event: RollbackEvent }> {
  const out: Array<{ seq: number; event: RollbackEvent }> = []
  for (const [key, value] of Object.entries(v.tags)) {
    if (!key.startsWith(TAGS.rolledBack)) continue
    const seq = Number(key.slice(TAGS.rolledBack.length))
    const e = parseJsonObject(value)
    if (!Number.isInteger(seq) || typeof e?.at !== 'string' || typeof e.reason !== 'string')
      continue
    out.push({
      seq,
      event: {
        at: e.at,
        reason: e.reason,
        replaced_sha: typeof e.replaced_sha === 'string' ? e.replaced_sha : '',
        trigger: typeof e.trigger === 'string' ? e.trigger : '',
        after: typeof e.after === 'number' ? e.after : 0
      }
    })
  }
  return out.sort((a, b) => a.seq - b.seq)
}

function rollbackLineage(e: RollbackEvent): Lineage {
  return {
    ...(e.trigger ? { trigger: e.trigger } : {}),
    rollback: { reason: e.reason, ...(e.replaced_sha ? { replacedSha: e.replaced_sha } : {}) }
  }
}

/** The entry a rollback adds to the history: the restored version's record, restored. */
function rolledBackPromotion(restored: Promotion, e: RollbackEvent): Promotion {
  return {
    candidate: { ...restored.candidate, ...rollbackLineage(e) },
    gate: restored.gate,
    at: e.at,
    outcome: 'rolled_back'
  }
}

/** The gate as JSON within the tag limit: the per-metric reasons go first when it is too long. */
function gateTag(gate: GateResult): string {
  const full = JSON.stringify(gate)
  if (full.length <= MAX_TAG_VALUE) return full
  const short = JSON.stringify({
    ...gate,
    notes: [],
    metrics: gate.metrics.map((m) => ({ ...m, reason: '', rule: '' }))
  })
  if (short.length <= MAX_TAG_VALUE) return short
  return JSON.stringify({
    verdict: gate.verdict,
    hasChampion: gate.hasChampion,
    metrics: [],
    notes: ['gate too large to record']
  })
}

function rejectionReason(gate: GateResult): string {
  const failed = gate.metrics.filter((m) => m.outcome === 'fail')
  return failed.length ? failed.map((m) => `${m.metric}: ${m.reason}`).join('; ') : 'gate failed'
}

function toPromotion(v: Version, model: string, environment: string): Promotion {
  const t = v.tags
  const candidate: Candidate = {
    model,
    environment,
    metrics: parseMetricsTag(t[TAGS.metrics]) ?? {},
    sha: t[TAGS.sha] ?? '',
    ref: t[TAGS.ref] ?? '',
    runId: t[TAGS.runId] ?? '',
    ...(t[TAGS.runUrl] ? { runUrl: t[TAGS.runUrl] } : {}),
    ...lineageOfTags(t)
  }
  const outcome = t[TAGS.outcome] === 'promoted' ? 'promoted' : 'rejected'
  return {
    candidate,
    gate: parseGateTag(t[TAGS.gate], outcome),
    at: t[TAGS.at] ?? isoOf(v.updatedAt) ?? '',
    outcome
  }
}

function parseMetricsTag(value: string | undefined): Metrics | undefined {
  if (value === undefined) return undefined
  try {
    const parsed: unknown = JSON.parse(value)
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined
    return Object.fromEntries(
      Object.entries(parsed).filter((e): e is [string, number] => typeof e[1] === 'number')
    )
  } catch {
    return undefined
  }
}

function parseGateTag(value: string | undefined, outcome: Promotion['outcome']): GateResult {
  const fallback: GateResult = {
    verdict: outcome === 'promoted' ? 'pass' : 'fail',
    hasChampion: false,
    metrics: [],
    notes: []
  }
  if (value === undefined) return fallback
  try {
    const parsed = JSON.parse(value) as Partial<GateResult>
    return {
      verdict:
        parsed.verdict === 'pass' || parsed.verdict === 'fail' ? parsed.verdict : fallback.verdict,
      hasChampion: parsed.hasChampion === true,
      metrics: Array.isArray(parsed.metrics) ? parsed.metrics : [],
      notes: Array.isArray(parsed.notes) ? parsed.notes : []
    }
  } catch {
    return fallback
  }
}

function isoOf(ms: number | undefined): string | undefined {
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0
    ? new Date(ms).toISOString()
    : undefined
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`
}
