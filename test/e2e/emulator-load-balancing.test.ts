/**
 * The emulator's load balancer behind the ELB stand-in's target group (real containers, real
 * HTTP health checks): during a rolling update no request reaches a new task before its target
 * is healthy, and none reaches an old one once its target drains. One AWS second is 20 ms.
 */
import { ECSClient, RegisterTaskDefinitionCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs'
import { startEmulator, type Emulator, type LoadBalancer } from '../../tools/emulator.js'
import { BASE_IMAGE, ensureDocker } from '../support/emulator.js'

let emulator: Emulator

beforeAll(async () => {
  await ensureDocker()
  emulator = await startEmulator({ handleSignals: false, elbSecondMs: 20, tickMs: 100 })
}, 120_000)
afterAll(async () => {
  await emulator?.close()
})

/** A Node server: /health answers 503 for `warmupMs` after start, then 200; / names its version. */
const server = (version: string, warmupMs: number) => [
  'node',
  '-e',
  `const s=Date.now();require('http').createServer((q,r)=>{if(q.url==='/health'){r.writeHead(Date.now()-s<${warmupMs}?503:200);return r.end()}r.end('${version}')}).listen(8080)`
]

it('routes only to healthy targets: none to a new task before, none to an old one while it drains', async () => {
  const { taskDefinitionArn } = await emulator.createService({
    name: 'lb',
    image: BASE_IMAGE,
    containerPort: 8080,
    desiredCount: 1,
    command: server('v1', 0),
    targetGroup: {
      healthCheckIntervalSeconds: 10,
      unhealthyThresholdCount: 5,
      deregistrationDelaySeconds: 100
    }
  })
  const arn = emulator.ecs.service('local', 'lb').loadBalancers[0]!.targetGroupArn
  const changes: Array<{ at: number; id: string; to: string }> = []
  emulator.elb.model.onTargetChange((_g, target, _from, to) =>
    changes.push({ at: Date.now(), id: target.id, to })
  )
  const balancer: LoadBalancer = await emulator.loadBalancer('lb', 8080)
  // The steady task's target passes its first real check.
  const deadline = Date.now() + 30_000
  while (emulator.elb.model.routable(arn).length < 1 && Date.now() < deadline)
    await new Promise(resolve => setTimeout(resolve, 100))
  expect(emulator.elb.model.routable(arn)).toHaveLength(1)

  const client = new ECSClient({
    region: emulator.env.AWS_REGION,
    endpoint: emulator.env.AWS_ENDPOINT_URL_ECS,
    credentials: { accessKeyId: 'e', secretAccessKey: 'e' }
  })
  const registered = await client.send(
    new RegisterTaskDefinitionCommand({
      family: 'lb',
      networkMode: 'awsvpc',
      containerDefinitions: [
        {
          name: 'lb',
          image: BASE_IMAGE,
          essential: true,
          command: server('v2', 300),
          portMappings: [{ containerPort: 8080 }]
        }
      ]
    })
  )
  const next = registered.taskDefinition!.taskDefinitionArn!
  const oldTask = emulator.ecs
    .tasks('local', 'lb')
    .find(t => t.taskDefinitionArn === taskDefinitionArn && t.lastStatus === 'RUNNING')!.taskArn
  await client.send(
    new UpdateServiceCommand({ cluster: 'local', service: 'lb', taskDefinition: next })
  )

  // Requests all along, until the old task has stopped.
  const until = Date.now() + 60_000
  const stopped = () =>
    emulator.ecs.tasks('local', 'lb').find(t => t.taskArn === oldTask)?.lastStatus === 'STOPPED'
  while (!stopped() && Date.now() < until) {
    await fetch(balancer.url).then(
      r => r.text(),
      () => ''
    )
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  expect(stopped()).toBe(true)
  client.destroy()

  const answered = (revision: string) =>
    balancer.requests.filter(r => r.taskDefinitionArn === revision && r.status === 200)
  const ipOf = (taskArn: string) => {
    const task = emulator.ecs.tasks('local', 'lb').find(t => t.taskArn === taskArn) as unknown as {
      attachments: Array<{ details: Array<{ name: string; value: string }> }>
    }
    return task.attachments[0]!.details.find(d => d.name === 'privateIPv4Address')!.value
  }
  const fresh = answered(next)
  const old = answered(taskDefinitionArn)
  expect(fresh.length).toBeGreaterThan(0)
  const healthyAt = changes.find(c => c.id === ipOf(fresh[0]!.taskArn) && c.to === 'healthy')!.at
  const drainingAt = changes.find(c => c.id === ipOf(oldTask) && c.to === 'draining')!.at
  // The new task warmed up (503 on /health at its first check): no request reached it before it passed.
  expect(fresh.every(r => r.at >= healthyAt)).toBe(true)
  expect(old.every(r => r.at <= drainingAt)).toBe(true)
  // Draining lasted the deregistration delay (100 s = 2 s) while the old container still ran.
  const unusedAt = changes.find(c => c.id === ipOf(oldTask) && c.to === 'unused')!.at
  expect(unusedAt - drainingAt).toBeGreaterThanOrEqual(1900)
}, 180_000)
