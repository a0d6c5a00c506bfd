/**
 * PAUSE lifecycle hooks of BLUE_GREEN, LINEAR and CANARY service deployments, as the ECS API
 * documents them (quoted from the doc comments of @aws-sdk/client-ecs 3.1164,
 * dist-types/models/models_0.d.ts and commands/ContinueServiceDeploymentCommand.d.ts):
 *
 * - `DeploymentLifecycleHook.targetType`: "PAUSE - Pauses the deployment at the specified
 *   lifecycle stage until you call ContinueServiceDeployment to continue or roll back."
 * - `DeploymentLifecycleHook.lifecycleStages`: "PAUSE hooks cannot be configured at
 *   TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT stages."
 * - `DeploymentLifecycleHookTimeoutConfiguration`: "timeoutInMinutes ... Default: 1440 (24
 *   hours)"; "action ... CONTINUE - Proceeds the deployment to the next lifecycle stage.
 *   ROLLBACK - Rolls back the deployment to the previous service revision. Default: ROLLBACK".
 * - `DeploymentLifecycleHookDetail`: status "AWAITING_ACTION, IN_PROGRESS, SUCCEEDED, FAILED,
 *   and TIMED_OUT"; expiresAt "If the hook has not been completed by this time, Amazon ECS takes
 *   the timeout action"; targetArn "For PAUSE hooks, this field is not set."
 * - `ContinueServiceDeploymentRequest.action`: "If no value is specified, the default action is
 *   CONTINUE."
 *
 * Where the documentation leaves latitude, the stand-in takes the side that breaks careless
 * clients:
 * - An answer takes effect on the next simulation step, not with the reply: a
 *   DescribeServiceDeployments right after ContinueServiceDeployment may still show the hook
 *   AWAITING_ACTION (ECS's API is eventually consistent; nothing says this call is not).
 * - A second answer to the same hook (already answered, expired, or of a deployment that has
 *   moved on) is refused with InvalidParameterException, not taken as a no-op: a client that
 *   sends its answer twice must read back instead.
 * - The SDK does not say what an answered hook shows afterwards: CONTINUE shows SUCCEEDED,
 *   ROLLBACK shows FAILED (like a Lambda hook that said no), TIMED_OUT keeps its timeoutAction.
 */
import { randomUUID } from 'node:crypto'
import { EcsError, type HookRun, type LifecycleHookSpec, type LifecycleRecord } from './model.js'

export type HookAction = 'CONTINUE' | 'ROLLBACK'
export const DEFAULT_PAUSE_TIMEOUT_MINUTES = 1440
export const DEFAULT_PAUSE_TIMEOUT_ACTION: HookAction = 'ROLLBACK'
/** "PAUSE hooks cannot be configured at TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT stages." */
const NO_PAUSE_AT = ['TEST_TRAFFIC_SHIFT', 'PRODUCTION_TRAFFIC_SHIFT']

export function isPauseHook(hook: { targetType?: string }): boolean {
  return hook.targetType === 'PAUSE'
}

/**
 * The hooks of a CreateService or UpdateService, checked as the API documents them: a PAUSE hook
 * at a traffic shift stage and an AWS_LAMBDA hook (the default type) without a hookTargetArn
 * ("You must provide this parameter when configuring an AWS_LAMBDA lifecycle hook") are refused.
 */
export function validateLifecycleHooks(hooks: LifecycleHookSpec[]): void {
  for (const hook of hooks) {
    const type = hook.targetType ?? 'AWS_LAMBDA'
    if (type !== 'AWS_LAMBDA' && type !== 'PAUSE')
      throw new EcsError(
        'InvalidParameterException',
        `targetType ${type} is not valid: use AWS_LAMBDA or PAUSE.`
      )
    if (type === 'AWS_LAMBDA' && !hook.hookTargetArn)
      throw new EcsError(
        'InvalidParameterException',
        'hookTargetArn must be provided for an AWS_LAMBDA lifecycle hook.'
      )
    const misplaced = (hook.lifecycleStages ?? []).filter(s => NO_PAUSE_AT.includes(s))
    if (type === 'PAUSE' && misplaced.length > 0)
      throw new EcsError(
        'InvalidParameterException',
        `PAUSE hooks cannot be configured at ${misplaced.join(' or ')}.`
      )
    const action = hook.timeoutConfiguration?.action
    if (action !== undefined && action !== 'CONTINUE' && action !== 'ROLLBACK')
      throw new EcsError(
        'InvalidParameterException',
        `timeoutConfiguration.action ${action} is not valid: use CONTINUE or ROLLBACK.`
      )
  }
}

