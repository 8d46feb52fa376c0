// Check runs: what branch protection requires. One check run per model on the commit, reused across
// re-runs; commit statuses when the token may not write checks.
import path from 'node:path'
import { fitText, isForbidden, type Octokit, type RepoRef } from '../github.js'
import type { ConfigProblem, Logger } from '../types.js'
import { code, link, text } from './markdown.js'

/** GitHub's limits: check run summary, annotations per request, commit status description. */
export const SUMMARY_LIMIT = 65535
export const ANNOTATIONS_PER_REQUEST = 50
export const DESCRIPTION_LIMIT = 140

export const CONFIG_CHECK = 'config'

export type Conclusion = 'success' | 'failure' | 'neutral'

export interface CheckOutcome {
  conclusion: Conclusion
  title: string
  summary: string
  annotations?: ConfigProblem[]
}

export interface CheckReporterOptions {
  /** Where a check points when no training run URL is known (the workflow run). */
  detailsUrl?: string
  /** Root that annotation paths are made relative to; default `$GITHUB_WORKSPACE` or the cwd. */
  workspace?: string
}

/** `checks`: check runs; `statuses`: commit statuses (no checks: write); `none`: neither is writable. */
export type ReportMode = 'checks' | 'statuses' | 'none'

interface Annotation {
  path: string
  start_line: number
  end_line: number
  start_column?: number
  end_column?: number
  annotation_level: 'failure'
  message: string
}

interface CommitStatus {
  state: 'pending' | 'success' | 'failure'
  description: string
}

export function checkName(model: string): string {
  return `ml-promote / ${model}`
}

export class CheckReporter {
  private current: ReportMode = 'checks'
  /** Check run id by check name, once created or found. */
  private readonly ids = new Map<string, number>()
  private readonly runUrls = new Map<string, string>()
  private readonly workspace: string

  constructor(
    private readonly octokit: Octokit,
    private readonly repo: RepoRef,
    private readonly sha: string,
    private readonly log: Logger,
    private readonly opts: CheckReporterOptions = {}
  ) {
    this.workspace = opts.workspace ?? process.env.GITHUB_WORKSPACE ?? process.cwd()
  }

  get mode(): ReportMode {
    return this.current
  }

  /** Marks the model's check in progress (creating it, or reusing the one an earlier attempt made). */
  async start(model: string, info: { runUrl?: string; title?: string } = {}): Promise<void> {
    const name = checkName(model)
    if (info.runUrl) this.runUrls.set(name, info.runUrl)
    const title = info.title ?? `Training ${model}`
    await this.report(
      name,
      () =>
        this.upsert(name, {
          status: 'in_progress',
          started_at: new Date().toISOString(),
          output: {
            title,
            summary: info.runUrl ? `Training: ${link(text(info.runUrl), info.runUrl)}` : text(title)
          }
        }),
      { state: 'pending', description: title }
    )
  }

  async complete(model: string, outcome: CheckOutcome): Promise<void> {
    await this.finish(checkName(model), outcome)
  }

  /** A failing `ml-promote / config` check carrying each problem as an annotation on its line. */
  async annotateConfig(problems: ConfigProblem[], title: string): Promise<void> {
    const summary = problems.length
      ? problems
          .map((p) => `- ${code(`${this.repoPath(p.file)}:${p.line}:${p.col}`)} ${text(p.message)}`)
          .join('\n')
      : 'No problems found.'
    await this.finish(checkName(CONFIG_CHECK), {
      conclusion: problems.length ? 'failure' : 'success',
      title,
      summary,
      annotations: problems
    })
  }

