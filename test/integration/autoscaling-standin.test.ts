import {
  ApplicationAutoScalingClient,
  DeleteScalingPolicyCommand,
  DeregisterScalableTargetCommand,
  DescribeScalableTargetsCommand,
  DescribeScalingPoliciesCommand,
  PutScalingPolicyCommand,
  RegisterScalableTargetCommand,
  type PutScalingPolicyCommandInput
} from '@aws-sdk/client-application-auto-scaling'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import { clientSettings } from '../../actions/shared/aws.js'
import { realClock } from '../../actions/shared/runner.js'
import {
  applyScaling,
  scalingGateway,
  ScalingGateway,
  type ScalingDeclaration
} from '../../actions/ecs-deploy/scaling.js'
import { ecsServices } from '../../tools/autoscaling-standin/ecs-resources.js'
import {
  ENDPOINT_VARIABLE,
  startAutoScalingStandin,
  type AutoScalingStandin,
  type AutoScalingStandinOptions
} from '../../tools/autoscaling-standin/server.js'
import { startEcsStandin } from '../../tools/ecs-standin/server.js'
import { rejection } from '../support/runner.js'

const RESOURCE = 'service/payments/api'
const ECS_TARGET = {
  ServiceNamespace: 'ecs' as const,
  ResourceId: RESOURCE,
  ScalableDimension: 'ecs:service:DesiredCount' as const
}
const SEED: ScalingDeclaration = {
  minCapacity: 3,
  maxCapacity: 20,
  targets: { cpu: 70, memory: 80 },
  scaleOutCooldown: 300,
  scaleInCooldown: 900
}
const SERVICE = { cluster: 'payments', service: 'api' }

const open: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  await Promise.all(open.splice(0).map(s => s.close()))
})

async function standin(options: AutoScalingStandinOptions = {}): Promise<AutoScalingStandin> {
  const started = await startAutoScalingStandin(options)
  open.push(started)
  return started
}

/** The client as the action builds it: one attempt per send, the caller retries. */
function client(endpoint: string): ApplicationAutoScalingClient {
  return new ApplicationAutoScalingClient({
    ...clientSettings('eu-west-1', {}, 'caller'),
    endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' }
  })
}

function caller(): AwsCaller {
  return new AwsCaller({
    clock: realClock,
    deadline: Date.now() + 30_000,
    attemptTimeoutMs: 5_000,
    backoffMs: 20,
    maxBackoffMs: 100
  })
}

const deps = (endpoint: string) => ({ gateway: new ScalingGateway(client(endpoint), caller()) })

const trackingPolicy = (
  overrides: Partial<PutScalingPolicyCommandInput> = {},
  config: Record<string, unknown> = {}
): PutScalingPolicyCommandInput => ({
  ...ECS_TARGET,
  PolicyName: 'cpu',
  PolicyType: 'TargetTrackingScaling',
  TargetTrackingScalingPolicyConfiguration: {
    TargetValue: 70,
    PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
    ScaleOutCooldown: 300,
    ScaleInCooldown: 900,
    ...config
  },
  ...overrides
})

const operations = (s: AutoScalingStandin, from = 0) =>
  s.calls.slice(from).map(c => (c.error ? `${c.operation}:${c.error}` : c.operation))

describe('the SDK endpoint variable', () => {
  it(`is ${ENDPOINT_VARIABLE}, and it wins over AWS_ENDPOINT_URL`, async () => {
    const specific = await standin()
    const generic = await standin()
    const saved = { ...process.env }
    Object.assign(process.env, {
      [ENDPOINT_VARIABLE]: specific.endpoint,
      AWS_ENDPOINT_URL: generic.endpoint,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test'
    })
    try {
      // Built as main.ts builds it: nothing but the region and the environment.
      const gateway = scalingGateway('eu-west-1', caller())
      await gateway.describe(RESOURCE)
    } finally {
      for (const key of [ENDPOINT_VARIABLE, 'AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID'])
        if (saved[key] === undefined) delete process.env[key]
        else process.env[key] = saved[key]
      if (saved.AWS_SECRET_ACCESS_KEY === undefined) delete process.env.AWS_SECRET_ACCESS_KEY
      else process.env.AWS_SECRET_ACCESS_KEY = saved.AWS_SECRET_ACCESS_KEY
    }
    expect(operations(specific)).toEqual(['DescribeScalableTargets'])
    expect(generic.calls).toHaveLength(0)
  })
})

