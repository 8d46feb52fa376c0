import commonjs from '@rollup/plugin-commonjs'
import json from '@rollup/plugin-json'
import nodeResolve from '@rollup/plugin-node-resolve'
import terser from '@rollup/plugin-terser'
import typescript from '@rollup/plugin-typescript'

// One build, two entries: the action (main + post) and the CLI share chunks so the
// engine is bundled once.
// ML_PROMOTE_DIST lets the staleness test build elsewhere and compare with the committed dist/.
const outDir = process.env.ML_PROMOTE_DIST || 'dist'

// @actions/core imports its OIDC client at module load, and with it @actions/http-client and
// undici (~1 MB), though only getIDToken, which we never call, uses it; its `platform` export
// likewise drags in @actions/exec. Neither module does anything when loaded, so rollup may drop
// them when unused: the HTTP stack then loads with the GitHub client, not on every cold start.
const unusedWhenUnreferenced = /[\\/]@actions[\\/]core[\\/]lib[\\/](oidc-utils|platform)\.js$/

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
  treeshake: { moduleSideEffects: (id) => !unusedWhenUnreferenced.test(id) },
  plugins: [
    typescript({ tsconfig: './tsconfig.json', outDir, sourceMap: true }),
    nodeResolve({ preferBuiltins: true, exportConditions: ['node'] }),
    commonjs(),
    json(),
    // Less source for V8 to parse on every step. Names are kept: zod and error reports read
    // constructor and function names at run time.
    terser({ keep_classnames: true, keep_fnames: true })
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
