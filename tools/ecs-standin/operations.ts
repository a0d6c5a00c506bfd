/**
 * The ECS operations the stand-in answers, in the JSON 1.1 shapes of the ECS API
 * reference: field names as AWS spells them, timestamps as epoch seconds.
 */
import {
  circuitBreakerThreshold,
  EcsError,
  type CanaryConfiguration,
  type DeploymentStrategy,
  type LifecycleHookSpec,
  type LinearConfiguration,
  type ClusterRecord,
  type ContainerOverride,
  type DeploymentRecord,
  type RunTaskInput,
  type EcsModel,
  type ServiceDeploymentRecord,
  type ServiceRecord,
  type ServiceRevisionRecord,
  type TaskDefinitionRecord,
  type TaskRecord
} from './model.js'
import { isPauseHook, wirePauseDetail } from './pause-hooks.js'

type Body = Record<string, unknown>
export type Operation = (model: EcsModel, body: Body) => unknown

/** Fields DescribeTaskDefinition returns that RegisterTaskDefinition does not accept. */
export const READ_ONLY_TASK_DEFINITION_FIELDS = [
  'taskDefinitionArn',
  'revision',
  'status',
  'requiresAttributes',
  'compatibilities',
  'registeredAt',
  'registeredBy',
  'deregisteredAt',
  'deleteRequestedAt'
] as const

const PLATFORM_VERSION = '1.4.0'

function seconds(ms: number): number {
  return ms / 1000
}

