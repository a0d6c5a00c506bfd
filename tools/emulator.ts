/**
 * A local AWS for the deploy pipeline, on real Docker: the ECS stand-in running tasks as
 * containers (DockerTaskRuntime), RunTask's one-off tasks included, the ECR stand-in handing
 * out the local registry's login, the Application Auto Scaling stand-in scaling the ECS
 * stand-in's services, the CloudWatch Logs stand-in serving each task container's
 * `docker logs` as its awslogs stream, and per service a "load balancer" on loopback that
 * forwards to a running task (for BLUE_GREEN, LINEAR and CANARY services, to the blue or green
 * target group as the deployment's traffic weights say, with a test listener beside). The action
 * bundles reach it through the SDK's endpoint variables (`emulator.env`).
 *
 * ECR scans: `emulator.setScanFindings(digest, …)` sets what DescribeImageScanFindings reports
 * for an image (findings, a scan still in progress, no scan), as on the ECR stand-in.
 *
 * Needs `bash tools/docker-up.sh` (as root) first. Every container it makes carries the label
 * `noblepay.emulator=<id>` and is removed on close(), on SIGINT and on SIGTERM.
 *
 * From a shell (prints the variables to export; Ctrl-C removes everything):
 *   npx tsx tools/emulator.ts [--image 127.0.0.1:5000/api:v1 --port 8080 --desired-count 2]
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { ecsServices } from './autoscaling-standin/ecs-resources.js'
import {
  ENDPOINT_VARIABLE as AUTOSCALING_ENDPOINT_VARIABLE,
  startAutoScalingStandin,
  type AutoScalingStandin
} from './autoscaling-standin/server.js'
import { startEcrStandin, type EcrStandin, type ScanSpec } from './ecr-standin/server.js'
import {
  DockerTaskRuntime,
  dockerLogin,
  type ContainerDefinition
} from './ecs-standin/docker-runtime.js'
import {
  startEcsStandin,
  TARGET_PREFIX,
  type AddServiceSpec,
  type EcsStandin
} from './ecs-standin/server.js'
import { startLogsStandin, type LogsStandin } from './logs-standin/server.js'
import { startElbStandin, type ElbStandin } from './elb-standin/server.js'
import { HttpHealthProbe } from './elb-standin/http-probe.js'
import type { TargetGroupSettings } from './elb-standin/model.js'
import { taskIp } from './ecs-standin/load-balancing.js'

export const DOCKER = '/usr/bin/docker'
export const REGISTRY_DIR = process.env.NOBLEPAY_REGISTRY_DIR ?? '/tmp/noblepay-registry'
const SETUP_FIX = 'run `bash tools/docker-up.sh` (as root) first'

export interface RegistryLogin {
  /** http://127.0.0.1:5000 */
  url: string
  /** 127.0.0.1:5000 */
  host: string
  username: string
  password: string
}

