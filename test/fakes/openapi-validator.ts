// Checks requests and responses against GitHub's published OpenAPI description (the subset in
// test/fixtures/github-openapi.json, cut by script/extract-github-openapi.mjs). The description is
// OpenAPI 3.0, whose schemas are JSON Schema plus `nullable` and minus `$ref` siblings; they are
// rewritten into plain draft-07 JSON Schema once, then compiled with ajv per use and cached.
import { readFileSync } from 'node:fs'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }

export interface ParameterSpec {
  name: string
  in: 'path' | 'query' | 'header' | 'cookie'
  required?: boolean
  schema?: JsonObject
  'x-multi-segment'?: boolean
}

export interface Operation {
  /** "POST /repos/{owner}/{repo}/check-runs" */
  id: string
  method: string
  path: string
  operationId: string
  summary: string
  /** GitHub's page for the operation: what GitHub puts in `documentation_url`. */
  docsUrl: string
  parameters: ParameterSpec[]
  requestBody?: { required: boolean; content: Record<string, JsonObject | undefined> }
  /** status (or "default") → media type → schema (undefined when the response has no body) */
  responses: Record<string, Record<string, JsonObject | undefined>>
  /** Changes GitHub has announced for a later REST API version (see `X-GitHub-Api-Version`). */
  breakingChanges: unknown[]
}

export interface OperationMatch {
  operation: Operation
  /** Path parameters, percent-decoded. */
  params: Record<string, string>
}

export interface RequestParts {
  params: Record<string, string>
  query: Record<string, string>
  body: unknown
  headers: Record<string, string | string[] | undefined>
}

interface OpenApiDocument {
  'x-source': string
  openapi: string
  paths: Record<string, Record<string, JsonObject>>
  components: Record<string, Record<string, JsonObject>>
}

const FIXTURE = new URL('../fixtures/github-openapi.json', import.meta.url)
// The components are registered once under this id; operation-level schemas point into it.
const COMPONENTS_ID = 'https://openapi.fake/github-components.json'
const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options']

let spec: OpenApiDocument | undefined
let ajv: Ajv | undefined
let operations: Operation[] | undefined
let matchers: Array<{ operation: Operation; method: string; regex: RegExp; names: string[] }> = []
const validators = new Map<string, ValidateFunction>()

/** The fixture as written by the extraction script (loaded once per process). */
export function openApiDocument(): OpenApiDocument {
  spec ??= JSON.parse(readFileSync(FIXTURE, 'utf8')) as OpenApiDocument
  return spec
}

/** Which package and version the contract was cut from, e.g. "@octokit/openapi@23.0.2". */
export function contractSource(): string {
  return openApiDocument()['x-source']
}

function resolve(node: JsonObject): JsonObject {
  const ref = node.$ref
  if (typeof ref !== 'string') return node
  const [, kind, name] = /^#\/components\/([^/]+)\/(.+)$/.exec(ref) ?? []
  const target = kind && name ? openApiDocument().components[kind]?.[name] : undefined
  if (!target) throw new Error(`unresolvable $ref ${ref} in ${contractSource()}`)
  return resolve(target)
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

const SCHEMA_MAPS = ['properties', 'patternProperties', 'definitions']
const SCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf']
const SCHEMA_VALUES = ['items', 'additionalProperties', 'not']

/** OpenAPI 3.0 schema → draft-07 JSON Schema. */
export function toJsonSchema(node: Json): Json {
  if (!isObject(node)) return node
  if (typeof node.$ref === 'string') {
    // OpenAPI 3.0 ignores every keyword next to a $ref.
    return { $ref: node.$ref.startsWith('#/') ? COMPONENTS_ID + node.$ref : node.$ref }
  }
  const out: JsonObject = {}
  for (const [key, value] of Object.entries(node)) {
    if (key === 'nullable') continue
    if (SCHEMA_MAPS.includes(key) && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonSchema(v)]))
    } else if (SCHEMA_LISTS.includes(key) && Array.isArray(value)) {
      out[key] = value.map(toJsonSchema)
    } else if (SCHEMA_VALUES.includes(key) && isObject(value)) {
      out[key] = toJsonSchema(value)
    } else {
      out[key] = value
    }
  }
  if (node.nullable !== true) return out
  if (typeof out.type === 'string') {
    out.type = [out.type, 'null']
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null]
    return out
  }
  return { anyOf: [out, { type: 'null' }] }
}

