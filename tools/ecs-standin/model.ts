/**
 * State and time of the ECS stand-in: clusters, task definitions, services with their
 * deployments, tasks, events, service deployments and revisions, and the rolling-update
 * (ECS deployment controller) scheduler that moves them on every tick.
 */
import { AwsServiceError } from '../shared/json11.js'
import {
  answerPauseHook,
  hookLetsStageEnd,
  isPauseHook,
  pauseHookRun,
  playPauseHooks,
  validateLifecycleHooks
} from './pause-hooks.js'
import { randomBytes, randomInt, randomUUID } from 'node:crypto'
import type { TaskReport, TaskRuntime } from './runtime.js'
import type { ElbModel } from '../elb-standin/model.js'
import { ServiceTargets, taskIp, type ServiceLoadBalancer } from './load-balancing.js'

/** An error ECS answers with: `__type` and message, HTTP 400 unless a server fault. */
export class EcsError extends AwsServiceError {}

export interface Tag {
  key: string
  value: string
}

export interface CircuitBreaker {
  enable: boolean
  rollback: boolean
  /**
   * "When set to true, a task that reaches a healthy state resets the failure count to 0 ...
   * The default is true." (DeploymentCircuitBreaker.resetOnHealthyTask, @aws-sdk/client-ecs)
   */
  resetOnHealthyTask?: boolean
}

/**
 * The deployment circuit breaker's failure threshold: half the desired count, rounded up,
 * at least 3 and at most 200 (ECS developer guide, "How the deployment circuit breaker
 * detects failures").
 */
export function circuitBreakerThreshold(desiredCount: number): number {
  return Math.min(200, Math.max(3, Math.ceil(0.5 * desiredCount)))
}

export interface TaskDefinitionRecord {
  arn: string
  family: string
  revision: number
  status: 'ACTIVE' | 'INACTIVE'
  registeredAt: number
  /** The registered body, without tags. */
  body: Record<string, unknown>
  tags: Tag[]
}

export interface ContainerRecord {
  containerArn: string
  name: string
  image: string
  essential: boolean
  lastStatus: string
  exitCode?: number
  reason?: string
}

export interface TaskRecord {
  arn: string
  id: string
  clusterArn: string
  serviceName: string
  deploymentId: string
  taskDefinitionArn: string
  cpu?: string
  memory?: string
  lastStatus: 'PENDING' | 'RUNNING' | 'STOPPED'
  desiredStatus: 'RUNNING' | 'STOPPED'
  createdAt: number
  startedAt?: number
  stoppingAt?: number
  stoppedAt?: number
  stopCode?: string
  stoppedReason?: string
  /** The scheduler asked for the stop (draining, scale-in), rather than the task failing. */
  stopRequested: boolean
  containers: ContainerRecord[]
  version: number
  // Tasks started by RunTask rather than a service (serviceName and deploymentId are empty):
  /** As the caller gave it; a service's tasks carry their deployment's ID instead. */
  startedBy?: string
  /** `family:<family>` unless the caller named one; a service's tasks are `service:<name>`. */
  group?: string
  launchType?: string
  capacityProviderName?: string
  platformVersion?: string
  containerOverrides?: ContainerOverride[]
}

/** One container's RunTask override. */
export interface ContainerOverride {
  name: string
  command?: string[]
  environment?: Array<{ name: string; value: string }>
}

export interface RunTaskInput {
  taskDefinition: string
  count: number
  launchType?: string
  capacityProviderStrategy?: Array<{ capacityProvider: string; weight?: number; base?: number }>
  platformVersion?: string
  networkConfiguration?: { awsvpcConfiguration?: { subnets?: string[] } }
  containerOverrides: ContainerOverride[]
  startedBy?: string
  group?: string
  clientToken?: string
}

export interface RunTaskResult {
  tasks: TaskRecord[]
  failures: Array<{ arn?: string; reason: string; detail?: string }>
}

export type RolloutState = 'IN_PROGRESS' | 'COMPLETED' | 'FAILED'

export type ServiceDeploymentStatus =
  | 'PENDING'
  | 'IN_PROGRESS'
  | 'SUCCESSFUL'
  | 'STOPPED'
  | 'STOP_REQUESTED'
  | 'ROLLBACK_REQUESTED'
  | 'ROLLBACK_IN_PROGRESS'
  | 'ROLLBACK_SUCCESSFUL'
  | 'ROLLBACK_FAILED'

/** How a service rolls out a new revision (`deploymentConfiguration.strategy`). */
export type DeploymentStrategy = 'ROLLING' | 'BLUE_GREEN' | 'LINEAR' | 'CANARY'

/**
 * The lifecycle stages of a BLUE_GREEN, LINEAR or CANARY service deployment, in the order
 * ECS passes them (ECS developer guide, "Amazon ECS blue/green service deployments workflow").
 */
export const LIFECYCLE_STAGES = [
  'RECONCILE_SERVICE',
  'PRE_SCALE_UP',
  'SCALE_UP',
  'POST_SCALE_UP',
  'TEST_TRAFFIC_SHIFT',
  'POST_TEST_TRAFFIC_SHIFT',
  // "Occurs before production traffic shift. For linear and canary deployments, this stage is
  // invoked before every traffic shift step." (ServiceDeployment.lifecycleStage, @aws-sdk/client-ecs)
  'PRE_PRODUCTION_TRAFFIC_SHIFT',
  'PRODUCTION_TRAFFIC_SHIFT',
  'POST_PRODUCTION_TRAFFIC_SHIFT',
  'BAKE_TIME',
  'CLEAN_UP'
] as const
export type LifecycleStage = (typeof LIFECYCLE_STAGES)[number]
/** Hooks run at every stage but bake time and clean-up. */
export type HookStage = Exclude<LifecycleStage, 'BAKE_TIME' | 'CLEAN_UP'>

export interface LifecycleHookSpec {
  /** AWS_LAMBDA (the default) or PAUSE (pause-hooks.ts). */
  targetType?: 'AWS_LAMBDA' | 'PAUSE'
  /** The Lambda function ECS would invoke; the stand-in plays it by setHookBehaviour. None for PAUSE. */
  hookTargetArn?: string
  roleArn?: string
  lifecycleStages: HookStage[]
  /** How long a PAUSE hook waits and what ECS does then (pause-hooks.ts). */
  timeoutConfiguration?: { timeoutInMinutes?: number; action?: 'CONTINUE' | 'ROLLBACK' }
}

/** What a hook (its Lambda) answers, invocation after invocation; the last answer repeats. */
export interface HookBehaviour {
  results: Array<'SUCCEEDED' | 'FAILED'>
  /** From invocation to answer; default the service's stageMs. */
  afterMs?: number
}

export interface HookRun {
  hookId: string
  targetType?: 'AWS_LAMBDA' | 'PAUSE'
  /** The Lambda's ARN; none for a PAUSE hook. */
  targetArn?: string
  stage: HookStage
  status: 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED' | 'AWAITING_ACTION' | 'TIMED_OUT'
  startedAt: number
  answersAt: number
  result: 'SUCCEEDED' | 'FAILED'
  /** PAUSE: when ECS takes the timeout action, and which. */
  expiresAt?: number
  timeoutAction?: 'CONTINUE' | 'ROLLBACK'
  /** PAUSE: a ContinueServiceDeployment answer, applied on the next step. */
  answer?: 'CONTINUE' | 'ROLLBACK'
}

/** Where a BLUE_GREEN, LINEAR or CANARY deployment stands in its lifecycle. */
export interface LifecycleRecord {
  stage: LifecycleStage
  stageStartedAt: number
  /** The revision serving production when the deployment started (blue); none on a first one. */
  source?: DeploymentRecord
  /** Percent of production traffic on the target (green). */
  productionWeight: number
  /** Percent of test traffic on the target. */
  testWeight: number
  /** LINEAR and CANARY: when the next production traffic step is due. */
  nextShiftAt?: number
  /** The hook invocations of the current stage (of the latest step, in a traffic shift). */
  hooks: HookRun[]
  /** The first stage's work has begun (on the first tick after UpdateService). */
  started: boolean
}

export interface LinearConfiguration {
  stepPercent: number
  stepBakeTimeInMinutes: number
}

export interface CanaryConfiguration {
  canaryPercent: number
  canaryBakeTimeInMinutes: number
}

export interface ServiceRevisionRecord {
  arn: string
  serviceArn: string
  clusterArn: string
  taskDefinitionArn: string
  createdAt: number
  containerImages: { containerName: string; image: string }[]
}

export interface ServiceDeploymentRecord {
  arn: string
  serviceArn: string
  clusterArn: string
  createdAt: number
  startedAt: number
  updatedAt: number
  finishedAt?: number
  status: ServiceDeploymentStatus
  statusReason?: string
  sourceRevisionArns: string[]
  targetRevisionArn: string
  rollbackRevisionArn?: string
  stoppedAt?: number
  /** The deployment it rolls out, and those it replaces (their tasks are counted live). */
  target?: DeploymentRecord
  sources: DeploymentRecord[]
  /** Set once a rollback starts: why, when, and the revision it returns to. */
  rollback?: { reason: string; startedAt: number; serviceRevisionArn: string }
  /** The deployment configuration the service had when it started. */
  strategy: DeploymentStrategy
}

