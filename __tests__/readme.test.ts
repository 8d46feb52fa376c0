// The README's inputs/outputs tables are generated from action.yml; this fails when they drift.
import { expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { root } from '../test/e2e/harness.js'

it('README inputs and outputs match action.yml', () => {
  const res = spawnSync(process.execPath, [path.join(root, 'script/readme-usage.mjs'), '--check'], {
    encoding: 'utf8'
  })
  expect(res.stderr).toBe('')
  expect(res.status).toBe(0)
})
