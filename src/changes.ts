// What an event changed, as GitHub reports it, and files as they are at another commit. When the
// answer is incomplete the result is undefined, which the plan reads as "every model is concerned".
import { type Octokit, type RepoRef } from './github.js'
import type { Logger } from './types.js'

/** GitHub lists at most this many files of a pull request. */
export const PULL_FILES_CAP = 3000
/** A comparison lists at most this many files, all on its first page. */
export const COMPARE_FILES_CAP = 300

/* eslint-disable @typescript-eslint/no-explicit-any -- event payloads are GitHub's untyped JSON */

/**
 * The files a pull request or push changed (a rename counts both names), or undefined when that
 * cannot be known exactly: other events, forced pushes, new branches, lists GitHub truncates.
 */
export async function changedFiles(
  octokit: Octokit,
  repo: RepoRef,
  event: { name: string; payload: any },
  log: Logger
): Promise<string[] | undefined> {
  const { name, payload } = event
  if (name === 'pull_request' || name === 'pull_request_target') {
    return pullFiles(octokit, repo, Number(payload?.pull_request?.number), log)
  }
  if (name === 'push') return pushFiles(octokit, repo, payload, log)
  return undefined
}

async function pullFiles(
  octokit: Octokit,
  repo: RepoRef,
  pullNumber: number,
  log: Logger
): Promise<string[] | undefined> {
  const files = await octokit.paginate(octokit.rest.pulls.listFiles, {
    ...repo,
    pull_number: pullNumber,
    per_page: 100
  })
  if (files.length >= PULL_FILES_CAP) {
    log.info(
      `pull request #${pullNumber} changes ${PULL_FILES_CAP} files or more, more than GitHub lists; treating every model as changed`
    )
    return undefined
  }
  return names(files)
}

async function pushFiles(
  octokit: Octokit,
  repo: RepoRef,
  payload: any,
  log: Logger
): Promise<string[] | undefined> {
  const before = String(payload?.before ?? '')
  const after = String(payload?.after ?? '')
  if (/^0+$/.test(after)) {
    log.info('push deleted the branch: no files changed')
    return []
  }
  if (payload?.forced) {
    log.info('forced push: the previous head may be gone, so every model is treated as changed')
    return undefined
  }
  if (!before || /^0+$/.test(before)) {
    log.info(
      'push created the branch: there is no previous head to compare with, so every model is treated as changed'
    )
    return undefined
  }
  // The comparison lists its files on the first page only (up to 300 for the whole comparison);
  // later pages page through commits, so one request is all there is to read.
  let files: Array<{ filename: string; previous_filename?: string }> | undefined
  try {
    const { data } = await octokit.rest.repos.compareCommitsWithBasehead({
      ...repo,
      basehead: `${before}...${after}`
    })
    files = data.files
  } catch (e) {
    if ((e as { status?: number }).status !== 404) throw e
    log.info(
      `cannot compare ${before.slice(0, 7)}...${after.slice(0, 7)} (not found); treating every model as changed`
    )
    return undefined
  }
  if (!files) {
    log.info('the comparison lists no files; treating every model as changed')
    return undefined
  }
  if (files.length >= COMPARE_FILES_CAP) {
    log.info(
      `push changes ${COMPARE_FILES_CAP} files or more, more than a GitHub comparison lists; treating every model as changed`
    )
    return undefined
  }
  return names(files)
}

function names(files: Array<{ filename: string; previous_filename?: string }>): string[] {
  return [
    ...new Set(
      files.flatMap((f) => (f.previous_filename ? [f.filename, f.previous_filename] : [f.filename]))
    )
  ]
}

/** The text of `path` at `ref`, or undefined when it does not exist there. */
export async function readFileAt(
  octokit: Octokit,
  repo: RepoRef,
  ref: string,
  path: string
): Promise<string | undefined> {
  let data: unknown
  try {
    ;({ data } = await octokit.rest.repos.getContent({ ...repo, ref, path }))
  } catch (e) {
    if ((e as { status?: number }).status === 404) return undefined
    throw e
  }
  const file = data as { type?: string; encoding?: string; content?: string; size?: number }
  if (Array.isArray(data) || file.type !== 'file') {
    throw new Error(`${path} at ${ref} is not a file`)
  }
  if (file.encoding !== 'base64' || typeof file.content !== 'string') {
    // Above 1 MB the contents API returns no content; a config file is never that large.
    throw new Error(
      `${path} at ${ref} is too large to read through the contents API (${file.size ?? '?'} bytes)`
    )
  }
  return Buffer.from(file.content, 'base64').toString('utf8')
}

/** True for a pull request from another repository (or from one since deleted). */
export function isForkPull(payload: any): boolean {
  const pr = payload?.pull_request
  if (!pr) return false
  const head = pr.head?.repo
  if (!head) return true
  return head.full_name !== pr.base?.repo?.full_name
}
