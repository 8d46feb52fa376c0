// Runs the example projects' Python the way ml-promote would: context only from the variables the
// test passes, none leaking in from the environment of the test run.
import { spawn } from 'node:child_process'

export interface PythonResult {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * `python3 args…` in `cwd` with `env` on top of the test's environment, less every variable whose
 * name starts with one of `scrubbed` (ML_PROMOTE_ always).
 */
export function python(
  args: string[],
  cwd: string,
  env: Record<string, string | undefined>,
  scrubbed: string[] = []
): Promise<PythonResult> {
  return new Promise((resolve, reject) => {
    const base: NodeJS.ProcessEnv = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' }
    for (const key of Object.keys(base)) {
      if (['ML_PROMOTE_', ...scrubbed].some((prefix) => key.startsWith(prefix))) delete base[key]
    }
    const child = spawn('python3', args, { cwd, env: { ...base, ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}
