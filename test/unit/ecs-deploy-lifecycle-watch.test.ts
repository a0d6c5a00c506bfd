/**
 * The watch of a BLUE_GREEN, LINEAR or CANARY service deployment and its rollback by a traffic
 * switch (lifecycle.ts), with an injected clock over the real EcsGateway and a mocked ECS
 * client: stages as they are entered, each verdict on the look that sees it, the deadline.
 */
import {
  DescribeServiceDeploymentsCommand,
  DescribeServicesCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  StopServiceDeploymentCommand,
  type Service,
  type ServiceDeployment
} from '@aws-sdk/client-ecs'
import { mockClient } from 'aws-sdk-client-mock'
import { EcsGateway } from '../../actions/ecs-deploy/ecs.js'
import {
  rollBackServiceDeployment,
  watchServiceDeployment,
  type LifecycleWatchRequest
} from '../../actions/ecs-deploy/lifecycle.js'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import { awsError, deployment, service } from '../support/ecs-fixtures.js'
import { FakeClock, RecordingRunner } from '../support/runner.js'

const ecsMock = mockClient(ECSClient)
const START = Date.parse('2026-11-28T12:00:00Z')
const MINUTE = 60_000
const POLL_MS = 10_000
/** The update was sent 5 s before the watch began: stage lines count from it. */
const UPDATED = START - 5_000
const SD = 'arn:aws:ecs:eu-west-1:123456789012:service-deployment/payments/api/aaaa'
const OTHER = 'arn:aws:ecs:eu-west-1:123456789012:service-deployment/payments/api/bbbb'
const HOOK = 'arn:aws:lambda:eu-west-1:123456789012:function:check-green'

function sd(fields: Partial<ServiceDeployment> = {}, production = 0): ServiceDeployment {
  return {
    serviceDeploymentArn: SD,
    status: 'IN_PROGRESS',
    lifecycleStage: 'SCALE_UP',
    sourceServiceRevisions: [{ arn: 'rev-blue' }],
    targetServiceRevision: {
      arn: 'rev-green',
      requestedProductionTrafficWeight: production,
      requestedTestTrafficWeight: 0
    },
    ...fields
  }
}

function blueGreen(fields: Partial<Service> = {}, failedTasks = 0): Service {
  return service(
    [
      deployment('ecs-svc/42', 42, { rolloutState: 'IN_PROGRESS', failedTasks }),
      deployment('ecs-svc/41', 41, { status: 'ACTIVE' })
    ],
    {
      currentServiceDeployment: SD,
      deploymentConfiguration: {
        strategy: 'BLUE_GREEN',
        deploymentCircuitBreaker: { enable: true, rollback: true }
      },
      ...fields
    }
  )
}

/** What ECS says at each moment (ms since the watch began): the service and the deployment. */
type World = (elapsed: number) => { service?: Service | Error; sd: ServiceDeployment | Error }

function play(world: World, clock: FakeClock) {
  const at = () => world(clock.now() - START)
  ecsMock.on(DescribeServicesCommand).callsFake(() => {
    const answer = at().service ?? blueGreen()
    if (answer instanceof Error) throw answer
    return { services: [answer] }
  })
  ecsMock.on(DescribeServiceDeploymentsCommand).callsFake(() => {
    const answer = at().sd
    if (answer instanceof Error) throw answer
    return { serviceDeployments: [answer] }
  })
}

function gateway(clock: FakeClock, deadline: number) {
  return new EcsGateway(
    new ECSClient({ region: 'eu-west-1' }),
    new AwsCaller({
      clock,
      deadline,
      attemptTimeoutMs: 5_000,
      backoffMs: 1_000,
      maxBackoffMs: 8_000
    })
  )
}

function request(over: Partial<LifecycleWatchRequest> = {}): LifecycleWatchRequest {
  return {
    cluster: 'payments',
    service: 'api',
    serviceDeploymentArn: SD,
    deployment: { id: 'ecs-svc/42', taskDefinition: 'api:42' },
    until: 'steady',
    since: UPDATED,
    deadline: START + 10 * MINUTE,
    pollMs: POLL_MS,
    events: { since: UPDATED, seen: new Set() },
    ...over
  }
}

