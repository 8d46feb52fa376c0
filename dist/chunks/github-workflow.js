import { createRequire } from 'module';
import { T as TrainingError } from './types.js';
import { parseMetrics } from './airflow.js';
import { s as systemClock, i as isTransient, H as HttpError } from './http.js';

var require$1 = createRequire('/');
// DEFLATE is a complex format; to read this code, you should probably check the RFC first:
// https://tools.ietf.org/html/rfc1951
// You may also wish to take a look at the guide I made about this program:
// https://gist.github.com/101arrowz/253f31eb5abc3d9275ab943003ffecad
// Some of the following code is similar to that of UZIP.js:
// https://github.com/photopea/UZIP.js
// However, the vast majority of the codebase has diverged from UZIP.js to increase performance and reduce bundle size.
// Sometimes 0 will appear where -1 would be more appropriate. This is because using a uint
// is better for memory in most engines (I *think*).
var _a;
// Mediocre shim
var Worker;
var isMarkedAsUntransferable;
try {
    (_a = require$1('worker_threads'), Worker = _a.Worker, isMarkedAsUntransferable = _a.isMarkedAsUntransferable);
}
catch (e) {
}

// aliases for shorter compressed code (most minifers don't do this)
var u8 = Uint8Array, u16 = Uint16Array, i32 = Int32Array;
// fixed length extra bits
var fleb = new u8([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0, /* unused */ 0, 0, /* impossible */ 0]);
// fixed distance extra bits
var fdeb = new u8([0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, /* unused */ 0, 0]);
// code length index map
var clim = new u8([16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]);
// get base, reverse index map from extra bits
var freb = function (eb, start) {
    var b = new u16(31);
    for (var i = 0; i < 31; ++i) {
        b[i] = start += 1 << eb[i - 1];
    }
    // numbers here are at max 18 bits
    var r = new i32(b[30]);
    for (var i = 1; i < 30; ++i) {
        for (var j = b[i]; j < b[i + 1]; ++j) {
            r[j] = ((j - b[i]) << 5) | i;
        }
    }
    return { b: b, r: r };
};
var _a = freb(fleb, 2), fl = _a.b, revfl = _a.r;
// we can ignore the fact that the other numbers are wrong; they never happen anyway
fl[28] = 258, revfl[258] = 28;
var _b = freb(fdeb, 0), fd = _b.b; _b.r;
// map of value to reverse (assuming 16 bits)
var rev = new u16(32768);
for (var i = 0; i < 32768; ++i) {
    // reverse table algorithm from SO
    var x = ((i & 0xAAAA) >> 1) | ((i & 0x5555) << 1);
    x = ((x & 0xCCCC) >> 2) | ((x & 0x3333) << 2);
    x = ((x & 0xF0F0) >> 4) | ((x & 0x0F0F) << 4);
    rev[i] = (((x & 0xFF00) >> 8) | ((x & 0x00FF) << 8)) >> 1;
}
// create huffman tree from u8 "map": index -> code length for code index
// mb (max bits) must be at most 15
// TODO: optimize/split up?
var hMap = (function (cd, mb, r) {
    var s = cd.length;
    // index
    var i = 0;
    // u16 "map": index -> # of codes with bit length = index
    var l = new u16(mb);
    // length of cd must be 288 (total # of codes)
    for (; i < s; ++i) {
        if (cd[i])
            ++l[cd[i] - 1];
    }
    // u16 "map": index -> minimum code for bit length = index
    var le = new u16(mb);
    for (i = 1; i < mb; ++i) {
        le[i] = (le[i - 1] + l[i - 1]) << 1;
    }
    var co;
    if (r) {
        // u16 "map": index -> number of actual bits, symbol for code
        co = new u16(1 << mb);
        // bits to remove for reverser
        var rvb = 15 - mb;
        for (i = 0; i < s; ++i) {
            // ignore 0 lengths
            if (cd[i]) {
                // num encoding both symbol and bits read
                var sv = (i << 4) | cd[i];
                // free bits
                var r_1 = mb - cd[i];
                // start value
                var v = le[cd[i] - 1]++ << r_1;
                // m is end value
                for (var m = v | ((1 << r_1) - 1); v <= m; ++v) {
                    // every 16 bit value starting with the code yields the same result
                    co[rev[v] >> rvb] = sv;
                }
            }
        }
    }
    else {
        co = new u16(s);
        for (i = 0; i < s; ++i) {
            if (cd[i]) {
                co[i] = rev[le[cd[i] - 1]++] >> (15 - cd[i]);
            }
        }
    }
    return co;
});
// fixed length tree
var flt = new u8(288);
for (var i = 0; i < 144; ++i)
    flt[i] = 8;