function optionalString(body: Body, name: string): string | undefined {
  const value = body[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string')
    throw new EcsError('InvalidParameterException', `${name} must be a string.`)
  return value
}

function requiredString(body: Body, name: string): string {
  const value = optionalString(body, name)
  if (value === undefined || value === '') {
    throw new EcsError('InvalidParameterException', `${name} can not be blank.`)
  }
  return value
}

function stringList(body: Body, name: string, max?: number): string[] {
  const value = body[name]
  if (!Array.isArray(value) || value.length === 0 || value.some(v => typeof v !== 'string')) {
    throw new EcsError('InvalidParameterException', `${name} can not be empty.`)
  }
  if (max !== undefined && value.length > max) {
    throw new EcsError('InvalidParameterException', `${name} can have at most ${max} elements.`)
  }
  return value as string[]
}

function optionalNumber(body: Body, name: string): number | undefined {
  const value = body[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number')
    throw new EcsError('InvalidParameterException', `${name} must be a number.`)
  return value
}

/**
 * ListTaskDefinitions pages hold at most this many entries, whatever maxResults asks. The API
 * promises a bound, not a full page: it "returns up to 100 results and a nextToken value if
 * applicable", and the rest "can be seen by sending another ListTaskDefinitions request with
 * the returned nextToken value" (ListTaskDefinitionsRequest.maxResults, @aws-sdk/client-ecs).
 * The stand-in takes the short side, so a client that stops at one page misses revisions.
 */
const SHORT_TASK_DEFINITION_PAGE = 2

/** nextToken is an opaque offset; maxResults bounded like ECS's; `short` caps a page below it. */
function paginate<T>(
  items: T[],
  body: Body,
  defaultMax: number,
  limit: number,
  short = Infinity
): { page: T[]; nextToken?: string } {
  const asked = optionalNumber(body, 'maxResults') ?? defaultMax
  if (asked < 1 || asked > limit) {
    throw new EcsError('InvalidParameterException', `maxResults must be between 1 and ${limit}.`)
  }
  const max = Math.min(asked, short)
  const token = optionalString(body, 'nextToken')
  const offset = token ? Number(Buffer.from(token, 'base64url').toString('utf8')) : 0
  if (!Number.isInteger(offset) || offset < 0)
    throw new EcsError('InvalidParameterException', 'Invalid nextToken.')
  const page = items.slice(offset, offset + max)
  const next =
    offset + max < items.length
      ? Buffer.from(String(offset + max)).toString('base64url')
      : undefined
  return next ? { page, nextToken: next } : { page }
}

// ---- shapes ------------------------------------------------------------------------------

function networkConfiguration() {
  return {
    awsvpcConfiguration: {
      subnets: ['subnet-0a1b2c3d4e5f60718'],
      securityGroups: ['sg-0a1b2c3d4e5f60718'],
      assignPublicIp: 'DISABLED'
    }
  }
}

export function wireDeployment(
  model: EcsModel,
  cluster: ClusterRecord,
  service: ServiceRecord,
  d: DeploymentRecord
) {
  const { running, pending } = model.counts(cluster, d)
  return {
    id: d.id,
    status: d.status,
    taskDefinition: d.taskDefinitionArn,
    // Older deployments are scaled down as they drain.
    desiredCount: d.status === 'PRIMARY' ? service.desiredCount : running + pending,
    pendingCount: pending,
    runningCount: running,
    failedTasks: d.failedTasks,
    createdAt: seconds(d.createdAt),
    updatedAt: seconds(d.updatedAt),
    launchType: 'FARGATE',
    platformVersion: PLATFORM_VERSION,
    platformFamily: 'Linux',
    networkConfiguration: networkConfiguration(),
    ...(service.rolloutStateEnabled
      ? { rolloutState: d.rolloutState, rolloutStateReason: d.rolloutStateReason }
      : {})
  }
}

export function wireService(model: EcsModel, cluster: ClusterRecord, service: ServiceRecord) {
  const deployments = service.deployments.map(d => wireDeployment(model, cluster, service, d))
  const primary = service.deployments[0]
  return {
    serviceArn: service.arn,
    serviceName: service.name,
    clusterArn: service.clusterArn,
    loadBalancers: service.loadBalancers.map(lb => ({ ...lb })),
    serviceRegistries: [],
    status: 'ACTIVE',
    desiredCount: service.desiredCount,
    runningCount: deployments.reduce((sum, d) => sum + d.runningCount, 0),
    pendingCount: deployments.reduce((sum, d) => sum + d.pendingCount, 0),
    launchType: 'FARGATE',
    platformVersion: 'LATEST',
    platformFamily: 'Linux',
    taskDefinition: primary?.taskDefinitionArn,
    deploymentConfiguration: {
      deploymentCircuitBreaker: service.rolloutStateEnabled
        ? { ...service.circuitBreaker }
        : { enable: false, rollback: false },
      maximumPercent: service.maximumPercent,
      minimumHealthyPercent: service.minimumHealthyPercent,
      ...wireStrategy(service)
    },
    deployments,
    roleArn: `arn:aws:iam::${model.accountId}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS`,
    events: service.events.map(e => ({
      id: e.id,
      createdAt: seconds(e.createdAt),
      message: e.message
    })),
    createdAt: seconds(service.createdAt),
    ...(primary && service.serviceDeploymentsApi
      ? { currentServiceDeployment: model.reportedServiceDeployment(service) }
      : {}),
    placementConstraints: [],
    placementStrategy: [],
    networkConfiguration: networkConfiguration(),
    healthCheckGracePeriodSeconds: 0,
    schedulingStrategy: 'REPLICA',
    deploymentController: { type: service.deploymentController },
    createdBy: `arn:aws:iam::${model.accountId}:role/deploy`,
    enableECSManagedTags: false,
    propagateTags: 'NONE',
    enableExecuteCommand: false
  }
}

export function wireTask(model: EcsModel, task: TaskRecord) {
  return {
    attachments: [],
    attributes: [{ name: 'ecs.cpu-architecture', value: 'x86_64' }],
    availabilityZone: `${model.region}a`,
    clusterArn: task.clusterArn,
    connectivity: 'CONNECTED',
    connectivityAt: seconds(task.createdAt),
    containers: task.containers.map(c => ({
      containerArn: c.containerArn,
      taskArn: task.arn,
      name: c.name,
      image: c.image,
      lastStatus: c.lastStatus,
      ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}),
      ...(c.reason !== undefined ? { reason: c.reason } : {}),
      networkInterfaces: [],
      healthStatus: 'UNKNOWN'
    })),
    ...(task.cpu ? { cpu: task.cpu } : {}),
    createdAt: seconds(task.createdAt),
    desiredStatus: task.desiredStatus,
    enableExecuteCommand: false,
    group: task.group ?? `service:${task.serviceName}`,
    healthStatus: 'UNKNOWN',
    lastStatus: task.lastStatus,
    launchType: task.launchType ?? 'FARGATE',
    ...(task.capacityProviderName ? { capacityProviderName: task.capacityProviderName } : {}),
    ...(task.memory ? { memory: task.memory } : {}),
    overrides: {
      containerOverrides: task.containers.map(c => ({
        name: c.name,
        ...task.containerOverrides?.find(o => o.name === c.name)
      })),
      inferenceAcceleratorOverrides: []
    },
    platformVersion: task.platformVersion ?? PLATFORM_VERSION,
    platformFamily: 'Linux',
    ...(task.startedAt !== undefined
      ? { startedAt: seconds(task.startedAt), pullStartedAt: seconds(task.createdAt) }
      : {}),
    ...(taskStartedBy(task) ? { startedBy: taskStartedBy(task) } : {}),
    ...(task.stopCode !== undefined ? { stopCode: task.stopCode } : {}),
    ...(task.stoppedAt !== undefined
      ? { stoppedAt: seconds(task.stoppedAt), executionStoppedAt: seconds(task.stoppedAt) }
      : {}),
    ...(task.stoppedReason !== undefined ? { stoppedReason: task.stoppedReason } : {}),
    ...(task.stoppingAt !== undefined ? { stoppingAt: seconds(task.stoppingAt) } : {}),
    tags: [],
    taskArn: task.arn,
    taskDefinitionArn: task.taskDefinitionArn,
    ...model.balancing?.wireFields(task),
    version: task.version
  }
}

