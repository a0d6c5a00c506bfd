/**
 * PAUSE lifecycle hooks in ecs-deploy: the decisions of pause.ts (the gate a service has, the
 * continue inputs, what a watch does at a hook awaiting action), the verdicts of lifecycle.ts at
 * a pause, and the watch at a pause with an injected clock over a mocked ECS client.
 */
import {
  ContinueServiceDeploymentCommand,
  DescribeServiceDeploymentsCommand,
  DescribeServicesCommand,
  ECSClient,
  type Service,
  type ServiceDeployment
} from '@aws-sdk/client-ecs'
import { mockClient } from 'aws-sdk-client-mock'
import { readDeployConfig } from '../../actions/ecs-deploy/config.js'
import { EcsGateway } from '../../actions/ecs-deploy/ecs.js'
import {
  decide,
  judgeServiceDeployment,
  watchServiceDeployment,
  type LifecycleWatchRequest
} from '../../actions/ecs-deploy/lifecycle.js'
import {
  decidePause,
  readContinueInputs,
  refuseTestTrafficWithoutGate,
  testTrafficGate,
  whatEcsDid
} from '../../actions/ecs-deploy/pause.js'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import { Inputs } from '../../actions/shared/inputs.js'
import { deployment, service } from '../support/ecs-fixtures.js'
import { FakeClock, RecordingRunner } from '../support/runner.js'

const START = Date.parse('2026-11-28T12:00:00Z')
const MINUTE = 60_000
const SD = 'arn:aws:ecs:eu-west-1:123456789012:service-deployment/payments/api/aaaa'
const inputs = (values: Record<string, string>) => new Inputs(name => values[name] ?? '')

function pausedAt(
  stage: string,
  hook: Partial<NonNullable<ServiceDeployment['lifecycleHookDetails']>[number]> = {},
  fields: Partial<ServiceDeployment> = {}
): ServiceDeployment {
  return {
    serviceDeploymentArn: SD,
    status: 'IN_PROGRESS',
    lifecycleStage: stage as ServiceDeployment['lifecycleStage'],
    sourceServiceRevisions: [{ arn: 'rev-blue' }],
    targetServiceRevision: {
      arn: 'rev-green',
      requestedProductionTrafficWeight: 0,
      requestedTestTrafficWeight: 100
    },
    lifecycleHookDetails: [
      {
        hookId: 'hook-1',
        targetType: 'PAUSE',
        status: 'AWAITING_ACTION',
        expiresAt: new Date(START + 60 * MINUTE),
        timeoutAction: 'ROLLBACK',
        ...hook
      }
    ],
    ...fields
  }
}

function withHooks(
  strategy: 'BLUE_GREEN' | 'LINEAR' | 'CANARY' | 'ROLLING',
  hooks: NonNullable<Service['deploymentConfiguration']>['lifecycleHooks']
): Service {
  return service([deployment('ecs-svc/41', 41)], {
    deploymentConfiguration: { strategy, lifecycleHooks: hooks }
  })
}

describe('continue-deployment and continue-action', () => {
  const read = (values: Record<string, string>) =>
    readContinueInputs(inputs(values), { image: values.image ?? '', rollbackTo: '' })

  it('reads a service deployment ARN and the action, continue by default', () => {
    expect(read({ 'continue-deployment': SD })).toEqual({
      serviceDeploymentArn: SD,
      action: 'continue'
    })
    expect(read({ 'continue-deployment': SD, 'continue-action': 'rollback' })).toEqual({
      serviceDeploymentArn: SD,
      action: 'rollback'
    })
    expect(read({})).toBeUndefined()
  })

  it('refuses a wrong ARN, a wrong action, rollback without a deployment, and an image beside it', () => {
    expect(() => read({ 'continue-deployment': 'ecs-svc/123' })).toThrow(
      /^Input 'continue-deployment' is 'ecs-svc\/123': give the service-deployment-arn output/
    )
    expect(() => read({ 'continue-deployment': SD, 'continue-action': 'abort' })).toThrow(
      /^Input 'continue-action' is 'abort': use continue .* or rollback/
    )
    expect(() => read({ 'continue-action': 'rollback' })).toThrow(
      /^Input 'continue-action' is 'rollback': set continue-deployment/
    )
    expect(() => read({ 'continue-deployment': SD, image: 'repo/api:1' })).toThrow(
      /^Input 'image' is 'repo\/api:1': continue-deployment answers the hook/
    )
  })

  it('makes image optional in the deploy config', () => {
    const config = readDeployConfig(
      inputs({ cluster: 'payments', service: 'api', 'continue-deployment': SD })
    )
    expect(config.continueDeployment).toEqual({ serviceDeploymentArn: SD, action: 'continue' })
    expect(() => readDeployConfig(inputs({ cluster: 'payments', service: 'api' }))).toThrow(
      /Input 'image'/
    )
  })
})