export interface DeploymentRecord {
  id: string
  status: 'PRIMARY' | 'ACTIVE' | 'INACTIVE'
  taskDefinitionArn: string
  desiredCount: number
  createdAt: number
  updatedAt: number
  rolloutState: RolloutState
  rolloutStateReason: string
  failedTasks: number
  /** Wall-clock time (ms) the circuit breaker marked this deployment FAILED. */
  failedAt?: number
  /** Started by the circuit breaker to go back to the last completed deployment. */
  rollbackOf?: string
  revision: ServiceRevisionRecord
  serviceDeployment: ServiceDeploymentRecord
  /** BLUE_GREEN, LINEAR and CANARY deployments only. */
  lifecycle?: LifecycleRecord
}

export interface ServiceEventRecord {
  id: string
  createdAt: number
  message: string
}

export interface ServiceRecord {
  name: string
  arn: string
  clusterArn: string
  clusterName: string
  createdAt: number
  desiredCount: number
  minimumHealthyPercent: number
  maximumPercent: number
  circuitBreaker: CircuitBreaker
  /** Older services report no rolloutState at all; the circuit breaker does not apply. */
  rolloutStateEnabled: boolean
  failureThreshold?: number
  serviceDeploymentsApi: boolean
  deploymentController: 'ECS' | 'CODE_DEPLOY' | 'EXTERNAL'
  /** PRIMARY first, then ACTIVE ones, newest first. */
  deployments: DeploymentRecord[]
  /** Newest first. */
  events: ServiceEventRecord[]
  /** The deployment a circuit-breaker rollback goes back to; none while one is rolling back. */
  lastCompleted?: DeploymentRecord
  /** Oldest first. */
  serviceDeployments: ServiceDeploymentRecord[]
  revisions: ServiceRevisionRecord[]
  strategy: DeploymentStrategy
  bakeTimeInMinutes: number
  linearConfiguration: LinearConfiguration
  canaryConfiguration: CanaryConfiguration
  lifecycleHooks: LifecycleHookSpec[]
  /** How long each lifecycle stage without other work lasts at least (scaled time). */
  stageMs: number
  /** How long one minute of bake time lasts (scaled time). */
  minuteMs: number
  /** Target groups its tasks register in (load-balancing.ts). */
  loadBalancers: ServiceLoadBalancer[]
  /** The service's resource tags (TagResource); none until one is added. */
  tags?: Tag[]
}

export interface ClusterRecord {
  name: string
  arn: string
  services: Map<string, ServiceRecord>
  tasks: Map<string, TaskRecord>
}

export interface AddServiceSpec {
  cluster: string
  name: string
  /** ARN, family:revision, or family (latest ACTIVE revision). */
  taskDefinition: string
  desiredCount: number
  /** Default: disabled, as CreateService without a deploymentConfiguration. */
  circuitBreaker?: CircuitBreaker
  /** false: an older-style service whose deployments carry no rolloutState. Default true. */
  rolloutState?: boolean
  /** Overrides the circuit breaker's threshold derived from the desired count. */
  failureThreshold?: number
  /** Default 100. */
  minimumHealthyPercent?: number
  /** Default 200. */
  maximumPercent?: number
  /** false: ListServiceDeployments and DescribeServiceRevisions answer AccessDeniedException. */
  serviceDeploymentsApi?: boolean
  /** Default ECS. The others refuse a new task definition through UpdateService, as ECS does. */
  deploymentController?: 'ECS' | 'CODE_DEPLOY' | 'EXTERNAL'
  /**
   * 'completed' (default): a steady service. 'in-progress': the first deployment has just
   * started, as after CreateService; its tasks start (or fail) through the runtime.
   */
  initialRollout?: 'completed' | 'in-progress'
  /** Default ROLLING. BLUE_GREEN, LINEAR and CANARY play the lifecycle stages. */
  strategy?: DeploymentStrategy
  /** Default 0 minutes. */
  bakeTimeInMinutes?: number
  /** LINEAR; ECS's defaults: 10 %, 6 minutes. */
  linearConfiguration?: Partial<LinearConfiguration>
  /** CANARY; ECS's defaults: 5 %, 10 minutes. */
  canaryConfiguration?: Partial<CanaryConfiguration>
  lifecycleHooks?: LifecycleHookSpec[]
  /** The shortest a lifecycle stage lasts; default 0 (one tick). */
  stageMs?: number
  /** One minute of bake time in the stand-in's time; default 60 000 (real time). */
  minuteMs?: number
  /** Target groups of the ELB stand-in attached with attachLoadBalancing (load-balancing.ts). */
  loadBalancers?: ServiceLoadBalancer[]
}

export interface UpdateServiceInput {
  taskDefinition?: string
  desiredCount?: number
  forceNewDeployment?: boolean
  minimumHealthyPercent?: number
  maximumPercent?: number
  circuitBreaker?: CircuitBreaker
  strategy?: DeploymentStrategy
  bakeTimeInMinutes?: number
  linearConfiguration?: Partial<LinearConfiguration>
  canaryConfiguration?: Partial<CanaryConfiguration>
  lifecycleHooks?: LifecycleHookSpec[]
}

/** Which deployments production and test traffic reach, and in what share (percent). */
export interface Routing {
  production: Array<{ deploymentId: string; taskDefinitionArn: string; weight: number }>
  test: Array<{ deploymentId: string; taskDefinitionArn: string; weight: number }>
}

export const DEFAULT_LINEAR: LinearConfiguration = { stepPercent: 10, stepBakeTimeInMinutes: 6 }
export const DEFAULT_CANARY: CanaryConfiguration = { canaryPercent: 5, canaryBakeTimeInMinutes: 10 }
const STRATEGIES: DeploymentStrategy[] = ['ROLLING', 'BLUE_GREEN', 'LINEAR', 'CANARY']

const MAX_EVENTS = 100
/** RunTask client tokens are remembered for 24 hours (ECS API reference, "Ensuring idempotency"). */
const CLIENT_TOKEN_TTL_MS = 24 * 60 * 60 * 1000
/** The capacity providers every stand-in cluster has. */
export const FARGATE_CAPACITY_PROVIDERS = ['FARGATE', 'FARGATE_SPOT']
const LATEST_FARGATE_PLATFORM = '1.4.0'
const MAX_STOPPED_TASKS_PER_CLUSTER = 1000
const FAMILY_PATTERN = /^[a-zA-Z0-9_-]{1,255}$/

function digits(count: number): string {
  let out = String(randomInt(1, 10))
  while (out.length < count) out += String(randomInt(0, 10))
  return out
}

function lastSegment(identifier: string): string {
  return identifier.slice(identifier.lastIndexOf('/') + 1)
}

export class EcsModel {
  readonly clusters = new Map<string, ClusterRecord>()
  readonly taskDefinitions = new Map<string, TaskDefinitionRecord[]>()
  private readonly failedDeployments = new Map<string, number>()
  /** RunTask client tokens by cluster ARN and token: the request they came with, and its tasks. */
  private readonly runTaskTokens = new Map<
    string,
    { fingerprint: string; taskArns: string[]; at: number }
  >()

  /**
   * How long reads lag a change where AWS documents eventual consistency or a field that may
   * still show the previous state (see reportedServiceDeployment, listedTaskDefinitions).
   */
  readLagMs = 0

  constructor(
    readonly region: string,
    readonly accountId: string,
    private readonly runtime: TaskRuntime,
    private readonly now: () => number = Date.now
  ) {}

  private arn(resource: string): string {
    return `arn:aws:ecs:${this.region}:${this.accountId}:${resource}`
  }

  // ---- clusters, services, task definitions -------------------------------------------

  addCluster(name: string): ClusterRecord {
    const existing = this.clusters.get(name)
    if (existing) return existing
    const cluster: ClusterRecord = {
      name,
      arn: this.arn(`cluster/${name}`),
      services: new Map(),
      tasks: new Map()
    }
    this.clusters.set(name, cluster)
    return cluster
  }

  /** A cluster by name or ARN; ECS's `default` when none is given. */
  cluster(identifier: string | undefined): ClusterRecord {
    const name = identifier === undefined || identifier === '' ? 'default' : lastSegment(identifier)
    const cluster = this.clusters.get(name)
    if (!cluster) throw new EcsError('ClusterNotFoundException', 'Cluster not found.')
    return cluster
  }

  findService(cluster: ClusterRecord, identifier: string): ServiceRecord | undefined {
    return cluster.services.get(lastSegment(identifier))
  }

  service(cluster: ClusterRecord, identifier: string): ServiceRecord {
    const service = this.findService(cluster, identifier)
    if (!service) throw new EcsError('ServiceNotFoundException', 'Service not found.')
    return service
  }

  serviceArnFor(cluster: ClusterRecord, identifier: string): string {
    return identifier.startsWith('arn:')
      ? identifier
      : this.arn(`service/${cluster.name}/${identifier}`)
  }

