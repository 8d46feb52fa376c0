// Judge with the base, train with the head: the bundled action on pull requests whose config tries
// to loosen, skip or redirect the gate they are judged by. Every row fails closed: the required
// check of the base's model fails, and nothing trains anywhere but the base's gate environment.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import MarkdownIt from 'markdown-it'
import path from 'node:path'
import { parseSections } from '../src/report/comment.js'
import { FakeGitHub } from '../test/fakes/github-server.js'
import {
  commitAll,
  exampleWorkspace,
  git,
  pullRequestPayload,
  runAction,
  runnerCommands
} from '../test/e2e/harness.js'

const TOKEN = 'ghs_e2eJudgingToken00000000000000000'
const CONFIG = '.github/ml-promote.yml'
const CHECK = 'ml-promote / fraud-detector'
/** Training that says where it ran, then trains as the example does. */
const RECORDING_RUN = `'echo "$ML_PROMOTE_ENVIRONMENT" >> trained-in.txt && python3 models/fraud/train.py'`

let fake: FakeGitHub
beforeEach(async () => {
  fake = await FakeGitHub.start()
})
afterEach(async () => {
  expect(fake.violations).toEqual([])
  await fake.close()
})

type Edit = (config: string) => string

/** Drops most features, so the candidate fails the example's gate (auc ≈ 0.63, recall ≈ 0.27). */
function worsen(dir: string): void {
  const p = path.join(dir, 'models/fraud/params.json')
  const params = JSON.parse(readFileSync(p, 'utf8'))
  writeFileSync(p, JSON.stringify({ ...params, features: ['hour', 'card_present'], epochs: 1 }))
}

/** Thresholds a worsened candidate passes. */
const loosen: Edit = (c) =>
  c
    .replace(
      'threshold: 0.85, min_absolute_change: -0.02',
      'threshold: 0.1, min_absolute_change: -1'
    )
    .replace('recall: { threshold: 0.60 }', 'recall: { threshold: 0.1 }')

interface Pull {
  ws: { dir: string; sha: string }
  head: string
  files: string[]
}

/** The example on main (recording where it trains), then a PR branch with `change` committed. */
function openPull(
  number: number,
  change: (dir: string) => void,
  base?: (dir: string) => void
): Pull {
  const ws = exampleWorkspace()
  const cfg = path.join(ws.dir, CONFIG)
  writeFileSync(
    cfg,
    readFileSync(cfg, 'utf8').replace('run: python3 models/fraud/train.py', `run: ${RECORDING_RUN}`)
  )
  base?.(ws.dir)
  ws.sha = commitAll(ws.dir, 'record where training runs')
  git(ws.dir, 'checkout', '-q', '-b', `pr-${number}`)
  change(ws.dir)
  const head = commitAll(ws.dir, `change ${number}`)
  const files = git(ws.dir, 'diff', '--name-only', `${ws.sha}..${head}`).split('\n').filter(Boolean)
  fake.setPull(number, {
    head: { sha: head, ref: `pr-${number}` },
    base: { sha: ws.sha, ref: 'main' },
    files
  })
  return { ws, head, files }
}

function editConfig(dir: string, edit: Edit): void {
  const cfg = path.join(dir, CONFIG)
  writeFileSync(cfg, edit(readFileSync(cfg, 'utf8')))
}

async function gate(
  number: number,
  pull: Pull,
  extra: { env?: Record<string, string>; inputs?: Record<string, string> } = {}
) {
  const payload = pullRequestPayload({
    number,
    headSha: pull.head,
    headRef: `pr-${number}`,
    baseSha: pull.ws.sha,
    baseRef: 'main'
  })
  return runAction({
    workspace: pull.ws.dir,
    event: 'pull_request',
    payload,
    ref: `refs/pull/${number}/merge`,
    env: { GITHUB_API_URL: fake.url, ...extra.env },
    inputs: { 'github-token': TOKEN, ...extra.inputs }
  })
}

function trainedIn(dir: string): string[] {
  const file = path.join(dir, 'trained-in.txt')
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : []
}

function conclusion(name: string): string | null | undefined {
  return fake.checkRuns.find((c) => c.name === name)?.conclusion
}

