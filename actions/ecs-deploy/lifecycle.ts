/**
 * ECS's own BLUE_GREEN, LINEAR and CANARY deployments: a service deployment passes lifecycle
 * stages (scale-up, test traffic, production traffic in steps, bake time, clean-up), and
 * while the previous revision still runs a rollback is a traffic switch (StopServiceDeployment
 * with ROLLBACK), not a new deployment.
 *
 * - Pure: `lifecycleStrategy` (does the service use one), `judgeServiceDeployment` (a verdict
 *   from one look), `rollbackPossibility`, `stageLine` (what to print when a stage is entered),
 *   `readWaitUntil` (the `wait-until` input).
 * - I/O: `watchServiceDeployment` (the polling loop, results shaped like watch.ts's
 *   WatchResult) and `rollBackServiceDeployment` (StopServiceDeployment, then watch the rollback
 *   and time the return of production traffic). AWS calls go through EcsGateway.
 */
import type {
  Deployment,
  DeploymentConfiguration,
  DeploymentLifecycleHookDetail,
  DeploymentStrategy,
  Service,
  ServiceDeployment,
  ServiceDeploymentLifecycleStage
} from '@aws-sdk/client-ecs'
import { describeError, InputError } from '../shared/errors.js'
import type { Inputs } from '../shared/inputs.js'
import type { Clock, Runner } from '../shared/runner.js'
import { shortServiceDeployment, type EcsGateway } from './ecs.js'
import {
  formatDuration,
  newEvents,
  primaryDeployment,
  progressLine,
  tasksFailingUnwatched,
  type FailureCause
} from './rollout.js'
import { awaitingHook, decidePause, reachedTestTraffic } from './pause.js'
import { stopWatchingHealthy } from './service-deployment.js'
import { StoppedTaskLog, type EventFeed } from './watch.js'

// ---- inputs ------------------------------------------------------------------------------------

/**
 * When the step returns: `steady` (bake time and clean-up done), `traffic-shifted`,
 * `test-traffic` (waiting at the PAUSE hook that gates test traffic: pause.ts), or `serving`
 * (ROLLING: the new tasks healthy in their target groups, the old ones out: serving.ts).
 */
export type WaitUntil = 'steady' | 'traffic-shifted' | 'test-traffic' | 'serving'

export const WAIT_UNTIL_VALUES: readonly WaitUntil[] = [
  'steady',
  'traffic-shifted',
  'test-traffic',
  'serving'
]

/** The `wait-until` input; for ROLLING services `traffic-shifted` means the same as `steady`. */
export function readWaitUntil(inputs: Inputs): WaitUntil {
  const value = inputs.string('wait-until', 'steady')
  if ((WAIT_UNTIL_VALUES as readonly string[]).includes(value)) return value as WaitUntil
  throw new InputError(
    'wait-until',
    value,
    'use steady (wait for bake time and clean-up), traffic-shifted (return once all production traffic is on the new revision), test-traffic (return once the deployment waits at its PAUSE hook, test traffic on the new revision and production traffic not) or serving (ROLLING services: return once the new tasks are healthy in their target groups, without waiting for the old ones to drain)'
  )
}

// ---- what the service uses ---------------------------------------------------------------------

export type LifecycleStrategy = Extract<DeploymentStrategy, 'BLUE_GREEN' | 'LINEAR' | 'CANARY'>
const LIFECYCLE_STRATEGIES = new Set<string | undefined>(['BLUE_GREEN', 'LINEAR', 'CANARY'])

/** The service's strategy when its deployments pass lifecycle stages; undefined for ROLLING. */
export function lifecycleStrategy(service: Service): LifecycleStrategy | undefined {
  if ((service.deploymentController?.type ?? 'ECS') !== 'ECS') return undefined
  const strategy = service.deploymentConfiguration?.strategy
  return LIFECYCLE_STRATEGIES.has(strategy) ? (strategy as LifecycleStrategy) : undefined
}

