/**
 * The built ecs-deploy bundle, run as the runner runs it, against the ECS stand-in playing
 * rollouts over time through the real JSON 1.1 protocol.
 */
import { DescribeTaskDefinitionCommand, ECSClient } from '@aws-sdk/client-ecs'
import { startEcsStandin, type EcsStandin } from '../../tools/ecs-standin/server.js'
import { runBundle } from '../support/bundle.js'

const POLL_SECONDS = 0.2
let standin: EcsStandin

const awsEnv = () => ({
  AWS_ENDPOINT_URL_ECS: standin.endpoint,
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test'
})

/** A steady service `api` on revision 1 of family `api`, image local/api:v1. */
function addService(options: Partial<Parameters<EcsStandin['addService']>[0]> = {}) {
  standin.addCluster('payments')
  const taskDefinition = standin.registerTaskDefinition({
    family: 'api',
    requiresCompatibilities: ['FARGATE'],
    networkMode: 'awsvpc',
    cpu: '256',
    memory: '512',
    containerDefinitions: [
      {
        name: 'api',
        image: 'local/api:v1',
        essential: true,
        portMappings: [{ containerPort: 3000 }]
      }
    ]
  })
  standin.addService({
    cluster: 'payments',
    name: 'api',
    taskDefinition,
    desiredCount: 2,
    circuitBreaker: { enable: true, rollback: true },
    ...options
  })
}

const deploy = (inputs: Record<string, string>) =>
  runBundle('ecs-deploy', {
    inputs: {
      cluster: 'payments',
      service: 'api',
      'poll-interval-seconds': String(POLL_SECONDS),
      'wait-for-minutes': '1',
      ...inputs
    },
    env: awsEnv()
  })

const callsOf = (operation: string) =>
  standin.calls.filter(c => c.operation === operation && c.status === 200)
const errorLines = (stdout: string) => stdout.split('\n').filter(l => l.startsWith('::error::'))
const primaryOf = () =>
  standin.service('payments', 'api').deployments.find(d => d.status === 'PRIMARY')!

beforeEach(async () => {
  standin = await startEcsStandin({ tickMs: 50 })
})
afterEach(async () => {
  await standin.close()
})

