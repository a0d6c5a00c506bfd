/**
 * The ECS stand-in's BLUE_GREEN, LINEAR and CANARY services, through the real SDK: the
 * lifecycle stages in order, production traffic in steps, lifecycle hooks, the circuit
 * breaker, and StopServiceDeployment's instant rollback while the source revision still runs.
 */
import {
  DescribeServiceDeploymentsCommand,
  DescribeServicesCommand,
  ECSClient,
  ListServiceDeploymentsCommand,
  RegisterTaskDefinitionCommand,
  StopServiceDeploymentCommand,
  UpdateServiceCommand,
  type ServiceDeployment
} from '@aws-sdk/client-ecs'
import {
  LIFECYCLE_STAGES,
  startEcsStandin,
  type AddServiceSpec,
  type DeploymentStrategy,
  type EcsStandin
} from '../../tools/ecs-standin/server.js'
import {
  deployRevision,
  describeServiceDeployment,
  looksUntil,
  newestServiceDeployment
} from '../support/ecs-fixtures.js'

const TICK_MS = 20
const STAGE_MS = 60
/** One minute of bake time, in the stand-in's scaled time. */
const MINUTE_MS = 150
const HOOK = 'arn:aws:lambda:eu-west-1:123456789012:function:check-green'

const open: EcsStandin[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map(s => s.close()))
})

interface Fixture {
  standin: EcsStandin
  ecs: ECSClient
  v1: string
  v2: string
}

async function fixture(spec: Partial<AddServiceSpec>): Promise<Fixture> {
  const standin = await startEcsStandin({ tickMs: TICK_MS })
  open.push(standin)
  standin.addCluster('prod')
  const v1 = standin.registerTaskDefinition({
    family: 'api',
    containerDefinitions: [{ name: 'api', image: 'registry/api:v1' }]
  })
  standin.addService({
    cluster: 'prod',
    name: 'api',
    taskDefinition: v1,
    desiredCount: 2,
    circuitBreaker: { enable: true, rollback: true },
    stageMs: STAGE_MS,
    minuteMs: MINUTE_MS,
    bakeTimeInMinutes: 2,
    ...spec
  })
  standin.setImageBehaviour('registry/api:v2', { outcome: 'healthy', startDelayMs: 3 * TICK_MS })
  const ecs = new ECSClient({
    endpoint: standin.endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1
  })
  const registered = await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: 'api',
      containerDefinitions: [{ name: 'api', image: 'registry/api:v2' }]
    })
  )
  return { standin, ecs, v1, v2: registered.taskDefinition!.taskDefinitionArn! }
}

const deployV2 = ({ ecs, v2 }: Fixture) => deployRevision(ecs, v2)
const describeSd = describeServiceDeployment

/** Every look at the service deployment until `done`, polled every half tick. */
const watch = (
  ecs: ECSClient,
  arn: string,
  done: (sd: ServiceDeployment) => boolean,
  timeoutMs = 10_000
) => looksUntil(ecs, arn, done, { intervalMs: TICK_MS / 2, timeoutMs })

const stagesOf = (seen: ServiceDeployment[]) => [
  ...new Set(seen.map(sd => sd.lifecycleStage).filter(Boolean))
]
const productionWeights = (seen: ServiceDeployment[]) => [
  ...new Set(seen.map(sd => sd.targetServiceRevision?.requestedProductionTrafficWeight))
]
const finished = (sd: ServiceDeployment) =>
  ['SUCCESSFUL', 'ROLLBACK_SUCCESSFUL', 'STOPPED', 'ROLLBACK_FAILED'].includes(sd.status!)

async function serviceNow(ecs: ECSClient) {
  const out = await ecs.send(new DescribeServicesCommand({ cluster: 'prod', services: ['api'] }))
  return out.services![0]!
}

const calls = (standin: EcsStandin, operation: string) =>
  standin.calls.filter(c => c.operation === operation && c.status === 200).length

const STEPS: Record<Exclude<DeploymentStrategy, 'ROLLING'>, Partial<AddServiceSpec>> = {
  BLUE_GREEN: {},
  LINEAR: { linearConfiguration: { stepPercent: 25, stepBakeTimeInMinutes: 1 } },
  CANARY: { canaryConfiguration: { canaryPercent: 10, canaryBakeTimeInMinutes: 1 } }
}
const SHIFTS: Record<keyof typeof STEPS, number[]> = {
  BLUE_GREEN: [0, 100],
  LINEAR: [0, 25, 50, 75, 100],
  CANARY: [0, 10, 100]
}

