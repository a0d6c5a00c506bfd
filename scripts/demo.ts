/**
 * The whole pipeline, locally, on real Docker: the action bundles run exactly as the runner
 * runs them, against the emulator (tools/emulator.ts: ECS stand-in running tasks as
 * containers, ECR stand-in in front of a local registry, Application Auto Scaling and
 * CloudWatch Logs stand-ins, a load balancer on loopback).
 *
 *   1. build-push examples/service (v1) and start the service on it (2 tasks)
 *   2. build-push v2, ecs-deploy it once its ECR scan completes with only a LOW finding
 *      (image-scan-severity: CRITICAL), its migrations first (pre-deploy-command: a one-off
 *      container of v2), its auto-scaling applied; smoke-health gate expecting v2 → passes
 *   3. build-push a version that crashes on start, ecs-deploy it with the same scaling
 *                                                                            → scaling unchanged;
 *      fails, explained with the container's last lines from CloudWatch Logs, rolled back by the
 *      circuit breaker; the gate passes on v2 again
 *   4. build-push v3, whose ECR scan has a CRITICAL finding, ecs-deploy it
 *      with image-scan-severity: CRITICAL                                    → refused before
 *      anything is registered; the service stays on v2
 *   5. build-push a version whose migration fails, ecs-deploy it            → failed before the
 *      service is touched (no UpdateService); the service stays on v2
 *   6. build-push a version that reports unhealthy; on the rolling service and on a BLUE_GREEN
 *      one beside it: ecs-deploy (wait-until: traffic-shifted), the gate fails, rollback-to the
 *      previous revision (a new deployment; a StopServiceDeployment while it bakes), the gate
 *      passes on v2; the time from the failed gate to v2 answering again, side by side
 *   7. the same unhealthy build on a rolling service, a BLUE_GREEN one gated during bake time
 *      and a BLUE_GREEN one with a PAUSE hook gated on its test listener (wait-until:
 *      test-traffic, then continue-deployment with rollback): the production requests it
 *      answered before v2 was back, from the load balancer's record      → 0 on test traffic
 *
 * Exits 0 only when every step ended as expected. Usage: npm run demo
 * (runs tools/docker-up.sh first when Docker is not up; that needs root).
 */
import {
  commit,
  ensureDocker,
  labelledContainers,
  requireBundles,
  rollBackAfterFailedGate,
  startPipeline,
  BAKING_BLUE_GREEN,
  type GateRollback,
  type GateRollbackStep,
  type ServiceTarget
} from '../test/support/emulator.js'
import type { BundleRun } from '../test/support/bundle.js'
import { basicFinding } from '../tools/ecr-standin/server.js'
import { GATE_MODES } from '../test/support/exposure.js'
import { exposureRows, measureAllExposures } from './bench/exposure.js'