export function wireTaskDefinition(model: EcsModel, td: TaskDefinitionRecord) {
  const body = td.body
  return {
    ...body,
    taskDefinitionArn: td.arn,
    family: td.family,
    revision: td.revision,
    status: td.status,
    requiresAttributes: [
      { name: 'com.amazonaws.ecs.capability.docker-remote-api.1.18' },
      ...(body.networkMode === 'awsvpc' ? [{ name: 'ecs.capability.task-eni' }] : [])
    ],
    compatibilities: ['EC2', 'FARGATE'],
    registeredAt: seconds(td.registeredAt),
    registeredBy: `arn:aws:sts::${model.accountId}:assumed-role/deploy/session`
  }
}

/** The strategy part of a deploymentConfiguration, as DescribeServices reports it. */
function wireStrategy(service: { strategy: ServiceRecord['strategy'] } & Partial<ServiceRecord>) {
  return {
    strategy: service.strategy,
    ...(service.strategy !== 'ROLLING'
      ? {
          bakeTimeInMinutes: service.bakeTimeInMinutes,
          ...(service.lifecycleHooks && service.lifecycleHooks.length > 0
            ? {
                lifecycleHooks: service.lifecycleHooks.map(h => ({
                  ...(h.targetType ? { targetType: h.targetType } : {}),
                  ...(h.hookTargetArn ? { hookTargetArn: h.hookTargetArn } : {}),
                  ...(h.roleArn ? { roleArn: h.roleArn } : {}),
                  lifecycleStages: [...h.lifecycleStages],
                  ...(h.timeoutConfiguration
                    ? { timeoutConfiguration: { ...h.timeoutConfiguration } }
                    : {})
                }))
              }
            : {})
        }
      : {}),
    ...(service.strategy === 'LINEAR'
      ? { linearConfiguration: { ...service.linearConfiguration } }
      : {}),
    ...(service.strategy === 'CANARY'
      ? { canaryConfiguration: { ...service.canaryConfiguration } }
      : {})
  }
}

/** One service revision of a service deployment, with its live task counts and traffic shares. */
function wireRevisionSummary(
  model: EcsModel,
  cluster: ClusterRecord,
  deployment: DeploymentRecord,
  requested: number,
  traffic?: { production: number; test: number }
) {
  const { running, pending } = model.counts(cluster, deployment)
  return {
    arn: deployment.revision.arn,
    requestedTaskCount: requested,
    runningTaskCount: running,
    pendingTaskCount: pending,
    ...(traffic
      ? {
          requestedProductionTrafficWeight: traffic.production,
          requestedTestTrafficWeight: traffic.test
        }
      : {})
  }
}

