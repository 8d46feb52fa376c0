import { describe, expect, it } from '@jest/globals'
import { judgingConfig, modelNotes, removedModelResults } from '../src/config/judging.js'
import { loadConfig } from '../src/config/load.js'
import type { Config } from '../src/config/schema.js'

const BASE = `version: 1
gate_environment: staging
environments:
  staging: { branch: main }
  production: { branch: release, schedule: true }
models:
  fraud:
    paths: ['models/fraud/**']
    metric_names: [auc, recall]
    train: { backend: command, run: python3 train.py, metrics: out/m.json, pass_env: [WAREHOUSE_DSN] }
    environments:
      production: { run: python3 train.py --prod }
    gate:
      auc: { threshold: 0.9, min_absolute_change: -0.005 }
      recall: { threshold: 0.7 }
`

function load(text: string, file = 'ml-promote.yml') {
  const loaded = loadConfig(text, file)
  expect(loaded.problems).toEqual([])
  return { config: loaded.config as Config, locate: loaded.locate }
}

function judge(headText: string) {
  const base = load(BASE, 'ml-promote.yml@main')
  const head = load(headText)
  return {
    base: base.config,
    head: head.config,
    ...judgingConfig(head.config, base.config, head.locate)
  }
}

describe('judging a pull request: the base decides who is judged, where and by which rule', () => {
  it('takes the head only for the train specs, resolved for the base environments', () => {
    const j = judge(BASE.replace('python3 train.py, metrics', 'python3 train2.py, metrics'))
    expect(j.changes).toEqual([])
    const [fraud] = j.config.models
    expect(fraud?.train.staging).toMatchObject({ run: 'python3 train2.py' })
    expect(fraud?.train.production).toMatchObject({ run: 'python3 train.py --prod' })
    expect(fraud?.gate).toEqual(j.base.models[0]?.gate)
  })

  // One row per loosening edit; each is ignored for judging and announced on its head line.
  it.each([
    [
      'the gate environment',
      (t: string) => t.replace('gate_environment: staging', 'gate_environment: production'),
      'gate_environment',
      2
    ],
    [
      'a new environment as the gate environment',
      (t: string) =>
        t
          .replace('gate_environment: staging', 'gate_environment: sandbox')
          .replace('environments:\n', 'environments:\n  sandbox: { branch: sandbox }\n'),
      'gate_environment',
      2
    ],
    [
      'the branch of an environment',
      (t: string) => t.replace('{ branch: main }', '{ branch: nope }'),
      'environments.staging.branch',
      4
    ],
    [
      'the schedule',
      (t: string) => t.replace('schedule: true', 'schedule: false'),
      'environments.production.schedule',
      5
    ],
    [
      'the champion store',
      (t: string) => t.replace('environments:\n', 'champions: { store: file }\nenvironments:\n'),
      'champions.store',
      3
    ],
    [
      'the paths',
      (t: string) => t.replace("['models/fraud/**']", "['!**']"),
      'models.fraud.paths',
      8
    ],
    [
      'the metric names',
      (t: string) => t.replace('[auc, recall]', '[auc, recall, f1]'),
      'models.fraud.metric_names',
      9
    ],
    [
      'a threshold',
      (t: string) => t.replace('threshold: 0.9,', 'threshold: 0.5,'),
      'models.fraud.gate.auc.threshold',
      14
    ],
    [
      'a widened tolerated drop',
      (t: string) => t.replace('-0.005', '-0.5'),
      'models.fraud.gate.auc.min_absolute_change',
      14
    ],
    [
      'a removed rule',
      (t: string) => t.replace('      recall: { threshold: 0.7 }\n', ''),
      'models.fraud.gate',
      13
    ],
    [
      'a flipped direction',
      (t: string) =>
        t.replace('{ threshold: 0.7 }', '{ threshold: 0.7, greater_is_better: false }'),
      'models.fraud.gate.recall.greater_is_better',
      15
    ],
    [
      'a variable granted to training',
      (t: string) => t.replace('[WAREHOUSE_DSN]', '[WAREHOUSE_DSN, DATABRICKS_TOKEN]'),
      'models.fraud.train.pass_env',
      10
    ]
  ])('ignores and announces a change of %s', (_, edit, key, line) => {
    const j = judge(edit(BASE))
    expect(j.config.gateEnvironment).toBe('staging')
    expect(j.config.environments).toEqual(j.base.environments)
    expect(j.config.champions).toEqual(j.base.champions)
    const [fraud] = j.config.models
    expect(fraud).toMatchObject({
      name: 'fraud',
      paths: j.base.models[0]?.paths,
      metricNames: j.base.models[0]?.metricNames,
      gate: j.base.models[0]?.gate
    })
    expect(fraud?.train.staging).toMatchObject({ pass_env: ['WAREHOUSE_DSN'] })
    const change = j.changes.find((c) => c.key === key)
    expect(change?.message).toMatch(/after merge|until this is merged/)
    expect(change?.at).toMatchObject({ file: 'ml-promote.yml', line })
  })

  it('keeps the base promote mode and retrain_paths, so a pull request cannot declare itself serving-only', () => {
    const base = BASE.replace(
      "    paths: ['models/fraud/**']\n",
      "    promote: model\n    paths: ['models/fraud/**', 'serving/**']\n    retrain_paths: ['models/fraud/**']\n"
    ).replace(
      '    environments:\n      production: { run: python3 train.py --prod }\n',
      '    evaluate: { backend: command, run: python3 evaluate.py, metrics: out/m.json }\n'
    )
    const baseConfig = load(base, 'ml-promote.yml@main').config
    const judged = (head: string) => {
      const loaded = load(head)
      return judgingConfig(loaded.config, baseConfig, loaded.locate)
    }
    const narrowed = judged(
      base.replace("retrain_paths: ['models/fraud/**']", "retrain_paths: ['models/fraud/never/**']")
    )
    const recoded = judged(
      base
        .replace('promote: model', 'promote: code')
        .replace("    retrain_paths: ['models/fraud/**']\n", '')
        .replace(
          '    evaluate: { backend: command, run: python3 evaluate.py, metrics: out/m.json }\n',
          ''
        )
    )
    for (const j of [narrowed, recoded]) {
      expect(j.config.models[0]).toMatchObject({
        promote: 'model',
        retrainPaths: ['models/fraud/**'],
        evaluate: baseConfig.models[0]!.evaluate
      })
    }
    expect(narrowed.changes.map((c) => [c.key, c.at?.line])).toEqual([
      ['models.fraud.retrain_paths', 10]
    ])
    expect(recoded.changes.map((c) => [c.key, c.message])).toEqual([
      [
        'models.fraud.promote',
        '"fraud" switches to promote: code after merge; until then it is promoted as model'
      ],
      [
        'models.fraud.retrain_paths',
        'the retrain_paths of "fraud" change; which changes retrain it is decided by the base until this is merged'
      ]
    ])
  })

  it('fails a model the head renames, and judges the new name by the gate the pull request sets', () => {
    const j = judge(
      BASE.replace('  fraud:\n', '  fraud2:\n').replace('threshold: 0.9,', 'threshold: 0.1,')
    )
    expect(j.removedModels).toEqual(['fraud'])
    expect(j.newModels).toEqual(['fraud2'])
    expect(j.config.models.map((m) => m.name)).toEqual(['fraud2'])
    expect(j.config.models[0]?.gate.auc?.threshold).toBe(0.1)
    const [removed] = removedModelResults(j, 'ml-promote.yml')
    expect(removed).toMatchObject({ model: 'fraud', environment: 'staging', verdict: 'fail' })
    expect(modelNotes(j, 'fraud2', 'main')).toContain(
      '"fraud2" is new: its gate is set by this pull request.'
    )
  })

  it('gives a renamed environment the head default train spec and keeps judging in the base one', () => {
    const j = judge(BASE.replaceAll('staging', 'stg'))
    expect(j.config.gateEnvironment).toBe('staging')
    expect(j.config.models[0]?.train.staging).toMatchObject({ run: 'python3 train.py' })
    expect(j.changes.map((c) => c.key)).toEqual(
      expect.arrayContaining(['gate_environment', 'environments', 'environments.stg'])
    )
  })

  it('never lets a head pass_env reach a training the base did not grant it to', () => {
    const j = judge(
      BASE.replace('pass_env: [WAREHOUSE_DSN]', 'pass_env: [WAREHOUSE_DSN]').replace(
        '      production: { run: python3 train.py --prod }',
        '      production: { run: python3 train.py --prod, pass_env: [INPUT_GITHUB_TOKEN] }'
      )
    )
    expect(j.config.models[0]?.train.production).not.toHaveProperty('pass_env')
    expect(j.config.models[0]?.train.staging).toMatchObject({ pass_env: ['WAREHOUSE_DSN'] })
  })

  it('treats every model as new when the base has no config yet', () => {
    const head = load(BASE).config
    const j = judgingConfig(head, undefined)
    expect(j.config).toBe(head)
    expect(j.newModels).toEqual(['fraud'])
    expect(j.removedModels).toEqual([])
  })

  it('does not count defaults spelt out or a different key order as a change', () => {
    const j = judge(
      BASE.replace(
        'auc: { threshold: 0.9, min_absolute_change: -0.005 }',
        'auc: { min_absolute_change: -0.005, greater_is_better: true, threshold: 0.9 }'
      )
    )
    expect(j.changes).toEqual([])
  })

  it('leaves both configs untouched', () => {
    const base = load(BASE).config
    const head = load(BASE.replace('0.9,', '0.5,')).config
    const before = structuredClone([base, head])
    judgingConfig(head, base)
    expect([base, head]).toEqual(before)
  })
})
