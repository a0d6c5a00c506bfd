/**
 * ecs-deploy against the ECS stand-in: how soon a failed rollout is reported, and how many
 * ECS calls the watch makes per minute.
 */
import { startEcsStandin, type EcsStandin } from '../../tools/ecs-standin/server.js'
import { runBundle } from '../../test/support/bundle.js'

interface Row {
  metric: string
  value: string
  note?: string
}

async function withService<T>(
  circuitBreaker: boolean,
  body: (standin: EcsStandin) => Promise<T>
): Promise<T> {
  const standin = await startEcsStandin({ tickMs: 100 })
  try {
    standin.addCluster('bench')
    const taskDefinition = standin.registerTaskDefinition({
      family: 'api',
      containerDefinitions: [{ name: 'api', image: 'local/api:v1', essential: true }]
    })
    standin.addService({
      cluster: 'bench',
      name: 'api',
      taskDefinition,
      desiredCount: 2,
      circuitBreaker: { enable: circuitBreaker, rollback: circuitBreaker }
    })
    return await body(standin)
  } finally {
    await standin.close()
  }
}

const awsEnv = (standin: EcsStandin) => ({
  AWS_ENDPOINT_URL_ECS: standin.endpoint,
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench'
})

const deploy = (standin: EcsStandin, inputs: Record<string, string>) =>
  runBundle('ecs-deploy', {
    inputs: { cluster: 'bench', service: 'api', 'wait-for-minutes': '2', ...inputs },
    env: awsEnv(standin),
    timeoutMs: 300_000
  })

/** From the circuit breaker marking the rollout FAILED to our first ::error:: line. */
async function detection(pollSeconds: number): Promise<number> {
  return withService(true, async standin => {
    standin.setImageBehaviour('local/api:bad', {
      outcome: 'crash',
      afterMs: 300,
      exitCode: 1,
      reason: 'boom'
    })
    let errorAt = 0
    const run = await runBundle('ecs-deploy', {
      inputs: {
        cluster: 'bench',
        service: 'api',
        image: 'local/api:bad',
        'poll-interval-seconds': String(pollSeconds)
      },
      env: awsEnv(standin),
      onLine: line => (errorAt ||= line.startsWith('::error::') ? Date.now() : 0)
    })
    const failedAt = standin.failedAt(run.outputs['deployment-id'])
    if (!failedAt || !errorAt) throw new Error(`no failure seen:\n${run.stdout}`)
    return errorAt - failedAt
  })
}

/** ECS calls per minute while a slow rollout is watched at the default poll interval's shape. */
async function callsPerMinute(
  pollSeconds: number,
  watchSeconds: number
): Promise<{ perMinute: number; perPoll: number }> {
  return withService(false, async standin => {
    standin.setImageBehaviour('local/api:slow', {
      outcome: 'healthy',
      startDelayMs: watchSeconds * 1000
    })
    await deploy(standin, {
      image: 'local/api:slow',
      'poll-interval-seconds': String(pollSeconds),
      'wait-for-minutes': String(watchSeconds / 60),
      'rollback-on-failure': 'false'
    })
    const updateAt = standin.calls.find(c => c.operation === 'UpdateService')!.at
    const watching = standin.calls.filter(c => c.at > updateAt)
    const polls = watching.filter(c => c.operation === 'DescribeServices').length
    const minutes = (watching.at(-1)!.at - updateAt) / 60_000
    return { perMinute: watching.length / minutes, perPoll: watching.length / polls }
  })
}

export async function benchRollouts(): Promise<Row[]> {
  const rows: Row[] = []
  for (const poll of [1, 2]) {
    const samples = []
    for (let i = 0; i < 3; i++) samples.push(await detection(poll))
    rows.push({
      metric: `ecs-deploy: failure detected after ECS marked it (poll ${poll}s)`,
      value: `${Math.max(...samples)} ms`,
      note: `worst of 3 (${samples.join(', ')} ms); target: under one poll interval`
    })
  }
  const rate = await callsPerMinute(2, 20)
  rows.push({
    metric: 'ecs-deploy: ECS calls per poll while waiting',
    value: rate.perPoll.toFixed(2),
    note: 'DescribeServices, plus ListTasks/DescribeTasks only when tasks fail'
  })
  rows.push({
    metric: 'ecs-deploy: ECS calls per minute while waiting',
    value: (rate.perPoll * 6).toFixed(1),
    note: `at the default 10 s poll (measured ${rate.perMinute.toFixed(1)}/min at a 2 s poll)`
  })
  return rows
}
