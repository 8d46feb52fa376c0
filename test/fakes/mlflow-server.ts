// A fake MLflow tracking server with its Model Registry, and the Unity Catalog model endpoints of
// a Databricks workspace, on 127.0.0.1. It answers the way the real services do: errors are
// `{error_code, message}`, a missing model or alias is 404 RESOURCE_DOES_NOT_EXIST, a registered
// model name is unique (RESOURCE_ALREADY_EXISTS), and every request body is checked against
// schemas written from the MLflow REST API and Databricks Unity Catalog references.
import { listenOnLoopback, type Loopback } from './loopback.js'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { Ajv, type ValidateFunction } from 'ajv'

export type MlflowOp =
  | 'createModel'
  | 'getAlias'
  | 'setAlias'
  | 'createVersion'
  | 'setTag'
  | 'searchVersions'
  | 'getVersion'
  | 'getRun'
  | 'ucGetAlias'
  | 'ucSetAlias'
  | 'ucGetVersion'
  | 'ucSetTag'
  | 'ucSearchVersions'

export interface MlflowFault {
  op?: MlflowOp
  status: number
  retryAfter?: string
  times?: number
}

export interface FakeVersion {
  name: string
  version: number
  source: string
  run_id?: string
  run_link?: string
  tags: Record<string, string>
  created: number
}

export interface FakeRun {
  run_id: string
  metrics: Record<string, number>
  tags?: Record<string, string>
}

export interface FakeMlflowOptions {
  /** Authorization header values accepted; none = no auth required. */
  accept?: string[]
  /** Page size the search endpoints use at most (to exercise paging). */
  pageSize?: number
}

export interface MlflowCall {
  op: MlflowOp | 'unknown'
  method: string
  path: string
  status: number
  body?: unknown
}

const TAG = {
  type: 'object',
  additionalProperties: false,
  required: ['key', 'value'],
  properties: {
    key: { type: 'string', minLength: 1, maxLength: 250 },
    value: { type: 'string', maxLength: 5000 }
  }
}

// From the MLflow REST API reference (CreateRegisteredModel, CreateModelVersion,
// SetModelVersionTag, SetRegisteredModelAlias) and Unity Catalog's Set Registered Model Alias.
const BODY_SCHEMAS: Partial<Record<MlflowOp, object>> = {
  createModel: {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    properties: {
      name: { type: 'string', minLength: 1 },
      tags: { type: 'array', items: TAG },
      description: { type: 'string' }
    }
  },
  createVersion: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'source'],
    properties: {
      name: { type: 'string', minLength: 1 },
      source: { type: 'string', minLength: 1 },
      run_id: { type: 'string' },
      tags: { type: 'array', items: TAG },
      run_link: { type: 'string' },
      description: { type: 'string' }
    }
  },
  setTag: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'version', 'key', 'value'],
    properties: {
      name: { type: 'string' },
      version: { type: 'string' },
      key: TAG.properties.key,
      value: TAG.properties.value
    }
  },
  setAlias: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'alias', 'version'],
    properties: {
      name: { type: 'string' },
      alias: { type: 'string', minLength: 1 },
      version: { type: 'string' }
    }
  },
  ucSetAlias: {
    type: 'object',
    additionalProperties: false,
    required: ['version_num'],
    properties: { version_num: { type: 'integer', minimum: 1 } }
  }
}
BODY_SCHEMAS.ucSetTag = BODY_SCHEMAS.setTag

export class FakeMlflow {
  readonly calls: MlflowCall[] = []
  readonly violations: string[] = []
  /** Registered model name → its versions and aliases. */
  readonly models = new Map<
    string,
    { versions: FakeVersion[]; aliases: Map<string, number>; uc: boolean }
  >()
  readonly runs = new Map<string, FakeRun>()
  private faults: (MlflowFault & { left: number })[] = []
  private loopback!: Loopback
  private readonly validators: Partial<Record<MlflowOp, ValidateFunction>> = {}

  private constructor(private readonly opts: FakeMlflowOptions) {
    const ajv = new Ajv({ allErrors: true, strict: false })
    for (const [op, schema] of Object.entries(BODY_SCHEMAS))
      this.validators[op as MlflowOp] = ajv.compile(schema)
  }

