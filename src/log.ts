// The two Logger implementations: @actions/core for the action, the terminal for the CLI.
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

export function actionLogger(): Logger {
  return {
    info: (m) => core.info(m),
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
  opts: { quiet?: boolean; verbose?: boolean; write?: (line: string) => void } = {}
): Logger {
  const secrets = new Set<string>()
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'))
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
