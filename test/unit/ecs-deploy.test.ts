import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  DescribeServiceRevisionsCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListServiceDeploymentsCommand,
  ListServicesCommand,
  ListTaskDefinitionsCommand,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
  type RegisterTaskDefinitionCommandInput,
  type Service
} from '@aws-sdk/client-ecs'
import { mockClient } from 'aws-sdk-client-mock'
import { run } from '../../actions/ecs-deploy/main.js'
import { TRACE_TAGS } from '../../actions/ecs-deploy/task-definition.js'
import { FakeClock, RecordingRunner } from '../support/runner.js'
import {
  arn,
  awsError,
  deployment,
  service,
  steady,
  taskDefinition
} from '../support/ecs-fixtures.js'

const ecsMock = mockClient(ECSClient)
const context = {
  sha: 'abc123def',
  repository: 'noblepay/api',
  runId: '777',
  runAttempt: '1',
  actor: 'dev',
  serverUrl: 'https://github.com',
  runUrl: 'https://github.com/noblepay/api/actions/runs/777',
  sourceUrl: 'https://github.com/noblepay/api'
}
const IMAGE = 'registry.example/api@sha256:' + 'a'.repeat(64)
const POLL_MS = 10_000

type Timeline = (elapsedMs: number) => Service

/** A rollout as ECS would play it, keyed by time since UpdateService. */
interface Scenario {
  inputs?: Record<string, string>
  before?: Service
  timeline?: Timeline
  /** The service UpdateService answers with, per call. */
  updates?: Service[]
  /** DescribeTaskDefinition answers as ECS does for a revision that does not exist. */
  missingTaskDefinition?: boolean
  /** RegisterTaskDefinition answers with this error. */
  registerError?: Error
}

async function deploy(scenario: Scenario) {
  const clock = new FakeClock()
  const runner = new RecordingRunner()
  let updatedAt: number | undefined
  let updates = 0
  const before = scenario.before ?? steady()
  const existing = new Set((before.deployments ?? []).map(d => d.id))
  // Deployments started by the update carry ECS's time of the update, as ECS stamps them.
  const stamped = (answer: Service): Service => ({
    ...answer,
    deployments: answer.deployments?.map(d =>
      existing.has(d.id) ? d : { ...d, createdAt: new Date(updatedAt ?? clock.now()) }
    )
  })
  ecsMock.on(DescribeServicesCommand).callsFake(() => ({
    services: [
      updatedAt === undefined ? before : stamped(scenario.timeline!(clock.now() - updatedAt))
    ]
  }))
  ecsMock.on(DescribeTaskDefinitionCommand).callsFake(input => {
    if (scenario.missingTaskDefinition)
      throw awsError('ClientException', 'Unable to describe task definition.')
    const revision = Number(String(input.taskDefinition).split(':').pop())
    return { taskDefinition: taskDefinition(revision), tags: [{ key: 'team', value: 'payments' }] }
  })
  ecsMock
    .on(RegisterTaskDefinitionCommand)
    .callsFake((input: RegisterTaskDefinitionCommandInput) => {
      if (scenario.registerError) throw scenario.registerError
      return {
        taskDefinition: { ...input, taskDefinitionArn: arn(input.family!, 42), revision: 42 }
      }
    })
  ecsMock.on(UpdateServiceCommand).callsFake(() => {
    updatedAt = clock.now()
    const answer = scenario.updates?.[updates] ?? scenario.timeline!(0)
    updates++
    return { service: stamped(answer) }
  })
  const inputs = {
    cluster: 'payments',
    service: 'api',
    image: IMAGE,
    'poll-interval-seconds': '10',
    ...scenario.inputs
  }
  let failure: Error | undefined
  try {
    await run(runner, {
      inputs: name => inputs[name as keyof typeof inputs] ?? '',
      clock,
      context,
      ecsClient: new ECSClient({ region: 'eu-west-1' })
    })
  } catch (error) {
    failure = error as Error
  }
  return { runner, clock, failure }
}

const calls = (command: Parameters<typeof ecsMock.commandCalls>[0]) => ecsMock.commandCalls(command)

