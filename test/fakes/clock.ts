// A virtual clock: sleeping advances time at once (after letting pending I/O run), so tests of
// polling and backoff run in milliseconds while the code under test sees hours pass.
import type { Clock } from '../../src/wait.js'

export class VirtualClock implements Clock {
  readonly sleeps: number[] = []

  constructor(private t = Date.UTC(2025, 0, 1)) {}

  now(): number {
    return this.t
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason
    this.sleeps.push(ms)
    this.t += Math.max(0, ms)
    await new Promise<void>((resolve) => setImmediate(resolve))
    if (signal?.aborted) throw signal.reason
  }

  advance(ms: number): void {
    this.t += ms
  }
}
