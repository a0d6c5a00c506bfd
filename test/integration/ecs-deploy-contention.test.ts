/**
 * The ecs-deploy bundle when the world is not tidy: two deploys racing on one service, a
 * change from elsewhere (another pipeline, the console, Terraform) in the middle of ours, a
 * rollout already in flight when the step starts, an on-call engineer rolling back twice.
 * Each test asserts the exit code, the status, the revision the service ends on, and how many
 * RegisterTaskDefinition and UpdateService calls were made.
 */
import { ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs'
import {
  startEcsStandin,
  type AddServiceSpec,
  type EcsStandin
} from '../../tools/ecs-standin/server.js'
import { runBundle, type BundleRun } from '../support/bundle.js'

const POLL_SECONDS = 0.2
let standin: EcsStandin

beforeEach(async () => {
  standin = await startEcsStandin({ tickMs: 50 })
  // Slow images take 3 s to start: a rollout of one is still in flight 1.5 s later.
  standin.setImageBehaviour(/slow/, { outcome: 'healthy', startDelayMs: 3_000 })
  standin.setImageBehaviour(/bad/, {
    outcome: 'crash',
    afterMs: 150,
    exitCode: 3,
    reason: 'Error: DATABASE_URL is not set'
  })
})
afterEach(async () => {
  await standin.close()
})

/** A steady service `api` on api:1 (local/api:v1), unless the spec says otherwise. */
function addService(options: Partial<AddServiceSpec> = {}, image = 'local/api:v1') {
  standin.addCluster('payments')
  const taskDefinition = standin.registerTaskDefinition({
    family: 'api',
    containerDefinitions: [{ name: 'api', image, essential: true }]
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

const deploy = (inputs: Record<string, string>): Promise<BundleRun> =>
  runBundle('ecs-deploy', {
    inputs: {
      cluster: 'payments',
      service: 'api',
      'poll-interval-seconds': String(POLL_SECONDS),
      'wait-for-minutes': '0.5',
      ...inputs
    },
    env: {
      AWS_ENDPOINT_URL_ECS: standin.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test'
    }
  })

const calls = (operation: string) =>
  standin.calls.filter(c => c.operation === operation && c.status === 200).length
const primary = () =>
  standin.service('payments', 'api').deployments.find(d => d.status === 'PRIMARY')!
const errorLines = (run: BundleRun) => run.stdout.split('\n').filter(l => l.startsWith('::error::'))
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** Waits until `count` UpdateService calls have landed: a deploy started is then in flight. */
async function updated(count: number) {
  const until = Date.now() + 10_000
  while (calls('UpdateService') < count && Date.now() < until) await sleep(20)
}

/** Waits until the service's primary deployment is COMPLETED (or the time is up). */
async function settled(ms = 10_000) {
  const until = Date.now() + ms
  while (primary().rolloutState !== 'COMPLETED' && Date.now() < until) await sleep(50)
  return primary()
}

/** A change made outside this action: another revision, rolled out by UpdateService. */
async function updateFromElsewhere(image: string): Promise<string> {
  const taskDefinition = standin.registerTaskDefinition({
    family: 'api',
    containerDefinitions: [{ name: 'api', image, essential: true }]
  })
  const ecs = new ECSClient({
    endpoint: standin.endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' }
  })
  await ecs.send(new UpdateServiceCommand({ cluster: 'payments', service: 'api', taskDefinition }))
  return taskDefinition
}

describe.each([
  ['with the circuit breaker rolling back', { enable: true, rollback: true }],
  ['with the circuit breaker stopping only', { enable: true, rollback: false }],
  ['without a circuit breaker', { enable: false, rollback: false }]
])('racing deploys %s', (_, circuitBreaker) => {
  it('a second deploy waits for the first to settle; both succeed, the second one last', async () => {
    addService({ circuitBreaker })
    const first = deploy({ image: 'local/api:v2-slow' })
    await updated(1)
    const second = await deploy({ image: 'local/api:v3' })
    const a = await first
    expect([a.exitCode, a.outputs.status]).toEqual([0, 'succeeded'])
    expect([second.exitCode, second.outputs.status]).toEqual([0, 'succeeded'])
    expect(second.stdout).toMatch(/is still rolling out; waiting for it to settle/)
    expect(a.outputs['task-definition-arn']).toMatch(/api:2$/)
    expect(second.outputs['task-definition-arn']).toMatch(/api:3$/)
    expect(second.outputs['previous-task-definition-arn']).toBe(a.outputs['task-definition-arn'])
    expect(primary()).toMatchObject({
      taskDefinition: second.outputs['task-definition-arn'],
      rolloutState: 'COMPLETED'
    })
    expect(calls('RegisterTaskDefinition')).toBe(2)
    expect(calls('UpdateService')).toBe(2)
  })

  it('a change from elsewhere supersedes ours: the step fails, naming it, and never touches the service again', async () => {
    addService({ circuitBreaker })
    const ours = deploy({ image: 'local/api:v2-slow' })
    await updated(1)
    const theirs = await updateFromElsewhere('local/api:v3')
    const run = await ours
    expect([run.exitCode, run.outputs.status]).toEqual([1, 'superseded'])
    const [last] = errorLines(run).slice(-1)
    expect(last).toMatch(
      new RegExp(
        `superseded: deployment ecs-svc/\\d+ \\(api:3\\) replaced deployment ${run.outputs['deployment-id']}`
      )
    )
    expect(run.summary).toContain('| Status | superseded |')
    // Their change stands: the service finishes rolling it out, and ours made one update only.
    expect(await settled()).toMatchObject({ taskDefinition: theirs, rolloutState: 'COMPLETED' })
    expect(calls('UpdateService')).toBe(2)
    expect(calls('RegisterTaskDefinition')).toBe(1)
  })
})

describe('where the step starts from', () => {
  it('a rollout in flight when the step starts is waited for, and becomes the baseline', async () => {
    addService()
    const theirs = await updateFromElsewhere('local/api:v2-slow')
    const run = await deploy({ image: 'local/api:bad' })
    expect(run.stdout).toMatch(/\(api:2\) is still rolling out; waiting for it to settle/)
    // The revision the step returns to is the one that proved itself, not the one it found.
    expect(run.outputs['previous-task-definition-arn']).toBe(theirs)
    expect([run.exitCode, run.outputs.status]).toEqual([1, 'rolled-back'])
    expect(primary()).toMatchObject({ taskDefinition: theirs, rolloutState: 'COMPLETED' })
    expect(calls('UpdateService')).toBe(2)
  })

  it('a rollout that does not settle in time is refused, with nothing registered or changed', async () => {
    addService()
    standin.setImageBehaviour(/:stuck/, { outcome: 'healthy', startDelayMs: 60_000 })
    await updateFromElsewhere('local/api:stuck')
    const run = await deploy({ image: 'local/api:v3', 'wait-for-minutes': '0.03' })
    expect([run.exitCode, run.outputs.status]).toEqual([1, 'refused'])
    expect(errorLines(run).at(-1)).toMatch(
      /did not settle: deployment ecs-svc\/\d+ \(api:2\) was still rolling out at the deadline\. Nothing was changed/
    )
    expect(calls('RegisterTaskDefinition')).toBe(0)
    expect(calls('UpdateService')).toBe(1)
  })

  it('a failed rollout found at the start is not taken for the baseline', async () => {
    addService({ circuitBreaker: { enable: true, rollback: false } })
    await updateFromElsewhere('local/api:bad-theirs')
    // Theirs fails and stays (no rollback): the proven revision is still api:1.
    const until = Date.now() + 10_000
    while (primary().rolloutState !== 'FAILED' && Date.now() < until) await sleep(50)
    const run = await deploy({ image: 'local/api:bad' })
    expect(run.outputs['previous-task-definition-arn']).toMatch(/api:1$/)
    expect([run.exitCode, run.outputs.status]).toEqual([1, 'rolled-back'])
    expect(await settled()).toMatchObject({
      taskDefinition: run.outputs['previous-task-definition-arn']
    })
  })

  it('on a first deploy there is nothing to roll back to: the step fails at once instead of waiting', async () => {
    // Created on an image that never started: no deployment ever completed.
    addService({ initialRollout: 'in-progress' }, 'local/api:bad-first')
    const until = Date.now() + 10_000
    while (primary().rolloutState !== 'FAILED' && Date.now() < until) await sleep(50)
    const run = await deploy({ image: 'local/api:bad', 'wait-for-minutes': '0.5' })
    expect([run.exitCode, run.outputs.status]).toEqual([1, 'failed'])
    expect(run.outputs['previous-task-definition-arn']).toBe('')
    expect(errorLines(run).at(-1)).toContain(
      'no rollback: the service had no proven revision to return to'
    )
    expect(run.durationMs).toBeLessThan(10_000)
  })

  it('a service deployed by CodeDeploy is refused before anything is registered, naming the way to ECS blue/green', async () => {
    addService({ deploymentController: 'CODE_DEPLOY' })
    const run = await deploy({ image: 'local/api:v2' })
    expect([run.exitCode, run.outputs.status]).toEqual([1, 'refused'])
    expect(errorLines(run).at(-1)).toMatch(
      /uses the CODE_DEPLOY deployment controller.*Nothing was registered or changed.*strategy BLUE_GREEN/
    )
    expect(calls('RegisterTaskDefinition')).toBe(0)
    expect(calls('UpdateService')).toBe(0)
  })

  it('prints only the events of this rollout, none of the deployment before it', async () => {
    addService()
    const before = standin.service('payments', 'api').deployments[0]!.id
    const run = await deploy({ image: 'local/api:v2' })
    expect(run.exitCode).toBe(0)
    const events = run.stdout.split('\n').filter(l => l.startsWith('  event'))
    expect(events.length).toBeGreaterThan(0)
    expect(events.filter(e => e.includes(before))).toEqual([])
    expect(events.filter(e => e.includes('has reached a steady state'))).toHaveLength(1)
  })
})

describe('rolling back, and rolling back again', () => {
  it('v1 → v2 → v3 → rollback (as the smoke gate does) → rollback previous: back on v1, v3 never returns', async () => {
    addService()
    const v2 = await deploy({ image: 'local/api:v2' })
    const v3 = await deploy({ image: 'local/api:v3' })
    expect([v2.outputs.status, v3.outputs.status]).toEqual(['succeeded', 'succeeded'])
    // deploy.yml rolls back to its own deploy step's previous revision when the gate fails.
    const gate = await deploy({ 'rollback-to': v3.outputs['previous-task-definition-arn']! })
    expect([gate.exitCode, gate.outputs.status]).toEqual([0, 'succeeded'])
    expect(primary().taskDefinition).toBe(v2.outputs['task-definition-arn'])
    expect(gate.stdout).toContain('Tagged api:3 noblepay:rolled-back')
    // The on-call engineer rolls back once more: v2 is current, v3 was rolled back from.
    const again = await deploy({ 'rollback-to': 'previous' })
    expect([again.exitCode, again.outputs.status]).toEqual([0, 'succeeded'])
    expect(again.outputs['task-definition-arn']).toMatch(/api:1$/)
    expect(again.stdout).toMatch(
      /Rolling back to api:1: the last revision proven healthy before the current api:2/
    )
    expect(await settled()).toMatchObject({ taskDefinition: again.outputs['task-definition-arn'] })
    expect(calls('RegisterTaskDefinition')).toBe(2)
    expect(calls('UpdateService')).toBe(4)
  })

  it('rollback-to previous twice walks back v3 → v2 → v1', async () => {
    addService()
    await deploy({ image: 'local/api:v2' })
    await deploy({ image: 'local/api:v3' })
    const first = await deploy({ 'rollback-to': 'previous' })
    expect(first.outputs['task-definition-arn']).toMatch(/api:2$/)
    const second = await deploy({ 'rollback-to': 'previous' })
    expect([second.exitCode, second.outputs.status]).toEqual([0, 'succeeded'])
    expect(second.outputs['task-definition-arn']).toMatch(/api:1$/)
    expect(primary().taskDefinition).toMatch(/api:1$/)
  })

  it('a revision ECS rolled back from is never previous', async () => {
    addService()
    await deploy({ image: 'local/api:v2' })
    const bad = await deploy({ image: 'local/api:bad' })
    expect(bad.outputs.status).toBe('rolled-back')
    const run = await deploy({ 'rollback-to': 'previous' })
    expect(run.outputs['task-definition-arn']).toMatch(/api:1$/)
  })

  it('when the deployment history cannot be read, rollback-to previous fails with the reason and changes nothing', async () => {
    addService({ serviceDeploymentsApi: false })
    await deploy({ image: 'local/api:v2' })
    const run = await deploy({ 'rollback-to': 'previous' })
    expect([run.exitCode, run.outputs.status]).toEqual([1, 'failed'])
    expect(errorLines(run).at(-1)).toMatch(
      /Cannot tell which revision 'previous' is: .*AccessDeniedException.*Nothing was changed/
    )
    expect(calls('UpdateService')).toBe(1)
    expect(primary().taskDefinition).toMatch(/api:2$/)
  })
})
