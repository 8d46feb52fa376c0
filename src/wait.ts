// Waiting for a remote training run: how often to look, what to do when a look fails, and when to
// stop looking. Every backend is polled through here.
import { HttpError, isTransient, systemClock, type Clock } from './backends/http.js'
import { TrainingError } from './types.js'
import type { Backend, RemoteRun, RunStatus, TrainingContext } from './types.js'

export { systemClock, type Clock }

/**
 * Poll delay = clamp(fraction × elapsed, minMs, maxMs), shortened by up to `jitter` (a fraction).
 *
 * Why proportional: a fixed interval is either chatty on long jobs or slow on short ones. A fixed
 * 60 s cap costs 120 calls on a 2-hour job, twice the 60/hour budget; growing the delay with the
 * elapsed time keeps the call count logarithmic in the job's length (≈ 80 calls for 2 hours) while
 * the detection lag after the run ends stays within max(minMs, fraction × elapsed), i.e. within a
 * tenth of the time already spent waiting.
 *
 * Why jitter only downwards: many waits started together (a matrix of models) should not poll in
 * lockstep, and shortening a delay never breaks the lag bound, where lengthening one would.
 */
export interface PollPolicy {
  minMs: number
  maxMs: number
  fraction: number
  /** 0..1: each delay is shortened by a random share of up to this much. */
  jitter: number
}

export const DEFAULT_POLL_POLICY: PollPolicy = {
  minMs: 5_000,
  maxMs: 300_000,
  fraction: 0.1,
  jitter: 0.2
}

/** The delay before the next look, given how long we have been waiting. */
export function nextPollDelay(
  elapsedMs: number,
  policy: PollPolicy = DEFAULT_POLL_POLICY,
  random: () => number = Math.random
): number {
  const base = Math.min(
    policy.maxMs,
    Math.max(policy.minMs, policy.fraction * Math.max(0, elapsedMs))
  )
  const jittered = base * (1 - policy.jitter * Math.min(1, Math.max(0, random())))
  return Math.max(policy.minMs, Math.round(jittered))
}

/**
 * Poll counts and detection lag for a job lasting `jobMs` when waiting starts as the job starts:
 * the first look is immediate, the one that sees the end is counted. Pure, for the benchmark.
 */
export function simulatePolling(
  jobMs: number,
  policy: PollPolicy = DEFAULT_POLL_POLICY,
  random: () => number = Math.random
): { polls: number; lagMs: number } {
  let t = 0
  let polls = 1
  while (t < jobMs) {
    t += nextPollDelay(t, policy, random)
    polls++
  }
  return { polls, lagMs: t - jobMs }
}

export interface WaitOptions {
  clock?: Clock
  policy?: PollPolicy
  random?: () => number
  /** Transient status failures tolerated in a row before giving up (default 10). */
  maxConsecutiveErrors?: number
  /** Called after every successful look. */
  onStatus?: (status: RunStatus, elapsedMs: number) => void
}

const DEFAULT_MAX_CONSECUTIVE_ERRORS = 10

/**
 * Polls `backend.status` until the run ends, `ctx.deadline` passes or `ctx.signal` aborts.
 *
 * A deadline or an abort is an outcome, not an exception: it resolves to `timed_out` or `cancelled`
 * with the run still going remotely, and the caller decides to cancel it. That keeps the one place
 * that knows how to stop a run (the engine, through `backend.cancel`) in charge of stopping it.
 * Only losing track of the run throws: a non-transient status error, or more than
 * `maxConsecutiveErrors` transient ones in a row. Waiting never starts the run again.
 */
export async function waitForRun(
  backend: Backend,
  run: RemoteRun,
  ctx: TrainingContext,
  opts: WaitOptions = {}
): Promise<RunStatus> {
  const clock = opts.clock ?? systemClock
  const policy = opts.policy ?? DEFAULT_POLL_POLICY
  const random = opts.random ?? Math.random
  const budget = opts.maxConsecutiveErrors ?? DEFAULT_MAX_CONSECUTIVE_ERRORS
  const started = clock.now()
  const where = run.url ?? `${backend.name} run ${run.id}`
  let errors = 0
  let last: RunStatus | undefined

  const timedOut = (): RunStatus => ({
    state: 'timed_out',
    message: `${where} ${last ? `still ${last.state}` : 'status unknown'} when the deadline passed after ${formatDuration(clock.now() - started)}`
  })
  // The signal also fires when the timeout passes; past the deadline that is a timeout.
  const cancelled = (): RunStatus =>
    clock.now() >= ctx.deadline
      ? timedOut()
      : { state: 'cancelled', message: `Stopped waiting for ${where}: the workflow was cancelled` }

  for (;;) {
    if (ctx.signal.aborted) return cancelled()
    let delay: number
    try {
      const status = await backend.status(run, ctx)
      errors = 0
      const elapsed = clock.now() - started
      if (status.state !== last?.state) ctx.log.debug(`${where}: ${status.state}`)
      last = status
      opts.onStatus?.(status, elapsed)
      if (status.state !== 'queued' && status.state !== 'running') return status
      delay = nextPollDelay(elapsed, policy, random)
    } catch (e) {
      if (ctx.signal.aborted) return cancelled()
      if (!isTransient(e)) throw e
      if (++errors > budget) {
        throw new TrainingError(
          `Lost track of ${where}: ${errors} status checks in a row failed; last: ${message(e)}`,
          run,
          message(e)
        )
      }
      ctx.log.warning(
        `Status check ${errors}/${budget} of ${where} failed, retrying: ${message(e)}`
      )
      const retryAfter = e instanceof HttpError ? e.retryAfterMs : undefined
      delay = Math.max(
        nextPollDelay(clock.now() - started, policy, random),
        Math.min(retryAfter ?? 0, policy.maxMs)
      )
    }

    const left = ctx.deadline - clock.now()
    if (left <= 0) return timedOut()
    try {
      // The last look lands on the deadline itself, so a run ending just in time is not lost.
      await clock.sleep(Math.min(delay, left), ctx.signal)
    } catch (e) {
      if (ctx.signal.aborted) return cancelled()
      throw e
    }
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${s % 60 ? ` ${s % 60}s` : ''}`
  return `${Math.floor(m / 60)}h${m % 60 ? ` ${m % 60}m` : ''}`
}
