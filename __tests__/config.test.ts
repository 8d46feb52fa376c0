import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from '@jest/globals'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { parse } from 'yaml'
import { formatProblem, loadConfig, loadConfigFile } from '../src/config/load.js'
import { jsonSchema, SCHEMA_ID, writeJsonSchema } from '../src/config/json-schema.js'

const FILE = '.github/ml-promote.yml'
const FIXTURES = join(import.meta.dirname, '..', 'test', 'fixtures', 'configs', 'valid')
const COMMITTED_SCHEMA = join(import.meta.dirname, '..', 'schema', 'ml-promote.schema.json')

/** One YAML line per argument, so a case's line numbers are its argument positions. */
const doc = (...lines: string[]): string => `${lines.join('\n')}\n`

/** `line:col message` for every problem, in the order reported. */
function problemsOf(text: string): string[] {
  const { config, problems } = loadConfig(text, FILE)
  if (problems.length > 0) expect(config).toBeUndefined()
  return problems.map((p) => `${p.line}:${p.col} ${p.message}`)
}

interface Case {
  name: string
  yaml: string
  problems: string[]
  /**
   * The JSON Schema can say this too. Cross-field rules (references between sections, merged
   * train specs, globs), duplicate keys and YAML syntax are beyond JSON Schema: those cases are
   * left out of the agreement check with ajv.
   */
  structural?: boolean
}

