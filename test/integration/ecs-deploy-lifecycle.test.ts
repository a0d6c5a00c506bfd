/**
 * lifecycle.ts against the ECS stand-in through the real SDK and EcsGateway: the watch of a
 * BLUE_GREEN, LINEAR or CANARY service deployment, and the rollback by StopServiceDeployment,
 * in the three cases of each strategy (success, a failure during the traffic shift, a failed
 * gate during bake time), and a StopServiceDeployment whose reply is lost.
 */
import { ECSClient } from '@aws-sdk/client-ecs'
import { clientSettings } from '../../actions/shared/aws.js'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import { realClock } from '../../actions/shared/runner.js'
import { EcsGateway } from '../../actions/ecs-deploy/ecs.js'
import {
  rollBackServiceDeployment,
  watchServiceDeployment,
  type LifecycleWatchRequest
} from '../../actions/ecs-deploy/lifecycle.js'
import { ourServiceDeploymentArn } from '../../actions/ecs-deploy/service-deployment.js'
import {
  LIFECYCLE_STAGES,
  startEcsStandin,
  type AddServiceSpec,
  type DeploymentStrategy,
  type EcsStandin
} from '../../tools/ecs-standin/server.js'
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js'
import { RecordingRunner } from '../support/runner.js'

const TICK_MS = 20
const POLL_MS = 15
const HOOK = 'arn:aws:lambda:eu-west-1:123456789012:function:check-green'

const closing: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  await Promise.all(closing.splice(0).map(c => c.close()))
})

const STRATEGY: Record<Exclude<DeploymentStrategy, 'ROLLING'>, Partial<AddServiceSpec>> = {
  BLUE_GREEN: {},
  LINEAR: { linearConfiguration: { stepPercent: 50, stepBakeTimeInMinutes: 1 } },
  CANARY: { canaryConfiguration: { canaryPercent: 20, canaryBakeTimeInMinutes: 1 } }
}

interface Setup {
  standin: EcsStandin
  ecs: EcsGateway
  runner: RecordingRunner
  v1: string
  v2: string
  proxy?: FaultProxy
}

async function setup(spec: Partial<AddServiceSpec>, withProxy = false): Promise<Setup> {
  const standin = await startEcsStandin({ tickMs: TICK_MS })
  closing.push(standin)
  standin.addCluster('prod')
  const v1 = standin.registerTaskDefinition({
    family: 'api',
    containerDefinitions: [{ name: 'api', image: 'registry/api:v1' }]
  })
  const v2 = standin.registerTaskDefinition({
    family: 'api',
    containerDefinitions: [{ name: 'api', image: 'registry/api:v2' }]
  })
  standin.setImageBehaviour('registry/api:v2', { outcome: 'healthy', startDelayMs: 2 * TICK_MS })
  standin.addService({
    cluster: 'prod',
    name: 'api',
    taskDefinition: v1,
    desiredCount: 2,
    circuitBreaker: { enable: true, rollback: true },
    stageMs: 40,
    minuteMs: 100,
    bakeTimeInMinutes: 2,
    ...spec
  })
  const proxy = withProxy ? await startFaultProxy(standin.endpoint) : undefined
  if (proxy) closing.push(proxy)
  const client = new ECSClient({
    ...clientSettings('eu-west-1', {}, 'caller'),
    endpoint: proxy?.endpoint ?? standin.endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' }
  })
  const caller = new AwsCaller({
    clock: realClock,
    deadline: Date.now() + 20_000,
    attemptTimeoutMs: 2000,
    backoffMs: 10,
    maxBackoffMs: 50
  })
  return {
    standin,
    ecs: new EcsGateway(client, caller),
    runner: new RecordingRunner(),
    v1,
    v2,
    proxy
  }
}

