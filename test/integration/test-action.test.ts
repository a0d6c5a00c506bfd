/**
 * The test action as the runner runs it: the bundle as a process, running real npm and
 * node's test runner on small fixture services (no dependency needs the network), and real
 * Docker Compose for a service's dependencies where Compose is installed.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  docker,
  dockerPath,
  node24,
  REPOSITORY_ROOT,
  requireDockerSetup,
  runBundle
} from '../support/docker.js'

const FIXTURES = join(REPOSITORY_ROOT, 'test', 'fixtures', 'test-action')

const workspaces: string[] = []

/** A fresh workspace holding one fixture service at `service/`, as a checkout would. */
function checkout(fixture: string): string {
  const workspace = mkdtempSync(join(tmpdir(), `test-action-${fixture}-`))
  workspaces.push(workspace)
  cpSync(join(FIXTURES, fixture), join(workspace, 'service'), { recursive: true })
  return workspace
}

const testAction = (
  workspace: string,
  inputs: Record<string, string>,
  options: { env?: Record<string, string>; node?: string } = {}
) =>
  runBundle('test', {
    cwd: workspace,
    inputs: { 'working-directory': 'service', ...inputs },
    env: {
      GITHUB_WORKSPACE: workspace,
      GITHUB_RUN_ID: String(process.pid),
      PATH: dockerPath(),
      ...options.env
    },
    node: options.node
  })

/** The line of a fixture file holding `marker`, 1-based. */
function lineOf(file: string, marker: string): number {
  return (
    readFileSync(join(FIXTURES, file), 'utf8')
      .split('\n')
      .findIndex(line => line.includes(marker)) + 1
  )
}

/** What the runner gives a JavaScript action and not a plain run: step, with `secret` values. */
const ACTIONS_ONLY = (secret: string): Record<string, string> => ({
  ACTIONS_RUNTIME_TOKEN: secret,
  ACTIONS_RUNTIME_URL: `https://pipelines.example/${secret}/`,
  ACTIONS_CACHE_URL: `https://artifactcache.example/${secret}/`,
  ACTIONS_RESULTS_URL: `https://results.example/${secret}/`,
  ACTIONS_ID_TOKEN_REQUEST_URL: `https://token.example/${secret}`,
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: secret
})

/** The lines a log group holds, from its `::group::` line (title starting `title`) to its end. */
function groupOf(stdout: string, title: string): string {
  const start = stdout.indexOf(`::group::${title}`)
  if (start < 0) throw new Error(`no log group '${title}' in:\n${stdout}`)
  return stdout.slice(start, stdout.indexOf('::endgroup::', start))
}

/** The variable names `env` printed. */
const environmentNames = (printed: string): string[] =>
  printed
    .split('\n')
    .map(line => /^([A-Za-z_][A-Za-z0-9_-]*)=/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined)

afterAll(() => {
  for (const workspace of workspaces) rmSync(workspace, { recursive: true, force: true })
})

beforeAll(() => {
  if (!existsSync(join(REPOSITORY_ROOT, 'dist', 'test', 'index.js')))
    throw new Error('dist/test is missing: run `npm run package` first')
})

describe('test action on fixture services', () => {
  it('passing suite: installs from the lockfile, runs npm test, and counts the JUnit report', async () => {
    const run = await testAction(checkout('passing'), { 'junit-report': 'reports/junit.xml' })
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toMatch(/::group::Install: npm ci \(from package-lock.json\)/)
    expect(run.stdout).toContain('::group::Test: npm test')
    expect(run.outputs).toMatchObject({ total: '3', passed: '2', failed: '0', skipped: '1' })
    expect(Number(run.outputs['duration-seconds'])).toBeGreaterThan(0)
    expect(run.summary).toContain('| 3 | 2 | 0 | 1 |')
    expect(run.stdout).not.toContain('::error')
  }, 60_000)

  it('failing suite: an annotation at the failing assertion’s file and line, counts, and one failure line', async () => {
    const run = await testAction(checkout('failing'), { 'junit-report': 'reports/*.xml' })
    const line = lineOf('failing/test/ledger.test.js', 'the failing assertion')
    expect(line).toBeGreaterThan(0)
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toMatch(
      new RegExp(
        `::error title=ledger › nets debits against credits,file=service/test/ledger\\.test\\.js,line=${line}::ledger › nets debits against credits: Expected values to be strictly equal:`
      )
    )
    expect(run.outputs).toMatchObject({ total: '3', passed: '2', failed: '1', skipped: '0' })
    expect(run.summary).toContain(`\`service/test/ledger.test.js:${line}\``)
    expect(run.stdout).toContain(
      '::error::1 of 3 tests failed in service: ledger › nets debits against credits.'
    )
  }, 60_000)

  it('failing install: its own error naming the command and npm’s reason; the tests never run', async () => {
    const run = await testAction(checkout('install-fails'), {})
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toMatch(
      /::error::The install command 'npm ci' \(from package-lock.json\) failed with exit code 1 in service: npm error `npm ci` can only install packages when your package.json and package-lock.json/
    )
    expect(run.stdout).not.toContain('::group::Test:')
  }, 60_000)

  it('missing report: its own error, though the tests passed', async () => {
    const run = await testAction(checkout('passing'), { 'junit-report': 'reports/results-*.xml' })
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toContain(
      "::error::No JUnit report matched 'reports/results-*.xml' in service after the test run."
    )
  }, 60_000)

  it('a test command with shell syntax is an input error before anything runs', async () => {
    const run = await testAction(checkout('passing'), { 'test-command': 'npm ci && npm test' })
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toContain(
      "::error::Input 'test-command' is 'npm ci && npm test': the command runs without a shell"
    )
    expect(run.stdout).not.toContain('::group::Install')
  }, 30_000)

  it('install and test commands run without the Actions runtime token, the OIDC request token or the inputs', async () => {
    const secret = `secret-${process.pid}-${Date.now()}`
    const run = await testAction(
      checkout('passing'),
      { 'install-command': 'env', 'test-command': 'NODE_ENV=test env' },
      { env: { ...ACTIONS_ONLY(secret), CI: 'true', RUNNER_TEMP: tmpdir() } }
    )
    expect(run.stdout).not.toContain('::error')
    expect(run.exitCode).toBe(0)
    for (const group of ['Install: env', 'Test: NODE_ENV=test env']) {
      const names = environmentNames(groupOf(run.stdout, group))
      expect(names.filter(name => /^(ACTIONS_|INPUT_)/i.test(name))).toEqual([])
      // What a plain run: step has stays.
      expect(names).toEqual(
        expect.arrayContaining(['PATH', 'CI', 'GITHUB_WORKSPACE', 'GITHUB_SHA', 'RUNNER_TEMP'])
      )
    }
    expect(groupOf(run.stdout, 'Test: NODE_ENV=test env')).toMatch(/^NODE_ENV=test$/m)
    expect(run.stdout).not.toContain(secret)
  }, 60_000)

  it('runs on Node 24, the runtime GitHub uses', async () => {
    const run = await testAction(
      checkout('passing'),
      { 'junit-report': 'reports/junit.xml', 'install-command': 'none' },
      { node: node24() }
    )
    expect(run.exitCode).toBe(0)
    expect(run.outputs).toMatchObject({ total: '3', passed: '2' })
  }, 120_000)
})

