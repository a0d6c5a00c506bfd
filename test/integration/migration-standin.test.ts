/**
 * One-off tasks and their log lines against the stand-ins, through the real SDK: RunTask and
 * StopTask on the ECS stand-in, the task containers' awslogs streams served by the CloudWatch
 * Logs stand-in, and the migration and crash-log modules on top of both.
 */
import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs'
import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  UpdateServiceCommand,
  type RunTaskCommandInput,
  type Task
} from '@aws-sdk/client-ecs'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import { realClock } from '../../actions/shared/runner.js'
import { EcsTasksGateway } from '../../actions/ecs-deploy/ecs-tasks.js'
import { fetchCrashLogs, LogsGateway } from '../../actions/ecs-deploy/logs.js'
import { runMigration, type MigrationRequest } from '../../actions/ecs-deploy/migration.js'
import { startEcsStandin, type EcsStandin } from '../../tools/ecs-standin/server.js'
import { startLogsStandin, type LogsStandin } from '../../tools/logs-standin/server.js'
import { RecordingRunner } from '../support/runner.js'

const TICK_MS = 50
const NETWORK = {
  awsvpcConfiguration: {
    subnets: ['subnet-0a1b2c3d4e5f60718'],
    securityGroups: ['sg-0a1b2c3d4e5f60718'],
    assignPublicIp: 'DISABLED' as const
  }
}
const AWSLOGS = {
  logDriver: 'awslogs' as const,
  options: {
    'awslogs-group': '/ecs/api',
    'awslogs-region': 'eu-west-1',
    'awslogs-stream-prefix': 'ecs'
  }
}

interface World {
  ecs: EcsStandin
  logs: LogsStandin
  ecsClient: ECSClient
  logsClient: CloudWatchLogsClient
  v1: string
}
const open: World[] = []

const sdkSettings = (endpoint: string) => ({
  endpoint,
  region: 'eu-west-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  maxAttempts: 1
})

/** Cluster `prod`, service `api` on a Fargate awsvpc revision whose container logs with awslogs. */
async function world(): Promise<World> {
  const ecs = await startEcsStandin({ tickMs: TICK_MS })
  const logs = await startLogsStandin({ source: ecs.logSource })
  ecs.addCluster('prod')
  const v1 = ecs.registerTaskDefinition({
    family: 'api',
    networkMode: 'awsvpc',
    requiresCompatibilities: ['FARGATE'],
    cpu: '256',
    memory: '512',
    containerDefinitions: [
      { name: 'api', image: 'registry/api:v1', essential: true, logConfiguration: AWSLOGS }
    ]
  })
  ecs.addService({ cluster: 'prod', name: 'api', taskDefinition: v1, desiredCount: 1 })
  const w = {
    ecs,
    logs,
    ecsClient: new ECSClient(sdkSettings(ecs.endpoint)),
    logsClient: new CloudWatchLogsClient(sdkSettings(logs.endpoint)),
    v1
  }
  open.push(w)
  return w
}

const runRequest = (
  taskDefinition: string,
  extra: Partial<RunTaskCommandInput> = {}
): RunTaskCommandInput => ({
  cluster: 'prod',
  taskDefinition,
  launchType: 'FARGATE',
  networkConfiguration: NETWORK,
  overrides: { containerOverrides: [{ name: 'api', command: ['npm', 'run', 'migrate'] }] },
  startedBy: 'noblepay-migrate-test',
  ...extra
})

async function waitStopped(w: World, taskArn: string, timeoutMs = 5_000): Promise<Task> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const out = await w.ecsClient.send(
      new DescribeTasksCommand({ cluster: 'prod', tasks: [taskArn] })
    )
    const task = out.tasks![0]!
    if (task.lastStatus === 'STOPPED') return task
    if (Date.now() > deadline) throw new Error(`task still ${task.lastStatus}`)
    await new Promise(done => setTimeout(done, TICK_MS))
  }
}

afterEach(async () => {
  await Promise.all(open.splice(0).flatMap(w => [w.ecs.close(), w.logs.close()]))
})

