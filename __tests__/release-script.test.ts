// script/release run for real in scratch repositories: a package.json whose `bundle` script builds
// dist/ from a source file, a CHANGELOG, and the release script itself.
import { describe, expect, it } from '@jest/globals'
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { root } from '../test/e2e/harness.js'

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'Release Tester',
  GIT_AUTHOR_EMAIL: 'release@example.com',
  GIT_COMMITTER_NAME: 'Release Tester',
  GIT_COMMITTER_EMAIL: 'release@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null'
}

const CHANGELOG = `# Changelog

## [Unreleased]

## [1.2.0] - 2026-12-01

### Added

- Scheduled retrains.

## [1.1.0] - 2026-11-02

### Fixed

- Everything else.
`

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...GIT_ENV },
    stdio: ['ignore', 'pipe', 'pipe']
  }).trim()
}

function commitAll(cwd: string, message: string): void {
  git(cwd, 'add', '-A')
  git(cwd, 'commit', '-q', '-m', message)
}

/** A releasable repository at version 1.2.0 whose dist/ is current. */
function scratchRepo(opts: { version?: string; changelog?: string } = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ml-promote-release-'))
  mkdirSync(path.join(dir, 'script'))
  mkdirSync(path.join(dir, 'dist'))
  copyFileSync(path.join(root, 'script', 'release'), path.join(dir, 'script', 'release'))
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({
      name: 'scratch',
      version: opts.version ?? '1.2.0',
      private: true,
      scripts: { bundle: 'node build.mjs' }
    })
  )
  writeFileSync(
    path.join(dir, 'build.mjs'),
    "import { readFileSync, writeFileSync } from 'node:fs'\n" +
      "writeFileSync('dist/index.js', `// built\\n${readFileSync('src.txt', 'utf8')}`)\n"
  )
  writeFileSync(path.join(dir, 'src.txt'), 'export const answer = 42\n')
  writeFileSync(path.join(dir, 'dist', 'index.js'), '// built\nexport const answer = 42\n')
  writeFileSync(path.join(dir, 'CHANGELOG.md'), opts.changelog ?? CHANGELOG)
  git(dir, 'init', '-q', '-b', 'main')
  commitAll(dir, 'initial')
  return dir
}

function release(dir: string, ...args: string[]) {
  const res = spawnSync('bash', [path.join(dir, 'script', 'release'), ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, ...GIT_ENV }
  })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr }
}

function tags(dir: string): string[] {
  return git(dir, 'tag', '--list').split('\n').filter(Boolean)
}

describe('script/release refuses', () => {
  const cases: Array<[string, (dir: string) => string[], RegExp]> = [
    [
      'off main',
      (dir) => {
        git(dir, 'checkout', '-q', '-b', 'feature')
        return []
      },
      /releases are tagged on main \(on feature\)/
    ],
    [
      'with uncommitted changes',
      (dir) => {
        writeFileSync(path.join(dir, 'notes.txt'), 'wip\n')
        return []
      },
      /working tree is not clean/
    ],
    [
      'when dist/ is stale',
      (dir) => {
        writeFileSync(path.join(dir, 'src.txt'), 'export const answer = 43\n')
        commitAll(dir, 'change the source, forget the bundle')
        return []
      },
      /dist\/ is stale: commit the rebuilt dist\//
    ],
    [
      'a version package.json does not have',
      () => ['1.3.0'],
      /package\.json has version 1\.2\.0, not 1\.3\.0/
    ],
    ['a version that is not X.Y.Z', () => ['1.2'], /version must be X\.Y\.Z \(got "1\.2"\)/],
    [
      'an existing tag',
      (dir) => {
        git(dir, 'tag', 'v1.2.0')
        return []
      },
      /tag v1\.2\.0 already exists/
    ]
  ]

  it.each(cases)('%s', (_name, arrange, message) => {
    const dir = scratchRepo()
    const args = arrange(dir)
    const before = tags(dir)
    const res = release(dir, ...args)
    expect(res.stderr).toMatch(message)
    expect(res.status).toBe(1)
    expect(tags(dir)).toEqual(before)
  })

  it('without a CHANGELOG section for the version', () => {
    const dir = scratchRepo({ version: '1.3.0' })
    const res = release(dir)
    expect(res.stderr).toContain('CHANGELOG.md has no "## [1.3.0] - YYYY-MM-DD" section')
    expect(res.status).toBe(1)
  })

  it('when the section has no date', () => {
    const dir = scratchRepo({
      changelog: CHANGELOG.replace('## [1.2.0] - 2026-12-01', '## [1.2.0] - soon')
    })
    const res = release(dir)
    expect(res.stderr).toContain('must read "## [1.2.0] - YYYY-MM-DD"')
    expect(res.status).toBe(1)
  })
})

describe('script/release', () => {
  it('--dry-run checks everything and tags nothing', () => {
    const dir = scratchRepo()
    const res = release(dir, '--dry-run')
    expect(res.stderr).toBe('')
    expect(res.status).toBe(0)
    expect(res.stdout).toContain('would tag v1.2.0 (annotated)')
    expect(res.stdout).toContain('and move v1 to it')
    expect(tags(dir)).toEqual([])
  })

  it('tags vX.Y.Z with its CHANGELOG section, moves vX, and prints the push command', () => {
    const dir = scratchRepo()
    git(dir, 'tag', '-a', 'v1', '-m', 'v1.1.0')
    writeFileSync(path.join(dir, 'src.txt'), 'export const answer = 43\n')
    writeFileSync(path.join(dir, 'dist', 'index.js'), '// built\nexport const answer = 43\n')
    commitAll(dir, 'release 1.2.0')
    const head = git(dir, 'rev-parse', 'HEAD')

    const res = release(dir, 'v1.2.0')
    expect(res.stderr).toBe('')
    expect(res.status).toBe(0)
    expect(res.stdout).toContain('git push origin v1.2.0 && git push --force origin v1')
    expect(git(dir, 'cat-file', '-t', 'v1.2.0')).toBe('tag')
    expect(git(dir, 'rev-parse', 'v1.2.0^{commit}')).toBe(head)
    expect(git(dir, 'rev-parse', 'v1^{commit}')).toBe(head)
    const message = git(dir, 'tag', '-l', '--format=%(contents)', 'v1.2.0')
    expect(message).toContain('## [1.2.0] - 2026-12-01')
    expect(message).toContain('- Scheduled retrains.')
    expect(message).not.toContain('1.1.0')
    // nothing was pushed: the scratch repository has no remote to push to
    expect(git(dir, 'remote')).toBe('')
  })
})
