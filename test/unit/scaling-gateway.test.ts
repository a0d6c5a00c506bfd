import {
  ApplicationAutoScalingClient,
  DeleteScalingPolicyCommand,
  DescribeScalableTargetsCommand,
  DescribeScalingPoliciesCommand,
  PutScalingPolicyCommand,
  RegisterScalableTargetCommand,
  type PutScalingPolicyCommandInput,
  type ScalingPolicy
} from '@aws-sdk/client-application-auto-scaling'
import { mockClient } from 'aws-sdk-client-mock'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import { ActionError } from '../../actions/shared/errors.js'
import {
  applyScaling,
  planScaling,
  ScalingGateway,
  type ScalingDeclaration
} from '../../actions/ecs-deploy/scaling.js'
import { FakeClock, rejection } from '../support/runner.js'

const mock = mockClient(ApplicationAutoScalingClient)
const SERVICE = { cluster: 'payments', service: 'api' }
const RESOURCE = 'service/payments/api'
const SEED: ScalingDeclaration = {
  minCapacity: 3,
  maxCapacity: 20,
  targets: { cpu: 70, memory: 80 },
  scaleOutCooldown: 300,
  scaleInCooldown: 900
}

const sdkError = (name: string, status: number) =>
  Object.assign(new Error(`${name} from AWS`), { name, $metadata: { httpStatusCode: status } })
const lost = () => sdkError('InternalFailure', 500)

/** Application Auto Scaling as the mock plays it: one target, its policies by name. */
interface World {
  target?: {
    MinCapacity: number
    MaxCapacity: number
    SuspendedState?: { DynamicScalingInSuspended?: boolean }
  }
  policies: Map<string, ScalingPolicy>
  /** Policies per DescribeScalingPolicies page. */
  pageSize: number
}

function play(world: World) {
  mock.on(DescribeScalableTargetsCommand).callsFake(() => ({
    ScalableTargets: world.target
      ? [
          {
            ServiceNamespace: 'ecs',
            ResourceId: RESOURCE,
            ScalableDimension: 'ecs:service:DesiredCount',
            ...world.target
          }
        ]
      : []
  }))
  mock.on(DescribeScalingPoliciesCommand).callsFake(input => {
    const all = [...world.policies.values()].filter(
      p => !input.PolicyNames || input.PolicyNames.includes(p.PolicyName!)
    )
    const start = Number(input.NextToken ?? 0)
    const end = start + world.pageSize
    return {
      ScalingPolicies: all.slice(start, end),
      NextToken: end < all.length ? String(end) : undefined
    }
  })
  mock.on(RegisterScalableTargetCommand).callsFake(input => {
    world.target = { MinCapacity: input.MinCapacity, MaxCapacity: input.MaxCapacity }
    return {}
  })
  mock.on(PutScalingPolicyCommand).callsFake((input: PutScalingPolicyCommandInput) => {
    world.policies.set(input.PolicyName!, {
      PolicyName: input.PolicyName,
      PolicyType: input.PolicyType,
      TargetTrackingScalingPolicyConfiguration: input.TargetTrackingScalingPolicyConfiguration
    } as ScalingPolicy)
    return { PolicyARN: `arn:policy/${input.PolicyName}` }
  })
  mock.on(DeleteScalingPolicyCommand).callsFake(input => {
    if (!world.policies.delete(input.PolicyName)) throw sdkError('ObjectNotFoundException', 400)
    return {}
  })
}

type ChangeCommand =
  | typeof RegisterScalableTargetCommand
  | typeof PutScalingPolicyCommand
  | typeof DeleteScalingPolicyCommand

/** Plays a change command with per-call faults, in order: lost before or after applying it. */
function faults<I>(
  command: ChangeCommand,
  apply: (input: I) => unknown,
  plan: Array<'lost-after' | 'lost-before' | 'ok' | Error>
) {
  let call = 0
  mock.on(command as never).callsFake((input: I) => {
    const step = plan[call++] ?? 'ok'
    if (step instanceof Error) throw step
    if (step === 'lost-before') throw lost()
    const answer = apply(input)
    if (step === 'lost-after') throw lost()
    return answer
  })
}