/** The registry tools/docker-up.sh started, read from the files it leaves. */
export function registryLogin(dir = REGISTRY_DIR): RegistryLogin {
  const read = (name: string) => {
    const path = join(dir, name)
    if (!existsSync(path)) throw new Error(`No local registry (${path} is missing): ${SETUP_FIX}`)
    return readFileSync(path, 'utf8').trim()
  }
  const url = read('url')
  return {
    url,
    host: url.replace(/^[a-z]+:\/\//i, ''),
    username: read('username'),
    password: read('password')
  }
}

export interface EmulatorOptions {
  /** Label value of every container; default a random `np-xxxxxx`. */
  id?: string
  /** Scheduler step; default 250 ms. */
  tickMs?: number
  /** Minimum time between two `docker ps`; default 500 ms. */
  pollMs?: number
  region?: string
  /** ECR repositories that exist from the start. */
  repositories?: string[]
  /** Progress of the containers (started, exited, stopped). */
  log?: (line: string) => void
  /** Remove the containers on SIGINT/SIGTERM, then exit; default true. */
  handleSignals?: boolean
  /** The ELB stand-in's time scale: stand-in ms per AWS second; default 1000 (real time). */
  elbSecondMs?: number
}

export interface ServiceSpec {
  cluster?: string
  name: string
  image: string
  containerPort: number
  desiredCount?: number
  environment?: Record<string, string>
  /** An ECS container health check, e.g. { command: ['CMD-SHELL', '…'], interval: 2 }. */
  healthCheck?: ContainerDefinition['healthCheck']
  /** Circuit breaker with rollback; default true. */
  circuitBreaker?: boolean
  /** The container's command; default the image's. */
  command?: string[]
  /** The awslogs group its lines go to (stream prefix `ecs`); default `/ecs/<name>`. */
  logGroup?: string
  /**
   * Behind a target group of the ELB stand-in (its health checks ask `healthCheckPath` of the
   * containers over HTTP): the load balancer then routes only to healthy tasks.
   */
  targetGroup?: Partial<TargetGroupSettings> & { healthCheckPath?: string }
  /**
   * ECS's deployment strategy, and for BLUE_GREEN, LINEAR and CANARY the lifecycle's settings
   * (bake time, steps, hooks, and the stand-in's time scale: stageMs, minuteMs).
   */
  deployment?: Pick<
    AddServiceSpec,
    | 'strategy'
    | 'bakeTimeInMinutes'
    | 'linearConfiguration'
    | 'canaryConfiguration'
    | 'lifecycleHooks'
    | 'stageMs'
    | 'minuteMs'
  >
}

/** One request a load balancer forwarded, and which task (and revision) answered it. */
export interface ForwardedRequest {
  /** Wall-clock ms the request arrived. */
  at: number
  listener: 'production' | 'test'
  taskArn: string
  taskDefinitionArn: string
  status: number
}

/**
 * A load balancer on loopback. For a ROLLING service, every running task is a target. For a
 * BLUE_GREEN, LINEAR or CANARY service it holds two target groups, the source revision's tasks
 * (blue) and the target's (green): production traffic (`url`) is split between them as the
 * stand-in's lifecycle says, test traffic (`testUrl`) reaches green from TEST_TRAFFIC_SHIFT on,
 * and a ROLLBACK stop sends both back to blue with the StopServiceDeployment call.
 */
export interface LoadBalancer {
  /** http://127.0.0.1:<port>: the production listener. */
  url: string
  /** http://127.0.0.1:<port>: the test listener. */
  testUrl: string
  /** Requests forwarded, by task ARN. */
  readonly forwarded: Map<string, number>
  /** The latest requests (at most 10 000), oldest first, with the revision that answered. */
  readonly requests: readonly ForwardedRequest[]
  /**
   * Wall-clock ms of the first request at or after `since` that a task of `taskDefinitionArn`
   * answered (on the production listener unless told): e.g. from a rollback request to the
   * previous version answering.
   */
  firstAnswer(
    taskDefinitionArn: string,
    since: number,
    listener?: ForwardedRequest['listener']
  ): number | undefined
  close(): Promise<void>
}

export interface Emulator {
  id: string
  /** `noblepay.emulator=<id>`, for `docker ps --filter label=…`. */
  label: string
  ecs: EcsStandin
  ecr: EcrStandin
  /** Application Auto Scaling for the ECS stand-in's services. */
  autoscaling: AutoScalingStandin
  /** CloudWatch Logs: the task containers' `docker logs` as awslogs streams. */
  logs: LogsStandin
  /** Elastic Load Balancing: the target groups of services created with `targetGroup`. */
  elb: ElbStandin
  runtime: DockerTaskRuntime
  registry: RegistryLogin
  /** What the action bundles need: endpoints, region, throwaway keys. */
  env: Record<string, string>
  /** Registers a task definition and adds a steady service; resolves once its containers run. */
  createService(spec: ServiceSpec): Promise<{ serviceArn: string; taskDefinitionArn: string }>
  /**
   * A load balancer on loopback for the service: production and test listeners forwarding to
   * its RUNNING tasks (for BLUE_GREEN, LINEAR and CANARY services, by the lifecycle's weights).
   */
  loadBalancer(service: string, containerPort: number, cluster?: string): Promise<LoadBalancer>
  /** What ECR's DescribeImageScanFindings reports for the image with this digest. */
  setScanFindings(digest: string, scan: ScanSpec | 'no-scan'): void
  close(): Promise<void>
}

/** Calls an operation of the stand-in over its JSON 1.1 protocol. */
async function ecsCall<T>(endpoint: string, operation: string, input: unknown): Promise<T> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `${TARGET_PREFIX}${operation}`
    },
    body: JSON.stringify(input)
  })
  const body = (await response.json()) as T & { message?: string }
  if (!response.ok) throw new Error(`${operation}: ${body.message ?? response.status}`)
  return body
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const id = options.id ?? `np-${randomBytes(3).toString('hex')}`
  const region = options.region ?? 'eu-west-1'
  const registry = registryLogin()
  const dockerConfig = mkdtempSync(join(tmpdir(), `${id}-docker-`))
  await dockerLogin({ ...registry, registry: registry.host, dockerConfig }, DOCKER)

  let endpoint = ''
  const runtime = new DockerTaskRuntime({
    id,
    docker: DOCKER,
    dockerConfig,
    pollMs: options.pollMs ?? 500,
    log: options.log,
    async definitions(taskArn) {
      // arn:aws:ecs:<region>:<account>:task/<cluster>/<id>
      const cluster = taskArn.split(':task/')[1]?.split('/')[0] ?? ''
      const described = await ecsCall<{ tasks?: Array<{ taskDefinitionArn?: string }> }>(
        endpoint,
        'DescribeTasks',
        { cluster, tasks: [taskArn] }
      )
      const taskDefinition = described.tasks?.[0]?.taskDefinitionArn
      if (!taskDefinition) throw new Error(`task ${taskArn} is not known to ECS`)
      const definition = await ecsCall<{
        taskDefinition?: { containerDefinitions?: ContainerDefinition[] }
      }>(endpoint, 'DescribeTaskDefinition', { taskDefinition })
      return definition.taskDefinition?.containerDefinitions ?? []
    }
  })

  let ecs: EcsStandin | undefined
  let ecr: EcrStandin | undefined
  let autoscaling: AutoScalingStandin | undefined
  let logs: LogsStandin | undefined
  let elb: ElbStandin | undefined
  let probe: HttpHealthProbe | undefined
  /** The clusters services were created in (for the health checks' task lookup). */
  const clusters = new Set<string>()
  const balancers: LoadBalancer[] = []
  let closed = false
  const onSignal = (signal: NodeJS.Signals) => {
    // Containers a launch under way is about to create are removed once it returns (runtime
    // close waits for it), but for no longer than 10 s; then whatever is labelled goes anyway.
    const exit = () => {
      try {
        runtime.removeAllSync()
      } finally {
        rmSync(dockerConfig, { recursive: true, force: true })
        process.exit(signal === 'SIGINT' ? 130 : 143)
      }
    }
    const timer = setTimeout(exit, 10_000)
    runtime.close().finally(() => {
      clearTimeout(timer)
      exit()
    })
  }
  const handleSignals = options.handleSignals ?? true
  if (handleSignals) {
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  }

  const close = async () => {
    if (closed) return
    closed = true
    if (handleSignals) {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
    await Promise.allSettled(balancers.map(b => b.close()))
    await ecr?.close()
    await autoscaling?.close()
    await logs?.close()
    probe?.stop()
    await elb?.close()
    if (ecs) await ecs.close()
    else await runtime.close()
    rmSync(dockerConfig, { recursive: true, force: true })
  }

  try {
    elb = await startElbStandin({ region, secondMs: options.elbSecondMs ?? 1000 })
    ecs = await startEcsStandin({
      runtime,
      tickMs: options.tickMs ?? 250,
      region,
      loadBalancing: elb.model
    })
    probe = targetProbe(elb, ecs, runtime, () => clusters)
    endpoint = ecs.endpoint
    ecr = await startEcrStandin({
      registry: registry.url,
      username: registry.username,
      password: registry.password,
      repositories: options.repositories,
      region
    })
    autoscaling = await startAutoScalingStandin({ region, resources: ecsServices(ecs.endpoint) })
    logs = await startLogsStandin({ source: ecs.logSource, region })
  } catch (error) {
    await close()
    throw error
  }
  const ecsStandin = ecs
  const ecrStandin = ecr
  const autoscalingStandin = autoscaling
  const logsStandin = logs!
  const elbStandin = elb!

  const env = {
    AWS_ENDPOINT_URL_ECS: ecsStandin.endpoint,
    AWS_ENDPOINT_URL_ECR: ecrStandin.endpoint,
    [AUTOSCALING_ENDPOINT_VARIABLE]: autoscalingStandin.endpoint,
    AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: logsStandin.endpoint,
    AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: elbStandin.endpoint,
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: 'emulator',
    AWS_SECRET_ACCESS_KEY: 'emulator'
  }

  const runningTasks = (cluster: string, service: string) =>
    ecsStandin
      .tasks(cluster, service)
      .filter(t => t.lastStatus === 'RUNNING' && t.desiredStatus === 'RUNNING')

  async function createService(spec: ServiceSpec) {
    const cluster = spec.cluster ?? 'local'
    ecsStandin.addCluster(cluster)
    clusters.add(cluster)
    const taskDefinitionArn = ecsStandin.registerTaskDefinition({
      family: spec.name,
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      cpu: '256',
      memory: '512',
      containerDefinitions: [
        {
          name: spec.name,
          image: spec.image,
          essential: true,
          portMappings: [{ containerPort: spec.containerPort, protocol: 'tcp' }],
          environment: Object.entries(spec.environment ?? {}).map(([name, value]) => ({
            name,
            value
          })),
          ...(spec.healthCheck ? { healthCheck: spec.healthCheck } : {}),
          ...(spec.command ? { command: spec.command } : {}),
          logConfiguration: {
            logDriver: 'awslogs',
            options: {
              'awslogs-group': spec.logGroup ?? `/ecs/${spec.name}`,
              'awslogs-region': region,
              'awslogs-stream-prefix': 'ecs'
            }
          }
        }
      ]
    })
    const desiredCount = spec.desiredCount ?? 2
    const { serviceArn } = ecsStandin.addService({
      cluster,
      name: spec.name,
      taskDefinition: taskDefinitionArn,
      desiredCount,
      circuitBreaker: {
        enable: spec.circuitBreaker ?? true,
        rollback: spec.circuitBreaker ?? true
      },
      ...spec.deployment,
      ...(spec.targetGroup
        ? {
            loadBalancers: [
              {
                targetGroupArn: elbStandin.addTargetGroup({
                  name: spec.name,
                  port: spec.containerPort,
                  healthCheckPath: spec.targetGroup.healthCheckPath,
                  settings: spec.targetGroup
                }),
                containerName: spec.name,
                containerPort: spec.containerPort
              }
            ]
          }
        : {})
    })
    // The service starts steady; wait until its containers really run.
    const deadline = Date.now() + 60_000
    for (;;) {
      const tasks = ecsStandin.tasks(cluster, spec.name).filter(t => t.desiredStatus === 'RUNNING')
      if (tasks.length >= desiredCount && tasks.every(t => runtime.isUp(t.taskArn))) break
      if (Date.now() > deadline)
        throw new Error(`The containers of service ${spec.name} did not start within 60 s.`)
      await new Promise(done => setTimeout(done, 200))
    }
    return { serviceArn, taskDefinitionArn }
  }

  /** The running tasks a request on `listener` may reach, per the service's routing. */
  function targetsFor(cluster: string, service: string, listener: ForwardedRequest['listener']) {
    const running = runningTasks(cluster, service)
    const routing = ecsStandin.routing(cluster, service)
    if (!routing) return behindTargetGroups(cluster, service, running)
    const groups = routing[listener].filter(g => g.weight > 0)
    // One target group by weight, then any of its running tasks (ALB weighted forwarding).
    let draw = Math.random() * groups.reduce((sum, g) => sum + g.weight, 0)
    const group = groups.find(g => (draw -= g.weight) < 0) ?? groups.at(-1)
    return group ? running.filter(t => t.startedBy === group.deploymentId) : []
  }

  /**
   * A ROLLING service behind target groups: only tasks healthy in them get requests (none while
   * `initial`, none once `draining`: ELB routes "only to the healthy targets", User Guide).
   */
  function behindTargetGroups<T extends { taskArn: string }>(
    cluster: string,
    service: string,
    running: T[]
  ): T[] {
    const groups = ecsStandin.service(cluster, service).loadBalancers.map(lb => lb.targetGroupArn)
    if (groups.length === 0) return running
    const healthy = new Set(
      groups.flatMap(arn => elbStandin.model.routable(arn).map(target => target.id))
    )
    return running.filter(task => healthy.has(taskIp({ id: task.taskArn.split('/').pop() ?? '' })))
  }

  async function loadBalancer(
    service: string,
    containerPort: number,
    cluster = 'local'
  ): Promise<LoadBalancer> {
    const forwarded = new Map<string, number>()
    const requests: ForwardedRequest[] = []
    const listen = (listener: ForwardedRequest['listener']): Server =>
      createServer((incoming, outgoing) => {
        const at = Date.now()
        const targets = targetsFor(cluster, service, listener).flatMap(task =>
          runtime
            .ports(task.taskArn)
            .filter(p => p.containerPort === containerPort)
            .map(port => ({ ...port, taskDefinitionArn: task.taskDefinitionArn }))
        )
        const target = targets[Math.floor(Math.random() * targets.length)]
        if (!target) {
          outgoing.writeHead(503, { 'content-type': 'text/plain' }).end('no healthy upstream\n')
          return
        }
        forwarded.set(target.taskArn, (forwarded.get(target.taskArn) ?? 0) + 1)
        const record: ForwardedRequest = {
          at,
          listener,
          taskArn: target.taskArn,
          taskDefinitionArn: target.taskDefinitionArn,
          status: 0
        }
        requests.push(record)
        if (requests.length > 10_000) requests.splice(0, requests.length - 10_000)
        const upstream = httpRequest(
          {
            host: target.host,
            port: target.hostPort,
            method: incoming.method,
            path: incoming.url,
            headers: incoming.headers,
            timeout: 10_000
          },
          answer => {
            record.status = answer.statusCode ?? 502
            outgoing.writeHead(answer.statusCode ?? 502, answer.headers)
            answer.pipe(outgoing)
          }
        )
        upstream.on('timeout', () => upstream.destroy(new Error('upstream timed out')))
        upstream.on('error', () => {
          record.status = 502
          if (!outgoing.headersSent)
            outgoing.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway\n')
          else outgoing.destroy()
        })
        incoming.pipe(upstream)
      })
    const servers = [listen('production'), listen('test')]
    await Promise.all(
      servers.map(server => new Promise<void>(done => server.listen(0, '127.0.0.1', done)))
    )
    const url = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const balancer: LoadBalancer = {
      url: url(servers[0]!),
      testUrl: url(servers[1]!),
      forwarded,
      requests,
      firstAnswer: (taskDefinitionArn, since, listener = 'production') =>
        requests.find(
          r =>
            r.at >= since &&
            r.listener === listener &&
            r.taskDefinitionArn === taskDefinitionArn &&
            r.status >= 200 &&
            r.status < 300
        )?.at,
      close: () =>
        Promise.all(
          servers.map(
            server =>
              new Promise<void>(done => {
                server.close(() => done())
                server.closeAllConnections()
              })
          )
        ).then(() => undefined)
    }
    balancers.push(balancer)
    return balancer
  }

  return {
    id,
    label: runtime.label,
    ecs: ecsStandin,
    ecr: ecrStandin,
    autoscaling: autoscalingStandin,
    logs: logsStandin,
    elb: elbStandin,
    runtime,
    registry,
    env,
    createService,
    loadBalancer,
    setScanFindings: (digest, scan) => ecrStandin.setScanFindings(digest, scan),
    close
  }
}

