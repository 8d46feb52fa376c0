// The action's main step: inputs and event in, engine, then outputs, job summary, check runs and
// the sticky PR comment out. Loaded by main.ts only for the main step, so the post step that ends
// every job does not pay for it.
import * as core from '@actions/core'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { PendingRuns } from './cancel.js'
import { createStore } from './champions/index.js'
import { loadConfig, loadConfigFile } from './config/load.js'
import {
  judgingConfig,
  modelNotes,
  removedModelResults,
  type Judging,
  type Locate
} from './config/judging.js'
import { reconcilePending, rollbackChampion, runPlan, type Reconciled } from './engine.js'
import type { Octokit, RepoRef } from './github.js'
import { getInputs, repoRef, type Inputs } from './inputs.js'
import { actionLogger } from './log.js'
import { plan as makePlan, renderPlan } from './plan.js'
import {
  code,
  link,
  downstreamFailures,
  modelSection,
  reportSections,
  overallVerdict,
  renderPlanMarkdown,
  renderSummary,
  text
} from './report/markdown.js'
import type {
  Champion,
  ChampionStore,
  Config,
  ConfigProblem,
  DownstreamOutcome,
  EventName,
  Logger,
  ModelResult,
  PendingTraining,
  PlanInput
} from './types.js'

/**
 * The GitHub client and everything built on it, loaded on first use: validating a config (and
 * every cold start) should not pay for parsing Octokit and its HTTP stack.
 */
async function githubTools() {
  const [client, changes, checks, comment, backends] = await Promise.all([
    import('./github.js'),
    import('./changes.js'),
    import('./report/checks.js'),
    import('./report/comment.js'),
    import('./backends/index.js')
  ])
  return { ...client, ...changes, ...checks, ...comment, ...backends }
}

const EVENTS: EventName[] = ['pull_request', 'push', 'schedule', 'workflow_dispatch']
/** Events a remote training sends when it ends: `mode: reconcile` concludes the one they name. */
const CALLBACK_EVENTS = ['workflow_run', 'repository_dispatch'] as const
type CallbackEvent = (typeof CALLBACK_EVENTS)[number]
/** The `repository_dispatch` event type of a completion callback. */
export const CALLBACK_EVENT_TYPE = 'ml-promote-training-ended'
/** How long a `repository_dispatch` callback waits for the run that sent it to finish. */
const CALLBACK_SETTLE_MS = 60_000

function isCallbackEvent(name: string): name is CallbackEvent {
  return (CALLBACK_EVENTS as readonly string[]).includes(name)
}
/** The step summary is capped at 1 MiB by the runner. */
const SUMMARY_LIMIT = 1024 * 1024 - 1024

// Webhook payloads are read field by field where they are used.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Payload = Record<string, any>

interface EventFacts {
  name: EventName | CallbackEvent
  payload: Payload
  /** Commit whose code is trained (PR: its head). */
  sha: string
  ref: string
  branch: string
  base?: string
  baseSha?: string
  pullNumber?: number
}

function eventFacts(workspace: string): EventFacts {
  const eventName = process.env.GITHUB_EVENT_NAME ?? ''
  const name = eventName as EventFacts['name']
  const eventPath = process.env.GITHUB_EVENT_PATH
  const payload = (
    eventPath && existsSync(eventPath) ? JSON.parse(readFileSync(eventPath, 'utf8')) : {}
  ) as Payload
  if (!(EVENTS as string[]).includes(name) && !isCallbackEvent(eventName)) {
    throw new Error(
      `ml-promote runs on ${EVENTS.join(', ')} (and, with mode reconcile, on ${CALLBACK_EVENTS.join(' or ')}); this workflow ran on "${eventName}"`
    )
  }
  if (name === 'pull_request') {
    const pr = payload.pull_request
    return {
      name,
      payload,
      sha: pr.head.sha,
      ref: `refs/heads/${pr.head.ref}`,
      branch: pr.head.ref,
      base: pr.base.ref,
      baseSha: pr.base.sha,
      pullNumber: pr.number
    }
  }
  const ref = process.env.GITHUB_REF || ''
  // What is checked out is what trains (a scheduled job may check out the release branch).
  const sha =
    gitHead(workspace) ??
    (name === 'push' ? payload.after : undefined) ??
    process.env.GITHUB_SHA ??
    ''
  return { name, payload, sha, ref, branch: ref.replace(/^refs\/heads\//, '') }
}

function gitBranch(dir: string): string | undefined {
  try {
    return (
      execFileSync('git', ['symbolic-ref', '--short', '-q', 'HEAD'], {
        cwd: dir,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore']
      }).trim() || undefined
    )
  } catch {
    return undefined
  }
}

function gitHead(dir: string): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: dir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore']
    }).trim()
  } catch {
    return undefined
  }
}

