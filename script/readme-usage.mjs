#!/usr/bin/env node
// Writes the README's inputs and outputs tables from action.yml, so the two cannot drift.
// `--check` exits 1 (and writes nothing) when the README is not current.
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const START =
  '<!-- usage:start (generated from action.yml by script/readme-usage.mjs; do not edit) -->'
const END = '<!-- usage:end -->'

const oneLine = (s) =>
  String(s ?? '')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/\|/g, '\\|')

export function usageBlock(actionYml) {
  const action = parse(actionYml)
  const inputs = Object.entries(action.inputs ?? {}).map(
    ([name, i]) =>
      `| \`${name}\` | ${oneLine(i.description)} | ${i.default === undefined || i.default === '' ? '' : `\`${oneLine(i.default)}\``} |`
  )
  const outputs = Object.entries(action.outputs ?? {}).map(
    ([name, o]) => `| \`${name}\` | ${oneLine(o.description)} |`
  )
  return [
    START,
    '',
    '| input | description | default |',
    '| --- | --- | --- |',
    ...inputs,
    '',
    '| output | description |',
    '| --- | --- |',
    ...outputs,
    '',
    END
  ].join('\n')
}

const readmePath = path.join(root, 'README.md')
const readme = readFileSync(readmePath, 'utf8')
const a = readme.indexOf(START.slice(0, 20))
const b = readme.indexOf(END)
if (a < 0 || b < 0) {
  console.error('README.md has no usage markers')
  process.exit(1)
}
const next =
  readme.slice(0, a) +
  usageBlock(readFileSync(path.join(root, 'action.yml'), 'utf8')) +
  readme.slice(b + END.length)
if (process.argv.includes('--check')) {
  if (next !== readme) {
    console.error(
      'README.md inputs/outputs are out of date with action.yml: run node script/readme-usage.mjs'
    )
    process.exit(1)
  }
} else if (next !== readme) {
  writeFileSync(readmePath, next)
}