/** How the service deployment moves production traffic, in words for the log and summary. */
export function describeStrategy(service: Service): string {
  const config: DeploymentConfiguration = service.deploymentConfiguration ?? {}
  const bake = `bake time ${config.bakeTimeInMinutes ?? 0} min`
  switch (lifecycleStrategy(service)) {
    case 'BLUE_GREEN':
      return `BLUE_GREEN (all production traffic at once, ${bake})`
    case 'LINEAR': {
      const linear = config.linearConfiguration
      return `LINEAR (${linear?.stepPercent ?? 10} % every ${linear?.stepBakeTimeInMinutes ?? 6} min, ${bake})`
    }
    case 'CANARY': {
      const canary = config.canaryConfiguration
      return `CANARY (${canary?.canaryPercent ?? 5} % for ${canary?.canaryBakeTimeInMinutes ?? 10} min, then the rest, ${bake})`
    }
    default:
      return 'ROLLING'
  }
}

// ---- one look ------------------------------------------------------------------------------------

/** What one look at a service deployment says. Pure: described state in, verdict out. */
export type LifecycleVerdict =
  | { kind: 'in-progress' }
  /** All production traffic is on the target: bake time has started (or clean-up). */
  | { kind: 'traffic-shifted' }
  | { kind: 'succeeded' }
  | {
      kind: 'failed'
      cause: FailureCause
      reason: string
      /** ECS is rolling the deployment back itself (or will: a hook failed, the breaker tripped). */
      ecsRollingBack: boolean
    }
  | { kind: 'rolled-back'; reason: string }
  /** Another service deployment replaced ours. */
  | { kind: 'superseded'; by: string; reason: string }
  /** It waits at a PAUSE hook for ContinueServiceDeployment (pause.ts decides what to do). */
  | { kind: 'awaiting-action'; hook: DeploymentLifecycleHookDetail }

/** What else one look saw: the service (its current service deployment, our deployment's tasks). */
export interface LifecycleContext {
  service?: Service
  /** Our ECS deployment (`ecs-svc/…`), for its failed task count. */
  deploymentId?: string
  /** Service deployments older than ours: a described service that still names one is stale. */
  earlier?: readonly string[]
}

const ROLLING_BACK = new Set<string | undefined>(['ROLLBACK_REQUESTED', 'ROLLBACK_IN_PROGRESS'])

export function judgeServiceDeployment(
  sd: ServiceDeployment,
  context: LifecycleContext = {}
): LifecycleVerdict {
  const status = sd.status
  const reason = failureReason(sd)
  if (status === 'SUCCESSFUL') return { kind: 'succeeded' }
  if (status === 'ROLLBACK_SUCCESSFUL') return { kind: 'rolled-back', reason }
  if (ROLLING_BACK.has(status))
    return { kind: 'failed', cause: 'rollout-failed', reason, ecsRollingBack: true }
  if (status === 'ROLLBACK_FAILED')
    return {
      kind: 'failed',
      cause: 'rollout-failed',
      reason: `${reason}; the rollback failed as well`,
      ecsRollingBack: false
    }
  const current = context.service?.currentServiceDeployment
  if (current && current !== sd.serviceDeploymentArn && !context.earlier?.includes(current)) {
    return {
      kind: 'superseded',
      by: current,
      reason: `service deployment ${shortServiceDeployment(current)} replaced ${shortServiceDeployment(sd.serviceDeploymentArn ?? '')}`
    }
  }
  if (status === 'STOPPED' || status === 'STOP_REQUESTED')
    return { kind: 'failed', cause: 'rollout-failed', reason, ecsRollingBack: false }

  // Under way. A failed hook or a tripped breaker is a failure now, before ECS says so.
  // A PAUSE hook that expired with CONTINUE is ECS moving on, as the service owner chose.
  const hook = sd.lifecycleHookDetails?.find(
    h => h.status === 'FAILED' || (h.status === 'TIMED_OUT' && !pauseContinued(h))
  )
  if (hook) {
    return {
      kind: 'failed',
      cause: 'rollout-failed',
      reason: `lifecycle hook ${hookName(hook.targetArn)} ${hook.status} at ${sd.lifecycleStage ?? 'its stage'}${hook.targetType === 'PAUSE' && hook.status === 'TIMED_OUT' ? `: nobody answered it, and ECS applied its timeout action ${hook.timeoutAction ?? 'ROLLBACK'}` : ''}`,
      ecsRollingBack: hook.status === 'FAILED' || hook.timeoutAction === 'ROLLBACK'
    }
  }
  const breaker = context.service?.deploymentConfiguration?.deploymentCircuitBreaker
  if (sd.deploymentCircuitBreaker?.status === 'TRIGGERED') {
    return {
      kind: 'failed',
      cause: 'rollout-failed',
      reason: `the deployment circuit breaker tripped after ${sd.deploymentCircuitBreaker.failureCount ?? '?'} failed tasks`,
      ecsRollingBack: breaker?.rollback === true
    }
  }
  if (context.service) {
    const ours = context.service.deployments?.find(d => d.id === context.deploymentId)
    const failing = ours && tasksFailingUnwatched(context.service, ours)
    if (failing) return failing
  }
  const paused = awaitingHook(sd)
  if (paused) return { kind: 'awaiting-action', hook: paused }
  if (sd.lifecycleStage === 'BAKE_TIME' || sd.lifecycleStage === 'CLEAN_UP')
    return { kind: 'traffic-shifted' }
  return { kind: 'in-progress' }
}