  registerTaskDefinition(input: Record<string, unknown>): TaskDefinitionRecord {
    const { tags, ...body } = input
    const family = body.family
    if (typeof family !== 'string' || family === '') {
      throw new EcsError('ClientException', 'Family must not be null or empty.')
    }
    if (!FAMILY_PATTERN.test(family)) {
      throw new EcsError(
        'ClientException',
        'Family contains invalid characters: up to 255 letters, numbers, hyphens and underscores are allowed.'
      )
    }
    const containers = body.containerDefinitions
    if (!Array.isArray(containers) || containers.length === 0) {
      throw new EcsError('ClientException', 'Container list cannot be empty.')
    }
    const names = new Set<string>()
    const normalised = containers.map((raw: unknown) => {
      const c = (raw ?? {}) as Record<string, unknown>
      if (typeof c.name !== 'string' || c.name === '') {
        throw new EcsError('ClientException', 'Container.name should not be null or empty.')
      }
      if (typeof c.image !== 'string' || c.image === '') {
        throw new EcsError('ClientException', 'Container.image should not be null or empty.')
      }
      if (names.has(c.name)) {
        throw new EcsError('ClientException', `Duplicate container name: ${c.name}.`)
      }
      names.add(c.name)
      // ECS fills these in on registration; clients that re-register a described task
      // definition get them back.
      return {
        cpu: 0,
        portMappings: [],
        essential: true,
        environment: [],
        mountPoints: [],
        volumesFrom: [],
        systemControls: [],
        ...c
      }
    })
    if (!containers.some((c: unknown) => (c as Record<string, unknown>).essential !== false)) {
      throw new EcsError(
        'ClientException',
        'Task definition must have at least one essential container.'
      )
    }
    if (tags !== undefined && !Array.isArray(tags)) {
      throw new EcsError('ClientException', 'tags must be a list of {key, value}.')
    }
    const revisions = this.taskDefinitions.get(family) ?? []
    const revision = (revisions.at(-1)?.revision ?? 0) + 1
    const record: TaskDefinitionRecord = {
      arn: this.arn(`task-definition/${family}:${revision}`),
      family,
      revision,
      status: 'ACTIVE',
      registeredAt: this.now(),
      body: {
        ...body,
        containerDefinitions: normalised,
        volumes: body.volumes ?? [],
        placementConstraints: []
      },
      tags: ((tags as Tag[] | undefined) ?? []).map(t => ({ key: t.key, value: t.value }))
    }
    revisions.push(record)
    this.taskDefinitions.set(family, revisions)
    return record
  }

  /** A task definition by ARN, family:revision, or family (its latest ACTIVE revision). */
  findTaskDefinition(identifier: string): TaskDefinitionRecord | undefined {
    const ref = identifier.startsWith('arn:')
      ? identifier.slice(identifier.indexOf('task-definition/') + 16)
      : identifier
    const colon = ref.lastIndexOf(':')
    if (colon === -1) {
      return (this.taskDefinitions.get(ref) ?? []).filter(td => td.status === 'ACTIVE').at(-1)
    }
    const revision = Number(ref.slice(colon + 1))
    return (this.taskDefinitions.get(ref.slice(0, colon)) ?? []).find(
      td => td.revision === revision
    )
  }

  addService(spec: AddServiceSpec): ServiceRecord {
    const cluster = this.clusters.get(spec.cluster)
    if (!cluster)
      throw new Error(
        `Cluster ${spec.cluster} does not exist: add it first with addCluster('${spec.cluster}').`
      )
    if (cluster.services.has(spec.name))
      throw new Error(`Service ${spec.name} already exists in ${spec.cluster}.`)
    const taskDefinition = this.findTaskDefinition(spec.taskDefinition)
    if (!taskDefinition) {
      throw new Error(
        `Task definition ${spec.taskDefinition} is not registered: register it first.`
      )
    }
    const minimumHealthyPercent = spec.minimumHealthyPercent ?? 100
    const maximumPercent = spec.maximumPercent ?? 200
    if (minimumHealthyPercent < 0 || minimumHealthyPercent > 100 || maximumPercent < 100) {
      throw new Error('minimumHealthyPercent must be 0-100 and maximumPercent at least 100.')
    }
    const now = this.now()
    const service: ServiceRecord = {
      name: spec.name,
      arn: this.arn(`service/${cluster.name}/${spec.name}`),
      clusterArn: cluster.arn,
      clusterName: cluster.name,
      createdAt: now,
      desiredCount: spec.desiredCount,
      minimumHealthyPercent,
      maximumPercent,
      circuitBreaker: spec.circuitBreaker ?? { enable: false, rollback: false },
      rolloutStateEnabled: spec.rolloutState ?? true,
      failureThreshold: spec.failureThreshold,
      serviceDeploymentsApi: spec.serviceDeploymentsApi ?? true,
      deploymentController: spec.deploymentController ?? 'ECS',
      deployments: [],
      events: [],
      serviceDeployments: [],
      revisions: [],
      strategy: spec.strategy ?? 'ROLLING',
      bakeTimeInMinutes: spec.bakeTimeInMinutes ?? 0,
      linearConfiguration: { ...DEFAULT_LINEAR, ...spec.linearConfiguration },
      canaryConfiguration: { ...DEFAULT_CANARY, ...spec.canaryConfiguration },
      lifecycleHooks: spec.lifecycleHooks ?? [],
      stageMs: spec.stageMs ?? 0,
      minuteMs: spec.minuteMs ?? 60_000,
      loadBalancers: spec.loadBalancers ?? []
    }
    if (!STRATEGIES.includes(service.strategy))
      throw new Error(`strategy must be one of ${STRATEGIES.join(', ')}.`)
    validateLifecycleHooks(service.lifecycleHooks)
    cluster.services.set(spec.name, service)
    const deployment = this.newDeployment(service, taskDefinition, undefined)
    if (spec.initialRollout === 'in-progress') {
      // As CreateService leaves it: the scheduler starts the tasks on the next tick.
      service.deployments = [deployment]
      return service
    }
    deployment.lifecycle = undefined
    deployment.rolloutState = 'COMPLETED'
    deployment.rolloutStateReason = `ECS deployment ${deployment.id} completed.`
    deployment.serviceDeployment.status = 'SUCCESSFUL'
    deployment.serviceDeployment.finishedAt = now
    service.deployments = [deployment]
    service.lastCompleted = deployment
    const started: TaskRecord[] = []
    for (let i = 0; i < spec.desiredCount; i++) {
      const task = this.launchTask(cluster, service, deployment, true)
      task.lastStatus = 'RUNNING'
      task.startedAt = now
      for (const c of task.containers) c.lastStatus = 'RUNNING'
      this.balancing?.registerInService(task)
      started.push(task)
    }
    if (started.length > 0)
      this.event(service, `has started ${started.length} tasks: ${taskList(started)}.`)
    this.event(service, `(deployment ${deployment.id}) deployment completed.`)
    this.event(service, 'has reached a steady state.')
    return service
  }

  updateService(service: ServiceRecord, input: UpdateServiceInput): void {
    if (service.deploymentController !== 'ECS' && input.taskDefinition !== undefined) {
      throw new EcsError(
        'InvalidParameterException',
        service.deploymentController === 'CODE_DEPLOY'
          ? 'Unable to update task definition on services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a new deployment.'
          : 'Unable to update task definition on services with an EXTERNAL deployment controller. Use task sets instead.'
      )
    }
    if (input.desiredCount !== undefined) {
      if (!Number.isInteger(input.desiredCount) || input.desiredCount < 0) {
        throw new EcsError(
          'InvalidParameterException',
          'Desired count must be a non-negative integer.'
        )
      }
    }
    if (input.minimumHealthyPercent !== undefined)
      service.minimumHealthyPercent = input.minimumHealthyPercent
    if (input.maximumPercent !== undefined) service.maximumPercent = input.maximumPercent
    if (input.circuitBreaker !== undefined) service.circuitBreaker = input.circuitBreaker
    if (input.strategy !== undefined) {
      if (!STRATEGIES.includes(input.strategy))
        throw new EcsError(
          'InvalidParameterException',
          `strategy must be one of ${STRATEGIES.join(', ')}.`
        )
      service.strategy = input.strategy
    }
    if (input.bakeTimeInMinutes !== undefined) service.bakeTimeInMinutes = input.bakeTimeInMinutes
    if (input.linearConfiguration !== undefined)
      service.linearConfiguration = { ...DEFAULT_LINEAR, ...input.linearConfiguration }
    if (input.canaryConfiguration !== undefined)
      service.canaryConfiguration = { ...DEFAULT_CANARY, ...input.canaryConfiguration }
    if (input.lifecycleHooks !== undefined) {
      validateLifecycleHooks(input.lifecycleHooks)
      service.lifecycleHooks = input.lifecycleHooks
    }
    let taskDefinition: TaskDefinitionRecord | undefined
    if (input.taskDefinition !== undefined) {
      taskDefinition = this.findTaskDefinition(input.taskDefinition)
      if (!taskDefinition) throw new EcsError('ClientException', 'TaskDefinition not found.')
      if (taskDefinition.status !== 'ACTIVE') {
        throw new EcsError('ClientException', `TaskDefinition is inactive: ${taskDefinition.arn}.`)
      }
    }
    if (input.desiredCount !== undefined) service.desiredCount = input.desiredCount
    const primary = service.deployments[0]
    const changesTaskDefinition =
      taskDefinition !== undefined && taskDefinition.arn !== primary?.taskDefinitionArn
    if (!changesTaskDefinition && !input.forceNewDeployment && primary) {
      primary.desiredCount = service.desiredCount
      primary.updatedAt = this.now()
      return
    }
    const target = taskDefinition ?? this.findTaskDefinition(primary?.taskDefinitionArn ?? '')
    if (!target) throw new EcsError('ClientException', 'TaskDefinition not found.')
    this.startDeployment(service, target)
  }

