import { readFileSync, statSync } from 'node:fs'
import { isAbsolute, relative, resolve } from 'node:path'
import * as glob from '@actions/glob'
import { runContext } from '../shared/context.js'
import { ActionError } from '../shared/errors.js'
import { type CommandResult, lastLines, type RunCommand, runCommand } from '../shared/exec.js'
import { environmentInputs, type InputSource, Inputs } from '../shared/inputs.js'
import { type Clock, realClock, type Runner } from '../shared/runner.js'
import { type CommandLine, formatCommandLine } from './command-line.js'
import { type ComposeProject, composeDown, composeUp, findCompose, projectName } from './compose.js'
import { pathKindOnDisk, type PathKind } from '../shared/paths.js'
import { readConfig } from './config.js'
import { inEnvironment, untrustedEnvironment } from './environment.js'
import {
  countCases,
  type LocatedFailure,
  locateFailure,
  parseJunit,
  type TestCaseResult,
  type TestCounts
} from './junit.js'
import { firstLine, MAX_LISTED_FAILURES, testSummary } from './report.js'

export interface TestDeps {
  inputs?: InputSource
  env?: NodeJS.ProcessEnv
  exec?: RunCommand
  clock?: Clock
  pathKind?: (path: string) => PathKind
  /** Report files matching a path or glob (absolute), written at or after `since` (epoch ms). */
  findReports?: (pattern: string, since: number) => Promise<{ fresh: string[]; stale: string[] }>
  readFile?: (path: string) => string
}

export async function run(runner: Runner, deps: TestDeps = {}): Promise<void> {
  const env = deps.env ?? process.env
  // The service's code (and compose, which interpolates the environment into its file) runs
  // without the Actions runtime token, the OIDC request token and the action's inputs.
  const exec = inEnvironment(deps.exec ?? runCommand, untrustedEnvironment(env))
  const clock = deps.clock ?? realClock
  const config = readConfig(
    new Inputs(deps.inputs ?? environmentInputs(env)),
    deps.pathKind ?? pathKindOnDisk
  )
  const directory = resolve(config.workingDirectory)
  const workspace = resolve(env.GITHUB_WORKSPACE || process.cwd())

  // Compose must be there before anything runs, so a runner without it fails at once.
  const compose: ComposeProject | undefined = config.composeFile
    ? {
        tool: await findCompose(exec),
        file: resolve(directory, config.composeFile),
        project: projectName(directory, runContext(env).runId),
        services: config.composeServices
      }
    : undefined

  if (config.install)
    await install(runner, exec, config.install, config.workingDirectory, directory)
  else runner.info('install-command is none: skipping the dependency install.')

  const testLine = formatCommandLine(config.test)
  const wallStart = Date.now()
  let result: CommandResult
  let durationSeconds: number
  try {
    if (compose) await composeUp(runner, exec, clock, compose)
    const started = clock.now()
    result = await runner.group(`Test: ${testLine}`, () => runLine(exec, config.test, directory))
    durationSeconds = Math.round(clock.now() - started) / 1000
  } finally {
    if (compose) await composeDown(runner, exec, compose)
  }
  if (result.notFound) {
    throw new ActionError(
      `The test command '${testLine}' could not start: '${config.test.argv[0]}' is not installed on this runner. Install it in an earlier step, or change test-command.`
    )
  }

  let cases: TestCaseResult[] | undefined
  let reportFiles: string[] = []
  let reportProblem = ''
  if (config.junitReport !== '') {
    const pattern = resolve(directory, config.junitReport)
    const found = await (deps.findReports ?? findReportsOnDisk)(pattern, wallStart)
    reportFiles = found.fresh
    if (reportFiles.length === 0) {
      reportProblem =
        `No JUnit report matched '${config.junitReport}' in ${config.workingDirectory} after the test run` +
        (found.stale.length > 0
          ? ` (only files older than the run: ${found.stale.map(f => relative(directory, f)).join(', ')})`
          : '') +
        `. Make the test command write it there (e.g. node --test --test-reporter=junit --test-reporter-destination=${config.junitReport}), or clear junit-report.`
    } else {
      cases = []
      for (const file of reportFiles) {
        try {
          cases.push(
            ...(await parseJunit((deps.readFile ?? (path => readFileSync(path, 'utf8')))(file)))
          )
        } catch (error) {
          throw new ActionError(
            `The JUnit report ${relative(directory, file)} could not be read: ${error instanceof Error ? error.message : String(error)}. Check the test reporter writes JUnit XML there.`
          )
        }
      }
    }
  }

  const counts: TestCounts | undefined = cases ? countCases(cases) : undefined
  const failures: LocatedFailure[] = (cases ?? [])
    .filter(c => c.status === 'failed')
    .map(c => locateFailure(c, workspace, directory))
  for (const failure of failures.slice(0, MAX_LISTED_FAILURES)) annotate(runner, failure)

  runner.setOutput('total', counts ? String(counts.total) : '')
  runner.setOutput('passed', counts ? String(counts.passed) : '')
  runner.setOutput('failed', counts ? String(counts.failed) : '')
  runner.setOutput('skipped', counts ? String(counts.skipped) : '')
  runner.setOutput('duration-seconds', String(durationSeconds))
  await runner.summary(
    testSummary({
      command: testLine,
      workingDirectory: config.workingDirectory,
      exitCode: result.exitCode,
      durationSeconds,
      counts,
      failures,
      reportFiles: reportFiles.map(f => relative(workspace, f))
    })
  )

  if (counts && counts.failed > 0) {
    const names = failures.slice(0, 3).map(f => f.test)
    throw new ActionError(
      `${counts.failed} of ${counts.total} tests failed in ${config.workingDirectory}: ${names.join('; ')}${counts.failed > names.length ? '; …' : ''}. The failures are annotated at their lines and listed in the job summary.`
    )
  }
  if (result.exitCode !== 0) {
    throw new ActionError(
      `The test command '${testLine}' failed with exit code ${result.exitCode} in ${config.workingDirectory}${counts ? ' although its JUnit report lists no failing test' : ''}: ${errorLine(result.output)}. The output is in the log group 'Test: ${testLine}'.` +
        (reportProblem ? ` Also: ${reportProblem}` : '')
    )
  }
  if (reportProblem) throw new ActionError(reportProblem)
  runner.info(
    counts
      ? `${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped in ${durationSeconds} s`
      : `Tests passed in ${durationSeconds} s`
  )
}