function pauseContinued(hook: DeploymentLifecycleHookDetail): boolean {
  return hook.targetType === 'PAUSE' && hook.timeoutAction === 'CONTINUE'
}

/** ECS's own words for why a service deployment failed or rolled back (it has a status then). */
function failureReason(sd: ServiceDeployment): string {
  return (
    sd.rollback?.reason ||
    sd.statusReason ||
    `ECS reports service deployment ${shortServiceDeployment(sd.serviceDeploymentArn ?? '')} ${sd.status}`
  ).replace(/\.$/, '')
}

/** Whether StopServiceDeployment with ROLLBACK would put the previous revision back at once. */
export type RollbackPossibility = { possible: true } | { possible: false; why: string }

export function rollbackPossibility(sd: ServiceDeployment): RollbackPossibility {
  const status = sd.status ?? 'PENDING'
  if (ROLLING_BACK.has(status)) return { possible: false, why: 'ECS is already rolling it back' }
  if (status !== 'PENDING' && status !== 'IN_PROGRESS')
    return { possible: false, why: `the service deployment has ended (${status})` }
  if ((sd.sourceServiceRevisions ?? []).length === 0)
    return { possible: false, why: 'there is no previous revision: it is the first deployment' }
  if (sd.lifecycleStage === 'CLEAN_UP')
    return {
      possible: false,
      why: 'the previous revision is being scaled down (CLEAN_UP)'
    }
  return { possible: true }
}

// ---- what to print --------------------------------------------------------------------------

/** Percent of production and test traffic on the target (new) revision, as ECS reports it. */
export function trafficOnTarget(sd: ServiceDeployment): { production?: number; test?: number } {
  return {
    production: sd.targetServiceRevision?.requestedProductionTrafficWeight,
    test: sd.targetServiceRevision?.requestedTestTrafficWeight
  }
}

/** What identifies a stage as printed: the stage, the traffic split and the hook states. */
export function stageKey(sd: ServiceDeployment): string {
  const traffic = trafficOnTarget(sd)
  const hooks = (sd.lifecycleHookDetails ?? []).map(h => `${h.targetArn}=${h.status}`).join(',')
  return `${sd.lifecycleStage}|${traffic.production}|${traffic.test}|${hooks}|${sd.status}`
}

/**
 * The line printed when a stage is entered (or its traffic or hooks change): the time since
 * the update, the stage, production traffic split for LINEAR and CANARY steps, test traffic,
 * and each hook's state.
 */
