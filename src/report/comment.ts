// The sticky pull request comment: one comment per PR, edited in place by every run, with one
// section per model so a run that gates some models keeps what earlier runs said about the others.
import { fitText, type Octokit, type RepoRef } from '../github.js'
import type { Logger } from '../types.js'

export const COMMENT_MARKER = '<!-- ml-promote:sticky -->'
/** GitHub rejects comment bodies of 65536 characters or more. */
export const COMMENT_LIMIT = 65535

const TRUNCATED =
  '\n\n---\n_Truncated: the report is longer than a pull request comment can hold; the full report is in the job summary._'

const open = (model: string) => `<!-- ml-promote:model:${model} -->`
const close = (model: string) => `<!-- /ml-promote:model:${model} -->`
const SECTION =
  /<!-- ml-promote:model:([A-Za-z0-9][A-Za-z0-9._-]*) -->\n?([\s\S]*?)\n?<!-- \/ml-promote:model:\1 -->/g

/** The model sections of a comment body, by model. A section cut off by truncation is dropped. */
export function parseSections(body: string | undefined): Record<string, string> {
  const sections: Record<string, string> = {}
  for (const m of (body ?? '').matchAll(SECTION)) sections[m[1]!] = m[2]!
  return sections
}

/** The sections of `previous` updated with `sections`, every model in name order. */
export function mergeSections(
  previous: string | undefined,
  sections: Record<string, string>
): string {
  const merged = { ...parseSections(previous), ...sections }
  return Object.keys(merged)
    .sort()
    .map((model) => `${open(model)}\n${merged[model]!.replace(/^\n+|\n+$/g, '')}\n${close(model)}`)
    .join('\n\n')
}

/**
 * Creates or edits the PR's ml-promote comment (found by its marker). When `body` holds model
 * sections, the sections already in the comment for other models are kept; `header` goes on top.
 */
export async function upsertStickyComment(
  octokit: Octokit,
  repo: RepoRef,
  issueNumber: number,
  body: string,
  header?: string,
  log?: Pick<Logger, 'warning'>
): Promise<{ id: number; created: boolean }> {
  const self = await tokenIdentity(octokit)
  if (!self) {
    log?.warning(
      'could not tell which account the token acts as (GraphQL viewer query failed): posting a new comment instead of editing one that may not be ours'
    )
  }
  const existing = self ? await findSticky(octokit, repo, issueNumber, self) : undefined
  const sections = parseSections(body)
  const content = Object.keys(sections).length
    ? [body.replace(SECTION, '').trim(), mergeSections(existing?.body, sections)]
    : [
        body.startsWith(COMMENT_MARKER)
          ? body.slice(COMMENT_MARKER.length).replace(/^\n/, '')
          : body
      ]
  const full = fitText(
    [COMMENT_MARKER, header?.trim(), ...content].filter((part) => part).join('\n\n'),
    COMMENT_LIMIT,
    TRUNCATED
  )
  if (!existing) {
    const { data } = await octokit.rest.issues.createComment({
      ...repo,
      issue_number: issueNumber,
      body: full
    })
    return { id: data.id, created: true }
  }
  if (existing.body !== full) {
    await octokit.rest.issues.updateComment({ ...repo, comment_id: existing.id, body: full })
  }
  return { id: existing.id, created: false }
}

/** The account a token writes as (github-actions[bot] for GITHUB_TOKEN, a user for a PAT). */
export interface Identity {
  login: string
  id: number
}

const identities = new WeakMap<Octokit, Promise<Identity | undefined>>()

/**
 * Who the token is, asked once per client. GraphQL's `viewer` answers for installation tokens
 * (GITHUB_TOKEN, GitHub Apps) and user tokens alike; REST `GET /user` refuses the former.
 */
export function tokenIdentity(octokit: Octokit): Promise<Identity | undefined> {
  let known = identities.get(octokit)
  if (!known) {
    known = octokit
      .graphql<{ viewer?: { login?: unknown; databaseId?: unknown } }>(
        'query { viewer { login databaseId } }'
      )
      .then(({ viewer }) =>
        typeof viewer?.login === 'string' && typeof viewer.databaseId === 'number'
          ? { login: viewer.login, id: viewer.databaseId }
          : undefined
      )
      .catch(() => undefined)
    identities.set(octokit, known)
  }
  return known
}

/**
 * Our comment: written by the token's own account and starting with the marker. Anyone can write
 * the marker; only we can write as us, so a comment imitating ours is never adopted or edited.
 */
async function findSticky(
  octokit: Octokit,
  repo: RepoRef,
  issueNumber: number,
  self: Identity
): Promise<{ id: number; body: string } | undefined> {
  const pages = octokit.paginate.iterator(octokit.rest.issues.listComments, {
    ...repo,
    issue_number: issueNumber,
    per_page: 100
  })
  for await (const { data } of pages) {
    const ours = data.find(
      (c) =>
        c.user?.id === self.id && c.user.login === self.login && c.body?.startsWith(COMMENT_MARKER)
    )
    if (ours) return { id: ours.id, body: ours.body ?? '' }
  }
  return undefined
}
