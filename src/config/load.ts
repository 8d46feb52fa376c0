// Loads `.github/ml-promote.yml` into the Config the engine trusts. The YAML keeps its node ranges
// so that every problem (syntax, schema, cross-field) points at a line and column, and all of
// them are reported in one go: a user fixes the whole file after one run, not one line per run.
import { readFile } from 'node:fs/promises'
import picomatch from 'picomatch'
import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Range
} from 'yaml'
import { z } from 'zod'
import type { ConfigProblem, SourcePosition } from '../types.js'
import {
  describeValue,
  didYouMean,
  dottedPath,
  quote,
  type Path,
  type PathSegment
} from './problems.js'
import {
  BACKENDS,
  championsSpec,
  configSchema,
  trainSpec,
  type Config,
  type ModelConfig,
  type RawConfig,
  type TrainSpec
} from './schema.js'

export interface LoadResult {
  config?: Config
  problems: ConfigProblem[]
  /** Where a key of the file is (or, for a key it lacks, the nearest enclosing one). */
  locate?: (path: Array<string | number>) => SourcePosition | undefined
}

/** The one-line form the CLI prints and editors recognise: `file:line:col: message`. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.message}`
}

/** Reads and loads a config file; `displayPath` is how problems name it (e.g. repo-relative). */
export async function loadConfigFile(path: string, displayPath = path): Promise<LoadResult> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const message =
      code === 'ENOENT' ? 'config file not found' : `cannot read config file (${code ?? error})`
    return { problems: [{ file: displayPath, line: 1, col: 1, message }] }
  }
  return loadConfig(text, displayPath)
}

export function loadConfig(text: string, file: string): LoadResult {
  const lines = new LineCounter()
  // Editors do not count a byte-order mark as a column; neither do our positions.
  const doc = parseDocument(text.replace(/^\uFEFF/, ''), {
    lineCounter: lines,
    uniqueKeys: true,
    prettyErrors: false
  })
  const source = new Source(file, doc, lines)

  // After a syntax error the parser's recovered tree is a guess; validating it would bury the
  // real mistake under follow-on noise. Duplicate keys leave a well-formed tree, so go on.
  let malformed = false
  for (const error of doc.errors) {
    if (error.code === 'DUPLICATE_KEY') continue
    malformed = true
    source.addAt(error.pos, error.message)
  }
  reportDuplicateKeys(source, doc.contents, [])
  if (malformed) return { problems: source.sorted() }

  const contents = doc.contents
  if (contents === null || (isScalar(contents) && contents.value === null)) {
    source.addAt(undefined, 'the config is empty')
    return { problems: source.sorted() }
  }
  let root: unknown
  try {
    root = doc.toJS()
  } catch (error) {
    // e.g. an alias bomb that exceeds the parser's alias budget
    source.report([], 'value', `cannot read the config: ${(error as Error).message}`)
    return { problems: source.sorted() }
  }
  if (!isRecord(root)) {
    source.report([], 'value', `the config must be a mapping (got ${describeValue(root)})`)
    return { problems: source.sorted() }
  }

  const parsed = configSchema.safeParse(root)
  if (!parsed.success) {
    for (const issue of withoutFollowOns(parsed.error.issues)) {
      reportIssue(source, issue, configSchema, root, [])
    }
  }
  const resolved = checkCrossFields(source, root)

  const locate = (path: Array<string | number>) => source.position(path)
  if (!parsed.success || source.problems.length > 0) return { problems: source.sorted(), locate }
  return { config: normalise(source, parsed.data, resolved), problems: [], locate }
}

type Target = 'value' | 'key' | 'parent'

/** The document with its positions, and the problems found in it so far. */
class Source {
  readonly problems: ConfigProblem[] = []
  private readonly seen = new Set<string>()

  constructor(
    readonly file: string,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter
  ) {}

  /**
   * A problem at the node for `path`: its value, its key (unknown or misnamed keys), or the
   * mapping that should hold it (missing keys). A path that runs past the document (a key that
   * is not there) points at the deepest node that is.
   */
  report(path: Path, target: Target, message: string): void {
    const at = this.locate(target === 'parent' ? path.slice(0, -1) : path)
    const range = target === 'key' && at.complete ? (at.key ?? at.value) : (at.value ?? at.key)
    this.addAt(range, message)
  }

