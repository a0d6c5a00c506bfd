/**
 * The pre-deploy command (schema migrations): a one-off task of the new revision, with the
 * command as an override on the deployed container, in the service's own network
 * configuration and launch type or capacity provider strategy. The rollout starts only when
 * it exits 0. Pure parts: the inputs, the RunTask request, the verdict. runMigration does the
 * I/O: starts the task once, prints its lines as they come, stops it at the timeout.
 */
import { createHash } from 'node:crypto'
import type { RunTaskCommandInput, Service, TaskDefinition } from '@aws-sdk/client-ecs'
import { AwsRejection } from '../shared/aws-call.js'
import { describeError } from '../shared/errors.js'
import type { Inputs } from '../shared/inputs.js'
import type { Clock, Runner } from '../shared/runner.js'
import { code, facts, section } from '../shared/summary.js'
import { formatCommandLine, splitCommandLine, type CommandLine } from '../test/command-line.js'
import type { EcsTasksGateway, OneOffTask } from './ecs-tasks.js'
import {
  awslogsLocation,
  explainLogProblem,
  fenced,
  isLogProblem,
  printableLines,
  taskIdOf,
  type LogFollower,
  type LogLine,
  type LogsGateway
} from './logs.js'
import { formatDuration } from './rollout.js'
import { shortRevision } from './task-definition.js'

// ---- inputs ------------------------------------------------------------------------------------

export interface MigrationConfig {
  /** The command as given, for messages. */
  text: string
  command: CommandLine
  timeoutMs: number
}

export const DEFAULT_PRE_DEPLOY_TIMEOUT_MINUTES = 15

/** `pre-deploy-command` and `pre-deploy-timeout-minutes`; undefined when there is no command. */
export function readMigrationConfig(inputs: Inputs): MigrationConfig | undefined {
  const timeoutMs =
    inputs.number('pre-deploy-timeout-minutes', DEFAULT_PRE_DEPLOY_TIMEOUT_MINUTES, {
      min: 0.01
    }) * 60_000
  const text = inputs.string('pre-deploy-command')
  if (text === '') return undefined
  return { text, command: splitCommandLine('pre-deploy-command', text), timeoutMs }
}

// ---- the RunTask request -------------------------------------------------------------------------

export interface MigrationIntent {
  cluster: string
  /** The service as DescribeServices returned it: where and how its tasks run. */
  service: Pick<
    Service,
    | 'serviceName'
    | 'launchType'
    | 'capacityProviderStrategy'
    | 'platformVersion'
    | 'networkConfiguration'
  >
  /** The new revision's ARN. */
  taskDefinitionArn: string
  /** The container the deploy puts the new image in; it runs the command. */
  containerName: string
  command: CommandLine
  /** The workflow run and attempt: a re-run migrates again, a lost reply does not. */
  runId: string
  runAttempt: string
}

/**
 * An identifier of this one migration (cluster, service, revision, command, run and attempt),
 * usable both as RunTask's clientToken (up to 64 characters 33–126) and as its startedBy (up
 * to 128 letters, digits, `-`, `/`, `_`).
 */
export function migrationToken(intent: MigrationIntent): string {
  const digest = createHash('sha256')
    .update(
      JSON.stringify([
        intent.cluster,
        intent.service.serviceName,
        intent.taskDefinitionArn,
        intent.containerName,
        formatCommandLine(intent.command),
        intent.runId,
        intent.runAttempt
      ])
    )
    .digest('hex')
  return `noblepay-migrate-${digest.slice(0, 32)}`
}

/** RunTask for the migration: one task of the new revision, placed as the service's tasks are. */
export function migrationRunTask(intent: MigrationIntent): RunTaskCommandInput {
  const { service } = intent
  const token = migrationToken(intent)
  const strategy = service.capacityProviderStrategy ?? []
  const environment = Object.entries(intent.command.env).map(([name, value]) => ({ name, value }))
  return {
    cluster: intent.cluster,
    taskDefinition: intent.taskDefinitionArn,
    count: 1,
    // A task takes a launch type or a capacity provider strategy, never both.
    ...(strategy.length > 0
      ? { capacityProviderStrategy: strategy.map(item => ({ ...item })) }
      : service.launchType
        ? { launchType: service.launchType }
        : {}),
    ...(service.platformVersion ? { platformVersion: service.platformVersion } : {}),
    ...(service.networkConfiguration
      ? { networkConfiguration: structuredClone(service.networkConfiguration) }
      : {}),
    overrides: {
      containerOverrides: [
        {
          name: intent.containerName,
          command: [...intent.command.argv],
          ...(environment.length > 0 ? { environment } : {})
        }
      ]
    },
    startedBy: token,
    clientToken: token
  }
}

// ---- the verdict -------------------------------------------------------------------------------