function compiler(): Ajv {
  if (ajv) return ajv
  const instance = new Ajv({ strict: false, allErrors: true, verbose: true, validateSchema: false })
  addFormatsModule.default(instance)
  // GitHub-specific format names carry no checkable constraint beyond the type.
  instance.addFormat('timestamp', true)
  const schemas = openApiDocument().components.schemas ?? {}
  instance.addSchema({
    $id: COMPONENTS_ID,
    components: {
      schemas: Object.fromEntries(Object.entries(schemas).map(([k, v]) => [k, toJsonSchema(v)]))
    }
  })
  ajv = instance
  return instance
}

function validatorFor(key: string, schema: Json): ValidateFunction {
  let fn = validators.get(key)
  if (!fn) {
    fn = compiler().compile(toJsonSchema(schema) as JsonObject)
    validators.set(key, fn)
  }
  return fn
}

function buildOperation(path: string, method: string, raw: JsonObject): Operation {
  const parameters = ((raw.parameters as JsonObject[] | undefined) ?? []).map(
    (p) => resolve(p) as unknown as ParameterSpec
  )
  let requestBody: Operation['requestBody']
  if (isObject(raw.requestBody)) {
    const body = resolve(raw.requestBody)
    const content = isObject(body.content) ? body.content : {}
    requestBody = {
      required: body.required === true,
      content: Object.fromEntries(
        Object.entries(content).map(([type, media]) => [
          type,
          isObject(media) && isObject(media.schema) ? media.schema : undefined
        ])
      )
    }
  }
  const responses: Operation['responses'] = {}
  for (const [status, response] of Object.entries(isObject(raw.responses) ? raw.responses : {})) {
    const content = isObject(response) ? resolve(response).content : undefined
    responses[status] = Object.fromEntries(
      Object.entries(isObject(content) ? content : {}).map(([type, media]) => [
        type,
        isObject(media) && isObject(media.schema) ? media.schema : undefined
      ])
    )
  }
  const docs = isObject(raw.externalDocs) ? raw.externalDocs.url : undefined
  return {
    id: `${method.toUpperCase()} ${path}`,
    method: method.toUpperCase(),
    path,
    operationId: String(raw.operationId ?? ''),
    summary: String(raw.summary ?? ''),
    docsUrl: typeof docs === 'string' ? docs : 'https://docs.github.com/rest',
    parameters,
    requestBody,
    responses,
    breakingChanges: Array.isArray(raw['x-github-breaking-changes'])
      ? raw['x-github-breaking-changes']
      : []
  }
}

/** Every operation in the contract. */
export function listOperations(): Operation[] {
  if (operations) return operations
  const built: Operation[] = []
  for (const [path, item] of Object.entries(openApiDocument().paths)) {
    for (const [method, raw] of Object.entries(item)) {
      if (METHODS.includes(method)) built.push(buildOperation(path, method, raw))
    }
  }
  operations = built
  matchers = built
    .map((operation) => {
      const names: string[] = []
      const pattern = operation.path.replace(/\{([^}]+)\}|[^{]+/g, (part, name?: string) => {
        if (name === undefined) return part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')
        names.push(name)
        const spec = operation.parameters.find((p) => p.in === 'path' && p.name === name)
        return spec?.['x-multi-segment'] ? '(.+)' : '([^/]+)'
      })
      return { operation, method: operation.method, regex: new RegExp(`^${pattern}$`), names }
    })
    // Literal routes win over templated ones (`/runs/{id}/cancel` over a multi-segment `{path}`).
    .sort((a, b) => literalLength(b.operation.path) - literalLength(a.operation.path))
  return built
}

function literalLength(path: string): number {
  return path.replace(/\{[^}]+\}/g, '').length
}

/** The operation a request targets; `path` is the raw (still percent-encoded) URL path. */
export function matchOperation(method: string, path: string): OperationMatch | undefined {
  listOperations()
  const upper = method.toUpperCase()
  for (const { operation, method: m, regex, names } of matchers) {
    if (m !== upper) continue
    const found = regex.exec(path)
    if (!found) continue
    const params: Record<string, string> = {}
    try {
      names.forEach((name, i) => (params[name] = decodeURIComponent(found[i + 1] ?? '')))
    } catch {
      continue
    }
    return { operation, params }
  }
  return undefined
}

/** The operation with this id ("GET /rate_limit"); throws when the contract lacks it. */
export function getOperation(id: string): Operation {
  const found = listOperations().find((o) => o.id === id)
  if (!found) throw new Error(`${contractSource()} has no operation ${id}`)
  return found
}

