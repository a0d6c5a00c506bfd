import { ECSClient, type Service } from '@aws-sdk/client-ecs'
import { clientSettings } from '../shared/aws.js'
import { attemptTimeoutFor, AwsCaller, AwsRejection } from '../shared/aws-call.js'
import { runContext, type RunContext } from '../shared/context.js'
import { ActionError, describeError } from '../shared/errors.js'
import { environmentInputs, Inputs, type InputSource } from '../shared/inputs.js'
import { realClock, type Clock, type Runner } from '../shared/runner.js'
import { readDeployConfig, type DeployConfig } from './config.js'
import { EcsGateway, NotApplied } from './ecs.js'
import { checkGates, gateDependencies, type GateDependencies } from './gates.js'
import { resolveRollbackTarget, ROLLED_BACK_TAG } from './previous.js'
import {
  deployReport,
  groupedCauses,
  serviceState,
  type Recovery,
  type StepRecord
} from './report.js'
import { describeDeployment, primaryDeployment } from './rollout.js'
import { decideStatus } from './status.js'
import {
  chooseContainer,
  readTemplate,
  renderTaskDefinition,
  shortRevision,
  traceTags,
  TRACE_TAGS
} from './task-definition.js'
import { settleService, watchDeployment, type EventFeed, type WatchResult } from './watch.js'

export interface Dependencies {
  inputs: InputSource
  clock: Clock
  context: RunContext
  /** Built from the region once inputs are read, unless a test hands one in. */
  ecsClient?: ECSClient
  /** The GitHub and ECR gateways of the gates, unless a test hands them in. */
  gates?: GateDependencies
}

/** The longest the first error waits for a stopped-task lookup already under way. */
const FIRST_ERROR_GRACE_MS = 1000

/** A gate said no before anything changed (a foreign deployment controller, a rollout that would not settle). */
export class Refusal extends ActionError {
  constructor(message: string) {
    super(message)
    this.name = 'Refusal'
  }
}

/**
 * One deploy, step by step. Whatever happens, the step ends with a `status` output and a
 * summary that say what the service runs; the decision is made in status.ts.
 */
export async function run(runner: Runner, overrides: Partial<Dependencies> = {}): Promise<void> {
  const deps: Dependencies = {
    inputs: environmentInputs(),
    clock: realClock,
    context: runContext(),
    ...overrides
  }
  const step: StepRecord = {
    started: deps.clock.now(),
    facts: {
      refused: false,
      changeSent: false,
      changeRejected: false,
      unexpectedError: false
    }
  }
  try {
    await deploy(runner, deps, step)
  } catch (error) {
    step.error = error
    if (error instanceof Refusal) step.facts.refused = true
    else if (!(error instanceof ActionError) || step.facts.changeSent)
      step.facts.unexpectedError = true
    if (step.facts.changeSent && (error instanceof AwsRejection || error instanceof NotApplied))
      step.facts.changeRejected = step.updating === true
  }
  // Report, then enrich: a stopped-task lookup still under way gets one attempt's time to land
  // in the summary and the last error.
  if (step.rollout?.kind === 'failed' && step.config)
    await step.rollout.stopped.settle(attemptTimeoutFor(step.config.pollMs))
  const status = decideStatus(step.facts)
  runner.setOutput('status', status)
  const report = deployReport(step, status, deps.clock.now())
  await runner.summary(report.summary)
  if (status !== 'succeeded') throw new ActionError(report.message)
}