  addAt(range: readonly number[] | undefined, message: string): void {
    const at = this.at(range)
    const key = `${at.line}:${at.col}:${message}`
    // Each environment re-validates the default train spec it inherits: report a shared
    // mistake once, where it is written.
    if (this.seen.has(key)) return
    this.seen.add(key)
    this.problems.push({ ...at, message })
  }

  /** The key at `path` (its value when it has no key), or the deepest node on the way to it. */
  position(path: Path): SourcePosition {
    const at = this.locate(path)
    return this.at(at.complete ? (at.key ?? at.value) : (at.value ?? at.key))
  }

  private at(range: readonly number[] | undefined): SourcePosition {
    const start = range === undefined ? { line: 1, col: 1 } : this.lines.linePos(range[0] as number)
    const at: SourcePosition = { file: this.file, line: start.line, col: start.col }
    if (range !== undefined && range[1] !== undefined) {
      const end = this.lines.linePos(range[1])
      at.endLine = end.line
      at.endCol = end.col
    }
    return at
  }

  lineOf(offset: number): number {
    return this.lines.linePos(offset).line
  }

  sorted(): ConfigProblem[] {
    return [...this.problems].sort((a, b) => a.line - b.line || a.col - b.col)
  }

  /** Keys of the mapping at `path` in file order (JS objects put integer-like keys first). */
  keysAt(path: Path): string[] {
    const { value, complete } = this.locateNode(path)
    if (!complete || !isMap(value)) return []
    const keys: string[] = []
    for (const pair of value.items) {
      const key = keyName(pair.key) ?? String(pair.key)
      if (!keys.includes(key)) keys.push(key)
    }
    return keys
  }

  private locate(path: Path): { value?: Range; key?: Range; complete: boolean } {
    const { value, key, complete } = this.locateNode(path)
    const valueRange = hasRange(value) && value.range[0] < value.range[1] ? value.range : undefined
    return { value: valueRange, key: hasRange(key) ? key.range : undefined, complete }
  }

  private locateNode(path: Path): { value: unknown; key: unknown; complete: boolean } {
    let value: unknown = this.doc.contents
    let key: unknown
    for (const segment of path) {
      if (isAlias(value)) value = value.resolve(this.doc)
      if (isMap(value)) {
        // The last of duplicate keys wins in the parsed value, so it is the one validated.
        const pair = value.items.filter((p) => keyName(p.key) === String(segment)).pop()
        if (pair === undefined) return { value, key, complete: false }
        key = pair.key
        value = pair.value
      } else if (isSeq(value) && typeof segment === 'number' && segment < value.items.length) {
        key = undefined
        value = value.items[segment]
      } else {
        return { value, key, complete: false }
      }
    }
    return { value, key, complete: true }
  }
}

function hasRange(node: unknown): node is { range: Range } {
  return (
    typeof node === 'object' && node !== null && Array.isArray((node as { range?: unknown }).range)
  )
}

function keyName(key: unknown): string | undefined {
  return isScalar(key) ? String(key.value) : undefined
}

function reportDuplicateKeys(source: Source, node: unknown, path: Path): void {
  if (isMap(node)) {
    const first = new Map<string, number>()
    for (const pair of node.items) {
      const name = keyName(pair.key)
      if (name !== undefined && hasRange(pair.key)) {
        const earlier = first.get(name)
        if (earlier === undefined) first.set(name, pair.key.range[0])
        else {
          const where = path.length === 0 ? 'at the top level' : `in ${dottedPath(path)}`
          const line = source.lineOf(earlier)
          source.addAt(
            pair.key.range,
            `duplicate key ${quote(name)} ${where} (first at line ${line})`
          )
        }
      }
      reportDuplicateKeys(source, pair.value, [...path, name ?? '?'])
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => reportDuplicateKeys(source, item, [...path, index]))
  }
}

type Issue = z.core.$ZodIssue

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping'
}

/**
 * Turns one zod issue into a problem. `data` is what `schema` validated and `prefix` where that
 * data sits in the document, so that a train spec re-validated for one environment is reported
 * at the override (or default) it came from.
 */