async function writeSummary(markdown: string): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  const text =
    markdown.length > SUMMARY_LIMIT
      ? markdown.slice(0, SUMMARY_LIMIT) +
        '\n\n_Summary truncated at the 1 MiB step-summary limit; see the log for the rest._\n'
      : markdown
  await core.summary.addRaw(text).write()
}

function setOutputs(
  verdict: string,
  environment: string | undefined,
  results: ModelResult[]
): void {
  core.setOutput('verdict', verdict)
  core.setOutput('environment', environment ?? '')
  core.setOutput('results', JSON.stringify(results))
}

export async function main(): Promise<void> {
  const inputs = getInputs()
  const log = actionLogger()
  if (process.env.GITHUB_EVENT_NAME === 'pull_request' && inputs.mode === 'retrain') {
    throw new Error(
      'mode retrain on a pull request would promote unmerged code; use mode gate (or auto)'
    )
  }
  if (process.env.GITHUB_EVENT_NAME === 'pull_request' && inputs.mode === 'reconcile') {
    throw new Error(
      "mode reconcile concludes trainings with the repository's own config; run it on schedule, workflow_dispatch or a callback event, not on a pull request"
    )
  }
  if (process.env.GITHUB_EVENT_NAME === 'pull_request' && inputs.mode === 'rollback') {
    throw new Error(
      'mode rollback changes which model serves an environment; run it from workflow_dispatch, not on a pull request'
    )
  }
  const callback = isCallbackEvent(process.env.GITHUB_EVENT_NAME ?? '')
  if (callback && inputs.mode === 'auto') inputs.mode = 'reconcile'
  if (callback && inputs.mode !== 'reconcile' && inputs.mode !== 'validate') {
    throw new Error(
      `on ${process.env.GITHUB_EVENT_NAME} ml-promote only concludes the training the event names (mode reconcile); mode ${inputs.mode} is not for this event`
    )
  }
  const started = Date.now()
  const deadline = started + inputs.timeoutMinutes * 60_000
  // Paths GitHub knows (annotations, the contents API, changed files) are relative to the
  // repository root; the project (config, training, path filters) lives in working-directory.
  const root = process.env.GITHUB_WORKSPACE || process.cwd()
  const workspace = path.resolve(root, inputs.workingDirectory)
  const configPath = path.resolve(workspace, inputs.config)
  const relConfig = path.relative(root, configPath).split(path.sep).join('/')
  const projectPrefix = path.relative(root, workspace).split(path.sep).join('/')
  const event = eventFacts(workspace)
  const repo = repoRef()

  const loaded = await core.group(`Validate ${relConfig}`, async () =>
    loadConfigFile(configPath, relConfig)
  )
  if (!loaded.config) {
    for (const p of loaded.problems) log.error(p.message, p)
    const tools = inputs.token && event.name === 'pull_request' ? await githubTools() : undefined
    if (tools && !tools.isForkPull(event.payload) && inputs.mode !== 'validate') {
      const octokit = tools.createOctokit(inputs.token, { log, deadline })
      const checks = new tools.CheckReporter(octokit, repo, event.sha, log)
      await checks
        .annotateConfig(loaded.problems, `${relConfig} is invalid`)
        .catch((e) =>
          log.warning(`could not annotate the config problems: ${(e as Error).message}`)
        )
      await failBaseModels(checks, loaded.problems, relConfig, event, repo, octokit, workspace, log)
    }
    setOutputs('fail', undefined, [])
    await writeSummary(
      `## ml-promote: ${text(relConfig)} is invalid\n\n${loaded.problems.map((p) => `- ${code(`${p.file}:${p.line}:${p.col}`)} ${text(p.message)}`).join('\n')}\n`
    )
    throw new Error(`${relConfig} has ${loaded.problems.length} problem(s); nothing was run`)
  }
  let config: Config = loaded.config
  if (inputs.mode === 'validate') {
    log.info(
      `${relConfig} is valid: ${config.models.length} model(s), ${config.environments.length} environment(s)`
    )
    setOutputs('skipped', undefined, [])
    await writeSummary(
      `## ml-promote: ${text(relConfig)} is valid\n\n${config.models.length} model(s) across ${config.environments.map((e) => code(e.name)).join(' → ')}.\n`
    )
    return
  }

  const tools = await githubTools()
  const octokit = inputs.token ? tools.createOctokit(inputs.token, { log, deadline }) : undefined
  if (inputs.mode === 'rollback') {
    return rollbackRun({
      config,
      inputs,
      octokit,
      tools,
      repo,
      workspace,
      log,
      deadline
    })
  }
  const notes: string[] = []
  const fork = event.name === 'pull_request' && tools.isForkPull(event.payload)
  let judging: Judging | undefined
  if (event.name === 'pull_request') {
    judging = await judgePullRequest(
      config,
      loaded.locate,
      event,
      repo,
      octokit,
      relConfig,
      workspace,
      notes,
      log
    )
    config = judging.config
  }
  if (inputs.mode === 'reconcile') {
    return reconcileRun({ config, octokit, tools, repo, workspace, log, event })
  }
  if (isCallbackEvent(event.name))
    throw new Error(`mode ${inputs.mode} cannot run on ${event.name}`)
  const repoFiles =
    octokit && !fork
      ? await tools.changedFiles(octokit, repo, { name: event.name, payload: event.payload }, log)
      : undefined
  const files =
    repoFiles && projectPrefix
      ? repoFiles
          .filter((f) => f.startsWith(`${projectPrefix}/`))
          .map((f) => f.slice(projectPrefix.length + 1))
      : repoFiles
  const input: PlanInput = {
    event: event.name,
    branch: event.branch,
    base: event.base,
    changedFiles: files,
    environment: inputs.environment,
    models: inputs.models,
    mode: inputs.mode === 'plan' ? 'auto' : inputs.mode
  }
  const thePlan = makePlan(config, input)
  await core.group('Plan', async () => log.info(renderPlan(thePlan)))
  if (inputs.mode === 'plan') {
    setOutputs('skipped', thePlan.environment, [])
    await writeSummary(
      renderPlanMarkdown(thePlan) + notes.map((n) => `\n> [!NOTE]\n> ${n}\n`).join('')
    )
    return
  }
  if (fork) {
    const results: ModelResult[] = thePlan.items.map((i) => ({
      model: i.model,
      environment: i.environment,
      action: i.action,
      verdict: 'skipped',
      promoted: false,
      reason:
        'pull request from a fork: its token is read-only and secrets are withheld, so it is not trained; a maintainer can re-run it from a branch in this repository'
    }))
    core.notice(
      'Pull request from a fork: ml-promote does not train it (read-only token, no secrets). The result is neutral.'
    )
    setOutputs('skipped', thePlan.environment, results)
    await writeSummary(
      renderSummary({ title: 'fork pull request (neutral)', plan: thePlan, results, notes })
    )
    return
  }

  const checks = octokit
    ? new tools.CheckReporter(octokit, repo, event.sha, log, { detailsUrl: runUrl() })
    : undefined
  const stateDir =
    event.name === 'pull_request'
      ? baseStateDir(root, workspace, event.baseSha!)
      : path.resolve(workspace, '.ml-promote')
  const store = await actionStore(config, octokit, repo, stateDir, log)
  // A promotion names who approved the job when it ran in an environment with reviewers.
  const approvedBy =
    octokit &&
    thePlan.kind === 'retrain' &&
    thePlan.items.some((i) => i.action !== 'skip') &&
    Number(process.env.GITHUB_RUN_ID) > 0
      ? await tools.runApprovals(octokit, repo, Number(process.env.GITHUB_RUN_ID), log)
      : undefined
  const pending = new PendingRuns()
  const abort = new AbortController()
  const onSignal = (sig: NodeJS.Signals) => {
    log.warning(`received ${sig}: cancelling training`)
    abort.abort(new Error(`workflow cancelled (${sig})`))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const timer = setTimeout(
    () => abort.abort(new Error('timeout-minutes reached')),
    Math.max(0, deadline - Date.now())
  )
  timer.unref()

  let results: ModelResult[]
  try {
    results = await runPlan({
      config,
      plan: thePlan,
      context: {
        repo: `${repo.owner}/${repo.repo}`,
        sha: event.sha,
        ref: event.ref,
        workspace,
        runId: process.env.GITHUB_RUN_ID || `local-${started}`,
        outputRoot: path.join(
          process.env.RUNNER_TEMP || path.join(workspace, '.ml-promote'),
          'ml-promote-out'
        ),
        checkedOutBranch:
          event.name === 'push' || event.name === 'pull_request'
            ? undefined
            : (gitBranch(workspace) ?? event.branch),
        pullNumber: event.pullNumber,
        trigger: triggerOf(event),
        ...(approvedBy ? { approvedBy } : {})
      },
      detach: !inputs.wait,
      maxParallel: inputs.maxParallel ?? config.maxParallel,
      backendFor: (spec) => tools.createBackend(spec, { env: process.env, log, octokit, repo }),
      jobBackend: (spec) => tools.createBackend(spec, { env: process.env, log, octokit, repo }),
      store,
      log,
      signal: abort.signal,
      deadline,
      hooks: {
        started: async (item, remote) => {
          pending.add(item.model, item.environment!, remote, config)
          core.saveState('pending', pending.toState())
          await checks?.start(item.model, {
            runUrl: remote.url,
            title: `Training in ${item.environment}`
          })
        },
        finished: async (item, remote) => {
          pending.delete(item.model, item.environment!, remote)
          core.saveState('pending', pending.toState())
        }
      }
    })
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    clearTimeout(timer)
  }
  if (octokit && config.sweepWorkflow && results.some((r) => r.verdict === 'pending')) {
    // The safety sweep runs only while something is pending; it turns itself off afterwards.
    await tools.switchWorkflow(octokit, repo, config.sweepWorkflow, true, log)
  }
  if (thePlan.kind === 'gate') results.push(...removedModelResults(judging, relConfig))
  for (const r of results) {
    const said = modelNotes(judging, r.model, event.base ?? '')
    if (said.length) r.notes = said
  }

  const title =
    thePlan.kind === 'gate'
      ? `gate in ${thePlan.environment}`
      : `${event.name === 'schedule' ? 'scheduled retrain' : 'retrain'}${thePlan.environment ? ` in ${thePlan.environment}` : ''}`
  if (checks) {
    // A training that is not awaited keeps its check run in progress until reconcile ends it.
    for (const r of results.filter((x) => x.verdict !== 'pending')) {
      await checks
        .complete(r.model, {
          conclusion:
            r.verdict === 'pass' ? 'success' : r.verdict === 'skipped' ? 'neutral' : 'failure',
          title: r.reason.slice(0, 200),
          summary: [notes.map((n) => `> ${n}`).join('\n\n'), modelSection(r)]
            .filter(Boolean)
            .join('\n\n')
        })
        .catch((e) =>
          log.warning(`could not complete the check for ${r.model}: ${(e as Error).message}`)
        )
    }
  }
  if (octokit && event.pullNumber !== undefined) {
    const sections = reportSections(results, tools.COMMENT_LIMIT - 4096)
    const header = commentHeader(title, event.sha, notes)
    await tools
      .upsertStickyComment(
        octokit,
        repo,
        event.pullNumber,
        tools.mergeSections(undefined, sections),
        header,
        log
      )
      .catch((e) =>
        log.warning(`could not update the pull request comment: ${(e as Error).message}`)
      )
  }
  if (
    octokit &&
    thePlan.kind === 'retrain' &&
    (event.name === 'schedule' || event.name === 'workflow_dispatch')
  ) {
    const { trackRetrains } = await import('./report/tracking.js')
    const tracked = await trackRetrains(
      octokit,
      repo,
      {
        results,
        runUrl: runUrl(),
        trigger: event.name === 'schedule' ? 'scheduled retrain' : 'manual retrain'
      },
      log
    )
    for (const t of tracked) {
      notes.push(
        `${t.model} in ${t.environment}: tracking issue [#${t.number}](${t.url}) ${t.action}.`
      )
    }
  }
  const verdict = overallVerdict(results)
  setOutputs(verdict, thePlan.environment, results)
  await writeSummary(renderSummary({ title, plan: thePlan, results, notes, limit: SUMMARY_LIMIT }))
  if (abort.signal.aborted && !(Date.now() >= deadline))
    throw new Error('workflow cancelled: remote training was cancelled')
  const bad = results.filter((r) => r.verdict === 'fail' || r.verdict === 'error')
  const downstream = downstreamFailures(results)
  if (bad.length || downstream.length)
    throw new Error(
      [...bad.map((r) => `${r.model} [${r.environment}]: ${r.reason}`), ...downstream].join('\n')
    )
}

/** The champion store of an action run: GitHub Deployments by default, as the config says. */
function actionStore(
  config: Config,
  octokit: Octokit | undefined,
  repo: RepoRef,
  stateDir: string,
  log: Logger
) {
  return createStore(config, {
    octokit,
    repo,
    env: process.env,
    log,
    stateDir,
    runUrl: runUrl(),
    inActions: true
  })
}

/** The top of the sticky comment: what ran, on which commit, from which workflow run. */
function commentHeader(title: string, sha: string, notes: string[]): string {
  const run = runUrl()
  return (
    `## ml-promote: ${text(title)}\n\nCommit ${code(sha.slice(0, 7))}${run ? ` · ${link('workflow run', run)}` : ''}\n` +
    notes.map((n) => `\n> [!NOTE]\n> ${n}\n`).join('')
  )
}

function runUrl(): string | undefined {
  const { GITHUB_SERVER_URL: server, GITHUB_REPOSITORY: repo, GITHUB_RUN_ID: id } = process.env
  return server && repo && id ? `${server}/${repo}/actions/runs/${id}` : undefined
}

/** The config file at the pull request's base commit, or undefined when it has none. */
async function baseConfigText(
  event: EventFacts,
  repo: RepoRef,
  octokit: Octokit | undefined,
  relConfig: string,
  workspace: string
): Promise<string | undefined> {
  return (
    gitShow(workspace, event.baseSha!, relConfig) ??
    (octokit
      ? await (await import('./changes.js')).readFileAt(octokit, repo, event.baseSha!, relConfig)
      : undefined)
  )
}

/**
 * Judge with the base, train with the head: a pull request is judged by the config of its base
 * commit (models, environments, gate environment, paths, gates, champion store); only the train
 * specs come from the head. Every judging key the head changes is announced, on its line, as
 * applying after merge.
 */
async function judgePullRequest(
  head: Config,
  locate: Locate | undefined,
  event: EventFacts,
  repo: RepoRef,
  octokit: Octokit | undefined,
  relConfig: string,
  workspace: string,
  notes: string[],
  log: Logger
): Promise<Judging> {
  const baseText = await baseConfigText(event, repo, octokit, relConfig, workspace)
  if (baseText === undefined) {
    notes.push(
      `${code(relConfig)} does not exist on ${code(event.base ?? '')} yet: this pull request is judged by its own gate.`
    )
    return judgingConfig(head, undefined)
  }
  const base = loadConfig(baseText, `${relConfig}@${event.base}`)
  if (!base.config) {
    for (const p of base.problems) log.error(p.message, p)
    throw new Error(
      `the config on the base branch ${event.base} is invalid, so there is no gate to judge this pull request by`
    )
  }
  const judging = judgingConfig(head, base.config, locate)
  for (const c of judging.changes) {
    log.notice(`${c.message} (this pull request is judged by the config on ${event.base})`, c.at)
    if (c.model === undefined) notes.push(`${text(c.message)}.`)
  }
  const changedModels = [...new Set(judging.changes.flatMap((c) => c.model ?? []))].filter(
    (m) => !judging.removedModels.includes(m)
  )
  if (changedModels.length) {
    notes.push(
      `This pull request changes how ${changedModels.map((m) => `\`${m}\``).join(', ')} ${changedModels.length > 1 ? 'are' : 'is'} judged. It is judged by the config on ${code(event.base ?? '')}; the change applies after merge.`
    )
  }
  if (judging.removedModels.length) {
    notes.push(
      `This pull request removes (or renames) ${judging.removedModels.map((m) => `\`${m}\``).join(', ')}: ${judging.removedModels.length > 1 ? 'their checks fail' : 'its check fails'} until the removal is merged by someone allowed to bypass branch protection.`
    )
  }
  if (judging.newModels.length) {
    notes.push(
      `New model(s) ${judging.newModels.map((m) => `\`${m}\``).join(', ')}: no gate on ${code(event.base ?? '')} yet, so the gate set by this pull request applies.`
    )
  }
  return judging
}

/**
 * A pull request whose config is invalid (or deleted) still gets a failing check for every model
 * of its base config, so no required check is left waiting or silently passing.
 */
async function failBaseModels(
  checks: {
    complete(
      model: string,
      o: { conclusion: 'failure'; title: string; summary: string }
    ): Promise<void>
  },
  problems: ConfigProblem[],
  relConfig: string,
  event: EventFacts,
  repo: RepoRef,
  octokit: Octokit,
  workspace: string,
  log: Logger
): Promise<void> {
  const baseText = await baseConfigText(event, repo, octokit, relConfig, workspace).catch(
    () => undefined
  )
  const base =
    baseText === undefined ? undefined : loadConfig(baseText, `${relConfig}@${event.base}`).config
  const missing = problems.length === 1 && problems[0]!.message === 'config file not found'
  const title = missing
    ? `this pull request deletes ${relConfig}`
    : `${relConfig} in this pull request is invalid`
  for (const model of base?.models ?? []) {
    await checks
      .complete(model.name, {
        conclusion: 'failure',
        title,
        summary: `${title}; nothing was trained. ${problems.length} problem(s) are annotated on the check \`ml-promote / config\`.`
      })
      .catch((e) =>
        log.warning(`could not complete the check for ${model.name}: ${(e as Error).message}`)
      )
  }
}