async function deploy(runner: Runner, deps: Dependencies, step: StepRecord): Promise<void> {
  const { clock } = deps
  const config = readDeployConfig(new Inputs(deps.inputs))
  step.config = config
  const ecs = new EcsGateway(
    deps.ecsClient ?? new ECSClient(clientSettings(config.region, process.env, 'caller')),
    new AwsCaller({
      clock,
      deadline: step.started + config.waitMs,
      attemptTimeoutMs: attemptTimeoutFor(config.pollMs),
      backoffMs: Math.min(1000, config.pollMs / 2),
      maxBackoffMs: Math.max(config.pollMs, 1000),
      onRetry: (what, failure, error, waitMs) =>
        runner.info(
          `  ${what}: ${failure === 'throttled' ? 'throttled' : `no answer (${describeError(error)})`}; trying again in ${(waitMs / 1000).toFixed(1)}s.`
        )
    })
  )
  step.ecs = ecs

  // The service as it is, and whether it can be deployed to at all.
  const first = await ecs
    .until(step.started + config.waitMs)
    .describeService(config.cluster, config.service)
  refuseForeignController(first, config)

  // A rollout already in flight is waited for: the baseline is what it settles on.
  const settle = async (first: Service) => {
    const settled = await settleService(ecs, runner, clock, {
      cluster: config.cluster,
      service: config.service,
      deadline: step.started + config.waitMs,
      pollMs: config.pollMs,
      first
    })
    if (settled.kind === 'in-flight') {
      throw new Refusal(
        `Service '${config.service}' did not settle: ${settled.reason}. Nothing was changed; deploy again once it has settled.`
      )
    }
    step.previousArn = settled.baseline.proven?.taskDefinition ?? ''
    runner.setOutput('previous-task-definition-arn', step.previousArn)
    return settled
  }
  let settled = await settle(first)
  let service = settled.service
  const proven = settled.baseline.proven
  runner.info(
    proven
      ? `Service ${config.service} in cluster ${config.cluster} runs ${shortRevision(proven.taskDefinition)}, proven by ${describeDeployment(proven)}.`
      : `Service ${config.service} in cluster ${config.cluster} has no completed deployment: there is no proven revision to return to.`
  )

  // The proven revision, read once: the base of the next one, and the commit the gate compares.
  const baseArn = proven?.taskDefinition ?? service.taskDefinition ?? ''
  let base: ReturnType<EcsGateway['describeTaskDefinition']> | undefined
  const baseRevision = () =>
    (base ??= ecs.until(step.started + config.waitMs).describeTaskDefinition(baseArn))

  // rollback-to never runs the gates: it puts back a revision that ran before (older code on
  // purpose), and an incident rollback must not wait on a scan.
  if (!config.rollbackTo) {
    const gate = await checkGates(
      {
        service: config.service,
        runningRevision: shortRevision(baseArn),
        repository: deps.context.repository,
        commit: deps.context.sha,
        runningCommit: async () =>
          baseArn
            ? (await baseRevision()).tags.find(t => t.key === TRACE_TAGS.commit)?.value
            : undefined,
        pollMs: config.pollMs
      },
      config.gates,
      deps.gates ??
        gateDependencies(runner, {
          region: config.region,
          clock,
          deadline: clock.now() + config.waitMs,
          pollMs: config.pollMs
        })
    )
    step.gateSummary = gate.summary
    if (gate.kind === 'refused') throw new Refusal(gate.reason)
  }

  // From here the rollout has its own deadline: the step ends within it and one poll.
  const rolloutStarted = clock.now()
  const rollout = ecs.until(rolloutStarted + config.waitMs)
  step.target = config.rollbackTo
    ? await rollbackTarget(rollout, runner, config, service)
    : await registerNextRevision(rollout, runner, config, deps.context, baseArn, baseRevision)
  runner.setOutput('task-definition-arn', step.target)

  // One more look just before the change: another deploy may have started while this step
  // checked gates and registered. If so, wait for it again rather than cut in.
  const latest = await rollout.describeService(config.cluster, config.service)
  if (!sameDeployments(latest, service)) {
    runner.info(
      `The service changed while this step prepared (${serviceState(latest)}); waiting for it to settle again.`
    )
    settled = await settle(latest)
  } else settled = { ...settled, service: latest }
  service = settled.service
  const current = primaryDeployment(service)

  step.facts.changeSent = true
  step.updating = true
  const updated = await rollout.updateService({
    cluster: config.cluster,
    service: config.service,
    taskDefinition: step.target,
    desiredCount: config.desiredCount,
    forceNewDeployment: config.forceNewDeployment,
    prior: {
      deploymentIds: (service.deployments ?? []).map(d => d.id ?? ''),
      taskDefinition: service.taskDefinition
    }
  })
  step.updating = false
  const ours = updated.deployment ?? (config.forceNewDeployment ? undefined : current)
  step.deploymentId = ours?.id ?? ''
  runner.setOutput('deployment-id', step.deploymentId)
  if (updated.readBack) {
    runner.info(
      `The reply to UpdateService was lost; reading the service back shows ${step.deploymentId || 'the update'} under way, so the step carries on with it.`
    )
  }
  runner.info(
    `Updated the service: ${step.deploymentId || 'no new deployment'} rolls out ${shortRevision(step.target)}.`
  )
  if (config.rollbackTo && service.taskDefinition && service.taskDefinition !== step.target) {
    await markRolledBack(rollout, runner, service.taskDefinition, deps.context)
  }

  if (!config.waitForStability) {
    runner.info('Not waiting for the rollout (wait-for-service-stability: false).')
    step.facts.rollout = 'not-waited'
    return
  }

  // Events from before our update belong to earlier deployments: ECS's own clock tells.
  const events: EventFeed = {
    since: ours?.createdAt?.valueOf() ?? updated.startedAt,
    seen: new Set()
  }
  const result = await runner.group(
    `Rollout of ${shortRevision(step.target)} (${step.deploymentId})`,
    () =>
      watchDeployment(ecs, runner, clock, {
        cluster: config.cluster,
        service: config.service,
        deployment: {
          id: step.deploymentId ?? '',
          taskDefinition: step.target ?? '',
          baseline: step.previousArn || undefined
        },
        deadline: rolloutStarted + config.waitMs,
        pollMs: config.pollMs,
        events
      })
  )
  step.rollout = result
  step.facts.rollout = result.kind
  if (result.kind !== 'failed') return

  // The first error, as soon as the failure is seen and before any rollback. When no stopped
  // task is known yet, a lookup under way gets a moment (half a poll, at most 1 s: the error
  // still comes within one poll of ECS marking the failure); a slow one is not waited for.
  if (result.stopped.tasks.length === 0)
    await result.stopped.settle(Math.min(config.pollMs / 2, FIRST_ERROR_GRACE_MS))
  runner.error(firstFailureLine(config, result))
  await result.stopped.settle(attemptTimeoutFor(config.pollMs))
  step.recovery = await recover(ecs, runner, deps, config, step, result, events)
  step.facts.recovery = step.recovery.result?.kind
}

