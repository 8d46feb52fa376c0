// Runs the bundled action the way the runner does: INPUT_* variables, an event payload file,
// GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_STATE files, then reads them back.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'

export const root = path.resolve(dirOf(import.meta.url), '..', '..')
export const actionEntry = path.join(root, 'dist', 'index.js')

function dirOf(url: string): string {
  return path.dirname(new URL(url).pathname)
}

const require = createRequire(import.meta.url)

interface WebhookExample {
  name: string
  examples: Array<Record<string, any>>
}

/** A real payload from @octokit/webhooks-examples, deep-copied so tests can adjust it. */
export function webhookExample(event: string, action?: string): Record<string, any> {
  const all = require('@octokit/webhooks-examples/api.github.com/index.json') as WebhookExample[]
  const entry = all.find((e) => e.name === event)
  const example = entry?.examples.find((x) => action === undefined || x.action === action)
  if (!example) throw new Error(`no ${event}${action ? `.${action}` : ''} example`)
  return JSON.parse(JSON.stringify(example))
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe']
  }).trim()
}

export function commitAll(cwd: string, message: string): string {
  git(cwd, 'add', '-A')
  git(
    cwd,
    '-c',
    'user.name=Test',
    '-c',
    'user.email=test@example.com',
    'commit',
    '-q',
    '-m',
    message
  )
  return git(cwd, 'rev-parse', 'HEAD')
}

/** A scratch Git repository holding the example project, on branch `main`. */
export function exampleWorkspace(): { dir: string; sha: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'ml-promote-e2e-'))
  cpSync(path.join(root, 'examples', 'fraud-detection'), dir, {
    recursive: true,
    filter: (src) => !/[\\/](out|\.ml-promote|__pycache__|data-cache)([\\/]|$)/.test(src)
  })
  git(dir, 'init', '-q', '-b', 'main')
  return { dir, sha: commitAll(dir, 'initial') }
}

export interface ActionRun {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  outputs: Record<string, string>
  summary: string
  state: Record<string, string>
}

export interface RunOptions {
  workspace: string
  event: string
  payload: Record<string, unknown>
  inputs?: Record<string, string>
  env?: Record<string, string>
  /** Extra env for the post step, which reads the main step's saved state. */
  ref?: string
  sha?: string
  /** Called with the child once it runs (e.g. to send SIGINT). */
  onSpawn?: (child: ChildProcess, output: () => string) => void
  /** Run as the post step, with the given saved state. */
  postState?: Record<string, string>
}

/**
 * An `onSpawn` that sends `signal` to the action once its output contains `text`, as the runner
 * does when a workflow is cancelled mid-step; `sent` hears when.
 */
export function signalWhenOutput(
  text: string,
  signal: NodeJS.Signals,
  sent?: (at: number) => void
): NonNullable<RunOptions['onSpawn']> {
  return (child, output) => {
    const timer = setInterval(() => {
      if (!output().includes(text)) return
      clearInterval(timer)
      sent?.(Date.now())
      child.kill(signal)
    }, 50)
    child.on('close', () => clearInterval(timer))
  }
}

/** Parses the runner's `name<<delimiter` file-command format. */
export function parseFileCommand(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i]!.match(/^([^=<]+)<<(.+)$/)
    if (m) {
      const [, name, delim] = m
      const value: string[] = []
      while (++i < lines.length && lines[i] !== delim) value.push(lines[i]!)
      out[name!] = value.join('\n')
    } else if (lines[i]!.includes('=')) {
      const [name, ...rest] = lines[i]!.split('=')
      out[name!] = rest.join('=')
    }
  }
  return out
}