describe.each(Object.keys(STEPS) as Array<keyof typeof STEPS>)('%s service', strategy => {
  it('passes every lifecycle stage in order, shifts production traffic in its steps, then runs only the target', async () => {
    const f = await fixture({ strategy, ...STEPS[strategy] })
    const arn = await deployV2(f)
    const blue = (await serviceNow(f.ecs)).deployments![1]!
    const seen = await watch(f.ecs, arn, finished)

    expect(seen.at(-1)!.status).toBe('SUCCESSFUL')
    // RECONCILE_SERVICE only happens with more than one revision active at the start.
    expect(stagesOf(seen)).toEqual(LIFECYCLE_STAGES.filter(s => s !== 'RECONCILE_SERVICE'))
    expect(productionWeights(seen)).toEqual(SHIFTS[strategy])
    // PRE_PRODUCTION_TRAFFIC_SHIFT comes before every production traffic step (the lifecycleStage
    // doc comment lists it; the SDK's enum type does not yet).
    const stage = (sd?: ServiceDeployment) => sd?.lifecycleStage as string | undefined
    const entries = seen.filter(
      (sd, i) =>
        stage(sd) === 'PRE_PRODUCTION_TRAFFIC_SHIFT' &&
        stage(seen[i - 1]) !== 'PRE_PRODUCTION_TRAFFIC_SHIFT'
    )
    expect(entries.map(sd => sd.targetServiceRevision?.requestedProductionTrafficWeight)).toEqual(
      SHIFTS[strategy].slice(0, -1)
    )
    // Test traffic reaches green from TEST_TRAFFIC_SHIFT on, before any production traffic.
    const testFirst = seen.find(sd => sd.targetServiceRevision?.requestedTestTrafficWeight === 100)
    expect(testFirst?.targetServiceRevision?.requestedProductionTrafficWeight).toBe(0)
    // The source revision keeps its tasks until CLEAN_UP.
    const baking = seen.filter(sd => sd.lifecycleStage === 'BAKE_TIME')
    expect(baking.length).toBeGreaterThan(0)
    for (const sd of baking) {
      expect(sd.sourceServiceRevisions![0]!.runningTaskCount).toBe(2)
      expect(sd.targetServiceRevision!.runningTaskCount).toBe(2)
    }
    const service = await serviceNow(f.ecs)
    expect(service.taskDefinition).toBe(f.v2)
    expect(service.deployments).toHaveLength(1)
    expect(service.deployments![0]!.rolloutState).toBe('COMPLETED')
    expect(service.deploymentConfiguration!.strategy).toBe(strategy)
    expect(f.standin.tasks('prod', 'api').filter(t => t.lastStatus === 'RUNNING')).toHaveLength(2)
    expect(
      f.standin
        .tasks('prod', 'api')
        .filter(t => t.startedBy === blue.id && t.lastStatus !== 'STOPPED')
    ).toHaveLength(0)
    expect(f.standin.routing('prod', 'api')!.production).toEqual([
      { deploymentId: service.deployments![0]!.id, taskDefinitionArn: f.v2, weight: 100 }
    ])
  })

  it('rolls back at once when a production traffic shift hook fails: traffic and the service back on the source', async () => {
    const f = await fixture({
      strategy,
      ...STEPS[strategy],
      lifecycleHooks: [{ hookTargetArn: HOOK, lifecycleStages: ['PRODUCTION_TRAFFIC_SHIFT'] }]
    })
    // LINEAR and CANARY fail at their second step, once some traffic has moved.
    f.standin.setHookBehaviour(HOOK, {
      results: strategy === 'BLUE_GREEN' ? ['FAILED'] : ['SUCCEEDED', 'FAILED']
    })
    const arn = await deployV2(f)
    const seen = await watch(f.ecs, arn, finished)

    const last = seen.at(-1)!
    expect(last.status).toBe('ROLLBACK_SUCCESSFUL')
    expect(last.statusReason).toBe(`Lifecycle hook ${HOOK} failed at PRODUCTION_TRAFFIC_SHIFT.`)
    expect(last.rollback!.serviceRevisionArn).toBe(last.sourceServiceRevisions![0]!.arn)
    expect(stagesOf(seen)).not.toContain('BAKE_TIME')
    const hooks = seen.flatMap(sd => sd.lifecycleHookDetails ?? []).map(h => h.status)
    expect(hooks).toContain('FAILED')
    expect(seen.map(sd => sd.status)).toContain('ROLLBACK_IN_PROGRESS')
    if (strategy !== 'BLUE_GREEN') expect(productionWeights(seen)).toContain(SHIFTS[strategy][1])
    expect(last.targetServiceRevision!.requestedProductionTrafficWeight).toBe(0)
    const service = await serviceNow(f.ecs)
    expect(service.taskDefinition).toBe(f.v1)
    expect(service.deployments).toHaveLength(1)
    expect(calls(f.standin, 'UpdateService')).toBe(1)
  })

  it('StopServiceDeployment during bake time: production back on the source at once, ROLLBACK_REQUESTED then IN_PROGRESS then SUCCESSFUL', async () => {
    const f = await fixture({ strategy, ...STEPS[strategy], bakeTimeInMinutes: 20 })
    const arn = await deployV2(f)
    await watch(f.ecs, arn, sd => sd.lifecycleStage === 'BAKE_TIME')
    const blueTasks = f.standin
      .tasks('prod', 'api')
      .filter(t => t.taskDefinitionArn === f.v1 && t.lastStatus === 'RUNNING')
    expect(blueTasks).toHaveLength(2)

    const stopped = await f.ecs.send(
      new StopServiceDeploymentCommand({ serviceDeploymentArn: arn, stopType: 'ROLLBACK' })
    )
    expect(stopped.serviceDeploymentArn).toBe(arn)
    // The switch happens with the call, not on a later tick.
    expect(f.standin.routing('prod', 'api')!.production).toEqual([
      expect.objectContaining({ taskDefinitionArn: f.v1, weight: 100 })
    ])
    const seen = await watch(f.ecs, arn, finished)
    const statuses = [...new Set(seen.map(sd => sd.status))]
    expect(statuses).toEqual(['ROLLBACK_REQUESTED', 'ROLLBACK_IN_PROGRESS', 'ROLLBACK_SUCCESSFUL'])
    expect(seen[0]!.sourceServiceRevisions![0]!.requestedProductionTrafficWeight).toBe(100)
    expect(seen.at(-1)!.rollback!.reason).toBe(
      'Service deployment rolled back by StopServiceDeployment.'
    )

    const service = await serviceNow(f.ecs)
    expect(service.taskDefinition).toBe(f.v1)
    expect(service.deployments).toEqual([
      expect.objectContaining({
        status: 'PRIMARY',
        taskDefinition: f.v1,
        rolloutState: 'COMPLETED'
      })
    ])
    // The source revision's own tasks serve again: none was replaced.
    const running = f.standin.tasks('prod', 'api').filter(t => t.lastStatus === 'RUNNING')
    expect(running.map(t => t.taskArn).sort()).toEqual(blueTasks.map(t => t.taskArn).sort())
    expect(calls(f.standin, 'UpdateService')).toBe(1)
    expect(calls(f.standin, 'StopServiceDeployment')).toBe(1)

    const again = await f.ecs
      .send(new StopServiceDeploymentCommand({ serviceDeploymentArn: arn, stopType: 'ROLLBACK' }))
      .catch((error: Error) => error)
    expect(again).toMatchObject({ name: 'ConflictException' })
  })
})

