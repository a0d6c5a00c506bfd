/**
 * Putting a proven revision back: after a failed rollout (ECS's own rollback, a traffic switch
 * while a blue/green deployment still runs the previous revision, or a new deployment), and
 * for an incident rollback-to while a blue/green deployment bakes. Never over someone else's
 * deployment.
 */
import type { Service } from '@aws-sdk/client-ecs'
import { AwsRejection } from '../shared/aws-call.js'
import type { RunContext } from '../shared/context.js'
import { describeError } from '../shared/errors.js'
import type { Clock, Runner } from '../shared/runner.js'
import type { DeployConfig } from './config.js'
import { NotApplied, shortServiceDeployment, type EcsGateway } from './ecs.js'
import {
  rollBackServiceDeployment,
  rollbackPossibility,
  watchServiceDeployment
} from './lifecycle.js'
import { ROLLED_BACK_TAG } from './previous.js'
import type { Recovery, RolloutResult, StepRecord } from './report.js'
import { recordRollbackMark } from './rollback-mark.js'
import { describeDeployment, formatDuration, primaryDeployment } from './rollout.js'
import { runTag, shortRevision } from './task-definition.js'
import { watchDeployment, type EventFeed } from './watch.js'

type Failed = Extract<RolloutResult, { kind: 'failed' }>

/** Tags a revision the service was rolled back from, so `previous` never returns to it. */
export async function markRolledBack(
  ecs: EcsGateway,
  runner: Runner,
  taskDefinition: string,
  context: RunContext
): Promise<void> {
  const value = [new Date().toISOString(), runTag(context)].filter(Boolean).join(' ')
  try {
    await ecs.tagTaskDefinition(taskDefinition, [{ key: ROLLED_BACK_TAG, value }])
    runner.info(
      `Tagged ${shortRevision(taskDefinition)} ${ROLLED_BACK_TAG}: 'previous' will not return to it.`
    )
  } catch (error) {
    runner.warning(
      `Could not tag ${shortRevision(taskDefinition)} as rolled back from (${describeError(error)}); rollback-to: previous may still choose it.`
    )
  }
}

export async function recover(
  ecs: EcsGateway,
  runner: Runner,
  clock: Clock,
  config: DeployConfig,
  step: StepRecord,
  failure: Failed,
  events: EventFeed
): Promise<Recovery> {
  const previous = step.previousArn ?? ''
  const target = step.target ?? ''
  const context = step.context
  const deadline = () => clock.now() + config.waitMs
  const lifecycle = 'rollback' in failure && step.serviceDeploymentArn ? failure : undefined
  const watched = { id: failure.deploymentId, taskDefinition: target }
  const mark = async () => {
    if (!config.rollbackTo && context)
      await markRolledBack(ecs.until(deadline()), runner, target, context)
  }

  if (failure.ecsRollingBack) {
    runner.info('ECS is rolling the service back; waiting for it to settle.')
    const from = clock.now()
    const result = await runner.group('Rollback by ECS', () =>
      lifecycle
        ? watchServiceDeployment(ecs, runner, clock, {
            cluster: config.cluster,
            service: config.service,
            serviceDeploymentArn: step.serviceDeploymentArn!,
            deployment: watched,
            until: 'rolled-back',
            since: from,
            deadline: deadline(),
            pollMs: config.pollMs,
            events
          })
        : watchDeployment(ecs, runner, clock, {
            cluster: config.cluster,
            service: config.service,
            deployment: { replacing: failure.deploymentId, baseline: previous },
            deadline: deadline(),
            pollMs: config.pollMs,
            events
          })
    )
    step.timeline.span('rollback', from, clock.now())
    if (result.kind === 'succeeded') await mark()
    return {
      by: 'ecs',
      note: lifecycle
        ? 'rolled back by ECS (the service deployment rolled back)'
        : 'rolled back by the ECS deployment circuit breaker',
      result
    }
  }
  if (!config.rollbackOnFailure)
    return { by: 'none', note: 'no rollback: rollback-on-failure is false' }
  if (config.rollbackTo) {
    return {
      by: 'none',
      note: 'no rollback: a rollback-to is not undone (the revision it replaced is the one being rolled back from)'
    }
  }

  // Blue/green, linear, canary: while the previous revision still runs, a traffic switch.
  if (lifecycle && lifecycle.rollback.possible) {
    const switched = await switchTraffic(ecs, runner, clock, config, step, {
      serviceDeploymentArn: step.serviceDeploymentArn!,
      deployment: watched,
      events,
      serviceDeployment: lifecycle.serviceDeployment
    })
    if (switched.kind === 'stopped') {
      await mark()
      const back =
        switched.trafficReturnedMs !== undefined
          ? `; production traffic was back after ${formatDuration(switched.trafficReturnedMs)} (${switched.trafficReturnedMs} ms)`
          : ''
      return {
        by: 'action',
        note: `rolled back by stopping service deployment ${shortServiceDeployment(step.serviceDeploymentArn!)} (ROLLBACK)${back}`,
        result: switched.result,
        trafficReturnedMs: switched.trafficReturnedMs
      }
    }
    runner.info(
      `StopServiceDeployment cannot roll back now (${switched.why}); starting a new deployment instead.`
    )
  }

  if (previous === '')
    return { by: 'none', note: 'no rollback: the service had no proven revision to return to' }
  if (previous === target) {
    return {
      by: 'none',
      note: `no rollback: the service ran ${shortRevision(previous)} before, the revision that failed`
    }
  }
  // Roll back only our own failed deployment: someone else's deployment is theirs to judge.
  const phase = ecs.until(deadline())
  const now = await phase.describeService(config.cluster, config.service)
  const primary = primaryDeployment(now)
  if (primary && primary.id !== failure.deploymentId) {
    return {
      by: 'none',
      note: `no rollback: ${describeDeployment(primary)} has replaced ours meanwhile, and this step does not undo it`,
      result: {
        kind: 'superseded',
        deploymentId: failure.deploymentId,
        by: primary,
        reason: `${describeDeployment(primary)} replaced deployment ${failure.deploymentId}`,
        service: now,
        elapsedMs: 0
      }
    }
  }
  runner.info(`Putting ${shortRevision(previous)} back (rollback-on-failure).`)
  const from = clock.now()
  let updated
  try {
    updated = await phase.updateService({
      cluster: config.cluster,
      service: config.service,
      taskDefinition: previous,
      forceNewDeployment: true,
      prior: {
        deploymentIds: (now.deployments ?? []).map(d => d.id ?? ''),
        taskDefinition: now.taskDefinition
      }
    })
  } catch (error) {
    if (!(error instanceof AwsRejection || error instanceof NotApplied)) throw error
    return { by: 'none', note: `the rollback could not be started: ${describeError(error)}` }
  }
  step.timeline.mark('rollback-requested', from)
  await mark()
  const id = updated.deployment?.id ?? ''
  const result = await runner.group(`Rollback to ${shortRevision(previous)} (${id})`, () =>
    watchDeployment(ecs, runner, clock, {
      cluster: config.cluster,
      service: config.service,
      deployment: { id, taskDefinition: previous },
      deadline: deadline(),
      pollMs: config.pollMs,
      events
    })
  )
  step.timeline.span('rollback', from, clock.now())
  return { by: 'action', note: `rolled back to ${shortRevision(previous)} by this action`, result }
}