function reportIssue(source: Source, issue: Issue, schema: z.ZodType, data: unknown, prefix: Path) {
  const relative: PathSegment[] = issue.path.map((s) => (typeof s === 'number' ? s : String(s)))
  const path = [...prefix, ...relative]
  const where = dottedPath(path)
  const value = valueAt(data, relative)
  const got = `(got ${describeValue(value)})`
  const last = path[path.length - 1]
  const missing = value === undefined && relative.length > 0 && typeof last === 'string'

  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = Object.keys(objectShape(schemaAt(schema, data, relative)))
      const container = where === '' ? 'at the top level' : `in ${where}`
      for (const key of issue.keys) {
        const hint = didYouMean(key, allowed) || `; expected one of ${allowed.join(', ')}`
        source.report([...path, key], 'key', `unknown key ${quote(key)} ${container}${hint}`)
      }
      return
    }
    case 'invalid_key': {
      const reason = issue.issues[0]?.message ?? issue.message
      const container = dottedPath(path.slice(0, -1))
      source.report(path, 'key', `name ${quote(String(last))} in ${container} ${reason}`)
      return
    }
    case 'invalid_union':
      if (issue.discriminator !== undefined) {
        const options = BACKENDS.join(', ')
        const container = dottedPath(path.slice(0, -1))
        if (missing) {
          const message = `missing required key ${quote(String(last))} in ${container}; expected one of ${options}`
          source.report(path, 'parent', message)
        } else if (typeof value === 'string') {
          const hint = didYouMean(value, BACKENDS)
          const message = `unknown backend ${quote(value)} in ${container}; expected one of ${options}${hint}`
          source.report(path, 'value', message)
        } else {
          source.report(path, 'value', `${where} must be one of ${options} ${got}`)
        }
        return
      }
      break
    case 'too_small':
      if (!missing) {
        source.report(path, 'value', `${where} ${tooSmall(issue)} ${got}`)
        return
      }
      break
    case 'invalid_format':
      if (issue.format === 'url') {
        source.report(path, 'value', `${where} must be an http(s) URL ${got}`)
      } else {
        source.report(path, 'value', `${where} ${issue.message} ${got}`)
      }
      return
    case 'custom':
      source.report(path, 'value', `${where} ${issue.message}`)
      return
  }

  if (missing) {
    const container = path.length === 1 ? 'at the top level' : `in ${dottedPath(path.slice(0, -1))}`
    source.report(path, 'parent', `missing required key ${quote(String(last))} ${container}`)
    return
  }
  switch (issue.code) {
    case 'invalid_type': {
      const finite = issue.expected === 'number' && typeof value === 'number'
      const expected = finite ? 'a finite number' : (EXPECTED[issue.expected] ?? issue.expected)
      source.report(path, 'value', `${where} must be ${expected} ${got}`)
      return
    }
    case 'invalid_value': {
      const shown = issue.values.map((v) => (typeof v === 'string' ? quote(v) : String(v)))
      const expected = shown.length === 1 ? shown[0] : `one of ${shown.join(', ')}`
      const options = issue.values.filter((v): v is string => typeof v === 'string')
      const hint = typeof value === 'string' ? didYouMean(value, options) : ''
      source.report(path, 'value', `${where} must be ${expected} ${got}${hint}`)
      return
    }
    case 'invalid_union': {
      const expected = describeSchema(schemaAt(schema, data, relative))
      source.report(path, 'value', `${where} must be ${expected} ${got}`)
      return
    }
    default:
      source.report(path, 'value', `${where}: ${issue.message}`)
  }
}

/** zod still runs a field's checks after its type failed (`[]` is also "too short"): keep the type. */
function withoutFollowOns(issues: readonly Issue[]): Issue[] {
  const mistyped = new Set(
    issues.filter((i) => i.code === 'invalid_type').map((i) => JSON.stringify(i.path))
  )
  return issues.filter((i) => i.code === 'invalid_type' || !mistyped.has(JSON.stringify(i.path)))
}

function tooSmall(issue: z.core.$ZodIssueTooSmall): string {
  const min = Number(issue.minimum)
  if (issue.origin === 'string') return 'must not be empty'
  if (issue.origin === 'array') return `must have at least ${min} item${min === 1 ? '' : 's'}`
  return issue.inclusive ? `must be at least ${min}` : `must be greater than ${min}`
}

