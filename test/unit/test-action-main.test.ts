import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ActionError, InputError } from '../../actions/shared/errors.js'
import { HEALTH_POLL_MS } from '../../actions/test/compose.js'
import { run, type TestDeps } from '../../actions/test/main.js'
import { scriptedCommands } from '../support/docker.js'
import { FakeClock, RecordingRunner, rejection } from '../support/runner.js'

const roots: string[] = []
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true })
})

/** A workspace with a service folder holding the given files. */
function workspace(files: Record<string, string>) {
  const root = mkdtempSync(join(tmpdir(), 'test-action-'))
  roots.push(root)
  const service = join(root, 'services', 'ledger')
  mkdirSync(service, { recursive: true })
  for (const [name, content] of Object.entries(files)) writeFileSync(join(service, name), content)
  return { root, service }
}

const REPORT = (service: string) => `<testsuites>
  <testsuite name="ledger">
    <testcase name="sums credits" classname="test"/>
    <testcase name="nets debits" classname="test">
      <failure message="70 !== 60">AssertionError: 70 !== 60
    at TestContext.&lt;anonymous&gt; (${service}/test/ledger.test.js:13:12)</failure>
    </testcase>
  </testsuite>
  <testcase name="skips" classname="test"><skipped/></testcase>
</testsuites>`

function deps(
  root: string,
  values: Record<string, string>,
  commands: ReturnType<typeof scriptedCommands>,
  extra: Partial<TestDeps> = {}
): TestDeps {
  return {
    inputs: name => values[name] ?? '',
    env: { GITHUB_WORKSPACE: root, GITHUB_RUN_ID: '777' },
    exec: commands.run,
    clock: new FakeClock(),
    findReports: async () => ({ fresh: [], stale: [] }),
    ...extra
  }
}

const failure = rejection

