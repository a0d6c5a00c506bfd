/**
 * The ecs-deploy bundle on the Docker emulator for an ECS-native BLUE_GREEN service (examples/
 * service built and pushed by build-push, tasks as containers, production traffic through the
 * emulator's load balancer): a deployment that succeeds, one whose build crashes while the
 * deployment scales up (ECS rolls back; production traffic never leaves the old version), and
 * one whose smoke gate fails during bake time, rolled back at once by StopServiceDeployment.
 * Bake time is a few seconds (the emulator's minute is BAKE_MS).
 * Needs `bash tools/docker-up.sh` (run as root; the tests run it when they can).
 */
import type { BundleRun } from '../support/bundle.js'
import {
  buildVersion,
  commit,
  ecsOperationsDuring,
  ensureDocker,
  probe,
  requireBundles,
  rollBackAfterFailedGate,
  startPipeline,
  type FailMode,
  type Pipeline
} from '../support/emulator.js'

const STEP_TIMEOUT = 150_000
/** Bake time: long enough for the deploy to return, a 2 s gate to fail and the rollback to start. */
const BAKE_MS = 10_000

let pipeline: Pipeline
/** The version the service runs when each test starts. */
let current: { version: string; image: string; revision: string }

/** The stages the step reported, in order (each once: entered, or passed between two looks). */
const stages = (run: BundleRun) => [
  ...new Set(
    run.stdout
      .split('\n')
      .map(line => /^\[\d+s since the update\] ([A-Z_]+)/.exec(line)?.[1])
      .filter(stage => stage !== undefined)
  )
]

const errorLines = (run: BundleRun) =>
  run.stdout.split('\n').filter(line => line.startsWith('::error::'))

const described = () => pipeline.emulator.ecs.service(pipeline.cluster, pipeline.service)

/** The versions /health reports through the load balancer's production listener. */
async function versions(count = 10): Promise<string[]> {
  const seen = new Set<string>()
  for (let i = 0; i < count; i++) {
    const response = await fetch(pipeline.healthUrl, { signal: AbortSignal.timeout(5000) })
    const body = (await response.json()) as { version?: string }
    seen.add(`${response.status} ${body.version}`)
  }
  return [...seen]
}

/** ECS changes (by operation) the emulator carried out while `step` ran. */
async function changesDuring(step: () => Promise<BundleRun>) {
  const { run, operations } = await ecsOperationsDuring(pipeline, step)
  return { run, changes: operations.filter(op => /^(Update|Stop|Register|Run)/.test(op)) }
}

const build = (failMode?: FailMode) => buildVersion(pipeline, failMode)

beforeAll(async () => {
  requireBundles()
  await ensureDocker()
  const version = commit()
  const started = await startPipeline({
    firstVersion: version,
    deployment: { strategy: 'BLUE_GREEN', bakeTimeInMinutes: 1, minuteMs: BAKE_MS, stageMs: 200 }
  })
  pipeline = started
  current = {
    version,
    image: started.first.outputs['image-digest']!,
    revision: described().taskDefinition!
  }
}, STEP_TIMEOUT)

afterAll(async () => {
  await pipeline?.close()
})