/** Our deployment rolling out from 41 to 42 over `doneAt` ms. */
function rollingOut(doneAt: number): Timeline {
  return elapsed => {
    if (elapsed >= doneAt) return service([deployment('ecs-svc/42', 42)])
    const running = elapsed >= doneAt / 2 ? 1 : 0
    return service([
      deployment('ecs-svc/42', 42, {
        rolloutState: 'IN_PROGRESS',
        runningCount: running,
        pendingCount: 2 - running
      }),
      deployment('ecs-svc/41', 41, { status: 'ACTIVE' })
    ])
  }
}

const stoppedTask = {
  taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/payments/0f1e2d3c',
  lastStatus: 'STOPPED',
  startedBy: 'ecs-svc/42',
  stoppedReason: 'Essential container in task exited',
  stopCode: 'EssentialContainerExited' as const,
  stoppedAt: new Date('2026-11-28T12:00:20Z'),
  containers: [{ name: 'api', exitCode: 1, reason: 'Error: DATABASE_URL is not set' }]
}

beforeEach(() => {
  ecsMock.reset()
  ecsMock.on(ListTasksCommand).resolves({ taskArns: [stoppedTask.taskArn] })
  ecsMock.on(DescribeTasksCommand).resolves({
    tasks: [
      stoppedTask,
      {
        taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/payments/drained',
        startedBy: 'ecs-svc/41',
        stoppedReason: 'Scaling activity initiated by (deployment ecs-svc/42)',
        stopCode: 'ServiceSchedulerInitiated',
        containers: [{ name: 'api', exitCode: 0 }]
      },
      {
        taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/payments/pending-drained',
        startedBy: 'ecs-svc/42',
        stoppedReason: 'Scaling activity initiated by (deployment ecs-svc/43)',
        stopCode: 'ServiceSchedulerInitiated',
        containers: [{ name: 'api' }]
      }
    ]
  })
})