function fixture(world: Partial<World> = {}) {
  const state: World = { policies: new Map(), pageSize: 50, ...world }
  play(state)
  const clock = new FakeClock()
  const caller = new AwsCaller({
    clock,
    deadline: clock.now() + 60_000,
    attemptTimeoutMs: 5_000,
    backoffMs: 1_000,
    maxBackoffMs: 8_000
  })
  const client = new ApplicationAutoScalingClient({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' }
  })
  return { world: state, clock, deps: { gateway: new ScalingGateway(client, caller) } }
}

const putPolicy = (world: World) => (input: PutScalingPolicyCommandInput) => {
  world.policies.set(input.PolicyName!, {
    PolicyName: input.PolicyName,
    PolicyType: input.PolicyType,
    TargetTrackingScalingPolicyConfiguration: input.TargetTrackingScalingPolicyConfiguration
  } as ScalingPolicy)
  return {}
}

const changeCalls = () =>
  mock.commandCalls(RegisterScalableTargetCommand).length +
  mock.commandCalls(PutScalingPolicyCommand).length +
  mock.commandCalls(DeleteScalingPolicyCommand).length

beforeEach(() => mock.reset())

describe('applyScaling through the gateway', () => {
  it('registers the target and puts both policies on a first deploy', async () => {
    const { world, deps } = fixture()
    const result = await applyScaling(SEED, SERVICE, deps)
    expect(result.outcome).toBe('changed')
    expect(mock.commandCalls(RegisterScalableTargetCommand)[0]!.args[0].input).toEqual({
      ServiceNamespace: 'ecs',
      ResourceId: RESOURCE,
      ScalableDimension: 'ecs:service:DesiredCount',
      MinCapacity: 3,
      MaxCapacity: 20
    })
    const puts = mock.commandCalls(PutScalingPolicyCommand).map(c => c.args[0].input)
    expect(puts).toEqual([
      expect.objectContaining({
        PolicyName: 'api-cpu-target-tracking',
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: {
          TargetValue: 70,
          PredefinedMetricSpecification: {
            PredefinedMetricType: 'ECSServiceAverageCPUUtilization'
          },
          ScaleOutCooldown: 300,
          ScaleInCooldown: 900,
          DisableScaleIn: false
        }
      }),
      expect.objectContaining({
        PolicyName: 'api-memory-target-tracking',
        TargetTrackingScalingPolicyConfiguration: expect.objectContaining({
          TargetValue: 80,
          PredefinedMetricSpecification: {
            PredefinedMetricType: 'ECSServiceAverageMemoryUtilization'
          }
        })
      })
    ])
    expect(world.target).toEqual({ MinCapacity: 3, MaxCapacity: 20 })
    expect(result.line).toBe(
      'Auto-scaling of service/payments/api (3–20 tasks; CPU 70 %, memory 80 %; cooldowns 300 s out, 900 s in): registered the scalable target, 3–20 tasks; created policy api-cpu-target-tracking (CPU 70 %); created policy api-memory-target-tracking (memory 80 %).'
    )
    expect(result.summary).toContain('| Tasks | 3 to 20 |')
    expect(result.summary).toContain('| registered the scalable target, 3–20 tasks |')
  })

  it('makes no Register, Put or Delete call on a second identical deploy, and says unchanged', async () => {
    const { deps } = fixture()
    await applyScaling(SEED, SERVICE, deps)
    mock.resetHistory()
    const second = await applyScaling(SEED, SERVICE, deps)
    expect(changeCalls()).toBe(0)
    expect(second.outcome).toBe('unchanged')
    expect(second.changes).toBe('none')
    expect(second.line).toMatch(/: unchanged\.$/)
    expect(second.summary).toContain('### Auto-scaling: unchanged')
  })

  it('passes each attempt its abort signal', async () => {
    const { deps } = fixture()
    await applyScaling(SEED, SERVICE, deps)
    for (const call of mock.calls())
      expect(((call.args as unknown[])[1] as { abortSignal?: unknown }).abortSignal).toBeInstanceOf(
        AbortSignal
      )
  })

  it('reads back a PutScalingPolicy whose reply was lost and does not send it again', async () => {
    const { world, deps } = fixture({ target: { MinCapacity: 3, MaxCapacity: 20 } })
    faults(PutScalingPolicyCommand, putPolicy(world), ['lost-after'])
    const result = await applyScaling({ ...SEED, targets: { cpu: 70 } }, SERVICE, deps)
    expect(mock.commandCalls(PutScalingPolicyCommand)).toHaveLength(1)
    // The read-back asked for the policy by name after the lost reply.
    const readBack = mock.commandCalls(DescribeScalingPoliciesCommand).at(-1)!.args[0].input
    expect(readBack.PolicyNames).toEqual(['api-cpu-target-tracking'])
    expect(world.policies.has('api-cpu-target-tracking')).toBe(true)
    expect(result.outcome).toBe('changed')
    expect(result.notes).toEqual([
      'The reply to "created policy api-cpu-target-tracking (CPU 70 %)" was lost once; reading back showed it in place, so it was not sent again.'
    ])
  })

  it('sends a lost PutScalingPolicy again only after reading back that it is not there', async () => {
    const { world, deps } = fixture({ target: { MinCapacity: 3, MaxCapacity: 20 } })
    faults(PutScalingPolicyCommand, putPolicy(world), ['lost-before', 'ok'])
    const result = await applyScaling({ ...SEED, targets: { cpu: 70 } }, SERVICE, deps)
    expect(mock.commandCalls(PutScalingPolicyCommand)).toHaveLength(2)
    const order = mock.calls().map(c => c.args[0].constructor.name)
    const firstPut = order.indexOf('PutScalingPolicyCommand')
    expect(order.slice(firstPut, firstPut + 3)).toEqual([
      'PutScalingPolicyCommand',
      'DescribeScalingPoliciesCommand',
      'PutScalingPolicyCommand'
    ])
    expect(result.notes[0]).toContain('reading back showed it missing, so it was sent again')
  })

  it('gives up, naming the policy, when replies keep being lost and the change never shows', async () => {
    const { world, deps } = fixture({ target: { MinCapacity: 3, MaxCapacity: 20 } })
    faults(PutScalingPolicyCommand, putPolicy(world), ['lost-before', 'lost-before', 'lost-before'])
    const error = await rejection(applyScaling({ ...SEED, targets: { cpu: 70 } }, SERVICE, deps))
    expect(error).toBeInstanceOf(ActionError)
    expect(error.message).toBe(
      "Putting scaling policy api-cpu-target-tracking on service/payments/api: the reply was lost 3 times and reading back shows the change is not in place. Check Application Auto Scaling's health and deploy again."
    )
    expect(mock.commandCalls(PutScalingPolicyCommand)).toHaveLength(3)
  })

  it('reads back a RegisterScalableTarget whose reply was lost', async () => {
    const { world, deps } = fixture()
    faults(
      RegisterScalableTargetCommand,
      (input: { MinCapacity: number; MaxCapacity: number }) => {
        world.target = { MinCapacity: input.MinCapacity, MaxCapacity: input.MaxCapacity }
        return {}
      },
      ['lost-after']
    )
    const result = await applyScaling({ ...SEED, targets: {} }, SERVICE, deps)
    expect(mock.commandCalls(RegisterScalableTargetCommand)).toHaveLength(1)
    expect(result.notes).toHaveLength(1)
  })

  it('waits and sends again when AWS answers ConcurrentUpdateException', async () => {
    const { world, clock, deps } = fixture({ target: { MinCapacity: 3, MaxCapacity: 20 } })
    faults(PutScalingPolicyCommand, putPolicy(world), [
      sdkError('ConcurrentUpdateException', 400),
      'ok'
    ])
    const started = clock.now()
    const result = await applyScaling({ ...SEED, targets: { cpu: 70 } }, SERVICE, deps)
    expect(mock.commandCalls(PutScalingPolicyCommand)).toHaveLength(2)
    expect(clock.now() - started).toBeGreaterThanOrEqual(500)
    expect(result.notes).toEqual([])
  })

  it('retries a policy whose freshly registered target is not visible yet', async () => {
    const { world, deps } = fixture()
    faults(PutScalingPolicyCommand, putPolicy(world), [sdkError('ObjectNotFoundException', 400)])
    await applyScaling({ ...SEED, targets: { memory: 80 } }, SERVICE, deps)
    expect(mock.commandCalls(PutScalingPolicyCommand)).toHaveLength(2)
    expect(world.policies.has('api-memory-target-tracking')).toBe(true)
  })

  it('stops retrying a busy target after a few tries and says what it was doing', async () => {
    const { world, deps } = fixture({ target: { MinCapacity: 3, MaxCapacity: 20 } })
    const busy = Array.from({ length: 10 }, () => sdkError('ConcurrentUpdateException', 400))
    faults(PutScalingPolicyCommand, putPolicy(world), busy)
    const error = await rejection(applyScaling({ ...SEED, targets: { cpu: 70 } }, SERVICE, deps))
    expect(error.message).toMatch(
      /^Putting scaling policy api-cpu-target-tracking on service\/payments\/api failed: ConcurrentUpdateException/
    )
    expect(mock.commandCalls(PutScalingPolicyCommand)).toHaveLength(6)
  })

  it('fails at once on a rejection, naming the call', async () => {
    const { deps } = fixture()
    mock.on(RegisterScalableTargetCommand).rejects(sdkError('ValidationException', 400))
    const error = await rejection(applyScaling(SEED, SERVICE, deps))
    expect(error.message).toBe(
      'Registering the scalable target service/payments/api (3–20 tasks) failed: ValidationException: ValidationException from AWS'
    )
    expect(mock.commandCalls(RegisterScalableTargetCommand)).toHaveLength(1)
    expect(mock.commandCalls(PutScalingPolicyCommand)).toHaveLength(0)
  })

  it('deletes our policy of a metric no longer declared, reading back a lost reply', async () => {
    const { world, deps } = fixture()
    await applyScaling(SEED, SERVICE, deps)
    faults(
      DeleteScalingPolicyCommand,
      (input: { PolicyName: string }) => world.policies.delete(input.PolicyName),
      ['lost-after']
    )
    mock.resetHistory()
    const result = await applyScaling({ ...SEED, targets: { cpu: 70 } }, SERVICE, deps)
    expect(result.changes).toBe(
      'deleted policy api-memory-target-tracking (memory is no longer declared)'
    )
    expect(mock.commandCalls(DeleteScalingPolicyCommand)).toHaveLength(1)
    expect(mock.commandCalls(PutScalingPolicyCommand)).toHaveLength(0)
    expect([...world.policies.keys()]).toEqual(['api-cpu-target-tracking'])
  })

  it('counts a policy already gone (ObjectNotFoundException) as deleted', async () => {
    const { world, deps } = fixture()
    await applyScaling(SEED, SERVICE, deps)
    mock.on(DeleteScalingPolicyCommand).rejects(sdkError('ObjectNotFoundException', 400))
    mock.resetHistory()
    const result = await applyScaling({ ...SEED, targets: { cpu: 70 } }, SERVICE, deps)
    expect(mock.commandCalls(DeleteScalingPolicyCommand)).toHaveLength(1)
    expect(result.outcome).toBe('changed')
    expect(result.notes).toEqual([])
    expect(world.policies.size).toBe(2)
  })

  it('reads every page of the policies', async () => {
    const policies = new Map<string, ScalingPolicy>()
    for (const name of ['a', 'b', 'c', 'api-cpu-target-tracking'])
      policies.set(name, { PolicyName: name, PolicyType: 'StepScaling' } as ScalingPolicy)
    const { deps } = fixture({ target: { MinCapacity: 3, MaxCapacity: 20 }, policies, pageSize: 2 })
    const plan = await planScaling({ ...SEED, targets: {} }, SERVICE, deps)
    expect(mock.commandCalls(DescribeScalingPoliciesCommand)).toHaveLength(2)
    expect(plan.plan.otherPolicies).toEqual(['a', 'b', 'c'])
    expect(plan.plan.changes).toEqual([
      expect.objectContaining({ kind: 'delete-policy', policyName: 'api-cpu-target-tracking' })
    ])
  })

  it('retries a describe whose reply was lost', async () => {
    const { deps } = fixture()
    mock.on(DescribeScalableTargetsCommand).rejectsOnce(lost()).resolves({ ScalableTargets: [] })
    const result = await planScaling(SEED, SERVICE, deps)
    expect(mock.commandCalls(DescribeScalableTargetsCommand)).toHaveLength(2)
    expect(result.outcome).toBe('planned')
  })
})

