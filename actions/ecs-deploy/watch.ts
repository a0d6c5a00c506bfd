import type { Deployment, Service } from '@aws-sdk/client-ecs'
import type { Clock, Runner } from '../shared/runner.js'
import { describeError } from '../shared/errors.js'
import type { EcsGateway, StoppedTask } from './ecs.js'
import {
  baselineOf,
  describeDeployment,
  formatDuration,
  judgeRollout,
  newEvents,
  progressLine,
  replacementOf,
  type Baseline,
  type FailureCause,
  type WatchedDeployment
} from './rollout.js'
import { deploymentHealthy } from './service-deployment.js'
import { shortRevision } from './task-definition.js'

/** Where a watch prints: service events after `since` (ECS's clock), each once. */
export interface EventFeed {
  since: number
  seen: Set<string>
}

interface PollRequest<T> {
  cluster: string
  service: string
  /** Epoch ms: the last look happens at it, never a sleep past it. */
  deadline: number
  /** Milliseconds until the next look, asked after each one. */
  interval: () => number
  events: EventFeed
  /** The deployment marked with `*` in progress lines, if any. */
  mark: () => string | undefined
  /** A verdict ends the loop; undefined keeps polling. */
  look: (service: Service) => T | undefined | Promise<T | undefined>
}

type PollOutcome<T> =
  | { kind: 'decided'; value: T; service: Service }
  | { kind: 'deadline'; service?: Service }
  | { kind: 'unreadable'; error: unknown; service?: Service }

/**
 * The one polling loop: describe the service, print a progress line and new events, ask
 * `look` for a verdict, sleep. A describe that keeps failing is retried by the gateway until
 * the deadline; only then does the loop give up, as `unreadable`.
 */
async function pollService<T>(
  ecs: EcsGateway,
  runner: Runner,
  clock: Clock,
  request: PollRequest<T>
): Promise<PollOutcome<T>> {
  const started = clock.now()
  const reader = ecs.until(request.deadline)
  let last: Service | undefined
  for (;;) {
    let service: Service
    try {
      service = await reader.describeService(request.cluster, request.service)
    } catch (error) {
      return { kind: 'unreadable', error, service: last }
    }
    last = service
    runner.info(progressLine(service, request.mark(), clock.now() - started))
    for (const event of newEvents(service, request.events.seen, request.events.since)) {
      runner.info(`  event ${event.createdAt?.toISOString().slice(11, 19) ?? ''} ${event.message}`)
    }
    const value = await request.look(service)
    if (value !== undefined) return { kind: 'decided', value, service }
    const now = clock.now()
    if (now >= request.deadline) return { kind: 'deadline', service }
    await clock.sleep(Math.min(request.interval(), request.deadline - now))
  }
}

/**
 * Why a deployment's tasks stopped, looked up in the background whenever more of them have
 * failed, so that no poll and no error line waits on the lookup. Each task is printed once.
 */
export class StoppedTaskLog {
  /** The latest lookup's tasks, newest first. */
  tasks: StoppedTask[] = []
  /** Why the latest lookup failed, if it did. */
  failure?: string
  private pending?: Promise<void>
  private again = false
  private readonly printed = new Set<string>()

  constructor(
    private readonly ecs: EcsGateway,
    private readonly runner: Runner,
    private readonly cluster: string,
    readonly deploymentId: string
  ) {}

  /** Starts a lookup, or asks for one more after the one under way. */
  refresh(): void {
    if (this.pending) {
      this.again = true
      return
    }
    this.pending = this.lookup().finally(() => {
      this.pending = undefined
      if (this.again) {
        this.again = false
        this.refresh()
      }
    })
  }

  /** Waits for the lookups under way, at most `ms`. */
  async settle(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    let waited = false
    const limit = new Promise<void>(resolve => {
      timer = setTimeout(() => {
        waited = true
        resolve()
      }, ms)
    })
    while (this.pending && !waited) await Promise.race([this.pending, limit])
    clearTimeout(timer)
  }

  get looking(): boolean {
    return this.pending !== undefined
  }

  private async lookup(): Promise<void> {
    try {
      const tasks = await this.ecs.stoppedTasks(this.cluster, this.deploymentId)
      this.tasks = tasks
      this.failure = undefined
      for (const task of [...tasks].reverse()) {
        if (this.printed.has(task.taskArn)) continue
        this.printed.add(task.taskArn)
        this.runner.info(`  stopped ${describeStoppedTask(task)}`)
      }
    } catch (error) {
      this.failure = describeError(error)
      this.runner.warning(
        `Could not read why the tasks of ${this.deploymentId} stopped: ${this.failure}`
      )
    }
  }
}