/**
 * The file champion store a pull request is judged against: the one committed on its base, copied
 * out of the checkout, so that champions the pull request edits or adds count for nothing.
 */
function baseStateDir(root: string, workspace: string, baseSha: string): string {
  const dir = mkdtempSync(path.join(process.env.RUNNER_TEMP || tmpdir(), 'ml-promote-base-'))
  const rel = path.relative(root, path.join(workspace, '.ml-promote', 'state.json'))
  const text = gitShow(root, baseSha, rel.split(path.sep).join('/'))
  if (text !== undefined) writeFileSync(path.join(dir, 'state.json'), text)
  return dir
}

/** The config at a commit, when the checkout has that history (fetch-depth: 0); else undefined. */
function gitShow(dir: string, sha: string, file: string): string | undefined {
  try {
    return execFileSync('git', ['show', `${sha}:${file}`], {
      cwd: dir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 16 * 1024 * 1024
    })
  } catch {
    return undefined
  }
}

/** Who or what started this run, as the records keep it: `push by octocat`, `schedule`… */
function triggerOf(event: EventFacts): string {
  const actor = process.env.GITHUB_ACTOR
  const by = actor ? ` by ${actor}` : ''
  switch (event.name) {
    case 'pull_request':
      return `pull request #${event.pullNumber}${by}`
    case 'push':
      return `push to ${event.branch}${by}`
    case 'workflow_dispatch':
      return `manual run${by}`
    default:
      return event.name
  }
}