describe('ecs-deploy: a rollout that completes', () => {
  it('registers the next revision from the current one, updates the service and reports success', async () => {
    const { runner, failure } = await deploy({
      inputs: { 'environment-variables': 'LOG_LEVEL=debug\nFEATURE_X=on' },
      timeline: rollingOut(30_000)
    })
    expect(failure).toBeUndefined()
    const registered = calls(RegisterTaskDefinitionCommand)[0].args[0].input as Record<
      string,
      unknown
    > &
      RegisterTaskDefinitionCommandInput
    for (const field of [
      'taskDefinitionArn',
      'revision',
      'status',
      'requiresAttributes',
      'compatibilities',
      'registeredAt',
      'registeredBy'
    ]) {
      expect(registered).not.toHaveProperty(field)
    }
    expect(registered.cpu).toBe('256')
    const container = registered.containerDefinitions![0]
    expect(container.image).toBe(IMAGE)
    expect(container.environment).toEqual([
      { name: 'NODE_ENV', value: 'production' },
      { name: 'LOG_LEVEL', value: 'debug' },
      { name: 'FEATURE_X', value: 'on' }
    ])
    expect(registered.tags).toEqual([
      { key: 'team', value: 'payments' },
      { key: TRACE_TAGS.commit, value: 'abc123def' },
      { key: TRACE_TAGS.run, value: `${context.runUrl}/attempts/1` },
      { key: TRACE_TAGS.image, value: IMAGE }
    ])
    const update = calls(UpdateServiceCommand)[0].args[0].input
    expect(update).toMatchObject({
      cluster: 'payments',
      service: 'api',
      taskDefinition: arn('api', 42),
      forceNewDeployment: true
    })
    expect(runner.outputs).toEqual({
      'previous-task-definition-arn': arn('api', 41),
      'task-definition-arn': arn('api', 42),
      'deployment-id': 'ecs-svc/42',
      status: 'succeeded'
    })
    expect(runner.errors).toEqual([])
    // One line per poll with every deployment's counts and rollout state: polls at 0, 10, 20, 30 s.
    const progress = runner.lines.filter(l => /^\[\d/.test(l))
    expect(progress).toHaveLength(4)
    expect(progress[2]).toContain(
      '*ecs-svc/42 PRIMARY IN_PROGRESS api:42: running 1/2, pending 1, failed 0'
    )
    expect(progress[2]).toContain('ecs-svc/41 ACTIVE COMPLETED api:41: running 2/2')
    expect(runner.summaryText).toContain('| Status | succeeded |')
  })

  it('prints each new service event once, oldest first', async () => {
    const start = Date.parse('2026-11-28T12:00:00Z')
    const event = (n: number, s: number, message: string) => ({
      id: `e${n}`,
      createdAt: new Date(start + s * 1000),
      message
    })
    const base = rollingOut(20_000)
    const { runner } = await deploy({
      timeline: elapsed => {
        const events = [event(0, -600, '(service api) has reached a steady state.')]
        if (elapsed >= 5000)
          events.unshift(event(1, 5, '(service api) has started 2 tasks: (task a) (task b).'))
        if (elapsed >= 15000)
          events.unshift(
            event(2, 15, '(service api) has stopped 2 running tasks: (task c) (task d).')
          )
        return { ...base(elapsed), events }
      }
    })
    const printed = runner.lines.filter(l => l.startsWith('  event'))
    expect(printed).toEqual([
      '  event 12:00:05 (service api) has started 2 tasks: (task a) (task b).',
      '  event 12:00:15 (service api) has stopped 2 running tasks: (task c) (task d).'
    ])
  })

  it('succeeds for a service without rollout state once ours is the only deployment, fully running', async () => {
    const noState = { rolloutState: undefined, rolloutStateReason: undefined }
    const { runner, failure } = await deploy({
      timeline: elapsed =>
        elapsed >= 20_000
          ? service([deployment('ecs-svc/42', 42, noState)])
          : service([
              deployment('ecs-svc/42', 42, { ...noState, runningCount: 2 }),
              deployment('ecs-svc/41', 41, { ...noState, status: 'ACTIVE' })
            ])
    })
    expect(failure).toBeUndefined()
    expect(runner.outputs.status).toBe('succeeded')
    // Ours was fully running at 0 and 10 s, but the old deployment was still there.
    expect(runner.lines.filter(l => /^\[\d/.test(l))).toHaveLength(3)
  })

  it('uses a JSON template instead of the current revision, stripping describe-task-definition fields', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'td-'))
    const path = join(dir, 'task-definition.json')
    await writeFile(
      path,
      JSON.stringify({
        taskDefinition: taskDefinition(7, { family: 'api', cpu: '1024' }),
        tags: [{ key: 'owner', value: 'x' }]
      })
    )
    const { failure } = await deploy({
      inputs: { 'task-definition': path },
      timeline: rollingOut(10_000)
    })
    expect(failure).toBeUndefined()
    const registered = calls(RegisterTaskDefinitionCommand)[0].args[0].input as Record<
      string,
      unknown
    >
    expect(registered.cpu).toBe('1024')
    expect(registered).not.toHaveProperty('revision')
    expect(registered.tags).toContainEqual({ key: 'owner', value: 'x' })
    expect(calls(DescribeTaskDefinitionCommand)).toHaveLength(0)
  })

  it('does not wait when wait-for-service-stability is false', async () => {
    const { runner } = await deploy({
      inputs: { 'wait-for-service-stability': 'false' },
      timeline: rollingOut(60_000)
    })
    expect(runner.outputs.status).toBe('succeeded')
    // The first look, and one more just before the update: no poll after it.
    expect(calls(DescribeServicesCommand)).toHaveLength(2)
  })
})