/** The schema that validated `path` inside `data`, options of discriminated unions resolved. */
function schemaAt(schema: z.ZodType, data: unknown, path: Path): z.ZodType | undefined {
  let current: z.ZodType | undefined = settle(schema, data)
  let value = data
  for (const segment of path) {
    value = valueAt(value, [segment])
    let next: unknown
    if (current instanceof z.ZodObject) next = current.shape[segment]
    else if (current instanceof z.ZodRecord) next = current.valueType
    else if (current instanceof z.ZodArray) next = current.element
    current = next instanceof z.ZodType ? settle(next, value) : undefined
  }
  return current
}

function settle(schema: z.ZodType, value: unknown): z.ZodType {
  let current = schema
  for (;;) {
    if (current instanceof z.ZodOptional || current instanceof z.ZodDefault) {
      current = current.unwrap() as z.ZodType
    } else if (current instanceof z.ZodDiscriminatedUnion) {
      const key = current.def.discriminator
      const tag = valueAt(value, [key])
      const option = current.options.find(
        (o) => o instanceof z.ZodObject && literalValues(o.shape[key]).includes(tag)
      )
      if (option === undefined) return current
      current = option as z.ZodType
    } else {
      return current
    }
  }
}

function literalValues(schema: unknown): unknown[] {
  return schema instanceof z.ZodLiteral ? [...schema.values] : []
}

function objectShape(schema: z.ZodType | undefined): Record<string, unknown> {
  return schema instanceof z.ZodObject ? schema.shape : {}
}

function describeSchema(schema: z.ZodType | undefined): string {
  const current = schema === undefined ? undefined : settle(schema, undefined)
  if (current instanceof z.ZodUnion) {
    return current.options.map((o) => describeSchema(o as z.ZodType)).join(' or ')
  }
  if (current instanceof z.ZodLiteral) return literalValues(current).map(String).join(' or ')
  if (current instanceof z.ZodNumber) return current.isInt ? 'an integer' : 'a number'
  if (current instanceof z.ZodString) return 'a string'
  return 'valid'
}

