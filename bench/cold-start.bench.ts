// Cold start of the bundled action (validate mode on the example config) against bare node,
// measured alternately in one run so machine noise hits both sides alike.
import { it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { actionEntry, root } from '../test/e2e/harness.js'
import { figure, median } from './report.js'

const RUNS = 15

it('cold start', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'ml-promote-bench-'))
  const event = path.join(tmp, 'event.json')
  writeFileSync(
    event,
    JSON.stringify({ ref: 'refs/heads/main', after: '0'.repeat(40), before: '0'.repeat(40) })
  )
  for (const f of ['output', 'summary', 'state']) writeFileSync(path.join(tmp, f), '')
  const env = {
    PATH: process.env.PATH,
    GITHUB_EVENT_NAME: 'push',
    GITHUB_EVENT_PATH: event,
    GITHUB_OUTPUT: path.join(tmp, 'output'),
    GITHUB_STEP_SUMMARY: path.join(tmp, 'summary'),
    GITHUB_STATE: path.join(tmp, 'state'),
    GITHUB_WORKSPACE: path.join(root, 'examples', 'fraud-detection'),
    GITHUB_REPOSITORY: 'octo-org/fraud-models',
    INPUT_MODE: 'validate',
    INPUT_CONFIG: '.github/ml-promote.yml'
  }
  const time = (args: string[], extra: Record<string, string> = {}) => {
    const t = process.hrtime.bigint()
    const r = spawnSync(process.execPath, args, { env: { ...env, ...extra }, stdio: 'ignore' })
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`)
    return Number(process.hrtime.bigint() - t) / 1e6
  }
  const action: number[] = []
  const bare: number[] = []
  const post: number[] = []
  for (let i = 0; i < RUNS; i++) {
    bare.push(time(['-e', '']))
    action.push(time([actionEntry]))
    // The post step ends every job; with nothing left running it must cost next to nothing.
    post.push(time([actionEntry], { STATE_isPost: 'true', STATE_pending: '[]' }))
  }
  figure('cold-start ratio', (median(action) / median(bare)).toFixed(2))
  figure('cold-start action', median(action).toFixed(1), 'ms')
  figure('cold-start bare node', median(bare).toFixed(1), 'ms')
  figure('post-step ratio', (median(post) / median(bare)).toFixed(2))
})
