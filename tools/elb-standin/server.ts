/**
 * A local Elastic Load Balancing (v2) stand-in: speaks the awsQuery protocol the SDK's
 * client uses (`POST /`, a form-encoded body `Action=<Operation>&Version=2015-12-01&...`, lists
 * as `<Name>.member.<n>`, XML answers `<OperationResponse><OperationResult>`, errors as
 * `<ErrorResponse><Error><Code>`) on loopback. Point the SDK at it with
 * AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2=<endpoint>.
 *
 * The ECS stand-in registers and deregisters its services' tasks here (startEcsStandin's
 * `loadBalancing` option); the target groups' health checks and drains play out in model.ts.
 */
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { AwsServiceError, readBody, type CallRecord } from '../shared/json11.js'
import { ElbError, ElbModel, type AddTargetGroupSpec, type TargetGroupRecord } from './model.js'

export { DEFAULT_TARGET_GROUP_SETTINGS, ElbModel } from './model.js'
export type { TargetGroupSettings, TargetState } from './model.js'

const XMLNS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/'

export interface ElbStandinOptions {
  port?: number
  host?: string
  region?: string
  accountId?: string
  /** Stand-in milliseconds per AWS second; default 1000 (real time). */
  secondMs?: number
  /** How often health checks and drains are played; default secondMs / 10, at least 10 ms. */
  tickMs?: number
}

export interface ElbStandin {
  readonly endpoint: string
  readonly port: number
  readonly model: ElbModel
  /** Every call received, oldest first. */
  readonly calls: readonly CallRecord[]
  /** Returns the target group's ARN. */
  addTargetGroup(spec: AddTargetGroupSpec): string
  /** The next `count` calls (of `operation`, or any) answer 400 Throttling. */
  throttle(count: number, operation?: string): void
  close(): Promise<void>
}

type Params = URLSearchParams

/** `<prefix>.member.<n>` values, in order (the awsQuery list encoding). */
function list(params: Params, prefix: string): string[] {
  const values: string[] = []
  for (let n = 1; params.has(`${prefix}.member.${n}`); n++)
    values.push(params.get(`${prefix}.member.${n}`) ?? '')
  return values
}

function wireGroup(group: TargetGroupRecord) {
  const s = group.settings
  return {
    TargetGroupArn: group.arn,
    TargetGroupName: group.name,
    Protocol: group.protocol,
    Port: group.port,
    VpcId: 'vpc-0standin',
    HealthCheckProtocol: 'HTTP',
    HealthCheckPort: 'traffic-port',
    HealthCheckEnabled: true,
    HealthCheckIntervalSeconds: s.healthCheckIntervalSeconds,
    HealthCheckTimeoutSeconds: s.healthCheckTimeoutSeconds,
    HealthyThresholdCount: s.healthyThresholdCount,
    UnhealthyThresholdCount: s.unhealthyThresholdCount,
    HealthCheckPath: group.healthCheckPath,
    Matcher: { HttpCode: '200' },
    LoadBalancerArns: group.loadBalancerArns,
    TargetType: 'ip',
    ProtocolVersion: 'HTTP1',
    IpAddressType: 'ipv4'
  }
}