export type MigrationVerdict =
  { kind: 'passed'; reason?: undefined } | { kind: 'failed'; reason: string; exitCode?: number }

/** What the stopped (or timed-out) task says: exit 0 of the command's container passes, nothing else. */
export function judgeMigration(
  task: Pick<OneOffTask, 'stoppedReason' | 'stopCode' | 'containers'> | undefined,
  containerName: string,
  timedOut: { afterMs: number } | undefined
): MigrationVerdict {
  const container = task?.containers.find(c => c.name === containerName)
  const exitCode = container?.exitCode
  if (timedOut) {
    return {
      kind: 'failed',
      reason: `it did not finish within ${formatDuration(timedOut.afterMs)} (pre-deploy-timeout-minutes), so it was stopped`,
      exitCode
    }
  }
  if (exitCode === 0) return { kind: 'passed' }
  if (exitCode !== undefined) {
    return {
      kind: 'failed',
      reason: `container ${containerName} exited with code ${exitCode}${container?.reason ? ` (${container.reason})` : ''}`,
      exitCode
    }
  }
  const why = [task?.stoppedReason, container?.reason].filter(Boolean).join('; ')
  return {
    kind: 'failed',
    reason: `the task stopped without an exit code: ${why || 'ECS gave no reason'}${task?.stopCode ? ` [${task.stopCode}]` : ''}`
  }
}

// ---- running it --------------------------------------------------------------------------------

export interface MigrationRequest {
  cluster: string
  service: MigrationIntent['service']
  /** The new revision, as registered (its containers' logConfiguration is read). */
  taskDefinition: Pick<TaskDefinition, 'taskDefinitionArn' | 'containerDefinitions'>
  containerName: string
  config: MigrationConfig
  runId: string
  runAttempt: string
  /** Between two looks at the task (and its log stream). */
  pollMs: number
  /** How many of the last lines go into a failure; `log-lines`. */
  logLines: number
  /** The deploy's region, for containers whose awslogs options name none. */
  region: string
  /** After StopTask, how long to wait for the task to stop; default 2 minutes. */
  stopGraceMs?: number
}

export interface MigrationDependencies {
  /** ECS calls for the one-off task; its deadline is set here from the timeout. */
  tasks: EcsTasksGateway
  /** CloudWatch Logs for a region; omitted, the lines are not followed. */
  logsFor?: (region: string) => LogsGateway
  runner: Runner
  clock: Clock
}

export interface MigrationResult {
  status: 'passed' | 'failed'
  taskArn?: string
  exitCode?: number
  /** Why it failed; undefined when it passed. */
  reason?: string
  /** The last `logLines` lines the task logged. */
  lastLines: LogLine[]
  /** Why its lines could not be read, when they could not. */
  logsUnavailable?: string
  durationMs: number
  /** The one line for the log (passed) or the failure (`::error::`). */
  message: string
  /** The job summary's section about the migration. */
  summary: string
}

/** Consecutive failed reads of the log stream before following it is given up. */
const MAX_LOG_READ_FAILURES = 3

/**
 * Runs the pre-deploy command as a one-off task of the new revision and waits for it: its
 * log lines are printed as they arrive, and it is stopped at the timeout. Never throws: every
 * outcome is a result whose message and summary say what happened. The service is not touched.
 */