/** A service deployment as DescribeServiceDeployments answers it. */
export function wireServiceDeployment(
  model: EcsModel,
  cluster: ClusterRecord,
  service: ServiceRecord,
  sd: ServiceDeploymentRecord
) {
  const target = sd.target
  const lifecycle = target?.lifecycle
  const underWay = sd.status === 'PENDING' || sd.status === 'IN_PROGRESS'
  const sources = lifecycle ? (lifecycle.source ? [lifecycle.source] : []) : sd.sources
  const shares = lifecycle
    ? { production: lifecycle.productionWeight, test: lifecycle.testWeight }
    : undefined
  const threshold = service.failureThreshold ?? circuitBreakerThreshold(service.desiredCount)
  const breakerOn = service.rolloutStateEnabled && service.circuitBreaker.enable
  return {
    serviceDeploymentArn: sd.arn,
    serviceArn: sd.serviceArn,
    clusterArn: sd.clusterArn,
    createdAt: seconds(sd.createdAt),
    startedAt: seconds(sd.startedAt),
    updatedAt: seconds(sd.updatedAt),
    ...(sd.finishedAt !== undefined ? { finishedAt: seconds(sd.finishedAt) } : {}),
    ...(sd.stoppedAt !== undefined ? { stoppedAt: seconds(sd.stoppedAt) } : {}),
    sourceServiceRevisions: sources.map(d =>
      wireRevisionSummary(
        model,
        cluster,
        d,
        d.status === 'PRIMARY' ? service.desiredCount : 0,
        shares && { production: 100 - shares.production, test: 100 - shares.test }
      )
    ),
    ...(target
      ? {
          targetServiceRevision: wireRevisionSummary(
            model,
            cluster,
            target,
            underWay || target.status === 'PRIMARY' ? service.desiredCount : 0,
            shares
          )
        }
      : {}),
    status: sd.status,
    ...(sd.statusReason !== undefined ? { statusReason: sd.statusReason } : {}),
    ...(lifecycle
      ? {
          lifecycleStage: lifecycle.stage,
          ...(lifecycle.hooks.length > 0
            ? {
                lifecycleHookDetails: lifecycle.hooks.map(h =>
                  isPauseHook(h)
                    ? wirePauseDetail(h, seconds)
                    : {
                        hookId: h.hookId,
                        targetType: 'AWS_LAMBDA',
                        targetArn: h.targetArn,
                        status: h.status
                      }
                )
              }
            : {})
        }
      : {}),
    deploymentConfiguration: {
      deploymentCircuitBreaker: { ...service.circuitBreaker },
      maximumPercent: service.maximumPercent,
      minimumHealthyPercent: service.minimumHealthyPercent,
      ...wireStrategy({ ...service, strategy: sd.strategy })
    },
    ...(sd.rollback
      ? {
          rollback: {
            reason: sd.rollback.reason,
            startedAt: seconds(sd.rollback.startedAt),
            serviceRevisionArn: sd.rollback.serviceRevisionArn
          }
        }
      : {}),
    deploymentCircuitBreaker: {
      status: !breakerOn
        ? 'DISABLED'
        : (target?.failedTasks ?? 0) >= threshold
          ? 'TRIGGERED'
          : underWay
            ? 'MONITORING'
            : 'MONITORING_COMPLETE',
      failureCount: target?.failedTasks ?? 0,
      threshold
    },
    alarms: { status: 'DISABLED' }
  }
}

function wireServiceDeploymentBrief(sd: ServiceDeploymentRecord) {
  return {
    serviceDeploymentArn: sd.arn,
    serviceArn: sd.serviceArn,
    clusterArn: sd.clusterArn,
    startedAt: seconds(sd.startedAt),
    createdAt: seconds(sd.createdAt),
    ...(sd.finishedAt !== undefined ? { finishedAt: seconds(sd.finishedAt) } : {}),
    targetServiceRevisionArn: sd.targetRevisionArn,
    status: sd.status,
    ...(sd.statusReason !== undefined ? { statusReason: sd.statusReason } : {})
  }
}

function wireServiceRevision(revision: ServiceRevisionRecord) {
  return {
    serviceRevisionArn: revision.arn,
    serviceArn: revision.serviceArn,
    clusterArn: revision.clusterArn,
    taskDefinition: revision.taskDefinitionArn,
    launchType: 'FARGATE',
    platformVersion: PLATFORM_VERSION,
    platformFamily: 'Linux',
    loadBalancers: [],
    serviceRegistries: [],
    networkConfiguration: networkConfiguration(),
    containerImages: revision.containerImages.map(c => ({
      containerName: c.containerName,
      image: c.image
    })),
    guardDutyEnabled: false,
    createdAt: seconds(revision.createdAt)
  }
}