describe('ECS stand-in: RunTask and StopTask', () => {
  it('runs a one-off task outside the service, with the override, and stops it with the command exit code', async () => {
    const w = await world()
    w.ecs.setCommandBehaviour('npm run migrate', {
      exitCode: 3,
      durationMs: 300,
      logLines: ['migrating', 'ERROR: duplicate key']
    })
    const out = await w.ecsClient.send(new RunTaskCommand(runRequest(w.v1)))
    expect(out.failures).toEqual([])
    const task = out.tasks![0]!
    expect(task).toMatchObject({
      taskDefinitionArn: w.v1,
      startedBy: 'noblepay-migrate-test',
      group: 'family:api',
      launchType: 'FARGATE',
      platformVersion: '1.4.0',
      desiredStatus: 'RUNNING',
      overrides: { containerOverrides: [{ name: 'api', command: ['npm', 'run', 'migrate'] }] }
    })
    // Listed by its startedBy, not among the service's tasks.
    const byStarter = await w.ecsClient.send(
      new ListTasksCommand({ cluster: 'prod', startedBy: 'noblepay-migrate-test' })
    )
    expect(byStarter.taskArns).toEqual([task.taskArn])
    const ofService = await w.ecsClient.send(
      new ListTasksCommand({ cluster: 'prod', serviceName: 'api' })
    )
    expect(ofService.taskArns).not.toContain(task.taskArn)

    const stopped = await waitStopped(w, task.taskArn!)
    expect(stopped).toMatchObject({
      stopCode: 'EssentialContainerExited',
      stoppedReason: 'Essential container in task exited',
      containers: [expect.objectContaining({ name: 'api', exitCode: 3 })]
    })
    // The service was not touched.
    const service = await w.ecsClient.send(
      new DescribeServicesCommand({ cluster: 'prod', services: ['api'] })
    )
    expect(service.services![0]!.deployments).toHaveLength(1)
    expect(service.services![0]!.taskDefinition).toBe(w.v1)
  })

  it('answers a repeated clientToken with the task it started, and a changed request with ConflictException', async () => {
    const w = await world()
    w.ecs.setCommandBehaviour('npm run migrate', { durationMs: 10_000 })
    const first = await w.ecsClient.send(
      new RunTaskCommand(runRequest(w.v1, { clientToken: 'token-1' }))
    )
    const again = await w.ecsClient.send(
      new RunTaskCommand(runRequest(w.v1, { clientToken: 'token-1' }))
    )
    expect(again.tasks!.map(t => t.taskArn)).toEqual(first.tasks!.map(t => t.taskArn))
    await expect(
      w.ecsClient.send(
        new RunTaskCommand(runRequest(w.v1, { clientToken: 'token-1', startedBy: 'someone-else' }))
      )
    ).rejects.toMatchObject({ name: 'ConflictException', resourceIds: [first.tasks![0]!.taskArn] })
    const all = w.ecs.tasks('prod').filter(t => t.group === 'family:api')
    expect(all).toHaveLength(1)
  })

  it('refuses what ECS refuses, and places nothing without a launch type or strategy', async () => {
    const w = await world()
    const refused = [
      { networkConfiguration: undefined },
      { capacityProviderStrategy: [{ capacityProvider: 'FARGATE', weight: 1 }] },
      { overrides: { containerOverrides: [{ name: 'worker', command: ['x'] }] } },
      { startedBy: 'has spaces' },
      { launchType: undefined, capacityProviderStrategy: [{ capacityProvider: 'EC2_ASG' }] }
    ]
    for (const extra of refused) {
      await expect(
        w.ecsClient.send(new RunTaskCommand(runRequest(w.v1, extra)))
      ).rejects.toMatchObject({ name: 'InvalidParameterException' })
    }
    const unplaced = await w.ecsClient.send(
      new RunTaskCommand(runRequest(w.v1, { launchType: undefined }))
    )
    expect(unplaced.tasks).toEqual([])
    expect(unplaced.failures![0]!.reason).toMatch(/No Container Instances/)
    const spot = await w.ecsClient.send(
      new RunTaskCommand(
        runRequest(w.v1, {
          launchType: undefined,
          capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }]
        })
      )
    )
    expect(spot.tasks![0]).toMatchObject({ capacityProviderName: 'FARGATE_SPOT' })
  })

  it('stops a task on StopTask with UserInitiated and the reason given', async () => {
    const w = await world()
    w.ecs.setCommandBehaviour('npm run migrate', { durationMs: Infinity })
    const task = (await w.ecsClient.send(new RunTaskCommand(runRequest(w.v1)))).tasks![0]!
    const out = await w.ecsClient.send(
      new StopTaskCommand({ cluster: 'prod', task: task.taskArn, reason: 'took too long' })
    )
    expect(out.task).toMatchObject({
      desiredStatus: 'STOPPED',
      stopCode: 'UserInitiated',
      stoppedReason: 'took too long'
    })
    expect((await waitStopped(w, task.taskArn!)).lastStatus).toBe('STOPPED')
    await expect(
      w.ecsClient.send(new StopTaskCommand({ cluster: 'prod', task: 'f'.repeat(32) }))
    ).rejects.toMatchObject({ name: 'InvalidParameterException' })
  })

  it("serves the task's lines as its awslogs stream, as they are logged", async () => {
    const w = await world()
    w.ecs.setCommandBehaviour('npm run migrate', {
      durationMs: 1_200,
      lineIntervalMs: 400,
      logLines: ['one', 'two', 'three']
    })
    const task = (await w.ecsClient.send(new RunTaskCommand(runRequest(w.v1)))).tasks![0]!
    const stream = `ecs/api/${task.taskArn!.split('/').pop()}`
    const read = () =>
      w.logsClient.send(
        new GetLogEventsCommand({
          logGroupName: '/ecs/api',
          logStreamName: stream,
          startTime: task.createdAt!.valueOf()
        })
      )
    const early = await read()
    expect(early.events!.map(e => e.message)).toEqual(['one'])
    await waitStopped(w, task.taskArn!)
    expect((await read()).events!.map(e => e.message)).toEqual(['one', 'two', 'three'])
    await expect(
      w.logsClient.send(
        new GetLogEventsCommand({ logGroupName: '/ecs/api', logStreamName: 'other/api/x' })
      )
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' })
  })
})

