/**
 * The ecs-deploy bundle over the rest of a service's life, run as the runner runs it against
 * the ECS, Application Auto Scaling and CloudWatch Logs stand-ins: auto-scaling declared and
 * applied, a migration before the rollout, the crashed container's own words, a plan before
 * a deploy, and ECS's own blue/green, linear and canary deployments with an instant rollback.
 */
import { ecsServices } from '../../tools/autoscaling-standin/ecs-resources.js'
import {
  ENDPOINT_VARIABLE as AUTOSCALING_ENDPOINT,
  startAutoScalingStandin,
  type AutoScalingStandin
} from '../../tools/autoscaling-standin/server.js'
import {
  startEcsStandin,
  type AddServiceSpec,
  type DeploymentStrategy,
  type EcsStandin
} from '../../tools/ecs-standin/server.js'
import { startLogsStandin, type LogsStandin } from '../../tools/logs-standin/server.js'
import { runBundle, type BundleRun } from '../support/bundle.js'
import { parseGantt } from '../support/mermaid.js'

interface World {
  ecs: EcsStandin
  scaling: AutoScalingStandin
  logs: LogsStandin
  v1: string
}

let world: World

const LOGGING = {
  logDriver: 'awslogs',
  options: {
    'awslogs-group': '/ecs/api',
    'awslogs-stream-prefix': 'ecs',
    'awslogs-region': 'eu-west-1'
  }
}

async function start(spec: Partial<AddServiceSpec> = {}, tickMs = 50): Promise<World> {
  const ecs = await startEcsStandin({ tickMs })
  const scaling = await startAutoScalingStandin({ resources: ecsServices(ecs.endpoint) })
  const logs = await startLogsStandin({ source: ecs.logSource, region: 'eu-west-1' })
  ecs.addCluster('payments')
  const v1 = ecs.registerTaskDefinition({
    family: 'api',
    networkMode: 'awsvpc',
    requiresCompatibilities: ['FARGATE'],
    cpu: '256',
    memory: '512',
    containerDefinitions: [
      { name: 'api', image: 'local/api:v1', essential: true, logConfiguration: LOGGING }
    ]
  })
  ecs.addService({
    cluster: 'payments',
    name: 'api',
    taskDefinition: v1,
    desiredCount: 2,
    circuitBreaker: { enable: true, rollback: true },
    ...spec
  })
  world = { ecs, scaling, logs, v1 }
  return world
}

afterEach(async () => {
  await Promise.all([world?.ecs.close(), world?.scaling.close(), world?.logs.close()])
})

const deploy = (inputs: Record<string, string>, poll = '0.1'): Promise<BundleRun> =>
  runBundle('ecs-deploy', {
    inputs: {
      cluster: 'payments',
      service: 'api',
      'poll-interval-seconds': poll,
      'wait-for-minutes': '0.5',
      ...inputs
    },
    env: {
      AWS_ENDPOINT_URL_ECS: world.ecs.endpoint,
      [AUTOSCALING_ENDPOINT]: world.scaling.endpoint,
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: world.logs.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test'
    }
  })

const ecsCalls = (operation: string) =>
  world.ecs.calls.filter(c => c.operation === operation && c.status === 200)
const scalingCalls = (operation: string) =>
  world.scaling.calls.filter(c => c.operation === operation).length
const primary = () =>
  world.ecs.service('payments', 'api').deployments.find(d => d.status === 'PRIMARY')!
const errorLines = (run: BundleRun) => run.stdout.split('\n').filter(l => l.startsWith('::error::'))

const SEED_SCALING = {
  'auto-scaling-min': '3',
  'auto-scaling-max': '20',
  'auto-scaling-cpu-target': '70',
  'auto-scaling-memory-target': '80'
}