export async function runMigration(
  request: MigrationRequest,
  deps: MigrationDependencies
): Promise<MigrationResult> {
  const { runner, clock } = deps
  const started = clock.now()
  const stopGraceMs = request.stopGraceMs ?? 120_000
  const timeoutMs = request.config.timeoutMs
  const tasks = deps.tasks.until(started + timeoutMs + stopGraceMs + 60_000)
  const revision = shortRevision(request.taskDefinition.taskDefinitionArn)
  const commandText = formatCommandLine(request.config.command)
  const kept: LogLine[] = []
  let logsUnavailable: string | undefined
  let taskArn: string | undefined
  let lastTask: OneOffTask | undefined

  const finish = (verdict: MigrationVerdict): MigrationResult => {
    const durationMs = clock.now() - started
    const taskId = taskArn ? taskIdOf(taskArn) : undefined
    // A migration passes on exit 0 of its container and on nothing else.
    const exitCode = verdict.kind === 'failed' ? verdict.exitCode : 0
    const message =
      verdict.kind === 'passed'
        ? `The migration (${commandText}) passed: task ${taskId} exited 0 in ${formatDuration(durationMs)}.`
        : failureMessage(
            request,
            commandText,
            revision,
            taskId,
            verdict.reason,
            kept,
            logsUnavailable
          )
    return {
      status: verdict.kind,
      taskArn,
      exitCode,
      reason: verdict.reason,
      lastLines: [...kept],
      logsUnavailable,
      durationMs,
      message,
      summary: migrationSummary(commandText, revision, verdict, {
        taskId,
        exitCode,
        durationMs,
        lines: kept,
        logsUnavailable
      })
    }
  }

  const keep = (lines: LogLine[]) => {
    for (const line of lines) {
      for (const printed of printableLines(line.message)) runner.info(printed)
      kept.push(line)
    }
    kept.splice(0, Math.max(0, kept.length - request.logLines))
  }

  let runRequest: RunTaskCommandInput
  try {
    runRequest = migrationRunTask({
      cluster: request.cluster,
      service: request.service,
      taskDefinitionArn: request.taskDefinition.taskDefinitionArn ?? '',
      containerName: request.containerName,
      command: request.config.command,
      runId: request.runId,
      runAttempt: request.runAttempt
    })
    runner.info(
      `Running the migration as a one-off task of ${revision} in cluster ${request.cluster}: ${commandText} (container ${request.containerName}, ${placement(runRequest)}).`
    )
    const outcome = await tasks.runTaskOnce(runRequest)
    if (outcome.kind === 'not-started') {
      return finish({
        kind: 'failed',
        reason: `ECS did not start the task: ${outcome.reasons.join('; ')}`
      })
    }
    taskArn = outcome.task.taskArn
    lastTask = outcome.task
    const how = {
      answer: '',
      'read-back': `; ECS's reply was lost, and the task was found by its startedBy`,
      conflict: '; ECS answered with the task this client token had already started'
    }[outcome.via]
    runner.info(`Task ${taskIdOf(taskArn)} started (startedBy ${runRequest.startedBy})${how}.`)
  } catch (error) {
    return finish({ kind: 'failed', reason: describeError(error) })
  }

  // Its lines, as they come.
  let following: { follower: LogFollower; logs: LogsGateway } | undefined
  if (request.logLines > 0 || deps.logsFor) {
    const location = awslogsLocation(
      request.taskDefinition,
      request.containerName,
      taskArn,
      request.region
    )
    if (isLogProblem(location)) logsUnavailable = explainLogProblem(location)
    else if (!deps.logsFor) logsUnavailable = 'no CloudWatch Logs client was given'
    else {
      const logs = deps.logsFor(location.region)
      const startTime = (lastTask.createdAt ?? lastTask.startedAt)?.valueOf()
      following = { follower: logs.follow(location.group, location.stream, startTime), logs }
    }
    if (logsUnavailable) runner.info(`Its output is not shown: ${logsUnavailable}.`)
  }
  let logFailures = 0
  const readLogs = async () => {
    if (!following || following.follower.failed()) return
    const { follower, logs } = following
    const lines = await follower.poll(logs.until(clock.now() + Math.max(request.pollMs, 2_000)))
    keep(lines)
    const problem = follower.failed()
    if (problem) {
      // A read that failed outright may pass next time; AWS's answers (no access…) will not.
      if (problem.kind === 'error' && ++logFailures < MAX_LOG_READ_FAILURES) {
        follower.resume()
        return
      }
      logsUnavailable = explainLogProblem(problem)
      runner.info(`Its output is no longer shown: ${logsUnavailable}.`)
      return
    }
    logFailures = 0
  }

  const deadline = started + timeoutMs
  const watchUntil = deadline + stopGraceMs
  let status = lastTask.lastStatus
  let timedOut: { afterMs: number } | undefined
  /** Why the task could not be watched, when AWS refused the reads outright. */
  let refused: string | undefined
  /** The stop was sent; confirmed once a read shows the task stopping. */
  const stop: { sent: boolean; confirmed: boolean; unreadable?: string } = {
    sent: false,
    confirmed: false
  }
  const sendStop = async (reason: string) => {
    stop.sent = true
    await tasks.until(watchUntil).stopTask(request.cluster, taskArn!, reason)
  }
  try {
    for (;;) {
      // Reads end at the migration's own limit (or the stop's grace), whatever they are doing:
      // a read that hangs never keeps the timeout's stop from being sent.
      const look = await readTask(tasks.until(stop.sent ? watchUntil : deadline), request, taskArn)
      const task = look.task
      if (task) {
        lastTask = task
        if (stop.sent && (task.desiredStatus === 'STOPPED' || task.lastStatus === 'STOPPED'))
          stop.confirmed = true
        if (task.lastStatus !== status) {
          status = task.lastStatus
          runner.info(
            `[${formatDuration(clock.now() - started)}] task ${taskIdOf(taskArn)} ${status}`
          )
        }
      }
      if (look.failure && stop.sent) stop.unreadable = look.failure
      await readLogs()
      if (task?.lastStatus === 'STOPPED') break
      if (look.refused && !stop.sent) {
        // AWS will not let the step watch the task: it is not left running unwatched.
        refused = look.failure
        runner.info(`Task ${taskIdOf(taskArn)} cannot be watched (${refused}): stopping it.`)
        await sendStop('pre-deploy-command could not be watched')
        break
      }
      const now = clock.now()
      if (now >= deadline) {
        if (!timedOut) {
          timedOut = { afterMs: timeoutMs }
          runner.info(
            `The migration did not finish within ${formatDuration(timeoutMs)}: stopping task ${taskIdOf(taskArn)}.`
          )
          await sendStop(`pre-deploy-command did not finish within ${formatDuration(timeoutMs)}`)
        } else if (now >= watchUntil) {
          break
        }
      }
      // Up to the timeout, not past it; after it, while the stopped task winds down, every poll.
      const until = now < deadline ? deadline : watchUntil
      await clock.sleep(Math.max(0, Math.min(request.pollMs, until - now)))
    }
  } catch (error) {
    return finish({
      kind: 'failed',
      reason: `${describeError(error)}; task ${taskIdOf(taskArn)} may still be running`
    })
  }
  if (refused) {
    return finish({
      kind: 'failed',
      reason: `${refused}; task ${taskIdOf(taskArn)} was asked to stop`
    })
  }
  // awslogs delivers a moment after the container stops: one more look picks up its last lines.
  await readLogs()
  // The loop ends when the task stopped, or past the timeout and the stop's grace period.
  const verdict = judgeMigration(lastTask, request.containerName, timedOut)
  if (verdict.kind === 'failed' && stop.sent && !stop.confirmed && stop.unreadable)
    verdict.reason += `; the stop could not be read back (${stop.unreadable}), so task ${taskIdOf(taskArn)} may still be running`
  return finish(verdict)
}