describe('the test-traffic gate a service has', () => {
  it('is a PAUSE hook at POST_TEST_TRAFFIC_SHIFT or PRE_PRODUCTION_TRAFFIC_SHIFT', () => {
    expect(
      testTrafficGate(
        withHooks('BLUE_GREEN', [
          { targetType: 'PAUSE', lifecycleStages: ['POST_TEST_TRAFFIC_SHIFT'] }
        ])
      )
    ).toEqual({ kind: 'gate', stage: 'POST_TEST_TRAFFIC_SHIFT' })
    expect(
      testTrafficGate(
        withHooks('LINEAR', [
          { targetType: 'PAUSE', lifecycleStages: ['PRE_PRODUCTION_TRAFFIC_SHIFT'] }
        ])
      )
    ).toEqual({ kind: 'gate', stage: 'PRE_PRODUCTION_TRAFFIC_SHIFT' })
  })

  it('is none for a Lambda hook, a pause elsewhere, or a ROLLING service; wait-until test-traffic then names the fix', () => {
    const lambda = withHooks('BLUE_GREEN', [
      {
        hookTargetArn: 'arn:aws:lambda:eu-west-1:1:function:f',
        lifecycleStages: ['POST_TEST_TRAFFIC_SHIFT']
      }
    ])
    expect(testTrafficGate(lambda)).toMatchObject({ kind: 'none' })
    expect(
      testTrafficGate(
        withHooks('CANARY', [{ targetType: 'PAUSE', lifecycleStages: ['POST_SCALE_UP'] }])
      )
    ).toMatchObject({ kind: 'none', why: expect.stringContaining('CANARY') })
    expect(testTrafficGate(withHooks('ROLLING', []))).toMatchObject({
      kind: 'none',
      why: expect.stringContaining('ROLLING')
    })
    expect(() => refuseTestTrafficWithoutGate(lambda, 'api')).toThrow(
      /^Input 'wait-until' is 'test-traffic': service 'api' cannot wait at a test-traffic gate: .*no PAUSE lifecycle hook.*Add a PAUSE hook at POST_TEST_TRAFFIC_SHIFT/
    )
  })
})

