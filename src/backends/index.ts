// Picks the Backend for a model's train spec in one environment.
import type { Octokit, RepoRef } from '../github.js'
import type { Backend, Logger, TrainSpec } from '../types.js'
import { AirflowBackend } from './airflow.js'
import { CommandBackend } from './command.js'
import { DatabricksBackend } from './databricks.js'
import { GithubWorkflowBackend } from './github-workflow.js'

export interface BackendDeps {
  env: NodeJS.ProcessEnv
  log: Logger
  /** Needed by the github-workflow backend only. */
  octokit?: Octokit
  repo?: RepoRef
}

export function createBackend(spec: TrainSpec, deps: BackendDeps): Backend {
  switch (spec.backend) {
    case 'command':
      return new CommandBackend(spec)
    case 'databricks':
      return new DatabricksBackend(spec, { env: deps.env, log: deps.log })
    case 'airflow':
      return new AirflowBackend(spec, { env: deps.env, log: deps.log })
    case 'github-workflow':
      if (!deps.octokit || !deps.repo) {
        throw new Error(
          'the github-workflow backend needs a GitHub token (input github-token or $GITHUB_TOKEN)'
        )
      }
      return new GithubWorkflowBackend(spec, {
        octokit: deps.octokit,
        repo: deps.repo,
        log: deps.log
      })
  }
}