function valueAt(data: unknown, path: Path): unknown {
  let value = data
  for (const segment of path) {
    if (Array.isArray(value) && typeof segment === 'number') value = value[segment]
    else if (isRecord(value) && Object.hasOwn(value, segment)) value = value[segment]
    else return undefined
  }
  return value
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Train (and evaluate) specs per model and environment, from the defaults and the overrides. */
type Resolved = Map<string, { train: Map<string, TrainSpec>; evaluate: Map<string, TrainSpec> }>

/** The rules a schema cannot say: references between sections, and the merged train specs. */
/** The check run of config problems is `ml-promote / config`; no model may take that name. */
const RESERVED_MODEL_NAME = 'config'

function checkCrossFields(source: Source, root: Record<string, unknown>): Resolved {
  const resolved: Resolved = new Map()
  const environments = isRecord(root.environments) ? root.environments : {}
  const envNames = source.keysAt(['environments']).filter((n) => Object.hasOwn(environments, n))

  const gateEnvironment = root.gate_environment
  if (typeof gateEnvironment === 'string' && envNames.length > 0) {
    if (!envNames.includes(gateEnvironment)) {
      const hint = didYouMean(gateEnvironment, envNames)
      const message = `gate_environment ${quote(gateEnvironment)} is not a declared environment${hint}`
      source.report(['gate_environment'], 'value', message)
    }
  }

  const branches = new Map<string, string>()
  for (const env of envNames) {
    const branch = valueAt(environments, [env, 'branch'])
    if (typeof branch !== 'string') continue
    const first = branches.get(branch)
    if (first === undefined) branches.set(branch, env)
    else {
      const message = `environments.${env}.branch ${quote(branch)} is also the branch of ${first}; each environment needs its own branch`
      source.report(['environments', env, 'branch'], 'value', message)
    }
  }

  const models = isRecord(root.models) ? root.models : {}
  for (const [name, model] of Object.entries(models)) {
    if (name === RESERVED_MODEL_NAME) {
      const message = `model name ${quote(name)} is reserved: the check run "ml-promote / ${name}" reports problems in this file`
      source.report(['models', name], 'key', message)
    }
    if (!isRecord(model)) continue
    checkPaths(source, name, 'paths', model.paths)
    checkPaths(source, name, 'retrain_paths', model.retrain_paths)
    const byModel = model.promote === 'model'
    const evaluated = byModel ? envNames.slice(1) : []
    if (byModel && evaluated.length > 0 && model.evaluate === undefined) {
      const message = `models.${name} uses promote: model, so ${evaluated.join(' and ')} evaluate${evaluated.length === 1 ? 's' : ''} the artifact ${envNames[0]} trained: add models.${name}.evaluate, a job that scores $ML_PROMOTE_MODEL_URI on that environment's data`
      source.report(['models', name, 'promote'], 'value', message)
    }
    if (!byModel) {
      for (const key of ['evaluate', 'retrain_paths']) {
        if (model[key] === undefined) continue
        const message = `models.${name}.${key} is used only with promote: model (this model retrains in every environment); set models.${name}.promote: model or remove it`
        source.report(['models', name, key], 'key', message)
      }
    }
    checkGate(source, name, model.gate, model.metric_names)
    const overrides = isRecord(model.environments) ? model.environments : {}
    for (const env of Object.keys(overrides)) {
      if (envNames.length > 0 && !envNames.includes(env)) {
        const message = `models.${name}.environments.${env} overrides an undeclared environment${didYouMean(env, envNames)}`
        source.report(['models', name, 'environments', env], 'key', message)
      }
    }
    const downstream = isRecord(model.on_promote) ? model.on_promote : {}
    for (const env of Object.keys(downstream)) {
      if (envNames.length > 0 && !envNames.includes(env)) {
        const message = `models.${name}.on_promote.${env} names an undeclared environment${didYouMean(env, envNames)}`
        source.report(['models', name, 'on_promote', env], 'key', message)
      }
      const jobs = Array.isArray(downstream[env]) ? (downstream[env] as unknown[]) : []
      const seen = new Set<string>()
      jobs.forEach((job, i) => {
        const jobName = isRecord(job) ? job.name : undefined
        if (typeof jobName !== 'string') return
        if (seen.has(jobName)) {
          const message = `models.${name}.on_promote.${env} has two jobs named ${quote(jobName)}`
          source.report(['models', name, 'on_promote', env, i, 'name'], 'value', message)
        }
        seen.add(jobName)
      })
    }
    const specs = new Map<string, TrainSpec>()
    const evaluations = new Map<string, TrainSpec>()
    for (const env of envNames) {
      if (evaluated.includes(env)) {
        // The override of an environment that evaluates applies to its evaluation; a pull
        // request gated there trains the default spec.
        const train = resolveTrain(source, name, env, 'train', model.train, undefined)
        if (train !== undefined) specs.set(env, train)
        if (model.evaluate === undefined) continue
        const spec = resolveTrain(source, name, env, 'evaluate', model.evaluate, overrides[env])
        if (spec !== undefined) evaluations.set(env, spec)
        continue
      }
      const spec = resolveTrain(source, name, env, 'train', model.train, overrides[env])
      if (spec !== undefined) specs.set(env, spec)
    }
    resolved.set(name, { train: specs, evaluate: evaluations })
  }
  return resolved
}

function checkPaths(source: Source, model: string, key: string, paths: unknown): void {
  if (!Array.isArray(paths)) return
  paths.forEach((glob, index) => {
    if (typeof glob !== 'string' || glob === '') return
    try {
      // strictBrackets rejects unbalanced brackets instead of matching them literally, and debug
      // throws on a glob whose regex does not compile instead of silently matching nothing.
      picomatch.makeRe(glob, { strictBrackets: true, debug: true })
    } catch (error) {
      const reason = (error as Error).message.replace(/^Invalid regular expression: \/.*\/: /, '')
      const message = `models.${model}.${key}[${index}] is not a valid glob (got ${quote(glob)}): ${reason}`
      source.report(['models', model, key, index], 'value', message)
    }
  })
}

function checkGate(source: Source, model: string, gate: unknown, metricNames: unknown): void {
  if (!isRecord(gate)) return
  const known =
    Array.isArray(metricNames) && metricNames.every((n) => typeof n === 'string')
      ? (metricNames as string[])
      : undefined
  for (const [metric, rule] of Object.entries(gate)) {
    const path = ['models', model, 'gate', metric]
    if (known !== undefined && !known.includes(metric)) {
      const message = `models.${model}.gate.${metric} is not one of models.${model}.metric_names (${known.join(', ')})${didYouMean(metric, known)}`
      source.report(path, 'key', message)
    }
    if (
      isRecord(rule) &&
      !['threshold', 'min_absolute_change', 'min_relative_change'].some((k) =>
        Object.hasOwn(rule, k)
      )
    ) {
      const message = `models.${model}.gate.${metric} gates nothing: set threshold, min_absolute_change or min_relative_change`
      source.report(path, 'key', message)
    }
  }
}

/**
 * The train spec one environment runs: the default, shallow-merged with the environment's
 * override, or replaced by it when the override names another backend (the default's fields
 * mean nothing to a different backend).
 */
function resolveTrain(
  source: Source,
  model: string,
  env: string,
  key: 'train' | 'evaluate',
  base: unknown,
  override: unknown
): TrainSpec | undefined {
  const defaultPath = ['models', model, key]
  if (override === undefined) {
    // The default's own problems are reported by the config schema.
    const result = trainSpec.safeParse(base)
    return result.success ? result.data : undefined
  }
  if (!isRecord(override)) return undefined
  const replaces =
    Object.hasOwn(override, 'backend') && (!isRecord(base) || override.backend !== base.backend)
  if (!replaces && !isRecord(base)) return undefined
  const merged = replaces ? override : { ...(base as Record<string, unknown>), ...override }
  const result = trainSpec.safeParse(merged)
  if (result.success) return result.data

  const overridePath = ['models', model, 'environments', env]
  const origin = (key: PropertyKey | undefined): Path =>
    replaces || (typeof key === 'string' && Object.hasOwn(override, key))
      ? overridePath
      : defaultPath
  for (const issue of withoutFollowOns(result.error.issues)) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        reportIssue(source, { ...issue, keys: [key] }, trainSpec, merged, origin(key))
      }
    } else {
      reportIssue(source, issue, trainSpec, merged, origin(issue.path[0]))
    }
  }
  return undefined
}

