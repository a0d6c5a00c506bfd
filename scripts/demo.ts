/**
 * The whole pipeline, locally, on real Docker: the action bundles run exactly as the runner
 * runs them, against the emulator (tools/emulator.ts: ECS stand-in running tasks as
 * containers, ECR stand-in in front of a local registry, a load balancer on loopback).
 *
 *   1. build-push examples/service (v1) and start the service on it (2 tasks)
 *   2. build-push v2, ecs-deploy it once its ECR scan completes with only a LOW finding
 *      (image-scan-severity: CRITICAL), smoke-health gate expecting v2       → passes
 *   3. build-push a version that crashes on start, ecs-deploy it             → fails, explained,
 *      rolled back by the circuit breaker; the gate passes on v2 again
 *   4. build-push v3, whose ECR scan has a CRITICAL finding, ecs-deploy it
 *      with image-scan-severity: CRITICAL                                    → refused before
 *      anything is registered; the service stays on v2
 *
 * Exits 0 only when every step ended as expected. Usage: npm run demo
 * (runs tools/docker-up.sh first when Docker is not up; that needs root).
 */
import {
  commit,
  ensureDocker,
  labelledContainers,
  requireBundles,
  startPipeline
} from '../test/support/emulator.js'
import type { BundleRun } from '../test/support/bundle.js'
import { basicFinding } from '../tools/ecr-standin/server.js'

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

requireBundles()
await ensureDocker(line => console.log(line))

const v1 = commit()
const v2 = commit()
const broken = commit()
const v3 = commit()
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
  console.log(`  service up on v1 at ${elapsed()}; load balancer ${pipeline.healthUrl}`)
  console.log(`  its containers: docker ps --filter label=${emulator.label}`)

  heading(`Build and push v2 (${v2.slice(0, 7)})`, 'build-push')
  const build2 = await pipeline.build({ version: v2, onLine: showFolded() })
  check('build v2', 'true', outcome(build2, 'built'))

  heading('Deploy v2 once its image scan completes (image-scan-severity: CRITICAL)', 'ecs-deploy')
  const image2 = build2.outputs['image-digest'] ?? ''
  emulator.setScanFindings(digestOf(image2), {
    inProgressMs: 1500,
    findings: [basicFinding('CVE-2024-0001', 'LOW', 'busybox', '1.36.1')]
  })
  const deploy2 = await pipeline.deploy({ image: image2, 'image-scan-severity': 'CRITICAL' }, show)
  check('deploy v2', 'succeeded', outcome(deploy2, 'status'))

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

  heading('Deploy the crashing version', 'ecs-deploy')
  const deployBroken = await pipeline.deploy(
    { image: buildBroken.outputs['image-digest'] ?? '' },
    show
  )
  check('deploy crashing version', 'rolled-back', outcome(deployBroken, 'status'))
  check('its exit code', '1', String(deployBroken.exitCode))
  const explained = deployBroken.stdout
    .split('\n')
    .some(
      l =>
        l.startsWith('::error::') &&
        l.includes('exit code 1') &&
        l.includes('PAYMENTS_LEDGER_URL is not set')
    )
  check(
    'failure explained',
    'exit code and last log line named',
    explained ? 'exit code and last log line named' : 'not named'
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
  const registeredBefore = emulator.ecs.calls.filter(
    c => c.operation === 'RegisterTaskDefinition'
  ).length
  const deploy3 = await pipeline.deploy({ image: image3, 'image-scan-severity': 'CRITICAL' }, show)
  check('deploy v3 (CRITICAL finding)', 'refused', outcome(deploy3, 'status'))
  const registered =
    emulator.ecs.calls.filter(c => c.operation === 'RegisterTaskDefinition').length -
    registeredBefore
  check('revisions registered by it', '0', String(registered))

  const running = labelledContainers(emulator.label).filter(c => c.state === 'running')
  const onV2 = running.filter(c => c.image === build2.outputs['image-digest']).length
  check('containers running', '2 of 2 on v2', `${onV2} of ${running.length} on v2`)
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
for (const r of results)
  console.log(`  ${r.ok ? '✔' : '✖'} ${r.step.padEnd(30)} expected ${r.expected}, got ${r.got}`)
console.log(
  exitCode === 0 ? '\nAll steps ended as expected.' : '\nSome steps did not end as expected.'
)
process.exit(exitCode)
