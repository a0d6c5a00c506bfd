/**
 * A local Amazon ECS stand-in for development and tests: speaks the ECS JSON 1.1 protocol
 * on loopback and plays service rollouts over time as the rolling-update deployment
 * controller does (see model.ts). Point the AWS SDK at it with
 * AWS_ENDPOINT_URL_ECS=<endpoint> (or the client's `endpoint` option).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import {
  EcsError,
  EcsModel,
  type AddServiceSpec,
  type HookBehaviour,
  type Routing
} from './model.js'
import { OPERATIONS, wireService, wireTask } from './operations.js'
import {
  SimulatedTaskRuntime,
  type CommandBehaviour,
  type TaskBehaviour,
  type TaskRuntime
} from './runtime.js'
import { awslogsSource } from './awslogs.js'
import type { LogSource } from '../logs-standin/server.js'

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
}

/** One API call as the stand-in received it. */
export interface CallRecord {
  operation: string
  /** Wall-clock ms when it arrived. */
  at: number
  /** HTTP status answered. */
  status: number
  /** `__type` of the error answered, if any. */
  error?: string
}

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
}

interface FaultRule {
  kind: 'throttle' | 'fail'
  remaining: number
  operation?: string
}

const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1'

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    request.on('error', reject)
  })
}

function answer(response: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    'content-type': JSON_CONTENT_TYPE,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {})
  })
  response.end(text)
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
  const calls: CallRecord[] = []
  const faults: FaultRule[] = []

  const takeFault = (operation: string): FaultRule | undefined => {
    const rule = faults.find(
      f => f.remaining > 0 && (f.operation === undefined || f.operation === operation)
    )
    if (rule) rule.remaining--
    return rule
  }

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const body = await readBody(request)
    const target = String(request.headers['x-amz-target'] ?? '')
    const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target
    const call: CallRecord = { operation, at: Date.now(), status: 200 }
    calls.push(call)
    const fail = (status: number, type: string, message: string, extra: object = {}) => {
      call.status = status
      call.error = type
      answer(response, status, { __type: type, message, ...extra }, type)
    }
    if (
      request.method !== 'POST' ||
      !target.startsWith(TARGET_PREFIX) ||
      !(operation in OPERATIONS)
    ) {
      return fail(
        400,
        'UnknownOperationException',
        `Operation ${target || '(none)'} is not supported.`
      )
    }
    const fault = takeFault(operation)
    if (fault?.kind === 'throttle') return fail(400, 'ThrottlingException', 'Rate exceeded')
    if (fault?.kind === 'fail')
      return fail(500, 'ServerException', 'Service Unavailable. Please try again later.')
    let input: Record<string, unknown>
    try {
      const parsed: unknown = body.trim() === '' ? {} : JSON.parse(body)
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new Error('not an object')
      input = parsed as Record<string, unknown>
    } catch {
      return fail(400, 'SerializationException', 'The request body is not a JSON object.')
    }
    try {
      const result = OPERATIONS[operation]!(model, input)
      answer(response, 200, result)
    } catch (error) {
      if (error instanceof EcsError) {
        // ConflictException names the tasks a client token already started.
        const { resourceIds } = error as EcsError & { resourceIds?: string[] }
        return fail(error.httpStatus, error.type, error.message, resourceIds ? { resourceIds } : {})
      }
      return fail(500, 'ServerException', error instanceof Error ? error.message : String(error))
    }
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent)
        answer(response, 500, { __type: 'ServerException', message: String(error) })
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve())
  })
  const address = server.address() as AddressInfo
  const host = options.host ?? '127.0.0.1'
  const timer = setInterval(() => model.tick(), tickMs)
  timer.unref()

  const clusterNamed = (name: string) => {
    const cluster = model.clusters.get(name)
    if (!cluster) throw new Error(`No cluster ${name}.`)
    return cluster
  }

  return {
    endpoint: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    port: address.port,
    region,
    calls,
    async close() {
      clearInterval(timer)
      await new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
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
    throttle: (count, operation) =>
      void faults.push({ kind: 'throttle', remaining: count, operation }),
    failNext: (count, operation) => void faults.push({ kind: 'fail', remaining: count, operation }),
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
    }
  }
}