describe('test action: install and test commands', () => {
  it.each([
    ['package-lock.json', 'npm ci'],
    ['yarn.lock', 'yarn install --frozen-lockfile'],
    ['pnpm-lock.yaml', 'pnpm install --frozen-lockfile']
  ])(
    'installs with the lockfile %s → %s, in the working directory, then runs the tests',
    async (lockfile, install) => {
      const { root, service } = workspace({ [lockfile]: '' })
      const commands = scriptedCommands()
      await run(new RecordingRunner(), deps(root, { 'working-directory': service }, commands))
      expect(commands.lines()).toEqual([install, 'npm test'])
      expect(commands.calls.every(c => c.options.cwd === service)).toBe(true)
    }
  )

  it('without a lockfile or install-command, fails naming the input before running anything', async () => {
    const { root, service } = workspace({})
    const commands = scriptedCommands()
    const error = await failure(
      run(new RecordingRunner(), deps(root, { 'working-directory': service }, commands))
    )
    expect(error).toBeInstanceOf(InputError)
    expect(error.message).toMatch(
      /^Input 'install-command' is empty: .* has no lockfile .*set install-command .* or to none to skip it/
    )
    expect(commands.calls).toHaveLength(0)
  })

  it('skips the install with none, and splits the test command into argv with its variables', async () => {
    const { root, service } = workspace({})
    const commands = scriptedCommands()
    await run(
      new RecordingRunner(),
      deps(
        root,
        {
          'working-directory': service,
          'install-command': 'none',
          'test-command': 'CI=true npm run "test:ci"'
        },
        commands
      )
    )
    expect(commands.calls).toHaveLength(1)
    expect(commands.calls[0]).toMatchObject({
      command: 'npm',
      args: ['run', 'test:ci'],
      options: { env: { CI: 'true' }, cwd: service }
    })
  })

  it('a failing install is its own error, with npm’s reason, and no test runs', async () => {
    const { root, service } = workspace({ 'package-lock.json': '' })
    const npmOutput = [
      'npm error code EUSAGE',
      'npm error',
      'npm error `npm ci` can only install packages when your package.json and package-lock.json are in sync.',
      'npm error A complete log of this run can be found in: /root/.npm/_logs/x.log'
    ].join('\n')
    const commands = scriptedCommands([
      { match: /^npm ci/, result: { exitCode: 1, stderr: npmOutput } }
    ])
    const error = await failure(
      run(new RecordingRunner(), deps(root, { 'working-directory': service }, commands))
    )
    expect(error).toBeInstanceOf(ActionError)
    expect(error.message).toMatch(
      /^The install command 'npm ci' \(from package-lock.json\) failed with exit code 1 in .*: npm error `npm ci` can only install packages/
    )
    expect(commands.lines()).toEqual(['npm ci'])
  })

  it('an install tool that is not installed says so', async () => {
    const { root, service } = workspace({ 'yarn.lock': '' })
    const commands = scriptedCommands([
      { match: /^yarn/, result: { exitCode: 127, notFound: true } }
    ])
    const error = await failure(
      run(new RecordingRunner(), deps(root, { 'working-directory': service }, commands))
    )
    expect(error.message).toContain("could not start: 'yarn' is not installed on this runner")
  })

  it('a failing test run without a report fails with the exit code and the output’s reason', async () => {
    const { root, service } = workspace({})
    const commands = scriptedCommands([
      {
        match: /^npm test/,
        result: { exitCode: 1, stdout: 'running\nError: connect ECONNREFUSED 127.0.0.1:5432\n' }
      }
    ])
    const runner = new RecordingRunner()
    const error = await failure(
      run(runner, deps(root, { 'working-directory': service, 'install-command': 'none' }, commands))
    )
    expect(error.message).toMatch(
      /^The test command 'npm test' failed with exit code 1 in .*: Error: connect ECONNREFUSED/
    )
    expect(runner.outputs).toMatchObject({ total: '', failed: '', 'duration-seconds': '0' })
  })

  it('a missing report is its own error, even when the tests passed', async () => {
    const { root, service } = workspace({})
    const commands = scriptedCommands()
    const error = await failure(
      run(
        new RecordingRunner(),
        deps(
          root,
          {
            'working-directory': service,
            'install-command': 'none',
            'junit-report': 'reports/*.xml'
          },
          commands,
          {
            findReports: async () => ({ fresh: [], stale: [join(service, 'reports', 'old.xml')] })
          }
        )
      )
    )
    expect(error.message).toMatch(
      /^No JUnit report matched 'reports\/\*\.xml' in .* after the test run \(only files older than the run: reports\/old.xml\)\. Make the test command write it there/
    )
  })

  it('annotates each failure at its file and line, counts the report, and fails listing the failed tests', async () => {
    const { root, service } = workspace({})
    const report = join(service, 'reports', 'junit.xml')
    const clock = new FakeClock()
    const commands = scriptedCommands([
      {
        match: /^npm test/,
        result: () => {
          clock.time += 2500
          return { exitCode: 1 }
        }
      }
    ])
    const runner = new RecordingRunner()
    const error = await failure(
      run(
        runner,
        deps(
          root,
          {
            'working-directory': service,
            'install-command': 'none',
            'junit-report': 'reports/junit.xml'
          },
          commands,
          {
            clock,
            findReports: async pattern => ({
              fresh: pattern === report ? [report] : [],
              stale: []
            }),
            readFile: () => REPORT(service)
          }
        )
      )
    )
    expect(runner.annotations).toEqual([
      {
        message: 'ledger › nets debits: 70 !== 60',
        file: 'services/ledger/test/ledger.test.js',
        line: 13,
        title: 'ledger › nets debits'
      }
    ])
    expect(runner.outputs).toEqual({
      total: '3',
      passed: '1',
      failed: '1',
      skipped: '1',
      'duration-seconds': '2.5'
    })
    expect(runner.summaryText).toContain('| 3 | 1 | 1 | 1 | 2.5 s |')
    expect(runner.summaryText).toContain('`services/ledger/test/ledger.test.js:13`')
    expect(error.message).toMatch(
      /^1 of 3 tests failed in .*: ledger › nets debits\. The failures are annotated/
    )
  })

  it('without annotation support, reports failures as error lines with file:line', async () => {
    const { root, service } = workspace({})
    const runner = new RecordingRunner()
    Object.defineProperty(runner, 'annotate', { value: undefined })
    await failure(
      run(
        runner,
        deps(
          root,
          { 'working-directory': service, 'install-command': 'none', 'junit-report': 'r.xml' },
          scriptedCommands(),
          {
            findReports: async () => ({ fresh: [join(service, 'r.xml')], stale: [] }),
            readFile: () => REPORT(service)
          }
        )
      )
    )
    expect(runner.errors).toEqual([
      'services/ledger/test/ledger.test.js:13: ledger › nets debits: 70 !== 60'
    ])
  })
})