async function watch(world: World, over: Partial<LifecycleWatchRequest> = {}) {
  const clock = new FakeClock(START)
  const runner = new RecordingRunner()
  play(world, clock)
  const req = request(over)
  const result = await watchServiceDeployment(gateway(clock, req.deadline), runner, clock, req)
  return { result, runner, clock }
}

const stageLines = (runner: RecordingRunner) =>
  runner.lines.filter(l => / since the update\] /.test(l))
const pollTimes = (runner: RecordingRunner) =>
  runner.lines
    .filter(l => l.startsWith('[') && l.includes('*ecs-svc/42 '))
    .map(l => l.slice(1, l.indexOf(']')))

/** A BLUE_GREEN deployment that skips some stages between looks and completes at 50 s. */
const completing: World = elapsed => {
  if (elapsed < 10_000) return { sd: sd({ lifecycleStage: 'SCALE_UP' }) }
  if (elapsed < 20_000)
    return {
      sd: sd({
        lifecycleStage: 'TEST_TRAFFIC_SHIFT',
        targetServiceRevision: {
          arn: 'rev-green',
          requestedProductionTrafficWeight: 0,
          requestedTestTrafficWeight: 100
        }
      })
    }
  if (elapsed < 40_000) return { sd: sd({ lifecycleStage: 'BAKE_TIME' }, 100) }
  if (elapsed < 50_000) return { sd: sd({ lifecycleStage: 'CLEAN_UP' }, 100) }
  return { sd: sd({ lifecycleStage: 'CLEAN_UP', status: 'SUCCESSFUL' }, 100) }
}

/** Our deployment with one of its two tasks still starting. */
const startingUp = service(
  [
    deployment('ecs-svc/42', 42, { rolloutState: 'IN_PROGRESS', runningCount: 1, pendingCount: 1 }),
    deployment('ecs-svc/41', 41, { status: 'ACTIVE' })
  ],
  {
    currentServiceDeployment: SD,
    deploymentConfiguration: {
      strategy: 'BLUE_GREEN',
      deploymentCircuitBreaker: { enable: true, rollback: true }
    }
  }
)

beforeEach(() => {
  ecsMock.reset()
  ecsMock.on(ListTasksCommand).resolves({ taskArns: [] })
  ecsMock.on(DescribeTasksCommand).resolves({ tasks: [] })
})

