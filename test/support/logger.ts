// Loggers for tests: one that records what the code under test says (and which secrets it masks),
// one that says nothing.
import type { Logger } from '../../src/types.js'

export interface RecordingLogger extends Logger {
  /** Info lines as they are; other levels prefixed `warning: `, `error: `, `debug: `. */
  lines: string[]
  /** Every value passed to `secret()`, in order. */
  secrets: string[]
}

export function recordingLogger(lines: string[] = []): RecordingLogger {
  const secrets: string[] = []
  return {
    lines,
    secrets,
    info: (m) => lines.push(m),
    notice: (m) => lines.push(`notice: ${m}`),
    warning: (m) => lines.push(`warning: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
    debug: (m) => lines.push(`debug: ${m}`),
    group: (_name, fn) => fn(),
    secret: (v) => secrets.push(v)
  }
}

export const quietLogger: Logger = {
  info: () => undefined,
  notice: () => undefined,
  warning: () => undefined,
  error: () => undefined,
  debug: () => undefined,
  group: (_name, fn) => fn(),
  secret: () => undefined
}