/** The operations, each answering the `<Operation>Result` members. */
function operations(model: ElbModel): Record<string, (params: Params) => unknown> {
  return {
    // SDK: DescribeTargetGroups, "Describes the specified target groups or all of your target groups."
    DescribeTargetGroups(params) {
      const arns = list(params, 'TargetGroupArns')
      const names = list(params, 'Names')
      const groups = arns.length
        ? arns.map(arn => model.targetGroup(arn))
        : [...model.targetGroups.values()].filter(g => !names.length || names.includes(g.name))
      if (names.length && groups.length < names.length)
        throw new ElbError('TargetGroupNotFound', `One or more target groups not found`)
      return { TargetGroups: groups.map(wireGroup) }
    },
    // SDK: TargetGroupAttribute, deregistration_delay.timeout_seconds among others.
    DescribeTargetGroupAttributes(params) {
      const group = model.targetGroup(params.get('TargetGroupArn') ?? '')
      return {
        Attributes: [
          {
            Key: 'deregistration_delay.timeout_seconds',
            Value: String(group.settings.deregistrationDelaySeconds)
          },
          { Key: 'stickiness.enabled', Value: 'false' },
          { Key: 'load_balancing.algorithm.type', Value: 'round_robin' },
          { Key: 'slow_start.duration_seconds', Value: '0' }
        ]
      }
    },
    // SDK: DescribeTargetHealth, "Describes the health of the specified targets or all of your targets."
    // It carries states and reasons only: no time a state began.
    DescribeTargetHealth(params) {
      const group = model.targetGroup(params.get('TargetGroupArn') ?? '')
      const asked: Array<{ id: string; port?: number }> = []
      for (let n = 1; params.has(`Targets.member.${n}.Id`); n++) {
        const port = params.get(`Targets.member.${n}.Port`)
        asked.push({
          id: params.get(`Targets.member.${n}.Id`) ?? '',
          port: port ? Number(port) : undefined
        })
      }
      const targets = asked.length
        ? asked
        : [...group.targets.values()].map(t => ({ id: t.id, port: t.port }))
      return {
        TargetHealthDescriptions: targets.map(t => {
          const health = model.health(group, t.id)
          return {
            Target: { Id: t.id, Port: t.port ?? group.port },
            HealthCheckPort: String(t.port ?? group.port),
            TargetHealth: {
              State: health.state,
              ...(health.reason ? { Reason: health.reason } : {})
            }
          }
        })
      }
    },
    RegisterTargets(params) {
      const arn = params.get('TargetGroupArn') ?? ''
      for (let n = 1; params.has(`Targets.member.${n}.Id`); n++) {
        const port = params.get(`Targets.member.${n}.Port`)
        model.registerTarget(
          arn,
          params.get(`Targets.member.${n}.Id`) ?? '',
          port ? Number(port) : undefined
        )
      }
      return {}
    },
    DeregisterTargets(params) {
      const arn = params.get('TargetGroupArn') ?? ''
      for (let n = 1; params.has(`Targets.member.${n}.Id`); n++)
        model.deregisterTarget(arn, params.get(`Targets.member.${n}.Id`) ?? '')
      return {}
    }
  }
}

function escape(text: string): string {
  return text.replace(
    /[<>&'"]/g,
    c => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!
  )
}

/** awsQuery's XML: objects as elements, lists as `<member>` elements. */
function toXml(value: unknown): string {
  if (Array.isArray(value)) return value.map(v => `<member>${toXml(v)}</member>`).join('')
  if (value !== null && typeof value === 'object')
    return Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `<${k}>${toXml(v)}</${k}>`)
      .join('')
  return escape(String(value))
}

function send(response: ServerResponse, status: number, xml: string): void {
  response.writeHead(status, {
    'content-type': 'text/xml',
    'content-length': Buffer.byteLength(xml),
    'x-amzn-requestid': randomUUID()
  })
  response.end(xml)
}

export async function startElbStandin(options: ElbStandinOptions = {}): Promise<ElbStandin> {
  const secondMs = options.secondMs ?? 1000
  const model = new ElbModel(
    options.region ?? 'eu-west-1',
    options.accountId ?? '123456789012',
    secondMs
  )
  const implemented = operations(model)
  const calls: CallRecord[] = []
  const throttles: Array<{ remaining: number; operation?: string }> = []

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const params = new URLSearchParams(await readBody(request))
    const operation = params.get('Action') ?? ''
    const call: CallRecord = {
      operation,
      input: Object.fromEntries(params),
      at: Date.now(),
      status: 200
    }
    calls.push(call)
    const fail = (status: number, code: string, message: string) => {
      call.status = status
      call.error = code
      send(
        response,
        status,
        `<ErrorResponse xmlns="${XMLNS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${escape(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`
      )
    }
    const implementation = Object.hasOwn(implemented, operation)
      ? implemented[operation]
      : undefined
    if (request.method !== 'POST' || !implementation)
      return fail(400, 'InvalidAction', `Could not find operation ${operation || '(none)'}.`)
    const throttle = throttles.find(
      t => t.remaining > 0 && (t.operation === undefined || t.operation === operation)
    )
    if (throttle) {
      throttle.remaining--
      return fail(400, 'Throttling', 'Rate exceeded')
    }
    try {
      const result = implementation(params)
      send(
        response,
        200,
        `<${operation}Response xmlns="${XMLNS}"><${operation}Result>${toXml(result)}</${operation}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${operation}Response>`
      )
    } catch (error) {
      if (error instanceof AwsServiceError) return fail(error.httpStatus, error.type, error.message)
      return fail(500, 'InternalFailure', String(error))
    }
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(error => {
      if (!response.headersSent) send(response, 500, String(error))
    })
  })
  const host = options.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => resolve())
  })
  const timer = setInterval(() => model.tick(), options.tickMs ?? Math.max(10, secondMs / 10))
  timer.unref()
  const { port } = server.address() as AddressInfo
  return {
    endpoint: `http://${host}:${port}`,
    port,
    model,
    calls,
    addTargetGroup: spec => model.addTargetGroup(spec).arn,
    throttle: (count, operation) => void throttles.push({ remaining: count, operation }),
    close: () =>
      new Promise<void>(resolve => {
        clearInterval(timer)
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}
