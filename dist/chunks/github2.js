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

// The `github` champion store: every promotion and rejection is a GitHub Deployment of the
// candidate's commit to the ml-promote environment, so the repository's Environments page is the
// promotion history. The champion is the newest of our deployments whose latest status is success.
const DESCRIPTION_LIMIT = 140;
const PAGE = 100;
const STALE_PENDING_MS = 24 * 60 * 60 * 1000;
/** The deployment task that marks our deployments apart from others (Actions' own are `deploy`). */
function deploymentTask(model) {
    return `ml-promote:${model}`;
}
class GithubChampionStore {
    octokit;
    repo;
    log;
    opts;
    name = 'github';
    /** One read per (model, environment) for the life of the store; promote() refreshes it. */
    champions = new Map();
    pages = new Map();
    constructor(octokit, repo, log, opts = {}) {
        this.octokit = octokit;
        this.repo = repo;
        this.log = log;
        this.opts = opts;
    }
    champion(model, environment) {
        const key = cacheKey(model, environment);
        let found = this.champions.get(key);
        if (!found) {
            found = this.lookup(model, environment);
            this.champions.set(key, found);
            // A failed read is not remembered: the next call asks again.
            const mine = found;
            mine.catch(() => {
                if (this.champions.get(key) === mine)
                    this.champions.delete(key);
            });
        }
        return found;
    }
    async promote(candidate, gate) {
        if (gate.verdict !== 'pass') {
            throw new Error(`refusing to promote ${candidate.model} in ${candidate.environment}: its gate verdict is ${gate.verdict}`);
        }
        const { deployment, payload, at } = await this.record(candidate, gate, 'promoted');
        const champion = toChampion(deployment, payload, at);
        this.champions.set(cacheKey(candidate.model, candidate.environment), Promise.resolve(champion));
        this.log.info(`${candidate.model} [${candidate.environment}]: commit ${candidate.sha.slice(0, 7)} is the champion (deployment ${deployment.id})`);
        return champion;
    }
    async reject(candidate, gate) {
        const { deployment } = await this.record(candidate, gate, 'rejected');
        this.log.info(`${candidate.model} [${candidate.environment}]: commit ${candidate.sha.slice(0, 7)} rejected (deployment ${deployment.id}); the champion stays`);
    }
    /**
     * A training started without waiting is a deployment whose payload says `pending` and whose
     * status is `in_progress`, so the Environments page shows it training; concluding it marks it
     * `inactive` (its outcome is recorded by promote/reject like any other).
     */
    async addPending(p) {
        const key = cacheKey(p.model, p.environment);
        this.pages.delete(key);
        const description = fitText(`${p.model}: ${p.action} training on ${p.run.backend}`, DESCRIPTION_LIMIT, '…');
        try {
            const created = await this.octokit.rest.repos.createDeployment({
                ...this.repo,
                ref: p.sha,
                task: deploymentTask(p.model),
                environment: p.environment,
                payload: {
                    model: p.model,
                    environment: p.environment,
                    outcome: 'pending',
                    pending: p
                },
                description,
                auto_merge: false,
                required_contexts: [],
                transient_environment: false
            });
            if (!('id' in created.data)) {
                throw new Error(`GitHub did not create the deployment: ${created.data.message ?? `HTTP ${created.status}`}`);
            }
            await this.octokit.rest.repos.createDeploymentStatus({
                ...this.repo,
                deployment_id: created.data.id,
                state: 'in_progress',
                description,
                auto_inactive: false,
                ...(p.run.url ? { log_url: p.run.url } : {})
            });
            return { id: String(created.data.id), ...p };
        }
        catch (e) {
            if (isForbidden(e)) {
                throw new Error(`recording a pending training needs the \`deployments: write\` permission: ${e.message}`);
            }
            throw e;
        }
    }
    async pending(model, environment) {
        const out = [];
        for await (const deployment of this.deployments(model, environment)) {
            const payload = deployment.payload;
            if (payload?.outcome !== 'pending' || !payload.pending)
                continue;
            // Past its deadline by a day, a record was concluded (or cancelled) long ago: not worth a read.
            if (payload.pending.deadline + STALE_PENDING_MS < Date.now())
                continue;
            // Here `inactive` is the answer: it is how a concluded training is marked.
            const latest = await this.latestStatus(deployment.id, { includeInactive: true });
            if (latest?.state === 'in_progress' || latest?.state === 'queued') {
                out.push({ ...payload.pending, id: String(deployment.id) });
            }
        }
        return out.reverse();
    }
    async resolvePending(p) {
        this.pages.delete(cacheKey(p.model, p.environment));
        await this.octokit.rest.repos.createDeploymentStatus({
            ...this.repo,
            deployment_id: Number(p.id),
            state: 'inactive',
            description: fitText(`${p.model}: training concluded`, DESCRIPTION_LIMIT, '…'),
            auto_inactive: false
        });
    }
    /**
     * Newest first, as recorded in the deployments' payloads (no per-deployment status reads, so the
     * history costs one call per 100 records). `limit` bounds how far back it reads.
     */
    async history(model, environment, limit = 100) {
        const out = [];
        for await (const deployment of this.deployments(model, environment)) {
            const payload = readPayload(deployment, model, environment);
            if (!payload)
                continue;
            out.push({
                candidate: toCandidate(deployment, payload),
                gate: toGate(payload),
                at: deployment.created_at,
                outcome: payload.outcome
            });
            if (out.length >= limit)
                break;
        }
        return out;
    }
    async lookup(model, environment) {
        for await (const deployment of this.deployments(model, environment)) {
            const payload = readPayload(deployment, model, environment);
            // A recorded rejection never held the environment: no need to read its statuses.
            if (!payload || payload.outcome !== 'promoted')
                continue;
            const latest = await this.latestStatus(deployment.id);
            if (latest?.state === 'success')
                return toChampion(deployment, payload, latest.created_at);
            this.log.debug(`${model} [${environment}]: deployment ${deployment.id} is not the champion (latest status: ${latest?.state ?? 'none'})`);
        }
        return undefined;
    }
    /**
     * Our deployments for (model, environment), newest first, one page at a time. Pages are kept
     * for the store's lifetime (writes clear them), so the champion lookup and the history of one
     * gate share a single read.
     */
    async *deployments(model, environment) {
        const task = deploymentTask(model);
        const key = cacheKey(model, environment);
        let pages = this.pages.get(key);
        if (!pages)
            this.pages.set(key, (pages = []));
        for (let page = 1;; page++) {
            if (!pages[page - 1]) {
                const request = this.octokit.rest.repos
                    .listDeployments({ ...this.repo, task, environment, per_page: PAGE, page })
                    .then(({ data }) => data);
                pages[page - 1] = request;
                request.catch(() => this.pages.delete(key));
            }
            const data = await pages[page - 1];
            // Filtered again here: the query filters are the server's promise, the task name is ours.
            const ours = data.filter((d) => d.task === task && d.environment === environment);
            yield* ours.sort((a, b) => b.id - a.id);
            if (data.length < PAGE)
                return;
        }
    }
    /**
     * The deployment's newest status other than `inactive`. GitHub adds `inactive` on its own when
     * another deployment (any model's, or an Actions job's) succeeds in the same environment; that
     * says nothing about this model, and this store never writes `inactive` itself.
     */
    async latestStatus(id, { includeInactive = false } = {}) {
        const { data } = await this.octokit.rest.repos.listDeploymentStatuses({
            ...this.repo,
            deployment_id: id,
            per_page: PAGE
        });
        return [...data]
            .sort((a, b) => b.id - a.id)
            .find((s) => includeInactive || s.state !== 'inactive');
    }
    async record(candidate, gate, outcome) {
        const { model, environment } = candidate;
        this.pages.delete(cacheKey(model, environment));
        const payload = toPayload(candidate, gate, outcome);
        const description = fitText(describe(candidate, gate, outcome), DESCRIPTION_LIMIT, '…');
        const logUrl = candidate.runUrl ?? this.opts.runUrl;
        try {
            const created = await this.octokit.rest.repos.createDeployment({
                ...this.repo,
                ref: candidate.sha,
                task: deploymentTask(model),
                environment,
                payload: payload,
                description,
                auto_merge: false,
                required_contexts: [],
                transient_environment: false,
                ...(this.opts.productionEnvironment === undefined
                    ? {}
                    : { production_environment: environment === this.opts.productionEnvironment })
            });
            if (!('id' in created.data)) {
                throw new Error(`GitHub did not create the deployment: ${created.data.message ?? `HTTP ${created.status}`}`);
            }
            const deployment = created.data;
            const { data: status } = await this.octokit.rest.repos.createDeploymentStatus({
                ...this.repo,
                deployment_id: deployment.id,
                state: outcome === 'promoted' ? 'success' : 'failure',
                description,
                // Statuses of other models share the environment: GitHub must not retire this one for them.
                auto_inactive: false,
                ...(logUrl ? { log_url: logUrl } : {})
            });
            return { deployment, payload, at: status.created_at };
        }
        catch (e) {
            if (isForbidden(e)) {
                throw new Error(`recording the ${environment} champion of ${model} needs the \`deployments: write\` permission: ${e.message}`);
            }
            throw e;
        }
    }
}
function cacheKey(model, environment) {
    return JSON.stringify([model, environment]);
}
function describe(candidate, gate, outcome) {
    if (outcome === 'promoted') {
        const metrics = Object.entries(candidate.metrics)
            .map(([name, value]) => `${name}=${Number(value.toPrecision(4))}`)
            .join(', ');
        return `${candidate.model} promoted${metrics ? `: ${metrics}` : ''}`;
    }
    const failed = gate.metrics.filter((m) => m.outcome === 'fail').map((m) => m.metric);
    return `${candidate.model} rejected${failed.length ? `: ${failed.join(', ')} failed the gate` : ''}`;
}
function toPayload(candidate, gate, outcome) {
    return {
        model: candidate.model,
        environment: candidate.environment,
        outcome,
        metrics: candidate.metrics,
        run_id: candidate.runId,
        ...(candidate.runUrl ? { run_url: candidate.runUrl } : {}),
        sha: candidate.sha,
        ref: candidate.ref,
        gate: {
            verdict: gate.verdict,
            has_champion: gate.hasChampion,
            metrics: gate.metrics.map((m) => ({
                metric: m.metric,
                ...(m.candidate === undefined ? {} : { candidate: m.candidate }),
                ...(m.champion === undefined ? {} : { champion: m.champion }),
                rule: m.rule,
                outcome: m.outcome,
                reason: m.reason
            }))
        }
    };
}
/** The payload when the deployment is one of ours for this model; GitHub may return it as a string. */
function readPayload(deployment, model, environment) {
    let value = deployment.payload;
    if (typeof value === 'string') {
        try {
            value = JSON.parse(value);
        }
        catch {
            return undefined;
        }
    }
    const p = value;
    const ok = typeof p === 'object' &&
        p !== null &&
        p.model === model &&
        (p.environment === undefined || p.environment === environment) &&
        (p.outcome === 'promoted' || p.outcome === 'rejected') &&
        typeof p.metrics === 'object' &&
        typeof p.gate === 'object';
    return ok ? p : undefined;
}
function toCandidate(deployment, p) {
    return {
        model: p.model,
        environment: deployment.environment,
        metrics: p.metrics,
        sha: p.sha ?? deployment.sha,
        ref: p.ref,
        runId: p.run_id,
        ...(p.run_url ? { runUrl: p.run_url } : {})
    };
}
function toGate(p) {
    return {
        verdict: p.gate.verdict,
        hasChampion: p.gate.has_champion,
        metrics: (p.gate.metrics ?? []).map((m) => ({
            metric: m.metric,
            candidate: m.candidate,
            champion: m.champion,
            delta: m.candidate !== undefined && m.champion !== undefined
                ? m.candidate - m.champion
                : undefined,
            rule: m.rule,
            outcome: m.outcome,
            reason: m.reason
        })),
        notes: []
    };
}
function toChampion(deployment, p, promotedAt) {
    return {
        model: p.model,
        environment: deployment.environment,
        metrics: p.metrics,
        sha: deployment.sha,
        ref: p.ref,
        runId: p.run_id,
        ...(p.run_url ? { runUrl: p.run_url } : {}),
        promotedAt,
        ref_id: String(deployment.id)
    };
}

export { GithubChampionStore, deploymentTask };
//# sourceMappingURL=github2.js.map