describe('the migration and crash-log modules on the stand-ins', () => {
  const caller = (deadlineMs = 60_000) =>
    new AwsCaller({
      clock: realClock,
      deadline: Date.now() + deadlineMs,
      attemptTimeoutMs: 2_000,
      backoffMs: 100,
      maxBackoffMs: 500
    })

  async function migrate(w: World, timeoutMs: number) {
    const v2 = (
      await w.ecsClient.send(
        new RegisterTaskDefinitionCommand({
          family: 'api',
          networkMode: 'awsvpc',
          requiresCompatibilities: ['FARGATE'],
          cpu: '256',
          memory: '512',
          containerDefinitions: [
            { name: 'api', image: 'registry/api:v2', essential: true, logConfiguration: AWSLOGS }
          ]
        })
      )
    ).taskDefinition!
    const service = (
      await w.ecsClient.send(new DescribeServicesCommand({ cluster: 'prod', services: ['api'] }))
    ).services![0]!
    const runner = new RecordingRunner()
    const request: MigrationRequest = {
      cluster: 'prod',
      service,
      taskDefinition: v2,
      containerName: 'api',
      config: {
        text: 'npm run migrate',
        command: { env: {}, argv: ['npm', 'run', 'migrate'] },
        timeoutMs
      },
      runId: String(Math.random()),
      runAttempt: '1',
      pollMs: 100,
      logLines: 20,
      region: 'eu-west-1',
      stopGraceMs: 5_000
    }
    const result = await runMigration(request, {
      tasks: new EcsTasksGateway(w.ecsClient, caller()),
      logsFor: region => new LogsGateway(w.logsClient, caller(), region),
      runner,
      clock: realClock
    })
    return { result, runner, v2 }
  }

  it('passes a migration that exits 0, printing its lines in order, with the service untouched', async () => {
    const w = await world()
    w.ecs.setCommandBehaviour('npm run migrate', {
      exitCode: 0,
      durationMs: 400,
      logLines: ['applying 001_accounts', 'applying 002_ledger', 'done']
    })
    const { result, runner, v2 } = await migrate(w, 10_000)
    expect(result).toMatchObject({ status: 'passed', exitCode: 0 })
    const printed = runner.lines.filter(l => l.startsWith('  | '))
    expect(printed).toEqual(['  | applying 001_accounts', '  | applying 002_ledger', '  | done'])
    const runTask = w.ecs.calls.filter(c => c.operation === 'RunTask')
    expect(runTask).toHaveLength(1)
    const task = w.ecs.tasks('prod').find(t => t.taskArn === result.taskArn)!
    expect(task).toMatchObject({ taskDefinitionArn: v2.taskDefinitionArn, group: 'family:api' })
    expect(w.ecs.calls.map(c => c.operation)).not.toContain('UpdateService')
  })

  it('fails a migration that exits non-zero with its code and last lines', async () => {
    const w = await world()
    w.ecs.setCommandBehaviour('npm run migrate', {
      exitCode: 1,
      durationMs: 300,
      logLines: ['applying 003_fees', 'ERROR: column "fee" of relation "ledger" already exists']
    })
    const { result } = await migrate(w, 10_000)
    expect(result).toMatchObject({ status: 'failed', exitCode: 1 })
    expect(result.lastLines.map(l => l.message)).toEqual([
      'applying 003_fees',
      'ERROR: column "fee" of relation "ledger" already exists'
    ])
    expect(result.message).toContain('container api exited with code 1')
    expect(result.message).toContain('Last log line: ERROR: column "fee"')
  })

  it('stops a migration at the timeout with StopTask', async () => {
    const w = await world()
    w.ecs.setCommandBehaviour('npm run migrate', {
      durationMs: Infinity,
      logLines: ['waiting for lock']
    })
    const { result } = await migrate(w, 500)
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/did not finish within/)
    expect(w.ecs.calls.filter(c => c.operation === 'StopTask')).toHaveLength(1)
    const task = w.ecs.tasks('prod').find(t => t.taskArn === result.taskArn)!
    expect(task).toMatchObject({ lastStatus: 'STOPPED', stopCode: 'UserInitiated' })
    expect(result.lastLines.map(l => l.message)).toEqual(['waiting for lock'])
  })

  it("fetches a crashed rollout task's last lines from its awslogs stream", async () => {
    const w = await world()
    w.ecs.setImageBehaviour('registry/api:crash', {
      outcome: 'crash',
      afterMs: 200,
      exitCode: 1,
      logLines: ['listening on 8080', 'Error: connect ECONNREFUSED 10.0.3.7:5432']
    })
    const v2 = (
      await w.ecsClient.send(
        new RegisterTaskDefinitionCommand({
          family: 'api',
          networkMode: 'awsvpc',
          containerDefinitions: [
            { name: 'api', image: 'registry/api:crash', essential: true, logConfiguration: AWSLOGS }
          ]
        })
      )
    ).taskDefinition!
    const updated = await w.ecsClient.send(
      new UpdateServiceCommand({
        cluster: 'prod',
        service: 'api',
        taskDefinition: v2.taskDefinitionArn
      })
    )
    const deploymentId = updated.service!.deployments![0]!.id!
    let stopped: Task[] = []
    const deadline = Date.now() + 5_000
    while (stopped.length === 0 && Date.now() < deadline) {
      await new Promise(done => setTimeout(done, TICK_MS))
      const arns = (
        await w.ecsClient.send(
          new ListTasksCommand({
            cluster: 'prod',
            startedBy: deploymentId,
            desiredStatus: 'STOPPED'
          })
        )
      ).taskArns!
      if (arns.length > 0)
        stopped = (
          await w.ecsClient.send(new DescribeTasksCommand({ cluster: 'prod', tasks: arns }))
        ).tasks!
    }
    const described = await w.ecsClient.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: v2.taskDefinitionArn })
    )
    const started = Date.now()
    const logs = await fetchCrashLogs(
      {
        taskDefinition: described.taskDefinition!,
        stoppedTasks: stopped.map(t => ({
          taskArn: t.taskArn!,
          stopCode: t.stopCode,
          startedAt: t.startedAt ?? t.createdAt,
          containers: (t.containers ?? []).map(c => ({ name: c.name!, exitCode: c.exitCode }))
        })),
        containerName: 'api',
        count: 20,
        region: 'eu-west-1'
      },
      region => new LogsGateway(w.logsClient, caller(), region)
    )
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(logs).toMatchObject({
      kind: 'lines',
      group: '/ecs/api',
      stream: `ecs/api/${stopped[0]!.taskArn!.split('/').pop()}`
    })
    expect(logs.kind === 'lines' && logs.lines.map(l => l.message)).toEqual([
      'listening on 8080',
      'Error: connect ECONNREFUSED 10.0.3.7:5432'
    ])
    // From the task's start, forward, until the token comes back as it was sent.
    const reads = w.logs.calls.filter(c => c.operation === 'GetLogEvents')
    expect(reads[0]!.input).toMatchObject({ startFromHead: true, startTime: expect.any(Number) })
    expect(reads.at(-1)!.input.nextToken).toBeDefined()
  })
})
