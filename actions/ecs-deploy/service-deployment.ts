/**
 * The service deployment a step started, and how long its strategy needs, read the way AWS
 * documents them rather than the way a quick look suggests:
 *
 * - `Service.currentServiceDeployment` may still name the previous service deployment right
 *   after UpdateService, whose reply carries no service deployment ARN. Ours is the one
 *   ListServiceDeployments shows created since our update, on our revision.
 * - LINEAR and CANARY shift production traffic in steps minutes apart (LinearConfiguration,
 *   CanaryConfiguration); a `wait-for-minutes` shorter than the steps and bake time is refused
 *   before any change.
 * - A deadline that passes while ECS still moves a healthy deployment along stops the watch;
 *   it does not roll the deployment back.
 *
 * Pure: `pickServiceDeployment`, `minutesToReach`, `shortWaitRefusal`, `progressingNormally`.
 * I/O: `findOurServiceDeployment` (polls ListServiceDeployments through EcsGateway).
 */
import type { Deployment, Service, ServiceDeployment } from '@aws-sdk/client-ecs'
import { describeError } from '../shared/errors.js'
import type { Clock, Runner } from '../shared/runner.js'
import type { EcsGateway, StoppedTask } from './ecs.js'
import type { LifecycleStrategy, WaitUntil } from './lifecycle.js'

// ---- which service deployment is ours ----------------------------------------------------------

/** A service deployment as ListServiceDeployments and DescribeServiceRevisions show it. */
export interface ListedServiceDeployment {
  serviceDeploymentArn: string
  createdAt?: Date
  /** The task definition of its target service revision. */
  taskDefinition: string
}

export interface OurDeploymentClues {
  /** ECS's own time (epoch ms) our ECS deployment was created, or the update was sent. */
  createdFrom: number
  /** Our revision. */
  taskDefinition: string
  /** Service deployments that existed before our update: never ours. */
  before: readonly string[]
}

/** ECS's clock and ours differ a little: a service deployment this much older may still be ours. */
export const CREATED_SKEW_MS = 60_000

/**
 * Ours: created since our update (within the clocks' skew), on our revision, and not one the
 * service had before. The newest such one when several match.
 */
export function pickServiceDeployment(
  listed: readonly ListedServiceDeployment[],
  clues: OurDeploymentClues
): string | undefined {
  return [...listed]
    .filter(
      sd =>
        !clues.before.includes(sd.serviceDeploymentArn) &&
        sd.taskDefinition === clues.taskDefinition &&
        (sd.createdAt?.valueOf() ?? 0) >= clues.createdFrom - CREATED_SKEW_MS
    )
    .sort((a, b) => (b.createdAt?.valueOf() ?? 0) - (a.createdAt?.valueOf() ?? 0))[0]
    ?.serviceDeploymentArn
}

/**
 * Polls ListServiceDeployments until ours is listed (the listing, too, may lag the update a
 * moment), at most until the deadline. Undefined when it never showed.
 */
export async function findOurServiceDeployment(
  ecs: EcsGateway,
  clock: Clock,
  request: { cluster: string; service: string; pollMs: number; deadline: number },
  clues: OurDeploymentClues
): Promise<string | undefined> {
  const wait = Math.max(100, Math.min(request.pollMs / 4, 2_000))
  for (;;) {
    const listed = await ecs.recentServiceDeployments(
      request.cluster,
      request.service,
      clues.createdFrom - CREATED_SKEW_MS
    )
    const ours = pickServiceDeployment(listed, clues)
    if (ours || clock.now() + wait >= request.deadline) return ours
    await clock.sleep(wait)
  }
}

/** How long the lookup waits for the listing to show ours before watching without it. */
const LOOKUP_MS = 60_000

/**
 * The service deployment an UpdateService started: looked up with ListServiceDeployments, never
 * read from the update's reply, whose `currentServiceDeployment` may still be the previous one.
 * An update that started no deployment watches the current one. Empty when it cannot be found
 * (or listed at all): the step then watches the ECS deployment as a rolling one.
 */
