#!/usr/bin/env node
// Renders docs/pr-comment.md and docs/job-summary.md from a real run of the bundled action
// (dist/index.js) on the example project: the action is started the way the runner starts it, the
// command backend trains the model, and GitHub is the repository's fake REST server (every request
// checked against GitHub's published OpenAPI description), which records the sticky PR comment.
// Values that change from run to run are normalised so that __tests__/docs.test.ts can render them
// again and fail when the committed files are stale. `--out DIR` writes there instead of the repo.
import { execFileSync, spawn } from 'node:child_process'
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const REPO = 'octo-org/fraud-models'
const RUN_ID = '4242'
// Fixed identities and dates make the scratch repository's commit shas the same on every machine.
const GIT_ENV = {
  GIT_AUTHOR_NAME: 'Dana Scientist',
  GIT_AUTHOR_EMAIL: 'dana@example.com',
  GIT_COMMITTER_NAME: 'Dana Scientist',
  GIT_COMMITTER_EMAIL: 'dana@example.com',
  GIT_AUTHOR_DATE: '2026-12-01T09:00:00Z',
  GIT_COMMITTER_DATE: '2026-12-01T09:00:00Z',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null'
}

export const DOCS = {
  comment: 'docs/pr-comment.md',
  summary: 'docs/job-summary.md'
}

/**
 * The fake GitHub server is TypeScript; Node 20 cannot run it directly, so it is transpiled (types
 * erased, nothing else) into a cache folder under node_modules, where its imports still resolve.
 */
async function loadFakeGitHub(cacheRoot) {
  const ts = require('typescript')
  mkdirSync(cacheRoot, { recursive: true })
  const out = mkdtempSync(path.join(cacheRoot, 'ml-promote-docs-'))
  mkdirSync(path.join(out, 'test', 'fakes'), { recursive: true })
  for (const name of ['github-server', 'openapi-validator']) {
    const source = readFileSync(path.join(root, 'test', 'fakes', `${name}.ts`), 'utf8')
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 }
    })
    writeFileSync(path.join(out, 'test', 'fakes', `${name}.js`), outputText)
  }
  writeFileSync(path.join(out, 'package.json'), '{"type":"module"}\n')
  // The validator finds GitHub's description relative to itself, as it does from test/fakes/.
  symlinkSync(path.join(root, 'test', 'fixtures'), path.join(out, 'test', 'fixtures'), 'dir')
  const mod = await import(pathToFileURL(path.join(out, 'test', 'fakes', 'github-server.js')).href)
  return { FakeGitHub: mod.FakeGitHub, dir: out }
}

function git(cwd, ...args) {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...GIT_ENV },
    stdio: ['ignore', 'pipe', 'pipe']
  }).trim()
}

function commit(cwd, message) {
  git(cwd, 'add', '-A')
  git(cwd, 'commit', '-q', '-m', message)
  return git(cwd, 'rev-parse', 'HEAD')
}

function webhookExample(event, action) {
  const all = require('@octokit/webhooks-examples/api.github.com/index.json')
  const example = all
    .find((e) => e.name === event)
    ?.examples.find((x) => action === undefined || x.action === action)
  if (!example) throw new Error(`no ${event} webhook example`)
  const payload = JSON.parse(JSON.stringify(example))
  payload.repository.full_name = REPO
  return payload
}

