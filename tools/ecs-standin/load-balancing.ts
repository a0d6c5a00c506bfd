/**
 * A service's load balancers in the ECS stand-in: its tasks registered in its target groups
 * (the ELB stand-in's model) once RUNNING, counted healthy for the rollout only once healthy in
 * every one, drained before they stop, and replaced when their health checks fail. Sources:
 * - "Use load balancing to distribute Amazon ECS service traffic" (ECS Developer Guide): the
 *   scheduler registers a service's tasks with its target groups and deregisters them before
 *   stopping them; "If a task fails the load balancer health check, ECS stops it".
 * - SDK (node_modules/@aws-sdk/client-ecs/dist-types/models/models_0.d.ts), LoadBalancer:
 *   targetGroupArn, containerName, containerPort; DeploymentConfiguration.minimumHealthyPercent:
 *   "a task is considered healthy if ... it passes the Elastic Load Balancing health checks";
 *   Service.events; Task.pullStartedAt / pullStoppedAt: "The Unix timestamp for the time when
 *   the container image pull began / completed."
 * - Service event wording as ECS writes it: "registered 1 targets in (target-group …)",
 *   "has begun draining connections on 1 tasks.", "deregistered 1 targets in (target-group …)";
 *   a task stopped for failed ELB health checks: "Task failed ELB health checks in (target-group …)".
 */
import type { ElbModel, TargetGroupRecord } from '../elb-standin/model.js'
import type { TaskRecord } from './model.js'

export interface ServiceLoadBalancer {
  targetGroupArn: string
  containerName: string
  containerPort: number
}

/** How long a task of an image takes to be provisioned and to pull its image (within its start). */
export interface ImageStartTimes {
  provisioningMs?: number
  pullMs?: number
}

/** What the scheduler lends this module: its service lookup, events and stops. */
export interface SchedulerHooks {
  loadBalancersOf(task: TaskRecord): ServiceLoadBalancer[]
  taskByTarget(targetId: string): TaskRecord | undefined
  event(task: TaskRecord, text: string): void
  /** The task's target failed its health checks: stop it as a failed task of its deployment. */
  failTask(task: TaskRecord, reason: string): void
  stopNow(task: TaskRecord): void
}

/** The task's private IP: the target id of an `ip` target group (Fargate, awsvpc). */
export function taskIp(task: Pick<TaskRecord, 'id'>): string {
  const byte = (i: number) => parseInt(task.id.slice(2 * i, 2 * i + 2), 16) || 1
  return `10.${byte(0)}.${byte(1)}.${byte(2)}`
}

export class ServiceTargets {
  private readonly imageTimes: Array<{ image: string | RegExp; times: ImageStartTimes }> = []
  private readonly failing: Array<string | RegExp> = []
  /** Drains under way: task ARN to the target groups it still drains from. */
  private readonly draining = new Map<string, Set<string>>()

  constructor(
    readonly elb: ElbModel,
    private readonly hooks: SchedulerHooks
  ) {
    elb.addProbe((group, targetId) => this.passes(group, targetId))
    elb.onTargetChange((group, target, from, to) => {
      const task = hooks.taskByTarget(target.id)
      if (!task) return
      if (to === 'unhealthy' && task.desiredStatus === 'RUNNING')
        hooks.failTask(task, `Task failed ELB health checks in (target-group ${group.arn})`)
      if (from === 'draining' && to === 'unused') this.drained(task, group)
    })
  }

  /** Tasks of images matching `image` fail their health checks (the health path answers 5xx). */
  failHealthChecks(image: string | RegExp): void {
    this.failing.push(image)
  }

  setImageStartTimes(image: string | RegExp, times: ImageStartTimes): void {
    this.imageTimes.unshift({ image, times })
  }

  /** A task came up: its container's port is registered in each target group of its service. */
  register(task: TaskRecord): void {
    const balancers = this.hooks.loadBalancersOf(task)
    for (const lb of balancers) {
      this.elb.registerTarget(lb.targetGroupArn, taskIp(task), lb.containerPort)
      this.hooks.event(task, `registered 1 targets in (target-group ${lb.targetGroupArn})`)
    }
  }