describe('test action: the environment of the service’s commands', () => {
  it('every command (compose, install, tests) starts without ACTIONS_*, INPUT_* and STATE_*, with the rest of the environment', async () => {
    const { root, service } = workspace({ 'package-lock.json': '', 'compose.yml': '' })
    const commands = scriptedCommands()
    const env = {
      GITHUB_WORKSPACE: root,
      GITHUB_RUN_ID: '777',
      PATH: '/usr/bin',
      CI: 'true',
      RUNNER_TEMP: '/tmp/runner',
      ACTIONS_RUNTIME_TOKEN: 'runtime',
      ACTIONS_CACHE_URL: 'https://cache.example/',
      ACTIONS_RESULTS_URL: 'https://results.example/',
      ACTIONS_ID_TOKEN_REQUEST_URL: 'https://token.example/',
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'oidc',
      'INPUT_TEST-COMMAND': 'npm test',
      STATE_isPost: 'true',
      input_lower: 'x'
    }
    await run(new RecordingRunner(), {
      ...deps(root, { 'working-directory': service, 'compose-file': 'compose.yml' }, commands),
      env
    })
    expect(commands.lines()).toEqual(
      expect.arrayContaining(['npm ci', 'npm test', expect.stringMatching(/^docker compose /)])
    )
    for (const call of commands.calls) {
      expect(call.options.baseEnv).toEqual({
        GITHUB_WORKSPACE: root,
        GITHUB_RUN_ID: '777',
        PATH: '/usr/bin',
        CI: 'true',
        RUNNER_TEMP: '/tmp/runner'
      })
    }
  })
})

