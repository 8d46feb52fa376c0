import { describe, it, expect } from '@jest/globals'
import { plan, PlanError, renderPlan } from '../src/plan.js'
import type { Config, EnvironmentConfig, ModelConfig } from '../src/config/schema.js'
import type { EventName, Mode, PlanInput } from '../src/types.js'

function model(name: string, paths: string[] = []): ModelConfig {
  const train = { backend: 'command', run: 'python train.py', metrics: 'out/metrics.json' } as const
  return {
    name,
    paths,
    train: { staging: train },
    defaultTrain: train,
    gate: { auc: { threshold: 0.9, greater_is_better: true } }
  }
}

function env(name: string, branch: string, schedule = false): EnvironmentConfig {
  return { name, branch, schedule }
}

/** staging ← main, production ← release (scheduled); three models, one without paths. */
function config(overrides: Partial<Config> = {}): Config {
  return {
    file: '.github/ml-promote.yml',
    version: 1,
    gateEnvironment: 'staging',
    environments: [env('staging', 'main'), env('production', 'release', true)],
    models: [
      model('fraud-detector', ['models/fraud/**']),
      model('churn', ['models/churn/**', 'shared/*.py']),
      model('ranker')
    ],
    champions: { store: 'auto', unity_catalog: false },
    ...overrides
  }
}

function input(event: EventName, fields: Partial<PlanInput> = {}): PlanInput {
  return { event, branch: 'main', mode: 'auto', ...fields }
}

/** `model@environment:action` per item, the shape most assertions care about. */
function summary(items: { model: string; environment: string | undefined; action: string }[]) {
  return items.map((i) => `${i.model}@${i.environment ?? '-'}:${i.action}`)
}

function planError(fn: () => unknown): PlanError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(PlanError)
    return e as PlanError
  }
  throw new Error('expected a PlanError')
}

describe('mode auto derives the kind from the event', () => {
  it.each<{ event: EventName; fields: Partial<PlanInput>; kind: string; environment: string }>([
    {
      event: 'pull_request',
      fields: { branch: 'feature', base: 'main' },
      kind: 'gate',
      environment: 'staging'
    },
    { event: 'push', fields: { branch: 'main' }, kind: 'retrain', environment: 'staging' },
    { event: 'push', fields: { branch: 'release' }, kind: 'retrain', environment: 'production' },
    { event: 'schedule', fields: {}, kind: 'retrain', environment: 'production' },
    {
      event: 'workflow_dispatch',
      fields: { branch: 'release' },
      kind: 'retrain',
      environment: 'production'
    }
  ])('$event on $fields.branch → $kind in $environment', ({ event, fields, kind, environment }) => {
    const p = plan(config(), input(event, fields))
    expect(p).toMatchObject({ event, mode: 'auto', kind, environment })
    expect(p.items.every((i) => i.environment === environment)).toBe(true)
    expect(p.items.every((i) => i.action === kind)).toBe(true)
  })

  it('mode plan plans exactly as auto would', () => {
    const fields = { branch: 'main', changedFiles: ['models/fraud/train.py'] }
    const auto = plan(config(), input('push', fields))
    const planned = plan(config(), input('push', { ...fields, mode: 'plan' }))
    expect(planned).toEqual({ ...auto, mode: 'plan' })
  })
})

