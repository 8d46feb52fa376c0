// The `file` champion store: champions and the promotion history in one JSON file, for local runs.
import { createHash, randomBytes } from 'node:crypto'
import * as nodeFs from 'node:fs/promises'
import path from 'node:path'
import {
  CLAIM_TTL_MS,
  championFrom,
  type Candidate,
  type Champion,
  type ChampionStore,
  type GateResult,
  type PendingTraining,
  type Promotion,
  type RollbackRequest
} from '../types.js'
import { restoredRecord, rollbackCandidate } from './rollback.js'

const STATE_FILE = 'state.json'
const STATE_VERSION = 1

interface State {
  version: typeof STATE_VERSION
  /** model → environment → champion. */
  champions: Record<string, Record<string, Champion>>
  /** Oldest first, as appended. */
  history: Promotion[]
  /** Trainings started without waiting, not yet concluded; absent in files written before them. */
  pending?: PendingTraining[]
}

/** The file-system calls the store makes; a seam so tests can fail one of them mid-write. */
export interface StoreFs {
  readFile(file: string, encoding: 'utf8'): Promise<string>
  mkdir(dir: string, options: { recursive: true }): Promise<unknown>
  open(file: string, flags: string): Promise<nodeFs.FileHandle>
  rename(from: string, to: string): Promise<void>
  rm(file: string, options: { force: true }): Promise<void>
}

export interface FileChampionStoreOptions {
  now?: () => Date
  fs?: StoreFs
}

// Writers on the same directory are serialised per process, whichever instance they use.
const queues = new Map<string, Promise<unknown>>()

export class FileChampionStore implements ChampionStore {
  readonly name = 'file'
  /** Absolute path of the state file. */
  readonly file: string
  private readonly dir: string
  private readonly now: () => Date
  private readonly fs: StoreFs

  constructor(dir: string, options: FileChampionStoreOptions = {}) {
    this.dir = path.resolve(dir)
    this.file = path.join(this.dir, STATE_FILE)
    this.now = options.now ?? (() => new Date())
    this.fs = options.fs ?? nodeFs
  }

  champion(model: string, environment: string): Promise<Champion | undefined> {
    return this.serialised(async () => (await this.read()).champions[model]?.[environment])
  }

  promote(candidate: Candidate, gate: GateResult): Promise<Champion> {
    if (gate.verdict !== 'pass') {
      return Promise.reject(
        new Error(
          `refusing to promote ${candidate.model} in ${candidate.environment}: its gate verdict is ${gate.verdict}`
        )
      )
    }
    return this.serialised(async () => {
      const state = await this.read()
      const at = this.now().toISOString()
      const champion = championFrom(candidate, at)
      const byEnvironment = (state.champions[candidate.model] ??= {})
      byEnvironment[candidate.environment] = champion
      state.history.push({ candidate, gate, at, outcome: 'promoted' })
      await this.write(state)
      return champion
    })
  }

  reject(candidate: Candidate, gate: GateResult): Promise<void> {
    return this.serialised(async () => {
      const state = await this.read()
      state.history.push({ candidate, gate, at: this.now().toISOString(), outcome: 'rejected' })
      await this.write(state)
    })
  }

  history(model: string, environment: string): Promise<Promotion[]> {
    return this.serialised(async () =>
      (await this.read()).history
        .filter((p) => p.candidate.model === model && p.candidate.environment === environment)
        .reverse()
    )
  }

  rollback(request: RollbackRequest): Promise<{ restored: Champion; replaced?: Champion }> {
    return this.serialised(async () => {
      const state = await this.read()
      const { model, environment } = request
      const replaced = state.champions[model]?.[environment]
      const records = state.history
        .filter((p) => p.candidate.model === model && p.candidate.environment === environment)
        .reverse()
      const from = restoredRecord(request, replaced, records)
      const candidate = rollbackCandidate(from.candidate, request, replaced!)
      const at = this.now().toISOString()
      const restored = championFrom(candidate, at)
      state.champions[model]![environment] = restored
      state.history.push({ candidate, gate: from.gate, at, outcome: 'rolled_back' })
      await this.write(state)
      return { restored, replaced }
    })
  }

  addPending(p: Omit<PendingTraining, 'id'>): Promise<PendingTraining> {
    return this.serialised(async () => {
      const state = await this.read()
      const id = createHash('sha256')
        .update([p.model, p.environment, p.run.backend, p.run.id].join('\0'))
        .digest('hex')
        .slice(0, 16)
      const record: PendingTraining = { id, ...p }
      // A re-run that attached to the same remote run replaces its record instead of adding one.
      state.pending = [...(state.pending ?? []).filter((x) => x.id !== id), record]
      await this.write(state)
      return record
    })
  }

