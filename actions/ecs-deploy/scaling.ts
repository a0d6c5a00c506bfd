/**
 * Service auto-scaling, declared by the `auto-scaling-*` inputs and applied on deploy through
 * Application Auto Scaling: a scalable target on the service's desired count (its min and max)
 * and one target-tracking policy per declared metric. What is there is read first and only
 * what differs is changed, so a second identical deploy changes nothing.
 *
 * - `readScalingInputs`: the inputs, checked before anything changes (all empty: leave scaling
 *   alone).
 * - `diffScaling`: pure; what is there and what is declared in, the changes out.
 * - `ScalingGateway`: the only code here that calls AWS, through an AwsCaller; a change whose
 *   reply was lost is read back before anything is sent again.
 * - `applyScaling` / `planScaling`: what main.ts calls, with a log line and summary Markdown.
 *
 * In main.ts: `const scaling = readScalingInputs(inputs, config.desiredCount)` with the other
 * inputs, before any AWS call; then, once the request is known to be good and before the
 * service is updated, when `scaling` is defined:
 *   const applied = await applyScaling(scaling, config, { gateway: scalingGateway(config.region, caller) })
 *   runner.info(applied.line); applied.notes.forEach(n => runner.info(n)); // summary: applied.summary
 */
import {
  ApplicationAutoScalingClient,
  DeleteScalingPolicyCommand,
  DescribeScalableTargetsCommand,
  DescribeScalingPoliciesCommand,
  PutScalingPolicyCommand,
  RegisterScalableTargetCommand,
  type MetricType,
  type ScalingPolicy
} from '@aws-sdk/client-application-auto-scaling'
import type { AwsCaller } from '../shared/aws-call.js'
import { clientSettings } from '../shared/aws.js'
import { ActionError, awsFailure, InputError } from '../shared/errors.js'
import type { Inputs } from '../shared/inputs.js'
import { facts, section, table } from '../shared/summary.js'

// ---- what is declared -----------------------------------------------------------------------

export type ScalingMetric = 'cpu' | 'memory'

/** The metrics a policy can track, in the order they are applied and shown. */
export const SCALING_METRICS: Record<
  ScalingMetric,
  { input: string; predefinedMetricType: MetricType; label: string }
> = {
  cpu: {
    input: 'auto-scaling-cpu-target',
    predefinedMetricType: 'ECSServiceAverageCPUUtilization',
    label: 'CPU'
  },
  memory: {
    input: 'auto-scaling-memory-target',
    predefinedMetricType: 'ECSServiceAverageMemoryUtilization',
    label: 'memory'
  }
}
const METRICS = Object.keys(SCALING_METRICS) as ScalingMetric[]

export const SERVICE_NAMESPACE = 'ecs'
export const SCALABLE_DIMENSION = 'ecs:service:DesiredCount'
/** What Application Auto Scaling uses for an ECS policy's cooldown when none is set. */
export const ECS_DEFAULT_COOLDOWN_SECONDS = 300
export const DEFAULT_SCALE_OUT_COOLDOWN_SECONDS = 300
export const DEFAULT_SCALE_IN_COOLDOWN_SECONDS = 900
/** A cooldown longer than a day is a typo, not a policy. */
const MAX_COOLDOWN_SECONDS = 86_400

export interface ScalingDeclaration {
  minCapacity: number
  maxCapacity: number
  /** Target percent per metric; a metric left out has no policy of ours. */
  targets: Partial<Record<ScalingMetric, number>>
  scaleOutCooldown: number
  scaleInCooldown: number
}

const INPUTS = {
  min: 'auto-scaling-min',
  max: 'auto-scaling-max',
  scaleOut: 'auto-scaling-scale-out-cooldown',
  scaleIn: 'auto-scaling-scale-in-cooldown'
}