function accessDenied(model: EcsModel, action: string, resource: string): EcsError {
  return new EcsError(
    'AccessDeniedException',
    `User: arn:aws:sts::${model.accountId}:assumed-role/deploy/session is not authorized to perform: ` +
      `ecs:${action} on resource: ${resource} because no identity-based policy allows the ecs:${action} action`
  )
}

// ---- operations ----------------------------------------------------------------------------

const describeServices: Operation = (model, body) => {
  const cluster = model.cluster(optionalString(body, 'cluster'))
  const services = []
  const failures = []
  for (const identifier of stringList(body, 'services', 10)) {
    const service = model.findService(cluster, identifier)
    if (service) services.push(withServiceTags(wireService(model, cluster, service), service, body))
    else failures.push({ arn: model.serviceArnFor(cluster, identifier), reason: 'MISSING' })
  }
  return { services, failures }
}

/**
 * AWS, DescribeServicesRequest.include (client-ecs models_1.d.ts): "If TAGS is specified, the
 * tags are included in the response. If this field is omitted, tags aren't included".
 */
function withServiceTags<T extends object>(wire: T, service: ServiceRecord, body: Body) {
  const include = Array.isArray(body.include) ? (body.include as unknown[]) : []
  return include.includes('TAGS')
    ? { ...wire, tags: (service.tags ?? []).map(t => ({ ...t })) }
    : wire
}

const updateService: Operation = (model, body) => {
  const cluster = model.cluster(optionalString(body, 'cluster'))
  const service = model.service(cluster, requiredString(body, 'service'))
  const config = (body.deploymentConfiguration ?? {}) as Body
  const breaker = config.deploymentCircuitBreaker as
    { enable?: unknown; rollback?: unknown; resetOnHealthyTask?: unknown } | undefined
  const force = body.forceNewDeployment
  model.updateService(service, {
    taskDefinition: optionalString(body, 'taskDefinition'),
    desiredCount: optionalNumber(body, 'desiredCount'),
    forceNewDeployment: force === true,
    minimumHealthyPercent: optionalNumber(config, 'minimumHealthyPercent'),
    maximumPercent: optionalNumber(config, 'maximumPercent'),
    circuitBreaker: breaker
      ? {
          enable: breaker.enable === true,
          rollback: breaker.rollback === true,
          ...(typeof breaker.resetOnHealthyTask === 'boolean'
            ? { resetOnHealthyTask: breaker.resetOnHealthyTask }
            : {})
        }
      : undefined,
    strategy: optionalString(config, 'strategy') as DeploymentStrategy | undefined,
    bakeTimeInMinutes: optionalNumber(config, 'bakeTimeInMinutes'),
    linearConfiguration: config.linearConfiguration as Partial<LinearConfiguration> | undefined,
    canaryConfiguration: config.canaryConfiguration as Partial<CanaryConfiguration> | undefined,
    lifecycleHooks: config.lifecycleHooks as LifecycleHookSpec[] | undefined
  })
  return { service: wireService(model, cluster, service) }
}

const listServices: Operation = (model, body) => {
  const cluster = model.cluster(optionalString(body, 'cluster'))
  const arns = [...cluster.services.values()].map(s => s.arn)
  const { page, nextToken } = paginate(arns, body, 10, 100)
  return { serviceArns: page, ...(nextToken ? { nextToken } : {}) }
}

const registerTaskDefinition: Operation = (model, body) => {
  const readOnly = READ_ONLY_TASK_DEFINITION_FIELDS.filter(field => field in body)
  if (readOnly.length > 0) {
    throw new EcsError(
      'ClientException',
      `RegisterTaskDefinition does not accept the read-only field(s) ${readOnly.join(', ')}: ` +
        'remove what DescribeTaskDefinition adds before registering.'
    )
  }
  const td = model.registerTaskDefinition(body)
  return { taskDefinition: wireTaskDefinition(model, td), tags: td.tags }
}

const describeTaskDefinition: Operation = (model, body) => {
  const td = model.findTaskDefinition(requiredString(body, 'taskDefinition'))
  if (!td) throw new EcsError('ClientException', 'Unable to describe task definition.')
  const include = Array.isArray(body.include) ? (body.include as unknown[]) : []
  return {
    taskDefinition: wireTaskDefinition(model, td),
    ...(include.includes('TAGS') ? { tags: td.tags } : {})
  }
}