export interface WatchRequest {
  cluster: string
  service: string
  /** The deployment to watch, or `{ replacing }`: wait for ECS's rollback of that one and watch it. */
  deployment: WatchedDeployment | { replacing: string; baseline: string }
  deadline: number
  pollMs: number
  events: EventFeed
  /** wait-until: serving (serving.ts): asked while the rollout is in progress; true ends it. */
  serving?: (service: Service) => Promise<boolean>
}

export type WatchResult =
  | { kind: 'succeeded'; deploymentId: string; service: Service; elapsedMs: number }
  | {
      kind: 'failed'
      deploymentId: string
      cause: FailureCause
      reason: string
      ecsRollingBack: boolean
      stopped: StoppedTaskLog
      service?: Service
      elapsedMs: number
    }
  | {
      kind: 'superseded'
      deploymentId: string
      by: Deployment
      reason: string
      service: Service
      elapsedMs: number
    }
  | {
      /** The service could not be read until the deadline: nobody can say how it went. */
      kind: 'unknown'
      deploymentId: string
      reason: string
      service?: Service
      elapsedMs: number
    }

/**
 * Polls the service until the deployment completes, fails, is superseded or runs out of time:
 * one progress line per poll, new service events as they arrive, why its tasks stopped as
 * they fail. Once tasks have failed it looks twice as often, so a failure ECS marks is seen
 * within half an interval.
 */
export async function watchDeployment(
  ecs: EcsGateway,
  runner: Runner,
  clock: Clock,
  request: WatchRequest
): Promise<WatchResult> {
  const started = clock.now()
  const given = request.deployment
  let watched: WatchedDeployment | undefined = 'id' in given ? given : undefined
  // Read only while `watched` is unset, which it is only when given `{ replacing }`.
  const replacing = given as { replacing: string; baseline: string }
  let stopped: StoppedTaskLog | undefined
  let failedTasks = 0
  const elapsed = () => clock.now() - started

  const outcome = await pollService<WatchResult>(ecs, runner, clock, {
    cluster: request.cluster,
    service: request.service,
    deadline: request.deadline,
    events: request.events,
    mark: () => watched?.id,
    interval: () => (failedTasks > 0 ? request.pollMs / 2 : request.pollMs),
    look: async service => {
      if (!watched) {
        const replacement = replacementOf(service, replacing.replacing)
        if (!replacement?.id) return undefined
        // ECS does not roll its own rollback back: nothing is proven behind it.
        watched = { id: replacement.id, taskDefinition: replacement.taskDefinition }
        if (replacement.taskDefinition !== replacing.baseline) {
          return {
            kind: 'superseded',
            deploymentId: replacing.replacing,
            by: replacement,
            reason: `${describeDeployment(replacement)} replaced deployment ${replacing.replacing}, not the circuit breaker's rollback to ${shortRevision(replacing.baseline)}`,
            service,
            elapsedMs: elapsed()
          }
        }
      }
      stopped ??= new StoppedTaskLog(
        ecs.until(request.deadline),
        runner,
        request.cluster,
        watched.id
      )
      const failed = service.deployments?.find(d => d.id === watched!.id)?.failedTasks ?? 0
      if (failed > failedTasks) {
        failedTasks = failed
        stopped.refresh()
      }
      const verdict = judgeRollout(service, watched)
      const common = { deploymentId: watched.id, elapsedMs: elapsed() }
      if (verdict.kind === 'succeeded') return { kind: 'succeeded', service, ...common }
      if (verdict.kind === 'superseded') return { ...verdict, service, ...common }
      if (verdict.kind === 'failed') {
        // Tasks may have failed since the last lookup: look again, without waiting for it.
        stopped.refresh()
        return { ...verdict, stopped, service, ...common }
      }
      if (request.serving && (await request.serving(service)))
        return { kind: 'succeeded', service, ...common, elapsedMs: elapsed() }
      return undefined
    }
  })
  if (outcome.kind === 'decided') return outcome.value
  const deploymentId = watched?.id ?? replacing.replacing
  if (outcome.kind === 'unreadable') {
    return {
      kind: 'unknown',
      deploymentId,
      reason: `the service could not be read: ${describeError(outcome.error)}`,
      service: outcome.service,
      elapsedMs: elapsed()
    }
  }
  const healthy =
    watched && (await stillRollingHealthily(ecs, request, outcome.service, watched, failedTasks))
  if (healthy) {
    return {
      kind: 'unknown',
      deploymentId,
      reason: `the step stopped watching after ${formatDuration(elapsed())}: ${healthy}`,
      service: outcome.service,
      elapsedMs: elapsed()
    }
  }
  stopped ??= new StoppedTaskLog(ecs.until(request.deadline), runner, request.cluster, deploymentId)
  stopped.refresh()
  return {
    kind: 'failed',
    deploymentId,
    cause: 'timed-out',
    reason: `the deployment did not complete within ${formatDuration(request.deadline - started)}`,
    ecsRollingBack: false,
    stopped,
    service: outcome.service,
    elapsedMs: elapsed()
  }
}