describe('watchServiceDeployment', () => {
  it('prints each stage once as it is entered, and the stages passed between two looks', async () => {
    const { result, runner } = await watch(completing)
    expect(stageLines(runner)).toEqual([
      '[5s since the update] PRE_SCALE_UP: passed between two looks',
      '[5s since the update] SCALE_UP: production traffic on the previous revision',
      '[15s since the update] POST_SCALE_UP: passed between two looks',
      '[15s since the update] TEST_TRAFFIC_SHIFT: production traffic on the previous revision; test traffic on the new revision',
      '[25s since the update] POST_TEST_TRAFFIC_SHIFT: passed between two looks',
      '[25s since the update] PRE_PRODUCTION_TRAFFIC_SHIFT: passed between two looks',
      '[25s since the update] PRODUCTION_TRAFFIC_SHIFT: passed between two looks',
      '[25s since the update] POST_PRODUCTION_TRAFFIC_SHIFT: passed between two looks',
      '[25s since the update] BAKE_TIME: production traffic on the new revision',
      '[45s since the update] CLEAN_UP: production traffic on the new revision',
      '[55s since the update] CLEAN_UP [SUCCESSFUL]: production traffic on the new revision'
    ])
    expect(result).toMatchObject({
      kind: 'succeeded',
      reached: 'steady',
      deploymentId: 'ecs-svc/42',
      serviceDeploymentArn: SD,
      elapsedMs: 50_000,
      serviceDeployment: { status: 'SUCCESSFUL' }
    })
    expect(result.stages).toEqual([
      { stage: 'PRE_SCALE_UP', at: START },
      { stage: 'SCALE_UP', at: START, production: 0 },
      { stage: 'POST_SCALE_UP', at: START + 10_000 },
      { stage: 'TEST_TRAFFIC_SHIFT', at: START + 10_000, production: 0 },
      { stage: 'POST_TEST_TRAFFIC_SHIFT', at: START + 20_000 },
      { stage: 'PRE_PRODUCTION_TRAFFIC_SHIFT', at: START + 20_000 },
      { stage: 'PRODUCTION_TRAFFIC_SHIFT', at: START + 20_000 },
      { stage: 'POST_PRODUCTION_TRAFFIC_SHIFT', at: START + 20_000 },
      { stage: 'BAKE_TIME', at: START + 20_000, production: 100 },
      { stage: 'CLEAN_UP', at: START + 40_000, production: 100 }
    ])
    expect(pollTimes(runner)).toEqual(['0s', '10s', '20s', '30s', '40s', '50s'])
  })

  it('wait-until traffic-shifted returns once bake time starts', async () => {
    const { result, clock } = await watch(completing, { until: 'traffic-shifted' })
    expect(result).toMatchObject({
      kind: 'succeeded',
      reached: 'traffic-shifted',
      elapsedMs: 20_000
    })
    expect(clock.time).toBe(START + 20_000)
  })

  it('prints the service events once each', async () => {
    const at = (s: number) => new Date(START + s * 1000)
    const { runner } = await watch(elapsed => ({
      service: blueGreen({
        events: [
          { id: 'e2', createdAt: at(1), message: 'has started 2 tasks.' },
          { id: 'e1', createdAt: at(-60), message: 'an old event' }
        ]
      }),
      ...completing(elapsed)
    }))
    expect(runner.lines.filter(l => l.startsWith('  event'))).toEqual([
      '  event 12:00:01 has started 2 tasks.'
    ])
  })

  it('a failed hook ends the watch on the look that sees it, saying whether a traffic switch can still roll back', async () => {
    const { result } = await watch(elapsed => ({
      sd:
        elapsed < 20_000
          ? sd({ lifecycleStage: 'POST_SCALE_UP' })
          : sd({
              lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT',
              lifecycleHookDetails: [
                { targetArn: HOOK, status: 'TIMED_OUT', timeoutAction: 'CONTINUE' }
              ]
            })
    }))
    expect(result).toMatchObject({
      kind: 'failed',
      cause: 'rollout-failed',
      reason: 'lifecycle hook check-green TIMED_OUT at POST_TEST_TRAFFIC_SHIFT',
      ecsRollingBack: false,
      rollback: { possible: true },
      serviceDeployment: { lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT' },
      elapsedMs: 20_000
    })
  })

  it('ECS rolling the deployment back is a failure of the rollout, with its reason', async () => {
    const { result } = await watch(elapsed => ({
      sd:
        elapsed < 10_000
          ? sd()
          : sd({ status: 'ROLLBACK_SUCCESSFUL', rollback: { reason: 'breaker tripped.' } })
    }))
    expect(result).toMatchObject({
      kind: 'failed',
      cause: 'rollout-failed',
      reason: 'ECS rolled the service deployment back: breaker tripped',
      ecsRollingBack: true,
      rollback: { possible: false, why: 'the service deployment has ended (ROLLBACK_SUCCESSFUL)' }
    })
  })

  it('another service deployment replacing ours supersedes it, naming the primary deployment', async () => {
    const theirs = service(
      [
        deployment('ecs-svc/50', 50, { rolloutState: 'IN_PROGRESS' }),
        deployment('ecs-svc/42', 42, { status: 'ACTIVE' })
      ],
      { currentServiceDeployment: OTHER }
    )
    const { result } = await watch(elapsed => ({
      service: elapsed < 10_000 ? blueGreen() : theirs,
      sd: sd()
    }))
    expect(result).toMatchObject({
      kind: 'superseded',
      by: { id: 'ecs-svc/50' },
      reason: 'service deployment api/bbbb replaced api/aaaa',
      elapsedMs: 10_000
    })
    // Without a primary deployment, the service deployment that replaced it is named.
    const { result: bare } = await watch(() => ({
      service: { ...theirs, deployments: [] },
      sd: sd()
    }))
    expect(bare).toMatchObject({ kind: 'superseded', by: { id: OTHER } })
  })

  it('without a breaker, tasks failing past the threshold fail it fast, looking twice as often once they fail', async () => {
    const noBreaker = {
      deploymentConfiguration: {
        strategy: 'BLUE_GREEN' as const,
        deploymentCircuitBreaker: { enable: false, rollback: false }
      }
    }
    const { result, runner } = await watch(elapsed => ({
      service: blueGreen(noBreaker, elapsed < 10_000 ? 0 : Math.floor(elapsed / 5_000) - 1),
      sd: sd()
    }))
    expect(result).toMatchObject({
      kind: 'failed',
      cause: 'tasks-failing',
      reason:
        '3 tasks failed to start and the service has no deployment circuit breaker to stop the rollout'
    })
    expect(pollTimes(runner)).toEqual(['0s', '10s', '15s', '20s'])
    expect(ecsMock.commandCalls(ListTasksCommand).length).toBeGreaterThan(0)
  })

  it.each([
    ['steady', 'complete'],
    ['traffic-shifted', 'shift production traffic']
  ] as const)(
    'wait-until %s: the deadline ends a deployment whose tasks are not all up timed out, the last sleep stopping at it',
    async (until, what) => {
      const { result, runner, clock } = await watch(
        () => ({ sd: sd({ lifecycleStage: 'POST_SCALE_UP' }), service: startingUp }),
        {
          until,
          deadline: START + MINUTE,
          pollMs: 25_000
        }
      )
      expect(result).toMatchObject({
        kind: 'failed',
        cause: 'timed-out',
        reason: `the service deployment did not ${what} within 1m00s (last stage POST_SCALE_UP)`,
        ecsRollingBack: false,
        rollback: { possible: true },
        elapsedMs: MINUTE
      })
      expect(pollTimes(runner)).toEqual(['0s', '25s', '50s', '1m00s'])
      expect(clock.time).toBe(START + MINUTE)
    }
  )

  it('a service deployment without a stage times out naming none', async () => {
    const { result, runner } = await watch(
      () => ({ sd: sd({ lifecycleStage: undefined }), service: startingUp }),
      {
        deadline: START + 20_000
      }
    )
    expect(result).toMatchObject({
      reason: 'the service deployment did not complete within 20s (last stage unknown)'
    })
    expect(result.stages).toEqual([])
    expect(stageLines(runner)).toEqual([
      '[5s since the update] no stage: production traffic on the previous revision'
    ])
  })

  it('a service deployment that cannot be read is unknown, keeping the service as last read', async () => {
    const { result, clock } = await watch(
      elapsed => ({ sd: elapsed < 10_000 ? sd() : awsError('ServerException', 'down', 503) }),
      { deadline: START + MINUTE }
    )
    expect(result).toMatchObject({
      kind: 'unknown',
      service: { serviceName: 'api' },
      deploymentId: 'ecs-svc/42'
    })
    expect(result.kind === 'unknown' && result.reason).toMatch(
      /^the service deployment could not be read: Describing service deployment 'api\/aaaa' did not succeed before the deadline/
    )
    expect(clock.time).toBeLessThanOrEqual(START + MINUTE)
  })

  it('a deployment that completes with no task failing looks up no stopped tasks and times no traffic return', async () => {
    const { result } = await watch(completing)
    expect(result.kind === 'succeeded' && result.trafficReturnedAt).toBeUndefined()
    expect(ecsMock.commandCalls(ListTasksCommand)).toHaveLength(0)
  })

  it('a look that shows no stage records none, keeping the stages seen before', async () => {
    const { result } = await watch(
      elapsed => ({
        sd: sd({ lifecycleStage: elapsed < 10_000 ? 'PRE_SCALE_UP' : undefined }),
        service: startingUp
      }),
      { deadline: START + 20_000 }
    )
    expect(result).toMatchObject({
      kind: 'failed',
      cause: 'timed-out',
      reason: 'the service deployment did not complete within 20s (last stage unknown)'
    })
    expect(result.stages).toEqual([{ stage: 'PRE_SCALE_UP', at: START, production: 0 }])
  })

  it('tasks failing in another deployment neither quicken the watch nor look up stopped tasks', async () => {
    const { runner } = await watch(elapsed => ({
      service: service(
        [
          deployment('ecs-svc/41', 41, { status: 'ACTIVE', failedTasks: 4 }),
          deployment('ecs-svc/42', 42, { rolloutState: 'IN_PROGRESS' })
        ],
        { currentServiceDeployment: SD, deploymentConfiguration: { strategy: 'BLUE_GREEN' } }
      ),
      ...completing(elapsed)
    }))
    expect(pollTimes(runner)).toEqual(['0s', '10s', '20s', '30s', '40s', '50s'])
    expect(ecsMock.commandCalls(ListTasksCommand)).toHaveLength(0)
  })

  it('a service described without deployments is watched all the same', async () => {
    const { result } = await watch(elapsed => ({
      service: blueGreen({ deployments: undefined }),
      ...completing(elapsed)
    }))
    expect(result).toMatchObject({ kind: 'succeeded', reached: 'steady' })
  })

  it('an event without a time is printed with its message', async () => {
    const { runner } = await watch(elapsed => ({
      service: blueGreen({ events: [{ id: 'e9', message: 'has reached a steady state.' }] }),
      ...completing(elapsed)
    }))
    expect(runner.lines.filter(l => l.startsWith('  event'))).toEqual([
      '  event  has reached a steady state.'
    ])
  })

  describe('watching a rollback (until rolled-back)', () => {
    const rollingBack = (elapsed: number) => ({
      sd:
        elapsed < 20_000
          ? sd(
              { status: 'ROLLBACK_IN_PROGRESS', lifecycleStage: 'PRODUCTION_TRAFFIC_SHIFT' },
              elapsed < 10_000 ? 100 : 0
            )
          : sd({ status: 'ROLLBACK_SUCCESSFUL', lifecycleStage: 'CLEAN_UP' }, 0)
    })

    it('succeeds once ROLLBACK_SUCCESSFUL, noting when production traffic was back, inferring no stages', async () => {
      const { result, runner } = await watch(rollingBack, { until: 'rolled-back', since: START })
      expect(result).toMatchObject({
        kind: 'succeeded',
        reached: 'rolled-back',
        trafficReturnedAt: START + 10_000,
        elapsedMs: 20_000
      })
      expect(runner.lines.some(l => l.includes('passed between two looks'))).toBe(false)
      expect(result.stages.map(s => s.stage)).toEqual(['PRODUCTION_TRAFFIC_SHIFT', 'CLEAN_UP'])
    })

    it('ignores another current deployment and failing tasks: only the rollback decides', async () => {
      const { result } = await watch(
        elapsed => ({
          service: blueGreen(
            {
              currentServiceDeployment: OTHER,
              deploymentConfiguration: {
                strategy: 'BLUE_GREEN',
                deploymentCircuitBreaker: { enable: false, rollback: false }
              }
            },
            10
          ),
          ...rollingBack(elapsed)
        }),
        { until: 'rolled-back' }
      )
      expect(result.kind).toBe('succeeded')
    })

    it('before ECS takes up the stop, failing tasks of the deployment do not end the rollback watch', async () => {
      const { result } = await watch(
        elapsed => ({
          service: blueGreen(
            {
              deploymentConfiguration: {
                strategy: 'BLUE_GREEN',
                deploymentCircuitBreaker: { enable: false, rollback: false }
              }
            },
            10
          ),
          sd:
            elapsed < 10_000
              ? sd({ lifecycleStage: 'BAKE_TIME' }, 100)
              : sd({ status: 'ROLLBACK_SUCCESSFUL', lifecycleStage: 'CLEAN_UP' }, 0)
        }),
        { until: 'rolled-back' }
      )
      expect(result).toMatchObject({ kind: 'succeeded', reached: 'rolled-back', elapsedMs: 10_000 })
    })

    it('fails when the deployment completes instead of rolling back', async () => {
      const { result } = await watch(
        () => ({ sd: sd({ status: 'SUCCESSFUL', lifecycleStage: 'CLEAN_UP' }, 100) }),
        { until: 'rolled-back' }
      )
      expect(result).toMatchObject({
        kind: 'failed',
        cause: 'rollout-failed',
        reason: 'the rollback did not happen: the service deployment ended SUCCESSFUL',
        ecsRollingBack: false
      })
      expect('trafficReturnedAt' in result).toBe(false)
    })

    it('times out as a rollback', async () => {
      const { result } = await watch(
        () => ({ sd: sd({ status: 'ROLLBACK_IN_PROGRESS', lifecycleStage: 'SCALE_UP' }, 50) }),
        { until: 'rolled-back', deadline: START + 30_000 }
      )
      expect(result).toMatchObject({
        kind: 'failed',
        cause: 'timed-out',
        reason: 'the service deployment did not roll back within 30s (last stage SCALE_UP)'
      })
    })
  })
})

describe('rollBackServiceDeployment', () => {
  async function rollBack(
    world: World,
    options: { serviceDeployment?: ServiceDeployment; stop?: () => unknown } = {}
  ) {
    const clock = new FakeClock(START)
    const runner = new RecordingRunner()
    play(world, clock)
    ecsMock.on(StopServiceDeploymentCommand).callsFake(() => {
      clock.time += 1_000
      return options.stop?.() ?? { serviceDeploymentArn: SD }
    })
    const req = request()
    const outcome = await rollBackServiceDeployment(gateway(clock, req.deadline), runner, clock, {
      ...req,
      serviceDeployment: options.serviceDeployment
    })
    return { outcome, runner, clock }
  }

  /** The stop takes 1 s; production traffic is back on the look at 11 s, the rollback done at 21 s. */
  const afterStop: World = elapsed => {
    if (elapsed < 1_000) return { sd: sd({ lifecycleStage: 'BAKE_TIME' }, 100) }
    if (elapsed < 11_000)
      return { sd: sd({ status: 'ROLLBACK_IN_PROGRESS', lifecycleStage: 'BAKE_TIME' }, 100) }
    if (elapsed < 21_000)
      return { sd: sd({ status: 'ROLLBACK_IN_PROGRESS', lifecycleStage: 'CLEAN_UP' }, 0) }
    return { sd: sd({ status: 'ROLLBACK_SUCCESSFUL', lifecycleStage: 'CLEAN_UP' }, 0) }
  }

  it('stops the deployment with ROLLBACK and times the return of production traffic from the request', async () => {
    const { outcome, runner } = await rollBack(afterStop)
    expect(ecsMock.commandCalls(StopServiceDeploymentCommand)[0]!.args[0].input).toEqual({
      serviceDeploymentArn: SD,
      stopType: 'ROLLBACK'
    })
    expect(outcome).toMatchObject({
      kind: 'stopped',
      requestedAt: START,
      readBack: false,
      trafficReturnedMs: 11_000,
      result: { kind: 'succeeded', reached: 'rolled-back' }
    })
    expect(runner.lines).toContain(
      'Stopped service deployment api/aaaa with ROLLBACK: production traffic goes back to the previous revision.'
    )
    expect(runner.lines).toContain(
      'Production traffic was back on the previous revision 11s after the rollback request (11000 ms).'
    )
    // Stage lines count from the request.
    expect(stageLines(runner)[0]).toMatch(
      /^\[1s since the update\] BAKE_TIME \[ROLLBACK_IN_PROGRESS\]/
    )
  })

  it('a lost reply to the stop is read back, and the rollback watched as usual', async () => {
    const { outcome, runner } = await rollBack(afterStop, {
      stop: () => {
        throw awsError('ServerException', 'reset', 503)
      }
    })
    expect(outcome).toMatchObject({ kind: 'stopped', readBack: true })
    expect(runner.lines).toContain(
      'The reply to StopServiceDeployment was lost; reading it back shows ROLLBACK_IN_PROGRESS, so the rollback is under way.'
    )
  })

  it('uses the deployment the caller already described, and stops nothing when a switch cannot help', async () => {
    const { outcome } = await rollBack(() => ({ sd: new Error('not asked') }), {
      serviceDeployment: sd({ lifecycleStage: 'CLEAN_UP' }, 100)
    })
    expect(outcome).toEqual({
      kind: 'not-possible',
      why: 'the previous revision is being scaled down (CLEAN_UP)'
    })
    expect(ecsMock.commandCalls(StopServiceDeploymentCommand)).toHaveLength(0)
    expect(ecsMock.commandCalls(DescribeServiceDeploymentsCommand)).toHaveLength(0)
  })

  it('without a return of production traffic, no time is given', async () => {
    const { outcome, runner } = await rollBack(elapsed => ({
      sd:
        elapsed < 1_000
          ? sd({ lifecycleStage: 'BAKE_TIME' }, 100)
          : sd({ status: 'SUCCESSFUL', lifecycleStage: 'CLEAN_UP' }, 100)
    }))
    expect(outcome).toMatchObject({ kind: 'stopped', result: { kind: 'failed' } })
    expect(outcome.kind === 'stopped' && outcome.trafficReturnedMs).toBeUndefined()
    expect(runner.lines.some(l => l.startsWith('Production traffic was back'))).toBe(false)
  })
})

describe('a deadline on a deployment ECS still moves along', () => {
  const baking = () => ({ sd: sd({ lifecycleStage: 'BAKE_TIME' }, 100) })

  it('stops watching a healthy deployment, naming it and its stage, and rolls nothing back', async () => {
    const { result, clock } = await watch(baking, { deadline: START + MINUTE })
    expect(result.kind).toBe('unknown')
    expect(result.kind === 'unknown' && result.reason).toBe(
      `the step stopped watching after 1m00s: service deployment ${SD} is still in progress at stage BAKE_TIME with every new task running and none failed, so it was left to ECS, not rolled back. Follow it in the ECS console, or give wait-for-minutes more time`
    )
    expect(ecsMock.commandCalls(StopServiceDeploymentCommand)).toHaveLength(0)
    expect(clock.time).toBe(START + MINUTE)
  })

  it('a task of ours that crashed makes it a failing deployment: timed out, as before', async () => {
    const crashed = 'arn:aws:ecs:eu-west-1:123456789012:task/payments/crashed'
    ecsMock.on(ListTasksCommand).resolves({ taskArns: [crashed] })
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [
        {
          taskArn: crashed,
          startedBy: 'ecs-svc/42',
          lastStatus: 'STOPPED',
          stopCode: 'EssentialContainerExited',
          stoppedReason: 'Essential container in task exited',
          containers: [{ name: 'api', exitCode: 1 }]
        }
      ]
    })
    const { result } = await watch(baking, { deadline: START + MINUTE })
    expect(result).toMatchObject({ kind: 'failed', cause: 'timed-out' })
  })

  it('tasks that failed during the watch make it failing, even once the count went back to 0', async () => {
    const { result } = await watch(
      elapsed => ({
        ...baking(),
        service: blueGreen({}, elapsed < 20_000 ? 1 : 0)
      }),
      { deadline: START + MINUTE }
    )
    expect(result).toMatchObject({ kind: 'failed', cause: 'timed-out' })
  })

  it('a rollback that does not finish in time is timed out, not left to ECS', async () => {
    const { result } = await watch(
      () => ({ sd: sd({ status: 'ROLLBACK_IN_PROGRESS', lifecycleStage: 'SCALE_UP' }) }),
      { until: 'rolled-back', deadline: START + MINUTE }
    )
    expect(result).toMatchObject({ kind: 'failed', cause: 'timed-out' })
  })
})