type GithubTools = Awaited<ReturnType<typeof githubTools>>

/**
 * The training a completion callback names, as a filter on the recorded pending trainings; the
 * callback only says which one to look at, the backend says how it ended. Undefined: not a
 * callback (schedule, manual run): every pending training is looked at.
 */
function callbackMatch(
  event: EventFacts,
  log: Logger
): { describe: string; matches: (p: PendingTraining) => boolean; settleMs?: number } | undefined {
  const payload = event.payload
  if (event.name === 'workflow_run') {
    const run = payload.workflow_run as { id?: unknown; name?: unknown } | undefined
    if (payload.action !== 'completed' || typeof run?.id !== 'number') {
      log.notice(
        `workflow_run ${String(payload.action)} is not a completion; listen on \`workflow_run: { types: [completed] }\``
      )
      return { describe: 'a workflow run that has not completed', matches: () => false }
    }
    const id = String(run.id)
    return {
      describe: `workflow run ${id}`,
      matches: (p) => p.run.backend === 'github-workflow' && p.run.id === id
    }
  }
  if (event.name === 'repository_dispatch') {
    const c = (payload.client_payload ?? {}) as Record<string, unknown>
    const str = (v: unknown): string | undefined =>
      typeof v === 'string' && v ? v : typeof v === 'number' ? String(v) : undefined
    const backend = str(c.backend)
    const runId = str(c.run_id)
    if (payload.action !== CALLBACK_EVENT_TYPE || !backend || !runId) {
      throw new Error(
        `a completion callback is a repository_dispatch of type ${CALLBACK_EVENT_TYPE} whose client_payload names "backend" and "run_id" (got type ${JSON.stringify(payload.action)}, keys ${JSON.stringify(Object.keys(c))})`
      )
    }
    const model = str(c.model)
    const environment = str(c.environment)
    return {
      describe: `${backend} run ${runId}`,
      // Sent by the training's last task, so the run is still finishing when it arrives.
      settleMs: CALLBACK_SETTLE_MS,
      matches: (p) =>
        p.run.backend === backend &&
        p.run.id === runId &&
        (model === undefined || p.model === model) &&
        (environment === undefined || p.environment === environment)
    }
  }
  return undefined
}

