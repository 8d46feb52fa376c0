#!/usr/bin/env node
// Both promotion patterns end to end, locally, each example project copied into a scratch Git
// repository and every step run by the real CLI with a file champion store.
// Deploy code (examples/fraud-detection): a PR gate, two promotions, a scheduled retrain and a
// change that makes the model worse.
// Deploy models (examples/document-classifier): a PR gate and the merge to main train the artifact
// once, in staging; the merge to release evaluates that same artifact on production data and
// promotes it; a serving-only change trains nothing anywhere.
import { execFileSync, spawnSync } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const cliPath = path.join(root, 'dist', 'cli.js')
const work = mkdtempSync(path.join(tmpdir(), 'ml-promote-demo-'))
const keep = process.argv.includes('--keep')
const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s)
const started = Date.now()
const failures = []
/** The scratch repository the current walk runs in. */
let repo

function git(...args) {
  return execFileSync('git', args, {
    cwd: repo,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe']
  }).trim()
}

function commit(message) {
  git('add', '-A')
  git('-c', 'user.name=Demo', '-c', 'user.email=demo@example.com', 'commit', '-q', '-m', message)
}

function step(n, title, explanation) {
  console.log(`\n${bold(`── ${n}. ${title}`)}\n${explanation}`)
}

/** A step that did not go as expected beyond its exit code. */
function check(ok, what) {
  if (!ok) failures.push(what)
}

/** Copies an example into a fresh scratch repository on `main`, with `release` beside it. */
function scratchRepo(example, message) {
  repo = path.join(work, example)
  mkdirSync(repo)
  cpSync(path.join(root, 'examples', example), repo, {
    recursive: true,
    filter: (src) => !/[\\/](out|artifacts|\.ml-promote|__pycache__|data-cache)([\\/]|$)/.test(src)
  })
  git('init', '-q', '-b', 'main')
  // The file champion store is local state, never part of a commit.
  writeFileSync(path.join(repo, '.git', 'info', 'exclude'), '.ml-promote/\n')
  commit(message)
  git('branch', 'release')
}

function mlPromote(args, { expect, env = {} }) {
  console.log(
    `\n$ ${Object.entries(env)
      .map(([k, v]) => `${k}=${v} `)
      .join('')}ml-promote ${args.join(' ')}`
  )
  const res = spawnSync(process.execPath, [cliPath, ...args, '--quiet'], {
    cwd: repo,
    env: { ...process.env, ...env },
    encoding: 'utf8'
  })
  process.stdout.write(res.stdout.replace(/^/gm, '  '))
  if (res.stderr.trim()) process.stdout.write(res.stderr.replace(/^/gm, '  '))
  const outcome = res.status === 0 ? 'pass' : 'fail'
  if (outcome !== expect)
    failures.push(`ml-promote ${args.join(' ')}: expected ${expect}, got exit ${res.status}`)
  return res
}

