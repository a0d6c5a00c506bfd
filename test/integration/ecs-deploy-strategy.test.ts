/**
 * The ecs-deploy bundle against BLUE_GREEN, LINEAR and CANARY services on the ECS stand-in as
 * AWS documents them: a currentServiceDeployment that still names the previous service
 * deployment after the update, traffic steps minutes apart, stages that take their time.
 */
import {
  startEcsStandin,
  type AddServiceSpec,
  type EcsStandin
} from '../../tools/ecs-standin/server.js'
import { runBundle, type BundleRun } from '../support/bundle.js'

const open: EcsStandin[] = []
afterAll(async () => {
  await Promise.all(open.map(s => s.close()))
})

async function world(spec: Partial<AddServiceSpec>): Promise<EcsStandin> {
  const standin = await startEcsStandin({ tickMs: 50 })
  open.push(standin)
  standin.addCluster('payments')
  const taskDefinition = standin.registerTaskDefinition({
    family: 'api',
    containerDefinitions: [{ name: 'api', image: 'local/api:v1', essential: true }]
  })
  standin.addService({
    cluster: 'payments',
    name: 'api',
    taskDefinition,
    desiredCount: 2,
    circuitBreaker: { enable: true, rollback: true },
    stageMs: 100,
    minuteMs: 100,
    ...spec
  })
  return standin
}

function deploy(standin: EcsStandin, inputs: Record<string, string>): Promise<BundleRun> {
  return runBundle('ecs-deploy', {
    inputs: {
      cluster: 'payments',
      service: 'api',
      image: 'local/api:v2',
      'poll-interval-seconds': '0.2',
      ...inputs
    },
    env: {
      AWS_ENDPOINT_URL_ECS: standin.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test'
    }
  })
}

const applied = (standin: EcsStandin, operation: string) =>
  standin.calls.filter(c => c.operation === operation && c.status === 200).length

describe('ecs-deploy on a blue/green service whose described current deployment is stale', () => {
  it('watches the service deployment its update started, found with ListServiceDeployments', async () => {
    const standin = await world({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 2 })
    const before = standin.service('payments', 'api').currentServiceDeployment
    const run = await deploy(standin, { 'wait-for-minutes': '3' })
    expect({ exit: run.exitCode, status: run.outputs.status }).toEqual({
      exit: 0,
      status: 'succeeded'
    })
    const arn = run.outputs['service-deployment-arn']
    expect(arn).toBeDefined()
    expect(arn).not.toBe(before)
    // When the step says succeeded, the new revision is what the service runs, fully.
    const service = standin.service('payments', 'api')
    expect(service.deployments).toHaveLength(1)
    expect(service.deployments[0]).toMatchObject({
      taskDefinition: run.outputs['task-definition-arn'],
      rolloutState: 'COMPLETED'
    })
    expect(service.currentServiceDeployment).toBe(arn)
    expect(run.stdout).toContain('BAKE_TIME')
    expect(run.stdout).not.toMatch(/superseded|replaced/)
  })
})

describe('ecs-deploy refuses a wait that a LINEAR or CANARY service cannot finish in', () => {
  it.each([
    ['LINEAR with ECS defaults', { strategy: 'LINEAR' as const }, '15', 'LINEAR', 54],
    [
      'CANARY with a 10-minute canary and bake time 20',
      { strategy: 'CANARY' as const, bakeTimeInMinutes: 20 },
      '25',
      'CANARY',
      30
    ]
  ])(
    '%s: refused before any change, naming the strategy, the minutes and the input',
    async (_what, spec, wait, strategy, minutes) => {
      const standin = await world(spec)
      const run = await deploy(standin, { 'wait-for-minutes': wait })
      expect({ exit: run.exitCode, status: run.outputs.status }).toEqual({
        exit: 1,
        status: 'refused'
      })
      const error = run.stdout.split('\n').find(l => l.startsWith('::error::'))
      expect(error).toContain(`deploys with ${strategy}, which takes ${minutes} minutes`)
      expect(error).toContain(`wait-for-minutes is ${wait}`)
      expect(error).toContain(`Set wait-for-minutes above ${minutes}`)
      expect(applied(standin, 'RegisterTaskDefinition')).toBe(0)
      expect(applied(standin, 'UpdateService')).toBe(0)
    }
  )

  it('a wait that covers the steps deploys, traffic step by traffic step', async () => {
    const standin = await world({
      strategy: 'LINEAR',
      linearConfiguration: { stepPercent: 50, stepBakeTimeInMinutes: 1 }
    })
    const run = await deploy(standin, { 'wait-for-minutes': '2' })
    expect(run.outputs.status).toBe('succeeded')
    expect(run.stdout).toContain('PRE_PRODUCTION_TRAFFIC_SHIFT')
    expect(run.stdout).toContain('production traffic 50 % on the new revision')
  })
})

describe('ecs-deploy at its deadline on a deployment ECS still moves along', () => {
  it('stops watching a healthy deployment, naming it and its stage, and leaves it to ECS to finish', async () => {
    // Each stage takes 1.5 s: the 12 s wait runs out in a healthy traffic shift or clean-up.
    const standin = await world({ strategy: 'BLUE_GREEN', stageMs: 1_500, bakeTimeInMinutes: 0 })
    const run = await deploy(standin, { 'wait-for-minutes': '0.2' })
    expect({ exit: run.exitCode, status: run.outputs.status }).toEqual({
      exit: 1,
      status: 'unknown'
    })
    const arn = run.outputs['service-deployment-arn']!
    const error = run.stdout.split('\n').find(l => l.startsWith('::error::'))
    expect(error).toContain(`stopped watching`)
    expect(error).toContain(arn)
    expect(error).toMatch(/at stage [A-Z_]+/)
    expect(applied(standin, 'StopServiceDeployment')).toBe(0)
    expect(applied(standin, 'UpdateService')).toBe(1)
    // ECS goes on to finish it.
    const deadline = Date.now() + 30_000
    while (
      standin.service('payments', 'api').deployments[0]!.rolloutState !== 'COMPLETED' &&
      Date.now() < deadline
    )
      await new Promise(resolve => setTimeout(resolve, 100))
    expect(standin.service('payments', 'api').deployments[0]).toMatchObject({
      taskDefinition: run.outputs['task-definition-arn'],
      rolloutState: 'COMPLETED'
    })
  })
})