/** UpdateService as main.ts sends it; the request a watch of its service deployment needs. */
async function update(s: Setup): Promise<Omit<LifecycleWatchRequest, 'until'>> {
  const before = await s.ecs.describeService('prod', 'api')
  const updated = await s.ecs.updateService({
    cluster: 'prod',
    service: 'api',
    taskDefinition: s.v2,
    forceNewDeployment: true,
    prior: {
      deploymentIds: (before.deployments ?? []).map(d => d.id ?? ''),
      taskDefinition: before.taskDefinition
    }
  })
  // As main.ts finds it: the reply's currentServiceDeployment may still be the previous one.
  const serviceDeploymentArn = await ourServiceDeploymentArn(s.ecs, realClock, s.runner, {
    cluster: 'prod',
    service: 'api',
    pollMs: POLL_MS,
    deadline: Date.now() + 15_000,
    before,
    updated,
    taskDefinition: s.v2
  })
  expect(serviceDeploymentArn).not.toBe(before.currentServiceDeployment)
  return {
    cluster: 'prod',
    service: 'api',
    serviceDeploymentArn,
    earlier: [before.currentServiceDeployment!],
    deployment: { id: updated.deployment!.id!, taskDefinition: s.v2 },
    since: updated.startedAt,
    deadline: Date.now() + 15_000,
    pollMs: POLL_MS,
    events: { since: updated.startedAt - 1000, seen: new Set() }
  }
}

const count = (standin: EcsStandin, operation: string) =>
  standin.calls.filter(c => c.operation === operation).length
/** The stages the stage lines name, each once in a row (a traffic step prints its stage again). */
const stagesPrinted = (runner: RecordingRunner) =>
  runner.lines.reduce<string[]>((stages, line) => {
    const stage = /since the update\] ([A-Z_]+)/.exec(line)?.[1]
    return stage && stages.at(-1) !== stage ? [...stages, stage] : stages
  }, [])

describe.each(Object.keys(STRATEGY) as Array<keyof typeof STRATEGY>)('%s', strategy => {
  it('success: every stage is printed in order, and the watch ends SUCCESSFUL on the new revision', async () => {
    const s = await setup({ strategy, ...STRATEGY[strategy] })
    const request = await update(s)
    const result = await watchServiceDeployment(s.ecs, s.runner, realClock, {
      ...request,
      until: 'steady'
    })
    expect(result).toMatchObject({ kind: 'succeeded', reached: 'steady' })
    // PRE_PRODUCTION_TRAFFIC_SHIFT, then PRODUCTION_TRAFFIC_SHIFT, for each traffic step.
    const steps = strategy === 'BLUE_GREEN' ? 1 : 2
    const stages = LIFECYCLE_STAGES.filter(x => x !== 'RECONCILE_SERVICE')
    const shift = stages.indexOf('PRE_PRODUCTION_TRAFFIC_SHIFT')
    expect(stagesPrinted(s.runner)).toEqual([
      ...stages.slice(0, shift),
      ...Array.from({ length: steps }, () => stages.slice(shift, shift + 2)).flat(),
      ...stages.slice(shift + 2)
    ])
    expect(result.stages.map(v => v.stage)).toEqual(stagesPrinted(s.runner))
    if (strategy !== 'BLUE_GREEN')
      expect(s.runner.log).toMatch(
        /PRODUCTION_TRAFFIC_SHIFT: production traffic (50|20) % on the new revision/
      )
    expect(s.standin.service('prod', 'api').taskDefinition).toBe(s.v2)
    expect(count(s.standin, 'UpdateService')).toBe(1)
    expect(count(s.standin, 'StopServiceDeployment')).toBe(0)
  })

  it('failure during the traffic shift: the failed hook ends the watch, then ECS rolls back by itself', async () => {
    const s = await setup({
      strategy,
      ...STRATEGY[strategy],
      lifecycleHooks: [{ hookTargetArn: HOOK, lifecycleStages: ['PRODUCTION_TRAFFIC_SHIFT'] }]
    })
    s.standin.setHookBehaviour(HOOK, { results: ['FAILED'] })
    const request = await update(s)
    const failed = await watchServiceDeployment(s.ecs, s.runner, realClock, {
      ...request,
      until: 'steady'
    })
    expect(failed).toMatchObject({
      kind: 'failed',
      cause: 'rollout-failed',
      ecsRollingBack: true
    })
    expect(failed.kind === 'failed' && failed.reason).toMatch(/check-green FAILED|Lifecycle hook/)
    expect(failed.stages.at(-1)!.stage).toBe('PRODUCTION_TRAFFIC_SHIFT')
    const rolledBack = await watchServiceDeployment(s.ecs, s.runner, realClock, {
      ...request,
      until: 'rolled-back'
    })
    expect(rolledBack).toMatchObject({ kind: 'succeeded', reached: 'rolled-back' })
    expect(s.standin.service('prod', 'api').taskDefinition).toBe(s.v1)
    expect(count(s.standin, 'UpdateService')).toBe(1)
    expect(count(s.standin, 'StopServiceDeployment')).toBe(0)
  })

  it('failure during bake time: traffic-shifted returns at BAKE_TIME, one StopServiceDeployment puts the previous revision back', async () => {
    const s = await setup({ strategy, ...STRATEGY[strategy], bakeTimeInMinutes: 50 })
    const request = await update(s)
    const shifted = await watchServiceDeployment(s.ecs, s.runner, realClock, {
      ...request,
      until: 'traffic-shifted'
    })
    expect(shifted).toMatchObject({ kind: 'succeeded', reached: 'traffic-shifted' })
    expect(shifted.stages.at(-1)!.stage).toBe('BAKE_TIME')
    // The smoke gate failed here: roll back while the previous revision still runs.
    const rollback = await rollBackServiceDeployment(s.ecs, s.runner, realClock, request)
    expect(rollback.kind).toBe('stopped')
    if (rollback.kind !== 'stopped') return
    expect(rollback).toMatchObject({ readBack: false, result: { kind: 'succeeded' } })
    // The stand-in switches traffic with the call: the first look after it sees it.
    expect(rollback.trafficReturnedMs).toBeLessThan(1000)
    expect(s.runner.log).toMatch(
      /Production traffic was back on the previous revision \d+s after the rollback request/
    )
    expect(s.runner.log).toMatch(/\[ROLLBACK_(REQUESTED|IN_PROGRESS|SUCCESSFUL)\]/)
    expect(s.standin.service('prod', 'api').taskDefinition).toBe(s.v1)
    expect(count(s.standin, 'UpdateService')).toBe(1)
    expect(count(s.standin, 'StopServiceDeployment')).toBe(1)
  })
})