describe('BLUE_GREEN failures and history', () => {
  it('the circuit breaker rolls back a green revision whose tasks crash during SCALE_UP; traffic never moved', async () => {
    const f = await fixture({ strategy: 'BLUE_GREEN', failureThreshold: 3 })
    f.standin.setImageBehaviour('registry/api:v2', {
      outcome: 'crash',
      afterMs: 2 * TICK_MS,
      exitCode: 1
    })
    const arn = await deployV2(f)
    const seen = await watch(f.ecs, arn, finished)
    const last = seen.at(-1)!
    expect(last.status).toBe('ROLLBACK_SUCCESSFUL')
    expect(last.statusReason).toBe('ECS deployment circuit breaker: tasks failed to start.')
    expect(last.deploymentCircuitBreaker).toMatchObject({ status: 'TRIGGERED', threshold: 3 })
    expect(stagesOf(seen)).not.toContain('TEST_TRAFFIC_SHIFT')
    expect(seen.every(sd => sd.targetServiceRevision!.requestedProductionTrafficWeight === 0)).toBe(
      true
    )
    expect((await serviceNow(f.ecs)).taskDefinition).toBe(f.v1)
  })

  it('a deployment started while another is under way reconciles first, and the earlier one is STOPPED', async () => {
    const f = await fixture({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 20 })
    const first = await deployV2(f)
    await watch(f.ecs, first, sd => sd.lifecycleStage === 'BAKE_TIME')
    const v3 = await f.ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'api',
        containerDefinitions: [{ name: 'api', image: 'registry/api:v3' }]
      })
    )
    const updated = await f.ecs.send(
      new UpdateServiceCommand({
        cluster: 'prod',
        service: 'api',
        taskDefinition: v3.taskDefinition!.taskDefinitionArn!,
        deploymentConfiguration: { bakeTimeInMinutes: 0 }
      })
    )
    // The reply still names the service deployment under way: the new one is listed.
    expect(updated.service!.currentServiceDeployment).toBe(first)
    const second = await newestServiceDeployment(f.ecs)
    expect(second).not.toBe(first)
    const seen = await watch(f.ecs, second, finished)
    expect(seen[0]!.lifecycleStage).toBe('RECONCILE_SERVICE')
    expect(seen.at(-1)!.status).toBe('SUCCESSFUL')
    expect(await describeSd(f.ecs, first)).toMatchObject({
      status: 'STOPPED',
      statusReason: 'Stopped by a newer service deployment.'
    })
    const listed = await f.ecs.send(
      new ListServiceDeploymentsCommand({ cluster: 'prod', service: 'api' })
    )
    expect(listed.serviceDeployments!.map(b => [b.serviceDeploymentArn, b.status])).toEqual([
      [second, 'SUCCESSFUL'],
      [first, 'STOPPED'],
      [expect.any(String), 'SUCCESSFUL']
    ])
  })

  it('a rolling service stopped with ROLLBACK rolls back through a new deployment of the source', async () => {
    const f = await fixture({ strategy: 'ROLLING' })
    f.standin.setImageBehaviour('registry/api:v2', { outcome: 'healthy', startDelayMs: 1000 })
    const arn = await deployV2(f)
    await f.ecs.send(new StopServiceDeploymentCommand({ serviceDeploymentArn: arn }))
    const seen = await watch(f.ecs, arn, finished)
    expect([...new Set(seen.map(sd => sd.status))]).toEqual([
      'ROLLBACK_REQUESTED',
      'ROLLBACK_IN_PROGRESS',
      'ROLLBACK_SUCCESSFUL'
    ])
    expect(seen.some(sd => sd.lifecycleStage !== undefined)).toBe(false)
    expect((await serviceNow(f.ecs)).taskDefinition).toBe(f.v1)
  })

  it('describes unknown service deployments as MISSING failures', async () => {
    const f = await fixture({ strategy: 'BLUE_GREEN' })
    const arn = 'arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/api/nope'
    const out = await f.ecs.send(
      new DescribeServiceDeploymentsCommand({ serviceDeploymentArns: [arn] })
    )
    expect(out).toMatchObject({ serviceDeployments: [], failures: [{ arn, reason: 'MISSING' }] })
    const error = await f.ecs
      .send(new StopServiceDeploymentCommand({ serviceDeploymentArn: arn, stopType: 'ROLLBACK' }))
      .catch((e: Error) => e)
    expect(error).toMatchObject({ name: 'ServiceDeploymentNotFoundException' })
  })
})

describe('currentServiceDeployment, as DescribeServices shows it', () => {
  it('still names the previous service deployment right after UpdateService, and the new one a few ticks on', async () => {
    const f = await fixture({ strategy: 'BLUE_GREEN' })
    const previous = (await serviceNow(f.ecs)).currentServiceDeployment!
    const updated = await f.ecs.send(
      new UpdateServiceCommand({ cluster: 'prod', service: 'api', taskDefinition: f.v2 })
    )
    const started = await newestServiceDeployment(f.ecs)
    expect(started).not.toBe(previous)
    // Stale: the reply and the next look name the previous one (ECS's latitude, the unkind side).
    expect(updated.service!.currentServiceDeployment).toBe(previous)
    const deadline = Date.now() + 5_000
    let current = previous
    while (current === previous && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, TICK_MS))
      current = (await serviceNow(f.ecs)).currentServiceDeployment!
    }
    expect(current).toBe(started)
  })
})