const listTaskDefinitions: Operation = (model, body) => {
  const family = optionalString(body, 'familyPrefix')
  const status = optionalString(body, 'status') ?? 'ACTIVE'
  const sort = optionalString(body, 'sort') ?? 'ASC'
  if (sort !== 'ASC' && sort !== 'DESC')
    throw new EcsError('InvalidParameterException', 'sort must be ASC or DESC.')
  const all = model
    .listedTaskDefinitions()
    .filter(td => family === undefined || td.family === family)
    .sort((a, b) => a.family.localeCompare(b.family) || a.revision - b.revision)
    .filter(td => td.status === status)
    .map(td => td.arn)
  if (sort === 'DESC') all.reverse()
  const { page, nextToken } = paginate(all, body, 100, 100, SHORT_TASK_DEFINITION_PAGE)
  return { taskDefinitionArns: page, ...(nextToken ? { nextToken } : {}) }
}

const listTasks: Operation = (model, body) => {
  const cluster = model.cluster(optionalString(body, 'cluster'))
  const serviceName = optionalString(body, 'serviceName')
  if (serviceName !== undefined) model.service(cluster, serviceName)
  const startedBy = optionalString(body, 'startedBy')
  const family = optionalString(body, 'family')
  const others = [
    serviceName,
    family,
    optionalString(body, 'containerInstance'),
    optionalString(body, 'launchType')
  ]
  if (startedBy !== undefined && others.some(v => v !== undefined)) {
    // "When you specify startedBy as the filter, it must be the only filter that you use."
    throw new EcsError(
      'InvalidParameterException',
      'startedBy must be the only filter when it is specified (no serviceName, family, containerInstance or launchType).'
    )
  }
  const desiredStatus = optionalString(body, 'desiredStatus') ?? 'RUNNING'
  const name =
    serviceName === undefined ? undefined : serviceName.slice(serviceName.lastIndexOf('/') + 1)
  const arns = [...cluster.tasks.values()]
    .filter(
      t =>
        t.desiredStatus === desiredStatus &&
        (name === undefined || t.serviceName === name) &&
        (startedBy === undefined || taskStartedBy(t) === startedBy) &&
        (family === undefined || model.findTaskDefinition(t.taskDefinitionArn)?.family === family)
    )
    .map(t => t.arn)
  const { page, nextToken } = paginate(arns, body, 100, 100)
  return { taskArns: page, ...(nextToken ? { nextToken } : {}) }
}

const describeTasks: Operation = (model, body) => {
  const cluster = model.cluster(optionalString(body, 'cluster'))
  const tasks = []
  const failures = []
  for (const identifier of stringList(body, 'tasks', 100)) {
    const id = identifier.slice(identifier.lastIndexOf('/') + 1)
    const task = [...cluster.tasks.values()].find(t => t.id === id)
    if (task) tasks.push(wireTask(model, task))
    else failures.push({ arn: identifier, reason: 'MISSING' })
  }
  return { tasks, failures }
}

const listServiceDeployments: Operation = (model, body) => {
  const cluster = model.cluster(optionalString(body, 'cluster'))
  const service = model.service(cluster, requiredString(body, 'service'))
  if (!service.serviceDeploymentsApi)
    throw accessDenied(model, 'ListServiceDeployments', service.arn)
  const statuses = Array.isArray(body.status) ? (body.status as string[]) : undefined
  const createdAt = (body.createdAt ?? {}) as { before?: number; after?: number }
  const items = [...service.serviceDeployments]
    .reverse()
    .filter(
      sd =>
        (statuses === undefined || statuses.length === 0 || statuses.includes(sd.status)) &&
        (createdAt.before === undefined || seconds(sd.createdAt) <= createdAt.before) &&
        (createdAt.after === undefined || seconds(sd.createdAt) >= createdAt.after)
    )
    .map(wireServiceDeploymentBrief)
  const { page, nextToken } = paginate(items, body, 20, 100)
  return { serviceDeployments: page, ...(nextToken ? { nextToken } : {}) }
}