describe('the Application Auto Scaling stand-in', () => {
  it('refuses a policy on a resource with no scalable target: ObjectNotFoundException', async () => {
    const s = await standin()
    const error = await rejection(
      client(s.endpoint).send(new PutScalingPolicyCommand(trackingPolicy()))
    )
    expect(error.name).toBe('ObjectNotFoundException')
    expect(error.message).toBe(
      'No scalable target registered for service namespace: ecs, resource ID: service/payments/api, scalable dimension: ecs:service:DesiredCount'
    )
    expect(s.calls.at(-1)).toMatchObject({
      operation: 'PutScalingPolicy',
      status: 400,
      error: 'ObjectNotFoundException'
    })
  })

  it.each<[string, Record<string, unknown>, RegExp]>([
    [
      'a new target without MaxCapacity',
      { MinCapacity: 1 },
      /MinCapacity and MaxCapacity are required/
    ],
    [
      'min above max',
      { MinCapacity: 5, MaxCapacity: 2 },
      /Minimum capacity 5 cannot be greater than maximum capacity 2/
    ],
    ['a negative capacity', { MinCapacity: -1, MaxCapacity: 2 }, /minCapacity/],
    [
      'a resource ID that is not an ECS service',
      { ResourceId: 'table/orders', MinCapacity: 1, MaxCapacity: 2 },
      /Unsupported resource ID/
    ],
    [
      'a dimension of another service',
      { ScalableDimension: 'dynamodb:table:ReadCapacityUnits', MinCapacity: 1, MaxCapacity: 2 },
      /Unsupported scalable dimension/
    ]
  ])('refuses to register %s: ValidationException', async (_, input, message) => {
    const s = await standin()
    const error = await rejection(
      client(s.endpoint).send(
        new RegisterScalableTargetCommand({ ...ECS_TARGET, ...input } as never)
      )
    )
    expect(error.name).toBe('ValidationException')
    expect(error.message).toMatch(message)
    expect(s.targets()).toEqual([])
  })

  it('updates only the bounds given when a target is registered again', async () => {
    const s = await standin()
    const aas = client(s.endpoint)
    const { ScalableTargetARN } = await aas.send(
      new RegisterScalableTargetCommand({ ...ECS_TARGET, MinCapacity: 2, MaxCapacity: 10 })
    )
    await aas.send(new RegisterScalableTargetCommand({ ...ECS_TARGET, MaxCapacity: 20 }))
    const { ScalableTargets } = await aas.send(
      new DescribeScalableTargetsCommand({
        ServiceNamespace: 'ecs',
        ResourceIds: [RESOURCE],
        ScalableDimension: 'ecs:service:DesiredCount'
      })
    )
    expect(ScalableTargets).toHaveLength(1)
    expect(ScalableTargets![0]).toMatchObject({
      MinCapacity: 2,
      MaxCapacity: 20,
      ScalableTargetARN,
      RoleARN: expect.stringContaining('AWSServiceRoleForApplicationAutoScaling_ECSService')
    })
    expect(ScalableTargets![0]!.CreationTime).toBeInstanceOf(Date)
  })

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['a target value of 0', { TargetValue: 0 }, /target value 0 is out of range/],
    ['a negative scale-in cooldown', { ScaleInCooldown: -5 }, /scaleInCooldown/],
    ['a negative scale-out cooldown', { ScaleOutCooldown: -1 }, /scaleOutCooldown/],
    [
      'a metric of another service',
      {
        PredefinedMetricSpecification: { PredefinedMetricType: 'DynamoDBReadCapacityUtilization' }
      },
      /Unsupported predefined metric type 'DynamoDBReadCapacityUtilization'/
    ],
    [
      'ALBRequestCountPerTarget without its resource label',
      { PredefinedMetricSpecification: { PredefinedMetricType: 'ALBRequestCountPerTarget' } },
      /ResourceLabel is required/
    ]
  ])(
    'refuses a target-tracking policy with %s: ValidationException',
    async (_, config, message) => {
      const s = await standin()
      const aas = client(s.endpoint)
      await aas.send(
        new RegisterScalableTargetCommand({ ...ECS_TARGET, MinCapacity: 1, MaxCapacity: 4 })
      )
      const error = await rejection(
        aas.send(new PutScalingPolicyCommand(trackingPolicy({}, config)))
      )
      expect(error.name).toBe('ValidationException')
      expect(error.message).toMatch(message)
      expect(s.policies()).toEqual([])
    }
  )

  it('creates a policy with its two alarms, and updates it in place under the same ARN', async () => {
    const s = await standin()
    const aas = client(s.endpoint)
    await aas.send(
      new RegisterScalableTargetCommand({ ...ECS_TARGET, MinCapacity: 1, MaxCapacity: 4 })
    )
    const created = await aas.send(new PutScalingPolicyCommand(trackingPolicy()))
    expect(created.Alarms!.map(a => a.AlarmName)).toEqual([
      expect.stringMatching(/^TargetTracking-service\/payments\/api-AlarmHigh-/),
      expect.stringMatching(/^TargetTracking-service\/payments\/api-AlarmLow-/)
    ])
    const updated = await aas.send(
      new PutScalingPolicyCommand(trackingPolicy({}, { TargetValue: 55 }))
    )
    expect(updated.PolicyARN).toBe(created.PolicyARN)
    const { ScalingPolicies } = await aas.send(
      new DescribeScalingPoliciesCommand({ ServiceNamespace: 'ecs', ResourceId: RESOURCE })
    )
    expect(ScalingPolicies).toHaveLength(1)
    expect(ScalingPolicies![0]!.TargetTrackingScalingPolicyConfiguration).toMatchObject({
      TargetValue: 55,
      ScaleOutCooldown: 300,
      ScaleInCooldown: 900
    })
  })

  it('deletes a policy once, then answers ObjectNotFoundException', async () => {
    const s = await standin()
    const aas = client(s.endpoint)
    await aas.send(
      new RegisterScalableTargetCommand({ ...ECS_TARGET, MinCapacity: 1, MaxCapacity: 4 })
    )
    await aas.send(new PutScalingPolicyCommand(trackingPolicy()))
    const remove = new DeleteScalingPolicyCommand({ ...ECS_TARGET, PolicyName: 'cpu' })
    await aas.send(remove)
    expect((await rejection(aas.send(remove))).name).toBe('ObjectNotFoundException')
  })

  it('deregistering a target deletes its policies', async () => {
    const s = await standin()
    const aas = client(s.endpoint)
    await aas.send(
      new RegisterScalableTargetCommand({ ...ECS_TARGET, MinCapacity: 1, MaxCapacity: 4 })
    )
    await aas.send(new PutScalingPolicyCommand(trackingPolicy()))
    await aas.send(new DeregisterScalableTargetCommand(ECS_TARGET))
    expect(s.targets()).toEqual([])
    expect(s.policies()).toEqual([])
    const again = await rejection(aas.send(new DeregisterScalableTargetCommand(ECS_TARGET)))
    expect(again.name).toBe('ObjectNotFoundException')
  })

  it('pages with MaxResults and NextToken, and refuses a made-up token', async () => {
    const s = await standin()
    const aas = client(s.endpoint)
    for (const name of ['a', 'b', 'c'])
      await aas.send(
        new RegisterScalableTargetCommand({
          ...ECS_TARGET,
          ResourceId: `service/payments/${name}`,
          MinCapacity: 1,
          MaxCapacity: 2
        })
      )
    const first = await aas.send(
      new DescribeScalableTargetsCommand({ ServiceNamespace: 'ecs', MaxResults: 2 })
    )
    expect(first.ScalableTargets).toHaveLength(2)
    const second = await aas.send(
      new DescribeScalableTargetsCommand({
        ServiceNamespace: 'ecs',
        MaxResults: 2,
        NextToken: first.NextToken
      })
    )
    expect(second.ScalableTargets!.map(t => t.ResourceId)).toEqual(['service/payments/c'])
    expect(second.NextToken).toBeUndefined()
    const bogus = await rejection(
      aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'ecs', NextToken: 'x' }))
    )
    expect(bogus.name).toBe('InvalidNextTokenException')
  })

  it('answers an unknown operation and a wrong target prefix with UnknownOperationException', async () => {
    const s = await standin()
    const response = await fetch(s.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'AnyScaleFrontendService.PutScheduledAction'
      },
      body: '{}'
    })
    expect(response.status).toBe(400)
    expect(await response.json()).toEqual({
      __type: 'UnknownOperationException',
      message: 'Operation AnyScaleFrontendService.PutScheduledAction is not supported.'
    })
  })

  it('throttles, fails and loses replies on demand, and records each call', async () => {
    const s = await standin()
    const aas = client(s.endpoint)
    s.throttle(1, 'RegisterScalableTarget')
    const throttled = await rejection(
      aas.send(new RegisterScalableTargetCommand({ ...ECS_TARGET, MinCapacity: 1, MaxCapacity: 4 }))
    )
    expect(throttled.name).toBe('ThrottlingException')
    expect(s.targets()).toEqual([])

    s.failNext(1)
    const failed = await rejection(
      aas.send(new RegisterScalableTargetCommand({ ...ECS_TARGET, MinCapacity: 1, MaxCapacity: 4 }))
    )
    expect((failed as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(
      500
    )
    expect(s.targets()).toEqual([])

    s.loseReply(1, 'RegisterScalableTarget')
    await rejection(
      aas.send(new RegisterScalableTargetCommand({ ...ECS_TARGET, MinCapacity: 1, MaxCapacity: 4 }))
    )
    // Carried out although its reply was lost.
    expect(s.targets()).toEqual([expect.objectContaining({ MinCapacity: 1, MaxCapacity: 4 })])
    expect(s.calls.map(c => [c.operation, c.status, c.error, c.replyLost ?? false])).toEqual([
      ['RegisterScalableTarget', 400, 'ThrottlingException', false],
      ['RegisterScalableTarget', 500, 'InternalFailure', false],
      ['RegisterScalableTarget', 500, 'InternalFailure', true]
    ])
    expect(s.calls[0]!.input).toMatchObject({ ResourceId: RESOURCE, MinCapacity: 1 })
  })

  it('with ECS behind it: refuses a missing service and brings the desired count inside the bounds', async () => {
    const ecs = await startEcsStandin({ tickMs: 50 })
    open.push(ecs)
    ecs.addCluster('payments')
    const taskDefinition = ecs.registerTaskDefinition({
      family: 'api',
      containerDefinitions: [{ name: 'api', image: 'registry/api:v1', essential: true }]
    })
    ecs.addService({ cluster: 'payments', name: 'api', taskDefinition, desiredCount: 1 })
    const s = await standin({ resources: ecsServices(ecs.endpoint) })
    const aas = client(s.endpoint)

    const missing = await rejection(
      aas.send(
        new RegisterScalableTargetCommand({
          ...ECS_TARGET,
          ResourceId: 'service/payments/ledger',
          MinCapacity: 1,
          MaxCapacity: 2
        })
      )
    )
    expect(missing.name).toBe('ValidationException')
    expect(missing.message).toBe("ECS service doesn't exist: service/payments/ledger")

    await aas.send(
      new RegisterScalableTargetCommand({ ...ECS_TARGET, MinCapacity: 3, MaxCapacity: 20 })
    )
    expect(ecs.service('payments', 'api').desiredCount).toBe(3)
    // No new deployment: only the count moved.
    expect(ecs.service('payments', 'api').deployments).toHaveLength(1)
  })
})

