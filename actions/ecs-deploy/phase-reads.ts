/**
 * The reads behind the phase report (phases.ts), made once the rollout has ended: a handful of
 * calls per rollout, never per poll. ListTasks of the new deployment and of each older one,
 * one DescribeTasks for all of them, DescribeTargetGroups and DescribeTargetGroupAttributes of
 * the service's target groups. Service events come from the last DescribeServices of the watch.
 */
import type { Service } from '@aws-sdk/client-ecs'
import { attemptTimeoutFor } from '../shared/aws-call.js'
import { describeError } from '../shared/errors.js'
import type { Clock, Runner } from '../shared/runner.js'
import type { EcsGateway } from './ecs.js'
import type { ElbGateway } from './elb.js'
import { phaseReport, phasesMarkdown, type PhaseReport, type PhaseTask } from './phases.js'
import type { StepRecord } from './report.js'
import { targetGroupArns, type ServingCheck } from './serving.js'

export interface PhaseReads {
  ecs: EcsGateway
  /** Built only when the service has target groups. */
  elb: () => ElbGateway
  runner: Runner
  clock: Clock
  /** The service as described before the update: its older deployments. */
  before: Service
  /** Epoch ms: the update, and the rollout's verdict. */
  updatedAt: number
  ended: number
  serving?: ServingCheck
}

const ms = (date: Date | undefined) => (date ? date.valueOf() : undefined)

/** Reads, reports in the log, and records the summary part and timeline spans on the step. */
export async function reportPhases(
  step: StepRecord,
  reads: PhaseReads
): Promise<PhaseReport | undefined> {
  const config = step.config
  if (!config || !step.deploymentId) return undefined
  // They explain the rollout and decide nothing: one attempt's time in all, then the step ends.
  const deadline = reads.clock.now() + attemptTimeoutFor(config.pollMs)
  const ecs = reads.ecs.until(deadline)
  const after = ecs.lastSeen ?? reads.before
  const oldIds = (reads.before.deployments ?? [])
    .map(d => d.id ?? '')
    .filter(id => id && id !== step.deploymentId)
  let calls = 0
  try {
    const newArns = await ecs.deploymentTaskArns(config.cluster, step.deploymentId, 'RUNNING')
    calls++
    const oldArns: string[] = []
    for (const id of oldIds) {
      oldArns.push(...(await ecs.deploymentTaskArns(config.cluster, id, 'STOPPED')))
      calls++
    }
    const tasks = await ecs.describeTasks(config.cluster, [...newArns, ...oldArns])
    if (newArns.length + oldArns.length > 0) calls++
    const groups = targetGroupArns(after)
    const timings = groups.length
      ? await reads.elb().until(deadline).targetGroupTimings(groups)
      : []
    calls += groups.length ? 1 + groups.length : 0
    const asPhaseTask = (arn: string): PhaseTask[] => {
      const task = tasks.find(t => t.taskArn === arn)
      if (!task) return []
      return [
        {
          taskArn: arn,
          createdAt: ms(task.createdAt),
          pullStartedAt: ms(task.pullStartedAt),
          pullStoppedAt: ms(task.pullStoppedAt),
          startedAt: ms(task.startedAt),
          stoppingAt: ms(task.stoppingAt),
          stoppedAt: ms(task.stoppedAt)
        }
      ]
    }
    const report = phaseReport({
      started: reads.updatedAt,
      ended: reads.ended,
      newTasks: newArns.flatMap(asPhaseTask),
      oldTasks: oldArns.flatMap(asPhaseTask),
      targetGroups: timings,
      events: (after.events ?? []).map(e => ({
        at: ms(e.createdAt) ?? 0,
        message: e.message ?? ''
      })),
      healthySeen: reads.serving?.healthySeen,
      pollMs: config.pollMs,
      desiredCount: after.desiredCount ?? 0,
      minimumHealthyPercent: after.deploymentConfiguration?.minimumHealthyPercent ?? 100,
      maximumPercent: after.deploymentConfiguration?.maximumPercent ?? 200,
      waitsForDrain: config.waitUntil !== 'serving'
    })
    reads.runner.info(report.longestLine)
    reads.runner.info(report.floorLine)
    reads.runner.info(`(the phase report took ${calls} read calls)`)
    step.phasesSummary = `${phasesMarkdown(report, reads.updatedAt)}\n\nRead with ${calls} calls after the rollout.`
    for (const phase of report.phases)
      step.timeline.span('phase', phase.from, phase.to, phase.label)
    return report
  } catch (error) {
    reads.runner.warning(`Could not read the phases of this rollout: ${describeError(error)}`)
    return undefined
  }
}
