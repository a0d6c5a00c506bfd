/**
 * One rollout of a service behind a load balancer with AWS's default target group settings
 * (30 s interval, 5 healthy checks, a 300 s deregistration delay), scaled so that one AWS second
 * is SECOND_MS here, timed to "done" three ways in one run, each on a fresh pair of stand-ins:
 *   - a plain wait for services-stable: UpdateService, then the SDK's own waiter
 *     (waitUntilServicesStable: one deployment left, running equals desired), with the delays
 *     the official deploy action gives it (15 s, backing off to the waiter's 120 s), scaled;
 *   - ecs-deploy by default (wait-until steady);
 *   - ecs-deploy with wait-until serving.
 * ecs-deploy polls at its default 10 s, scaled. Also: the phase report's longest phase and the
 * read calls it and serving cost. `npx tsx scripts/bench/serving.ts` prints its rows.
 */
import { ECSClient, UpdateServiceCommand, waitUntilServicesStable } from '@aws-sdk/client-ecs'
import { runBundle } from '../../test/support/bundle.js'
import { startEcsStandin, type EcsStandin } from '../../tools/ecs-standin/server.js'
import { startElbStandin, type ElbStandin } from '../../tools/elb-standin/server.js'

interface Row {
  metric: string
  value: string
  note?: string
}

/** One AWS second, in stand-in milliseconds. */
const SECOND_MS = 20
const scaled = (seconds: number) => seconds * SECOND_MS

interface Service {
  ecs: EcsStandin
  elb: ElbStandin
  env: Record<string, string>
  close(): Promise<void>
}

/** Two tasks of local/api:v1 behind one target group with AWS's defaults. */
async function service(): Promise<Service> {
  const elb = await startElbStandin({ secondMs: SECOND_MS, tickMs: 10 })
  const ecs = await startEcsStandin({
    tickMs: 10,
    loadBalancing: elb.model,
    // Fargate's start (provisioning, pull, start) of a small image: about 20 s.
    defaultBehaviour: { outcome: 'healthy', startDelayMs: scaled(20) }
  })
  ecs.setImageStartTimes(/./, { provisioningMs: scaled(8), pullMs: scaled(7) })
  const targetGroupArn = elb.addTargetGroup({ name: 'api' })
  ecs.addCluster('bench')
  const taskDefinition = ecs.registerTaskDefinition({
    family: 'api',
    networkMode: 'awsvpc',
    containerDefinitions: [{ name: 'api', image: 'local/api:v1', essential: true }]
  })
  ecs.addService({
    cluster: 'bench',
    name: 'api',
    taskDefinition,
    desiredCount: 2,
    circuitBreaker: { enable: true, rollback: true },
    loadBalancers: [{ targetGroupArn, containerName: 'api', containerPort: 8080 }]
  })
  return {
    ecs,
    elb,
    env: {
      AWS_ENDPOINT_URL_ECS: ecs.endpoint,
      AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: elb.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench'
    },
    close: async () => {
      await ecs.close()
      await elb.close()
    }
  }
}

/** UpdateService, then ECS's own services-stable waiter, as the official deploy action does. */
async function plainWait(): Promise<number> {
  const s = await service()
  try {
    const client = new ECSClient({
      region: 'eu-west-1',
      endpoint: s.ecs.endpoint,
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' }
    })
    const next = s.ecs.registerTaskDefinition({
      family: 'api',
      networkMode: 'awsvpc',
      containerDefinitions: [{ name: 'api', image: 'local/api:v2', essential: true }]
    })
    const started = Date.now()
    await client.send(
      new UpdateServiceCommand({ cluster: 'bench', service: 'api', taskDefinition: next })
    )
    await waitUntilServicesStable(
      {
        client,
        maxWaitTime: scaled(30 * 60) / 1000,
        minDelay: scaled(15) / 1000,
        maxDelay: scaled(120) / 1000
      },
      { cluster: 'bench', services: ['api'] }
    )
    return Date.now() - started
  } finally {
    await s.close()
  }
}

/** ecs-deploy, from process start to exit; the phase report's lines and the calls made. */
async function ecsDeploy(
  waitUntil: 'steady' | 'serving'
): Promise<{ ms: number; longest: string; phaseCalls: number; elbCalls: number }> {
  const s = await service()
  try {
    const run = await runBundle('ecs-deploy', {
      inputs: {
        cluster: 'bench',
        service: 'api',
        image: 'local/api:v2',
        'wait-until': waitUntil,
        'poll-interval-seconds': String(scaled(10) / 1000),
        'wait-for-minutes': '5'
      },
      env: s.env,
      timeoutMs: 300_000
    })
    if (run.outputs.status !== 'succeeded') throw new Error(`deploy failed:\n${run.stdout}`)
    const lines = run.stdout.split('\n')
    const longest =
      lines.find(l =>
        /^(Old tasks drained|New tasks went|The image pull|Provisioning took|Container start took)/.test(
          l
        )
      ) ?? ''
    const phaseCalls = Number(/the phase report took (\d+) read calls/.exec(run.stdout)?.[1] ?? NaN)
    // From the UpdateService, as the plain wait is timed, to the process's exit.
    const updatedAt = s.ecs.calls.find(c => c.operation === 'UpdateService')!.at
    return {
      ms: run.startedAt + run.durationMs - updatedAt,
      longest,
      phaseCalls,
      elbCalls: s.elb.calls.length
    }
  } finally {
    await s.close()
  }
}

export async function benchServing(): Promise<Row[]> {
  const plain = await plainWait()
  const steady = await ecsDeploy('steady')
  const serving = await ecsDeploy('serving')
  const setting = `AWS's default target group, 1 AWS second = ${SECOND_MS} ms`
  return [
    {
      metric: 'rollout behind a load balancer: plain wait for services-stable',
      value: `${plain} ms`,
      note: `UpdateService + the SDK's waiter (15 s to 120 s delays, scaled); ${setting}`
    },
    {
      metric: 'rollout behind a load balancer: ecs-deploy (wait-until steady)',
      value: `${steady.ms} ms`,
      note: `${(steady.ms / plain).toFixed(2)}× the plain wait; each from its UpdateService to done (ecs-deploy: its exit), poll 10 s scaled`
    },
    {
      metric: 'rollout behind a load balancer: ecs-deploy wait-until serving',
      value: `${serving.ms} ms`,
      note: `${(serving.ms / plain).toFixed(2)}× the plain wait (goal: at most 0.30×)`
    },
    {
      metric: 'ecs-deploy: longest phase of that rollout (steady)',
      value: steady.longest.startsWith('Old tasks drained') ? 'draining' : 'other',
      note: steady.longest
    },
    {
      metric: 'ecs-deploy: read calls for the phase report, per rollout',
      value: String(steady.phaseCalls),
      note: `ListTasks ×2, DescribeTasks, DescribeTargetGroups, DescribeTargetGroupAttributes; ${steady.elbCalls} ELB calls in the steady run`
    },
    {
      metric: 'ecs-deploy: ELB calls of a serving rollout',
      value: String(serving.elbCalls),
      note: 'DescribeTargetHealth per poll once ECS counts the new tasks running, plus the phase report'
    }
  ]
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const row of await benchServing()) console.log(row.metric, row.value, row.note ?? '')
}
