/**
 * A container's own words from CloudWatch Logs: where the `awslogs` driver puts a task's
 * lines, the last lines of a crashed task, and new lines of a running one as they arrive.
 * Pure parts (stream naming, choosing the crashed container, explaining why nothing can be
 * read, formatting) are plain functions; LogsGateway is the only code here that calls AWS.
 */
import {
  CloudWatchLogsClient,
  GetLogEventsCommand,
  type GetLogEventsCommandOutput
} from '@aws-sdk/client-cloudwatch-logs'
import type { TaskDefinition } from '@aws-sdk/client-ecs'
import { classifyFailure, type AwsCaller } from '../shared/aws-call.js'
import { clientSettings } from '../shared/aws.js'
import { describeError, InputError } from '../shared/errors.js'
import type { Inputs } from '../shared/inputs.js'
import type { Clock } from '../shared/runner.js'

// ---- the log-lines input ---------------------------------------------------------------------

export const DEFAULT_LOG_LINES = 20
/** GetLogEvents returns at most 10,000 events per call. */
export const MAX_LOG_LINES = 10_000

/** `log-lines`: how many of a crashed container's last lines to show; 0 turns the fetch off. */
export function readLogLines(inputs: Inputs): number {
  const raw = inputs.string('log-lines')
  if (raw === '') return DEFAULT_LOG_LINES
  if (!/^\d+$/.test(raw) || Number(raw) > MAX_LOG_LINES) {
    throw new InputError(
      'log-lines',
      raw,
      `use a whole number from 0 (off) to ${MAX_LOG_LINES}, e.g. ${DEFAULT_LOG_LINES}`
    )
  }
  return Number(raw)
}

// ---- where the lines are -----------------------------------------------------------------------

/** A container's log stream, as the awslogs driver names it for a task. */
export interface LogLocation {
  region: string
  group: string
  /** `<awslogs-stream-prefix>/<container name>/<task id>` */
  stream: string
  container: string
  taskId: string
}

/** Why a container's lines cannot be read; explainLogProblem turns it into one line. */
export type LogProblem =
  | { kind: 'no-task' }
  | { kind: 'no-container'; container: string }
  | { kind: 'no-log-configuration'; container: string }
  | { kind: 'other-driver'; container: string; driver: string }
  | { kind: 'no-group'; container: string }
  | { kind: 'no-prefix'; container: string }
  | { kind: 'access-denied'; group: string; region: string; message: string }
  | { kind: 'group-not-found'; group: string; region: string }
  | { kind: 'stream-not-found'; group: string; stream: string }
  | { kind: 'error'; message: string }

/** The task ID in a task ARN (`…:task/<cluster>/<id>`, or the older `…:task/<id>`). */
export function taskIdOf(taskArn: string): string {
  return taskArn.slice(taskArn.lastIndexOf('/') + 1)
}

/**
 * Where the awslogs driver writes one container of one task: the group and region from the
 * container's `logConfiguration` options, the stream `<prefix>/<container>/<task id>`. Without
 * `awslogs-stream-prefix` the stream is named after the Docker container ID, which ECS does not
 * report, so it cannot be found.
 */
export function awslogsLocation(
  taskDefinition: Pick<TaskDefinition, 'containerDefinitions'>,
  container: string,
  taskArn: string,
  defaultRegion: string
): LogLocation | LogProblem {
  const definition = taskDefinition.containerDefinitions?.find(c => c.name === container)
  if (!definition) return { kind: 'no-container', container }
  const configuration = definition.logConfiguration
  if (!configuration?.logDriver) return { kind: 'no-log-configuration', container }
  if (configuration.logDriver !== 'awslogs')
    return { kind: 'other-driver', container, driver: configuration.logDriver }
  const options = configuration.options ?? {}
  const group = options['awslogs-group'] ?? ''
  if (group === '') return { kind: 'no-group', container }
  const prefix = options['awslogs-stream-prefix'] ?? ''
  if (prefix === '') return { kind: 'no-prefix', container }
  const taskId = taskIdOf(taskArn)
  return {
    region: options['awslogs-region'] || defaultRegion,
    group,
    stream: `${prefix}/${container}/${taskId}`,
    container,
    taskId
  }
}

