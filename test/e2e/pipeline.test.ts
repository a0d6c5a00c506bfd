/**
 * The whole pipeline on real Docker: build-push builds examples/service and pushes it through
 * the ECR stand-in to the local registry, ecs-deploy rolls it out on the emulator (the ECS
 * stand-in running tasks as containers), smoke-health gates on /health through the
 * emulator's load balancer. Every bundle runs as the runner runs it.
 * Needs `bash tools/docker-up.sh` (run as root; the tests run it when they can).
 */
import { spawn } from 'node:child_process'
import { ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPOSITORY_ROOT, type BundleRun } from '../support/bundle.js'
import {
  buildVersion,
  commit,
  ensureDocker,
  labelledContainers,
  LIVENESS_CHECK,
  requireBundles,
  SERVICE_PORT,
  startPipeline,
  type Pipeline
} from '../support/emulator.js'

const STEP_TIMEOUT = 150_000

let pipeline: Pipeline
let label: string
let v1: { version: string; image: string }
let v2: { version: string; image: string }
const dockerLog: Array<{ at: number; line: string }> = []

const errorLines = (run: BundleRun) =>
  run.stdout.split('\n').filter(line => line.startsWith('::error::'))

/** The images the service's running containers were started from. */
const runningImages = () =>
  labelledContainers(label)
    .filter(c => c.state === 'running')
    .map(c => c.image)
    .sort()

/**
 * The running images once the service has settled: one deployment, COMPLETED, and as many
 * containers running as it wants. Waited for within a deadline, so a look in the middle of a
 * rollout (old and new containers both running) is never taken as the service's state.
 */
async function settledImages(timeoutMs = 60_000): Promise<string[]> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const service = pipeline.emulator.ecs.service('local', pipeline.repository)
    const images = runningImages()
    const [only, ...others] = service.deployments
    if (
      others.length === 0 &&
      only?.rolloutState === 'COMPLETED' &&
      images.length === service.desiredCount
    )
      return images
    if (Date.now() > until)
      throw new Error(
        `The service did not settle within ${timeoutMs} ms: ${service.deployments.length} deployments, ${images.length} containers running.`
      )
    await new Promise(resolve => setTimeout(resolve, 250))
  }
}

const build = (failMode?: 'crash' | 'unhealthy') => buildVersion(pipeline, failMode)

beforeAll(async () => {
  requireBundles()
  await ensureDocker()
  const version = commit()
  const started = await startPipeline({
    firstVersion: version,
    log: line => dockerLog.push({ at: Date.now(), line })
  })
  pipeline = started
  label = started.emulator.label
  v1 = { version, image: started.first.outputs['image-digest']! }
}, STEP_TIMEOUT)

afterAll(async () => {
  await pipeline?.close()
})

