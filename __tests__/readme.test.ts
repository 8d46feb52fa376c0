// The README's inputs/outputs tables are generated from action.yml; this fails when they drift.
import { expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import path from 'node:path'
import { root } from '../test/e2e/harness.js'

it('README inputs and outputs match action.yml', () => {
  const res = spawnSync(process.execPath, [path.join(root, 'script/readme-usage.mjs'), '--check'], {
    encoding: 'utf8'
  })
  expect(res.stderr).toBe('')
  expect(res.status).toBe(0)
})

it('.env.example sets every input action.yml declares', () => {
  const inputs = Object.keys(parse(readFileSync(path.join(root, 'action.yml'), 'utf8')).inputs)
  const example = readFileSync(path.join(root, '.env.example'), 'utf8')
  const missing = inputs.filter(
    (name) => !new RegExp(`^INPUT_${name.toUpperCase()}=`, 'm').test(example)
  )
  expect(missing).toEqual([])
})
