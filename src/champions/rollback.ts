// What every store's rollback decides the same way: which earlier champion a request restores, and
// the record that restores it. Checked before anything is written, so a refused rollback leaves
// the store as it was.
import type { Candidate, Champion, Promotion, RollbackRequest } from '../types.js'

/** Longest rollback reason: it lives in a deployment payload or a version tag, shown in reports. */
const MAX_REASON = 1000

/** Shortest prefix `toSha` may be: shorter ones too easily match several commits. */
const MIN_PREFIX = 7

/**
 * The record of the champion `request` restores, from `records` (the environment's history,
 * newest first): the newest champion record of `toSha`, else the newest champion record that
 * differs from the current champion by commit or artifact.
 */
export function restoredRecord<T extends Pick<Promotion, 'candidate' | 'outcome'>>(
  request: RollbackRequest,
  current: Champion | undefined,
  records: T[]
): T {
  const where = `${request.model} [${request.environment}]`
  const reason = request.reason.trim()
  if (!reason || reason.length > MAX_REASON) {
    throw new Error(
      `${where}: a rollback needs a reason of 1 to ${MAX_REASON} characters (got ${reason.length}); it is kept in the history`
    )
  }
  if (!current) throw new Error(`${where} has no champion: there is nothing to roll back`)
  const champions = records.filter((r) => r.outcome === 'promoted' || r.outcome === 'rolled_back')
  if (request.toSha === undefined) {
    const earlier = champions.find(
      (r) => r.candidate.sha !== current.sha || r.candidate.modelUri !== current.modelUri
    )
    if (!earlier) {
      throw new Error(
        `${where}: no earlier champion to restore; ${short(current.sha)} is the only one recorded`
      )
    }
    return earlier
  }
  const wanted = request.toSha.trim().toLowerCase()
  if (!/^[0-9a-f]+$/.test(wanted) || wanted.length < MIN_PREFIX) {
    throw new Error(
      `${where}: the commit to restore must be a sha of at least ${MIN_PREFIX} hex digits (got "${request.toSha}")`
    )
  }
  const known = [...new Set(champions.map((r) => r.candidate.sha))]
  const matching = known.filter((sha) => sha.toLowerCase().startsWith(wanted))
  if (matching.length === 0) {
    throw new Error(
      `${where}: no champion was recorded at ${request.toSha}; known champions: ${known.map(short).join(', ') || 'none'}`
    )
  }
  if (matching.length > 1) {
    throw new Error(
      `${where}: ${request.toSha} matches several champions (${matching.join(', ')}); give more digits`
    )
  }
  if (matching[0] === current.sha) {
    throw new Error(`${where}: ${short(current.sha)} is already the champion`)
  }
  return champions.find((r) => r.candidate.sha === matching[0])!
}

/** The record a rollback adds: the restored champion as it was, with why and what it replaced. */
export function rollbackCandidate(
  restored: Candidate,
  request: RollbackRequest,
  replaced: Champion
): Candidate {
  const record: Candidate = {
    ...restored,
    trigger: request.trigger,
    rollback: { reason: request.reason, replacedSha: replaced.sha }
  }
  // The restored record concluded its pending training; a reconcile must not take this one for it.
  delete record.pendingId
  return record
}

function short(sha: string): string {
  return sha.slice(0, 7)
}
