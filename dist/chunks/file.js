import { createHash, randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';
import path from 'node:path';

// The `file` champion store: champions and the promotion history in one JSON file, for local runs.
const STATE_FILE = 'state.json';
const STATE_VERSION = 1;
// Writers on the same directory are serialised per process, whichever instance they use.
const queues = new Map();
class FileChampionStore {
    name = 'file';
    /** Absolute path of the state file. */
    file;
    dir;
    now;
    fs;
    constructor(dir, options = {}) {
        this.dir = path.resolve(dir);
        this.file = path.join(this.dir, STATE_FILE);
        this.now = options.now ?? (() => new Date());
        this.fs = options.fs ?? nodeFs;
    }
    champion(model, environment) {
        return this.serialised(async () => (await this.read()).champions[model]?.[environment]);
    }
    promote(candidate, gate) {
        if (gate.verdict !== 'pass') {
            return Promise.reject(new Error(`refusing to promote ${candidate.model} in ${candidate.environment}: its gate verdict is ${gate.verdict}`));
        }
        return this.serialised(async () => {
            const state = await this.read();
            const at = this.now().toISOString();
            const champion = {
                model: candidate.model,
                environment: candidate.environment,
                metrics: { ...candidate.metrics },
                sha: candidate.sha,
                ref: candidate.ref,
                runId: candidate.runId,
                ...(candidate.runUrl === undefined ? {} : { runUrl: candidate.runUrl }),
                promotedAt: at
            };
            const byEnvironment = (state.champions[candidate.model] ??= {});
            byEnvironment[candidate.environment] = champion;
            state.history.push({ candidate, gate, at, outcome: 'promoted' });
            await this.write(state);
            return champion;
        });
    }
    reject(candidate, gate) {
        return this.serialised(async () => {
            const state = await this.read();
            state.history.push({ candidate, gate, at: this.now().toISOString(), outcome: 'rejected' });
            await this.write(state);
        });
    }
    history(model, environment) {
        return this.serialised(async () => (await this.read()).history
            .filter((p) => p.candidate.model === model && p.candidate.environment === environment)
            .reverse());
    }
    addPending(p) {
        return this.serialised(async () => {
            const state = await this.read();
            const id = createHash('sha256')
                .update([p.model, p.environment, p.run.backend, p.run.id].join('\0'))
                .digest('hex')
                .slice(0, 16);
            const record = { id, ...p };
            // A re-run that attached to the same remote run replaces its record instead of adding one.
            state.pending = [...(state.pending ?? []).filter((x) => x.id !== id), record];
            await this.write(state);
            return record;
        });
    }
    pending(model, environment) {
        return this.serialised(async () => ((await this.read()).pending ?? []).filter((p) => p.model === model && p.environment === environment));
    }
    resolvePending(p) {
        return this.serialised(async () => {
            const state = await this.read();
            state.pending = (state.pending ?? []).filter((x) => x.id !== p.id);
            await this.write(state);
        });
    }
    serialised(fn) {
        const previous = queues.get(this.dir) ?? Promise.resolve();
        const result = previous.then(fn);
        const settled = result.catch(() => undefined);
        queues.set(this.dir, settled);
        // Drop the entry once idle so the map does not grow with every directory ever used.
        void settled.then(() => {
            if (queues.get(this.dir) === settled)
                queues.delete(this.dir);
        });
        return result;
    }
    async read() {
        let text;
        try {
            text = await this.fs.readFile(this.file, 'utf8');
        }
        catch (err) {
            if (err.code === 'ENOENT') {
                return { version: STATE_VERSION, champions: {}, history: [] };
            }
            throw new Error(`champion store ${this.file} could not be read: ${messageOf(err)}`);
        }
        // A damaged file is reported rather than replaced: resetting would silently forget every champion.
        const corrupt = (why) => new Error(`champion store ${this.file} is corrupt (${why}); repair or remove it`);
        let value;
        try {
            value = JSON.parse(text);
        }
        catch (err) {
            throw corrupt(`not valid JSON: ${messageOf(err)}`);
        }
        if (!isObject(value))
            throw corrupt('not a JSON object');
        if (value.version !== STATE_VERSION) {
            throw new Error(`champion store ${this.file} has version ${JSON.stringify(value.version)}; this ml-promote reads version ${STATE_VERSION}`);
        }
        const { champions, history } = value;
        if (!isObject(champions) || !Object.values(champions).every(isObject)) {
            throw corrupt('"champions" must map each model to an object of environments');
        }
        if (!Array.isArray(history) || !history.every((p) => isObject(p) && isObject(p.candidate))) {
            throw corrupt('"history" must be an array of promotions');
        }
        return value;
    }
    /**
     * Replaces the state file atomically: the new content goes to a temporary file in the same
     * directory, is flushed to disk, then renamed over the old one. A crash at any point leaves
     * either the old or the new file, never a partial one.
     */
    async write(state) {
        await this.fs.mkdir(this.dir, { recursive: true });
        const tmp = `${this.file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
        try {
            const handle = await this.fs.open(tmp, 'wx');
            try {
                await handle.writeFile(`${JSON.stringify(state, null, 2)}\n`, 'utf8');
                await handle.sync();
            }
            finally {
                await handle.close();
            }
            await this.fs.rename(tmp, this.file);
        }
        catch (err) {
            await this.fs.rm(tmp, { force: true }).catch(() => undefined);
            throw new Error(`champion store ${this.file} could not be written: ${messageOf(err)}`);
        }
        await this.syncDir();
    }
    /** Makes the rename itself durable; some platforms cannot fsync a directory, which is harmless. */
    async syncDir() {
        let handle;
        try {
            handle = await this.fs.open(this.dir, 'r');
            await handle.sync();
        }
        catch {
            // directory fsync is unsupported here (e.g. Windows)
        }
        finally {
            await handle?.close().catch(() => undefined);
        }
    }
}
function isObject(value) {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}
function messageOf(err) {
    return err instanceof Error ? err.message : String(err);
}

export { FileChampionStore };
//# sourceMappingURL=file.js.map