describe('an explicit mode overrides the kind, not the environment', () => {
  it.each<{
    event: EventName
    mode: Mode
    fields: Partial<PlanInput>
    kind: string
    environment: string | undefined
  }>([
    {
      event: 'push',
      mode: 'gate',
      fields: { branch: 'release' },
      kind: 'gate',
      environment: 'production'
    },
    {
      event: 'pull_request',
      mode: 'retrain',
      fields: { branch: 'x', base: 'release' },
      kind: 'retrain',
      environment: 'staging'
    },
    { event: 'schedule', mode: 'gate', fields: {}, kind: 'gate', environment: 'production' },
    {
      event: 'workflow_dispatch',
      mode: 'gate',
      fields: { environment: 'staging' },
      kind: 'gate',
      environment: 'staging'
    },
    {
      event: 'pull_request',
      mode: 'gate',
      fields: { base: 'main' },
      kind: 'gate',
      environment: 'staging'
    }
  ])(
    '$event with mode $mode → $kind in $environment',
    ({ event, mode, fields, kind, environment }) => {
      const p = plan(config(), input(event, { ...fields, mode }))
      expect(p).toMatchObject({ mode, kind, environment })
      expect(new Set(p.items.map((i) => i.action))).toEqual(new Set([kind]))
    }
  )

  it('says so in the reason only when it differs from the event', () => {
    expect(plan(config(), input('push', { branch: 'release', mode: 'gate' })).reason).toBe(
      'push to "release": gate in "production" (mode gate)'
    )
    expect(plan(config(), input('push', { branch: 'release', mode: 'retrain' })).reason).toBe(
      'push to "release": retrain in "production"'
    )
  })

  it.each<{ mode: Mode; reason: string }>([
    { mode: 'validate', reason: 'mode validate: the config is checked, nothing is trained' },
    {
      mode: 'reconcile',
      reason: 'mode reconcile: champions are reconciled by the champion store, nothing is trained'
    }
  ])('mode $mode plans nothing', ({ mode, reason }) => {
    for (const event of ['pull_request', 'push', 'schedule', 'workflow_dispatch'] as const) {
      const p = plan(config(), input(event, { mode, base: 'main' }))
      expect(p).toEqual({ event, mode, kind: 'none', environment: undefined, items: [], reason })
    }
  })

  it('mode validate still rejects unknown models', () => {
    expect(() => plan(config(), input('push', { mode: 'validate', models: ['nope'] }))).toThrow(
      PlanError
    )
  })
})

describe('pull requests are gated in the gate environment', () => {
  it.each([
    { base: 'main', gateEnvironment: 'staging' },
    { base: 'release', gateEnvironment: 'staging' },
    { base: 'release', gateEnvironment: 'qa' }
  ])('into $base, gate environment $gateEnvironment', ({ base, gateEnvironment }) => {
    const c = config({
      gateEnvironment,
      environments: [
        env('qa', 'develop'),
        env('staging', 'main'),
        env('production', 'release', true)
      ]
    })
    const p = plan(c, input('pull_request', { branch: 'feature/x', base }))
    expect(p.kind).toBe('gate')
    expect(p.environment).toBe(gateEnvironment)
    expect(summary(p.items)).toEqual([
      `fraud-detector@${gateEnvironment}:gate`,
      `churn@${gateEnvironment}:gate`,
      `ranker@${gateEnvironment}:gate`
    ])
    expect(p.reason).toBe(`pull request into "${base}": gate in "${gateEnvironment}"`)
  })

  it('into a branch no environment owns: every model skipped', () => {
    const p = plan(config(), input('pull_request', { branch: 'feature/x', base: 'develop' }))
    expect(p.kind).toBe('none')
    expect(p.environment).toBeUndefined()
    expect(p.reason).toBe('base branch "develop" belongs to no environment')
    expect(p.items).toEqual(
      ['fraud-detector', 'churn', 'ranker'].map((m) => ({
        model: m,
        environment: undefined,
        action: 'skip',
        reason: 'base branch "develop" belongs to no environment'
      }))
    )
  })

  it('without a base, the branch is taken as the base', () => {
    expect(plan(config(), input('pull_request', { branch: 'release' })).environment).toBe('staging')
    expect(plan(config(), input('pull_request', { branch: 'topic' })).kind).toBe('none')
  })

  it('an environment input other than the gate environment plans nothing', () => {
    const p = plan(config(), input('pull_request', { base: 'release', environment: 'production' }))
    expect(p.kind).toBe('none')
    expect(p.reason).toBe('pull requests are gated in "staging", not "production"')
    expect(p.items.every((i) => i.action === 'skip' && i.environment === undefined)).toBe(true)
    expect(
      plan(config(), input('pull_request', { base: 'release', environment: 'staging' })).kind
    ).toBe('gate')
  })
})