  private newDeployment(
    service: ServiceRecord,
    taskDefinition: TaskDefinitionRecord,
    rollbackTo: DeploymentRecord | undefined
  ): DeploymentRecord {
    const now = this.now()
    const revision = rollbackTo?.revision ?? this.newRevision(service, taskDefinition)
    let serviceDeployment: ServiceDeploymentRecord
    const current = service.deployments[0]
    if (rollbackTo && current) {
      // The rollback belongs to the service deployment that failed.
      serviceDeployment = current.serviceDeployment
      serviceDeployment.status = 'ROLLBACK_IN_PROGRESS'
      serviceDeployment.rollbackRevisionArn = revision.arn
      serviceDeployment.updatedAt = now
    } else {
      for (const sd of service.serviceDeployments) {
        if (
          sd.status === 'IN_PROGRESS' ||
          sd.status === 'ROLLBACK_IN_PROGRESS' ||
          sd.status === 'PENDING'
        ) {
          sd.status = 'STOPPED'
          sd.statusReason = 'Stopped by a newer service deployment.'
          sd.finishedAt = now
          sd.updatedAt = now
        }
      }
      serviceDeployment = {
        arn: this.arn(
          `service-deployment/${service.clusterName}/${service.name}/${randomBytes(15).toString('base64url')}`
        ),
        serviceArn: service.arn,
        clusterArn: service.clusterArn,
        createdAt: now,
        startedAt: now,
        updatedAt: now,
        status: 'IN_PROGRESS',
        sourceRevisionArns: [...new Set(service.deployments.map(d => d.revision.arn))],
        targetRevisionArn: revision.arn,
        sources: [...service.deployments],
        strategy: service.strategy
      }
      service.serviceDeployments.push(serviceDeployment)
    }
    const id = `ecs-svc/${digits(19)}`
    const deployment: DeploymentRecord = {
      id,
      status: 'PRIMARY',
      taskDefinitionArn: taskDefinition.arn,
      desiredCount: service.desiredCount,
      createdAt: now,
      updatedAt: now,
      rolloutState: 'IN_PROGRESS',
      rolloutStateReason: rollbackTo
        ? `ECS deployment circuit breaker: rolling back to deploymentId ${rollbackTo.id}.`
        : `ECS deployment ${id} in progress.`,
      failedTasks: 0,
      rollbackOf: rollbackTo?.id,
      revision,
      serviceDeployment
    }
    if (!rollbackTo) {
      serviceDeployment.target = deployment
      if (service.strategy !== 'ROLLING') deployment.lifecycle = this.newLifecycle(service)
    }
    return deployment
  }

  private newRevision(
    service: ServiceRecord,
    taskDefinition: TaskDefinitionRecord
  ): ServiceRevisionRecord {
    const containers = (taskDefinition.body.containerDefinitions ?? []) as {
      name: string
      image: string
    }[]
    const revision: ServiceRevisionRecord = {
      arn: this.arn(`service-revision/${service.clusterName}/${service.name}/${digits(19)}`),
      serviceArn: service.arn,
      clusterArn: service.clusterArn,
      taskDefinitionArn: taskDefinition.arn,
      createdAt: this.now(),
      containerImages: containers.map(c => ({ containerName: c.name, image: c.image }))
    }
    service.revisions.push(revision)
    return revision
  }

  private startDeployment(
    service: ServiceRecord,
    taskDefinition: TaskDefinitionRecord,
    rollbackTo?: DeploymentRecord
  ): DeploymentRecord {
    const deployment = this.newDeployment(service, taskDefinition, rollbackTo)
    for (const d of service.deployments) {
      d.status = 'ACTIVE'
      d.updatedAt = this.now()
    }
    service.deployments.unshift(deployment)
    return deployment
  }

  // ---- tasks -----------------------------------------------------------------------------

  private launchTask(
    cluster: ClusterRecord,
    service: ServiceRecord,
    deployment: DeploymentRecord,
    alreadyRunning = false
  ): TaskRecord {
    const taskDefinition = this.findTaskDefinition(deployment.taskDefinitionArn)
    const id = randomBytes(16).toString('hex')
    const arn = this.arn(`task/${cluster.name}/${id}`)
    const definitions = (taskDefinition?.body.containerDefinitions ?? []) as {
      name: string
      image: string
      essential?: boolean
    }[]
    const task: TaskRecord = {
      arn,
      id,
      clusterArn: cluster.arn,
      serviceName: service.name,
      deploymentId: deployment.id,
      taskDefinitionArn: deployment.taskDefinitionArn,
      cpu: taskDefinition?.body.cpu as string | undefined,
      memory: taskDefinition?.body.memory as string | undefined,
      lastStatus: 'PENDING',
      desiredStatus: 'RUNNING',
      createdAt: this.now(),
      stopRequested: false,
      containers: definitions.map(c => ({
        containerArn: this.arn(`container/${cluster.name}/${id}/${randomUUID()}`),
        name: c.name,
        image: c.image,
        essential: c.essential !== false,
        lastStatus: 'PENDING'
      })),
      version: 1
    }
    cluster.tasks.set(arn, task)
    this.runtime.start({
      taskArn: arn,
      containers: task.containers.map(c => ({
        name: c.name,
        image: c.image,
        essential: c.essential
      })),
      alreadyRunning
    })
    return task
  }

  // ---- one-off tasks (RunTask, StopTask) -------------------------------------------------

  /**
   * RunTask: `count` tasks of a task definition outside any service. A repeated clientToken
   * with the same parameters answers the tasks it started before; with other parameters,
   * ConflictException naming them.
   */
  runTask(cluster: ClusterRecord, input: RunTaskInput): RunTaskResult {
    const now = this.now()
    for (const [key, entry] of this.runTaskTokens) {
      if (now - entry.at > CLIENT_TOKEN_TTL_MS) this.runTaskTokens.delete(key)
    }
    const { clientToken, ...request } = input
    const tokenKey = clientToken === undefined ? undefined : `${cluster.arn} ${clientToken}`
    const fingerprint = JSON.stringify(request)
    const earlier = tokenKey === undefined ? undefined : this.runTaskTokens.get(tokenKey)
    if (earlier) {
      if (earlier.fingerprint !== fingerprint) {
        throw new EcsError(
          'ConflictException',
          'The specified client token is already in use with a different request.',
          400,
          { resourceIds: earlier.taskArns }
        )
      }
      return {
        tasks: earlier.taskArns.flatMap(arn => cluster.tasks.get(arn) ?? []),
        failures: []
      }
    }

    const taskDefinition = this.findTaskDefinition(input.taskDefinition)
    if (!taskDefinition) throw new EcsError('ClientException', 'TaskDefinition not found.')
    if (taskDefinition.status !== 'ACTIVE')
      throw new EcsError('ClientException', `TaskDefinition is inactive: ${taskDefinition.arn}.`)
    if (!Number.isInteger(input.count) || input.count < 1 || input.count > 10)
      throw new EcsError('InvalidParameterException', 'count must be between 1 and 10.')
    const strategy = input.capacityProviderStrategy ?? []
    if (input.launchType !== undefined && strategy.length > 0) {
      throw new EcsError(
        'InvalidParameterException',
        'Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.'
      )
    }
    for (const item of strategy) {
      if (!FARGATE_CAPACITY_PROVIDERS.includes(item.capacityProvider)) {
        throw new EcsError(
          'InvalidParameterException',
          `The specified capacity provider ${item.capacityProvider} is not associated with the cluster.`
        )
      }
    }
    const fargate = input.launchType === 'FARGATE' || strategy.length > 0
    if (
      input.launchType !== undefined &&
      !['FARGATE', 'EC2', 'EXTERNAL'].includes(input.launchType)
    )
      throw new EcsError('InvalidParameterException', `Invalid launch type ${input.launchType}.`)
    if (input.platformVersion !== undefined && !fargate) {
      throw new EcsError(
        'InvalidParameterException',
        'The platform version must be null when specifying an EC2 launch type.'
      )
    }
    const networkMode = taskDefinition.body.networkMode
    if (networkMode === 'awsvpc' && !input.networkConfiguration?.awsvpcConfiguration) {
      throw new EcsError(
        'InvalidParameterException',
        "Network Configuration must be provided when networkMode 'awsvpc' is specified."
      )
    }
    if (networkMode !== 'awsvpc' && input.networkConfiguration !== undefined) {
      throw new EcsError(
        'InvalidParameterException',
        'Network Configuration is not valid for the given networkMode of this task definition.'
      )
    }
    if (fargate && networkMode !== 'awsvpc') {
      throw new EcsError('ClientException', "Fargate only supports network mode 'awsvpc'.")
    }
    if (input.networkConfiguration?.awsvpcConfiguration?.subnets?.length === 0) {
      throw new EcsError('InvalidParameterException', 'subnets can not be empty.')
    }
    const definitions = (taskDefinition.body.containerDefinitions ?? []) as { name: string }[]
    for (const override of input.containerOverrides) {
      if (!definitions.some(d => d.name === override.name)) {
        throw new EcsError(
          'InvalidParameterException',
          `Override for container named ${override.name} is not a container in the TaskDefinition.`
        )
      }
    }
    if (input.launchType === undefined && strategy.length === 0) {
      // No launch type and no strategy: the cluster's default strategy, and the stand-in's
      // clusters have none, so ECS would place on EC2 instances, of which there are none.
      return {
        tasks: [],
        failures: [{ reason: 'No Container Instances were found in your cluster.' }]
      }
    }
    if (input.launchType === 'EC2' || input.launchType === 'EXTERNAL') {
      return {
        tasks: [],
        failures: [{ reason: 'No Container Instances were found in your cluster.' }]
      }
    }
    const capacityProvider = strategy.find(s => (s.base ?? 0) > 0 || (s.weight ?? 0) > 0)
    const tasks: TaskRecord[] = []
    for (let i = 0; i < input.count; i++) {
      tasks.push(
        this.launchStandaloneTask(cluster, taskDefinition, {
          ...input,
          capacityProviderName: strategy.length > 0 ? capacityProvider?.capacityProvider : undefined
        })
      )
    }
    if (tokenKey !== undefined)
      this.runTaskTokens.set(tokenKey, { fingerprint, taskArns: tasks.map(t => t.arn), at: now })
    return { tasks, failures: [] }
  }