// ---- command line ----------------------------------------------------------------------------

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href

if (invokedDirectly) {
  const { values } = parseArgs({
    options: {
      image: { type: 'string' },
      service: { type: 'string', default: 'api' },
      port: { type: 'string', default: '8080' },
      'desired-count': { type: 'string', default: '2' }
    }
  })
  const emulator = await startEmulator({ log: line => console.log(`[docker] ${line}`) })
  console.log(`Emulator ${emulator.id} is up; its containers carry the label ${emulator.label}.`)
  for (const [name, value] of Object.entries(emulator.env)) console.log(`export ${name}=${value}`)
  if (values.image) {
    const port = Number(values.port)
    const { taskDefinitionArn } = await emulator.createService({
      name: values.service,
      image: values.image,
      containerPort: port,
      desiredCount: Number(values['desired-count'])
    })
    const balancer = await emulator.loadBalancer(values.service, port)
    console.log(`Service local/${values.service} runs ${taskDefinitionArn}`)
    console.log(`Load balancer: ${balancer.url}`)
  }
  console.log('Ctrl-C stops the emulator and removes its containers.')
}

/** Real HTTP health checks of the containers behind the ELB stand-in's target groups. */
function targetProbe(
  elb: ElbStandin,
  ecs: EcsStandin,
  runtime: DockerTaskRuntime,
  clusters: () => Iterable<string>
): HttpHealthProbe {
  const probe = new HttpHealthProbe(elb.model, (group, ip) => {
    for (const cluster of clusters()) {
      const task = ecs
        .tasks(cluster)
        .find(t => taskIp({ id: t.taskArn.split('/').pop() ?? '' }) === ip)
      if (!task) continue
      const port = runtime.ports(task.taskArn).find(p => p.containerPort === group.port)
      return port ? { host: port.host, port: port.hostPort } : undefined
    }
    return undefined
  })
  probe.start()
  return probe
}