  static async start(opts: FakeMlflowOptions = {}): Promise<FakeMlflow> {
    const server = createServer()
    const fake = new FakeMlflow(opts)
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void fake.handle(req, res))
    fake.loopback = await listenOnLoopback(server)
    return fake
  }

  get url(): string {
    return this.loopback.url
  }

  inject(fault: MlflowFault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 })
  }

  count(op: MlflowOp): number {
    return this.calls.filter((c) => c.op === op).length
  }

  /** The ops called, in order, without reads: what changed the registry. */
  writes(): MlflowOp[] {
    const reads: string[] = [
      'getAlias',
      'searchVersions',
      'getVersion',
      'getRun',
      'ucGetAlias',
      'ucGetVersion',
      'ucSearchVersions'
    ]
    return this.calls
      .map((c) => c.op)
      .filter((op): op is MlflowOp => op !== 'unknown' && !reads.includes(op))
  }

  /** Adds a model (a Unity Catalog one cannot be created through the endpoints the store uses). */
  addModel(name: string, uc = false): void {
    if (!this.models.has(name)) this.models.set(name, { versions: [], aliases: new Map(), uc })
  }

  addVersion(
    name: string,
    v: { run_id?: string; tags?: Record<string, string>; aliases?: string[]; source?: string }
  ): FakeVersion {
    this.addModel(name)
    const model = this.models.get(name)!
    const version: FakeVersion = {
      name,
      version: model.versions.length + 1,
      source: v.source ?? `dbfs:/models/${name}/${model.versions.length + 1}`,
      run_id: v.run_id,
      tags: { ...v.tags },
      created: Date.now()
    }
    model.versions.push(version)
    for (const a of v.aliases ?? []) model.aliases.set(a, version.version)
    return version
  }

  addRun(run: FakeRun): void {
    this.runs.set(run.run_id, run)
  }

  aliasOf(name: string, alias: string): number | undefined {
    return this.models.get(name)?.aliases.get(alias)
  }

  version(name: string, version: number): FakeVersion | undefined {
    return this.models.get(name)?.versions.find((v) => v.version === version)
  }

  async close(): Promise<void> {
    await this.loopback.close()
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const method = req.method ?? 'GET'
    const text = await readBody(req)
    const route = routeOf(method, url.pathname)
    let body: unknown
    try {
      body = text ? JSON.parse(text) : undefined
    } catch {
      body = text
    }
    const call: MlflowCall = {
      op: route?.op ?? 'unknown',
      method,
      path: url.pathname + url.search,
      status: 0,
      body
    }
    this.calls.push(call)

    if (this.opts.accept && !this.opts.accept.includes(req.headers.authorization ?? '')) {
      return this.send(res, call, 401, {
        error_code: 'UNAUTHENTICATED',
        message: 'Credentials were not supplied or are invalid'
      })
    }
    if (!route)
      return this.send(res, call, 404, {
        error_code: 'ENDPOINT_NOT_FOUND',
        message: `No API endpoint ${method} ${url.pathname}`
      })
    const fault = this.takeFault(route.op)
    if (fault) {
      const headers: Record<string, string> =
        fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter }
      return this.send(
        res,
        call,
        fault.status,
        {
          error_code: fault.status === 429 ? 'REQUEST_LIMIT_EXCEEDED' : 'INTERNAL_ERROR',
          message: 'injected fault'
        },
        headers
      )
    }
    const validate = this.validators[route.op]
    if (validate && !validate(body)) {
      this.violations.push(
        `${method} ${url.pathname} body off-contract: ${JSON.stringify(validate.errors)}`
      )
      return this.send(res, call, 400, {
        error_code: 'INVALID_PARAMETER_VALUE',
        message: JSON.stringify(validate.errors)
      })
    }
    const [status, answer] = this.answer(
      route.op,
      route.params,
      url.searchParams,
      (body ?? {}) as Record<string, unknown>
    )
    this.send(res, call, status, answer)
  }

  private answer(
    op: MlflowOp,
    params: string[],
    q: URLSearchParams,
    b: Record<string, unknown>
  ): [number, unknown] {
    const missing = (what: string): [number, unknown] => [
      404,
      { error_code: 'RESOURCE_DOES_NOT_EXIST', message: what }
    ]
    const bad = (what: string): [number, unknown] => [
      400,
      { error_code: 'INVALID_PARAMETER_VALUE', message: what }
    ]
    switch (op) {
      case 'createModel': {
        const name = b.name as string
        if (this.models.has(name))
          return [
            400,
            {
              error_code: 'RESOURCE_ALREADY_EXISTS',
              message: `Registered Model (name=${name}) already exists.`
            }
          ]
        this.addModel(name)
        return [
          200,
          {
            registered_model: {
              name,
              creation_timestamp: Date.now(),
              last_updated_timestamp: Date.now()
            }
          }
        ]
      }
      case 'createVersion': {
        const name = b.name as string
        const model = this.models.get(name)
        if (!model || model.uc) return missing(`Registered Model with name=${name} not found`)
        const source = b.source as string
        if (source.split('/').includes('..') || !/^[a-z][a-z0-9+.-]*:/i.test(source)) {
          return bad(`Invalid model version source: '${source}'.`)
        }
        const v = this.addVersion(name, {
          run_id: b.run_id as string | undefined,
          source,
          tags: tagsOf(b.tags)
        })
        v.run_link = b.run_link as string | undefined
        return [200, { model_version: this.mlflowVersion(v) }]
      }
      case 'setTag':
      case 'ucSetTag': {
        const v = this.findVersion(b.name as string, b.version as string, op === 'ucSetTag')
        if (!v)
          return missing(
            `Model Version (name=${String(b.name)}, version=${String(b.version)}) not found`
          )
        v.tags[b.key as string] = b.value as string
        return [200, {}]
      }
      case 'getAlias': {
        const name = q.get('name') ?? ''
        const alias = q.get('alias') ?? ''
        const model = this.models.get(name)
        if (!model || model.uc) return missing(`Registered model ${name} not found`)
        const n = model.aliases.get(alias)
        if (n === undefined) return missing(`Registered model alias ${alias} not found.`)
        return [200, { model_version: this.mlflowVersion(model.versions[n - 1] as FakeVersion) }]
      }
      case 'setAlias': {
        const v = this.findVersion(b.name as string, b.version as string, false)
        if (!v)
          return missing(
            `Model Version (name=${String(b.name)}, version=${String(b.version)}) not found`
          )
        this.models.get(v.name)!.aliases.set(b.alias as string, v.version)
        return [200, {}]
      }
      case 'searchVersions':
      case 'ucSearchVersions': {
        const filter = q.get('filter') ?? ''
        const m = /^name\s*=\s*'((?:[^'\\]|\\.)*)'$/.exec(filter)
        if (!m) return bad(`Unsupported filter: ${filter}`)
        const name = (m[1] as string).replace(/\\'/g, "'")
        const model = this.models.get(name)
        const all =
          model && model.uc === (op === 'ucSearchVersions') ? [...model.versions].reverse() : []
        const size = Math.min(Number(q.get('max_results') ?? 10000), this.opts.pageSize ?? Infinity)
        const start = Number(q.get('page_token') ?? 0)
        const page = all.slice(start, start + size)
        const next = start + size < all.length ? String(start + size) : undefined
        return [
          200,
          {
            model_versions: page.map((v) => this.mlflowVersion(v)),
            ...(next ? { next_page_token: next } : {})
          }
        ]
      }
      case 'getVersion':
      case 'ucGetVersion': {
        const v = this.findVersion(
          q.get('name') ?? '',
          q.get('version') ?? '',
          op === 'ucGetVersion'
        )
        if (!v) return missing(`Model Version not found`)
        return [200, { model_version: this.mlflowVersion(v) }]
      }
      case 'getRun': {
        const run = this.runs.get(q.get('run_id') ?? '')
        if (!run) return missing(`Run '${q.get('run_id')}' not found`)
        const now = Date.now()
        return [
          200,
          {
            run: {
              info: {
                run_id: run.run_id,
                run_uuid: run.run_id,
                experiment_id: '1',
                status: 'FINISHED',
                start_time: now - 1000,
                end_time: now,
                lifecycle_stage: 'active'
              },
              data: {
                metrics: Object.entries(run.metrics).map(([key, value]) => ({
                  key,
                  value,
                  timestamp: now,
                  step: 0
                })),
                params: [],
                tags: Object.entries(run.tags ?? {}).map(([key, value]) => ({ key, value }))
              }
            }
          }
        ]
      }
      case 'ucGetAlias': {
        const [full, alias] = params as [string, string]
        const model = this.models.get(full)
        if (!model?.uc) return missing(`Registered model '${full}' does not exist.`)
        const n = model.aliases.get(alias)
        if (n === undefined) return missing(`Alias ${alias} does not exist.`)
        return [200, this.ucVersionInfo(model.versions[n - 1] as FakeVersion)]
      }
      case 'ucSetAlias': {
        const [full, alias] = params as [string, string]
        const model = this.models.get(full)
        if (!model?.uc) return missing(`Registered model '${full}' does not exist.`)
        const n = b.version_num as number
        if (!model.versions[n - 1]) return missing(`Model version ${n} does not exist.`)
        model.aliases.set(alias, n)
        const [catalog, schema, short] = full.split('.')
        return [
          200,
          {
            alias_name: alias,
            version_num: n,
            id: `${full}@${alias}`,
            model_name: short,
            catalog_name: catalog,
            schema_name: schema
          }
        ]
      }
    }
  }

  private findVersion(name: string, version: string, uc: boolean): FakeVersion | undefined {
    const model = this.models.get(name)
    if (!model || model.uc !== uc) return undefined
    return model.versions.find((v) => String(v.version) === version)
  }

  private aliasesOf(v: FakeVersion): string[] {
    const model = this.models.get(v.name)!
    return [...model.aliases].filter(([, n]) => n === v.version).map(([a]) => a)
  }

  private mlflowVersion(v: FakeVersion): Record<string, unknown> {
    return {
      name: v.name,
      version: String(v.version),
      creation_timestamp: v.created,
      last_updated_timestamp: v.created,
      current_stage: 'None',
      source: v.source,
      ...(v.run_id ? { run_id: v.run_id } : {}),
      ...(v.run_link ? { run_link: v.run_link } : {}),
      status: 'READY',
      tags: Object.entries(v.tags).map(([key, value]) => ({ key, value })),
      aliases: this.aliasesOf(v)
    }
  }

  private ucVersionInfo(v: FakeVersion): Record<string, unknown> {
    const [catalog, schema, short] = v.name.split('.')
    return {
      model_name: short,
      catalog_name: catalog,
      schema_name: schema,
      source: v.source,
      ...(v.run_id ? { run_id: v.run_id } : {}),
      version: v.version,
      status: 'READY',
      created_at: v.created,
      updated_at: v.created,
      aliases: this.aliasesOf(v).map((a) => ({ alias_name: a, version_num: v.version }))
    }
  }

  private takeFault(op: MlflowOp): MlflowFault | undefined {
    const i = this.faults.findIndex((f) => f.op === undefined || f.op === op)
    if (i < 0) return undefined
    const f = this.faults[i]!
    if (--f.left <= 0) this.faults.splice(i, 1)
    return f
  }

  private send(
    res: ServerResponse,
    call: MlflowCall,
    status: number,
    body: unknown,
    headers: Record<string, string> = {}
  ): void {
    call.status = status
    if (status >= 400) {
      const b = body as { error_code?: unknown; message?: unknown }
      if (typeof b.error_code !== 'string' || typeof b.message !== 'string')
        this.violations.push(`fake error body off-contract: ${JSON.stringify(body)}`)
    }
    res.writeHead(status, { 'content-type': 'application/json', ...headers })
    res.end(JSON.stringify(body))
  }
}