const describeServiceDeployments: Operation = (model, body) => {
  const serviceDeployments = []
  const failures = []
  for (const arn of stringList(body, 'serviceDeploymentArns', 20)) {
    const found = model.findServiceDeployment(arn)
    if (!found) {
      failures.push({ arn, reason: 'MISSING' })
      continue
    }
    if (!found.service.serviceDeploymentsApi)
      throw accessDenied(model, 'DescribeServiceDeployments', arn)
    serviceDeployments.push(
      wireServiceDeployment(model, found.cluster, found.service, found.serviceDeployment)
    )
  }
  return { serviceDeployments, failures }
}

const stopServiceDeployment: Operation = (model, body) => {
  const arn = requiredString(body, 'serviceDeploymentArn')
  const found = model.findServiceDeployment(arn)
  if (found && !found.service.serviceDeploymentsApi)
    throw accessDenied(model, 'StopServiceDeployment', arn)
  const sd = model.stopServiceDeployment(arn, optionalString(body, 'stopType') ?? 'ROLLBACK')
  return { serviceDeploymentArn: sd.arn }
}

/** ContinueServiceDeployment: the answer to a PAUSE hook (pause-hooks.ts). */
const continueServiceDeployment: Operation = (model, body) => {
  const arn = requiredString(body, 'serviceDeploymentArn')
  const found = model.findServiceDeployment(arn)
  if (found && !found.service.serviceDeploymentsApi)
    throw accessDenied(model, 'ContinueServiceDeployment', arn)
  model.continueServiceDeployment(
    arn,
    requiredString(body, 'hookId'),
    optionalString(body, 'action')
  )
  return { serviceDeploymentArn: arn }
}

const describeServiceRevisions: Operation = (model, body) => {
  const serviceRevisions = []
  const failures = []
  for (const arn of stringList(body, 'serviceRevisionArns', 20)) {
    let found: ServiceRevisionRecord | undefined
    for (const cluster of model.clusters.values()) {
      for (const service of cluster.services.values()) {
        const revision = service.revisions.find(r => r.arn === arn)
        if (!revision) continue
        if (!service.serviceDeploymentsApi)
          throw accessDenied(model, 'DescribeServiceRevisions', arn)
        found = revision
      }
    }
    if (found) serviceRevisions.push(wireServiceRevision(found))
    else failures.push({ arn, reason: 'MISSING' })
  }
  return { serviceRevisions, failures }
}

const tagResource: Operation = (model, body) => {
  const arn = requiredString(body, 'resourceArn')
  const tags = body.tags
  if (!Array.isArray(tags) || tags.length === 0)
    throw new EcsError('InvalidParameterException', 'tags can not be empty.')
  for (const tag of tags as Array<{ key?: unknown; value?: unknown }>) {
    if (typeof tag.key !== 'string' || tag.key === '' || tag.key.length > 128)
      throw new EcsError('InvalidParameterException', 'A tag key must be 1 to 128 characters.')
    if (tag.key.toLowerCase().startsWith('aws:'))
      throw new EcsError('InvalidParameterException', 'Tag keys with the aws: prefix are reserved.')
    if (typeof tag.value !== 'string' || tag.value.length > 256)
      throw new EcsError('InvalidParameterException', 'A tag value must be at most 256 characters.')
  }
  if (arn.includes(':service/')) {
    model.tagService(arn, tags as Array<{ key: string; value: string }>)
    return {}
  }
  if (!arn.includes(':task-definition/'))
    throw new EcsError(
      'InvalidParameterException',
      'The stand-in tags task definitions and services only.'
    )
  model.tagTaskDefinition(arn, tags as Array<{ key: string; value: string }>)
  return {}
}

/** What a task's startedBy is: the caller's for RunTask, the deployment's for a service's. */
function taskStartedBy(task: TaskRecord): string {
  return task.startedBy ?? task.deploymentId
}

const STARTED_BY_PATTERN = /^[A-Za-z0-9_/-]{1,128}$/