describe('auto-scaling, declared and applied on deploy', () => {
  it('the first deploy registers the target and both policies; an identical one changes nothing', async () => {
    await start()
    const first = await deploy({ image: 'local/api:v2', ...SEED_SCALING })
    expect([first.exitCode, first.outputs.status]).toEqual([0, 'succeeded'])
    expect(scalingCalls('RegisterScalableTarget')).toBe(1)
    expect(scalingCalls('PutScalingPolicy')).toBe(2)
    expect(first.summary).toContain('Auto-scaling: changed')
    expect(world.scaling.targets()).toMatchObject([{ MinCapacity: 3, MaxCapacity: 20 }])
    const policies = world.scaling.policies() as Array<{
      TargetTrackingScalingPolicyConfiguration?: {
        PredefinedMetricSpecification?: { PredefinedMetricType?: string }
        TargetValue?: number
        ScaleOutCooldown?: number
        ScaleInCooldown?: number
      }
    }>
    expect(
      policies.map(p => [
        p.TargetTrackingScalingPolicyConfiguration?.PredefinedMetricSpecification
          ?.PredefinedMetricType,
        p.TargetTrackingScalingPolicyConfiguration?.TargetValue,
        p.TargetTrackingScalingPolicyConfiguration?.ScaleOutCooldown,
        p.TargetTrackingScalingPolicyConfiguration?.ScaleInCooldown
      ])
    ).toEqual(
      expect.arrayContaining([
        ['ECSServiceAverageCPUUtilization', 70, 300, 900],
        ['ECSServiceAverageMemoryUtilization', 80, 300, 900]
      ])
    )

    const second = await deploy({ image: 'local/api:v3', ...SEED_SCALING })
    expect([second.exitCode, second.outputs.status]).toEqual([0, 'succeeded'])
    expect(scalingCalls('RegisterScalableTarget')).toBe(1)
    expect(scalingCalls('PutScalingPolicy')).toBe(2)
    expect(second.summary).toContain('Auto-scaling: unchanged')
    expect(second.stdout).toMatch(/Auto-scaling of service\/payments\/api .*: unchanged\./)
  })

  it.each([
    [{ 'auto-scaling-min': '5', 'auto-scaling-max': '3' }, "Input 'auto-scaling-min' is '5'"],
    [
      { ...SEED_SCALING, 'auto-scaling-cpu-target': '120' },
      "Input 'auto-scaling-cpu-target' is '120'"
    ],
    [{ ...SEED_SCALING, 'desired-count': '4' }, 'desired-count'],
    [{ ...SEED_SCALING, 'auto-scaling-max': '2.5' }, "Input 'auto-scaling-max' is '2.5'"]
  ])('bad input %j fails before anything changes', async (inputs, message) => {
    await start()
    const run = await deploy({ image: 'local/api:v2', ...inputs })
    expect([run.exitCode, run.outputs.status]).toEqual([1, 'failed'])
    expect(errorLines(run).at(-1)).toContain(message)
    expect(world.scaling.calls).toHaveLength(0)
    expect(ecsCalls('RegisterTaskDefinition')).toHaveLength(0)
    expect(ecsCalls('UpdateService')).toHaveLength(0)
  })
})

describe('a migration before the rollout', () => {
  it('runs the command as a one-off task of the new revision, prints its lines, then rolls out', async () => {
    await start()
    world.ecs.setCommandBehaviour('npm run migrate', {
      exitCode: 0,
      logLines: ['migrating 3 files', 'applied 3 migrations'],
      durationMs: 300
    })
    const run = await deploy({ image: 'local/api:v2', 'pre-deploy-command': 'npm run migrate' })
    expect([run.exitCode, run.outputs.status]).toEqual([0, 'succeeded'])
    expect(run.stdout).toContain('applied 3 migrations')
    const [runTask] = ecsCalls('RunTask')
    const [update] = ecsCalls('UpdateService')
    expect(ecsCalls('RunTask')).toHaveLength(1)
    expect(runTask!.at).toBeLessThan(update!.at)
    const oneOff = world.ecs
      .tasks('payments')
      .find(
        t =>
          t.startedBy !== primary().id && t.overrides.containerOverrides.some(o => 'command' in o)
      )
    expect(oneOff).toMatchObject({
      taskDefinitionArn: run.outputs['task-definition-arn'],
      overrides: { containerOverrides: [{ name: 'api', command: ['npm', 'run', 'migrate'] }] }
    })
  })

  it('a failing migration stops the deploy before the service is touched, with its exit code and last lines', async () => {
    await start()
    world.ecs.setCommandBehaviour('npm run migrate', {
      exitCode: 2,
      logLines: ['migrating 3 files', 'error: relation "payments" already exists'],
      durationMs: 200
    })
    const run = await deploy({ image: 'local/api:v2', 'pre-deploy-command': 'npm run migrate' })
    expect([run.exitCode, run.outputs.status]).toEqual([1, 'failed'])
    const last = errorLines(run).at(-1)!
    expect(last).toMatch(/exited with code 2/)
    expect(last).toContain('relation "payments" already exists')
    expect(run.summary).toMatch(/[Mm]igration.*failed/)
    expect(ecsCalls('UpdateService')).toHaveLength(0)
    expect(primary().taskDefinition).toBe(world.v1)
  })
})

