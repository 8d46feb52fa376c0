/** Benchmarks run through ts-jest so they can use the TypeScript sources and fakes directly. */
import base from '../jest.config.js'

export default {
  ...base,
  rootDir: '..',
  testMatch: ['<rootDir>/bench/**/*.bench.ts'],
  testTimeout: 600000,
  maxWorkers: 1
}
