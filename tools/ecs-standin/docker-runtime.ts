/**
 * A TaskRuntime that runs each task as real Docker containers: one container per container
 * definition of the task's task definition, its port mappings published on free loopback
 * ports, its environment set, its ECS health check turned into Docker's. The scheduler
 * (model.ts) sees what ECS would: RUNNING once every container runs (and is healthy, where
 * it has a health check); STOPPED with "Essential container in task exited", the exit code
 * and the last line the container logged; or "Task failed container health checks".
 *
 * Docker is polled with one `docker ps -a --filter label=…` per poll, whatever the number of
 * tasks. Every container carries the label `<labelKey>=<runtimeId>`, so close() (and anyone
 * cleaning up after a crash) finds them all.
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import type {
  ContainerExit,
  ContainerLogEvent,
  TaskLaunch,
  TaskReport,
  TaskRuntime
} from './runtime.js'
import { ESSENTIAL_CONTAINER_EXITED } from './runtime.js'

export const HEALTH_CHECKS_FAILED = 'Task failed container health checks'
export const DEFAULT_LABEL_KEY = 'noblepay.emulator'

/** The fields of an ECS container definition this runtime honours. */
export interface ContainerDefinition {
  name: string
  image: string
  essential?: boolean
  portMappings?: Array<{ containerPort?: number; hostPort?: number; protocol?: string }>
  environment?: Array<{ name?: string; value?: string }>
  command?: string[]
  entryPoint?: string[]
  healthCheck?: {
    command?: string[]
    interval?: number
    timeout?: number
    retries?: number
    startPeriod?: number
  }
}

/** Where a task's container port is published on the host. */
export interface PublishedPort {
  taskArn: string
  containerName: string
  containerPort: number
  hostPort: number
  /** 127.0.0.1 */
  host: string
}

export interface DockerTaskRuntimeOptions {
  /** Labels every container `<labelKey>=<id>`; close() removes exactly those. */
  id: string
  labelKey?: string
  /** The container definitions of a task (from its task definition). */
  definitions: (taskArn: string) => Promise<ContainerDefinition[]>
  /** Default /usr/bin/docker. */
  docker?: string
  /** A DOCKER_CONFIG directory holding the registry login used to pull. */
  dockerConfig?: string
  /** Minimum time between two `docker ps` polls; default 500 ms. */
  pollMs?: number
  /** Grace period of `docker stop`; default 2 s. */
  stopTimeoutSeconds?: number
  /** Progress lines (a container started, exited, was removed). */
  log?: (line: string) => void
}

interface ContainerState {
  definition: ContainerDefinition
  essential: boolean
  id?: string
  ports: PublishedPort[]
}

interface TaskState {
  taskArn: string
  containers: ContainerState[]
  /** All containers created. */
  launched: boolean
  reportedRunning: boolean
  alreadyRunning: boolean
  stopRequested: boolean
  /** Reported STOPPED (or about to be): nothing more is said about it. */
  finished: boolean
}

interface DockerResult {
  code: number
  stdout: string
  stderr: string
}

/** One line of `docker ps -a --format`. */
interface PsRow {
  id: string
  task: string
  container: string
  state: string
  status: string
}

const PS_FORMAT = [
  '{{.ID}}',
  `{{.Label "noblepay.task"}}`,
  `{{.Label "noblepay.container"}}`,
  '{{.State}}',
  '{{.Status}}'
].join('\t')

/** ECS health check seconds as a Docker duration. */
const seconds = (value: number | undefined) => (value === undefined ? undefined : `${value}s`)

