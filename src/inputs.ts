// Reads and validates the action's inputs once; the rest of the code trusts the result.
import * as core from '@actions/core'
import type { RepoRef } from './github.js'
import type { Mode } from './types.js'

export interface Inputs {
  config: string
  mode: Mode
  environment?: string
  models?: string[]
  token: string
  wait: boolean
  timeoutMinutes: number
  /** `max-parallel`; unset means the config's `max_parallel`, then the default. */
  maxParallel?: number
  /** The project folder, relative to the repository root. */
  workingDirectory: string
  /** `mode: rollback`: the commit of the champion to restore (default: the one before). */
  rollbackTo?: string
  /** `mode: rollback`: why; kept in the history. */
  reason?: string
}

const MODES: Mode[] = ['auto', 'gate', 'retrain', 'validate', 'plan', 'reconcile', 'rollback']
/** Hosted jobs end at 6 h; leave room to report and cancel. */
export const MAX_TIMEOUT_MINUTES = 350
/** Seven days: the longest a training started with `wait: false` stays pending. */
export const MAX_DETACHED_TIMEOUT_MINUTES = 7 * 24 * 60

export function getInputs(): Inputs {
  const problems: string[] = []
  const mode = (core.getInput('mode') || 'auto') as Mode
  if (!MODES.includes(mode))
    problems.push(`input mode must be one of ${MODES.join(', ')} (got "${mode}")`)
  let wait = true
  try {
    wait = core.getBooleanInput('wait')
  } catch {
    if (core.getInput('wait'))
      problems.push(`input wait must be true or false (got "${core.getInput('wait')}")`)
  }
  // A step that waits cannot outlive the hosted job; a training that is not awaited can run longer.
  const limit = wait ? MAX_TIMEOUT_MINUTES : MAX_DETACHED_TIMEOUT_MINUTES
  const timeoutText = core.getInput('timeout-minutes') || '330'
  let timeoutMinutes = Number(timeoutText)
  if (!Number.isFinite(timeoutMinutes) || timeoutMinutes <= 0) {
    problems.push(`input timeout-minutes must be a positive number (got "${timeoutText}")`)
  } else if (timeoutMinutes > limit) {
    core.warning(
      `timeout-minutes ${timeoutMinutes} exceeds what ${wait ? 'a hosted job can wait' : 'a training started with wait: false may run'}; using ${limit}`
    )
    timeoutMinutes = limit
  }
  const parallelText = core.getInput('max-parallel')
  const maxParallel = parallelText ? Number(parallelText) : undefined
  if (maxParallel !== undefined && !(Number.isInteger(maxParallel) && maxParallel >= 1)) {
    problems.push(`input max-parallel must be a whole number ≥ 1 (got "${parallelText}")`)
  }
  const models = core
    .getInput('models')
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean)
  const reason = core.getInput('reason').trim()
  if (mode === 'rollback') {
    if (models.length !== 1)
      problems.push(
        `mode rollback restores one model's champion: input models must name exactly one (got "${core.getInput('models')}")`
      )
    if (!core.getInput('environment'))
      problems.push(
        'mode rollback needs input environment: the environment whose champion is restored'
      )
    // A rollback is read later by people asking why the model changed: it is not recorded without why.
    if (!reason) problems.push('mode rollback needs input reason: it is kept in the history')
  }
  if (problems.length) throw new Error(problems.join('; '))
  const token = core.getInput('github-token') || process.env.GITHUB_TOKEN || ''
  if (token) core.setSecret(token)
  return {
    config: core.getInput('config') || '.github/ml-promote.yml',
    mode,
    environment: core.getInput('environment') || undefined,
    models: models.length ? models : undefined,
    token,
    wait,
    timeoutMinutes,
    ...(maxParallel === undefined ? {} : { maxParallel }),
    workingDirectory: core.getInput('working-directory') || '.',
    ...(core.getInput('rollback-to') ? { rollbackTo: core.getInput('rollback-to').trim() } : {}),
    ...(reason ? { reason } : {})
  }
}

/** owner/name of the repository the workflow runs in. */
export function repoRef(): RepoRef {
  const [owner = '', repo = ''] = (process.env.GITHUB_REPOSITORY ?? '/').split('/')
  return { owner, repo }
}
