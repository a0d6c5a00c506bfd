import type { Service } from '@aws-sdk/client-ecs'
import type { Clock, Runner } from '../shared/runner.js'
import { describeError } from '../shared/errors.js'
import type { EcsGateway, StoppedTask } from './ecs.js'
import {
  formatDuration,
  judgeRollout,
  newEvents,
  progressLine,
  replacementOf,
  type FailureCause
} from './rollout.js'

export interface WatchRequest {
  cluster: string
  service: string
  /** The deployment to watch, or `{ replacing }` to wait for ECS's rollback of that one and watch it. */
  deployment: { id: string } | { replacing: string }
  timeoutMs: number
  pollMs: number
  /** Service events already printed, shared across the rollout and its rollback. */
  seenEvents?: Set<string>
}

export type WatchResult =
  | { kind: 'succeeded'; deploymentId: string; service: Service; elapsedMs: number }
  | {
      kind: 'failed'
      deploymentId: string
      cause: FailureCause
      reason: string
      ecsRollingBack: boolean
      stoppedTasks: StoppedTask[]
      service?: Service
      elapsedMs: number
    }

/** Consecutive failed polls tolerated before the watch gives up (the SDK already retried each). */
export const MAX_FAILED_POLLS = 5

/**
 * Polls the service until the deployment completes, fails or runs out of time: one progress
 * line per poll, new service events as they arrive, the stopped tasks' reasons as they fail.
 */
export async function watchDeployment(
  ecs: EcsGateway,
  runner: Runner,
  clock: Clock,
  request: WatchRequest
): Promise<WatchResult> {
  const started = clock.now()
  const deadline = started + request.timeoutMs
  const seenEvents = request.seenEvents ?? new Set<string>()
  const reportedTasks = new Set<string>()
  let deploymentId = 'id' in request.deployment ? request.deployment.id : ''
  let failedPolls = 0
  let lastService: Service | undefined
  let lastFailedTasks = 0

  const reportStoppedTasks = async (): Promise<StoppedTask[]> => {
    const tasks = await ecs.stoppedTasks(request.cluster, request.service, deploymentId)
    for (const task of tasks.filter(t => !reportedTasks.has(t.taskArn)).reverse()) {
      reportedTasks.add(task.taskArn)
      runner.info(`  stopped ${describeStoppedTask(task)}`)
    }
    return tasks
  }

  for (;;) {
    let service: Service | undefined
    try {
      service = await ecs.describeService(request.cluster, request.service)
      failedPolls = 0
    } catch (error) {
      failedPolls++
      runner.warning(
        `Polling service '${request.service}' failed (${failedPolls}/${MAX_FAILED_POLLS}): ${describeError(error)}`
      )
      if (failedPolls >= MAX_FAILED_POLLS) throw error
    }
    if (service) {
      lastService = service
      if ('replacing' in request.deployment && deploymentId === '') {
        deploymentId = replacementOf(service, request.deployment.replacing)?.id ?? ''
      }
      runner.info(progressLine(service, deploymentId, clock.now() - started))
      for (const event of newEvents(service, seenEvents, started - 2000)) {
        runner.info(
          `  event ${event.createdAt?.toISOString().slice(11, 19) ?? ''} ${event.message}`
        )
      }
      if (deploymentId !== '') {
        const verdict = judgeRollout(service, deploymentId)
        const ours = service.deployments?.find(d => d.id === deploymentId)
        const elapsedMs = clock.now() - started
        if (verdict.kind === 'succeeded')
          return { kind: 'succeeded', deploymentId, service, elapsedMs }
        if (verdict.kind === 'failed') {
          const stoppedTasks = await reportStoppedTasks().catch(() => [])
          return { ...verdict, deploymentId, stoppedTasks, service, elapsedMs }
        }
        if ((ours?.failedTasks ?? 0) > lastFailedTasks) {
          lastFailedTasks = ours?.failedTasks ?? 0
          await reportStoppedTasks().catch(error =>
            runner.warning(`Could not read stopped tasks: ${describeError(error)}`)
          )
        }
      }
    }
    const now = clock.now()
    if (now >= deadline) {
      const stoppedTasks = deploymentId ? await reportStoppedTasks().catch(() => []) : []
      return {
        kind: 'failed',
        deploymentId,
        cause: 'timed-out',
        reason: `the deployment did not complete within ${formatDuration(request.timeoutMs)}`,
        ecsRollingBack: false,
        stoppedTasks,
        service: lastService,
        elapsedMs: now - started
      }
    }
    // Once tasks of ours have failed, ECS may mark the rollout FAILED at any moment: look
    // twice as often, so the failure is reported well within one poll interval.
    const interval = lastFailedTasks > 0 ? request.pollMs / 2 : request.pollMs
    await clock.sleep(Math.min(interval, deadline - now))
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