describe('test action: compose services', () => {
  const composeFiles = { 'docker-compose.yml': 'services: {}\n', 'package-lock.json': '' }

  it('with docker compose v2: up --wait the listed services, run the tests, then down -v', async () => {
    const { root, service } = workspace(composeFiles)
    const commands = scriptedCommands()
    await run(
      new RecordingRunner(),
      deps(
        root,
        {
          'working-directory': service,
          'compose-file': 'docker-compose.yml',
          'compose-services': 'db, redis'
        },
        commands
      )
    )
    const compose = [
      'docker',
      'compose',
      '--file',
      join(service, 'docker-compose.yml'),
      '--project-name',
      'ledger-test-777'
    ].join(' ')
    expect(commands.lines()).toEqual([
      'docker compose version',
      'npm ci',
      `${compose} up --detach --wait db redis`,
      'npm test',
      `${compose} down --volumes --remove-orphans`
    ])
  })

  it('tears the services down even when the test command cannot run at all', async () => {
    const { root, service } = workspace(composeFiles)
    const commands = scriptedCommands([
      { match: /^npm test/, result: { exitCode: 127, notFound: true } }
    ])
    const error = await failure(
      run(
        new RecordingRunner(),
        deps(root, { 'working-directory': service, 'compose-file': 'docker-compose.yml' }, commands)
      )
    )
    expect(error.message).toContain("'npm' is not installed")
    expect(commands.lines().at(-1)).toMatch(/down --volumes --remove-orphans$/)
  })

  it('tears the services down when starting them fails, after showing their logs', async () => {
    const { root, service } = workspace(composeFiles)
    const commands = scriptedCommands([
      {
        match: / up --detach/,
        result: {
          exitCode: 1,
          stderr: 'dependency failed to start: container ledger-test-777-db-1 is unhealthy'
        }
      }
    ])
    const error = await failure(
      run(
        new RecordingRunner(),
        deps(root, { 'working-directory': service, 'compose-file': 'docker-compose.yml' }, commands)
      )
    )
    expect(error.message).toMatch(
      /^docker compose up failed for all services of .*: dependency failed to start: container ledger-test-777-db-1 is unhealthy/
    )
    const lines = commands.lines()
    expect(lines.findIndex(l => l.endsWith('logs --no-color --tail 50'))).toBe(lines.length - 2)
    expect(lines.at(-1)).toMatch(/down --volumes --remove-orphans$/)
    expect(commands.lines().some(l => l === 'npm test')).toBe(false)
  })

  it('with the standalone docker-compose: up, then polls the containers until healthy', async () => {
    const { root, service } = workspace(composeFiles)
    let polls = 0
    const commands = scriptedCommands([
      {
        match: /^docker compose version/,
        result: { exitCode: 1, stderr: "docker: 'compose' is not a docker command." }
      },
      { match: / ps -q/, result: { stdout: 'c1\nc2\n' } },
      {
        match: /^docker inspect/,
        result: () => {
          polls++
          const health = polls < 3 ? 'starting' : 'healthy'
          return {
            stdout: `/ledger-test-777_db_1\trunning\t${health}\t0\n/ledger-test-777_redis_1\trunning\t\t0\n`
          }
        }
      }
    ])
    const clock = new FakeClock()
    const runner = new RecordingRunner()
    await run(
      runner,
      deps(root, { 'working-directory': service, 'compose-file': 'docker-compose.yml' }, commands, {
        clock
      })
    )
    const lines = commands.lines()
    expect(lines[0]).toBe('docker compose version')
    expect(lines[1]).toBe('docker-compose version')
    expect(lines.find(l => l.includes(' up '))).toMatch(
      /^docker-compose --file .* --project-name ledger-test-777 up --detach$/
    )
    expect(polls).toBe(3)
    expect(clock.sleeps).toBe(2)
    expect(clock.time - Date.parse('2026-11-28T12:00:00Z')).toBe(2 * HEALTH_POLL_MS)
    expect(runner.lines).toContain('Waiting for ledger-test-777_db_1 (starting)')
    expect(lines.indexOf('npm test')).toBeGreaterThan(
      lines.lastIndexOf(lines.find(l => l.startsWith('docker inspect'))!)
    )
    expect(lines.at(-1)).toMatch(/^docker-compose .* down --volumes --remove-orphans$/)
  })

  it('with the standalone docker-compose: an unhealthy container fails naming it, and is torn down', async () => {
    const { root, service } = workspace(composeFiles)
    const commands = scriptedCommands([
      { match: /^docker compose version/, result: { exitCode: 1 } },
      { match: / ps -q/, result: { stdout: 'c1\n' } },
      {
        match: /^docker inspect/,
        result: { stdout: '/ledger-test-777_db_1\trunning\tunhealthy\t0\n' }
      }
    ])
    const error = await failure(
      run(
        new RecordingRunner(),
        deps(root, { 'working-directory': service, 'compose-file': 'docker-compose.yml' }, commands)
      )
    )
    expect(error.message).toBe(
      `The compose services of ${join(service, 'docker-compose.yml')} did not become healthy: ledger-test-777_db_1 is unhealthy. Their logs are in the log group above.`
    )
    expect(commands.lines().some(l => l === 'npm test')).toBe(false)
    expect(commands.lines().at(-1)).toMatch(/down --volumes --remove-orphans$/)
  })

  it('without Docker Compose, fails clearly before installing anything', async () => {
    const { root, service } = workspace(composeFiles)
    const commands = scriptedCommands([
      { match: /^docker compose version/, result: { exitCode: 1 } },
      { match: /^docker-compose version/, result: { exitCode: 127, notFound: true } }
    ])
    const error = await failure(
      run(
        new RecordingRunner(),
        deps(root, { 'working-directory': service, 'compose-file': 'docker-compose.yml' }, commands)
      )
    )
    expect(error.message).toMatch(
      /^compose-file is set but Docker Compose is not installed on this runner/
    )
    expect(commands.lines()).toEqual(['docker compose version', 'docker-compose version'])
  })

  it('a compose file that is not there is an input error', async () => {
    const { root, service } = workspace({ 'package-lock.json': '' })
    const error = await failure(
      run(
        new RecordingRunner(),
        deps(
          root,
          { 'working-directory': service, 'compose-file': 'compose.yaml' },
          scriptedCommands()
        )
      )
    )
    expect(error.message).toMatch(/^Input 'compose-file' is 'compose.yaml': no file/)
  })
})
