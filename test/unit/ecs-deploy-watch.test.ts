/**
 * The watch of a rolling deployment (watch.ts): the polling loop with an injected clock, over
 * the real EcsGateway and AwsCaller with a mocked ECS client, so minutes of rollout play in
 * milliseconds. Each test is named for the behaviour it pins down.
 */
import {
  DescribeServicesCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  type Service,
  type Task
} from '@aws-sdk/client-ecs'
import { mockClient } from 'aws-sdk-client-mock'
import { EcsGateway, type StoppedTask } from '../../actions/ecs-deploy/ecs.js'
import {
  describeStoppedTask,
  settleService,
  stopCause,
  StoppedTaskLog,
  watchDeployment,
  type WatchRequest,
  type WatchResult
} from '../../actions/ecs-deploy/watch.js'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import { arn, awsError, deployment, service } from '../support/ecs-fixtures.js'
import { FakeClock, RecordingRunner } from '../support/runner.js'

const ecsMock = mockClient(ECSClient)
const START = Date.parse('2026-11-28T12:00:00Z')
const POLL_MS = 10_000
const MINUTE = 60_000

const ours = { id: 'ecs-svc/42', taskDefinition: arn('api', 42), baseline: arn('api', 41) }
const breaker = (enable: boolean, rollback: boolean): Partial<Service> => ({
  deploymentConfiguration: { deploymentCircuitBreaker: { enable, rollback } }
})
const old = () => deployment('ecs-svc/41', 41, { status: 'ACTIVE' })
const rolling = (overrides = {}) =>
  deployment('ecs-svc/42', 42, {
    rolloutState: 'IN_PROGRESS',
    runningCount: 0,
    pendingCount: 2,
    ...overrides
  })
const stuck = (config: Partial<Service> = {}) => service([rolling(), old()], config)

/** What DescribeServices answers, by ms since the watch started: a service, or an error thrown. */
type World = (elapsed: number) => Service | Error

function gateway(clock: FakeClock, deadline: number): EcsGateway {
  const caller = new AwsCaller({
    clock,
    deadline,
    attemptTimeoutMs: 5_000,
    backoffMs: 1_000,
    maxBackoffMs: 8_000
  })
  return new EcsGateway(new ECSClient({ region: 'eu-west-1' }), caller)
}

function play(world: World, clock: FakeClock) {
  let describes = 0
  ecsMock.on(DescribeServicesCommand).callsFake(() => {
    describes++
    const answer = world(clock.now() - START)
    if (answer instanceof Error) throw answer
    return { services: [answer] }
  })
  return { describes: () => describes }
}

async function watch(
  world: World,
  request: Partial<WatchRequest> = {}
): Promise<{ result: WatchResult; runner: RecordingRunner; clock: FakeClock; describes: number }> {
  const clock = new FakeClock(START)
  const runner = new RecordingRunner()
  const { describes } = play(world, clock)
  const deadline = request.deadline ?? START + 10 * MINUTE
  const result = await watchDeployment(gateway(clock, deadline), runner, clock, {
    cluster: 'payments',
    service: 'api',
    deployment: ours,
    deadline,
    pollMs: POLL_MS,
    events: { since: START, seen: new Set() },
    ...request
  })
  return { result, runner, clock, describes: describes() }
}

/** The elapsed times of the progress lines that mark `id` as the watched deployment. */
const pollTimes = (runner: RecordingRunner, id = 'ecs-svc/42') =>
  runner.lines
    .filter(l => l.startsWith('[') && l.includes(`*${id} `))
    .map(l => l.slice(1, l.indexOf(']')))

const stoppedTask: Task = {
  taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/payments/0f1e2d3c',
  lastStatus: 'STOPPED',
  startedBy: 'ecs-svc/42',
  stoppedReason: 'Essential container in task exited',
  stopCode: 'EssentialContainerExited',
  stoppedAt: new Date('2026-11-28T12:00:20Z'),
  containers: [{ name: 'api', exitCode: 1, reason: 'Error: DATABASE_URL is not set' }]
}

