import { ECSClient } from '@aws-sdk/client-ecs'
import { clientSettings } from '../shared/aws.js'
import { runContext, type RunContext } from '../shared/context.js'
import { ActionError } from '../shared/errors.js'
import { environmentInputs, Inputs, type InputSource } from '../shared/inputs.js'
import { realClock, type Clock, type Runner } from '../shared/runner.js'
import { code, facts, section, table } from '../shared/summary.js'
import { readDeployConfig, type DeployConfig } from './config.js'
import { EcsGateway } from './ecs.js'
import { checkGates, gateDependencies, type GateDependencies } from './gates.js'
import { resolveRollbackTarget } from './previous.js'
import { formatDuration, primaryDeployment } from './rollout.js'
import {
  chooseContainer,
  readTemplate,
  renderTaskDefinition,
  shortRevision,
  TRACE_TAGS
} from './task-definition.js'
import { stopCause, watchDeployment, type WatchResult } from './watch.js'

export interface Dependencies {
  inputs: InputSource
  clock: Clock
  context: RunContext
  /** Built from the region once inputs are read, unless a test hands one in. */
  ecs?: EcsGateway
  /** The GitHub and ECR gateways of the gates, unless a test hands them in. */
  gates?: GateDependencies
}

export type DeployStatus = 'succeeded' | 'failed' | 'rolled-back' | 'refused'

export async function run(runner: Runner, overrides: Partial<Dependencies> = {}): Promise<void> {
  const deps: Dependencies = {
    inputs: environmentInputs(),
    clock: realClock,
    context: runContext(),
    ...overrides
  }
  const config = readDeployConfig(new Inputs(deps.inputs))
  const ecs = deps.ecs ?? new EcsGateway(new ECSClient(clientSettings(config.region)))
  const started = deps.clock.now()

  // Everything that can be wrong with the request is found before anything is registered or updated.
  const service = await ecs.describeService(config.cluster, config.service)
  const previousArn = service.taskDefinition ?? ''
  runner.setOutput('previous-task-definition-arn', previousArn)
  runner.info(
    `Service ${config.service} in cluster ${config.cluster} runs ${shortRevision(previousArn)}.`
  )

  // The running revision, read once: the base of the next one, and the commit the gate compares.
  let running: ReturnType<EcsGateway['describeTaskDefinition']> | undefined
  const runningRevision = () => (running ??= ecs.describeTaskDefinition(previousArn))

  // rollback-to never runs the gates: it puts back a revision that ran before (older code on
  // purpose), and an incident rollback must not wait on a scan.
  let gateSummary = ''
  if (!config.rollbackTo) {
    const gate = await checkGates(
      {
        service: config.service,
        runningRevision: shortRevision(previousArn),
        repository: deps.context.repository,
        commit: deps.context.sha,
        runningCommit: async () =>
          previousArn
            ? (await runningRevision()).tags.find(t => t.key === TRACE_TAGS.commit)?.value
            : undefined,
        pollMs: config.pollMs
      },
      config.gates,
      deps.gates ??
        gateDependencies(runner, {
          region: config.region,
          clock: deps.clock,
          deadline: started + config.waitMs,
          pollMs: config.pollMs
        })
    )
    gateSummary = gate.summary
    if (gate.kind === 'refused') {
      await finish(
        runner,
        {
          config,
          target: '',
          previousArn,
          deploymentId: '',
          started,
          clock: deps.clock,
          gateSummary
        },
        'refused'
      )
      throw new ActionError(gate.reason)
    }
  }

  const target = config.rollbackTo
    ? await rollbackTarget(ecs, runner, config, service)
    : await registerNextRevision(ecs, runner, config, deps.context, previousArn, runningRevision)
  runner.setOutput('task-definition-arn', target)

  const updated = await ecs.updateService({
    cluster: config.cluster,
    service: config.service,
    taskDefinition: target,
    desiredCount: config.desiredCount,
    forceNewDeployment: config.forceNewDeployment
  })
  const deploymentId = primaryDeployment(updated)?.id ?? ''
  runner.setOutput('deployment-id', deploymentId)
  runner.info(
    `Updated the service: ${deploymentId || 'no new deployment'} rolls out ${shortRevision(target)}.`
  )

  const report: Report = {
    config,
    target,
    previousArn,
    deploymentId,
    started,
    clock: deps.clock,
    gateSummary
  }
  if (!config.waitForStability) {
    runner.info('Not waiting for the rollout (wait-for-service-stability: false).')
    return finish(runner, report, 'succeeded')
  }

  const seenEvents = new Set<string>()
  const rollout = await runner.group(`Rollout of ${shortRevision(target)} (${deploymentId})`, () =>
    watchDeployment(ecs, runner, deps.clock, {
      cluster: config.cluster,
      service: config.service,
      deployment: { id: deploymentId },
      timeoutMs: config.waitMs,
      pollMs: config.pollMs,
      seenEvents
    })
  )
  report.rollout = rollout
  if (rollout.kind === 'succeeded') {
    runner.info(
      `Deployment ${deploymentId} completed in ${formatDuration(rollout.elapsedMs)}: the service runs ${shortRevision(target)}.`
    )
    return finish(runner, report, 'succeeded')
  }

  // The first error, as soon as the failure is seen and before any rollback settles.
  runner.error(failureMessage(config, rollout))
  report.recovery = await recover(
    ecs,
    runner,
    deps.clock,
    config,
    rollout,
    previousArn,
    target,
    seenEvents
  )
  const status: DeployStatus =
    report.recovery.result?.kind === 'succeeded' ? 'rolled-back' : 'failed'
  await finish(runner, report, status)
  throw new ActionError(outcomeMessage(config, rollout, report.recovery, status))
}