describe('a hook awaiting action', () => {
  it('is its own verdict; only wait-until test-traffic at a gate stage ends the watch with it', () => {
    const atGate = pausedAt('POST_TEST_TRAFFIC_SHIFT')
    const verdict = judgeServiceDeployment(atGate)
    expect(verdict).toMatchObject({ kind: 'awaiting-action', hook: { hookId: 'hook-1' } })
    expect(decide(verdict, 'test-traffic', atGate)).toBe('succeeded')
    expect(decide(verdict, 'steady', atGate)).toBeUndefined()
    expect(decide(verdict, 'traffic-shifted', atGate)).toBeUndefined()
    const early = pausedAt('POST_SCALE_UP')
    expect(decide(judgeServiceDeployment(early), 'test-traffic', early)).toBeUndefined()
    // Past the gate without waiting there: production traffic went on ungated.
    expect(decide({ kind: 'traffic-shifted' }, 'test-traffic')).toBe('failed')
    expect(decide({ kind: 'traffic-shifted' }, 'traffic-shifted')).toBe('succeeded')
  })

  it('an expired pause with CONTINUE is ECS moving on; with ROLLBACK it is a failure naming the action', () => {
    const continued = pausedAt('POST_TEST_TRAFFIC_SHIFT', {
      status: 'TIMED_OUT',
      timeoutAction: 'CONTINUE'
    })
    expect(judgeServiceDeployment(continued)).toEqual({ kind: 'in-progress' })
    const rolledBack = pausedAt('POST_TEST_TRAFFIC_SHIFT', { status: 'TIMED_OUT' })
    expect(judgeServiceDeployment(rolledBack)).toMatchObject({
      kind: 'failed',
      ecsRollingBack: true,
      reason: expect.stringContaining('ECS applied its timeout action ROLLBACK')
    })
    expect(whatEcsDid({ ...rolledBack, status: 'ROLLBACK_SUCCESSFUL' }, 'hook-1')).toMatch(
      /its hook expired at .* and ECS applied the timeout action ROLLBACK; the service deployment is ROLLBACK_SUCCESSFUL/
    )
  })

  it('outside the gate: watch on while it expires within the deadline, give up at once otherwise, naming expiresAt and timeoutAction', () => {
    const sd = pausedAt('POST_SCALE_UP')
    const hook = sd.lifecycleHookDetails![0]!
    expect(decidePause(sd, hook, { now: START, deadline: START + 90 * MINUTE })).toMatchObject({
      kind: 'wait',
      line: expect.stringContaining('ECS applies ROLLBACK at 2026-11-28T13:00:00.000Z (in 60 min)')
    })
    expect(decidePause(sd, hook, { now: START, deadline: START + 15 * MINUTE })).toEqual({
      kind: 'give-up',
      reason: expect.stringMatching(
        /waits at PAUSE hook hook-1 \(POST_SCALE_UP\) .* ECS applies ROLLBACK at 2026-11-28T13:00:00.000Z .* after this step's deadline \(in 15 min\)\. Deploy with wait-until: test-traffic/
      )
    })
  })

  it('after the gate was answered: later LINEAR and CANARY pauses are continued, once each', () => {
    const later = pausedAt('PRE_PRODUCTION_TRAFFIC_SHIFT', { hookId: 'hook-2' })
    const hook = later.lifecycleHookDetails![0]!
    const context = { now: START, deadline: START + MINUTE, answered: new Set(['hook-1']) }
    expect(decidePause(later, hook, context).kind).toBe('answer')
    expect(
      decidePause(later, hook, { ...context, answered: new Set(['hook-1', 'hook-2']) }).kind
    ).toBe('wait')
    // Without having answered the gate, the same pause is nobody's to answer.
    expect(decidePause(later, hook, { now: START, deadline: START + MINUTE }).kind).toBe('give-up')
  })
})

