/**
 * ecs-deploy against the ECS stand-in: how soon a failed rollout is reported, and how many
 * ECS calls the watch makes per minute.
 */
import { startEcsStandin, type EcsStandin } from '../../tools/ecs-standin/server.js'
import { runBundle } from '../../test/support/bundle.js'
import { startFaultProxy, type FaultRule } from '../../test/support/fault-proxy.js'

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

/**
 * From the circuit breaker marking the rollout FAILED to our first ::error:: line; with
 * `fault`, through a proxy that breaks calls that way (e.g. a slow ListTasks).
 */
async function detection(pollSeconds: number, fault?: FaultRule): Promise<number> {
  return withService(true, async standin => {
    const proxy = fault ? await startFaultProxy(standin.endpoint) : undefined
    if (fault) proxy!.inject(fault)
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
      env: { ...awsEnv(standin), AWS_ENDPOINT_URL_ECS: proxy?.endpoint ?? standin.endpoint },
      onLine: line => (errorAt ||= line.startsWith('::error::') ? Date.now() : 0)
    })
    await proxy?.close()
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

/** Wall time of a successful deploy, and of the same deploy meeting `fault`. */
async function wallTime(fault?: FaultRule): Promise<number> {
  return withService(true, async standin => {
    const proxy = fault ? await startFaultProxy(standin.endpoint) : undefined
    if (fault) proxy!.inject(fault)
    const run = await runBundle('ecs-deploy', {
      inputs: {
        cluster: 'bench',
        service: 'api',
        image: 'local/api:v2',
        'poll-interval-seconds': '1'
      },
      env: { ...awsEnv(standin), AWS_ENDPOINT_URL_ECS: proxy?.endpoint ?? standin.endpoint }
    })
    await proxy?.close()
    if (run.outputs.status !== 'succeeded') throw new Error(`deploy failed:\n${run.stdout}`)
    return run.durationMs
  })
}

export async function benchRollouts(): Promise<Row[]> {
  const rows: Row[] = []
  const worst: Record<number, number> = {}
  for (const poll of [1, 2]) {
    const samples = []
    for (let i = 0; i < 3; i++) samples.push(await detection(poll))
    worst[poll] = Math.max(...samples)
    rows.push({
      metric: `ecs-deploy: failure detected after ECS marked it (poll ${poll}s)`,
      value: `${worst[poll]} ms`,
      note: `worst of 3 (${samples.join(', ')} ms); target: under one poll interval`
    })
  }
  const slow = []
  for (let i = 0; i < 3; i++)
    slow.push(
      await detection(1, { operation: 'ListTasks', mode: 'slow', delayMs: 5000, forMs: 600_000 })
    )
  rows.push({
    metric: 'ecs-deploy: failure detected, ListTasks answering in 5 s (poll 1s)',
    value: `${Math.max(...slow)} ms`,
    note: `worst of 3 (${slow.join(', ')} ms); target: under 1 s over the figure without (${worst[1]} ms)`
  })
  const plain = []
  const throttled = []
  for (let i = 0; i < 3; i++) {
    plain.push(await wallTime())
    throttled.push(
      await wallTime({ operation: 'DescribeServices', mode: 'throttle', count: 10, skip: 2 })
    )
  }
  const med = (values: number[]) => [...values].sort((a, b) => a - b)[1]
  rows.push({
    metric: 'ecs-deploy: wall time of a deploy under a burst of 10 throttles',
    value: `${med(throttled)} ms`,
    note: `median of 3; the same deploy unthrottled: ${med(plain)} ms (poll 1 s, backoff from 0.5 s)`
  })
  const rate = await callsPerMinute(2, 20)
  rows.push({
    metric: 'ecs-deploy: ECS calls per poll while waiting',
    value: rate.perPoll.toFixed(2),
    note: 'DescribeServices, plus ListTasks/DescribeTasks when tasks fail and once for the phase report'
  })
  rows.push({
    metric: 'ecs-deploy: ECS calls per minute while waiting',
    value: (rate.perPoll * 6).toFixed(1),
    note: `at the default 10 s poll (measured ${rate.perMinute.toFixed(1)}/min at a 2 s poll)`
  })
  return rows
}