for (var i = 144; i < 256; ++i)
    flt[i] = 9;
for (var i = 256; i < 280; ++i)
    flt[i] = 7;
for (var i = 280; i < 288; ++i)
    flt[i] = 8;
// fixed distance tree
var fdt = new u8(32);
for (var i = 0; i < 32; ++i)
    fdt[i] = 5;
// fixed length map
var flrm = /*#__PURE__*/ hMap(flt, 9, 1);
// fixed distance map
var fdrm = /*#__PURE__*/ hMap(fdt, 5, 1);
// find max of array
var max = function (a) {
    var m = a[0];
    for (var i = 1; i < a.length; ++i) {
        if (a[i] > m)
            m = a[i];
    }
    return m;
};
// read d, starting at bit p and mask with m
var bits = function (d, p, m) {
    var o = (p / 8) | 0;
    return ((d[o] | (d[o + 1] << 8)) >> (p & 7)) & m;
};
// read d, starting at bit p continuing for at least 16 bits
var bits16 = function (d, p) {
    var o = (p / 8) | 0;
    return ((d[o] | (d[o + 1] << 8) | (d[o + 2] << 16)) >> (p & 7));
};
// get end of byte
var shft = function (p) { return ((p + 7) / 8) | 0; };
// typed array slice - allows garbage collector to free original reference,
// while being more compatible than .slice
var slc = function (v, s, e) {
    if (s == null || s < 0)
        s = 0;
    if (e == null || e > v.length)
        e = v.length;
    // can't use .constructor in case user-supplied
    return new u8(v.subarray(s, e));
};
// error codes
var ec = [
    'unexpected EOF',
    'invalid block type',
    'invalid length/literal',
    'invalid distance',
    'stream finished',
    'no stream handler',
    , // determined by compression function
    'no callback',
    'invalid UTF-8 data',
    'extra field too long',
    'date not in range 1980-2099',
    'filename too long',
    'stream finishing',
    'invalid zip data'
    // determined by unknown compression method
];
var err = function (ind, msg, nt) {
    var e = new Error(msg || ec[ind]);
    e.code = ind;
    if (Error.captureStackTrace)
        Error.captureStackTrace(e, err);
    if (!nt)
        throw e;
    return e;
};
// expands raw DEFLATE data
var inflt = function (dat, st, buf, dict) {
    // source length       dict length
    var sl = dat.length, dl = dict ? dict.length : 0;
    if (!sl || st.f && !st.l)
        return buf || new u8(0);
    var noBuf = !buf;
    // have to estimate size
    var resize = noBuf || st.i != 2;
    // no state
    var noSt = st.i;
    // Assumes roughly 33% compression ratio average
    if (noBuf)
        buf = new u8(sl * 3);
    // ensure buffer can fit at least l elements
    var cbuf = function (l) {
        var bl = buf.length;
        // need to increase size to fit
        if (l > bl) {
            // Double or set to necessary, whichever is greater
            var nbuf = new u8(Math.max(bl * 2, l));
            nbuf.set(buf);
            buf = nbuf;
        }
    };
    //  last chunk         bitpos           bytes
    var final = st.f || 0, pos = st.p || 0, bt = st.b || 0, lm = st.l, dm = st.d, lbt = st.m, dbt = st.n;
    // total bits
    var tbts = sl * 8;
    do {
        if (!lm) {
            // BFINAL - this is only 1 when last chunk is next
            final = bits(dat, pos, 1);
            // type: 0 = no compression, 1 = fixed huffman, 2 = dynamic huffman
            var type = bits(dat, pos + 1, 3);
            pos += 3;
            if (!type) {
                // go to end of byte boundary
                var s = shft(pos) + 4, l = dat[s - 4] | (dat[s - 3] << 8), t = s + l;
                if (t > sl) {
                    if (noSt)
                        err(0);
                    break;
                }
                // ensure size
                if (resize)
                    cbuf(bt + l);
                // Copy over uncompressed data
                buf.set(dat.subarray(s, t), bt);
                // Get new bitpos, update byte count
                st.b = bt += l, st.p = pos = t * 8, st.f = final;
                continue;
            }
            else if (type == 1)
                lm = flrm, dm = fdrm, lbt = 9, dbt = 5;
            else if (type == 2) {
                //  literal                            lengths
                var hLit = bits(dat, pos, 31) + 257, hcLen = bits(dat, pos + 10, 15) + 4;
                var tl = hLit + bits(dat, pos + 5, 31) + 1;
                pos += 14;
                // length+distance tree
                var ldt = new u8(tl);
                // code length tree
                var clt = new u8(19);
                for (var i = 0; i < hcLen; ++i) {
                    // use index map to get real code
                    clt[clim[i]] = bits(dat, pos + i * 3, 7);
                }
                pos += hcLen * 3;
                // code lengths bits
                var clb = max(clt), clbmsk = (1 << clb) - 1;
                // code lengths map
                var clm = hMap(clt, clb, 1);
                for (var i = 0; i < tl;) {
                    var r = clm[bits(dat, pos, clbmsk)];
                    // bits read
                    pos += r & 15;
                    // symbol
                    var s = r >> 4;
                    // code length to copy
                    if (s < 16) {
                        ldt[i++] = s;
                    }
                    else {
                        //  copy   count
                        var c = 0, n = 0;
                        if (s == 16)
                            n = 3 + bits(dat, pos, 3), pos += 2, c = ldt[i - 1];
                        else if (s == 17)
                            n = 3 + bits(dat, pos, 7), pos += 3;
                        else if (s == 18)
                            n = 11 + bits(dat, pos, 127), pos += 7;
                        while (n--)
                            ldt[i++] = c;
                    }
                }
                //    length tree                 distance tree
                var lt = ldt.subarray(0, hLit), dt = ldt.subarray(hLit);
                // max length bits
                lbt = max(lt);
                // max dist bits
                dbt = max(dt);
                lm = hMap(lt, lbt, 1);
                dm = hMap(dt, dbt, 1);
            }
            else
                err(1);
            if (pos > tbts) {
                if (noSt)
                    err(0);
                break;
            }
        }
        // Make sure the buffer can hold this + the largest possible addition
        // Maximum chunk size (practically, theoretically infinite) is 2^17
        if (resize)
            cbuf(bt + 131072);
        var lms = (1 << lbt) - 1, dms = (1 << dbt) - 1;
        var lpos = pos;
        for (;; lpos = pos) {
            // bits read, code
            var c = lm[bits16(dat, pos) & lms], sym = c >> 4;
            pos += c & 15;
            if (pos > tbts) {
                if (noSt)
                    err(0);
                break;
            }
            if (!c)
                err(2);
            if (sym < 256)
                buf[bt++] = sym;
            else if (sym == 256) {
                lpos = pos, lm = null;
                break;
            }
            else {
                var add = sym - 254;
                // no extra bits needed if less
                if (sym > 264) {
                    // index
                    var i = sym - 257, b = fleb[i];
                    add = bits(dat, pos, (1 << b) - 1) + fl[i];
                    pos += b;
                }
                // dist
                var d = dm[bits16(dat, pos) & dms], dsym = d >> 4;
                if (!d)
                    err(3);
                pos += d & 15;
                var dt = fd[dsym];
                if (dsym > 3) {
                    var b = fdeb[dsym];
                    dt += bits16(dat, pos) & (1 << b) - 1, pos += b;
                }
                if (pos > tbts) {
                    if (noSt)
                        err(0);
                    break;
                }
                if (resize)
                    cbuf(bt + 131072);
                var end = bt + add;
                if (bt < dt) {
                    var shift = dl - dt, dend = Math.min(dt, end);
                    if (shift + bt < 0)
                        err(3);
                    for (; bt < dend; ++bt)
                        buf[bt] = dict[shift + bt];
                }
                for (; bt < end; ++bt)
                    buf[bt] = buf[bt - dt];
            }
        }
        st.l = lm, st.p = lpos, st.b = bt, st.f = final;
        if (lm)
            final = 1, st.m = lbt, st.d = dm, st.n = dbt;
    } while (!final);
    // don't reallocate for streams or user buffers
    return bt != buf.length && noBuf ? slc(buf, 0, bt) : buf.subarray(0, bt);
};
// empty
var et = /*#__PURE__*/ new u8(0);
// read 2 bytes
var b2 = function (d, b) { return d[b] | (d[b + 1] << 8); };
// read 4 bytes
var b4 = function (d, b) { return (d[b] | (d[b + 1] << 8) | (d[b + 2] << 16) | (d[b + 3] << 24)) >>> 0; };
// read 8 bytes
var b8 = function (d, b) { return b4(d, b) + (b4(d, b + 4) * 4294967296); };
function inflateSync(data, opts) {
    return inflt(data, { i: 2 }, opts && opts.out, opts && opts.dictionary);
}
// text decoder
var td = typeof TextDecoder != 'undefined' && /*#__PURE__*/ new TextDecoder();
// text decoder stream
var tds = 0;
try {
    td.decode(et, { stream: true });
    tds = 1;
}
catch (e) { }
// decode UTF8
var dutf8 = function (d) {
    for (var r = '', i = 0;;) {
        var c = d[i++];
        var eb = (c > 127) + (c > 223) + (c > 239);
        if (i + eb > d.length)
            return { s: r, r: slc(d, i - 1) };
        if (!eb)
            r += String.fromCharCode(c);
        else if (eb == 3) {
            c = ((c & 15) << 18 | (d[i++] & 63) << 12 | (d[i++] & 63) << 6 | (d[i++] & 63)) - 65536,
                r += String.fromCharCode(55296 | (c >> 10), 56320 | (c & 1023));
        }
        else if (eb & 1)
            r += String.fromCharCode((c & 31) << 6 | (d[i++] & 63));
        else
            r += String.fromCharCode((c & 15) << 12 | (d[i++] & 63) << 6 | (d[i++] & 63));
    }
};
/**
 * Converts a Uint8Array to a string
 * @param dat The data to decode to string
 * @param latin1 Whether or not to interpret the data as Latin-1. This should
 *               not need to be true unless encoding to binary string.
 * @returns The original UTF-8/Latin-1 string
 */