export async function ourServiceDeploymentArn(
  ecs: EcsGateway,
  clock: Clock,
  runner: Runner,
  request: {
    cluster: string
    service: string
    pollMs: number
    deadline: number
    /** The service as described just before the update. */
    before: Service
    updated: { service: Service; deployment?: Deployment; startedAt: number }
    taskDefinition: string
  }
): Promise<string> {
  const { updated } = request
  if (!updated.deployment) return updated.service.currentServiceDeployment ?? ''
  try {
    const found = await findOurServiceDeployment(
      ecs,
      clock,
      { ...request, deadline: Math.min(request.deadline, clock.now() + LOOKUP_MS) },
      {
        createdFrom: updated.deployment.createdAt?.valueOf() ?? updated.startedAt,
        taskDefinition: request.taskDefinition,
        before: request.before.currentServiceDeployment
          ? [request.before.currentServiceDeployment]
          : []
      }
    )
    if (!found)
      runner.info(
        `ListServiceDeployments did not show the service deployment of ${updated.deployment.id}; watching the ECS deployment instead.`
      )
    return found ?? ''
  } catch (error) {
    runner.info(
      `The service deployment of ${updated.deployment.id} could not be looked up (${describeError(error)}); watching the ECS deployment instead.`
    )
    return ''
  }
}

// ---- how long the strategy needs ----------------------------------------------------------------

/** ECS's documented defaults (LinearConfiguration, CanaryConfiguration in @aws-sdk/client-ecs). */
const LINEAR_DEFAULTS = { stepPercent: 10, stepBakeTimeInMinutes: 6 }
const CANARY_DEFAULTS = { canaryPercent: 5, canaryBakeTimeInMinutes: 10 }

/**
 * Minutes the service's strategy takes by itself to reach `until`, beyond starting the tasks:
 * the waits between production traffic steps (LINEAR: one per step after the first, "not
 * applied after reaching 100 percent traffic"; CANARY: the canary's bake), then the bake time
 * unless the step returns once traffic has shifted.
 */
export function minutesToReach(service: Service, until: WaitUntil): number {
  // test-traffic returns at the first PAUSE hook, before any production traffic step.
  if (until === 'test-traffic') return 0
  const config = service.deploymentConfiguration ?? {}
  let steps = 0
  switch (config.strategy) {
    case 'LINEAR': {
      const linear = { ...LINEAR_DEFAULTS, ...definedOnly(config.linearConfiguration) }
      const shifts = Math.ceil(100 / Math.max(linear.stepPercent, 0.1))
      steps = (shifts - 1) * linear.stepBakeTimeInMinutes
      break
    }
    case 'CANARY': {
      const canary = { ...CANARY_DEFAULTS, ...definedOnly(config.canaryConfiguration) }
      steps = canary.canaryPercent >= 100 ? 0 : canary.canaryBakeTimeInMinutes
      break
    }
    case 'BLUE_GREEN':
      break
    default:
      return 0
  }
  return steps + (until === 'traffic-shifted' ? 0 : (config.bakeTimeInMinutes ?? 0))
}

/**
 * Why `wait-for-minutes` cannot cover the service's strategy, or undefined when it can. The
 * step also needs time to start the tasks, so a wait equal to the strategy's own is too short.
 */