/** Runs dist/index.js like the runner: inputs as INPUT_*, file commands, an event payload. */
function runAction({ workspace, event, payload, ref, api, tmp }) {
  const files = {
    event: path.join(tmp, `${event}-event.json`),
    output: path.join(tmp, `${event}-output`),
    summary: path.join(tmp, `${event}-summary.md`),
    state: path.join(tmp, `${event}-state`)
  }
  writeFileSync(files.event, JSON.stringify(payload))
  for (const f of [files.output, files.summary, files.state]) writeFileSync(f, '')
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: tmp,
    ...GIT_ENV,
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    GITHUB_EVENT_NAME: event,
    GITHUB_EVENT_PATH: files.event,
    GITHUB_OUTPUT: files.output,
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_STATE: files.state,
    GITHUB_WORKSPACE: workspace,
    GITHUB_REPOSITORY: REPO,
    GITHUB_SHA: git(workspace, 'rev-parse', 'HEAD'),
    GITHUB_REF: ref,
    GITHUB_RUN_ID: RUN_ID,
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_API_URL: api,
    RUNNER_TEMP: tmp,
    INPUT_CONFIG: '.github/ml-promote.yml',
    INPUT_MODE: 'auto',
    INPUT_ENVIRONMENT: '',
    INPUT_MODELS: '',
    'INPUT_GITHUB-TOKEN': 'ghs_docs0000000000000000000000000000000',
    INPUT_WAIT: 'true',
    'INPUT_TIMEOUT-MINUTES': '10'
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'dist', 'index.js')], {
      cwd: workspace,
      env,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let log = ''
    child.stdout.on('data', (d) => (log += d))
    child.stderr.on('data', (d) => (log += d))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`the ${event} run exited ${code}:\n${log}`))
      else resolve({ summary: readFileSync(files.summary, 'utf8'), log })
    })
  })
}

/**
 * Replaces what differs between identical runs: the measured latency, durations, dates, and the
 * command backend's run id (the training process id).
 */
// The trend table's last column is latency_ms when it is the last gated metric, as in the example.
const latencyColumn = /^\| (?:\d{4}-\d{2}-\d{2}|this run) \| .+ \| [\d.]+ \|$/gm

export function normalise(markdown) {
  return (
    markdown
      .replace(/^\| latency_ms \| [^|]+ \| [^|]+ \| [^|]+ \|/gm, (row) => {
        const cells = row.split('|').map((c) => c.trim())
        const champion = cells[3] === '—' ? '—' : '10'
        const delta = cells[4] === '—' ? '—' : '0'
        return `| latency_ms | 10 | ${champion} | ${delta} |`
      })
      .replace(latencyColumn, (row) => row.replace(/\| [\d.]+ \|$/, '| 10 |'))
      // The latency chart: every bar 10, so the axis is what 10 and the threshold give.
      .replace(
        /(title "latency_ms in [^"]*"\n {2}x-axis \[[^\]]*\]\n {2}y-axis "latency_ms" )[\d.]+ --> [\d.]+(\n {2}bar \[)([^\]]*)\]/g,
        (_, head, bar, values) =>
          `${head}0 --> 274${bar}${values
            .split(', ')
            .map(() => '10')
            .join(', ')}]`
      )
      .replace(/Took \d+(?:\.\d+)? s\./g, 'Took 1.2 s.')
      .replace(/\b\d{4}-\d{2}-\d{2}(?:T[\d:.]+Z)?\b/g, '2026-12-01')
      .replace(/\bcommand run \d+/g, 'command run 2048')
  )
}

const BANNER = (what) =>
  `<!-- Generated by script/render-docs.mjs from a real run of dist/index.js on examples/fraud-detection (${what}); do not edit. Measured latency, durations and dates are normalised. -->\n\n`

