// The two Logger implementations: @actions/core for the action, the terminal for the CLI.
import { randomUUID } from 'node:crypto'
import * as core from '@actions/core'
import type { Logger, SourcePosition } from './types.js'

function props(at: SourcePosition | undefined): core.AnnotationProperties | undefined {
  return (
    at && {
      file: at.file,
      startLine: at.line,
      startColumn: at.col,
      endLine: at.endLine,
      endColumn: at.endCol
    }
  )
}

/**
 * Text that could hold a workflow command (`::name::`, or the legacy `##[name]`): ml-promote logs
 * training output, remote messages and names it did not write, and the runner must never act on them.
 */
const COMMAND_LIKE = /::|##\[/

/**
 * Writes `text` so that the runner shows it but interprets no workflow command in it: between
 * `stop-commands` and a resume token the text cannot guess (a fresh one for every block).
 */
export function inert(text: string, write: (line: string) => void): void {
  if (!COMMAND_LIKE.test(text)) {
    write(text)
    return
  }
  const token = randomUUID()
  write(`::stop-commands::${token}`)
  write(text)
  write(`::${token}::`)
}

export function actionLogger(): Logger {
  return {
    info: (m) => inert(m, core.info),
    notice: (m, at) => core.notice(m, props(at)),
    warning: (m, at) => core.warning(m, props(at)),
    error: (m, at) => core.error(m, props(at)),
    debug: (m) => core.debug(m),
    group: (name, fn) => core.group(name, fn),
    secret: (v) => core.setSecret(v)
  }
}

/** Terminal logger: masks secrets itself, since no runner does it for us. */
export function consoleLogger(
  opts: {
    quiet?: boolean
    verbose?: boolean
    write?: (line: string) => void
    /** Keep the runner from acting on workflow commands in the text (default: on in Actions). */
    inertCommands?: boolean
  } = {}
): Logger {
  const secrets = new Set<string>()
  const raw = opts.write ?? ((line: string) => process.stderr.write(line + '\n'))
  // The CLI can run as a workflow step too, where its stderr is read for workflow commands.
  const write =
    (opts.inertCommands ?? process.env.GITHUB_ACTIONS === 'true')
      ? (line: string) => inert(line, raw)
      : raw
  const mask = (m: string) => {
    for (const s of secrets) m = m.split(s).join('***')
    return m
  }
  const where = (at?: SourcePosition) => (at ? `${at.file}:${at.line}:${at.col}: ` : '')
  return {
    info: (m) => !opts.quiet && write(mask(m)),
    notice: (m, at) => write(mask(`notice: ${where(at)}${m}`)),
    warning: (m, at) => write(mask(`warning: ${where(at)}${m}`)),
    error: (m, at) => write(mask(`error: ${where(at)}${m}`)),
    debug: (m) => opts.verbose && write(mask(`debug: ${m}`)),
    group: async (name, fn) => {
      if (!opts.quiet) write(`▸ ${name}`)
      return fn()
    },
    secret: (v) => {
      if (v) secrets.add(v)
    }
  }
}
