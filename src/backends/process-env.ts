// What a training process started on the runner inherits: the runner's ordinary variables, never
// the action's inputs, the Actions runtime, the file-command paths or anything that looks like a
// credential — unless the config's `pass_env` (judged from the base commit) names it.

/** Variables of the Actions runtime and the file commands: internals of the step, not of training. */
const RUNTIME = new Set([
  'GITHUB_TOKEN',
  'GH_TOKEN',
  'GITHUB_OUTPUT',
  'GITHUB_ENV',
  'GITHUB_PATH',
  'GITHUB_STATE',
  'GITHUB_STEP_SUMMARY',
  'ACTIONS_RUNTIME_TOKEN',
  'ACTIONS_RUNTIME_URL',
  'ACTIONS_ID_TOKEN_REQUEST_TOKEN',
  'ACTIONS_ID_TOKEN_REQUEST_URL',
  'ACTIONS_CACHE_URL',
  'ACTIONS_CACHE_SERVICE_V2',
  'ACTIONS_RESULTS_URL'
])
/** Action inputs (the GitHub token among them) and post-step state. */
const RUNTIME_PREFIXES = ['INPUT_', 'STATE_']
/**
 * Names that carry credentials: the remote backends' own (DATABRICKS_TOKEN, DATABRICKS_CLIENT_SECRET,
 * AIRFLOW_TOKEN, AIRFLOW_PASSWORD, MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_PASSWORD) and any other
 * variable named like one (AWS_SECRET_ACCESS_KEY, NPM_TOKEN, OPENAI_API_KEY…).
 */
const CREDENTIAL = /TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|AUTH/i

export interface ScrubbedEnv {
  env: Record<string, string>
  /** Credential-looking names that were held back (not runtime internals), for the log. */
  withheld: string[]
}

/** The environment a training process starts from, before the config's `env` and the context. */
export function scrubbedEnv(
  source: NodeJS.ProcessEnv,
  passEnv: readonly string[] = []
): ScrubbedEnv {
  const pass = new Set(passEnv)
  const env: Record<string, string> = {}
  const withheld: string[] = []
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined) continue
    if (pass.has(name)) {
      env[name] = value
      continue
    }
    const upper = name.toUpperCase()
    if (RUNTIME.has(upper) || RUNTIME_PREFIXES.some((p) => upper.startsWith(p))) continue
    if (CREDENTIAL.test(name)) {
      withheld.push(name)
      continue
    }
    env[name] = value
  }
  return { env, withheld: withheld.sort() }
}