  pending(): Promise<PendingTraining[]> {
    return this.serialised(async () => (await this.read()).pending ?? [])
  }

  /**
   * A claim is a file `claims/<id>` created exclusively, so two processes on one folder cannot
   * both hold it; one left by a killed process is taken over once older than CLAIM_TTL_MS.
   */
  async claimPending(p: PendingTraining): Promise<boolean> {
    const still = (await this.pending()).some((x) => x.id === p.id)
    if (!still) return false
    const dir = path.join(this.dir, 'claims')
    const file = path.join(dir, p.id)
    await this.fs.mkdir(dir, { recursive: true })
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await this.fs.open(file, 'wx')
        await handle.writeFile(`${process.pid} ${this.now().toISOString()}\n`, 'utf8')
        await handle.close()
        return true
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
        const age = await nodeFs
          .stat(file)
          .then((st) => Date.now() - st.mtimeMs)
          .catch(() => Infinity)
        if (age < CLAIM_TTL_MS) return false
        await this.fs.rm(file, { force: true })
      }
    }
    return false
  }

  resolvePending(p: PendingTraining): Promise<void> {
    return this.serialised(async () => {
      const state = await this.read()
      state.pending = (state.pending ?? []).filter((x) => x.id !== p.id)
      await this.write(state)
      await this.fs.rm(path.join(this.dir, 'claims', p.id), { force: true })
    })
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const previous = queues.get(this.dir) ?? Promise.resolve()
    const result = previous.then(fn)
    const settled = result.catch(() => undefined)
    queues.set(this.dir, settled)
    // Drop the entry once idle so the map does not grow with every directory ever used.
    void settled.then(() => {
      if (queues.get(this.dir) === settled) queues.delete(this.dir)
    })
    return result
  }

  private async read(): Promise<State> {
    let text: string
    try {
      text = await this.fs.readFile(this.file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return { version: STATE_VERSION, champions: {}, history: [] }
      }
      throw new Error(`champion store ${this.file} could not be read: ${messageOf(err)}`)
    }
    // A damaged file is reported rather than replaced: resetting would silently forget every champion.
    const corrupt = (why: string): Error =>
      new Error(`champion store ${this.file} is corrupt (${why}); repair or remove it`)
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (err) {
      throw corrupt(`not valid JSON: ${messageOf(err)}`)
    }
    if (!isObject(value)) throw corrupt('not a JSON object')
    if (value.version !== STATE_VERSION) {
      throw new Error(
        `champion store ${this.file} has version ${JSON.stringify(value.version)}; this ml-promote reads version ${STATE_VERSION}`
      )
    }
    const { champions, history } = value
    if (!isObject(champions) || !Object.values(champions).every(isObject)) {
      throw corrupt('"champions" must map each model to an object of environments')
    }
    if (!Array.isArray(history) || !history.every((p) => isObject(p) && isObject(p.candidate))) {
      throw corrupt('"history" must be an array of promotions')
    }
    return value as unknown as State
  }

  /**
   * Replaces the state file atomically: the new content goes to a temporary file in the same
   * directory, is flushed to disk, then renamed over the old one. A crash at any point leaves
   * either the old or the new file, never a partial one.
   */
  private async write(state: State): Promise<void> {
    await this.fs.mkdir(this.dir, { recursive: true })
    const tmp = `${this.file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
    try {
      const handle = await this.fs.open(tmp, 'wx')
      try {
        await handle.writeFile(`${JSON.stringify(state, null, 2)}\n`, 'utf8')
        await handle.sync()
      } finally {
        await handle.close()
      }
      await this.fs.rename(tmp, this.file)
    } catch (err) {
      await this.fs.rm(tmp, { force: true }).catch(() => undefined)
      throw new Error(`champion store ${this.file} could not be written: ${messageOf(err)}`)
    }
    await this.syncDir()
  }

  /** Makes the rename itself durable; some platforms cannot fsync a directory, which is harmless. */
  private async syncDir(): Promise<void> {
    let handle: nodeFs.FileHandle | undefined
    try {
      handle = await this.fs.open(this.dir, 'r')
      await handle.sync()
    } catch {
      // directory fsync is unsupported here (e.g. Windows)
    } finally {
      await handle?.close().catch(() => undefined)
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