  /** A task of a service that was steady when added: in its target groups and healthy already. */
  registerInService(task: TaskRecord): void {
    for (const lb of this.hooks.loadBalancersOf(task))
      this.elb.registerTarget(lb.targetGroupArn, taskIp(task), lb.containerPort, true)
  }

  /** Whether the task passes the health checks of every target group of its service. */
  inService(task: TaskRecord): boolean {
    return this.hooks
      .loadBalancersOf(task)
      .every(
        lb =>
          this.elb.health(this.elb.targetGroup(lb.targetGroupArn), taskIp(task)).state === 'healthy'
      )
  }

  /**
   * The scheduler stops a task: deregistered from its target groups first, stopped once every
   * drain has ended. False when the task is in no target group (stop it at once).
   */
  drain(task: TaskRecord): boolean {
    const groups = new Set(
      this.hooks
        .loadBalancersOf(task)
        .map(lb => lb.targetGroupArn)
        .filter(arn => this.elb.targetGroup(arn).targets.has(taskIp(task)))
    )
    if (groups.size === 0) return false
    this.draining.set(task.arn, groups)
    this.hooks.event(task, 'has begun draining connections on 1 tasks.')
    for (const arn of groups) {
      this.elb.deregisterTarget(arn, taskIp(task))
      this.hooks.event(task, `deregistered 1 targets in (target-group ${arn})`)
    }
    return true
  }

  /** A task that stopped on its own leaves its target groups (they drain as for any other). */
  release(task: TaskRecord): void {
    for (const lb of this.hooks.loadBalancersOf(task)) {
      if (this.elb.targetGroup(lb.targetGroupArn).targets.has(taskIp(task)))
        this.elb.deregisterTarget(lb.targetGroupArn, taskIp(task))
    }
  }

  /**
   * DescribeTasks fields this module owns: the task's network interface (its private IP is the
   * target id) and the image pull, in epoch seconds as the wire has them.
   */
  wireFields(task: TaskRecord): Record<string, unknown> {
    const start = this.startFields(task)
    return {
      attachments: [
        {
          id: `eni-attachment-${task.id.slice(0, 8)}`,
          type: 'ElasticNetworkInterface',
          status: task.lastStatus === 'STOPPED' ? 'DELETED' : 'ATTACHED',
          details: [
            { name: 'networkInterfaceId', value: `eni-${task.id.slice(0, 17)}` },
            { name: 'privateIPv4Address', value: taskIp(task) }
          ]
        }
      ],
      ...(start.pullStartedAt !== undefined
        ? { pullStartedAt: start.pullStartedAt / 1000, pullStoppedAt: start.pullStoppedAt! / 1000 }
        : {})
    }
  }

  /** Task fields of the start: provisioning, then the image pull, both before RUNNING. */
  startFields(task: TaskRecord): { pullStartedAt?: number; pullStoppedAt?: number } {
    if (task.startedAt === undefined) return {}
    const image = task.containers[0]?.image ?? ''
    const times =
      this.imageTimes.find(rule =>
        typeof rule.image === 'string' ? rule.image === image : rule.image.test(image)
      )?.times ?? {}
    const pullStartedAt = Math.min(task.startedAt, task.createdAt + (times.provisioningMs ?? 0))
    const pullStoppedAt = Math.min(task.startedAt, pullStartedAt + (times.pullMs ?? 0))
    return { pullStartedAt, pullStoppedAt }
  }

  private drained(task: TaskRecord, group: TargetGroupRecord): void {
    const groups = this.draining.get(task.arn)
    if (!groups) return
    groups.delete(group.arn)
    if (groups.size > 0) return
    this.draining.delete(task.arn)
    this.hooks.stopNow(task)
  }

  private passes(_group: TargetGroupRecord, targetId: string): boolean {
    const task = this.hooks.taskByTarget(targetId)
    if (!task || task.lastStatus !== 'RUNNING') return false
    const image = task.containers[0]?.image ?? ''
    return !this.failing.some(rule =>
      typeof rule === 'string' ? rule === image : rule.test(image)
    )
  }
}
