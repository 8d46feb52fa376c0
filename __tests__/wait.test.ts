import { describe, expect, it } from '@jest/globals'
import { HttpError } from '../src/backends/http.js'
import {
  TrainingError,
  type Backend,
  type Logger,
  type RemoteRun,
  type RunStatus,
  type TrainingContext
} from '../src/types.js'
import {
  DEFAULT_POLL_POLICY,
  nextPollDelay,
  simulatePolling,
  systemClock,
  waitForRun,
  type PollPolicy
} from '../src/wait.js'
import { VirtualClock } from '../test/fakes/clock.js'

type Step = RunStatus | Error | (() => Promise<RunStatus>)

/** A backend whose status() plays a script; the last step repeats. */
class ScriptedBackend implements Backend {
  readonly name = 'scripted'
  readonly calls: number[] = []
  constructor(
    private readonly steps: Step[],
    private readonly clock: { now(): number } = systemClock
  ) {}
  async start(): Promise<RemoteRun> {
    throw new Error('waiting must never start a run')
  }
  async status(): Promise<RunStatus> {
    this.calls.push(this.clock.now())
    const step = this.steps[Math.min(this.calls.length - 1, this.steps.length - 1)] as Step
    if (step instanceof Error) throw step
    if (typeof step === 'function') return step()
    return step
  }
  async cancel(): Promise<void> {}
  async metrics(): Promise<Record<string, number>> {
    return {}
  }
}

const run: RemoteRun = { backend: 'scripted', id: '42', url: 'https://example.test/runs/42' }
const running: RunStatus = { state: 'running' }
const succeeded: RunStatus = { state: 'succeeded' }
const unavailable = (retryAfterMs?: number): HttpError =>
  new HttpError('GET /status returned 503', 503, 'https://example.test/status', {}, retryAfterMs)