describe('the watch at a pause', () => {
  const ecsMock = mockClient(ECSClient)
  beforeEach(() => ecsMock.reset())

  function play(
    looks: (elapsed: number, answered: string[]) => ServiceDeployment,
    clock: FakeClock
  ) {
    const answered: string[] = []
    ecsMock.on(DescribeServicesCommand).resolves({
      services: [
        service(
          [
            deployment('ecs-svc/42', 42, { rolloutState: 'IN_PROGRESS' }),
            deployment('ecs-svc/41', 41, { status: 'ACTIVE' })
          ],
          { currentServiceDeployment: SD, deploymentConfiguration: { strategy: 'LINEAR' } }
        )
      ]
    })
    ecsMock.on(DescribeServiceDeploymentsCommand).callsFake(() => ({
      serviceDeployments: [looks(clock.now() - START, answered)]
    }))
    ecsMock.on(ContinueServiceDeploymentCommand).callsFake(input => {
      answered.push(input.hookId)
      return { serviceDeploymentArn: SD }
    })
    return answered
  }

  async function watch(
    looks: (elapsed: number, answered: string[]) => ServiceDeployment,
    over: Partial<LifecycleWatchRequest> = {}
  ) {
    const clock = new FakeClock(START)
    const runner = new RecordingRunner()
    const answered = play(looks, clock)
    const request: LifecycleWatchRequest = {
      cluster: 'payments',
      service: 'api',
      serviceDeploymentArn: SD,
      deployment: { id: 'ecs-svc/42', taskDefinition: 'api:42' },
      until: 'steady',
      since: START,
      deadline: START + 15 * MINUTE,
      pollMs: 10_000,
      events: { since: START, seen: new Set() },
      ...over
    }
    const gateway = new EcsGateway(
      new ECSClient({ region: 'eu-west-1' }),
      new AwsCaller({
        clock,
        deadline: request.deadline,
        attemptTimeoutMs: 5_000,
        backoffMs: 1_000,
        maxBackoffMs: 8_000
      })
    )
    const result = await watchServiceDeployment(gateway, runner, clock, request)
    return { result, runner, answered, clock }
  }

  it('wait-until test-traffic returns on the look that sees the deployment wait at its gate, with the hook', async () => {
    const { result } = await watch(
      elapsed =>
        elapsed < 30_000
          ? pausedAt('TEST_TRAFFIC_SHIFT', {}, { lifecycleHookDetails: [] })
          : pausedAt('POST_TEST_TRAFFIC_SHIFT'),
      { until: 'test-traffic' }
    )
    expect(result).toMatchObject({
      kind: 'succeeded',
      reached: 'test-traffic',
      hook: { hookId: 'hook-1', status: 'AWAITING_ACTION' },
      serviceDeployment: { lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT' },
      elapsedMs: 30_000
    })
  })

  it('wait-until steady at a pause that outlives the deadline stops at once instead of waiting the deadline out', async () => {
    const { result, runner } = await watch(() =>
      pausedAt('POST_TEST_TRAFFIC_SHIFT', { expiresAt: new Date(START + 24 * 60 * MINUTE) })
    )
    expect(result).toMatchObject({
      kind: 'failed',
      ecsRollingBack: false,
      rollback: { possible: true },
      elapsedMs: 0,
      reason: expect.stringContaining('waits at PAUSE hook hook-1 (POST_TEST_TRAFFIC_SHIFT)')
    })
    expect(runner.lines.join('\n')).toMatch(
      /pause hook AWAITING_ACTION \(expires 2026-11-29T12:00:00Z, then ROLLBACK\)/
    )
  })

  it('wait-until steady at a pause expiring within the deadline watches on, and reports the timeout action ECS applied', async () => {
    const expiresAt = new Date(START + 5 * MINUTE)
    const { result, runner } = await watch(elapsed =>
      elapsed < 5 * MINUTE
        ? pausedAt('POST_TEST_TRAFFIC_SHIFT', { expiresAt })
        : pausedAt(
            'POST_TEST_TRAFFIC_SHIFT',
            { expiresAt, status: 'TIMED_OUT' },
            { status: 'ROLLBACK_IN_PROGRESS' }
          )
    )
    expect(result).toMatchObject({ kind: 'failed', ecsRollingBack: true, elapsedMs: 5 * MINUTE })
    expect(
      runner.lines.filter(l => l.includes("within this step's deadline, so it watches on"))
    ).toHaveLength(1)
  })

  it('after the gate is answered, each later pause before a production traffic step is continued once', async () => {
    const { result, answered } = await watch(
      (elapsed, sent) => {
        const step = Math.floor(elapsed / 60_000)
        if (step >= 3)
          return pausedAt('BAKE_TIME', {}, { lifecycleHookDetails: [], status: 'SUCCESSFUL' })
        const hookId = `hook-${step + 2}`
        // The answer shows one look late, as ECS's eventual consistency allows.
        return pausedAt(
          'PRE_PRODUCTION_TRAFFIC_SHIFT',
          {
            hookId,
            status:
              sent.includes(hookId) && elapsed % 60_000 >= 20_000 ? 'SUCCEEDED' : 'AWAITING_ACTION'
          },
          { targetServiceRevision: { requestedProductionTrafficWeight: step * 25 } }
        )
      },
      {
        pauses: {
          answered: new Set(['hook-1']),
          async answer(hookId) {
            this.answered.add(hookId)
            await new ECSClient({ region: 'eu-west-1' }).send(
              new ContinueServiceDeploymentCommand({
                serviceDeploymentArn: SD,
                hookId,
                action: 'CONTINUE'
              })
            )
          }
        }
      }
    )
    expect(result.kind).toBe('succeeded')
    expect(answered).toEqual(['hook-2', 'hook-3', 'hook-4'])
  })
})