  private launchStandaloneTask(
    cluster: ClusterRecord,
    taskDefinition: TaskDefinitionRecord,
    input: RunTaskInput & { capacityProviderName?: string }
  ): TaskRecord {
    const id = randomBytes(16).toString('hex')
    const arn = this.arn(`task/${cluster.name}/${id}`)
    const definitions = (taskDefinition.body.containerDefinitions ?? []) as {
      name: string
      image: string
      essential?: boolean
    }[]
    const task: TaskRecord = {
      arn,
      id,
      clusterArn: cluster.arn,
      serviceName: '',
      deploymentId: '',
      taskDefinitionArn: taskDefinition.arn,
      cpu: taskDefinition.body.cpu as string | undefined,
      memory: taskDefinition.body.memory as string | undefined,
      lastStatus: 'PENDING',
      desiredStatus: 'RUNNING',
      createdAt: this.now(),
      stopRequested: false,
      containers: definitions.map(c => ({
        containerArn: this.arn(`container/${cluster.name}/${id}/${randomUUID()}`),
        name: c.name,
        image: c.image,
        essential: c.essential !== false,
        lastStatus: 'PENDING'
      })),
      version: 1,
      ...(input.startedBy !== undefined ? { startedBy: input.startedBy } : {}),
      group: input.group ?? `family:${taskDefinition.family}`,
      launchType: 'FARGATE',
      ...(input.capacityProviderName ? { capacityProviderName: input.capacityProviderName } : {}),
      platformVersion:
        input.platformVersion === undefined || input.platformVersion === 'LATEST'
          ? LATEST_FARGATE_PLATFORM
          : input.platformVersion,
      containerOverrides: input.containerOverrides
    }
    cluster.tasks.set(arn, task)
    this.runtime.start({
      taskArn: arn,
      containers: task.containers.map(c => {
        const override = input.containerOverrides.find(o => o.name === c.name)
        return {
          name: c.name,
          image: c.image,
          essential: c.essential,
          ...(override?.command ? { command: override.command } : {}),
          ...(override?.environment ? { environment: override.environment } : {})
        }
      })
    })
    return task
  }

  /** StopTask: the task is asked to stop (UserInitiated); stopping a stopped task changes nothing. */
  stopTask(cluster: ClusterRecord, identifier: string, reason: string | undefined): TaskRecord {
    const id = lastSegment(identifier)
    const task = [...cluster.tasks.values()].find(t => t.id === id)
    if (!task) throw new EcsError('InvalidParameterException', 'The referenced task was not found.')
    if (task.desiredStatus === 'STOPPED') return task
    task.desiredStatus = 'STOPPED'
    task.stopRequested = true
    task.stoppingAt = this.now()
    task.stopCode = 'UserInitiated'
    task.stoppedReason = reason || 'Task stopped by user'
    task.version++
    this.runtime.stop(task.arn)
    return task
  }

  /** A task by ID (the last part of its ARN) in any cluster. */
  findTask(taskId: string): TaskRecord | undefined {
    for (const cluster of this.clusters.values()) {
      for (const task of cluster.tasks.values()) if (task.id === taskId) return task
    }
    return undefined
  }

  private requestStop(task: TaskRecord, reason: string): void {
    if (task.desiredStatus === 'STOPPED') return
    task.desiredStatus = 'STOPPED'
    task.stopRequested = true
    task.stoppingAt = this.now()
    task.stopCode = 'ServiceSchedulerInitiated'
    task.stoppedReason = reason
    task.version++
    // Behind a load balancer the task drains first; it stops when the drain ends.
    if (!this.balancing?.drain(task)) this.runtime.stop(task.arn)
  }

  private taskByArn(arn: string): { cluster: ClusterRecord; task: TaskRecord } | undefined {
    for (const cluster of this.clusters.values()) {
      const task = cluster.tasks.get(arn)
      if (task) return { cluster, task }
    }
    return undefined
  }

  private applyReport(report: TaskReport): void {
    const found = this.taskByArn(report.taskArn)
    if (!found || found.task.lastStatus === 'STOPPED') return
    const { cluster, task } = found
    const now = this.now()
    task.version++
    if (report.lastStatus === 'RUNNING') {
      task.lastStatus = 'RUNNING'
      task.startedAt = now
      for (const c of task.containers) c.lastStatus = 'RUNNING'
      this.resetOnHealthyTask(cluster, task)
      this.balancing?.register(task)
      return
    }
    task.lastStatus = 'STOPPED'
    task.stoppedAt = now
    this.balancing?.release(task)
    for (const c of task.containers) {
      const exit = report.containers.find(e => e.name === c.name)
      c.lastStatus = 'STOPPED'
      if (exit?.exitCode !== undefined) c.exitCode = exit.exitCode
      if (exit?.reason !== undefined) c.reason = exit.reason
    }
    if (!task.stopRequested) {
      task.desiredStatus = 'STOPPED'
      task.stoppingAt = now
      task.stopCode = report.stopCode ?? 'EssentialContainerExited'
      task.stoppedReason = report.stoppedReason ?? 'Essential container in task exited'
      const service = cluster.services.get(task.serviceName)
      const deployment = service?.deployments.find(d => d.id === task.deploymentId)
      if (deployment) {
        deployment.failedTasks++
        deployment.updatedAt = now
      }
    }
    this.pruneStoppedTasks(cluster)
  }

  private pruneStoppedTasks(cluster: ClusterRecord): void {
    const stopped = [...cluster.tasks.values()].filter(t => t.lastStatus === 'STOPPED')
    for (const task of stopped.slice(
      0,
      Math.max(0, stopped.length - MAX_STOPPED_TASKS_PER_CLUSTER)
    )) {
      cluster.tasks.delete(task.arn)
    }
  }

  serviceTasks(cluster: ClusterRecord, service: ServiceRecord): TaskRecord[] {
    return [...cluster.tasks.values()].filter(t => t.serviceName === service.name)
  }

  /** Running and pending counts of one deployment (tasks the scheduler still wants). */
  counts(
    cluster: ClusterRecord,
    deployment: DeploymentRecord
  ): { running: number; pending: number } {
    let running = 0
    let pending = 0
    for (const task of cluster.tasks.values()) {
      if (task.deploymentId !== deployment.id || task.desiredStatus !== 'RUNNING') continue
      if (task.lastStatus === 'RUNNING') running++
      else if (task.lastStatus === 'PENDING') pending++
    }
    return { running, pending }
  }

  // ---- time ------------------------------------------------------------------------------

  /** One step of the simulation: apply what the runtime reports, then schedule every service. */
  tick(): void {
    for (const report of this.runtime.collect(this.now())) this.applyReport(report)
    for (const cluster of this.clusters.values()) {
      for (const service of cluster.services.values()) this.schedule(cluster, service)
    }
  }

  private threshold(service: ServiceRecord, deployment: DeploymentRecord): number {
    return service.failureThreshold ?? circuitBreakerThreshold(deployment.desiredCount)
  }

  /** The rolling-update deployment controller for one service. */
  private schedule(cluster: ClusterRecord, service: ServiceRecord): void {
    const primary = service.deployments[0]
    if (!primary) return
    primary.desiredCount = service.desiredCount
    const sd = primary.serviceDeployment
    if (primary.lifecycle && sd.target === primary && isUnderWay(sd.status)) {
      this.playLifecycle(cluster, service, primary)
      return
    }
    // A requested rollback shows as such for a stage's time before it is under way (its
    // traffic switch, for BLUE_GREEN, LINEAR and CANARY, was made with the request).
    if (sd.status === 'ROLLBACK_REQUESTED') {
      if (this.now() - (sd.rollback?.startedAt ?? sd.updatedAt) < service.stageMs) return
      if (sd.target === primary) {
        // A rolling deployment stopped with ROLLBACK: a new deployment of the source revision.
        const reason = 'Service deployment rolled back by StopServiceDeployment.'
        if (!this.startRollback(service, primary, reason)) {
          // The source revision went meanwhile (another rollback took it): nothing to return to.
          sd.status = 'STOPPED'
          sd.statusReason = `${reason} No completed revision was left to roll back to.`
          sd.finishedAt = sd.stoppedAt = sd.updatedAt = this.now()
        }
      } else {
        sd.status = 'ROLLBACK_IN_PROGRESS'
        sd.updatedAt = this.now()
      }
    }

    if (
      service.rolloutStateEnabled &&
      service.circuitBreaker.enable &&
      primary.rolloutState === 'IN_PROGRESS' &&
      primary.failedTasks >= this.threshold(service, primary)
    ) {
      this.failDeployment(service, primary)
    }

    const current = service.deployments[0]
    if (!current) return
    // A FAILED deployment launches no new tasks, and nothing is drained in its favour.
    if (current.rolloutState !== 'FAILED') this.roll(cluster, service, current)
    this.checkCompletion(cluster, service, current)
  }

