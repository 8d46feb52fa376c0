// Scheduled and manual retrains that fail are not forgotten: one tracking issue per (model,
// environment), opened on the first failure, updated on the next ones, closed by the next pass.
// Found with one list call per run (open issues with our label), among issues the token's own
// account wrote, so nobody else's issue is ever adopted or edited.
import { isForbidden, type Octokit, type RepoRef } from '../github.js'
import type { Logger, ModelResult } from '../types.js'
import { tokenIdentity } from './comment.js'
import { code, link, modelSection } from './markdown.js'

export const TRACKING_LABEL = 'ml-promote'

/** Model and environment names are validated names (letters, digits, `.`, `_`, `-`). */
export function trackingMarker(model: string, environment: string): string {
  return `<!-- ml-promote:tracking:${model}:${environment} -->`
}

export interface TrackingOutcome {
  model: string
  environment: string
  action: 'opened' | 'updated' | 'closed'
  number: number
  url: string
}

export interface TrackingInput {
  results: ModelResult[]
  /** The workflow run's page. */
  runUrl?: string
  /** What triggered the retrain, for the issue text: "scheduled retrain", "manual retrain". */
  trigger: string
}

interface Tracked {
  number: number
  url: string
}

/** Opens, updates or closes the tracking issue of every retrained (model, environment). */
export async function trackRetrains(
  octokit: Octokit,
  repo: RepoRef,
  input: TrackingInput,
  log: Pick<Logger, 'warning' | 'info'>
): Promise<TrackingOutcome[]> {
  const concluded = input.results.filter(
    (r): r is ModelResult & { environment: string } =>
      r.action === 'retrain' &&
      r.environment !== undefined &&
      (r.verdict === 'pass' || r.verdict === 'fail' || r.verdict === 'error')
  )
  if (concluded.length === 0) return []
  const outcomes: TrackingOutcome[] = []
  try {
    const self = await tokenIdentity(octokit)
    if (!self) {
      log.warning(
        'could not tell which account the token acts as (GraphQL viewer query failed): tracking issues were not updated'
      )
      return []
    }
    const open = await openTrackingIssues(octokit, repo, self.id)
    for (const r of concluded) {
      const marker = trackingMarker(r.model, r.environment)
      const existing = open.get(marker)
      if (r.verdict === 'pass') {
        if (!existing) continue
        await octokit.rest.issues.createComment({
          ...repo,
          issue_number: existing.number,
          body: `${marker}\n${passText(r, input)}`
        })
        await octokit.rest.issues.update({
          ...repo,
          issue_number: existing.number,
          state: 'closed',
          state_reason: 'completed'
        })
        outcomes.push({ ...key(r), action: 'closed', ...existing })
        continue
      }
      const body = issueBody(marker, r, input)
      if (existing) {
        await octokit.rest.issues.update({ ...repo, issue_number: existing.number, body })
        await octokit.rest.issues.createComment({
          ...repo,
          issue_number: existing.number,
          body: `${marker}\nFailed again in a ${input.trigger}${input.runUrl ? ` (${link('workflow run', input.runUrl)})` : ''}: the issue text above shows this run. The champion is kept.`
        })
        outcomes.push({ ...key(r), action: 'updated', ...existing })
      } else {
        const { data } = await octokit.rest.issues.create({
          ...repo,
          title: `Retraining ${r.model} in ${r.environment} fails`,
          body,
          labels: [TRACKING_LABEL]
        })
        const created = { number: data.number, url: data.html_url }
        open.set(marker, created)
        outcomes.push({ ...key(r), action: 'opened', ...created })
      }
    }
  } catch (e) {
    log.warning(
      isForbidden(e)
        ? 'tracking issues need `issues: write` in the workflow permissions: the failed retrain is not tracked in an issue (the run result is unchanged)'
        : `could not update the tracking issues: ${(e as Error).message} (the run result is unchanged)`
    )
  }
  for (const o of outcomes) {
    log.info(`${o.model} [${o.environment}]: tracking issue #${o.number} ${o.action} — ${o.url}`)
  }
  return outcomes
}

function key(r: { model: string; environment: string }) {
  return { model: r.model, environment: r.environment }
}

/** Open issues with our label, written by us, by the marker they carry. */
async function openTrackingIssues(
  octokit: Octokit,
  repo: RepoRef,
  selfId: number
): Promise<Map<string, Tracked>> {
  const found = new Map<string, Tracked>()
  const issues = await octokit.paginate(octokit.rest.issues.listForRepo, {
    ...repo,
    state: 'open',
    labels: TRACKING_LABEL,
    per_page: 100
  })
  for (const issue of issues) {
    if (issue.pull_request || issue.user?.id !== selfId) continue
    const marker = /^<!-- ml-promote:tracking:[A-Za-z0-9._-]+:[A-Za-z0-9._-]+ -->/.exec(
      issue.body ?? ''
    )?.[0]
    // The oldest one wins should two exist; listForRepo is newest first.
    if (marker) found.set(marker, { number: issue.number, url: issue.html_url })
  }
  return found
}

function issueBody(marker: string, r: ModelResult & { environment: string }, input: TrackingInput) {
  const facts = [
    `The ${input.trigger} of **${r.model}** in ${code(r.environment)} ${r.verdict === 'fail' ? 'failed its gate' : 'did not finish'}; the champion is kept and keeps serving.`,
    '',
    `- Workflow run: ${input.runUrl ? link('workflow run', input.runUrl) : '—'}`,
    `- Remote run: ${remoteRun(r)}`,
    `- Commit: ${r.sha ? code(r.sha.slice(0, 7)) : '—'}`,
    `- Champion: ${r.champion ? `${code(r.champion.sha.slice(0, 7))} promoted ${r.champion.promotedAt.slice(0, 10)}` : 'none yet'}`,
    '',
    'This issue is updated by every failing retrain of this model in this environment and closed by the next one that passes.'
  ]
  return [marker, facts.join('\n'), modelSection(r)].join('\n\n')
}

function remoteRun(r: ModelResult): string {
  if (!r.run) return '—'
  if (r.run.backend === 'command') return 'on the runner (see the workflow run)'
  return r.run.url
    ? link(`${r.run.backend} run ${r.run.id}`, r.run.url)
    : code(`${r.run.backend} ${r.run.id}`)
}

function passText(r: ModelResult, input: TrackingInput): string {
  return `✅ The ${input.trigger}${input.runUrl ? ` (${link('workflow run', input.runUrl)})` : ''} passed the gate${r.promoted ? ` and ${code((r.sha ?? '').slice(0, 7))} is the new champion` : ''}: closing.`
}