describe('ecs-deploy on a BLUE_GREEN service on the Docker emulator', () => {
  it(
    'succeeds through every stage, bake time and clean-up included; production answers the new version',
    async () => {
      const v2 = await build()
      const { run, changes } = await changesDuring(() => pipeline.deploy({ image: v2.image }))
      expect([run.exitCode, run.outputs.status]).toEqual([0, 'succeeded'])
      expect(run.stdout).toContain('BLUE_GREEN (all production traffic at once, bake time 1 min)')
      expect(stages(run)).toEqual([
        'PRE_SCALE_UP',
        'SCALE_UP',
        'POST_SCALE_UP',
        'TEST_TRAFFIC_SHIFT',
        'POST_TEST_TRAFFIC_SHIFT',
        'PRE_PRODUCTION_TRAFFIC_SHIFT',
        'PRODUCTION_TRAFFIC_SHIFT',
        'POST_PRODUCTION_TRAFFIC_SHIFT',
        'BAKE_TIME',
        'CLEAN_UP'
      ])
      expect(run.outputs['service-deployment-arn']).toBe(described().currentServiceDeployment)
      expect(changes).toEqual(['RegisterTaskDefinition', 'UpdateService'])
      expect(described().taskDefinition).toBe(run.outputs['task-definition-arn'])
      expect(await versions()).toEqual([`200 ${v2.version}`])
      current = { ...v2, revision: run.outputs['task-definition-arn']! }
    },
    STEP_TIMEOUT
  )

  it(
    'a build that crashes while the deployment scales up is rolled back by ECS; production answers the old version throughout',
    async () => {
      const crash = await build('crash')
      const users = probe(pipeline.healthUrl, 100)
      let result
      try {
        result = await changesDuring(() => pipeline.deploy({ image: crash.image }))
      } finally {
        await users.stop()
      }
      const { run, changes } = result
      expect([run.exitCode, run.outputs.status]).toEqual([1, 'rolled-back'])
      expect(errorLines(run)[0]).toContain('ECS deployment circuit breaker')
      expect(errorLines(run)[0]).toContain('exit code 1')
      // It failed before any production traffic moved.
      expect(stages(run)).toContain('SCALE_UP')
      expect(stages(run)).not.toContain('PRODUCTION_TRAFFIC_SHIFT')
      expect(run.stdout).toContain('ECS is rolling the service back; waiting for it to settle.')
      // The crashed container's own lines, from CloudWatch Logs.
      expect(run.stdout).toContain(
        `  | payments-api ${crash.version} starting: checking configuration`
      )
      // One update; ECS's own rollback needs no call from the step.
      expect(changes).toEqual(['RegisterTaskDefinition', 'UpdateService'])
      expect(described().taskDefinition).toBe(current.revision)
      expect(users.answers.length).toBeGreaterThan(10)
      expect([...new Set(users.answers.map(a => `${a.status} ${a.version}`))]).toEqual([
        `200 ${current.version}`
      ])
      expect(await versions()).toEqual([`200 ${current.version}`])
    },
    STEP_TIMEOUT
  )

  it(
    'a smoke gate that fails during bake time is undone by one StopServiceDeployment: the same containers serve the old version at once',
    async () => {
      const unhealthy = await build('unhealthy')
      const servingBefore = pipeline.emulator.ecs
        .tasks(pipeline.cluster, pipeline.service)
        .filter(t => t.lastStatus === 'RUNNING')
        .map(t => t.taskArn)
        .sort()
      const run = await rollBackAfterFailedGate(pipeline, unhealthy, current.version, {
        gateTimeoutSeconds: 2
      })

      // The deploy returned at the start of bake time, with production on the new revision.
      expect([run.deploy.exitCode, run.deploy.outputs.status]).toEqual([0, 'succeeded'])
      expect(stages(run.deploy).at(-1)).toBe('BAKE_TIME')
      expect(run.gate.outputs.status).toBe('unhealthy')
      expect(run.previousArn).toBe(current.revision)

      // The rollback found it still baking and stopped it with ROLLBACK.
      expect([run.rollback.exitCode, run.rollback.outputs.status]).toEqual([0, 'succeeded'])
      expect(run.rollback.stdout).toMatch(/is still in progress \(BAKE_TIME\)/)
      expect(run.rollback.stdout).toMatch(/Production traffic was back on the previous revision/)
      expect(stages(run.rollback)).toEqual(['BAKE_TIME'])
      expect(run.deployChanges).toEqual(['RegisterTaskDefinition', 'UpdateService'])
      // The service's rollback mark, the traffic switch, the rolled-back-from revision's tag.
      expect(run.rollbackChanges).toEqual(['TagResource', 'StopServiceDeployment', 'TagResource'])

      // No new task: the containers that served before the deploy serve after the rollback.
      expect(described().taskDefinition).toBe(current.revision)
      expect(
        pipeline.emulator.ecs
          .tasks(pipeline.cluster, pipeline.service)
          .filter(t => t.lastStatus === 'RUNNING')
          .map(t => t.taskArn)
          .sort()
      ).toEqual(servingBefore)
      expect([run.gateAfter.outputs.status, run.gateAfter.outputs.version]).toEqual([
        'healthy',
        current.version
      ])
      // From the stop reaching ECS, every answer came from the old version within a second.
      expect(run.allTrafficMs! - run.rollbackRequestedMs!).toBeLessThan(1000)
      expect(await versions()).toEqual([`200 ${current.version}`])
    },
    STEP_TIMEOUT
  )
})
