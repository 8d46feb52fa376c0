import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { CommandBackend, waitForExit } from '../src/backends/command.js'
import type { CommandTrainSpec } from '../src/config/schema.js'
import { TrainingError, type Logger, type RunStatus, type TrainingContext } from '../src/types.js'

let root: string
let counter = 0

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'ml-promote-command-'))
})

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

interface Harness {
  ctx: TrainingContext
  lines: string[]
  controller: AbortController
}

async function harness(overrides: Partial<TrainingContext> = {}): Promise<Harness> {
  const workspace = path.join(root, `ws-${++counter}`)
  await mkdir(workspace, { recursive: true })
  const lines: string[] = []
  const controller = new AbortController()
  const log: Logger = {
    info: (m) => lines.push(m),
    notice: (m) => lines.push(`notice: ${m}`),
    warning: (m) => lines.push(`warning: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
    debug: () => undefined,
    group: (_name, fn) => fn(),
    secret: () => undefined
  }
  const ctx: TrainingContext = {
    repo: 'acme/fraud',
    sha: '0123456789abcdef0123456789abcdef01234567',
    ref: 'refs/heads/main',
    environment: 'staging',
    model: 'fraud-detector',
    runId: `run-${counter}`,
    idempotencyKey: `key-${counter}`,
    outputDir: path.join(workspace, 'out', 'ml-promote'),
    workspace,
    signal: controller.signal,
    deadline: Date.now() + 60_000,
    log,
    ...overrides
  }
  return { ctx, lines, controller }
}

function spec(run: string, extra: Partial<CommandTrainSpec> = {}): CommandTrainSpec {
  return { backend: 'command', run, metrics: 'metrics.json', ...extra }
}

async function train(
  s: CommandTrainSpec,
  overrides: Partial<TrainingContext> = {}
): Promise<Harness & { status: RunStatus; backend: CommandBackend }> {
  const h = await harness(overrides)
  const backend = new CommandBackend(s)
  const run = await backend.start(h.ctx)
  const status = await backend.wait(run, h.ctx)
  return { ...h, status, backend }
}

/** Dead or a zombie nobody reaps: either way it no longer runs. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`gave up waiting for ${what}`)
}

const dumpEnv = `python3 -c 'import json, os; json.dump({k: v for k, v in os.environ.items() if k.startswith(("ML_PROMOTE_", "EXTRA_"))}, open("env.json", "w"))'`

describe('a successful training', () => {
  it('runs the command, streams its output and returns the metrics it wrote', async () => {
    const h = await harness()
    const backend = new CommandBackend(
      spec(
        `echo starting; python3 -c 'import json; json.dump({"auc": 0.93, "recall": 0.8, "latency_ms": 12}, open("metrics.json", "w"))'; echo done`
      )
    )
    const run = await backend.start(h.ctx)
    expect(run).toMatchObject({ backend: 'command', id: expect.stringMatching(/^\d+$/) })
    expect(JSON.parse(JSON.stringify(run))).toEqual(run)

    expect(await backend.wait(run, h.ctx)).toEqual({ state: 'succeeded' })
    expect(await backend.status(run, h.ctx)).toEqual({ state: 'succeeded' })
    expect(await waitForExit(run)).toEqual({ state: 'succeeded' })
    expect(await backend.metrics(run, h.ctx)).toEqual({ auc: 0.93, recall: 0.8, latency_ms: 12 })
    expect(h.lines).toEqual(expect.arrayContaining(['starting', 'done']))
  })

  it('reports running while the command has not exited', async () => {
    const h = await harness()
    const backend = new CommandBackend(spec('sleep 30'))
    const run = await backend.start(h.ctx)
    expect(await backend.status(run, h.ctx)).toEqual({ state: 'running' })
    await backend.cancel(run, h.ctx)
    expect((await backend.wait(run, h.ctx)).state).toBe('cancelled')
  })

  it('creates the output directory before the command starts', async () => {
    const { status, ctx } = await train(spec('test -d "$ML_PROMOTE_OUTPUT_DIR"'))
    expect(status).toEqual({ state: 'succeeded' })
    expect(existsSync(ctx.outputDir)).toBe(true)
  })
})

describe('the context reaches training as environment variables only', () => {
  it('passes exactly the ML_PROMOTE_* variables, spec.env and the runner environment', async () => {
    const { status, ctx } = await train(
      spec(`${dumpEnv}; test -n "$PATH"`, { env: { EXTRA_SETTING: 'from-config' } })
    )
    expect(status).toEqual({ state: 'succeeded' })
    const env = JSON.parse(await readFile(path.join(ctx.workspace, 'env.json'), 'utf8'))
    expect(env).toEqual({
      ML_PROMOTE_ENVIRONMENT: 'staging',
      ML_PROMOTE_MODEL: 'fraud-detector',
      ML_PROMOTE_SHA: ctx.sha,
      ML_PROMOTE_REF: 'refs/heads/main',
      ML_PROMOTE_RUN_ID: ctx.runId,
      ML_PROMOTE_OUTPUT_DIR: ctx.outputDir,
      EXTRA_SETTING: 'from-config'
    })
  })

  it('delivers shell metacharacters verbatim and executes none of them', async () => {
    const hostile = {
      model: '$(touch pwned-model)',
      ref: 'refs/heads/`touch pwned-ref`',
      sha: 'abc; touch pwned-sha',
      environment: "staging' && touch pwned-env '",
      runId: '$((6*7))|touch pwned-run&'
    }
    const { status, ctx } = await train(spec(`${dumpEnv}; echo "$ML_PROMOTE_MODEL"`), hostile)
    expect(status).toEqual({ state: 'succeeded' })
    const env = JSON.parse(await readFile(path.join(ctx.workspace, 'env.json'), 'utf8'))
    expect(env).toMatchObject({
      ML_PROMOTE_MODEL: hostile.model,
      ML_PROMOTE_REF: hostile.ref,
      ML_PROMOTE_SHA: hostile.sha,
      ML_PROMOTE_ENVIRONMENT: hostile.environment,
      ML_PROMOTE_RUN_ID: hostile.runId
    })
    const created = await readdir(ctx.workspace)
    expect(created.filter((f) => f.startsWith('pwned'))).toEqual([])
  })
})

describe('training gets a scrubbed environment', () => {
  const runner: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: '/home/runner',
    RUNNER_OS: 'Linux',
    GITHUB_REPOSITORY: 'acme/fraud',
    GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
    CI: 'true',
    'INPUT_GITHUB-TOKEN': 'ghs_inputToken',
    INPUT_CONFIG: '.github/ml-promote.yml',
    STATE_pending: '[]',
    GITHUB_TOKEN: 'ghs_envToken',
    GH_TOKEN: 'ghs_ghToken',
    GITHUB_OUTPUT: '/runner/_temp/_runner_file_commands/set_output_1',
    GITHUB_ENV: '/runner/_temp/_runner_file_commands/set_env_1',
    GITHUB_PATH: '/runner/_temp/_runner_file_commands/add_path_1',
    GITHUB_STATE: '/runner/_temp/_runner_file_commands/save_state_1',
    GITHUB_STEP_SUMMARY: '/runner/_temp/_runner_file_commands/step_summary_1',
    ACTIONS_RUNTIME_TOKEN: 'runtime-jwt',
    ACTIONS_RUNTIME_URL: 'https://pipelines.actions.githubusercontent.com/x/',
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'oidc-jwt',
    ACTIONS_ID_TOKEN_REQUEST_URL: 'https://token.actions.githubusercontent.com/x',
    ACTIONS_RESULTS_URL: 'https://results-receiver.actions.githubusercontent.com/',
    DATABRICKS_HOST: 'https://adb-1.azuredatabricks.net',
    DATABRICKS_TOKEN: 'dapi-secret',
    DATABRICKS_CLIENT_SECRET: 'dose-secret',
    AIRFLOW_TOKEN: 'airflow-secret',
    AIRFLOW_PASSWORD: 'airflow-password',
    MLFLOW_TRACKING_URI: 'https://mlflow.example.com',
    MLFLOW_TRACKING_TOKEN: 'mlflow-secret',
    AWS_SECRET_ACCESS_KEY: 'aws-secret',
    OPENAI_API_KEY: 'sk-secret',
    FEATURE_STORE_PASSWORD: 'fs-secret'
  }
  const dumpAll = `python3 -c 'import json, os; json.dump(dict(os.environ), open("env.json", "w"))'`

  async function trainedEnv(extra: Partial<CommandTrainSpec> = {}) {
    const h = await harness()
    const backend = new CommandBackend(spec(dumpAll, extra), { env: runner })
    const run = await backend.start(h.ctx)
    expect(await backend.wait(run, h.ctx)).toEqual({ state: 'succeeded' })
    const env: Record<string, string> = JSON.parse(
      await readFile(path.join(h.ctx.workspace, 'env.json'), 'utf8')
    )
    return { env, lines: h.lines }
  }

  it('keeps the runner variables, the config env and the context, and nothing secret', async () => {
    const { env } = await trainedEnv({ env: { EXTRA_SETTING: 'from-config' } })
    expect(env).toMatchObject({
      HOME: '/home/runner',
      RUNNER_OS: 'Linux',
      GITHUB_REPOSITORY: 'acme/fraud',
      CI: 'true',
      DATABRICKS_HOST: 'https://adb-1.azuredatabricks.net',
      MLFLOW_TRACKING_URI: 'https://mlflow.example.com',
      EXTRA_SETTING: 'from-config',
      ML_PROMOTE_MODEL: 'fraud-detector'
    })
    const dumped = JSON.stringify(env)
    for (const [name, value] of Object.entries(runner)) {
      if (
        /TOKEN|SECRET|PASSWORD|KEY|INPUT_|STATE_|GITHUB_(OUTPUT|ENV|PATH|STATE|STEP)|ACTIONS_/.test(
          name
        )
      ) {
        expect(env[name]).toBeUndefined()
        expect(dumped).not.toContain(value!)
      }
    }
  })

  it('names what it held back, never its value', async () => {
    const { lines } = await trainedEnv()
    const note = lines.find((l) => l.includes('not passed to training'))
    expect(note).toContain(
      'AIRFLOW_PASSWORD, AIRFLOW_TOKEN, AWS_SECRET_ACCESS_KEY, DATABRICKS_CLIENT_SECRET, DATABRICKS_TOKEN, FEATURE_STORE_PASSWORD, MLFLOW_TRACKING_TOKEN, OPENAI_API_KEY'
    )
    expect(note).not.toMatch(/INPUT_|GITHUB_TOKEN|ACTIONS_/)
    expect(lines.join('\n')).not.toMatch(/secret|ghs_/)
  })

  it('passes a variable pass_env lists, and only that one', async () => {
    const { env, lines } = await trainedEnv({ pass_env: ['FEATURE_STORE_PASSWORD'] })
    expect(env.FEATURE_STORE_PASSWORD).toBe('fs-secret')
    expect(env.AWS_SECRET_ACCESS_KEY).toBeUndefined()
    expect(lines.find((l) => l.includes('not passed to training'))).not.toContain(
      'FEATURE_STORE_PASSWORD'
    )
  })

  it('says nothing when nothing was held back', async () => {
    const h = await harness()
    const backend = new CommandBackend(spec('true'), { env: { PATH: process.env.PATH } })
    const run = await backend.start(h.ctx)
    await backend.wait(run, h.ctx)
    expect(h.lines.some((l) => l.includes('not passed to training'))).toBe(false)
  })
})

describe('a failing training', () => {
  it('reports the exit code and the last 30 lines of output', async () => {
    const { status } = await train(
      spec('for i in $(seq 1 40); do echo "line $i"; done; echo "boom: bad data" >&2; exit 2')
    )
    expect(status.state).toBe('failed')
    const lines = (status.message ?? '').split('\n')
    expect(lines[0]).toBe('training command exited with code 2')
    const tail = lines.slice(lines.indexOf('Last lines of output:') + 1)
    expect(tail).toHaveLength(30)
    expect(tail[0]).toBe('line 12')
    expect(tail.at(-1)).toBe('boom: bad data')
  })

  it('names the signal that killed the command', async () => {
    const { status } = await train(spec('echo about to die; kill -KILL $$'))
    expect(status.state).toBe('failed')
    expect(status.message).toMatch(/^training command was killed by SIGKILL\n/)
    expect(status.message).toContain('about to die')
  })

  it('puts the output tail in the TrainingError detail when metrics are missing', async () => {
    const h = await harness()
    const backend = new CommandBackend(spec('echo forgot to write metrics'))
    const run = await backend.start(h.ctx)
    await backend.wait(run, h.ctx)
    const err = await backend.metrics(run, h.ctx).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TrainingError)
    expect((err as TrainingError).detail).toContain('forgot to write metrics')
    expect((err as TrainingError).run).toEqual(run)
  })

  it('bash runs with -e and pipefail', async () => {
    const { status, lines } = await train(spec('false | true; echo unreachable'))
    expect(status.message).toMatch(/^training command exited with code 1/)
    expect(lines).not.toContain('unreachable')
  })
})

describe('stopping a training', () => {
  it('kills a command that passes the deadline', async () => {
    const { status } = await train(spec('sleep 30'), { deadline: Date.now() + 300 })
    expect(status.state).toBe('timed_out')
    expect(status.message).toMatch(/^timed out after 0m \d+s$/)
  })

  it('kills the whole process group, including processes the command started', async () => {
    const h = await harness()
    const backend = new CommandBackend(spec('sleep 30 & echo $! > child.pid; echo started; wait'))
    const run = await backend.start(h.ctx)
    const pidFile = path.join(h.ctx.workspace, 'child.pid')
    await until('the background sleep', () => h.lines.includes('started'))
    const child = Number(readFileSync(pidFile, 'utf8').trim())
    expect(running(child)).toBe(true)

    // status() notices a passed deadline on its own, without the timer.
    const late = { ...h.ctx, deadline: Date.now() - 1 }
    expect((await backend.status(run, late)).state).toBe('running')
    const status = await backend.wait(run, h.ctx)
    expect(status.state).toBe('timed_out')
    expect(status.message).toContain('started')
    await until('the background sleep to die', () => !running(child))
    expect(running(Number(run.id))).toBe(false)
  })

  it('cancels when the signal aborts', async () => {
    const h = await harness()
    const backend = new CommandBackend(spec('echo waiting; sleep 30'))
    const run = await backend.start(h.ctx)
    await until('the command to start', () => h.lines.includes('waiting'))
    h.controller.abort()
    const status = await backend.wait(run, h.ctx)
    expect(status.state).toBe('cancelled')
    expect(status.message).toMatch(/^training cancelled\n/)
  })

  it('cancels at once when the signal was aborted before start', async () => {
    const controller = new AbortController()
    controller.abort()
    const { status } = await train(spec('sleep 30'), { signal: controller.signal })
    expect(status.state).toBe('cancelled')
  })

  it('cancel() stops a running command and is harmless once it has exited', async () => {
    const h = await harness()
    const backend = new CommandBackend(spec('sleep 30'))
    const run = await backend.start(h.ctx)
    await backend.cancel(run, h.ctx)
    expect((await backend.wait(run, h.ctx)).state).toBe('cancelled')
    await expect(backend.cancel(run, h.ctx)).resolves.toBeUndefined()
    await expect(backend.cancel({ backend: 'command', id: '999999999' }, h.ctx)).resolves.toBe(
      undefined
    )
  })

  // Without the SIGKILL the 300 s sleep outlives the test's own timeout.
  it('sends SIGKILL when the group ignores SIGTERM', async () => {
    const h = await harness()
    const backend = new CommandBackend(spec("trap '' TERM; echo ready; sleep 300"), {
      killGraceMs: 200
    })
    const run = await backend.start(h.ctx)
    await until('the trap to be set', () => h.lines.includes('ready'))
    h.controller.abort()
    expect((await backend.wait(run, h.ctx)).state).toBe('cancelled')
  }, 15_000)
})

describe('start() is idempotent while a run is in flight', () => {
  it('attaches to the running training of the same key instead of starting another', async () => {
    const h = await harness()
    const backend = new CommandBackend(spec('echo once >> runs.txt; echo started; sleep 30'))
    const first = await backend.start(h.ctx)
    const second = await backend.start(h.ctx)
    expect(second).toMatchObject({ id: first.id, attached: true })
    await until('the command to start', () => h.lines.includes('started'))
    await backend.cancel(first, h.ctx)
    await backend.wait(first, h.ctx)
    expect(await readFile(path.join(h.ctx.workspace, 'runs.txt'), 'utf8')).toBe('once\n')
  })
})

describe('metrics files', () => {
  const write = (content: string) =>
    spec(`printf '%s' "$CONTENT" > metrics.json`, { env: { CONTENT: content } })

  it.each([
    ['not JSON', '{"auc": 0.9,', /^metrics file metrics\.json is not valid JSON: /],
    [
      'an array',
      '[0.9]',
      'metrics file metrics.json must be a flat JSON object of numbers; got an array'
    ],
    [
      'a number',
      '0.9',
      'metrics file metrics.json must be a flat JSON object of numbers; got a number'
    ],
    ['null', 'null', 'metrics file metrics.json must be a flat JSON object of numbers; got null'],
    [
      'a string value',
      '{"auc": "0.9"}',
      'metrics file metrics.json must be a flat JSON object of numbers; "auc" is a string ("0.9")'
    ],
    [
      'a "NaN" string',
      '{"auc": 0.9, "loss": "NaN"}',
      'metrics file metrics.json must be a flat JSON object of numbers; "loss" is a string ("NaN")'
    ],
    [
      'a nested object',
      '{"eval": {"auc": 0.9}}',
      'metrics file metrics.json must be a flat JSON object of numbers; "eval" is an object'
    ],
    [
      'an array value',
      '{"scores": [1, 2]}',
      'metrics file metrics.json must be a flat JSON object of numbers; "scores" is an array'
    ],
    [
      'a boolean',
      '{"ok": true}',
      'metrics file metrics.json must be a flat JSON object of numbers; "ok" is a boolean'
    ],
    [
      'a null value',
      '{"auc": null}',
      'metrics file metrics.json must be a flat JSON object of numbers; "auc" is null'
    ]
  ])('rejects %s', async (_what, content, expected) => {
    const h = await harness()
    const backend = new CommandBackend(write(content))
    const run = await backend.start(h.ctx)
    expect(await backend.wait(run, h.ctx)).toEqual({ state: 'succeeded' })
    const err = await backend.metrics(run, h.ctx).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TrainingError)
    if (typeof expected === 'string') expect((err as Error).message).toBe(expected)
    else expect((err as Error).message).toMatch(expected)
  })

  it('accepts negative, integer and exponent numbers', async () => {
    const { ctx, backend } = await train(write('{"delta": -0.5, "n": 3, "tiny": 1e-9}'))
    const run = { backend: 'command', id: 'restored' }
    expect(await backend.metrics(run, ctx)).toEqual({ delta: -0.5, n: 3, tiny: 1e-9 })
  })

  it('names the file relative to the workspace when it was not written', async () => {
    const h = await harness()
    const backend = new CommandBackend(spec('true', { metrics: 'out/fraud/metrics.json' }))
    const run = await backend.start(h.ctx)
    await backend.wait(run, h.ctx)
    await expect(backend.metrics(run, h.ctx)).rejects.toThrow(
      'metrics file out/fraud/metrics.json was not written'
    )
  })

  it('removes a stale metrics file before the command starts', async () => {
    const h = await harness()
    const stale = path.join(h.ctx.workspace, 'metrics.json')
    await writeFile(stale, '{"auc": 0.99}')
    const backend = new CommandBackend(spec('true'))
    const run = await backend.start(h.ctx)
    expect(existsSync(stale)).toBe(false)
    expect(await backend.wait(run, h.ctx)).toEqual({ state: 'succeeded' })
    await expect(backend.metrics(run, h.ctx)).rejects.toThrow(
      'metrics file metrics.json was not written'
    )
  })
})

describe('where and how the command runs', () => {
  it('runs in working_directory and reads metrics relative to it', async () => {
    const h = await harness()
    const dir = path.join(h.ctx.workspace, 'models', 'fraud')
    await mkdir(dir, { recursive: true })
    const backend = new CommandBackend(
      spec(`pwd > where.txt; mkdir -p out; echo '{"auc": 0.91}' > out/metrics.json`, {
        working_directory: 'models/fraud',
        metrics: 'out/metrics.json'
      })
    )
    const run = await backend.start(h.ctx)
    expect(await backend.wait(run, h.ctx)).toEqual({ state: 'succeeded' })
    expect((await readFile(path.join(dir, 'where.txt'), 'utf8')).trim()).toBe(dir)
    expect(await backend.metrics(run, h.ctx)).toEqual({ auc: 0.91 })
    expect(run.data).toMatchObject({ metricsFile: 'models/fraud/out/metrics.json' })
  })

  it('fails clearly when working_directory does not exist', async () => {
    const h = await harness()
    const backend = new CommandBackend(spec('true', { working_directory: 'models/none' }))
    await expect(backend.start(h.ctx)).rejects.toThrow(
      'working directory models/none does not exist'
    )
  })

  it('runs under sh -e when shell is sh', async () => {
    const { status, lines } = await train(
      spec('echo "bash=${BASH_VERSION:-none}"; false; echo unreachable', { shell: 'sh' })
    )
    expect(status.message).toMatch(/^training command exited with code 1/)
    expect(lines).toContain('bash=none')
    expect(lines).not.toContain('unreachable')
  })

  it('runs under bash by default', async () => {
    const { status, lines } = await train(spec('echo "bash=${BASH_VERSION:-none}"'))
    expect(status).toEqual({ state: 'succeeded' })
    expect(lines.find((l) => l.startsWith('bash='))).toMatch(/^bash=\d/)
  })

  it('reports a run it does not know as failed instead of throwing', async () => {
    const h = await harness()
    const backend = new CommandBackend(spec('true'))
    const status = await backend.status({ backend: 'command', id: '999999999' }, h.ctx)
    expect(status.state).toBe('failed')
  })
})
