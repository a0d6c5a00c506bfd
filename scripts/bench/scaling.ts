/**
 * ecs-deploy's auto-scaling against the local Application Auto Scaling stand-in: the wall time
 * it adds to a deploy when it registers the target and puts both policies (a first deploy), and
 * when everything is already as declared (every deploy after). Includes building the client,
 * as main.ts does per run, and the cost of loading the SDK client in a fresh process.
 * Target: under 1 s. `npx tsx scripts/bench/scaling.ts` prints its rows; scripts/bench.ts can
 * spread `await benchScaling()` into its own.
 */
import { spawnSync } from 'node:child_process'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import { realClock } from '../../actions/shared/runner.js'
import {
  applyScaling,
  scalingGateway,
  type ScalingDeclaration
} from '../../actions/ecs-deploy/scaling.js'
import {
  ENDPOINT_VARIABLE,
  startAutoScalingStandin
} from '../../tools/autoscaling-standin/server.js'

interface Row {
  metric: string
  value: string
  note?: string
}

const SEED: ScalingDeclaration = {
  minCapacity: 3,
  maxCapacity: 20,
  targets: { cpu: 70, memory: 80 },
  scaleOutCooldown: 300,
  scaleInCooldown: 900
}
const SAMPLES = 5

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** Milliseconds of one applyScaling, client construction included. */
async function timed(env: NodeJS.ProcessEnv, service: string): Promise<number> {
  const started = performance.now()
  const caller = new AwsCaller({
    clock: realClock,
    deadline: Date.now() + 60_000,
    attemptTimeoutMs: 10_000,
    backoffMs: 200,
    maxBackoffMs: 2_000
  })
  await applyScaling(
    SEED,
    { cluster: 'bench', service },
    { gateway: scalingGateway('', caller, env) }
  )
  return performance.now() - started
}

/** Loading @aws-sdk/client-application-auto-scaling in a fresh Node, over an empty start. */
function clientLoadMs(): number {
  const run = (code: string) => {
    const started = performance.now()
    spawnSync(process.execPath, ['--input-type=module', '-e', code], { stdio: 'ignore' })
    return performance.now() - started
  }
  const empty: number[] = []
  const loaded: number[] = []
  for (let i = 0; i < 3; i++) {
    empty.push(run(''))
    loaded.push(run("await import('@aws-sdk/client-application-auto-scaling')"))
  }
  return Math.max(0, median(loaded) - median(empty))
}

export async function benchScaling(): Promise<Row[]> {
  const standin = await startAutoScalingStandin()
  const saved = { ...process.env }
  const env = {
    [ENDPOINT_VARIABLE]: standin.endpoint,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench'
  }
  // The SDK reads endpoint and credentials from the process environment.
  Object.assign(process.env, env)
  try {
    const first: number[] = []
    const again: number[] = []
    for (let i = 0; i < SAMPLES; i++) {
      first.push(await timed(process.env, `api-${i}`))
      again.push(await timed(process.env, `api-${i}`))
    }
    const calls = (operation: string) => standin.calls.filter(c => c.operation === operation).length
    return [
      {
        metric: 'ecs-deploy: auto-scaling, first deploy (register + 2 policies)',
        value: `${median(first).toFixed(0)} ms`,
        note: `median of ${SAMPLES} (worst ${Math.max(...first).toFixed(0)} ms); target: under 1 s`
      },
      {
        metric: 'ecs-deploy: auto-scaling, identical deploy (unchanged)',
        value: `${median(again).toFixed(0)} ms`,
        note: `median of ${SAMPLES} (worst ${Math.max(...again).toFixed(0)} ms); ${calls('RegisterScalableTarget')} registrations and ${calls('PutScalingPolicy')} puts in ${2 * SAMPLES} deploys`
      },
      {
        metric: 'ecs-deploy: loading the Application Auto Scaling client',
        value: `${clientLoadMs().toFixed(0)} ms`,
        note: 'fresh Node, median of 3, over an empty start; an upper bound: the bundle shares the SDK core with the ECS client'
      }
    ]
  } finally {
    for (const key of Object.keys(env))
      if (saved[key] === undefined) delete process.env[key]
      else process.env[key] = saved[key]
    await standin.close()
  }
}

const invokedDirectly = process.argv[1]?.endsWith('scripts/bench/scaling.ts') === true
if (invokedDirectly) {
  for (const row of await benchScaling())
    console.log(`${row.metric.padEnd(66)}  ${row.value.padStart(8)}  ${row.note ?? ''}`)
}