beforeEach(() => {
  ecsMock.reset()
  ecsMock.on(ListTasksCommand).resolves({ taskArns: [stoppedTask.taskArn!] })
  ecsMock.on(DescribeTasksCommand).resolves({ tasks: [stoppedTask] })
})

describe('watchDeployment', () => {
  it('a rollout that completes succeeds on the poll that sees it COMPLETED', async () => {
    const { result, runner } = await watch(elapsed =>
      elapsed >= 30_000 ? service([deployment('ecs-svc/42', 42)]) : stuck()
    )
    expect(result).toMatchObject({
      kind: 'succeeded',
      deploymentId: 'ecs-svc/42',
      elapsedMs: 30_000
    })
    expect(pollTimes(runner)).toEqual(['0s', '10s', '20s', '30s'])
  })

  it('a FAILED rollout with rollback off is a failure on the poll that first sees it, not at the timeout', async () => {
    const { result, clock } = await watch(elapsed =>
      elapsed >= 30_000
        ? service(
            [
              rolling({ rolloutState: 'FAILED', rolloutStateReason: 'tasks failed to start.' }),
              old()
            ],
            breaker(true, false)
          )
        : stuck(breaker(true, false))
    )
    expect(result).toMatchObject({
      kind: 'failed',
      cause: 'rollout-failed',
      reason: 'tasks failed to start.',
      ecsRollingBack: false,
      elapsedMs: 30_000
    })
    expect(clock.time - START).toBe(30_000)
  })

  it('a newer PRIMARY replaced ours: superseded, naming it, and the watch ends there', async () => {
    const theirs = deployment('ecs-svc/50', 50, { rolloutState: 'IN_PROGRESS' })
    const { result } = await watch(elapsed =>
      elapsed >= 20_000 ? service([theirs, rolling({ status: 'ACTIVE' })]) : stuck()
    )
    expect(result).toMatchObject({
      kind: 'superseded',
      deploymentId: 'ecs-svc/42',
      by: { id: 'ecs-svc/50' },
      reason: 'deployment ecs-svc/50 (api:50) replaced deployment ecs-svc/42',
      elapsedMs: 20_000
    })
    expect(result.kind === 'superseded' && result.service.deployments?.[0]?.id).toBe('ecs-svc/50')
  })

  it('a newer PRIMARY on the baseline while ours was still healthy is superseded, not a rollback', async () => {
    const manual = deployment('ecs-svc/44', 41, { rolloutState: 'IN_PROGRESS' })
    const { result } = await watch(elapsed =>
      elapsed >= 20_000 ? service([manual, rolling({ status: 'ACTIVE' })]) : stuck()
    )
    expect(result).toMatchObject({ kind: 'superseded', by: { id: 'ecs-svc/44' } })
  })

  it("ours gone behind the breaker's rollback to the baseline is a failure ECS is rolling back", async () => {
    const rollback = deployment('ecs-svc/43', 41, { rolloutState: 'IN_PROGRESS' })
    const { result } = await watch(elapsed => (elapsed >= 20_000 ? service([rollback]) : stuck()))
    expect(result).toMatchObject({
      kind: 'failed',
      cause: 'replaced',
      ecsRollingBack: true,
      reason: 'the deployment circuit breaker replaced it with deployment ecs-svc/43 (api:41)'
    })
  })

  it('no rollout state: not succeeded while tasks are pending or fewer than desired run', async () => {
    const noState = { rolloutState: undefined, rolloutStateReason: undefined }
    const { result, runner } = await watch(
      elapsed =>
        service(
          [
            deployment('ecs-svc/42', 42, {
              ...noState,
              pendingCount: elapsed < 20_000 ? 1 : 0,
              runningCount: elapsed < 40_000 ? 1 : 2
            })
          ],
          breaker(false, false)
        ),
      { deployment: { id: 'ecs-svc/42', taskDefinition: arn('api', 42) } }
    )
    expect(result).toMatchObject({ kind: 'succeeded', elapsedMs: 40_000 })
    expect(pollTimes(runner)).toEqual(['0s', '10s', '20s', '30s', '40s'])
  })

  it('without a circuit breaker, fails when half the desired count of tasks has failed', async () => {
    // One more failed task every 5 s, of 20 desired: the limit is 10, not the minimum of 3.
    const { result } = await watch(elapsed =>
      service(
        [rolling({ desiredCount: 20, failedTasks: Math.floor(elapsed / 5_000) }), old()],
        breaker(false, false)
      )
    )
    expect(result).toMatchObject({
      kind: 'failed',
      cause: 'tasks-failing',
      reason:
        '10 tasks failed to start and the service has no deployment circuit breaker to stop the rollout',
      elapsedMs: 50_000
    })
  })

  it('once tasks have failed it looks twice as often', async () => {
    const { runner } = await watch(
      elapsed =>
        elapsed >= 40_000
          ? service([deployment('ecs-svc/42', 42)])
          : service([rolling({ failedTasks: elapsed >= 10_000 ? 1 : 0 }), old()]),
      {}
    )
    expect(pollTimes(runner)).toEqual(['0s', '10s', '15s', '20s', '25s', '30s', '35s', '40s'])
  })

  it('the watch gives up at the deadline, not after a number of failed polls', async () => {
    const { result, clock, describes } = await watch(
      elapsed => (elapsed > 15_000 ? awsError('ServerException', 'down', 503) : stuck()),
      { deadline: START + 5 * MINUTE }
    )
    expect(result).toMatchObject({
      kind: 'unknown',
      deploymentId: 'ecs-svc/42',
      service: { deployments: [{ id: 'ecs-svc/42' }, { id: 'ecs-svc/41' }] }
    })
    expect(result.kind === 'unknown' && result.reason).toMatch(
      /^the service could not be read: Describing service 'api' in cluster 'payments' did not succeed before the deadline \(\d+ attempts; last: down\)/
    )
    // Nearly five minutes of failed reads, far more than any fixed number, and none past it.
    expect(describes).toBeGreaterThan(30)
    expect(clock.time).toBeLessThanOrEqual(START + 5 * MINUTE)
    expect(clock.time).toBeGreaterThan(START + 4 * MINUTE)
    expect(result.elapsedMs).toBe(clock.time - START)
  })

  it('an outage shorter than the deadline does not end the watch', async () => {
    const { result, describes } = await watch(elapsed =>
      elapsed > 10_000 && elapsed < 130_000
        ? awsError('ServerException', 'down', 503)
        : elapsed >= 150_000
          ? service([deployment('ecs-svc/42', 42)])
          : stuck()
    )
    expect(result.kind).toBe('succeeded')
    expect(describes).toBeGreaterThan(10)
  })

  it("the watch's last sleep stops at the deadline, and the deadline ends it timed out", async () => {
    const { result, runner, clock } = await watch(() => stuck(), {
      deadline: START + MINUTE,
      pollMs: 25_000
    })
    expect(pollTimes(runner)).toEqual(['0s', '25s', '50s', '1m00s'])
    expect(result).toMatchObject({
      kind: 'failed',
      cause: 'timed-out',
      reason: 'the deployment did not complete within 1m00s',
      ecsRollingBack: false,
      deploymentId: 'ecs-svc/42',
      elapsedMs: MINUTE,
      service: { deployments: [{ id: 'ecs-svc/42' }, { id: 'ecs-svc/41' }] }
    })
    expect(clock.time).toBe(START + MINUTE)
  })

  it('prints one progress line per poll and each new service event once, oldest first', async () => {
    const at = (s: number) => new Date(START + s * 1000)
    const { runner } = await watch(elapsed =>
      elapsed >= 20_000
        ? service([deployment('ecs-svc/42', 42)], {
            events: [
              { id: 'e3', createdAt: at(15), message: 'has reached a steady state.' },
              { id: 'e2', createdAt: at(5), message: 'has started 2 tasks.' },
              { id: 'e1', createdAt: at(-60), message: 'an old event' }
            ]
          })
        : service([rolling(), old()], {
            events: [{ id: 'e2', createdAt: at(5), message: 'has started 2 tasks.' }]
          })
    )
    expect(runner.lines.filter(l => l.startsWith('  event '))).toEqual([
      '  event 12:00:05 has started 2 tasks.',
      '  event 12:00:15 has reached a steady state.'
    ])
    expect(runner.lines.filter(l => l.startsWith('['))).toEqual([
      '[0s] *ecs-svc/42 PRIMARY IN_PROGRESS api:42: running 0/2, pending 2, failed 0 | ecs-svc/41 ACTIVE COMPLETED api:41: running 2/2, pending 0, failed 0',
      '[10s] *ecs-svc/42 PRIMARY IN_PROGRESS api:42: running 0/2, pending 2, failed 0 | ecs-svc/41 ACTIVE COMPLETED api:41: running 2/2, pending 0, failed 0',
      '[20s] *ecs-svc/42 PRIMARY COMPLETED api:42: running 2/2, pending 0, failed 0'
    ])
  })

  it('prints why tasks stopped as they fail, each task once, and hands the lookup to a failure', async () => {
    const { result, runner } = await watch(elapsed =>
      elapsed >= 30_000
        ? service(
            [rolling({ rolloutState: 'FAILED', failedTasks: 3 }), old()],
            breaker(true, false)
          )
        : service(
            [rolling({ failedTasks: Math.floor(elapsed / 10_000) }), old()],
            breaker(true, false)
          )
    )
    expect(result.kind).toBe('failed')
    if (result.kind !== 'failed') return
    await result.stopped.settle(1_000)
    expect(result.stopped.deploymentId).toBe('ecs-svc/42')
    expect(result.stopped.tasks.map(t => t.taskArn)).toEqual([stoppedTask.taskArn])
    expect(runner.lines.filter(l => l.startsWith('  stopped '))).toEqual([
      '  stopped task 0f1e2d3c: Essential container in task exited [EssentialContainerExited]; container api exit code 1 (Error: DATABASE_URL is not set)'
    ])
    // ListTasks by our deployment, for stopped tasks.
    expect(ecsMock.commandCalls(ListTasksCommand)[0]!.args[0].input).toMatchObject({
      cluster: 'payments',
      startedBy: 'ecs-svc/42',
      desiredStatus: 'STOPPED'
    })
  })

  it('a watch that times out after tasks failed prints each stopped task once', async () => {
    const failing = () => service([rolling({ failedTasks: 1 }), old()], breaker(true, false))
    const { result, runner } = await watch(failing, { deadline: START + 30_000 })
    expect(result).toMatchObject({ kind: 'failed', cause: 'timed-out' })
    if (result.kind !== 'failed') return
    await result.stopped.settle(1_000)
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(runner.lines.filter(l => l.startsWith('  stopped '))).toHaveLength(1)
  })

  it("counts only our deployment's failed tasks", async () => {
    const { result, runner } = await watch(elapsed =>
      elapsed >= 30_000
        ? service([deployment('ecs-svc/42', 42)])
        : service([deployment('ecs-svc/41', 41, { status: 'ACTIVE', failedTasks: 4 }), rolling()])
    )
    expect(result.kind).toBe('succeeded')
    expect(pollTimes(runner)).toEqual(['0s', '10s', '20s', '30s'])
    expect(ecsMock.commandCalls(ListTasksCommand)).toHaveLength(0)
  })

  it('looks up no stopped tasks while none has failed', async () => {
    const { result } = await watch(elapsed =>
      elapsed >= 30_000 ? service([deployment('ecs-svc/42', 42)]) : stuck()
    )
    expect(result.kind).toBe('succeeded')
    expect(ecsMock.commandCalls(ListTasksCommand)).toHaveLength(0)
  })

  it('looks up why tasks stopped once more when the rollout fails, though no more have failed', async () => {
    const { result } = await watch(elapsed =>
      service(
        [rolling({ failedTasks: 1, rolloutState: elapsed >= 20_000 ? 'FAILED' : 'IN_PROGRESS' })],
        breaker(true, false)
      )
    )
    expect(result.kind).toBe('failed')
    if (result.kind !== 'failed') return
    await result.stopped.settle(1_000)
    expect(ecsMock.commandCalls(ListTasksCommand)).toHaveLength(2)
  })

  it('prints an event ECS gives no time for with its message alone', async () => {
    const { runner } = await watch(elapsed =>
      elapsed >= 10_000
        ? service([deployment('ecs-svc/42', 42)], {
            events: [{ id: 'e1', message: 'has reached a steady state.' }]
          })
        : stuck()
    )
    expect(runner.lines.filter(l => l.startsWith('  event '))).toEqual([
      '  event  has reached a steady state.'
    ])
  })

  it('a service described without its deployments is still in progress', async () => {
    const { result, runner } = await watch(elapsed =>
      elapsed >= 10_000
        ? service([deployment('ecs-svc/42', 42)])
        : { ...stuck(), deployments: undefined }
    )
    expect(result).toMatchObject({ kind: 'succeeded', elapsedMs: 10_000 })
    expect(runner.lines[0]).toBe('[0s] no deployments')
  })

  it('a rolling deployment still healthy at the deadline (every new task running, the old ones draining) is left to ECS: unknown, not failed', async () => {
    ecsMock.on(ListTasksCommand).resolves({ taskArns: [] })
    const draining = () =>
      service([rolling({ runningCount: 2, pendingCount: 0, desiredCount: 2 }), old()])
    const { result } = await watch(draining, { deadline: START + MINUTE })
    expect(result).toMatchObject({ kind: 'unknown', deploymentId: 'ecs-svc/42' })
    expect(result.kind === 'unknown' && result.reason).toMatch(
      /^the step stopped watching after 1m00s: deployment ecs-svc\/42 is still in progress with all 2 new tasks running and none failed, while 2 old tasks still run .*not rolled back/
    )
  })

  it('at the deadline, a new task that failed, or a new task not running, still ends the watch timed out', async () => {
    const failedOnce = () =>
      service([
        rolling({ runningCount: 2, pendingCount: 0, desiredCount: 2, failedTasks: 1 }),
        old()
      ])
    expect((await watch(failedOnce, { deadline: START + MINUTE })).result).toMatchObject({
      kind: 'failed',
      cause: 'timed-out'
    })
    const short = () =>
      service([rolling({ runningCount: 1, pendingCount: 1, desiredCount: 2 }), old()])
    expect((await watch(short, { deadline: START + MINUTE })).result).toMatchObject({
      kind: 'failed',
      cause: 'timed-out'
    })
    ecsMock.on(ListTasksCommand).resolves({ taskArns: [stoppedTask.taskArn!] })
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [stoppedTask] })
    const crashedEarlier = () =>
      service([rolling({ runningCount: 2, pendingCount: 0, desiredCount: 2 }), old()])
    expect((await watch(crashedEarlier, { deadline: START + MINUTE })).result).toMatchObject({
      kind: 'failed',
      cause: 'timed-out'
    })
  })

  it('a timed-out watch still looks up why the tasks stopped', async () => {
    const { result } = await watch(() => stuck(), { deadline: START + 30_000 })
    expect(result).toMatchObject({ kind: 'failed', cause: 'timed-out' })
    if (result.kind !== 'failed') return
    await result.stopped.settle(1_000)
    expect(result.stopped.tasks).toHaveLength(1)
  })

  describe('waiting for the circuit breaker to replace a deployment', () => {
    const replacing = { replacing: 'ecs-svc/42', baseline: arn('api', 41) }
    const failed = () => rolling({ status: 'ACTIVE', rolloutState: 'FAILED' })

    it("watches ECS's rollback to the baseline once it starts, until it completes", async () => {
      const { result, runner } = await watch(
        elapsed =>
          elapsed < 20_000
            ? service([rolling({ rolloutState: 'FAILED' }), old()])
            : elapsed < 40_000
              ? service([deployment('ecs-svc/43', 41, { rolloutState: 'IN_PROGRESS' }), failed()])
              : service([deployment('ecs-svc/43', 41)]),
        { deployment: replacing }
      )
      expect(result).toMatchObject({
        kind: 'succeeded',
        deploymentId: 'ecs-svc/43',
        elapsedMs: 40_000
      })
      // Nothing is marked until the poll after the rollback appeared; then the rollback is.
      expect(runner.lines.filter(l => l.startsWith('[')).map(l => l.includes('*'))).toEqual([
        false,
        false,
        false,
        true,
        true
      ])
      expect(pollTimes(runner, 'ecs-svc/43')).toEqual(['30s', '40s'])
    })

    it('a replacement on another revision is someone else superseding it, not the rollback', async () => {
      const { result } = await watch(
        elapsed =>
          elapsed < 10_000
            ? service([rolling({ rolloutState: 'FAILED' }), old()])
            : service([deployment('ecs-svc/50', 50, { rolloutState: 'IN_PROGRESS' }), failed()]),
        { deployment: replacing }
      )
      expect(result).toMatchObject({
        kind: 'superseded',
        deploymentId: 'ecs-svc/42',
        by: { id: 'ecs-svc/50' },
        reason:
          "deployment ecs-svc/50 (api:50) replaced deployment ecs-svc/42, not the circuit breaker's rollback to api:41"
      })
    })

    it('no rollback by the deadline is a time-out of the deployment it replaces', async () => {
      const { result } = await watch(() => service([rolling({ rolloutState: 'FAILED' }), old()]), {
        deployment: replacing,
        deadline: START + 30_000
      })
      expect(result).toMatchObject({
        kind: 'failed',
        cause: 'timed-out',
        reason: 'the deployment did not complete within 30s',
        deploymentId: 'ecs-svc/42',
        elapsedMs: 30_000
      })
      if (result.kind !== 'failed') return
      expect(result.stopped.deploymentId).toBe('ecs-svc/42')
    })

    it('an unreadable service before the rollback is unknown, for the deployment it replaces', async () => {
      const { result } = await watch(() => awsError('ServerException', 'down', 503), {
        deployment: replacing,
        deadline: START + 30_000
      })
      expect(result).toMatchObject({ kind: 'unknown', deploymentId: 'ecs-svc/42' })
      expect(result.kind === 'unknown' && result.service).toBeUndefined()
    })
  })
})

