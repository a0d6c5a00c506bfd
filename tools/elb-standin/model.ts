/**
 * The Elastic Load Balancing (v2) model of the stand-in: target groups, their health checks and
 * the states of their targets over time. Every behaviour cites its source: the doc comments of
 * node_modules/@aws-sdk/client-elastic-load-balancing-v2/dist-types/models/models_0.d.ts
 * (quoted as "SDK: <member>"), or the "Target groups for your Application Load Balancers" and
 * "Health checks for Application Load Balancer target groups" pages of the ELB User Guide.
 *
 * Time is scaled: `secondMs` milliseconds of the stand-in's clock make one second of AWS time,
 * so AWS's defaults (30 s interval, 5 healthy checks, a 300 s deregistration delay) can play in
 * tests in a fraction of the time, in the same proportions.
 */
import { AwsServiceError } from '../shared/json11.js'

export class ElbError extends AwsServiceError {}

export type TargetState = 'initial' | 'healthy' | 'unhealthy' | 'draining' | 'unused'

/** A target group's health check settings and deregistration delay, in AWS seconds. */
export interface TargetGroupSettings {
  /**
   * SDK: HealthCheckIntervalSeconds, "The range is 5-300. If the target group protocol is ...
   * HTTP or HTTPS, the default is 30 seconds."
   */
  healthCheckIntervalSeconds: number
  /** SDK: HealthCheckTimeoutSeconds, "For target groups with a protocol of HTTP, the default is 6 seconds." */
  healthCheckTimeoutSeconds: number
  /** SDK: HealthyThresholdCount, "The range is 2-10. If the target group protocol is ... HTTP or HTTPS, the default is 5." */
  healthyThresholdCount: number
  /** SDK: UnhealthyThresholdCount, "The range is 2-10. If the target group protocol is ... HTTP or HTTPS, the default is 2." */
  unhealthyThresholdCount: number
  /**
   * SDK: TargetGroupAttribute Key, "deregistration_delay.timeout_seconds - The amount of time,
   * in seconds, for Elastic Load Balancing to wait before changing the state of a deregistering
   * target from draining to unused. The range is 0-3600 seconds. The default value is 300 seconds."
   */
  deregistrationDelaySeconds: number
}

/** AWS's defaults for an HTTP target group (sources beside each field above). */
export const DEFAULT_TARGET_GROUP_SETTINGS: TargetGroupSettings = {
  healthCheckIntervalSeconds: 30,
  healthCheckTimeoutSeconds: 6,
  healthyThresholdCount: 5,
  unhealthyThresholdCount: 2,
  deregistrationDelaySeconds: 300
}

export interface TargetRecord {
  id: string
  port: number
  state: Exclude<TargetState, 'unused'>
  reason?: string
  registeredAt: number
  /** Consecutive passed (positive) or failed (negative) health checks. */
  streak: number
  nextCheckAt: number
  /** When draining ends and the target is removed from the group. */
  drainedAt?: number
}

export interface TargetGroupRecord {
  arn: string
  name: string
  port: number
  protocol: 'HTTP'
  healthCheckPath: string
  loadBalancerArns: string[]
  settings: TargetGroupSettings
  targets: Map<string, TargetRecord>
}

export interface AddTargetGroupSpec {
  name: string
  port?: number
  healthCheckPath?: string
  settings?: Partial<TargetGroupSettings>
}

/** Told when a target's state changes, e.g. so ECS can replace a task whose target went unhealthy. */
export type TargetListener = (
  group: TargetGroupRecord,
  target: TargetRecord,
  from: TargetState,
  /** The state it changed to (the target may have moved on by the time a later listener runs). */
  to: TargetState
) => void

/** Whether a health check of this target passes now (the target answers the health check path). */
export type HealthProbe = (group: TargetGroupRecord, targetId: string) => boolean

const RANGES: Record<keyof TargetGroupSettings, [number, number]> = {
  healthCheckIntervalSeconds: [5, 300],
  healthCheckTimeoutSeconds: [2, 120],
  healthyThresholdCount: [2, 10],
  unhealthyThresholdCount: [2, 10],
  deregistrationDelaySeconds: [0, 3600]
}

