/**
 * A local Amazon ECS stand-in for development and tests: speaks the ECS JSON 1.1 protocol
 * on loopback and plays service rollouts over time as the rolling-update deployment
 * controller does (see model.ts). Point the AWS SDK at it with
 * AWS_ENDPOINT_URL_ECS=<endpoint> (or the client's `endpoint` option).
 */
import { startJson11Server, type CallRecord } from '../shared/json11.js'
import { EcsModel, type AddServiceSpec, type HookBehaviour, type Routing } from './model.js'
import { OPERATIONS, wireService, wireServiceDeployment, wireTask } from './operations.js'
import {
  SimulatedTaskRuntime,
  type CommandBehaviour,
  type TaskBehaviour,
  type TaskRuntime
} from './runtime.js'
import { awslogsSource } from './awslogs.js'
import type { LogSource } from '../logs-standin/server.js'
import type { ElbModel } from '../elb-standin/model.js'
import type { ImageStartTimes } from './load-balancing.js'

export type {
  AddServiceSpec,
  CircuitBreaker,
  DeploymentStrategy,
  HookBehaviour,
  LifecycleHookSpec,
  LifecycleStage,
  Routing,
  Tag
} from './model.js'
export { LIFECYCLE_STAGES } from './model.js'
export { circuitBreakerThreshold } from './model.js'
export type {
  CommandBehaviour,
  ContainerLogEvent,
  TaskBehaviour,
  TaskRuntime,
  TaskLaunch,
  TaskReport
} from './runtime.js'
export { SimulatedTaskRuntime } from './runtime.js'

export const TARGET_PREFIX = 'AmazonEC2ContainerServiceV20141113.'

export interface EcsStandinOptions {
  /** Simulation step; default 100 ms. */
  tickMs?: number
  /** Default 0: any free port. */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
  /** Region and account in ARNs; default eu-west-1 and 123456789012. */
  region?: string
  accountId?: string
  /** Behaviour of images without a rule; default healthy after 3 ticks. */
  defaultBehaviour?: TaskBehaviour
  /** From a scheduler's stop request to STOPPED; default 2 ticks. */
  stopDelayMs?: number
  /** What a RunTask command override no rule matches does; default exit 0 after 3 ticks. */
  defaultCommandBehaviour?: CommandBehaviour
  /** Runs tasks; default a SimulatedTaskRuntime driven by image behaviours. */
  runtime?: TaskRuntime
  /**
   * How long eventually consistent reads lag a change (the service's current service
   * deployment, ListTaskDefinitions); AWS's few seconds, scaled: default 5 ticks. Never 0.
   */
  readLagMs?: number
  /**
   * The ELB stand-in's model (startElbStandin().model): services with `loadBalancers` register
   * their tasks in its target groups, count them healthy once its health checks pass, and drain
   * them before they stop (load-balancing.ts).
   */
  loadBalancing?: ElbModel
}

export type { CallRecord } from '../shared/json11.js'

/** A RegisterTaskDefinition request body. */
export interface TaskDefinitionInput {
  family: string
  containerDefinitions: Array<{
    name: string
    image: string
    essential?: boolean
    [field: string]: unknown
  }>
  tags?: Array<{ key: string; value: string }>
  [field: string]: unknown
}

export type WireService = ReturnType<typeof wireService>
export type WireTask = ReturnType<typeof wireTask>

export interface EcsStandin {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string
  readonly port: number
  readonly region: string
  /** Every call received, oldest first (faulted ones included). */
  readonly calls: readonly CallRecord[]
  close(): Promise<void>
  /** Returns the cluster ARN; adding an existing cluster is a no-op. */
  addCluster(name: string): string
  /** Registers a new revision of the family; returns its ARN. */
  registerTaskDefinition(input: TaskDefinitionInput): string
  /** A steady service: one COMPLETED deployment with desiredCount tasks RUNNING. */
  addService(spec: AddServiceSpec): { serviceArn: string; deploymentId: string }
  /** What tasks whose container image equals (or matches) `image` do; the latest rule wins. */
  setImageBehaviour(image: string | RegExp, behaviour: TaskBehaviour): void
  /**
   * What a container run by RunTask with a command override does when its command (arguments
   * joined by spaces) equals or matches `command` (and its image `image`, when given).
   */
  setCommandBehaviour(
    command: string | RegExp,
    behaviour: CommandBehaviour,
    image?: string | RegExp
  ): void
  /**
   * The task containers' awslogs streams (`<prefix>/<container>/<task id>` of the group their
   * task definition names), for the CloudWatch Logs stand-in: startLogsStandin({ source }).
   */
  readonly logSource: LogSource
  /** The next `count` calls (of `operation`, or any) answer 400 ThrottlingException. */
  throttle(count: number, operation?: string): void
  /** The next `count` calls (of `operation`, or any) answer 500 ServerException. */
  failNext(count: number, operation?: string): void
  /** Wall-clock ms the circuit breaker marked the deployment FAILED, if it did. */
  failedAt(deploymentId: string): number | undefined
  /** The service as DescribeServices answers it (timestamps in epoch seconds). */
  service(cluster: string, name: string): WireService
  /** Every task of the cluster (or of one service), as DescribeTasks answers them. */
  tasks(cluster: string, serviceName?: string): WireTask[]
  /** Advances the simulation one step now, outside the timer. */
  tick(): void
  /**
   * What the lifecycle hook whose Lambda is `hookTargetArn` answers, invocation after
   * invocation (the last answer repeats); hooks without a behaviour succeed.
   */
  setHookBehaviour(hookTargetArn: string, behaviour: HookBehaviour): void
  /**
   * Where a BLUE_GREEN, LINEAR or CANARY service's production and test traffic go, by
   * deployment and percent; undefined for a ROLLING service (every running task serves).
   */
  routing(cluster: string, service: string): Routing | undefined
  /** A service deployment as DescribeServiceDeployments answers it; undefined when unknown. */
  serviceDeployment(arn: string): ReturnType<typeof wireServiceDeployment> | undefined
  /** Tasks of images matching `image` fail their target groups' health checks (needs loadBalancing). */
  failHealthChecks(image: string | RegExp): void
  /** How long tasks of an image are provisioned and pull it, within their start (needs loadBalancing). */
  setImageStartTimes(image: string | RegExp, times: ImageStartTimes): void
}

