import type { Deployment, Service, ServiceEvent } from '@aws-sdk/client-ecs'
import { shortRevision } from './task-definition.js'

/** The deployment a step watches, and what it knows that the described service does not say. */
export interface WatchedDeployment {
  id: string
  /** For the reader: the verdict depends on the deployment's id alone. */
  taskDefinition?: string
  /**
   * The revision the service was proven on before (its last COMPLETED deployment). ECS's
   * circuit breaker can roll back only to such a deployment; without one it does not.
   */
  baseline?: string
}

/** What one look at the service says about a deployment. Pure: a described service in, a verdict out. */
export type RolloutVerdict =
  | { kind: 'in-progress' }
  | { kind: 'succeeded' }
  | {
      kind: 'failed'
      cause: FailureCause
      /** ECS's own words where it gave any. */
      reason: string
      /** ECS's circuit breaker is (or will be) putting the baseline back itself. */
      ecsRollingBack: boolean
    }
  | {
      /** Another deployment, not ECS's rollback of ours, is now the primary one. */
      kind: 'superseded'
      by: Deployment
      reason: string
    }

export type FailureCause = 'rollout-failed' | 'replaced' | 'tasks-failing' | 'timed-out'

/**
 * The circuit breaker's failure threshold, as ECS documents it: half the desired count,
 * at least 3 and at most 200. Used to fail fast on services that have no circuit breaker.
 */
export function failureThreshold(desiredCount: number): number {
  return Math.min(200, Math.max(3, Math.ceil(0.5 * desiredCount)))
}

/** Whether ECS's circuit breaker will roll this service back on its own. */
export function breakerRollsBack(service: Service): boolean {
  const breaker = service.deploymentConfiguration?.deploymentCircuitBreaker
  return breaker?.enable === true && breaker.rollback === true
}

/**
 * Judges one look at the service. The first look that sees the deployment FAILED decides, so
 * a deployment gone behind a newer primary on the baseline can only be the breaker's rollback.
 */
export function judgeRollout(service: Service, watched: WatchedDeployment): RolloutVerdict {
  const deployments = deploymentsOf(service)
  const ours = deployments.find(d => d.id === watched.id)
  const primary = primaryDeployment(service)
  const ecsCanRollBack = breakerRollsBack(service) && watched.baseline !== undefined

  // Completed is completed: a deployment started after ours finished does not undo that.
  if (ours?.rolloutState === 'COMPLETED') return { kind: 'succeeded' }
  if (primary && primary.id !== watched.id) {
    const failedFirst = ours?.rolloutState === 'FAILED' || ours === undefined
    const isEcsRollback =
      ecsCanRollBack && primary.taskDefinition === watched.baseline && failedFirst
    if (isEcsRollback) {
      return {
        kind: 'failed',
        cause: ours?.rolloutState === 'FAILED' ? 'rollout-failed' : 'replaced',
        reason:
          ours?.rolloutStateReason ||
          `the deployment circuit breaker replaced it with ${describeDeployment(primary)}`,
        ecsRollingBack: true
      }
    }
    return {
      kind: 'superseded',
      by: primary,
      reason: `${describeDeployment(primary)} replaced deployment ${watched.id}`
    }
  }
  if (!ours) return { kind: 'in-progress' }
  if (ours.rolloutState === 'FAILED') {
    return {
      kind: 'failed',
      cause: 'rollout-failed',
      reason: ours.rolloutStateReason || 'ECS marked the rollout FAILED',
      ecsRollingBack: ecsCanRollBack
    }
  }
  if (ours.rolloutState === undefined && isSteady(deployments, ours)) return { kind: 'succeeded' }
  return tasksFailingUnwatched(service, ours) ?? { kind: 'in-progress' }
}

/**
 * A service without a circuit breaker never marks a rollout FAILED: once as many of the
 * deployment's tasks have failed as the breaker would allow, the rollout has failed.
 */
export function tasksFailingUnwatched(
  service: Service,
  deployment: Deployment
): Extract<RolloutVerdict, { kind: 'failed' }> | undefined {
  const breaker = service.deploymentConfiguration?.deploymentCircuitBreaker
  if (breaker?.enable === true) return undefined
  if ((deployment.failedTasks ?? 0) < failureThreshold(deployment.desiredCount ?? 0))
    return undefined
  return {
    kind: 'failed',
    cause: 'tasks-failing',
    reason: `${deployment.failedTasks} tasks failed to start and the service has no deployment circuit breaker to stop the rollout`,
    ecsRollingBack: false
  }
}

/** Services without rollout state: done when ours is the only deployment and fully running. */
function isSteady(deployments: Deployment[], ours: Deployment): boolean {
  return (
    deployments.length === 1 &&
    (ours.pendingCount ?? 0) === 0 &&
    (ours.runningCount ?? 0) === (ours.desiredCount ?? 0)
  )
}

/**
 * Where the service stands before a step changes it: a rollout still in flight (someone
 * else's, or ECS's rollback), or settled, with the revision last proven healthy.
 */
export type Baseline =
  | { settled: false; inFlight: Deployment }
  | { settled: true; proven?: Deployment; primary?: Deployment }

export function baselineOf(service: Service): Baseline {
  const deployments = deploymentsOf(service)
  const primary = primaryDeployment(service)
  if (!primary) return { settled: true }
  if (primary.rolloutState === 'IN_PROGRESS') return { settled: false, inFlight: primary }
  if (primary.rolloutState === undefined) {
    return isSteady(deployments, primary)
      ? { settled: true, proven: primary, primary }
      : { settled: false, inFlight: primary }
  }
  // COMPLETED proves the primary; FAILED and left alone (no rollback), an older deployment
  // that completed may still serve.
  const proven = [primary, ...deployments].find(d => d.rolloutState === 'COMPLETED')
  return { settled: true, proven, primary }
}

/** The deployment ECS started in place of ours, once there is one. */
export function replacementOf(service: Service, deploymentId: string): Deployment | undefined {
  return deploymentsOf(service).find(d => d.status === 'PRIMARY' && d.id !== deploymentId)
}

export function primaryDeployment(service: Service): Deployment | undefined {
  return deploymentsOf(service).find(d => d.status === 'PRIMARY')
}

/** The service's deployments; a service described without them has none. */
function deploymentsOf(service: Service): Deployment[] {
  return service.deployments ?? []
}

export function describeDeployment(deployment: Deployment): string {
  return `deployment ${deployment.id} (${shortRevision(deployment.taskDefinition)})`
}

/** One compact line per poll: every deployment's counts and rollout state. */
export function progressLine(
  service: Service,
  deploymentId: string | undefined,
  elapsedMs: number
): string {
  const parts = deploymentsOf(service).map(d => {
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
 * only the latest 100; events from before `sinceMs` (our update, in ECS's own clock) belong
 * to earlier deployments.
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