async function install(
  runner: Runner,
  exec: RunCommand,
  command: CommandLine & { source: string },
  shown: string,
  directory: string
): Promise<void> {
  const line = formatCommandLine(command)
  const from = command.source === 'install-command' ? '' : ` (from ${command.source})`
  const result = await runner.group(`Install: ${line}${from}`, () =>
    runLine(exec, command, directory)
  )
  if (result.notFound) {
    throw new ActionError(
      `The install command '${line}'${from} could not start: '${command.argv[0]}' is not installed on this runner. Set it up in an earlier step (e.g. corepack enable, or pnpm/action-setup), or set install-command.`
    )
  }
  if (result.exitCode !== 0) {
    throw new ActionError(
      `The install command '${line}'${from} failed with exit code ${result.exitCode} in ${shown}: ${errorLine(result.output)}. Run it locally to see why (an out-of-date lockfile is the usual cause), or set install-command.`
    )
  }
}

function runLine(
  exec: RunCommand,
  command: CommandLine,
  directory: string
): Promise<CommandResult> {
  const [program = '', ...args] = command.argv
  return exec(program, args, { cwd: directory, env: command.env })
}

function annotate(runner: Runner, failure: LocatedFailure): void {
  const message = `${failure.test}: ${firstLine(failure.message, 500) || 'failed'}`
  if (failure.file && runner.annotate)
    runner.annotate(message, { file: failure.file, line: failure.line, title: failure.test })
  else
    runner.error(
      failure.file
        ? `${failure.file}${failure.line !== undefined ? `:${failure.line}` : ''}: ${message}`
        : message
    )
}

/**
 * The line of a failed command's output that says why: the first error line that is more
 * than npm's boilerplate (every npm line starts with "npm error"), else the last line.
 */
export function errorLine(output: string): string {
  const lines = lastLines(output, Number.MAX_SAFE_INTEGER)
  const noise = /complete log of this run|^npm (error|ERR!)( code \S+| errno \S+)?\s*$/i
  const meaningful = lines.find(
    line => /\berror\b|ERR!|ERR_|failed|not found/i.test(line) && !noise.test(line)
  )
  return meaningful?.trim() ?? lines.at(-1)?.trim() ?? 'no output'
}

async function findReportsOnDisk(
  pattern: string,
  since: number
): Promise<{ fresh: string[]; stale: string[] }> {
  const globber = await glob.create(pattern, { matchDirectories: false })
  const files = (await globber.glob()).filter(file => isAbsolute(file)).sort()
  // mtime granularity and clock differences: allow a second.
  const isFresh = (file: string) => statSync(file).mtimeMs >= since - 1000
  return { fresh: files.filter(isFresh), stale: files.filter(file => !isFresh(file)) }
}