export function isLogProblem(value: LogLocation | LogProblem): value is LogProblem {
  return 'kind' in value
}

/** One line saying why the lines are not shown, and what would show them. */
export function explainLogProblem(problem: LogProblem): string {
  switch (problem.kind) {
    case 'no-task':
      return 'no stopped task of the deployment was recorded to read logs from'
    case 'no-container':
      return `the task definition has no container named ${problem.container}`
    case 'no-log-configuration':
      return `container ${problem.container} has no logConfiguration, so its output is not in CloudWatch Logs; add the awslogs log driver to the task definition to see it here`
    case 'other-driver':
      return `container ${problem.container} logs with the ${problem.driver} driver, not awslogs, so its lines are not in CloudWatch Logs where this step reads them`
    case 'no-group':
      return `container ${problem.container} uses the awslogs driver without an awslogs-group option`
    case 'no-prefix':
      return `container ${problem.container} uses the awslogs driver without awslogs-stream-prefix, so its stream is named after a Docker container ID that ECS does not report; set awslogs-stream-prefix (e.g. ecs)`
    case 'access-denied':
      return `the role may not read log group ${problem.group} in ${problem.region} (AccessDeniedException); allow logs:GetLogEvents on it`
    case 'group-not-found':
      return `log group ${problem.group} does not exist in ${problem.region}`
    case 'stream-not-found':
      return `log stream ${problem.stream} is not in group ${problem.group} (yet): the container stopped before it logged anything, or its lines have not been delivered`
    case 'error':
      return `reading the logs failed: ${oneLine(problem.message)}`
  }
}

// ---- choosing the crashed container ----------------------------------------------------------

/** What a stopped task says about its containers (the shape ecs.ts's StoppedTask has). */
export interface StoppedTaskLike {
  taskArn: string
  stopCode?: string
  /** When the task started (or was created): its log reads start there. */
  startedAt?: Date
  containers: Array<{ name: string; exitCode?: number; reason?: string }>
}

/**
 * The task and container whose lines explain a failed rollout: the first task (newest first,
 * as listed) that the scheduler did not stop itself and whose container exited non-zero,
 * preferring essential containers; else any container that exited non-zero; else the
 * deployed container of the first task.
 */
export function pickCrashedContainer(
  stoppedTasks: readonly StoppedTaskLike[],
  taskDefinition: Pick<TaskDefinition, 'containerDefinitions'>,
  deployedContainer: string
): { taskArn: string; container: string } | undefined {
  const essential = new Set(
    taskDefinition.containerDefinitions?.filter(c => c.essential !== false).map(c => c.name)
  )
  const failed = (task: StoppedTaskLike) =>
    [...task.containers]
      .filter(c => c.exitCode !== undefined && c.exitCode !== 0)
      .sort((a, b) => Number(essential.has(b.name)) - Number(essential.has(a.name)))[0]
  // Tasks the scheduler stopped last, each group in its listed order (the sort is stable).
  const drained = (task: StoppedTaskLike) => Number(task.stopCode === 'ServiceSchedulerInitiated')
  const candidates = [...stoppedTasks].sort((a, b) => drained(a) - drained(b))
  for (const task of candidates) {
    const container = failed(task)
    if (container) return { taskArn: task.taskArn, container: container.name }
  }
  const first = candidates[0]
  return first ? { taskArn: first.taskArn, container: deployedContainer } : undefined
}

// ---- the gateway -----------------------------------------------------------------------------

export interface LogLine {
  /** Epoch ms the container logged it. */
  timestamp: number
  message: string
}

export type LogRead = { kind: 'lines'; lines: LogLine[] } | { kind: 'problem'; problem: LogProblem }

type Page =
  { kind: 'page'; page: GetLogEventsCommandOutput } | { kind: 'problem'; problem: LogProblem }

