import {
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
  type Service,
  type Task
} from '@aws-sdk/client-ecs'
import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs'
import { mockClient } from 'aws-sdk-client-mock'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import { Inputs } from '../../actions/shared/inputs.js'
import { EcsTasksGateway } from '../../actions/ecs-deploy/ecs-tasks.js'
import { LogsGateway } from '../../actions/ecs-deploy/logs.js'
import {
  judgeMigration,
  migrationRunTask,
  migrationToken,
  readMigrationConfig,
  runMigration,
  type MigrationIntent
} from '../../actions/ecs-deploy/migration.js'
import { FakeClock, RecordingRunner } from '../support/runner.js'
import { arn, taskDefinition } from '../support/ecs-fixtures.js'

const ecsMock = mockClient(ECSClient)
const logsMock = mockClient(CloudWatchLogsClient)

const TASK_ARN = 'arn:aws:ecs:eu-west-1:123456789012:task/payments/5a0c1e2d3f4b5a6c7d8e9f0a1b2c3d4e'
const NETWORK = {
  awsvpcConfiguration: {
    subnets: ['subnet-0aaa', 'subnet-0bbb'],
    securityGroups: ['sg-0ccc'],
    assignPublicIp: 'DISABLED' as const
  }
}
const FARGATE_SERVICE: Service = {
  serviceName: 'api',
  launchType: 'FARGATE',
  platformVersion: '1.4.0',
  networkConfiguration: NETWORK
}

const intent = (overrides: Partial<MigrationIntent> = {}): MigrationIntent => ({
  cluster: 'payments',
  service: FARGATE_SERVICE,
  taskDefinitionArn: arn('api', 42),
  containerName: 'api',
  command: { env: {}, argv: ['npm', 'run', 'migrate'] },
  runId: '777',
  runAttempt: '1',
  ...overrides
})

const sdkError = (name: string, httpStatusCode?: number, extra: object = {}) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode }, ...extra })

const inputs = (values: Record<string, string>) => new Inputs(name => values[name] ?? '')

beforeEach(() => {
  ecsMock.reset()
  logsMock.reset()
})

describe('pre-deploy inputs', () => {
  it('is off without a command, and parses a command with the test action rules', () => {
    expect(readMigrationConfig(inputs({}))).toBeUndefined()
    expect(
      readMigrationConfig(inputs({ 'pre-deploy-command': "LOG_LEVEL=debug npm run 'migrate up'" }))
    ).toEqual({
      text: "LOG_LEVEL=debug npm run 'migrate up'",
      command: { env: { LOG_LEVEL: 'debug' }, argv: ['npm', 'run', 'migrate up'] },
      timeoutMs: 15 * 60_000
    })
    expect(
      readMigrationConfig(
        inputs({ 'pre-deploy-command': 'npm run migrate', 'pre-deploy-timeout-minutes': '2.5' })
      )?.timeoutMs
    ).toBe(150_000)
  })

  it('refuses shell syntax and a bad timeout, naming the input', () => {
    expect(() =>
      readMigrationConfig(inputs({ 'pre-deploy-command': 'npm run migrate && npm run seed' }))
    ).toThrow(
      /^Input 'pre-deploy-command' is 'npm run migrate && npm run seed': the command runs without a shell/
    )
    expect(() =>
      readMigrationConfig(
        inputs({ 'pre-deploy-command': 'npm run migrate', 'pre-deploy-timeout-minutes': 'soon' })
      )
    ).toThrow(/^Input 'pre-deploy-timeout-minutes' is 'soon'/)
  })
})

describe('the RunTask request', () => {
  it('runs the new revision once, in the awsvpc network and on FARGATE like the service, with the command on the deployed container', () => {
    const request = migrationRunTask(
      intent({ command: { env: { CI: 'true' }, argv: ['npm', 'run', 'migrate'] } })
    )
    const token = migrationToken(
      intent({ command: { env: { CI: 'true' }, argv: ['npm', 'run', 'migrate'] } })
    )
    expect(request).toEqual({
      cluster: 'payments',
      taskDefinition: arn('api', 42),
      count: 1,
      launchType: 'FARGATE',
      platformVersion: '1.4.0',
      networkConfiguration: NETWORK,
      overrides: {
        containerOverrides: [
          {
            name: 'api',
            command: ['npm', 'run', 'migrate'],
            environment: [{ name: 'CI', value: 'true' }]
          }
        ]
      },
      startedBy: token,
      clientToken: token
    })
    // A copy: the request never shares objects with the described service.
    expect(request.networkConfiguration).not.toBe(NETWORK)
  })

  it('takes the capacity provider strategy instead of a launch type where the service has one', () => {
    const strategy = [
      { capacityProvider: 'FARGATE', base: 1, weight: 1 },
      { capacityProvider: 'FARGATE_SPOT', weight: 3 }
    ]
    const request = migrationRunTask(
      intent({
        service: {
          serviceName: 'api',
          capacityProviderStrategy: strategy,
          platformVersion: 'LATEST',
          networkConfiguration: NETWORK
        }
      })
    )
    expect(request.capacityProviderStrategy).toEqual(strategy)
    expect(request).not.toHaveProperty('launchType')
    expect(request.platformVersion).toBe('LATEST')
    expect(request.overrides?.containerOverrides?.[0]).not.toHaveProperty('environment')
  })

  it('leaves the network out for a bridge-mode EC2 service', () => {
    const request = migrationRunTask(intent({ service: { serviceName: 'api', launchType: 'EC2' } }))
    expect(request.launchType).toBe('EC2')
    expect(request).not.toHaveProperty('networkConfiguration')
    expect(request).not.toHaveProperty('platformVersion')
  })

  it('has a token that is the same for the same intent and differs for another revision, command or attempt', () => {
    const token = migrationToken(intent())
    expect(token).toBe(migrationToken(intent()))
    expect(token).toMatch(/^[A-Za-z0-9_/-]{1,64}$/) // a valid clientToken and startedBy both
    expect(migrationToken(intent({ taskDefinitionArn: arn('api', 43) }))).not.toBe(token)
    expect(migrationToken(intent({ runAttempt: '2' }))).not.toBe(token)
    expect(migrationToken(intent({ command: { env: {}, argv: ['npm', 'run', 'seed'] } }))).not.toBe(
      token
    )
  })
})