describe('planScaling', () => {
  it('warns when dynamic scaling is suspended on the target', async () => {
    const { deps } = fixture({
      target: {
        MinCapacity: 3,
        MaxCapacity: 20,
        SuspendedState: { DynamicScalingInSuspended: true }
      }
    })
    const result = await planScaling({ ...SEED, targets: {} }, SERVICE, deps)
    expect(result.outcome).toBe('unchanged')
    expect(result.line).toContain(
      'Dynamic scaling is suspended on this target: the policies act once it is resumed.'
    )
    expect(result.summary).toContain('Dynamic scaling is suspended')
  })

  it('says what would change and changes nothing', async () => {
    const { deps } = fixture({ target: { MinCapacity: 2, MaxCapacity: 10 } })
    const result = await planScaling(SEED, SERVICE, deps)
    expect(changeCalls()).toBe(0)
    expect(result.outcome).toBe('planned')
    expect(result.changes).toBe(
      'scalable target 2–10 → 3–20 tasks; created policy api-cpu-target-tracking (CPU 70 %); created policy api-memory-target-tracking (memory 80 %)'
    )
    expect(result.summary).toContain('| Would change |')
    expect(result.line).toContain(': would change: scalable target 2–10 → 3–20 tasks;')
  })

  it('does not describe policies when there is no scalable target', async () => {
    const { deps } = fixture()
    await planScaling(SEED, SERVICE, deps)
    expect(mock.commandCalls(DescribeScalingPoliciesCommand)).toHaveLength(0)
  })
})

