// Pure rendering of results into Markdown (job summary, check run summary, PR comment) and plain
// text (terminal). No I/O: the adapters decide where the text goes.
import { formatNumber } from '../gate.js'
import type { GateResult, Lineage, ModelResult, Plan } from '../types.js'

const ICON = { pass: '✅', fail: '❌', skipped: '⏭️', error: '⚠️', pending: '⏳' } as const

function num(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? '—' : formatNumber(n)
}

function signed(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '—'
  return (n > 0 ? '+' : '') + formatNumber(n)
}

// Names, messages and training output are untrusted: a metric name is a key of the JSON the code
// under test writes. Everything that did not come from ml-promote itself is rendered through one
// of the helpers below, so it cannot open an HTML element or comment (and so forge a section
// marker), start a line of its own, break a table row, open a code span or make a link.

/** Escapes HTML: no tag, entity or comment can open. */
export function html(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** Untrusted text inline in Markdown (a sentence, a table cell, a heading). */
export function text(s: string): string {
  return html(s)
    .replace(/[\\`*[\]|~]/g, (c) => `\\${c}`)
    .replace(/\r?\n|\r/g, ' ')
}

const PLAIN_CODE = /^[A-Za-z0-9._][A-Za-z0-9._\-/: ]*$/

/** Untrusted text as inline code; safe in table cells. */
export function code(s: string): string {
  if (PLAIN_CODE.test(s)) return `\`${s}\``
  return `<code>${html(s)
    .replace(/\|/g, '&#124;')
    .replace(/\r?\n|\r/g, ' ')}</code>`
}

/** Untrusted multi-line output as a preformatted block that nothing inside can close. */
export function preformatted(s: string): string {
  return `<pre>${html(s)}</pre>`
}

/** A link only to an http(s) URL; anything else is shown as text. */
export function link(label: string, url: string | undefined): string {
  if (url === undefined) return label
  let href: string
  try {
    const parsed = new URL(url)
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
      return `${label} (${text(url)})`
    href = parsed.href.replace(
      /[()|<>"'`\s\\]/g,
      (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`
    )
  } catch {
    return `${label} (${text(url)})`
  }
  return `[${label}](${href})`
}

function cell(s: string): string {
  return text(s)
}

export function gateTable(gate: GateResult): string {
  const rows = gate.metrics.map(
    (m) =>
      `| ${cell(m.metric)} | ${num(m.candidate)} | ${num(m.champion)} | ${signed(m.delta)} | ${cell(m.rule)} | ${m.outcome === 'pass' ? '✅ pass' : '❌ fail'} |`
  )
  return [
    '| Metric | Candidate | Champion | Δ | Rule | Result |',
    '| --- | ---: | ---: | ---: | --- | --- |',
    ...rows
  ].join('\n')
}

function runLink(r: ModelResult): string {
  if (!r.run) return ''
  if (r.run.backend === 'command') return 'on the runner'
  const label = text(
    `${r.run.backend} run ${r.run.id}${r.run.attached ? ' (attached to an earlier start)' : ''}`
  )
  return link(label, r.run.url)
}

export function headline(r: ModelResult): string {
  const env = r.environment === undefined ? '—' : code(r.environment)
  const model = `**${text(r.model)}**`
  switch (r.verdict) {
    case 'skipped':
      return `${ICON.skipped} ${model} skipped: ${text(r.reason)}`
    case 'error':
      return `${ICON.error} ${model} in ${env}: ${text(r.reason)}`
    case 'pass':
      return `${ICON.pass} ${model} passed the ${env} gate${r.promoted ? ' and is the new champion' : ''}`
    case 'pending':
      return `${ICON.pending} ${model} is training in ${env}; a reconcile run reports the result when it ends`
    case 'fail':
      return `${ICON.fail} ${model} failed the ${env} gate${r.action === 'retrain' ? '; the champion stays' : ''}`
  }
}

/** The environment's recent outcomes on the gated metrics, then this candidate: the trend. */
function historyTable(r: ModelResult, gate: GateResult): string {
  const names = gate.metrics.map((m) => m.metric)
  const row = (
    when: string,
    sha: string,
    outcome: string,
    metrics: Record<string, number> | undefined
  ) =>
    `| ${text(when)} | ${sha ? code(sha.slice(0, 7)) : '—'} | ${outcome} | ${names.map((n) => num(metrics?.[n])).join(' | ')} |`
  const rows = [...(r.history ?? [])]
    .reverse()
    .map((h) => row(h.at.slice(0, 10), h.sha, h.outcome, h.metrics))
  return [
    `<details><summary>Recent outcomes in <code>${html(r.environment ?? '—')}</code></summary>`,
    '',
    `| When | Commit | Outcome | ${names.map(cell).join(' | ')} |`,
    `| --- | --- | --- | ${names.map(() => '---:').join(' | ')} |`,
    ...rows,
    row('this run', r.sha ?? '', '**candidate**', r.metrics),
    '',
    '</details>'
  ].join('\n')
}

/** Champions a trend chart shows at most, oldest first, before the candidate. */
export const CHART_CHAMPIONS = 5

/** A label inside a Mermaid string: names are validated, this keeps it so whatever comes. */
function mermaidLabel(s: string): string {
  return s.replace(/["\\\r\n`]/g, ' ').replace(/[<>]/g, '')
}

/**
 * Per gated metric, the environment's last champions and this candidate as a Mermaid
 * `xychart-beta` (bars), the threshold as a line across it. GitHub renders ```mermaid blocks in
 * comments, summaries and check runs; the table below stays for screen readers. Drawn from the
 * history the champion lookup already read: no extra call.
 */
export function trendCharts(r: ModelResult, gate: GateResult): string[] {
  const champions = [...(r.history ?? [])]
    .filter((h) => h.outcome === 'promoted')
    .slice(0, CHART_CHAMPIONS)
    .reverse()
  if (champions.length === 0) return []
  const charts: string[] = []
  for (const m of gate.metrics) {
    if (m.candidate === undefined || !Number.isFinite(m.candidate)) continue
    const points = champions
      .map((h) => ({ label: h.sha.slice(0, 7), value: h.metrics[m.metric] }))
      .filter((p): p is { label: string; value: number } => Number.isFinite(p.value))
    if (points.length === 0) continue
    points.push({ label: 'candidate', value: m.candidate })
    const values = points.map((p) => p.value)
    const all = m.threshold === undefined ? values : [...values, m.threshold]
    const [lo, hi] = axisRange(Math.min(...all), Math.max(...all))
    const env = mermaidLabel(r.environment ?? '')
    const title = `${mermaidLabel(m.metric)} in ${env}: last champions and the candidate${m.threshold === undefined ? '' : `, threshold ${formatNumber(m.threshold)}`}`
    const lines = [
      '```mermaid',
      'xychart-beta',
      `  title "${title}"`,
      `  x-axis [${points.map((p) => `"${mermaidLabel(p.label)}"`).join(', ')}]`,
      `  y-axis "${mermaidLabel(m.metric)}" ${chartNumber(lo)} --> ${chartNumber(hi)}`,
      `  bar [${values.map(chartNumber).join(', ')}]`
    ]
    if (m.threshold !== undefined) {
      lines.push(`  line [${points.map(() => chartNumber(m.threshold!)).join(', ')}]`)
    }
    lines.push('```')
    charts.push(lines.join('\n'))
  }
  return charts
}

/** A y range with some air around the data, so close values do not look flat or equal. */
function axisRange(min: number, max: number): [number, number] {
  const span = max - min || Math.abs(max) || 1
  const lo = min - span * 0.1
  const hi = max + span * 0.1
  return [min >= 0 && lo < 0 ? 0 : lo, hi]
}

/** Mermaid reads plain decimals only, never exponent notation. */
function chartNumber(n: number): string {
  const short = String(Number(n.toPrecision(6)))
  if (!short.includes('e')) return short
  return Math.abs(n) < 1 ? n.toFixed(12) : BigInt(Math.round(n)).toString()
}

/**
 * The lineage facts of a record: the artifact and where it was trained, the data version, what
 * started it, a rollback's reason, the approver. Every value is untrusted text.
 */
export function lineageFacts(l: Lineage | undefined): string[] {
  if (!l) return []
  const facts: string[] = []
  if (l.modelUri) {
    const trained = l.trainedIn
      ? ` (trained in ${code(l.trainedIn)}${l.trainedSha ? ` at ${code(l.trainedSha.slice(0, 7))}` : ''}${l.trainingRunUrl ? `, ${link('training run', l.trainingRunUrl)}` : ''})`
      : ''
    facts.push(`Artifact: ${code(l.modelUri)}${trained}`)
  }
  if (l.dataVersion) facts.push(`Data: ${code(l.dataVersion)}`)
  if (l.trigger) facts.push(`Started by: ${text(l.trigger)}`)
  if (l.approvedBy) facts.push(`Approved by: ${text(l.approvedBy)}`)
  if (l.rollback) {
    facts.push(
      `Rolled back${l.rollback.replacedSha ? ` from ${code(l.rollback.replacedSha.slice(0, 7))}` : ''}: ${text(l.rollback.reason)}`
    )
  }
  return facts
}

/** One model's section: headline, run link, metric table, notes. */
export function modelSection(r: ModelResult): string {
  const parts = [`### ${headline(r)}`]
  for (const note of r.notes ?? []) parts.push(`> ${text(note)}`)
  const facts: string[] = []
  const training = runLink(r)
  if (training) facts.push(`${r.lineage?.trainedIn ? 'Evaluation' : 'Training'}: ${training}`)
  facts.push(...lineageFacts(r.lineage))
  if (r.verdict === 'pending') facts.push(`Status: ${text(r.reason)}`)
  if (r.reused) facts.push('Result reused from the earlier gate of this commit.')
  if (r.champion) {
    facts.push(
      `Champion: ${code(r.champion.sha.slice(0, 7))} promoted ${text(r.champion.promotedAt.slice(0, 10))}` +
        (r.champion.runUrl ? ` (${link('run', r.champion.runUrl)})` : '') +
        (r.champion.modelUri ? `, artifact ${code(r.champion.modelUri)}` : '') +
        (r.champion.dataVersion ? `, data ${code(r.champion.dataVersion)}` : '')
    )
  }
  if (r.durationMs !== undefined) facts.push(`Took ${Math.round(r.durationMs / 100) / 10} s.`)
  for (const d of r.downstream ?? []) {
    facts.push(
      `on_promote ${code(d.name)}: ${d.ok ? `${ICON.pass} done` : `${ICON.error} ${text(d.message ?? 'failed')}`}${d.url ? ` (${link('run', d.url)})` : ''}`
    )
  }
  if (facts.length) parts.push(facts.join('  \n'))
  if (r.gate) {
    parts.push(gateTable(r.gate))
    for (const note of r.gate.notes) parts.push(`> ${text(note)}`)
  }
  if (r.gate && r.history?.length) {
    parts.push(...trendCharts(r, r.gate))
    parts.push(historyTable(r, r.gate))
  }
  if (r.verdict === 'error' && r.detail) parts.push(preformatted(r.detail))
  return parts.join('\n\n')
}

/** Reports on more models than this collapse the passing ones, so failures stand out. */
export const COLLAPSE_ABOVE = 3

/** A passing model's section folded under its headline. */
export function collapsedSection(r: ModelResult): string {
  const body = modelSection(r).replace(/^### .*\n*/, '')
  // Markdown is not read inside <summary>: the headline's bold and code become HTML there.
  const summary = headline(r)
    .replace(/\*\*(.+?)\*\*/g, '<b>$1</b>')
    .replace(/`([^`]+)`/g, '<code>$1</code>')
  return `<details><summary>${summary}</summary>\n\n${body}\n\n</details>`
}

/** A model's headline only, for reports too long to hold every table. */
export function compactSection(r: ModelResult): string {
  return `### ${headline(r)}\n\n_The full report on this model is in the job summary._`
}

/**
 * The section of each reported model for a report of at most `limit` characters: in full, passing
 * models collapsed when there are many, and passing models cut to their headline when even that
 * does not fit. Failing, erroring and pending models always keep their whole section.
 */
export function reportSections(results: ModelResult[], limit: number): Record<string, string> {
  const acted = results.filter((r) => r.verdict !== 'skipped')
  const collapse = acted.length > COLLAPSE_ABOVE
  const render = (shrink: (r: ModelResult) => string) =>
    Object.fromEntries(
      acted.map((r) => [r.model, r.verdict === 'pass' && collapse ? shrink(r) : modelSection(r)])
    )
  const full = render(collapsedSection)
  const size = Object.values(full).reduce((n, s) => n + s.length + 80, 0)
  return size <= limit ? full : render(compactSection)
}

/**
 * One line per failed `on_promote` job. The promotion stands: the run fails so that someone looks,
 * and the README says how to re-run the job or roll back.
 */
export function downstreamFailures(results: ModelResult[]): string[] {
  return results.flatMap((r) =>
    (r.downstream ?? [])
      .filter((d) => !d.ok)
      .map(
        (d) =>
          `${r.model} [${r.environment}]: ${r.action === 'rollback' ? 'rolled back' : 'promoted'}, but its on_promote job ${d.name} failed: ${d.message ?? 'failed'}${d.url ? ` (${d.url})` : ''}; the ${r.action === 'rollback' ? 'restored' : 'new'} champion stays`
      )
  )
}

export interface SummaryInput {
  title: string
  plan?: Plan
  results: ModelResult[]
  notes?: string[]
  /** Characters the report may take (the job summary holds 1 MiB). */
  limit?: number
}

export function overallVerdict(results: ModelResult[]): 'pass' | 'fail' | 'skipped' | 'pending' {
  const acted = results.filter((r) => r.verdict !== 'skipped')
  if (acted.length === 0) return 'skipped'
  if (acted.some((r) => r.verdict === 'fail' || r.verdict === 'error')) return 'fail'
  return acted.some((r) => r.verdict === 'pending') ? 'pending' : 'pass'
}

/** The job summary / CLI report: overview table, then a section per model. */
export function renderSummary(input: SummaryInput): string {
  const { results } = input
  const verdict = overallVerdict(results)
  const out = [`## ml-promote: ${text(input.title)} — ${ICON[verdict]} ${verdict}`]
  if (input.plan) out.push(text(input.plan.reason))
  for (const note of input.notes ?? []) out.push(`> [!NOTE]\n> ${note}`)
  if (results.length) {
    out.push(
      [
        '| Model | Environment | Action | Verdict | Promoted |',
        '| --- | --- | --- | --- | --- |',
        ...results.map(
          (r) =>
            `| ${cell(r.model)} | ${cell(r.environment ?? '—')} | ${r.action} | ${ICON[r.verdict]} ${r.verdict} | ${r.promoted ? 'yes' : 'no'} |`
        )
      ].join('\n')
    )
  }
  const sections = reportSections(results, input.limit ?? Infinity)
  for (const r of results) if (sections[r.model] !== undefined) out.push(sections[r.model]!)
  return out.join('\n\n') + '\n'
}

/** Plain-text rendering of the same facts for a terminal. */
export function renderText(input: SummaryInput): string {
  const lines: string[] = []
  const verdict = overallVerdict(input.results)
  lines.push(`ml-promote: ${input.title}: ${verdict.toUpperCase()}`)
  for (const note of input.notes ?? []) lines.push(`note: ${note}`)
  for (const r of input.results) {
    const env = r.environment ?? '-'
    lines.push('')
    lines.push(
      `${r.model} [${env}] ${r.action}: ${r.verdict.toUpperCase()}${r.promoted ? ' (new champion)' : ''} - ${r.reason}`
    )
    for (const note of r.notes ?? []) lines.push(`  note: ${note}`)
    if (r.run?.url) lines.push(`  run: ${r.run.url}`)
    const l = r.lineage
    if (l?.modelUri) {
      const trained = l.trainedIn
        ? ` (trained in ${l.trainedIn}${l.trainedSha ? ` at ${l.trainedSha.slice(0, 7)}` : ''})`
        : ''
      lines.push(`  artifact: ${l.modelUri}${trained}`)
    }
    if (l?.dataVersion) lines.push(`  data: ${l.dataVersion}`)
    if (r.champion?.modelUri) {
      lines.push(`  champion: ${r.champion.sha.slice(0, 7)}, artifact ${r.champion.modelUri}`)
    }
    for (const d of r.downstream ?? [])
      lines.push(`  on_promote ${d.name}: ${d.ok ? 'done' : `FAILED - ${d.message ?? ''}`}`)
    if (r.gate) {
      const table = [['metric', 'candidate', 'champion', 'delta', 'rule', 'result']]
      for (const m of r.gate.metrics) {
        table.push([
          m.metric,
          num(m.candidate),
          num(m.champion),
          signed(m.delta),
          m.rule,
          m.outcome
        ])
      }
      const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)))
      for (const row of table)
        lines.push(
          '  ' +
            row
              .map((c, i) => c.padEnd(widths[i]!))
              .join('  ')
              .trimEnd()
        )
      for (const note of r.gate.notes) lines.push(`  ${note}`)
    }
    if (r.verdict === 'error' && r.detail)
      lines.push(...r.detail.split('\n').map((l) => `  | ${l}`))
  }
  return lines.join('\n') + '\n'
}

/** What would happen, as a table; `mode: plan` writes it and runs nothing. */
export function renderPlanMarkdown(p: Plan): string {
  const rows = p.items.map(
    (i) => `| ${cell(i.model)} | ${cell(i.environment ?? '—')} | ${i.action} | ${cell(i.reason)} |`
  )
  return (
    [
      '## ml-promote: plan — nothing was run',
      '',
      text(p.reason),
      '',
      '| Model | Environment | Action | Why |',
      '| --- | --- | --- | --- |',
      ...rows
    ].join('\n') + '\n'
  )
}
