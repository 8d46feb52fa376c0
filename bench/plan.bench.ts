// Validate + plan of a generated 200-model config, in process.
import { it } from '@jest/globals'
import { loadConfig } from '../src/config/load.js'
import { plan } from '../src/plan.js'
import { figure, median } from './report.js'

function bigConfig(models: number): string {
  const lines = [
    'version: 1',
    'environments:',
    '  staging: { branch: main }',
    '  production: { branch: release, schedule: true }',
    'models:'
  ]
  for (let i = 0; i < models; i++) {
    lines.push(
      `  model-${i}:`,
      `    paths: ["models/m${i}/**", "shared/**/*.py"]`,
      '    train:',
      '      backend: command',
      `      run: python3 models/m${i}/train.py`,
      `      metrics: out/m${i}/metrics.json`,
      '    environments:',
      `      production: { backend: databricks, host: "https://example.cloud.databricks.com", job: train-m${i} }`,
      '    gate:',
      '      auc: { threshold: 0.8, min_absolute_change: -0.01 }',
      '      latency_ms: { threshold: 50, greater_is_better: false }'
    )
  }
  return lines.join('\n') + '\n'
}

it('validate+plan', () => {
  const text = bigConfig(200)
  const changed = Array.from({ length: 50 }, (_, i) => `models/m${i * 3}/train.py`)
  const times: number[] = []
  for (let i = 0; i < 7; i++) {
    const t = process.hrtime.bigint()
    const { config, problems } = loadConfig(text, 'big.yml')
    if (!config) throw new Error(problems.map((p) => p.message).join('\n'))
    const p = plan(config, {
      event: 'pull_request',
      branch: 'feature',
      base: 'main',
      changedFiles: changed,
      mode: 'auto'
    })
    if (p.items.filter((x) => x.action === 'gate').length !== 50) throw new Error('unexpected plan')
    times.push(Number(process.hrtime.bigint() - t) / 1e6)
  }
  figure('validate+plan 200 models', median(times).toFixed(1), 'ms')
})
