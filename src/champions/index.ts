// Picks the champion store: the config's `champions.store`, or by default the GitHub Deployments
// store in Actions and the file store elsewhere.
import type { Octokit, RepoRef } from '../github.js'
import type { ChampionStore, Config, Logger } from '../types.js'

export interface StoreDeps {
  octokit?: Octokit
  repo?: RepoRef
  env: NodeJS.ProcessEnv
  log: Logger
  stateDir: string
  runUrl?: string
  inActions: boolean
}

/** Each store is loaded only when the config picks it. */
export async function createStore(config: Config, deps: StoreDeps): Promise<ChampionStore> {
  const wanted = config.champions.store
  const kind = wanted === 'auto' ? (deps.inActions && deps.octokit ? 'github' : 'file') : wanted
  switch (kind) {
    case 'file': {
      const { FileChampionStore } = await import('./file.js')
      return new FileChampionStore(deps.stateDir)
    }
    case 'github': {
      if (!deps.octokit || !deps.repo) {
        throw new Error('champions.store github needs a GitHub token (input github-token)')
      }
      const { GithubChampionStore } = await import('./github.js')
      return new GithubChampionStore(deps.octokit, deps.repo, deps.log, {
        runUrl: deps.runUrl,
        productionEnvironment: config.environments[config.environments.length - 1]?.name
      })
    }
    case 'mlflow': {
      const trackingUri =
        config.champions.tracking_uri ?? deps.env.MLFLOW_TRACKING_URI ?? deps.env.DATABRICKS_HOST
      if (!trackingUri) {
        throw new Error(
          'champions.store mlflow needs champions.tracking_uri, $MLFLOW_TRACKING_URI or $DATABRICKS_HOST'
        )
      }
      const template = config.champions.registered_model ?? '{model}-{environment}'
      const { MlflowChampionStore } = await import('./mlflow.js')
      return new MlflowChampionStore({
        trackingUri,
        registeredModel: (model, environment) =>
          template.replaceAll('{model}', model).replaceAll('{environment}', environment),
        unityCatalog: config.champions.unity_catalog,
        env: deps.env,
        log: deps.log
      })
    }
  }
}