describe('rollback while the previous revision runs', () => {
  it('a lost StopServiceDeployment reply is read back as the rollback under way: no second stop', async () => {
    const s = await setup({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 50 }, true)
    const request = await update(s)
    await watchServiceDeployment(s.ecs, s.runner, realClock, {
      ...request,
      until: 'traffic-shifted'
    })
    s.proxy!.inject({ operation: 'StopServiceDeployment', mode: 'reset-after' })
    const rollback = await rollBackServiceDeployment(s.ecs, s.runner, realClock, request)
    expect(rollback).toMatchObject({
      kind: 'stopped',
      readBack: true,
      result: { kind: 'succeeded' }
    })
    expect(s.runner.log).toContain(
      'The reply to StopServiceDeployment was lost; reading it back shows ROLLBACK_'
    )
    expect(count(s.standin, 'StopServiceDeployment')).toBe(1)
    expect(s.standin.service('prod', 'api').taskDefinition).toBe(s.v1)
  })

  it('a stop that never reached ECS is sent again once the read-back shows it still under way', async () => {
    const s = await setup({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 50 }, true)
    const request = await update(s)
    await watchServiceDeployment(s.ecs, s.runner, realClock, {
      ...request,
      until: 'traffic-shifted'
    })
    s.proxy!.inject({ operation: 'StopServiceDeployment', mode: 'reset-before' })
    const rollback = await rollBackServiceDeployment(s.ecs, s.runner, realClock, request)
    expect(rollback).toMatchObject({
      kind: 'stopped',
      readBack: false,
      result: { kind: 'succeeded' }
    })
    expect(s.proxy!.calls.filter(c => c.operation === 'StopServiceDeployment')).toHaveLength(2)
    expect(count(s.standin, 'StopServiceDeployment')).toBe(1)
  })

  it('says when a stop cannot help: in CLEAN_UP the previous revision is already going', async () => {
    const s = await setup({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 0, stageMs: 300 })
    const request = await update(s)
    for (;;) {
      const sd = await s.ecs.describeServiceDeployment(request.serviceDeploymentArn)
      if (sd.lifecycleStage === 'CLEAN_UP') break
      await new Promise(done => setTimeout(done, 10))
    }
    const rollback = await rollBackServiceDeployment(s.ecs, s.runner, realClock, request)
    expect(rollback).toEqual({
      kind: 'not-possible',
      why: 'the previous revision is being scaled down (CLEAN_UP)'
    })
    expect(count(s.standin, 'StopServiceDeployment')).toBe(0)
  })
})