try {
  console.log(bold('\nDeploy code: examples/fraud-detection retrains in every environment'))
  scratchRepo('fraud-detection', 'Fraud detector: first training code')

  step(
    1,
    'A pull request changes the training code',
    'The PR is trained in staging on staging data and gated; there is no champion yet, so thresholds only.'
  )
  git('checkout', '-q', '-b', 'tune-regularisation')
  const params = JSON.parse(readFileSync(path.join(repo, 'models/fraud/params.json'), 'utf8'))
  params.l2 = params.l2 * 0.5
  writeFileSync(path.join(repo, 'models/fraud/params.json'), JSON.stringify(params, null, 2) + '\n')
  commit('Halve L2 regularisation')
  mlPromote(['run', '--event', 'pull_request', '--base', 'main'], { expect: 'pass' })

  step(
    2,
    'Merge to main: code promoted to staging',
    'Retrained in staging; it passes and becomes the first staging champion.'
  )
  git('checkout', '-q', 'main')
  git('merge', '-q', '--no-ff', '-m', 'Merge tune-regularisation', 'tune-regularisation')
  mlPromote(['run', '--event', 'push', '--branch', 'main'], { expect: 'pass' })

  step(
    3,
    'Pull request main → release',
    'Its head commit already passed the staging gate, so the result is reused, not trained again.'
  )
  mlPromote(['run', '--event', 'pull_request', '--base', 'release', '--branch', 'main'], {
    expect: 'pass'
  })

  step(
    4,
    'Merge to release: code promoted to production',
    'Retrained in production, on production data (which never leaves production), gated, and recorded as the production champion.'
  )
  git('checkout', '-q', 'release')
  git('merge', '-q', '--no-ff', '-m', 'Release', 'main')
  mlPromote(['run', '--event', 'push', '--branch', 'release'], { expect: 'pass' })

  step(
    5,
    'The weekly scheduled retrain',
    'Same code, newer production data (snapshot 2); compared with the production champion like for like.'
  )
  mlPromote(['run', '--event', 'schedule', '--branch', 'release'], {
    expect: 'pass',
    env: { FRAUD_DATA_SNAPSHOT: '2' }
  })

  step(
    6,
    'A change that makes the model worse',
    'This PR drops the strongest features, trains for one epoch, and also lowers the thresholds in its own config. It is judged by the gate on main, so lowering them does not help: the gate rejects it.'
  )
  git('checkout', '-q', 'main')
  git('checkout', '-q', '-b', 'simplify-features')
  writeFileSync(
    path.join(repo, 'models/fraud/params.json'),
    JSON.stringify({ ...params, features: ['hour', 'card_present'], epochs: 1 }, null, 2) + '\n'
  )
  const cfgPath = path.join(repo, '.github/ml-promote.yml')
  writeFileSync(
    cfgPath,
    readFileSync(cfgPath, 'utf8').replace(/threshold: 0\.\d+/g, 'threshold: 0.1')
  )
  commit('Simplify features and relax the gate')
  mlPromote(['run', '--event', 'pull_request', '--base', 'main'], { expect: 'fail' })

  step(7, 'The champions stayed where they were', 'The rejected change touched no champion.')
  mlPromote(['champions'], { expect: 'pass' })

  console.log(bold('\n\nDeploy models: examples/document-classifier is trained once, in staging'))
  scratchRepo('document-classifier', 'Document classifier: first training code')
  const artifacts = () => {
    const dir = path.join(repo, 'artifacts', 'doc-classifier')
    return existsSync(dir) ? readdirSync(dir).sort() : []
  }
  const metricsFile = path.join(repo, 'out/docs/metrics.json')
  const metricsWritten = () => (existsSync(metricsFile) ? statSync(metricsFile).mtimeMs : 0)
  const champions = () =>
    JSON.parse(readFileSync(path.join(repo, '.ml-promote/state.json'), 'utf8')).champions[
      'doc-classifier'
    ] ?? {}

  step(
    8,
    'A pull request changes the training code',
    'Gated in staging: train.py trains the classifier, stores the artifact under a name that is the hash of its bytes, and reports its model_uri beside the metrics.'
  )
  git('checkout', '-q', '-b', 'more-epochs')
  const docParams = path.join(repo, 'models/docs/params.json')
  writeFileSync(
    docParams,
    JSON.stringify({ ...JSON.parse(readFileSync(docParams, 'utf8')), epochs: 10 }, null, 2) + '\n'
  )
  commit('Train for ten epochs')
  const gated = mlPromote(['run', '--event', 'pull_request', '--base', 'main'], { expect: 'pass' })
  check(
    /artifact: artifacts\/doc-classifier\/[0-9a-f]{16}\.json/.test(gated.stdout),
    'the pull request gate names no artifact'
  )
  check(artifacts().length === 1, `the gate stored ${artifacts().length} artifacts, not 1`)

  step(
    9,
    'Merge to main: the artifact is trained once, in staging',
    'The merge trains the same code on the same data, so it writes the same bytes: still one artifact, now the staging champion.'
  )
  git('checkout', '-q', 'main')
  git('merge', '-q', '--no-ff', '-m', 'Merge more-epochs', 'more-epochs')
  mlPromote(['run', '--event', 'push', '--branch', 'main'], { expect: 'pass' })
  const staging = champions().staging
  check(
    staging?.modelUri === `artifacts/doc-classifier/${artifacts()[0]}`,
    `the staging champion names ${staging?.modelUri}, not the one artifact stored`
  )

  step(
    10,
    'Merge to release: production evaluates that same artifact',
    'Nothing is trained: evaluate.py scores the staging champion’s artifact (ML_PROMOTE_MODEL_URI) on production data, the gate compares it with production’s champion, and the pass promotes exactly that artifact.'
  )
  git('checkout', '-q', 'release')
  git('merge', '-q', '--no-ff', '-m', 'Release', 'main')
  const before = artifacts()
  const released = mlPromote(['run', '--event', 'push', '--branch', 'release'], {
    expect: 'pass'
  })
  const production = champions().production
  check(
    released.stdout.includes(`(trained in staging at ${staging?.sha.slice(0, 7)})`),
    'the production run does not say it evaluated the artifact staging trained'
  )
  check(
    !('train_seconds' in JSON.parse(readFileSync(metricsFile, 'utf8'))),
    'production wrote training metrics: it trained instead of evaluating'
  )
  check(
    artifacts().join() === before.join(),
    `production stored a new artifact: ${artifacts().join(', ')}`
  )
  check(
    production?.modelUri === staging?.modelUri &&
      production?.trainedIn === 'staging' &&
      production?.trainedSha === staging?.sha,
    `the production champion is ${production?.modelUri} trained in ${production?.trainedIn}, not staging’s artifact`
  )
  check(
    production?.metrics.accuracy !== staging?.metrics.accuracy,
    'production reports staging’s accuracy: it was not measured on production data'
  )

  step(
    11,
    'A pull request changes serving code only',
    'serving/predict.py is in the model’s paths but not in its retrain_paths: the change deploys with the current artifact, and nothing is trained or gated.'
  )
  git('checkout', '-q', 'main')
  git('checkout', '-q', '-b', 'bigger-batches')
  const predict = path.join(repo, 'serving/predict.py')
  writeFileSync(
    predict,
    readFileSync(predict, 'utf8').replace('MAX_TEXTS = 256', 'MAX_TEXTS = 512')
  )
  commit('Accept batches of up to 512 texts')
  const written = metricsWritten()
  const serving = mlPromote(['run', '--event', 'pull_request', '--base', 'main'], {
    expect: 'pass'
  })
  check(serving.stdout.includes('serving-only change'), 'the serving change was not skipped')

  step(
    12,
    'Merge to main, then to release',
    'The push to main says which files it changed (the action reads them from the push event): serving-only, so staging trains nothing. Release would evaluate staging’s champion, but production already has that artifact.'
  )
  git('checkout', '-q', 'main')
  git('merge', '-q', '--no-ff', '-m', 'Merge bigger-batches', 'bigger-batches')
  const changed = git('diff', '--name-only', 'HEAD^1', 'HEAD').split('\n').join(',')
  const merged = mlPromote(['run', '--event', 'push', '--branch', 'main', '--changed', changed], {
    expect: 'pass'
  })
  check(merged.stdout.includes('serving-only change'), 'the serving-only merge was not skipped')
  git('checkout', '-q', 'release')
  git('merge', '-q', '--no-ff', '-m', 'Release', 'main')
  const shipped = mlPromote(['run', '--event', 'push', '--branch', 'release'], { expect: 'pass' })
  check(
    shipped.stdout.includes('already is the artifact staging trained'),
    'the release of a serving change was not skipped'
  )
  check(metricsWritten() === written, 'the serving change trained or evaluated something')
  check(
    champions().staging?.sha === staging?.sha && champions().production?.sha === production?.sha,
    'a serving change replaced a champion'
  )

  step(
    13,
    'Both environments serve one artifact',
    'Trained once in staging; production’s record says where and from which commit.'
  )
  const listed = mlPromote(['champions'], { expect: 'pass' })
  const named = [...listed.stdout.matchAll(/^\s+artifact: (\S+)$/gm)]
  check(
    named.length === 2 && named.every((m) => m[1] === staging?.modelUri),
    'ml-promote champions does not name the same artifact in staging and production'
  )
} finally {
  if (!keep) rmSync(work, { recursive: true, force: true })
  else console.log(`\nscratch repositories kept under ${work}`)
}

const seconds = ((Date.now() - started) / 1000).toFixed(1)
if (failures.length) {
  console.error(
    `\ndemo: ${failures.length} step(s) did not go as expected:\n- ${failures.join('\n- ')}`
  )
  process.exit(1)
}
console.log(
  `\ndemo: both chains ran in ${seconds} s; the worse fraud model was rejected and the champions kept; the classifier was trained once, in staging, and production promoted that same artifact.`
)