function parseContainerOverrides(body: Body): ContainerOverride[] {
  const overrides = (body.overrides ?? {}) as Body
  if (typeof overrides !== 'object' || Array.isArray(overrides))
    throw new EcsError('InvalidParameterException', 'overrides must be an object.')
  const list = overrides.containerOverrides ?? []
  if (!Array.isArray(list))
    throw new EcsError('InvalidParameterException', 'containerOverrides must be a list.')
  return list.map((raw: unknown) => {
    const item = (raw ?? {}) as Body
    const name = requiredString(item, 'name')
    const command = item.command
    if (
      command !== undefined &&
      (!Array.isArray(command) || command.some(c => typeof c !== 'string'))
    )
      throw new EcsError('InvalidParameterException', 'command must be a list of strings.')
    const environment = item.environment
    if (
      environment !== undefined &&
      (!Array.isArray(environment) ||
        environment.some(
          e => typeof (e as Body)?.name !== 'string' || typeof (e as Body)?.value !== 'string'
        ))
    )
      throw new EcsError(
        'InvalidParameterException',
        'environment must be a list of {name, value}.'
      )
    return {
      name,
      ...(command !== undefined ? { command: command as string[] } : {}),
      ...(environment !== undefined
        ? { environment: environment as Array<{ name: string; value: string }> }
        : {})
    }
  })
}

const runTask: Operation = (model, body) => {
  const cluster = model.cluster(optionalString(body, 'cluster'))
  const startedBy = optionalString(body, 'startedBy')
  if (startedBy !== undefined && !STARTED_BY_PATTERN.test(startedBy)) {
    throw new EcsError(
      'InvalidParameterException',
      'startedBy can have up to 128 letters (uppercase and lowercase), numbers, hyphens, forward slashes and underscores.'
    )
  }
  const clientToken = optionalString(body, 'clientToken')
  if (clientToken !== undefined && !/^[\x21-\x7e]{1,64}$/.test(clientToken)) {
    throw new EcsError(
      'InvalidParameterException',
      'clientToken can have up to 64 ASCII characters in the range 33-126.'
    )
  }
  const strategy = body.capacityProviderStrategy
  if (strategy !== undefined && !Array.isArray(strategy))
    throw new EcsError('InvalidParameterException', 'capacityProviderStrategy must be a list.')
  const network = body.networkConfiguration as RunTaskInput['networkConfiguration'] | undefined
  const { tasks, failures } = model.runTask(cluster, {
    taskDefinition: requiredString(body, 'taskDefinition'),
    count: optionalNumber(body, 'count') ?? 1,
    ...(optionalString(body, 'launchType') !== undefined
      ? { launchType: optionalString(body, 'launchType') }
      : {}),
    ...(strategy !== undefined
      ? {
          capacityProviderStrategy: (strategy as Body[]).map(item => ({
            capacityProvider: requiredString(item, 'capacityProvider'),
            ...(optionalNumber(item, 'weight') !== undefined
              ? { weight: optionalNumber(item, 'weight') }
              : {}),
            ...(optionalNumber(item, 'base') !== undefined
              ? { base: optionalNumber(item, 'base') }
              : {})
          }))
        }
      : {}),
    ...(optionalString(body, 'platformVersion') !== undefined
      ? { platformVersion: optionalString(body, 'platformVersion') }
      : {}),
    ...(network !== undefined ? { networkConfiguration: network } : {}),
    containerOverrides: parseContainerOverrides(body),
    ...(startedBy !== undefined ? { startedBy } : {}),
    ...(optionalString(body, 'group') !== undefined
      ? { group: optionalString(body, 'group') }
      : {}),
    ...(clientToken !== undefined ? { clientToken } : {})
  })
  return { tasks: tasks.map(t => wireTask(model, t)), failures }
}

const stopTask: Operation = (model, body) => {
  const cluster = model.cluster(optionalString(body, 'cluster'))
  const reason = optionalString(body, 'reason')
  if (reason !== undefined && reason.length > 255)
    throw new EcsError('InvalidParameterException', 'reason can have at most 255 characters.')
  const task = model.stopTask(cluster, requiredString(body, 'task'), reason)
  return { task: wireTask(model, task) }
}

export const OPERATIONS: Record<string, Operation> = {
  TagResource: tagResource,
  RunTask: runTask,
  StopTask: stopTask,
  DescribeServices: describeServices,
  UpdateService: updateService,
  ListServices: listServices,
  RegisterTaskDefinition: registerTaskDefinition,
  DescribeTaskDefinition: describeTaskDefinition,
  ListTaskDefinitions: listTaskDefinitions,
  ListTasks: listTasks,
  DescribeTasks: describeTasks,
  ListServiceDeployments: listServiceDeployments,
  DescribeServiceDeployments: describeServiceDeployments,
  StopServiceDeployment: stopServiceDeployment,
  ContinueServiceDeployment: continueServiceDeployment,
  DescribeServiceRevisions: describeServiceRevisions
}
