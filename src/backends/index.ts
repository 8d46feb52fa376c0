// Picks the Backend for a model's train spec in one environment.
import type { Octokit, RepoRef } from '../github.js'
import type { Backend, Logger, TrainSpec } from '../types.js'

export interface BackendDeps {
  env: NodeJS.ProcessEnv
  log: Logger
  /** Needed by the github-workflow backend only. */
  octokit?: Octokit
  repo?: RepoRef
}

/** Each backend is loaded only when a model uses it. */
export async function createBackend(spec: TrainSpec, deps: BackendDeps): Promise<Backend> {
  switch (spec.backend) {
    case 'command': {
      const { CommandBackend } = await import('./command.js')
      return new CommandBackend(spec, { env: deps.env })
    }
    case 'databricks': {
      const { DatabricksBackend } = await import('./databricks.js')
      return new DatabricksBackend(spec, { env: deps.env, log: deps.log })
    }
    case 'airflow': {
      const { AirflowBackend } = await import('./airflow.js')
      return new AirflowBackend(spec, { env: deps.env, log: deps.log })
    }
    case 'github-workflow': {
      if (!deps.octokit || !deps.repo) {
        throw new Error(
          'the github-workflow backend needs a GitHub token (input github-token or $GITHUB_TOKEN)'
        )
      }
      const { GithubWorkflowBackend } = await import('./github-workflow.js')
      return new GithubWorkflowBackend(spec, {
        octokit: deps.octokit,
        repo: deps.repo,
        log: deps.log
      })
    }
  }
}