  private roll(cluster: ClusterRecord, service: ServiceRecord, primary: DeploymentRecord): void {
    const desired = service.desiredCount
    const maxTotal = Math.floor((desired * service.maximumPercent) / 100)
    const minHealthy = Math.ceil((desired * service.minimumHealthyPercent) / 100)
    const live = this.serviceTasks(cluster, service).filter(t => t.desiredStatus === 'RUNNING')
    const reason = `Scaling activity initiated by (deployment ${primary.id})`
    const stopping: TaskRecord[] = []

    // Older deployments: pending tasks go at once; running ones while enough stay healthy.
    const old = live.filter(t => t.deploymentId !== primary.id)
    let healthy = live.filter(t => t.lastStatus === 'RUNNING' && this.inService(t)).length
    for (const task of old.filter(t => t.lastStatus !== 'RUNNING')) stopping.push(task)
    for (const task of old.filter(t => t.lastStatus === 'RUNNING')) {
      if (healthy - 1 < minHealthy) break
      stopping.push(task)
      healthy--
    }
    // Scale-in of the primary itself: pending tasks first.
    const mine = live.filter(t => t.deploymentId === primary.id)
    if (mine.length > desired) {
      const surplus = [...mine].sort(
        (a, b) => Number(a.lastStatus === 'RUNNING') - Number(b.lastStatus === 'RUNNING')
      )
      stopping.push(...surplus.slice(0, mine.length - desired))
    }
    for (const task of stopping) this.requestStop(task, reason)
    if (stopping.length > 0) {
      this.event(service, `has stopped ${stopping.length} running tasks: ${taskList(stopping)}.`)
    }

    const remaining = live.length - stopping.length
    const mineLeft = Math.min(mine.length, desired)
    const toStart = Math.min(desired - mineLeft, maxTotal - remaining)
    const started: TaskRecord[] = []
    for (let i = 0; i < toStart; i++) started.push(this.launchTask(cluster, service, primary))
    if (started.length > 0)
      this.event(service, `has started ${started.length} tasks: ${taskList(started)}.`)
  }

  private checkCompletion(
    cluster: ClusterRecord,
    service: ServiceRecord,
    primary: DeploymentRecord
  ): void {
    if (primary.rolloutState !== 'IN_PROGRESS') return
    const { running, pending } = this.counts(cluster, primary)
    if (running !== service.desiredCount || pending > 0) return
    if (
      !this.serviceTasks(cluster, service).every(
        t => t.deploymentId !== primary.id || t.desiredStatus !== 'RUNNING' || this.inService(t)
      )
    )
      return
    const othersDrained = this.serviceTasks(cluster, service).every(
      t => t.deploymentId === primary.id || t.lastStatus === 'STOPPED'
    )
    if (!othersDrained) return
    const now = this.now()
    primary.rolloutState = 'COMPLETED'
    primary.rolloutStateReason = `ECS deployment ${primary.id} completed.`
    primary.updatedAt = now
    for (const d of service.deployments.slice(1)) d.status = 'INACTIVE'
    service.deployments = [primary]
    service.lastCompleted = primary
    const sd = primary.serviceDeployment
    sd.status = primary.rollbackOf ? 'ROLLBACK_SUCCESSFUL' : 'SUCCESSFUL'
    sd.finishedAt = now
    sd.updatedAt = now
    this.event(service, `(deployment ${primary.id}) deployment completed.`)
    this.event(service, 'has reached a steady state.')
  }

  private failDeployment(service: ServiceRecord, deployment: DeploymentRecord): void {
    const now = this.now()
    deployment.rolloutState = 'FAILED'
    deployment.rolloutStateReason = 'ECS deployment circuit breaker: tasks failed to start.'
    deployment.failedAt = Date.now()
    this.failedDeployments.set(deployment.id, deployment.failedAt)
    deployment.updatedAt = now
    this.event(service, `(deployment ${deployment.id}) deployment failed: tasks failed to start.`)
    if (
      service.circuitBreaker.rollback &&
      this.startRollback(service, deployment, deployment.rolloutStateReason)
    )
      return
    const sd = deployment.serviceDeployment
    sd.status = 'STOPPED'
    sd.statusReason = deployment.rolloutStateReason
    sd.finishedAt = now
    sd.updatedAt = now
  }

  /**
   * A rolling deployment's rollback: a new deployment of the last completed revision, which
   * belongs to the failed service deployment. False when there is nothing to go back to.
   */
  private startRollback(
    service: ServiceRecord,
    deployment: DeploymentRecord,
    reason: string
  ): boolean {
    const target = service.lastCompleted
    if (!target || target.id === deployment.id) return false
    const taskDefinition = this.findTaskDefinition(target.taskDefinitionArn)
    if (!taskDefinition) return false
    // Not eligible for another rollback until the rollback itself completes.
    service.lastCompleted = undefined
    const now = this.now()
    deployment.serviceDeployment.rollback ??= {
      reason,
      startedAt: now,
      serviceRevisionArn: target.revision.arn
    }
    if (deployment.rolloutState === 'IN_PROGRESS') {
      deployment.rolloutState = 'FAILED'
      deployment.rolloutStateReason = reason
      deployment.updatedAt = now
    }
    this.startDeployment(service, taskDefinition, target)
    this.event(service, `rolling back to deployment ${target.id}.`)
    return true
  }

  // ---- BLUE_GREEN, LINEAR and CANARY ------------------------------------------------------

  private newLifecycle(service: ServiceRecord): LifecycleRecord {
    const source = service.lastCompleted ?? service.deployments[0]
    // More than one revision still active (a deployment was under way): reconcile first.
    const others = service.deployments.filter(d => d !== source).length
    return {
      stage: others > 0 ? 'RECONCILE_SERVICE' : 'PRE_SCALE_UP',
      stageStartedAt: this.now(),
      source,
      productionWeight: source ? 0 : 100,
      testWeight: source ? 0 : 100,
      hooks: [],
      started: false
    }
  }

  /** What a lifecycle hook answers: set per Lambda ARN; unknown ones succeed. */
  setHookBehaviour(hookTargetArn: string, behaviour: HookBehaviour): void {
    this.hookBehaviours.set(hookTargetArn, { ...behaviour, invocations: 0 })
  }

  private readonly hookBehaviours = new Map<string, HookBehaviour & { invocations: number }>()

  private invokeHooks(service: ServiceRecord, lifecycle: LifecycleRecord, stage: HookStage): void {
    const now = this.now()
    lifecycle.hooks = service.lifecycleHooks
      .filter(h => h.lifecycleStages.includes(stage))
      .map(h => {
        if (isPauseHook(h)) return pauseHookRun(h, stage, now, service.minuteMs)
        const behaviour = this.hookBehaviours.get(h.hookTargetArn ?? '')
        const results = behaviour?.results ?? ['SUCCEEDED']
        const result = results[Math.min(behaviour?.invocations ?? 0, results.length - 1)]!
        if (behaviour) behaviour.invocations++
        return {
          hookId: randomUUID(),
          targetArn: h.hookTargetArn,
          stage,
          status: 'IN_PROGRESS' as const,
          startedAt: now,
          answersAt: now + (behaviour?.afterMs ?? service.stageMs),
          result
        }
      })
  }

  private enterStage(
    cluster: ClusterRecord,
    service: ServiceRecord,
    deployment: DeploymentRecord,
    stage: LifecycleStage
  ): void {
    const lifecycle = deployment.lifecycle!
    const now = this.now()
    lifecycle.stage = stage
    lifecycle.stageStartedAt = now
    lifecycle.hooks = []
    deployment.updatedAt = now
    deployment.serviceDeployment.updatedAt = now
    switch (stage) {
      case 'SCALE_UP': {
        const started: TaskRecord[] = []
        for (let i = 0; i < service.desiredCount; i++)
          started.push(this.launchTask(cluster, service, deployment))
        if (started.length > 0)
          this.event(service, `has started ${started.length} tasks: ${taskList(started)}.`)
        break
      }
      case 'TEST_TRAFFIC_SHIFT':
        lifecycle.testWeight = 100
        break
      case 'PRODUCTION_TRAFFIC_SHIFT':
        this.shiftProductionTraffic(service, lifecycle, now)
        break
      case 'CLEAN_UP': {
        const stopping = this.serviceTasks(cluster, service).filter(
          t => t.deploymentId !== deployment.id && t.desiredStatus === 'RUNNING'
        )
        for (const task of stopping)
          this.requestStop(task, `Scaling activity initiated by (deployment ${deployment.id})`)
        if (stopping.length > 0)
          this.event(
            service,
            `has stopped ${stopping.length} running tasks: ${taskList(stopping)}.`
          )
        break
      }
      case 'RECONCILE_SERVICE': {
        // Deployments other than the source (an earlier one under way) lose their tasks.
        const keep = new Set([deployment.id, lifecycle.source?.id])
        for (const task of this.serviceTasks(cluster, service)) {
          if (!keep.has(task.deploymentId) && task.desiredStatus === 'RUNNING')
            this.requestStop(task, `Scaling activity initiated by (deployment ${deployment.id})`)
        }
        break
      }
    }
    if (stage !== 'BAKE_TIME' && stage !== 'CLEAN_UP') this.invokeHooks(service, lifecycle, stage)
  }

