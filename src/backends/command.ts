// The `command` backend: trains on the runner itself by running the configured command in a shell.
import { spawn, type ChildProcess } from 'node:child_process'
import { constants as fsConstants } from 'node:fs'
import { access, mkdir, readFile, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import type { CommandTrainSpec } from '../config/schema.js'
import { parseMetrics } from './metrics.js'
import { scrubbedEnv } from './process-env.js'
import {
  TrainingError,
  trainingEnv,
  type Backend,
  type Metrics,
  type RemoteRun,
  type RunStatus,
  type TrainingContext
} from '../types.js'

/** How many trailing output lines a failure message carries. */
const TAIL_LINES = 30
/** Time a process group gets between SIGTERM and SIGKILL. */
const DEFAULT_KILL_GRACE_MS = 5000
/** setTimeout fires at once for delays above 2^31−1 ms; longer deadlines are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1
/**
 * After the shell exits, a background process it started may still hold stdout/stderr open;
 * the run is over when the shell is, so the pipes are only drained for this long.
 */
const DRAIN_MS = 2000

export interface CommandBackendOptions {
  /** Time between SIGTERM and SIGKILL when a run is stopped (default 5 s). */
  killGraceMs?: number
  /** The environment training's is derived from (default: this process's). */
  env?: NodeJS.ProcessEnv
}

type KillCause = 'timeout' | 'cancel'

interface LocalRun {
  run: RemoteRun
  pid: number
  key: string
  startedAt: number
  tail: string[]
  cause?: KillCause
  causeAt?: number
  /** Set when the shell exits; the run ends once its output has also been read. */
  exit?: { code: number | null; signal: NodeJS.Signals | null }
  ended: boolean
  exited: Promise<RunStatus>
  killGraceMs: number
  killTimer?: NodeJS.Timeout
  groupWatch?: NodeJS.Timeout
  deadlineTimer?: NodeJS.Timeout
  detach: () => void
}

// Children live only in this process: the RemoteRun handed out stays JSON-serialisable and
// status/cancel look the child up here by run id. Module-level so that waitForExit can reach it.
const runs = new Map<string, LocalRun>()
const runsByKey = new Map<string, LocalRun>()

interface RunData {
  cwd: string
  metricsPath: string
  /** The metrics path as a user recognises it (relative to the workspace). */
  metricsFile: string
  startedAt: number
}

export class CommandBackend implements Backend {
  readonly name = 'command'
  private readonly killGraceMs: number
  private readonly source: NodeJS.ProcessEnv

  constructor(
    private readonly spec: CommandTrainSpec,
    options: CommandBackendOptions = {}
  ) {
    this.killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS
    this.source = options.env ?? process.env
  }

  async start(ctx: TrainingContext): Promise<RemoteRun> {
    // A local run cannot outlive this process, so idempotency here means: never two concurrent
    // trainings for the same key. A finished run is trained again on request.
    const existing = runsByKey.get(ctx.idempotencyKey)
    if (existing && !existing.ended) return { ...existing.run, attached: true }

    const cwd = path.resolve(ctx.workspace, this.spec.working_directory ?? '.')
    const cwdStat = await stat(cwd).catch(() => undefined)
    if (!cwdStat?.isDirectory()) {
      throw new TrainingError(`working directory ${displayPath(ctx.workspace, cwd)} does not exist`)
    }
    await mkdir(ctx.outputDir, { recursive: true })

    const metricsPath = path.resolve(cwd, this.spec.metrics)
    const metricsFile = displayPath(ctx.workspace, metricsPath)
    // A metrics file left by an earlier run must never pass as this run's result.
    await rm(metricsPath, { force: true }).catch((err: unknown) => {
      throw new TrainingError(
        `could not remove the previous metrics file ${metricsFile}: ${errorMessage(err)}`
      )
    })

    // Context reaches the command only through the environment; the command text is the config's.
    // Training starts from a scrubbed copy of the runner's environment: no action inputs, no
    // Actions runtime, no credentials unless `pass_env` names them.
    const scrubbed = scrubbedEnv(this.source, this.spec.pass_env)
    if (scrubbed.withheld.length > 0) {
      ctx.log.info(
        `${ctx.model} [${ctx.environment}]: not passed to training (named like credentials; list them in train.pass_env to pass them): ${scrubbed.withheld.join(', ')}`
      )
    }
    const env: NodeJS.ProcessEnv = { ...scrubbed.env, ...this.spec.env, ...trainingEnv(ctx) }
    const [shell, args] = await shellFor(this.spec, env)

    // @actions/exec can neither kill nor abort what it runs, and training must stop on timeout
    // and on cancellation, including the processes it starts: a detached child leads its own
    // process group, which is killed as a whole.
    const child = spawn(shell, [...args, this.spec.run], {
      cwd,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    if (child.pid === undefined) {
      const err = await new Promise<Error>((resolve) => child.once('error', resolve))
      throw new TrainingError(`could not start the training command with ${shell}: ${err.message}`)
    }

    const startedAt = Date.now()
    const data: RunData = { cwd, metricsPath, metricsFile, startedAt }
    const run: RemoteRun = { backend: this.name, id: String(child.pid), data: { ...data } }
    track(run, child, child.pid, ctx, startedAt, this.killGraceMs)
    ctx.log.info(`Training ${ctx.model} in ${ctx.environment}: pid ${child.pid} in ${data.cwd}`)
    return run
  }

  async status(run: RemoteRun, ctx: TrainingContext): Promise<RunStatus> {
    const local = runs.get(run.id)
    if (!local) {
      return {
        state: 'failed',
        message: `training command (pid ${run.id}) is not a process this ml-promote started`
      }
    }
    if (!local.exit && Date.now() > ctx.deadline) stop(local, 'timeout')
    return local.ended ? finalStatus(local) : { state: 'running' }
  }

  /** Resolves when the local run has ended: the engine awaits this instead of polling. */
  async wait(run: RemoteRun, _ctx: TrainingContext): Promise<RunStatus> {
    return waitForExit(run)
  }

  async cancel(run: RemoteRun, _ctx: TrainingContext): Promise<void> {
    const local = runs.get(run.id)
    if (local && !local.exit) stop(local, 'cancel')
  }

  async metrics(run: RemoteRun, ctx: TrainingContext): Promise<Metrics> {
    const data = runData(run, ctx, this.spec)
    const tail = runs.get(run.id)?.tail
    const detail = tail && tail.length > 0 ? tail.join('\n') : undefined
    const fail = (message: string): never => {
      throw new TrainingError(message, run, detail)
    }

    let text: string
    try {
      text = await readFile(data.metricsPath, 'utf8')
    } catch (err) {
      if (isErrno(err, 'ENOENT')) fail(`metrics file ${data.metricsFile} was not written`)
      return fail(`metrics file ${data.metricsFile} could not be read: ${errorMessage(err)}`)
    }
    return parseMetrics(text, `metrics file ${data.metricsFile}`, run, detail)
  }
}

/** Resolves with the final status of a run started by a CommandBackend in this process. */
export function waitForExit(run: RemoteRun): Promise<RunStatus> {
  const local = runs.get(run.id)
  if (!local) {
    return Promise.resolve({
      state: 'failed',
      message: `training command (pid ${run.id}) is not a process this ml-promote started`
    })
  }
  return local.exited
}

function track(
  run: RemoteRun,
  child: ChildProcess,
  pid: number,
  ctx: TrainingContext,
  startedAt: number,
  killGraceMs: number
): LocalRun {
  let resolveExited!: (status: RunStatus) => void
  const exited = new Promise<RunStatus>((resolve) => (resolveExited = resolve))
  const local: LocalRun = {
    run,
    pid,
    key: ctx.idempotencyKey,
    startedAt,
    tail: [],
    ended: false,
    exited,
    killGraceMs,
    detach: () => undefined
  }
  runs.set(run.id, local)
  runsByKey.set(ctx.idempotencyKey, local)

  const onLine = (line: string): void => {
    ctx.log.info(line)
    local.tail.push(line)
    if (local.tail.length > TAIL_LINES) local.tail.shift()
  }
  // Errors after a successful spawn (a failed kill, a broken pipe) surface through the exit status.
  child.on('error', (err) => ctx.log.debug(`training command pid ${pid}: ${err.message}`))
  const stdoutDone = readLines(child.stdout, onLine)
  const stderrDone = readLines(child.stderr, onLine)

  const onAbort = (): void => stop(local, 'cancel')
  ctx.signal.addEventListener('abort', onAbort, { once: true })
  local.detach = () => {
    ctx.signal.removeEventListener('abort', onAbort)
    clearTimeout(local.deadlineTimer)
  }
  armDeadline(local, ctx.deadline)
  if (ctx.signal.aborted) onAbort()

  child.once('exit', (code, signal) => {
    local.exit = { code, signal }
    local.detach()
    void drain([stdoutDone, stderrDone], child).then(() => {
      local.ended = true
      if (local.killTimer) cancelKillOnceGroupIsGone(local)
      if (runsByKey.get(local.key) === local) runsByKey.delete(local.key)
      resolveExited(finalStatus(local))
    })
  })
  return local
}

function armDeadline(local: LocalRun, deadline: number): void {
  const delay = deadline - Date.now()
  if (delay <= 0) {
    stop(local, 'timeout')
    return
  }
  local.deadlineTimer = setTimeout(
    () => armDeadline(local, deadline),
    Math.min(delay + 1, MAX_TIMER_MS)
  )
}

function stop(local: LocalRun, cause: KillCause): void {
  if (local.exit || local.cause) return
  local.cause = cause
  local.causeAt = Date.now()
  signalGroup(local.pid, 'SIGTERM')
  // Left referenced on purpose: processes that outlive SIGTERM must not outlive ml-promote.
  local.killTimer = setTimeout(() => {
    clearInterval(local.groupWatch)
    signalGroup(local.pid, 'SIGKILL')
  }, local.killGraceMs)
}

/**
 * Once the group is gone its id may be reused, so a pending SIGKILL must not fire. Members that
 * received SIGTERM can take a moment to disappear after the shell, hence the watch.
 */
function cancelKillOnceGroupIsGone(local: LocalRun): void {
  const check = (): boolean => {
    if (groupAlive(local.pid)) return false
    clearTimeout(local.killTimer)
    clearInterval(local.groupWatch)
    return true
  }
  if (!check()) local.groupWatch = setInterval(check, 100)
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  if (process.platform === 'win32') {
    // Windows has no process groups to signal; taskkill /T ends the whole tree, forcibly.
    spawn('taskkill', ['/pid', String(pid), '/T', '/F'], { stdio: 'ignore' }).on('error', () => {})
    return
  }
  try {
    process.kill(-pid, signal)
  } catch {
    // ESRCH: the group is already gone. This runs from timers and abort listeners, where a throw
    // would crash ml-promote; the exit status tells what became of the run either way.
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0)
    return true
  } catch (err) {
    return isErrno(err, 'EPERM')
  }
}

function finalStatus(local: LocalRun): RunStatus {
  const { code, signal } = local.exit ?? { code: null, signal: null }
  const output = local.tail.length > 0 ? `\nLast lines of output:\n${local.tail.join('\n')}` : ''
  if (local.cause === 'timeout') {
    return {
      state: 'timed_out',
      message: `timed out after ${formatDuration((local.causeAt ?? Date.now()) - local.startedAt)}${output}`
    }
  }
  if (local.cause === 'cancel')
    return { state: 'cancelled', message: `training cancelled${output}` }
  if (code === 0) return { state: 'succeeded' }
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`
  return { state: 'failed', message: `training command ${how}${output}` }
}

function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000)
  return `${Math.floor(seconds / 60)}m ${seconds % 60}s`
}

function readLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void) {
  return new Promise<void>((resolve) => {
    if (!stream) return resolve()
    let partial = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) onLine(line.replace(/\r$/, ''))
    })
    const finish = (): void => {
      if (partial) onLine(partial.replace(/\r$/, ''))
      partial = ''
      resolve()
    }
    stream.once('end', finish)
    stream.once('close', finish)
    stream.once('error', finish)
  })
}

async function drain(streams: Promise<void>[], child: ChildProcess): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), DRAIN_MS)
  })
  const outcome = await Promise.race([Promise.all(streams), timeout])
  clearTimeout(timer)
  if (outcome === 'timeout') {
    child.stdout?.destroy()
    child.stderr?.destroy()
  }
}

async function shellFor(
  spec: CommandTrainSpec,
  env: NodeJS.ProcessEnv
): Promise<[string, string[]]> {
  const sh: [string, string[]] = ['sh', ['-e', '-c']]
  if (spec.shell === 'sh') return sh
  const bash = await findExecutable('bash', env.PATH ?? '')
  if (bash) return [bash, ['--noprofile', '--norc', '-eo', 'pipefail', '-c']]
  // Asked for by name, bash must not be silently replaced: the command may rely on bashisms.
  if (spec.shell === 'bash') throw new TrainingError('shell bash was not found on PATH')
  return sh
}

async function findExecutable(name: string, searchPath: string): Promise<string | undefined> {
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue
    const candidate = path.join(dir, name)
    try {
      await access(candidate, fsConstants.X_OK)
      return candidate
    } catch {
      // not in this directory
    }
  }
  return undefined
}

function runData(run: RemoteRun, ctx: TrainingContext, spec: CommandTrainSpec): RunData {
  const data = run.data as Partial<RunData> | undefined
  if (typeof data?.metricsPath === 'string' && typeof data.metricsFile === 'string') {
    return data as RunData
  }
  // A run restored without its data: the paths follow from the spec as they did at start.
  const cwd = path.resolve(ctx.workspace, spec.working_directory ?? '.')
  const metricsPath = path.resolve(cwd, spec.metrics)
  return { cwd, metricsPath, metricsFile: displayPath(ctx.workspace, metricsPath), startedAt: 0 }
}

function displayPath(workspace: string, target: string): string {
  const relative = path.relative(workspace, target)
  if (relative === '') return '.'
  if (relative.startsWith('..') || path.isAbsolute(relative)) return target
  return relative.split(path.sep).join('/')
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