describe('push retrains the environment that owns the branch', () => {
  it.each([
    { branch: 'main', environment: 'staging' },
    { branch: 'release', environment: 'production' }
  ])('push to $branch → $environment', ({ branch, environment }) => {
    const p = plan(config(), input('push', { branch }))
    expect(p).toMatchObject({
      kind: 'retrain',
      environment,
      reason: `push to "${branch}": retrain in "${environment}"`
    })
    expect(summary(p.items)).toEqual([
      `fraud-detector@${environment}:retrain`,
      `churn@${environment}:retrain`,
      `ranker@${environment}:retrain`
    ])
  })

  it('push to a branch no environment owns: every model skipped', () => {
    const p = plan(
      config(),
      input('push', { branch: 'feature/x', changedFiles: ['models/fraud/a.py'] })
    )
    const reason = 'push to "feature/x": no environment is promoted from this branch'
    expect(p).toMatchObject({ kind: 'none', environment: undefined, reason })
    expect(p.items.map((i) => [i.action, i.reason])).toEqual([
      ['skip', reason],
      ['skip', reason],
      ['skip', reason]
    ])
  })

  it('an environment input that the branch does not promote into plans nothing', () => {
    const p = plan(config(), input('push', { branch: 'main', environment: 'production' }))
    expect(p).toMatchObject({
      kind: 'none',
      reason: 'push to "main" promotes into "staging", not "production"'
    })
  })
})

