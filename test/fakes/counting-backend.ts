// An in-process remote backend whose trainings each take a fixed time and that records how many
// run at once: what the concurrency bound is checked and measured against.
import { mkdtemp } from 'node:fs/promises'
import path from 'node:path'
import { FileChampionStore } from '../../src/champions/file.js'
import type { Config } from '../../src/config/schema.js'
import { runPlan, type EngineOptions } from '../../src/engine.js'
import { plan } from '../../src/plan.js'
import type { Backend, Metrics, ModelResult, RemoteRun, RunStatus } from '../../src/types.js'
import { quietLogger } from '../support/logger.js'

/** A backend whose every training takes `ms`, recording how many run at once. */
export class CountingBackend implements Backend {
  readonly name = 'counting'
  active = 0
  peak = 0
  started: string[] = []
  constructor(
    private readonly ms: number,
    private readonly failing = new Set<string>()
  ) {}
  async start(ctx: { model: string }): Promise<RemoteRun> {
    this.active++
    this.peak = Math.max(this.peak, this.active)
    this.started.push(ctx.model)
    return { backend: this.name, id: ctx.model }
  }
  async wait(run: RemoteRun): Promise<RunStatus> {
    await new Promise((r) => setTimeout(r, this.ms))
    this.active--
    return this.failing.has(run.id)
      ? { state: 'failed', message: `${run.id} ran out of memory` }
      : { state: 'succeeded' }
  }
  async status(): Promise<RunStatus> {
    return { state: 'running' }
  }
  async cancel(): Promise<void> {}
  async metrics(): Promise<Metrics> {
    return { auc: 0.9 }
  }
}

/** Retrains every model of `config` in its first environment on `backend`, as a push to main does. */
export async function retrainAll(
  config: Config,
  backend: Backend,
  dir: string,
  extra: Partial<EngineOptions> = {}
): Promise<ModelResult[]> {
  return runPlan({
    config,
    plan: plan(config, { event: 'push', branch: 'main', mode: 'auto' }),
    context: {
      repo: 'acme/mono',
      sha: 'a'.repeat(40),
      ref: 'refs/heads/main',
      workspace: dir,
      runId: `run-${Math.random().toString(36).slice(2)}`,
      outputRoot: path.join(dir, 'out')
    },
    backendFor: () => backend,
    store: new FileChampionStore(await mkdtemp(path.join(dir, 'store-'))),
    log: quietLogger,
    signal: new AbortController().signal,
    deadline: Date.now() + 600_000,
    ...extra
  })
}
