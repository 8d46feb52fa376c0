// Wording shared by every config problem: dotted paths, what was found, did-you-mean.

export type PathSegment = string | number
export type Path = readonly PathSegment[]

/** `models.fraud.paths[0]`: the path a user reads in a message. */
export function dottedPath(path: Path): string {
  let out = ''
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else out += out === '' ? segment : `.${segment}`
  }
  return out
}

/** What a value is, for "(got …)": `string "0.9x"`, `number 2`, `a list`. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'null'
  if (typeof value === 'string') return `string ${quote(value)}`
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${value}`
  if (Array.isArray(value)) return 'a list'
  if (value instanceof Date) return `date ${value.toISOString()}`
  if (typeof value === 'object') return 'a mapping'
  return typeof value
}

/** A JSON-quoted string, cut short so one bad value cannot flood a message. */
export function quote(value: string): string {
  const limit = 60
  return JSON.stringify(value.length > limit ? `${value.slice(0, limit)}…` : value)
}

/** `; did you mean "x"?` when one candidate is close to `word`, else ''. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const match = closest(word, candidates)
  return match === undefined ? '' : `; did you mean ${quote(match)}?`
}

/**
 * The candidate nearest to `word`, if it is near enough to be a typo: a case difference, a few
 * edits (about one per three characters) or a prefix of at least three characters.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase()
  const budget = Math.max(1, Math.floor(word.length / 3))
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of candidates) {
    if (candidate === word) continue
    const other = candidate.toLowerCase()
    let distance = editDistance(lower, other)
    if (distance > budget && lower.length >= 3 && other.startsWith(lower)) distance = budget
    if (distance <= budget && distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

/** Levenshtein distance, with a swap of two neighbours counting as one edit. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = []
  for (let i = 0; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j)
        continue
      }
      const above = rows[i - 1] as number[]
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(
        (above[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (above[j - 1] as number) + cost
      )
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1)
      }
      row.push(d)
    }
    rows.push(row)
  }
  return (rows[a.length] as number[])[b.length] as number
}
