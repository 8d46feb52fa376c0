import { T as TrainingError } from './types.js';
import { s as systemClock, r as requestJson, H as HttpError, i as isTransient } from './http.js';

/** An OAuth token is renewed this long before it expires, so no request carries a dying token. */
const EXPIRY_MARGIN_MS = 60_000;
/** expires_in is optional in OAuth (RFC 6749 §5.1); without it a token is trusted this long. */
const DEFAULT_LIFETIME_MS = 300_000;
const SCOPE = 'all-apis';
async function databricksAuth(host, env, log, clockOrOptions = {}) {
    const opts = 'now' in clockOrOptions ? { clock: clockOrOptions } : clockOrOptions;
    const clock = opts.clock ?? systemClock;
    const base = host.replace(/\/+$/, '');
    const tokenUrl = `${base}/oidc/v1/token`;
    const type = pickType(env);
    const v = (name) => env[name] ?? '';
    switch (type) {
        case 'pat': {
            const token = v('DATABRICKS_TOKEN');
            log.secret(token);
            return {
                type,
                headers: async () => ({ authorization: `Bearer ${token}` }),
                invalidate: () => undefined
            };
        }
        case 'oauth-m2m': {
            const id = v('DATABRICKS_CLIENT_ID');
            const secret = v('DATABRICKS_CLIENT_SECRET');
            log.secret(secret);
            const basic = Buffer.from(`${id}:${secret}`).toString('base64');
            log.secret(basic);
            return cachedToken(type, clock, log, () => requestJson(tokenUrl, {
                form: { grant_type: 'client_credentials', scope: SCOPE },
                headers: { authorization: `Basic ${basic}` },
                timeoutMs: opts.timeoutMs,
                retry: { idempotent: true, clock }
            }));
        }
        case 'github-oidc': {
            const requestToken = v('ACTIONS_ID_TOKEN_REQUEST_TOKEN');
            log.secret(requestToken);
            const audience = await federationAudience(base, env, log, opts);
            log.debug(`Databricks: GitHub OIDC federation with audience ${audience}`);
            const clientId = env.DATABRICKS_CLIENT_ID || undefined;
            return cachedToken(type, clock, log, async () => {
                const idUrl = new URL(v('ACTIONS_ID_TOKEN_REQUEST_URL'));
                idUrl.searchParams.set('audience', audience);
                const id = await requestJson(idUrl.toString(), {
                    headers: { authorization: `Bearer ${requestToken}` },
                    timeoutMs: opts.timeoutMs,
                    retry: { idempotent: true, clock }
                });
                if (typeof id?.value !== 'string' || id.value === '') {
                    throw new Error('the GitHub Actions ID-token endpoint returned no token');
                }
                log.secret(id.value);
                const form = {
                    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
                    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
                    subject_token: id.value,
                    scope: SCOPE
                };
                // Without a client id the exchange uses account-wide federation; with one, the
                // service principal's own federation policy.
                if (clientId)
                    form.client_id = clientId;
                return requestJson(tokenUrl, {
                    form,
                    timeoutMs: opts.timeoutMs,
                    retry: { idempotent: true, clock }
                });
            });
        }
    }
}
function pickType(env) {
    const has = (name) => Boolean(env[name]);
    const oidc = has('ACTIONS_ID_TOKEN_REQUEST_URL') && has('ACTIONS_ID_TOKEN_REQUEST_TOKEN');
    const explicit = env.DATABRICKS_AUTH_TYPE?.trim();
    if (explicit) {
        const need = {
            pat: [has('DATABRICKS_TOKEN'), 'DATABRICKS_TOKEN'],
            'oauth-m2m': [
                has('DATABRICKS_CLIENT_ID') && has('DATABRICKS_CLIENT_SECRET'),
                'DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET'
            ],
            'github-oidc': [
                oidc,
                'ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN (grant the job `permissions: id-token: write`)'
            ]
        };
        if (!(explicit in need)) {
            throw new Error(`DATABRICKS_AUTH_TYPE "${explicit}" is not supported; use one of ${Object.keys(need).join(', ')}`);
        }
        const [ok, what] = need[explicit];
        if (!ok)
            throw new Error(`DATABRICKS_AUTH_TYPE is ${explicit} but ${what} is not set`);
        return explicit;
    }
    if (has('DATABRICKS_TOKEN'))
        return 'pat';
    if (has('DATABRICKS_CLIENT_ID') && has('DATABRICKS_CLIENT_SECRET'))
        return 'oauth-m2m';
    if (oidc)
        return 'github-oidc';
    if (has('DATABRICKS_CLIENT_ID')) {
        throw new Error('DATABRICKS_CLIENT_ID is set but neither DATABRICKS_CLIENT_SECRET (OAuth M2M) nor a GitHub OIDC token (`permissions: id-token: write`) is available');
    }
    throw new Error('no Databricks credentials: set DATABRICKS_TOKEN, or DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET, or grant the job `permissions: id-token: write` for GitHub OIDC federation');
}
/**
 * The `aud` to request in the GitHub ID token: DATABRICKS_TOKEN_AUDIENCE when set; else the default
 * the workspace advertises in /.well-known/databricks-config; else the account id (the audience a
 * federation policy accepts when its `audiences` are left empty); else the workspace token
 * endpoint, which is what the Databricks SDKs fall back to.
 */
