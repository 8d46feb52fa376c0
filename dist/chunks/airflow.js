import { t as trainingEnv, T as TrainingError } from './types.js';
import { s as systemClock, H as HttpError, r as requestJson } from './http.js';

/** Prefix of every dag_run_id we create, so people can tell our runs from scheduled ones. */
const RUN_ID_PREFIX = 'ml-promote__';
class AirflowBackend {
    spec;
    deps;
    name = 'airflow';
    base;
    api;
    clock;
    timeoutMs;
    /** A JWT we fetched ourselves (v2), as opposed to one given in AIRFLOW_TOKEN. */
    jwt;
    constructor(spec, deps) {
        this.spec = spec;
        this.deps = deps;
        this.base = spec.url.replace(/\/+$/, '');
        this.api = `${this.base}/api/v${spec.api_version}`;
        this.clock = deps.clock ?? systemClock;
        this.timeoutMs = deps.timeoutMs;
        for (const key of ['AIRFLOW_TOKEN', 'AIRFLOW_PASSWORD']) {
            const value = deps.env[key];
            if (value)
                deps.log.secret(value);
        }
    }
    async start(ctx) {
        const runId = `${RUN_ID_PREFIX}${ctx.idempotencyKey}`;
        const body = { dag_run_id: runId, conf: trainingEnv(ctx) };
        // Airflow 3 requires the field and accepts null: a run with no logical date, which also
        // cannot collide with another run's logical date. Airflow 2 defaults it to "now".
        if (this.spec.api_version === 2)
            body.logical_date = null;
        try {
            // The deterministic dag_run_id makes the trigger safe to resend: a second one gets 409.
            const run = await this.call(this.dagRunsPath(), {
                method: 'POST',
                body,
                signal: ctx.signal,
                retry: { idempotent: true }
            });
            ctx.log.info(`Triggered Airflow DAG ${this.spec.dag}: run ${run.dag_run_id}`);
            return this.remoteRun(run.dag_run_id, false);
        }
        catch (e) {
            if (e instanceof HttpError && e.status === 409) {
                const run = await this.getRun(runId, ctx, true);
                ctx.log.info(`Airflow DAG run ${runId} already exists (${run.state}): attaching to it`);
                return this.remoteRun(runId, true);
            }
            throw this.explain(e, `Could not trigger Airflow DAG ${this.spec.dag}`);
        }
    }
    async status(run, ctx) {
        let dagRun;
        try {
            // No retry here: the wait loop retries transient failures and honours Retry-After itself.
            dagRun = await this.getRun(run.id, ctx, false);
        }
        catch (e) {
            throw this.explain(e, `Could not read Airflow DAG run ${run.id}`, run);
        }
        switch (dagRun.state) {
            case 'queued':
                return { state: 'queued' };
            case 'running':
                return { state: 'running' };
            case 'success':
                return { state: 'succeeded' };
            case 'failed':
                return {
                    state: 'failed',
                    message: `Airflow DAG run ${run.id} of ${this.spec.dag} failed${dagRun.note ? `: ${dagRun.note}` : ''}`
                };
            default:
                throw new TrainingError(`Airflow DAG run ${run.id} has an unknown state "${dagRun.state}"`, run);
        }
    }
    async cancel(run, ctx) {
        // Airflow has no cancel for a DAG run: marking it failed is what the UI's "Mark failed" does;
        // it stops scheduling new tasks and fails the running ones. A finished run is left as it is so
        // that a success is never overwritten.
        try {
            const dagRun = await this.getRun(run.id, ctx, true);
            if (dagRun.state !== 'queued' && dagRun.state !== 'running')
                return;
            await this.call(this.dagRunPath(run.id), {
                method: 'PATCH',
                body: { state: 'failed' },
                signal: ctx.signal,
                retry: { idempotent: true }
            });
            ctx.log.info(`Marked Airflow DAG run ${run.id} as failed (Airflow cannot cancel a run)`);
        }
        catch (e) {
            if (e instanceof HttpError && e.status === 404)
                return;
            throw this.explain(e, `Could not stop Airflow DAG run ${run.id}`);
        }
    }
    async metrics(run, ctx) {
        const { metrics_task: task, metrics_key: key } = this.spec;
        const where = `XCom "${key}" of task "${task}" in Airflow DAG run ${run.id}`;
        let entry;
        try {
            entry = await this.call(`${this.dagRunPath(run.id)}/taskInstances/${enc(task)}/xcomEntries/${enc(key)}`, {
                // Airflow 2.10+ returns the stored JSON as is with stringify=false (earlier 2.x ignore the
                // parameter and send str(value)); Airflow 3 returns it as is by default.
                query: this.spec.api_version === 1 ? { stringify: false } : undefined,
                signal: ctx.signal,
                retry: { idempotent: true }
            });
        }
        catch (e) {
            if (e instanceof HttpError && e.status === 404) {
                throw new TrainingError(`No ${where}: the task must push the metrics JSON under that key (a task's return value is pushed as "return_value")`, run, e.message);
            }
            throw this.explain(e, `Could not read ${where}`, run);
        }
        return parseMetrics(entry.value, where, run);
    }
    remoteRun(id, attached) {
        const url = this.spec.api_version === 1
            ? `${this.base}/dags/${enc(this.spec.dag)}/grid?dag_run_id=${encodeURIComponent(id)}`
            : `${this.base}/dags/${enc(this.spec.dag)}/runs/${enc(id)}`;
        return { backend: this.name, id, url, attached, data: { dag: this.spec.dag } };
    }
    getRun(id, ctx, retry) {
        return this.call(this.dagRunPath(id), {
            signal: ctx.signal,
            retry: retry ? { idempotent: true } : undefined
        });
    }
    dagRunsPath() {
        return `/dags/${enc(this.spec.dag)}/dagRuns`;
    }
    dagRunPath(id) {
        return `${this.dagRunsPath()}/${enc(id)}`;
    }
    /** One API call with credentials; a fetched JWT that expired is fetched again once. */
    async call(path, opts) {
        const send = async () => requestJson(`${this.api}${path}`, {
            ...opts,
            timeoutMs: this.timeoutMs,
            headers: { ...opts.headers, ...(await this.authHeader(opts.signal)) },
            retry: opts.retry && { ...opts.retry, clock: this.clock }
        });
        try {
            return await send();
        }
        catch (e) {
            if (!(e instanceof HttpError) || e.status !== 401 || !this.usesFetchedJwt())
                throw e;
            this.deps.log.debug('Airflow rejected the access token; fetching a new one');
            this.jwt = undefined;
            return send();
        }
    }
    usesFetchedJwt() {
        return (this.spec.api_version === 2 &&
            !this.deps.env.AIRFLOW_TOKEN &&
            !!this.deps.env.AIRFLOW_USERNAME);
    }
    async authHeader(signal) {
        const { AIRFLOW_TOKEN: token, AIRFLOW_USERNAME: user, AIRFLOW_PASSWORD: password } = this.deps.env;
        if (token)
            return { authorization: `Bearer ${token}` };
        if (!user)
            return {};
        if (this.spec.api_version === 1) {
            const basic = Buffer.from(`${user}:${password ?? ''}`).toString('base64');
            this.deps.log.secret(basic);
            return { authorization: `Basic ${basic}` };
        }
        this.jwt ??= this.fetchJwt(user, password ?? '', signal);
        try {
            return { authorization: `Bearer ${await this.jwt}` };
        }
        catch (e) {
            this.jwt = undefined;
            throw e;
        }
    }
    async fetchJwt(username, password, signal) {
        let answer;
        try {
            answer = await requestJson(`${this.base}/auth/token`, {
                method: 'POST',
                body: { username, password },
                signal,
                timeoutMs: this.timeoutMs,
                retry: { idempotent: true, clock: this.clock }
            });
        }
        catch (e) {
            if (e instanceof HttpError && (e.status === 401 || e.status === 403)) {
                throw new TrainingError(`Airflow at ${this.base} refused AIRFLOW_USERNAME/AIRFLOW_PASSWORD (${e.status} from /auth/token)`, undefined, e.message);
            }
            throw e;
        }
        if (typeof answer?.access_token !== 'string' || answer.access_token === '') {
            throw new TrainingError(`Airflow at ${this.base} answered /auth/token without an access_token`);
        }
        this.deps.log.secret(answer.access_token);
        return answer.access_token;
    }
    /** Turns errors a user can act on into TrainingErrors; transient ones pass through unchanged. */
    explain(e, what, run) {
        if (!(e instanceof HttpError))
            return e;
        if (e.status === 401 || e.status === 403) {
            const hint = this.deps.env.AIRFLOW_TOKEN
                ? 'check AIRFLOW_TOKEN'
                : this.deps.env.AIRFLOW_USERNAME
                    ? 'check AIRFLOW_USERNAME/AIRFLOW_PASSWORD and the user’s permissions on the DAG'
                    : 'set AIRFLOW_USERNAME/AIRFLOW_PASSWORD or AIRFLOW_TOKEN';
            return new TrainingError(`${what}: Airflow answered ${e.status}; ${hint}`, run, e.message);
        }
        if (e.status === 404) {
            return new TrainingError(`${what}: Airflow at ${this.base} has no DAG "${this.spec.dag}" (or the run is gone)`, run, e.message);
        }
        if (e.status === 400 || e.status === 422) {
            return new TrainingError(`${what}: Airflow rejected the request`, run, e.message);
        }
        return e;
    }
}
function enc(segment) {
    return encodeURIComponent(segment);
}
/** An XCom value (a JSON string or an object) as flat metrics. */
function parseMetrics(value, where, run) {
    let parsed = value;
    if (typeof value === 'string') {
        try {
            parsed = JSON.parse(value);
        }
        catch {
            const pythonRepr = /^\s*\{\s*'/.test(value);
            throw new TrainingError(`${where} is not JSON${pythonRepr
                ? ': it looks like a Python dict; return json.dumps(metrics) from the task (Airflow 2 before 2.10 sends XComs as str())'
                : ''}`, run, value.slice(0, 300));
        }
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new TrainingError(`${where} must be a JSON object of numbers, got ${Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed)}`, run);
    }
    const metrics = {};
    for (const [name, v] of Object.entries(parsed)) {
        if (typeof v !== 'number' || !Number.isFinite(v)) {
            throw new TrainingError(`${where}: metric "${name}" must be a finite number, got ${JSON.stringify(v)}`, run);
        }
        metrics[name] = v;
    }
    return metrics;
}

export { AirflowBackend, parseMetrics };
//# sourceMappingURL=airflow.js.map