function describeErrors(where: string, errors: ErrorObject[] | null | undefined): string[] {
  const seen = new Set<string>()
  const out: string[] = []
  for (const e of errors ?? []) {
    // A failed oneOf/anyOf comes with each branch's own failure, which says what is wrong; the
    // summary line adds nothing then.
    if ((e.keyword === 'oneOf' || e.keyword === 'anyOf') && (errors?.length ?? 0) > 1) continue
    let detail = e.message ?? 'is invalid'
    if (e.keyword === 'enum') {
      detail += ` (${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')})`
    }
    if (e.keyword === 'maxLength' || e.keyword === 'maxItems')
      detail += ` (${describeSize(e.data)})`
    else if (e.keyword !== 'required' && e.keyword !== 'additionalProperties') {
      detail += `, got ${preview(e.data)}`
    }
    const line = `${where}${e.instancePath || ''} ${detail}`
    if (!seen.has(line)) out.push(line)
    seen.add(line)
  }
  if (out.length === 0 && (errors?.length ?? 0) > 0) out.push(`${where} does not match its schema`)
  return out
}

function describeSize(data: unknown): string {
  if (typeof data === 'string') return `got ${data.length} characters`
  if (Array.isArray(data)) return `got ${data.length} items`
  return `got ${preview(data)}`
}