/** Whether two looks at a service show the same deployments (none started or ended between). */
function sameDeployments(a: Service, b: Service): boolean {
  const ids = (s: Service) =>
    (s.deployments ?? [])
      .map(d => d.id)
      .sort()
      .join(' ')
  return ids(a) === ids(b)
}

/** Only the ECS deployment controller can be driven by UpdateService with a new revision. */
function refuseForeignController(service: Service, config: DeployConfig): void {
  const type = service.deploymentController?.type ?? 'ECS'
  if (type === 'ECS') return
  const how =
    type === 'CODE_DEPLOY'
      ? 'Deploy it through CodeDeploy, or move it to ECS blue/green: recreate or update the service with deploymentController type ECS and deploymentConfiguration.strategy BLUE_GREEN, then deploy with this action.'
      : 'Its deployments are made by an external controller (task sets); deploy through that controller.'
  throw new Refusal(
    `Service '${config.service}' uses the ${type} deployment controller, which does not take a new task definition through UpdateService. Nothing was registered or changed. ${how}`
  )
}

async function registerNextRevision(
  ecs: EcsGateway,
  runner: Runner,
  config: DeployConfig,
  context: RunContext,
  currentArn: string,
  baseRevision: () => ReturnType<EcsGateway['describeTaskDefinition']>
): Promise<string> {
  const base = config.taskDefinitionPath
    ? await readTemplate(config.taskDefinitionPath)
    : await baseRevision()
  const containerName = chooseContainer(base.taskDefinition, config.containerName)
  const trace = { commit: context.sha, run: runTag(context), image: config.image }
  const input = renderTaskDefinition({
    base: base.taskDefinition,
    baseTags: base.tags,
    containerName,
    image: config.image,
    environment: config.environment,
    trace
  })
  // The run's own tags find this revision again if the reply to the registration is lost.
  const registered = await ecs.registerTaskDefinition(input, { tags: traceTags(trace) })
  const arn = registered.taskDefinition.taskDefinitionArn ?? ''
  if (registered.readBack) {
    runner.info(
      `The reply to RegisterTaskDefinition was lost; ${shortRevision(arn)} carries this run's tags, so it is the one registered.`
    )
  }
  runner.info(
    `Registered ${shortRevision(arn)} from ${config.taskDefinitionPath || shortRevision(currentArn)}: container ${containerName} runs ${config.image}.`
  )
  return arn
}

