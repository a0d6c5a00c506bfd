/**
 * `wait-until: serving` for a ROLLING service: done as soon as the new revision serves, without
 * waiting for the old tasks to drain.
 * - Pure: `judgeServing` (the new tasks and every target group's targets in, a verdict out).
 * - I/O: `ServingCheck`, asked by the watch after each poll in which ECS counts the new
 *   deployment's tasks running at the desired count (so the reads cost nothing before then):
 *   ListTasks and DescribeTasks of the deployment, DescribeTargetHealth of each target group.
 */
import type { Service, Task } from '@aws-sdk/client-ecs'
import { InputError } from '../shared/errors.js'
import type { Clock } from '../shared/runner.js'
import type { EcsGateway } from './ecs.js'
import type { ElbGateway, TargetHealthState } from './elb.js'

export interface ServingLook {
  desiredCount: number
  /** The new deployment's tasks ECS wants running, with their private IP (the target id). */
  newTasks: Array<{ taskArn: string; ip?: string }>
  /** Each target group's targets, by ARN. */
  targets: Record<string, TargetHealthState[]>
}

export type ServingVerdict =
  { serving: true; healthyIn: string[] } | { serving: false; reason: string; healthyIn: string[] }

/**
 * Serving means: the new revision has the desired count of tasks, every one of them `healthy`
 * in every target group, and no other target is still `healthy` (taking new requests) in any
 * of them. Draining targets finish their requests but take no new ones, so they do not count.
 * `healthyIn` lists the target groups where every new task is healthy already.
 */
export function judgeServing(look: ServingLook): ServingVerdict {
  const groups = Object.keys(look.targets)
  const ips = new Set(look.newTasks.map(t => t.ip).filter((ip): ip is string => !!ip))
  const complete = look.newTasks.length >= look.desiredCount && ips.size === look.newTasks.length
  const healthyIn = complete
    ? groups.filter(arn =>
        look.newTasks.every(task =>
          look.targets[arn]!.some(t => t.id === task.ip && t.state === 'healthy')
        )
      )
    : []
  if (groups.length === 0)
    return { serving: false, reason: 'the service has no target groups', healthyIn }
  if (!complete)
    return {
      serving: false,
      reason: `${look.newTasks.length} of ${look.desiredCount} new tasks are known`,
      healthyIn
    }
  for (const arn of groups) {
    const targets = look.targets[arn]!
    for (const task of look.newTasks) {
      const target = targets.find(t => t.id === task.ip)
      if (target?.state !== 'healthy')
        return {
          serving: false,
          reason: `new target ${task.ip} is ${target?.state ?? 'not registered'} in ${groupName(arn)}`,
          healthyIn
        }
    }
    const old = targets.find(t => t.state === 'healthy' && !ips.has(t.id))
    if (old)
      return {
        serving: false,
        reason: `old target ${old.id} still takes new requests in ${groupName(arn)}`,
        healthyIn
      }
  }
  return { serving: true, healthyIn }
}

/** The task's private IPv4 address: the target id of an `ip` target group (Fargate, awsvpc). */
export function taskIp(task: Task): string | undefined {
  for (const attachment of task.attachments ?? []) {
    const ip = attachment.details?.find(d => d.name === 'privateIPv4Address')?.value
    if (ip) return ip
  }
  return task.containers?.[0]?.networkInterfaces?.[0]?.privateIpv4Address
}

export function groupName(arn: string): string {
  return arn.split(':targetgroup/')[1]?.split('/')[0] ?? arn
}

/** The service's target groups, from its load balancers. */
export function targetGroupArns(service: Service | undefined): string[] {
  return [
    ...new Set(
      (service?.loadBalancers ?? []).map(lb => lb.targetGroupArn).filter((a): a is string => !!a)
    )
  ]
}

/** Asked by the watch after a poll; remembers when each target group was first seen healthy. */
export class ServingCheck {
  /** By target group ARN: the poll that first saw every new task healthy there. */
  readonly healthySeen: Record<string, number> = {}
  lastReason = ''
  calls = 0
  /** Epoch ms: the poll that found the new revision serving (the watch ended there). */
  servedAt?: number

  constructor(
    private readonly ecs: EcsGateway,
    private readonly elb: ElbGateway,
    private readonly clock: Clock,
    private readonly cluster: string,
    private readonly deploymentId: string
  ) {}

  async look(service: Service): Promise<boolean> {
    const ours = service.deployments?.find(d => d.id === this.deploymentId)
    const groups = targetGroupArns(service)
    if (!ours || groups.length === 0) return false
    if ((ours.runningCount ?? 0) < (ours.desiredCount ?? 0)) return false
    const seenAt = this.clock.now()
    const arns = await this.ecs.deploymentTaskArns(this.cluster, this.deploymentId, 'RUNNING')
    const tasks = await this.ecs.describeTasks(this.cluster, arns)
    const targets: Record<string, TargetHealthState[]> = {}
    for (const arn of groups) targets[arn] = await this.elb.targetHealth(arn)
    this.calls += (arns.length ? 2 : 1) + groups.length
    const verdict = judgeServing({
      desiredCount: ours.desiredCount ?? 0,
      newTasks: tasks.map(t => ({ taskArn: t.taskArn ?? '', ip: taskIp(t) })),
      targets
    })
    for (const arn of verdict.healthyIn) this.healthySeen[arn] ??= seenAt
    if (!verdict.serving) this.lastReason = verdict.reason
    else this.servedAt = seenAt
    return verdict.serving
  }
}

/** `serving` judges a rolling update's tasks; a blue/green, linear or canary service shifts traffic instead. */
export function refuseServingFor(strategy: string | undefined, waitUntil: string): void {
  if (!strategy || waitUntil !== 'serving') return
  throw new InputError(
    'wait-until',
    waitUntil,
    `the service deploys with ${strategy}, where traffic moves by its lifecycle stages: use traffic-shifted (all production traffic on the new revision) or steady`
  )
}

/** The check for `wait-until: serving`, or undefined when the step waits for steady. */
export function servingCheckFor(
  waitUntil: string,
  io: {
    ecs: EcsGateway
    elb: () => ElbGateway
    clock: Clock
    cluster: string
    deploymentId: string
  }
): ServingCheck | undefined {
  if (waitUntil !== 'serving' || !io.deploymentId) return undefined
  return new ServingCheck(io.ecs, io.elb(), io.clock, io.cluster, io.deploymentId)
}
