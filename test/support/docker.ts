/**
 * What the Docker integration tests need to reach: the daemon (through Debian's client,
 * which builds with BuildKit without buildx), the local registry with htpasswd auth that
 * tools/docker-up.sh starts, and the action bundles run as real processes.
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join, resolve } from 'node:path'
import type { CommandOptions, CommandResult, RunCommand } from '../../actions/shared/exec.js'

export const DOCKER = '/usr/bin/docker'
export const REGISTRY_DIR = process.env.NOBLEPAY_REGISTRY_DIR ?? '/tmp/noblepay-registry'
export const BASE_IMAGES = { busybox: 'local/busybox:1', node: 'local/node:20' } as const
export const REPOSITORY_ROOT = resolve(import.meta.dirname, '..', '..')

const SETUP_FIX = 'run `bash tools/docker-up.sh` (as root) first'

export interface LocalRegistry {
  /** http://127.0.0.1:5000 */
  url: string
  /** 127.0.0.1:5000, as image references name it. */
  host: string
  username: string
  password: string
}

/** The registry docker-up.sh started; throws saying how to start it when it is not there. */
export function localRegistry(): LocalRegistry {
  const read = (name: string) => {
    const path = join(REGISTRY_DIR, name)
    if (!existsSync(path)) throw new Error(`No local registry (${path} is missing): ${SETUP_FIX}`)
    return readFileSync(path, 'utf8').trim()
  }
  const url = read('url')
  return {
    url,
    host: url.replace(/^[a-z]+:\/\//, ''),
    username: read('username'),
    password: read('password')
  }
}

/** Fails with the fix when the daemon, the registry or a base image is missing. */
export async function requireDockerSetup(): Promise<LocalRegistry> {
  try {
    execFileSync(DOCKER, ['info', '--format', '{{.ServerVersion}}'], { stdio: 'pipe' })
  } catch {
    throw new Error(`The Docker daemon does not answer through ${DOCKER}: ${SETUP_FIX}`)
  }
  for (const image of Object.values(BASE_IMAGES)) {
    try {
      execFileSync(DOCKER, ['image', 'inspect', image], { stdio: 'pipe' })
    } catch {
      throw new Error(`Base image ${image} is missing: ${SETUP_FIX}`)
    }
  }
  const registry = localRegistry()
  const response = await fetch(`${registry.url}/v2/`, {
    headers: { Authorization: basicAuth(registry) }
  })
  if (response.status !== 200)
    throw new Error(
      `The local registry at ${registry.url} answered ${response.status}: ${SETUP_FIX}`
    )
  return registry
}

/** Runs Debian's docker client and returns its stdout. */
export function docker(args: string[], env: NodeJS.ProcessEnv = {}): string {
  return execFileSync(DOCKER, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env }
  }).trim()
}

export function basicAuth(registry: LocalRegistry): string {
  return `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`
}

const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json'
].join(', ')

