/**
 * The ELB stand-in through the real SDK client (awsQuery: form-encoded requests, XML answers),
 * and the ECS stand-in's services registered in its target groups. One AWS second is 10 ms.
 */
import {
  DeregisterTargetsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand
} from '@aws-sdk/client-elastic-load-balancing-v2'
import { startEcsStandin } from '../../tools/ecs-standin/server.js'
import { startElbStandin, type ElbStandin } from '../../tools/elb-standin/server.js'

const SECOND_MS = 10
let elb: ElbStandin
let client: ElasticLoadBalancingV2Client

beforeEach(async () => {
  elb = await startElbStandin({ secondMs: SECOND_MS, tickMs: 5 })
  client = new ElasticLoadBalancingV2Client({
    region: 'eu-west-1',
    endpoint: elb.endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1
  })
})
afterEach(async () => {
  client.destroy()
  await elb.close()
})

const stateOf = async (arn: string, id: string) =>
  (
    await client.send(
      new DescribeTargetHealthCommand({ TargetGroupArn: arn, Targets: [{ Id: id, Port: 8080 }] })
    )
  ).TargetHealthDescriptions?.[0]?.TargetHealth

/** Polls until the target's state is `state`; resolves with the ms it took. */
async function until(arn: string, id: string, state: string, withinMs = 5000): Promise<number> {
  const started = Date.now()
  while (Date.now() - started < withinMs) {
    if ((await stateOf(arn, id))?.State === state) return Date.now() - started
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  throw new Error(`${id} did not become ${state} within ${withinMs} ms`)
}

describe('ELB stand-in', () => {
  it("answers a target group with AWS's documented defaults for HTTP", async () => {
    const arn = elb.addTargetGroup({ name: 'api' })
    const groups = await client.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [arn] }))
    expect(groups.TargetGroups?.[0]).toMatchObject({
      TargetGroupArn: arn,
      TargetGroupName: 'api',
      HealthCheckIntervalSeconds: 30,
      HealthCheckTimeoutSeconds: 6,
      HealthyThresholdCount: 5,
      UnhealthyThresholdCount: 2,
      TargetType: 'ip'
    })
    const attributes = await client.send(
      new DescribeTargetGroupAttributesCommand({ TargetGroupArn: arn })
    )
    expect(attributes.Attributes).toContainEqual({
      Key: 'deregistration_delay.timeout_seconds',
      Value: '300'
    })
    await expect(
      client.send(new DescribeTargetHealthCommand({ TargetGroupArn: `${arn}x` }))
    ).rejects.toMatchObject({ name: 'TargetGroupNotFoundException' })
  })

  it('plays initial, healthy, unhealthy, draining and unused in scaled time', async () => {
    const arn = elb.addTargetGroup({
      name: 'api',
      settings: { healthCheckIntervalSeconds: 20, deregistrationDelaySeconds: 100 }
    })
    expect(await stateOf(arn, '10.0.0.1')).toMatchObject({
      State: 'unused',
      Reason: 'Target.NotRegistered'
    })
    await client.send(
      new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: '10.0.0.1', Port: 8080 }] })
    )
    expect(await stateOf(arn, '10.0.0.1')).toMatchObject({
      State: 'initial',
      Reason: 'Elb.InitialHealthChecking'
    })
    elb.model.forceHealth('10.0.0.1', true)
    // One passing check, one interval (20 s = 200 ms) after registration.
    expect(await until(arn, '10.0.0.1', 'healthy')).toBeGreaterThanOrEqual(150)
    elb.model.forceHealth('10.0.0.1', false)
    // Two failed checks (the unhealthy threshold): about 400 ms.
    expect(await until(arn, '10.0.0.1', 'unhealthy')).toBeGreaterThanOrEqual(300)
    expect((await stateOf(arn, '10.0.0.1'))?.Reason).toBe('Target.ResponseCodeMismatch')
    // Back in service only after five passing checks in a row (the healthy threshold).
    elb.model.forceHealth('10.0.0.1', true)
    expect(await until(arn, '10.0.0.1', 'healthy')).toBeGreaterThanOrEqual(900)
    await client.send(
      new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: '10.0.0.1' }] })
    )
    expect(await stateOf(arn, '10.0.0.1')).toMatchObject({
      State: 'draining',
      Reason: 'Target.DeregistrationInProgress'
    })
    expect(elb.model.routable(arn)).toEqual([])
    // The deregistration delay: 100 s = 1 s.
    expect(await until(arn, '10.0.0.1', 'unused')).toBeGreaterThanOrEqual(900)
  })

  it('answers Throttling as the SDK expects it', async () => {
    const arn = elb.addTargetGroup({ name: 'api' })
    elb.throttle(1, 'DescribeTargetHealth')
    await expect(
      client.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }))
    ).rejects.toMatchObject({ name: 'Throttling', $metadata: { httpStatusCode: 400 } })
  })

  it("registers a service's tasks when RUNNING, counts them only once healthy, and drains the old ones before they stop", async () => {
    const ecs = await startEcsStandin({ tickMs: 10, loadBalancing: elb.model })
    try {
      const arn = elb.addTargetGroup({ name: 'api', settings: { deregistrationDelaySeconds: 50 } })
      ecs.addCluster('c')
      const v1 = ecs.registerTaskDefinition({
        family: 'api',
        containerDefinitions: [{ name: 'api', image: 'v1' }]
      })
      ecs.addService({
        cluster: 'c',
        name: 'api',
        taskDefinition: v1,
        desiredCount: 1,
        loadBalancers: [{ targetGroupArn: arn, containerName: 'api', containerPort: 8080 }]
      })
      const [old] = [...elb.model.targetGroup(arn).targets.values()]
      expect(old?.state).toBe('healthy')
      ecs.setImageStartTimes('v2', { provisioningMs: 20, pullMs: 30 })
      ecs.setImageBehaviour('v2', { outcome: 'healthy', startDelayMs: 100 })
      const { ECSClient, UpdateServiceCommand } = await import('@aws-sdk/client-ecs')
      const ecsClient = new ECSClient({
        region: 'eu-west-1',
        endpoint: ecs.endpoint,
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' }
      })
      const v2 = ecs.registerTaskDefinition({
        family: 'api',
        containerDefinitions: [{ name: 'api', image: 'v2' }]
      })
      await ecsClient.send(
        new UpdateServiceCommand({ cluster: 'c', service: 'api', taskDefinition: v2 })
      )
      const fresh = () => ecs.tasks('c', 'api').find(t => t.containers[0]?.image === 'v2')
      const started = Date.now()
      while (!fresh()?.startedAt) await new Promise(resolve => setTimeout(resolve, 5))
      const task = fresh()!
      const times = task as unknown as Record<
        'createdAt' | 'pullStartedAt' | 'pullStoppedAt',
        number
      >
      // The image pull inside the start: provisioning, then the pull, both before RUNNING.
      expect(times.pullStoppedAt - times.pullStartedAt).toBeCloseTo(0.03, 2)
      expect(times.pullStartedAt - times.createdAt).toBeCloseTo(0.02, 2)
      const ip = (
        task as unknown as {
          attachments: Array<{ details: Array<{ name: string; value: string }> }>
        }
      ).attachments[0]!.details.find(d => d.name === 'privateIPv4Address')!.value
      expect(await stateOf(arn, ip)).toMatchObject({ State: 'initial' })
      // The old task serves until the new one is healthy; then it drains, then it stops.
      expect(await stateOf(arn, old!.id)).toMatchObject({ State: 'healthy' })
      await until(arn, ip, 'healthy')
      await until(arn, old!.id, 'draining', 1000)
      expect(ecs.tasks('c', 'api').find(t => t.containers[0]?.image === 'v1')?.lastStatus).toBe(
        'RUNNING'
      )
      await until(arn, old!.id, 'unused', 2000)
      expect(Date.now() - started).toBeGreaterThanOrEqual(500)
      const messages = ecs.service('c', 'api').events.map(e => e.message)
      expect(messages).toContain(`(service api) registered 1 targets in (target-group ${arn})`)
      expect(messages).toContain('(service api) has begun draining connections on 1 tasks.')
      ecsClient.destroy()
    } finally {
      await ecs.close()
    }
  })
})