export class ElbModel {
  readonly targetGroups = new Map<string, TargetGroupRecord>()
  private readonly listeners: TargetListener[] = []
  private readonly forced = new Map<string, boolean>()
  /** Probes added by whoever runs the targets (ECS's tasks); all must pass. */
  private readonly probes: HealthProbe[] = []

  constructor(
    readonly region: string,
    readonly accountId: string,
    /** Stand-in milliseconds per AWS second. */
    readonly secondMs: number,
    private readonly now: () => number = Date.now
  ) {}

  addTargetGroup(spec: AddTargetGroupSpec): TargetGroupRecord {
    const settings = { ...DEFAULT_TARGET_GROUP_SETTINGS, ...spec.settings }
    for (const [key, [min, max]] of Object.entries(RANGES) as Array<
      [keyof TargetGroupSettings, [number, number]]
    >) {
      const value = settings[key]
      if (!Number.isInteger(value) || value < min || value > max)
        throw new Error(`${key} must be an integer from ${min} to ${max}, got ${value}.`)
    }
    // SDK: HealthCheckTimeoutSeconds must be less than the interval (CreateTargetGroup's rule).
    if (settings.healthCheckTimeoutSeconds >= settings.healthCheckIntervalSeconds)
      settings.healthCheckTimeoutSeconds = Math.max(2, settings.healthCheckIntervalSeconds - 1)
    const id = Array.from({ length: 16 }, () => Math.floor(Math.random() * 16).toString(16)).join(
      ''
    )
    const arn = `arn:aws:elasticloadbalancing:${this.region}:${this.accountId}:targetgroup/${spec.name}/${id}`
    const group: TargetGroupRecord = {
      arn,
      name: spec.name,
      port: spec.port ?? 8080,
      protocol: 'HTTP',
      healthCheckPath: spec.healthCheckPath ?? '/health',
      loadBalancerArns: [
        `arn:aws:elasticloadbalancing:${this.region}:${this.accountId}:loadbalancer/app/${spec.name}/${id}`
      ],
      settings,
      targets: new Map()
    }
    this.targetGroups.set(arn, group)
    return group
  }

  targetGroup(arn: string): TargetGroupRecord {
    const group = this.targetGroups.get(arn)
    // SDK: TargetGroupNotFoundException, "The specified target group does not exist."
    if (!group) throw new ElbError('TargetGroupNotFound', `Target groups '${arn}' not found`)
    return group
  }

  onTargetChange(listener: TargetListener): void {
    this.listeners.push(listener)
  }

  addProbe(probe: HealthProbe): void {
    this.probes.push(probe)
  }

  /** Makes every health check of a target pass or fail from now on; undefined: back to the probes. */
  forceHealth(targetId: string, passing: boolean | undefined): void {
    if (passing === undefined) this.forced.delete(targetId)
    else this.forced.set(targetId, passing)
  }

  /**
   * RegisterTargets. A new target is `initial` (reason Elb.InitialHealthChecking: "The load
   * balancer is still sending the target the minimum number of health checks required to
   * determine its health status", SDK: TargetHealth Reason) until its first check passes. The first
   * check comes one interval after registration: the unkind side of "approximate amount of time
   * ... between health checks" (SDK: HealthCheckIntervalSeconds).
   */
  registerTarget(groupArn: string, id: string, port?: number, alreadyHealthy = false): void {
    const group = this.targetGroup(groupArn)
    const existing = group.targets.get(id)
    if (existing && existing.state !== 'draining') return
    const now = this.now()
    group.targets.set(id, {
      id,
      port: port ?? group.port,
      // alreadyHealthy: a target of a service that was steady before the stand-in's story began.
      state: alreadyHealthy ? 'healthy' : 'initial',
      reason: alreadyHealthy ? undefined : 'Elb.InitialHealthChecking',
      registeredAt: now,
      streak: alreadyHealthy ? group.settings.healthyThresholdCount : 0,
      nextCheckAt: now + this.seconds(group.settings.healthCheckIntervalSeconds)
    })
  }

