import commonjs from '@rollup/plugin-commonjs'
import json from '@rollup/plugin-json'
import nodeResolve from '@rollup/plugin-node-resolve'
import typescript from '@rollup/plugin-typescript'

// One build, two entries: the action (main + post) and the CLI share chunks so the
// engine is bundled once.
// ML_PROMOTE_DIST lets the staleness test build elsewhere and compare with the committed dist/.
const outDir = process.env.ML_PROMOTE_DIST || 'dist'

/** @type {import('rollup').RollupOptions} */
const config = {
  input: { index: 'src/index.ts', cli: 'src/cli.ts' },
  output: {
    dir: outDir,
    format: 'es',
    sourcemap: true,
    entryFileNames: '[name].js',
    chunkFileNames: 'chunks/[name].js',
    banner: (chunk) => (chunk.name === 'cli' ? '#!/usr/bin/env node' : '')
  },
  plugins: [
    typescript({ tsconfig: './tsconfig.json', outDir, sourceMap: true }),
    nodeResolve({ preferBuiltins: true, exportConditions: ['node'] }),
    commonjs(),
    json()
  ],
  onwarn(warning, warn) {
    // Known noise from dependencies: `this` at module scope in CJS shims, cycles inside
    // undici, and bundler annotations rollup does not read.
    if (['THIS_IS_UNDEFINED', 'CIRCULAR_DEPENDENCY', 'INVALID_ANNOTATION'].includes(warning.code))
      return
    warn(warning)
  }
}

export default config