// Stryker disable all: the gateway is I/O (GetLogEvents), tested against the logs stand-in.
/** CloudWatch Logs reads this action makes (GetLogEvents only), through an AwsCaller. */
export class LogsGateway {
  constructor(
    private readonly client: CloudWatchLogsClient,
    private readonly caller: AwsCaller,
    readonly region: string
  ) {}

  /** The same gateway with another deadline for its calls. */
  until(deadline: number): LogsGateway {
    return new LogsGateway(this.client, this.caller.until(deadline), this.region)
  }

  get clock(): Clock {
    return this.caller.clock
  }

  /** Epoch ms after which its calls give up. */
  get deadline(): number {
    return this.caller.deadline
  }

  /**
   * The last `count` lines of a stream, oldest first: read forward from `startTime` (the task's
   * start) through every page until the forward token comes back unchanged, as a short or
   * empty page does not end a stream.
   */
  async lastLines(
    group: string,
    stream: string,
    count: number,
    startTime?: number
  ): Promise<LogRead> {
    const follower = new LogFollower(this, group, stream, startTime, MAX_PAGES_PER_READ)
    const lines = await follower.poll()
    const problem = follower.failed() ?? follower.notFound()
    if (problem && lines.length === 0) return { kind: 'problem', problem }
    return { kind: 'lines', lines: lines.slice(-count) }
  }

  /** Follows a stream from `startTime`: each poll() returns the lines that arrived since the last. */
  follow(group: string, stream: string, startTime?: number): LogFollower {
    return new LogFollower(this, group, stream, startTime)
  }

  /** One GetLogEvents page; AWS's answers about the stream come back as a problem, not thrown. */
  async page(
    group: string,
    stream: string,
    paging: { startFromHead: boolean; limit?: number; nextToken?: string; startTime?: number }
  ): Promise<Page> {
    try {
      return await this.caller.read(
        `Reading log stream ${stream} of ${group}`,
        async (signal): Promise<Page> => {
          try {
            const page = await this.client.send(
              new GetLogEventsCommand({
                logGroupName: group,
                logStreamName: stream,
                startFromHead: paging.startFromHead,
                ...(paging.limit !== undefined ? { limit: paging.limit } : {}),
                ...(paging.nextToken !== undefined ? { nextToken: paging.nextToken } : {}),
                ...(paging.startTime !== undefined ? { startTime: paging.startTime } : {})
              }),
              { abortSignal: signal }
            )
            return { kind: 'page', page }
          } catch (error) {
            const problem = answeredProblem(error, group, stream, this.region)
            if (problem) return { kind: 'problem', problem }
            throw error
          }
        }
      )
    } catch (error) {
      return { kind: 'problem', problem: { kind: 'error', message: describeError(error) } }
    }
  }
}

/** A gateway for a region, with a client built as every AwsCaller client is (one attempt per send). */
export function logsGateway(
  region: string,
  caller: AwsCaller,
  env: NodeJS.ProcessEnv = process.env
): LogsGateway {
  return new LogsGateway(
    new CloudWatchLogsClient(clientSettings(region, env, 'caller')),
    caller,
    region
  )
}

// Stryker restore all
/**
 * CloudWatch Logs' answers that say something about the stream rather than about the call:
 * a missing group or stream, a role without the permission.
 */
export function answeredProblem(
  error: unknown,
  group: string,
  stream: string,
  region: string
): LogProblem | undefined {
  if (classifyFailure(error) !== 'rejected') return undefined
  // An answer from AWS: an object with its HTTP status, named after AWS's error code.
  const { name } = error as { name?: string }
  const message = describeError(error)
  if (name === 'ResourceNotFoundException') {
    return /log group/i.test(message)
      ? { kind: 'group-not-found', group, region }
      : { kind: 'stream-not-found', group, stream }
  }
  if (name === 'AccessDeniedException') return { kind: 'access-denied', group, region, message }
  return undefined
}

