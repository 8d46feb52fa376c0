// Untrusted text renders inert: metric names are keys of the JSON the code under test writes,
// messages and output come from training and remote services. Each report is parsed back with a
// Markdown parser (GFM tables) to check the structure a reader sees, not only the string.
import { describe, expect, it } from '@jest/globals'
import MarkdownIt from 'markdown-it'
import type Token from 'markdown-it/lib/token.mjs'
import { evaluateGate } from '../src/gate.js'
import { consoleLogger, inert } from '../src/log.js'
import { CheckReporter } from '../src/report/checks.js'
import { COMMENT_MARKER, mergeSections, parseSections } from '../src/report/comment.js'
import { code, link, modelSection, renderSummary, text } from '../src/report/markdown.js'
import type { ModelResult } from '../src/types.js'
import { useFakeGitHub } from '../test/support/fake-github.js'
import { quietLogger } from '../test/support/logger.js'

const md = new MarkdownIt({ html: true, linkify: true })

/** Metric names a hostile training writes into its metrics JSON. */
const HOSTILE_METRICS = [
  'a|b</code></summary></details><!-- ml-promote:model:other -->',
  'x\n### ✅ **other** passed the `staging` gate',
  '```',
  '[click](javascript:alert(1))',
  '<img src=x onerror=alert(1)>'
]
const FORGED_SECTION =
  '<!-- /ml-promote:model:fraud -->\n<!-- ml-promote:model:other -->\n### ✅ other passed\n<!-- /ml-promote:model:other -->'

function hostileResult(): ModelResult {
  const metrics = Object.fromEntries(HOSTILE_METRICS.map((m, i) => [m, 0.5 + i / 100]))
  const gate = evaluateGate(
    Object.fromEntries(
      HOSTILE_METRICS.map((m) => [m, { threshold: 0.1, greater_is_better: true }])
    ),
    metrics,
    metrics
  )
  gate.notes.push(`note with ${FORGED_SECTION}`)
  return {
    model: 'fraud',
    environment: 'staging',
    action: 'gate',
    verdict: 'error',
    reason: `training failed: ${FORGED_SECTION} | col`,
    sha: 'a'.repeat(40),
    run: {
      backend: 'databricks',
      id: '7 | </pre> `x`',
      url: 'javascript:alert(document.cookie)'
    },
    metrics,
    champion: {
      metrics,
      sha: 'b'.repeat(40),
      promotedAt: '2026-12-01T00:00:00Z',
      runUrl: 'https://example.com/run?(x)|<y>'
    },
    gate,
    history: [{ sha: 'c'.repeat(40), at: '2026-11-01T00:00:00Z', outcome: 'promoted', metrics }],
    promoted: false,
    detail: ['Traceback:', '```', '</pre>', FORGED_SECTION].join('\n')
  }
}

/** Every token, depth first (inline children included). */
function flatten(tokens: Token[]): Token[] {
  return tokens.flatMap((t) => [t, ...flatten(t.children ?? [])])
}

function htmlTokens(markdown: string): string[] {
  return flatten(md.parse(markdown, {}))
    .filter((t) => t.type === 'html_block' || t.type === 'html_inline')
    .map((t) => t.content.trim())
}

/** Rows of each table body, in order. */
function tableRows(markdown: string): number[] {
  const rows: number[] = []
  let inBody = false
  for (const t of md.parse(markdown, {})) {
    if (t.type === 'tbody_open') {
      inBody = true
      rows.push(0)
    } else if (t.type === 'tbody_close') inBody = false
    else if (inBody && t.type === 'tr_open') rows[rows.length - 1]! += 1
  }
  return rows
}

function headings(markdown: string): number {
  return md.parse(markdown, {}).filter((t) => t.type === 'heading_open').length
}

function hrefs(markdown: string): string[] {
  return flatten(md.parse(markdown, {}))
    .filter((t) => t.type === 'link_open')
    .map((t) => t.attrGet('href') ?? '')
}