export function shortWaitRefusal(
  service: Service,
  strategy: LifecycleStrategy | undefined,
  wait: { waitMs: number; waitUntil: WaitUntil }
): string | undefined {
  if (!strategy) return undefined
  const needed = minutesToReach(service, wait.waitUntil)
  const minutes = wait.waitMs / 60_000
  if (needed === 0 || minutes > needed) return undefined
  const config = service.deploymentConfiguration ?? {}
  const what =
    wait.waitUntil === 'traffic-shifted'
      ? 'to shift all production traffic'
      : `to shift all production traffic and bake (${config.bakeTimeInMinutes ?? 0} min)`
  const alternative =
    wait.waitUntil === 'steady' && (config.bakeTimeInMinutes ?? 0) > 0
      ? `, or set wait-until: traffic-shifted (it needs ${minutesToReach(service, 'traffic-shifted')} min)`
      : ''
  return `Service '${service.serviceName}' deploys with ${strategy}, which takes ${needed} minutes ${what}; wait-for-minutes is ${minutes}, so the step would stop before the deployment could finish. Nothing was changed. Set wait-for-minutes above ${needed}${alternative}.`
}

function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(
    Object.entries(value ?? {}).filter(([, v]) => v !== undefined)
  ) as Partial<T>
}

// ---- a deadline on a healthy deployment ----------------------------------------------------------

/** A stopped task the scheduler stopped to scale or drain, not a failure. */
function stoppedByScaling(task: StoppedTask): boolean {
  return task.stoppedReason.startsWith('Scaling activity initiated by')
}

/**
 * Whether a service deployment still moves along as ECS means it to when the step's deadline
 * passes: under way, no task of ours has failed (seen during the watch or among the stopped
 * tasks now), and every task of ours runs. Such a deployment is left to ECS, not rolled back.
 */
export function progressingNormally(
  sd: ServiceDeployment,
  ours: Deployment | undefined,
  failures: { seenDuringWatch: number; stopped: readonly StoppedTask[] | undefined }
): boolean {
  if (sd.status !== 'IN_PROGRESS' && sd.status !== 'PENDING') return false
  return deploymentHealthy(ours, failures)
}

/**
 * Whether our deployment (ECS's view of it, any strategy) has every task running and none
 * failed, seen during the watch or among the stopped tasks now: what is left is ECS's own work
 * (draining and stopping the old tasks, traffic steps, bake time), not a failure.
 */
export function deploymentHealthy(
  ours: Deployment | undefined,
  failures: { seenDuringWatch: number; stopped: readonly StoppedTask[] | undefined }
): boolean {
  if (!ours || failures.seenDuringWatch > 0 || (ours.failedTasks ?? 0) > 0) return false
  if (failures.stopped === undefined || !failures.stopped.every(stoppedByScaling)) return false
  const desired = ours.desiredCount ?? 0
  return desired > 0 && (ours.runningCount ?? 0) >= desired && (ours.pendingCount ?? 0) === 0
}

/** The reason a watch that stopped at the deadline gives: the deployment, its stage, and why. */
export function stoppedWatchingReason(sd: ServiceDeployment, watchedMs: string): string {
  return `the step stopped watching after ${watchedMs}: service deployment ${sd.serviceDeploymentArn ?? ''} is still in progress at stage ${sd.lifecycleStage ?? 'unknown'} with every new task running and none failed, so it was left to ECS, not rolled back. Follow it in the ECS console, or give wait-for-minutes more time`
}

/**
 * At the deadline: the reason to stop watching (and leave the deployment to ECS) when it
 * progresses normally, or undefined when it is failing or cannot be told, which rolls back as
 * before. The stopped tasks are read only when everything else looks healthy.
 */
export async function stopWatchingHealthy(
  ecs: EcsGateway,
  request: { cluster: string; deploymentId: string; watchedMs: string },
  sd: ServiceDeployment,
  service: Service,
  seenDuringWatch: number
): Promise<string | undefined> {
  const ours = service.deployments?.find(d => d.id === request.deploymentId)
  if (!progressingNormally(sd, ours, { seenDuringWatch, stopped: [] })) return undefined
  let stopped: StoppedTask[] | undefined
  try {
    stopped = await ecs.stoppedTasks(request.cluster, request.deploymentId)
  } catch {
    stopped = undefined
  }
  return progressingNormally(sd, ours, { seenDuringWatch, stopped })
    ? stoppedWatchingReason(sd, request.watchedMs)
    : undefined
}