  /**
   * One tick of a BLUE_GREEN, LINEAR or CANARY deployment: the circuit breaker and the hooks
   * may roll it back; otherwise its stage ends when its work is done and its time has passed,
   * and the next one starts (one stage per tick at most, so every stage is seen).
   */
  private playLifecycle(
    cluster: ClusterRecord,
    service: ServiceRecord,
    green: DeploymentRecord
  ): void {
    const lifecycle = green.lifecycle!
    const sd = green.serviceDeployment
    const now = this.now()
    if (sd.status === 'PENDING') sd.status = 'IN_PROGRESS'
    if (!lifecycle.started) {
      lifecycle.started = true
      this.enterStage(cluster, service, green, lifecycle.stage)
      return
    }
    const stageIndex = LIFECYCLE_STAGES.indexOf(lifecycle.stage)

    if (
      service.rolloutStateEnabled &&
      service.circuitBreaker.enable &&
      green.failedTasks >= this.threshold(service, green)
    ) {
      const reason = 'ECS deployment circuit breaker: tasks failed to start.'
      this.event(service, `(deployment ${green.id}) deployment failed: tasks failed to start.`)
      green.failedAt = Date.now()
      this.failedDeployments.set(green.id, green.failedAt)
      if (service.circuitBreaker.rollback && lifecycle.source) {
        this.rollBackLifecycle(service, green, reason, false)
      } else {
        green.rolloutState = 'FAILED'
        green.rolloutStateReason = reason
        sd.status = 'STOPPED'
        sd.statusReason = reason
        sd.finishedAt = sd.stoppedAt = sd.updatedAt = now
      }
      return
    }

    // From SCALE_UP on, the green revision keeps its desired count: failed tasks are replaced.
    if (stageIndex >= LIFECYCLE_STAGES.indexOf('SCALE_UP')) {
      const live = this.serviceTasks(cluster, service).filter(
        t => t.deploymentId === green.id && t.desiredStatus === 'RUNNING'
      )
      const started: TaskRecord[] = []
      for (let i = live.length; i < service.desiredCount; i++)
        started.push(this.launchTask(cluster, service, green))
      if (started.length > 0)
        this.event(service, `has started ${started.length} tasks: ${taskList(started)}.`)
    }

    for (const hook of lifecycle.hooks) {
      if (hook.status === 'IN_PROGRESS' && now >= hook.answersAt) hook.status = hook.result
    }
    const paused = playPauseHooks(lifecycle, now)
    if (paused.kind === 'rollback') {
      this.rollBackLifecycle(service, green, paused.reason, paused.requested)
      return
    }
    const failedHook = lifecycle.hooks.find(h => h.status === 'FAILED')
    if (failedHook) {
      this.rollBackLifecycle(
        service,
        green,
        `Lifecycle hook ${failedHook.targetArn} failed at ${failedHook.stage}.`,
        false
      )
      return
    }
    const hooksDone = lifecycle.hooks.every(hookLetsStageEnd)
    const elapsed = now - lifecycle.stageStartedAt

    if (lifecycle.stage === 'PRODUCTION_TRAFFIC_SHIFT' && lifecycle.productionWeight < 100) {
      // The step's interval over, the next step starts with PRE_PRODUCTION_TRAFFIC_SHIFT again.
      if (hooksDone && lifecycle.nextShiftAt !== undefined && now >= lifecycle.nextShiftAt)
        this.enterStage(cluster, service, green, 'PRE_PRODUCTION_TRAFFIC_SHIFT')
      return
    }
    if (!hooksDone || elapsed < service.stageMs) return
    let done = true
    switch (lifecycle.stage) {
      case 'SCALE_UP': {
        const { running, pending } = this.counts(cluster, green)
        done = running >= service.desiredCount && pending === 0
        break
      }
      case 'BAKE_TIME':
        done = elapsed >= service.bakeTimeInMinutes * service.minuteMs
        break
      case 'CLEAN_UP':
      case 'RECONCILE_SERVICE':
        done = this.serviceTasks(cluster, service).every(
          t =>
            t.lastStatus === 'STOPPED' ||
            t.deploymentId === green.id ||
            (lifecycle.stage === 'RECONCILE_SERVICE' && t.deploymentId === lifecycle.source?.id)
        )
        break
    }
    if (!done) return
    const next = LIFECYCLE_STAGES[stageIndex + 1]
    if (next) {
      this.enterStage(cluster, service, green, next)
      return
    }
    green.rolloutState = 'COMPLETED'
    green.rolloutStateReason = `ECS deployment ${green.id} completed.`
    green.updatedAt = now
    for (const d of service.deployments.slice(1)) d.status = 'INACTIVE'
    service.deployments = [green]
    service.lastCompleted = green
    sd.status = 'SUCCESSFUL'
    sd.finishedAt = sd.updatedAt = now
    this.event(service, `(deployment ${green.id}) deployment completed.`)
    this.event(service, 'has reached a steady state.')
  }

  /**
   * Production and test traffic back to the source revision at once; its deployment is the
   * primary again, and the green tasks are drained. ROLLBACK_REQUESTED (a stop) becomes
   * ROLLBACK_IN_PROGRESS on the next tick; ROLLBACK_SUCCESSFUL once the green tasks are gone.
   */
  private rollBackLifecycle(
    service: ServiceRecord,
    green: DeploymentRecord,
    reason: string,
    requested: boolean
  ): void {
    const lifecycle = green.lifecycle!
    const source = lifecycle.source!
    const sd = green.serviceDeployment
    const now = this.now()
    lifecycle.productionWeight = 0
    lifecycle.testWeight = 0
    lifecycle.nextShiftAt = undefined
    sd.status = requested ? 'ROLLBACK_REQUESTED' : 'ROLLBACK_IN_PROGRESS'
    sd.statusReason = reason
    sd.rollback = { reason, startedAt: now, serviceRevisionArn: source.revision.arn }
    sd.rollbackRevisionArn = source.revision.arn
    sd.updatedAt = now
    green.rolloutState = 'FAILED'
    green.rolloutStateReason = reason
    green.status = 'ACTIVE'
    green.updatedAt = now
    source.status = 'PRIMARY'
    source.rolloutState = 'IN_PROGRESS'
    source.rolloutStateReason = `Rolling back deployment ${green.id}: ${reason}`
    source.rollbackOf = green.id
    source.serviceDeployment = sd
    source.updatedAt = now
    service.deployments = [source, ...service.deployments.filter(d => d !== source)]
    service.lastCompleted = undefined
    this.event(service, `rolling back deployment ${green.id} to deployment ${source.id}.`)
  }

  /**
   * StopServiceDeployment with ROLLBACK: allowed while the deployment is pending, in progress
   * or already stopping or rolling back (the last two continue as they are).
   */
  stopServiceDeployment(arn: string, stopType: string): ServiceDeploymentRecord {
    const found = this.findServiceDeployment(arn)
    if (!found)
      throw new EcsError(
        'ServiceDeploymentNotFoundException',
        `Service deployment ${arn} not found.`
      )
    const { service, serviceDeployment: sd } = found
    if (stopType !== 'ROLLBACK')
      throw new EcsError(
        'InvalidParameterException',
        `stopType ${stopType} is not supported by the stand-in; use ROLLBACK.`
      )
    if (['STOP_REQUESTED', 'ROLLBACK_REQUESTED', 'ROLLBACK_IN_PROGRESS'].includes(sd.status))
      return sd
    if (!isUnderWay(sd.status))
      throw new EcsError(
        'ConflictException',
        `The service deployment is ${sd.status} and can no longer be stopped.`
      )
    const green = sd.target
    const reason = 'Service deployment rolled back by StopServiceDeployment.'
    if (green?.lifecycle) {
      if (!green.lifecycle.source)
        throw new EcsError(
          'InvalidParameterException',
          'The service deployment has no source service revision to roll back to.'
        )
      this.rollBackLifecycle(service, green, reason, true)
      return sd
    }
    if (!service.lastCompleted || service.lastCompleted === green)
      throw new EcsError(
        'InvalidParameterException',
        'The service deployment has no source service revision to roll back to.'
      )
    sd.status = 'ROLLBACK_REQUESTED'
    sd.statusReason = reason
    sd.updatedAt = this.now()
    sd.rollback = {
      reason,
      startedAt: this.now(),
      serviceRevisionArn: service.lastCompleted.revision.arn
    }
    return sd
  }

  /** ContinueServiceDeployment: answers a PAUSE hook that awaits action (pause-hooks.ts). */
  continueServiceDeployment(arn: string, hookId: string, action: string | undefined): void {
    const found = this.findServiceDeployment(arn)
    if (!found)
      throw new EcsError(
        'ServiceDeploymentNotFoundException',
        `Service deployment ${arn} not found.`
      )
    const sd = found.serviceDeployment
    answerPauseHook(sd.target?.lifecycle, isUnderWay(sd.status), hookId, action)
  }