function strFromU8(dat, latin1) {
    if (latin1) {
        var r = '';
        for (var i = 0; i < dat.length; i += 16384)
            r += String.fromCharCode.apply(null, dat.subarray(i, i + 16384));
        return r;
    }
    else if (td) {
        return td.decode(dat);
    }
    else {
        var _a = dutf8(dat), s = _a.s, r = _a.r;
        if (r.length)
            err(8);
        return s;
    }
}
// skip local zip header
var slzh = function (d, b) { return b + 30 + b2(d, b + 26) + b2(d, b + 28); };
// read zip header
var zh = function (d, b, z) {
    var fnl = b2(d, b + 28), efl = b2(d, b + 30), fn = strFromU8(d.subarray(b + 46, b + 46 + fnl), !(b2(d, b + 8) & 2048)), es = b + 46 + fnl;
    var _a = z64hs(d, es, efl, z, b4(d, b + 20), b4(d, b + 24), b4(d, b + 42)), sc = _a[0], su = _a[1], off = _a[2];
    return [b2(d, b + 10), sc, su, fn, es + efl + b2(d, b + 32), off];
};
// read zip64 header sizes
var z64hs = function (d, b, l, z, sc, su, off) {
    var nsc = sc == 4294967295, nsu = su == 4294967295, noff = off == 4294967295, e = b + l;
    var nf = nsc + nsu + noff;
    if (z && nf) {
        for (; b + 4 < e; b += 4 + b2(d, b + 2)) {
            if (b2(d, b) == 1) {
                return [
                    nsc ? b8(d, b + 4 + 8 * nsu) : sc,
                    nsu ? b8(d, b + 4) : su,
                    noff ? b8(d, b + 4 + 8 * (nsu + nsc)) : off,
                    1
                ];
            }
        }
        // z == 2 for unknown whether or not zip64
        if (z < 2)
            err(13);
    }
    return [sc, su, off, 0];
};
/**
 * Synchronously decompresses a ZIP archive. Prefer using `unzip` for better
 * performance with more than one file.
 * @param data The raw compressed ZIP file
 * @param opts The ZIP extraction options
 * @returns The decompressed files
 */
