/**
 * The ecs-deploy bundle, run as the runner runs it, against the ECS stand-in (through a fault
 * proxy) with a PAUSE lifecycle hook: wait-until test-traffic returns at the gate, and
 * continue-deployment answers it once (continue or rollback, a lost reply read back), or
 * changes nothing when the hook no longer waits. Production traffic is sampled throughout.
 */
import {
  startEcsStandin,
  type AddServiceSpec,
  type EcsStandin,
  type LifecycleHookSpec
} from '../../tools/ecs-standin/server.js'
import { runBundle, type BundleRun } from '../support/bundle.js'
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js'

interface World {
  ecs: EcsStandin
  proxy: FaultProxy
  v1: string
  /** Production traffic weight on anything but v1, every 10 ms: must stay 0 before the answer. */
  production: number[]
  timer: NodeJS.Timeout
}
let world: World | undefined

const GATE: LifecycleHookSpec = {
  targetType: 'PAUSE',
  lifecycleStages: ['POST_TEST_TRAFFIC_SHIFT']
}

async function start(spec: Partial<AddServiceSpec> = {}): Promise<World> {
  const ecs = await startEcsStandin({ tickMs: 20 })
  const proxy = await startFaultProxy(ecs.endpoint)
  ecs.addCluster('payments')
  const v1 = ecs.registerTaskDefinition({
    family: 'api',
    containerDefinitions: [{ name: 'api', image: 'local/api:v1', essential: true }]
  })
  ecs.addService({
    cluster: 'payments',
    name: 'api',
    taskDefinition: v1,
    desiredCount: 2,
    circuitBreaker: { enable: true, rollback: true },
    strategy: 'BLUE_GREEN',
    stageMs: 40,
    minuteMs: 100,
    bakeTimeInMinutes: 1,
    lifecycleHooks: [GATE],
    ...spec
  })
  const production: number[] = []
  const timer = setInterval(() => {
    const routing = ecs.routing('payments', 'api')
    production.push(
      (routing?.production ?? [])
        .filter(r => r.taskDefinitionArn !== v1)
        .reduce((sum, r) => sum + r.weight, 0)
    )
  }, 10)
  world = { ecs, proxy, v1, production, timer }
  return world
}

afterEach(async () => {
  if (!world) return
  clearInterval(world.timer)
  await Promise.all([world.proxy.close(), world.ecs.close()])
  world = undefined
})

const deploy = (inputs: Record<string, string>): Promise<BundleRun> =>
  runBundle('ecs-deploy', {
    inputs: {
      cluster: 'payments',
      service: 'api',
      'poll-interval-seconds': '0.05',
      'wait-for-minutes': '0.5',
      ...inputs
    },
    env: {
      AWS_ENDPOINT_URL_ECS: world!.proxy.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test'
    }
  })

const calls = (operation: string) =>
  world!.ecs.calls.filter(c => c.operation === operation && c.status === 200)
/** The stand-in's service deployment, as DescribeServiceDeployments would answer it. */
const sdNow = (arn: string) => world!.ecs.serviceDeployment(arn)
const errorLines = (run: BundleRun) => run.stdout.split('\n').filter(l => l.startsWith('::error::'))

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

describe('wait-until: test-traffic', () => {
  it('returns succeeded once the deployment waits at its PAUSE hook, with the ARN, hook id and stage; production still on the previous revision', async () => {
    await start()
    const run = await deploy({ image: 'local/api:v2', 'wait-until': 'test-traffic' })
    expect([run.exitCode, run.outputs.status]).toEqual([0, 'succeeded'])
    expect(run.outputs.stage).toBe('POST_TEST_TRAFFIC_SHIFT')
    const sd = sdNow(run.outputs['service-deployment-arn']!)
    expect(sd).toMatchObject({
      status: 'IN_PROGRESS',
      lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT',
      lifecycleHookDetails: [{ hookId: run.outputs['hook-id'], status: 'AWAITING_ACTION' }]
    })
    expect(Math.max(...world!.production)).toBe(0)
    expect(run.stdout).toContain(`continue-deployment: ${run.outputs['service-deployment-arn']}`)
    expect(run.summary).toContain('PAUSE hook')
  })

  it('works the same for a LINEAR service', async () => {
    await start({
      strategy: 'LINEAR',
      linearConfiguration: { stepPercent: 50, stepBakeTimeInMinutes: 1 }
    })
    const run = await deploy({ image: 'local/api:v2', 'wait-until': 'test-traffic' })
    expect([run.exitCode, run.outputs.status, run.outputs.stage]).toEqual([
      0,
      'succeeded',
      'POST_TEST_TRAFFIC_SHIFT'
    ])
    const answered = await deploy({ 'continue-deployment': run.outputs['service-deployment-arn']! })
    expect([answered.exitCode, answered.outputs.status]).toEqual([0, 'succeeded'])
    expect(world!.ecs.service('payments', 'api').taskDefinition).toMatch(/api:2$/)
  })

  it('without a PAUSE hook at the gate is an input error before any change', async () => {
    await start({ lifecycleHooks: [{ targetType: 'PAUSE', lifecycleStages: ['POST_SCALE_UP'] }] })
    const run = await deploy({ image: 'local/api:v2', 'wait-until': 'test-traffic' })
    expect([run.exitCode, run.outputs.status]).toEqual([1, 'failed'])
    expect(errorLines(run)).toEqual([
      expect.stringMatching(
        /^::error::Input 'wait-until' is 'test-traffic': service 'api' cannot wait at a test-traffic gate: .*no PAUSE lifecycle hook at POST_TEST_TRAFFIC_SHIFT or PRE_PRODUCTION_TRAFFIC_SHIFT/
      )
    ])
    expect(calls('RegisterTaskDefinition')).toHaveLength(0)
    expect(calls('UpdateService')).toHaveLength(0)
  })
})

