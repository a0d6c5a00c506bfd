/**
 * A local Application Auto Scaling stand-in for development and tests: speaks its JSON 1.1
 * protocol (`X-Amz-Target: AnyScaleFrontendService.<Operation>`) on loopback, holds scalable
 * targets and scaling policies as the API reference documents them (see model.ts), records
 * every call, and plays throttling, 5xx and lost replies on demand. Point the AWS SDK at it
 * with AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING=<endpoint> (the client's service id is
 * "Application Auto Scaling").
 */
import { startJson11Server, type CallRecord } from '../shared/json11.js'
import { AutoScalingModel, type ScalableResources } from './model.js'

export type { CallRecord } from '../shared/json11.js'
export type { ScalableResources } from './model.js'

export const TARGET_PREFIX = 'AnyScaleFrontendService.'
/** The SDK's endpoint variable for @aws-sdk/client-application-auto-scaling. */
export const ENDPOINT_VARIABLE = 'AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING'

export interface AutoScalingStandinOptions {
  /** Default 0: any free port. */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
  /** Region and account in ARNs; default eu-west-1 and 123456789012. */
  region?: string
  accountId?: string
  /**
   * The ECS services behind the resource IDs. With them, registering a target for a service
   * that does not exist fails as AWS does, and the service's desired count is brought inside
   * the bounds; without them every resource exists and no capacity moves.
   */
  resources?: ScalableResources
}

export type WireScalableTarget = ReturnType<
  AutoScalingModel['describeScalableTargets']
>['ScalableTargets'][number]
export type WireScalingPolicy = ReturnType<
  AutoScalingModel['describeScalingPolicies']
>['ScalingPolicies'][number]

export interface AutoScalingStandin {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string
  readonly port: number
  readonly region: string
  /** Every call received, oldest first (faulted ones included). */
  readonly calls: readonly CallRecord[]
  /** The next `count` calls (of `operation`, or any) answer 400 ThrottlingException. */
  throttle(count: number, operation?: string): void
  /** The next `count` calls (of `operation`, or any) answer 500 and are not carried out. */
  failNext(count: number, operation?: string): void
  /** The next `count` calls (of `operation`, or any) are carried out, then answered with a 500. */
  loseReply(count: number, operation?: string): void
  /** Carries an operation out directly, as a call would, without recording it (test set-up). */
  invoke(operation: string, input: Record<string, unknown>): Promise<unknown>
  /** Every scalable target, as DescribeScalableTargets answers them. */
  targets(): WireScalableTarget[]
  /** Every scaling policy, as DescribeScalingPolicies answers them. */
  policies(): WireScalingPolicy[]
  close(): Promise<void>
}

export async function startAutoScalingStandin(
  options: AutoScalingStandinOptions = {}
): Promise<AutoScalingStandin> {
  const region = options.region ?? 'eu-west-1'
  const model = new AutoScalingModel(region, options.accountId ?? '123456789012', options.resources)
  const operations: Record<string, (input: Record<string, unknown>) => unknown> = {
    RegisterScalableTarget: input => model.registerScalableTarget(input),
    DescribeScalableTargets: input => model.describeScalableTargets(input),
    DeregisterScalableTarget: input => model.deregisterScalableTarget(input),
    PutScalingPolicy: input => model.putScalingPolicy(input),
    DescribeScalingPolicies: input => model.describeScalingPolicies(input),
    DeleteScalingPolicy: input => model.deleteScalingPolicy(input)
  }
  const server = await startJson11Server({
    targetPrefix: TARGET_PREFIX,
    operations,
    port: options.port,
    host: options.host
  })
  return {
    endpoint: server.endpoint,
    port: server.port,
    region,
    calls: server.calls,
    throttle: (count, operation) => server.throttle(count, operation),
    failNext: (count, operation) => server.failNext(count, operation),
    loseReply: (count, operation) => server.loseReply(count, operation),
    async invoke(operation, input) {
      const implementation = operations[operation]
      if (!implementation) throw new Error(`No operation ${operation}.`)
      return implementation(input)
    },
    targets: () =>
      allPages(token => {
        const page = model.describeScalableTargets({ ServiceNamespace: 'ecs', NextToken: token })
        return { items: page.ScalableTargets, next: page.NextToken }
      }),
    policies: () =>
      allPages(token => {
        const page = model.describeScalingPolicies({ ServiceNamespace: 'ecs', NextToken: token })
        return { items: page.ScalingPolicies, next: page.NextToken }
      }),
    close: () => server.close()
  }
}

function allPages<T>(read: (token?: string) => { items: T[]; next?: string }): T[] {
  const items: T[] = []
  let token: string | undefined
  do {
    const page = read(token)
    items.push(...page.items)
    token = page.next
  } while (token)
  return items
}