describe('judgeMigration', () => {
  const task = (exitCode?: number, extra: object = {}) => ({
    containers: [{ name: 'api', ...(exitCode !== undefined ? { exitCode } : {}) }],
    ...extra
  })

  it('passes on exit 0 of the command container only', () => {
    expect(judgeMigration(task(0), 'api', undefined)).toEqual({ kind: 'passed' })
    expect(judgeMigration(task(0), 'worker', undefined).kind).toBe('failed')
  })

  it('fails on a non-zero exit, with the code', () => {
    expect(judgeMigration(task(3), 'api', undefined)).toEqual({
      kind: 'failed',
      reason: 'container api exited with code 3',
      exitCode: 3
    })
  })

  it('fails on a stop without an exit code, with the stopped reason', () => {
    const verdict = judgeMigration(
      task(undefined, {
        stoppedReason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s)',
        stopCode: 'TaskFailedToStart'
      }),
      'api',
      undefined
    )
    expect(verdict).toEqual({
      kind: 'failed',
      reason:
        'the task stopped without an exit code: CannotPullContainerError: pull image manifest has been retried 5 time(s) [TaskFailedToStart]'
    })
  })

  it('fails at the timeout even when the stopped container then exited 0', () => {
    expect(judgeMigration(task(0), 'api', { afterMs: 15 * 60_000 })).toEqual({
      kind: 'failed',
      reason: 'it did not finish within 15m00s (pre-deploy-timeout-minutes), so it was stopped',
      exitCode: 0
    })
  })
})

function caller(clock: FakeClock, deadlineMs = 60_000) {
  return new AwsCaller({
    clock,
    deadline: clock.now() + deadlineMs,
    attemptTimeoutMs: 2_000,
    backoffMs: 500,
    maxBackoffMs: 2_000
  })
}
const tasksGateway = (clock: FakeClock, deadlineMs?: number) =>
  new EcsTasksGateway(
    new ECSClient({ region: 'eu-west-1', maxAttempts: 1 }),
    caller(clock, deadlineMs)
  )

const wireTask = (lastStatus: string, extra: Partial<Task> = {}): Task => ({
  taskArn: TASK_ARN,
  lastStatus,
  desiredStatus: lastStatus === 'STOPPED' ? 'STOPPED' : 'RUNNING',
  containers: [{ name: 'api', lastStatus }],
  ...extra
})

describe('EcsTasksGateway.runTaskOnce', () => {
  const request = migrationRunTask(intent())

  it('reads a lost RunTask reply back by its startedBy, and starts no second task', async () => {
    ecsMock.on(RunTaskCommand).rejects(sdkError('TimeoutError'))
    ecsMock
      .on(ListTasksCommand, { desiredStatus: 'RUNNING' })
      .resolves({ taskArns: [TASK_ARN] })
      .on(ListTasksCommand, { desiredStatus: 'STOPPED' })
      .resolves({ taskArns: [] })
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [wireTask('PENDING')] })
    const outcome = await tasksGateway(new FakeClock()).runTaskOnce(request)
    expect(outcome).toMatchObject({
      kind: 'started',
      via: 'read-back',
      task: { taskArn: TASK_ARN }
    })
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(1)
    expect(ecsMock.commandCalls(ListTasksCommand).map(c => c.args[0].input)).toEqual([
      { cluster: 'payments', startedBy: request.startedBy, desiredStatus: 'RUNNING' },
      { cluster: 'payments', startedBy: request.startedBy, desiredStatus: 'STOPPED' }
    ])
  })

  it('sends again with the same clientToken only when reading back finds nothing', async () => {
    ecsMock
      .on(RunTaskCommand)
      .rejectsOnce(sdkError('ServerException', 500))
      .resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock.on(ListTasksCommand).resolves({ taskArns: [] })
    const outcome = await tasksGateway(new FakeClock()).runTaskOnce(request)
    expect(outcome).toMatchObject({ kind: 'started', via: 'answer' })
    const sent = ecsMock.commandCalls(RunTaskCommand).map(c => c.args[0].input)
    expect(sent).toHaveLength(2)
    expect(sent[1]).toEqual(sent[0])
    expect(sent[0]!.clientToken).toBe(request.clientToken)
  })

  it('takes the task a clientToken already started when ECS answers ConflictException', async () => {
    ecsMock
      .on(RunTaskCommand)
      .rejects(sdkError('ConflictException', 400, { resourceIds: [TASK_ARN] }))
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [wireTask('RUNNING')] })
    expect(await tasksGateway(new FakeClock()).runTaskOnce(request)).toMatchObject({
      kind: 'started',
      via: 'conflict',
      task: { taskArn: TASK_ARN, lastStatus: 'RUNNING' }
    })
  })

  it("reports ECS's placement failures as not started", async () => {
    ecsMock.on(RunTaskCommand).resolves({
      tasks: [],
      failures: [{ reason: 'RESOURCE:ENI', detail: 'no free IP addresses in subnet-0aaa' }]
    })
    expect(await tasksGateway(new FakeClock()).runTaskOnce(request)).toEqual({
      kind: 'not-started',
      reasons: ['RESOURCE:ENI: no free IP addresses in subnet-0aaa']
    })
  })
})