describe('ecs-deploy: a rollout that fails', () => {
  /** ECS marks ours FAILED at `failAt` and the circuit breaker rolls back, done at `rolledBackAt`. */
  const circuitBreaker =
    (failAt: number, rolledBackAt: number, rollback = true): Timeline =>
    elapsed => {
      const config = {
        deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback } }
      }
      if (elapsed < failAt) {
        return service(
          [
            deployment('ecs-svc/42', 42, {
              rolloutState: 'IN_PROGRESS',
              runningCount: 0,
              pendingCount: 1,
              failedTasks: Math.floor(elapsed / 10_000)
            }),
            deployment('ecs-svc/41', 41, { status: 'ACTIVE' })
          ],
          config
        )
      }
      const failed = deployment('ecs-svc/42', 42, {
        status: rollback ? 'ACTIVE' : 'PRIMARY',
        rolloutState: 'FAILED',
        rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.',
        runningCount: 0,
        failedTasks: 3
      })
      if (!rollback)
        return service([failed, deployment('ecs-svc/41', 41, { status: 'ACTIVE' })], config)
      if (elapsed >= rolledBackAt) return service([deployment('ecs-svc/43', 41)], config)
      return service(
        [deployment('ecs-svc/43', 41, { rolloutState: 'IN_PROGRESS', runningCount: 1 }), failed],
        config
      )
    }

  it('errors within one poll of ECS marking the rollout FAILED, naming the reason and why tasks stopped, then waits for the ECS rollback', async () => {
    const failAt = 37_000
    const { runner, failure } = await deploy({ timeline: circuitBreaker(failAt, 60_000) })
    expect(runner.errors).toHaveLength(1)
    const [first] = runner.errors
    expect(first).toContain('Deployment ecs-svc/42')
    expect(first).toContain('ECS deployment circuit breaker: tasks failed to start.')
    expect(first).toContain('Essential container in task exited')
    expect(first).toContain('container api exit code 1 (Error: DATABASE_URL is not set)')
    // The error follows the first poll that saw FAILED, before any rollback poll. Tasks were
    // failing, so polls came every half interval: it came within half a poll of ECS marking it.
    const progressBeforeError = runner.lines
      .slice(0, runner.errorAt[0])
      .filter(l => /^\[\d/.test(l))
    expect(progressBeforeError.at(-1)).toMatch(/FAILED/)
    const seenAt = Number(/^\[(\d+)s\]/.exec(progressBeforeError.at(-1)!)![1]) * 1000
    expect(seenAt - failAt).toBeGreaterThanOrEqual(0)
    expect(seenAt - failAt).toBeLessThanOrEqual(POLL_MS / 2)
    // startedBy must be ListTasks' only filter: our deployment's stopped tasks are listed by it,
    // and no serviceName goes beside it.
    expect(calls(ListTasksCommand)[0].args[0].input).toMatchObject({
      startedBy: 'ecs-svc/42',
      desiredStatus: 'STOPPED'
    })
    expect(calls(ListTasksCommand)[0].args[0].input.serviceName).toBeUndefined()
    // Neither another deployment's tasks nor ours drained by the rollback are a cause.
    expect(first).not.toContain('Scaling activity')
    expect(first).toContain('Stopped 1 task: Essential container in task exited')
    // ECS rolled back on its own: we update the service once only.
    expect(calls(UpdateServiceCommand)).toHaveLength(1)
    expect(runner.outputs.status).toBe('rolled-back')
    expect(failure?.message).toContain('rolled back by the ECS deployment circuit breaker')
    expect(runner.summaryText).toContain('Error: DATABASE_URL is not set')
  })

  it('prints why tasks stopped while the rollout is still in progress', async () => {
    const { runner } = await deploy({ timeline: circuitBreaker(35_000, 60_000) })
    const firstStop = runner.lines.findIndex(l => l.startsWith('  stopped task 0f1e2d3c'))
    expect(firstStop).toBeGreaterThan(-1)
    expect(firstStop).toBeLessThan(runner.errorAt[0])
    expect(runner.lines.filter(l => l.startsWith('  stopped task 0f1e2d3c'))).toHaveLength(1)
  })

  it('treats our deployment disappearing behind a circuit-breaker rollback as a failure', async () => {
    const { runner, failure } = await deploy({
      timeline: elapsed =>
        elapsed < 20_000
          ? service([
              deployment('ecs-svc/42', 42, { rolloutState: 'IN_PROGRESS', runningCount: 0 }),
              deployment('ecs-svc/41', 41, { status: 'ACTIVE' })
            ])
          : service([
              deployment('ecs-svc/43', 41, {
                rolloutState: elapsed < 40_000 ? 'IN_PROGRESS' : 'COMPLETED'
              })
            ])
    })
    expect(runner.errors[0]).toContain(
      "ecs-svc/42 of service 'api' in cluster 'payments' was replaced: the deployment circuit breaker replaced it with deployment ecs-svc/43 (api:41)"
    )
    expect(runner.outputs.status).toBe('rolled-back')
    expect(failure).toBeDefined()
  })

  it('puts the previous revision back itself when the circuit breaker does not roll back', async () => {
    const rollbackDeployment = service([
      deployment('ecs-svc/44', 41, { rolloutState: 'IN_PROGRESS', runningCount: 0 }),
      deployment('ecs-svc/42', 42, { status: 'ACTIVE', rolloutState: 'FAILED' })
    ])
    const failing = circuitBreaker(25_000, Infinity, false)
    let rollbackStarted: number | undefined
    const { runner, failure } = await deploy({
      updates: [failing(0), rollbackDeployment],
      timeline: elapsed => {
        if (calls(UpdateServiceCommand).length < 2) return failing(elapsed)
        rollbackStarted ??= elapsed
        return elapsed - rollbackStarted >= 20_000
          ? service([deployment('ecs-svc/44', 41)])
          : rollbackDeployment
      }
    })
    const updates = calls(UpdateServiceCommand).map(c => c.args[0].input)
    expect(updates).toHaveLength(2)
    expect(updates[1]).toMatchObject({ taskDefinition: arn('api', 41), forceNewDeployment: true })
    expect(runner.errors).toHaveLength(1)
    expect(runner.outputs.status).toBe('rolled-back')
    expect(failure?.message).toContain('rolled back to api:41 by this action')
  })

  it('leaves the service alone when rollback-on-failure is false', async () => {
    const { runner, failure } = await deploy({
      inputs: { 'rollback-on-failure': 'false' },
      timeline: circuitBreaker(25_000, Infinity, false)
    })
    expect(calls(UpdateServiceCommand)).toHaveLength(1)
    expect(runner.outputs.status).toBe('failed')
    expect(failure?.message).toContain('rollback-on-failure is false')
  })

  it('fails when the wait runs out, then rolls back', async () => {
    const stuck = service([
      deployment('ecs-svc/42', 42, { rolloutState: 'IN_PROGRESS', runningCount: 1 }),
      deployment('ecs-svc/41', 41, { status: 'ACTIVE' })
    ])
    const { runner, clock } = await deploy({
      inputs: { 'wait-for-minutes': '1' },
      updates: [stuck, service([deployment('ecs-svc/44', 41)])],
      timeline: () =>
        calls(UpdateServiceCommand).length < 2 ? stuck : service([deployment('ecs-svc/44', 41)])
    })
    expect(runner.errors[0]).toContain('timed out: the deployment did not complete within 1m00s')
    expect(calls(UpdateServiceCommand)).toHaveLength(2)
    expect(runner.outputs.status).toBe('rolled-back')
    expect(clock.time - Date.parse('2026-11-28T12:00:00Z')).toBeLessThan(70_000)
  })

  it('fails fast when tasks keep failing on a service without a circuit breaker', async () => {
    const noBreaker = {
      deploymentConfiguration: { deploymentCircuitBreaker: { enable: false, rollback: false } }
    }
    const { runner } = await deploy({
      updates: [
        service(
          [deployment('ecs-svc/42', 42, { rolloutState: 'IN_PROGRESS', runningCount: 0 })],
          noBreaker
        ),
        service([deployment('ecs-svc/44', 41)], noBreaker)
      ],
      timeline: elapsed =>
        calls(UpdateServiceCommand).length < 2
          ? service(
              [
                deployment('ecs-svc/42', 42, {
                  rolloutState: 'IN_PROGRESS',
                  runningCount: 0,
                  failedTasks: Math.floor(elapsed / 10_000)
                }),
                deployment('ecs-svc/41', 41, { status: 'ACTIVE' })
              ],
              noBreaker
            )
          : service([deployment('ecs-svc/44', 41)], noBreaker)
    })
    expect(runner.errors[0]).toContain(
      '3 tasks failed to start and the service has no deployment circuit breaker'
    )
    // Every 10 s until the first task failed, then every 5 s until the third.
    const polls = runner.lines
      .filter(l => /^\[\d/.test(l) && l.includes('*ecs-svc/42'))
      .map(l => /^\[(\d+)s\]/.exec(l)![1])
    expect(polls).toEqual(['0', '10', '15', '20', '25', '30'])
    expect(runner.outputs.status).toBe('rolled-back')
  })

  it('keeps watching through a throttled poll, saying it will try again', async () => {
    let polls = 0
    const timeline = rollingOut(30_000)
    const { runner, failure } = await deploy({
      timeline: elapsed => {
        polls++
        if (polls === 2) throw awsError('ThrottlingException', 'Rate exceeded')
        return timeline(elapsed)
      }
    })
    expect(failure).toBeUndefined()
    expect(
      runner.lines.some(l => /Describing service 'api'.*: throttled; trying again in/.test(l))
    ).toBe(true)
    expect(runner.outputs.status).toBe('succeeded')
  })
})

