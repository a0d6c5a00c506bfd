/**
 * The ecs-deploy bundle, run as the runner runs it, through a proxy that breaks ECS calls the
 * ways a network and AWS break them. Whatever breaks, a deploy tells the truth: the status
 * matches what the service runs, and each change is made once per intent.
 */
import { startEcsStandin, type EcsStandin } from '../../tools/ecs-standin/server.js'
import { runBundle, type BundleRun } from '../support/bundle.js'
import { startFaultProxy, type FaultProxy, type FaultRule } from '../support/fault-proxy.js'

const POLL_SECONDS = 0.2

interface World {
  standin: EcsStandin
  proxy: FaultProxy
}

const worlds: World[] = []
afterAll(async () => {
  await Promise.all(worlds.map(w => Promise.all([w.proxy.close(), w.standin.close()])))
})

/**
 * A steady service on api:1 behind a fault proxy; `bad` images crash `crashAfterMs` after
 * they start, so the circuit breaker trips about 2 × that after the update.
 */
async function world(crashAfterMs = 150): Promise<World> {
  const standin = await startEcsStandin({ tickMs: 50 })
  const proxy = await startFaultProxy(standin.endpoint)
  worlds.push({ standin, proxy })
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
    circuitBreaker: { enable: true, rollback: true }
  })
  standin.setImageBehaviour('local/api:bad', {
    outcome: 'crash',
    afterMs: crashAfterMs,
    exitCode: 3,
    reason: 'Error: DATABASE_URL is not set'
  })
  return { standin, proxy }
}

function deploy(w: World, image: string, inputs: Record<string, string> = {}): Promise<BundleRun> {
  return runBundle('ecs-deploy', {
    inputs: {
      cluster: 'payments',
      service: 'api',
      image,
      'poll-interval-seconds': String(POLL_SECONDS),
      'wait-for-minutes': '0.5',
      ...inputs
    },
    env: {
      AWS_ENDPOINT_URL_ECS: w.proxy.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test'
    }
  })
}

/** Calls the service behind the proxy carried out. */
const applied = (w: World, operation: string) =>
  w.standin.calls.filter(c => c.operation === operation && c.status === 200).length
const primaryOf = (w: World) =>
  w.standin.service('payments', 'api').deployments.find(d => d.status === 'PRIMARY')!

const faults: Array<[string, Omit<FaultRule, 'operation'>]> = [
  ['a 5xx', { mode: 'server-error' }],
  ['a 5xx outage shorter than the deadline', { mode: 'server-error', forMs: 1500 }],
  ['a burst of throttling', { mode: 'throttle', count: 6 }],
  ['a throttling outage shorter than the deadline', { mode: 'throttle', forMs: 1500 }],
  ['a reset before the call takes effect', { mode: 'reset-before' }],
  ['a reset after the call takes effect', { mode: 'reset-after' }],
  ["a proxy's 502 after the call takes effect", { mode: 'server-error-after' }],
  ['a garbled reply', { mode: 'garble' }],
  ['a reply that never comes', { mode: 'hang-after' }],
  ['a call that never arrives', { mode: 'hang-before' }]
]

// DescribeServices is broken mid-rollout (after the first look and the first poll).
const skipFor = (operation: string) => (operation === 'DescribeServices' ? 2 : 0)

const okCases = ['DescribeServices', 'RegisterTaskDefinition', 'UpdateService'].flatMap(operation =>
  faults.map(([name, rule]) => [operation, name, rule] as const)
)
// ListTasks is called only when tasks fail, so only the failing rollout meets it.
const failingCases = [
  'DescribeServices',
  'RegisterTaskDefinition',
  'UpdateService',
  'ListTasks'
].flatMap(operation => faults.map(([name, rule]) => [operation, name, rule] as const))

describe('ecs-deploy under faults: a rollout that succeeds', () => {
  it.concurrent.each(okCases)(
    '%s meets %s: succeeded on the new revision, registered and updated once',
    async (operation, _name, rule) => {
      const w = await world()
      w.proxy.inject({ operation, skip: skipFor(operation), ...rule })
      const run = await deploy(w, 'local/api:v2')
      const broken = w.proxy.calls.filter(c => c.operation === operation && c.fault)
      expect(broken.length).toBeGreaterThan(0)
      expect({ exit: run.exitCode, status: run.outputs.status, stderr: run.stderr }).toEqual({
        exit: 0,
        status: 'succeeded',
        stderr: ''
      })
      expect(primaryOf(w)).toMatchObject({
        taskDefinition: run.outputs['task-definition-arn'],
        rolloutState: 'COMPLETED'
      })
      expect(run.outputs['task-definition-arn']).toMatch(/api:2$/)
      expect(applied(w, 'RegisterTaskDefinition')).toBe(1)
      expect(applied(w, 'UpdateService')).toBe(1)
      expect(run.summary).toContain('| Status | succeeded |')
    }
  )
})