describe('EcsTasksGateway.stopTask', () => {
  it('reads a lost StopTask reply back and does not send it again once the task is stopping', async () => {
    ecsMock.on(StopTaskCommand).rejects(sdkError('TimeoutError'))
    ecsMock
      .on(DescribeTasksCommand)
      .resolves({ tasks: [wireTask('RUNNING', { desiredStatus: 'STOPPED' })] })
    await tasksGateway(new FakeClock()).stopTask('payments', TASK_ARN, 'timed out')
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(1)
    expect(ecsMock.commandCalls(StopTaskCommand)[0]!.args[0].input).toEqual({
      cluster: 'payments',
      task: TASK_ARN,
      reason: 'timed out'
    })
  })
})

describe('runMigration', () => {
  const OPTIONS = {
    'awslogs-group': '/ecs/api',
    'awslogs-region': 'eu-west-1',
    'awslogs-stream-prefix': 'ecs'
  }
  const definition = taskDefinition(42, {
    containerDefinitions: [
      {
        name: 'api',
        image: 'registry/api:v42',
        essential: true,
        logConfiguration: { logDriver: 'awslogs', options: OPTIONS }
      }
    ]
  })
  const request = (timeoutMs: number) => ({
    cluster: 'payments',
    service: FARGATE_SERVICE,
    taskDefinition: definition,
    containerName: 'api',
    config: {
      text: 'npm run migrate',
      command: { env: {}, argv: ['npm', 'run', 'migrate'] },
      timeoutMs
    },
    runId: '777',
    runAttempt: '1',
    pollMs: 10_000,
    logLines: 2,
    region: 'eu-west-1',
    stopGraceMs: 60_000
  })
  const deps = (clock: FakeClock, runner: RecordingRunner) => ({
    tasks: tasksGateway(clock, 3_600_000),
    logsFor: (region: string) =>
      new LogsGateway(
        new CloudWatchLogsClient({ region, maxAttempts: 1 }),
        caller(clock, 3_600_000),
        region
      ),
    runner,
    clock
  })

  it('prints the lines as they come and fails with the exit code and the last log-lines lines', async () => {
    const clock = new FakeClock()
    const runner = new RecordingRunner()
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock
      .on(DescribeTasksCommand)
      .resolvesOnce({ tasks: [wireTask('RUNNING')] })
      .resolves({
        tasks: [
          wireTask('STOPPED', {
            stopCode: 'EssentialContainerExited',
            stoppedReason: 'Essential container in task exited',
            containers: [{ name: 'api', lastStatus: 'STOPPED', exitCode: 1 }]
          })
        ]
      })
    logsMock
      .on(GetLogEventsCommand)
      .resolvesOnce({
        events: [{ timestamp: 1, message: 'migrating 004_ledger' }],
        nextForwardToken: 'f/1'
      })
      .resolvesOnce({ events: [], nextForwardToken: 'f/1' })
      .resolvesOnce({
        events: [
          { timestamp: 2, message: 'ERROR: relation "ledger" already exists' },
          { timestamp: 3, message: '::error::forged' }
        ],
        nextForwardToken: 'f/3'
      })
      .resolves({ events: [], nextForwardToken: 'f/3' })

    const result = await runMigration(request(15 * 60_000), deps(clock, runner))

    expect(result).toMatchObject({ status: 'failed', exitCode: 1, taskArn: TASK_ARN })
    expect(result.lastLines.map(l => l.message)).toEqual([
      'ERROR: relation "ledger" already exists',
      '::error::forged'
    ])
    expect(result.message).toMatch(
      /^The migration failed: npm run migrate as a one-off task \(5a0c1e2d3f4b5a6c7d8e9f0a1b2c3d4e\) of api:42 in cluster 'payments': container api exited with code 1\./
    )
    expect(result.summary).toContain('**The migration failed:** container api exited with code 1.')
    expect(result.summary).toContain('ERROR: relation "ledger" already exists')
    // The first line was printed before the task stopped, each line once, none as a command.
    const migrating = runner.lines.indexOf('  | migrating 004_ledger')
    expect(migrating).toBeGreaterThan(-1)
    expect(migrating).toBeLessThan(runner.lines.findIndex(l => l.endsWith('STOPPED')))
    expect(runner.lines.filter(l => l.includes('already exists'))).toHaveLength(1)
    expect(runner.lines.some(l => l.startsWith('::error::'))).toBe(false)
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(0)
  })

  it('passes on exit 0', async () => {
    const clock = new FakeClock()
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [wireTask('STOPPED', { containers: [{ name: 'api', exitCode: 0 }] })]
    })
    logsMock.on(GetLogEventsCommand).resolves({ events: [], nextForwardToken: 'f/0' })
    const result = await runMigration(request(60_000), deps(clock, new RecordingRunner()))
    expect(result).toMatchObject({ status: 'passed', exitCode: 0 })
    expect(result.message).toMatch(/^The migration \(npm run migrate\) passed: task 5a0c1e2d/)
  })

  it('stops the task at the timeout and fails, after waiting for it to stop', async () => {
    const clock = new FakeClock()
    const runner = new RecordingRunner()
    let stopped = false
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock.on(StopTaskCommand).callsFake(() => {
      stopped = true
      return { task: wireTask('RUNNING', { desiredStatus: 'STOPPED' }) }
    })
    ecsMock.on(DescribeTasksCommand).callsFake(() => ({
      tasks: [
        stopped
          ? wireTask('STOPPED', {
              stopCode: 'UserInitiated',
              containers: [{ name: 'api', exitCode: 143 }]
            })
          : wireTask('RUNNING')
      ]
    }))
    logsMock.on(GetLogEventsCommand).resolves({ events: [], nextForwardToken: 'f/0' })

    const result = await runMigration(request(60_000), deps(clock, runner))

    expect(result).toMatchObject({ status: 'failed', exitCode: 143 })
    expect(result.reason).toMatch(/did not finish within 1m00s/)
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(1)
    expect(ecsMock.commandCalls(StopTaskCommand)[0]!.args[0].input.reason).toBe(
      'pre-deploy-command did not finish within 1m00s'
    )
    // Stopped at the timeout, not a poll later.
    expect(result.durationMs).toBeLessThanOrEqual(60_000 + 10_000)
  })

  it('says why no lines are shown when the container has no awslogs stream, and makes no logs call', async () => {
    const clock = new FakeClock()
    const runner = new RecordingRunner()
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [wireTask('STOPPED', { containers: [{ name: 'api', exitCode: 2 }] })]
    })
    const result = await runMigration(
      { ...request(60_000), taskDefinition: taskDefinition(42) },
      deps(clock, runner)
    )
    expect(result.logsUnavailable).toMatch(/container api has no logConfiguration/)
    expect(result.message).toMatch(
      /exited with code 2\. No log lines: container api has no logConfiguration/
    )
    expect(logsMock.commandCalls(GetLogEventsCommand)).toHaveLength(0)
  })

  it('fails without touching anything when ECS rejects the request', async () => {
    ecsMock.on(RunTaskCommand).rejects(
      Object.assign(sdkError('InvalidParameterException', 400), {
        message: "Network Configuration must be provided when networkMode 'awsvpc' is specified."
      })
    )
    const result = await runMigration(request(60_000), deps(new FakeClock(), new RecordingRunner()))
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(
      /InvalidParameterException: Network Configuration must be provided/
    )
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(1)
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(0)
  })

  const stoppedWith = (exitCode: number, extra: Partial<Task> = {}) =>
    wireTask('STOPPED', {
      containers: [{ name: 'api', lastStatus: 'STOPPED', exitCode }],
      ...extra
    })
  const TASK_ID = '5a0c1e2d3f4b5a6c7d8e9f0a1b2c3d4e'
  const withoutLogs = (all: ReturnType<typeof deps>) => ({
    tasks: all.tasks,
    runner: all.runner,
    clock: all.clock
  })

  it('says where the task runs and how it was started', async () => {
    const runner = new RecordingRunner()
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [stoppedWith(0)] })
    logsMock.on(GetLogEventsCommand).resolves({ events: [], nextForwardToken: 'f/0' })
    const result = await runMigration(request(60_000), deps(new FakeClock(), runner))
    expect(runner.lines.slice(0, 2)).toEqual([
      'Running the migration as a one-off task of api:42 in cluster payments: npm run migrate (container api, FARGATE, subnets subnet-0aaa, subnet-0bbb).',
      `Task ${TASK_ID} started (startedBy ${migrationToken(intent())}).`
    ])
    expect(runner.lines.some(l => l.startsWith('Its output is not shown'))).toBe(false)
    expect(ecsMock.commandCalls(RunTaskCommand)[0]!.args[0].input.taskDefinition).toBe(
      arn('api', 42)
    )
    expect(result).toMatchObject({ status: 'passed', exitCode: 0, taskArn: TASK_ARN })
    expect(result.reason).toBeUndefined()
    expect(result.logsUnavailable).toBeUndefined()
  })

  it.each<[string, MigrationIntent['service'], string]>([
    [
      'capacity providers',
      {
        serviceName: 'api',
        capacityProviderStrategy: [
          { capacityProvider: 'FARGATE', weight: 1 },
          { capacityProvider: 'FARGATE_SPOT', weight: 3 }
        ]
      },
      'capacity providers FARGATE, FARGATE_SPOT'
    ],
    ['a launch type without a network', { serviceName: 'api', launchType: 'EC2' }, 'EC2'],
    ['neither', { serviceName: 'api' }, "the cluster's default capacity"],
    [
      'a network without subnets',
      {
        serviceName: 'api',
        launchType: 'EC2',
        networkConfiguration: { awsvpcConfiguration: { subnets: [] } }
      },
      'EC2'
    ],
    [
      'a network whose subnets are not given',
      {
        serviceName: 'api',
        launchType: 'EC2',
        networkConfiguration: { awsvpcConfiguration: { subnets: undefined } }
      },
      'EC2'
    ],
    [
      'an empty network configuration',
      { serviceName: 'api', launchType: 'EC2', networkConfiguration: {} },
      'EC2'
    ]
  ])('names the placement with %s', async (_case, service, placement) => {
    const runner = new RecordingRunner()
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [stoppedWith(0)] })
    logsMock.on(GetLogEventsCommand).resolves({ events: [], nextForwardToken: 'f/0' })
    await runMigration({ ...request(60_000), service }, deps(new FakeClock(), runner))
    expect(runner.lines[0]).toBe(
      `Running the migration as a one-off task of api:42 in cluster payments: npm run migrate (container api, ${placement}).`
    )
  })

  it('says when the task was found by reading back a lost RunTask reply', async () => {
    const runner = new RecordingRunner()
    ecsMock.on(RunTaskCommand).rejects(sdkError('TimeoutError'))
    ecsMock
      .on(ListTasksCommand, { desiredStatus: 'RUNNING' })
      .resolves({ taskArns: [TASK_ARN] })
      .on(ListTasksCommand, { desiredStatus: 'STOPPED' })
      .resolves({ taskArns: [] })
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [stoppedWith(0)] })
    logsMock.on(GetLogEventsCommand).resolves({ events: [], nextForwardToken: 'f/0' })
    await runMigration(request(60_000), deps(new FakeClock(), runner))
    expect(runner.lines[1]).toBe(
      `Task ${TASK_ID} started (startedBy ${migrationToken(intent())}); ECS's reply was lost, and the task was found by its startedBy.`
    )
  })

  it('says when ECS answered with the task its client token had already started', async () => {
    const runner = new RecordingRunner()
    ecsMock
      .on(RunTaskCommand)
      .rejects(sdkError('ConflictException', 400, { resourceIds: [TASK_ARN] }))
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [stoppedWith(0)] })
    logsMock.on(GetLogEventsCommand).resolves({ events: [], nextForwardToken: 'f/0' })
    await runMigration(request(60_000), deps(new FakeClock(), runner))
    expect(runner.lines[1]).toBe(
      `Task ${TASK_ID} started (startedBy ${migrationToken(intent())}); ECS answered with the task this client token had already started.`
    )
  })

  it('fails with every reason ECS gave for not starting the task, naming no task', async () => {
    ecsMock.on(RunTaskCommand).resolves({
      tasks: [],
      failures: [
        { reason: 'RESOURCE:ENI', detail: 'no free IP addresses in subnet-0aaa' },
        { reason: 'RESOURCE:MEMORY', detail: 'needs 2.5 GiB.' }
      ]
    })
    const result = await runMigration(request(60_000), deps(new FakeClock(), new RecordingRunner()))
    expect(result.status).toBe('failed')
    expect(result.taskArn).toBeUndefined()
    expect(result.message).toBe(
      "The migration failed: npm run migrate as a one-off task of api:42 in cluster 'payments': ECS did not start the task: RESOURCE:ENI: no free IP addresses in subnet-0aaa; RESOURCE:MEMORY: needs 2.5 GiB. The service was not touched: fix the migration and deploy again."
    )
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(0)
  })

  it('prints each status the task reaches once, and looks again for a task not visible yet', async () => {
    const clock = new FakeClock()
    const runner = new RecordingRunner()
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock
      .on(DescribeTasksCommand)
      .resolvesOnce({ tasks: [] })
      .resolvesOnce({ tasks: [wireTask('RUNNING')] })
      .resolvesOnce({ tasks: [wireTask('RUNNING')] })
      .resolvesOnce({ tasks: [wireTask('RUNNING')] })
      .resolves({ tasks: [stoppedWith(0)] })
    logsMock.on(GetLogEventsCommand).resolves({ events: [], nextForwardToken: 'f/0' })
    const result = await runMigration(request(15 * 60_000), deps(clock, runner))
    expect(result.status).toBe('passed')
    expect(runner.lines.filter(l => / task \w+ \w+$/.test(l))).toEqual([
      `[10s] task ${TASK_ID} RUNNING`,
      `[40s] task ${TASK_ID} STOPPED`
    ])
    expect(result.message).toBe(
      `The migration (npm run migrate) passed: task ${TASK_ID} exited 0 in 40s.`
    )
  })

  it('stops a task it may not watch (AWS refuses the reads) and fails, naming why', async () => {
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock.on(DescribeTasksCommand).rejects(sdkError('AccessDeniedException', 400))
    ecsMock.on(StopTaskCommand).resolves({})
    logsMock.on(GetLogEventsCommand).resolves({ events: [], nextForwardToken: 'f/0' })
    const result = await runMigration(request(60_000), deps(new FakeClock(), new RecordingRunner()))
    expect(result.status).toBe('failed')
    expect(result.taskArn).toBe(TASK_ARN)
    expect(result.reason).toMatch(
      /AccessDeniedException.*; task 5a0c1e2d3f4b5a6c7d8e9f0a1b2c3d4e was asked to stop$/
    )
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(1)
  })

  it('stops the task at its own limit while every DescribeTasks hangs, and says the stop could not be read back', async () => {
    const clock = new FakeClock()
    const started = clock.now()
    let stoppedAt: number | undefined
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    // No answer at all: each attempt runs into its time limit.
    ecsMock.on(DescribeTasksCommand).rejects(sdkError('TimeoutError'))
    ecsMock.on(StopTaskCommand).callsFake(() => {
      stoppedAt = clock.now()
      return { task: wireTask('RUNNING', { desiredStatus: 'STOPPED' }) }
    })
    logsMock.on(GetLogEventsCommand).resolves({ events: [], nextForwardToken: 'f/0' })
    const result = await runMigration(request(60_000), deps(clock, new RecordingRunner()))
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(1)
    // Stopped at the limit (within one read attempt), not at the reads' own deadline an hour on.
    expect(stoppedAt! - started).toBeGreaterThanOrEqual(60_000)
    expect(stoppedAt! - started).toBeLessThanOrEqual(60_000 + 2_000)
    expect(result.durationMs).toBeLessThanOrEqual(60_000 + 60_000 + 2_000)
    expect(result).toMatchObject({ status: 'failed' })
    expect(result.reason).toMatch(
      /^it did not finish within 1m00s \(pre-deploy-timeout-minutes\), so it was stopped; the stop could not be read back \(.*TimeoutError.*\), so task 5a0c1e2d3f4b5a6c7d8e9f0a1b2c3d4e may still be running$/
    )
  })

  it('a stop read back as taken after hanging reads says only that it was stopped', async () => {
    const clock = new FakeClock()
    let stopped = false
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock.on(DescribeTasksCommand).callsFake(() => {
      if (!stopped) throw sdkError('TimeoutError')
      return { tasks: [stoppedWith(143)] }
    })
    ecsMock.on(StopTaskCommand).callsFake(() => {
      stopped = true
      return {}
    })
    logsMock.on(GetLogEventsCommand).resolves({ events: [], nextForwardToken: 'f/0' })
    const result = await runMigration(request(60_000), deps(clock, new RecordingRunner()))
    expect(result).toMatchObject({
      status: 'failed',
      exitCode: 143,
      reason: 'it did not finish within 1m00s (pre-deploy-timeout-minutes), so it was stopped'
    })
  })

  it('stops the task at the timeout itself, between two polls, and only once', async () => {
    const clock = new FakeClock()
    const started = clock.now()
    let stoppedAt: number | undefined
    let looksAfterStop = 0
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock.on(StopTaskCommand).callsFake(() => {
      stoppedAt = clock.now()
      return { task: wireTask('RUNNING', { desiredStatus: 'STOPPED' }) }
    })
    ecsMock.on(DescribeTasksCommand).callsFake(() => {
      if (stoppedAt === undefined) return { tasks: [wireTask('RUNNING')] }
      // It takes ECS a few looks to stop it.
      return {
        tasks: [
          ++looksAfterStop < 3
            ? wireTask('DEPROVISIONING', { desiredStatus: 'STOPPED' })
            : stoppedWith(143)
        ]
      }
    })
    logsMock.on(GetLogEventsCommand).resolves({ events: [], nextForwardToken: 'f/0' })
    const result = await runMigration(request(25_000), deps(clock, new RecordingRunner()))
    expect(stoppedAt! - started).toBe(25_000)
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(1)
    expect(result).toMatchObject({
      status: 'failed',
      exitCode: 143,
      reason: 'it did not finish within 25s (pre-deploy-timeout-minutes), so it was stopped'
    })
  })

  it.each([
    ['the grace period given', 30_000, 90_000],
    ['2 minutes by default', undefined, 180_000]
  ])('gives up on a task that does not stop after %s', async (_case, stopGraceMs, durationMs) => {
    const clock = new FakeClock()
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock.on(StopTaskCommand).resolves({})
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [wireTask('RUNNING')] })
    logsMock.on(GetLogEventsCommand).resolves({ events: [], nextForwardToken: 'f/0' })
    const runner = new RecordingRunner()
    const result = await runMigration({ ...request(60_000), stopGraceMs }, deps(clock, runner))
    expect(result.durationMs).toBe(durationMs)
    expect(result.status).toBe('failed')
    expect(result.reason).toBe(
      'it did not finish within 1m00s (pre-deploy-timeout-minutes), so it was stopped'
    )
    expect(result.exitCode).toBeUndefined()
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(1)
    expect(runner.lines).toContain(
      `The migration did not finish within 1m00s: stopping task ${TASK_ID}.`
    )
  })

  it('follows no logs, and says nothing about them, with log-lines 0 and no logs client', async () => {
    const runner = new RecordingRunner()
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [stoppedWith(1)] })
    const noLogs = withoutLogs(deps(new FakeClock(), runner))
    const result = await runMigration({ ...request(60_000), logLines: 0 }, noLogs)
    expect(result.logsUnavailable).toBeUndefined()
    expect(result.message).toBe(
      `The migration failed: npm run migrate as a one-off task (${TASK_ID}) of api:42 in cluster 'payments': container api exited with code 1. The service was not touched: fix the migration and deploy again.`
    )
    expect(runner.lines.some(l => l.includes('output'))).toBe(false)
  })

  it('says the output is not shown without a logs client', async () => {
    const runner = new RecordingRunner()
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [stoppedWith(1)] })
    const noLogs = withoutLogs(deps(new FakeClock(), runner))
    const result = await runMigration(request(60_000), noLogs)
    expect(result.logsUnavailable).toBe('no CloudWatch Logs client was given')
    expect(runner.lines).toContain('Its output is not shown: no CloudWatch Logs client was given.')
  })

  it('prints the lines as they come with log-lines 0, keeping none for the failure', async () => {
    const runner = new RecordingRunner()
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [stoppedWith(1)] })
    logsMock
      .on(GetLogEventsCommand)
      .resolvesOnce({ events: [{ timestamp: 1, message: 'migrating' }], nextForwardToken: 'f/1' })
      .resolves({ events: [], nextForwardToken: 'f/1' })
    const result = await runMigration(
      { ...request(60_000), logLines: 0 },
      deps(new FakeClock(), runner)
    )
    expect(runner.lines).toContain('  | migrating')
    expect(result.lastLines).toEqual([])
  })

  it('reads the lines with a deadline of one poll, at least 2 s', async () => {
    const clock = new FakeClock()
    const windows: number[] = []
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [stoppedWith(0)] })
    logsMock.on(GetLogEventsCommand).resolves({ events: [], nextForwardToken: 'f/0' })
    const base = deps(clock, new RecordingRunner())
    const logsFor = (region: string) => {
      const logs = base.logsFor(region)
      const until = logs.until.bind(logs)
      logs.until = (deadline: number) => (windows.push(deadline - clock.now()), until(deadline))
      return logs
    }
    await runMigration(request(60_000), { ...base, logsFor })
    await runMigration({ ...request(60_000), pollMs: 500 }, { ...base, logsFor })
    expect(windows).toEqual([10_000, 10_000, 2_000, 2_000])
  })

  it('stops reading the lines at an answer such as no access, and says so once', async () => {
    const runner = new RecordingRunner()
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock
      .on(DescribeTasksCommand)
      .resolvesOnce({ tasks: [wireTask('RUNNING')] })
      .resolvesOnce({ tasks: [wireTask('RUNNING')] })
      .resolves({ tasks: [stoppedWith(1)] })
    logsMock.on(GetLogEventsCommand).rejects(
      Object.assign(new Error('not authorized'), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 400 }
      })
    )
    const result = await runMigration(request(60_000), deps(new FakeClock(), runner))
    const denied =
      'the role may not read log group /ecs/api in eu-west-1 (AccessDeniedException); allow logs:GetLogEvents on it'
    expect(runner.lines.filter(l => l.startsWith('Its output'))).toEqual([
      `Its output is no longer shown: ${denied}.`
    ])
    expect(logsMock.commandCalls(GetLogEventsCommand)).toHaveLength(1)
    expect(result.logsUnavailable).toBe(denied)
    expect(result.message).toContain(`exited with code 1. No log lines: ${denied}.`)
    expect(result.summary).toContain(`**Log lines:** none shown: ${denied}.`)
  })

  it('tries again after a failed read, and gives up after three in a row', async () => {
    const runner = new RecordingRunner()
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock
      .on(DescribeTasksCommand)
      .resolvesOnce({ tasks: [wireTask('RUNNING')] })
      .resolvesOnce({ tasks: [wireTask('RUNNING')] })
      .resolvesOnce({ tasks: [wireTask('RUNNING')] })
      .resolvesOnce({ tasks: [wireTask('RUNNING')] })
      .resolvesOnce({ tasks: [wireTask('RUNNING')] })
      .resolves({ tasks: [stoppedWith(1)] })
    logsMock.on(GetLogEventsCommand).rejects(sdkError('InvalidParameterException', 400))
    const result = await runMigration(request(15 * 60_000), deps(new FakeClock(), runner))
    expect(logsMock.commandCalls(GetLogEventsCommand)).toHaveLength(3)
    const failed = `reading the logs failed: Reading log stream ecs/api/${TASK_ID} of /ecs/api failed: InvalidParameterException: InvalidParameterException`
    expect(runner.lines.filter(l => l.startsWith('Its output'))).toEqual([
      `Its output is no longer shown: ${failed}.`
    ])
    expect(result.logsUnavailable).toBe(failed)
  })

  it('counts only failed reads in a row: a read that works starts the count again', async () => {
    const runner = new RecordingRunner()
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    const describe = ecsMock.on(DescribeTasksCommand)
    for (let i = 0; i < 6; i++) describe.resolvesOnce({ tasks: [wireTask('RUNNING')] })
    describe.resolves({ tasks: [stoppedWith(1)] })
    // Per poll: fail, fail, a line, fail, fail, a line (each line page followed by the end).
    const line = (n: number, message: string) => ({
      events: [{ timestamp: n, message }],
      nextForwardToken: `f/${n}`
    })
    const pages = [
      'fail',
      'fail',
      line(1, 'one'),
      { events: [], nextForwardToken: 'f/1' },
      'fail',
      'fail',
      line(2, 'two'),
      { events: [], nextForwardToken: 'f/2' }
    ] as const
    let call = 0
    logsMock.on(GetLogEventsCommand).callsFake(() => {
      const page = pages[call++] ?? { events: [], nextForwardToken: 'f/2' }
      if (page === 'fail') throw sdkError('InvalidParameterException', 400)
      return page
    })
    const result = await runMigration(request(15 * 60_000), deps(new FakeClock(), runner))
    expect(runner.lines).toContain('  | two')
    expect(result.logsUnavailable).toBeUndefined()
    expect(result.lastLines.map(l => l.message)).toEqual(['one', 'two'])
  })

  it('names the last line the task logged in the failure, without blank lines or a final period', async () => {
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [stoppedWith(1)] })
    logsMock
      .on(GetLogEventsCommand)
      .resolvesOnce({
        events: [
          {
            timestamp: 1,
            message:
              'Applying 005_ledger\nERROR: duplicate key value violates unique constraint "public.ledger_pkey".\n\n'
          }
        ],
        nextForwardToken: 'f/1'
      })
      .resolves({ events: [], nextForwardToken: 'f/1' })
    const result = await runMigration(request(60_000), deps(new FakeClock(), new RecordingRunner()))
    expect(result.message).toBe(
      `The migration failed: npm run migrate as a one-off task (${TASK_ID}) of api:42 in cluster 'payments': container api exited with code 1. Last log line: ERROR: duplicate key value violates unique constraint "public.ledger_pkey". The service was not touched: fix the migration and deploy again.`
    )
    expect(result.summary).toContain(
      '**Last 1 log line:**\n\n```text\nApplying 005_ledger\nERROR: duplicate key value violates unique constraint "public.ledger_pkey".\n```'
    )
    expect(result.summary).toContain('The service was not touched.')
  })

  it('sums up a passed migration without a failure or log lines', async () => {
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [stoppedWith(0)] })
    logsMock
      .on(GetLogEventsCommand)
      .resolvesOnce({ events: [{ timestamp: 1, message: 'done' }], nextForwardToken: 'f/1' })
      .resolves({ events: [], nextForwardToken: 'f/1' })
    const result = await runMigration(request(60_000), deps(new FakeClock(), new RecordingRunner()))
    expect(result.summary).toContain('### Pre-deploy migration passed')
    for (const row of [
      '| Command | `npm run migrate` |',
      '| Task definition | api:42 |',
      `| Task | ${TASK_ID} |`,
      '| Exit code | 0 |',
      '| Duration | 0s |'
    ])
      expect(result.summary).toContain(row)
    expect(result.summary).not.toMatch(/failed|log line|not touched/)
  })

  it('sums up a failure in one escaped line, with its last lines counted', async () => {
    ecsMock.on(RunTaskCommand).resolves({ tasks: [wireTask('PROVISIONING')] })
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [
        wireTask('STOPPED', {
          stoppedReason:
            'CannotPullContainerError: pull access denied for my_repo\n  (manifest unknown)',
          containers: [{ name: 'api', lastStatus: 'STOPPED' }]
        })
      ]
    })
    logsMock
      .on(GetLogEventsCommand)
      .resolvesOnce({
        events: [
          { timestamp: 1, message: 'one' },
          { timestamp: 2, message: 'two' }
        ],
        nextForwardToken: 'f/1'
      })
      .resolves({ events: [], nextForwardToken: 'f/1' })
    const result = await runMigration(request(60_000), deps(new FakeClock(), new RecordingRunner()))
    expect(result.summary).toContain('### Pre-deploy migration failed')
    expect(result.summary).toContain(
      '**The migration failed:** the task stopped without an exit code: CannotPullContainerError: pull access denied for my\\_repo (manifest unknown).'
    )
    expect(result.summary).toContain('**Last 2 log lines:**\n\n```text\none\ntwo\n```')
  })
})