/** The run and its attempt: a re-run registers its own revision, found by this tag. */
function runTag(context: RunContext): string {
  const run = context.runUrl || context.runId
  return run ? `${run}/attempts/${context.runAttempt || '1'}` : ''
}

async function rollbackTarget(
  ecs: EcsGateway,
  runner: Runner,
  config: DeployConfig,
  service: Service
): Promise<string> {
  const target = await resolveRollbackTarget(
    ecs,
    config.cluster,
    { name: config.service, taskDefinition: service.taskDefinition ?? '' },
    config.rollbackTo
  )
  runner.info(`Rolling back to ${shortRevision(target.taskDefinitionArn)}: ${target.why}.`)
  return target.taskDefinitionArn
}

/** Tags a revision the service was rolled back from, so `previous` never returns to it. */
async function markRolledBack(
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

async function recover(
  ecs: EcsGateway,
  runner: Runner,
  deps: Dependencies,
  config: DeployConfig,
  step: StepRecord,
  failure: Extract<WatchResult, { kind: 'failed' }>,
  events: EventFeed
): Promise<Recovery> {
  const { clock } = deps
  const previous = step.previousArn ?? ''
  const target = step.target ?? ''
  const watch = (deployment: Parameters<typeof watchDeployment>[3]['deployment'], title: string) =>
    runner.group(title, () =>
      watchDeployment(ecs, runner, clock, {
        cluster: config.cluster,
        service: config.service,
        deployment,
        deadline: clock.now() + config.waitMs,
        pollMs: config.pollMs,
        events
      })
    )
  if (failure.ecsRollingBack) {
    runner.info(
      'The deployment circuit breaker is rolling the service back; waiting for it to settle.'
    )
    const result = await watch(
      { replacing: failure.deploymentId, baseline: previous },
      'Rollback by the ECS deployment circuit breaker'
    )
    if (result.kind === 'succeeded' && !config.rollbackTo)
      await markRolledBack(ecs.until(clock.now() + config.waitMs), runner, target, deps.context)
    return { by: 'ecs', note: 'rolled back by the ECS deployment circuit breaker', result }
  }
  if (!config.rollbackOnFailure)
    return { by: 'none', note: 'no rollback: rollback-on-failure is false' }
  if (config.rollbackTo) {
    return {
      by: 'none',
      note: 'no rollback: a rollback-to is not undone (the revision it replaced is the one being rolled back from)'
    }
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
  const phase = ecs.until(clock.now() + config.waitMs)
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
  await markRolledBack(phase, runner, target, deps.context)
  const id = updated.deployment?.id ?? ''
  const result = await watch(
    { id, taskDefinition: previous },
    `Rollback to ${shortRevision(previous)} (${id})`
  )
  return { by: 'action', note: `rolled back to ${shortRevision(previous)} by this action`, result }
}

/** The first `::error::`: the deployment, ECS's reason, and why tasks stopped as far as known. */
export function firstFailureLine(
  config: DeployConfig,
  failure: Extract<WatchResult, { kind: 'failed' }>
): string {
  const what = {
    'rollout-failed': 'failed',
    replaced: 'was replaced',
    'tasks-failing': 'is failing',
    'timed-out': 'timed out'
  }[failure.cause]
  return (
    `Deployment ${failure.deploymentId || '(none)'} of service '${config.service}' in cluster '${config.cluster}' ${what}: ${failure.reason.replace(/\.$/, '')}.` +
    ` ${stoppedSentence(failure.stopped)}`
  )
}

/** Why tasks stopped, each reason once with a count; or why that is not known. */
export function stoppedSentence(
  stopped: Extract<WatchResult, { kind: 'failed' }>['stopped']
): string {
  const causes = groupedCauses(stopped.tasks)
  if (causes.length > 0) return `Stopped ${causes.join(' | ')}`
  if (stopped.failure) return `Why its tasks stopped could not be read: ${stopped.failure}.`
  if (stopped.looking) return 'Why its tasks stopped is being looked up.'
  return 'No stopped tasks were recorded for it.'
}