describe('settleService', () => {
  async function settle(first: Service, world: World, deadline = START + 5 * MINUTE) {
    const clock = new FakeClock(START)
    const runner = new RecordingRunner()
    const { describes } = play(world, clock)
    const result = await settleService(gateway(clock, deadline), runner, clock, {
      cluster: 'payments',
      service: 'api',
      deadline,
      pollMs: POLL_MS,
      first
    })
    return { result, runner, clock, describes: describes() }
  }
  const inFlight = () =>
    service([deployment('ecs-svc/40', 40, { rolloutState: 'IN_PROGRESS' }), old()])

  it('a settled service is taken as it is, without another look', async () => {
    const first = service([deployment('ecs-svc/41', 41)])
    const { result, runner, describes } = await settle(first, () => new Error('not asked'))
    expect(result).toEqual({
      kind: 'settled',
      service: first,
      baseline: { settled: true, proven: first.deployments![0], primary: first.deployments![0] }
    })
    expect(describes).toBe(0)
    expect(runner.lines).toEqual([])
  })

  it('waits for a rollout in flight to settle, saying so, and settles on what it ends with', async () => {
    const done = service([deployment('ecs-svc/40', 40)])
    const { result, runner, clock } = await settle(inFlight(), elapsed =>
      elapsed >= 20_000 ? done : inFlight()
    )
    expect(result).toMatchObject({
      kind: 'settled',
      service: done,
      baseline: { settled: true, proven: { id: 'ecs-svc/40' } }
    })
    expect(clock.time - START).toBe(20_000)
    expect(runner.lines[0]).toBe(
      'deployment ecs-svc/40 (api:40) is still rolling out; waiting for it to settle before changing the service (until 5m00s from now).'
    )
    expect(runner.lines).toContain('::group::Waiting for deployment ecs-svc/40 (api:40)')
    expect(runner.lines.filter(l => l.startsWith('[')).every(l => l.includes('*ecs-svc/40 '))).toBe(
      true
    )
    expect(runner.lines.at(-1)).toBe(
      'The service settled on deployment ecs-svc/40 (api:40) (COMPLETED).'
    )
  })

  it('prints the service events that arrive while waiting, each once', async () => {
    const at = (s: number) => new Date(START + s * 1000)
    const withEvents = (events: Service['events']) => ({ ...inFlight(), events })
    const { runner } = await settle(
      withEvents([{ id: 'e0', createdAt: at(-30), message: 'started deployment ecs-svc/40' }]),
      elapsed =>
        elapsed >= 20_000
          ? service([deployment('ecs-svc/40', 40)])
          : withEvents([
              ...(elapsed >= 10_000
                ? [{ id: 'e1', createdAt: at(5), message: 'has started 2 tasks.' }]
                : []),
              { id: 'e0', createdAt: at(-30), message: 'started deployment ecs-svc/40' }
            ])
    )
    expect(runner.lines.filter(l => l.startsWith('  event '))).toEqual([
      '  event 12:00:05 has started 2 tasks.'
    ])
  })

  it('follows the rollout in flight when another one takes its place', async () => {
    const next = service([deployment('ecs-svc/45', 45, { rolloutState: 'IN_PROGRESS' }), old()])
    const { result, runner } = await settle(
      inFlight(),
      elapsed => (elapsed >= 10_000 ? next : inFlight()),
      START + 30_000
    )
    expect(result).toMatchObject({
      kind: 'in-flight',
      inFlight: { id: 'ecs-svc/45' },
      reason: 'deployment ecs-svc/45 (api:45) was still rolling out at the deadline'
    })
    expect(pollTimes(runner, 'ecs-svc/45')).toEqual(['20s', '30s'])
  })

  it('a service that settles with no rollout state names it steady', async () => {
    const steadyNoState = service([
      deployment('ecs-svc/40', 40, { rolloutState: undefined, rolloutStateReason: undefined })
    ])
    const { runner } = await settle(inFlight(), elapsed =>
      elapsed >= 10_000 ? steadyNoState : inFlight()
    )
    expect(runner.lines.at(-1)).toBe(
      'The service settled on deployment ecs-svc/40 (api:40) (steady).'
    )
  })

  it('a service left with no primary deployment settles, naming the one that was in flight', async () => {
    const { result, runner } = await settle(inFlight(), elapsed =>
      elapsed >= 10_000 ? service([old()]) : inFlight()
    )
    expect(result).toMatchObject({ kind: 'settled', baseline: { settled: true } })
    expect(runner.lines.at(-1)).toBe(
      'The service settled on deployment ecs-svc/40 (api:40) (steady).'
    )
  })

  it('a service that cannot be read while waiting is still in flight, with the reason', async () => {
    const { result } = await settle(
      inFlight(),
      elapsed => (elapsed >= 10_000 ? awsError('ServerException', 'down', 503) : inFlight()),
      START + MINUTE
    )
    expect(result).toMatchObject({ kind: 'in-flight', inFlight: { id: 'ecs-svc/40' } })
    expect(result.kind === 'in-flight' && result.reason).toMatch(
      /^the service could not be read while waiting: Describing service 'api'/
    )
    expect(result.kind === 'in-flight' && result.service?.deployments?.[0]?.id).toBe('ecs-svc/40')
  })
})