  /**
   * DeregisterTargets: the target drains (reason Target.DeregistrationInProgress) for the
   * deregistration delay, then is gone: "The amount of time ... to wait before changing the
   * state of a deregistering target from draining to unused" (SDK: TargetGroupAttribute Key).
   */
  deregisterTarget(groupArn: string, id: string): void {
    const group = this.targetGroup(groupArn)
    const target = group.targets.get(id)
    if (!target || target.state === 'draining') return
    const from = target.state
    target.state = 'draining'
    target.reason = 'Target.DeregistrationInProgress'
    target.drainedAt = this.now() + this.seconds(group.settings.deregistrationDelaySeconds)
    this.tell(group, target, from)
  }

  /** One step: health checks that are due, and drains that have ended. */
  tick(): void {
    const now = this.now()
    for (const group of this.targetGroups.values()) {
      for (const target of [...group.targets.values()]) {
        if (target.state === 'draining') {
          if (now >= (target.drainedAt ?? now)) {
            group.targets.delete(target.id)
            this.tell(group, target, 'draining')
          }
          continue
        }
        while (target.nextCheckAt <= now) {
          target.nextCheckAt += this.seconds(group.settings.healthCheckIntervalSeconds)
          this.check(group, target)
          // A target that failed may have been deregistered by whoever listens (ECS): no more checks.
          if ((target.state as TargetState) === 'draining') break
        }
      }
    }
  }

  /**
   * One health check. A new target needs one: "After your target is registered, it must pass
   * one health check to be considered healthy" (ELB User Guide, "Health checks for Application
   * Load Balancer target groups"). After that the thresholds apply: "If the health checks exceed
   * UnhealthyThresholdCount consecutive failures, the load balancer takes the target out of
   * service. When the health checks exceed HealthyThresholdCount consecutive successes, the load
   * balancer puts the target back in service" (same page). A failing target shows
   * Target.ResponseCodeMismatch: "The health checks did not return an expected HTTP code."
   * (SDK: TargetHealth Reason).
   */
  private check(group: TargetGroupRecord, target: TargetRecord): void {
    const passed = this.forced.get(target.id) ?? this.probes.every(probe => probe(group, target.id))
    target.streak = passed ? Math.max(1, target.streak + 1) : Math.min(-1, target.streak - 1)
    const from = target.state
    const needed = from === 'initial' ? 1 : group.settings.healthyThresholdCount
    if (passed && target.streak >= needed && from !== 'healthy') {
      target.state = 'healthy'
      target.reason = undefined
    } else if (
      !passed &&
      -target.streak >= group.settings.unhealthyThresholdCount &&
      from !== 'unhealthy'
    ) {
      target.state = 'unhealthy'
      target.reason = 'Target.ResponseCodeMismatch'
    }
    if (target.state !== from) this.tell(group, target, from)
  }

  /** A target's state as DescribeTargetHealth answers it. */
  health(group: TargetGroupRecord, id: string): { state: TargetState; reason?: string } {
    const target = group.targets.get(id)
    // SDK: TargetHealth Reason, "Target.NotRegistered - The target is not registered with the target group."
    if (!target) return { state: 'unused', reason: 'Target.NotRegistered' }
    return { state: target.state, reason: target.reason }
  }

  /** Targets a load balancer routes new requests to: healthy ones only (never initial or draining). */
  routable(groupArn: string): TargetRecord[] {
    const group = this.targetGroups.get(groupArn)
    return group ? [...group.targets.values()].filter(t => t.state === 'healthy') : []
  }

  private seconds(value: number): number {
    return value * this.secondMs
  }

  private tell(group: TargetGroupRecord, target: TargetRecord, from: TargetState): void {
    const to = group.targets.has(target.id) ? target.state : 'unused'
    for (const listener of this.listeners) listener(group, target, from, to)
  }
}
