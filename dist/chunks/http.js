// JSON over HTTP for the remote backends and champion stores: one place that knows how to time a
// request out, recognise a transient failure, honour Retry-After and decide whether a request may
// be sent again.
//
// The clock lives here rather than in wait.ts so that this module stays a leaf: wait.ts needs
// `isTransient` and re-exports `Clock` / `systemClock`, and a cycle between the two would be
// fragile under bundling.
const systemClock = {
    now: () => Date.now(),
    sleep: (ms, signal) => new Promise((resolve, reject) => {
        if (signal?.aborted) {
            reject(abortReason(signal));
            return;
        }
        const onAbort = () => {
            clearTimeout(timer);
            reject(abortReason(signal));
        };
        const timer = setTimeout(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
        }, Math.max(0, ms));
        signal?.addEventListener('abort', onAbort, { once: true });
    })
};
function abortReason(signal) {
    return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}
class HttpError extends Error {
    status;
    url;
    body;
    retryAfterMs;
    code;
    constructor(message, 
    /** 0 for network errors and timeouts. */
    status, 
    /** The request URL with credentials and secret-looking query values redacted. */
    url, 
    /** Parsed JSON, or the text when it is not JSON. */
    body, retryAfterMs, 
    /** The service's own error code (Databricks `error_code`, OAuth `error`). */
    code) {
        super(message);
        this.status = status;
        this.url = url;
        this.body = body;
        this.retryAfterMs = retryAfterMs;
        this.code = code;
        this.name = 'HttpError';
    }
}
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_ATTEMPTS = 5;
const DEFAULT_BASE_MS = 500;
const MAX_BACKOFF_MS = 10_000;
const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;
/** 429, 5xx and network failures (status 0: reset, refused, timed out) may succeed when tried again. */
function isTransient(e) {
    if (!(e instanceof HttpError))
        return false;
    return e.status === 0 || e.status === 429 || e.status >= 500;
}
// 429 and 503 say the server refused the request without acting on it (RFC 9110 §15.6.4, RFC 6585
// §4), so even a request that is not idempotent may be sent again. Any other failure — a 500, a 502
// from a proxy, a reset connection, a timeout — may have happened after the server acted, and
// sending a non-idempotent request again could, for example, start a second training.
function mayResend(e, idempotent) {
    if (!isTransient(e))
        return false;
    return idempotent || e.status === 429 || e.status === 503;
}
/**
 * Sends one JSON request (retrying per `opts.retry`) and returns the parsed response body
 * (undefined for an empty body). Non-2xx responses and network failures throw HttpError; an abort
 * of `opts.signal` throws the signal's reason.
 */
async function requestJson(url, opts = {}) {
    const retry = opts.retry;
    const attempts = retry ? Math.max(1, retry.attempts ?? DEFAULT_ATTEMPTS) : 1;
    const clock = retry?.clock ?? systemClock;
    const random = retry?.random ?? Math.random;
    for (let attempt = 1;; attempt++) {
        try {
            return (await attemptOnce(url, opts, clock));
        }
        catch (e) {
            if (!(e instanceof HttpError) ||
                attempt >= attempts ||
                !mayResend(e, retry?.idempotent ?? false)) {
                throw e;
            }
            await clock.sleep(retryDelay(e, attempt, retry, random), opts.signal);
        }
    }
}
/**
 * Exponential backoff with jitter in [50%, 100%] of the step so that clients that failed together
 * do not retry together; a Retry-After longer than that wins, up to `maxRetryAfterMs`.
 */
