// The config schema: one source that validates `.github/ml-promote.yml` and emits the JSON
// Schema shipped for editors (schema/ml-promote.schema.json).
import { z } from 'zod'

const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be letters, digits, ".", "_" or "-"')

// MLflow's rule for metric names; it also keeps the names the reports print free of markup.
const metricName = z
  .string()
  .regex(
    /^[A-Za-z0-9_\-. :/]+$/,
    'must be letters, digits, spaces or "_", "-", ".", ":", "/" (the metric names MLflow accepts)'
  )

// Every URL in the config is an API endpoint; other schemes (mailto:, file:) are always a mistake.
// The pattern repeats the protocol rule for the JSON Schema, which cannot see zod's check.
const httpUrl = z.url({ protocol: /^https?$/ }).meta({ pattern: '^https?://' })

// Refinements do not reach the JSON Schema; minProperties says the same thing to editors.
const nonEmpty = { minProperties: 1 }

const commandTrain = z
  .strictObject({
    backend: z.literal('command'),
    run: z
      .string()
      .min(1)
      .describe('Command run by the runner shell; context arrives as ML_PROMOTE_* env vars.'),
    metrics: z
      .string()
      .min(1)
      .describe(
        'Path (relative to working_directory) of the flat JSON metrics file the command writes.'
      ),
    working_directory: z
      .string()
      .min(1)
      .optional()
      .describe('Directory the command runs in (default: repository root).'),
    shell: z
      .enum(['bash', 'sh'])
      .optional()
      .describe('Shell that runs `run` (default bash, sh where bash is absent).'),
    env: z
      .record(z.string(), z.string())
      .optional()
      .describe('Extra environment variables for training.'),
    pass_env: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'))
      .optional()
      .describe(
        'Variables of the runner passed to training even though they look like credentials.'
      )
  })
  .describe('Train on the runner.')

const databricksTrain = z
  .strictObject({
    backend: z.literal('databricks'),
    host: httpUrl.optional().describe('Workspace URL (default: $DATABRICKS_HOST).'),
    job: z
      .union([z.string().min(1), z.int().positive()])
      .describe('Job name (exact) or numeric job id.'),
    metrics_task: z
      .string()
      .min(1)
      .optional()
      .describe('Task whose notebook exit value is the metrics JSON.'),
    mlflow_run_task: z
      .string()
      .min(1)
      .optional()
      .describe('Task whose notebook exit value is an MLflow run id to read metrics from.'),
    parameters: z.record(z.string(), z.string()).optional().describe('Extra job parameters.')
  })
  .describe('Run a Databricks job (Jobs API 2.2).')

const githubWorkflowTrain = z
  .strictObject({
    backend: z.literal('github-workflow'),
    repository: z
      .string()
      .regex(/^[^/\s]+\/[^/\s]+$/, 'must be owner/name')
      .optional()
      .describe('Repository of the workflow (default: this one).'),
    workflow: z.string().min(1).describe('Workflow file name or id.'),
    ref: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Ref to run the workflow on (default: the commit being trained, this repository only).'
      ),
    inputs: z.record(z.string(), z.string()).optional().describe('Extra workflow_dispatch inputs.'),
    artifact: z
      .string()
      .min(1)
      .default('ml-promote-metrics')
      .describe('Artifact holding the metrics file.'),
    metrics: z.string().min(1).default('metrics.json').describe('Metrics file inside the artifact.')
  })
  .describe('Dispatch a GitHub Actions workflow.')

const airflowTrain = z
  .strictObject({
    backend: z.literal('airflow'),
    url: httpUrl.describe('Airflow base URL (the REST API is under /api/v1 or /api/v2).'),
    dag: z.string().min(1).describe('DAG id.'),
    api_version: z
      .union([z.literal(1), z.literal(2)])
      .default(2)
      .describe('REST API version.'),
    metrics_task: z
      .string()
      .min(1)
      .default('evaluate')
      .describe('Task whose XCom holds the metrics JSON.'),
    metrics_key: z.string().min(1).default('return_value').describe('XCom key of the metrics JSON.')
  })
  .describe('Trigger an Airflow DAG run.')