describe('ecs-deploy: time and the truth on every path', () => {
  const stuck = () =>
    service([
      deployment('ecs-svc/42', 42, { rolloutState: 'IN_PROGRESS', runningCount: 1 }),
      deployment('ecs-svc/41', 41, { status: 'ACTIVE' })
    ])

  it('the watch gives up only at the deadline, however many polls fail before it', async () => {
    let polls = 0
    const timeline = rollingOut(200_000)
    const { runner, failure } = await deploy({
      inputs: { 'wait-for-minutes': '5' },
      timeline: elapsed => {
        polls++
        // Two minutes of 5xx: far more than any fixed number of failed polls.
        if (elapsed > 10_000 && elapsed < 130_000) throw awsError('ServerException', 'down', 503)
        return timeline(elapsed)
      }
    })
    expect(failure).toBeUndefined()
    expect(runner.outputs.status).toBe('succeeded')
    expect(polls).toBeGreaterThan(10)
  })

  it('an outage past the deadline ends unknown, within the deadline and one attempt', async () => {
    const { runner, clock, failure } = await deploy({
      inputs: { 'wait-for-minutes': '1' },
      timeline: elapsed => {
        if (elapsed > 15_000) throw awsError('ServerException', 'down', 503)
        return stuck()
      }
    })
    expect(runner.outputs.status).toBe('unknown')
    expect(failure?.message).toMatch(
      /the outcome is unknown, because the service could not be read/
    )
    expect(failure?.message).toContain('It last saw deployment ecs-svc/42 (api:42) IN_PROGRESS')
    expect(clock.time - Date.parse('2026-11-28T12:00:00Z')).toBeLessThanOrEqual(60_000 + 20_000)
    expect(calls(UpdateServiceCommand)).toHaveLength(1)
  })

  it("the watch's last sleep stops at the deadline", async () => {
    const { runner, clock } = await deploy({
      inputs: {
        'wait-for-minutes': '1',
        'poll-interval-seconds': '25',
        'rollback-on-failure': 'false'
      },
      timeline: () => stuck()
    })
    const polls = runner.lines
      .filter(l => /^\[\d/.test(l) && l.includes('*ecs-svc/42'))
      .map(l => /^\[([^\]]+)\]/.exec(l)![1])
    expect(polls).toEqual(['0s', '25s', '50s', '1m00s'])
    expect(runner.errors[0]).toContain('timed out: the deployment did not complete within 1m00s')
    expect(clock.time - Date.parse('2026-11-28T12:00:00Z')).toBe(60_000)
  })

  it('an unexpected error after the update still sets a status and writes a summary', async () => {
    const { runner, failure } = await deploy({
      timeline: elapsed =>
        elapsed > 0 ? ({ ...stuck(), events: 'not a list' } as unknown as Service) : stuck()
    })
    expect(failure).toBeDefined()
    expect(runner.outputs.status).toBe('unknown')
    expect(runner.summaryText).toContain('| Status | unknown |')
    expect(runner.summaryText).toContain('**Error:**')
  })

  it('an error before any change says nothing was changed', async () => {
    const { runner, failure } = await deploy({
      timeline: rollingOut(0),
      registerError: awsError('AccessDeniedException', 'denied')
    })
    expect(failure?.message).toMatch(
      /^Registering a revision of 'api' failed: AccessDeniedException/
    )
    expect(runner.outputs.status).toBe('failed')
    expect(runner.summaryText).toContain('Nothing was changed.')
    expect(calls(UpdateServiceCommand)).toHaveLength(0)
  })
})