/**
 * `mode: reconcile`, on a completion callback (`workflow_run`, `repository_dispatch`) or a rare
 * safety cron: concludes the trainings that `wait: false` runs left behind — one status call each,
 * nothing awaited — completing their check runs and pull request comments and promoting passing
 * retrains. With nothing pending it costs one read, whatever the number of models.
 */
async function reconcileRun(r: {
  config: Config
  octokit: Octokit | undefined
  tools: GithubTools
  repo: RepoRef
  workspace: string
  log: Logger
  event: EventFacts
}): Promise<void> {
  const { config, octokit, tools, repo, workspace, log, event } = r
  const match = callbackMatch(event, log)
  const store = await actionStore(
    config,
    octokit,
    repo,
    path.resolve(workspace, '.ml-promote'),
    log
  )
  const report = async ({ pending: p, result }: Reconciled): Promise<void> => {
    if (!octokit) return
    const checks = new tools.CheckReporter(octokit, repo, p.sha, log, {
      detailsUrl: p.run.url ?? runUrl()
    })
    await checks
      .complete(p.model, {
        conclusion: result.verdict === 'pass' ? 'success' : 'failure',
        title: result.reason.slice(0, 200),
        summary: modelSection(result)
      })
      .catch((e) =>
        log.warning(`could not complete the check for ${p.model}: ${(e as Error).message}`)
      )
    if (p.pullNumber !== undefined) {
      await tools
        .upsertStickyComment(
          octokit,
          repo,
          p.pullNumber,
          tools.mergeSections(undefined, { [p.model]: modelSection(result) }),
          commentHeader(`gate in ${p.environment}`, p.sha, []),
          log
        )
        .catch((e) =>
          log.warning(`could not update the pull request comment: ${(e as Error).message}`)
        )
    }
  }
  const reconciled = await core.group(
    match ? `Conclude ${match.describe}` : 'Reconcile trainings started without waiting',
    () =>
      reconcilePending({
        config,
        store,
        backendFor: (spec) => tools.createBackend(spec, { env: process.env, log, octokit, repo }),
        log,
        signal: new AbortController().signal,
        workspace,
        repo: `${repo.owner}/${repo.repo}`,
        outputRoot: path.join(
          process.env.RUNNER_TEMP || path.join(workspace, '.ml-promote'),
          'ml-promote-out'
        ),
        ...(match ? { only: match.matches, settleMs: match.settleMs } : {}),
        report
      })
  )
  if (octokit && config.sweepWorkflow) {
    // A sweep that looked at every pending training and concluded them all knows none is left.
    const settled = !match && reconciled.every((x) => x.concluded)
    await idleSweep(config.sweepWorkflow, settled, store, octokit, tools, repo, log)
  }
  if (match && reconciled.length === 0) {
    log.notice(
      `no training started without waiting matches ${match.describe}; nothing was concluded`
    )
  }
  const results = reconciled.map((x) => x.result)
  const empty = match
    ? `No pending training matches ${text(match.describe)}.`
    : 'No training was waiting to be concluded.'
  setOutputs(overallVerdict(results), undefined, results)
  await writeSummary(
    renderSummary({ title: 'reconcile', results, notes: results.length ? [] : [empty] })
  )
  const bad = results.filter((x) => x.verdict === 'fail' || x.verdict === 'error')
  if (bad.length)
    throw new Error(bad.map((x) => `${x.model} [${x.environment}]: ${x.reason}`).join('\n'))
}