describe('StoppedTaskLog', () => {
  const task = (id: string, over: Partial<StoppedTask> = {}): StoppedTask => ({
    taskArn: `arn:aws:ecs:eu-west-1:123456789012:task/payments/${id}`,
    stoppedReason: 'Essential container in task exited',
    stopCode: 'EssentialContainerExited',
    containers: [{ name: 'api', exitCode: 1 }],
    ...over
  })

  /** A gateway whose stoppedTasks answers from a list of answers, each when released. */
  function lookups(answers: Array<StoppedTask[] | Error>) {
    const calls: Array<() => void> = []
    let asked = 0
    const ecs = {
      stoppedTasks: async (cluster: string, deploymentId: string) => {
        expect([cluster, deploymentId]).toEqual(['payments', 'ecs-svc/42'])
        const answer = answers[asked++]!
        await new Promise<void>(release => calls.push(release))
        if (answer instanceof Error) throw answer
        return answer
      }
    } as unknown as EcsGateway
    return { ecs, release: () => calls.shift()?.(), asked: () => asked }
  }

  it('prints each stopped task once, oldest first, across lookups', async () => {
    const runner = new RecordingRunner()
    const { ecs, release } = lookups([
      [task('b'), task('a')],
      [task('c'), task('b'), task('a')]
    ])
    const log = new StoppedTaskLog(ecs, runner, 'payments', 'ecs-svc/42')
    log.refresh()
    release()
    await log.settle(1_000)
    log.refresh()
    release()
    await log.settle(1_000)
    expect(runner.lines.map(l => l.slice(0, 20))).toEqual([
      '  stopped task a: Es',
      '  stopped task b: Es',
      '  stopped task c: Es'
    ])
    expect(log.tasks.map(t => t.taskArn.split('/').pop())).toEqual(['c', 'b', 'a'])
  })

  it('asks for one more lookup after the one under way, never two at once', async () => {
    const runner = new RecordingRunner()
    const { ecs, release, asked } = lookups([[task('a')], [task('b'), task('a')], [task('x')]])
    const log = new StoppedTaskLog(ecs, runner, 'payments', 'ecs-svc/42')
    log.refresh()
    log.refresh()
    log.refresh()
    expect(log.looking).toBe(true)
    expect(asked()).toBe(1)
    release()
    // The second lookup starts once the first is done.
    await new Promise(resolve => setTimeout(resolve, 10))
    expect(asked()).toBe(2)
    release()
    await log.settle(1_000)
    expect(asked()).toBe(2)
    expect(log.looking).toBe(false)
    expect(log.tasks).toHaveLength(2)
  })

  it('says why a lookup failed, and forgets that once one succeeds', async () => {
    const runner = new RecordingRunner()
    const { ecs, release } = lookups([new Error('AccessDeniedException: not allowed'), [task('a')]])
    const log = new StoppedTaskLog(ecs, runner, 'payments', 'ecs-svc/42')
    log.refresh()
    release()
    await log.settle(1_000)
    expect(log.failure).toBe('AccessDeniedException: not allowed')
    expect(log.tasks).toEqual([])
    expect(runner.warnings).toEqual([
      'Could not read why the tasks of ecs-svc/42 stopped: AccessDeniedException: not allowed'
    ])
    log.refresh()
    release()
    await log.settle(1_000)
    expect(log.failure).toBeUndefined()
  })

  it('settle waits for the lookup under way, at most as long as it is given', async () => {
    const runner = new RecordingRunner()
    const { ecs, release } = lookups([[task('a')]])
    const log = new StoppedTaskLog(ecs, runner, 'payments', 'ecs-svc/42')
    log.refresh()
    const started = Date.now()
    await log.settle(50)
    expect(Date.now() - started).toBeGreaterThanOrEqual(45)
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(log.looking).toBe(true)
    setTimeout(release, 20)
    await log.settle(5_000)
    expect(log.looking).toBe(false)
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(log.tasks).toHaveLength(1)
  })
})