export const trainSpec = z.discriminatedUnion('backend', [
  commandTrain,
  databricksTrain,
  githubWorkflowTrain,
  airflowTrain
])

export const BACKENDS = ['command', 'databricks', 'github-workflow', 'airflow'] as const

/**
 * A job run right after a model becomes an environment's champion (refresh batch inference, update
 * a serving endpoint, restart monitoring): any backend, as `train`, but it writes no metrics.
 */
export const downstreamJob = z
  .discriminatedUnion('backend', [
    commandTrain.omit({ metrics: true }).extend({ name }),
    databricksTrain.extend({ name }),
    githubWorkflowTrain.extend({ name }),
    airflowTrain.extend({ name })
  ])
  .describe('A downstream job: `name` plus a train spec (no metrics are read).')

/** Per-environment overrides: any train field; a different `backend` replaces the default. */
export const trainOverride = z
  .record(z.string(), z.unknown())
  .describe(
    'Train fields for one environment; when `backend` differs from the default the default is replaced, else merged.'
  )

export const metricRule = z
  .strictObject({
    threshold: z
      .number()
      .optional()
      .describe(
        'Absolute bound the candidate must meet (≥, or ≤ when greater_is_better is false).'
      ),
    min_absolute_change: z
      .number()
      .optional()
      .describe('Least improvement over the champion; negative = tolerated drop.'),
    min_relative_change: z
      .number()
      .optional()
      .describe(
        'Least relative improvement over the champion (0.01 = 1%); negative = tolerated drop.'
      ),
    greater_is_better: z.boolean().default(true).describe('Direction of the metric.')
  })
  .describe('MLflow MetricThreshold semantics.')

export const championsSpec = z
  .strictObject({
    store: z
      .enum(['auto', 'file', 'github', 'mlflow'])
      .default('auto')
      .describe('auto = github in Actions, file locally.'),
    tracking_uri: httpUrl
      .optional()
      .describe(
        'MLflow tracking server (mlflow store; default $MLFLOW_TRACKING_URI or $DATABRICKS_HOST).'
      ),
    registered_model: z
      .string()
      .min(1)
      .optional()
      .describe('Registered model name template; {model} and {environment} are replaced.'),
    unity_catalog: z.boolean().default(false).describe('Use Unity Catalog alias endpoints.')
  })
  .describe('Where champions are recorded.')

export const environmentSpec = z.strictObject({
  branch: z.string().min(1).describe('Branch whose pushes promote code into this environment.'),
  schedule: z.boolean().default(false).describe('Retrain this environment on `schedule` events.')
})

export const modelSpec = z.strictObject({
  promote: z
    .enum(['code', 'model'])
    .default('code')
    .describe(
      'code: retrain in every environment (deploy code). model: train once, in the first environment (the gate environment for a pull request), then evaluate and promote that same artifact in each later environment (deploy models).'
    ),
  paths: z
    .array(z.string().min(1))
    .default([])
    .describe('Globs; only changes here concern this model (default: every change).'),
  retrain_paths: z
    .array(z.string().min(1))
    .optional()
    .describe(
      'promote: model only. Globs; a change concerning the model retrains it only when it touches one of these, else it deploys without training (serving or monitoring code). Default: every change retrains.'
    ),
  metric_names: z
    .array(metricName)
    .optional()
    .describe('Metrics training writes; gate entries must name one of them.'),
  train: trainSpec,
  evaluate: trainSpec
    .optional()
    .describe(
      'promote: model only. Scores the trained artifact (ML_PROMOTE_MODEL_URI) on the data of each environment after the first; it trains nothing.'
    ),
  environments: z
    .record(z.string(), trainOverride)
    .default({})
    .describe(
      'Per-environment overrides of `train` (of `evaluate` in the environments where a promote: model model is evaluated), keyed by environment name.'
    ),
  on_promote: z
    .record(z.string(), z.array(downstreamJob))
    .default({})
    .describe(
      'Jobs run, in order, right after the model becomes the champion of an environment, keyed by environment name. A failing one fails the run but never undoes the promotion.'
    ),
  gate: z
    .record(metricName, metricRule)
    .refine((g) => Object.keys(g).length > 0, 'must name at least one metric')
    .meta(nonEmpty)
    .describe('Rules every candidate must pass, keyed by metric name.')
})

