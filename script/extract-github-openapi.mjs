#!/usr/bin/env node
// Cuts GitHub's published OpenAPI description down to the operations ml-promote calls and writes
// it to test/fixtures/github-openapi.json, the contract the fake GitHub server enforces.
// The full @octokit/openapi package unpacks to ~400 MB, so it is fetched on demand rather than
// installed. Re-run after bumping VERSION; review the fixture diff like any contract change.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const PACKAGE = '@octokit/openapi'
const VERSION = '23.0.2'
const SPEC_FILE = 'package/generated/api.github.com.json'
const OUT = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'test',
  'fixtures',
  'github-openapi.json'
)

const OPERATIONS = [
  'GET /rate_limit',
  'GET /repos/{owner}/{repo}',
  'GET /repos/{owner}/{repo}/contents/{path}',
  'GET /repos/{owner}/{repo}/pulls/{pull_number}',
  'GET /repos/{owner}/{repo}/pulls/{pull_number}/files',
  'GET /repos/{owner}/{repo}/compare/{basehead}',
  'POST /repos/{owner}/{repo}/check-runs',
  'PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}',
  'GET /repos/{owner}/{repo}/commits/{ref}/check-runs',
  'POST /repos/{owner}/{repo}/statuses/{sha}',
  'GET /repos/{owner}/{repo}/issues',
  'POST /repos/{owner}/{repo}/issues',
  'PATCH /repos/{owner}/{repo}/issues/{issue_number}',
  'GET /repos/{owner}/{repo}/issues/{issue_number}/comments',
  'POST /repos/{owner}/{repo}/issues/{issue_number}/comments',
  'PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}',
  'GET /repos/{owner}/{repo}/deployments',
  'POST /repos/{owner}/{repo}/deployments',
  'DELETE /repos/{owner}/{repo}/deployments/{deployment_id}',
  'GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses',
  'POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses',
  'POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches',
  'GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs',
  'PUT /repos/{owner}/{repo}/actions/workflows/{workflow_id}/enable',
  'PUT /repos/{owner}/{repo}/actions/workflows/{workflow_id}/disable',
  'GET /repos/{owner}/{repo}/actions/runs/{run_id}',
  'POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel',
  'GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals',
  'GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts',
  'GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}'
]

// Prose and samples are most of the description's bytes and none of its contract.
const DROPPED_KEYS = new Set([
  'description',
  'examples',
  'example',
  'x-github',
  'x-octokit',
  'tags'
])
// Objects whose keys are names (a property called "description" is a schema, not prose).
const NAME_MAPS = new Set([
  'properties',
  'patternProperties',
  'paths',
  'responses',
  'content',
  'headers',
  'mapping',
  'schemas',
  'parameters',
  'encoding'
])

function loadSpec() {
  const dir = mkdtempSync(join(tmpdir(), 'github-openapi-'))
  try {
    execFileSync(
      'npm',
      ['pack', '--loglevel=warn', `${PACKAGE}@${VERSION}`, '--pack-destination', dir],
      {
        stdio: ['ignore', 'ignore', 'inherit']
      }
    )
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))
    if (!tarball) throw new Error(`npm pack ${PACKAGE}@${VERSION} produced no tarball in ${dir}`)
    execFileSync('tar', ['-xzf', join(dir, tarball), '-C', dir, SPEC_FILE])
    return JSON.parse(readFileSync(join(dir, SPEC_FILE), 'utf8'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function strip(node, isNameMap = false) {
  if (Array.isArray(node)) return node.map((item) => strip(item))
  if (node === null || typeof node !== 'object') return node
  const out = {}
  for (const [key, value] of Object.entries(node)) {
    // Breaking-change patches are kept verbatim: they are JSON patches against the original text.
    if (key === 'x-github-breaking-changes') out[key] = value
    else if (isNameMap) out[key] = strip(value)
    else if (!DROPPED_KEYS.has(key)) out[key] = strip(value, NAME_MAPS.has(key))
  }
  return out
}

function refsIn(node, found = new Set()) {
  if (Array.isArray(node)) for (const item of node) refsIn(item, found)
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') found.add(value)
      else refsIn(value, found)
    }
  }
  return found
}

function resolvePointer(spec, ref) {
  if (!ref.startsWith('#/')) throw new Error(`external $ref not supported: ${ref}`)
  const parts = ref
    .slice(2)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  let node = spec
  for (const part of parts) {
    node = node?.[part]
    if (node === undefined) throw new Error(`dangling $ref ${ref}`)
  }
  return { parts, node }
}

function extract(spec) {
  const paths = {}
  for (const line of OPERATIONS) {
    const [method, path] = line.split(' ')
    const operation = spec.paths[path]?.[method.toLowerCase()]
    if (!operation) throw new Error(`${PACKAGE}@${VERSION} has no operation ${line}`)
    if (spec.paths[path].parameters)
      throw new Error(`path-level parameters on ${path} are not handled`)
    paths[path] ??= {}
    paths[path][method.toLowerCase()] = strip(operation)
  }

  const components = {}
  const pending = [...refsIn(paths)]
  const seen = new Set()
  while (pending.length > 0) {
    const ref = pending.pop()
    if (seen.has(ref)) continue
    seen.add(ref)
    const { parts, node } = resolvePointer(spec, ref)
    const [root, kind, name, ...rest] = parts
    if (root !== 'components' || rest.length > 0 || name === undefined) {
      throw new Error(`unexpected $ref shape ${ref}`)
    }
    if (kind === 'examples') continue
    const copy = strip(node)
    components[kind] ??= {}
    components[kind][name] = copy
    pending.push(...refsIn(copy))
  }
  for (const kind of Object.keys(components)) {
    components[kind] = Object.fromEntries(
      Object.entries(components[kind]).sort(([a], [b]) => a.localeCompare(b))
    )
  }

  return {
    'x-source': `${PACKAGE}@${VERSION}`,
    openapi: spec.openapi,
    info: { title: spec.info.title, version: spec.info.version },
    paths,
    components
  }
}

const fixture = extract(loadSpec())
writeFileSync(OUT, JSON.stringify(fixture, null, 1) + '\n')
const ops = Object.values(fixture.paths).reduce((n, p) => n + Object.keys(p).length, 0)
const schemas = Object.keys(fixture.components.schemas ?? {}).length
console.log(`wrote ${OUT}: ${ops} operations, ${schemas} schemas from ${fixture['x-source']}`)
