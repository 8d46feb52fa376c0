// promote: model end to end on the document classifier: the artifact is trained once, in staging,
// and production evaluates and promotes that same artifact. Through the bundled CLI with the file
// store, and through the bundled action with GitHub deployments as champions.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { FakeGitHub } from '../test/fakes/github-server.js'
import {
  commitAll,
  git,
  pushPayload,
  root,
  runAction,
  runCli,
  type ActionRun
} from '../test/e2e/harness.js'
import type { Champion, ModelResult } from '../src/types.js'

const MODEL = 'doc-classifier'
const WORSE = { epochs: 1, max_features: 20, bigrams: false }
const SERVING_ONLY = /^serving-only change/
const ALREADY_PROMOTED = /^the production champion already is the artifact staging trained/

const scratch: string[] = []
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true })
})

/**
 * The example in a scratch Git repository: `release` at its first commit, `main` one training
 * change ahead (ten epochs instead of eight), not yet trained anywhere.
 */
function classifierRepo(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ml-promote-deploy-models-'))
  scratch.push(dir)
  cpSync(path.join(root, 'examples', 'document-classifier'), dir, {
    recursive: true,
    filter: (src) => !/[\\/](out|artifacts|\.ml-promote|__pycache__)([\\/]|$)/.test(src)
  })
  git(dir, 'init', '-q', '-b', 'main')
  git(dir, 'config', 'user.name', 'Test')
  git(dir, 'config', 'user.email', 'test@example.com')
  // The file champion store is local state, never committed with the code.
  writeFileSync(path.join(dir, '.git', 'info', 'exclude'), '.ml-promote/\n')
  commitAll(dir, 'Document classifier')
  git(dir, 'branch', 'release')
  editParams(dir, { epochs: 10 })
  commitAll(dir, 'Train for ten epochs')
  return dir
}

/** Merges `from` into `into` as a pull request would; returns the merge commit. */
function merge(dir: string, from: string, into: string): string {
  git(dir, 'checkout', '-q', into)
  git(dir, 'merge', '-q', '--no-ff', '-m', `Merge ${from}`, from)
  return git(dir, 'rev-parse', 'HEAD')
}

/** A commit on a new branch off `main`. */
function change(dir: string, branch: string, edit: (dir: string) => void): string {
  git(dir, 'checkout', '-q', 'main')
  git(dir, 'checkout', '-q', '-b', branch)
  edit(dir)
  return commitAll(dir, branch)
}

function editParams(dir: string, changes: Record<string, unknown>): void {
  const file = path.join(dir, 'models/docs/params.json')
  const params = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  writeFileSync(file, JSON.stringify({ ...params, ...changes }, null, 2) + '\n')
}

const biggerBatches = (dir: string) => {
  const file = path.join(dir, 'serving/predict.py')
  writeFileSync(file, readFileSync(file, 'utf8').replace('MAX_TEXTS = 256', 'MAX_TEXTS = 512'))
}

/** `ml-promote run --json` in `dir`: its exit status and its one result. */
async function run(
  dir: string,
  ...args: string[]
): Promise<{ status: number | null; result: ModelResult }> {
  const res = await runCli(['run', '--json', '--quiet', ...args], { cwd: dir })
  expect(res.stderr).toBe('')
  const results = JSON.parse(res.stdout) as ModelResult[]
  expect(results).toHaveLength(1)
  return { status: res.status, result: results[0]! }
}

const pushTo = (dir: string, branch: string, ...args: string[]) =>
  run(dir, '--event', 'push', '--branch', branch, ...args)

/** The file store's champion of each environment. */
function champions(dir: string): Record<string, Champion> {
  const state = JSON.parse(readFileSync(path.join(dir, '.ml-promote', 'state.json'), 'utf8'))
  return state.champions[MODEL] ?? {}
}

function artifacts(dir: string): string[] {
  const store = path.join(dir, 'artifacts', MODEL)
  return existsSync(store) ? readdirSync(store).sort() : []
}

const metricsWritten = (dir: string) => statSync(path.join(dir, 'out/docs/metrics.json')).mtimeMs

/** A good champion in both environments: trained on main, evaluated and promoted on release. */
async function promotedEverywhere(dir: string): Promise<Record<string, Champion>> {
  expect((await pushTo(dir, 'main')).result.promoted).toBe(true)
  merge(dir, 'main', 'release')
  expect((await pushTo(dir, 'release')).result.promoted).toBe(true)
  return champions(dir)
}

