// The manual retrain recipe: workflow_dispatch with `environment` and `models` inputs, through the
// bundle, with a real workflow_dispatch payload. Bad inputs are clear errors and train nothing.
import { describe, expect, it } from '@jest/globals'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { parse } from 'yaml'
import { exampleWorkspace, root, runAction, webhookExample } from '../test/e2e/harness.js'

const RECIPE = path.join(root, 'examples/fraud-detection/.github/workflows/ml-retrain.yml')

/** What the recipe's ml-promote step passes for the given dispatch inputs. */
function stepInputs(dispatch: Record<string, string>): Record<string, string> {
  const workflow = parse(readFileSync(RECIPE, 'utf8'))
  const steps: Array<{ uses?: string; with?: Record<string, string> }> =
    workflow.jobs['ml-promote'].steps
  const step = steps.find((s) => s.uses?.startsWith('ml-promote/ml-promote@'))!
  return Object.fromEntries(
    Object.entries(step.with ?? {}).map(([k, v]) => [
      k,
      String(v).replace(/\$\{\{\s*inputs\.([a-z_]+)\s*\}\}/g, (_, name) => dispatch[name] ?? '')
    ])
  )
}

function dispatch(inputs: Record<string, string>) {
  const ws = exampleWorkspace()
  const payload = { ...webhookExample('workflow_dispatch'), ref: 'refs/heads/main', inputs }
  return runAction({
    workspace: ws.dir,
    event: 'workflow_dispatch',
    payload,
    ref: 'refs/heads/main',
    inputs: stepInputs(inputs)
  }).then((run) => ({ run, ws }))
}

const trainedAnything = (dir: string) => existsSync(path.join(dir, '.ml-promote', 'state.json'))

describe('manual retrain (workflow_dispatch)', () => {
  it('the recipe declares the environment and models inputs', () => {
    const workflow = parse(readFileSync(RECIPE, 'utf8'))
    expect(Object.keys(workflow.on.workflow_dispatch.inputs)).toEqual(['environment', 'models'])
    expect(stepInputs({ environment: 'staging', models: 'a,b' })).toMatchObject({
      environment: 'staging',
      models: 'a,b'
    })
  })

  it('retrains the chosen model in the chosen environment', async () => {
    const { run } = await dispatch({ environment: 'staging', models: 'fraud-detector' })
    expect(run.code).toBe(0)
    const results = JSON.parse(run.outputs.results!)
    expect(results.map((r: any) => `${r.model}@${r.environment}:${r.verdict}`)).toEqual([
      'fraud-detector@staging:pass'
    ])
    expect(results[0].promoted).toBe(true)
  })

  it.each([
    [
      { environment: 'prod', models: '' },
      /unknown environment "prod" \(did you mean "production"\?\)/
    ],
    [
      { environment: 'staging', models: 'fraud-detectr' },
      /unknown model "fraud-detectr" \(did you mean "fraud-detector"\?\) in the models input/
    ]
  ])('inputs %j: a clear error, nothing trained', async (inputs, message) => {
    const { run, ws } = await dispatch(inputs)
    expect(run.code).toBe(1)
    expect(run.stdout).toMatch(new RegExp(`::error[^:]*::.*${message.source}`))
    expect(run.stdout).not.toContain('Training fraud-detector')
    expect(trainedAnything(ws.dir)).toBe(false)
  })

  it('production trains only the code of its own branch', async () => {
    const { run, ws } = await dispatch({ environment: 'production', models: '' })
    expect(run.code).toBe(1)
    expect(run.stdout).toMatch(/production trains the code on "release"/)
    expect(trainedAnything(ws.dir)).toBe(false)
  })
})
