// 50 models whose remote trainings each take T, run by the engine with the default bound: the wall
// time in units of T shows how many waves they took (ceil(50 / max-parallel) at best, 50 in series).
import { it } from '@jest/globals'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { loadConfig } from '../src/config/load.js'
import { parallelism } from '../src/engine.js'
import { CountingBackend, retrainAll } from '../test/fakes/counting-backend.js'
import { figure } from './report.js'

const MODELS = 50
const T_MS = 300

it('parallel wall per task time', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ml-promote-bench-parallel-'))
  const models = Array.from(
    { length: MODELS },
    (_, i) =>
      `  m${i}:\n    train: { backend: databricks, host: "https://adb-1.azuredatabricks.net", job: train-m${i} }\n    gate: { auc: { threshold: 0.5 } }`
  )
  const text = `version: 1\nenvironments:\n  staging: { branch: main }\nmodels:\n${models.join('\n')}\n`
  const { config, problems } = loadConfig(text, 'bench.yml')
  if (!config) throw new Error(problems.map((p) => p.message).join('\n'))
  const backend = new CountingBackend(T_MS)
  const started = performance.now()
  const results = await retrainAll(config, backend, dir)
  const wall = performance.now() - started
  await rm(dir, { recursive: true, force: true })
  if (results.filter((r) => r.verdict === 'pass').length !== MODELS)
    throw new Error('a training failed')
  const bound = parallelism(undefined).all
  figure(
    'parallel wall per task time',
    (wall / T_MS).toFixed(2),
    `(${MODELS} remote trainings of T = ${T_MS} ms, default max-parallel ${bound}: ideal ${Math.ceil(MODELS / bound)}, in series ${MODELS}; peak ${backend.peak} at once)`
  )
})
