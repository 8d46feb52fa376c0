// The configs people copy — the example project's, the full configs shown in the docs, and the
// valid fixtures — are accepted both by the loader and by the committed JSON Schema file that
// editors use, and the example points its editor at that file. (config.test.ts checks that the
// loader and the generated schema agree on hand-written cases; this file is about the examples.)
import { describe, expect, it } from '@jest/globals'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { isMap, parse, parseDocument } from 'yaml'
import { loadConfig } from '../src/config/load.js'
import { root } from '../test/e2e/harness.js'

const SCHEMA_FILE = path.join(root, 'schema', 'ml-promote.schema.json')
const SCHEMA_LINE = /^# yaml-language-server: \$schema=(\S+)\s*$/m

function walk(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.posix.join(dir, e.name)
    return e.isDirectory() ? walk(rel) : [rel]
  })
}

const exampleConfigs = walk('examples').filter((f) => f.endsWith('/.github/ml-promote.yml'))
const fixtureConfigs = readdirSync(path.join(root, 'test/fixtures/configs/valid'))
  .filter((f) => f.endsWith('.yml'))
  .map((f) => `test/fixtures/configs/valid/${f}`)

/** Full configs (a top-level `version`) in the Markdown docs; excerpts are only parsed elsewhere. */
function docConfigs(): Array<{ where: string; text: string }> {
  const files = ['README.md', ...walk('docs').filter((f) => f.endsWith('.md'))]
  return files.flatMap((file) => {
    const md = readFileSync(path.join(root, file), 'utf8')
    return [...md.matchAll(/^```ya?ml[^\n]*\n([\s\S]*?)^```/gm)]
      .filter(([, text]) => {
        const doc = parseDocument(text!)
        return isMap(doc.contents) && doc.contents.has('version')
      })
      .map((m) => ({
        where: `${file}:${md.slice(0, m.index).split('\n').length + 1}`,
        text: m[1]!
      }))
  })
}

// ajv-formats is CommonJS: under NodeNext its default import types as the module namespace,
// while at run time it is the plugin function itself.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020
const validate = addFormats(new Ajv2020({ allErrors: true, strict: true })).compile(
  JSON.parse(readFileSync(SCHEMA_FILE, 'utf8'))
)

function schemaErrors(text: string): string[] {
  return validate(parse(text))
    ? []
    : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`)
}

function loaderProblems(text: string, file: string): string[] {
  return loadConfig(text, file).problems.map((p) => `${p.line}:${p.col}: ${p.message}`)
}

describe('example and fixture configs', () => {
  it('finds them', () => {
    expect(exampleConfigs).toContain('examples/fraud-detection/.github/ml-promote.yml')
    expect(fixtureConfigs.length).toBeGreaterThanOrEqual(3)
  })

  it.each([...exampleConfigs, ...fixtureConfigs])(
    '%s is valid for the schema file and the loader',
    (file) => {
      const text = readFileSync(path.join(root, file), 'utf8')
      expect(schemaErrors(text)).toEqual([])
      expect(loaderProblems(text, file)).toEqual([])
    }
  )

  it.each(exampleConfigs)("%s's yaml-language-server line resolves to the schema", (file) => {
    const text = readFileSync(path.join(root, file), 'utf8')
    expect(text.split('\n')[0]).toMatch(SCHEMA_LINE)
    const target = path.resolve(path.dirname(path.join(root, file)), SCHEMA_LINE.exec(text)![1]!)
    expect(path.relative(root, target)).toBe(path.relative(root, SCHEMA_FILE))
    expect(existsSync(target)).toBe(true)
  })
})

describe('full configs shown in the docs', () => {
  const configs = docConfigs()

  it('include the README config', () => {
    expect(configs.map((c) => c.where.split(':')[0])).toContain('README.md')
  })

  it.each(configs.map((c) => [c.where, c.text] as const))(
    '%s is valid for the schema file and the loader',
    (where, text) => {
      expect(schemaErrors(text)).toEqual([])
      expect(loaderProblems(text, where)).toEqual([])
    }
  )
})

describe('the self-test workflow', () => {
  it('points working-directory at a folder that holds the example config', () => {
    const workflow = parse(readFileSync(path.join(root, '.github/workflows/self-test.yml'), 'utf8'))
    const project = workflow.env.EXAMPLE as string
    expect(existsSync(path.join(root, project, '.github/ml-promote.yml'))).toBe(true)
    const steps = (
      workflow.jobs.example.steps as Array<{ uses?: string; with?: Record<string, string> }>
    ).filter((s) => s.uses === './')
    expect(steps.length).toBeGreaterThanOrEqual(3)
    for (const step of steps) expect(step.with?.['working-directory']).toBe('${{ env.EXAMPLE }}')
  })
})
