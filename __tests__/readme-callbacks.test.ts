// The README's completion-callback recipes send what `mode: reconcile` listens for: the
// repository_dispatch event type, the client_payload keys callbackMatch reads, and the run ids each
// backend records. This fails when the README and the code drift apart.
import { describe, expect, it } from '@jest/globals'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parse } from 'yaml'
import { CALLBACK_EVENT_TYPE } from '../src/action.js'
import { root } from '../test/e2e/harness.js'

const read = (file: string) => readFileSync(path.join(root, file), 'utf8')

/** The README section on detached trainings, up to the next section of the same level. */
function section(): string {
  const readme = read('README.md')
  const start = readme.indexOf('### Train for hours without holding a runner')
  expect(start).toBeGreaterThanOrEqual(0)
  const end = readme.indexOf('\n### ', start + 1)
  return readme.slice(start, end === -1 ? undefined : end)
}

interface Block {
  lang: string
  text: string
}

function blocks(markdown: string): Block[] {
  return [...markdown.matchAll(/^```(\w+)[^\n]*\n([\s\S]*?)^```/gm)].map((m) => ({
    lang: m[1]!,
    text: m[2]!
  }))
}

/** The client_payload keys callbackMatch reads, and the ones it requires (named in its error). */
function callbackKeys(): { read: string[]; required: string[] } {
  const source = read('src/action.ts')
  const start = source.indexOf('function callbackMatch(')
  expect(start).toBeGreaterThanOrEqual(0)
  const body = source.slice(start, source.indexOf('\n}\n', start))
  const readKeys = [...new Set([...body.matchAll(/\bc\.(\w+)/g)].map((m) => m[1]!))]
  const required = /whose client_payload names "(\w+)" and "(\w+)"/.exec(body)
  expect(required).not.toBeNull()
  return { read: readKeys.sort(), required: [required![1]!, required![2]!] }
}

/** What one recipe sends: its event types, client_payload keys and backend. */
function sent(text: string): { eventTypes: string[]; keys: string[]; backends: string[] } {
  const eventTypes = [...text.matchAll(/event_type"?\s*[:=]\s*"?([\w-]+)/g)].map((m) => m[1]!)
  // gh api -f 'client_payload[key]=value'
  const ghKeys = [...text.matchAll(/client_payload\[(\w+)\]=/g)].map((m) => m[1]!)
  const ghBackends = [...text.matchAll(/client_payload\[backend\]=([\w-]+)/g)].map((m) => m[1]!)
  // Python: "client_payload": {"key": value, ...}
  const dict = /"client_payload":\s*\{([^}]*)\}/.exec(text)?.[1] ?? ''
  const pyKeys = [...dict.matchAll(/"(\w+)":/g)].map((m) => m[1]!)
  const pyBackends = [...dict.matchAll(/"backend":\s*"([\w-]+)"/g)].map((m) => m[1]!)
  return {
    eventTypes,
    keys: [...ghKeys, ...pyKeys],
    backends: [...ghBackends, ...pyBackends]
  }
}

const recipes = blocks(section()).filter((b) => b.text.includes('event_type'))

function yamlBlocks(): Array<{ text: string; doc: Record<string, any> }> {
  return blocks(section())
    .filter((b) => b.lang === 'yaml')
    .map((b) => ({ text: b.text, doc: parse(b.text) as Record<string, any> }))
}

function reconcileStep(workflow: Record<string, any>): Record<string, any> {
  return workflow.jobs.reconcile.steps.find((s: any) =>
    String(s.uses).startsWith('ml-promote/ml-promote@')
  )
}

describe('README completion callbacks', () => {
  it('has a sender for each remote backend', () => {
    const backends = recipes.flatMap((b) => sent(b.text).backends).sort()
    expect(backends).toEqual(['airflow', 'databricks', 'github-workflow'])
  })

  it.each(recipes.map((b) => [sent(b.text).backends.join(), b] as const))(
    'the %s callback sends the event type and payload keys reconcile reads',
    (_backend, block) => {
      const { eventTypes, keys } = sent(block.text)
      const { read: readKeys, required } = callbackKeys()
      expect(eventTypes.length).toBeGreaterThan(0)
      expect(new Set(eventTypes)).toEqual(new Set([CALLBACK_EVENT_TYPE]))
      expect(keys).toEqual(expect.arrayContaining(required))
      expect(readKeys).toEqual(expect.arrayContaining(keys))
      // GitHub's limit on client_payload.
      expect(keys.length).toBeLessThanOrEqual(10)
    }
  )

  it('the reconcile workflow listens for that event and workflow_run completions', () => {
    const workflow = yamlBlocks().find((w) => w.doc?.on?.repository_dispatch)
    expect(workflow).toBeDefined()
    const on = workflow!.doc.on
    expect(on.repository_dispatch.types).toEqual([CALLBACK_EVENT_TYPE])
    expect(on.workflow_run.types).toEqual(['completed'])
    // The sweep has a workflow of its own: the one that receives the callbacks is never turned off.
    expect(on.schedule).toBeUndefined()
    expect(reconcileStep(workflow!.doc).with.mode).toBe('reconcile')
  })

  it('the safety sweep is the workflow the config names, on the cron the bench prices', () => {
    const named = /^sweep_workflow: (\S+)$/m.exec(section())
    expect(named).not.toBeNull()
    const sweep = yamlBlocks().find((w) => w.text.startsWith(`# .github/workflows/${named![1]}\n`))
    expect(sweep).toBeDefined()
    expect(reconcileStep(sweep!.doc).with.mode).toBe('reconcile')
    expect(sweep!.doc.permissions.actions).toBe('write')
    const [cron] = sweep!.doc.on.schedule.map((s: { cron: string }) => s.cron)
    const hours = /^\d+ \*\/(\d+) \* \* \*$/.exec(cron)
    expect(hours).not.toBeNull()
    const bench = /const SAFETY_EVERY_S = (\d+) \* 60 \* 60/.exec(read('bench/detached.bench.ts'))
    expect(bench?.[1]).toBe(hours![1])
  })

  it('the Databricks task passes the job run id to the notebook that sends it', () => {
    const job = blocks(section()).find((b) => b.lang === 'yaml' && b.text.includes('run_if:'))
    expect(job).toBeDefined()
    const tasks = parse(job!.text).resources.jobs.fraud_train.tasks as Array<Record<string, any>>
    const last = tasks[tasks.length - 1]!
    expect(last.run_if).toBe('ALL_DONE')
    expect(last.depends_on.map((d: { task_key: string }) => d.task_key).sort()).toEqual(
      tasks
        .slice(0, -1)
        .map((t) => t.task_key)
        .sort()
    )
    const [param] = Object.entries(last.notebook_task.base_parameters as Record<string, string>)
      .filter(([, value]) => value === '{{job.run_id}}')
      .map(([name]) => name)
    const notebook = recipes.find((b) => sent(b.text).backends.includes('databricks'))!
    expect(notebook.text).toContain(`dbutils.widgets.get("${param}")`)
  })

  it('the Airflow callback recognises the dag_run_id ml-promote sets', () => {
    const prefix = /const RUN_ID_PREFIX = '([^']+)'/.exec(read('src/backends/airflow.ts'))?.[1]
    expect(prefix).toBeDefined()
    const airflow = recipes.find((b) => sent(b.text).backends.includes('airflow'))!
    expect(airflow.text).toContain(`run_id.startswith("${prefix}")`)
  })
})
