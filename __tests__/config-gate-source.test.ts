import { describe, expect, it } from '@jest/globals'
import { withBaseGates } from '../src/config/gate-source.js'
import { loadConfig } from '../src/config/load.js'
import type { Config } from '../src/config/schema.js'

/** A config whose models are given as `name: [train run command, gate YAML]`. */
function config(models: Record<string, [string, string]>): Config {
  const lines = ['version: 1', 'environments:', '  staging: { branch: main }', 'models:']
  for (const [name, [run, gate]] of Object.entries(models)) {
    lines.push(`  ${name}:`, `    train: { backend: command, run: ${run}, metrics: m.json }`)
    lines.push(`    gate: ${gate}`)
  }
  const { config, problems } = loadConfig(`${lines.join('\n')}\n`, 'ml-promote.yml')
  expect(problems).toEqual([])
  return config as Config
}

const strict = '{ auc: { threshold: 0.9, min_absolute_change: 0 } }'
const loose = '{ auc: { threshold: 0.5 } }'

describe('withBaseGates: a pull request is judged by the gate of its base branch', () => {
  it('takes the gate from the base and the training from the head', () => {
    const base = config({ fraud: ['make old', strict] })
    const head = config({ fraud: ['make new', loose] })
    const { config: judged, changedGates, newModels } = withBaseGates(head, base)
    const [fraud] = judged.models
    expect(fraud?.gate).toEqual(base.models[0]?.gate)
    expect(fraud?.train.staging).toMatchObject({ run: 'make new' })
    expect(changedGates).toEqual(['fraud'])
    expect(newModels).toEqual([])
  })

  it('does not count defaults spelt out or a different key order as a change', () => {
    const base = config({ fraud: ['make', '{ auc: { threshold: 0.9 }, f1: { threshold: 0.5 } }'] })
    const head = config({
      fraud: [
        'make',
        '{ f1: { threshold: 0.5 }, auc: { greater_is_better: true, threshold: 0.9 } }'
      ]
    })
    expect(withBaseGates(head, base).changedGates).toEqual([])
  })

  it.each([
    ['a threshold moved', '{ auc: { threshold: 0.8, min_absolute_change: 0 } }'],
    ['a rule dropped', '{ auc: { threshold: 0.9 } }'],
    ['a metric removed', '{ f1: { threshold: 0.1 } }'],
    ['a metric added', `{ auc: { threshold: 0.9, min_absolute_change: 0 }, f1: { threshold: 0 } }`],
    [
      'the direction flipped',
      '{ auc: { threshold: 0.9, min_absolute_change: 0, greater_is_better: false } }'
    ]
  ])('reports a changed gate when %s', (_, gate) => {
    const base = config({ fraud: ['make', strict] })
    const head = config({ fraud: ['make', gate] })
    const result = withBaseGates(head, base)
    expect(result.changedGates).toEqual(['fraud'])
    expect(result.config.models[0]?.gate).toEqual(base.models[0]?.gate)
  })

  it('lets a model the base does not know keep its own gate, and says so', () => {
    const base = config({ fraud: ['make', strict] })
    const head = config({ fraud: ['make', strict], churn: ['make churn', loose] })
    const { config: judged, changedGates, newModels } = withBaseGates(head, base)
    expect(newModels).toEqual(['churn'])
    expect(changedGates).toEqual([])
    expect(judged.models.map((m) => m.name)).toEqual(['fraud', 'churn'])
    expect(judged.models[1]?.gate).toEqual(head.models[1]?.gate)
  })

  it('ignores models the head removed', () => {
    const base = config({ fraud: ['make', strict], churn: ['make', loose] })
    const head = config({ fraud: ['make', strict] })
    const { config: judged, changedGates, newModels } = withBaseGates(head, base)
    expect(judged.models.map((m) => m.name)).toEqual(['fraud'])
    expect(changedGates).toEqual([])
    expect(newModels).toEqual([])
  })

  it('treats every model as new when the base has no config yet', () => {
    const head = config({ fraud: ['make', loose], churn: ['make', strict] })
    const { config: judged, changedGates, newModels } = withBaseGates(head, undefined)
    expect(judged).toEqual(head)
    expect(newModels).toEqual(['fraud', 'churn'])
    expect(changedGates).toEqual([])
  })

  it('leaves the head config untouched', () => {
    const base = config({ fraud: ['make', strict] })
    const head = config({ fraud: ['make', loose] })
    const before = structuredClone(head)
    withBaseGates(head, base)
    expect(head).toEqual(before)
  })
})