/**
 * After a reconcile: with nothing left pending, the safety sweep is turned off, so an idle
 * repository runs no scheduled job at all. A training recorded while it was being turned off is
 * seen by the second look, which turns it back on. The workflow that receives the callbacks is
 * never turned off: that would drop them.
 */
async function idleSweep(
  sweep: string,
  settled: boolean,
  store: ChampionStore,
  octokit: Octokit,
  tools: GithubTools,
  repo: RepoRef,
  log: Logger
): Promise<void> {
  if (!store.pending) return
  const current = path.basename((process.env.GITHUB_WORKFLOW_REF ?? '').replace(/@.*$/, ''))
  if (current === sweep && isCallbackEvent(process.env.GITHUB_EVENT_NAME ?? '')) {
    log.warning(
      `sweep_workflow ${sweep} also receives the completion callbacks; it is never turned off, so give the safety sweep a workflow of its own (see the README)`
    )
    return
  }
  if (!settled && (await store.pending()).length > 0) return
  if (!(await tools.switchWorkflow(octokit, repo, sweep, false, log))) return
  if ((await store.pending()).length > 0)
    await tools.switchWorkflow(octokit, repo, sweep, true, log)
}

/**
 * `mode: rollback`, from workflow_dispatch: the champion before the current one (or the one at
 * `rollback-to`) serves the environment again, recorded with the reason and who asked, so the next
 * gate compares against it.
 */