export async function startEcsStandin(options: EcsStandinOptions = {}): Promise<EcsStandin> {
  const tickMs = options.tickMs ?? 100
  const region = options.region ?? 'eu-west-1'
  const runtime: TaskRuntime =
    options.runtime ??
    new SimulatedTaskRuntime({
      defaultBehaviour: options.defaultBehaviour ?? {
        outcome: 'healthy',
        startDelayMs: 3 * tickMs
      },
      stopDelayMs: options.stopDelayMs ?? 2 * tickMs,
      defaultCommandBehaviour: options.defaultCommandBehaviour ?? {
        exitCode: 0,
        durationMs: 3 * tickMs
      }
    })
  const model = new EcsModel(region, options.accountId ?? '123456789012', runtime)
  model.readLagMs = Math.max(1, options.readLagMs ?? 5 * tickMs)
  const balancing = options.loadBalancing
    ? model.attachLoadBalancing(options.loadBalancing)
    : undefined
  const needsBalancing = () => {
    if (!balancing) throw new Error('Start the ECS stand-in with the loadBalancing option first.')
    return balancing
  }
  // The ECS operations, each bound to this stand-in's model, served over JSON 1.1.
  const server = await startJson11Server({
    targetPrefix: TARGET_PREFIX,
    operations: Object.fromEntries(
      Object.entries(OPERATIONS).map(([name, operation]) => [
        name,
        (input: Record<string, unknown>) => operation(model, input)
      ])
    ),
    port: options.port,
    host: options.host,
    serverError: {
      type: 'ServerException',
      message: 'Service Unavailable. Please try again later.'
    }
  })
  const timer = setInterval(() => model.tick(), tickMs)
  timer.unref()

  const clusterNamed = (name: string) => {
    const cluster = model.clusters.get(name)
    if (!cluster) throw new Error(`No cluster ${name}.`)
    return cluster
  }

  return {
    endpoint: server.endpoint,
    port: server.port,
    region,
    calls: server.calls,
    async close() {
      clearInterval(timer)
      await server.close()
      await runtime.close?.()
    },
    addCluster: name => model.addCluster(name).arn,
    registerTaskDefinition: input => model.registerTaskDefinition(input).arn,
    addService(spec) {
      const service = model.addService(spec)
      return { serviceArn: service.arn, deploymentId: service.deployments[0]!.id }
    },
    setImageBehaviour(image, behaviour) {
      if (!(runtime instanceof SimulatedTaskRuntime)) {
        throw new Error('setImageBehaviour needs the simulated task runtime.')
      }
      runtime.setImageBehaviour(image, behaviour)
    },
    setCommandBehaviour(command, behaviour, image) {
      if (!(runtime instanceof SimulatedTaskRuntime)) {
        throw new Error('setCommandBehaviour needs the simulated task runtime.')
      }
      runtime.setCommandBehaviour(command, behaviour, image)
    },
    logSource: awslogsSource(model, runtime),
    throttle: (count, operation) => server.throttle(count, operation),
    failNext: (count, operation) => server.failNext(count, operation),
    failedAt: deploymentId => model.failedAt(deploymentId),
    service(cluster, name) {
      const record = clusterNamed(cluster)
      return wireService(model, record, model.service(record, name))
    },
    tasks(cluster, serviceName) {
      return [...clusterNamed(cluster).tasks.values()]
        .filter(t => serviceName === undefined || t.serviceName === serviceName)
        .map(t => wireTask(model, t))
    },
    tick: () => model.tick(),
    setHookBehaviour: (hookTargetArn, behaviour) =>
      model.setHookBehaviour(hookTargetArn, behaviour),
    routing(cluster, name) {
      const record = clusterNamed(cluster)
      return model.routing(model.service(record, name))
    },
    serviceDeployment(arn) {
      const found = model.findServiceDeployment(arn)
      return (
        found && wireServiceDeployment(model, found.cluster, found.service, found.serviceDeployment)
      )
    },
    failHealthChecks: image => needsBalancing().failHealthChecks(image),
    setImageStartTimes: (image, times) => needsBalancing().setImageStartTimes(image, times)
  }
}