function routeOf(method: string, path: string): { op: MlflowOp; params: string[] } | undefined {
  const simple: Record<string, MlflowOp> = {
    'POST /api/2.0/mlflow/registered-models/create': 'createModel',
    'GET /api/2.0/mlflow/registered-models/alias': 'getAlias',
    'POST /api/2.0/mlflow/registered-models/alias': 'setAlias',
    'POST /api/2.0/mlflow/model-versions/create': 'createVersion',
    'POST /api/2.0/mlflow/model-versions/set-tag': 'setTag',
    'GET /api/2.0/mlflow/model-versions/search': 'searchVersions',
    'GET /api/2.0/mlflow/model-versions/get': 'getVersion',
    'GET /api/2.0/mlflow/runs/get': 'getRun',
    'GET /api/2.0/mlflow/unity-catalog/model-versions/get': 'ucGetVersion',
    'POST /api/2.0/mlflow/unity-catalog/model-versions/set-tag': 'ucSetTag',
    'GET /api/2.0/mlflow/unity-catalog/model-versions/search': 'ucSearchVersions'
  }
  const op = simple[`${method} ${path}`]
  if (op) return { op, params: [] }
  const m = /^\/api\/2\.1\/unity-catalog\/models\/([^/]+)\/aliases\/([^/]+)$/.exec(path)
  if (m) {
    const params = [decodeURIComponent(m[1] as string), decodeURIComponent(m[2] as string)]
    if (method === 'GET') return { op: 'ucGetAlias', params }
    if (method === 'PUT') return { op: 'ucSetAlias', params }
  }
  return undefined
}

function tagsOf(tags: unknown): Record<string, string> {
  return Object.fromEntries(
    ((tags as { key: string; value: string }[] | undefined) ?? []).map((t) => [t.key, t.value])
  )
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}
