// Benchmarks print one `name: value unit` line per figure on stdout, bypassing jest's console.
export function figure(name: string, value: number | string, unit = ''): void {
  process.stdout.write(`${name}: ${value}${unit ? ` ${unit}` : ''}\n`)
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