export function runAction(opts: RunOptions): Promise<ActionRun> {
  const tmp = mkdtempSync(path.join(tmpdir(), 'ml-promote-runner-'))
  const files = {
    event: path.join(tmp, 'event.json'),
    output: path.join(tmp, 'output'),
    summary: path.join(tmp, 'summary.md'),
    state: path.join(tmp, 'state')
  }
  writeFileSync(files.event, JSON.stringify(opts.payload))
  for (const f of [files.output, files.summary, files.state]) writeFileSync(f, '')
  const inputs: Record<string, string> = {
    config: '.github/ml-promote.yml',
    mode: 'auto',
    environment: '',
    models: '',
    'github-token': '',
    wait: 'true',
    'timeout-minutes': '10',
    ...opts.inputs
  }
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmp,
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    GITHUB_EVENT_NAME: opts.event,
    GITHUB_EVENT_PATH: files.event,
    GITHUB_OUTPUT: files.output,
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_STATE: files.state,
    GITHUB_WORKSPACE: opts.workspace,
    GITHUB_REPOSITORY: 'octo-org/fraud-models',
    GITHUB_SHA: opts.sha ?? git(opts.workspace, 'rev-parse', 'HEAD'),
    GITHUB_REF: opts.ref ?? 'refs/heads/main',
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_SERVER_URL: 'https://github.com',
    RUNNER_TEMP: tmp,
    ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])),
    ...Object.fromEntries(Object.entries(opts.postState ?? {}).map(([k, v]) => [`STATE_${k}`, v])),
    ...opts.env
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [actionEntry], {
      cwd: opts.workspace,
      env,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const out = collect(child, reject, (code, signal) =>
      resolve({
        code,
        signal,
        stdout: out.stdout,
        stderr: out.stderr,
        outputs: parseFileCommand(readFileSync(files.output, 'utf8')),
        summary: readFileSync(files.summary, 'utf8'),
        state: parseFileCommand(readFileSync(files.state, 'utf8'))
      })
    )
    opts.onSpawn?.(child, () => out.stdout)
  })
}

/** Gathers a child's output; `done` hears its exit once both streams have closed. */
function collect(
  child: ChildProcess,
  fail: (e: Error) => void,
  done: (code: number | null, signal: NodeJS.Signals | null) => void
): { stdout: string; stderr: string } {
  const out = { stdout: '', stderr: '' }
  child.stdout?.on('data', (d) => (out.stdout += d))
  child.stderr?.on('data', (d) => (out.stderr += d))
  child.on('error', fail)
  child.on('close', done)
  return out
}

/**
 * Runs the bundled CLI without blocking this process (a fake server in the test must keep
 * answering while it runs).
 */
export function runCli(
  args: string[],
  opts: { cwd: string; env?: Record<string, string> }
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'dist', 'cli.js'), ...args], {
      cwd: opts.cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? opts.cwd, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const out = collect(child, reject, (status) => resolve({ status, ...out }))
  })
}

/** A pull_request payload for this repository: head → base. */
export function pullRequestPayload(p: {
  number: number
  headSha: string
  headRef: string
  baseSha: string
  baseRef: string
  fork?: boolean
}): Record<string, any> {
  const payload = webhookExample('pull_request', 'opened')
  payload.number = p.number
  const pr = payload.pull_request
  pr.number = p.number
  pr.head.sha = p.headSha
  pr.head.ref = p.headRef
  pr.base.sha = p.baseSha
  pr.base.ref = p.baseRef
  pr.base.repo.full_name = 'octo-org/fraud-models'
  pr.head.repo.full_name = p.fork ? 'someone/fraud-models' : 'octo-org/fraud-models'
  if (p.fork) pr.head.repo.fork = true
  payload.repository.full_name = 'octo-org/fraud-models'
  return payload
}

/** A push payload for this repository. */
export function pushPayload(p: {
  ref: string
  before: string
  after: string
}): Record<string, any> {
  const payload = webhookExample('push')
  payload.ref = p.ref
  payload.before = p.before
  payload.after = p.after
  payload.forced = false
  payload.created = false
  payload.repository.full_name = 'octo-org/fraud-models'
  return payload
}

/**
 * The workflow commands the runner would act on in a step's output: `::name props::message` lines
 * (and the legacy `##[name]message`),
 * except between `::stop-commands::TOKEN` and `::TOKEN::`, where the runner acts on nothing.
 */
export function runnerCommands(output: string): Array<{ name: string; message: string }> {
  const commands: Array<{ name: string; message: string }> = []
  let stopped: string | undefined
  for (const raw of output.split(/\r?\n/)) {
    const line = raw.trim()
    if (stopped !== undefined) {
      if (line === `::${stopped}::`) stopped = undefined
      continue
    }
    // The current `::name::` form and the legacy `##[name]` one.
    const m =
      line.match(/^::([A-Za-z-]+)(?: [^:]*)?::(.*)$/) ??
      line.match(/^##\[([A-Za-z-]+)[^\]]*\](.*)$/)
    if (!m) continue
    if (m[1] === 'stop-commands') stopped = m[2]
    else commands.push({ name: m[1]!, message: m[2]! })
  }
  return commands
}
