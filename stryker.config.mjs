// @ts-check
/**
 * Mutation testing of the pure decision modules: `npm run mutate` (issue 12).
 *
 * Stryker changes one operator or condition of a module at a time and runs the unit tests
 * that cover that spot; a change that no test notices is a behaviour nothing pins down.
 * scripts/mutate.ts runs it, then prints the score per module and fails below 90 % for any
 * module listed here, less the equivalent mutants in test/mutation/equivalent.json.
 *
 * The results are kept in test/mutation/baseline.json (committed), so a fresh clone
 * re-tests only the mutants whose code or covering tests changed since it was written.
 */

import { availableParallelism } from 'node:os'

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  // The pure decision modules, one per line: adding a module is adding its line.
  mutate: [
    'actions/build-push/command.ts',
    'actions/ecs-deploy/ecs.ts',
    'actions/ecs-deploy/gates.ts',
    'actions/ecs-deploy/lifecycle.ts',
    'actions/ecs-deploy/logs.ts',
    'actions/ecs-deploy/migration.ts',
    'actions/ecs-deploy/plan.ts',
    'actions/ecs-deploy/previous.ts',
    'actions/ecs-deploy/report.ts',
    'actions/ecs-deploy/rollback-mark.ts',
    'actions/ecs-deploy/rollout.ts',
    'actions/ecs-deploy/scaling.ts',
    'actions/ecs-deploy/status.ts',
    'actions/ecs-deploy/task-definition.ts',
    'actions/ecs-deploy/timeline.ts',
    'actions/ecs-deploy/watch.ts',
    'actions/shared/aws-call.ts',
    'actions/shared/inputs.ts',
    'actions/smoke-health/config.ts',
    'actions/smoke-health/judge.ts',
    'actions/test/command-line.ts',
    'actions/test/junit.ts'
  ],
  testRunner: 'jest',
  jest: {
    configFile: 'jest.config.js',
    // Unit tests only: integration tests start processes, servers and Docker.
    config: { testMatch: ['<rootDir>/test/unit/**/*.test.ts'], verbose: false },
    enableFindRelatedTests: true
  },
  // Jest runs the sources as ESM (see jest.config.js); the flag goes to the test runner process.
  testRunnerNodeArgs: ['--experimental-vm-modules'],
  // Each mutant runs only the tests that executed its code in the first, measured run.
  coverageAnalysis: 'perTest',
  incremental: true,
  incrementalFile: 'test/mutation/baseline.json',
  // Only what the unit tests load is copied to the sandbox.
  ignorePatterns: ['dist', 'examples', 'test/integration', 'test/e2e', 'test/fixtures'],
  tempDirName: '.stryker-tmp',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  clearTextReporter: { reportMutants: false, reportTests: false, allowColor: false },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  // One test runner per core but one, which is left to Stryker itself and the rest of the
  // machine; `npm run mutate -- --concurrency 1` on a busy one.
  concurrency: Math.max(1, availableParallelism() - 1),
  timeoutMS: 10000
}
