/**
 * The migration as a real one-off container on the Docker emulator: RunTask starts the
 * revision's image with the command override, its exit code is the container's, and its
 * lines come back through GetLogEvents from the container's own `docker logs`.
 * Needs `bash tools/docker-up.sh` (run as root; the tests run it when they can).
 */
import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs'
import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient
} from '@aws-sdk/client-ecs'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import { Inputs } from '../../actions/shared/inputs.js'
import { realClock } from '../../actions/shared/runner.js'
import { EcsTasksGateway } from '../../actions/ecs-deploy/ecs-tasks.js'
import { LogsGateway } from '../../actions/ecs-deploy/logs.js'
import { readMigrationConfig, runMigration } from '../../actions/ecs-deploy/migration.js'
import { startEmulator, type Emulator } from '../../tools/emulator.js'
import { ensureDocker, labelledContainers } from '../support/emulator.js'
import { RecordingRunner } from '../support/runner.js'

let emulator: Emulator
let ecs: ECSClient
let logs: CloudWatchLogsClient

beforeAll(async () => {
  await ensureDocker()
  emulator = await startEmulator({ tickMs: 200, pollMs: 300 })
  // The SDK finds both stand-ins through the variables the emulator hands out.
  const settings = {
    region: emulator.env.AWS_REGION,
    credentials: { accessKeyId: 'emulator', secretAccessKey: 'emulator' },
    maxAttempts: 1
  }
  ecs = new ECSClient({ ...settings, endpoint: emulator.env.AWS_ENDPOINT_URL_ECS })
  logs = new CloudWatchLogsClient({
    ...settings,
    endpoint: emulator.env.AWS_ENDPOINT_URL_CLOUDWATCH_LOGS
  })
  await emulator.createService({
    name: 'ledger',
    image: 'local/busybox:1',
    command: ['httpd', '-f', '-p', '8080'],
    containerPort: 8080,
    desiredCount: 1
  })
}, 120_000)

afterAll(async () => {
  await emulator?.close()
})

async function migrate(commandLine: string) {
  const service = (
    await ecs.send(new DescribeServicesCommand({ cluster: 'local', services: ['ledger'] }))
  ).services![0]!
  const { taskDefinition } = await ecs.send(
    new DescribeTaskDefinitionCommand({ taskDefinition: service.taskDefinition })
  )
  const caller = () =>
    new AwsCaller({
      clock: realClock,
      deadline: Date.now() + 60_000,
      attemptTimeoutMs: 5_000,
      backoffMs: 200,
      maxBackoffMs: 1_000
    })
  const runner = new RecordingRunner()
  const result = await runMigration(
    {
      cluster: 'local',
      service,
      taskDefinition: taskDefinition!,
      containerName: 'ledger',
      config: readMigrationConfig(
        new Inputs(name => (name === 'pre-deploy-command' ? commandLine : ''))
      )!,
      runId: String(Date.now()),
      runAttempt: '1',
      pollMs: 300,
      logLines: 20,
      region: emulator.env.AWS_REGION!
    },
    {
      tasks: new EcsTasksGateway(ecs, caller()),
      logsFor: region => new LogsGateway(logs, caller(), region),
      runner,
      clock: realClock
    }
  )
  return { result, runner }
}

describe('the migration on the Docker emulator', () => {
  it("fails with the container's exit code, and its stdout and stderr lines from GetLogEvents", async () => {
    const { result, runner } = await migrate(
      // Docker reads stdout and stderr apart: a pause keeps their order beyond doubt.
      `sh -c 'echo migrating 004_fees; sleep 0.2; echo "ERROR: relation fees already exists" >&2; exit 3'`
    )
    expect(result).toMatchObject({ status: 'failed', exitCode: 3 })
    expect(result.lastLines.map(l => l.message)).toEqual([
      'migrating 004_fees',
      'ERROR: relation fees already exists'
    ])
    expect(runner.lines).toContain('  | ERROR: relation fees already exists')

    // The stream is the container's own output, named as the awslogs driver names it.
    const taskId = result.taskArn!.split('/').pop()
    const out = await logs.send(
      new GetLogEventsCommand({
        logGroupName: '/ecs/ledger',
        logStreamName: `ecs/ledger/${taskId}`,
        // Without a start time a first page may be empty while the stream holds events.
        startTime: 0
      })
    )
    expect(out.events!.map(e => e.message)).toEqual([
      'migrating 004_fees',
      'ERROR: relation fees already exists'
    ])
    expect(emulator.logs.calls.every(c => c.operation === 'GetLogEvents')).toBe(true)
    // The one-off container is gone; the service's own still runs.
    expect(labelledContainers(emulator.label).map(c => c.state)).toEqual(['running'])
  }, 60_000)

  it('passes a command that exits 0', async () => {
    const { result } = await migrate(`sh -c 'echo schema is up to date'`)
    expect(result).toMatchObject({ status: 'passed', exitCode: 0 })
    expect(result.lastLines.map(l => l.message)).toEqual(['schema is up to date'])
  }, 60_000)
})
