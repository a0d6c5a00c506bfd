/**
 * PAUSE lifecycle hooks, the I/O part (decisions in pause.ts):
 * - `reportTestTrafficGate`: after `wait-until: test-traffic`, the outputs `hook-id` and `stage`
 *   and what to do next;
 * - `answerHook`: `continue-deployment` with `continue-action`: one ContinueServiceDeployment on
 *   the hook that waits (read back if its reply is lost), then the watch as any deploy does. A
 *   deployment that no longer waits is not changed: the step reports what ECS did instead.
 */
import type { DeploymentLifecycleHookDetail, Service, ServiceDeployment } from '@aws-sdk/client-ecs'
import { AwsRejection } from '../shared/aws-call.js'
import { InputError } from '../shared/errors.js'
import type { Clock, Runner } from '../shared/runner.js'
import { facts } from '../shared/summary.js'
import type { DeployConfig } from './config.js'
import { shortServiceDeployment, type EcsGateway } from './ecs.js'
import { watchServiceDeployment, type LifecycleWatchResult, type WaitUntil } from './lifecycle.js'
import { awaitingHook, whatEcsDid, type ContinueInputs } from './pause.js'
import { markRolledBack, recover } from './recovery.js'
import { firstFailureLine, type RolloutResult, type StepRecord } from './report.js'
import { primaryDeployment } from './rollout.js'
import { shortRevision } from './task-definition.js'
import type { EventFeed } from './watch.js'

/** After `wait-until: test-traffic` reached its gate: the outputs, a line and the summary. */
export function reportTestTrafficGate(
  runner: Runner,
  step: StepRecord,
  result: RolloutResult
): void {
  if (result.kind !== 'succeeded' || !('reached' in result)) return
  if (result.reached !== 'test-traffic' || !result.hook) return
  const hook = result.hook
  const stage = result.serviceDeployment.lifecycleStage ?? ''
  runner.setOutput('hook-id', hook.hookId ?? '')
  runner.setOutput('stage', stage)
  const arn = step.serviceDeploymentArn ?? ''
  const expiry = expiryText(hook)
  runner.info(
    `Service deployment ${shortServiceDeployment(arn)} waits at its test-traffic gate (PAUSE hook ${hook.hookId} at ${stage}): test traffic reaches ${shortRevision(step.target)}, production traffic stays on the previous revision. Gate it, then answer with continue-deployment: ${arn} and continue-action: continue or rollback${expiry ? `; ${expiry}` : ''}.`
  )
  step.hook = {
    summary: facts([
      ['Waits at', `PAUSE hook ${hook.hookId} (${stage})`],
      ['Answer with', `continue-deployment: ${arn}`],
      ['Unanswered', expiry || undefined]
    ])
  }
}

function expiryText(hook: DeploymentLifecycleHookDetail): string {
  return hook.expiresAt
    ? `unanswered, ECS applies ${hook.timeoutAction ?? 'ROLLBACK'} at ${hook.expiresAt.toISOString()}`
    : ''
}

/** What every part of answering a hook works with: one step's gateway, I/O, clock and record. */
interface HookRun {
  ecs: EcsGateway
  runner: Runner
  clock: Clock
  config: DeployConfig
  step: StepRecord
  events: EventFeed
}

/**
 * `continue-deployment`: answers the PAUSE hook the deployment waits at, then watches it to the
 * `wait-until` point (continue) or until ECS has rolled it back (rollback).
 */