describe('judgeMigration, more cases', () => {
  it('says why the container exited when ECS gives a reason', () => {
    expect(
      judgeMigration(
        {
          containers: [
            {
              name: 'api',
              exitCode: 137,
              reason: 'OutOfMemoryError: Container killed due to memory usage'
            }
          ]
        },
        'api',
        undefined
      )
    ).toEqual({
      kind: 'failed',
      reason:
        'container api exited with code 137 (OutOfMemoryError: Container killed due to memory usage)',
      exitCode: 137
    })
  })

  it("joins the task's and the container's reasons for a stop without an exit code", () => {
    expect(
      judgeMigration(
        {
          stoppedReason: 'Task failed to start',
          containers: [{ name: 'api', reason: 'CannotStartContainerError: exec format error' }]
        },
        'api',
        undefined
      )
    ).toEqual({
      kind: 'failed',
      reason:
        'the task stopped without an exit code: Task failed to start; CannotStartContainerError: exec format error'
    })
  })

  it('says ECS gave no reason when it gave none, or no task at all', () => {
    const none = {
      kind: 'failed',
      reason: 'the task stopped without an exit code: ECS gave no reason'
    }
    expect(judgeMigration({ containers: [{ name: 'api' }] }, 'api', undefined)).toEqual(none)
    expect(judgeMigration(undefined, 'api', undefined)).toEqual(none)
  })
})

describe('the RunTask request, more cases', () => {
  it('marks the task as a migration in its startedBy, and tells services apart', () => {
    const token = migrationToken(intent())
    expect(token).toMatch(/^noblepay-migrate-[0-9a-f]{32}$/)
    expect(
      migrationToken(intent({ service: { ...FARGATE_SERVICE, serviceName: 'worker' } }))
    ).not.toBe(token)
  })

  it("places the task on the cluster's default capacity when the service names none", () => {
    const request = migrationRunTask(intent({ service: { serviceName: 'api' } }))
    expect(request).not.toHaveProperty('launchType')
    expect(request).not.toHaveProperty('capacityProviderStrategy')
  })

  it('refuses a timeout of 0 minutes', () => {
    expect(() =>
      readMigrationConfig(
        inputs({ 'pre-deploy-command': 'npm run migrate', 'pre-deploy-timeout-minutes': '0' })
      )
    ).toThrow(/^Input 'pre-deploy-timeout-minutes' is '0'/)
  })
})
