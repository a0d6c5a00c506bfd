/**
 * Application Auto Scaling as its API reference documents it, for the `ecs` namespace:
 * scalable targets (RegisterScalableTarget registers or updates; a new one needs both bounds;
 * the resource's capacity is brought inside them), scaling policies (PutScalingPolicy creates
 * or updates by name and needs a registered target: ObjectNotFoundException otherwise; target
 * tracking creates two CloudWatch alarms), DeleteScalingPolicy, DeregisterScalableTarget (which
 * deletes the target's policies), and the Describe operations with MaxResults/NextToken paging.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { AwsServiceError } from '../shared/json11.js'

/** Where scalable resources live (ECS services): existence and current capacity. */
export interface ScalableResources {
  /** The resource's current capacity, or undefined when it does not exist. */
  capacity(resourceId: string, dimension: string): Promise<number | undefined>
  /** Called when a target's bounds move the capacity, as Application Auto Scaling does. */
  setCapacity(resourceId: string, dimension: string, value: number): Promise<void>
}

const NAMESPACES = [
  'ecs',
  'elasticmapreduce',
  'ec2',
  'appstream',
  'dynamodb',
  'rds',
  'sagemaker',
  'custom-resource',
  'comprehend',
  'lambda',
  'cassandra',
  'kafka',
  'elasticache',
  'neptune',
  'workspaces'
]

/** The one namespace modelled in full; others are refused rather than half-played. */
const ECS = {
  dimension: 'ecs:service:DesiredCount',
  resourceId: /^service\/[A-Za-z0-9_-]{1,255}\/[A-Za-z0-9_-]{1,255}$/,
  metrics: new Set([
    'ECSServiceAverageCPUUtilization',
    'ECSServiceAverageMemoryUtilization',
    'ECSServiceAverageCPUUtilizationHighResolution',
    'ECSServiceAverageMemoryUtilizationHighResolution',
    'ALBRequestCountPerTarget'
  ])
}

/** TargetValue's documented range. */
const TARGET_VALUE_MIN = 8.51592e-109
const TARGET_VALUE_MAX = 1.174271e108
/** Scaling policies per scalable target (Application Auto Scaling quota). */
const POLICIES_PER_TARGET = 50
const MAX_RESULTS = 50

interface TargetRecord {
  namespace: string
  resourceId: string
  dimension: string
  minCapacity: number
  maxCapacity: number
  suspendedState: Record<string, boolean>
  arn: string
  createdAt: number
}

interface PolicyRecord {
  name: string
  arn: string
  namespace: string
  resourceId: string
  dimension: string
  type: string
  configuration: Record<string, unknown>
  alarms: Array<{ AlarmName: string; AlarmARN: string }>
  createdAt: number
}

const validation = (message: string) => new AwsServiceError('ValidationException', message)

function required(input: Record<string, unknown>, field: string, member: string): string {
  const value = input[field]
  if (typeof value !== 'string' || value === '') {
    throw validation(
      `1 validation error detected: Value ${value === undefined ? 'null' : `'${String(value)}'`} at '${member}' failed to satisfy constraint: Member must not be null`
    )
  }
  return value
}

function optionalInteger(
  input: Record<string, unknown>,
  field: string,
  member: string
): number | undefined {
  const value = input[field]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw validation(
      `1 validation error detected: Value '${String(value)}' at '${member}' failed to satisfy constraint: Member must have value greater than or equal to 0`
    )
  }
  return value
}

function namespaceOf(input: Record<string, unknown>): string {
  const namespace = required(input, 'ServiceNamespace', 'serviceNamespace')
  if (!NAMESPACES.includes(namespace)) {
    throw validation(
      `1 validation error detected: Value '${namespace}' at 'serviceNamespace' failed to satisfy constraint: Member must satisfy enum value set: [${NAMESPACES.join(', ')}]`
    )
  }
  if (namespace !== 'ecs')
    throw validation(`Service namespace ${namespace} is not modelled by this stand-in.`)
  return namespace
}

function dimensionOf(input: Record<string, unknown>, namespace: string): string {
  const dimension = required(input, 'ScalableDimension', 'scalableDimension')
  if (namespace === 'ecs' && dimension !== ECS.dimension) {
    throw validation(
      `Unsupported scalable dimension '${dimension}' for service namespace '${namespace}'.`
    )
  }
  return dimension
}

