// The local adapter: the same engine as the action, with a file champion store and git for the
// facts the event payload gives the action.
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { createBackend } from './backends/index.js'
import { createStore } from './champions/index.js'
import { judgingConfig, modelNotes, removedModelResults, type Judging } from './config/judging.js'
import { renderJsonSchema } from './config/json-schema.js'
import { formatProblem, loadConfig, loadConfigFile } from './config/load.js'
import { reconcilePending, rollbackChampion, runPlan } from './engine.js'
import { consoleLogger } from './log.js'
import { plan as makePlan, PlanError, renderPlan } from './plan.js'
import { downstreamFailures, overallVerdict, renderText } from './report/markdown.js'
import type { Champion, Config, EventName, Mode } from './types.js'

const USAGE = `Usage: ml-promote <command> [options]

Commands:
  validate     check the config; report every problem as file:line:col
  plan         print what would happen for an event; runs nothing
  run          train, gate and promote as the action would, with a file champion store
  reconcile    conclude trainings started with --no-wait (one status call each)
  champions    print each environment's champion and where it comes from
  rollback     restore an earlier champion: --model M --environment E --reason TEXT [--to SHA]
  schema       print the config's JSON Schema

Options:
  --config F            pipeline config (default .github/ml-promote.yml)
  --event E             pull_request | push | schedule | workflow_dispatch (default push)
  --branch B            branch the event happened on (default: the checked-out branch)
  --base B              pull_request: the branch the PR targets
  --changed a,b         changed files (default: from git — a pull request's against --base, a
                        push's last commit against its first parent — else all models)
  --environment E       environment to act on (workflow_dispatch / schedule)
  --models a,b          only these models
  --model M             rollback: the model whose champion is restored
  --to SHA              rollback: the commit to restore, 7+ digits (default: the one
                        before the current champion)
  --reason TEXT         rollback: why (required; kept in the history)
  --mode M              auto | gate | retrain (default auto)
  --state DIR           file champion store (default .ml-promote/)
  --sha S               commit being trained (default: git HEAD)
  --run-id ID           id shared by re-runs (default: new each run)
  --timeout-minutes N   budget for training (default 330)
  --max-parallel N      trainings at once (default: config max_parallel, else 10;
                        runner trainings also at most one per core)
  --no-wait             start remote training, record it as pending and return
  --json                print the results (champions, rollback: the champions) as JSON
  -q, --quiet           only the report
  -h, --help            this text
`

const EVENTS: EventName[] = ['pull_request', 'push', 'schedule', 'workflow_dispatch']

class UsageError extends Error {}

function git(args: string[], cwd: string): string | undefined {
  try {
    return execFileSync('git', args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 16 * 1024 * 1024
    }).trim()
  } catch {
    return undefined
  }
}

/** owner/name from the origin remote, else a local name: part of every idempotency key. */
function repoName(cwd: string): string {
  const origin = git(['remote', 'get-url', 'origin'], cwd)
  return origin?.match(/[:/]([^/:]+\/[^/]+?)(\.git)?$/)?.[1] ?? `local/${path.basename(cwd)}`
}