function wholeNumber(
  inputs: Inputs,
  name: string,
  range: { min: number; max?: number; example: number; unit?: string }
): number | undefined {
  const raw = inputs.string(name)
  if (raw === '') return undefined
  const max = range.max ?? Infinity
  const bounds = max === Infinity ? `of at least ${range.min}` : `from ${range.min} to ${max}`
  const fix = `use a whole number ${bounds}${range.unit ? ` ${range.unit}` : ''}, e.g. ${range.example}`
  if (!/^\d+$/.test(raw)) throw new InputError(name, raw, fix)
  const value = Number(raw)
  if (value < range.min || value > max) throw new InputError(name, raw, fix)
  return value
}

/**
 * The `auto-scaling-*` inputs. Undefined when all are empty: scaling is left as it is.
 * min and max come together: a new scalable target needs both, and a declaration that named
 * one bound and kept the other from whatever is there would deploy differently per service.
 * `desiredCount` is the parsed `desired-count` input: with scaling declared it would fight
 * the policies (every deploy would reset what they chose), so the two are refused together.
 */
export function readScalingInputs(
  inputs: Inputs,
  desiredCount: number | undefined
): ScalingDeclaration | undefined {
  const min = wholeNumber(inputs, INPUTS.min, { min: 0, example: 3 })
  const max = wholeNumber(inputs, INPUTS.max, { min: 1, example: 20 })
  const targets: Partial<Record<ScalingMetric, number>> = {}
  for (const metric of METRICS) {
    // Undefined (not declared) when the input is empty.
    targets[metric] = wholeNumber(inputs, SCALING_METRICS[metric].input, {
      min: 1,
      max: 100,
      unit: 'percent',
      example: metric === 'cpu' ? 70 : 80
    })
  }
  const scaleOut = wholeNumber(inputs, INPUTS.scaleOut, {
    min: 0,
    max: MAX_COOLDOWN_SECONDS,
    unit: 'seconds',
    example: DEFAULT_SCALE_OUT_COOLDOWN_SECONDS
  })
  const scaleIn = wholeNumber(inputs, INPUTS.scaleIn, {
    min: 0,
    max: MAX_COOLDOWN_SECONDS,
    unit: 'seconds',
    example: DEFAULT_SCALE_IN_COOLDOWN_SECONDS
  })

  if (min === undefined && max === undefined) {
    const policyInput = [
      ...METRICS.filter(m => targets[m] !== undefined).map(m => SCALING_METRICS[m].input),
      ...(scaleOut !== undefined ? [INPUTS.scaleOut] : []),
      ...(scaleIn !== undefined ? [INPUTS.scaleIn] : [])
    ][0]
    if (policyInput === undefined) return undefined
    throw new InputError(
      policyInput,
      inputs.string(policyInput),
      `a scaling policy needs the scalable target's bounds: set ${INPUTS.min} and ${INPUTS.max} too (e.g. 3 and 20)`
    )
  }
  if (min === undefined || max === undefined) {
    const [given, missing, value] =
      min === undefined ? [INPUTS.max, INPUTS.min, max] : [INPUTS.min, INPUTS.max, min]
    throw new InputError(
      missing,
      '',
      `${given} is ${value}; give both ${INPUTS.min} and ${INPUTS.max} (e.g. 3 and 20), or neither to leave scaling alone`
    )
  }
  if (min > max) {
    throw new InputError(
      INPUTS.min,
      String(min),
      `it is greater than ${INPUTS.max} (${max}); the minimum task count must not exceed the maximum`
    )
  }
  if (desiredCount !== undefined) {
    throw new InputError(
      'desired-count',
      String(desiredCount),
      `with auto-scaling declared (${INPUTS.min} ${min}, ${INPUTS.max} ${max}) the policies set the task count; leave desired-count empty`
    )
  }
  return {
    minCapacity: min,
    maxCapacity: max,
    targets,
    scaleOutCooldown: scaleOut ?? DEFAULT_SCALE_OUT_COOLDOWN_SECONDS,
    scaleInCooldown: scaleIn ?? DEFAULT_SCALE_IN_COOLDOWN_SECONDS
  }
}

// ---- what is there, and the difference ------------------------------------------------------

export interface ScalableTargetState {
  minCapacity: number
  maxCapacity: number
  /** Dynamic scaling suspended (in or out): policies do not act until it is resumed. */
  dynamicScalingSuspended: boolean
}