function resourceIdOf(input: Record<string, unknown>): string {
  const resourceId = required(input, 'ResourceId', 'resourceId')
  if (resourceId.length > 1600)
    throw validation(
      "1 validation error detected: Value at 'resourceId' failed to satisfy constraint: Member must have length less than or equal to 1600"
    )
  if (!ECS.resourceId.test(resourceId))
    throw validation(
      `Unsupported resource ID '${resourceId}': an ECS service is service/<cluster name>/<service name>.`
    )
  return resourceId
}

/** Opaque paging tokens: an offset, signed so a made-up one is refused. */
const TOKEN_SALT = randomBytes(4).toString('hex')
function page<T>(items: T[], input: Record<string, unknown>): { items: T[]; next?: string } {
  const maxResults = input.MaxResults
  if (
    maxResults !== undefined &&
    (typeof maxResults !== 'number' ||
      !Number.isInteger(maxResults) ||
      maxResults < 0 ||
      maxResults > MAX_RESULTS)
  ) {
    throw validation(
      `1 validation error detected: Value '${String(maxResults)}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to ${MAX_RESULTS}`
    )
  }
  const size = typeof maxResults === 'number' && maxResults > 0 ? maxResults : MAX_RESULTS
  let start = 0
  if (input.NextToken !== undefined) {
    const token = String(input.NextToken)
    const [salt, offset] = Buffer.from(token, 'base64url').toString('utf8').split(':')
    if (salt !== TOKEN_SALT || !/^\d+$/.test(offset ?? ''))
      throw new AwsServiceError('InvalidNextTokenException', 'Invalid token')
    start = Number(offset)
  }
  const end = start + size
  return {
    items: items.slice(start, end),
    next: end < items.length ? Buffer.from(`${TOKEN_SALT}:${end}`).toString('base64url') : undefined
  }
}

export class AutoScalingModel {
  readonly targets = new Map<string, TargetRecord>()
  readonly policies = new Map<string, PolicyRecord>()

  constructor(
    readonly region: string,
    readonly accountId: string,
    private readonly resources?: ScalableResources
  ) {}

  private targetKey(namespace: string, resourceId: string, dimension: string): string {
    return `${namespace}|${resourceId}|${dimension}`
  }

  private policyKey(target: string, name: string): string {
    return `${target}|${name}`
  }

  private requireTarget(namespace: string, resourceId: string, dimension: string): TargetRecord {
    const target = this.targets.get(this.targetKey(namespace, resourceId, dimension))
    if (!target) {
      throw new AwsServiceError(
        'ObjectNotFoundException',
        `No scalable target registered for service namespace: ${namespace}, resource ID: ${resourceId}, scalable dimension: ${dimension}`
      )
    }
    return target
  }

  private wireTarget(target: TargetRecord) {
    return {
      ServiceNamespace: target.namespace,
      ResourceId: target.resourceId,
      ScalableDimension: target.dimension,
      MinCapacity: target.minCapacity,
      MaxCapacity: target.maxCapacity,
      RoleARN: `arn:aws:iam::${this.accountId}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService`,
      CreationTime: target.createdAt,
      SuspendedState: {
        DynamicScalingInSuspended: target.suspendedState.DynamicScalingInSuspended ?? false,
        DynamicScalingOutSuspended: target.suspendedState.DynamicScalingOutSuspended ?? false,
        ScheduledScalingSuspended: target.suspendedState.ScheduledScalingSuspended ?? false
      },
      ScalableTargetARN: target.arn
    }
  }

  private wirePolicy(policy: PolicyRecord) {
    return {
      PolicyARN: policy.arn,
      PolicyName: policy.name,
      ServiceNamespace: policy.namespace,
      ResourceId: policy.resourceId,
      ScalableDimension: policy.dimension,
      PolicyType: policy.type,
      [policy.type === 'TargetTrackingScaling'
        ? 'TargetTrackingScalingPolicyConfiguration'
        : 'StepScalingPolicyConfiguration']: policy.configuration,
      Alarms: policy.alarms,
      CreationTime: policy.createdAt
    }
  }