export function stageLine(sd: ServiceDeployment, sinceUpdateMs: number): string {
  const stage = sd.lifecycleStage ?? 'no stage'
  const { production } = trafficOnTarget(sd)
  const test = trafficOnTarget(sd).test ?? 0
  // A weight a hair under 100 (ECS's floating point) is all the test traffic.
  const allTest = 100 - 1e-9
  const parts: string[] = []
  if (production !== undefined) {
    parts.push(
      production > 0 && production < 100
        ? `production traffic ${formatPercent(production)} on the new revision, ${formatPercent(100 - production)} on the previous one`
        : `production traffic on the ${production >= 100 ? 'new' : 'previous'} revision`
    )
  }
  if (test > 0 && test < allTest)
    parts.push(`test traffic ${formatPercent(test)} on the new revision`)
  else if (test >= allTest && (production ?? 0) < 100)
    parts.push('test traffic on the new revision')
  const hooks = (sd.lifecycleHookDetails ?? []).map(
    h =>
      `${hookName(h.targetArn)} ${h.status ?? 'UNKNOWN'}${h.status === 'AWAITING_ACTION' && h.expiresAt ? ` (expires ${h.expiresAt.toISOString().slice(0, 19)}Z, then ${h.timeoutAction ?? 'ROLLBACK'})` : ''}`
  )
  if (hooks.length > 0) parts.push(`hooks: ${hooks.join(', ')}`)
  const status = sd.status && sd.status !== 'IN_PROGRESS' ? ` [${sd.status}]` : ''
  return `[${formatDuration(sinceUpdateMs)} since the update] ${stage}${status}${parts.length > 0 ? `: ${parts.join('; ')}` : ''}`
}

/** The stages a service deployment goes through, in order, as ECS documents them. */
export const STAGE_ORDER: readonly string[] = [
  'RECONCILE_SERVICE',
  'PRE_SCALE_UP',
  'SCALE_UP',
  'POST_SCALE_UP',
  'TEST_TRAFFIC_SHIFT',
  'POST_TEST_TRAFFIC_SHIFT',
  // Before every production traffic step of LINEAR and CANARY (ServiceDeploymentLifecycleStage).
  'PRE_PRODUCTION_TRAFFIC_SHIFT',
  'PRODUCTION_TRAFFIC_SHIFT',
  'POST_PRODUCTION_TRAFFIC_SHIFT',
  'BAKE_TIME',
  'CLEAN_UP'
]

/**
 * Stages a deployment went through between two looks: those strictly between the last one
 * seen and the one seen now, in ECS's order. A stage as short as a poll is still printed, as
 * passed. RECONCILE_SERVICE comes only when ECS needs it, so it is never inferred: before the
 * first look the stages count from PRE_SCALE_UP.
 */
export function stagesBetween(previous: string | undefined, current: string): string[] {
  if (previous !== undefined && !STAGE_ORDER.includes(previous)) return []
  if (!STAGE_ORDER.includes(current)) return []
  const from =
    previous === undefined ? STAGE_ORDER.indexOf('PRE_SCALE_UP') : STAGE_ORDER.indexOf(previous) + 1
  return STAGE_ORDER.slice(from, STAGE_ORDER.indexOf(current))
}

function formatPercent(value: number): string {
  return `${Number.isInteger(value) ? value : value.toFixed(1)} %`
}

/** A hook's Lambda by its function name; a PAUSE hook has none. */
function hookName(arn: string | undefined): string {
  if (!arn) return 'pause hook'
  return arn.split(':function:').pop() ?? arn
}

// ---- the watch ----------------------------------------------------------------------------------

/** A stage as the watch first saw it, for the summary and the timeline. */
export interface StageVisit {
  stage: ServiceDeploymentLifecycleStage | string
  /** Clock ms of the poll that first saw it. */
  at: number
  /** Percent of production traffic on the new revision then. */
  production?: number
}

export interface LifecycleWatchRequest {
  cluster: string
  service: string
  serviceDeploymentArn: string
  /** Our ECS deployment (`ecs-svc/…`) and its revision: stopped tasks and progress lines. */
  deployment: { id: string; taskDefinition: string }
  /**
   * What ends the watch: `steady` (SUCCESSFUL), `traffic-shifted` (bake time started), or
   * `rolled-back` (watching a rollback of it: ROLLBACK_SUCCESSFUL).
   */
  until: WaitUntil | 'rolled-back'
  /** Clock ms of the UpdateService (or of the stop): stage lines count from it. */
  since: number
  deadline: number
  pollMs: number
  events: EventFeed
  /**
   * Set by a step that answered the deployment's test-traffic gate: it continues the pauses
   * before later LINEAR and CANARY steps (pause.ts), once each.
   */
  pauses?: { answered: Set<string>; answer(hookId: string): Promise<void> }
  /** The stage the deployment was in when the watch began, if known: earlier ones are not "passed". */
  fromStage?: string
  /** Service deployments older than ours (the one the service named before the update). */
  earlier?: readonly string[]
}