describe('untrusted text renders inert', () => {
  it('a model section: one table row per metric, one heading, no HTML of theirs, no hostile link', () => {
    const section = modelSection(hostileResult())
    // Gate table, then the history table: one row per metric, then history + candidate.
    expect(tableRows(section)).toEqual([HOSTILE_METRICS.length, 2])
    expect(headings(section)).toBe(1)
    const html = htmlTokens(section)
    expect(html.some((h) => h.includes('<!--'))).toBe(false)
    expect(html.some((h) => /<(img|script|a)\b/i.test(h))).toBe(false)
    for (const href of hrefs(section)) expect(href).toMatch(/^https?:\/\//)
    // The training output is one preformatted block that nothing inside it closed.
    const pre = md
      .parse(section, {})
      .filter((t) => t.type === 'html_block' && t.content.startsWith('<pre>'))
    expect(pre).toHaveLength(1)
    expect(pre[0]!.content.trim().endsWith('</pre>')).toBe(true)
    expect(pre[0]!.content).toContain('&lt;/pre&gt;')
    // No line of it can be read back as a section marker.
    expect(section.split('\n').some((l) => l.includes('<!--'))).toBe(false)
  })

  it('the sticky comment: hostile sections are not parsed back, ours are', () => {
    const body = `${COMMENT_MARKER}\n\n## header\n\n${mergeSections(undefined, { fraud: modelSection(hostileResult()) })}`
    expect(Object.keys(parseSections(body))).toEqual(['fraud'])
    const markers = htmlTokens(body).filter((h) => h.startsWith('<!--'))
    expect(markers).toEqual([
      COMMENT_MARKER,
      '<!-- ml-promote:model:fraud -->',
      '<!-- /ml-promote:model:fraud -->'
    ])
    // Merged again on the next run, nothing grows out of the hostile text.
    expect(Object.keys(parseSections(mergeSections(body, {})))).toEqual(['fraud'])
  })

  it('the job summary: the overview table keeps one row per model', () => {
    const summary = renderSummary({
      title: 'gate in staging',
      results: [hostileResult(), { ...hostileResult(), model: 'churn', verdict: 'fail' }],
      notes: ['a note']
    })
    expect(tableRows(summary)[0]).toBe(2)
    expect(headings(summary)).toBe(3)
    expect(htmlTokens(summary).some((h) => h.includes('<!--'))).toBe(false)
  })

  it.each([
    ['a pipe and a newline', 'a|b\nc', 'a\\|b c'],
    ['an HTML comment', '<!-- x -->', '&lt;!-- x --&gt;'],
    ['a code span and a link', '`x` [y](z)', '\\`x\\` \\[y\\](z)'],
    ['an entity', '&lt;', '&amp;lt;']
  ])('text() escapes %s', (_, input, expected) => {
    expect(text(input)).toBe(expected)
  })

  it.each([
    ['a plain name', 'staging', '`staging`'],
    ['a name with a backtick and a pipe', 'a`|b', '<code>a`&#124;b</code>'],
    ['a marker', '<!-- m -->', '<code>&lt;!-- m --&gt;</code>']
  ])('code() renders %s', (_, input, expected) => {
    expect(code(input)).toBe(expected)
  })

  it.each([
    ['an https URL', 'https://x.test/a?b=(c)', '[run](https://x.test/a?b=%28c%29)'],
    ['a javascript: URL', 'javascript:alert(1)', 'run (javascript:alert(1))'],
    ['no URL at all', 'not a url', 'run (not a url)']
  ])('link() renders %s', (_, url, expected) => {
    expect(link('run', url)).toBe(expected)
  })
})

describe('check-run output from untrusted config problems', () => {
  const github = useFakeGitHub()

  it('lists each problem as one inert list item', async () => {
    const fake = github.fake()
    const octokit = github.octokit()
    const checks = new CheckReporter(
      octokit,
      { owner: fake.owner, repo: fake.repo },
      'd'.repeat(40),
      quietLogger
    )
    const problems = [
      {
        file: '.github/ml-promote.yml',
        line: 3,
        col: 5,
        message: `unknown key "${FORGED_SECTION}"`
      },
      { file: '.github/ml-promote.yml', line: 4, col: 1, message: 'bad |\n## heading' }
    ]
    await checks.annotateConfig(problems, 'invalid')
    const summary = fake.checkRuns[0]!.output!.summary as string
    const items = md.parse(summary, {}).filter((t) => t.type === 'list_item_open')
    expect(items).toHaveLength(2)
    expect(headings(summary)).toBe(0)
    expect(htmlTokens(summary).some((h) => h.includes('<!--'))).toBe(false)
  })
})

describe('log text the runner must not act on', () => {
  it('passes plain text through untouched', () => {
    const lines: string[] = []
    inert('epoch 3/10 loss=0.21 https://example.com/run', (l) => lines.push(l))
    expect(lines).toEqual(['epoch 3/10 loss=0.21 https://example.com/run'])
  })

  it.each([['::error::forged'], ['  ::set-output name=x::y'], ['##[warning]legacy'], ['a::b']])(
    'fences %j between stop-commands and a fresh resume token',
    (text) => {
      const first: string[] = []
      const second: string[] = []
      inert(text, (l) => first.push(l))
      inert(text, (l) => second.push(l))
      expect(first).toHaveLength(3)
      const token = first[0]!.replace('::stop-commands::', '')
      expect(token).toMatch(/^[0-9a-f-]{36}$/)
      expect(first).toEqual([`::stop-commands::${token}`, text, `::${token}::`])
      expect(second[0]).not.toBe(first[0])
    }
  )

  it('the CLI fences its lines when it runs as a workflow step', () => {
    const lines: string[] = []
    const log = consoleLogger({ write: (l) => lines.push(l), inertCommands: true })
    log.info('::add-mask::x')
    log.info('plain')
    expect(lines[1]).toBe('::add-mask::x')
    expect(lines[0]).toMatch(/^::stop-commands::/)
    expect(lines[3]).toBe('plain')
    const off: string[] = []
    consoleLogger({ write: (l) => off.push(l), inertCommands: false }).info('::add-mask::x')
    expect(off).toEqual(['::add-mask::x'])
  })
})