/** The manifest digest the registry holds for repository:tag, asked over its HTTP API. */
export async function manifestDigest(
  registry: LocalRegistry,
  repository: string,
  tag: string
): Promise<string | undefined> {
  const response = await fetch(`${registry.url}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Authorization: basicAuth(registry), Accept: MANIFEST_TYPES }
  })
  if (response.status === 404) return undefined
  if (!response.ok)
    throw new Error(`HEAD manifest ${repository}:${tag} answered ${response.status}`)
  return response.headers.get('docker-content-digest') ?? undefined
}

/** The tags of a repository in the registry; none when the repository has never been pushed. */
export async function registryTags(registry: LocalRegistry, repository: string): Promise<string[]> {
  const response = await fetch(`${registry.url}/v2/${repository}/tags/list`, {
    headers: { Authorization: basicAuth(registry) }
  })
  if (response.status === 404) return []
  if (!response.ok) throw new Error(`tags/list of ${repository} answered ${response.status}`)
  const body = (await response.json()) as { tags?: string[] | null }
  return body.tags ?? []
}

/** PATH with Debian's docker client first: /usr/local/bin/docker cannot build without buildx. */
export function dockerPath(path = process.env.PATH ?? ''): string {
  return ['/usr/bin', ...path.split(delimiter).filter(p => p !== '/usr/bin')].join(delimiter)
}

export interface BundleRun {
  exitCode: number
  stdout: string
  stderr: string
  outputs: Record<string, string>
  state: Record<string, string>
  summary: string
  durationMs: number
}

export interface BundleOptions {
  inputs?: Record<string, string>
  env?: Record<string, string>
  /** State saved by an earlier run (the main step), for the post step. */
  state?: Record<string, string>
  cwd?: string
  /** The node binary; defaults to ACTION_NODE (CI sets Node 24 there), else the one running the tests. */
  node?: string
}

/**
 * Runs dist/<name>/index.js as the runner would: inputs as INPUT_<NAME>, outputs, state and
 * summary through the files named by GITHUB_OUTPUT, GITHUB_STATE and GITHUB_STEP_SUMMARY.
 * Asynchronous, so a stand-in served by the test process keeps answering meanwhile.
 */
export async function runBundle(name: string, options: BundleOptions = {}): Promise<BundleRun> {
  const files = mkdtempSync(join(tmpdir(), `bundle-${name}-`))
  const output = join(files, 'output')
  const stateFile = join(files, 'state')
  const summary = join(files, 'summary.md')
  for (const file of [output, stateFile, summary]) writeFileSync(file, '')

  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (
      value === undefined ||
      /^(INPUT_|STATE_|GITHUB_|RUNNER_|npm_)/i.test(key) ||
      key === 'NODE_OPTIONS'
    )
      continue
    env[key] = value
  }
  Object.assign(env, {
    PATH: dockerPath(),
    GITHUB_OUTPUT: output,
    GITHUB_STATE: stateFile,
    GITHUB_STEP_SUMMARY: summary,
    GITHUB_ACTIONS: 'true'
  })
  for (const [key, value] of Object.entries(options.inputs ?? {}))
    env[`INPUT_${key.toUpperCase()}`] = value
  for (const [key, value] of Object.entries(options.state ?? {})) env[`STATE_${key}`] = value
  Object.assign(env, options.env ?? {})

  const started = Date.now()
  const child = spawn(
    options.node ?? process.execPath,
    [join(REPOSITORY_ROOT, 'dist', name, 'index.js')],
    {
      cwd: options.cwd ?? REPOSITORY_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe']
    }
  )
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', chunk => (stdout += String(chunk)))
  child.stderr.on('data', chunk => (stderr += String(chunk)))
  const exitCode = await new Promise<number>((done, fail) => {
    child.on('error', fail)
    child.on('close', code => done(code ?? -1))
  })
  const run: BundleRun = {
    exitCode,
    stdout,
    stderr,
    outputs: parseCommandFile(readFileSync(output, 'utf8')),
    state: parseCommandFile(readFileSync(stateFile, 'utf8')),
    summary: readFileSync(summary, 'utf8'),
    durationMs: Date.now() - started
  }
  rmSync(files, { recursive: true, force: true })
  return run
}

/** Reads a GITHUB_OUTPUT / GITHUB_STATE file: `name<<DELIMITER`, value lines, `DELIMITER`. */
export function parseCommandFile(text: string): Record<string, string> {
  const values: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const match = /^([^<=]+)<<(.+)$/.exec(lines[i] as string)
    if (match) {
      const [, name, delimiter] = match as unknown as [string, string, string]
      const end = lines.indexOf(delimiter, i + 1)
      values[name] = lines.slice(i + 1, end).join('\n')
      i = end
    } else if ((lines[i] as string).includes('=')) {
      const line = lines[i] as string
      values[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1)
    }
  }
  return values
}

let node24Path: string | undefined
/** A Node 24 binary (the runtime GitHub runs actions on): ACTION_NODE if it is one, else from npm via npx. */
export function node24(): string {
  const given = process.env.ACTION_NODE
  if (
    given &&
    !node24Path &&
    execFileSync(given, ['--version'], { encoding: 'utf8' }).startsWith('v24.')
  )
    node24Path = given
  node24Path ??= execFileSync('npx', ['-y', 'node@24', '-p', 'process.execPath'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe']
  }).trim()
  return node24Path
}

/** One command an action ran through a scripted RunCommand. */
export interface RecordedCommand {
  command: string
  args: string[]
  options: CommandOptions
}

/**
 * A RunCommand for unit tests: records every command and answers from `script`, the first
 * rule whose `match` accepts the command line (`docker build …`), else exit code 0.
 */
export function scriptedCommands(
  script: Array<{
    match: RegExp | ((line: string) => boolean)
    result: Partial<CommandResult> | ((line: string) => Partial<CommandResult>)
  }> = []
) {
  const calls: RecordedCommand[] = []
  const run: RunCommand = async (command, args, options = {}) => {
    calls.push({ command, args, options })
    const line = [command, ...args].join(' ')
    const rule = script.find(({ match }) =>
      typeof match === 'function' ? match(line) : match.test(line)
    )
    const partial = rule
      ? typeof rule.result === 'function'
        ? rule.result(line)
        : rule.result
      : {}
    const stdout = partial.stdout ?? ''
    const stderr = partial.stderr ?? ''
    return {
      exitCode: 0,
      notFound: false,
      stdout,
      stderr,
      output: partial.output ?? stdout + stderr,
      ...partial
    }
  }
  return { run, calls, lines: () => calls.map(c => [c.command, ...c.args].join(' ')) }
}