describe('applyScaling against the stand-in', () => {
  it('registers and puts on the first deploy, then makes no Put or Register call on the same one', async () => {
    const s = await standin()
    const first = await applyScaling(SEED, SERVICE, deps(s.endpoint))
    expect(first.outcome).toBe('changed')
    expect(operations(s)).toEqual([
      'DescribeScalableTargets',
      'RegisterScalableTarget',
      'PutScalingPolicy',
      'PutScalingPolicy'
    ])
    expect(
      s.policies().map(p => [p.PolicyName, p.TargetTrackingScalingPolicyConfiguration])
    ).toEqual([
      [
        'api-cpu-target-tracking',
        {
          TargetValue: 70,
          PredefinedMetricSpecification: {
            PredefinedMetricType: 'ECSServiceAverageCPUUtilization'
          },
          ScaleOutCooldown: 300,
          ScaleInCooldown: 900,
          DisableScaleIn: false
        }
      ],
      [
        'api-memory-target-tracking',
        expect.objectContaining({
          TargetValue: 80,
          PredefinedMetricSpecification: {
            PredefinedMetricType: 'ECSServiceAverageMemoryUtilization'
          }
        })
      ]
    ])

    const before = s.calls.length
    const second = await applyScaling(SEED, SERVICE, deps(s.endpoint))
    expect(operations(s, before)).toEqual(['DescribeScalableTargets', 'DescribeScalingPolicies'])
    expect(second.outcome).toBe('unchanged')
    expect(second.summary).toContain('Auto-scaling: unchanged')
  })

  it('puts exactly one policy when one target changes', async () => {
    const s = await standin()
    await applyScaling(SEED, SERVICE, deps(s.endpoint))
    const before = s.calls.length
    const result = await applyScaling(
      { ...SEED, targets: { cpu: 60, memory: 80 } },
      SERVICE,
      deps(s.endpoint)
    )
    expect(operations(s, before)).toEqual([
      'DescribeScalableTargets',
      'DescribeScalingPolicies',
      'PutScalingPolicy'
    ])
    expect(s.calls.at(-1)!.input.PolicyName).toBe('api-cpu-target-tracking')
    expect(result.changes).toBe('updated policy api-cpu-target-tracking (target 70 → 60 %)')
  })

  it('reads back a PutScalingPolicy whose reply was lost, with no second Put', async () => {
    const s = await standin()
    s.loseReply(1, 'PutScalingPolicy')
    const result = await applyScaling({ ...SEED, targets: { cpu: 70 } }, SERVICE, deps(s.endpoint))
    expect(operations(s)).toEqual([
      'DescribeScalableTargets',
      'RegisterScalableTarget',
      'PutScalingPolicy:InternalFailure',
      'DescribeScalingPolicies'
    ])
    expect(s.policies().map(p => p.PolicyName)).toEqual(['api-cpu-target-tracking'])
    expect(result.notes).toEqual([
      expect.stringContaining('reading back showed it in place, so it was not sent again')
    ])
  })

  it('retries a throttled registration until AWS takes it', async () => {
    const s = await standin()
    s.throttle(1, 'RegisterScalableTarget')
    await applyScaling({ ...SEED, targets: {} }, SERVICE, deps(s.endpoint))
    expect(operations(s)).toEqual([
      'DescribeScalableTargets',
      'RegisterScalableTarget:ThrottlingException',
      'RegisterScalableTarget'
    ])
  })

  it('leaves a policy it did not name alone', async () => {
    const s = await standin()
    await s.invoke('RegisterScalableTarget', { ...ECS_TARGET, MinCapacity: 1, MaxCapacity: 4 })
    await s.invoke('PutScalingPolicy', {
      ...ECS_TARGET,
      PolicyName: 'requests-step',
      PolicyType: 'StepScaling',
      StepScalingPolicyConfiguration: { AdjustmentType: 'ChangeInCapacity', Cooldown: 60 }
    })
    const result = await applyScaling(SEED, SERVICE, deps(s.endpoint))
    expect(
      s
        .policies()
        .map(p => p.PolicyName)
        .sort()
    ).toEqual(['api-cpu-target-tracking', 'api-memory-target-tracking', 'requests-step'])
    expect(result.line).toContain('Other policies on the target, left as they are: requests-step.')
  })
})