function normalise(source: Source, raw: RawConfig, resolved: Resolved): Config {
  const envNames = source.keysAt(['environments'])
  const environments = envNames.map((name) => {
    const env = raw.environments[name] as RawConfig['environments'][string]
    return { name, branch: env.branch, schedule: env.schedule }
  })
  const models = source.keysAt(['models']).map((name): ModelConfig => {
    const model = raw.models[name] as RawConfig['models'][string]
    const { train: specs, evaluate: evaluations } = resolved.get(name) as {
      train: Map<string, TrainSpec>
      evaluate: Map<string, TrainSpec>
    }
    const gate = Object.fromEntries(
      source.keysAt(['models', name, 'gate']).map((metric) => [metric, model.gate[metric]])
    ) as ModelConfig['gate']
    const promote = model.promote
    return {
      name,
      promote,
      paths: model.paths,
      ...(model.retrain_paths === undefined ? {} : { retrainPaths: model.retrain_paths }),
      ...(model.metric_names === undefined ? {} : { metricNames: model.metric_names }),
      train: Object.fromEntries(envNames.map((env) => [env, specs.get(env) as TrainSpec])),
      defaultTrain: model.train,
      ...(promote === 'model' && model.evaluate !== undefined
        ? { evaluate: Object.fromEntries(evaluations), defaultEvaluate: model.evaluate }
        : {}),
      gate,
      ...(Object.keys(model.on_promote ?? {}).length > 0 ? { onPromote: model.on_promote } : {})
    }
  })
  return {
    file: source.file,
    version: raw.version,
    gateEnvironment: raw.gate_environment ?? (envNames[0] as string),
    environments,
    models,
    champions: raw.champions ?? championsSpec.parse({}),
    ...(raw.max_parallel === undefined ? {} : { maxParallel: raw.max_parallel }),
    ...(raw.sweep_workflow === undefined ? {} : { sweepWorkflow: raw.sweep_workflow })
  }
}
