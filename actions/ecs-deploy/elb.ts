/**
 * The Elastic Load Balancing (v2) reads of ecs-deploy: a service's target groups (health check
 * settings, deregistration delay) and their targets' health. Read calls only, each through an
 * AwsCaller: every attempt has a time limit and the whole read a deadline.
 */
import {
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client
} from '@aws-sdk/client-elastic-load-balancing-v2'
import { clientSettings } from '../shared/aws.js'
import type { AwsCaller } from '../shared/aws-call.js'
import type { TargetGroupTiming } from './phases.js'

/** One target of a target group and its state (initial, healthy, unhealthy, draining, unused …). */
export interface TargetHealthState {
  id: string
  port?: number
  state: string
  reason?: string
}

/**
 * AWS's documented defaults, for a value a reply leaves out: a 30 s interval and 5 checks
 * (SDK: HealthCheckIntervalSeconds, HealthyThresholdCount for HTTP), a 300 s deregistration
 * delay (SDK: TargetGroupAttribute, deregistration_delay.timeout_seconds).
 */
const DEFAULTS = { interval: 30, healthy: 5, delay: 300 }

/** At most 20 target groups per DescribeTargetGroups request (its TargetGroupArns limit). */
const GROUPS_PER_CALL = 20

export class ElbGateway {
  constructor(
    private readonly client: ElasticLoadBalancingV2Client,
    private readonly caller: AwsCaller
  ) {}

  /** The same gateway under another deadline. */
  until(deadline: number): ElbGateway {
    return new ElbGateway(this.client, this.caller.until(deadline))
  }

  /** Each target group's health check timing and deregistration delay: 1 + one per group calls. */
  async targetGroupTimings(arns: string[]): Promise<TargetGroupTiming[]> {
    const timings: TargetGroupTiming[] = []
    for (let i = 0; i < arns.length; i += GROUPS_PER_CALL) {
      const described = await this.caller.read('Describing the target groups', abortSignal =>
        this.client.send(
          new DescribeTargetGroupsCommand({ TargetGroupArns: arns.slice(i, i + GROUPS_PER_CALL) }),
          { abortSignal }
        )
      )
      for (const group of described.TargetGroups ?? []) {
        const arn = group.TargetGroupArn ?? ''
        const attributes = await this.caller.read(
          `Reading the attributes of target group ${group.TargetGroupName}`,
          abortSignal =>
            this.client.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: arn }), {
              abortSignal
            })
        )
        const delay = attributes.Attributes?.find(
          a => a.Key === 'deregistration_delay.timeout_seconds'
        )?.Value
        timings.push({
          arn,
          name: group.TargetGroupName ?? arn,
          healthCheckIntervalSeconds: group.HealthCheckIntervalSeconds ?? DEFAULTS.interval,
          healthyThresholdCount: group.HealthyThresholdCount ?? DEFAULTS.healthy,
          deregistrationDelaySeconds: delay !== undefined ? Number(delay) : DEFAULTS.delay
        })
      }
    }
    return timings
  }

  /** Every target of the group and its state now (no time of the last change: AWS gives none). */
  async targetHealth(arn: string): Promise<TargetHealthState[]> {
    const described = await this.caller.read(`Reading the health of ${arn}`, abortSignal =>
      this.client.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }), { abortSignal })
    )
    return (described.TargetHealthDescriptions ?? []).map(d => ({
      id: d.Target?.Id ?? '',
      port: d.Target?.Port,
      state: d.TargetHealth?.State ?? 'unavailable',
      reason: d.TargetHealth?.Reason
    }))
  }
}

// Stryker disable all: the client's construction from the environment (no decision to test).
export function elbGateway(
  region: string,
  caller: AwsCaller,
  env: NodeJS.ProcessEnv = process.env
): ElbGateway {
  return new ElbGateway(
    new ElasticLoadBalancingV2Client(clientSettings(region, env, 'caller')),
    caller
  )
}
// Stryker restore all