async function rollbackRun(r: {
  config: Config
  inputs: Inputs
  octokit: Octokit | undefined
  tools: GithubTools
  repo: RepoRef
  workspace: string
  log: Logger
  deadline: number
}): Promise<void> {
  const { config, inputs, octokit, tools, repo, workspace, log, deadline } = r
  const actor = process.env.GITHUB_ACTOR || 'workflow'
  const store = await actionStore(
    config,
    octokit,
    repo,
    path.resolve(workspace, '.ml-promote'),
    log
  )
  const abort = new AbortController()
  const onSignal = (sig: NodeJS.Signals) => abort.abort(new Error(`workflow cancelled (${sig})`))
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const { result, restored, replaced } = await core
    .group(`Roll back ${inputs.models![0]} in ${inputs.environment}`, () =>
      rollbackChampion({
        config,
        store,
        request: {
          model: inputs.models![0]!,
          environment: inputs.environment!,
          ...(inputs.rollbackTo ? { toSha: inputs.rollbackTo } : {}),
          reason: inputs.reason!,
          trigger: `rollback by ${actor}`
        },
        context: {
          repo: `${repo.owner}/${repo.repo}`,
          workspace,
          runId: process.env.GITHUB_RUN_ID || `local-${Date.now()}`,
          outputRoot: path.join(
            process.env.RUNNER_TEMP || path.join(workspace, '.ml-promote'),
            'ml-promote-out'
          )
        },
        log,
        signal: abort.signal,
        deadline,
        jobBackend: (spec) => tools.createBackend(spec, { env: process.env, log, octokit, repo })
      })
    )
    .finally(() => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    })
  log.notice(`${result.model} [${result.environment}]: ${result.reason}`)
  setOutputs('pass', result.environment, [result])
  await writeSummary(
    rollbackSummary(
      result.model,
      result.environment!,
      restored,
      replaced,
      actor,
      result.downstream ?? []
    )
  )
  const failed = downstreamFailures([result])
  if (failed.length) throw new Error(failed.join('\n'))
}