/** The two documents, rendered from a fresh run. */
export async function renderDocs() {
  const { FakeGitHub, dir: fakeDir } = await loadFakeGitHub(
    path.join(root, 'node_modules', '.cache')
  )
  const tmp = mkdtempSync(path.join(tmpdir(), 'ml-promote-docs-'))
  const workspace = path.join(tmp, 'fraud-models')
  const fake = await FakeGitHub.start()
  try {
    cpSync(path.join(root, 'examples', 'fraud-detection'), workspace, {
      recursive: true,
      filter: (src) => !/[\\/](out|\.ml-promote|__pycache__|data-cache)([\\/]|$)/.test(src)
    })
    git(workspace, 'init', '-q', '-b', 'main')
    const first = commit(workspace, 'Fraud detector: first training code')
    fake.setBranch('main', first)

    // 1. The first merge to main: staging's first champion, recorded as a deployment.
    const push = webhookExample('push')
    Object.assign(push, { ref: 'refs/heads/main', before: '0'.repeat(40), after: first })
    await runAction({
      workspace,
      event: 'push',
      payload: push,
      ref: 'refs/heads/main',
      api: fake.url,
      tmp
    })

    // 2. A pull request that tunes the model: gated in staging against that champion.
    git(workspace, 'checkout', '-q', '-b', 'tune-regularisation')
    const paramsPath = path.join(workspace, 'models/fraud/params.json')
    const params = JSON.parse(readFileSync(paramsPath, 'utf8'))
    writeFileSync(paramsPath, JSON.stringify({ ...params, l2: params.l2 * 0.5 }, null, 2) + '\n')
    const head = commit(workspace, 'Halve L2 regularisation')
    const files = ['models/fraud/params.json']
    fake.setPull(7, {
      head: { sha: head, ref: 'tune-regularisation' },
      base: { sha: first, ref: 'main' },
      files
    })
    const pr = webhookExample('pull_request', 'opened')
    pr.number = 7
    Object.assign(pr.pull_request, { number: 7 })
    Object.assign(pr.pull_request.head, { sha: head, ref: 'tune-regularisation' })
    Object.assign(pr.pull_request.base, { sha: first, ref: 'main' })
    pr.pull_request.head.repo.full_name = REPO
    pr.pull_request.base.repo.full_name = REPO
    await runAction({
      workspace,
      event: 'pull_request',
      payload: pr,
      ref: 'refs/pull/7/merge',
      api: fake.url,
      tmp
    })
    const comment = fake.comments.find((c) => c.issue_number === 7)
    if (!comment) throw new Error('the pull request run left no comment')

    // 3. The merge: retrained in staging, compared with the champion, promoted.
    git(workspace, 'checkout', '-q', 'main')
    git(
      workspace,
      'merge',
      '-q',
      '--no-ff',
      '-m',
      'Merge tune-regularisation',
      'tune-regularisation'
    )
    const merged = git(workspace, 'rev-parse', 'HEAD')
    fake.setBranch('main', merged)
    fake.setCompare(first, merged, files)
    const mergePush = webhookExample('push')
    Object.assign(mergePush, { ref: 'refs/heads/main', before: first, after: merged })
    const promotion = await runAction({
      workspace,
      event: 'push',
      payload: mergePush,
      ref: 'refs/heads/main',
      api: fake.url,
      tmp
    })
    if (fake.violations.length) {
      throw new Error(`GitHub API contract violations:\n${fake.violations.join('\n')}`)
    }
    return {
      [DOCS.comment]:
        BANNER('the sticky comment on a pull request gated in staging') +
        normalise(comment.body.endsWith('\n') ? comment.body : `${comment.body}\n`),
      [DOCS.summary]:
        BANNER('the job summary of the merge to main that promoted it') +
        normalise(promotion.summary)
    }
  } finally {
    await fake.close()
    rmSync(tmp, { recursive: true, force: true })
    rmSync(fakeDir, { recursive: true, force: true })
  }
}

const EMBED_START =
  '<!-- docs:pr-comment:start (generated by script/render-docs.mjs; do not edit) -->'
const EMBED_END = '<!-- docs:pr-comment:end -->'

/**
 * The README with the rendered PR comment quoted between its markers, so the README shows the
 * real report and cannot drift from docs/pr-comment.md.
 */
export function readmeWithExample(readme, comment) {
  const a = readme.indexOf(EMBED_START)
  const b = readme.indexOf(EMBED_END)
  if (a < 0 || b < a) throw new Error('README.md has no docs:pr-comment markers')
  const body = comment
    .split('\n')
    .filter((line) => !line.startsWith('<!-- Generated by'))
    .join('\n')
    .trim()
    .split('\n')
    .map((line) => (line ? `> ${line}` : '>'))
    .join('\n')
  return `${readme.slice(0, a)}${EMBED_START}\n\n${body}\n\n${readme.slice(b)}`
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--out')
  const out = at > 0 ? path.resolve(process.argv[at + 1] ?? '.') : root
  for (const [file, text] of Object.entries(await renderDocs())) {
    mkdirSync(path.dirname(path.join(out, file)), { recursive: true })
    writeFileSync(path.join(out, file), text)
    console.log(`wrote ${path.relative(process.cwd(), path.join(out, file)) || file}`)
  }
  if (out === root) {
    const readmePath = path.join(root, 'README.md')
    const comment = readFileSync(path.join(root, DOCS.comment), 'utf8')
    writeFileSync(readmePath, readmeWithExample(readFileSync(readmePath, 'utf8'), comment))
    console.log('wrote README.md (the PR comment example)')
  }
}
