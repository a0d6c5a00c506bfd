/**
 * The ecs-deploy bundle on the Docker emulator, for what surrounds a rollout: the migration
 * before it (a one-off container of the new image runs examples/service's `node src/migrate.js`,
 * its lines in the step's log), a migration that fails (the service untouched), and a crash whose
 * last log lines come from CloudWatch Logs (the emulator's logs stand-in reads the crashed
 * container's own output).
 * Needs `bash tools/docker-up.sh` (run as root; the tests run it when they can).
 */
import type { BundleRun } from '../support/bundle.js'
import {
  buildVersion,
  commit,
  ecsOperationsDuring,
  ensureDocker,
  labelledContainers,
  requireBundles,
  startPipeline,
  type FailMode,
  type Pipeline
} from '../support/emulator.js'

const STEP_TIMEOUT = 150_000
const MIGRATE = 'node src/migrate.js'

let pipeline: Pipeline

const errorLines = (run: BundleRun) =>
  run.stdout.split('\n').filter(line => line.startsWith('::error::'))
/** The lines the step printed from a container's log. */
const loggedLines = (run: BundleRun) =>
  run.stdout
    .split('\n')
    .filter(line => line.startsWith('  | '))
    .map(line => line.slice(4))

/** Images of the service's running containers (one-off containers included while they run). */
const runningImages = () =>
  labelledContainers(pipeline.emulator.label)
    .filter(c => c.state === 'running')
    .map(c => c.image)
    .sort()

const revision = () =>
  pipeline.emulator.ecs.service(pipeline.cluster, pipeline.service).taskDefinition

const callsDuring = (step: () => Promise<BundleRun>) => ecsOperationsDuring(pipeline, step)

const build = (failMode?: FailMode) => buildVersion(pipeline, failMode)

beforeAll(async () => {
  requireBundles()
  await ensureDocker()
  pipeline = await startPipeline({ firstVersion: commit() })
}, STEP_TIMEOUT)

afterAll(async () => {
  await pipeline?.close()
})

describe('ecs-deploy on the Docker emulator: migrations and crash logs', () => {
  it(
    "runs the migration as a one-off container of the new image before the rollout; its lines are in the step's log",
    async () => {
      const v2 = await build()
      const { run, operations } = await callsDuring(() =>
        pipeline.deploy({ image: v2.image, 'pre-deploy-command': MIGRATE })
      )
      expect([run.exitCode, run.outputs.status]).toEqual([0, 'succeeded'])

      // What the container printed, version and all: it was the new image that ran.
      expect(loggedLines(run)).toEqual([
        `migrate: 3 migrations for database payments (version ${v2.version})`,
        'migrate: 0001_create_payments: CREATE TABLE IF NOT EXISTS payments applied',
        'migrate: 0002_create_ledger_entries: CREATE TABLE IF NOT EXISTS ledger_entries applied',
        'migrate: 0003_add_payment_fees: ALTER TABLE payments ADD COLUMN IF NOT EXISTS fee_minor applied',
        'migrate: schema is at 0003_add_payment_fees'
      ])
      const lines = run.stdout.split('\n')
      const passed = lines.findIndex(l =>
        l.startsWith('The migration (node src/migrate.js) passed')
      )
      const updated = lines.findIndex(l => l.startsWith('Updated the service'))
      expect(passed).toBeGreaterThan(-1)
      expect(updated).toBeGreaterThan(passed)

      // One one-off task of the new revision, the command an override on its container, then
      // the update.
      expect(operations.filter(op => op === 'RunTask' || op === 'UpdateService')).toEqual([
        'RunTask',
        'UpdateService'
      ])
      const oneOff = pipeline.emulator.ecs
        .tasks(pipeline.cluster)
        .filter(t => t.startedBy?.startsWith('noblepay-migrate-'))
      expect(oneOff).toHaveLength(1)
      expect(oneOff[0]).toMatchObject({
        taskDefinitionArn: run.outputs['task-definition-arn'],
        lastStatus: 'STOPPED',
        containers: [{ name: 'payments-api', image: v2.image, exitCode: 0 }],
        overrides: {
          containerOverrides: [{ name: 'payments-api', command: ['node', 'src/migrate.js'] }]
        }
      })
      // The one-off container is gone; the service's two run the new image.
      expect(runningImages()).toEqual([v2.image, v2.image])
      expect(revision()).toBe(run.outputs['task-definition-arn'])
    },
    STEP_TIMEOUT
  )

  it(
    'a migration that fails stops the deploy before the service is touched',
    async () => {
      const before = { revision: revision(), images: runningImages() }
      const bad = await build('migration')
      const { run, operations } = await callsDuring(() =>
        pipeline.deploy({ image: bad.image, 'pre-deploy-command': MIGRATE })
      )
      expect([run.exitCode, run.outputs.status]).toEqual([1, 'failed'])
      const last = errorLines(run).at(-1)!
      expect(last).toContain('The migration failed')
      expect(last).toContain('exited with code 1')
      expect(last).toContain(
        'Last log line: migrate: failed at 0004_backfill_ledger_ids: ERROR: column "ledger_id" of relation "payments" does not exist'
      )
      expect(loggedLines(run).at(-1)).toMatch(/^migrate: failed at 0004_backfill_ledger_ids: /)

      expect(operations).toContain('RunTask')
      expect(operations).not.toContain('UpdateService')
      expect(revision()).toBe(before.revision)
      expect(runningImages()).toEqual(before.images)
    },
    STEP_TIMEOUT
  )

  it(
    "a crash's last log lines come from CloudWatch Logs: in the log, and quoted by the final error",
    async () => {
      const before = runningImages()
      const crash = await build('crash')
      const logsFrom = pipeline.emulator.logs.calls.length
      const run = await pipeline.deploy({ image: crash.image })
      expect([run.exitCode, run.outputs.status]).toEqual([1, 'rolled-back'])

      // Both lines the container wrote: the stopped reason carries only the last one.
      const fatal = `Fatal: configuration check failed: PAYMENTS_LEDGER_URL is not set (FAIL_MODE=crash, version ${crash.version})`
      expect(loggedLines(run)).toEqual([
        `payments-api ${crash.version} starting: checking configuration`,
        fatal
      ])
      const heading =
        /^Last 2 log lines of container payments-api, task (\w+) \(\/ecs\/payments-api ecs\/payments-api\/(\w+)\):$/m.exec(
          run.stdout
        )
      expect(heading?.[1]).toBe(heading?.[2])
      const reads = pipeline.emulator.logs.calls
        .slice(logsFrom)
        .filter(c => c.operation === 'GetLogEvents')
      expect(reads.map(c => c.input)).toContainEqual(
        expect.objectContaining({
          logGroupName: '/ecs/payments-api',
          logStreamName: `ecs/payments-api/${heading?.[1]}`
        })
      )
      expect(errorLines(run).at(-1)).toContain(`[container payments-api last logged: ${fatal}]`)
      expect(runningImages()).toEqual(before)
    },
    STEP_TIMEOUT
  )
})