describe('CLI: a push to main trains the artifact once; a push to release evaluates and promotes it', () => {
  let dir: string
  let staging: ModelResult
  let production: ModelResult
  let stagingSha: string

  beforeAll(async () => {
    dir = classifierRepo()
    stagingSha = git(dir, 'rev-parse', 'HEAD')
    const trained = await pushTo(dir, 'main')
    expect(trained.status).toBe(0)
    staging = trained.result
    merge(dir, 'main', 'release')
    const evaluated = await pushTo(dir, 'release')
    expect(evaluated.status).toBe(0)
    production = evaluated.result
  }, 120_000)

  it('staging trains: its champion names the artifact training stored', () => {
    expect(staging).toMatchObject({ environment: 'staging', verdict: 'pass', promoted: true })
    expect(staging.lineage?.trainedIn).toBeUndefined()
    expect(staging.lineage?.modelUri).toMatch(/^artifacts\/doc-classifier\/[0-9a-f]{16}\.json$/)
    expect(champions(dir).staging).toMatchObject({
      sha: stagingSha,
      modelUri: staging.lineage?.modelUri
    })
  })

  it("production promotes staging's artifact, recorded as trained in staging at staging's commit", () => {
    expect(production).toMatchObject({ environment: 'production', verdict: 'pass', promoted: true })
    expect(production.lineage).toMatchObject({
      modelUri: staging.lineage?.modelUri,
      trainedIn: 'staging',
      trainedSha: stagingSha
    })
    const { staging: s, production: p } = champions(dir)
    expect(p).toMatchObject({ modelUri: s!.modelUri, trainedIn: 'staging', trainedSha: s!.sha })
    expect(p!.sha).toBe(git(dir, 'rev-parse', 'release'))
  })

  it('production trains nothing: the artifact store still holds exactly one artifact', () => {
    expect(artifacts(dir)).toEqual([path.basename(staging.lineage!.modelUri!)])
    expect(production.metrics).not.toHaveProperty('train_seconds')
  })

  it("production's metrics are measured on production's data, not copied from staging's", () => {
    expect(staging.lineage?.dataVersion).toMatch(/^staging\/documents@sha256:/)
    expect(production.lineage?.dataVersion).toMatch(/^production\/documents@sha256:/)
    expect(production.metrics!.accuracy).not.toBe(staging.metrics!.accuracy)
    expect(production.metrics!.accuracy).toBeGreaterThanOrEqual(0.87)
  })

  it('ml-promote champions names the same artifact in both environments', async () => {
    const listed = await runCli(['champions'], { cwd: dir })
    expect(listed.status).toBe(0)
    const uri = staging.lineage!.modelUri!
    expect(listed.stdout).toContain(`${MODEL} [staging]: ${stagingSha.slice(0, 7)} `)
    expect(listed.stdout.match(/^ {2}artifact: (\S+)$/gm)).toEqual([
      `  artifact: ${uri}`,
      `  artifact: ${uri}`
    ])
    expect(listed.stdout).toContain(`  trained: in staging at ${stagingSha.slice(0, 7)}`)
    const json = await runCli(['champions', '--json'], { cwd: dir })
    const records = JSON.parse(json.stdout) as Array<{
      environment: string
      champion: { modelUri?: string; trainedIn?: string; trainedSha?: string } | null
    }>
    expect(records.map((r) => [r.environment, r.champion?.modelUri])).toEqual([
      ['staging', uri],
      ['production', uri]
    ])
    expect(records[1]!.champion).toMatchObject({ trainedIn: 'staging', trainedSha: stagingSha })
  })
})