  async registerScalableTarget(input: Record<string, unknown>) {
    const namespace = namespaceOf(input)
    const resourceId = resourceIdOf(input)
    const dimension = dimensionOf(input, namespace)
    const min = optionalInteger(input, 'MinCapacity', 'minCapacity')
    const max = optionalInteger(input, 'MaxCapacity', 'maxCapacity')
    const key = this.targetKey(namespace, resourceId, dimension)
    const existing = this.targets.get(key)
    if (!existing && (min === undefined || max === undefined)) {
      throw validation('MinCapacity and MaxCapacity are required to register a new scalable target')
    }
    const minCapacity = min ?? existing!.minCapacity
    const maxCapacity = max ?? existing!.maxCapacity
    if (minCapacity > maxCapacity) {
      throw validation(
        `Minimum capacity ${minCapacity} cannot be greater than maximum capacity ${maxCapacity}`
      )
    }
    const current = this.resources
      ? await this.resources.capacity(resourceId, dimension)
      : undefined
    if (this.resources && current === undefined) {
      throw validation(`ECS service doesn't exist: ${resourceId}`)
    }
    const suspended = input.SuspendedState as Record<string, boolean> | undefined
    const target: TargetRecord = existing ?? {
      namespace,
      resourceId,
      dimension,
      minCapacity,
      maxCapacity,
      suspendedState: {},
      arn: `arn:aws:application-autoscaling:${this.region}:${this.accountId}:scalable-target/${randomBytes(18).toString('hex')}`,
      createdAt: Date.now() / 1000
    }
    target.minCapacity = minCapacity
    target.maxCapacity = maxCapacity
    if (suspended && typeof suspended === 'object')
      target.suspendedState = { ...target.suspendedState, ...suspended }
    this.targets.set(key, target)
    // The capacity is moved inside the bounds at once.
    if (this.resources && current !== undefined) {
      const bounded = Math.min(maxCapacity, Math.max(minCapacity, current))
      if (bounded !== current) await this.resources.setCapacity(resourceId, dimension, bounded)
    }
    return { ScalableTargetARN: target.arn }
  }

  describeScalableTargets(input: Record<string, unknown>) {
    const namespace = namespaceOf(input)
    const resourceIds = Array.isArray(input.ResourceIds) ? (input.ResourceIds as string[]) : []
    const dimension = input.ScalableDimension
    if (dimension !== undefined && resourceIds.length === 0) {
      throw validation('If you specify a scalable dimension, you must also specify a resource ID.')
    }
    const matching = [...this.targets.values()].filter(
      t =>
        t.namespace === namespace &&
        (resourceIds.length === 0 || resourceIds.includes(t.resourceId)) &&
        (dimension === undefined || t.dimension === dimension)
    )
    const { items, next } = page(matching, input)
    return { ScalableTargets: items.map(t => this.wireTarget(t)), NextToken: next }
  }

  deregisterScalableTarget(input: Record<string, unknown>) {
    const namespace = namespaceOf(input)
    const resourceId = resourceIdOf(input)
    const dimension = dimensionOf(input, namespace)
    const key = this.targetKey(namespace, resourceId, dimension)
    this.requireTarget(namespace, resourceId, dimension)
    this.targets.delete(key)
    for (const [policyKey] of this.policies)
      if (policyKey.startsWith(`${key}|`)) this.policies.delete(policyKey)
    return {}
  }

  putScalingPolicy(input: Record<string, unknown>) {
    const name = required(input, 'PolicyName', 'policyName')
    if (name.length > 256 || !/^[\p{L}\p{N}\p{P}\p{S} ]+$/u.test(name))
      throw validation(
        `1 validation error detected: Value '${name}' at 'policyName' failed to satisfy constraint: Member must have length less than or equal to 256 and be printable`
      )
    const namespace = namespaceOf(input)
    const resourceId = resourceIdOf(input)
    const dimension = dimensionOf(input, namespace)
    const type = input.PolicyType === undefined ? 'StepScaling' : String(input.PolicyType)
    if (!['TargetTrackingScaling', 'StepScaling', 'PredictiveScaling'].includes(type)) {
      throw validation(
        `1 validation error detected: Value '${type}' at 'policyType' failed to satisfy constraint: Member must satisfy enum value set: [PredictiveScaling, StepScaling, TargetTrackingScaling]`
      )
    }
    if (type === 'PredictiveScaling')
      throw validation('PredictiveScaling is not modelled by this stand-in.')
    const configuration =
      type === 'TargetTrackingScaling'
        ? this.targetTracking(input.TargetTrackingScalingPolicyConfiguration)
        : this.stepScaling(input.StepScalingPolicyConfiguration)
    const target = this.requireTarget(namespace, resourceId, dimension)
    const targetKey = this.targetKey(namespace, resourceId, dimension)
    const key = this.policyKey(targetKey, name)
    const existing = this.policies.get(key)
    if (!existing) {
      const count = [...this.policies.keys()].filter(k => k.startsWith(`${targetKey}|`)).length
      if (count >= POLICIES_PER_TARGET)
        throw new AwsServiceError(
          'LimitExceededException',
          `The maximum number of scaling policies (${POLICIES_PER_TARGET}) for ${target.resourceId} has been reached.`
        )
    }
    const alarms =
      type !== 'TargetTrackingScaling'
        ? []
        : (existing?.alarms.length ?? 0) > 0
          ? existing!.alarms
          : ['AlarmHigh', 'AlarmLow'].map(kind => {
              const alarmName = `TargetTracking-${resourceId}-${kind}-${randomUUID()}`
              return {
                AlarmName: alarmName,
                AlarmARN: `arn:aws:cloudwatch:${this.region}:${this.accountId}:alarm:${alarmName}`
              }
            })
    const policy: PolicyRecord = {
      name,
      arn:
        existing?.arn ??
        `arn:aws:autoscaling:${this.region}:${this.accountId}:scalingPolicy:${randomUUID()}:resource/${namespace}/${resourceId}:policyName/${name}`,
      namespace,
      resourceId,
      dimension,
      type,
      configuration,
      alarms,
      createdAt: existing?.createdAt ?? Date.now() / 1000
    }
    this.policies.set(key, policy)
    return { PolicyARN: policy.arn, ...(alarms.length > 0 ? { Alarms: alarms } : {}) }
  }