interface Seen {
  deploymentId: string
  serviceDeploymentArn: string
  stages: StageVisit[]
  elapsedMs: number
}

/** Shaped like watch.ts's WatchResult (the same kinds and fields), with the lifecycle's extras. */
export type LifecycleWatchResult =
  | (Seen & {
      kind: 'succeeded'
      reached: WaitUntil | 'rolled-back'
      /** test-traffic: the hook it waits at. */
      hook?: DeploymentLifecycleHookDetail
      service: Service
      serviceDeployment: ServiceDeployment
      /** `rolled-back` only: clock ms of the first look with no production traffic on the new revision. */
      trafficReturnedAt?: number
    })
  | (Seen & {
      kind: 'failed'
      cause: FailureCause
      reason: string
      ecsRollingBack: boolean
      stopped: StoppedTaskLog
      service?: Service
      serviceDeployment?: ServiceDeployment
      /** Whether StopServiceDeployment could still put the previous revision back at once. */
      rollback: RollbackPossibility
    })
  | (Seen & {
      kind: 'superseded'
      by: Deployment
      reason: string
      service: Service
    })
  | (Seen & {
      kind: 'unknown'
      reason: string
      service?: Service
    })

/**
 * Polls the service and its service deployment until the deployment reaches `until`, fails,
 * is superseded or runs out of time. Each poll prints one progress line and new service events;
 * each stage (and each traffic step, each hook state) is printed once as it is entered. A failed
 * hook or a tripped breaker ends the watch on the poll that sees it, before ECS's rollback runs.
 */