export interface PolicyState {
  policyName: string
  policyType: string
  /** Undefined for a policy on a customized metric (and for a step scaling policy). */
  predefinedMetricType?: string
  targetValue?: number
  scaleOutCooldown?: number
  scaleInCooldown?: number
  disableScaleIn: boolean
}

/** The service's scaling as Application Auto Scaling describes it. */
export interface ScalingState {
  target?: ScalableTargetState
  /** Every policy on the target, ours and others'. */
  policies: PolicyState[]
}

export interface ScalingNames {
  /** `service/<cluster>/<service>` */
  resourceId: string
  /** The service's name, which our policies' names start with. */
  service: string
}

/** The resource ID and names from the cluster and service inputs (names or ARNs). */
export function scalingNames(cluster: string, service: string): ScalingNames {
  const name = (value: string) => value.split('/').pop() ?? value
  return { resourceId: `service/${name(cluster)}/${name(service)}`, service: name(service) }
}

/**
 * The name of our policy for a metric. Policies are named per scalable target, so the name
 * only has to be ours on this service: we change and delete only policies with these names,
 * and leave every other policy on the target as it is.
 */
export function policyName(service: string, metric: ScalingMetric): string {
  return `${service}-${metric}-target-tracking`
}

export interface PolicyChange {
  metric: ScalingMetric
  policyName: string
  targetValue: number
  scaleOutCooldown: number
  scaleInCooldown: number
}

export type ScalingChange =
  | {
      kind: 'register-target'
      minCapacity: number
      maxCapacity: number
      before?: { minCapacity: number; maxCapacity: number }
    }
  | ({ kind: 'put-policy'; before?: PolicyState } & PolicyChange)
  | { kind: 'delete-policy'; metric: ScalingMetric; policyName: string; before: PolicyState }

export interface ScalingPlan {
  resourceId: string
  declared: ScalingDeclaration
  /** In the order they are applied; empty when everything is already as declared. */
  changes: ScalingChange[]
  /** Policies on the target that are not ours: never changed, named in the summary. */
  otherPolicies: string[]
  dynamicScalingSuspended: boolean
}

function desiredPolicy(
  declared: ScalingDeclaration,
  service: string,
  metric: ScalingMetric,
  targetValue: number
): PolicyChange {
  return {
    metric,
    policyName: policyName(service, metric),
    targetValue,
    scaleOutCooldown: declared.scaleOutCooldown,
    scaleInCooldown: declared.scaleInCooldown
  }
}

/** How an existing policy differs from the declared one; empty when it does not. */
export function policyDifferences(existing: PolicyState, desired: PolicyChange): string[] {
  const metricType = SCALING_METRICS[desired.metric].predefinedMetricType
  if (existing.policyType !== 'TargetTrackingScaling')
    return [`was a ${existing.policyType} policy`]
  if (existing.predefinedMetricType !== metricType)
    return [`tracked ${existing.predefinedMetricType ?? 'a customized metric'}`]
  const differences: string[] = []
  if (existing.targetValue !== desired.targetValue)
    differences.push(`target ${existing.targetValue ?? 'none'} → ${desired.targetValue} %`)
  const out = existing.scaleOutCooldown ?? ECS_DEFAULT_COOLDOWN_SECONDS
  if (out !== desired.scaleOutCooldown)
    differences.push(`scale-out cooldown ${out} → ${desired.scaleOutCooldown} s`)
  const inward = existing.scaleInCooldown ?? ECS_DEFAULT_COOLDOWN_SECONDS
  if (inward !== desired.scaleInCooldown)
    differences.push(`scale-in cooldown ${inward} → ${desired.scaleInCooldown} s`)
  if (existing.disableScaleIn) differences.push('scale-in was disabled')
  return differences
}