  private targetTracking(raw: unknown): Record<string, unknown> {
    if (typeof raw !== 'object' || raw === null)
      throw validation(
        'TargetTrackingScalingPolicyConfiguration is required for a TargetTrackingScaling policy'
      )
    const config = raw as Record<string, unknown>
    const value = config.TargetValue
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw validation(
        "1 validation error detected: Value null at 'targetTrackingScalingPolicyConfiguration.targetValue' failed to satisfy constraint: Member must not be null"
      )
    if (value < TARGET_VALUE_MIN || value > TARGET_VALUE_MAX)
      throw validation(
        `The target value ${value} is out of range: it must be between ${TARGET_VALUE_MIN} and ${TARGET_VALUE_MAX}.`
      )
    const predefined = config.PredefinedMetricSpecification as Record<string, unknown> | undefined
    const customized = config.CustomizedMetricSpecification
    if ((predefined === undefined) === (customized === undefined))
      throw validation('Specify either a predefined metric or a customized metric, not both.')
    if (predefined) {
      const metric = String(predefined.PredefinedMetricType ?? '')
      if (!ECS.metrics.has(metric))
        throw validation(
          `Unsupported predefined metric type '${metric}' for service namespace ecs.`
        )
      if (metric === 'ALBRequestCountPerTarget' && !predefined.ResourceLabel)
        throw validation('ResourceLabel is required for the ALBRequestCountPerTarget metric.')
    }
    for (const [field, member] of [
      ['ScaleOutCooldown', 'scaleOutCooldown'],
      ['ScaleInCooldown', 'scaleInCooldown']
    ] as const) {
      optionalInteger(config, field, `targetTrackingScalingPolicyConfiguration.${member}`)
    }
    return config
  }

  private stepScaling(raw: unknown): Record<string, unknown> {
    if (typeof raw !== 'object' || raw === null)
      throw validation('StepScalingPolicyConfiguration is required for a StepScaling policy')
    const config = raw as Record<string, unknown>
    optionalInteger(config, 'Cooldown', 'stepScalingPolicyConfiguration.cooldown')
    return config
  }

  describeScalingPolicies(input: Record<string, unknown>) {
    const namespace = namespaceOf(input)
    const names = Array.isArray(input.PolicyNames) ? (input.PolicyNames as string[]) : []
    const resourceId = input.ResourceId
    const dimension = input.ScalableDimension
    const matching = [...this.policies.values()].filter(
      p =>
        p.namespace === namespace &&
        (names.length === 0 || names.includes(p.name)) &&
        (resourceId === undefined || p.resourceId === resourceId) &&
        (dimension === undefined || p.dimension === dimension)
    )
    const { items, next } = page(matching, input)
    return { ScalingPolicies: items.map(p => this.wirePolicy(p)), NextToken: next }
  }

  deleteScalingPolicy(input: Record<string, unknown>) {
    const name = required(input, 'PolicyName', 'policyName')
    const namespace = namespaceOf(input)
    const resourceId = resourceIdOf(input)
    const dimension = dimensionOf(input, namespace)
    const key = this.policyKey(this.targetKey(namespace, resourceId, dimension), name)
    if (!this.policies.has(key)) {
      throw new AwsServiceError(
        'ObjectNotFoundException',
        `No scaling policy found for service namespace: ${namespace}, resource ID: ${resourceId}, scalable dimension: ${dimension}, policy name: ${name}`
      )
    }
    this.policies.delete(key)
    return {}
  }
}
