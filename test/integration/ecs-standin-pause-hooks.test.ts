/**
 * The ECS stand-in's PAUSE lifecycle hooks through the real SDK (tools/ecs-standin/pause-hooks.ts
 * quotes the SDK doc comment behind each behaviour): a deployment waits at the hook
 * AWAITING_ACTION with expiresAt and timeoutAction, ContinueServiceDeployment continues or rolls
 * back, ECS applies the timeout action at expiry, and the unkind sides (an answer seen one step
 * late, a second answer refused). The simulation is stepped by hand, so every look is exact.
 */
import {
  ContinueServiceDeploymentCommand,
  DescribeServicesCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
  type DeploymentLifecycleHook,
  type ServiceDeployment
} from '@aws-sdk/client-ecs'
import {
  startEcsStandin,
  type AddServiceSpec,
  type EcsStandin,
  type LifecycleHookSpec
} from '../../tools/ecs-standin/server.js'
import { deployRevision, describeServiceDeployment, looksUntil } from '../support/ecs-fixtures.js'

const STAGE_MS = 10
const MINUTE_MS = 100

const open: EcsStandin[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map(s => s.close()))
})

interface Fixture {
  standin: EcsStandin
  ecs: ECSClient
  v2: string
}

const PAUSE_AFTER_TEST_TRAFFIC: LifecycleHookSpec = {
  targetType: 'PAUSE',
  lifecycleStages: ['POST_TEST_TRAFFIC_SHIFT']
}

async function fixture(spec: Partial<AddServiceSpec> = {}): Promise<Fixture> {
  // No timer: each step of the simulation is taken by `step` below.
  const standin = await startEcsStandin({ tickMs: 3_600_000, stopDelayMs: 5 })
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
    strategy: 'BLUE_GREEN',
    stageMs: STAGE_MS,
    minuteMs: MINUTE_MS,
    bakeTimeInMinutes: 0,
    lifecycleHooks: [PAUSE_AFTER_TEST_TRAFFIC],
    ...spec
  })
  standin.setImageBehaviour('registry/api:v2', { outcome: 'healthy', startDelayMs: 5 })
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
  return { standin, ecs, v2: registered.taskDefinition!.taskDefinitionArn! }
}

const deployV2 = ({ ecs, v2 }: Fixture) => deployRevision(ecs, v2)
const describeSd = describeServiceDeployment

/** Steps the simulation until `done` holds; every look. */
const stepUntil = (
  f: Fixture,
  arn: string,
  done: (sd: ServiceDeployment) => boolean,
  timeoutMs = 10_000
) => looksUntil(f.ecs, arn, done, { intervalMs: 2, timeoutMs, beforeLook: () => f.standin.tick() })

const awaiting = (sd: ServiceDeployment) =>
  sd.lifecycleHookDetails?.some(h => h.status === 'AWAITING_ACTION') === true
const onGreen = (f: Fixture, kind: 'production' | 'test') => {
  const routing = f.standin.routing('prod', 'api')!
  return routing[kind]
    .filter(r => r.taskDefinitionArn === f.v2)
    .reduce((sum, r) => sum + r.weight, 0)
}
const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (error: { name: string; message: string }) => ({ name: error.name, message: error.message })
  )