const cases: Case[] = [
  {
    name: 'two YAML syntax errors are both reported',
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: @main }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: `make train`, metrics: m.json }'
    ),
    problems: [
      '3:22 Plain value cannot start with reserved character @',
      '6:37 Plain value cannot start with reserved character `'
    ]
  },
  {
    name: 'tab indentation',
    yaml: doc('version: 1', 'environments:', '\tstaging: { branch: main }'),
    problems: ['3:1 Tabs are not allowed as indentation']
  },
  {
    name: 'version: 2',
    structural: true,
    yaml: doc(
      'version: 2',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: ['1:10 version must be 1 (got number 2)']
  },
  {
    name: 'version: "1" (a string)',
    structural: true,
    yaml: doc(
      'version: "1"',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: ['1:10 version must be 1 (got string "1")']
  },
  {
    name: 'branch: 3',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging:',
      '    branch: 3',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: ['4:13 environments.staging.branch must be a string (got number 3)']
  },
  {
    name: 'schedule: "yes"',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      '  production: { branch: release, schedule: "yes" }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: ['4:44 environments.production.schedule must be a boolean (got string "yes")']
  },
  {
    name: 'threshold: "0.9x"',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate:',
      '      auc:',
      '        threshold: "0.9x"'
    ),
    problems: ['9:20 models.fraud.gate.auc.threshold must be a number (got string "0.9x")']
  },
  {
    name: 'threshold: .inf',
    structural: false, // a JSON Schema number includes infinity
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { latency_ms: { threshold: .inf, greater_is_better: false } }'
    ),
    problems: [
      '7:38 models.fraud.gate.latency_ms.threshold must be a finite number (got number Infinity)'
    ]
  },
  {
    name: 'paths: "x" (a string, not a list)',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    paths: models/fraud/**',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: ['6:12 models.fraud.paths must be a list (got string "models/fraud/**")']
  },
  {
    name: 'run: [] (a list, reported once as a type error)',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train:',
      '      backend: command',
      '      run: []',
      '      metrics: m.json',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: ['8:12 models.fraud.train.run must be a string (got a list)']
  },
  {
    name: 'train left empty',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train:',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: ['6:5 models.fraud.train must be a mapping (got null)']
  },
  {
    name: 'env values must be strings',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train:',
      '      backend: command',
      '      run: make',
      '      metrics: m.json',
      '      env: { EPOCHS: 3 }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: ['10:22 models.fraud.train.env.EPOCHS must be a string (got number 3)']
  },
  {
    name: 'misspelt top-level key: unknown, and the real one is missing',
    structural: true,
    yaml: doc(
      'version: 1',
      'enviroments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '1:1 missing required key "environments" at the top level',
      '2:1 unknown key "enviroments" at the top level; did you mean "environments"?'
    ]
  },
  {
    name: 'unknown top-level key with nothing close lists the allowed keys',
    structural: true,
    yaml: doc(
      'version: 1',
      'owner: data-team',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '2:1 unknown key "owner" at the top level; expected one of version, gate_environment, champions, sweep_workflow, max_parallel, environments, models'
    ]
  },
  {
    name: 'unknown key in an environment',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      '  production: { branch: release, schedul: true }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: ['4:34 unknown key "schedul" in environments.production; did you mean "schedule"?']
  },
  {
    name: 'unknown key in a model',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    path: [models/fraud/**]',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: ['6:5 unknown key "path" in models.fraud; did you mean "paths"?']
  },
  {
    name: 'unknown key in a train spec',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train:',
      '      backend: command',
      '      run: make',
      '      metrics: m.json',
      '      workdir: models/fraud',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '10:7 unknown key "workdir" in models.fraud.train; expected one of backend, run, metrics, working_directory, shell, env, pass_env'
    ]
  },
  {
    name: 'metric names with markup, and a pass_env entry that is no variable name',
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    metric_names: [auc, "a|b"]',
      '    train: { backend: command, run: make, metrics: m.json, pass_env: [OK_NAME, "bad-name"] }',
      '    gate: { auc: { threshold: 0.9 }, "x</td>": { threshold: 1 } }'
    ),
    problems: [
      '6:25 models.fraud.metric_names[1] must be letters, digits, spaces or "_", "-", ".", ":", "/" (the metric names MLflow accepts) (got string "a|b")',
      '7:80 models.fraud.train.pass_env[1] must be an environment variable name (got string "bad-name")',
      '8:38 name "x</td>" in models.fraud.gate must be letters, digits, spaces or "_", "-", ".", ":", "/" (the metric names MLflow accepts)',
      '8:38 models.fraud.gate.x</td> is not one of models.fraud.metric_names (auc, a|b)'
    ]
  },
  {
    name: 'unknown key in a gate rule (which then gates nothing)',
    structural: false, // "gates nothing" is a cross-field rule
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate:',
      '      auc: { treshold: 0.9 }'
    ),
    problems: [
      '8:7 models.fraud.gate.auc gates nothing: set threshold, min_absolute_change or min_relative_change',
      '8:14 unknown key "treshold" in models.fraud.gate.auc; did you mean "threshold"?'
    ]
  },
  {
    name: 'unknown key in champions, and a store name typo',
    structural: true,
    yaml: doc(
      'version: 1',
      'champions:',
      '  store: githbu',
      '  unity-catalog: true',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '3:10 champions.store must be one of "auto", "file", "github", "mlflow" (got string "githbu"); did you mean "github"?',
      '4:3 unknown key "unity-catalog" in champions; did you mean "unity_catalog"?'
    ]
  },
  {
    name: 'unknown backend',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train:',
      '      backend: databrick',
      '      job: fraud-train',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '7:16 unknown backend "databrick" in models.fraud.train; expected one of command, databricks, github-workflow, airflow; did you mean "databricks"?'
    ]
  },
  {
    name: 'backend missing',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train:',
      '      run: make',
      '      metrics: m.json',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '7:7 missing required key "backend" in models.fraud.train; expected one of command, databricks, github-workflow, airflow'
    ]
  },
  {
    name: 'command train without run',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train:',
      '      backend: command',
      '      metrics: m.json',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: ['7:7 missing required key "run" in models.fraud.train']
  },
  {
    name: 'command train without metrics, and an empty run',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: "" }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '6:12 missing required key "metrics" in models.fraud.train',
      '6:37 models.fraud.train.run must not be empty (got string "")'
    ]
  },
  {
    name: 'databricks train without job',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train:',
      '      backend: databricks',
      '      metrics_task: evaluate',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: ['7:7 missing required key "job" in models.fraud.train']
  },
  {
    name: 'databricks job ids are positive integers',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      '  production: { branch: release }',
      'models:',
      '  fraud:',
      '    train: { backend: databricks, job: 0 }',
      '    environments:',
      '      production: { job: 12.5 }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '7:40 models.fraud.train.job must be greater than 0 (got number 0)',
      '9:26 models.fraud.environments.production.job must be a string or an integer (got number 12.5)'
    ]
  },
  {
    name: 'github-workflow repository must be owner/name',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train: { backend: github-workflow, workflow: train.yml, repository: ml-team }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: ['6:73 models.fraud.train.repository must be owner/name (got string "ml-team")']
  },
  {
    name: 'no environments',
    structural: true,
    yaml: doc(
      'version: 1',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: ['1:1 missing required key "environments" at the top level']
  },
  {
    name: 'no models',
    structural: true,
    yaml: doc('version: 1', 'environments:', '  staging: { branch: main }'),
    problems: ['1:1 missing required key "models" at the top level']
  },
  {
    name: 'empty environments and models',
    structural: true,
    yaml: doc('version: 1', 'environments: {}', 'models: {}'),
    problems: [
      '2:15 environments must declare at least one environment',
      '3:9 models must declare at least one model'
    ]
  },
  {
    name: 'models left empty',
    structural: true,
    yaml: doc('version: 1', 'environments:', '  staging: { branch: main }', 'models:'),
    problems: ['4:1 models must be a mapping (got null)']
  },
  {
    name: 'a gate with no metrics',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: {}'
    ),
    problems: ['7:11 models.fraud.gate must name at least one metric']
  },
  {
    name: 'environment names are identifiers',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  pre prod: { branch: main }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: ['3:3 name "pre prod" in environments must be letters, digits, ".", "_" or "-"']
  },
  {
    name: 'shell must be bash or sh',
    structural: true,
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json, shell: zsh }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '6:67 models.fraud.train.shell must be one of "bash", "sh" (got string "zsh"); did you mean "sh"?'
    ]
  },
  {
    name: 'duplicate keys',
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      '  staging: { branch: develop }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json, run: make all }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '4:3 duplicate key "staging" in environments (first at line 3)',
      '7:60 duplicate key "run" in models.fraud.train (first at line 7)'
    ]
  },
  {
    name: 'a gated metric that training does not write (a typo)',
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    metric_names: [auc, recall, latency_ms]',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate:',
      '      auc: { threshold: 0.9 }',
      '      recal: { threshold: 0.7 }'
    ),
    problems: [
      '10:7 models.fraud.gate.recal is not one of models.fraud.metric_names (auc, recall, latency_ms); did you mean "recall"?'
    ]
  },
  {
    name: 'gate_environment not declared',
    yaml: doc(
      'version: 1',
      'gate_environment: stagign',
      'environments:',
      '  staging: { branch: main }',
      '  production: { branch: release }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '2:19 gate_environment "stagign" is not a declared environment; did you mean "staging"?'
    ]
  },
  {
    name: 'an override for an environment that is not declared',
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      '  production: { branch: release }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    environments:',
      '      prod: { run: make full }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '9:7 models.fraud.environments.prod overrides an undeclared environment; did you mean "production"?'
    ]
  },
  {
    name: 'an override that turns a command model into a databricks one without job',
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      '  production: { branch: release }',
      'models:',
      '  fraud:',
      '    train:',
      '      backend: command',
      '      run: make',
      '      metrics: m.json',
      '    environments:',
      '      production:',
      '        backend: databricks',
      '        host: https://adb-1.azuredatabricks.net',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: ['13:9 missing required key "job" in models.fraud.environments.production']
  },
  {
    name: 'an override key that the inherited backend does not have',
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      '  production: { branch: release }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    environments:',
      '      production: { rn: make full, job: fraud-train }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '9:21 unknown key "rn" in models.fraud.environments.production; did you mean "run"?',
      '9:36 unknown key "job" in models.fraud.environments.production; expected one of backend, run, metrics, working_directory, shell, env, pass_env'
    ]
  },
  {
    name: 'an override with a misspelt backend',
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      '  production: { branch: release }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    environments:',
      '      production: { backend: airflo, url: "https://airflow.example.com", dag: train }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '9:30 unknown backend "airflo" in models.fraud.environments.production; expected one of command, databricks, github-workflow, airflow; did you mean "airflow"?'
    ]
  },
  {
    name: 'a mistake in the default train spec is reported once, not once per environment',
    yaml: doc(
      'version: 1',
      'environments:',
      '  dev: { branch: develop }',
      '  staging: { branch: main }',
      '  production: { branch: release }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: 3 }',
      '    environments:',
      '      staging: { run: make staging }',
      '      production: { run: make production }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: ['8:52 models.fraud.train.metrics must be a string (got number 3)']
  },
  {
    name: 'a rule that gates nothing',
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate:',
      '      auc: { threshold: 0.9 }',
      '      latency_ms: { greater_is_better: false }'
    ),
    problems: [
      '9:7 models.fraud.gate.latency_ms gates nothing: set threshold, min_absolute_change or min_relative_change'
    ]
  },
  {
    name: 'two environments on one branch',
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      '  production: { branch: main, schedule: true }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '4:25 environments.production.branch "main" is also the branch of staging; each environment needs its own branch'
    ]
  },
  {
    name: 'a model named like the config check run',
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  config:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '5:3 model name "config" is reserved: the check run "ml-promote / config" reports problems in this file'
    ]
  },
  {
    name: 'globs picomatch cannot parse',
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    paths:',
      '      - models/fraud/**',
      '      - "models/{fraud,shared/**"',
      '      - "data/[z-a]*.csv"',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '8:9 models.fraud.paths[1] is not a valid glob (got "models/{fraud,shared/**"): Missing closing: "}" - use "\\\\}" to match literal characters',
      '9:9 models.fraud.paths[2] is not a valid glob (got "data/[z-a]*.csv"): Range out of order in character class'
    ]
  },
  {
    name: 'a URL without a scheme, and one with a scheme that is not http(s)',
    structural: true,
    yaml: doc(
      'version: 1',
      'champions: { store: mlflow, tracking_uri: "ftp://mlflow.example.com" }',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train:',
      '      backend: databricks',
      '      host: adb-1234567890123456.7.azuredatabricks.net',
      '      job: fraud-train',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '2:43 champions.tracking_uri must be an http(s) URL (got string "ftp://mlflow.example.com")',
      '9:13 models.fraud.train.host must be an http(s) URL (got string "adb-1234567890123456.7.azuredatabricks.net")'
    ]
  },
  {
    name: 'several problems in one file are all reported, in file order',
    yaml: doc(
      'version: 1',
      'gate_environment: qa',
      'environments:',
      '  staging: { branch: main }',
      '  production: { branch: release, schedule: weekly }',
      'models:',
      '  fraud:',
      '    metric_names: [auc]',
      '    train:',
      '      backend: command',
      '      run: make',
      '    environments:',
      '      production: { backend: databricks, job: fraud, hots: "https://x.example.com" }',
      '    gate:',
      '      acu: { threshold: "high" }',
      '  churn:',
      '    train: { backend: airflow, dag: churn }',
      '    gate: { f1: { min_relative_change: 0.01, higher_is_better: true } }'
    ),
    problems: [
      '2:19 gate_environment "qa" is not a declared environment',
      '5:44 environments.production.schedule must be a boolean (got string "weekly")',
      '10:7 missing required key "metrics" in models.fraud.train',
      '13:54 unknown key "hots" in models.fraud.environments.production; did you mean "host"?',
      '15:7 models.fraud.gate.acu is not one of models.fraud.metric_names (auc); did you mean "auc"?',
      '15:25 models.fraud.gate.acu.threshold must be a number (got string "high")',
      '17:12 missing required key "url" in models.churn.train',
      '18:46 unknown key "higher_is_better" in models.churn.gate.f1; did you mean "greater_is_better"?'
    ]
  },
  {
    name: 'an empty file',
    yaml: '',
    problems: ['1:1 the config is empty']
  },
  {
    name: 'a file with only comments',
    yaml: doc('# ml-promote config', '# nothing here yet'),
    problems: ['1:1 the config is empty']
  },
  {
    name: 'promote: model without evaluate, for the environments after the first',
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      '  production: { branch: release }',
      'models:',
      '  docs:',
      '    promote: model',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { acc: { threshold: 0.9 } }'
    ),
    problems: [
      "7:14 models.docs uses promote: model, so production evaluates the artifact staging trained: add models.docs.evaluate, a job that scores $ML_PROMOTE_MODEL_URI on that environment's data"
    ]
  },
  {
    name: 'evaluate and retrain_paths without promote: model',
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  docs:',
      "    retrain_paths: ['train/**']",
      '    train: { backend: command, run: make, metrics: m.json }',
      '    evaluate: { backend: command, run: make eval, metrics: m.json }',
      '    gate: { acc: { threshold: 0.9 } }'
    ),
    problems: [
      '6:5 models.docs.retrain_paths is used only with promote: model (this model retrains in every environment); set models.docs.promote: model or remove it',
      '8:5 models.docs.evaluate is used only with promote: model (this model retrains in every environment); set models.docs.promote: model or remove it'
    ]
  },
  {
    name: 'promote misspelt, a retrain_paths glob that does not compile, an evaluate override in error',
    yaml: doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      '  production: { branch: release }',
      'models:',
      '  docs:',
      '    promote: models',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { acc: { threshold: 0.9 } }',
      '  ranker:',
      '    promote: model',
      "    retrain_paths: ['train/[a-']",
      '    train: { backend: command, run: make, metrics: m.json }',
      '    evaluate: { backend: command, run: make eval, metrics: m.json }',
      '    environments:',
      '      production: { metric: eval.json }',
      '    gate: { acc: { threshold: 0.9 } }'
    ),
    problems: [
      '7:14 models.docs.promote must be one of "code", "model" (got string "models"); did you mean "model"?',
      '12:21 models.ranker.retrain_paths[0] is not a valid glob (got "train/[a-"): Missing closing: "]" - use "\\\\]" to match literal characters',
      '16:21 unknown key "metric" in models.ranker.environments.production; did you mean "metrics"?'
    ]
  },
  {
    name: 'sweep_workflow must be a workflow file name',
    yaml: doc(
      'version: 1',
      'sweep_workflow: .github/workflows/ml-sweep.yml',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train: { backend: command, run: make, metrics: m.json }',
      '    gate: { auc: { threshold: 0.9 } }'
    ),
    problems: [
      '2:17 sweep_workflow must be a workflow file name such as ml-sweep.yml (got string ".github/workflows/ml-sweep.yml")'
    ]
  },
  {
    name: 'a list instead of a mapping',
    structural: true,
    yaml: doc('- version: 1', '- environments: {}'),
    problems: ['1:1 the config must be a mapping (got a list)']
  }
]

describe('loadConfig rejects malformed configs with every problem at its line and column', () => {
  it('has enough cases to mean something', () => {
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length)
    expect(cases.length).toBeGreaterThanOrEqual(30)
  })

  it.each(cases)('$name', ({ yaml, problems }) => {
    expect(problemsOf(yaml)).toEqual(problems)
  })
})

describe('loadConfig normalises a valid config', () => {
  it('loads the sample config of the design', async () => {
    const text = await readFile(join(FIXTURES, 'design-sample.yml'), 'utf8')
    const { config, problems } = loadConfig(text, FILE)
    expect(problems).toEqual([])
    const command = {
      backend: 'command',
      run: 'python models/fraud/train.py',
      metrics: 'out/fraud/metrics.json'
    }
    expect(config).toEqual({
      file: FILE,
      version: 1,
      gateEnvironment: 'staging',
      environments: [
        { name: 'staging', branch: 'main', schedule: false },
        { name: 'production', branch: 'release', schedule: true }
      ],
      models: [
        {
          name: 'fraud-detector',
          promote: 'code',
          paths: ['models/fraud/**'],
          train: {
            staging: command,
            production: {
              backend: 'databricks',
              host: 'https://adb-1234567890123456.7.azuredatabricks.net',
              job: 'fraud-train'
            }
          },
          defaultTrain: command,
          gate: {
            auc: { threshold: 0.9, min_absolute_change: -0.005, greater_is_better: true },
            recall: { threshold: 0.7, greater_is_better: true },
            latency_ms: { threshold: 50, greater_is_better: false }
          }
        }
      ],
      champions: { store: 'auto', unity_catalog: false }
    })
  })

  it('applies the defaults: first environment gates, no paths, auto champion store', async () => {
    const text = await readFile(join(FIXTURES, 'minimal.yml'), 'utf8')
    const { config } = loadConfig(text, FILE)
    expect(config?.gateEnvironment).toBe('staging')
    expect(config?.champions).toEqual({ store: 'auto', unity_catalog: false })
    expect(config?.environments).toEqual([{ name: 'staging', branch: 'main', schedule: false }])
    const [model] = config?.models ?? []
    expect(model?.paths).toEqual([])
    expect(model?.metricNames).toBeUndefined()
    expect(model?.gate).toEqual({ f1: { threshold: 0.8, greater_is_better: true } })
  })

  it('merges an override on the same backend and replaces the default on another', async () => {
    const text = await readFile(join(FIXTURES, 'every-backend.yml'), 'utf8')
    const { config, problems } = loadConfig(text, FILE)
    expect(problems).toEqual([])
    const model = (name: string) => config?.models.find((m) => m.name === name)
    const recommender = {
      backend: 'command',
      run: 'make train',
      metrics: 'out/metrics.json',
      working_directory: 'models/recommender',
      shell: 'sh'
    }
    expect(model('recommender')?.train).toEqual({
      dev: { ...recommender, env: { EPOCHS: '3' } },
      staging: { ...recommender, env: { EPOCHS: '3' } },
      production: { ...recommender, env: { EPOCHS: '30' } }
    })
    expect(model('recommender')?.metricNames).toEqual(['ndcg', 'coverage'])
    const workflow = {
      backend: 'github-workflow',
      workflow: 'train.yml',
      inputs: { horizon: '14' },
      artifact: 'ml-promote-metrics',
      metrics: 'metrics.json'
    }
    expect(model('forecaster')?.train).toEqual({
      dev: workflow,
      staging: workflow,
      production: {
        backend: 'airflow',
        url: 'http://airflow.internal:8080',
        dag: 'forecaster_train',
        api_version: 1,
        metrics_task: 'evaluate',
        metrics_key: 'return_value'
      }
    })
    expect(model('ranker')?.train.production).toEqual({
      backend: 'databricks',
      job: 'ranker-prod',
      metrics_task: 'evaluate',
      parameters: { sample: '1.0' }
    })
    expect(model('ranker')?.train.dev).toMatchObject({ job: 123456 })
    expect(config?.champions).toEqual({
      store: 'mlflow',
      tracking_uri: 'https://mlflow.example.com',
      registered_model: '{model}-{environment}',
      unity_catalog: true
    })
  })

  it('promote: model trains in the first environment and evaluates, with the override, after it', () => {
    const { config, problems } = loadConfig(
      doc(
        'version: 1',
        'environments:',
        '  staging: { branch: main }',
        '  production: { branch: release }',
        'models:',
        '  docs:',
        '    promote: model',
        "    paths: ['docs/**', 'serving/**']",
        "    retrain_paths: ['docs/**']",
        '    train: { backend: command, run: python3 train.py, metrics: out/m.json }',
        '    evaluate: { backend: command, run: python3 evaluate.py, metrics: out/m.json }',
        '    environments:',
        '      staging: { env: { EPOCHS: "50" } }',
        '      production: { backend: databricks, job: docs-evaluate }',
        '    gate: { acc: { threshold: 0.9 } }'
      ),
      FILE
    )
    expect(problems).toEqual([])
    const model = config!.models[0]!
    expect(model.promote).toBe('model')
    expect(model.retrainPaths).toEqual(['docs/**'])
    expect(model.train).toEqual({
      staging: {
        backend: 'command',
        run: 'python3 train.py',
        metrics: 'out/m.json',
        env: { EPOCHS: '50' }
      },
      // A pull request gated in production would train the default spec.
      production: { backend: 'command', run: 'python3 train.py', metrics: 'out/m.json' }
    })
    expect(model.evaluate).toEqual({ production: { backend: 'databricks', job: 'docs-evaluate' } })
  })

  it('keeps environments, models and gate metrics in file order, numeric names included', () => {
    // Gate metrics stay in a plain object, where integer-like keys always come first.
    const { config, problems } = loadConfig(
      doc(
        'version: 1',
        'environments:',
        '  qa: { branch: develop }',
        '  "2024": { branch: main }',
        '  live: { branch: release }',
        'models:',
        '  zeta:',
        '    train: { backend: command, run: make, metrics: m.json }',
        '    gate: { b: { threshold: 1 }, a: { threshold: 1 } }',
        '  "7":',
        '    train: { backend: command, run: make, metrics: m.json }',
        '    gate: { a: { threshold: 1 } }'
      ),
      FILE
    )
    expect(problems).toEqual([])
    expect(config?.environments.map((e) => e.name)).toEqual(['qa', '2024', 'live'])
    expect(config?.gateEnvironment).toBe('qa')
    expect(config?.models.map((m) => m.name)).toEqual(['zeta', '7'])
    expect(Object.keys(config?.models[0]?.gate ?? {})).toEqual(['b', 'a'])
  })

  it('resolves aliases and points problems inside them at the anchor', () => {
    const text = doc(
      'version: 1',
      'environments:',
      '  staging: { branch: main }',
      'models:',
      '  fraud:',
      '    train: &train { backend: command, run: make, metrics: m.json }',
      '    gate: &gate { auc: { threshold: 0.9 } }',
      '  churn:',
      '    train: *train',
      '    gate: *gate'
    )
    const { config } = loadConfig(text, FILE)
    expect(config?.models[1]?.train.staging).toEqual(config?.models[0]?.train.staging)
    const broken = text.replace('threshold: 0.9', 'threshold: high')
    expect(problemsOf(broken)).toEqual([
      '7:37 models.fraud.gate.auc.threshold must be a number (got string "high")',
      '7:37 models.churn.gate.auc.threshold must be a number (got string "high")'
    ])
  })
})

const validDoc = doc(
  'version: 1',
  'environments:',
  '  staging: { branch: main }',
  'models:',
  '  fraud:',
  '    train: { backend: command, run: make, metrics: m.json }',
  '    gate: { auc: { threshold: 0.9 } }'
)

describe('formatProblem', () => {
  it('prints file:line:col: message', () => {
    const [problem] = loadConfig(validDoc.replace('version: 1', 'version: 2'), FILE).problems
    expect(problem && formatProblem(problem)).toBe(
      '.github/ml-promote.yml:1:10: version must be 1 (got number 2)'
    )
  })

  it('carries the end of the offending node', () => {
    const text = validDoc.replace('version: 1', 'version: 1\ngate_environment: [a, b]')
    const [problem] = loadConfig(text, FILE).problems
    expect(problem).toMatchObject({ line: 2, col: 19, endLine: 2, endCol: 25 })
  })
})

describe('positions', () => {
  it('count columns as an editor does, after a byte-order mark and with CRLF line ends', () => {
    const text = `\uFEFF${validDoc.replace('version: 1', 'version: 2').replaceAll('\n', '\r\n')}`
    const crlf = text.replace('branch: main', 'branch: 3')
    expect(problemsOf(crlf)).toEqual([
      '1:10 version must be 1 (got number 2)',
      '3:22 environments.staging.branch must be a string (got number 3)'
    ])
  })
})

describe('loadConfigFile', () => {
  it('reports a missing file as one problem at 1:1', async () => {
    const { config, problems } = await loadConfigFile('/nonexistent/ml-promote.yml', FILE)
    expect(config).toBeUndefined()
    expect(problems).toEqual([{ file: FILE, line: 1, col: 1, message: 'config file not found' }])
  })

  it('loads a file and names it by its display path', async () => {
    const path = join(FIXTURES, 'minimal.yml')
    expect((await loadConfigFile(path)).config?.file).toBe(path)
    expect((await loadConfigFile(path, 'ci.yml')).config?.file).toBe('ci.yml')
  })
})

describe('the JSON Schema', () => {
  // ajv-formats is CommonJS: under NodeNext its default import types as the module namespace,
  // while at run time it is the plugin function itself.
  const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020
  const ajv = addFormats(new Ajv2020({ allErrors: true, strict: true }))
  const validate = ajv.compile(jsonSchema())

  it('is draft 2020-12 with its published $id', () => {
    expect(jsonSchema()).toMatchObject({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: SCHEMA_ID,
      title: expect.any(String),
      description: expect.any(String)
    })
  })

  it('lets editors complete every train field inside an override', () => {
    const dig = (value: unknown, ...path: string[]): unknown =>
      path.reduce((v, key) => (v as Record<string, unknown> | undefined)?.[key], value)
    const model = dig(jsonSchema(), 'properties', 'models', 'additionalProperties')
    const override = dig(model, 'properties', 'environments', 'additionalProperties')
    expect(dig(override, 'additionalProperties')).toBe(false)
    expect(Object.keys(dig(override, 'properties') as object)).toEqual(
      expect.arrayContaining(['backend', 'run', 'host', 'job', 'workflow', 'url', 'dag'])
    )
    expect(dig(override, 'properties', 'backend', 'enum')).toEqual([
      'command',
      'databricks',
      'github-workflow',
      'airflow'
    ])
    // an override holds only what differs: a default would be completed into every override
    expect(dig(override, 'properties', 'metrics_task')).not.toHaveProperty('default')
  })

  it('is committed as generated (UPDATE_SCHEMA=1 regenerates it)', async () => {
    if (process.env.UPDATE_SCHEMA === '1') await writeJsonSchema(COMMITTED_SCHEMA)
    const dir = await mkdtemp(join(tmpdir(), 'ml-promote-schema-'))
    try {
      await writeJsonSchema(join(dir, 'schema.json'))
      const fresh = await readFile(join(dir, 'schema.json'), 'utf8')
      expect(await readFile(COMMITTED_SCHEMA, 'utf8')).toBe(fresh)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it.each(cases.filter((c) => c.structural))('rejects, like the loader: $name', ({ yaml }) => {
    expect(problemsOf(yaml)).not.toEqual([])
    expect(validate(parse(yaml))).toBe(false)
  })

  it('accepts, like the loader, every valid fixture', async () => {
    const files = (await readdir(FIXTURES)).filter((f) => f.endsWith('.yml'))
    expect(files.length).toBeGreaterThanOrEqual(3)
    for (const file of files) {
      const text = await readFile(join(FIXTURES, file), 'utf8')
      expect({ file, problems: loadConfig(text, FILE).problems }).toEqual({ file, problems: [] })
      expect({ file, errors: validate(parse(text)) ? null : validate.errors }).toEqual({
        file,
        errors: null
      })
    }
  })
})
