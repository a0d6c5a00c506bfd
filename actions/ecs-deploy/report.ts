import type { Service } from '@aws-sdk/client-ecs'
import type { RunContext } from '../shared/context.js'
import { describeError } from '../shared/errors.js'
import { code, facts, section, table } from '../shared/summary.js'
import type { DeployConfig } from './config.js'
import type { EcsGateway, StoppedTask } from './ecs.js'
import type { LifecycleWatchResult } from './lifecycle.js'
import { crashLogsMarkdown, type CrashLogs } from './logs.js'
import { describeDeployment, formatDuration, primaryDeployment } from './rollout.js'
import type { DeployStatus, StepFacts } from './status.js'
import { shortRevision } from './task-definition.js'
import type { Timeline } from './timeline.js'
import { stopCause, type StoppedTaskLog, type WatchResult } from './watch.js'

/** How a watched rollout ended: a rolling deployment's, or a blue/green service deployment's. */
export type RolloutResult = WatchResult | LifecycleWatchResult

/** Who put the previous revision back, or why nobody did. */
export interface Recovery {
  by: 'ecs' | 'action' | 'none'
  note: string
  result?: RolloutResult
  /** A traffic switch: from the request to production traffic back on the previous revision. */
  trafficReturnedMs?: number
}

/** What one run of the step did and saw: everything the status, the summary and the error come from. */
export interface StepRecord {
  started: number
  facts: StepFacts
  /** What happened, on one time axis: the summary's chart. */
  timeline: Timeline
  config?: DeployConfig
  context?: RunContext
  ecs?: EcsGateway
  previousArn?: string
  target?: string
  deploymentId?: string
  /** Blue/green, linear, canary: the service deployment of the update. */
  serviceDeploymentArn?: string
  /** An UpdateService of the rollout is under way (its outcome decides whether anything changed). */
  updating?: boolean
  rollout?: RolloutResult
  recovery?: Recovery
  /** rollback-to by a traffic switch: from the request to production traffic back. */
  trafficReturnedMs?: number
  /** What the gates found (gates.ts), or empty when they were off. */
  gateSummary?: string
  /** The rollback mark on the service and what was decided about it (rollback-mark.ts). */
  markSummary?: string
  migrationSummary?: string
  scalingSummary?: string
  /** Why the rollout took the time it took (phases.ts). */
  phasesSummary?: string
  planSummary?: string
  crashLogs?: CrashLogs
  /** A PAUSE hook waited at or answered (hooks.ts); its message, when it tells the outcome best. */
  hook?: { summary: string; message?: string }
  error?: unknown
}

/** Each stop reason once, with a count, at most three: tasks of one bad revision share them. */
export function groupedCauses(tasks: StoppedTask[]): string[] {
  // Tasks the scheduler stopped itself (a rollback draining ours) say nothing about the cause.
  const failed = tasks.filter(t => t.stopCode !== 'ServiceSchedulerInitiated')
  const causes = new Map<string, number>()
  for (const task of failed.length > 0 ? failed : tasks)
    causes.set(stopCause(task), (causes.get(stopCause(task)) ?? 0) + 1)
  return [...causes]
    .slice(0, 3)
    .map(([cause, count]) => `${count} task${count > 1 ? 's' : ''}: ${cause}`)
}