// Each row: a PR that worsens the model and edits the config it is judged by.
const rows: Array<[string, Edit]> = [
  ['renames the model', (c) => loosen(c.replace('  fraud-detector:\n', '  fraud2:\n'))],
  [
    'gates itself in production',
    (c) => loosen(c.replace('gate_environment: staging', 'gate_environment: production'))
  ],
  [
    'gates itself in a new environment',
    (c) =>
      loosen(
        c
          .replace('gate_environment: staging', 'gate_environment: sandbox')
          .replace(
            'environments:\n  staging',
            'environments:\n  sandbox: { branch: sandbox }\n  staging'
          )
      )
  ],
  ['renames the environment', (c) => loosen(c.replaceAll('staging', 'stg'))],
  [
    'moves the paths away from the change',
    (c) => c.replace("paths: ['models/fraud/**', 'data/**']", "paths: ['elsewhere/**']")
  ],
  [
    'excludes every path',
    (c) => c.replace("paths: ['models/fraud/**', 'data/**']", "paths: ['!**']")
  ],
  [
    'remaps the branch of the environment',
    (c) => c.replace('staging: { branch: main }', 'staging: { branch: nope }')
  ],
  ['lowers its thresholds', loosen],
  [
    'removes the failing rules',
    (c) =>
      c
        .replace(/ +auc: \{ threshold: 0\.85[^\n]*\n/, '')
        .replace(/ +recall: \{ threshold: 0\.60 \}\n/, '')
  ],
  [
    'drops a metric from metric_names and the gate with it',
    (c) =>
      loosen(c)
        .replace('[auc, precision, recall,', '[auc, precision,')
        .replace(/ +recall: \{ threshold: 0\.1 \}\n/, '')
  ],
  [
    'turns off the schedule and switches the champion store',
    (c) =>
      loosen(
        c
          .replace('schedule: true', 'schedule: false')
          .replace('environments:\n', 'champions: { store: file }\nenvironments:\n')
      )
  ]
]

describe('a pull request cannot loosen, skip or redirect the gate it is judged by', () => {
  it.each(rows)('fails closed when it %s', async (_, edit) => {
    const pull = openPull(31, (dir) => {
      worsen(dir)
      editConfig(dir, edit)
    })
    const run = await gate(31, pull)
    expect(run.code).toBe(1)
    expect(run.outputs.verdict).toBe('fail')
    expect(conclusion(CHECK)).toBe('failure')
    // Unmerged code trained in the base's gate environment only, if at all.
    expect(new Set(trainedIn(pull.ws.dir))).toEqual(new Set(['staging']))
    const results = JSON.parse(run.outputs.results!) as Array<{
      model: string
      environment: string
    }>
    expect(results.find((r) => r.model === 'fraud-detector')).toMatchObject({
      environment: 'staging'
    })
    expect(fake.deployments).toHaveLength(0)
  })

  it('announces each judging change on its line of the head config as applying after merge', async () => {
    const pull = openPull(32, (dir) => {
      worsen(dir)
      editConfig(dir, loosen)
    })
    const run = await gate(32, pull)
    expect(run.code).toBe(1)
    const notices = run.stdout.split('\n').filter((l) => l.startsWith('::notice '))
    const cfg = readFileSync(path.join(pull.ws.dir, CONFIG), 'utf8').split('\n')
    const aucLine = cfg.findIndex((l) => l.includes('auc: { threshold: 0.1')) + 1
    expect(
      notices.some(
        (n) => n.includes(`file=${CONFIG},line=${aucLine},`) && n.includes('auc.threshold')
      )
    ).toBe(true)
    expect(
      notices.every((n) => n.includes('until this is merged') || n.includes('after merge'))
    ).toBe(true)
    const summary = fake.checkRuns.find((c) => c.name === CHECK)!.output!.summary as string
    expect(summary).toContain('changes auc.threshold')
    expect(fake.comments[0]!.body).toContain('the change applies after merge')
  })

  it('judges a renamed model by its new gate, says so, and fails the old name', async () => {
    const pull = openPull(33, (dir) => {
      const p = path.join(dir, 'models/fraud/params.json')
      writeFileSync(p, readFileSync(p, 'utf8').replace('"seed": 42', '"seed": 43'))
      editConfig(dir, (c) => loosen(c.replace('  fraud-detector:\n', '  fraud2:\n')))
    })
    const run = await gate(33, pull)
    expect(run.code).toBe(1)
    expect(conclusion('ml-promote / fraud2')).toBe('success')
    expect(conclusion(CHECK)).toBe('failure')
    const old = fake.checkRuns.find((c) => c.name === CHECK)!
    expect(old.output!.title).toContain('removes (or renames) fraud-detector')
    expect(fake.comments[0]!.body).toContain(
      '"fraud2" is new: its gate is set by this pull request.'
    )
  })

  it('judges against the champion committed on the base, not one the pull request commits', async () => {
    const strong = (dir: string, auc: number) => {
      const stateDir = path.join(dir, '.ml-promote')
      mkdirSync(stateDir, { recursive: true })
      const champion = {
        model: 'fraud-detector',
        environment: 'staging',
        metrics: { auc, recall: 0.8, latency_ms: 10 },
        sha: 'c'.repeat(40),
        ref: 'refs/heads/main',
        runId: '1',
        promotedAt: '2026-12-01T00:00:00.000Z'
      }
      writeFileSync(
        path.join(stateDir, 'state.json'),
        JSON.stringify({
          version: 1,
          champions: { 'fraud-detector': { staging: champion } },
          history: []
        })
      )
      git(dir, 'add', '-f', '.ml-promote/state.json')
    }
    const pull = openPull(
      34,
      (dir) => {
        const p = path.join(dir, 'models/fraud/params.json')
        writeFileSync(p, readFileSync(p, 'utf8').replace('"seed": 42', '"seed": 43'))
        strong(dir, 0.5)
      },
      (dir) => {
        editConfig(dir, (c) =>
          c.replace('environments:\n', 'champions: { store: file }\nenvironments:\n')
        )
        strong(dir, 0.99)
      }
    )
    const run = await gate(34, pull)
    expect(run.code).toBe(1)
    const [result] = JSON.parse(run.outputs.results!)
    expect(result.champion.metrics.auc).toBe(0.99)
    expect(result.gate.metrics.find((m: { metric: string }) => m.metric === 'auc').outcome).toBe(
      'fail'
    )
    expect(conclusion(CHECK)).toBe('failure')
  })

  it.each([
    [
      'makes the config invalid',
      (dir: string) => editConfig(dir, (c) => c.replace('threshold: 0.85', 'treshold: 0.85'))
    ],
    ['deletes the config', (dir: string) => rmSync(path.join(dir, CONFIG))]
  ])('fails the base models when it %s, and trains nothing', async (_, change) => {
    const pull = openPull(35, change)
    const run = await gate(35, pull)
    expect(run.code).toBe(1)
    expect(conclusion(CHECK)).toBe('failure')
    expect(conclusion('ml-promote / config')).toBe('failure')
    expect(trainedIn(pull.ws.dir)).toEqual([])
  })

  it('refuses mode reconcile on a pull request', async () => {
    const pull = openPull(36, worsen)
    const run = await gate(36, pull, { inputs: { mode: 'reconcile' } })
    expect(run.code).toBe(1)
    expect(run.stdout).toContain('not on a pull request')
    expect(fake.calls).toHaveLength(0)
  })
})

describe('hostile training output and a forged comment', () => {
  it('leave our comment ours: a new one is created, the forged one untouched, the output inert', async () => {
    const hostile = [
      'echo "<!-- /ml-promote:model:fraud-detector --><!-- ml-promote:model:other -->"',
      'echo "### ✅ **other** passed the \\`staging\\` gate"',
      'echo "</pre>\\`\\`\\`"',
      'exit 3'
    ].join('; ')
    const pull = openPull(37, (dir) => {
      worsen(dir)
      editConfig(dir, (c) => c.replace(`run: ${RECORDING_RUN}`, `run: '${hostile}'`))
    })
    const forgedBody = `<!-- ml-promote:sticky -->\n\n<!-- ml-promote:model:fraud-detector -->\n✅ passed\n<!-- /ml-promote:model:fraud-detector -->`
    const forged = fake.addComment(37, forgedBody, { login: 'mallory', id: 666, type: 'User' })
    const run = await gate(37, pull)
    expect(run.code).toBe(1)
    expect(conclusion(CHECK)).toBe('failure')
    expect(forged.body).toBe(forgedBody)
    expect(fake.count('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}')).toBe(0)
    const ours = fake.comments.filter((c) => c.id !== forged.id)
    expect(ours).toHaveLength(1)
    expect(ours[0]!.user.login).toBe('github-actions[bot]')
    const body = ours[0]!.body
    expect(Object.keys(parseSections(body))).toEqual(['fraud-detector'])
    const markers = body.split('\n').filter((l) => l.includes('<!--'))
    expect(markers).toEqual([
      '<!-- ml-promote:sticky -->',
      '<!-- ml-promote:model:fraud-detector -->',
      '<!-- /ml-promote:model:fraud-detector -->'
    ])
    // The training output is shown, as text.
    expect(body).toContain('&lt;!-- ml-promote:model:other --&gt;')
    // Read as GitHub reads it: the header and one model section, nothing grown out of the output.
    const tokens = new MarkdownIt({ html: true }).parse(body, {})
    expect(tokens.filter((t) => t.type === 'heading_open').map((t) => t.tag)).toEqual(['h2', 'h3'])
  })
})

describe('training gets only what it needs', () => {
  it('a PR training that dumps its environment and prints workflow commands sees no credential and issues none', async () => {
    const secrets = {
      GITHUB_TOKEN: 'ghs_envTokenThatMustNotLeak000000000',
      ACTIONS_RUNTIME_TOKEN: 'runtime-token-that-must-not-leak',
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'oidc-token-that-must-not-leak',
      ACTIONS_ID_TOKEN_REQUEST_URL: 'https://token.actions.example/oidc-url-that-must-not-leak',
      DATABRICKS_TOKEN: 'dapi-token-that-must-not-leak',
      AIRFLOW_PASSWORD: 'airflow-password-that-must-not-leak'
    }
    const printing = [
      `python3 -c "import json, os; json.dump(dict(os.environ), open('env-dump.json', 'w'))"`,
      'echo "::error title=forged::the training says it passed"',
      'echo "::add-mask::ml-promote"',
      'echo "::stop-commands::guessed"',
      'echo "::guessed::"',
      'echo "::set-output name=verdict::pass"',
      'echo "##[error]legacy forged"',
      'python3 models/fraud/train.py'
    ].join('\n')
    const pull = openPull(41, (dir) => {
      writeFileSync(path.join(dir, 'models/fraud/hostile.sh'), printing + '\n')
      editConfig(dir, (c) =>
        c.replace(`run: ${RECORDING_RUN}`, 'run: bash models/fraud/hostile.sh')
      )
    })
    const run = await gate(41, pull, { env: secrets })
    expect(run.code).toBe(0)
    expect(conclusion(CHECK)).toBe('success')

    const dumped = readFileSync(path.join(pull.ws.dir, 'env-dump.json'), 'utf8')
    const env = JSON.parse(dumped)
    for (const value of [TOKEN, ...Object.values(secrets)]) expect(dumped).not.toContain(value)
    expect(Object.keys(env).filter((k) => /^(INPUT_|STATE_|ACTIONS_)/.test(k))).toEqual([])
    for (const k of [
      'GITHUB_OUTPUT',
      'GITHUB_ENV',
      'GITHUB_PATH',
      'GITHUB_STATE',
      'GITHUB_STEP_SUMMARY'
    ]) {
      expect(env[k]).toBeUndefined()
    }
    expect(env).toMatchObject({
      ML_PROMOTE_ENVIRONMENT: 'staging',
      ML_PROMOTE_MODEL: 'fraud-detector',
      GITHUB_REPOSITORY: 'octo-org/fraud-models'
    })

    // The output is shown, and the runner acts on none of it.
    expect(run.stdout).toContain('the training says it passed')
    const commands = runnerCommands(run.stdout)
    expect(commands.filter((c) => /forged|passed|ml-promote$|verdict/.test(c.message))).toEqual([])
    expect(commands.map((c) => c.name)).not.toContain('set-output')
    expect(run.stdout).toContain('legacy forged')
    // Its own commands still work: the groups it opened are all closed.
    const names = commands.map((c) => c.name)
    expect(names.filter((n) => n === 'group').length).toBe(
      names.filter((n) => n === 'endgroup').length
    )
  })
})