/** The shell command Docker runs for an ECS health check (CMD-SHELL or CMD). */
export function healthCommand(command: string[] | undefined): string | undefined {
  if (!command || command.length === 0) return undefined
  const [kind, ...rest] = command
  if (kind === 'NONE') return undefined
  if (kind === 'CMD-SHELL') return rest.join(' ')
  if (kind === 'CMD') return rest.map(part => `'${part.replace(/'/g, `'\\''`)}'`).join(' ')
  return command.join(' ')
}

/** The exit code in a `docker ps` status such as "Exited (137) 3 seconds ago". */
export function exitCodeOf(status: string): number | undefined {
  const match = /^Exited \((-?\d+)\)/.exec(status)
  return match ? Number(match[1]) : undefined
}

/** Containers whose lines are kept after removal, oldest dropped first. */
const MAX_KEPT_LOGS = 500

/**
 * `docker logs --timestamps` output as log events, oldest first: each line starts with an
 * RFC 3339 time to the nanosecond, then a space and the line. Sorted on the full time Docker
 * stamped each line with, so stdout and stderr (which it reads apart) merge into one stream.
 */
export function parseDockerLogs(text: string): ContainerLogEvent[] {
  const parsed: Array<{ seconds: number; nanos: number; event: ContainerLogEvent }> = []
  for (const line of text.split('\n')) {
    const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d) ?(.*)$/.exec(line)
    if (!match) continue
    const seconds = Date.parse(`${match[1]}${match[3]}`)
    if (Number.isNaN(seconds)) continue
    const nanos = Number((match[2] ?? '').padEnd(9, '0').slice(0, 9))
    parsed.push({
      seconds,
      nanos,
      event: { timestamp: seconds + Math.floor(nanos / 1e6), message: match[4] ?? '' }
    })
  }
  return parsed.sort((a, b) => a.seconds - b.seconds || a.nanos - b.nanos).map(p => p.event)
}

export class DockerTaskRuntime implements TaskRuntime {
  private readonly tasks = new Map<string, TaskState>()
  /** Lines of removed containers, by task ARN and container name. */
  private readonly keptLogs = new Map<string, ContainerLogEvent[]>()
  private readonly reports: TaskReport[] = []
  private readonly pending = new Set<Promise<unknown>>()
  private readonly docker: string
  private readonly labelKey: string
  private polling = false
  private lastPoll = 0
  private closed = false

  constructor(private readonly options: DockerTaskRuntimeOptions) {
    this.docker = options.docker ?? '/usr/bin/docker'
    this.labelKey = options.labelKey ?? DEFAULT_LABEL_KEY
  }

  /** `<labelKey>=<id>`: the filter that finds every container of this runtime. */
  get label(): string {
    return `${this.labelKey}=${this.options.id}`
  }

  start(launch: TaskLaunch): void {
    const task: TaskState = {
      taskArn: launch.taskArn,
      containers: [],
      launched: false,
      reportedRunning: false,
      alreadyRunning: launch.alreadyRunning === true,
      stopRequested: false,
      finished: false
    }
    this.tasks.set(launch.taskArn, task)
    this.track(
      this.launch(task, launch).catch(async (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error)
        const reason =
          error instanceof PullError ? message : `CannotStartContainerError: ${message}`
        this.log(`task ${shortTask(task)} failed to start: ${reason}`)
        // What did start of the task goes too.
        await this.removeTask(task)
        this.finish(task, {
          stopCode: 'TaskFailedToStart',
          stoppedReason: reason,
          containers: launch.containers.map(c => ({ name: c.name, reason }))
        })
      })
    )
  }

  stop(taskArn: string): void {
    const task = this.tasks.get(taskArn)
    if (!task || task.finished) return
    task.stopRequested = true
    // A launch still under way removes what it made when it sees the request.
    if (task.launched) this.track(this.stopRequestedTask(task))
  }

  collect(now: number): TaskReport[] {
    if (!this.polling && !this.closed && now - this.lastPoll >= (this.options.pollMs ?? 500)) {
      this.lastPoll = now
      this.polling = true
      this.track(
        this.poll()
          .catch((error: unknown) => this.log(`docker ps failed: ${String(error)}`))
          .finally(() => (this.polling = false))
      )
    }
    return this.reports.splice(0)
  }

  /**
   * What a task's container logged: `docker logs` while the container exists, the lines kept
   * when it was removed after that. Undefined before the container was created.
   */
  async logs(taskArn: string, container: string): Promise<ContainerLogEvent[] | undefined> {
    const kept = this.keptLogs.get(`${taskArn}\n${container}`)
    if (kept) return kept
    const id = this.tasks.get(taskArn)?.containers.find(c => c.definition.name === container)?.id
    if (!id) return undefined
    return this.readLogs(id)
  }

  /** Published ports of the task's containers (all tasks when none is named). */
  ports(taskArn?: string): PublishedPort[] {
    const tasks = taskArn
      ? [this.tasks.get(taskArn)].filter(t => t !== undefined)
      : this.tasks.values()
    const ports: PublishedPort[] = []
    for (const task of tasks) {
      if (task.finished) continue
      for (const container of task.containers) ports.push(...container.ports)
    }
    return ports
  }

  /** Every container of the task runs (and is healthy, where it has a health check). */
  isUp(taskArn: string): boolean {
    const task = this.tasks.get(taskArn)
    return task !== undefined && !task.finished && task.reportedRunning
  }

  /** The IDs of the containers this runtime has running or stopped but not yet removed. */
  containerIds(): string[] {
    const out = this.dockerSync(['ps', '-aq', '--filter', `label=${this.label}`])
    return out === '' ? [] : out.split('\n')
  }

  async close(): Promise<void> {
    this.closed = true
    // Launches under way finish (and see `closed`) before everything labelled is removed.
    while (this.pending.size > 0) await Promise.allSettled([...this.pending])
    this.removeAllSync()
  }

  /** Removes every container with this runtime's label, synchronously (safe in a signal handler). */
  removeAllSync(): void {
    const ids = this.containerIds()
    if (ids.length > 0) this.dockerSync(['rm', '--force', '--volumes', ...ids])
  }

  // ---- launching ---------------------------------------------------------------------------

  private async launch(task: TaskState, launch: TaskLaunch): Promise<void> {
    const definitions = await this.options.definitions(launch.taskArn)
    const byName = new Map(definitions.map(d => [d.name, d]))
    task.containers = launch.containers.map(spec => ({
      definition: withOverrides(
        byName.get(spec.name) ?? { name: spec.name, image: spec.image },
        spec
      ),
      essential: spec.essential,
      ports: []
    }))
    for (const image of new Set(task.containers.map(c => c.definition.image))) {
      await this.ensureImage(image)
    }
    for (const container of task.containers) {
      if (task.stopRequested || this.closed) break
      await this.runContainer(task, container)
    }
    task.launched = true
    if (this.closed) {
      await this.removeTask(task)
      task.finished = true
    } else if (task.stopRequested) {
      await this.stopRequestedTask(task)
    }
  }

  private async ensureImage(image: string): Promise<void> {
    if ((await this.run(['image', 'inspect', '--format', '{{.Id}}', image])).code === 0) return
    const configArgs = this.options.dockerConfig ? ['--config', this.options.dockerConfig] : []
    const pulled = await this.run([...configArgs, 'pull', '--quiet', image])
    if (pulled.code !== 0) {
      throw new PullError(image, lastLine(pulled.stderr) || `docker pull exited ${pulled.code}`)
    }
  }

  private async runContainer(task: TaskState, container: ContainerState): Promise<void> {
    const definition = container.definition
    const taskId = task.taskArn.split('/').pop() ?? task.taskArn
    const args = [
      'run',
      '--detach',
      '--name',
      `${this.options.id}-${taskId.slice(0, 12)}-${definition.name}`.replace(
        /[^a-zA-Z0-9_.-]/g,
        '-'
      ),
      '--label',
      this.label,
      '--label',
      `noblepay.task=${task.taskArn}`,
      '--label',
      `noblepay.container=${definition.name}`,
      '--label',
      `noblepay.image=${definition.image}`
    ]
    const env: NodeJS.ProcessEnv = {}
    for (const variable of definition.environment ?? []) {
      if (!variable.name) continue
      // `-e NAME` takes the value from the client's environment: values never reach argv.
      args.push('--env', variable.name)
      env[variable.name] = variable.value ?? ''
    }
    for (const mapping of definition.portMappings ?? []) {
      if (!mapping.containerPort) continue
      const protocol = mapping.protocol === 'udp' ? '/udp' : ''
      args.push('--publish', `127.0.0.1::${mapping.containerPort}${protocol}`)
    }
    const check = definition.healthCheck
    const health = healthCommand(check?.command)
    if (health) {
      args.push('--health-cmd', health)
      const options: Array<[string, string | undefined]> = [
        ['--health-interval', seconds(check?.interval ?? 30)],
        ['--health-timeout', seconds(check?.timeout ?? 5)],
        ['--health-retries', String(check?.retries ?? 3)],
        ['--health-start-period', seconds(check?.startPeriod)]
      ]
      for (const [flag, value] of options) if (value !== undefined) args.push(flag, value)
    }
    if (definition.entryPoint?.length) args.push('--entrypoint', definition.entryPoint[0]!)
    args.push(definition.image)
    if (definition.entryPoint && definition.entryPoint.length > 1) {
      args.push(...definition.entryPoint.slice(1))
    }
    if (definition.command?.length) args.push(...definition.command)
    const started = await this.run(args, env)
    if (started.code !== 0) {
      throw new Error(
        `${definition.name}: ${lastLine(started.stderr) || `docker run exited ${started.code}`}`
      )
    }
    container.id = started.stdout.trim().slice(0, 12)
    this.log(`started ${definition.name} of task ${taskId.slice(0, 8)} (${container.id})`)
    if ((definition.portMappings ?? []).some(m => m.containerPort)) {
      const port = await this.run(['port', container.id])
      for (const line of port.stdout.split('\n')) {
        const match = /^(\d+)\/(tcp|udp) -> 127\.0\.0\.1:(\d+)$/.exec(line.trim())
        if (!match) continue
        container.ports.push({
          taskArn: task.taskArn,
          containerName: definition.name,
          containerPort: Number(match[1]),
          hostPort: Number(match[3]),
          host: '127.0.0.1'
        })
      }
    }
  }

  // ---- watching ----------------------------------------------------------------------------

  private async poll(): Promise<void> {
    const listed = await this.run([
      'ps',
      '-a',
      '--filter',
      `label=${this.label}`,
      '--format',
      PS_FORMAT
    ])
    if (listed.code !== 0) throw new Error(lastLine(listed.stderr))
    const rows = new Map<string, PsRow>()
    for (const line of listed.stdout.split('\n')) {
      const [id, task, container, state, status] = line.split('\t')
      if (id && task && container)
        rows.set(id, { id, task, container, state: state ?? '', status: status ?? '' })
    }
    for (const task of this.tasks.values()) {
      if (!task.launched || task.finished || task.stopRequested) continue
      await this.observe(task, rows)
    }
  }

  private async observe(task: TaskState, rows: Map<string, PsRow>): Promise<void> {
    const rowOf = (c: ContainerState) => (c.id ? rows.get(c.id) : undefined)
    const exited = task.containers.find(c => {
      const row = rowOf(c)
      return c.essential && (!row || row.state === 'exited' || row.state === 'dead')
    })
    if (exited) {
      const row = rowOf(exited)
      const reason = exited.id ? await this.lastLogLine(exited.id) : undefined
      const exitCode = row ? exitCodeOf(row.status) : undefined
      this.log(
        `${exited.definition.name} of task ${shortTask(task)} exited${exitCode === undefined ? '' : ` with code ${exitCode}`}${reason ? `: ${reason}` : ''}`
      )
      const containers: ContainerExit[] = task.containers.map(c =>
        c === exited
          ? {
              name: c.definition.name,
              ...(exitCode !== undefined ? { exitCode } : {}),
              ...(reason ? { reason } : {})
            }
          : { name: c.definition.name }
      )
      await this.removeTask(task)
      this.finish(task, {
        stopCode: 'EssentialContainerExited',
        stoppedReason: ESSENTIAL_CONTAINER_EXITED,
        containers
      })
      return
    }
    const unhealthy = task.containers.find(c => rowOf(c)?.status.includes('(unhealthy)'))
    if (unhealthy) {
      this.log(`${unhealthy.definition.name} of task ${shortTask(task)} failed its health check`)
      await this.removeTask(task)
      this.finish(task, {
        stopCode: 'ServiceSchedulerInitiated',
        stoppedReason: HEALTH_CHECKS_FAILED,
        containers: task.containers.map(c => ({
          name: c.definition.name,
          ...(c === unhealthy ? { reason: 'container health check failed' } : {})
        }))
      })
      return
    }
    if (task.reportedRunning) return
    const up = task.containers.every(c => {
      const row = rowOf(c)
      if (!row || row.state !== 'running') return false
      return !healthCommand(c.definition.healthCheck?.command) || row.status.includes('(healthy)')
    })
    if (up) {
      task.reportedRunning = true
      if (!task.alreadyRunning) this.reports.push({ taskArn: task.taskArn, lastStatus: 'RUNNING' })
    }
  }

  private async stopRequestedTask(task: TaskState): Promise<void> {
    if (task.finished) return
    task.finished = true
    const ids = task.containers.flatMap(c => (c.id ? [c.id] : []))
    const codes = new Map<string, number>()
    if (ids.length > 0) {
      await this.run(['stop', '--time', String(this.options.stopTimeoutSeconds ?? 2), ...ids])
      await this.keepLogs(task)
      const inspected = await this.run(['inspect', '--format', '{{.State.ExitCode}}', ...ids])
      inspected.stdout
        .split('\n')
        .forEach(
          (code, i) => ids[i] !== undefined && code !== '' && codes.set(ids[i]!, Number(code))
        )
      await this.run(['rm', '--force', '--volumes', ...ids])
    }
    this.log(`stopped task ${shortTask(task)}`)
    this.reports.push({
      taskArn: task.taskArn,
      lastStatus: 'STOPPED',
      containers: task.containers.map(c => ({
        name: c.definition.name,
        ...(c.id && codes.has(c.id) ? { exitCode: codes.get(c.id) } : {})
      }))
    })
    this.tasks.delete(task.taskArn)
  }

  private finish(
    task: TaskState,
    report: { stopCode: string; stoppedReason: string; containers: ContainerExit[] }
  ): void {
    if (task.finished) return
    task.finished = true
    this.reports.push({ taskArn: task.taskArn, lastStatus: 'STOPPED', ...report })
    this.tasks.delete(task.taskArn)
  }

  private async removeTask(task: TaskState): Promise<void> {
    await this.keepLogs(task)
    const ids = task.containers.flatMap(c => (c.id ? [c.id] : []))
    if (ids.length > 0) await this.run(['rm', '--force', '--volumes', ...ids])
  }

  /** Keeps what the task's containers logged, before they are removed. */
  private async keepLogs(task: TaskState): Promise<void> {
    for (const container of task.containers) {
      if (!container.id) continue
      this.keptLogs.set(
        `${task.taskArn}\n${container.definition.name}`,
        await this.readLogs(container.id)
      )
    }
    while (this.keptLogs.size > MAX_KEPT_LOGS) {
      this.keptLogs.delete(this.keptLogs.keys().next().value as string)
    }
  }

  private async readLogs(id: string): Promise<ContainerLogEvent[]> {
    const logs = await this.run(['logs', '--timestamps', id])
    return parseDockerLogs(`${logs.stdout}\n${logs.stderr}`)
  }

  private async lastLogLine(id: string): Promise<string | undefined> {
    const logs = await this.run(['logs', '--tail', '20', id])
    return lastLine(`${logs.stdout}\n${logs.stderr}`, logs.stdout, logs.stderr)
  }

  // ---- plumbing ----------------------------------------------------------------------------

  private track(promise: Promise<unknown>): void {
    this.pending.add(promise)
    void promise.finally(() => this.pending.delete(promise))
  }

  private log(line: string): void {
    this.options.log?.(line)
  }

  private run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<DockerResult> {
    return new Promise(resolve => {
      execFile(
        this.docker,
        args,
        { env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) => {
          const code =
            error === null ? 0 : typeof error.code === 'number' ? error.code : error.code ? 127 : 1
          resolve({ code, stdout: String(stdout), stderr: String(stderr) })
        }
      )
    })
  }

  private dockerSync(args: string[]): string {
    return execFileSync(this.docker, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe']
    }).trim()
  }
}

/** A container definition with RunTask's overrides applied: its command, more environment. */
function withOverrides(
  definition: ContainerDefinition,
  spec: TaskLaunch['containers'][number]
): ContainerDefinition {
  const environment = [...(definition.environment ?? [])].filter(
    variable => !spec.environment?.some(o => o.name === variable.name)
  )
  environment.push(...(spec.environment ?? []))
  return {
    ...definition,
    ...(spec.command ? { command: spec.command } : {}),
    environment
  }
}

class PullError extends Error {
  constructor(image: string, detail: string) {
    super(`CannotPullContainerError: pull image ${image}: ${detail}`)
  }
}

function shortTask(task: TaskState): string {
  return (task.taskArn.split('/').pop() ?? task.taskArn).slice(0, 8)
}

/**
 * The last non-empty line a container logged. `docker logs` gives stdout and stderr apart, so
 * when only one of them has lines that one decides; otherwise stderr (where a crash goes).
 */
function lastLine(combined: string, stdout?: string, stderr?: string): string {
  const last = (text: string) =>
    text
      .split('\n')
      .map(l => l.trim())
      .filter(l => l !== '')
      .pop() ?? ''
  if (stderr !== undefined && last(stderr) !== '') return last(stderr)
  if (stdout !== undefined) return last(stdout)
  return last(combined)
}

/** Runs `docker login --password-stdin` into `dockerConfig`; the password never reaches argv. */
export function dockerLogin(
  options: { registry: string; username: string; password: string; dockerConfig: string },
  docker = '/usr/bin/docker'
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      docker,
      [
        '--config',
        options.dockerConfig,
        'login',
        '--username',
        options.username,
        '--password-stdin',
        options.registry
      ],
      { stdio: ['pipe', 'ignore', 'pipe'] }
    )
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', code =>
      code === 0
        ? resolve()
        : reject(new Error(`docker login ${options.registry} failed: ${lastLine(stderr)}`))
    )
    child.stdin.end(options.password)
  })
}
