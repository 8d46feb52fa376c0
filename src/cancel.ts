// Remote trainings in flight, saved to the step's state as they start so that the post step can
// cancel whatever the main step left running when the workflow was cancelled or killed.
import { createBackend, type BackendDeps } from './backends/index.js'
import type { Config, RemoteRun, TrainingContext, TrainSpec } from './types.js'

interface PendingRun {
  model: string
  environment: string
  run: RemoteRun
  spec: TrainSpec
}

export class PendingRuns {
  private readonly runs = new Map<string, PendingRun>()

  static fromState(state: string): PendingRuns {
    const pending = new PendingRuns()
    if (!state) return pending
    for (const p of JSON.parse(state) as PendingRun[])
      pending.runs.set(PendingRuns.key(p.model, p.environment, p.run), p)
    return pending
  }

  private static key(model: string, environment: string, run: RemoteRun): string {
    return `${model}\0${environment}\0${run.backend}\0${run.id}`
  }

  get size(): number {
    return this.runs.size
  }

  add(model: string, environment: string, run: RemoteRun, config: Config): void {
    const spec = config.models.find((m) => m.name === model)?.train[environment]
    // A local process dies with the job; only remote runs outlive it.
    if (!spec || spec.backend === 'command') return
    this.runs.set(PendingRuns.key(model, environment, run), { model, environment, run, spec })
  }

  delete(model: string, environment: string, run: RemoteRun): void {
    this.runs.delete(PendingRuns.key(model, environment, run))
  }

  toState(): string {
    return JSON.stringify([...this.runs.values()])
  }

  values(): PendingRun[] {
    return [...this.runs.values()]
  }
}

export async function cancelPending(pending: PendingRuns, deps: BackendDeps): Promise<void> {
  const signal = new AbortController().signal
  await Promise.all(
    pending.values().map(async (p) => {
      const ctx = {
        environment: p.environment,
        model: p.model,
        signal,
        deadline: Date.now() + 60_000,
        log: deps.log
      } as TrainingContext
      try {
        const backend = await createBackend(p.spec, deps)
        await backend.cancel(p.run, ctx)
        deps.log.info(
          `cancelled ${p.run.backend} run ${p.run.id} of ${p.model} [${p.environment}]${p.run.url ? ` — ${p.run.url}` : ''}`
        )
      } catch (e) {
        deps.log.warning(
          `could not cancel ${p.run.backend} run ${p.run.id}${p.run.url ? ` (${p.run.url})` : ''}: ${(e as Error).message}`
        )
      }
    })
  )
}
