/**
 * The ecs-deploy bundle against the ECS stand-in with its services behind the ELB stand-in
 * (target groups, health checks, deregistration delay; AWS's defaults scaled: one AWS second is
 * 10 ms): `wait-until: serving`, and the phase report of every rollout.
 */
import { startEcsStandin, type EcsStandin } from '../../tools/ecs-standin/server.js'
import { startElbStandin, type ElbStandin } from '../../tools/elb-standin/server.js'
import type { TargetGroupSettings } from '../../tools/elb-standin/model.js'
import { runBundle } from '../support/bundle.js'

const SECOND_MS = 10
let ecs: EcsStandin
let elb: ElbStandin

/** Every target state change, with the wall-clock time it happened. */
let changes: Array<{ at: number; group: string; id: string; state: string }>

beforeEach(async () => {
  elb = await startElbStandin({ secondMs: SECOND_MS, tickMs: 20 })
  ecs = await startEcsStandin({ tickMs: 20, loadBalancing: elb.model })
  changes = []
  elb.model.onTargetChange((group, target, _from, to) =>
    changes.push({ at: Date.now(), group: group.arn, id: target.id, state: to })
  )
})
afterEach(async () => {
  await ecs.close()
  await elb.close()
})

/** A steady service `api` (2 tasks of local/api:v1) behind the given target groups. */
function addService(
  groups: Array<Partial<TargetGroupSettings>>,
  options: Partial<Parameters<EcsStandin['addService']>[0]> = {}
): string[] {
  const arns = groups.map((settings, i) => elb.addTargetGroup({ name: `api-${i + 1}`, settings }))
  ecs.addCluster('payments')
  const taskDefinition = ecs.registerTaskDefinition({
    family: 'api',
    networkMode: 'awsvpc',
    containerDefinitions: [
      {
        name: 'api',
        image: 'local/api:v1',
        essential: true,
        portMappings: [{ containerPort: 8080 }]
      }
    ]
  })
  ecs.addService({
    cluster: 'payments',
    name: 'api',
    taskDefinition,
    desiredCount: 2,
    circuitBreaker: { enable: true, rollback: true },
    loadBalancers: arns.map(targetGroupArn => ({
      targetGroupArn,
      containerName: 'api',
      containerPort: 8080
    })),
    ...options
  })
  return arns
}

const deploy = (inputs: Record<string, string>) =>
  runBundle('ecs-deploy', {
    inputs: {
      cluster: 'payments',
      service: 'api',
      'poll-interval-seconds': '0.2',
      'wait-for-minutes': '1',
      ...inputs
    },
    env: {
      AWS_ENDPOINT_URL_ECS: ecs.endpoint,
      AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: elb.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test'
    }
  })

const ipsOf = (image: string) =>
  ecs
    .tasks('payments', 'api')
    .filter(t => t.containers[0]?.image === image)
    .map(t => {
      const details = (
        t as unknown as { attachments: Array<{ details: Array<{ name: string; value: string }> }> }
      ).attachments[0]!.details
      return details.find(d => d.name === 'privateIPv4Address')!.value
    })

describe('wait-until: serving', () => {
  it('returns once every new task is healthy in every target group, while the old ones still drain', async () => {
    // The second group checks half as often: serving waits for it too.
    const [first, second] = addService([{}, { healthCheckIntervalSeconds: 60 }])
    const run = await deploy({ image: 'local/api:v2', 'wait-until': 'serving' })
    const endedAt = run.startedAt + run.durationMs
    expect(run.outputs.status).toBe('succeeded')

    const fresh = ipsOf('local/api:v2')
    const old = ipsOf('local/api:v1')
    expect(fresh).toHaveLength(2)
    const healthyAt = (group: string, id: string) =>
      changes.find(c => c.group === group && c.id === id && c.state === 'healthy')?.at
    for (const group of [first!, second!])
      for (const id of fresh) expect(healthyAt(group, id)).toBeLessThanOrEqual(endedAt)
    // Not before the slower group: every new target was healthy there before the step ended.
    expect(Math.max(...fresh.map(id => healthyAt(second!, id)!))).toBeGreaterThan(
      Math.max(...fresh.map(id => healthyAt(first!, id)!))
    )
    // The old tasks were draining, not stopped, when the step returned: it did not wait for them.
    const drained = changes.filter(c => old.includes(c.id) && c.state === 'unused')
    expect(drained.every(c => c.at > endedAt)).toBe(true)
    expect(
      ecs
        .tasks('payments', 'api')
        .filter(t => t.containers[0]?.image === 'local/api:v1' && t.lastStatus !== 'STOPPED')
    ).not.toHaveLength(0)
    expect(run.summary).toMatch(/still draining/)
  })

  it('fails as today when the new revision fails before it serves, and the previous one comes back', async () => {
    addService([{}])
    ecs.setImageBehaviour('local/api:bad', { outcome: 'crash', afterMs: 100, exitCode: 1 })
    const run = await deploy({ image: 'local/api:bad', 'wait-until': 'serving' })
    expect(run.outputs.status).toBe('rolled-back')
    expect(run.exitCode).not.toBe(0)
    expect(run.stdout.split('\n').filter(l => l.startsWith('::error::'))[0]).toMatch(
      /circuit breaker/
    )
  })

  it('does not call a revision serving when a new task turns unhealthy before the old ones leave', async () => {
    // One new task at a time (maximumPercent 150), and the first to pass its checks fails them
    // again at once: the second old task still serves while it does.
    const [group] = addService([{}], { maximumPercent: 150, failureThreshold: 1 })
    // The second new task comes up well after the first one has failed its checks.
    ecs.setImageBehaviour('local/api:v2', { outcome: 'healthy', startDelayMs: 1000 })
    let flipped = ''
    elb.model.onTargetChange((_group, target, _from, to) => {
      if (!flipped && to === 'healthy' && ipsOf('local/api:v2').includes(target.id)) {
        flipped = target.id
        elb.model.forceHealth(target.id, false)
      }
    })
    const run = await deploy({ image: 'local/api:v2', 'wait-until': 'serving' })
    expect(flipped).not.toBe('')
    // It turned unhealthy while an old task was still healthy in the group.
    const unhealthyAt = changes.find(c => c.id === flipped && c.state === 'unhealthy')!.at
    const oldLeft = changes.filter(
      c => c.group === group && ipsOf('local/api:v1').includes(c.id) && c.state === 'draining'
    )
    expect(oldLeft.filter(c => c.at <= unhealthyAt).length).toBeLessThan(2)
    expect(unhealthyAt).toBeLessThan(run.startedAt + run.durationMs)
    expect(run.outputs.status).toBe('rolled-back')
    expect(run.stdout).toMatch(/failed ELB health checks/)
  })
})