async function federationAudience(base, env, log, opts) {
    if (env.DATABRICKS_TOKEN_AUDIENCE)
        return env.DATABRICKS_TOKEN_AUDIENCE;
    let meta;
    try {
        meta = await requestJson(`${base}/.well-known/databricks-config`, {
            timeoutMs: Math.min(opts.timeoutMs ?? 10_000, 10_000)
        });
    }
    catch (e) {
        log.debug(`Databricks: no host metadata (${e instanceof Error ? e.message : String(e)})`);
    }
    const defaults = meta?.token_federation_default_oidc_audiences;
    if (Array.isArray(defaults) && typeof defaults[0] === 'string' && defaults[0])
        return defaults[0];
    const account = env.DATABRICKS_ACCOUNT_ID || (typeof meta?.account_id === 'string' ? meta.account_id : '');
    if (account)
        return account;
    return `${base}/oidc/v1/token`;
}
function cachedToken(type, clock, log, fetchToken) {
    let current;
    // Parallel requests share one refresh instead of each asking for a token.
    let pending;
    const refresh = async () => {
        let res;
        try {
            res = await fetchToken();
        }
        catch (e) {
            const why = e instanceof HttpError ? e.message : e instanceof Error ? e.message : String(e);
            throw new Error(`Databricks ${type} authentication failed: ${why}`, { cause: e });
        }
        if (typeof res?.access_token !== 'string' || res.access_token === '') {
            throw new Error(`Databricks ${type} authentication failed: the token endpoint returned no access_token`);
        }
        log.secret(res.access_token);
        const lifetime = typeof res.expires_in === 'number' && res.expires_in > 0
            ? res.expires_in * 1000
            : DEFAULT_LIFETIME_MS;
        const tokenType = typeof res.token_type === 'string' && res.token_type ? res.token_type : 'Bearer';
        return {
            header: `${tokenType === 'bearer' ? 'Bearer' : tokenType} ${res.access_token}`,
            // A short-lived token is renewed at half its life rather than at once.
            renewAt: clock.now() + lifetime - Math.min(EXPIRY_MARGIN_MS, lifetime / 2)
        };
    };
    return {
        type,
        async headers() {
            if (!current || clock.now() >= current.renewAt) {
                pending ??= refresh().finally(() => (pending = undefined));
                current = await pending;
            }
            return { authorization: current.header };
        },
        invalidate() {
            current = undefined;
        }
    };
}