/** One look at the task: a read that fails is reported, not thrown (the loop decides). */
async function readTask(
  tasks: EcsTasksGateway,
  request: MigrationRequest,
  taskArn: string
): Promise<{ task?: OneOffTask; failure?: string; refused?: boolean }> {
  try {
    return { task: await tasks.describeTask(request.cluster, taskArn) }
  } catch (error) {
    return { failure: describeError(error), refused: error instanceof AwsRejection }
  }
}

function placement(request: RunTaskCommandInput): string {
  const where = request.capacityProviderStrategy?.length
    ? `capacity providers ${request.capacityProviderStrategy.map(s => s.capacityProvider).join(', ')}`
    : (request.launchType ?? "the cluster's default capacity")
  const subnets = request.networkConfiguration?.awsvpcConfiguration?.subnets ?? []
  return subnets.length > 0 ? `${where}, subnets ${subnets.join(', ')}` : where
}

function failureMessage(
  request: MigrationRequest,
  commandText: string,
  revision: string,
  taskId: string | undefined,
  reason: string,
  lines: LogLine[],
  logsUnavailable: string | undefined
): string {
  const head = `The migration failed: ${commandText} as a one-off task${taskId ? ` (${taskId})` : ''} of ${revision} in cluster '${request.cluster}': ${reason.replace(/\.$/, '')}.`
  const tail =
    lines.length > 0
      ? ` Last log line: ${lastLine(lines.at(-1)!.message).replace(/\.$/, '')}.`
      : logsUnavailable
        ? ` No log lines: ${logsUnavailable}.`
        : ''
  return `${head}${tail} The service was not touched: fix the migration and deploy again.`
}

/** The last line of a logged message, trailing whitespace and blank lines left out. */
function lastLine(message: string): string {
  const text = message.trim()
  return text.slice(text.lastIndexOf('\n') + 1)
}

function migrationSummary(
  commandText: string,
  revision: string,
  verdict: MigrationVerdict,
  details: {
    taskId?: string
    exitCode?: number
    durationMs: number
    lines: LogLine[]
    logsUnavailable?: string
  }
): string {
  const title = `Pre-deploy migration ${verdict.kind}`
  const parts = [
    facts([
      ['Command', code(commandText)],
      ['Task definition', revision],
      ['Task', details.taskId],
      ['Exit code', details.exitCode],
      ['Duration', formatDuration(details.durationMs)]
    ])
  ]
  if (verdict.kind === 'failed') {
    parts.unshift(`**The migration failed:** ${escapeMarkdown(verdict.reason)}.`)
    if (details.lines.length > 0) {
      parts.push(
        `**Last ${details.lines.length} log line${details.lines.length === 1 ? '' : 's'}:**`,
        fenced(details.lines.flatMap(l => printableLines(l.message, '')).join('\n'))
      )
    } else if (details.logsUnavailable) {
      parts.push(`**Log lines:** none shown: ${escapeMarkdown(details.logsUnavailable)}.`)
    }
    parts.push('The service was not touched.')
  }
  return section(title, ...parts)
}

function escapeMarkdown(text: string): string {
  return text.replace(/\s*\r?\n\s*/g, ' ').replace(/[\\`*_<>[\]|]/g, char => `\\${char}`)
}