describe('path filters decide which models a code change concerns', () => {
  it.each<{
    name: string
    changedFiles: string[] | undefined
    actions: string[]
    reasons: string[]
  }>([
    {
      name: 'a match',
      changedFiles: ['models/fraud/train.py'],
      actions: ['gate', 'skip', 'gate'],
      reasons: [
        'models/fraud/train.py changed',
        'no changed file matches models/churn/**, shared/*.py',
        'no paths: every change concerns it'
      ]
    },
    {
      name: 'no match',
      changedFiles: ['README.md', 'docs/models/fraud/x.md'],
      actions: ['skip', 'skip', 'gate'],
      reasons: [
        'no changed file matches models/fraud/**',
        'no changed file matches models/churn/**, shared/*.py',
        'no paths: every change concerns it'
      ]
    },
    {
      name: 'dotfiles and dot directories',
      changedFiles: ['models/fraud/.env.example', 'models/churn/.config/params.yml'],
      actions: ['gate', 'gate', 'gate'],
      reasons: [
        'models/fraud/.env.example changed',
        'models/churn/.config/params.yml changed',
        'no paths: every change concerns it'
      ]
    },
    {
      name: 'a single-level glob does not match nested files',
      changedFiles: ['shared/sub/util.py', 'shared/features.txt'],
      actions: ['skip', 'skip', 'gate'],
      reasons: [
        'no changed file matches models/fraud/**',
        'no changed file matches models/churn/**, shared/*.py',
        'no paths: every change concerns it'
      ]
    },
    {
      name: 'the second glob of a model, several files',
      changedFiles: ['shared/features.py', 'models/churn/a/b/c.py', 'models/churn/d.py'],
      actions: ['skip', 'gate', 'gate'],
      reasons: [
        'no changed file matches models/fraud/**',
        'shared/features.py and 2 more changed',
        'no paths: every change concerns it'
      ]
    },
    {
      name: 'nothing changed',
      changedFiles: [],
      actions: ['skip', 'skip', 'gate'],
      reasons: [
        'no changed file matches models/fraud/**',
        'no changed file matches models/churn/**, shared/*.py',
        'no paths: every change concerns it'
      ]
    },
    {
      name: 'changed files unknown',
      changedFiles: undefined,
      actions: ['gate', 'gate', 'gate'],
      reasons: [
        'changed files unknown',
        'changed files unknown',
        'no paths: every change concerns it'
      ]
    }
  ])('pull request: $name', ({ changedFiles, actions, reasons }) => {
    const p = plan(config(), input('pull_request', { base: 'main', changedFiles }))
    expect(p.kind).toBe('gate')
    expect(p.items.map((i) => i.action)).toEqual(actions)
    expect(p.items.map((i) => i.reason)).toEqual(reasons)
  })

  it.each([
    { paths: ['models/**/train.py'], file: 'models/fraud/v2/train.py', concerned: true },
    { paths: ['models/**/train.py'], file: 'models/fraud/evaluate.py', concerned: false },
    { paths: ['**/*.sql'], file: 'warehouse/features/daily.sql', concerned: true },
    { paths: ['**/*.sql'], file: '.hidden/q.sql', concerned: true },
    { paths: ['src/{train,serve}/**'], file: 'src/serve/app.py', concerned: true },
    { paths: ['src/{train,serve}/**'], file: 'src/eval/app.py', concerned: false },
    { paths: ['requirements.txt'], file: 'models/requirements.txt', concerned: false }
  ])('glob $paths against $file → $concerned', ({ paths, file, concerned }) => {
    const p = plan(config({ models: [model('m', paths)] }), input('push', { changedFiles: [file] }))
    expect(p.items[0]!.action).toBe(concerned ? 'retrain' : 'skip')
  })

  it('apply to pushes too, and the reason counts what is concerned', () => {
    const p = plan(config(), input('push', { branch: 'release', changedFiles: ['shared/a.py'] }))
    expect(summary(p.items)).toEqual([
      'fraud-detector@production:skip',
      'churn@production:retrain',
      'ranker@production:retrain'
    ])
    expect(p.reason).toBe('push to "release": retrain in "production", 2 of 3 models concerned')
  })

  it('a gate whose changes concern no model stays a gate in its environment', () => {
    const c = config({ models: [model('fraud-detector', ['models/fraud/**'])] })
    const p = plan(c, input('pull_request', { base: 'main', changedFiles: ['README.md'] }))
    expect(p).toMatchObject({ kind: 'gate', environment: 'staging' })
    expect(p.reason).toBe('pull request into "main": gate in "staging", 0 of 1 models concerned')
  })
})

describe('promote: model — only retrain_paths retrain; a serving-only change trains nothing', () => {
  const docs: ModelConfig = {
    ...model('docs', ['models/docs/**', 'serving/**']),
    promote: 'model',
    retrainPaths: ['models/docs/**']
  }
  const cfg = config({ models: [docs, model('ranker')] })

  it.each<{ event: EventName; branch: string; files: string[]; expected: string }>([
    { event: 'pull_request', branch: 'main', files: ['serving/predict.py'], expected: 'skip' },
    { event: 'push', branch: 'main', files: ['serving/predict.py'], expected: 'skip' },
    {
      event: 'push',
      branch: 'main',
      files: ['serving/predict.py', 'models/docs/train.py'],
      expected: 'retrain'
    },
    { event: 'pull_request', branch: 'main', files: ['models/docs/train.py'], expected: 'gate' },
    // A later environment evaluates the upstream artifact whatever changed: the engine decides.
    { event: 'push', branch: 'release', files: ['serving/predict.py'], expected: 'retrain' }
  ])('$event on $branch changing $files: $expected', ({ event, branch, files, expected }) => {
    const p = plan(
      cfg,
      input(event, {
        branch,
        changedFiles: files,
        ...(event === 'pull_request' ? { base: branch } : {})
      })
    )
    const item = p.items.find((i) => i.model === 'docs')!
    expect(item.action).toBe(expected)
    if (expected === 'skip') expect(item.reason).toMatch(/^serving-only change: no changed file/)
    // A deploy-code model with no paths is concerned by every change, serving code included.
    expect(p.items.find((i) => i.model === 'ranker')!.action).not.toBe('skip')
  })

  it('does not apply to deploy-code models or unknown changed files', () => {
    const code = { ...docs, promote: 'code' as const }
    const p = plan(
      config({ models: [code] }),
      input('push', { changedFiles: ['serving/predict.py'] })
    )
    expect(p.items[0]!.action).toBe('retrain')
    expect(plan(cfg, input('push')).items[0]!.action).toBe('retrain')
  })
})

