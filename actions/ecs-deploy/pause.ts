/**
 * PAUSE lifecycle hooks, the pure part: which hook gates test traffic, whether a service has
 * one (`wait-until: test-traffic`), the `continue-deployment` and `continue-action` inputs, and
 * what a watch does when it meets a deployment that waits at a hook (AWAITING_ACTION).
 *
 * The gate: a PAUSE hook at POST_TEST_TRAFFIC_SHIFT (BLUE_GREEN, LINEAR, CANARY) or at
 * PRE_PRODUCTION_TRAFFIC_SHIFT (the stage LINEAR and CANARY pass before every production traffic
 * step). Either way test traffic is all on the new revision and production traffic none of it.
 * The gate runs once, before the first production traffic step: once it is answered with
 * `continue`, the pauses ECS makes before each later LINEAR or CANARY step are continued by the
 * same step (each one logged), because the smoke gate's question (does the build answer on the
 * test listener?) has been answered; later steps are guarded by ECS's own bake times, alarms and
 * circuit breaker.
 */
import type { DeploymentLifecycleHookDetail, Service, ServiceDeployment } from '@aws-sdk/client-ecs'
import { InputError } from '../shared/errors.js'
import type { Inputs } from '../shared/inputs.js'

/** The stages where a PAUSE hook gates test traffic before any production traffic. */
export const GATE_STAGES: readonly string[] = [
  'POST_TEST_TRAFFIC_SHIFT',
  'PRE_PRODUCTION_TRAFFIC_SHIFT'
]

export type ContinueAction = 'continue' | 'rollback'

/** continue-deployment and continue-action: answer a hook instead of deploying. */
export interface ContinueInputs {
  serviceDeploymentArn: string
  action: ContinueAction
}

const SERVICE_DEPLOYMENT_ARN =
  /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:service-deployment\/[A-Za-z0-9_-]+\/[A-Za-z0-9_-]+\/[A-Za-z0-9_-]+$/

/** The continue inputs; undefined when continue-deployment is empty (a deploy). */
export function readContinueInputs(
  inputs: Inputs,
  others: { image: string; rollbackTo: string }
): ContinueInputs | undefined {
  const arn = inputs.string('continue-deployment')
  const action = inputs.string('continue-action', 'continue')
  if (action !== 'continue' && action !== 'rollback')
    throw new InputError(
      'continue-action',
      action,
      'use continue (production traffic moves on to the new revision) or rollback (it stays on the previous one)'
    )
  if (arn === '') {
    if (action === 'rollback')
      throw new InputError(
        'continue-action',
        action,
        'set continue-deployment to the service-deployment-arn output of the wait-until: test-traffic step'
      )
    return undefined
  }
  if (!SERVICE_DEPLOYMENT_ARN.test(arn))
    throw new InputError(
      'continue-deployment',
      arn,
      'give the service-deployment-arn output of the ecs-deploy step that ran with wait-until: test-traffic (arn:aws:ecs:<region>:<account>:service-deployment/<cluster>/<service>/<id>)'
    )
  for (const [name, value] of [
    ['image', others.image],
    ['rollback-to', others.rollbackTo]
  ] as const) {
    if (value !== '')
      throw new InputError(
        name,
        value,
        `continue-deployment answers the hook of a deployment already under way; leave ${name} empty in that step`
      )
  }
  return { serviceDeploymentArn: arn, action }
}

/** Whether the service has a PAUSE hook that gates test traffic, and at which stage. */
export type TestTrafficGate = { kind: 'gate'; stage: string } | { kind: 'none'; why: string }

export function testTrafficGate(service: Service): TestTrafficGate {
  const config = service.deploymentConfiguration
  const strategy = config?.strategy ?? 'ROLLING'
  if ((service.deploymentController?.type ?? 'ECS') !== 'ECS' || strategy === 'ROLLING')
    return {
      kind: 'none',
      why: `it deploys ${strategy === 'ROLLING' ? 'ROLLING' : `through ${service.deploymentController?.type}`}, which has no test traffic`
    }
  for (const stage of GATE_STAGES) {
    const hook = (config?.lifecycleHooks ?? []).find(
      h => h.targetType === 'PAUSE' && (h.lifecycleStages ?? []).includes(stage as never)
    )
    if (hook) return { kind: 'gate', stage }
  }
  return {
    kind: 'none',
    why: `its ${strategy} deployment configuration has no PAUSE lifecycle hook at ${GATE_STAGES.join(' or ')}`
  }
}