  private async finish(name: string, outcome: CheckOutcome): Promise<void> {
    const title = outcome.title.replace(/\s+/g, ' ').trim()
    const summary = fitText(
      outcome.summary,
      SUMMARY_LIMIT,
      `\n\n---\n_Truncated: the report is longer than the ${SUMMARY_LIMIT} characters a check run holds; ` +
        `the full report is in the job summary${this.detailsUrl(name) ? ` of ${this.detailsUrl(name)}` : ''}._`
    )
    const batches = chunk(
      (outcome.annotations ?? []).map((p) => this.annotation(p)),
      ANNOTATIONS_PER_REQUEST
    )
    await this.report(
      name,
      async () => {
        const id = await this.upsert(name, {
          status: 'completed',
          conclusion: outcome.conclusion,
          completed_at: new Date().toISOString(),
          output: { title, summary, ...(batches[0] ? { annotations: batches[0] } : {}) }
        })
        // GitHub appends the annotations of each update to the ones the check run already has.
        for (const annotations of batches.slice(1)) {
          await this.octokit.rest.checks.update({
            ...this.repo,
            check_run_id: id,
            output: { title, summary, annotations }
          })
        }
      },
      { state: outcome.conclusion === 'failure' ? 'failure' : 'success', description: title }
    )
  }

  /** Runs the check-run write, falling back to a commit status once checks turn out not writable. */
  private async report(
    name: string,
    checks: () => Promise<unknown>,
    status: CommitStatus
  ): Promise<void> {
    if (this.current === 'checks') {
      try {
        await checks()
        return
      } catch (e) {
        if (!isForbidden(e)) throw e
        this.current = 'statuses'
        this.log.warning('checks: write not granted; using commit statuses')
      }
    }
    if (this.current === 'statuses') {
      try {
        await this.octokit.rest.repos.createCommitStatus({
          ...this.repo,
          sha: this.sha,
          context: name,
          state: status.state,
          description: fitText(status.description, DESCRIPTION_LIMIT, '…'),
          ...(this.detailsUrl(name) ? { target_url: this.detailsUrl(name) } : {})
        })
      } catch (e) {
        if (!isForbidden(e)) throw e
        this.current = 'none'
        this.log.warning('statuses: write not granted either; results are only in the job summary')
      }
    }
  }

  /** Updates the check run with this name on the commit, creating it only when there is none. */
  private async upsert(name: string, fields: CheckFields): Promise<number> {
    const id = this.ids.get(name) ?? (await this.find(name))
    const details = this.detailsUrl(name)
    const common = { ...fields, ...(details ? { details_url: details } : {}) }
    if (id !== undefined) {
      await this.octokit.rest.checks.update({ ...this.repo, check_run_id: id, ...common })
      this.ids.set(name, id)
      return id
    }
    const { data } = await this.octokit.rest.checks.create({
      ...this.repo,
      name,
      head_sha: this.sha,
      ...common
    })
    this.ids.set(name, data.id)
    return data.id
  }

  /** The newest check run of that name on the commit: a re-run updates it instead of adding one. */
  private async find(name: string): Promise<number | undefined> {
    const { data } = await this.octokit.rest.checks.listForRef({
      ...this.repo,
      ref: this.sha,
      check_name: name,
      filter: 'latest',
      per_page: 100
    })
    const ids = data.check_runs.filter((run) => run.name === name).map((run) => run.id)
    return ids.length ? Math.max(...ids) : undefined
  }

  private detailsUrl(name: string): string | undefined {
    return this.runUrls.get(name) ?? this.opts.detailsUrl
  }

  private annotation(p: ConfigProblem): Annotation {
    const endLine = p.endLine ?? p.line
    return {
      path: this.repoPath(p.file),
      start_line: p.line,
      end_line: endLine,
      // GitHub accepts columns only on a single-line annotation.
      ...(endLine === p.line
        ? { start_column: p.col, end_column: Math.max(p.col, p.endCol ?? p.col) }
        : {}),
      annotation_level: 'failure',
      message: p.message
    }
  }

  /** Annotations are placed by a path relative to the repository root, with forward slashes. */
  private repoPath(file: string): string {
    const relative = path.isAbsolute(file) ? path.relative(this.workspace, file) : file
    return relative
      .split(path.sep)
      .join('/')
      .replace(/^(\.\/)+/, '')
  }
}

interface CheckFields {
  status: 'in_progress' | 'completed'
  conclusion?: Conclusion
  started_at?: string
  completed_at?: string
  output: { title: string; summary: string; annotations?: Annotation[] }
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}