describe('continue-deployment', () => {
  it('continue: one ContinueServiceDeployment, then the deploy is watched to steady on the new revision', async () => {
    await start()
    const gate = await deploy({ image: 'local/api:v2', 'wait-until': 'test-traffic' })
    const arn = gate.outputs['service-deployment-arn']!
    // A lost reply: ECS took the answer, the step reads the hook back rather than answer twice.
    world!.proxy.inject({ operation: 'ContinueServiceDeployment', mode: 'reset-after' })
    const run = await deploy({ 'continue-deployment': arn })
    expect([run.exitCode, run.outputs.status]).toEqual([0, 'succeeded'])
    expect(calls('ContinueServiceDeployment')).toHaveLength(1)
    expect(run.stdout).toContain('The reply to ContinueServiceDeployment was lost')
    // The stages before the hook were passed before this step: not reported as passed by it.
    expect(run.stdout).not.toMatch(/(SCALE_UP|TEST_TRAFFIC_SHIFT): passed between two looks/)
    expect(sdNow(arn)).toMatchObject({ status: 'SUCCESSFUL' })
    expect(world!.ecs.service('payments', 'api').taskDefinition).toMatch(/api:2$/)
    expect(run.outputs['service-deployment-arn']).toBe(arn)
  })

  it('rollback: rolled-back once ECS has rolled back, production traffic never on the new revision', async () => {
    await start()
    const gate = await deploy({ image: 'local/api:v2', 'wait-until': 'test-traffic' })
    const arn = gate.outputs['service-deployment-arn']!
    const run = await deploy({ 'continue-deployment': arn, 'continue-action': 'rollback' })
    expect(run.outputs.status).toBe('rolled-back')
    expect(calls('ContinueServiceDeployment')).toHaveLength(1)
    expect(calls('ContinueServiceDeployment')[0]!.input).toMatchObject({
      serviceDeploymentArn: arn,
      hookId: gate.outputs['hook-id'],
      action: 'ROLLBACK'
    })
    expect(sdNow(arn)).toMatchObject({ status: 'ROLLBACK_SUCCESSFUL' })
    expect(world!.ecs.service('payments', 'api').taskDefinition).toBe(world!.v1)
    expect(Math.max(...world!.production)).toBe(0)
    expect(errorLines(run)).toEqual([
      expect.stringContaining('production traffic never left api:1')
    ])
  })

  it('a hook that expired while the job waited changes nothing, and says which timeout action ECS applied', async () => {
    await start({ lifecycleHooks: [{ ...GATE, timeoutConfiguration: { timeoutInMinutes: 3 } }] })
    const gate = await deploy({ image: 'local/api:v2', 'wait-until': 'test-traffic' })
    const arn = gate.outputs['service-deployment-arn']!
    await until(() => sdNow(arn)?.status === 'ROLLBACK_SUCCESSFUL')
    const run = await deploy({ 'continue-deployment': arn })
    expect(calls('ContinueServiceDeployment')).toHaveLength(0)
    expect(run.outputs.status).toBe('rolled-back')
    expect(errorLines(run)).toEqual([
      expect.stringMatching(
        /no longer waited at a hook, so continue-action: continue was not sent and this step changed nothing: its hook expired at .* and ECS applied the timeout action ROLLBACK/
      )
    ])
  })

  it('a deployment another run already continued is not answered again; the status is what ECS did', async () => {
    await start({
      lifecycleHooks: [
        { ...GATE, timeoutConfiguration: { timeoutInMinutes: 2, action: 'CONTINUE' } }
      ]
    })
    const gate = await deploy({ image: 'local/api:v2', 'wait-until': 'test-traffic' })
    const arn = gate.outputs['service-deployment-arn']!
    await until(() => sdNow(arn)?.status === 'SUCCESSFUL')
    const run = await deploy({ 'continue-deployment': arn, 'continue-action': 'rollback' })
    expect(calls('ContinueServiceDeployment')).toHaveLength(0)
    expect(calls('StopServiceDeployment')).toHaveLength(0)
    expect(run.outputs.status).toBe('succeeded')
    expect(run.stdout).toContain('sends no rollback and changes nothing')
  })
})

describe('a deploy that meets a PAUSE hook it does not wait for', () => {
  it('stops at once instead of waiting out its deadline, naming the hook, expiresAt and timeoutAction, and rolls back', async () => {
    await start()
    // Two minutes: enough for the one bake minute (a wait the strategy cannot cover is refused).
    const run = await deploy({ image: 'local/api:v2', 'wait-for-minutes': '2' })
    expect(run.outputs.status).toBe('rolled-back')
    expect(run.durationMs).toBeLessThan(20_000)
    expect(errorLines(run)[0]).toMatch(
      /waits at PAUSE hook \S+ \(POST_TEST_TRAFFIC_SHIFT\) for ContinueServiceDeployment; ECS applies ROLLBACK at \S+ .*after this step's deadline/
    )
    expect(Math.max(...world!.production)).toBe(0)
  })
})
