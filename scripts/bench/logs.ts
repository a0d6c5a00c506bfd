/**
 * The crashed container's log lines against the local stand-ins: how much wall time fetching
 * them adds to a failed deploy's report (target: under 1 s). A rollout of a crashing image on
 * the ECS stand-in, then fetchCrashLogs as ecs-deploy calls it after its first `::error::`,
 * with the CloudWatch Logs client built from the environment as in the action.
 */
import {
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  UpdateServiceCommand
} from '@aws-sdk/client-ecs'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import { realClock } from '../../actions/shared/runner.js'
import {
  fetchCrashLogs,
  logsGateway,
  type CrashLogsRequest
} from '../../actions/ecs-deploy/logs.js'
import { startEcsStandin } from '../../tools/ecs-standin/server.js'
import { startLogsStandin } from '../../tools/logs-standin/server.js'

interface Row {
  metric: string
  value: string
  note?: string
}

const LINES = 20

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

export async function benchLogFetch(samples = 10): Promise<Row[]> {
  const ecs = await startEcsStandin({ tickMs: 50 })
  const logs = await startLogsStandin({ source: ecs.logSource })
  const saved = { ...process.env }
  try {
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_ECS: ecs.endpoint,
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: logs.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench'
    })
    const awslogs = {
      logDriver: 'awslogs',
      options: { 'awslogs-group': '/ecs/api', 'awslogs-stream-prefix': 'ecs' }
    }
    ecs.addCluster('bench')
    const v1 = ecs.registerTaskDefinition({
      family: 'api',
      containerDefinitions: [{ name: 'api', image: 'local/api:v1', logConfiguration: awslogs }]
    })
    ecs.addService({ cluster: 'bench', name: 'api', taskDefinition: v1, desiredCount: 1 })
    ecs.setImageBehaviour('local/api:bad', {
      outcome: 'crash',
      afterMs: 100,
      exitCode: 1,
      logLines: Array.from({ length: 50 }, (_, i) => `line ${i + 1} of the crashing start-up`)
    })
    const v2 = ecs.registerTaskDefinition({
      family: 'api',
      containerDefinitions: [{ name: 'api', image: 'local/api:bad', logConfiguration: awslogs }]
    })

    // A crashed task of the bad revision, as the watch reports it.
    const client = new ECSClient({ region: 'eu-west-1', maxAttempts: 1 })
    await client.send(
      new UpdateServiceCommand({ cluster: 'bench', service: 'api', taskDefinition: v2 })
    )
    let arns: string[] = []
    for (let tries = 0; arns.length === 0 && tries < 100; tries++) {
      await new Promise(done => setTimeout(done, 50))
      const listed = await client.send(
        new ListTasksCommand({ cluster: 'bench', serviceName: 'api', desiredStatus: 'STOPPED' })
      )
      arns = listed.taskArns ?? []
    }
    const described = await client.send(new DescribeTasksCommand({ cluster: 'bench', tasks: arns }))
    const { taskDefinition } = await client.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: v2 })
    )
    const request: CrashLogsRequest = {
      taskDefinition: taskDefinition!,
      stoppedTasks: (described.tasks ?? []).map(t => ({
        taskArn: t.taskArn ?? '',
        stopCode: t.stopCode,
        startedAt: t.startedAt ?? t.createdAt,
        containers: (t.containers ?? []).map(c => ({ name: c.name ?? '', exitCode: c.exitCode }))
      })),
      containerName: 'api',
      count: LINES,
      region: 'eu-west-1'
    }

    const once = async () => {
      const caller = new AwsCaller({
        clock: realClock,
        deadline: Date.now() + 10_000,
        attemptTimeoutMs: 2_000,
        backoffMs: 200,
        maxBackoffMs: 1_000
      })
      const started = process.hrtime.bigint()
      // A new client each time, built from the environment as the action builds it.
      const result = await fetchCrashLogs(request, region => logsGateway(region, caller))
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      if (result.kind !== 'lines' || result.lines.length !== LINES)
        throw new Error(`the log fetch did not return ${LINES} lines: ${JSON.stringify(result)}`)
      return ms
    }
    const first = await once()
    const times: number[] = []
    for (let i = 0; i < samples; i++) times.push(await once())
    return [
      {
        metric: `ecs-deploy: crashed container's last ${LINES} log lines, first fetch`,
        value: `${first.toFixed(0)} ms`,
        note: 'client built and first GetLogEvents; target: under 1 s'
      },
      {
        metric: `ecs-deploy: crashed container's last ${LINES} log lines, fetch`,
        value: `${median(times).toFixed(0)} ms`,
        note: `median of ${samples} (worst ${Math.max(...times).toFixed(0)} ms); target: under 1 s`
      }
    ]
  } finally {
    process.env = saved
    await logs.close()
    await ecs.close()
  }
}
