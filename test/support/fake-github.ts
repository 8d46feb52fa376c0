// A fresh fake GitHub for each test of the describe block that calls this, closed afterwards once
// the test has also checked that nothing it sent broke GitHub's published contract.
import { afterEach, beforeEach, expect } from '@jest/globals'
import { createOctokit, type Octokit } from '../../src/github.js'
import { FakeGitHub, type FakeGitHubOptions } from '../fakes/github-server.js'
import { quietLogger } from './logger.js'

export interface FakeGitHubHandle {
  fake(): FakeGitHub
  /** An Octokit client of the fake, writes unpaced. */
  octokit(token?: string): Octokit
}

export function useFakeGitHub(opts: FakeGitHubOptions = {}): FakeGitHubHandle {
  let current: FakeGitHub | undefined
  beforeEach(async () => {
    current = await FakeGitHub.start(opts)
  })
  afterEach(async () => {
    expect(current!.violations).toEqual([])
    await current!.close()
  })
  return {
    fake: () => current!,
    octokit: (token = 'ghs_t') =>
      createOctokit(token, { baseUrl: current!.url, log: quietLogger, paceWrites: false })
  }
}