/** What must change for the service's scaling to be as declared. Pure. */
export function diffScaling(
  declared: ScalingDeclaration,
  state: ScalingState,
  names: ScalingNames
): ScalingPlan {
  const changes: ScalingChange[] = []
  const { target } = state
  if (
    !target ||
    target.minCapacity !== declared.minCapacity ||
    target.maxCapacity !== declared.maxCapacity
  ) {
    changes.push({
      kind: 'register-target',
      minCapacity: declared.minCapacity,
      maxCapacity: declared.maxCapacity,
      before: target && { minCapacity: target.minCapacity, maxCapacity: target.maxCapacity }
    })
  }
  const ours = new Map(METRICS.map(m => [policyName(names.service, m), m]))
  const existing = new Map(state.policies.map(p => [p.policyName, p]))
  for (const metric of METRICS) {
    const value = declared.targets[metric]
    const before = existing.get(policyName(names.service, metric))
    if (value === undefined) {
      // A metric no longer declared: its policy of ours goes, so the inputs say it all.
      if (before)
        changes.push({ kind: 'delete-policy', metric, policyName: before.policyName, before })
      continue
    }
    const desired = desiredPolicy(declared, names.service, metric, value)
    if (!before || policyDifferences(before, desired).length > 0)
      changes.push({ kind: 'put-policy', ...desired, before })
  }
  return {
    resourceId: names.resourceId,
    declared,
    changes,
    otherPolicies: state.policies.map(p => p.policyName).filter(name => !ours.has(name)),
    dynamicScalingSuspended: target?.dynamicScalingSuspended ?? false
  }
}

// ---- describing it ----------------------------------------------------------------------------

export function describeChange(change: ScalingChange): string {
  switch (change.kind) {
    case 'register-target':
      return change.before
        ? `scalable target ${change.before.minCapacity}–${change.before.maxCapacity} → ${change.minCapacity}–${change.maxCapacity} tasks`
        : `registered the scalable target, ${change.minCapacity}–${change.maxCapacity} tasks`
    case 'put-policy': {
      const label = SCALING_METRICS[change.metric].label
      if (!change.before)
        return `created policy ${change.policyName} (${label} ${change.targetValue} %)`
      return `updated policy ${change.policyName} (${policyDifferences(change.before, change).join(', ')})`
    }
    case 'delete-policy':
      return `deleted policy ${change.policyName} (${SCALING_METRICS[change.metric].label} is no longer declared)`
  }
}

/** The declared policy in a few words. */
export function describeDeclaration(declared: ScalingDeclaration): string {
  const tracked = METRICS.filter(m => declared.targets[m] !== undefined)
    .map(m => `${SCALING_METRICS[m].label} ${declared.targets[m]} %`)
    .join(', ')
  return (
    `${declared.minCapacity}–${declared.maxCapacity} tasks` +
    (tracked
      ? `; ${tracked}; cooldowns ${declared.scaleOutCooldown} s out, ${declared.scaleInCooldown} s in`
      : '; no target-tracking policy')
  )
}

export interface ScalingResult {
  /** `planned`: changes found but not applied (planScaling). */
  outcome: 'unchanged' | 'changed' | 'planned'
  plan: ScalingPlan
  /** One line for the log. */
  line: string
  /** Markdown for the job summary: the policy in effect and what changed. */
  summary: string
  /** The changes as one line, or `none` (the dry-run `changes` output). */
  changes: string
  /** What a lost reply made us do (read back, sent again), for the log. */
  notes: string[]
}