describe('why a task stopped', () => {
  const task = (over: Partial<StoppedTask>): StoppedTask => ({
    taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/payments/0f1e2d3c',
    stoppedReason: 'Essential container in task exited',
    stopCode: 'EssentialContainerExited',
    containers: [],
    ...over
  })

  it('names the stop reason and code, then each container that exited or has a reason', () => {
    expect(
      stopCause(
        task({
          containers: [
            { name: 'api', exitCode: 137, reason: 'OutOfMemoryError' },
            { name: 'sidecar', exitCode: 0 },
            { name: 'log-router' },
            { name: 'init', reason: 'CannotPullContainerError' }
          ]
        })
      )
    ).toBe(
      'Essential container in task exited [EssentialContainerExited]; container api exit code 137 (OutOfMemoryError); container sidecar exit code 0; container init exit code none (CannotPullContainerError)'
    )
  })

  it('says so when ECS gives no reason, and leaves out a missing stop code', () => {
    expect(stopCause(task({ stoppedReason: '', stopCode: '' }))).toBe('no reason given')
  })

  it('describeStoppedTask names the task by its id', () => {
    expect(describeStoppedTask(task({}))).toBe(
      'task 0f1e2d3c: Essential container in task exited [EssentialContainerExited]'
    )
    expect(describeStoppedTask(task({ taskArn: 'plain' }))).toBe(
      'task plain: Essential container in task exited [EssentialContainerExited]'
    )
  })
})