describe('what the summary and the log say', () => {
  it('shows the declared policy and every change under "changed" on a first deploy', async () => {
    const { deps } = fixture()
    const result = await applyScaling({ ...SEED, targets: { cpu: 70 } }, SERVICE, deps)
    const summary = result.summary
    expect(summary).toContain('### Auto-scaling: changed')
    for (const row of [
      '| Scalable target | service/payments/api |',
      '| Tasks | 3 to 20 |',
      '| CPU target | 70 % |',
      '| Memory target | none |',
      '| Scale-out cooldown | 300 s |',
      '| Scale-in cooldown | 900 s |',
      '| Changed |',
      '| registered the scalable target, 3–20 tasks |',
      '| created policy api-cpu-target-tracking (CPU 70 %) |'
    ])
      expect(summary).toContain(row)
    expect(summary).not.toContain('no change made')
  })

  it('titles a dry run "planned changes" and an unchanged service "no change made"', async () => {
    const planned = await planScaling(SEED, SERVICE, fixture().deps)
    expect(planned.summary).toContain('### Auto-scaling: planned changes')
    expect(planned.summary).not.toContain('| Changed |')
    // Nothing was sent, so no reply could be lost.
    expect(planned.notes).toEqual([])

    const { deps } = fixture()
    await applyScaling(SEED, SERVICE, deps)
    const unchanged = await applyScaling(SEED, SERVICE, deps)
    expect(unchanged.summary).toContain('Everything was already as declared: no change made.')
    expect(unchanged.summary).toContain('| Memory target | 80 % |')
    expect(unchanged.summary).not.toContain('| Changed |')
    expect(unchanged.notes).toEqual([])
  })

  it('gives both warnings, one after the other, in the log line and the summary', async () => {
    const policies = new Map<string, ScalingPolicy>([
      ['legacy-step', { PolicyName: 'legacy-step', PolicyType: 'StepScaling' } as ScalingPolicy],
      ['alb-requests', { PolicyName: 'alb-requests', PolicyType: 'StepScaling' } as ScalingPolicy]
    ])
    const { deps } = fixture({
      target: {
        MinCapacity: 3,
        MaxCapacity: 20,
        SuspendedState: { DynamicScalingInSuspended: true }
      },
      policies
    })
    const result = await planScaling({ ...SEED, targets: {} }, SERVICE, deps)
    expect(result.line).toBe(
      'Auto-scaling of service/payments/api (3–20 tasks; no target-tracking policy): unchanged. ' +
        'Other policies on the target, left as they are: legacy-step, alb-requests. ' +
        'Dynamic scaling is suspended on this target: the policies act once it is resumed.'
    )
    expect(result.summary).toContain(
      'Other policies on the target, left as they are: legacy-step, alb-requests.'
    )
  })

  it('counts the lost replies of one change and the sends made again', async () => {
    const { world, deps } = fixture({ target: { MinCapacity: 3, MaxCapacity: 20 } })
    faults(PutScalingPolicyCommand, putPolicy(world), ['lost-before', 'lost-after'])
    const result = await applyScaling({ ...SEED, targets: { cpu: 70 } }, SERVICE, deps)
    expect(mock.commandCalls(PutScalingPolicyCommand)).toHaveLength(2)
    expect(result.notes).toEqual([
      'The reply to "created policy api-cpu-target-tracking (CPU 70 %)" was lost 2 times; reading back showed it missing, so it was sent again (1×) until it was.'
    ])
  })
})