function result(
  plan: ScalingPlan,
  outcome: ScalingResult['outcome'],
  notes: string[] = []
): ScalingResult {
  const listed = plan.changes.map(describeChange)
  const what =
    outcome === 'unchanged'
      ? 'unchanged'
      : `${outcome === 'planned' ? 'would change: ' : ''}${listed.join('; ')}`
  const warnings = [
    ...(plan.otherPolicies.length > 0
      ? [`Other policies on the target, left as they are: ${plan.otherPolicies.join(', ')}.`]
      : []),
    ...(plan.dynamicScalingSuspended
      ? ['Dynamic scaling is suspended on this target: the policies act once it is resumed.']
      : [])
  ]
  const { declared } = plan
  const summary = section(
    `Auto-scaling: ${outcome === 'unchanged' ? 'unchanged' : outcome === 'planned' ? 'planned changes' : 'changed'}`,
    facts([
      ['Scalable target', plan.resourceId],
      ['Tasks', `${declared.minCapacity} to ${declared.maxCapacity}`],
      ...METRICS.map(
        m =>
          [
            `${SCALING_METRICS[m].label[0]!.toUpperCase()}${SCALING_METRICS[m].label.slice(1)} target`,
            declared.targets[m] === undefined ? 'none' : `${declared.targets[m]} %`
          ] as [string, string]
      ),
      ['Scale-out cooldown', `${declared.scaleOutCooldown} s`],
      ['Scale-in cooldown', `${declared.scaleInCooldown} s`]
    ]),
    plan.changes.length === 0
      ? 'Everything was already as declared: no change made.'
      : table(
          [outcome === 'planned' ? 'Would change' : 'Changed'],
          listed.map(l => [l])
        ),
    ...warnings
  )
  return {
    outcome,
    plan,
    line: `Auto-scaling of ${plan.resourceId} (${describeDeclaration(declared)}): ${what}.${warnings.length > 0 ? ` ${warnings.join(' ')}` : ''}`,
    summary,
    changes: listed.length === 0 ? 'none' : listed.join('; '),
    notes
  }
}

// Stryker disable all: the gateway is I/O (every Application Auto Scaling call and the reading
// of its replies), tested against the Application Auto Scaling stand-in.
// ---- Application Auto Scaling -----------------------------------------------------------------

/** How a change ended: answered at once, or confirmed by reading back after a lost reply. */
export interface ChangeReport {
  lostReplies: number
  /** Sends made again because a read-back after a lost reply showed the change absent. */
  resent: number
}

/** Lost replies a change survives; each is read back, and only an absent change is re-sent. */
const MAX_LOST_REPLIES = 3
/** AWS answered that it did not take the change now (busy, not visible yet): wait, retry. */
const MAX_BUSY_RETRIES = 5
const BUSY_BACKOFF_MS = 500

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : ''
}

function policyState(policy: ScalingPolicy): PolicyState {
  const tracking = policy.TargetTrackingScalingPolicyConfiguration
  return {
    policyName: policy.PolicyName ?? '',
    policyType: policy.PolicyType ?? 'StepScaling',
    predefinedMetricType: tracking?.PredefinedMetricSpecification?.PredefinedMetricType,
    targetValue: tracking?.TargetValue,
    scaleOutCooldown: tracking?.ScaleOutCooldown,
    scaleInCooldown: tracking?.ScaleInCooldown,
    disableScaleIn: tracking?.DisableScaleIn === true
  }
}

/**
 * The Application Auto Scaling calls of ecs-deploy. Reads retry until the caller's deadline.
 * Every change here is idempotent at AWS (register and put overwrite; deleting a missing policy
 * answers ObjectNotFoundException), yet a lost reply is still read back first: the change is
 * sent again only when the read-back shows it is not in place, up to MAX_LOST_REPLIES times.
 */
export class ScalingGateway {
  constructor(
    private readonly client: ApplicationAutoScalingClient,
    private readonly caller: AwsCaller
  ) {}

  async describe(resourceId: string): Promise<ScalingState> {
    const target = await this.describeTarget(resourceId)
    // Deregistering a target deletes its policies: without one there are none to read.
    if (!target) return { policies: [] }
    return { target, policies: await this.describePolicies(resourceId) }
  }

  private async describeTarget(resourceId: string): Promise<ScalableTargetState | undefined> {
    const response = await this.caller.read(
      `Describing the scalable target ${resourceId}`,
      signal =>
        this.client.send(
          new DescribeScalableTargetsCommand({
            ServiceNamespace: SERVICE_NAMESPACE,
            ResourceIds: [resourceId],
            ScalableDimension: SCALABLE_DIMENSION
          }),
          { abortSignal: signal }
        )
    )
    const found = (response.ScalableTargets ?? []).find(
      t => t.ResourceId === resourceId && t.ScalableDimension === SCALABLE_DIMENSION
    )
    if (!found) return undefined
    return {
      minCapacity: found.MinCapacity ?? 0,
      maxCapacity: found.MaxCapacity ?? 0,
      dynamicScalingSuspended:
        found.SuspendedState?.DynamicScalingInSuspended === true ||
        found.SuspendedState?.DynamicScalingOutSuspended === true
    }
  }