function retryDelay(e, attempt, retry = {}, random = Math.random) {
    const step = Math.min(MAX_BACKOFF_MS, (retry.baseMs ?? DEFAULT_BASE_MS) * 2 ** (attempt - 1));
    const backoff = step * (0.5 + 0.5 * random());
    if (e.retryAfterMs === undefined)
        return backoff;
    return Math.max(backoff, Math.min(e.retryAfterMs, retry.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS));
}
async function attemptOnce(url, opts, clock) {
    const method = (opts.method ?? (opts.body !== undefined || opts.form ? 'POST' : 'GET')).toUpperCase();
    const target = withQuery(url, opts.query);
    const shown = redactUrl(target);
    const headers = { accept: 'application/json', 'user-agent': 'ml-promote' };
    let body;
    if (opts.form) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        body = new URLSearchParams(opts.form).toString();
    }
    else if (opts.body !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(opts.body);
    }
    Object.assign(headers, opts.headers);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const attempt = linkedAbort(opts.signal, timeoutMs);
    let response;
    let text;
    try {
        response = await fetch(target, {
            method,
            headers,
            body,
            signal: attempt.signal,
            redirect: 'follow'
        });
        // The body is read under the same timeout: a server that sends headers and then stalls is hung too.
        text = await response.text();
    }
    catch (e) {
        if (opts.signal?.aborted)
            throw abortReason(opts.signal);
        if (attempt.timedOut()) {
            throw new HttpError(`${method} ${shown} timed out after ${timeoutMs} ms`, 0, shown, undefined);
        }
        throw new HttpError(`${method} ${shown} failed: ${networkCause(e)}`, 0, shown, undefined);
    }
    finally {
        attempt.dispose();
    }
    const parsed = parseBody(text);
    if (response.ok)
        return parsed;
    const { code, message } = describeErrorBody(parsed);
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), clock.now());
    const detail = [code, message].filter(Boolean).join(': ');
    throw new HttpError(`${method} ${shown} returned ${response.status}${detail ? ` (${detail})` : ''}`, response.status, shown, parsed, retryAfterMs, code);
}
/**
 * The caller's signal combined by hand with a per-attempt timeout. AbortSignal.any exists on Node
 * 20.3+, but doing it here also tells a timeout apart from a caller abort and always clears the timer.
 */
function linkedAbort(outer, timeoutMs) {
    const controller = new AbortController();
    let timedOut = false;
    const onOuterAbort = () => controller.abort(outer?.reason);
    const timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError'));
    }, timeoutMs);
    if (outer?.aborted)
        controller.abort(outer.reason);
    else
        outer?.addEventListener('abort', onOuterAbort, { once: true });
    return {
        signal: controller.signal,
        timedOut: () => timedOut,
        dispose: () => {
            clearTimeout(timer);
            outer?.removeEventListener('abort', onOuterAbort);
        }
    };
}
function networkCause(e) {
    // undici reports "fetch failed" and keeps the useful part (ECONNRESET, ECONNREFUSED…) in `cause`.
    const cause = e?.cause;
    if (cause?.code)
        return cause.code;
    if (cause?.message)
        return cause.message;
    return e instanceof Error ? e.message : String(e);
}
function withQuery(url, query) {
    if (!query)
        return url;
    const u = new URL(url);
    for (const [k, v] of Object.entries(query))
        if (v !== undefined)
            u.searchParams.set(k, String(v));
    return u.toString();
}
const SECRET_QUERY = /token|secret|password|passwd|key|sig|auth|code/i;
/** The URL as it may appear in messages: no user info, secret-looking query values replaced. */
function redactUrl(url) {
    let u;
    try {
        u = new URL(url);
    }
    catch {
        return url.replace(/\?.*$/, '');
    }
    u.username = '';
    u.password = '';
    for (const k of [...u.searchParams.keys()])
        if (SECRET_QUERY.test(k))
            u.searchParams.set(k, '***');
    return u.toString();
}
function parseBody(text) {
    if (text === '')
        return undefined;
    try {
        return JSON.parse(text);
    }
    catch {
        return text;
    }
}
function describeErrorBody(body) {
    if (typeof body === 'string')
        return { message: body.trim().slice(0, 300) || undefined };
    if (!body || typeof body !== 'object')
        return {};
    const b = body;
    const str = (v) => typeof v === 'string' && v !== '' ? v : undefined;
    // Databricks: {error_code, message}; OAuth (RFC 6749 §5.2): {error, error_description};
    // Airflow / RFC 7807 problem details: {title, detail}.
    const code = str(b.error_code) ?? str(b.error);
    const message = str(b.message) ?? str(b.error_description) ?? str(b.detail) ?? str(b.title);
    return { code, message };
}
/** Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3), in ms from `now`. */
function parseRetryAfter(value, now) {
    if (value === null || value === undefined)
        return undefined;
    const v = value.trim();
    if (/^\d+$/.test(v))
        return Number(v) * 1000;
    const at = Date.parse(v);
    if (Number.isNaN(at))
        return undefined;
    return Math.max(0, at - now);
}

export { HttpError as H, isTransient as i, requestJson as r, systemClock as s };
//# sourceMappingURL=http.js.map
