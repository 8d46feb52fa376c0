// dist/ is what the runner executes: it must be exactly what the sources build to, and it must run
// with nothing but its committed files.
import { describe, expect, it } from '@jest/globals'
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { root } from '../test/e2e/harness.js'

function files(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]
  )
}

describe('dist/', () => {
  it('is current: rebuilding the sources gives the committed bundle byte for byte', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'ml-promote-dist-'))
    execFileSync(
      process.execPath,
      [
        path.join(root, 'node_modules/rollup/dist/bin/rollup'),
        '--config',
        'rollup.config.mjs',
        '--silent'
      ],
      {
        cwd: root,
        env: { ...process.env, ML_PROMOTE_DIST: out },
        stdio: 'pipe'
      }
    )
    const committed = files(path.join(root, 'dist')).sort()
    expect(files(out).sort()).toEqual(committed)
    // Source maps name sources relative to the output folder, so only the code is compared.
    const stale = committed.filter(
      (f) =>
        f.endsWith('.js') &&
        !readFileSync(path.join(out, f)).equals(readFileSync(path.join(root, 'dist', f)))
    )
    expect(stale).toEqual([])
  }, 180_000)

  it('runs with only its committed files: no node_modules next to it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ml-promote-bare-'))
    cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true })
    cpSync(path.join(root, 'action.yml'), path.join(dir, 'action.yml'))
    cpSync(path.join(root, 'examples/fraud-detection'), path.join(dir, 'project'), {
      recursive: true
    })
    for (const f of ['out', 'summary', 'state', 'event.json'])
      writeFileSync(path.join(dir, f), f === 'event.json' ? '{}' : '')
    const res = spawnSync(process.execPath, [path.join(dir, 'dist/index.js')], {
      cwd: dir,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        GITHUB_EVENT_NAME: 'push',
        GITHUB_EVENT_PATH: path.join(dir, 'event.json'),
        GITHUB_OUTPUT: path.join(dir, 'out'),
        GITHUB_STEP_SUMMARY: path.join(dir, 'summary'),
        GITHUB_STATE: path.join(dir, 'state'),
        GITHUB_WORKSPACE: path.join(dir, 'project'),
        GITHUB_REPOSITORY: 'octo-org/fraud-models',
        INPUT_MODE: 'validate',
        INPUT_CONFIG: '.github/ml-promote.yml'
      }
    })
    expect(res.stderr).toBe('')
    expect(res.status).toBe(0)
    expect(res.stdout).toContain('.github/ml-promote.yml is valid')
    expect(readFileSync(path.join(dir, 'out'), 'utf8')).toMatch(/verdict<<[^\n]+\nskipped\n/)

    const cli = spawnSync(process.execPath, [path.join(dir, 'dist/cli.js'), 'validate'], {
      cwd: path.join(dir, 'project'),
      encoding: 'utf8',
      env: { PATH: process.env.PATH }
    })
    expect(cli.stdout).toContain('.github/ml-promote.yml: valid')
    expect(cli.status).toBe(0)
  })
})