describe('ecs-deploy under faults: a rollout the circuit breaker rolls back', () => {
  it.concurrent.each(failingCases)(
    '%s meets %s: rolled-back on the previous revision, registered and updated once',
    async (operation, _name, rule) => {
      // A lost UpdateService reply is read back after one attempt's limit (2 s here): the
      // rollout must still be ours to see then, not already rolled back by ECS.
      const w = await world(operation === 'UpdateService' ? 1_500 : 150)
      w.proxy.inject({ operation, skip: skipFor(operation), ...rule })
      const run = await deploy(w, 'local/api:bad')
      expect(w.proxy.calls.some(c => c.operation === operation && c.fault)).toBe(true)
      expect({ exit: run.exitCode, status: run.outputs.status }).toEqual({
        exit: 1,
        status: 'rolled-back'
      })
      expect(primaryOf(w)).toMatchObject({
        taskDefinition: run.outputs['previous-task-definition-arn'],
        rolloutState: 'COMPLETED'
      })
      expect(run.outputs['previous-task-definition-arn']).toMatch(/api:1$/)
      expect(applied(w, 'RegisterTaskDefinition')).toBe(1)
      expect(applied(w, 'UpdateService')).toBe(1)
      const errors = run.stdout.split('\n').filter(l => l.startsWith('::error::'))
      // Said as ECS said it, or (when the look that would have seen FAILED was lost) as what
      // the next look showed: the breaker's rollback in its place.
      expect(errors[0]).toMatch(
        /ECS deployment circuit breaker: tasks failed to start|the deployment circuit breaker replaced it/
      )
      // However the lookup fared, the end names why the tasks stopped.
      expect(errors.at(-1)).toContain('container api exit code 3 (Error: DATABASE_URL is not set)')
    }
  )
})

describe('ecs-deploy under faults: what the step says about them', () => {
  it('a stopped-task lookup that is denied is named as such, and the rest of the report stands', async () => {
    const w = await world()
    w.proxy.inject({ operation: 'ListTasks', mode: 'deny', count: 1000 })
    const run = await deploy(w, 'local/api:bad')
    expect(run.outputs.status).toBe('rolled-back')
    const errors = run.stdout.split('\n').filter(l => l.startsWith('::error::'))
    expect(errors[0]).toMatch(
      /circuit breaker: tasks failed to start\. (Why its tasks stopped (could not be read: .*AccessDeniedException|is being looked up))/
    )
    expect(run.stdout).not.toContain('No stopped tasks were recorded')
    expect(run.stdout).toMatch(
      /::warning::Could not read why the tasks of ecs-svc\/\d+ stopped: .*AccessDeniedException/
    )
    expect(run.summary).toMatch(/Why its tasks stopped could not be read: .*AccessDeniedException/)
  })

  it('the first error does not wait for a stopped-task lookup that hangs', async () => {
    const w = await world()
    w.proxy.inject({ operation: 'ListTasks', mode: 'hang-before', forMs: 60_000 })
    const run = await deploy(w, 'local/api:bad')
    const deploymentId = run.outputs['deployment-id']
    const failedAt = w.standin.failedAt(deploymentId)!
    expect(failedAt).toBeDefined()
    const errorAt = run.lineTimes.find(l => l.line.startsWith('::error::'))!.at + run.startedAt
    expect(errorAt - failedAt).toBeLessThan(POLL_SECONDS * 1000 + 400)
    expect(run.outputs.status).toBe('rolled-back')
  })

  it('an outage longer than the deadline ends unknown, saying what it last saw', async () => {
    const w = await world()
    w.proxy.inject({ operation: 'DescribeServices', mode: 'server-error', skip: 2, forMs: 60_000 })
    const run = await deploy(w, 'local/api:v2', { 'wait-for-minutes': '0.05' })
    expect(run.exitCode).toBe(1)
    expect(run.outputs.status).toBe('unknown')
    const last = run.stdout
      .split('\n')
      .filter(l => l.startsWith('::error::'))
      .at(-1)
    expect(last).toMatch(/the outcome is unknown, because the service could not be read/)
    expect(last).toMatch(/It last saw deployment ecs-svc\/\d+ \(api:2\) IN_PROGRESS/)
    // The step ended within the deadline (3 s) and one attempt's limit.
    expect(run.durationMs).toBeLessThan(3_000 + 2_000 + 1_500)
    expect(applied(w, 'UpdateService')).toBe(1)
  })
})