/** `docker compose` (v2) or the standalone `docker-compose`: whichever this machine has. */
function composeInstalled(): boolean {
  for (const [command, args] of [
    ['/usr/bin/docker', ['compose', 'version']],
    ['docker-compose', ['version']]
  ] as const) {
    try {
      execFileSync(command, args, { stdio: 'ignore' })
      return true
    } catch {
      // try the next
    }
  }
  return false
}

const describeCompose = composeInstalled() ? describe : describe.skip

describeCompose('test action with a compose file', () => {
  const port = String(20000 + Math.floor(Math.random() * 10000))
  const containersOf = (project: string) =>
    docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`])

  beforeAll(async () => {
    await requireDockerSetup()
  })

  it('starts the listed service healthy before the tests, and removes it after', async () => {
    const runId = `${process.pid}1`
    const run = await testAction(
      checkout('compose'),
      {
        'compose-file': 'docker-compose.yml',
        'compose-services': 'cache',
        'junit-report': 'reports/junit.xml'
      },
      { env: { CACHE_PORT: port, GITHUB_RUN_ID: runId } }
    )
    expect(run.stdout).not.toContain('::error')
    expect(run.exitCode).toBe(0)
    expect(run.outputs).toMatchObject({ total: '1', passed: '1' })
    expect(run.stdout.indexOf('::group::Start cache')).toBeLessThan(
      run.stdout.indexOf('::group::Test: npm test')
    )
    expect(run.stdout.indexOf('::group::Test: npm test')).toBeLessThan(
      run.stdout.indexOf('::group::Stop services')
    )
    expect(containersOf(`service-test-${runId}`)).toBe('')
  }, 180_000)

  it('compose runs without the Actions runtime token: the compose file cannot read it', async () => {
    const runId = `${process.pid}3`
    const secret = `secret-${process.pid}-${Date.now()}`
    const project = `service-test-${runId}`
    const run = await testAction(
      checkout('compose'),
      {
        'compose-file': 'docker-compose.yml',
        'compose-services': 'cache',
        'install-command': 'none',
        // The label the compose file sets from ACTIONS_RUNTIME_TOKEN, read while it runs.
        'test-command': `docker ps --filter label=com.docker.compose.project=${project} --format "runtime-token={{.Label \\"noblepay.test.runtime-token\\"}}"`
      },
      { env: { ...ACTIONS_ONLY(secret), CACHE_PORT: port, GITHUB_RUN_ID: runId } }
    )
    expect(run.stdout).not.toContain('::error')
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toMatch(/^runtime-token=absent$/m)
    expect(run.stdout).not.toContain(secret)
    expect(containersOf(project)).toBe('')
  }, 180_000)

  it('a service that exits fails naming it, and everything is still removed', async () => {
    const runId = `${process.pid}2`
    const run = await testAction(
      checkout('compose'),
      { 'compose-file': 'docker-compose.yml', 'install-command': 'none' },
      { env: { CACHE_PORT: port, GITHUB_RUN_ID: runId } }
    )
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toMatch(
      /::error::(The compose services of .* did not become healthy: service-test-\d+[_-]unused[_-]1 exited with code 1|docker compose up failed .*unused)/
    )
    expect(run.stdout).not.toContain('::group::Test:')
    expect(containersOf(`service-test-${runId}`)).toBe('')
  }, 180_000)
})