/** A PAUSE hook reached at a stage: it waits for an answer until it expires. */
export function pauseHookRun(
  hook: LifecycleHookSpec,
  stage: HookRun['stage'],
  now: number,
  minuteMs: number
): HookRun {
  const minutes = hook.timeoutConfiguration?.timeoutInMinutes ?? DEFAULT_PAUSE_TIMEOUT_MINUTES
  return {
    hookId: randomUUID(),
    targetType: 'PAUSE',
    stage,
    status: 'AWAITING_ACTION',
    startedAt: now,
    answersAt: Number.POSITIVE_INFINITY,
    result: 'SUCCEEDED',
    expiresAt: now + minutes * minuteMs,
    timeoutAction: hook.timeoutConfiguration?.action ?? DEFAULT_PAUSE_TIMEOUT_ACTION
  }
}

/** What one simulation step does to the paused hooks: an answer applied or a timeout taken. */
export type PauseOutcome =
  { kind: 'none' } | { kind: 'rollback'; reason: string; requested: boolean }

export function playPauseHooks(lifecycle: LifecycleRecord, now: number): PauseOutcome {
  for (const hook of lifecycle.hooks) {
    if (hook.status !== 'AWAITING_ACTION') continue
    if (hook.answer) {
      hook.status = hook.answer === 'CONTINUE' ? 'SUCCEEDED' : 'FAILED'
      if (hook.answer === 'ROLLBACK')
        return {
          kind: 'rollback',
          reason: `Service deployment rolled back by ContinueServiceDeployment at ${hook.stage}.`,
          requested: true
        }
    } else if (hook.expiresAt !== undefined && now >= hook.expiresAt) {
      hook.status = 'TIMED_OUT'
      if (hook.timeoutAction === 'ROLLBACK')
        return {
          kind: 'rollback',
          reason: `Lifecycle hook ${hook.hookId} timed out at ${hook.stage}; its timeout action is ROLLBACK.`,
          requested: false
        }
    }
  }
  return { kind: 'none' }
}

/** Whether a hook lets its stage end: succeeded, or a pause that timed out with CONTINUE. */
export function hookLetsStageEnd(hook: HookRun): boolean {
  return (
    hook.status === 'SUCCEEDED' ||
    (hook.status === 'TIMED_OUT' && hook.timeoutAction === 'CONTINUE')
  )
}

/**
 * ContinueServiceDeployment: records the answer to a hook that awaits action; it is applied on
 * the next simulation step. Refused (InvalidParameterException) for a deployment no longer
 * under way, an unknown hook, one that does not await action, or one already answered.
 */
export function answerPauseHook(
  lifecycle: LifecycleRecord | undefined,
  underWay: boolean,
  hookId: string,
  action: string | undefined
): HookRun {
  const chosen = action ?? 'CONTINUE'
  if (chosen !== 'CONTINUE' && chosen !== 'ROLLBACK')
    throw new EcsError(
      'InvalidParameterException',
      `action ${chosen} is not valid: use CONTINUE or ROLLBACK.`
    )
  if (!lifecycle || !underWay)
    throw new EcsError(
      'InvalidParameterException',
      'The service deployment is not paused at a lifecycle hook.'
    )
  const hook = lifecycle.hooks.find(h => h.hookId === hookId)
  if (!hook)
    throw new EcsError(
      'InvalidParameterException',
      `Lifecycle hook ${hookId} is not a hook of the service deployment's current stage.`
    )
  if (hook.status !== 'AWAITING_ACTION' || hook.answer)
    throw new EcsError(
      'InvalidParameterException',
      `Lifecycle hook ${hookId} is not awaiting action (${hook.answer ? 'already answered' : hook.status}).`
    )
  hook.answer = chosen
  return hook
}

/** A PAUSE hook's fields in DescribeServiceDeployments' lifecycleHookDetails. */
export function wirePauseDetail(hook: HookRun, seconds: (ms: number) => number) {
  return {
    hookId: hook.hookId,
    targetType: 'PAUSE',
    status: hook.status,
    ...(hook.expiresAt !== undefined ? { expiresAt: seconds(hook.expiresAt) } : {}),
    ...(hook.timeoutAction ? { timeoutAction: hook.timeoutAction } : {})
  }
}