describe('schedule retrains every scheduled environment', () => {
  it('with no scheduled environment: nothing', () => {
    const c = config({ environments: [env('staging', 'main'), env('production', 'release')] })
    const p = plan(c, input('schedule'))
    expect(p).toMatchObject({
      kind: 'none',
      environment: undefined,
      reason: 'schedule: no environment has schedule: true'
    })
    expect(p.items.every((i) => i.action === 'skip')).toBe(true)
  })

  it('with one: that environment, paths ignored', () => {
    const p = plan(config(), input('schedule', { changedFiles: [] }))
    expect(p).toMatchObject({
      kind: 'retrain',
      environment: 'production',
      reason: 'schedule: retrain in "production"'
    })
    expect(summary(p.items)).toEqual([
      'fraud-detector@production:retrain',
      'churn@production:retrain',
      'ranker@production:retrain'
    ])
    expect(p.items.every((i) => i.reason === 'scheduled retrain')).toBe(true)
  })

  it('with two: every model of each, in promotion order, no single environment', () => {
    const c = config({
      environments: [env('staging', 'main', true), env('production', 'release', true)],
      models: [model('a', ['a/**']), model('b')]
    })
    const p = plan(c, input('schedule'))
    expect(p.kind).toBe('retrain')
    expect(p.environment).toBeUndefined()
    expect(summary(p.items)).toEqual([
      'a@staging:retrain',
      'b@staging:retrain',
      'a@production:retrain',
      'b@production:retrain'
    ])
    expect(p.reason).toBe('schedule: retrain in "staging" and "production"')
  })

  it('an environment input narrows it to that environment', () => {
    const c = config({
      environments: [env('staging', 'main', true), env('production', 'release', true)]
    })
    const p = plan(c, input('schedule', { environment: 'staging' }))
    expect(p.environment).toBe('staging')
    expect(new Set(p.items.map((i) => i.environment))).toEqual(new Set(['staging']))
  })

  it('an environment input that is not scheduled plans nothing', () => {
    const p = plan(config(), input('schedule', { environment: 'staging' }))
    expect(p).toMatchObject({
      kind: 'none',
      reason: 'schedule: environment "staging" does not have schedule: true'
    })
  })
})

describe('workflow_dispatch retrains the chosen environment', () => {
  it.each([
    { fields: { branch: 'main', environment: 'production' }, environment: 'production' },
    { fields: { branch: 'feature/x', environment: 'staging' }, environment: 'staging' },
    { fields: { branch: 'release' }, environment: 'production' },
    { fields: { branch: 'main' }, environment: 'staging' }
  ])('$fields → $environment', ({ fields, environment }) => {
    const p = plan(config(), input('workflow_dispatch', { ...fields, changedFiles: ['README.md'] }))
    expect(p).toMatchObject({ kind: 'retrain', environment })
    // Paths do not apply: a person asked for it.
    expect(p.items.map((i) => [i.action, i.reason])).toEqual([
      ['retrain', 'manual run'],
      ['retrain', 'manual run'],
      ['retrain', 'manual run']
    ])
  })

  it('without an environment on a branch no environment owns: PlanError', () => {
    const e = planError(() => plan(config(), input('workflow_dispatch', { branch: 'feature/x' })))
    expect(e.message).toBe(
      'workflow_dispatch on "feature/x": no environment is promoted from this branch; ' +
        'set the environment input (one of: staging, production)'
    )
  })
})