const t0 = Date.now()
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`

/**
 * Shows a bundle's log the way the Actions UI does: a group is a header line; its lines are
 * shown unless `folded` (the build's BuildKit output is long).
 */
function shower(folded: boolean): (line: string) => void {
  let inGroup = false
  return line => {
    if (line.startsWith('::group::')) {
      inGroup = true
      console.log(`  ▸ ${line.slice(9)}`)
    } else if (line === '::endgroup::') inGroup = false
    else if (line.startsWith('::error')) console.log(`  ✖ ${line.replace(/^::error[^:]*::/, '')}`)
    else if (line.startsWith('::warning'))
      console.log(`  ⚠ ${line.replace(/^::warning[^:]*::/, '')}`)
    else if (line.startsWith('::') || (folded && inGroup)) return
    else console.log(`    ${line}`)
  }
}
const show = shower(false)
const showFolded = () => shower(true)

const heading = (title: string, action: string) =>
  console.log(`\n● ${title}  (${action}, at ${elapsed()})`)

const results: Array<{ step: string; expected: string; got: string; ok: boolean }> = []
const check = (step: string, expected: string, got: string) =>
  results.push({ step, expected, got, ok: expected === got })
const outcome = (run: BundleRun, output: string) =>
  run.outputs[output] ?? `exit ${run.exitCode} without ${output}`
const seconds = (ms: number | undefined) =>
  ms === undefined ? 'never' : `${(ms / 1000).toFixed(1)} s`
const errorLines = (run: BundleRun) => run.stdout.split('\n').filter(l => l.startsWith('::error::'))
/** The short name of a task definition ARN: family:revision. */
const revisionOf = (arn: string | undefined) => arn?.split('/').pop() ?? 'none'

/** The migrations, as the workflows' pre-deploy-command runs them (the image has no npm). */
const MIGRATE = 'node src/migrate.js'
/**
 * Auto-scaling kept small for a laptop: 2 to 4 tasks. The seed's production values (3 to 20
 * tasks, CPU 70 %, memory 80 %) are in examples/service-repo's settings file.
 */
const SCALING = {
  'auto-scaling-min': '2',
  'auto-scaling-max': '4',
  'auto-scaling-cpu-target': '70',
  'auto-scaling-memory-target': '80'
}
/** A BLUE_GREEN service beside the rolling one. */
const BLUE_GREEN_SERVICE = 'payments-api-bg'

requireBundles()
await ensureDocker(line => console.log(line))

const v1 = commit()
const v2 = commit()
const broken = commit()
const v3 = commit()
const badMigration = commit()
const unhealthy = commit()
/** The digest part of an image reference (…@sha256:…), as ECR keys scans. */
const digestOf = (image: string) => image.split('@')[1] ?? ''
console.log(`● Build and push v1 (${v1.slice(0, 7)}), start service local/payments-api on it`)
const pipeline = await startPipeline({
  firstVersion: v1,
  onLine: showFolded(),
  log: line => console.log(`    [docker] ${line}`)
})
let exitCode = 1
try {
  const { emulator } = pipeline
  const ecsCalls = emulator.ecs.calls
  const scalingCalls = emulator.autoscaling.calls
  /** Operations ECS carried out since the mark, in order. */
  const ecsDone = (from: number) =>
    ecsCalls
      .slice(from)
      .filter(c => c.status === 200)
      .map(c => c.operation)
  /** Changes Application Auto Scaling carried out since the mark. */
  const scalingChanges = (from: number) =>
    scalingCalls
      .slice(from)
      .filter(c => c.status === 200 && /^(Register|Put|Delete)/.test(c.operation))
      .map(c => c.operation)
  const count = (operations: string[], name: string) => operations.filter(op => op === name).length

  console.log(`  service up on v1 at ${elapsed()}; load balancer ${pipeline.healthUrl}`)
  console.log(`  its containers: docker ps --filter label=${emulator.label}`)

  heading(`Build and push v2 (${v2.slice(0, 7)})`, 'build-push')
  const build2 = await pipeline.build({ version: v2, onLine: showFolded() })
  check('build v2', 'true', outcome(build2, 'built'))

  heading(
    `Deploy v2 once its image scan completes (image-scan-severity: CRITICAL), migrating first (pre-deploy-command: ${MIGRATE}), with auto-scaling 2–4 tasks`,
    'ecs-deploy'
  )
  const image2 = build2.outputs['image-digest'] ?? ''
  emulator.setScanFindings(digestOf(image2), {
    inProgressMs: 1500,
    findings: [basicFinding('CVE-2024-0001', 'LOW', 'busybox', '1.36.1')]
  })
  let ecsFrom = ecsCalls.length
  let scalingFrom = scalingCalls.length
  const deploy2 = await pipeline.deploy(
    {
      image: image2,
      'image-scan-severity': 'CRITICAL',
      'pre-deploy-command': MIGRATE,
      ...SCALING
    },
    show
  )
  check('deploy v2', 'succeeded', outcome(deploy2, 'status'))
  const done2 = ecsDone(ecsFrom).filter(op => op === 'RunTask' || op === 'UpdateService')
  check('migration, then rollout', 'RunTask then UpdateService', done2.join(' then ') || 'neither')
  check(
    'migration lines in its log',
    'printed',
    deploy2.stdout.includes('  | migrate: schema is at 0003_add_payment_fees')
      ? 'printed'
      : 'not printed'
  )
  const scaling2 = scalingChanges(scalingFrom)
  check(
    'auto-scaling applied',
    '1 target, 2 policies',
    `${count(scaling2, 'RegisterScalableTarget')} target, ${count(scaling2, 'PutScalingPolicy')} policies`
  )

  heading('Smoke gate expecting v2', 'smoke-health')
  const gate2 = await pipeline.gate(v2, show)
  check('smoke gate v2', 'healthy', outcome(gate2, 'status'))

  heading(`Build and push a version that crashes on start (${broken.slice(0, 7)})`, 'build-push')
  const buildBroken = await pipeline.build({
    version: broken,
    failMode: 'crash',
    onLine: showFolded()
  })
  check('build crashing version', 'true', outcome(buildBroken, 'built'))

  heading('Deploy the crashing version, with the same auto-scaling', 'ecs-deploy')
  scalingFrom = scalingCalls.length
  const logsFrom = emulator.logs.calls.length
  const deployBroken = await pipeline.deploy(
    { image: buildBroken.outputs['image-digest'] ?? '', ...SCALING },
    show
  )
  check(
    'auto-scaling on the next deploy',
    'unchanged, 0 changes',
    `${/^Auto-scaling of .*: unchanged\.$/m.test(deployBroken.stdout) ? 'unchanged' : 'not unchanged'}, ${scalingChanges(scalingFrom).length} changes`
  )
  check('deploy crashing version', 'rolled-back', outcome(deployBroken, 'status'))
  check('its exit code', '1', String(deployBroken.exitCode))
  const explained = errorLines(deployBroken).some(
    l => l.includes('exit code 1') && l.includes('PAYMENTS_LEDGER_URL is not set')
  )
  check(
    'failure explained',
    'exit code and last log line named',
    explained ? 'exit code and last log line named' : 'not named'
  )
  // The container's own lines, read from CloudWatch Logs (GetLogEvents), in the log and the error.
  const logged = deployBroken.stdout.split('\n').filter(l => l.startsWith('  | '))
  const read = emulator.logs.calls.slice(logsFrom).filter(c => c.operation === 'GetLogEvents')
  check(
    'its last lines from CloudWatch',
    '2 lines, by GetLogEvents',
    `${logged.length} lines, ${read.length > 0 ? 'by GetLogEvents' : 'without GetLogEvents'}`
  )
  check(
    'the final error quotes them',
    'last logged: Fatal: configuration check failed',
    /last logged: (Fatal: configuration check failed)/.exec(errorLines(deployBroken).at(-1) ?? '')
      ? 'last logged: Fatal: configuration check failed'
      : 'no last logged line'
  )

  heading('Smoke gate on the rolled-back service, expecting v2', 'smoke-health')
  const gateAfter = await pipeline.gate(v2, show)
  check('smoke gate after rollback', 'healthy', outcome(gateAfter, 'status'))

  heading(`Build and push v3 (${v3.slice(0, 7)})`, 'build-push')
  const build3 = await pipeline.build({ version: v3, onLine: showFolded() })
  check('build v3', 'true', outcome(build3, 'built'))

  heading('Deploy v3, whose image scan has a CRITICAL finding', 'ecs-deploy')
  const image3 = build3.outputs['image-digest'] ?? ''
  emulator.setScanFindings(digestOf(image3), {
    findings: [
      basicFinding('CVE-2024-3094', 'CRITICAL', 'xz-utils', '5.6.0'),
      basicFinding('CVE-2024-0002', 'MEDIUM', 'zlib', '1.2.13')
    ]
  })
  ecsFrom = ecsCalls.length
  const deploy3 = await pipeline.deploy({ image: image3, 'image-scan-severity': 'CRITICAL' }, show)
  check('deploy v3 (CRITICAL finding)', 'refused', outcome(deploy3, 'status'))
  check(
    'revisions registered by it',
    '0',
    String(count(ecsDone(ecsFrom), 'RegisterTaskDefinition'))
  )

  heading(
    `Build and push a version whose migration fails (${badMigration.slice(0, 7)})`,
    'build-push'
  )
  const buildBad = await pipeline.build({
    version: badMigration,
    failMode: 'migration',
    onLine: showFolded()
  })
  check('build failing migration', 'true', outcome(buildBad, 'built'))

  heading(`Deploy it, migrating first (pre-deploy-command: ${MIGRATE})`, 'ecs-deploy')
  const revisionBefore = emulator.ecs.service('local', pipeline.service).taskDefinition
  ecsFrom = ecsCalls.length
  const deployBad = await pipeline.deploy(
    { image: buildBad.outputs['image-digest'] ?? '', 'pre-deploy-command': MIGRATE },
    show
  )
  check('deploy failing migration', 'failed', outcome(deployBad, 'status'))
  check('its exit code', '1', String(deployBad.exitCode))
  const doneBad = ecsDone(ecsFrom)
  check(
    'service untouched',
    `0 UpdateService, still ${revisionOf(revisionBefore)}`,
    `${count(doneBad, 'UpdateService')} UpdateService, still ${revisionOf(emulator.ecs.service('local', pipeline.service).taskDefinition)}`
  )
  check(
    'error names the migration',
    'failed at 0004_backfill_ledger_ids',
    /failed at 0004_backfill_ledger_ids/.test(errorLines(deployBad).at(-1) ?? '')
      ? 'failed at 0004_backfill_ledger_ids'
      : 'not named'
  )

  heading(
    `Build and push a version that reports unhealthy (${unhealthy.slice(0, 7)})`,
    'build-push'
  )
  const buildUnhealthy = await pipeline.build({
    version: unhealthy,
    failMode: 'unhealthy',
    onLine: showFolded()
  })
  check('build unhealthy version', 'true', outcome(buildUnhealthy, 'built'))
  const failing = { image: buildUnhealthy.outputs['image-digest'] ?? '', version: unhealthy }

  console.log(
    `\n● Start ${BLUE_GREEN_SERVICE}, a BLUE_GREEN service on v2 (bake time ${BAKING_BLUE_GREEN.bakeTimeInMinutes} min; the emulator plays a minute in ${BAKING_BLUE_GREEN.minuteMs / 1000} s)  (at ${elapsed()})`
  )
  const blueGreen = await pipeline.addService({
    name: BLUE_GREEN_SERVICE,
    image: image2,
    deployment: BAKING_BLUE_GREEN
  })
  console.log(`  service up on v2 at ${elapsed()}; load balancer ${blueGreen.healthUrl}`)

  /** The unhealthy build on one service: deploy, failed gate, rollback-to, gate again. */
  const gateAndRollBack = (target: ServiceTarget, kind: string) => {
    const titles: Record<GateRollbackStep, [string, string]> = {
      deploy: [
        `Deploy the unhealthy version to ${target.service} (${kind}; wait-until: traffic-shifted)`,
        'ecs-deploy'
      ],
      gate: [
        `Smoke gate expecting the unhealthy version${kind === 'BLUE_GREEN' ? ', during bake time' : ''}`,
        'smoke-health'
      ],
      rollback: [
        "The gate failed: rollback-to the deploy's previous-task-definition-arn",
        'ecs-deploy'
      ],
      'gate-after': [`Smoke gate on ${target.service}, expecting v2`, 'smoke-health']
    }
    return rollBackAfterFailedGate(target, failing, v2, {
      onLine: show,
      onStep: step => heading(...titles[step])
    })
  }
  const checkGateRollback = (run: GateRollback, kind: string, change: string) => {
    check(`${kind}: deploy`, 'succeeded', outcome(run.deploy, 'status'))
    check(`${kind}: gate`, 'unhealthy', outcome(run.gate, 'status'))
    check(
      `${kind}: rollback by`,
      change,
      run.rollbackChanges.filter(op => op !== 'TagResource').join(', ') || 'no change'
    )
    check(`${kind}: rollback`, 'succeeded', outcome(run.rollback, 'status'))
    check(`${kind}: gate after it`, 'healthy', outcome(run.gateAfter, 'status'))
  }

  const bg = await gateAndRollBack(blueGreen, 'BLUE_GREEN')
  checkGateRollback(bg, 'blue/green', 'StopServiceDeployment')
  check(
    'blue/green: rolled back during',
    'BAKE_TIME',
    /is still in progress \((\w+)\)/.exec(bg.rollback.stdout)?.[1] ?? 'no rollback in flight'
  )
  const rolling = await gateAndRollBack(pipeline, 'ROLLING')
  checkGateRollback(rolling, 'rolling', 'UpdateService')

  console.log(`\n● From the failed gate to v2 answering again on the load balancer`)
  const figures = [
    ['blue/green', bg],
    ['rolling', rolling]
  ] as const
  for (const [kind, run] of figures)
    console.log(
      `  ${kind.padEnd(11)} first answer ${seconds(run.firstAnswerMs).padStart(7)}, all traffic ${seconds(run.allTrafficMs).padStart(7)}  (rollback step ${seconds(run.rollback.durationMs)})`
    )
  if (bg.allTrafficMs !== undefined && rolling.allTrafficMs !== undefined)
    console.log(
      `  blue/green took ${Math.round((100 * bg.allTrafficMs) / rolling.allTrafficMs)} % of the rolling time to put all traffic back`
    )
  check(
    'blue/green: v2 back within',
    '5 s',
    bg.allTrafficMs !== undefined && bg.allTrafficMs < 5000 ? '5 s' : seconds(bg.allTrafficMs)
  )
  check(
    'blue/green against rolling',
    'faster',
    (bg.allTrafficMs ?? Infinity) < (rolling.allTrafficMs ?? Infinity) ? 'faster' : 'not faster'
  )

  const running = labelledContainers(emulator.label).filter(c => c.state === 'running')
  const onV2 = running.filter(c => c.image === image2).length
  check('containers running', '4 of 4 on v2', `${onV2} of ${running.length} on v2`)

  console.log(
    `\n● Production requests the unhealthy build answered before v2 was back, by how it was gated  (at ${elapsed()})`
  )
  const exposures = await measureAllExposures(pipeline, image2, mode =>
    heading(`Deploy, gate and undo the unhealthy build: ${GATE_MODES[mode]}`, 'ecs-deploy')
  )
  for (const row of exposureRows(exposures))
    console.log(`  ${row.metric.slice(5)}: ${row.value}  (${row.note})`)
  check(
    'gated on test traffic: customer requests on the bad build',
    '0',
    String(exposures.find(e => e.mode === 'test-traffic')?.badAnswers ?? 'not measured')
  )
  exitCode = results.every(r => r.ok) ? 0 : 1
} catch (error) {
  console.error(`\nThe demo stopped: ${error instanceof Error ? error.message : String(error)}`)
} finally {
  const label = pipeline.emulator.label
  await pipeline.close()
  const left = labelledContainers(label).length
  check('containers removed on close', '0 left', `${left} left`)
  if (left > 0) exitCode = 1
}

console.log(`\nDemo summary (${elapsed()})`)
const width = Math.max(...results.map(r => r.step.length))
for (const r of results)
  console.log(`  ${r.ok ? '✔' : '✖'} ${r.step.padEnd(width)} expected ${r.expected}, got ${r.got}`)
console.log(
  exitCode === 0 ? '\nAll steps ended as expected.' : '\nSome steps did not end as expected.'
)
process.exit(exitCode)