async function registerNextRevision(
  ecs: EcsGateway,
  runner: Runner,
  config: DeployConfig,
  context: RunContext,
  currentArn: string,
  runningRevision: () => ReturnType<EcsGateway['describeTaskDefinition']>
): Promise<string> {
  const base = config.taskDefinitionPath
    ? await readTemplate(config.taskDefinitionPath)
    : await runningRevision()
  const containerName = chooseContainer(base.taskDefinition, config.containerName)
  const input = renderTaskDefinition({
    base: base.taskDefinition,
    baseTags: base.tags,
    containerName,
    image: config.image,
    environment: config.environment,
    trace: { commit: context.sha, run: context.runUrl || context.runId, image: config.image }
  })
  const registered = await ecs.registerTaskDefinition(input)
  const arn = registered.taskDefinitionArn ?? ''
  runner.info(
    `Registered ${shortRevision(arn)} from ${config.taskDefinitionPath || shortRevision(currentArn)}: container ${containerName} runs ${config.image}.`
  )
  return arn
}

async function rollbackTarget(
  ecs: EcsGateway,
  runner: Runner,
  config: DeployConfig,
  service: Parameters<typeof resolveRollbackTarget>[2]
): Promise<string> {
  const target = await resolveRollbackTarget(ecs, config.cluster, service, config.rollbackTo)
  runner.info(`Rolling back to ${shortRevision(target.taskDefinitionArn)}: ${target.why}.`)
  return target.taskDefinitionArn
}

interface Recovery {
  /** Who put the previous revision back, or why nobody did. */
  by: 'ecs' | 'action' | 'none'
  note: string
  result?: WatchResult
}

async function recover(
  ecs: EcsGateway,
  runner: Runner,
  clock: Clock,
  config: DeployConfig,
  failure: Extract<WatchResult, { kind: 'failed' }>,
  previousArn: string,
  target: string,
  seenEvents: Set<string>
): Promise<Recovery> {
  const watch = (deployment: { id: string } | { replacing: string }, title: string) =>
    runner.group(title, () =>
      watchDeployment(ecs, runner, clock, {
        cluster: config.cluster,
        service: config.service,
        deployment,
        timeoutMs: config.waitMs,
        pollMs: config.pollMs,
        seenEvents
      })
    )
  if (failure.ecsRollingBack) {
    runner.info(
      'The deployment circuit breaker is rolling the service back; waiting for it to settle.'
    )
    const result = await watch(
      { replacing: failure.deploymentId },
      'Rollback by the ECS deployment circuit breaker'
    )
    return { by: 'ecs', note: 'rolled back by the ECS deployment circuit breaker', result }
  }
  if (!config.rollbackOnFailure)
    return { by: 'none', note: 'no rollback: rollback-on-failure is false' }
  if (previousArn === '' || previousArn === target) {
    return {
      by: 'none',
      note: `no rollback: the service ran ${shortRevision(previousArn)} before, the revision that failed`
    }
  }
  runner.info(`Putting ${shortRevision(previousArn)} back (rollback-on-failure).`)
  const updated = await ecs.updateService({
    cluster: config.cluster,
    service: config.service,
    taskDefinition: previousArn,
    forceNewDeployment: true
  })
  const id = primaryDeployment(updated)?.id ?? ''
  const result = await watch({ id }, `Rollback to ${shortRevision(previousArn)} (${id})`)
  return {
    by: 'action',
    note: `rolled back to ${shortRevision(previousArn)} by this action`,
    result
  }
}