describe('the models filter', () => {
  it('selects models; the others are skipped', () => {
    const p = plan(config(), input('push', { models: ['ranker', 'fraud-detector'] }))
    expect(summary(p.items)).toEqual([
      'fraud-detector@staging:retrain',
      'churn@staging:skip',
      'ranker@staging:retrain'
    ])
    expect(p.items[1]!.reason).toBe('not selected by the models input')
    expect(p.reason).toBe('push to "main": retrain in "staging", 2 of 3 models concerned')
  })

  it('applies before the path filters', () => {
    const p = plan(
      config(),
      input('pull_request', {
        base: 'main',
        models: ['churn'],
        changedFiles: ['models/fraud/x.py']
      })
    )
    expect(p.items.map((i) => i.reason)).toEqual([
      'not selected by the models input',
      'no changed file matches models/churn/**, shared/*.py',
      'not selected by the models input'
    ])
  })

  it('an empty filter selects every model', () => {
    const p = plan(config(), input('push', { models: [] }))
    expect(p.items.every((i) => i.action === 'retrain')).toBe(true)
  })

  it.each([
    {
      models: ['fraud-detecter'],
      message:
        'unknown model "fraud-detecter" (did you mean "fraud-detector"?) in the models input; known models: fraud-detector, churn, ranker'
    },
    {
      models: ['Churn', 'ranker'],
      message:
        'unknown model "Churn" (did you mean "churn"?) in the models input; known models: fraud-detector, churn, ranker'
    },
    {
      models: ['fraud', 'xgboost-v2'],
      message:
        'unknown models "fraud" (did you mean "fraud-detector"?), "xgboost-v2" in the models input; known models: fraud-detector, churn, ranker'
    }
  ])('unknown $models: PlanError', ({ models, message }) => {
    expect(planError(() => plan(config(), input('push', { models }))).message).toBe(message)
  })
})

describe('an environment input must be declared', () => {
  it.each<{ event: EventName; environment: string; message: string }>([
    {
      event: 'workflow_dispatch',
      environment: 'prod',
      message:
        'unknown environment "prod" (did you mean "production"?); declared environments: staging, production'
    },
    {
      event: 'schedule',
      environment: 'stagign',
      message:
        'unknown environment "stagign" (did you mean "staging"?); declared environments: staging, production'
    },
    {
      event: 'push',
      environment: 'dev',
      message: 'unknown environment "dev"; declared environments: staging, production'
    }
  ])('$event with $environment', ({ event, environment, message }) => {
    expect(planError(() => plan(config(), input(event, { environment }))).message).toBe(message)
  })
})

describe('renderPlan', () => {
  it('aligns one line per item under the reason', () => {
    const p = plan(
      config(),
      input('push', { branch: 'release', changedFiles: ['models/fraud/train.py'] })
    )
    expect(renderPlan(p)).toBe(
      [
        'push to "release": retrain in "production", 2 of 3 models concerned',
        'retrain fraud-detector  production  (models/fraud/train.py changed)',
        'skip    churn           production  (no changed file matches models/churn/**, shared/*.py)',
        'retrain ranker          production  (no paths: every change concerns it)'
      ].join('\n')
    )
  })

  it('shows - for an item without environment, and only the reason without items', () => {
    const c = config({ models: [model('m')] })
    expect(renderPlan(plan(c, input('push', { branch: 'x' })))).toBe(
      [
        'push to "x": no environment is promoted from this branch',
        'skip    m  -  (push to "x": no environment is promoted from this branch)'
      ].join('\n')
    )
    expect(renderPlan(plan(c, input('push', { mode: 'validate' })))).toBe(
      'mode validate: the config is checked, nothing is trained'
    )
  })
})
