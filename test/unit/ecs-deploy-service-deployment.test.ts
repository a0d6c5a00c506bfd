/**
 * Reading a service deployment as AWS documents it (service-deployment.ts): ours found among
 * those listed (never the possibly stale currentServiceDeployment), how long LINEAR and CANARY
 * need before a wait can cover them, and when a deadline leaves a healthy deployment to ECS.
 */
import {
  DescribeServiceRevisionsCommand,
  ECSClient,
  ListServiceDeploymentsCommand,
  type Service,
  type ServiceDeployment
} from '@aws-sdk/client-ecs'
import { mockClient } from 'aws-sdk-client-mock'
import { EcsGateway, type StoppedTask } from '../../actions/ecs-deploy/ecs.js'
import { judgeServiceDeployment, lifecycleStrategy } from '../../actions/ecs-deploy/lifecycle.js'
import {
  minutesToReach,
  ourServiceDeploymentArn,
  pickServiceDeployment,
  progressingNormally,
  shortWaitRefusal
} from '../../actions/ecs-deploy/service-deployment.js'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import { deployment, service } from '../support/ecs-fixtures.js'
import { FakeClock, RecordingRunner } from '../support/runner.js'

const ecsMock = mockClient(ECSClient)
const SD = (id: string) =>
  `arn:aws:ecs:eu-west-1:123456789012:service-deployment/payments/api/${id}`
const TD = (revision: number) =>
  `arn:aws:ecs:eu-west-1:123456789012:task-definition/api:${revision}`
const T0 = Date.parse('2026-12-01T10:00:00Z')

beforeEach(() => ecsMock.reset())

describe('pickServiceDeployment', () => {
  const clues = { createdFrom: T0, taskDefinition: TD(43), before: [SD('old')] }

  it('takes the one created since the update on our revision, never one the service had before', () => {
    expect(
      pickServiceDeployment(
        [
          { serviceDeploymentArn: SD('old'), createdAt: new Date(T0), taskDefinition: TD(43) },
          {
            serviceDeploymentArn: SD('theirs'),
            createdAt: new Date(T0 + 1),
            taskDefinition: TD(44)
          },
          { serviceDeploymentArn: SD('ours'), createdAt: new Date(T0 + 2), taskDefinition: TD(43) }
        ],
        clues
      )
    ).toBe(SD('ours'))
  })

  it('allows for a minute of clock skew, and no more', () => {
    const at = (ms: number) => [
      { serviceDeploymentArn: SD('ours'), createdAt: new Date(ms), taskDefinition: TD(43) }
    ]
    expect(pickServiceDeployment(at(T0 - 60_000), clues)).toBe(SD('ours'))
    expect(pickServiceDeployment(at(T0 - 60_001), clues)).toBeUndefined()
  })

  it('takes the newest when several match, and none from an empty listing', () => {
    expect(
      pickServiceDeployment(
        [
          { serviceDeploymentArn: SD('a'), createdAt: new Date(T0 + 5), taskDefinition: TD(43) },
          { serviceDeploymentArn: SD('b'), createdAt: new Date(T0 + 9), taskDefinition: TD(43) }
        ],
        clues
      )
    ).toBe(SD('b'))
    expect(pickServiceDeployment([], clues)).toBeUndefined()
  })
})