function list(v: string | undefined): string[] | undefined {
  const items = (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  return items.length ? items : undefined
}

export async function cli(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', default: '.github/ml-promote.yml' },
      event: { type: 'string', default: 'push' },
      branch: { type: 'string' },
      base: { type: 'string' },
      changed: { type: 'string' },
      environment: { type: 'string' },
      models: { type: 'string' },
      model: { type: 'string' },
      to: { type: 'string' },
      reason: { type: 'string' },
      mode: { type: 'string', default: 'auto' },
      state: { type: 'string', default: '.ml-promote' },
      sha: { type: 'string' },
      'run-id': { type: 'string' },
      'timeout-minutes': { type: 'string', default: '330' },
      'max-parallel': { type: 'string' },
      json: { type: 'boolean', default: false },
      'no-wait': { type: 'boolean', default: false },
      quiet: { type: 'boolean', short: 'q', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  const command = positionals[0]
  if (values.help || !command) {
    process.stdout.write(USAGE)
    return command || values.help ? 0 : 2
  }
  if (command === 'schema') {
    process.stdout.write(renderJsonSchema())
    return 0
  }
  if (!['validate', 'plan', 'run', 'reconcile', 'champions', 'rollback'].includes(command))
    throw new UsageError(`unknown command "${command}"`)

  const log = consoleLogger({ quiet: values.quiet })
  const cwd = process.cwd()
  const configPath = path.resolve(cwd, values.config!)
  const relConfig = path.relative(cwd, configPath).split(path.sep).join('/')
  const loaded = await loadConfigFile(configPath, relConfig)
  if (!loaded.config) {
    for (const p of loaded.problems) process.stderr.write(formatProblem(p) + '\n')
    process.stderr.write(`${relConfig}: ${loaded.problems.length} problem(s); nothing was run\n`)
    return 2
  }
  let config: Config = loaded.config
  if (command === 'validate') {
    process.stdout.write(
      `${relConfig}: valid (${config.models.length} model(s), environments ${config.environments.map((e) => e.name).join(' → ')})\n`
    )
    return 0
  }
  const stateDir = path.resolve(cwd, values.state!)
  if (command === 'champions') {
    const store = await createStore(config, { env: process.env, log, stateDir, inActions: false })
    const all: Array<{ model: string; environment: string; champion: Champion | null }> = []
    for (const m of config.models) {
      for (const e of config.environments) {
        const champion = (await store.champion(m.name, e.name)) ?? null
        all.push({ model: m.name, environment: e.name, champion })
      }
    }
    if (values.json) process.stdout.write(JSON.stringify(all, null, 2) + '\n')
    else
      for (const { model, environment, champion } of all)
        process.stdout.write(
          `${model} [${environment}]: ${champion ? describeChampion(champion) : 'no champion yet'}\n`
        )
    return 0
  }

  if (command === 'rollback') {
    if (!values.model) throw new UsageError('rollback needs --model <name>')
    if (!values.environment) throw new UsageError('rollback needs --environment <name>')
    // A rollback is read later by people asking why the model changed: it is not recorded without why.
    const reason = values.reason?.trim()
    if (!reason) throw new UsageError('rollback needs --reason <text>: it is kept in the history')
    const store = await createStore(config, { env: process.env, log, stateDir, inActions: false })
    const { result, restored, replaced } = await rollbackChampion({
      config,
      store,
      request: {
        model: values.model,
        environment: values.environment,
        ...(values.to ? { toSha: values.to } : {}),
        reason,
        trigger: `rollback by ${process.env.USER || 'cli'}`
      },
      context: {
        repo: repoName(cwd),
        workspace: cwd,
        runId: `local-${Date.now().toString(36)}`,
        outputRoot: path.join(stateDir, 'runs')
      },
      log,
      signal: new AbortController().signal,
      deadline: Date.now() + 6 * 3_600_000,
      jobBackend: (spec) => createBackend(spec, { env: process.env, log })
    }).catch((e: unknown) => {
      throw e instanceof PlanError ? new UsageError(e.message) : e
    })
    const downstream = result.downstream ?? []
    if (values.json)
      process.stdout.write(JSON.stringify({ ...restored, downstream }, null, 2) + '\n')
    else
      process.stdout.write(
        `${result.model} [${result.environment}]: restored ${describeChampion(restored)}\n` +
          (replaced ? `  replaced: ${describeChampion(replaced).split('\n')[0]}\n` : '') +
          downstream
            .map(
              (d) => `  on_promote ${d.name}: ${d.ok ? 'done' : `FAILED - ${d.message ?? ''}`}\n`
            )
            .join('')
      )
    const failed = downstreamFailures([result])
    for (const f of failed) process.stderr.write(`${f}\n`)
    return failed.length ? 1 : 0
  }

  if (command === 'reconcile') {
    const store = await createStore(config, { env: process.env, log, stateDir, inActions: false })
    const reconciled = await reconcilePending({
      config,
      store,
      backendFor: (spec) => createBackend(spec, { env: process.env, log }),
      log,
      signal: new AbortController().signal,
      workspace: cwd,
      repo: repoName(cwd),
      outputRoot: path.join(stateDir, 'runs')
    })
    const results = reconciled.map((x) => x.result)
    if (values.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n')
    else
      process.stdout.write(
        renderText({
          title: 'reconcile',
          results,
          notes: results.length ? [] : ['no training was waiting to be concluded']
        })
      )
    return results.some((r) => r.verdict === 'fail' || r.verdict === 'error') ? 1 : 0
  }

  const event = values.event as EventName
  if (!EVENTS.includes(event))
    throw new UsageError(`--event must be one of ${EVENTS.join(', ')} (got "${event}")`)
  const mode = values.mode as Mode
  if (!['auto', 'gate', 'retrain'].includes(mode))
    throw new UsageError(`--mode must be auto, gate or retrain (got "${mode}")`)
  if (event === 'pull_request' && !values.base)
    throw new UsageError('--event pull_request needs --base <branch>')
  if (event === 'pull_request' && mode === 'retrain')
    throw new UsageError('--mode retrain on a pull request would promote unmerged code')
  const branch = values.branch ?? git(['rev-parse', '--abbrev-ref', 'HEAD'], cwd) ?? 'main'
  const sha = values.sha ?? git(['rev-parse', 'HEAD'], cwd) ?? '0'.repeat(40)

  const notes: string[] = []
  let judging: Judging | undefined
  if (event === 'pull_request') {
    // Judged by the config on the base, as in the action; only the train specs are the head's.
    const baseText = git(['show', `${values.base}:${relConfig}`], cwd)
    const base =
      baseText === undefined ? undefined : loadConfig(baseText, `${relConfig}@${values.base}`)
    if (base && !base.config) {
      for (const p of base.problems) process.stderr.write(formatProblem(p) + '\n')
      process.stderr.write(
        `the config on ${values.base} is invalid: there is no gate to judge by\n`
      )
      return 2
    }
    if (!base) notes.push(`${relConfig} does not exist on ${values.base}: judged by its own gate.`)
    judging = judgingConfig(config, base?.config, loaded.locate)
    config = judging.config
    for (const c of judging.changes) {
      log.notice(`${c.message} (judged by the config on ${values.base})`, c.at)
      if (c.model === undefined) notes.push(c.message)
    }
  }
  // A pull request changes what its branch adds to the base; a push, what its commit adds to the
  // first parent (for a merge: everything merged). A root commit changes everything.
  const range =
    event === 'pull_request'
      ? `${values.base}...HEAD`
      : event === 'push'
        ? 'HEAD^1..HEAD'
        : undefined
  const changed =
    list(values.changed) ??
    (range
      ? list(git(['diff', '--name-only', range, '--relative'], cwd)?.split('\n').join(','))
      : undefined)
  let thePlan
  try {
    thePlan = makePlan(config, {
      event,
      branch,
      base: values.base,
      changedFiles: changed,
      environment: values.environment,
      models: list(values.models),
      mode
    })
  } catch (e) {
    if (e instanceof PlanError) throw new UsageError(e.message)
    throw e
  }
  if (command === 'plan') {
    process.stdout.write(renderPlan(thePlan) + '\n')
    return 0
  }

  const timeout = Number(values['timeout-minutes'])
  if (!Number.isFinite(timeout) || timeout <= 0)
    throw new UsageError('--timeout-minutes must be a positive number')
  const deadline = Date.now() + timeout * 60_000
  const maxParallel =
    values['max-parallel'] === undefined ? undefined : Number(values['max-parallel'])
  if (maxParallel !== undefined && !(Number.isInteger(maxParallel) && maxParallel >= 1))
    throw new UsageError('--max-parallel must be a whole number ≥ 1')
  const abort = new AbortController()
  const onSignal = () => abort.abort(new Error('interrupted'))
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const store = await createStore(config, { env: process.env, log, stateDir, inActions: false })
  const repo = repoName(cwd)
  try {
    const results = await runPlan({
      config,
      plan: thePlan,
      context: {
        repo,
        sha,
        ref: `refs/heads/${branch}`,
        workspace: cwd,
        runId: values['run-id'] ?? `local-${Date.now().toString(36)}`,
        outputRoot: path.join(stateDir, 'runs'),
        checkedOutBranch:
          event === 'schedule' || event === 'workflow_dispatch' ? branch : undefined,
        trigger: `ml-promote run --event ${event}${process.env.USER ? ` by ${process.env.USER}` : ''}`
      },
      backendFor: (spec) => createBackend(spec, { env: process.env, log }),
      jobBackend: (spec) => createBackend(spec, { env: process.env, log }),
      store,
      log,
      signal: abort.signal,
      deadline,
      detach: values['no-wait'],
      maxParallel: maxParallel ?? config.maxParallel
    })
    if (thePlan.kind === 'gate') results.push(...removedModelResults(judging, relConfig))
    for (const r of results) {
      const said = modelNotes(judging, r.model, values.base ?? '')
      if (said.length) r.notes = said
    }
    const title =
      thePlan.kind === 'gate'
        ? `gate in ${thePlan.environment}`
        : `${event === 'schedule' ? 'scheduled retrain' : 'retrain'}${thePlan.environment ? ` in ${thePlan.environment}` : ''}`
    if (values.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n')
    else process.stdout.write(renderText({ title, plan: thePlan, results, notes }))
    const verdict = overallVerdict(results)
    for (const line of downstreamFailures(results)) log.error(line)
    return verdict === 'fail' ||
      results.some((r) => r.verdict === 'error') ||
      downstreamFailures(results).length > 0
      ? 1
      : 0
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** A champion on one line, then one indented line per lineage fact it has. */
function describeChampion(c: Champion): string {
  const trained =
    c.trainedIn || c.trainedSha
      ? [
          c.trainedIn && `in ${c.trainedIn}`,
          c.trainedSha && `at ${c.trainedSha.slice(0, 7)}`,
          c.trainingRunUrl && `(${c.trainingRunUrl})`
        ]
          .filter(Boolean)
          .join(' ')
      : undefined
  const facts: Array<[string, string | undefined]> = [
    ['artifact', c.modelUri],
    ['data version', c.dataVersion],
    ['trained', trained],
    ['trigger', c.trigger],
    ['approved by', c.approvedBy],
    [
      'rolled back',
      c.rollback &&
        `${c.rollback.reason}${c.rollback.replacedSha ? ` (replaced ${c.rollback.replacedSha.slice(0, 7)})` : ''}`
    ]
  ]
  return [
    `${c.sha.slice(0, 7)} since ${c.promotedAt} ${JSON.stringify(c.metrics)}`,
    ...facts.filter(([, v]) => v).map(([k, v]) => `  ${k}: ${v}`)
  ].join('\n')
}

cli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (e: Error) => {
    process.stderr.write(`ml-promote: ${e.message}\n`)
    if (e instanceof UsageError) process.stderr.write(`Run "ml-promote --help" for usage.\n`)
    process.exitCode = 2
  }
)