describe('PAUSE lifecycle hooks', () => {
  it('a deployment waits at the hook AWAITING_ACTION, with expiresAt and the default ROLLBACK, test traffic on green and production not', async () => {
    const f = await fixture()
    const arn = await deployV2(f)
    const before = Date.now()
    await stepUntil(f, arn, awaiting)
    // It stays there: many stage times later, still waiting at the same stage.
    for (let i = 0; i < 20; i++) {
      f.standin.tick()
      await new Promise(resolve => setTimeout(resolve, 2))
    }
    const sd = await describeSd(f.ecs, arn)
    expect(sd.status).toBe('IN_PROGRESS')
    expect(sd.lifecycleStage).toBe('POST_TEST_TRAFFIC_SHIFT')
    const [hook] = sd.lifecycleHookDetails!
    expect(hook).toMatchObject({
      targetType: 'PAUSE',
      status: 'AWAITING_ACTION',
      timeoutAction: 'ROLLBACK'
    })
    expect(hook!.hookId).toMatch(/\S/)
    expect(hook!.targetArn).toBeUndefined()
    // Default timeout 1440 minutes (in the stand-in's scaled minutes).
    const expires = hook!.expiresAt!.valueOf()
    expect(expires).toBeGreaterThanOrEqual(before + 1440 * MINUTE_MS - 1000)
    expect(expires).toBeLessThanOrEqual(Date.now() + 1440 * MINUTE_MS + 1000)
    expect(onGreen(f, 'test')).toBe(100)
    expect(onGreen(f, 'production')).toBe(0)
    // DescribeServices shows the hook as configured.
    const described = await f.ecs.send(
      new DescribeServicesCommand({ cluster: 'prod', services: ['api'] })
    )
    const hooks: DeploymentLifecycleHook[] =
      described.services![0]!.deploymentConfiguration!.lifecycleHooks!
    expect(hooks).toEqual([{ targetType: 'PAUSE', lifecycleStages: ['POST_TEST_TRAFFIC_SHIFT'] }])
  })

  it('CONTINUE: seen one step late, then the deployment moves on and completes; a second answer is refused', async () => {
    const f = await fixture()
    const arn = await deployV2(f)
    const [sd] = (await stepUntil(f, arn, awaiting)).slice(-1)
    const hookId = sd!.lifecycleHookDetails![0]!.hookId!
    const reply = await f.ecs.send(
      new ContinueServiceDeploymentCommand({ serviceDeploymentArn: arn, hookId })
    )
    expect(reply.serviceDeploymentArn).toBe(arn)
    // Eventual consistency, the unkind side: the answer is not visible before the next step.
    expect((await describeSd(f.ecs, arn)).lifecycleHookDetails![0]!.status).toBe('AWAITING_ACTION')
    expect(
      await rejection(
        f.ecs.send(new ContinueServiceDeploymentCommand({ serviceDeploymentArn: arn, hookId }))
      )
    ).toMatchObject({
      name: 'InvalidParameterException',
      message: expect.stringContaining('already answered')
    })
    const seen = await stepUntil(f, arn, s => s.status === 'SUCCESSFUL')
    // One step after the answer it no longer awaits action: the hook shows SUCCEEDED, or the
    // deployment has already moved past the hook's stage (the stand-in's own clock ticks too).
    expect(awaiting(seen[0]!)).toBe(false)
    if (seen[0]!.lifecycleStage === 'POST_TEST_TRAFFIC_SHIFT')
      expect(seen[0]!.lifecycleHookDetails![0]!.status).toBe('SUCCEEDED')
    expect(seen.map(s => s.lifecycleStage)).toContain('PRODUCTION_TRAFFIC_SHIFT')
    expect(onGreen(f, 'production')).toBe(100)
  })

  it('ROLLBACK: production never reaches green; ROLLBACK_REQUESTED, then the service is back on the previous revision', async () => {
    const f = await fixture()
    const arn = await deployV2(f)
    const [sd] = (await stepUntil(f, arn, awaiting)).slice(-1)
    await f.ecs.send(
      new ContinueServiceDeploymentCommand({
        serviceDeploymentArn: arn,
        hookId: sd!.lifecycleHookDetails![0]!.hookId!,
        action: 'ROLLBACK'
      })
    )
    const production: number[] = []
    const seen = await stepUntil(f, arn, s => {
      production.push(onGreen(f, 'production'))
      return s.status === 'ROLLBACK_SUCCESSFUL'
    })
    expect(seen.map(s => s.status)).toContain('ROLLBACK_REQUESTED')
    expect(new Set(production)).toEqual(new Set([0]))
    expect(seen.at(-1)!.rollback?.reason).toMatch(/ContinueServiceDeployment/)
    const after = await f.ecs.send(
      new DescribeServicesCommand({ cluster: 'prod', services: ['api'] })
    )
    expect(after.services![0]!.taskDefinition).not.toBe(f.v2)
  })

  it('at expiresAt ECS applies the timeout action ROLLBACK: TIMED_OUT, rolled back; an answer after that is refused', async () => {
    const f = await fixture({
      lifecycleHooks: [
        { ...PAUSE_AFTER_TEST_TRAFFIC, timeoutConfiguration: { timeoutInMinutes: 1 } }
      ]
    })
    const arn = await deployV2(f)
    const [sd] = (await stepUntil(f, arn, awaiting)).slice(-1)
    const hookId = sd!.lifecycleHookDetails![0]!.hookId!
    const seen = await stepUntil(f, arn, s => s.status === 'ROLLBACK_SUCCESSFUL')
    const timedOut = seen.find(s => s.status !== 'IN_PROGRESS')!
    expect(timedOut.status).toBe('ROLLBACK_IN_PROGRESS')
    expect(timedOut.lifecycleHookDetails![0]).toMatchObject({
      status: 'TIMED_OUT',
      timeoutAction: 'ROLLBACK'
    })
    expect(Date.now()).toBeGreaterThanOrEqual(sd!.lifecycleHookDetails![0]!.expiresAt!.valueOf())
    expect(
      await rejection(
        f.ecs.send(new ContinueServiceDeploymentCommand({ serviceDeploymentArn: arn, hookId }))
      )
    ).toMatchObject({ name: 'InvalidParameterException' })
  })

  it('at expiresAt with timeout action CONTINUE the deployment moves on and completes', async () => {
    const f = await fixture({
      lifecycleHooks: [
        {
          ...PAUSE_AFTER_TEST_TRAFFIC,
          timeoutConfiguration: { timeoutInMinutes: 1, action: 'CONTINUE' }
        }
      ]
    })
    const arn = await deployV2(f)
    const [paused] = (await stepUntil(f, arn, awaiting)).slice(-1)
    const expiresAt = paused!.lifecycleHookDetails![0]!.expiresAt!.valueOf()
    const seen = await stepUntil(f, arn, s => s.status === 'SUCCESSFUL')
    expect(seen.filter(s => s.lifecycleStage === 'POST_TEST_TRAFFIC_SHIFT').length).toBeGreaterThan(
      1
    )
    // The step that takes the timeout action also ends the stage: the next look is past it.
    const past = seen.find(s => s.lifecycleStage !== 'POST_TEST_TRAFFIC_SHIFT')!
    expect(past.updatedAt!.valueOf()).toBeGreaterThanOrEqual(expiresAt - 1000)
    expect(onGreen(f, 'production')).toBe(100)
  })

  it('refuses what the API documents as invalid: PAUSE at a traffic shift stage, a Lambda hook without its ARN, unknown deployments and hooks', async () => {
    const f = await fixture()
    const update = (hooks: DeploymentLifecycleHook[]) =>
      f.ecs.send(
        new UpdateServiceCommand({
          cluster: 'prod',
          service: 'api',
          deploymentConfiguration: { strategy: 'BLUE_GREEN', lifecycleHooks: hooks }
        })
      )
    expect(
      await rejection(update([{ targetType: 'PAUSE', lifecycleStages: ['TEST_TRAFFIC_SHIFT'] }]))
    ).toMatchObject({
      name: 'InvalidParameterException',
      message: expect.stringContaining('TEST_TRAFFIC_SHIFT')
    })
    expect(
      await rejection(
        update([{ targetType: 'PAUSE', lifecycleStages: ['PRODUCTION_TRAFFIC_SHIFT'] }])
      )
    ).toMatchObject({ name: 'InvalidParameterException' })
    expect(await rejection(update([{ lifecycleStages: ['POST_SCALE_UP'] }]))).toMatchObject({
      name: 'InvalidParameterException',
      message: expect.stringContaining('hookTargetArn')
    })
    const arn = await deployV2(f)
    expect(
      await rejection(
        f.ecs.send(
          new ContinueServiceDeploymentCommand({ serviceDeploymentArn: `${arn}x`, hookId: 'h' })
        )
      )
    ).toMatchObject({ name: 'ServiceDeploymentNotFoundException' })
    await stepUntil(f, arn, awaiting)
    expect(
      await rejection(
        f.ecs.send(
          new ContinueServiceDeploymentCommand({ serviceDeploymentArn: arn, hookId: 'nope' })
        )
      )
    ).toMatchObject({ name: 'InvalidParameterException' })
  })
})