/**
 * `rollback-to` on a blue/green, linear or canary service whose deployment is still shifting
 * traffic or baking: stopping it with ROLLBACK puts production traffic back on the previous
 * revision at once, instead of a new deployment. True when that is what happened; false
 * leaves the ordinary path (wait for the rollout to settle, then deploy the target).
 */
export async function rollBackInFlight(
  ecs: EcsGateway,
  runner: Runner,
  clock: Clock,
  config: DeployConfig,
  service: Service,
  step: StepRecord
): Promise<boolean> {
  const arn = service.currentServiceDeployment
  const baking = primaryDeployment(service)
  if (!arn || !baking) return false
  const gateway = ecs.until(step.started + config.waitMs)
  const current = await gateway.describeServiceDeployment(arn)
  const possible = rollbackPossibility(current)
  if (!possible.possible) return false
  // The previous revision: the deployment the new one is replacing, still running beside it.
  const source = (service.deployments ?? []).find(
    d => d.id !== baking.id && (d.runningCount ?? 0) > 0
  )
  if (!source?.taskDefinition) return false
  if (config.rollbackTo !== 'previous') {
    const named = await gateway.findTaskDefinition(config.rollbackTo)
    if (named?.taskDefinition.taskDefinitionArn !== source.taskDefinition) return false
  }
  runner.info(
    `Service deployment ${shortServiceDeployment(arn)} of ${shortRevision(baking.taskDefinition)} is still in progress (${current.lifecycleStage ?? current.status}) beside ${shortRevision(source.taskDefinition)}: rolling back by stopping it.`
  )
  step.previousArn = source.taskDefinition
  step.target = source.taskDefinition
  step.deploymentId = source.id ?? ''
  step.serviceDeploymentArn = arn
  runner.setOutput('previous-task-definition-arn', source.taskDefinition)
  runner.setOutput('task-definition-arn', source.taskDefinition)
  runner.setOutput('deployment-id', step.deploymentId)
  runner.setOutput('service-deployment-arn', arn)
  if (step.context)
    await recordRollbackMark(gateway, runner, {
      cluster: config.cluster,
      service,
      to: source.taskDefinition,
      started: step.started,
      context: step.context
    })
  step.facts.changeSent = true
  const switched = await switchTraffic(ecs, runner, clock, config, step, {
    serviceDeploymentArn: arn,
    deployment: { id: baking.id ?? '', taskDefinition: baking.taskDefinition ?? '' },
    events: { since: clock.now(), seen: new Set() },
    serviceDeployment: current
  })
  if (switched.kind === 'not-possible') {
    step.facts.changeSent = false
    runner.info(`StopServiceDeployment cannot roll back now (${switched.why}).`)
    return false
  }
  if (step.context) await markRolledBack(gateway, runner, baking.taskDefinition ?? '', step.context)
  step.rollout = switched.result
  step.facts.rollout = switched.result.kind
  step.trafficReturnedMs = switched.trafficReturnedMs
  return true
}

/** One StopServiceDeployment with ROLLBACK, watched to the end, and put on the step's timeline. */
async function switchTraffic(
  ecs: EcsGateway,
  runner: Runner,
  clock: Clock,
  config: DeployConfig,
  step: StepRecord,
  request: Pick<
    Parameters<typeof rollBackServiceDeployment>[3],
    'serviceDeploymentArn' | 'deployment' | 'events' | 'serviceDeployment'
  >
): Promise<Awaited<ReturnType<typeof rollBackServiceDeployment>>> {
  const from = clock.now()
  const switched = await runner.group(
    'Rollback: production traffic back to the previous revision',
    () =>
      rollBackServiceDeployment(ecs, runner, clock, {
        ...request,
        cluster: config.cluster,
        service: config.service,
        deadline: from + config.waitMs,
        pollMs: config.pollMs
      })
  )
  if (switched.kind === 'stopped') {
    step.timeline.mark('rollback-requested', from)
    step.timeline.span('rollback', from, clock.now())
    if (switched.trafficReturnedMs !== undefined)
      step.timeline.mark('traffic-returned', from + switched.trafficReturnedMs)
  }
  return switched
}