function rollbackSummary(
  model: string,
  environment: string,
  restored: Champion,
  replaced: Champion | undefined,
  actor: string,
  downstream: DownstreamOutcome[]
): string {
  const metrics = (c: Champion) =>
    Object.entries(c.metrics)
      .map(([k, v]) => `${text(k)} ${Number(v.toPrecision(4))}`)
      .join(', ')
  const row = (label: string, c: Champion) =>
    `| ${label} | ${code(c.sha.slice(0, 7))} | ${c.modelUri ? code(c.modelUri) : '—'} | ${metrics(c) || '—'} |`
  const run = runUrl()
  return [
    `## ml-promote: rollback of ${text(model)} in ${code(environment)}`,
    '',
    `${text(actor)} restored an earlier champion${run ? ` (${link('workflow run', run)})` : ''}. The next gate in ${code(environment)} compares against it.`,
    '',
    '| | Commit | Artifact | Metrics |',
    '| --- | --- | --- | --- |',
    row('Restored', restored),
    ...(replaced ? [row('Replaced', replaced)] : []),
    '',
    `**Reason:** ${text(restored.rollback?.reason ?? '')}`,
    '',
    ...downstream.map(
      (d) =>
        `on_promote ${code(d.name)}: ${d.ok ? '✅ done' : `⚠️ ${text(d.message ?? 'failed')}`}${d.url ? ` (${link('run', d.url)})` : ''}  `
    ),
    ''
  ].join('\n')
}