/** wait-until: test-traffic on a service without the gate is an input error, before any change. */
export function refuseTestTrafficWithoutGate(service: Service, serviceName: string): void {
  const gate = testTrafficGate(service)
  if (gate.kind === 'gate') return
  throw new InputError(
    'wait-until',
    'test-traffic',
    `service '${serviceName}' cannot wait at a test-traffic gate: ${gate.why}. Add a PAUSE hook at POST_TEST_TRAFFIC_SHIFT (BLUE_GREEN) or PRE_PRODUCTION_TRAFFIC_SHIFT (LINEAR, CANARY) to the service's deploymentConfiguration.lifecycleHooks (README: "A gate on test traffic"), or use wait-until: steady. Nothing was changed`
  )
}

/** The hook a service deployment waits at, if any. */
export function awaitingHook(sd: ServiceDeployment): DeploymentLifecycleHookDetail | undefined {
  return sd.lifecycleHookDetails?.find(h => h.status === 'AWAITING_ACTION')
}

/** Whether the watch that waits for test traffic has reached it: waiting at a gate stage. */
export function reachedTestTraffic(sd: ServiceDeployment): boolean {
  return awaitingHook(sd) !== undefined && GATE_STAGES.includes(sd.lifecycleStage ?? '')
}

/** What a watch does at a hook that awaits action, when it does not wait for test traffic. */
export type PauseDecision =
  /** The hook expires within the step's deadline: ECS will act on it, keep watching. */
  | { kind: 'wait'; line: string }
  /** A later LINEAR or CANARY step of a deployment whose gate this step answered: continue it. */
  | { kind: 'answer'; line: string }
  /** Nobody in this step will answer it in time: stop watching at once, saying so. */
  | { kind: 'give-up'; reason: string }

export interface PauseContext {
  /** Clock ms now and the step's deadline. */
  now: number
  deadline: number
  /** Set when this step answered the deployment's gate: the hooks it has answered since. */
  answered?: ReadonlySet<string>
}

export function decidePause(
  sd: ServiceDeployment,
  hook: DeploymentLifecycleHookDetail,
  context: PauseContext
): PauseDecision {
  const stage = sd.lifecycleStage ?? 'its stage'
  const id = hook.hookId ?? '?'
  const expires = hook.expiresAt?.valueOf()
  const action = hook.timeoutAction ?? 'ROLLBACK'
  const when =
    expires === undefined
      ? 'no expiry reported'
      : `ECS applies ${action} at ${new Date(expires).toISOString()} (in ${minutes(expires - context.now)})`
  if (context.answered) {
    if (context.answered.has(id))
      return { kind: 'wait', line: `Hook ${id} at ${stage} answered; waiting for ECS to move on.` }
    if ((sd.lifecycleStage as string | undefined) === 'PRE_PRODUCTION_TRAFFIC_SHIFT')
      return {
        kind: 'answer',
        line: `Hook ${id} pauses before a later production traffic step (${stage}); the test-traffic gate was passed, so this step continues it.`
      }
  }
  const waits = `service deployment ${shortArn(sd.serviceDeploymentArn)} waits at PAUSE hook ${id} (${stage}) for ContinueServiceDeployment; ${when}`
  if (expires !== undefined && expires <= context.deadline)
    return {
      kind: 'wait',
      line: `The ${waits}; that is within this step's deadline, so it watches on.`
    }
  return {
    kind: 'give-up',
    reason: `the ${waits}, after this step's deadline (in ${minutes(context.deadline - context.now)}). Deploy with wait-until: test-traffic and answer it with continue-deployment, or answer it yourself (aws ecs continue-service-deployment)`
  }
}

/** What ECS did with a deployment whose hook no longer waits, in words. */
export function whatEcsDid(sd: ServiceDeployment, hookId?: string): string {
  const hook = sd.lifecycleHookDetails?.find(h => h.hookId === hookId)
  const expired =
    hook?.status === 'TIMED_OUT'
      ? `its hook expired${hook.expiresAt ? ` at ${hook.expiresAt.toISOString()}` : ''} and ECS applied the timeout action ${hook.timeoutAction ?? 'ROLLBACK'}; `
      : ''
  const status = sd.status ?? 'UNKNOWN'
  const reason = sd.statusReason ? ` (${sd.statusReason.replace(/\.$/, '')})` : ''
  return `${expired}the service deployment is ${status}${reason} at ${sd.lifecycleStage ?? 'no stage'}`
}

function minutes(ms: number): string {
  const m = Math.max(0, ms) / 60_000
  return m >= 1 ? `${Math.round(m)} min` : `${Math.round(Math.max(0, ms) / 1000)} s`
}

function shortArn(arn: string | undefined): string {
  return (arn ?? '').split('/').slice(-2).join('/')
}