function failureMessage(
  config: DeployConfig,
  failure: Extract<WatchResult, { kind: 'failed' }>
): string {
  const what = {
    'rollout-failed': 'failed',
    replaced: 'was replaced',
    'tasks-failing': 'is failing',
    'timed-out': 'timed out'
  }[failure.cause]
  // Tasks the scheduler stopped itself (a rollback draining ours) say nothing about the cause.
  const failed = failure.stoppedTasks.filter(t => t.stopCode !== 'ServiceSchedulerInitiated')
  // Tasks of one bad revision usually stop for the same reason: say each reason once, with a count.
  const causes = new Map<string, number>()
  for (const task of failed.length > 0 ? failed : failure.stoppedTasks)
    causes.set(stopCause(task), (causes.get(stopCause(task)) ?? 0) + 1)
  const stopped = [...causes]
    .slice(0, 3)
    .map(([cause, count]) => `${count} task${count > 1 ? 's' : ''}: ${cause}`)
  return (
    `Deployment ${failure.deploymentId || '(none)'} of service '${config.service}' in cluster '${config.cluster}' ${what}: ${failure.reason.replace(/\.$/, '')}.` +
    (stopped.length > 0
      ? ` Stopped ${stopped.join(' | ')}`
      : ' No stopped tasks were recorded for it.')
  )
}

function outcomeMessage(
  config: DeployConfig,
  failure: Extract<WatchResult, { kind: 'failed' }>,
  recovery: Recovery,
  status: DeployStatus
): string {
  const head = `Deploying ${config.rollbackTo ? `rollback-to ${config.rollbackTo}` : config.image} to '${config.service}' failed (${failure.reason.replace(/\.$/, '')})`
  if (status === 'rolled-back')
    return `${head}; ${recovery.note}, and the service is steady on it. Fix the cause shown above and deploy again.`
  if (recovery.result?.kind === 'failed') {
    return `${head}; the rollback did not settle either (${recovery.result.reason}). The service may be unhealthy: check it in the ECS console now.`
  }
  return `${head}; ${recovery.note}. The service may still be running the failed revision: check it and roll back with rollback-to.`
}

interface Report {
  config: DeployConfig
  target: string
  previousArn: string
  deploymentId: string
  started: number
  clock: Clock
  rollout?: WatchResult
  recovery?: Recovery
  /** What the gates found (gates.ts), or empty when they were off. */
  gateSummary?: string
}

async function finish(runner: Runner, report: Report, status: DeployStatus): Promise<void> {
  runner.setOutput('status', status)
  const { config, rollout, recovery } = report
  const parts = [
    facts([
      ['Status', status],
      ['Cluster / service', `${config.cluster} / ${config.service}`],
      [config.rollbackTo ? 'Rolled back to' : 'Task definition', shortRevision(report.target)],
      ['Previous task definition', shortRevision(report.previousArn)],
      ['Image', config.image || undefined],
      ['Deployment', report.deploymentId],
      ['Duration', formatDuration(report.clock.now() - report.started)]
    ])
  ]
  if (report.gateSummary) parts.push(report.gateSummary)
  if (rollout?.kind === 'failed') {
    parts.push(`**Why it failed:** ${rollout.reason}`)
    if (rollout.stoppedTasks.length > 0) {
      parts.push(
        table(
          ['Task', 'Stopped reason', 'Containers'],
          rollout.stoppedTasks.map(t => [
            code(t.taskArn.split('/').pop() ?? t.taskArn),
            [t.stoppedReason, t.stopCode].filter(Boolean).join(' '),
            t.containers
              .map(
                c => `${c.name}: exit ${c.exitCode ?? 'none'}${c.reason ? ` (${c.reason})` : ''}`
              )
              .join('; ')
          ])
        )
      )
    }
    if (recovery) {
      const settled = recovery.result
        ? recovery.result.kind === 'succeeded'
          ? 'steady'
          : `did not settle: ${recovery.result.reason}`
        : ''
      parts.push(`**Recovery:** ${recovery.note}${settled ? ` (${settled})` : ''}.`)
    }
  }
  await runner.summary(section(`ECS deploy: ${config.service} ${status}`, ...parts))
}