/** The first `::error::`: the deployment, ECS's reason, and why tasks stopped as far as known. */
export function firstFailureLine(
  config: DeployConfig,
  failure: Extract<RolloutResult, { kind: 'failed' }>
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
export function stoppedSentence(stopped: StoppedTaskLog): string {
  const causes = groupedCauses(stopped.tasks)
  if (causes.length > 0) return `Stopped ${causes.join(' | ')}`
  if (stopped.failure) return `Why its tasks stopped could not be read: ${stopped.failure}.`
  if (stopped.looking) return 'Why its tasks stopped is being looked up.'
  return 'No stopped tasks were recorded for it.'
}

/** The service as last seen, in one line: what it actually runs. */
export function serviceState(service: Service | undefined): string {
  if (!service) return 'not read'
  const primary = primaryDeployment(service)
  if (!primary) return 'no deployment'
  // A primary deployment comes from the list, so there is one.
  const others = service.deployments!.length - 1
  return (
    `${describeDeployment(primary)} ${primary.rolloutState ?? 'no rollout state'}, ` +
    `running ${primary.runningCount ?? 0}/${primary.desiredCount ?? 0}` +
    (others > 0 ? `; ${others} older deployment${others > 1 ? 's' : ''} still on it` : '')
  )
}

export function deployReport(
  step: StepRecord,
  status: DeployStatus,
  now: number
): { summary: string; message: string } {
  return { summary: summary(step, status, now), message: message(step, status) }
}

function message(step: StepRecord, status: DeployStatus): string {
  const { config, rollout, recovery } = step
  const lastSeen = serviceState(step.ecs?.lastSeen)
  if (step.error !== undefined) {
    const said = describeError(step.error)
    if (status === 'unknown') {
      return `${said}. The step cannot tell what the service runs now; it last saw ${lastSeen}. Check the service before deploying again.`
    }
    return said
  }
  if (step.hook?.message) return step.hook.message
  const what = config?.rollbackTo ? `rollback-to ${config.rollbackTo}` : (config?.image ?? '')
  const name = config?.service ?? ''
  if (rollout?.kind === 'superseded') {
    return `Deploying ${what} to '${name}' was superseded: ${rollout.reason}. This step did not touch the service after that; it runs ${lastSeen}.`
  }
  if (rollout?.kind === 'unknown') {
    return `Deploying ${what} to '${name}': the outcome is unknown, because ${rollout.reason}. It last saw ${lastSeen}. Check the service before deploying again.`
  }
  if (rollout?.kind !== 'failed') return `Deploying ${what} to '${name}' ended ${status}.`
  const causes = groupedCauses(rollout.stopped.tasks)
  const head =
    `Deploying ${what} to '${name}' failed (${rollout.reason.replace(/\.$/, '')})` +
    (causes.length > 0 ? ` [stopped ${causes.join(' | ')}]` : '') +
    lastLogged(step.crashLogs)
  const result = recovery?.result
  switch (status) {
    case 'rolled-back':
      return `${head}; ${recovery?.note}, and the service is steady on it. Fix the cause shown above and deploy again.`
    case 'superseded':
      return `${head}; ${result && 'reason' in result ? result.reason : 'another deployment replaced it'}, and this step left it alone. The service runs ${lastSeen}.`
    case 'unknown':
      return `${head}; then ${result && 'reason' in result ? result.reason : 'the service could not be read'}. It last saw ${lastSeen}. Check the service now.`
  }
  if (result?.kind === 'failed') {
    return `${head}; the rollback did not settle either (${result.reason}). The service may be unhealthy: it runs ${lastSeen}. Check it in the ECS console now.`
  }
  return `${head}; ${recovery?.note ?? 'no rollback'}. The service runs ${lastSeen}: check it and roll back with rollback-to if it is not healthy.`
}

/** The crashed container's last log line, as the message quotes it; empty without one. */
function lastLogged(logs: CrashLogs | undefined): string {
  if (logs?.kind !== 'lines') return ''
  const last = logs.lines.at(-1)?.message
  return last ? ` [container ${logs.container} last logged: ${last.trim()}]` : ''
}

function summary(step: StepRecord, status: DeployStatus, now: number): string {
  const { config, rollout, recovery } = step
  const parts = [
    facts([
      ['Status', status],
      ['Cluster / service', config ? `${config.cluster} / ${config.service}` : undefined],
      [
        config?.rollbackTo ? 'Rolled back to' : 'Task definition',
        step.target ? shortRevision(step.target) : undefined
      ],
      ['Previous task definition', step.previousArn ? shortRevision(step.previousArn) : undefined],
      ['Image', config?.image || undefined],
      ['Deployment', step.deploymentId],
      ['Service deployment', step.serviceDeploymentArn?.split('/').pop()],
      ['Service now', step.ecs?.lastSeen ? serviceState(step.ecs.lastSeen) : undefined],
      ['Duration', formatDuration(now - step.started)]
    ])
  ]
  if (step.markSummary) parts.push(step.markSummary)
  if (step.gateSummary) parts.push(step.gateSummary)
  if (step.hook) parts.push(step.hook.summary)
  if (step.planSummary) parts.push(step.planSummary)
  if (step.migrationSummary) parts.push(step.migrationSummary)
  if (step.scalingSummary) parts.push(step.scalingSummary)
  if (step.error !== undefined) {
    parts.push(`**Error:** ${describeError(step.error)}`)
    if (!step.facts.changeSent) parts.push('Nothing was changed.')
  }
  if (rollout && rollout.kind !== 'succeeded') parts.push(`**Why:** ${rollout.reason}`)
  if (rollout?.kind === 'failed') {
    if (rollout.stopped.tasks.length > 0) {
      parts.push(
        table(
          ['Task', 'Stopped reason', 'Containers'],
          rollout.stopped.tasks.map(t => [
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
    } else if (rollout.stopped.failure) {
      parts.push(`Why its tasks stopped could not be read: ${rollout.stopped.failure}`)
    }
    if (recovery) {
      const result = recovery.result
      const settled = result
        ? result.kind === 'succeeded'
          ? 'steady'
          : `${result.kind}: ${result.reason}`
        : ''
      parts.push(`**Recovery:** ${recovery.note}${settled ? ` (${settled})` : ''}.`)
    }
  }
  // Nothing for logs that were off.
  if (step.crashLogs) parts.push(crashLogsMarkdown(step.crashLogs))
  if (step.phasesSummary) parts.push(step.phasesSummary)
  if (step.trafficReturnedMs !== undefined)
    parts.push(
      `**Production traffic back on the previous revision after:** ${step.trafficReturnedMs} ms`
    )
  if (step.timeline.events.length > 0) parts.push(step.timeline.toMermaid(now))
  return section(
    `ECS deploy: ${config?.service ?? ''} ${status}${step.facts.planned ? ' (dry run)' : ''}`,
    ...parts
  )
}