describe('the phase report of a rollout', () => {
  const longestLine = (stdout: string) =>
    stdout
      .split('\n')
      .find(l =>
        /^(Old tasks drained|New tasks went|The image pull|Provisioning took|Container start took)/.test(
          l
        )
      ) ?? ''

  it("names the deregistration delay with AWS's defaults, in the log and the summary", async () => {
    addService([{}])
    const run = await deploy({ image: 'local/api:v2' })
    expect(run.outputs.status).toBe('succeeded')
    expect(longestLine(run.stdout)).toMatch(
      /^Old tasks drained for \S+ of this \S+ deploy: deregistration_delay.timeout_seconds is 300 on target group api-1\. If the service's requests finish within 30 s, 30 would shrink this deploy by about /
    )
    expect(run.summary).toContain(longestLine(run.stdout))
    expect(run.summary).toMatch(/Floor for these settings: /)
    expect(run.summary).toMatch(/section Phases/)
    expect(run.stdout).toMatch(/the phase report took 5 read calls/)
  })

  it('names the health check interval when new targets take longest to pass', async () => {
    // A short drain and a long interval between health checks.
    addService([{ healthCheckIntervalSeconds: 100, deregistrationDelaySeconds: 5 }])
    const run = await deploy({ image: 'local/api:v2' })
    expect(run.outputs.status).toBe('succeeded')
    expect(longestLine(run.stdout)).toMatch(
      /^New tasks went from registration to healthy in \S+ of this \S+ deploy \(healthy inferred from ECS starting to drain the old tasks.*HealthCheckIntervalSeconds is 100 on target group api-1.*An interval of 10 s would shrink this deploy by about /
    )
  })

  it('names the image pull when that takes longest', async () => {
    addService([{ healthCheckIntervalSeconds: 5, deregistrationDelaySeconds: 5 }])
    ecs.setImageStartTimes('local/api:v2', { provisioningMs: 100, pullMs: 2000 })
    ecs.setImageBehaviour('local/api:v2', { outcome: 'healthy', startDelayMs: 2200 })
    const run = await deploy({ image: 'local/api:v2' })
    expect(longestLine(run.stdout)).toMatch(/^The image pull took 2s of this \S+ deploy/)
  })

  it('names provisioning, then the container start, when those take longest', async () => {
    addService([{ healthCheckIntervalSeconds: 5, deregistrationDelaySeconds: 5 }])
    ecs.setImageStartTimes('local/api:v2', { provisioningMs: 2000, pullMs: 100 })
    ecs.setImageBehaviour('local/api:v2', { outcome: 'healthy', startDelayMs: 2200 })
    expect(longestLine((await deploy({ image: 'local/api:v2' })).stdout)).toMatch(
      /^Provisioning took 2s/
    )
    ecs.setImageStartTimes('local/api:v3', { provisioningMs: 100, pullMs: 100 })
    ecs.setImageBehaviour('local/api:v3', { outcome: 'healthy', startDelayMs: 2200 })
    expect(longestLine((await deploy({ image: 'local/api:v3' })).stdout)).toMatch(
      /^Container start took 2s/
    )
  })
})