export async function watchServiceDeployment(
  ecs: EcsGateway,
  runner: Runner,
  clock: Clock,
  request: LifecycleWatchRequest
): Promise<LifecycleWatchResult> {
  const started = clock.now()
  const reader = ecs.until(request.deadline)
  const seen: Seen = {
    deploymentId: request.deployment.id,
    serviceDeploymentArn: request.serviceDeploymentArn,
    stages: [],
    elapsedMs: 0
  }
  const stopped = new StoppedTaskLog(reader, runner, request.cluster, request.deployment.id)
  let failedTasks = 0
  let lastKey: string | undefined
  let trafficReturnedAt: number | undefined
  const pauseLines = new Set<string>()
  let service: Service | undefined
  let sd: ServiceDeployment | undefined
  const done = () => ({ ...seen, elapsedMs: clock.now() - started })

  for (;;) {
    try {
      service = await reader.describeService(request.cluster, request.service)
      sd = await reader.describeServiceDeployment(request.serviceDeploymentArn)
    } catch (error) {
      return {
        ...done(),
        kind: 'unknown',
        reason: `the service deployment could not be read: ${describeError(error)}`,
        service
      }
    }
    const now = clock.now()
    runner.info(progressLine(service, request.deployment.id, now - started))
    for (const event of newEvents(service, request.events.seen, request.events.since)) {
      runner.info(`  event ${event.createdAt?.toISOString().slice(11, 19) ?? ''} ${event.message}`)
    }
    const stage = sd.lifecycleStage
    const entered = stage !== undefined && seen.stages.at(-1)?.stage !== stage
    // Stages entered and left between two looks are printed too, as passed.
    if (entered && request.until !== 'rolled-back') {
      for (const passed of stagesBetween(seen.stages.at(-1)?.stage ?? request.fromStage, stage)) {
        runner.info(
          `[${formatDuration(now - request.since)} since the update] ${passed}: passed between two looks`
        )
        seen.stages.push({ stage: passed, at: now })
      }
    }
    const key = stageKey(sd)
    if (key !== lastKey) {
      lastKey = key
      runner.info(stageLine(sd, now - request.since))
    }
    if (entered) seen.stages.push({ stage, at: now, production: trafficOnTarget(sd).production })
    if (
      request.until === 'rolled-back' &&
      trafficReturnedAt === undefined &&
      trafficOnTarget(sd).production === 0
    )
      trafficReturnedAt = now
    const failedNow =
      service.deployments?.find(d => d.id === request.deployment.id)?.failedTasks ?? 0
    if (failedNow > failedTasks) {
      failedTasks = failedNow
      stopped.refresh()
    }

    const verdict = judgeServiceDeployment(sd, {
      service: request.until === 'rolled-back' ? undefined : service,
      deploymentId: request.deployment.id,
      earlier: request.earlier
    })
    const result = decide(verdict, request.until, sd)
    if (result === 'succeeded')
      return {
        ...done(),
        kind: 'succeeded',
        reached: request.until,
        hook: verdict.kind === 'awaiting-action' ? verdict.hook : undefined,
        service,
        serviceDeployment: sd,
        trafficReturnedAt
      }
    if (
      result === undefined &&
      verdict.kind === 'awaiting-action' &&
      request.until !== 'rolled-back'
    ) {
      const pause = decidePause(sd, verdict.hook, {
        now,
        deadline: request.deadline,
        answered: request.pauses?.answered
      })
      // Once per hook and decision: the countdown is in the stage line.
      const once = `${verdict.hook.hookId}|${pause.kind}`
      if (!pauseLines.has(once)) {
        pauseLines.add(once)
        runner.info(pause.kind === 'give-up' ? pause.reason : pause.line)
      }
      if (pause.kind === 'answer') await request.pauses!.answer(verdict.hook.hookId ?? '')
      if (pause.kind === 'give-up') {
        stopped.refresh()
        return {
          ...done(),
          kind: 'failed',
          cause: 'rollout-failed',
          reason: pause.reason,
          ecsRollingBack: false,
          stopped,
          service,
          serviceDeployment: sd,
          rollback: rollbackPossibility(sd)
        }
      }
    }
    if (result === 'superseded') {
      // decide says superseded for a superseded verdict only.
      const { by, reason } = verdict as Extract<LifecycleVerdict, { kind: 'superseded' }>
      return {
        ...done(),
        kind: 'superseded',
        by: primaryDeployment(service) ?? { id: by },
        reason,
        service
      }
    }
    if (result === 'failed') {
      stopped.refresh()
      // Failed, rolled back by ECS, or (watching a rollback) completed instead.
      const failure =
        verdict.kind === 'failed'
          ? verdict
          : verdict.kind === 'rolled-back'
            ? {
                cause: 'rollout-failed' as const,
                reason: `ECS rolled the service deployment back: ${verdict.reason}`,
                ecsRollingBack: true
              }
            : request.until === 'test-traffic'
              ? {
                  cause: 'rollout-failed' as const,
                  reason: `it moved past the test-traffic gate before this step saw it wait (${sd.status} at ${sd.lifecycleStage ?? 'no stage'}): production traffic reached the new revision without the gate`,
                  ecsRollingBack: false
                }
              : {
                  cause: 'rollout-failed' as const,
                  reason: `the rollback did not happen: the service deployment ended ${sd.status}`,
                  ecsRollingBack: false
                }
      return {
        ...done(),
        kind: 'failed',
        ...failure,
        stopped,
        service,
        serviceDeployment: sd,
        rollback: rollbackPossibility(sd)
      }
    }
    if (now >= request.deadline) {
      // A healthy deployment that ECS is still moving along is left to it, not rolled back.
      const healthy =
        request.until !== 'rolled-back' &&
        (await stopWatchingHealthy(
          reader,
          {
            cluster: request.cluster,
            deploymentId: request.deployment.id,
            watchedMs: formatDuration(now - started)
          },
          sd,
          service,
          failedTasks
        ))
      if (healthy) return { ...done(), kind: 'unknown', reason: healthy, service }
      stopped.refresh()
      return {
        ...done(),
        kind: 'failed',
        cause: 'timed-out',
        reason: `the service deployment did not ${request.until === 'rolled-back' ? 'roll back' : request.until === 'traffic-shifted' ? 'shift production traffic' : request.until === 'test-traffic' ? 'wait at its test-traffic gate' : 'complete'} within ${formatDuration(request.deadline - started)} (last stage ${sd.lifecycleStage ?? 'unknown'})`,
        ecsRollingBack: false,
        stopped,
        service,
        serviceDeployment: sd,
        rollback: rollbackPossibility(sd)
      }
    }
    // Once tasks have failed, look twice as often: a failure is seen within half an interval.
    const interval = failedTasks > 0 ? request.pollMs / 2 : request.pollMs
    await clock.sleep(Math.min(interval, request.deadline - now))
  }
}

