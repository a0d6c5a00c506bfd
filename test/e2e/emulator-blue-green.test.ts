/**
 * The Docker emulator's load balancer for ECS's own blue/green, linear and canary services:
 * two target groups (the source revision's containers and the target's), production traffic
 * moving between them as the lifecycle stages pass, test traffic on a second listener, and a
 * ROLLBACK stop sending production back to the previous containers at once.
 * Needs `bash tools/docker-up.sh` (run as root; the tests run it when they can).
 */
import {
  ListServiceDeploymentsCommand,
  DescribeServiceDeploymentsCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  StopServiceDeploymentCommand,
  UpdateServiceCommand,
  type ServiceDeployment
} from '@aws-sdk/client-ecs'
import { READ_ONLY_TASK_DEFINITION_FIELDS } from '../../actions/ecs-deploy/task-definition.js'
import { startEmulator, type Emulator, type ServiceSpec } from '../../tools/emulator.js'
import { ensureDocker } from '../support/emulator.js'

let emulator: Emulator
let ecs: ECSClient

/** A busybox httpd whose /version is the VERSION variable. */
const SERVE_VERSION = [
  'sh',
  '-c',
  'mkdir -p /www && echo "$VERSION" > /www/version && exec httpd -f -p 8080 -h /www'
]

beforeAll(async () => {
  await ensureDocker()
  emulator = await startEmulator({ tickMs: 100, pollMs: 200, handleSignals: false })
  ecs = new ECSClient({
    region: emulator.env.AWS_REGION,
    endpoint: emulator.env.AWS_ENDPOINT_URL_ECS,
    credentials: { accessKeyId: 'emulator', secretAccessKey: 'emulator' },
    maxAttempts: 1
  })
}, 120_000)

afterAll(async () => {
  await emulator?.close()
})

async function service(name: string, deployment: ServiceSpec['deployment']) {
  const { taskDefinitionArn } = await emulator.createService({
    name,
    image: 'local/busybox:1',
    command: SERVE_VERSION,
    environment: { VERSION: 'v1' },
    containerPort: 8080,
    desiredCount: 1,
    deployment: { stageMs: 300, ...deployment }
  })
  const balancer = await emulator.loadBalancer(name, 8080)
  return { v1: taskDefinitionArn, balancer }
}

/** Registers v2 (VERSION=v2) from v1 and starts its deployment; its service deployment ARN. */
async function deployV2(name: string, v1: string): Promise<{ v2: string; arn: string }> {
  const { taskDefinition } = await ecs.send(
    new DescribeTaskDefinitionCommand({ taskDefinition: v1 })
  )
  const body: Record<string, unknown> = { ...taskDefinition }
  for (const field of READ_ONLY_TASK_DEFINITION_FIELDS) delete body[field]
  const containers = taskDefinition!.containerDefinitions!.map(c => ({
    ...c,
    environment: [{ name: 'VERSION', value: 'v2' }]
  }))
  const registered = await ecs.send(
    new RegisterTaskDefinitionCommand({
      ...(body as object),
      family: name,
      containerDefinitions: containers
    })
  )
  const v2 = registered.taskDefinition!.taskDefinitionArn!
  await ecs.send(new UpdateServiceCommand({ cluster: 'local', service: name, taskDefinition: v2 }))
  // The reply's currentServiceDeployment may still name the previous one: the newest listed is ours.
  const listed = await ecs.send(
    new ListServiceDeploymentsCommand({ cluster: 'local', service: name })
  )
  return { v2, arn: listed.serviceDeployments![0]!.serviceDeploymentArn! }
}

async function version(url: string): Promise<string> {
  const response = await fetch(`${url}/version`, { signal: AbortSignal.timeout(5000) })
  return response.ok ? (await response.text()).trim() : `HTTP ${response.status}`
}

async function describe1(arn: string): Promise<ServiceDeployment> {
  const out = await ecs.send(
    new DescribeServiceDeploymentsCommand({ serviceDeploymentArns: [arn] })
  )
  return out.serviceDeployments![0]!
}

async function until(arn: string, done: (sd: ServiceDeployment) => boolean, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const sd = await describe1(arn)
    if (done(sd)) return sd
    if (Date.now() > deadline) throw new Error(`not reached: ${sd.status} ${sd.lifecycleStage}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

it('BLUE_GREEN: test traffic reaches green first, production follows, and a ROLLBACK stop puts the previous containers back at once', async () => {
  const { v1, balancer } = await service('bg', {
    strategy: 'BLUE_GREEN',
    bakeTimeInMinutes: 10,
    minuteMs: 60_000
  })
  expect(await version(balancer.url)).toBe('v1')
  const { v2, arn } = await deployV2('bg', v1)

  await until(arn, sd => sd.lifecycleStage === 'POST_TEST_TRAFFIC_SHIFT')
  expect(await version(balancer.testUrl)).toBe('v2')
  expect(await version(balancer.url)).toBe('v1')

  await until(arn, sd => sd.lifecycleStage === 'BAKE_TIME')
  expect(await version(balancer.url)).toBe('v2')
  const blueContainers = emulator.ecs
    .tasks('local', 'bg')
    .filter(t => t.taskDefinitionArn === v1 && t.lastStatus === 'RUNNING')
  expect(blueContainers).toHaveLength(1)

  // The smoke gate failed here.
  const requestedAt = Date.now()
  await ecs.send(
    new StopServiceDeploymentCommand({ serviceDeploymentArn: arn, stopType: 'ROLLBACK' })
  )
  expect(await version(balancer.url)).toBe('v1')
  const answeredAt = balancer.firstAnswer(v1, requestedAt)!
  expect(answeredAt - requestedAt).toBeLessThan(1000)
  // No request after the stop reached the new revision.
  expect(balancer.requests.filter(r => r.at >= requestedAt && r.taskDefinitionArn === v2)).toEqual(
    []
  )

  const last = await until(arn, sd => sd.status === 'ROLLBACK_SUCCESSFUL')
  expect(last.rollback?.reason).toBe('Service deployment rolled back by StopServiceDeployment.')
  // The same container that served before the deploy serves after it.
  const running = emulator.ecs.tasks('local', 'bg').filter(t => t.lastStatus === 'RUNNING')
  expect(running.map(t => t.taskArn)).toEqual(blueContainers.map(t => t.taskArn))
  expect(emulator.runtime.isUp(blueContainers[0]!.taskArn)).toBe(true)
  expect(await version(balancer.testUrl)).toBe('v1')
}, 150_000)

it('CANARY: production traffic is split by the canary percent between the two target groups', async () => {
  const { v1, balancer } = await service('canary', {
    strategy: 'CANARY',
    canaryConfiguration: { canaryPercent: 50, canaryBakeTimeInMinutes: 10 },
    minuteMs: 60_000
  })
  const { v2, arn } = await deployV2('canary', v1)
  await until(arn, sd => sd.targetServiceRevision?.requestedProductionTrafficWeight === 50)
  const answers = []
  for (let i = 0; i < 40; i++) answers.push(await version(balancer.url))
  const v2Share = answers.filter(a => a === 'v2').length / answers.length
  expect(answers.filter(a => a !== 'v1' && a !== 'v2')).toEqual([])
  // 40 draws at 50 %: outside 15 %–85 % happens about once in 10 000 runs.
  expect(v2Share).toBeGreaterThan(0.15)
  expect(v2Share).toBeLessThan(0.85)
  const since = Date.now() - 60_000
  expect(balancer.firstAnswer(v2, since)).toBeDefined()
  expect(balancer.firstAnswer(v1, since)).toBeDefined()
}, 150_000)