function logger(lines: string[] = []): Logger {
  return {
    info: (m) => lines.push(m),
    notice: (m) => lines.push(`notice: ${m}`),
    warning: (m) => lines.push(`warning: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
    debug: () => undefined,
    group: (_n, fn) => fn(),
    secret: () => undefined
  }
}

function context(clock: { now(): number }, over: Partial<TrainingContext> = {}): TrainingContext {
  return {
    repo: 'o/r',
    sha: 'abc',
    ref: 'refs/heads/main',
    environment: 'staging',
    model: 'm',
    runId: '1',
    idempotencyKey: 'k',
    outputDir: '/tmp/out',
    workspace: '/tmp',
    signal: new AbortController().signal,
    deadline: clock.now() + 6 * 3600_000,
    log: logger(),
    ...over
  }
}

const noJitter = (): number => 0
const HOUR = 3600_000

describe('nextPollDelay', () => {
  it.each([
    [0, 5_000],
    [30_000, 5_000],
    [100_000, 10_000],
    [600_000, 60_000],
    [HOUR, 300_000],
    [6 * HOUR, 300_000]
  ])('after %i ms waits %i ms without jitter', (elapsed, delay) => {
    expect(nextPollDelay(elapsed, DEFAULT_POLL_POLICY, noJitter)).toBe(delay)
  })

  it('only ever shortens a delay with jitter, by at most the jitter share, never below minMs', () => {
    for (const elapsed of [0, 60_000, 600_000, 2 * HOUR]) {
      const base = nextPollDelay(elapsed, DEFAULT_POLL_POLICY, noJitter)
      for (const r of [0.01, 0.5, 0.99, 1]) {
        const d = nextPollDelay(elapsed, DEFAULT_POLL_POLICY, () => r)
        expect(d).toBeLessThanOrEqual(base)
        expect(d).toBeGreaterThanOrEqual(Math.max(DEFAULT_POLL_POLICY.minMs, base * 0.8 - 1))
      }
    }
    expect(nextPollDelay(HOUR, DEFAULT_POLL_POLICY, () => 1)).toBe(240_000)
  })
})

describe('simulatePolling (the benchmark targets)', () => {
  it.each([
    ['no jitter', noJitter],
    ['full jitter', () => 1],
    ['random jitter', Math.random]
  ])(
    'a 2-hour job costs at most 60 calls an hour and is seen ending within 10%% (%s)',
    (_n, random) => {
      const job = 2 * HOUR
      const { polls, lagMs } = simulatePolling(job, DEFAULT_POLL_POLICY, random)
      expect(polls).toBeLessThanOrEqual(120)
      expect(lagMs).toBeLessThanOrEqual(Math.max(5_000, 0.1 * job))
    }
  )

  it.each([10_000, 60_000, 10 * 60_000, HOUR, 6 * HOUR])(
    'bounds the lag of a %i ms job by max(5 s, 10%%)',
    (job) => {
      for (const random of [noJitter, () => 1, Math.random]) {
        expect(simulatePolling(job, DEFAULT_POLL_POLICY, random).lagMs).toBeLessThanOrEqual(
          Math.max(5_000, 0.1 * job)
        )
      }
    }
  )

  it('a fixed 60 s interval would miss the budget the policy meets', () => {
    const fixed: PollPolicy = { minMs: 60_000, maxMs: 60_000, fraction: 0, jitter: 0 }
    expect(simulatePolling(2 * HOUR, fixed).polls).toBeGreaterThan(120)
  })
})

describe('waitForRun polling', () => {
  it('looks at once, then spaces the looks as the policy says, until the run ends', async () => {
    const clock = new VirtualClock()
    const steps: Step[] = [...Array.from({ length: 30 }, () => running), succeeded]
    const backend = new ScriptedBackend(steps, clock)
    const seen: [string, number][] = []
    const status = await waitForRun(backend, run, context(clock), {
      clock,
      random: noJitter,
      onStatus: (s, elapsed) => seen.push([s.state, elapsed])
    })
    expect(status).toEqual(succeeded)
    expect(backend.calls).toHaveLength(31)
    let elapsed = 0
    for (const sleep of clock.sleeps) {
      expect(sleep).toBe(nextPollDelay(elapsed, DEFAULT_POLL_POLICY, noJitter))
      elapsed += sleep
    }
    expect(clock.sleeps[0]).toBe(5_000)
    expect(clock.sleeps.at(-1)).toBeGreaterThan(5_000)
    expect(seen.at(-1)).toEqual(['succeeded', elapsed])
  })

  it('returns failures and their message as they are', async () => {
    const clock = new VirtualClock()
    const failed: RunStatus = { state: 'failed', message: 'boom' }
    const backend = new ScriptedBackend([running, failed], clock)
    expect(await waitForRun(backend, run, context(clock), { clock })).toEqual(failed)
  })
})

describe('waitForRun deadline', () => {
  it('ends with timed_out, after a last look on the deadline itself', async () => {
    const clock = new VirtualClock()
    const deadline = clock.now() + 60_000
    const backend = new ScriptedBackend([running], clock)
    const status = await waitForRun(backend, run, context(clock, { deadline }), {
      clock,
      random: noJitter
    })
    expect(status.state).toBe('timed_out')
    expect(status.message).toContain('https://example.test/runs/42')
    expect(status.message).toContain('still running')
    expect(backend.calls.at(-1)).toBe(deadline)
    expect(clock.now()).toBe(deadline)
  })

  it('does not lose a run that ends just as the deadline passes', async () => {
    const clock = new VirtualClock()
    const deadline = clock.now() + 12_000
    const backend = new ScriptedBackend([running, running, running, succeeded], clock)
    const status = await waitForRun(backend, run, context(clock, { deadline }), {
      clock,
      random: noJitter
    })
    expect(status).toEqual(succeeded)
    expect(backend.calls.at(-1)).toBe(deadline)
  })
})

describe('waitForRun abort', () => {
  it('wakes from a long sleep at once and ends with cancelled', async () => {
    const controller = new AbortController()
    const backend = new ScriptedBackend([running])
    const slow: PollPolicy = { minMs: 600_000, maxMs: 600_000, fraction: 0, jitter: 0 }
    const waiting = waitForRun(backend, run, context(systemClock, { signal: controller.signal }), {
      policy: slow
    })
    setTimeout(() => controller.abort(new Error('SIGINT')), 20)
    const status = await waiting
    expect(status.state).toBe('cancelled')
    expect(status.message).toContain('https://example.test/runs/42')
    expect(backend.calls).toHaveLength(1)
  }, 5_000)

  it('ends with cancelled when the abort lands during a status call', async () => {
    const controller = new AbortController()
    const backend = new ScriptedBackend([
      () =>
        new Promise<RunStatus>((_resolve, reject) =>
          controller.signal.addEventListener('abort', () => reject(controller.signal.reason))
        )
    ])
    const waiting = waitForRun(backend, run, context(systemClock, { signal: controller.signal }))
    setTimeout(() => controller.abort(new Error('SIGINT')), 20)
    expect((await waiting).state).toBe('cancelled')
  }, 5_000)

  it('does not look at all when already aborted', async () => {
    const controller = new AbortController()
    controller.abort()
    const backend = new ScriptedBackend([running])
    expect(
      (await waitForRun(backend, run, context(systemClock, { signal: controller.signal }))).state
    ).toBe('cancelled')
    expect(backend.calls).toHaveLength(0)
  })
})

describe('waitForRun transient errors', () => {
  it('tolerates up to maxConsecutiveErrors failures in a row and warns about each', async () => {
    const clock = new VirtualClock()
    const lines: string[] = []
    const errors = Array.from({ length: 10 }, () => unavailable())
    const backend = new ScriptedBackend([running, ...errors, succeeded], clock)
    const status = await waitForRun(backend, run, context(clock, { log: logger(lines) }), {
      clock,
      maxConsecutiveErrors: 10
    })
    expect(status).toEqual(succeeded)
    expect(lines.filter((l) => l.startsWith('warning: Status check'))).toHaveLength(10)
  })

  it('gives up after one more, naming the run and the last error', async () => {
    const clock = new VirtualClock()
    const backend = new ScriptedBackend(
      [running, ...Array.from({ length: 4 }, () => unavailable()), succeeded],
      clock
    )
    const e = await waitForRun(backend, run, context(clock), {
      clock,
      maxConsecutiveErrors: 3
    }).catch((err: unknown) => err)
    expect(e).toBeInstanceOf(TrainingError)
    expect((e as Error).message).toContain('https://example.test/runs/42')
    expect((e as Error).message).toContain('returned 503')
    expect(backend.calls).toHaveLength(5)
  })

  it('counts only failures in a row', async () => {
    const clock = new VirtualClock()
    const burst = Array.from({ length: 3 }, () => unavailable())
    const backend = new ScriptedBackend(
      [...burst, running, ...burst, running, ...burst, succeeded],
      clock
    )
    expect(
      await waitForRun(backend, run, context(clock), { clock, maxConsecutiveErrors: 3 })
    ).toEqual(succeeded)
  })

  it('honours Retry-After, capped at the longest poll delay', async () => {
    const clock = new VirtualClock()
    const policy: PollPolicy = { minMs: 5, maxMs: 40_000, fraction: 0.1, jitter: 0 }
    const backend = new ScriptedBackend(
      [unavailable(30_000), unavailable(3_600_000), succeeded],
      clock
    )
    await waitForRun(backend, run, context(clock), { clock, policy })
    expect(clock.sleeps).toEqual([30_000, 40_000])
  })

  it('rethrows an error that is not transient at once', async () => {
    const clock = new VirtualClock()
    const denied = new HttpError(
      '403',
      403,
      'https://example.test',
      {},
      undefined,
      'PERMISSION_DENIED'
    )
    const backend = new ScriptedBackend([denied, succeeded], clock)
    await expect(waitForRun(backend, run, context(clock), { clock })).rejects.toBe(denied)
    expect(backend.calls).toHaveLength(1)
  })

  it('times out rather than retrying past the deadline', async () => {
    const clock = new VirtualClock()
    const deadline = clock.now() + 20_000
    const backend = new ScriptedBackend([unavailable()], clock)
    const status = await waitForRun(backend, run, context(clock, { deadline }), {
      clock,
      maxConsecutiveErrors: 100
    })
    expect(status.state).toBe('timed_out')
    expect(status.message).toContain('status unknown')
  })
})

describe('waitForRun when the timeout aborts the signal', () => {
  it('calls it timed_out, not cancelled', async () => {
    const clock = new VirtualClock()
    const controller = new AbortController()
    const deadline = clock.now() + 10_000
    const backend = new ScriptedBackend(
      [
        running,
        async () => {
          clock.advance(20_000)
          controller.abort(new Error('timeout'))
          throw controller.signal.reason
        }
      ],
      clock
    )
    const status = await waitForRun(
      backend,
      run,
      context(clock, { deadline, signal: controller.signal }),
      { clock }
    )
    expect(status.state).toBe('timed_out')
  })
})