  findServiceDeployment(
    arn: string
  ):
    | { cluster: ClusterRecord; service: ServiceRecord; serviceDeployment: ServiceDeploymentRecord }
    | undefined {
    for (const cluster of this.clusters.values()) {
      for (const service of cluster.services.values()) {
        const serviceDeployment = service.serviceDeployments.find(sd => sd.arn === arn)
        if (serviceDeployment) return { cluster, service, serviceDeployment }
      }
    }
    return undefined
  }

  /**
   * One production traffic step, timed from the service's own deployment configuration:
   * BLUE_GREEN all at once; LINEAR stepPercent more, then stepBakeTimeInMinutes ("This bake
   * time is not applied after reaching 100 percent traffic", LinearConfiguration); CANARY
   * canaryPercent for canaryBakeTimeInMinutes, then the rest (CanaryConfiguration,
   * @aws-sdk/client-ecs). A minute lasts the service's minuteMs.
   */
  private shiftProductionTraffic(
    service: ServiceRecord,
    lifecycle: LifecycleRecord,
    now: number
  ): void {
    const { linearConfiguration: linear, canaryConfiguration: canary } = service
    const weight = lifecycle.productionWeight
    let next = 100
    let bakeMinutes = 0
    if (service.strategy === 'LINEAR') {
      next = Math.min(100, weight + linear.stepPercent)
      bakeMinutes = linear.stepBakeTimeInMinutes
    } else if (service.strategy === 'CANARY' && weight === 0) {
      next = Math.min(100, canary.canaryPercent)
      bakeMinutes = canary.canaryBakeTimeInMinutes
    }
    lifecycle.productionWeight = next
    lifecycle.nextShiftAt = next < 100 ? now + bakeMinutes * service.minuteMs : undefined
  }

  /**
   * A task of a deployment reached RUNNING (healthy: the stand-in's tasks have no separate
   * health state): its failure count goes back to 0 unless the breaker says otherwise.
   * "Once a service deployment has one or more successfully running tasks, the failed task
   * count resets to zero" (Deployment.failedTasks); resetOnHealthyTask "The default is true"
   * (DeploymentCircuitBreaker, @aws-sdk/client-ecs).
   */
  private resetOnHealthyTask(cluster: ClusterRecord, task: TaskRecord): void {
    const service = cluster.services.get(task.serviceName)
    if (!service || service.circuitBreaker.resetOnHealthyTask === false) return
    const deployment = service.deployments.find(d => d.id === task.deploymentId)
    if (deployment) deployment.failedTasks = 0
  }

  /**
   * The service deployment DescribeServices names as current. "The ARN of the current service
   * deployment" (Service.currentServiceDeployment) is read, like the rest of a described
   * service, from a view that may lag a change: right after UpdateService it can still name
   * the previous service deployment (ECS answers UpdateService without the new ARN; see
   * aws/containers-roadmap issue 2709 and kayac/ecspresso pull request 945, which moved to
   * ListServiceDeployments for this). The stand-in always shows that lag: a service
   * deployment is named only readLagMs after it was created.
   */
  reportedServiceDeployment(service: ServiceRecord): string | undefined {
    const shown = this.now() - this.readLagMs
    const settled = service.serviceDeployments.filter(sd => sd.createdAt <= shown)
    return (settled.at(-1) ?? service.serviceDeployments[0])?.arn
  }

  /**
   * Task definition revisions as ListTaskDefinitions sees them. "The Amazon ECS API follows an
   * eventual consistency model ... the result of an API command you run that affects your Amazon
   * ECS resources might not be immediately visible to all subsequent commands you run"
   * (RunTaskCommand, @aws-sdk/client-ecs): a revision is listed only readLagMs after it was
   * registered.
   */
  listedTaskDefinitions(): TaskDefinitionRecord[] {
    const shown = this.now() - this.readLagMs
    return [...this.taskDefinitions.values()].flat().filter(td => td.registeredAt <= shown)
  }

  /** Where production and test traffic go; undefined for ROLLING services (any running task). */
  routing(service: ServiceRecord): Routing | undefined {
    if (service.strategy === 'ROLLING') return undefined
    const primary = service.deployments[0]
    if (!primary) return { production: [], test: [] }
    const entry = (d: DeploymentRecord, weight: number) => ({
      deploymentId: d.id,
      taskDefinitionArn: d.taskDefinitionArn,
      weight
    })
    const lifecycle = primary.lifecycle
    if (
      lifecycle &&
      primary.serviceDeployment.target === primary &&
      isUnderWay(primary.serviceDeployment.status) &&
      lifecycle.source
    ) {
      const split = (weight: number) =>
        [entry(primary, weight), entry(lifecycle.source!, 100 - weight)].filter(e => e.weight > 0)
      return { production: split(lifecycle.productionWeight), test: split(lifecycle.testWeight) }
    }
    return { production: [entry(primary, 100)], test: [entry(primary, 100)] }
  }

  private event(service: ServiceRecord, text: string): void {
    service.events.unshift({
      id: randomUUID(),
      createdAt: this.now(),
      message: `(service ${service.name}) ${text}`
    })
    service.events.length = Math.min(service.events.length, MAX_EVENTS)
  }

  /** Adds or replaces tags of a task definition revision (TagResource). */
  tagTaskDefinition(arn: string, tags: Tag[]): void {
    const td = this.findTaskDefinition(arn)
    if (!td)
      throw new EcsError(
        'InvalidParameterException',
        'The specified task definition does not exist.'
      )
    for (const tag of tags) {
      const existing = td.tags.find(t => t.key === tag.key)
      if (existing) existing.value = tag.value
      else td.tags.push({ key: tag.key, value: tag.value })
    }
  }

  // ---- load balancing (load-balancing.ts) --------------------------------------------------

  /** Services' load balancers, once attached to an ELB stand-in's model. */
  balancing?: ServiceTargets

  /** Registers services' tasks in `elb`'s target groups from now on (services' loadBalancers). */
  attachLoadBalancing(elb: ElbModel): ServiceTargets {
    this.balancing = new ServiceTargets(elb, {
      loadBalancersOf: task =>
        this.clusters.get(task.clusterArn.split('/').pop() ?? '')?.services.get(task.serviceName)
          ?.loadBalancers ?? [],
      taskByTarget: ip => {
        for (const cluster of this.clusters.values())
          for (const task of cluster.tasks.values())
            if (task.lastStatus !== 'STOPPED' && taskIp(task) === ip) return task
        return undefined
      },
      event: (task, text) => {
        const service = this.clusters
          .get(task.clusterArn.split('/').pop() ?? '')
          ?.services.get(task.serviceName)
        if (service) this.event(service, text)
      },
      failTask: (task, reason) => {
        const found = this.taskByArn(task.arn)
        const deployment = found?.cluster.services
          .get(task.serviceName)
          ?.deployments.find(d => d.id === task.deploymentId)
        this.requestStop(task, reason)
        if (deployment) {
          deployment.failedTasks++
          deployment.updatedAt = this.now()
        }
      },
      stopNow: task => this.runtime.stop(task.arn)
    })
    return this.balancing
  }

  /** A task counts healthy for the rollout once its load balancers' health checks pass. */
  private inService(task: TaskRecord): boolean {
    return this.balancing?.inService(task) ?? true
  }

  /**
   * Adds or replaces tags of a service (TagResource). AWS, TagResourceRequest.resourceArn
   * (client-ecs models_1.d.ts): services are taggable by their long ARN
   * `service/cluster-name/service-name` only; a short ARN is an InvalidParameterException.
   * TagResourceRequest.tags: at most 50 tags per resource, one value per key.
   */
  tagService(arn: string, tags: Tag[]): void {
    const [, clusterName, serviceName, extra] =
      /:service\/([^/]+)(?:\/([^/]+))?(\/.*)?$/.exec(arn) ?? []
    if (!clusterName || !serviceName || extra)
      throw new EcsError(
        'InvalidParameterException',
        'Long arn format must be used for tagging operations'
      )
    const service = this.clusters.get(clusterName)?.services.get(serviceName)
    if (!service || service.arn !== arn)
      throw new EcsError('InvalidParameterException', 'The specified service does not exist.')
    const merged = (service.tags ?? []).map(t => ({ ...t }))
    for (const tag of tags) {
      const existing = merged.find(t => t.key === tag.key)
      if (existing) existing.value = tag.value
      else merged.push({ key: tag.key, value: tag.value })
    }
    if (merged.length > 50)
      throw new EcsError('InvalidParameterException', 'A resource can have at most 50 tags.')
    service.tags = merged
  }

  /** Wall-clock time (ms) the circuit breaker marked a deployment FAILED, by deployment id. */
  failedAt(deploymentId: string): number | undefined {
    return this.failedDeployments.get(deploymentId)
  }
}

/** A service deployment that has not finished: it can still move on, or be stopped. */
function isUnderWay(status: ServiceDeploymentStatus): boolean {
  return status === 'PENDING' || status === 'IN_PROGRESS'
}

function taskList(tasks: TaskRecord[]): string {
  return tasks.map(t => `(task ${t.id})`).join(' ')
}