/**
 * At the deadline: why a rolling deployment ECS is still moving along healthily (every new task
 * running, none failed, the old ones still draining or stopping) is left to ECS instead of
 * rolled back, or undefined when it is failing or cannot be told (which rolls back as before).
 * The stopped tasks are read, one attempt, only when everything else looks healthy.
 */
async function stillRollingHealthily(
  ecs: EcsGateway,
  request: WatchRequest,
  service: Service | undefined,
  watched: WatchedDeployment,
  seenDuringWatch: number
): Promise<string | undefined> {
  const ours = service?.deployments?.find(d => d.id === watched.id)
  if (ours?.rolloutState !== 'IN_PROGRESS') return undefined
  if (!deploymentHealthy(ours, { seenDuringWatch, stopped: [] })) return undefined
  const stopped = await ecs
    .until(request.deadline)
    .stoppedTasks(request.cluster, watched.id)
    .catch(() => undefined)
  if (!deploymentHealthy(ours, { seenDuringWatch, stopped })) return undefined
  const others = (service?.deployments ?? []).filter(d => d.id !== watched.id)
  const draining = others.reduce((sum, d) => sum + (d.runningCount ?? 0), 0)
  return `deployment ${watched.id} is still in progress with all ${ours.runningCount} new tasks running and none failed${draining > 0 ? `, while ${draining} old task${draining === 1 ? '' : 's'} still run${draining === 1 ? 's' : ''} (draining or stopping)` : ''}, so it was left to ECS, not rolled back. Follow it in the ECS console, or give wait-for-minutes more time`
}

export type SettleResult =
  | { kind: 'settled'; service: Service; baseline: Extract<Baseline, { settled: true }> }
  | { kind: 'in-flight'; service?: Service; inFlight?: Deployment; reason: string }

/**
 * Before a step changes the service: if a rollout is in flight (another pipeline's, a
 * console edit, ECS's rollback), wait for it to settle, within the deadline, saying so.
 */
export async function settleService(
  ecs: EcsGateway,
  runner: Runner,
  clock: Clock,
  request: { cluster: string; service: string; deadline: number; pollMs: number; first: Service }
): Promise<SettleResult> {
  const first = baselineOf(request.first)
  if (first.settled) return { kind: 'settled', service: request.first, baseline: first }
  runner.info(
    `${describeDeployment(first.inFlight)} is still rolling out; waiting for it to settle before changing the service (until ${formatDuration(request.deadline - clock.now())} from now).`
  )
  let inFlight = first.inFlight
  const outcome = await runner.group(`Waiting for ${describeDeployment(inFlight)}`, () =>
    pollService(ecs, runner, clock, {
      cluster: request.cluster,
      service: request.service,
      deadline: request.deadline,
      interval: () => request.pollMs,
      events: { since: clock.now(), seen: new Set() },
      mark: () => inFlight.id,
      look: service => {
        const baseline = baselineOf(service)
        if (baseline.settled) return baseline
        inFlight = baseline.inFlight
        return undefined
      }
    })
  )
  if (outcome.kind === 'decided') {
    runner.info(
      `The service settled on ${describeDeployment(outcome.value.primary ?? inFlight)} (${outcome.value.primary?.rolloutState ?? 'steady'}).`
    )
    return { kind: 'settled', service: outcome.service, baseline: outcome.value }
  }
  return {
    kind: 'in-flight',
    service: outcome.service,
    inFlight,
    reason:
      outcome.kind === 'deadline'
        ? `${describeDeployment(inFlight)} was still rolling out at the deadline`
        : `the service could not be read while waiting: ${describeError(outcome.error)}`
  }
}

export function describeStoppedTask(task: StoppedTask): string {
  const id = task.taskArn.split('/').pop() ?? task.taskArn
  return `task ${id}: ${stopCause(task)}`
}

/** Why a task stopped, without which task: tasks of one bad revision usually share it. */
export function stopCause(task: StoppedTask): string {
  const containers = task.containers
    .filter(c => c.exitCode !== undefined || c.reason)
    .map(
      c =>
        `container ${c.name} exit code ${c.exitCode ?? 'none'}${c.reason ? ` (${c.reason})` : ''}`
    )
  const stop = [task.stoppedReason || 'no reason given', task.stopCode ? `[${task.stopCode}]` : '']
    .filter(Boolean)
    .join(' ')
  return `${stop}${containers.length ? `; ${containers.join('; ')}` : ''}`
}
