import type { PathKind } from '../shared/paths.js'
import { join } from 'node:path'
import { InputError } from '../shared/errors.js'
import type { Inputs } from '../shared/inputs.js'
import { type CommandLine, splitCommandLine } from './command-line.js'

/** Every input of the test action, parsed and checked before anything runs. */
export interface TestConfig {
  workingDirectory: string
  /** Undefined when the install is skipped (`install-command: none`). */
  install?: CommandLine & { source: string }
  test: CommandLine
  /** Path or glob, relative to the working directory; empty when no report is read. */
  junitReport: string
  /** Relative to the working directory; empty when no services are started. */
  composeFile: string
  /** Empty means every service of the compose file. */
  composeServices: string[]
}

/** Lockfiles in the order they are looked for, and the frozen install each implies. */
export const LOCKFILE_INSTALLS: Array<{ lockfile: string; command: string }> = [
  { lockfile: 'package-lock.json', command: 'npm ci' },
  { lockfile: 'npm-shrinkwrap.json', command: 'npm ci' },
  { lockfile: 'yarn.lock', command: 'yarn install --frozen-lockfile' },
  { lockfile: 'pnpm-lock.yaml', command: 'pnpm install --frozen-lockfile' }
]

/** The install a working directory's lockfile implies, or undefined when it has none. */
export function lockfileInstall(
  isFile: (path: string) => boolean
): { lockfile: string; command: string } | undefined {
  return LOCKFILE_INSTALLS.find(({ lockfile }) => isFile(lockfile))
}

export function readConfig(inputs: Inputs, pathKind: (path: string) => PathKind): TestConfig {
  const workingDirectory = inputs.string('working-directory', '.')
  if (pathKind(workingDirectory) !== 'directory') {
    throw new InputError(
      'working-directory',
      workingDirectory,
      `no directory '${workingDirectory}' here; give the service's folder relative to the workspace (check actions/checkout ran)`
    )
  }
  const inDirectory = (path: string) => join(workingDirectory, path)

  const installInput = inputs.string('install-command')
  let install: TestConfig['install']
  if (installInput === '') {
    const found = lockfileInstall(path => pathKind(inDirectory(path)) === 'file')
    if (!found) {
      throw new InputError(
        'install-command',
        '',
        `${workingDirectory} has no lockfile (${LOCKFILE_INSTALLS.map(l => l.lockfile).join(', ')}); commit one, or set install-command to the install to run, or to none to skip it`
      )
    }
    install = { ...splitCommandLine('install-command', found.command), source: found.lockfile }
  } else if (installInput.toLowerCase() !== 'none') {
    install = { ...splitCommandLine('install-command', installInput), source: 'install-command' }
  }

  const test = splitCommandLine('test-command', inputs.string('test-command', 'npm test'))

  const composeFile = inputs.string('compose-file')
  if (composeFile !== '' && pathKind(inDirectory(composeFile)) !== 'file') {
    throw new InputError(
      'compose-file',
      composeFile,
      `no file '${inDirectory(composeFile)}'; give the compose file relative to the working directory, or leave it empty`
    )
  }
  const composeServices = inputs.list('compose-services')
  if (composeServices.length > 0 && composeFile === '') {
    throw new InputError(
      'compose-services',
      composeServices.join(','),
      'set compose-file too, or leave compose-services empty'
    )
  }
  for (const service of composeServices) {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(service)) {
      throw new InputError(
        'compose-services',
        service,
        'name services of the compose file, one per line or comma-separated, e.g. db, redis'
      )
    }
  }

  return {
    workingDirectory,
    install,
    test,
    junitReport: inputs.string('junit-report'),
    composeFile,
    composeServices
  }
}