/** Databricks refuses longer idempotency tokens. */
const MAX_IDEMPOTENCY_TOKEN = 64;
/** Clock skew allowed between the runner and the workspace when telling an earlier run from ours. */
const SKEW_MS = 60_000;
const WAITING_LIFE_CYCLE = new Set(['QUEUED', 'PENDING', 'BLOCKED', 'WAITING_FOR_RETRY']);
const WAITING_V2 = new Set(['QUEUED', 'PENDING', 'BLOCKED', 'WAITING']);
const TERMINAL_LIFE_CYCLE = new Set(['TERMINATED', 'SKIPPED', 'INTERNAL_ERROR']);
class DatabricksBackend {
    spec;
    deps;
    name = 'databricks';
    host;
    clock;
    auth;
    jobId;
    constructor(spec, deps) {
        this.spec = spec;
        this.deps = deps;
        this.clock = deps.clock ?? systemClock;
        const host = spec.host ?? deps.env.DATABRICKS_HOST;
        this.host = host ? normalizeHost(host) : undefined;
    }
    async start(ctx) {
        if (ctx.idempotencyKey.length > MAX_IDEMPOTENCY_TOKEN) {
            throw new Error(`the idempotency key is ${ctx.idempotencyKey.length} characters; Databricks accepts at most ${MAX_IDEMPOTENCY_TOKEN}`);
        }
        const jobId = await this.resolveJob(ctx.signal);
        const requestedAt = this.clock.now();
        // ML_PROMOTE_* come last: a job parameter in the config cannot disguise the run's context.
        const jobParameters = { ...this.spec.parameters, ...remoteContext(ctx) };
        // The idempotency token makes run-now safe to send again: Databricks launches exactly one run
        // per token and answers a repeat with that run's id, even after a lost response.
        const started = await this.api('/api/2.2/jobs/run-now', {
            method: 'POST',
            body: {
                job_id: jobId,
                job_parameters: jobParameters,
                idempotency_token: ctx.idempotencyKey
            },
            idempotent: true,
            signal: ctx.signal
        });
        if (typeof started?.run_id !== 'number') {
            throw new Error(`Databricks run-now of job ${jobId} returned no run_id`);
        }
        const info = await this.api('/api/2.2/jobs/runs/get', {
            query: { run_id: started.run_id },
            idempotent: true,
            signal: ctx.signal
        });
        const life = info.state?.life_cycle_state;
        const attached = (life !== undefined && !WAITING_LIFE_CYCLE.has(life)) ||
            (typeof info.start_time === 'number' &&
                info.start_time > 0 &&
                info.start_time < requestedAt - SKEW_MS);
        return {
            backend: this.name,
            id: String(started.run_id),
            url: info.run_page_url,
            attached,
            data: {
                host: this.host,
                jobId,
                ...(started.number_in_job !== undefined ? { numberInJob: started.number_in_job } : {})
            }
        };
    }
    async status(run, ctx) {
        const where = describeRun(run);
        let info;
        try {
            info = await this.api('/api/2.2/jobs/runs/get', {
                query: { run_id: run.id },
                idempotent: true,
                signal: ctx.signal
            });
        }
        catch (e) {
            // The wait engine retries transient failures; anything else is worth the run's address.
            if (isTransient(e) || ctx.signal.aborted)
                throw e;
            throw new TrainingError(`Could not read the state of ${where}: ${errorMessage(e)}`, run);
        }
        const status = mapRunState(info, where);
        if (status.state === 'failed')
            return { state: 'failed', message: await this.withTaskError(status.message, info, ctx) };
        return status;
    }
    async cancel(run, _ctx) {
        // Cancelling usually follows an abort, so it must not be tied to the aborted signal.
        try {
            await this.api('/api/2.2/jobs/runs/cancel', {
                method: 'POST',
                body: { run_id: Number(run.id) },
                idempotent: true,
                timeoutMs: 15_000,
                attempts: 3
            });
        }
        catch (e) {
            // A run that already ended cannot be cancelled, which is what was wanted.
            if (e instanceof HttpError && e.code === 'INVALID_STATE')
                return;
            throw e;
        }
    }
    async metrics(run, ctx) {
        const where = describeRun(run);
        if (this.spec.metrics_task && this.spec.mlflow_run_task) {
            throw new TrainingError(`set either metrics_task or mlflow_run_task for ${where}, not both`, run);
        }
        try {
            const taskKey = this.spec.mlflow_run_task ?? this.spec.metrics_task;
            const task = await this.findTask(run, taskKey, ctx);
            const exit = await this.exitValue(run, task, ctx);
            if (this.spec.mlflow_run_task)
                return await this.mlflowMetrics(run, task.task_key, exit, ctx);
            return parseMetrics(exit, `the exit value of task "${task.task_key}" of ${where}`, run);
        }
        catch (e) {
            if (e instanceof TrainingError)
                throw e;
            throw new TrainingError(`Could not read the metrics of ${where}: ${errorMessage(e)}`, run);
        }
    }
    async findTask(run, taskKey, ctx) {
        const tasks = [];
        let pageToken;
        do {
            const page = await this.api('/api/2.2/jobs/runs/get', {
                query: { run_id: run.id, page_token: pageToken },
                idempotent: true,
                signal: ctx.signal
            });
            tasks.push(...(page.tasks ?? []));
            pageToken = page.next_page_token || undefined;
        } while (pageToken);
        const keys = tasks.map((t) => t.task_key);
        const task = taskKey
            ? tasks.find((t) => t.task_key === taskKey)
            : tasks.length === 1
                ? tasks[0]
                : undefined;
        if (!task) {
            const which = this.spec.mlflow_run_task ? 'mlflow_run_task' : 'metrics_task';
            throw new TrainingError(taskKey
                ? `${describeRun(run)} has no task "${taskKey}" (${which}); its tasks are ${keys.join(', ') || 'none'}`
                : `${describeRun(run)} has ${tasks.length} tasks (${keys.join(', ')}): set metrics_task to the task whose notebook exit value is the metrics JSON`, run);
        }
        if (typeof task.run_id !== 'number')
            throw new TrainingError(`task "${task.task_key}" of ${describeRun(run)} has no run id`, run);
        return { task_key: task.task_key, run_id: task.run_id };
    }
    async exitValue(run, task, ctx) {
        // get-output takes the task's own run id: a multi-task job run has no single output.
        const out = await this.api('/api/2.2/jobs/runs/get-output', {
            query: { run_id: task.run_id },
            idempotent: true,
            signal: ctx.signal
        });
        const where = `task "${task.task_key}" of ${describeRun(run)}`;
        const result = out?.notebook_output?.result;
        if (out?.notebook_output?.truncated) {
            throw new TrainingError(`the exit value of ${where} was truncated by Databricks (notebook_output.truncated; it returns the first 5 MB): exit with the metrics only, or write them to storage`, run);
        }
        if (typeof result !== 'string' || result.trim() === '') {
            throw new TrainingError(`${where} returned no exit value: end the notebook with dbutils.notebook.exit(json.dumps(metrics))${out?.error ? `; task error: ${out.error}` : ''}`, run);
        }
        return result;
    }
    async mlflowMetrics(run, taskKey, exit, ctx) {
        const mlflowRunId = exit.trim();
        if (!/^[A-Za-z0-9_-]{1,64}$/.test(mlflowRunId)) {
            throw new TrainingError(`the exit value of task "${taskKey}" (mlflow_run_task) of ${describeRun(run)} is not an MLflow run id: ${quote(mlflowRunId)}`, run);
        }
        const res = await this.api('/api/2.0/mlflow/runs/get', {
            query: { run_id: mlflowRunId },
            idempotent: true,
            signal: ctx.signal
        });
        const latest = new Map();
        for (const m of res?.run?.data?.metrics ?? []) {
            if (typeof m.key !== 'string')
                continue;
            // MLflow's JSON writes NaN and ±Infinity as strings; they stay non-finite and fail the gate.
            const value = typeof m.value === 'number' ? m.value : Number(m.value);
            const step = typeof m.step === 'number' ? m.step : Number(m.step ?? 0);
            const timestamp = typeof m.timestamp === 'number' ? m.timestamp : Number(m.timestamp ?? 0);
            const seen = latest.get(m.key);
            if (!seen || step > seen.step || (step === seen.step && timestamp >= seen.timestamp)) {
                latest.set(m.key, { value, step, timestamp });
            }
        }
        if (latest.size === 0) {
            throw new TrainingError(`MLflow run ${mlflowRunId} (from task "${taskKey}" of ${describeRun(run)}) has no metrics`, run);
        }
        return Object.fromEntries([...latest].map(([k, v]) => [k, v.value]));
    }
    /** For a failed run, the first failed task's error tells more than the run's state message. */
    async withTaskError(message, info, ctx) {
        const failed = info.tasks?.find((t) => t.state?.result_state === 'FAILED' && typeof t.run_id === 'number');
        if (!failed)
            return message;
        try {
            const out = await this.api('/api/2.2/jobs/runs/get-output', {
                query: { run_id: failed.run_id },
                idempotent: true,
                signal: ctx.signal
            });
            if (!out?.error)
                return message;
            const trace = out.error_trace ? `\n${out.error_trace.split('\n').slice(-20).join('\n')}` : '';
            return `${message}\ntask "${failed.task_key}": ${out.error}${trace}`;
        }
        catch {
            return message;
        }
    }
    resolveJob(signal) {
        const job = this.spec.job;
        if (typeof job === 'number')
            return Promise.resolve(job);
        this.jobId ??= this.findJobByName(job, signal);
        // A failed lookup is not cached: the next start may succeed.
        this.jobId.catch(() => (this.jobId = undefined));
        return this.jobId;
    }
    async findJobByName(name, signal) {
        const found = [];
        let pageToken;
        do {
            const page = await this.api('/api/2.2/jobs/list', {
                query: { name, page_token: pageToken },
                idempotent: true,
                signal
            });
            for (const j of page.jobs ?? []) {
                if (typeof j.job_id === 'number')
                    found.push({ id: j.job_id, name: j.settings?.name ?? '' });
            }
            pageToken = page.next_page_token || undefined;
        } while (pageToken);
        // The name filter ignores case; an exact match wins over jobs that differ only in case.
        const exact = found.filter((j) => j.name === name);
        const matches = exact.length > 0 ? exact : found;
        if (matches.length === 1)
            return matches[0].id;
        if (matches.length === 0) {
            throw new Error(`no Databricks job is named "${name}" in ${this.requireHost()} (or the credentials cannot see it)`);
        }
        throw new Error(`${matches.length} Databricks jobs are named "${name}" (ids ${matches.map((j) => j.id).join(', ')}): set job to the numeric id of the one to run`);
    }
    requireHost() {
        if (!this.host) {
            throw new Error('no Databricks workspace: set `host` in the databricks train settings or the DATABRICKS_HOST environment variable');
        }
        return this.host;
    }
    /** One API call; a 401 (an access token that expired) gets one retry with fresh credentials. */
    async api(path, opts) {
        const host = this.requireHost();
        this.auth ??= databricksAuth(host, this.deps.env, this.deps.log, {
            clock: this.clock,
            timeoutMs: this.deps.requestTimeoutMs
        });
        this.auth.catch(() => (this.auth = undefined));
        const auth = await this.auth;
        for (let attempt = 1;; attempt++) {
            try {
                return await requestJson(`${host}${path}`, {
                    method: opts.method,
                    query: opts.query,
                    body: opts.body,
                    headers: await auth.headers(),
                    signal: opts.signal,
                    timeoutMs: opts.timeoutMs ?? this.deps.requestTimeoutMs,
                    retry: {
                        idempotent: opts.idempotent,
                        attempts: opts.attempts ?? this.deps.attempts,
                        clock: this.clock
                    }
                });
            }
            catch (e) {
                if (attempt === 1 && e instanceof HttpError && e.status === 401) {
                    this.deps.log.debug(`Databricks answered 401 to ${e.url}; renewing credentials`);
                    auth.invalidate();
                    continue;
                }
                throw e;
            }
        }
    }
}
/** The context a run is told about, as job parameters (the output directory is local and not sent). */
function remoteContext(ctx) {
    return {
        ML_PROMOTE_ENVIRONMENT: ctx.environment,
        ML_PROMOTE_MODEL: ctx.model,
        ML_PROMOTE_SHA: ctx.sha,
        ML_PROMOTE_REF: ctx.ref,
        ML_PROMOTE_RUN_ID: ctx.runId
    };
}
/**
 * The run's state in ml-promote's terms. The legacy `state` is always present and says how a run
 * ended (result_state); the newer `status` explains why (termination_details), and decides alone
 * when `state` is missing.
 */