export async function answerHook(
  ecs: EcsGateway,
  runner: Runner,
  clock: Clock,
  config: DeployConfig,
  step: StepRecord,
  service: Service
): Promise<void> {
  const request = config.continueDeployment!
  const arn = request.serviceDeploymentArn
  const deadline = step.started + config.waitMs
  const gateway = ecs.until(deadline)
  const sd = await gateway.describeServiceDeployment(arn)
  if (sd.serviceArn && service.serviceArn && sd.serviceArn !== service.serviceArn)
    throw new InputError(
      'continue-deployment',
      arn,
      `it is a deployment of ${sd.serviceArn}, not of service '${config.service}' in cluster '${config.cluster}'; give this service's deployment or fix cluster and service. Nothing was changed`
    )
  step.serviceDeploymentArn = arn
  runner.setOutput('service-deployment-arn', arn)
  const green = primaryDeployment(service)
  step.target = green?.taskDefinition ?? ''
  step.deploymentId = green?.id ?? ''
  step.previousArn = (service.deployments ?? []).find(d => d !== green)?.taskDefinition ?? ''
  if (step.target) runner.setOutput('task-definition-arn', step.target)
  if (step.deploymentId) runner.setOutput('deployment-id', step.deploymentId)
  if (step.previousArn) runner.setOutput('previous-task-definition-arn', step.previousArn)

  const run: HookRun = {
    ecs,
    runner,
    clock,
    config,
    step,
    events: { since: clock.now(), seen: new Set() }
  }
  const hook = awaitingHook(sd)
  // Whatever happens next is ECS's doing or this step's answer: the status is the deployment's.
  step.facts.changeSent = true
  if (!hook) return noLongerWaits(run, sd, request)

  const production = sd.targetServiceRevision?.requestedProductionTrafficWeight ?? 0
  const action = request.action === 'continue' ? 'CONTINUE' : 'ROLLBACK'
  runner.info(
    `Service deployment ${shortServiceDeployment(arn)} waits at PAUSE hook ${hook.hookId} (${sd.lifecycleStage}), ${production} % of production traffic on ${shortRevision(step.target)}; answering ${action}.`
  )
  step.updating = true
  let sent: Awaited<ReturnType<EcsGateway['continueServiceDeployment']>>
  try {
    sent = await gateway.continueServiceDeployment(arn, hook.hookId ?? '', action)
  } catch (error) {
    if (!(error instanceof AwsRejection) || error.awsName !== 'InvalidParameterException')
      throw error
    // The hook stopped waiting between the look and the answer (expired, or answered by another).
    step.updating = false
    runner.info(`ECS refused the answer: ${error.message}`)
    const now = await gateway.describeServiceDeployment(arn)
    if (awaitingHook(now)) throw error
    return noLongerWaits(run, now, request, hook.hookId)
  }
  step.updating = false
  if (sent.readBack)
    runner.info(
      `The reply to ContinueServiceDeployment was lost; reading it back shows hook ${hook.hookId} no longer awaiting action, so the answer was taken (this step's, or one given at the same moment elsewhere).`
    )
  step.timeline.mark(request.action === 'continue' ? 'updated' : 'rollback-requested', clock.now())

  if (request.action === 'rollback') {
    const result = await watch(run, 'rolled-back', sd.lifecycleStage)
    step.hook = {
      summary: facts([
        ['Answered', `PAUSE hook ${hook.hookId} (${sd.lifecycleStage}) with ROLLBACK`],
        ['Production traffic on the new revision when answered', `${production} %`]
      ])
    }
    return rolledBackAsAsked(run, result, production)
  }

  const answered = new Set([hook.hookId ?? ''])
  const until: WaitUntil = config.waitUntil === 'test-traffic' ? 'steady' : config.waitUntil
  const result = await watch(run, until, sd.lifecycleStage, {
    answered,
    answer: async hookId => {
      answered.add(hookId)
      try {
        await gateway.continueServiceDeployment(arn, hookId, 'CONTINUE')
      } catch (error) {
        if (!(error instanceof AwsRejection)) throw error
        runner.info(`ECS refused to continue hook ${hookId}: ${error.message}`)
      }
    }
  })
  step.hook = {
    summary: facts([
      ['Answered', `PAUSE hook ${hook.hookId} (${sd.lifecycleStage}) with CONTINUE`],
      ['Later pauses continued', answered.size > 1 ? String(answered.size - 1) : undefined]
    ])
  }
  await settle(run, result, true)
}

