import type { Deployment, Service, ServiceEvent } from '@aws-sdk/client-ecs'
import { shortRevision } from './task-definition.js'

/** What one look at the service says about our deployment. Pure: a described service in, a verdict out. */
export type RolloutVerdict =
  | { kind: 'in-progress' }
  | { kind: 'succeeded' }
  | {
      kind: 'failed'
      cause: FailureCause
      /** ECS's own words where it gave any. */
      reason: string
      /** The deployment circuit breaker will (or did) put the last completed revision back itself. */
      ecsRollingBack: boolean
    }

export type FailureCause = 'rollout-failed' | 'replaced' | 'tasks-failing' | 'timed-out'

/**
 * The circuit breaker's failure threshold, as ECS documents it: half the desired count,
 * at least 3 and at most 200. Used to fail fast on services that have no circuit breaker.
 */
export function failureThreshold(desiredCount: number): number {
  return Math.min(200, Math.max(3, Math.ceil(0.5 * desiredCount)))
}

export function judgeRollout(service: Service, deploymentId: string): RolloutVerdict {
  const deployments = service.deployments ?? []
  const ours = deployments.find(d => d.id === deploymentId)
  const primary = deployments.find(d => d.status === 'PRIMARY')
  const breaker = service.deploymentConfiguration?.deploymentCircuitBreaker
  const ecsRollsBack = breaker?.enable === true && breaker.rollback === true

  if (!ours) {
    return {
      kind: 'failed',
      cause: 'replaced',
      reason: `deployment ${deploymentId} is no longer on the service${primary ? `; ${describeDeployment(primary)} replaced it` : ''}`,
      ecsRollingBack: ecsRollsBack && primary !== undefined
    }
  }
  if (ours.rolloutState === 'FAILED') {
    return {
      kind: 'failed',
      cause: 'rollout-failed',
      reason: ours.rolloutStateReason || 'ECS marked the rollout FAILED',
      ecsRollingBack: ecsRollsBack
    }
  }
  if (ours.status !== 'PRIMARY' && primary && primary.id !== ours.id) {
    return {
      kind: 'failed',
      cause: 'replaced',
      reason: `${describeDeployment(primary)} replaced it${ours.rolloutStateReason ? ` (${ours.rolloutStateReason})` : ''}`,
      ecsRollingBack: ecsRollsBack
    }
  }
  if (ours.rolloutState === 'COMPLETED') return { kind: 'succeeded' }
  if (ours.rolloutState === undefined) {
    // Services without rollout state: done when ours is the only deployment and fully running.
    const steady =
      deployments.length === 1 &&
      (ours.pendingCount ?? 0) === 0 &&
      ours.runningCount === ours.desiredCount
    if (steady) return { kind: 'succeeded' }
  }
  if (
    breaker?.enable !== true &&
    (ours.failedTasks ?? 0) >= failureThreshold(ours.desiredCount ?? 0)
  ) {
    return {
      kind: 'failed',
      cause: 'tasks-failing',
      reason: `${ours.failedTasks} tasks failed to start and the service has no deployment circuit breaker to stop the rollout`,
      ecsRollingBack: false
    }
  }
  return { kind: 'in-progress' }
}

/** The deployment ECS started in place of ours, once there is one. */
export function replacementOf(service: Service, deploymentId: string): Deployment | undefined {
  return (service.deployments ?? []).find(d => d.status === 'PRIMARY' && d.id !== deploymentId)
}

export function primaryDeployment(service: Service): Deployment | undefined {
  return (service.deployments ?? []).find(d => d.status === 'PRIMARY')
}

export function describeDeployment(deployment: Deployment): string {
  return `deployment ${deployment.id} (${shortRevision(deployment.taskDefinition)})`
}

/** One compact line per poll: every deployment's counts and rollout state. */
export function progressLine(service: Service, deploymentId: string, elapsedMs: number): string {
  const parts = (service.deployments ?? []).map(d => {
    const mark = d.id === deploymentId ? '*' : ''
    const state = d.rolloutState ? ` ${d.rolloutState}` : ''
    return (
      `${mark}${d.id} ${d.status}${state} ${shortRevision(d.taskDefinition)}: ` +
      `running ${d.runningCount ?? 0}/${d.desiredCount ?? 0}, pending ${d.pendingCount ?? 0}, failed ${d.failedTasks ?? 0}`
    )
  })
  return `[${formatDuration(elapsedMs)}] ${parts.join(' | ') || 'no deployments'}`
}

export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000))
  const m = Math.floor(seconds / 60)
  return m > 0 ? `${m}m${String(seconds % 60).padStart(2, '0')}s` : `${seconds}s`
}

/**
 * Service events not printed yet, oldest first. ECS lists events newest first and keeps
 * only the latest 100; events from before the watch began are history, not news.
 */
export function newEvents(service: Service, seen: Set<string>, sinceMs: number): ServiceEvent[] {
  const fresh = (service.events ?? []).filter(e => {
    const id = e.id ?? `${e.createdAt?.valueOf()}:${e.message}`
    if (seen.has(id)) return false
    seen.add(id)
    return (e.createdAt?.valueOf() ?? sinceMs) >= sinceMs
  })
  return fresh.reverse()
}