  private async describePolicies(
    resourceId: string,
    policyNames?: string[]
  ): Promise<PolicyState[]> {
    const policies: PolicyState[] = []
    let token: string | undefined
    do {
      const response = await this.caller.read(
        `Describing the scaling policies of ${resourceId}`,
        signal =>
          this.client.send(
            new DescribeScalingPoliciesCommand({
              ServiceNamespace: SERVICE_NAMESPACE,
              ResourceId: resourceId,
              ScalableDimension: SCALABLE_DIMENSION,
              PolicyNames: policyNames,
              NextToken: token
            }),
            { abortSignal: signal }
          )
      )
      policies.push(...(response.ScalingPolicies ?? []).map(policyState))
      token = response.NextToken
    } while (token)
    return policies
  }

  async registerTarget(
    resourceId: string,
    minCapacity: number,
    maxCapacity: number
  ): Promise<ChangeReport> {
    return this.change(
      `Registering the scalable target ${resourceId} (${minCapacity}–${maxCapacity} tasks)`,
      signal =>
        this.client.send(
          new RegisterScalableTargetCommand({
            ServiceNamespace: SERVICE_NAMESPACE,
            ResourceId: resourceId,
            ScalableDimension: SCALABLE_DIMENSION,
            MinCapacity: minCapacity,
            MaxCapacity: maxCapacity
          }),
          { abortSignal: signal }
        ),
      async () => {
        const target = await this.describeTarget(resourceId)
        return target?.minCapacity === minCapacity && target.maxCapacity === maxCapacity
      },
      () => false
    )
  }

  async putPolicy(resourceId: string, policy: PolicyChange): Promise<ChangeReport> {
    return this.change(
      `Putting scaling policy ${policy.policyName} on ${resourceId}`,
      signal =>
        this.client.send(
          new PutScalingPolicyCommand({
            PolicyName: policy.policyName,
            ServiceNamespace: SERVICE_NAMESPACE,
            ResourceId: resourceId,
            ScalableDimension: SCALABLE_DIMENSION,
            PolicyType: 'TargetTrackingScaling',
            TargetTrackingScalingPolicyConfiguration: {
              TargetValue: policy.targetValue,
              PredefinedMetricSpecification: {
                PredefinedMetricType: SCALING_METRICS[policy.metric].predefinedMetricType
              },
              ScaleOutCooldown: policy.scaleOutCooldown,
              ScaleInCooldown: policy.scaleInCooldown,
              DisableScaleIn: false
            }
          }),
          { abortSignal: signal }
        ),
      async () => {
        const [found] = await this.describePolicies(resourceId, [policy.policyName])
        return found !== undefined && policyDifferences(found, policy).length === 0
      },
      // A target registered a moment ago may not be visible yet (AWS documents the delay).
      error => errorName(error) === 'ObjectNotFoundException'
    )
  }

  async deletePolicy(resourceId: string, name: string): Promise<ChangeReport> {
    return this.change(
      `Deleting scaling policy ${name} of ${resourceId}`,
      async signal => {
        try {
          await this.client.send(
            new DeleteScalingPolicyCommand({
              PolicyName: name,
              ServiceNamespace: SERVICE_NAMESPACE,
              ResourceId: resourceId,
              ScalableDimension: SCALABLE_DIMENSION
            }),
            { abortSignal: signal }
          )
        } catch (error) {
          // Already gone (deleted by an earlier send whose reply was lost): what we wanted.
          if (errorName(error) !== 'ObjectNotFoundException') throw error
        }
      },
      async () => (await this.describePolicies(resourceId, [name])).length === 0,
      () => false
    )
  }