function preview(data: unknown): string {
  const text = JSON.stringify(data) ?? String(data)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

/** Candidate typed values for a parameter that arrived as text, most literal first. */
function typedCandidates(raw: string): unknown[] {
  const out: unknown[] = [raw]
  if (/^-?\d+(\.\d+)?$/.test(raw)) out.push(Number(raw))
  if (raw === 'true' || raw === 'false') out.push(raw === 'true')
  return out
}

function validateParameter(op: Operation, p: ParameterSpec, raw: string): string[] {
  if (!p.schema) return []
  const fn = validatorFor(`${op.id} param ${p.in} ${p.name}`, p.schema)
  const candidates = typedCandidates(raw)
  if (candidates.some((value) => fn(value))) return []
  fn(candidates[candidates.length - 1])
  return describeErrors(`${p.in} parameter ${p.name}`, fn.errors)
}

function header(headers: RequestParts['headers'], name: string): string | undefined {
  const value = headers[name.toLowerCase()]
  return Array.isArray(value) ? value.join(', ') : value
}

function mediaType(contentType: string | undefined): string | undefined {
  return contentType?.split(';')[0]?.trim().toLowerCase() || undefined
}

/**
 * Problems with a request, each a readable sentence; empty when the request keeps the contract.
 * Beyond the schemas, query parameters and top-level body fields the description does not name are
 * reported: GitHub silently ignores them, which hides misspelt parameters.
 */
export function validateRequest(op: Operation, req: RequestParts): string[] {
  const errors: string[] = []
  for (const p of op.parameters) {
    const raw =
      p.in === 'path' ? req.params[p.name] : p.in === 'query' ? req.query[p.name] : undefined
    if (p.in === 'header' || p.in === 'cookie') continue
    if (raw === undefined || raw === '') {
      if (p.required) errors.push(`${p.in} parameter ${p.name} is required`)
      continue
    }
    errors.push(...validateParameter(op, p, raw))
  }
  const known = new Set(op.parameters.filter((p) => p.in === 'query').map((p) => p.name))
  for (const name of Object.keys(req.query)) {
    if (!known.has(name)) errors.push(`query parameter ${name} is not part of ${op.operationId}`)
  }

  const hasBody = req.body !== undefined && req.body !== ''
  if (!op.requestBody) {
    if (hasBody) errors.push(`${op.operationId} takes no request body`)
    return errors
  }
  if (!hasBody) {
    if (op.requestBody.required) errors.push('request body is required')
    return errors
  }
  const type = mediaType(header(req.headers, 'content-type'))
  if (!type || !(type in op.requestBody.content)) {
    errors.push(
      `content-type ${type ?? '(none)'} is not accepted; expected ${Object.keys(op.requestBody.content).join(' or ')}`
    )
    return errors
  }
  const schema = op.requestBody.content[type]
  if (!schema) return errors
  const fn = validatorFor(`${op.id} body ${type}`, schema)
  if (!fn(req.body)) errors.push(...describeErrors('request body', fn.errors))
  const top = resolve(schema)
  if (isObject(req.body) && isObject(top.properties) && top.additionalProperties === undefined) {
    for (const field of Object.keys(req.body)) {
      if (!(field in top.properties))
        errors.push(`request body field ${field} is not part of ${op.operationId}`)
    }
  }
  return errors
}

/**
 * Problems with a response: the status must be documented (or covered by `default`), and a JSON
 * body must match that status's schema. `contentType` defaults to application/json.
 */
export function validateResponse(
  op: Operation,
  status: number,
  body: unknown,
  contentType = 'application/json'
): string[] {
  const key =
    String(status) in op.responses
      ? String(status)
      : 'default' in op.responses
        ? 'default'
        : undefined
  if (key === undefined) {
    return [
      `status ${status} is not documented for ${op.operationId} (documented: ${Object.keys(op.responses).join(', ')})`
    ]
  }
  const content = op.responses[key] ?? {}
  const types = Object.keys(content)
  if (types.length === 0) {
    if (body === undefined || body === '') return []
    // Some errors are listed without a body although GitHub sends its usual error object.
    if (status >= 400) return validateErrorBody(status, body)
    return [`status ${status} of ${op.operationId} has no body, got one`]
  }
  const type = mediaType(contentType) ?? 'application/json'
  if (!(type in content)) {
    return [
      `status ${status} of ${op.operationId} is documented as ${types.join(' or ')}, got ${type}`
    ]
  }
  const schema = content[type]
  if (!schema) return []
  const fn = validatorFor(`${op.id} response ${key} ${type}`, schema)
  return fn(body) ? [] : describeErrors(`response ${status} body`, fn.errors)
}

/** Problems with an error body GitHub sends from any endpoint (401, 403, 404, 422, 5xx…). */
export function validateErrorBody(status: number, body: unknown): string[] {
  const name = status === 422 ? 'validation-error' : 'basic-error'
  const fn = validatorFor(`error ${name}`, { $ref: `#/components/schemas/${name}` })
  return fn(body) ? [] : describeErrors(`error ${status} body`, fn.errors)
}

export interface SampleOptions {
  /** Used for every `format: uri` string the sample has to invent. */
  baseUrl?: string
  /** ISO timestamp for every invented `format: date-time`. */
  now?: string
}

/**
 * The smallest value a component schema accepts: required properties only, nullable ones null,
 * the first enum value or `oneOf` branch. Fakes lay their own fields over it with `deepMerge`, so
 * they serve the full documented shape without hand-writing GitHub's larger objects.
 */
export function sampleOf(schemaName: string, opts: SampleOptions = {}): Json {
  const schema = openApiDocument().components.schemas?.[schemaName]
  if (!schema) throw new Error(`${contractSource()} has no schema ${schemaName}`)
  return sample(
    schema,
    {
      baseUrl: opts.baseUrl ?? 'https://api.github.com',
      now: opts.now ?? new Date(0).toISOString()
    },
    0
  )
}

function sample(node: JsonObject, opts: Required<SampleOptions>, depth: number): Json {
  const schema = resolve(node)
  if (depth > 12) throw new Error('sample recursion too deep')
  if (schema.nullable === true) return null
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0] ?? null
  if (schema.default !== undefined) return schema.default
  const branches = (schema.oneOf ?? schema.anyOf) as JsonObject[] | undefined
  if (Array.isArray(branches) && branches[0]) return sample(branches[0], opts, depth + 1)
  if (Array.isArray(schema.allOf)) {
    return schema.allOf.reduce<Json>(
      (acc, part) => deepMerge(acc, sample(part as JsonObject, opts, depth + 1)),
      {}
    )
  }
  switch (schema.type) {
    case 'object': {
      const out: JsonObject = {}
      const props = isObject(schema.properties) ? schema.properties : {}
      for (const name of (schema.required as string[] | undefined) ?? []) {
        const prop = props[name]
        out[name] = isObject(prop) ? sample(prop, opts, depth + 1) : 'sample'
      }
      return out
    }
    case 'array':
      return []
    case 'integer':
    case 'number':
      return typeof schema.minimum === 'number' ? schema.minimum : 1
    case 'boolean':
      return false
    case 'string':
      if (schema.format === 'uri') return `${opts.baseUrl}/sample`
      if (schema.format === 'date-time') return opts.now
      if (schema.format === 'email') return 'octocat@example.com'
      return 'sample'
    default:
      return isObject(schema.properties) ? sample({ ...schema, type: 'object' }, opts, depth) : null
  }
}

/** `base` with `over` laid on top: objects merge key by key, everything else is replaced. */
export function deepMerge(base: Json, over: unknown): Json {
  if (!isObject(base) || !isObject(over)) return (over === undefined ? base : over) as Json
  const out: JsonObject = { ...base }
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue
    out[key] = key in base ? deepMerge(base[key] as Json, value) : (value as Json)
  }
  return out
}
