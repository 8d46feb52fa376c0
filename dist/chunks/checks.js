import path from 'node:path';
import { fitText, isForbidden } from './github.js';
import 'fs';
import 'os';
import 'http';
import 'https';
import './index.js';
import 'net';
import 'tls';
import 'events';
import 'assert';
import 'util';
import 'node:assert';
import 'node:net';
import 'node:http';
import 'node:stream';
import 'node:buffer';
import 'node:util';
import 'node:querystring';
import 'node:events';
import 'node:diagnostics_channel';
import 'node:tls';
import 'node:zlib';
import 'node:perf_hooks';
import 'node:util/types';
import 'node:worker_threads';
import 'node:url';
import 'node:async_hooks';
import 'node:console';
import 'node:dns';
import 'string_decoder';

// Check runs: what branch protection requires. One check run per model on the commit, reused across
// re-runs; commit statuses when the token may not write checks.
/** GitHub's limits: check run summary, annotations per request, commit status description. */
const SUMMARY_LIMIT = 65535;
const ANNOTATIONS_PER_REQUEST = 50;
const DESCRIPTION_LIMIT = 140;
const CONFIG_CHECK = 'config';
function checkName(model) {
    return `ml-promote / ${model}`;
}
class CheckReporter {
    octokit;
    repo;
    sha;
    log;
    opts;
    current = 'checks';
    /** Check run id by check name, once created or found. */
    ids = new Map();
    runUrls = new Map();
    workspace;
    constructor(octokit, repo, sha, log, opts = {}) {
        this.octokit = octokit;
        this.repo = repo;
        this.sha = sha;
        this.log = log;
        this.opts = opts;
        this.workspace = opts.workspace ?? process.env.GITHUB_WORKSPACE ?? process.cwd();
    }
    get mode() {
        return this.current;
    }
    /** Marks the model's check in progress (creating it, or reusing the one an earlier attempt made). */
    async start(model, info = {}) {
        const name = checkName(model);
        if (info.runUrl)
            this.runUrls.set(name, info.runUrl);
        const title = info.title ?? `Training ${model}`;
        await this.report(name, () => this.upsert(name, {
            status: 'in_progress',
            started_at: new Date().toISOString(),
            output: { title, summary: info.runUrl ? `Training: ${info.runUrl}` : title }
        }), { state: 'pending', description: title });
    }
    async complete(model, outcome) {
        await this.finish(checkName(model), outcome);
    }
    /** A failing `ml-promote / config` check carrying each problem as an annotation on its line. */
    async annotateConfig(problems, title) {
        const summary = problems.length
            ? problems
                .map((p) => `- \`${this.repoPath(p.file)}:${p.line}:${p.col}\` ${p.message}`)
                .join('\n')
            : 'No problems found.';
        await this.finish(checkName(CONFIG_CHECK), {
            conclusion: problems.length ? 'failure' : 'success',
            title,
            summary,
            annotations: problems
        });
    }
    async finish(name, outcome) {
        const title = outcome.title;
        const summary = fitText(outcome.summary, SUMMARY_LIMIT, `\n\n---\n_Truncated: the report is longer than the ${SUMMARY_LIMIT} characters a check run holds; ` +
            `the full report is in the job summary${this.detailsUrl(name) ? ` of ${this.detailsUrl(name)}` : ''}._`);
        const batches = chunk((outcome.annotations ?? []).map((p) => this.annotation(p)), ANNOTATIONS_PER_REQUEST);
        await this.report(name, async () => {
            const id = await this.upsert(name, {
                status: 'completed',
                conclusion: outcome.conclusion,
                completed_at: new Date().toISOString(),
                output: { title, summary, ...(batches[0] ? { annotations: batches[0] } : {}) }
            });
            // GitHub appends the annotations of each update to the ones the check run already has.
            for (const annotations of batches.slice(1)) {
                await this.octokit.rest.checks.update({
                    ...this.repo,
                    check_run_id: id,
                    output: { title, summary, annotations }
                });
            }
        }, { state: outcome.conclusion === 'failure' ? 'failure' : 'success', description: title });
    }
    /** Runs the check-run write, falling back to a commit status once checks turn out not writable. */
    async report(name, checks, status) {
        if (this.current === 'checks') {
            try {
                await checks();
                return;
            }
            catch (e) {
                if (!isForbidden(e))
                    throw e;
                this.current = 'statuses';
                this.log.warning('checks: write not granted; using commit statuses');
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
                });
            }
            catch (e) {
                if (!isForbidden(e))
                    throw e;
                this.current = 'none';
                this.log.warning('statuses: write not granted either; results are only in the job summary');
            }
        }
    }
    /** Updates the check run with this name on the commit, creating it only when there is none. */
    async upsert(name, fields) {
        const id = this.ids.get(name) ?? (await this.find(name));
        const details = this.detailsUrl(name);
        const common = { ...fields, ...(details ? { details_url: details } : {}) };
        if (id !== undefined) {
            await this.octokit.rest.checks.update({ ...this.repo, check_run_id: id, ...common });
            this.ids.set(name, id);
            return id;
        }
        const { data } = await this.octokit.rest.checks.create({
            ...this.repo,
            name,
            head_sha: this.sha,
            ...common
        });
        this.ids.set(name, data.id);
        return data.id;
    }
    /** The newest check run of that name on the commit: a re-run updates it instead of adding one. */
    async find(name) {
        const { data } = await this.octokit.rest.checks.listForRef({
            ...this.repo,
            ref: this.sha,
            check_name: name,
            filter: 'latest',
            per_page: 100
        });
        const ids = data.check_runs.filter((run) => run.name === name).map((run) => run.id);
        return ids.length ? Math.max(...ids) : undefined;
    }
    detailsUrl(name) {
        return this.runUrls.get(name) ?? this.opts.detailsUrl;
    }
    annotation(p) {
        const endLine = p.endLine ?? p.line;
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
        };
    }
    /** Annotations are placed by a path relative to the repository root, with forward slashes. */
    repoPath(file) {
        const relative = path.isAbsolute(file) ? path.relative(this.workspace, file) : file;
        return relative
            .split(path.sep)
            .join('/')
            .replace(/^(\.\/)+/, '');
    }
}
function chunk(items, size) {
    const out = [];
    for (let i = 0; i < items.length; i += size)
        out.push(items.slice(i, i + size));
    return out;
}

export { ANNOTATIONS_PER_REQUEST, CONFIG_CHECK, CheckReporter, DESCRIPTION_LIMIT, SUMMARY_LIMIT, checkName };
//# sourceMappingURL=checks.js.map