/** How a verdict ends a watch that waits for `until`; undefined keeps polling. */
export function decide(
  verdict: LifecycleVerdict,
  until: WaitUntil | 'rolled-back',
  sd: ServiceDeployment = {}
): 'succeeded' | 'failed' | 'superseded' | undefined {
  if (until === 'test-traffic') {
    if (verdict.kind === 'awaiting-action') return reachedTestTraffic(sd) ? 'succeeded' : undefined
    // Past the gate without this step seeing it wait: production traffic went on ungated.
    if (verdict.kind === 'traffic-shifted' || verdict.kind === 'succeeded') return 'failed'
  }
  if (until === 'rolled-back') {
    if (verdict.kind === 'rolled-back') return 'succeeded'
    if (verdict.kind === 'failed') return verdict.ecsRollingBack ? undefined : 'failed'
    if (verdict.kind === 'succeeded') return 'failed'
    return undefined
  }
  switch (verdict.kind) {
    case 'succeeded':
      return 'succeeded'
    case 'traffic-shifted':
      return until === 'traffic-shifted' ? 'succeeded' : undefined
    case 'failed':
    case 'rolled-back':
      return 'failed'
    case 'superseded':
      return 'superseded'
    default:
      return undefined
  }
}

// ---- the rollback -----------------------------------------------------------------------------

export interface LifecycleRollbackRequest extends Omit<LifecycleWatchRequest, 'until' | 'since'> {
  /** The deployment as last described, when the caller has it: saves one read. */
  serviceDeployment?: ServiceDeployment
}

export type LifecycleRollback =
  /** StopServiceDeployment cannot help: roll back with a new deployment instead. */
  | { kind: 'not-possible'; why: string }
  | {
      kind: 'stopped'
      /** Clock ms the StopServiceDeployment was sent. */
      requestedAt: number
      /** The reply was lost and the deployment read back as rolling back. */
      readBack: boolean
      /** From the request to the first look with production traffic back on the previous revision. */
      trafficReturnedMs?: number
      result: LifecycleWatchResult
    }

/**
 * Rolls a service deployment back while the previous revision still runs: one
 * StopServiceDeployment with ROLLBACK, then the watch until ROLLBACK_SUCCESSFUL. Says how long
 * production traffic took to return.
 */
export async function rollBackServiceDeployment(
  ecs: EcsGateway,
  runner: Runner,
  clock: Clock,
  request: LifecycleRollbackRequest
): Promise<LifecycleRollback> {
  const gateway = ecs.until(request.deadline)
  const current =
    request.serviceDeployment ??
    (await gateway.describeServiceDeployment(request.serviceDeploymentArn))
  const possibility = rollbackPossibility(current)
  if (!possibility.possible) return { kind: 'not-possible', why: possibility.why }
  const requestedAt = clock.now()
  const sent = await gateway.stopServiceDeployment(request.serviceDeploymentArn, 'ROLLBACK')
  runner.info(
    sent.readBack
      ? `The reply to StopServiceDeployment was lost; reading it back shows ${sent.serviceDeployment?.status}, so the rollback is under way.`
      : `Stopped service deployment ${shortServiceDeployment(request.serviceDeploymentArn)} with ROLLBACK: production traffic goes back to the previous revision.`
  )
  const result = await watchServiceDeployment(ecs, runner, clock, {
    ...request,
    until: 'rolled-back',
    since: requestedAt
  })
  const returnedAt = result.kind === 'succeeded' ? result.trafficReturnedAt : undefined
  const trafficReturnedMs = returnedAt === undefined ? undefined : returnedAt - requestedAt
  if (trafficReturnedMs !== undefined)
    runner.info(
      `Production traffic was back on the previous revision ${formatDuration(trafficReturnedMs)} after the rollback request (${trafficReturnedMs} ms).`
    )
  return { kind: 'stopped', requestedAt, readBack: sent.readBack, trafficReturnedMs, result }
}