function unzipSync(data, opts) {
    var files = {};
    var e = data.length - 22;
    for (; b4(data, e) != 0x6054B50; --e) {
        if (!e || data.length - e > 65558)
            err(13);
    }
    var c = b2(data, e + 8);
    if (!c)
        return {};
    var o = b4(data, e + 16);
    var z = b4(data, e - 20) == 0x7064B50;
    if (z) {
        var ze = b4(data, e - 12);
        z = b4(data, ze) == 0x6064B50;
        if (z) {
            c = b4(data, ze + 32);
            o = b4(data, ze + 48);
        }
    }
    for (var i = 0; i < c; ++i) {
        var _a = zh(data, o, z), c_2 = _a[0], sc = _a[1], su = _a[2], fn = _a[3], no = _a[4], off = _a[5], b = slzh(data, off);
        o = no;
        {
            if (!c_2)
                files[fn] = slc(data, b, b + sc);
            else if (c_2 == 8)
                files[fn] = inflateSync(data.subarray(b, b + sc), { out: new u8(su) });
            else
                err(14, 'unknown compression type ' + c_2);
        }
    }
    return files;
}

// The `github-workflow` backend: dispatches a workflow (in this repository or another one), follows
// its run and reads the metrics from an artifact of that run.
/** workflow_dispatch accepts at most this many inputs. */
const MAX_INPUTS = 25;
/** The inputs ml-promote itself sends; they win over spec.inputs of the same name. */
const OWN_INPUTS = ['environment', 'model', 'sha', 'run_id', 'correlation_id'];
const DEFAULT_LOOKUP_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];
/** Dispatches tried when the answer is lost and the run cannot be found either. */
const DISPATCH_ATTEMPTS = 3;
/** GitHub's clock and ours may disagree; the created-at filter allows for it. */
const CLOCK_SKEW_MS = 60_000;
class GithubWorkflowBackend {
    spec;
    deps;
    name = 'github-workflow';
    target;
    sameRepo;
    clock;
    lookupDelaysMs;
    constructor(spec, deps) {
        this.spec = spec;
        this.deps = deps;
        const [owner, repo] = spec.repository?.split('/') ?? [deps.repo.owner, deps.repo.repo];
        this.target = { owner: owner, repo: repo };
        this.sameRepo =
            this.target.owner.toLowerCase() === deps.repo.owner.toLowerCase() &&
                this.target.repo.toLowerCase() === deps.repo.repo.toLowerCase();
        this.clock = deps.clock ?? systemClock;
        this.lookupDelaysMs = deps.lookupDelaysMs ?? DEFAULT_LOOKUP_DELAYS_MS;
    }
    async start(ctx) {
        const inputs = this.inputs(ctx);
        const ref = this.spec.ref ?? (this.sameRepo ? ctx.ref : undefined);
        if (!ref) {
            throw new TrainingError(`train.ref is required for workflow ${this.spec.workflow} of ${this.repoName()}: the commit being trained belongs to another repository`);
        }
        const correlationId = ctx.idempotencyKey;
        // A re-run of our own workflow must attach to the run an earlier attempt dispatched.
        const existing = await this.findRun(correlationId, undefined, ctx, true);
        if (existing) {
            ctx.log.info(`Workflow run ${existing.html_url} was already dispatched for this commit: attaching to it`);
            return this.remoteRun(existing, true);
        }
        for (let attempt = 1;; attempt++) {
            const dispatchedAt = Date.now();
            let answer;
            try {
                // Octokit must not resend it blindly: a dispatch whose answer was lost (a 500, a reset)
                // may still have started a run, which is looked for below before dispatching again.
                answer = await this.call('POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches', { workflow_id: this.spec.workflow, ref, inputs, return_run_details: true }, ctx, false);
            }
            catch (e) {
                if (!isTransient(e)) {
                    throw this.explain(e, `Could not dispatch workflow ${this.spec.workflow}`, undefined, true);
                }
                // 429 and 503 say the request was refused before anything happened.
                const refused = e instanceof HttpError && (e.status === 429 || e.status === 503);
                const found = refused ? undefined : await this.lookUp(correlationId, dispatchedAt, ctx);
                if (found)
                    return this.remoteRun(found, false);
                if (attempt >= DISPATCH_ATTEMPTS)
                    throw e;
                ctx.log.warning(`Dispatch of workflow ${this.spec.workflow} failed, trying again: ${errorMessage(e)}`);
                await this.clock.sleep(retryAfter(e) ?? this.lookupDelaysMs[0] ?? 0, ctx.signal);
                continue;
            }
            const details = answer.data;
            if (answer.status === 200 && typeof details?.workflow_run_id === 'number') {
                const run = {
                    backend: this.name,
                    id: String(details.workflow_run_id),
                    url: details.html_url,
                    attached: false,
                    data: this.runData()
                };
                ctx.log.info(`Dispatched workflow ${this.spec.workflow}: ${run.url ?? run.id}`);
                return run;
            }
            // GitHub Enterprise Server answers 204 without the run: find it by its run-name.
            const found = await this.lookUp(correlationId, dispatchedAt, ctx);
            if (found) {
                ctx.log.info(`Dispatched workflow ${this.spec.workflow}: ${found.html_url}`);
                return this.remoteRun(found, false);
            }
            throw new TrainingError(`Dispatched workflow ${this.spec.workflow} of ${this.repoName()} but found no run named after correlation id ${correlationId}: the workflow needs \`run-name: ml-promote \${{ inputs.correlation_id }}\` (see docs/called-workflow.md)`);
        }
    }
    async status(run, ctx) {
        try {
            // No retry here: the wait loop retries transient failures and honours Retry-After itself.
            const { data } = await this.call('GET /repos/{owner}/{repo}/actions/runs/{run_id}', { run_id: Number(run.id) }, ctx, false, this.runTarget(run));
            return mapStatus(data);
        }
        catch (e) {
            throw this.explain(e, `Could not read workflow run ${run.id}`, run);
        }
    }
    async cancel(run, ctx) {
        try {
            await this.call('POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel', { run_id: Number(run.id) }, ctx, true, this.runTarget(run));
            ctx.log.info(`Asked GitHub to cancel workflow run ${run.url ?? run.id}`);
        }
        catch (e) {
            // 409: the run has already completed, which is what cancelling wanted.
            if (e instanceof HttpError && e.status === 409)
                return;
            throw this.explain(e, `Could not cancel workflow run ${run.id}`, run);
        }
    }
    async metrics(run, ctx) {
        const target = this.runTarget(run);
        const { artifact: artifactName, metrics: file } = this.spec;
        let listed;
        try {
            const { data } = await this.read('GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts', { run_id: Number(run.id), name: artifactName, per_page: 100 }, ctx, target);
            listed = data;
        }
        catch (e) {
            throw this.explain(e, `Could not list the artifacts of workflow run ${run.id}`, run);
        }
        const artifact = listed.artifacts.find((a) => a.name === artifactName);
        if (!artifact) {
            throw new TrainingError(`Workflow run ${run.url ?? run.id} uploaded no artifact "${artifactName}": upload ${file} with actions/upload-artifact (see docs/called-workflow.md)`, run);
        }
        if (artifact.expired) {
            throw new TrainingError(`Artifact "${artifactName}" of workflow run ${run.url ?? run.id} has expired`, run);
        }
        let zip;
        try {
            // GitHub answers 302 to a short-lived storage URL; fetch follows it.
            const { data } = await this.read('GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}', { artifact_id: artifact.id, archive_format: 'zip' }, ctx, target);
            zip = data;
        }
        catch (e) {
            throw this.explain(e, `Could not download artifact "${artifactName}" of workflow run ${run.id}`, run);
        }
        let files;
        try {
            files = unzipSync(new Uint8Array(zip));
        }
        catch (e) {
            throw new TrainingError(`Artifact "${artifactName}" of workflow run ${run.id} is not a readable zip`, run, errorMessage(e));
        }
        const wanted = file.replace(/^\.?\/+/, '');
        const content = files[wanted];
        const where = `${wanted} in artifact "${artifactName}" of workflow run ${run.url ?? run.id}`;
        if (!content) {
            const names = Object.keys(files).filter((n) => !n.endsWith('/'));
            throw new TrainingError(`No ${where}; the artifact holds ${names.length ? names.map((n) => JSON.stringify(n)).join(', ') : 'no files'}`, run);
        }
        const text = new TextDecoder().decode(content).replace(/^\uFEFF/, '');
        let value;
        try {
            value = JSON.parse(text);
        }
        catch (e) {
            throw new TrainingError(`${where} is not valid JSON: ${errorMessage(e)}`, run, text.slice(0, 300));
        }
        return parseMetrics(value, where, run);
    }
    inputs(ctx) {
        const own = {
            environment: ctx.environment,
            model: ctx.model,
            sha: ctx.sha,
            run_id: ctx.runId,
            correlation_id: ctx.idempotencyKey
        };
        const inputs = { ...this.spec.inputs, ...own };
        const count = Object.keys(inputs).length;
        if (count > MAX_INPUTS) {
            throw new TrainingError(`Workflow ${this.spec.workflow} would get ${count} inputs, more than the ${MAX_INPUTS} workflow_dispatch accepts: train.inputs may name at most ${MAX_INPUTS - OWN_INPUTS.length} besides ${OWN_INPUTS.join(', ')}`);
        }
        return inputs;
    }
    /** Looks for the dispatched run a few times: it takes a moment to show up in the list. */
    async lookUp(correlationId, dispatchedAt, ctx) {
        const since = dispatchedAt - CLOCK_SKEW_MS;
        for (let i = 0;; i++) {
            try {
                const run = await this.findRun(correlationId, since, ctx);
                if (run)
                    return run;
            }
            catch (e) {
                if (!isTransient(e))
                    throw e;
                ctx.log.debug(`Looking up the dispatched run failed: ${errorMessage(e)}`);
            }
            const delay = this.lookupDelaysMs[i];
            if (delay === undefined)
                return undefined;
            await this.clock.sleep(delay, ctx.signal);
        }
    }
    async findRun(correlationId, createdSince, ctx, persist = false) {
        let data;
        try {
            // The created-at bound is applied here rather than with the `created` query parameter, whose
            // range syntax (">=…") GitHub documents in prose but its API description types as a bare
            // date-time.
            const params = { workflow_id: this.spec.workflow, event: 'workflow_dispatch', per_page: 100 };
            const route = 'GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs';
            const answer = persist
                ? await this.read(route, params, ctx)
                : await this.call(route, params, ctx, true);
            data = answer.data;
        }
        catch (e) {
            throw this.explain(e, `Could not list the runs of workflow ${this.spec.workflow}`);
        }
        // The run-name carries the correlation id; `display_title` is where GitHub shows it, `name`
        // where older servers do.
        return data.workflow_runs.find((r) => (r.display_title?.includes(correlationId) || r.name?.includes(correlationId)) &&
            (createdSince === undefined || !r.created_at || Date.parse(r.created_at) >= createdSince));
    }
    remoteRun(run, attached) {
        return {
            backend: this.name,
            id: String(run.id),
            url: run.html_url,
            attached,
            data: this.runData()
        };
    }
    runData() {
        return { ...this.target, workflow: this.spec.workflow };
    }
    runTarget(run) {
        const d = run.data;
        if (typeof d?.owner === 'string' && typeof d.repo === 'string')
            return { owner: d.owner, repo: d.repo };
        return this.target;
    }
    repoName() {
        return `${this.target.owner}/${this.target.repo}`;
    }
    /**
     * One GitHub request, with Octokit's failures turned into HttpError so that the wait loop and
     * the retry decisions here see the same transient/permanent split as for the other backends.
     * `retry: false` switches Octokit's own retries off for requests that must not be resent or
     * whose caller retries itself.
     */
    async call(route, params, ctx, retry, target = this.target) {
        try {
            const answer = await this.deps.octokit.request(route, {
                ...target,
                ...params,
                request: { signal: ctx.signal, ...(retry ? {} : { retries: 0 }) }
            });
            return { status: answer.status, data: answer.data };
        }
        catch (e) {
            if (ctx.signal.aborted)
                throw ctx.signal.reason;
            throw toHttpError(e, route);
        }
    }
    /**
     * A read, tried again on transient failures that Octokit does not retry itself (429 without a
     * rate-limit header, or its own retries used up).
     */
    async read(route, params, ctx, target = this.target) {
        for (let i = 0;; i++) {
            try {
                return await this.call(route, params, ctx, true, target);
            }
            catch (e) {
                const delay = this.lookupDelaysMs[i];
                if (!isTransient(e) || delay === undefined)
                    throw e;
                ctx.log.debug(`${route} failed, trying again: ${errorMessage(e)}`);
                await this.clock.sleep(Math.max(delay, retryAfter(e) ?? 0), ctx.signal);
            }
        }
    }
    explain(e, what, run, dispatch = false) {
        if (!(e instanceof HttpError) || isTransient(e))
            return e;
        if (e.status === 401) {
            return new TrainingError(`${what}: GitHub rejected the token (401); it may have expired`, run, e.message);
        }
        if (e.status === 403) {
            return new TrainingError(`${what}: the token may not run workflows in ${this.repoName()} (403); it needs actions: write`, run, e.message);
        }
        if (e.status === 404) {
            return new TrainingError(`${what}: ${this.repoName()} has no workflow "${this.spec.workflow}", or the token cannot see it (404)`, run, e.message);
        }
        if (e.status === 422 && dispatch) {
            return new TrainingError(`${what}: GitHub rejected the dispatch (422); the workflow must have \`on: workflow_dispatch\` with the inputs ${OWN_INPUTS.join(', ')} (see docs/called-workflow.md) and the ref must be a branch or tag`, run, e.message);
        }
        return new TrainingError(`${what}: ${e.message}`, run, e.message);
    }
}
function mapStatus(run) {
    const where = `Workflow run ${run.html_url}`;
    if (run.status !== 'completed') {
        return run.status === 'in_progress'
            ? { state: 'running' }
            : { state: 'queued', message: run.status ?? undefined };
    }
    switch (run.conclusion) {
        case 'success':
            return { state: 'succeeded' };
        case 'cancelled':
            return { state: 'cancelled', message: `${where} was cancelled` };
        case 'timed_out':
            return { state: 'timed_out', message: `${where} timed out` };
        default:
            return {
                state: 'failed',
                message: `${where} concluded ${run.conclusion ?? 'without a conclusion'}`
            };
    }
}
function toHttpError(e, route) {
    const status = e?.status;
    if (typeof status !== 'number')
        return e;
    const response = e.response;
    const url = e.request?.url ?? route;
    // Octokit reports a failure to get any answer (reset, refused, timed out) as a 500 without a
    // response.
    if (!response)
        return new HttpError(`${route} failed: ${errorMessage(e)}`, 0, url, undefined);
    const header = response.headers?.['retry-after'];
    const retryAfterMs = header && /^\d+$/.test(header.trim()) ? Number(header) * 1000 : undefined;
    return new HttpError(`${route} returned ${status}: ${errorMessage(e)}`, status, url, response.data, retryAfterMs);
}
function retryAfter(e) {
    return e instanceof HttpError ? e.retryAfterMs : undefined;
}
function errorMessage(e) {
    return e instanceof Error ? e.message : String(e);
}

export { GithubWorkflowBackend, MAX_INPUTS, OWN_INPUTS, mapStatus };
//# sourceMappingURL=github-workflow.js.map