describe("the crashed container's own words", () => {
  it('the failure carries the last log lines of a failed task, fetched after the first error', async () => {
    await start()
    world.ecs.setImageBehaviour('local/api:bad', {
      outcome: 'crash',
      afterMs: 150,
      exitCode: 1,
      logLines: ['listening on 8080', 'Error: PAYMENTS_LEDGER_URL is not set']
    })
    const run = await deploy({ image: 'local/api:bad' })
    expect([run.exitCode, run.outputs.status]).toEqual([1, 'rolled-back'])
    expect(run.stdout).toContain('  | Error: PAYMENTS_LEDGER_URL is not set')
    expect(errorLines(run).at(-1)).toContain('last logged: Error: PAYMENTS_LEDGER_URL is not set')
    expect(run.summary).toContain('Error: PAYMENTS_LEDGER_URL is not set')
    // The first error line did not wait for the logs.
    const firstError = run.lineTimes.find(l => l.line.startsWith('::error::'))!.at + run.startedAt
    expect(world.logs.calls.length).toBeGreaterThan(0)
    expect(Math.min(...world.logs.calls.map(c => c.at))).toBeGreaterThanOrEqual(firstError)
  })

  it('logs that cannot be read are explained in one line, and the rest of the report stands', async () => {
    await start()
    world.ecs.setImageBehaviour('local/api:bad', { outcome: 'crash', afterMs: 150, exitCode: 1 })
    world.logs.denyAccess()
    const run = await deploy({ image: 'local/api:bad' })
    expect([run.exitCode, run.outputs.status]).toEqual([1, 'rolled-back'])
    expect(run.stdout).toMatch(/AccessDenied/)
    expect(errorLines(run)[0]).toContain('ECS deployment circuit breaker')
  })
})

describe('a plan before a deploy', () => {
  it('dry-run reads, renders and diffs, and changes nothing', async () => {
    await start()
    const run = await deploy({
      image: 'local/api:v2',
      'environment-variables': 'FEATURE_FLAG=on\nDATABASE_PASSWORD=hunter2',
      'dry-run': 'true',
      ...SEED_SCALING
    })
    expect([run.exitCode, run.outputs.status]).toEqual([0, 'succeeded'])
    expect(run.outputs.changes).toMatch(/image/)
    expect(run.outputs.changes).toMatch(/environment/)
    expect(run.stdout).toMatch(/FEATURE_FLAG/)
    expect(run.stdout).toContain('local/api:v1')
    expect(run.stdout).toContain('local/api:v2')
    expect(run.stdout + run.summary).not.toContain('hunter2')
    for (const operation of ['RegisterTaskDefinition', 'UpdateService', 'RunTask', 'TagResource'])
      expect(ecsCalls(operation)).toHaveLength(0)
    expect(scalingCalls('RegisterScalableTarget') + scalingCalls('PutScalingPolicy')).toBe(0)
    expect(run.summary).toContain('(dry run)')
  })

  it('dry-run of the same image says there are no changes', async () => {
    await start()
    const run = await deploy({ image: 'local/api:v1', 'dry-run': 'true' })
    expect(run.outputs.changes).toBe('none')
  })
})

const STRATEGIES: Record<Exclude<DeploymentStrategy, 'ROLLING'>, Partial<AddServiceSpec>> = {
  BLUE_GREEN: {},
  LINEAR: { linearConfiguration: { stepPercent: 50, stepBakeTimeInMinutes: 1 } },
  CANARY: { canaryConfiguration: { canaryPercent: 20, canaryBakeTimeInMinutes: 1 } }
}
const HOOK = 'arn:aws:lambda:eu-west-1:123456789012:function:check-green'
/**
 * The stand-in plays a minute in 100 ms, but the step reads the service's configuration as
 * ECS's minutes: its wait must cover the steps and bake time, or it refuses before any change.
 */
const COVERING_WAIT = { 'wait-for-minutes': '200' }
const lifecycle = (strategy: keyof typeof STRATEGIES, more: Partial<AddServiceSpec> = {}) => ({
  strategy,
  ...STRATEGIES[strategy],
  stageMs: 40,
  minuteMs: 100,
  bakeTimeInMinutes: 2,
  ...more
})
const stagesPrinted = (run: BundleRun) =>
  run.stdout.split('\n').reduce<string[]>((stages, line) => {
    const stage = /since the update\] ([A-Z_]+)/.exec(line)?.[1]
    return stage && stages.at(-1) !== stage ? [...stages, stage] : stages
  }, [])