  /**
   * Sends a change. Throttling is retried by the caller; ConcurrentUpdateException (and what
   * `busy` names) means AWS did not take it now, so it is sent again after a pause. A lost
   * reply is read back with `inPlace`: confirmed, it is done; absent, it is sent again.
   */
  private async change(
    what: string,
    send: (signal: AbortSignal) => Promise<unknown>,
    inPlace: () => Promise<boolean>,
    busy: (error: unknown) => boolean
  ): Promise<ChangeReport> {
    const { clock } = this.caller
    const report: ChangeReport = { lostReplies: 0, resent: 0 }
    let busyRetries = 0
    let pause = BUSY_BACKOFF_MS
    for (;;) {
      const outcome = await this.caller.change(what, async signal => {
        try {
          await send(signal)
          return undefined
        } catch (error) {
          if (errorName(error) === 'ConcurrentUpdateException' || busy(error)) return error
          throw error
        }
      })
      if (outcome.kind === 'answered') {
        if (outcome.value === undefined) return report
        busyRetries++
        if (busyRetries > MAX_BUSY_RETRIES || clock.now() + pause >= this.caller.deadline)
          throw awsFailure(what, outcome.value)
        await clock.sleep(pause)
        pause *= 2
        continue
      }
      report.lostReplies++
      if (await inPlace()) return report
      if (report.lostReplies >= MAX_LOST_REPLIES) {
        throw new ActionError(
          `${what}: the reply was lost ${report.lostReplies} times and reading back shows the change is not in place. Check Application Auto Scaling's health and deploy again.`
        )
      }
      report.resent++
    }
  }
}

/** The gateway as main.ts builds it: one SDK attempt per send, the caller retries. */
export function scalingGateway(
  region: string,
  caller: AwsCaller,
  env: NodeJS.ProcessEnv = process.env
): ScalingGateway {
  return new ScalingGateway(
    new ApplicationAutoScalingClient(clientSettings(region, env, 'caller')),
    caller
  )
}

// Stryker restore all
// ---- what main.ts calls -----------------------------------------------------------------------

export interface ScalingService {
  /** The cluster and service inputs, names or ARNs. */
  cluster: string
  service: string
}

export interface ScalingDependencies {
  gateway: ScalingGateway
}

/** What applying the declaration would change, without changing anything (dry run). */
export async function planScaling(
  declared: ScalingDeclaration,
  service: ScalingService,
  deps: ScalingDependencies
): Promise<ScalingResult> {
  const names = scalingNames(service.cluster, service.service)
  const plan = diffScaling(declared, await deps.gateway.describe(names.resourceId), names)
  return result(plan, plan.changes.length === 0 ? 'unchanged' : 'planned')
}

/** Reads the service's scaling, changes only what differs from the declaration, and reports. */
export async function applyScaling(
  declared: ScalingDeclaration,
  service: ScalingService,
  deps: ScalingDependencies
): Promise<ScalingResult> {
  const names = scalingNames(service.cluster, service.service)
  const plan = diffScaling(declared, await deps.gateway.describe(names.resourceId), names)
  if (plan.changes.length === 0) return result(plan, 'unchanged')
  const notes: string[] = []
  for (const change of plan.changes) {
    let report: ChangeReport
    if (change.kind === 'register-target') {
      report = await deps.gateway.registerTarget(
        plan.resourceId,
        change.minCapacity,
        change.maxCapacity
      )
    } else if (change.kind === 'put-policy') {
      report = await deps.gateway.putPolicy(plan.resourceId, change)
    } else {
      report = await deps.gateway.deletePolicy(plan.resourceId, change.policyName)
    }
    if (report.lostReplies > 0) {
      notes.push(
        `The reply to "${describeChange(change)}" was lost ${report.lostReplies === 1 ? 'once' : `${report.lostReplies} times`}; ` +
          (report.resent === 0
            ? 'reading back showed it in place, so it was not sent again.'
            : `reading back showed it missing, so it was sent again (${report.resent}×) until it was.`)
      )
    }
  }
  return result(plan, 'changed', notes)
}
