#!/usr/bin/env node
// Parses Mermaid diagrams with Mermaid's own parser (in a jsdom window, as it expects a DOM) and
// prints, for each diagram given as a JSON array on stdin, `{ ok, type }` or `{ ok: false, error }`.
// A separate process keeps Mermaid's large ESM dependency tree out of the test runner.
import { JSDOM } from 'jsdom'

const dom = new JSDOM('')
globalThis.window = dom.window
globalThis.document = dom.window.document
const { default: mermaid } = await import('mermaid')

let input = ''
for await (const chunk of process.stdin) input += chunk
const out = []
for (const diagram of JSON.parse(input)) {
  try {
    const parsed = await mermaid.parse(diagram)
    out.push({ ok: true, type: parsed.diagramType })
  } catch (e) {
    out.push({
      ok: false,
      error: String(e?.message ?? e)
        .split('\n')
        .slice(0, 4)
        .join('\n')
    })
  }
}
process.stdout.write(JSON.stringify(out))