describe.each(Object.keys(STRATEGIES) as Array<keyof typeof STRATEGIES>)(
  '%s deployments',
  strategy => {
    it('succeed through every stage, one UpdateService, with a picture of the rollout', async () => {
      // Stages last over two polls each here, so every one is seen as it is entered.
      await start(lifecycle(strategy, { stageMs: 120 }), 20)
      const run = await deploy({ image: 'local/api:v2', ...COVERING_WAIT }, '0.05')
      expect([run.exitCode, run.outputs.status]).toEqual([0, 'succeeded'])
      expect(stagesPrinted(run)).toEqual([
        'PRE_SCALE_UP',
        'SCALE_UP',
        'POST_SCALE_UP',
        'TEST_TRAFFIC_SHIFT',
        'POST_TEST_TRAFFIC_SHIFT',
        // Before each traffic step: one for BLUE_GREEN, two for these LINEAR and CANARY.
        ...(strategy === 'BLUE_GREEN'
          ? []
          : ['PRE_PRODUCTION_TRAFFIC_SHIFT', 'PRODUCTION_TRAFFIC_SHIFT']),
        'PRE_PRODUCTION_TRAFFIC_SHIFT',
        'PRODUCTION_TRAFFIC_SHIFT',
        'POST_PRODUCTION_TRAFFIC_SHIFT',
        'BAKE_TIME',
        'CLEAN_UP'
      ])
      expect(run.outputs['service-deployment-arn']).toMatch(/:service-deployment\//)
      expect(ecsCalls('UpdateService')).toHaveLength(1)
      expect(ecsCalls('StopServiceDeployment')).toHaveLength(0)
      expect(primary().taskDefinition).toBe(run.outputs['task-definition-arn'])
      const chart = parseGantt(run.summary)
      expect(chart.sections.map(s => s.name)).toEqual(expect.arrayContaining(['Step', 'Traffic']))
      const traffic = chart.sections.find(s => s.name === 'Traffic')!.tasks.map(t => t.label)
      expect(traffic.some(l => l.startsWith('Bake time'))).toBe(true)
      expect(traffic.some(l => l.startsWith('Production traffic shift'))).toBe(true)
    })

    it('a failure during the traffic shift is rolled back by ECS, with no StopServiceDeployment of ours', async () => {
      await start(
        lifecycle(strategy, {
          lifecycleHooks: [{ hookTargetArn: HOOK, lifecycleStages: ['PRODUCTION_TRAFFIC_SHIFT'] }]
        }),
        20
      )
      world.ecs.setHookBehaviour(HOOK, { results: ['FAILED'] })
      const run = await deploy({ image: 'local/api:v2', ...COVERING_WAIT }, '0.05')
      expect([run.exitCode, run.outputs.status]).toEqual([1, 'rolled-back'])
      expect(errorLines(run)[0]).toContain('check-green')
      expect(primary().taskDefinition).toBe(world.v1)
      expect(ecsCalls('UpdateService')).toHaveLength(1)
      expect(ecsCalls('StopServiceDeployment')).toHaveLength(0)
    })

    it('a failed gate during bake time: rollback-to switches traffic back at once with one StopServiceDeployment', async () => {
      await start(lifecycle(strategy, { bakeTimeInMinutes: 100 }), 20)
      const shifted = await deploy(
        { image: 'local/api:v2', 'wait-until': 'traffic-shifted', ...COVERING_WAIT },
        '0.05'
      )
      expect([shifted.exitCode, shifted.outputs.status]).toEqual([0, 'succeeded'])
      expect(stagesPrinted(shifted).at(-1)).toBe('BAKE_TIME')
      // deploy.yml's smoke gate failed here: it rolls back to its deploy step's previous revision.
      const rollback = await deploy(
        { 'rollback-to': shifted.outputs['previous-task-definition-arn']! },
        '0.05'
      )
      expect([rollback.exitCode, rollback.outputs.status]).toEqual([0, 'succeeded'])
      expect(rollback.stdout).toMatch(/rolling back by stopping it/)
      expect(rollback.stdout).toMatch(/Production traffic was back on the previous revision/)
      expect(rollback.summary).toMatch(
        /Production traffic back on the previous revision after:\*\* \d+ ms/
      )
      expect(ecsCalls('UpdateService')).toHaveLength(1)
      expect(ecsCalls('StopServiceDeployment')).toHaveLength(1)
      expect(primary().taskDefinition).toBe(world.v1)
    })
  }
)
