import { basename, resolve } from 'node:path'
import { ActionError } from '../shared/errors.js'
import { lastLines, type RunCommand } from '../shared/exec.js'
import type { Clock, Runner } from '../shared/runner.js'

/**
 * The service's dependencies (db, redis…) from a compose file: started and healthy before
 * the tests, torn down with their volumes after, always. Docker Compose v2 (`docker compose`,
 * GitHub's runners) waits for health itself with `up --wait`; the older standalone
 * `docker-compose` does not, so its containers are polled here until healthy.
 */
export interface ComposeTool {
  /** How the user would type it, for messages. */
  name: 'docker compose' | 'docker-compose'
  command: string
  prefix: string[]
  /** `up --wait` is available. */
  waits: boolean
}

export const PLUGIN: ComposeTool = {
  name: 'docker compose',
  command: 'docker',
  prefix: ['compose'],
  waits: true
}
export const STANDALONE: ComposeTool = {
  name: 'docker-compose',
  command: 'docker-compose',
  prefix: [],
  waits: false
}

/** How long the standalone tool's containers get to become healthy, and how often to look. */
export const HEALTH_TIMEOUT_MS = 180_000
export const HEALTH_POLL_MS = 2_000

export interface ComposeProject {
  tool: ComposeTool
  /** Absolute path of the compose file. */
  file: string
  project: string
  services: string[]
}

export async function findCompose(exec: RunCommand): Promise<ComposeTool> {
  if ((await exec(PLUGIN.command, [...PLUGIN.prefix, 'version'], { silent: true })).exitCode === 0)
    return PLUGIN
  if ((await exec(STANDALONE.command, ['version'], { silent: true })).exitCode === 0)
    return STANDALONE
  throw new ActionError(
    "compose-file is set but Docker Compose is not installed on this runner (neither 'docker compose' nor 'docker-compose' answers). Use a GitHub-hosted Ubuntu runner, install Docker Compose, or remove compose-file."
  )
}

/** A compose project name of our own, so parallel jobs on one machine do not share containers. */
export function projectName(workingDirectory: string, runId: string, pid = process.pid): string {
  const folder = basename(resolve(workingDirectory))
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[-_]+/, '')
  return `${folder || 'service'}-test-${runId || pid}`
}

function base(project: ComposeProject): string[] {
  return [...project.tool.prefix, '--file', project.file, '--project-name', project.project]
}

export function upArgs(project: ComposeProject): string[] {
  return [
    ...base(project),
    'up',
    '--detach',
    ...(project.tool.waits ? ['--wait'] : []),
    ...project.services
  ]
}

export function downArgs(project: ComposeProject): string[] {
  return [...base(project), 'down', '--volumes', '--remove-orphans']
}

export function psArgs(project: ComposeProject): string[] {
  return [...base(project), 'ps', '-q', ...project.services]
}

export function logsArgs(project: ComposeProject): string[] {
  return [...base(project), 'logs', '--no-color', '--tail', '50', ...project.services]
}

export const INSPECT_FORMAT =
  '{{.Name}}\t{{.State.Status}}\t{{if .State.Health}}{{.State.Health.Status}}{{end}}\t{{.State.ExitCode}}'

export interface ContainerState {
  name: string
  status: string
  /** Empty when the container has no healthcheck. */
  health: string
  exitCode: number
}

export function parseContainerStates(text: string): ContainerState[] {
  return text
    .split('\n')
    .filter(line => line.trim() !== '')
    .map(line => {
      const [name = '', status = '', health = '', exitCode = '0'] = line.split('\t')
      return { name: name.replace(/^\//, ''), status, health, exitCode: Number(exitCode) }
    })
}

export type Readiness =
  { state: 'ready' } | { state: 'waiting'; waiting: string[] } | { state: 'failed'; reason: string }

/** Running, and healthy where a healthcheck is defined; an exit or `unhealthy` fails at once. */
export function readiness(containers: ContainerState[]): Readiness {
  if (containers.length === 0) return { state: 'waiting', waiting: ['(no containers yet)'] }
  for (const c of containers) {
    if (c.status === 'exited' || c.status === 'dead')
      return { state: 'failed', reason: `${c.name} exited with code ${c.exitCode}` }
    if (c.health === 'unhealthy') return { state: 'failed', reason: `${c.name} is unhealthy` }
  }
  const waiting = containers
    .filter(c => c.status !== 'running' || (c.health !== '' && c.health !== 'healthy'))
    .map(c => `${c.name} (${c.health || c.status})`)
  return waiting.length === 0 ? { state: 'ready' } : { state: 'waiting', waiting }
}

/** Starts the services and returns when they are healthy; throws naming the one that is not. */
export async function composeUp(
  runner: Runner,
  exec: RunCommand,
  clock: Clock,
  project: ComposeProject
): Promise<void> {
  const what = project.services.length > 0 ? project.services.join(', ') : 'all services'
  const up = await runner.group(`Start ${what} (${project.tool.name})`, () =>
    exec(project.tool.command, upArgs(project))
  )
  if (up.exitCode !== 0) {
    await showLogs(runner, exec, project)
    throw new ActionError(
      `${project.tool.name} up failed for ${what} of ${project.file}: ${lastLines(up.output, 1).join('') || `exit code ${up.exitCode}`}. The services' logs are in the log group above.`
    )
  }
  if (project.tool.waits) return

  const deadline = clock.now() + HEALTH_TIMEOUT_MS
  for (;;) {
    const ids = (await exec(project.tool.command, psArgs(project), { silent: true })).stdout
      .split('\n')
      .filter(id => id.trim() !== '')
    const states =
      ids.length > 0
        ? parseContainerStates(
            (
              await exec('docker', ['inspect', '--format', INSPECT_FORMAT, ...ids], {
                silent: true
              })
            ).stdout
          )
        : []
    const verdict = readiness(states)
    if (verdict.state === 'ready') {
      runner.info(`Services healthy: ${states.map(s => s.name).join(', ')}`)
      return
    }
    if (verdict.state === 'failed' || clock.now() >= deadline) {
      await showLogs(runner, exec, project)
      const reason =
        verdict.state === 'failed'
          ? verdict.reason
          : `still waiting after ${HEALTH_TIMEOUT_MS / 1000} s for ${verdict.waiting.join(', ')}`
      throw new ActionError(
        `The compose services of ${project.file} did not become healthy: ${reason}. Their logs are in the log group above.`
      )
    }
    runner.info(`Waiting for ${verdict.waiting.join(', ')}`)
    await clock.sleep(HEALTH_POLL_MS)
  }
}

/** Stops and removes the services and their volumes; a failure here is a warning, not the result. */
export async function composeDown(
  runner: Runner,
  exec: RunCommand,
  project: ComposeProject
): Promise<void> {
  const down = await runner.group(`Stop services (${project.tool.name} down)`, () =>
    exec(project.tool.command, downArgs(project))
  )
  if (down.exitCode !== 0) {
    runner.warning(
      `${project.tool.name} down failed for project ${project.project}: ${lastLines(down.output, 1).join('')}. Containers may be left running on this runner.`
    )
  }
}

async function showLogs(runner: Runner, exec: RunCommand, project: ComposeProject): Promise<void> {
  await runner.group('Service logs', () => exec(project.tool.command, logsArgs(project)))
}