describe('ecs-deploy bundle against the ECS stand-in', () => {
  it('rolls a new image out and reports success, with a traceable revision', async () => {
    addService()
    const run = await deploy({ image: 'local/api:v2', 'environment-variables': 'RELEASE=v2' })
    expect(run.stderr).not.toMatch(/Error/)
    expect(run.exitCode).toBe(0)
    expect(run.outputs.status).toBe('succeeded')
    expect(run.outputs['task-definition-arn']).toMatch(/task-definition\/api:2$/)
    expect(run.outputs['previous-task-definition-arn']).toMatch(/task-definition\/api:1$/)
    expect(run.outputs['deployment-id']).toBe(primaryOf().id)
    expect(primaryOf()).toMatchObject({
      rolloutState: 'COMPLETED',
      runningCount: 2,
      taskDefinition: run.outputs['task-definition-arn']
    })
    // Progress lines while it rolled out: more than one poll, each with counts and state.
    const progress = run.stdout.split('\n').filter(l => /^\[\d+s\] \*ecs-svc\//.test(l))
    expect(progress.length).toBeGreaterThan(1)
    expect(progress[0]).toMatch(/IN_PROGRESS api:2: running \d\/2, pending \d, failed 0/)
    const ecs = new ECSClient({
      endpoint: standin.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 't', secretAccessKey: 't' }
    })
    const described = await ecs.send(
      new DescribeTaskDefinitionCommand({
        taskDefinition: run.outputs['task-definition-arn'],
        include: ['TAGS']
      })
    )
    expect(described.taskDefinition?.containerDefinitions?.[0]).toMatchObject({
      image: 'local/api:v2',
      environment: [{ name: 'RELEASE', value: 'v2' }]
    })
    expect(described.tags).toEqual(
      expect.arrayContaining([
        { key: 'noblepay:commit', value: 'abc123def456' },
        {
          key: 'noblepay:run',
          value: 'https://github.com/noblepay/api/actions/runs/4242/attempts/1'
        },
        { key: 'noblepay:image', value: 'local/api:v2' }
      ])
    )
    expect(run.summary).toContain('| Status | succeeded |')
  })

  it('reports crashing tasks within one poll of the circuit breaker, then waits for its rollback', async () => {
    addService()
    standin.setImageBehaviour('local/api:bad', {
      outcome: 'crash',
      afterMs: 150,
      exitCode: 3,
      reason: 'Error: DATABASE_URL is not set'
    })
    const run = await deploy({ image: 'local/api:bad' })
    expect(run.exitCode).toBe(1)
    expect(run.outputs.status).toBe('rolled-back')
    const [first, last] = errorLines(run.stdout)
    expect(first).toContain(`Deployment ${run.outputs['deployment-id']}`)
    expect(first).toContain('circuit breaker')
    expect(first).toContain('Essential container in task exited')
    expect(first).toContain('container api exit code 3 (Error: DATABASE_URL is not set)')
    expect(last).toContain('rolled back by the ECS deployment circuit breaker')
    // The tasks shared one cause: said once, with a count. The first line says what was known
    // when ECS marked the failure; the last, after the lookup, counts every task that failed.
    expect(first).toMatch(/Stopped \d+ tasks?: Essential container in task exited/)
    expect(last).toMatch(/stopped [3-9] tasks: Essential container in task exited/)
    // ECS's failure and rollback events, seen during the rollout, are not printed again
    // while the rollback is watched.
    const events = run.stdout.split('\n').filter(l => l.startsWith('  event'))
    expect(events.filter(e => e.includes('deployment failed: tasks failed to start'))).toHaveLength(
      1
    )
    expect(events.filter(e => e.includes('rolling back to deployment'))).toHaveLength(1)
    // The time between ECS marking it and our line, measured on the same clock.
    const failedAt = standin.failedAt(run.outputs['deployment-id'])!
    expect(failedAt).toBeDefined()
    const errorAt =
      run.lineTimes.find(l => l.line.startsWith('::error::'))!.at + (Date.now() - run.durationMs)
    expect(errorAt - failedAt).toBeLessThan(POLL_SECONDS * 1000 + 400)
    expect(primaryOf()).toMatchObject({
      rolloutState: 'COMPLETED',
      taskDefinition: run.outputs['previous-task-definition-arn']
    })
    expect(callsOf('UpdateService')).toHaveLength(1)
  })

  it('puts the previous revision back itself when the circuit breaker only stops the rollout', async () => {
    addService({ circuitBreaker: { enable: true, rollback: false } })
    standin.setImageBehaviour('local/api:bad', {
      outcome: 'crash',
      afterMs: 100,
      exitCode: 137,
      reason: 'OutOfMemoryError: Container killed due to memory usage'
    })
    const run = await deploy({ image: 'local/api:bad' })
    expect(run.exitCode).toBe(1)
    expect(run.outputs.status).toBe('rolled-back')
    expect(errorLines(run.stdout)[0]).toContain('exit code 137 (OutOfMemoryError')
    expect(callsOf('UpdateService')).toHaveLength(2)
    expect(primaryOf()).toMatchObject({
      rolloutState: 'COMPLETED',
      taskDefinition: run.outputs['previous-task-definition-arn']
    })
    expect(run.summary).toContain('rolled back to api:1 by this action')
  })

  it('succeeds on a service without rollout state once only our deployment runs', async () => {
    addService({ rolloutState: false })
    const run = await deploy({ image: 'local/api:v2' })
    expect(run.exitCode).toBe(0)
    expect(run.outputs.status).toBe('succeeded')
    const service = standin.service('payments', 'api')
    expect(service.deployments).toHaveLength(1)
    expect(service.deployments[0]).not.toHaveProperty('rolloutState')
  })

  it('rides out throttling and transient 5xx through the SDK retries', async () => {
    addService()
    standin.throttle(3, 'DescribeServices')
    standin.failNext(1, 'UpdateService')
    const run = await deploy({ image: 'local/api:v2' })
    expect(run.exitCode).toBe(0)
    expect(standin.calls.filter(c => c.error === 'ThrottlingException')).toHaveLength(3)
    expect(standin.calls.filter(c => c.error === 'ServerException')).toHaveLength(1)
    expect(callsOf('UpdateService')).toHaveLength(1)
  })

  it('times out a rollout that never settles and rolls back', async () => {
    addService({ circuitBreaker: { enable: false, rollback: false } })
    standin.setImageBehaviour('local/api:slow', { outcome: 'healthy', startDelayMs: 60_000 })
    const run = await deploy({ image: 'local/api:slow', 'wait-for-minutes': '0.02' })
    expect(run.exitCode).toBe(1)
    expect(errorLines(run.stdout)[0]).toContain(
      'timed out: the deployment did not complete within 1s'
    )
    expect(run.outputs.status).toBe('rolled-back')
    expect(primaryOf().taskDefinition).toBe(run.outputs['previous-task-definition-arn'])
  })

  it('leaves a healthy rolling deployment still draining its old tasks at the deadline to ECS: unknown, no rollback', async () => {
    // The old tasks take a minute to stop (a long deregistration delay); the new ones are up at once.
    await standin.close()
    standin = await startEcsStandin({ tickMs: 50, stopDelayMs: 60_000 })
    addService({ circuitBreaker: { enable: true, rollback: true } })
    const run = await deploy({ image: 'local/api:v2', 'wait-for-minutes': '0.03' })
    expect(run.outputs.status).toBe('unknown')
    expect(errorLines(run.stdout)[0]).toMatch(
      /the step stopped watching after .*: deployment ecs-svc\/\S+ is still in progress with all 2 new tasks running and none failed.*not rolled back/
    )
    expect(callsOf('UpdateService')).toHaveLength(1)
    expect(primaryOf().taskDefinition).toBe(run.outputs['task-definition-arn'])
  })

  it('rollback-to previous finds the last successful revision in the deployment history', async () => {
    addService()
    expect((await deploy({ image: 'local/api:v2' })).exitCode).toBe(0)
    const run = await deploy({ 'rollback-to': 'previous' })
    expect(run.exitCode).toBe(0)
    expect(run.outputs['task-definition-arn']).toMatch(/api:1$/)
    expect(run.stdout).toContain('from the service deployment history')
    expect(primaryOf()).toMatchObject({
      rolloutState: 'COMPLETED',
      taskDefinition: run.outputs['task-definition-arn']
    })
  })

  it('rollback-to a named revision', async () => {
    addService()
    expect((await deploy({ image: 'local/api:v2' })).exitCode).toBe(0)
    expect((await deploy({ image: 'local/api:v3' })).exitCode).toBe(0)
    const run = await deploy({ 'rollback-to': 'api:2' })
    expect(run.exitCode).toBe(0)
    expect(primaryOf().taskDefinition).toMatch(/api:2$/)
  })

  it.each([
    [
      { image: 'local/api:v2', 'container-name': 'web' },
      "Input 'container-name' is 'web': task definition api:1 has no such container; its containers are: api"
    ],
    [
      { image: 'local/api:v2', service: 'ledger' },
      "Service 'ledger' was not found in cluster 'payments'; its services are: api"
    ],
    [{ image: 'local/api:v2', cluster: 'nowhere' }, "Cluster 'nowhere' was not found"],
    [{ 'rollback-to': 'api:99' }, "Input 'rollback-to' is 'api:99': no such task definition"],
    [{ image: '' }, "Input 'image' is empty"]
  ])('bad input %j fails before anything is registered or updated', async (inputs, message) => {
    addService()
    const run = await deploy(inputs)
    expect(run.exitCode).toBe(1)
    expect(errorLines(run.stdout)).toEqual([
      `::error::${message}` + errorLines(run.stdout)[0].slice(`::error::${message}`.length)
    ])
    expect(callsOf('RegisterTaskDefinition')).toHaveLength(0)
    expect(callsOf('UpdateService')).toHaveLength(0)
  })
})