function toLines(page: GetLogEventsCommandOutput): LogLine[] {
  return (page.events ?? []).map(event => ({
    timestamp: event.timestamp ?? 0,
    message: event.message ?? ''
  }))
}

/** The pages one read of a stream may take: a stream logged faster than it is read still ends. */
const MAX_PAGES_PER_READ = 200

/**
 * New lines of a stream as they arrive. Before the container starts its stream does not exist:
 * that is not a problem, the next poll looks again. Reads from `startTime` (the task's start,
 * which CloudWatch Logs recommends against empty pages) and pages through with
 * nextForwardToken (startFromHead true, as forward tokens require). A short or empty page does
 * not end a read; only the token coming back as it was sent means the end of the stream for now.
 */
export class LogFollower {
  private token: string | undefined
  private problem: LogProblem | undefined
  private missing: LogProblem | undefined

  constructor(
    private readonly gateway: LogsGateway,
    readonly group: string,
    readonly stream: string,
    private readonly startTime?: number,
    private readonly maxPagesPerPoll = 50
  ) {}

  /** What stopped the follower: any problem but the stream not existing yet. */
  failed(): LogProblem | undefined {
    return this.problem
  }

  /** The stream did not exist (yet) on the last read. */
  notFound(): LogProblem | undefined {
    return this.missing
  }

  /** Follow again after a passing failure (the next poll goes on from where it was). */
  resume(): void {
    this.problem = undefined
  }

  async poll(gateway: LogsGateway = this.gateway): Promise<LogLine[]> {
    if (this.problem) return []
    const lines: LogLine[] = []
    this.missing = undefined
    for (let pages = 0; pages < this.maxPagesPerPoll; pages++) {
      const read = await gateway.page(this.group, this.stream, {
        startFromHead: true,
        nextToken: this.token,
        ...(this.token === undefined && this.startTime !== undefined
          ? { startTime: this.startTime }
          : {})
      })
      if (read.kind === 'problem') {
        if (read.problem.kind === 'stream-not-found') this.missing = read.problem
        else this.problem = read.problem
        break
      }
      lines.push(...toLines(read.page))
      const next = read.page.nextForwardToken
      const done = next === undefined || next === this.token
      this.token = next ?? this.token
      if (done) break
    }
    return lines
  }
}

// ---- the crashed container's lines, for a failure report -------------------------------------

export type CrashLogs =
  | { kind: 'off' }
  | {
      kind: 'lines'
      taskId: string
      container: string
      group: string
      stream: string
      lines: LogLine[]
    }
  | { kind: 'unavailable'; taskId?: string; container?: string; reason: string }

export interface CrashLogsRequest {
  /** The revision whose tasks failed (its containers' logConfiguration). */
  taskDefinition: Pick<TaskDefinition, 'containerDefinitions'>
  /** The deployment's stopped tasks, newest first. */
  stoppedTasks: readonly StoppedTaskLike[]
  /** The container the deploy replaced the image of. */
  containerName: string
  /** `log-lines`; 0 means off. */
  count: number
  /** The deploy's region, for containers whose options name none. */
  region: string
  /** How long the fetch may take, all calls included; default 10 s. */
  timeoutMs?: number
  /** One more look after this long when the stream is not there yet; default 2 s. */
  retryMs?: number
}

/**
 * The last lines of one failed task's container, or one line saying why they cannot be read.
 * Never throws: a failure report keeps everything else whatever happens here. Call it after
 * the first `::error::` line is out, so that line never waits for the logs.
 */
