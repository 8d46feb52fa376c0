// How many trainings run at once. Remote trainings cost API calls while they are awaited (start,
// status polls, metrics), so their bound follows the rate limits; local ones share the runner's cores.
import os from 'node:os'

/**
 * Remote trainings at once when nothing says otherwise. Each awaited training polls its backend
 * and, for the github-workflow backend, GitHub: ten keep a two-hour wave of trainings at about 370
 * status calls an hour, well inside GITHUB_TOKEN's 1,000 requests an hour and Databricks' per-
 * workspace limits, while 50 models still finish in five waves instead of fifty.
 */
export const DEFAULT_MAX_PARALLEL = 10

/** Runner trainings at once by default: one per core (4 on a public repository's ubuntu-latest). */
export function defaultLocalParallel(): number {
  return Math.max(1, os.availableParallelism())
}

export type Limiter = <T>(fn: () => Promise<T>) => Promise<T>

/** Runs at most `n` of the functions handed to it at once, in the order they were handed over. */
export function limiter(n: number): Limiter {
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`a limit must be a whole number ≥ 1 (got ${n})`)
  let active = 0
  const waiting: Array<() => void> = []
  const release = (): void => {
    active--
    waiting.shift()?.()
  }
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve))
    active++
    try {
      return await fn()
    } finally {
      release()
    }
  }
}