describe('CLI: a change to serving code only trains nothing', () => {
  let dir: string
  let before: { artifacts: string[]; written: number; champion: Champion }

  beforeAll(async () => {
    dir = classifierRepo()
    expect((await pushTo(dir, 'main')).status).toBe(0)
    before = {
      artifacts: artifacts(dir),
      written: metricsWritten(dir),
      champion: champions(dir).staging!
    }
    change(dir, 'bigger-batches', biggerBatches)
  }, 60_000)

  it('its pull request is planned as a skip', async () => {
    const planned = await runCli(['plan', '--event', 'pull_request', '--base', 'main'], {
      cwd: dir
    })
    expect(planned.status).toBe(0)
    expect(planned.stdout).toMatch(/^skip\s+doc-classifier\s+staging\s+\(serving-only change/m)
  })

  it('its pull request is skipped, not gated', async () => {
    const { status, result } = await run(dir, '--event', 'pull_request', '--base', 'main')
    expect(status).toBe(0)
    expect(result).toMatchObject({ action: 'skip', verdict: 'skipped', promoted: false })
    expect(result.reason).toMatch(SERVING_ONLY)
  })

  it('its merge into main is skipped: the staging champion keeps its artifact', async () => {
    merge(dir, 'bigger-batches', 'main')
    const pushed = git(dir, 'diff', '--name-only', 'HEAD^1', 'HEAD')
    expect(pushed).toBe('serving/predict.py')
    const { status, result } = await pushTo(dir, 'main', '--changed', pushed)
    expect(status).toBe(0)
    expect(result).toMatchObject({ action: 'skip', verdict: 'skipped' })
    expect(result.reason).toMatch(SERVING_ONLY)
    expect(champions(dir).staging).toEqual(before.champion)
  })

  it('nothing was trained or evaluated: no new artifact, metrics.json not rewritten', () => {
    expect(artifacts(dir)).toEqual(before.artifacts)
    expect(metricsWritten(dir)).toBe(before.written)
  })
})

describe('CLI: a worse artifact stops in staging, and production keeps the good one', () => {
  let dir: string
  let good: Record<string, Champion>

  beforeAll(async () => {
    dir = classifierRepo()
    good = await promotedEverywhere(dir)
    git(dir, 'checkout', '-q', 'main')
    editParams(dir, WORSE)
    commitAll(dir, 'One epoch over 20 unigrams')
  }, 120_000)

  it('the push to main trains it, fails the staging gate, and the staging champion stays', async () => {
    const { status, result } = await pushTo(dir, 'main')
    expect(status).toBe(1)
    expect(result).toMatchObject({ environment: 'staging', verdict: 'fail', promoted: false })
    expect(result.reason).toContain('the staging champion stays')
    expect(result.lineage?.modelUri).not.toBe(good.staging!.modelUri)
    expect(champions(dir).staging).toEqual(good.staging)
  })

  it("the push to release finds staging's champion already in production and skips", async () => {
    merge(dir, 'main', 'release')
    const { status, result } = await pushTo(dir, 'release')
    expect(status).toBe(0)
    expect(result).toMatchObject({ environment: 'production', verdict: 'skipped', promoted: false })
    expect(result.reason).toMatch(ALREADY_PROMOTED)
    expect(champions(dir).production).toEqual(good.production)
  })
})

interface ActionChain {
  dir: string
  stagingSha: string
  /** The action on the push to main, then on the push of main's merge to release. */
  staging: ActionRun
  production: ActionRun
}

const TOKEN = 'ghs_e2eTestToken000000000000000000000'
const result = (r: ActionRun) => (JSON.parse(r.outputs.results!) as ModelResult[])[0]!

/**
 * The bundled action on a push to main, then on the push of its merge to release. With `fake`,
 * the action has a token and champions are GitHub deployments (the fake answers each push's
 * comparison with git's); without, it records them in the file store.
 */
async function actionChain(fake?: FakeGitHub): Promise<ActionChain> {
  const dir = classifierRepo()
  const push = (branch: string, before: string, after: string) => {
    fake?.setCompare(
      before,
      after,
      git(dir, 'diff', '--name-only', `${before}...${after}`).split('\n')
    )
    return runAction({
      workspace: dir,
      event: 'push',
      payload: pushPayload({ ref: `refs/heads/${branch}`, before, after }),
      ref: `refs/heads/${branch}`,
      sha: after,
      ...(fake ? { env: { GITHUB_API_URL: fake.url }, inputs: { 'github-token': TOKEN } } : {})
    })
  }
  const first = git(dir, 'rev-parse', 'release')
  const stagingSha = git(dir, 'rev-parse', 'main')
  const staging = await push('main', first, stagingSha)
  const production = await push('release', first, merge(dir, 'main', 'release'))
  return { dir, stagingSha, staging, production }
}

/** What the action outputs and summarises when production promotes staging's artifact. */
function itPromotesStagingsArtifact(chain: () => ActionChain): void {
  it('the push to main trains in staging; its results name the artifact', () => {
    const { staging } = chain()
    expect(staging.code).toBe(0)
    const trained = result(staging)
    expect(trained).toMatchObject({ environment: 'staging', verdict: 'pass', promoted: true })
    expect(trained.lineage?.trainedIn).toBeUndefined()
    expect(trained.lineage?.modelUri).toMatch(/^artifacts\/doc-classifier\/[0-9a-f]{16}\.json$/)
  })

  it("the push to release evaluates staging's artifact and promotes it as trained in staging", () => {
    const { dir, stagingSha, staging, production } = chain()
    expect(production.code).toBe(0)
    expect(result(production)).toMatchObject({
      environment: 'production',
      verdict: 'pass',
      promoted: true,
      lineage: {
        modelUri: result(staging).lineage?.modelUri,
        trainedIn: 'staging',
        trainedSha: stagingSha
      }
    })
    expect(artifacts(dir)).toHaveLength(1)
  })

  it('the job summary says it evaluated the artifact trained in staging', () => {
    const { stagingSha, staging, production } = chain()
    expect(production.summary).toContain('Evaluation: on the runner')
    expect(production.summary).toContain(
      `Artifact: \`${result(staging).lineage?.modelUri}\` (trained in \`staging\` at \`${stagingSha.slice(0, 7)}\``
    )
  })
}

describe('action with the file store: production promotes the artifact staging trained', () => {
  let chain: ActionChain
  beforeAll(async () => {
    chain = await actionChain()
  }, 120_000)

  itPromotesStagingsArtifact(() => chain)

  it('the file store records production as trained in staging', () => {
    const { staging, production } = champions(chain.dir)
    expect(production).toMatchObject({
      modelUri: staging!.modelUri,
      trainedIn: 'staging',
      trainedSha: chain.stagingSha
    })
  })
})

describe('action with GitHub deployments as champions: production promotes the artifact staging trained', () => {
  let fake: FakeGitHub
  let chain: ActionChain
  const deploymentIn = (environment: string) =>
    fake.deployments.find((d) => d.environment === environment)

  beforeAll(async () => {
    fake = await FakeGitHub.start()
    chain = await actionChain(fake)
  }, 120_000)
  afterAll(async () => {
    await fake.close()
  })

  itPromotesStagingsArtifact(() => chain)

  it('each push records its champion as a successful deployment of its own commit', () => {
    expect(deploymentIn('staging')).toMatchObject({
      sha: chain.stagingSha,
      task: `ml-promote:${MODEL}`,
      statuses: [expect.objectContaining({ state: 'success' })]
    })
    expect(deploymentIn('production')).toMatchObject({
      sha: git(chain.dir, 'rev-parse', 'release'),
      task: `ml-promote:${MODEL}`,
      statuses: [expect.objectContaining({ state: 'success' })]
    })
  })

  // The deployment payloads are the github store's record of the lineage: production finds the
  // artifact to evaluate only in the staging champion's payload.
  it("the staging deployment's payload names the artifact training stored", () => {
    const payload = JSON.stringify(deploymentIn('staging')?.payload)
    expect(payload).toContain(result(chain.staging).lineage!.modelUri!)
  })

  it("the production deployment's payload names staging's artifact and the commit that trained it", () => {
    const payload = JSON.stringify(deploymentIn('production')?.payload)
    expect(payload).toContain(result(chain.staging).lineage!.modelUri!)
    expect(payload).toContain(chain.stagingSha)
  })

  it("breaks no rule of GitHub's REST API description", () => {
    expect(fake.violations).toEqual([])
  })
})

describe('CLI: an artifact rolled back in production is not promoted there again by a push', () => {
  it('skips the evaluation of the rolled-back artifact until staging promotes a new one', async () => {
    const dir = classifierRepo()
    const first = await promotedEverywhere(dir)
    // A second artifact reaches production, then is rolled back there.
    change(dir, 'more-epochs', (d) => editParams(d, { epochs: 12 }))
    merge(dir, 'more-epochs', 'main')
    expect((await pushTo(dir, 'main')).result.promoted).toBe(true)
    merge(dir, 'main', 'release')
    expect((await pushTo(dir, 'release')).result.promoted).toBe(true)
    const second = champions(dir).production!.modelUri!
    expect(second).not.toBe(first.production!.modelUri)
    const rollback = await runCli(
      [
        'rollback',
        '--model',
        MODEL,
        '--environment',
        'production',
        '--reason',
        'misroutes refund tickets'
      ],
      { cwd: dir }
    )
    expect(rollback.status).toBe(0)
    expect(champions(dir).production!.modelUri).toBe(first.production!.modelUri)

    // Staging still serves the rolled-back artifact: the next release push must not bring it back.
    change(dir, 'serving-tweak', biggerBatches)
    merge(dir, 'serving-tweak', 'main')
    merge(dir, 'main', 'release')
    const written = metricsWritten(dir)
    const { status, result } = await pushTo(dir, 'release')
    expect(status).toBe(0)
    expect(result.verdict).toBe('skipped')
    expect(result.reason).toMatch(
      new RegExp(
        `^the artifact ${second} was rolled back in production on \\d{4}-\\d{2}-\\d{2} \\(misroutes refund tickets\\): it is not promoted there again by a push; promote a new artifact into staging`
      )
    )
    expect(result.run).toBeUndefined()
    expect(metricsWritten(dir)).toBe(written)
    expect(champions(dir).production!.modelUri).toBe(first.production!.modelUri)

    // A person may still retry it on purpose.
    const retried = await run(
      dir,
      '--event',
      'workflow_dispatch',
      '--branch',
      'release',
      '--environment',
      'production'
    )
    expect(retried.result.run?.backend).toBe('command')
    expect(retried.result.lineage?.modelUri).toBe(second)
  }, 60_000)
})
