// The real wait engine on a virtual clock against a remote run that takes 2 hours: status calls
// per hour of waiting and how late the end is noticed, next to a fixed 5 s poll.
import { it } from '@jest/globals'
import type { Backend, RemoteRun, RunStatus, TrainingContext } from '../src/types.js'
import { waitForRun, type PollPolicy } from '../src/wait.js'
import { VirtualClock } from '../test/fakes/clock.js'
import { figure } from './report.js'

const JOB_MS = 2 * 60 * 60 * 1000

async function measure(policy?: PollPolicy): Promise<{ polls: number; lagMs: number }> {
  const clock = new VirtualClock()
  const started = clock.now()
  let polls = 0
  const backend: Backend = {
    name: 'bench',
    start: async () => ({ backend: 'bench', id: '1' }),
    status: async (): Promise<RunStatus> => {
      polls++
      return clock.now() - started >= JOB_MS ? { state: 'succeeded' } : { state: 'running' }
    },
    cancel: async () => undefined,
    metrics: async () => ({})
  }
  const log = {
    info() {},
    warning() {},
    error() {},
    debug() {},
    group: <T>(_: string, fn: () => Promise<T>) => fn(),
    secret() {}
  }
  const ctx = {
    signal: new AbortController().signal,
    deadline: started + 6 * JOB_MS,
    log
  } as unknown as TrainingContext
  const run: RemoteRun = { backend: 'bench', id: '1' }
  const status = await waitForRun(backend, run, ctx, { clock, policy, random: () => 0.5 })
  if (status.state !== 'succeeded') throw new Error(`unexpected ${status.state}`)
  return { polls, lagMs: clock.now() - started - JOB_MS }
}

it('polling cost of a 2-hour remote job', async () => {
  const adaptive = await measure()
  const fixed = await measure({ minMs: 5000, maxMs: 5000, fraction: 0, jitter: 0 })
  const hours = JOB_MS / 3_600_000
  figure('remote polls per hour', (adaptive.polls / hours).toFixed(1))
  figure('detection lag', (adaptive.lagMs / 1000).toFixed(1), 's')
  figure('remote polls per hour at a fixed 5 s', (fixed.polls / hours).toFixed(1))
  figure('poll reduction vs fixed 5 s', (fixed.polls / adaptive.polls).toFixed(1), 'x')
})
