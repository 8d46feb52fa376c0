#!/usr/bin/env node
// The deploy-code loop end to end, locally: the example project is copied into a scratch Git
// repository and taken through a PR gate, two promotions, a scheduled retrain and a change that
// makes the model worse, each step run by the real CLI with a file champion store.
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
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

function git(...args) {
  return execFileSync('git', args, {
    cwd: work,
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

function mlPromote(args, { expect, env = {} }) {
  console.log(
    `\n$ ${Object.entries(env)
      .map(([k, v]) => `${k}=${v} `)
      .join('')}ml-promote ${args.join(' ')}`
  )
  const res = spawnSync(process.execPath, [cliPath, ...args, '--quiet'], {
    cwd: work,
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

cpSync(path.join(root, 'examples', 'fraud-detection'), work, {
  recursive: true,
  filter: (src) => !/[\\/](out|\.ml-promote|__pycache__|data-cache)([\\/]|$)/.test(src)
})
git('init', '-q', '-b', 'main')
commit('Fraud detector: first training code')
git('branch', 'release')

try {
  step(
    1,
    'A pull request changes the training code',
    'The PR is trained in staging on staging data and gated; there is no champion yet, so thresholds only.'
  )
  git('checkout', '-q', '-b', 'tune-regularisation')
  const params = JSON.parse(readFileSync(path.join(work, 'models/fraud/params.json'), 'utf8'))
  params.l2 = params.l2 * 0.5
  writeFileSync(path.join(work, 'models/fraud/params.json'), JSON.stringify(params, null, 2) + '\n')
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
    path.join(work, 'models/fraud/params.json'),
    JSON.stringify({ ...params, features: ['hour', 'card_present'], epochs: 1 }, null, 2) + '\n'
  )
  const cfgPath = path.join(work, '.github/ml-promote.yml')
  writeFileSync(
    cfgPath,
    readFileSync(cfgPath, 'utf8').replace(/threshold: 0\.\d+/g, 'threshold: 0.1')
  )
  commit('Simplify features and relax the gate')
  mlPromote(['run', '--event', 'pull_request', '--base', 'main'], { expect: 'fail' })

  step(7, 'The champions stayed where they were', 'The rejected change touched no champion.')
  mlPromote(['champions'], { expect: 'pass' })
} finally {
  if (!keep) rmSync(work, { recursive: true, force: true })
  else console.log(`\nscratch repository kept at ${work}`)
}

const seconds = ((Date.now() - started) / 1000).toFixed(1)
if (failures.length) {
  console.error(
    `\ndemo: ${failures.length} step(s) did not go as expected:\n- ${failures.join('\n- ')}`
  )
  process.exit(1)
}
console.log(
  `\ndemo: the whole chain ran in ${seconds} s; the worse model was rejected and the champions kept.`
)