describe('ourServiceDeploymentArn', () => {
  const gateway = (clock: FakeClock) =>
    new EcsGateway(
      new ECSClient({ region: 'eu-west-1' }),
      new AwsCaller({
        clock,
        deadline: T0 + 600_000,
        attemptTimeoutMs: 2_000,
        backoffMs: 100,
        maxBackoffMs: 1_000
      })
    )
  const before = service([deployment('ecs-svc/41', 41)], { currentServiceDeployment: SD('old') })
  const ours = deployment('ecs-svc/43', 43, { createdAt: new Date(T0) })
  // The reply to UpdateService still names the previous service deployment.
  const stale = service([ours], { currentServiceDeployment: SD('old') })
  const request = (over: Partial<Parameters<typeof ourServiceDeploymentArn>[3]> = {}) => ({
    cluster: 'payments',
    service: 'api',
    pollMs: 2_000,
    deadline: T0 + 600_000,
    before,
    updated: { service: stale, deployment: ours, startedAt: T0 },
    taskDefinition: TD(43),
    ...over
  })

  it('looks ours up with ListServiceDeployments, waiting while the listing lags, and ignores the stale field', async () => {
    const clock = new FakeClock(T0)
    let lists = 0
    ecsMock.on(ListServiceDeploymentsCommand).callsFake(() => ({
      serviceDeployments: [
        {
          serviceDeploymentArn: SD('old'),
          createdAt: new Date(T0 - 3_600_000),
          targetServiceRevisionArn: 'rev-41'
        },
        ...(++lists < 3
          ? []
          : [
              {
                serviceDeploymentArn: SD('new'),
                createdAt: new Date(T0 + 500),
                targetServiceRevisionArn: 'rev-43'
              }
            ])
      ]
    }))
    ecsMock.on(DescribeServiceRevisionsCommand).callsFake(input => ({
      serviceRevisions: (input.serviceRevisionArns as string[]).map(arn => ({
        serviceRevisionArn: arn,
        taskDefinition: arn === 'rev-43' ? TD(43) : TD(41)
      }))
    }))
    const arn = await ourServiceDeploymentArn(
      gateway(clock),
      clock,
      new RecordingRunner(),
      request()
    )
    expect(arn).toBe(SD('new'))
    expect(lists).toBe(3)
    const asked = ecsMock.commandCalls(ListServiceDeploymentsCommand)[0]!.args[0].input
    expect(asked.createdAt?.after?.valueOf()).toBe(T0 - 60_000)
  })

  it('without ListServiceDeployments, says so and watches the ECS deployment instead', async () => {
    const clock = new FakeClock(T0)
    ecsMock.on(ListServiceDeploymentsCommand).rejects(
      Object.assign(new Error('not authorized'), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 400 }
      })
    )
    const runner = new RecordingRunner()
    const arn = await ourServiceDeploymentArn(gateway(clock), clock, runner, request())
    expect(arn).toBe('')
    expect(runner.lines.join('\n')).toMatch(
      /could not be looked up .*AccessDenied.*watching the ECS deployment instead/
    )
  })

  it('an update that started no deployment watches the current one', async () => {
    const clock = new FakeClock(T0)
    const arn = await ourServiceDeploymentArn(
      gateway(clock),
      clock,
      new RecordingRunner(),
      request({
        updated: { service: before, startedAt: T0 },
        taskDefinition: TD(41)
      })
    )
    expect(arn).toBe(SD('old'))
    expect(ecsMock.commandCalls(ListServiceDeploymentsCommand)).toHaveLength(0)
  })
})

describe('a stale currentServiceDeployment', () => {
  it('naming a service deployment older than ours is not a supersession', () => {
    const described = service([deployment('ecs-svc/43', 43, { rolloutState: 'IN_PROGRESS' })], {
      currentServiceDeployment: SD('old'),
      deploymentConfiguration: { strategy: 'BLUE_GREEN' }
    })
    const ours: ServiceDeployment = {
      serviceDeploymentArn: SD('new'),
      status: 'IN_PROGRESS',
      lifecycleStage: 'SCALE_UP'
    }
    expect(
      judgeServiceDeployment(ours, {
        service: described,
        deploymentId: 'ecs-svc/43',
        earlier: [SD('old')]
      })
    ).toEqual({ kind: 'in-progress' })
    expect(
      judgeServiceDeployment(ours, { service: described, deploymentId: 'ecs-svc/43' })
    ).toMatchObject({ kind: 'superseded' })
  })
})