export async function fetchCrashLogs(
  request: CrashLogsRequest,
  logsFor: (region: string) => LogsGateway
): Promise<CrashLogs> {
  if (request.count === 0) return { kind: 'off' }
  const picked = pickCrashedContainer(
    request.stoppedTasks,
    request.taskDefinition,
    request.containerName
  )
  if (!picked) return { kind: 'unavailable', reason: explainLogProblem({ kind: 'no-task' }) }
  const taskId = taskIdOf(picked.taskArn)
  const location = awslogsLocation(
    request.taskDefinition,
    picked.container,
    picked.taskArn,
    request.region
  )
  if (isLogProblem(location)) {
    return {
      kind: 'unavailable',
      taskId,
      container: picked.container,
      reason: explainLogProblem(location)
    }
  }
  try {
    const base = logsFor(location.region)
    const gateway = base.until(base.clock.now() + (request.timeoutMs ?? 10_000))
    const startTime = request.stoppedTasks
      .find(t => t.taskArn === picked.taskArn)
      ?.startedAt?.valueOf()
    const readLines = () =>
      gateway.lastLines(location.group, location.stream, request.count, startTime)
    let read = await readLines()
    if (read.kind === 'problem' && read.problem.kind === 'stream-not-found') {
      const wait = request.retryMs ?? 2_000
      if (gateway.clock.now() + wait < gateway.deadline) {
        await gateway.clock.sleep(wait)
        read = await readLines()
      }
    }
    if (read.kind === 'problem') {
      return {
        kind: 'unavailable',
        taskId,
        container: picked.container,
        reason: explainLogProblem(read.problem)
      }
    }
    return { kind: 'lines', ...location, lines: read.lines }
  } catch (error) {
    return {
      kind: 'unavailable',
      taskId,
      container: picked.container,
      reason: explainLogProblem({ kind: 'error', message: describeError(error) })
    }
  }
}

// ---- formatting --------------------------------------------------------------------------------

const MAX_LINE_LENGTH = 1000

/**
 * A logged message as lines safe to print in an Actions log: each starts with the prefix, so
 * nothing a container logged can be read as a workflow command (`::error::`, `::add-mask::` …).
 */
export function printableLines(message: string, prefix = '  | '): string[] {
  return message
    .replace(/\s+$/, '')
    .split(/\r\n|\r|\n/)
    .map(
      line =>
        `${prefix}${line.length > MAX_LINE_LENGTH ? `${line.slice(0, MAX_LINE_LENGTH)}…` : line}`
    )
}

/** What the failure output shows: a heading and the lines, or why there are none. */
export function crashLogsText(logs: CrashLogs): string[] {
  switch (logs.kind) {
    case 'off':
      return []
    case 'unavailable':
      return [
        `No log lines${logs.container ? ` of container ${logs.container}` : ''}${logs.taskId ? ` (task ${logs.taskId})` : ''}: ${logs.reason}.`
      ]
    case 'lines':
      if (logs.lines.length === 0)
        return [
          `Container ${logs.container} of task ${logs.taskId} logged nothing (${logs.stream}).`
        ]
      return [
        `Last ${logs.lines.length} log line${logs.lines.length === 1 ? '' : 's'} of container ${logs.container}, task ${logs.taskId} (${logs.group} ${logs.stream}):`,
        ...logs.lines.flatMap(l => printableLines(l.message))
      ]
  }
}

/** The same for the job summary: a fenced block the lines cannot break out of. */
export function crashLogsMarkdown(logs: CrashLogs): string {
  if (logs.kind === 'off') return ''
  if (logs.kind === 'unavailable')
    return `**Container logs:** none shown: ${escapeInline(logs.reason)}.`
  const heading = `**Last log lines** of container \`${logs.container}\`, task \`${logs.taskId}\` (\`${logs.group}\`):`
  if (logs.lines.length === 0) return `${heading} none; the container logged nothing.`
  return `${heading}\n\n${fenced(logs.lines.flatMap(l => printableLines(l.message, '')).join('\n'))}`
}

/** A code block whose fence is longer than any run of backticks inside it. */
export function fenced(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map(run => run.length))
  const fence = '`'.repeat(Math.max(3, longest + 1))
  return `${fence}text\n${text}\n${fence}`
}

function escapeInline(text: string): string {
  return text.replace(/[\\`*_<>[\]|]/g, char => `\\${char}`)
}

function oneLine(text: string): string {
  return text.replace(/\s*\r?\n\s*/g, ' ').trim()
}