function mapRunState(info, where) {
    const life = info.state?.life_cycle_state;
    const result = info.state?.result_state;
    const v2 = info.status?.state;
    const term = info.status?.termination_details;
    const said = [info.state?.state_message, term?.message]
        .find((m) => typeof m === 'string' && m.trim() !== '')
        ?.trim();
    const terminal = life !== undefined ? TERMINAL_LIFE_CYCLE.has(life) : v2 === 'TERMINATED';
    if (!terminal) {
        const waiting = life !== undefined ? WAITING_LIFE_CYCLE.has(life) : v2 !== undefined && WAITING_V2.has(v2);
        const why = said ?? info.status?.queue_details?.message ?? info.state?.queue_reason;
        return { state: waiting ? 'queued' : 'running', ...(why ? { message: why } : {}) };
    }
    const code = term?.code;
    const detail = (text) => `${where} ${text}${code && !text.includes(code) ? ` [${code}]` : ''}${said ? `: ${said}` : ''}`;
    const outcome = result ?? codeToResult(code) ?? (life === 'SKIPPED' ? 'SKIPPED' : 'FAILED');
    switch (outcome) {
        case 'SUCCESS':
            return { state: 'succeeded' };
        case 'SUCCESS_WITH_FAILURES':
            // Databricks counts it a success: the leaf tasks, which produce the metrics, succeeded.
            return { state: 'succeeded', message: detail('succeeded although some tasks failed') };
        case 'TIMEDOUT':
            return { state: 'timed_out', message: detail("timed out (the job's timeout passed)") };
        case 'CANCELED':
        case 'USER_CANCELED':
            return { state: 'cancelled', message: detail('was cancelled') };
        case 'SKIPPED':
        case 'MAXIMUM_CONCURRENT_RUNS_REACHED':
        case 'EXCLUDED':
        case 'DISABLED':
        case 'UPSTREAM_CANCELED':
            return { state: 'failed', message: detail(`was skipped (${outcome})`) };
        default:
            return {
                state: 'failed',
                message: detail(life === 'INTERNAL_ERROR'
                    ? 'failed with a Databricks internal error'
                    : `failed (${outcome})`)
            };
    }
}
function codeToResult(code) {
    switch (code) {
        case undefined:
            return undefined;
        case 'SUCCESS':
        case 'SUCCESS_WITH_FAILURES':
        case 'USER_CANCELED':
        case 'CANCELED':
        case 'SKIPPED':
        case 'DISABLED':
            return code;
        default:
            return 'FAILED';
    }
}
/** A flat JSON object of numbers, or a TrainingError that says what is wrong with it. */
function parseMetrics(text, what, run) {
    let value;
    try {
        value = JSON.parse(text);
    }
    catch {
        throw new TrainingError(`${what} is not JSON: ${quote(text)}`, run);
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
        throw new TrainingError(`${what} must be a JSON object of numbers, got ${quote(text)}`, run);
    }
    const wrong = Object.entries(value).filter(([, v]) => typeof v !== 'number');
    if (wrong.length > 0) {
        const list = wrong
            .slice(0, 5)
            .map(([k, v]) => `"${k}" is ${quote(JSON.stringify(v) ?? String(v))}`);
        throw new TrainingError(`${what} must be a flat JSON object of numbers: ${list.join(', ')}`, run);
    }
    return value;
}
function describeRun(run) {
    return run.url ? `Databricks run ${run.url}` : `Databricks run ${run.id}`;
}
function normalizeHost(host) {
    const withScheme = /^https?:\/\//i.test(host) ? host : `https://${host}`;
    return withScheme.replace(/\/+$/, '');
}
function quote(text) {
    const t = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    return JSON.stringify(t);
}
function errorMessage(e) {
    return e instanceof Error ? e.message : String(e);
}

export { DatabricksBackend, mapRunState, parseMetrics };
//# sourceMappingURL=databricks.js.map