describe('minutesToReach and shortWaitRefusal', () => {
  const configured = (deploymentConfiguration: Service['deploymentConfiguration']): Service =>
    service([deployment('ecs-svc/1', 1)], { deploymentConfiguration })

  it.each<[string, Service['deploymentConfiguration'], number, number]>([
    ['LINEAR with ECS defaults: 10 steps of 10 %, 6 min apart', { strategy: 'LINEAR' }, 54, 54],
    [
      'LINEAR 25 % every 3 min, bake 5',
      {
        strategy: 'LINEAR',
        linearConfiguration: { stepPercent: 25, stepBakeTimeInMinutes: 3 },
        bakeTimeInMinutes: 5
      },
      9 + 5,
      9
    ],
    [
      'LINEAR 33.3 % takes 4 steps',
      { strategy: 'LINEAR', linearConfiguration: { stepPercent: 33.3, stepBakeTimeInMinutes: 1 } },
      3,
      3
    ],
    ['CANARY with ECS defaults: a 10-minute canary', { strategy: 'CANARY' }, 10, 10],
    [
      'CANARY 20 % for 4 min, bake 7',
      {
        strategy: 'CANARY',
        canaryConfiguration: { canaryPercent: 20, canaryBakeTimeInMinutes: 4 },
        bakeTimeInMinutes: 7
      },
      11,
      4
    ],
    ['BLUE_GREEN: bake time only', { strategy: 'BLUE_GREEN', bakeTimeInMinutes: 20 }, 20, 0],
    ['ROLLING: nothing', { strategy: 'ROLLING', bakeTimeInMinutes: 20 }, 0, 0]
  ])('%s', (_what, config, steady, shifted) => {
    expect(minutesToReach(configured(config), 'steady')).toBe(steady)
    expect(minutesToReach(configured(config), 'traffic-shifted')).toBe(shifted)
    // The test-traffic gate returns at the first pause, before any production traffic step.
    expect(minutesToReach(configured(config), 'test-traffic')).toBe(0)
  })

  it('refuses the default 15 minutes for ECS default LINEAR, naming the strategy, the minutes and the input', () => {
    const linear = configured({ strategy: 'LINEAR', bakeTimeInMinutes: 10 })
    expect(
      shortWaitRefusal(linear, lifecycleStrategy(linear), {
        waitMs: 15 * 60_000,
        waitUntil: 'steady'
      })
    ).toBe(
      "Service 'api' deploys with LINEAR, which takes 64 minutes to shift all production traffic and bake (10 min); wait-for-minutes is 15, so the step would stop before the deployment could finish. Nothing was changed. Set wait-for-minutes above 64, or set wait-until: traffic-shifted (it needs 54 min)."
    )
    expect(
      shortWaitRefusal(linear, 'LINEAR', { waitMs: 60 * 60_000, waitUntil: 'traffic-shifted' })
    ).toBeUndefined()
    expect(
      shortWaitRefusal(linear, 'LINEAR', { waitMs: 54 * 60_000, waitUntil: 'traffic-shifted' })
    ).toBe(
      "Service 'api' deploys with LINEAR, which takes 54 minutes to shift all production traffic; wait-for-minutes is 54, so the step would stop before the deployment could finish. Nothing was changed. Set wait-for-minutes above 54."
    )
  })

  it('refuses nothing for a rolling service or a blue/green one without bake time', () => {
    const rolling = configured({ strategy: 'ROLLING' })
    expect(
      shortWaitRefusal(rolling, undefined, { waitMs: 60_000, waitUntil: 'steady' })
    ).toBeUndefined()
    const blueGreen = configured({ strategy: 'BLUE_GREEN' })
    expect(
      shortWaitRefusal(blueGreen, 'BLUE_GREEN', { waitMs: 60_000, waitUntil: 'steady' })
    ).toBeUndefined()
  })
})

describe('progressingNormally', () => {
  const sd = (status: ServiceDeployment['status'] = 'IN_PROGRESS'): ServiceDeployment => ({
    status,
    lifecycleStage: 'PRODUCTION_TRAFFIC_SHIFT'
  })
  const up = deployment('ecs-svc/43', 43, { rolloutState: 'IN_PROGRESS' })
  const stopped = (stoppedReason: string): StoppedTask => ({
    taskArn: 't',
    stoppedReason,
    stopCode: 'ServiceSchedulerInitiated',
    containers: []
  })

  it('is true for a deployment under way with every task running and none failed', () => {
    expect(progressingNormally(sd(), up, { seenDuringWatch: 0, stopped: [] })).toBe(true)
    expect(
      progressingNormally(sd('PENDING'), up, {
        seenDuringWatch: 0,
        stopped: [stopped('Scaling activity initiated by (deployment ecs-svc/43)')]
      })
    ).toBe(true)
  })

  it('is false on any sign of failure, or tasks still starting, or an unreadable stopped list', () => {
    const none = { seenDuringWatch: 0, stopped: [] }
    expect(progressingNormally(sd('ROLLBACK_IN_PROGRESS'), up, none)).toBe(false)
    expect(progressingNormally(sd(), undefined, none)).toBe(false)
    expect(progressingNormally(sd(), up, { ...none, seenDuringWatch: 1 })).toBe(false)
    expect(progressingNormally(sd(), { ...up, failedTasks: 1 }, none)).toBe(false)
    expect(progressingNormally(sd(), up, { seenDuringWatch: 0, stopped: undefined })).toBe(false)
    expect(
      progressingNormally(sd(), up, {
        seenDuringWatch: 0,
        stopped: [stopped('Task failed ELB health checks')]
      })
    ).toBe(false)
    expect(progressingNormally(sd(), { ...up, runningCount: 1, pendingCount: 1 }, none)).toBe(false)
    expect(progressingNormally(sd(), { ...up, desiredCount: 0, runningCount: 0 }, none)).toBe(false)
  })
})