export const configSchema = z
  .strictObject({
    version: z.literal(1).describe('Config format version.'),
    gate_environment: z
      .string()
      .optional()
      .describe('Where pull requests are trained and gated (default: first environment).'),
    champions: championsSpec.optional(),
    sweep_workflow: z
      .string()
      .regex(/^[A-Za-z0-9._-]+\.ya?ml$/, 'must be a workflow file name such as ml-sweep.yml')
      .optional()
      .describe(
        'The workflow file (in .github/workflows/, this repository) whose schedule runs mode: reconcile as a safety net for lost completion callbacks. ml-promote enables it while a training started with wait: false is pending and disables it when none is, so an idle repository runs no sweep. It must not be the workflow that receives the callbacks.'
      ),
    max_parallel: z
      .int()
      .min(1)
      .max(256)
      .optional()
      .describe(
        'Trainings at once across all backends (default 10; runner trainings also at most one per core). The max-parallel input overrides it.'
      ),
    environments: z
      .record(name, environmentSpec)
      .refine((e) => Object.keys(e).length > 0, 'must declare at least one environment')
      .meta(nonEmpty)
      .describe('Environments in promotion order.'),
    models: z
      .record(name, modelSpec)
      .refine((m) => Object.keys(m).length > 0, 'must declare at least one model')
      .meta(nonEmpty)
      .describe('Models, each trained and gated in every environment.')
  })
  .describe(
    'Config of ml-promote (.github/ml-promote.yml): environments in promotion order, and for each model how it is trained in every environment and the gate it must pass to become its champion.'
  )

export type RawConfig = z.infer<typeof configSchema>
export type TrainSpec = z.infer<typeof trainSpec>
export type CommandTrainSpec = z.infer<typeof commandTrain>
export type DatabricksTrainSpec = z.infer<typeof databricksTrain>
export type GithubWorkflowTrainSpec = z.infer<typeof githubWorkflowTrain>
export type AirflowTrainSpec = z.infer<typeof airflowTrain>
export type MetricRule = z.infer<typeof metricRule>
export type DownstreamJob = z.infer<typeof downstreamJob>
export type ChampionsSpec = z.infer<typeof championsSpec>

export interface EnvironmentConfig {
  name: string
  branch: string
  schedule: boolean
}

export interface ModelConfig {
  name: string
  /** `code` (or absent): retrain in every environment; `model`: train once, evaluate after. */
  promote?: 'code' | 'model'
  paths: string[]
  /** promote: model — changes that retrain (others deploy without training); undefined = all. */
  retrainPaths?: string[]
  metricNames?: string[]
  /**
   * The training of each declared environment (default merged with overrides). With promote:
   * model only the first environment's merges train, and a later one's pull request gate (when it
   * is the gate environment) trains the default spec.
   */
  train: Record<string, TrainSpec>
  /**
   * promote: model — for each environment after the first, the evaluation of the artifact trained
   * upstream (`evaluate` merged with the environment's override).
   */
  evaluate?: Record<string, TrainSpec>
  /** The model's own `train` before per-environment overrides. */
  defaultTrain: TrainSpec
  /** The model's own `evaluate` before per-environment overrides (promote: model). */
  defaultEvaluate?: TrainSpec
  gate: Record<string, MetricRule>
  /** `on_promote`: downstream jobs per environment, run in order after a promotion. */
  onPromote?: Record<string, DownstreamJob[]>
}

/** A validated config, normalised for the engine. */
export interface Config {
  file: string
  version: 1
  gateEnvironment: string
  /** In promotion order. */
  environments: EnvironmentConfig[]
  models: ModelConfig[]
  champions: ChampionsSpec
  /** `max_parallel`: trainings at once, unless the run says otherwise. */
  maxParallel?: number
  /** `sweep_workflow`: the safety sweep, enabled only while a training is pending. */
  sweepWorkflow?: string
}