/** The deployment no longer waits: nothing is sent; the status is what ECS did. */
async function noLongerWaits(
  run: HookRun,
  sd: ServiceDeployment,
  request: ContinueInputs,
  hookId?: string
): Promise<void> {
  const { runner, config, step } = run
  const did = whatEcsDid(
    sd,
    hookId ?? sd.lifecycleHookDetails?.find(h => h.targetType === 'PAUSE')?.hookId
  )
  runner.info(
    `Service deployment ${shortServiceDeployment(sd.serviceDeploymentArn ?? '')} no longer waits at a hook: ${did}. This step sends no ${request.action} and changes nothing.`
  )
  const status = sd.status ?? ''
  const ended = (
    rollout: 'succeeded' | 'failed' | 'superseded',
    recovery?: 'succeeded' | 'failed'
  ) => {
    step.facts.rollout = rollout
    step.facts.recovery = recovery
  }
  const message = (outcome: string) => {
    step.hook = {
      summary: facts([
        ['Asked', `continue-action: ${request.action}`],
        ['Not sent', `no hook awaited action: ${did}`]
      ]),
      message: `Service deployment ${shortServiceDeployment(sd.serviceDeploymentArn ?? '')} no longer waited at a hook, so continue-action: ${request.action} was not sent and this step changed nothing: ${did}. ${outcome}`
    }
  }
  if (status === 'SUCCESSFUL') {
    ended('succeeded')
    return message('The service runs the new revision.')
  }
  if (status === 'ROLLBACK_SUCCESSFUL') {
    ended('failed', 'succeeded')
    return message('The service is back on the previous revision.')
  }
  if (status === 'STOPPED' || status === 'ROLLBACK_FAILED' || status === 'STOP_REQUESTED') {
    const replaced = /newer service deployment/i.test(sd.statusReason ?? '')
    ended(replaced ? 'superseded' : 'failed')
    return message(
      replaced
        ? 'Another deployment replaced it.'
        : 'Check the service: this step does not roll back a deployment it did not answer.'
    )
  }
  // Still under way (continued elsewhere, or its hook expired with CONTINUE), or rolling back.
  const rollingBack = status.startsWith('ROLLBACK_')
  const result = await watch(
    run,
    rollingBack ? 'rolled-back' : config.waitUntil === 'test-traffic' ? 'steady' : config.waitUntil,
    sd.lifecycleStage
  )
  if (rollingBack) {
    ended('failed', result.kind === 'succeeded' ? 'succeeded' : 'failed')
    return message(
      result.kind === 'succeeded'
        ? 'ECS rolled it back: the service is on the previous revision.'
        : `The rollback by ECS did not settle: ${result.reason}.`
    )
  }
  await settle(run, result, false)
  message(
    step.facts.rollout === 'succeeded'
      ? `It went on, and reached ${config.waitUntil === 'test-traffic' ? 'steady' : config.waitUntil}.`
      : `It ended ${step.facts.rollout}${step.rollout && 'reason' in step.rollout ? `: ${step.rollout.reason}` : ''}.`
  )
}

function watch(
  { ecs, runner, clock, config, step, events }: HookRun,
  until: WaitUntil | 'rolled-back',
  fromStage: string | undefined,
  pauses?: { answered: Set<string>; answer(hookId: string): Promise<void> }
): Promise<LifecycleWatchResult> {
  return runner.group(
    `Service deployment ${shortServiceDeployment(step.serviceDeploymentArn ?? '')}`,
    () =>
      watchServiceDeployment(ecs, runner, clock, {
        cluster: config.cluster,
        service: config.service,
        serviceDeploymentArn: step.serviceDeploymentArn ?? '',
        deployment: { id: step.deploymentId ?? '', taskDefinition: step.target ?? '' },
        until,
        since: clock.now(),
        deadline: step.started + config.waitMs,
        pollMs: config.pollMs,
        events,
        pauses,
        fromStage
      })
  )
}

/**
 * After a continue, as any deploy: a failure is reported at once and rolled back (when this step
 * answered the hook); after a deployment this step did not answer, only ECS's own rollback is
 * waited for.
 */
async function settle(
  { ecs, runner, clock, config, step, events }: HookRun,
  result: LifecycleWatchResult,
  answered: boolean
): Promise<void> {
  step.rollout = result
  step.facts.rollout = result.kind
  if (result.kind !== 'failed') return
  runner.error(firstFailureLine(config, result))
  if (!answered && !result.ecsRollingBack) return
  step.recovery = await recover(ecs, runner, clock, config, step, result, events)
  step.facts.recovery = step.recovery.result?.kind
}

/** continue-action: rollback, watched until ECS has rolled back. */
async function rolledBackAsAsked(
  { ecs, runner, config, step }: HookRun,
  result: LifecycleWatchResult,
  production: number
): Promise<void> {
  const arn = shortServiceDeployment(step.serviceDeploymentArn ?? '')
  step.facts.rollout = 'failed'
  if (result.kind === 'succeeded') {
    step.facts.recovery = 'succeeded'
    if (step.context && step.target)
      await markRolledBack(
        ecs.until(step.started + config.waitMs),
        runner,
        step.target,
        step.context
      )
    const stayed =
      production === 0
        ? `production traffic never left ${shortRevision(step.previousArn) || 'the previous revision'}`
        : `${production} % of production traffic had reached ${shortRevision(step.target)} before the answer`
    step.hook!.message = `Rolled back service deployment ${arn} at its hook, as asked: ${stayed}, and the service is steady on ${shortRevision(step.previousArn) || 'the previous revision'}.`
    runner.info(step.hook!.message)
    return
  }
  step.rollout = result
  step.facts.recovery =
    result.kind === 'superseded' ? 'superseded' : result.kind === 'unknown' ? 'unknown' : 'failed'
  step.hook!.message = `Rolling back service deployment ${arn} at its hook was asked and sent, but ${'reason' in result ? result.reason : 'it did not settle'}. Check the service now.`
}
