/**
 * The test-traffic gate on the Docker emulator (examples/service built and pushed by build-push,
 * tasks as containers, traffic through the emulator's load balancer): a build that fails its
 * smoke gate, gated on the test listener of a BLUE_GREEN service with a PAUSE hook, answers no
 * production request; gated during bake time, it answers some. Counted from the balancer's
 * record (test/support/exposure.ts), as `npm run bench` and the demo report them.
 * Needs `bash tools/docker-up.sh` (run as root; the tests run it when they can).
 */
import type { BundleRun } from '../support/bundle.js'
import {
  buildVersion,
  commit,
  ensureDocker,
  requireBundles,
  startPipeline,
  BAKING_BLUE_GREEN,
  type Pipeline
} from '../support/emulator.js'
import { measureExposure, PAUSED_BLUE_GREEN } from '../support/exposure.js'

const STEP_TIMEOUT = 240_000

let pipeline: Pipeline & { first: BundleRun }
let good: { version: string; image: string }
let failing: { version: string; image: string }

beforeAll(async () => {
  requireBundles()
  await ensureDocker()
  const version = commit()
  pipeline = await startPipeline({ firstVersion: version })
  good = { version, image: pipeline.first.outputs['image-digest']! }
  failing = await buildVersion(pipeline, 'unhealthy')
}, STEP_TIMEOUT)

afterAll(async () => {
  await pipeline?.close()
})

describe('a build that fails its smoke gate', () => {
  it(
    'gated on test traffic: no production request reaches it, the hook is answered with ROLLBACK, and the service stays on the previous revision',
    async () => {
      const target = await pipeline.addService({
        name: 'gated',
        image: good.image,
        deployment: PAUSED_BLUE_GREEN
      })
      const previous = pipeline.emulator.ecs.service(pipeline.cluster, 'gated').taskDefinition
      const run = await measureExposure(target, 'test-traffic', failing)
      expect([run.deploy.exitCode, run.deploy.outputs.status, run.deploy.outputs.stage]).toEqual([
        0,
        'succeeded',
        'POST_TEST_TRAFFIC_SHIFT'
      ])
      expect(run.gate.outputs.status).toBe('unhealthy')
      // The gate did test the failing build: through the test listener.
      expect(
        target.balancer.requests.some(
          r => r.listener === 'test' && r.taskDefinitionArn === run.badArn
        )
      ).toBe(true)
      expect(run.undo.outputs.status).toBe('rolled-back')
      expect(run.productionRequests).toBeGreaterThan(20)
      expect(run.badAnswers).toBe(0)
      expect(pipeline.emulator.ecs.service(pipeline.cluster, 'gated').taskDefinition).toBe(previous)
    },
    STEP_TIMEOUT
  )

  it(
    'gated during bake time: production requests reach it before the rollback',
    async () => {
      const target = await pipeline.addService({
        name: 'baking',
        image: good.image,
        deployment: BAKING_BLUE_GREEN
      })
      const run = await measureExposure(target, 'bake-time', failing)
      expect(run.gate.outputs.status).toBe('unhealthy')
      expect(run.undo.outputs.status).toBe('succeeded')
      expect(run.badAnswers).toBeGreaterThan(0)
    },
    STEP_TIMEOUT
  )
})
