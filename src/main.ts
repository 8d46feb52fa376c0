// The action adapter's entry: one bundle serves the main step and the post step, and a saved
// state flag picks which. The only place that calls core.setFailed.
import * as core from '@actions/core'
import type { Octokit } from './github.js'
import { repoRef } from './inputs.js'
import { actionLogger } from './log.js'
import type { Logger } from './types.js'

export async function run(): Promise<void> {
  try {
    if (core.getState('isPost') === 'true') return await post()
    core.saveState('isPost', 'true')
    const { main } = await import('./action.js')
    await main()
  } catch (e) {
    core.setFailed((e as Error).message)
  }
}

/**
 * The post step: cancel remote trainings the main step left running (cancelled or killed). It
 * runs at the end of every job, so it loads nothing more unless something was left running.
 */
async function post(): Promise<void> {
  const state = core.getState('pending')
  if (!state || state === '[]') return
  const log = actionLogger()
  try {
    const { cancelPending, PendingRuns } = await import('./cancel.js')
    await cancelPending(PendingRuns.fromState(state), {
      env: process.env,
      log,
      octokit: await tryOctokit(log),
      repo: repoRef()
    })
  } catch (e) {
    core.warning(`cleanup: ${(e as Error).message}`)
  }
}

async function tryOctokit(log: Logger): Promise<Octokit | undefined> {
  const token = core.getInput('github-token') || process.env.GITHUB_TOKEN
  return token ? (await import('./github.js')).createOctokit(token, { log }) : undefined
}
