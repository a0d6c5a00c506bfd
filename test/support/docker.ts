/**
 * What the Docker integration tests need to reach: the daemon (through Debian's client,
 * which builds with BuildKit without buildx), the local registry with htpasswd auth that
 * tools/docker-up.sh starts, and the action bundles run as real processes.
 */
import { execFileSync } from 'node:child_process'
import { delimiter } from 'node:path'
import type { CommandOptions, CommandResult, RunCommand } from '../../actions/shared/exec.js'
import { DOCKER, REGISTRY_DIR, registryLogin, type RegistryLogin } from '../../tools/emulator.js'

export { DOCKER, REGISTRY_DIR }
export const BASE_IMAGES = { busybox: 'local/busybox:1', node: 'local/node:20' } as const

const SETUP_FIX = 'run `bash tools/docker-up.sh` (as root) first'

/** The registry docker-up.sh started (url, host, username, password). */
export type LocalRegistry = RegistryLogin

/** The registry docker-up.sh started; throws saying how to start it when it is not there. */
export const localRegistry = (): LocalRegistry => registryLogin(REGISTRY_DIR)

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

export {
  REPOSITORY_ROOT,
  runBundle,
  parseCommandFile,
  type BundleRun,
  type BundleOptions
} from './bundle.js'

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
