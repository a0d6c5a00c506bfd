/**
 * The pipeline end to end on the Docker emulator (tools/emulator.ts): how long from a pushed
 * image to a passing smoke gate, how soon a crashing task becomes our `::error::` line, how
 * much ecs-deploy adds over the rollout the emulator itself plays, and how soon the previous
 * version serves again after a failed smoke gate, on a BLUE_GREEN service (a traffic switch
 * while it bakes) against a ROLLING one (a new deployment), in the same run; and how many
 * production requests a build failing its gate answers, by how it is gated (exposure.ts).
 * Needs Docker and the local registry (`bash tools/docker-up.sh`, as root).
 */
import {
  BAKING_BLUE_GREEN,
  commit,
  ensureDocker,
  requireBundles,
  rollBackAfterFailedGate,
  startPipeline,
  type GateRollback,
  type Pipeline
} from '../../test/support/emulator.js'
import type { BundleRun } from '../../test/support/bundle.js'
import { benchExposure } from './exposure.js'

interface Row {
  metric: string
  value: string
  note?: string
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** Wall-clock ms of the first stdout line matching, if any. */
function lineAt(run: BundleRun, match: (line: string) => boolean): number | undefined {
  const found = run.lineTimes.find(l => match(l.line))
  return found ? run.startedAt + found.at : undefined
}

/**
 * Runs a deploy while watching the emulator: when UpdateService arrived and when the
 * emulator marked the new deployment COMPLETED.
 */
async function timedDeploy(pipeline: Pipeline, image: string) {
  const { ecs } = pipeline.emulator
  const callsBefore = ecs.calls.length
  let completedAt: number | undefined
  const watch = setInterval(() => {
    const primary = ecs
      .service('local', pipeline.repository)
      .deployments.find(d => d.status === 'PRIMARY')
    const updated = ecs.calls.slice(callsBefore).find(c => c.operation === 'UpdateService')
    if (updated && primary?.rolloutState === 'COMPLETED' && completedAt === undefined)
      completedAt = Date.now()
  }, 20)
  try {
    const run = await pipeline.deploy({ image })
    const updateAt = ecs.calls.slice(callsBefore).find(c => c.operation === 'UpdateService')?.at
    return { run, updateAt, completedAt }
  } finally {
    clearInterval(watch)
  }
}

export async function benchEndToEnd(): Promise<Row[]> {
  requireBundles()
  await ensureDocker()
  const dockerLog: Array<{ at: number; line: string }> = []
  const pipeline = await startPipeline({
    firstVersion: commit(),
    log: line => dockerLog.push({ at: Date.now(), line })
  })
  const rows: Row[] = []
  try {
    // A good version: from its push to the smoke gate passing on it.
    const good = commit()
    const build = await pipeline.build({ version: good })
    const pushedAt =
      lineAt(build, l => l.startsWith('Pushed ')) ?? build.startedAt + build.durationMs
    const deploy = await timedDeploy(pipeline, build.outputs['image-digest'] ?? '')
    const gate = await pipeline.gate(good)
    if (deploy.run.outputs.status !== 'succeeded' || gate.outputs.status !== 'healthy')
      throw new Error(`the good version did not go healthy:\n${deploy.run.stdout}\n${gate.stdout}`)
    const healthyAt = gate.startedAt + gate.durationMs
    rows.push({
      metric: 'e2e: push to healthy (2 tasks)',
      value: seconds(healthyAt - pushedAt),
      note: `ecs-deploy ${seconds(deploy.run.durationMs)}, smoke gate ${seconds(gate.durationMs)} (3 passes, 0.5 s apart); build+push ${seconds(build.durationMs)} before that`
    })
    if (deploy.updateAt !== undefined && deploy.completedAt !== undefined) {
      const rollout = deploy.completedAt - deploy.updateAt
      rows.push({
        metric: 'e2e: ecs-deploy overhead over the rollout',
        value: seconds(deploy.run.durationMs - rollout),
        note: `wall ${seconds(deploy.run.durationMs)} − UpdateService→COMPLETED ${seconds(rollout)}: ${seconds(deploy.updateAt - deploy.run.startedAt)} before UpdateService (process start, describe, register), ${seconds(deploy.run.startedAt + deploy.run.durationMs - deploy.completedAt)} after COMPLETED (poll 1 s, exit)`
      })
    }

    // A version that crashes on start: from the first container exit to our error line.
    const broken = commit()
    const brokenBuild = await pipeline.build({ version: broken, failMode: 'crash' })
    const logFrom = dockerLog.length
    const failed = await pipeline.deploy({ image: brokenBuild.outputs['image-digest'] ?? '' })
    const errorAt = lineAt(failed, l => l.startsWith('::error::'))
    const crashedAt = dockerLog.slice(logFrom).find(l => l.line.includes('exited with code'))?.at
    const markedAt = pipeline.emulator.ecs.failedAt(failed.outputs['deployment-id'] ?? '')
    if (errorAt === undefined || crashedAt === undefined)
      throw new Error(`the crashing version was not reported:\n${failed.stdout}`)
    rows.push({
      metric: 'e2e: first crashed task to our ::error:: line',
      value: seconds(errorAt - crashedAt),
      note: 'includes the circuit breaker waiting for 3 failed tasks (each a real container start)'
    })
    if (markedAt !== undefined)
      rows.push({
        metric: 'e2e: circuit breaker FAILED to our ::error:: line',
        value: `${errorAt - markedAt} ms`,
        note: 'target: under one poll interval (1 s here)'
      })
    rows.push({
      metric: 'e2e: crashing deploy, rolled back and steady',
      value: seconds(failed.durationMs),
      note: `status ${failed.outputs.status ?? `exit ${failed.exitCode}`}`
    })
    rows.push(...(await benchGateRollback(pipeline, build.outputs['image-digest'] ?? '', good)))
    rows.push(...(await benchExposure(pipeline, build.outputs['image-digest'] ?? '')))
  } finally {
    await pipeline.close()
  }
  return rows
}

/**
 * A build that reports unhealthy, deployed with `wait-until: traffic-shifted` to the rolling
 * service and to a BLUE_GREEN one beside it (both on `good`): from the failed smoke gate to the
 * previous version serving all production traffic again through `rollback-to`.
 */
async function benchGateRollback(pipeline: Pipeline, goodImage: string, good: string) {
  const version = commit()
  const build = await pipeline.build({ version, failMode: 'unhealthy' })
  const failing = { image: build.outputs['image-digest'] ?? '', version }
  const blueGreen = await pipeline.addService({
    name: `${pipeline.service}-bg`,
    image: goodImage,
    deployment: BAKING_BLUE_GREEN
  })
  const measured: Array<[string, GateRollback]> = []
  for (const [kind, target] of [
    ['blue/green', blueGreen],
    ['rolling', pipeline]
  ] as const) {
    const run = await rollBackAfterFailedGate(target, failing, good)
    if (
      run.gate.outputs.status !== 'unhealthy' ||
      run.rollback.outputs.status !== 'succeeded' ||
      run.gateAfter.outputs.status !== 'healthy' ||
      run.allTrafficMs === undefined
    )
      throw new Error(
        `${kind}: the failed gate was not undone:\n${run.deploy.stdout}\n${run.gate.stdout}\n${run.rollback.stdout}\n${run.gateAfter.stdout}`
      )
    measured.push([kind, run])
  }
  const rows: Row[] = measured.map(([kind, run]) => ({
    metric: `e2e: failed gate to previous serving, ${kind}`,
    value: seconds(run.allTrafficMs!),
    note: `first answer ${seconds(run.firstAnswerMs ?? NaN)}; ${run.rollbackChanges.filter(op => op !== 'TagResource').join(', ')} sent at ${seconds(run.rollbackRequestedMs ?? NaN)} (rollback step: process start, reads), step ${seconds(run.rollback.durationMs)}${kind === 'blue/green' ? '; target: under 5 s' : ''}`
  }))
  const [bg, rolling] = measured.map(([, run]) => run.allTrafficMs!)
  rows.push({
    metric: 'e2e: blue/green against rolling',
    value: `${(bg! / rolling!).toFixed(2)}×`,
    note: 'target: under 0.25 (a quarter of the rolling figure)'
  })
  return rows
}

const invokedDirectly = process.argv[1]?.endsWith('bench/e2e.ts') ?? false
if (invokedDirectly) {
  for (const row of await benchEndToEnd())
    console.log(`${row.metric.padEnd(52)} ${row.value.padStart(9)}  ${row.note ?? ''}`)
}
