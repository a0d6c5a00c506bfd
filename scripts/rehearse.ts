/**
 * Rehearses the deploy job locally, with no AWS: the ecs-deploy and smoke-health bundles run
 * exactly as the runner runs them, against the ECS stand-in and a health endpoint that
 * answers from whichever task the "load balancer" picks (so old versions answer until
 * they are drained).
 *
 *   1. deploy local/api:v2, then gate on /health expecting v2        → succeeds
 *   2. deploy local/api:broken (crashes on start)                     → fails, explained,
 *      rolled back by the circuit breaker; the gate passes on v2 again
 *
 * Exits 0 only when every step ended as expected. Usage: npm run rehearse
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startEcsStandin } from '../tools/ecs-standin/server.js'
import { runBundle, type BundleRun } from '../test/support/bundle.js'

const CLUSTER = 'local'
const SERVICE = 'api'

const standin = await startEcsStandin({
  tickMs: 100,
  defaultBehaviour: { outcome: 'healthy', startDelayMs: 1500 },
  stopDelayMs: 500
})
standin.addCluster(CLUSTER)
standin.addService({
  cluster: CLUSTER,
  name: SERVICE,
  taskDefinition: standin.registerTaskDefinition({
    family: SERVICE,
    requiresCompatibilities: ['FARGATE'],
    networkMode: 'awsvpc',
    cpu: '256',
    memory: '512',
    containerDefinitions: [
      {
        name: SERVICE,
        image: 'local/api:v1',
        essential: true,
        portMappings: [{ containerPort: 3000 }]
      }
    ]
  }),
  desiredCount: 2,
  circuitBreaker: { enable: true, rollback: true }
})
standin.setImageBehaviour(/:broken$/, {
  outcome: 'crash',
  afterMs: 800,
  exitCode: 1,
  reason: 'Error: connect ECONNREFUSED 10.0.3.12:5432 (db)'
})

// The service's /health, answered by one running task picked at random, as a load balancer would.
const health = createServer((request, response) => {
  const running = standin.tasks(CLUSTER, SERVICE).filter(t => t.lastStatus === 'RUNNING')
  const task = running[Math.floor(Math.random() * running.length)]
  if (!task || request.url !== '/health') {
    response.writeHead(503, { 'content-type': 'text/plain' }).end('no healthy upstream')
    return
  }
  const version = task.containers[0].image.split(':').pop()
  const body = {
    status: 'healthy',
    timestamp: new Date().toISOString(),
    uptime: 42,
    version,
    services: [
      { name: 'database', status: 'healthy', responseTime: 3 },
      { name: 'redis', status: 'healthy', responseTime: 1 }
    ]
  }
  response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
})
await new Promise<void>(done => health.listen(0, '127.0.0.1', done))
const healthUrl = `http://127.0.0.1:${(health.address() as AddressInfo).port}/health`

const env = {
  AWS_ENDPOINT_URL_ECS: standin.endpoint,
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'rehearsal',
  AWS_SECRET_ACCESS_KEY: 'rehearsal'
}

/** Shows a bundle's log the way the Actions UI does: groups folded into a header line. */
function show(line: string): void {
  if (line.startsWith('::group::')) console.log(`  ▸ ${line.slice(9)}`)
  else if (line === '::endgroup::') return
  else if (line.startsWith('::add-mask::')) return
  else if (line.startsWith('::error')) console.log(`  ✖ ${line.replace(/^::error[^:]*::/, '')}`)
  else if (line.startsWith('::warning')) console.log(`  ⚠ ${line.replace(/^::warning[^:]*::/, '')}`)
  else console.log(`    ${line}`)
}

async function step(
  title: string,
  action: string,
  inputs: Record<string, string>
): Promise<BundleRun> {
  console.log(`\n● ${title}  (${action})`)
  return runBundle(action, { inputs, env, onLine: show })
}

const deployInputs = {
  cluster: CLUSTER,
  service: SERVICE,
  'poll-interval-seconds': '1',
  'wait-for-minutes': '2'
}
const gateInputs = {
  url: healthUrl,
  'interval-seconds': '0.5',
  'required-successes': '3',
  'timeout-seconds': '30'
}
const results: Array<{ step: string; expected: string; got: string; ok: boolean }> = []
const expect = (stepName: string, expected: string, got: string) =>
  results.push({ step: stepName, expected, got, ok: expected === got })

try {
  const good = await step('Deploy local/api:v2', 'ecs-deploy', {
    ...deployInputs,
    image: 'local/api:v2'
  })
  expect('deploy v2', 'succeeded', good.outputs.status ?? `exit ${good.exitCode}`)
  const gate = await step('Smoke gate expecting v2', 'smoke-health', {
    ...gateInputs,
    'expected-version': 'v2'
  })
  expect('smoke gate v2', 'healthy', gate.outputs.status ?? `exit ${gate.exitCode}`)

  const bad = await step('Deploy local/api:broken (crashes on start)', 'ecs-deploy', {
    ...deployInputs,
    image: 'local/api:broken'
  })
  expect('deploy broken', 'rolled-back', bad.outputs.status ?? `exit ${bad.exitCode}`)
  const explained = bad.stdout.includes('exit code 1 (Error: connect ECONNREFUSED')
  expect(
    'failure explained',
    'exit code and reason named',
    explained ? 'exit code and reason named' : 'not named'
  )
  const after = await step('Smoke gate on the rolled-back service, expecting v2', 'smoke-health', {
    ...gateInputs,
    'expected-version': 'v2'
  })
  expect('smoke gate after rollback', 'healthy', after.outputs.status ?? `exit ${after.exitCode}`)
} finally {
  health.close()
  await standin.close()
}

console.log('\nRehearsal summary')
for (const r of results)
  console.log(`  ${r.ok ? '✔' : '✖'} ${r.step.padEnd(28)} expected ${r.expected}, got ${r.got}`)
const ok = results.every(r => r.ok)
console.log(ok ? '\nAll steps ended as expected.' : '\nSome steps did not end as expected.')
process.exit(ok ? 0 : 1)