describe('the pipeline on the Docker emulator', () => {
  it('starts the service as real containers, one per task, labelled by the emulator', () => {
    expect(runningImages()).toEqual([v1.image, v1.image])
  })

  it(
    'builds, pushes and deploys a new version; the smoke gate passes on it',
    async () => {
      v2 = await build()
      const deploy = await pipeline.deploy({ image: v2.image })
      expect(deploy.exitCode).toBe(0)
      expect(deploy.outputs.status).toBe('succeeded')
      expect(deploy.outputs['task-definition-arn']).toMatch(/task-definition\/payments-api:2$/)
      expect(deploy.outputs['previous-task-definition-arn']).toMatch(/payments-api:1$/)
      // The old tasks were drained: only the new version runs.
      expect(runningImages()).toEqual([v2.image, v2.image])

      const gate = await pipeline.gate(v2.version)
      expect(gate.exitCode).toBe(0)
      expect(gate.outputs.status).toBe('healthy')
      expect(gate.outputs.version).toBe(v2.version)
    },
    STEP_TIMEOUT
  )

  it(
    'a version that crashes on start fails the deploy with the exit code and last log line, and the circuit breaker rolls back',
    async () => {
      const broken = await build('crash')
      const deploy = await pipeline.deploy({ image: broken.image })
      expect(deploy.exitCode).toBe(1)
      expect(deploy.outputs.status).toBe('rolled-back')
      const [first] = errorLines(deploy)
      expect(first).toContain('ECS deployment circuit breaker')
      expect(first).toContain('Essential container in task exited')
      expect(first).toContain('exit code 1')
      // The container's last log line, as the runtime read it from Docker.
      expect(first).toContain(
        `Fatal: configuration check failed: PAYMENTS_LEDGER_URL is not set (FAIL_MODE=crash, version ${broken.version})`
      )
      expect(runningImages()).toEqual([v2.image, v2.image])

      const gate = await pipeline.gate(v2.version)
      expect(gate.exitCode).toBe(0)
      expect(gate.outputs.status).toBe('healthy')
    },
    STEP_TIMEOUT
  )

  it(
    'a version that starts but reports unhealthy deploys, fails the smoke gate, and rollback-to previous restores the last good version',
    async () => {
      const unhealthy = await build('unhealthy')
      const deploy = await pipeline.deploy({ image: unhealthy.image })
      // ECS only sees the containers run (their health check is liveness): the rollout succeeds.
      expect(deploy.exitCode).toBe(0)
      expect(deploy.outputs.status).toBe('succeeded')
      expect(runningImages()).toEqual([unhealthy.image, unhealthy.image])

      const gate = await pipeline.gate(unhealthy.version, undefined, 4)
      expect(gate.exitCode).toBe(1)
      expect(gate.outputs.status).toBe('unhealthy')
      const [gateError] = errorLines(gate)
      expect(gateError).toContain('storage is unhealthy')

      const rollback = await pipeline.deploy({ 'rollback-to': 'previous' })
      expect(rollback.exitCode).toBe(0)
      expect(rollback.outputs.status).toBe('succeeded')
      // Back on the revision v2 ran from (the crashing revision never completed).
      expect(rollback.outputs['task-definition-arn']).toMatch(/payments-api:2$/)
      expect(runningImages()).toEqual([v2.image, v2.image])
      const after = await pipeline.gate(v2.version)
      expect(after.outputs.status).toBe('healthy')
    },
    STEP_TIMEOUT
  )

  it(
    'rolls back to a named revision',
    async () => {
      const rollback = await pipeline.deploy({ 'rollback-to': 'payments-api:1' })
      expect(rollback.exitCode).toBe(0)
      expect(rollback.outputs.status).toBe('succeeded')
      expect(rollback.outputs['task-definition-arn']).toMatch(/payments-api:1$/)
      expect(runningImages()).toEqual([v1.image, v1.image])
      const gate = await pipeline.gate(v1.version)
      expect(gate.outputs.status).toBe('healthy')
      expect(gate.outputs.version).toBe(v1.version)
    },
    STEP_TIMEOUT
  )

  it(
    'two deployments to the same service in a row both complete, the second one winning',
    async () => {
      const v3 = await build()
      // v2 was rolled back from just before (to payments-api:1): deploying it again is a
      // person's explicit choice.
      const first = await pipeline.deploy({ image: v2.image, 'allow-rolled-back': 'true' })
      const second = await pipeline.deploy({ image: v3.image })
      expect([first.exitCode, second.exitCode]).toEqual([0, 0])
      expect([first.outputs.status, second.outputs.status]).toEqual(['succeeded', 'succeeded'])
      const revision = (run: BundleRun) =>
        Number(/:(\d+)$/.exec(run.outputs['task-definition-arn'] ?? '')?.[1])
      expect(revision(second)).toBe(revision(first) + 1)
      expect(second.outputs['previous-task-definition-arn']).toBe(
        first.outputs['task-definition-arn']
      )
      expect(runningImages()).toEqual([v3.image, v3.image])
      const gate = await pipeline.gate(v3.version)
      expect(gate.outputs.status).toBe('healthy')
    },
    STEP_TIMEOUT
  )

  it(
    'racing deploys: a second deploy waits for the first to settle; a change from elsewhere supersedes ours, which leaves it alone',
    async () => {
      const changes = () =>
        pipeline.emulator.ecs.calls.filter(
          c =>
            (c.operation === 'UpdateService' || c.operation === 'RegisterTaskDefinition') &&
            c.status === 200
        ).length
      const before = changes()
      /** Until the first deploy's UpdateService has landed, so the second finds it in flight. */
      const landed = async (count: number) => {
        const until = Date.now() + 30_000
        while (changes() - before < count && Date.now() < until)
          await new Promise(resolve => setTimeout(resolve, 50))
      }
      // Two pipelines, the second starting while the first rolls out: it waits, then wins.
      // v2 was rolled back from earlier in this file: redeploying it is an explicit choice.
      const first = pipeline.deploy({ image: v2.image, 'allow-rolled-back': 'true' })
      await landed(2)
      const second = await pipeline.deploy({ image: v1.image })
      const a = await first
      expect([a.exitCode, a.outputs.status]).toEqual([0, 'succeeded'])
      expect([second.exitCode, second.outputs.status]).toEqual([0, 'succeeded'])
      expect(second.stdout).toMatch(/is still rolling out; waiting for it to settle/)
      expect(second.outputs['previous-task-definition-arn']).toBe(a.outputs['task-definition-arn'])
      expect(runningImages()).toEqual([v1.image, v1.image])
      expect(changes() - before).toBe(4)

      // A change made elsewhere (the console, Terraform) in the middle of ours.
      const ecs = new ECSClient({
        endpoint: pipeline.emulator.env.AWS_ENDPOINT_URL_ECS,
        region: pipeline.emulator.env.AWS_REGION,
        credentials: { accessKeyId: 'emulator', secretAccessKey: 'emulator' }
      })
      const ours = pipeline.deploy({ image: v2.image, 'allow-rolled-back': 'true' })
      await landed(4 + 2)
      await ecs.send(
        new UpdateServiceCommand({
          cluster: 'local',
          service: pipeline.repository,
          taskDefinition: second.outputs['task-definition-arn'],
          forceNewDeployment: true
        })
      )
      const run = await ours
      expect([run.exitCode, run.outputs.status]).toEqual([1, 'superseded'])
      expect(errorLines(run).at(-1)).toMatch(
        /superseded: deployment ecs-svc\/\d+ \(payments-api:\d+\) replaced/
      )
      // Theirs stands: it rolls out to the end, and ours made one update only. Two v1
      // containers running is not the end yet: theirs starts two more before the old go.
      expect(await settledImages()).toEqual([v1.image, v1.image])
      expect(changes() - before).toBe(4 + 2 + 1)
      const gate = await pipeline.gate(v1.version)
      expect(gate.outputs.status).toBe('healthy')
    },
    STEP_TIMEOUT
  )

  it(
    'an image the registry does not hold fails to start, named in the failure',
    async () => {
      const before = await settledImages()
      const missing = `${pipeline.emulator.registry.host}/payments-api:not-pushed-${commit().slice(0, 8)}`
      const deploy = await pipeline.deploy({ image: missing })
      expect(deploy.exitCode).toBe(1)
      expect(deploy.outputs.status).toBe('rolled-back')
      const [first] = errorLines(deploy)
      expect(first).toContain('CannotPullContainerError')
      expect(first).toContain(missing)
      expect(runningImages()).toEqual(before)
    },
    STEP_TIMEOUT
  )

  it(
    'a container whose health check fails stops its task, and the failure names the health checks',
    async () => {
      const before = await settledImages()
      const dir = mkdtempSync(join(tmpdir(), 'e2e-taskdef-'))
      const template = join(dir, 'task-definition.json')
      writeFileSync(
        template,
        JSON.stringify({
          family: 'payments-api',
          networkMode: 'awsvpc',
          requiresCompatibilities: ['FARGATE'],
          cpu: '256',
          memory: '512',
          containerDefinitions: [
            {
              name: 'payments-api',
              image: 'replaced-by-the-image-input',
              essential: true,
              portMappings: [{ containerPort: SERVICE_PORT }],
              healthCheck: { ...LIVENESS_CHECK, command: ['CMD-SHELL', 'exit 1'], retries: 1 }
            }
          ]
        })
      )
      try {
        const deploy = await pipeline.deploy({
          image: v2.image,
          'task-definition': template,
          'allow-rolled-back': 'true'
        })
        expect(deploy.exitCode).toBe(1)
        expect(deploy.outputs.status).toBe('rolled-back')
        expect(errorLines(deploy)[0]).toContain('Task failed container health checks')
        expect(runningImages()).toEqual(before)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
    STEP_TIMEOUT
  )

  it(
    'from the command line, the emulator serves a service and removes its containers on SIGTERM',
    async () => {
      const env: NodeJS.ProcessEnv = { ...process.env }
      delete env.NODE_OPTIONS
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'tools/emulator.ts', '--image', v1.image, '--desired-count', '1'],
        { cwd: REPOSITORY_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }
      )
      let output = ''
      child.stderr.on('data', (chunk: Buffer) => (output += chunk))
      const exited = new Promise<number | null>(done => child.on('close', code => done(code)))
      try {
        const balancer = await new Promise<string>((done, fail) => {
          child.stdout.on('data', (chunk: Buffer) => {
            output += chunk
            const url = /Load balancer: (\S+)/.exec(output)?.[1]
            if (url) done(url)
          })
          void exited.then(code => fail(new Error(`exited ${code}:\n${output}`)))
        })
        const cliLabel = /label (noblepay\.emulator=\S+?)\.?\n/.exec(output)?.[1] ?? ''
        expect(cliLabel).toMatch(/^noblepay\.emulator=np-[0-9a-f]{6}$/)
        // The balancer sends traffic to a task once it runs, which can be before the server in it
        // listens (a 502 then): ask until it answers, as a client would.
        let answer = await fetch(`${balancer}/health`)
        for (const until = Date.now() + 30_000; !answer.ok && Date.now() < until;) {
          await new Promise(resolve => setTimeout(resolve, 250))
          answer = await fetch(`${balancer}/health`)
        }
        const health = (await answer.json()) as { version?: string }
        expect(health.version).toBe(v1.version)
        expect(labelledContainers(cliLabel)).toHaveLength(1)

        child.kill('SIGTERM')
        expect(await exited).toBe(143)
        expect(labelledContainers(cliLabel)).toEqual([])
      } finally {
        // A failed expectation must not leave the emulator running: it would keep jest alive.
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
        await exited
      }
    },
    STEP_TIMEOUT
  )

  it(
    'racing without a circuit breaker: a change from elsewhere supersedes ours, which leaves it alone',
    async () => {
      const plain = await pipeline.addService({
        name: 'payments-api-plain',
        image: v1.image,
        circuitBreaker: false
      })
      const updates = () =>
        pipeline.emulator.ecs.calls.filter(c => c.operation === 'UpdateService' && c.status === 200)
          .length
      const before = updates()
      const ours = plain.deploy({ image: v2.image })
      const until = Date.now() + 30_000
      while (updates() === before && Date.now() < until)
        await new Promise(resolve => setTimeout(resolve, 50))
      const ecs = new ECSClient({
        endpoint: pipeline.emulator.env.AWS_ENDPOINT_URL_ECS,
        region: pipeline.emulator.env.AWS_REGION,
        credentials: { accessKeyId: 'emulator', secretAccessKey: 'emulator' }
      })
      await ecs.send(
        new UpdateServiceCommand({
          cluster: 'local',
          service: 'payments-api-plain',
          taskDefinition: 'payments-api-plain:1',
          forceNewDeployment: true
        })
      )
      const run = await ours
      expect([run.exitCode, run.outputs.status]).toEqual([1, 'superseded'])
      // Without a breaker, the old action undid the other change; now ours made one update only.
      expect(updates() - before).toBe(2)
      const gate = await plain.gate(v1.version, undefined, 60)
      expect(gate.outputs.status).toBe('healthy')
    },
    STEP_TIMEOUT
  )

  it('closing the emulator removes every container it made', async () => {
    expect(labelledContainers(label).length).toBeGreaterThan(0)
    await pipeline.close()
    expect(labelledContainers(label)).toEqual([])
  })
})