describe('ecs-deploy: rollback-to', () => {
  const onRevision = (revision: number) => service([deployment('ecs-svc/50', revision)])
  const rolledTo =
    (revision: number): Scenario['timeline'] =>
    elapsed =>
      elapsed >= 10_000
        ? service([deployment('ecs-svc/51', revision)])
        : service([
            deployment('ecs-svc/51', revision, { rolloutState: 'IN_PROGRESS' }),
            deployment('ecs-svc/50', 43, { status: 'ACTIVE' })
          ])

  it('previous: picks the last successful deployment before the current one from the deployment history', async () => {
    ecsMock.on(ListServiceDeploymentsCommand).resolves({
      serviceDeployments: [
        {
          serviceDeploymentArn: 'arn:sd/old',
          targetServiceRevisionArn: 'arn:rev/40',
          status: 'SUCCESSFUL',
          createdAt: new Date('2026-11-20T00:00:00Z')
        },
        {
          serviceDeploymentArn: 'arn:sd/current',
          targetServiceRevisionArn: 'arn:rev/43',
          status: 'SUCCESSFUL',
          createdAt: new Date('2026-11-27T00:00:00Z')
        },
        {
          serviceDeploymentArn: 'arn:sd/good',
          targetServiceRevisionArn: 'arn:rev/41',
          status: 'SUCCESSFUL',
          createdAt: new Date('2026-11-25T00:00:00Z')
        }
      ]
    })
    ecsMock.on(DescribeServiceRevisionsCommand).resolves({
      serviceRevisions: [40, 41, 43].map(r => ({
        serviceRevisionArn: `arn:rev/${r}`,
        taskDefinition: arn('api', r)
      }))
    })
    const { runner, failure } = await deploy({
      inputs: { image: '', 'rollback-to': 'previous' },
      before: onRevision(43),
      timeline: rolledTo(41)
    })
    expect(failure).toBeUndefined()
    expect(calls(RegisterTaskDefinitionCommand)).toHaveLength(0)
    expect(calls(UpdateServiceCommand)[0].args[0].input.taskDefinition).toBe(arn('api', 41))
    // Every status is read: the rolled-back ones say which revisions not to return to.
    expect(calls(ListServiceDeploymentsCommand)[0].args[0].input).toEqual({
      cluster: 'payments',
      service: 'api',
      maxResults: 100
    })
    expect(runner.lines.join('\n')).toMatch(
      /Rolling back to api:41: the last revision proven healthy before the current api:43, from the service deployment history \(good/
    )
    expect(runner.outputs).toMatchObject({
      status: 'succeeded',
      'task-definition-arn': arn('api', 41),
      'previous-task-definition-arn': arn('api', 43)
    })
  })

  it('previous: when the deployment history cannot be read, fails with the reason and never guesses', async () => {
    ecsMock
      .on(ListServiceDeploymentsCommand)
      .rejects(awsError('AccessDeniedException', 'not authorized'))
    ecsMock.on(ListTaskDefinitionsCommand).resolves({
      taskDefinitionArns: [arn('api', 44), arn('api', 43), arn('api', 42)]
    })
    const { runner, failure } = await deploy({
      inputs: { image: '', 'rollback-to': 'previous' },
      before: onRevision(43),
      timeline: rolledTo(42)
    })
    expect(failure?.message).toMatch(
      /^Cannot tell which revision 'previous' is: the deployment history of service 'api' could not be read \(.*AccessDeniedException: not authorized.*\)\. Nothing was changed\./
    )
    expect(calls(UpdateServiceCommand)).toHaveLength(0)
    expect(calls(ListTaskDefinitionsCommand)).toHaveLength(0)
    expect(runner.outputs.status).toBe('failed')
  })

  it('family:revision: rolls out the named revision after checking it exists', async () => {
    const { failure } = await deploy({
      inputs: { image: '', 'rollback-to': 'api:40' },
      before: onRevision(43),
      timeline: rolledTo(40)
    })
    expect(failure).toBeUndefined()
    expect(calls(UpdateServiceCommand)[0].args[0].input.taskDefinition).toBe(arn('api', 40))
  })

  it('a revision that does not exist fails naming the input, before the service is touched', async () => {
    const { failure } = await deploy({
      missingTaskDefinition: true,
      inputs: { image: '', 'rollback-to': arn('api', 99) },
      before: onRevision(43),
      timeline: rolledTo(40)
    })
    expect(failure?.message).toContain(
      `Input 'rollback-to' is '${arn('api', 99)}': no such task definition`
    )
    expect(calls(UpdateServiceCommand)).toHaveLength(0)
  })
})

describe('ecs-deploy: bad input fails before anything is registered or updated', () => {
  const nothingChanged = () => {
    expect(calls(RegisterTaskDefinitionCommand)).toHaveLength(0)
    expect(calls(UpdateServiceCommand)).toHaveLength(0)
  }

  it.each([
    [{ image: '' }, "Input 'image' is empty"],
    [{ 'wait-for-minutes': 'ten' }, "Input 'wait-for-minutes' is 'ten': use a number"],
    [{ 'poll-interval-seconds': '5s' }, "Input 'poll-interval-seconds' is '5s'"],
    [{ 'desired-count': '2.5' }, "Input 'desired-count' is '2.5': use a whole number"],
    [{ 'rollback-on-failure': 'yes' }, "Input 'rollback-on-failure' is 'yes': use true or false"],
    [
      { 'rollback-to': 'last-good', image: '' },
      "Input 'rollback-to' is 'last-good': use previous, family:revision"
    ],
    [{ 'environment-variables': '1BAD=x' }, "Input 'environment-variables' is '1BAD=…'"]
  ])('%j', async (inputs, message) => {
    const { failure } = await deploy({ inputs, timeline: rollingOut(0) })
    expect(failure?.message).toContain(message)
    expect(calls(DescribeServicesCommand)).toHaveLength(0)
    nothingChanged()
  })

  it('unknown cluster', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .rejects(awsError('ClusterNotFoundException', 'Cluster not found.'))
    const { failure } = await run(new RecordingRunner(), {
      inputs: n => ({ cluster: 'nope', service: 'api', image: IMAGE })[n] ?? '',
      ecsClient: new ECSClient({ region: 'eu-west-1' })
    }).then(
      () => ({ failure: undefined }),
      (e: Error) => ({ failure: e })
    )
    expect(failure?.message).toContain("Cluster 'nope' was not found")
    nothingChanged()
  })

  it('unknown service, listing the services there are', async () => {
    ecsMock.on(ListServicesCommand).resolves({
      serviceArns: [
        'arn:aws:ecs:eu-west-1:1:service/payments/api',
        'arn:aws:ecs:eu-west-1:1:service/payments/ledger'
      ]
    })
    const { failure } = await deploy({
      before: { ...steady(), status: 'INACTIVE' },
      inputs: { service: 'apii' },
      timeline: rollingOut(0)
    })
    expect(failure?.message).toContain(
      "Service 'apii' was not found in cluster 'payments'; its services are: api, ledger"
    )
    nothingChanged()
  })

  it('a container name the task definition does not have, listing the names it has', async () => {
    const { failure } = await deploy({
      inputs: { 'container-name': 'web' },
      timeline: rollingOut(0)
    })
    expect(failure?.message).toContain(
      "Input 'container-name' is 'web': task definition api:41 has no such container; its containers are: api"
    )
    nothingChanged()
  })

  it('several containers and no container-name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'td-'))
    const path = join(dir, 'td.json')
    await writeFile(
      path,
      JSON.stringify({
        family: 'api',
        containerDefinitions: [
          { name: 'api', image: 'a' },
          { name: 'envoy', image: 'b' }
        ]
      })
    )
    const { failure } = await deploy({
      inputs: { 'task-definition': path },
      timeline: rollingOut(0)
    })
    expect(failure?.message).toContain('has 2 containers (api, envoy); name the one to update')
    nothingChanged()
  })

  it('an unreadable template names the path', async () => {
    const { failure } = await deploy({
      inputs: { 'task-definition': '/nonexistent/td.json' },
      timeline: rollingOut(0)
    })
    expect(failure?.message).toContain(
      "Input 'task-definition' is '/nonexistent/td.json': the file cannot be read (ENOENT)"
    )
    nothingChanged()
  })

  it('an invalid template names the path and the parse position', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'td-'))
    const path = join(dir, 'td.json')
    await writeFile(path, '{\n  "family": "api",\n  "containerDefinitions": [,]\n}\n')
    const { failure } = await deploy({
      inputs: { 'task-definition': path },
      timeline: rollingOut(0)
    })
    expect(failure?.message).toContain(`Input 'task-definition' is '${path}': it is not valid JSON`)
    expect(failure?.message).toContain("unexpected ',' at line 3, column 28")
    nothingChanged()
  })
})
