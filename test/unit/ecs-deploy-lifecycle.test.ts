import type { Service, ServiceDeployment } from '@aws-sdk/client-ecs'
import { Inputs } from '../../actions/shared/inputs.js'
import {
  decide,
  describeStrategy,
  judgeServiceDeployment,
  lifecycleStrategy,
  readWaitUntil,
  rollbackPossibility,
  stageKey,
  stageLine,
  stagesBetween
} from '../../actions/ecs-deploy/lifecycle.js'

const ARN = 'arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/api/aaaa'
const OTHER = 'arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/api/bbbb'
const HOOK = 'arn:aws:lambda:eu-west-1:123456789012:function:check-green'

function sd(fields: Partial<ServiceDeployment> = {}): ServiceDeployment {
  return {
    serviceDeploymentArn: ARN,
    status: 'IN_PROGRESS',
    lifecycleStage: 'SCALE_UP',
    sourceServiceRevisions: [
      { arn: 'rev-blue', requestedProductionTrafficWeight: 100, requestedTestTrafficWeight: 100 }
    ],
    targetServiceRevision: {
      arn: 'rev-green',
      requestedProductionTrafficWeight: 0,
      requestedTestTrafficWeight: 0
    },
    ...fields
  }
}

function service(fields: Partial<Service> = {}): Service {
  return {
    currentServiceDeployment: ARN,
    deploymentConfiguration: {
      strategy: 'BLUE_GREEN',
      deploymentCircuitBreaker: { enable: true, rollback: true }
    },
    deployments: [{ id: 'ecs-svc/1', status: 'PRIMARY', desiredCount: 2, failedTasks: 0 }],
    ...fields
  }
}

const traffic = (production: number, test = 100) => ({
  targetServiceRevision: {
    arn: 'rev-green',
    requestedProductionTrafficWeight: production,
    requestedTestTrafficWeight: test
  }
})

describe('wait-until', () => {
  const read = (value: string) => readWaitUntil(new Inputs(() => value))
  it('defaults to steady and takes traffic-shifted', () => {
    expect(read('')).toBe('steady')
    expect(read('traffic-shifted')).toBe('traffic-shifted')
    expect(read('test-traffic')).toBe('test-traffic')
  })
  it('refuses anything else, naming the input, the value and the choices', () => {
    expect(() => read('baked')).toThrow(
      /^Input 'wait-until' is 'baked': use steady .*, traffic-shifted .*, test-traffic .* or serving/
    )
  })
})

describe('lifecycleStrategy', () => {
  it('is the strategy for BLUE_GREEN, LINEAR and CANARY on the ECS controller only', () => {
    for (const strategy of ['BLUE_GREEN', 'LINEAR', 'CANARY'] as const)
      expect(lifecycleStrategy(service({ deploymentConfiguration: { strategy } }))).toBe(strategy)
    expect(lifecycleStrategy(service({ deploymentConfiguration: { strategy: 'ROLLING' } }))).toBe(
      undefined
    )
    expect(lifecycleStrategy(service({ deploymentConfiguration: {} }))).toBe(undefined)
    expect(
      lifecycleStrategy(
        service({
          deploymentController: { type: 'CODE_DEPLOY' },
          deploymentConfiguration: { strategy: 'BLUE_GREEN' }
        })
      )
    ).toBe(undefined)
  })
  it('describes how each moves traffic', () => {
    expect(
      describeStrategy(
        service({
          deploymentConfiguration: {
            strategy: 'LINEAR',
            bakeTimeInMinutes: 5,
            linearConfiguration: { stepPercent: 20, stepBakeTimeInMinutes: 2 }
          }
        })
      )
    ).toBe('LINEAR (20 % every 2 min, bake time 5 min)')
    expect(
      describeStrategy(
        service({
          deploymentConfiguration: {
            strategy: 'CANARY',
            canaryConfiguration: { canaryPercent: 10, canaryBakeTimeInMinutes: 3 }
          }
        })
      )
    ).toBe('CANARY (10 % for 3 min, then the rest, bake time 0 min)')
    expect(describeStrategy(service({ deploymentConfiguration: {} }))).toBe('ROLLING')
  })
})

describe('judgeServiceDeployment', () => {
  const judge = (d: ServiceDeployment, s: Service = service()) =>
    judgeServiceDeployment(d, { service: s, deploymentId: 'ecs-svc/1' })

  it('is in progress before bake time, traffic-shifted from bake time on, succeeded when SUCCESSFUL', () => {
    expect(judge(sd({ lifecycleStage: 'PRODUCTION_TRAFFIC_SHIFT', ...traffic(50) }))).toEqual({
      kind: 'in-progress'
    })
    expect(judge(sd({ lifecycleStage: 'POST_PRODUCTION_TRAFFIC_SHIFT' }))).toEqual({
      kind: 'in-progress'
    })
    expect(judge(sd({ lifecycleStage: 'BAKE_TIME' }))).toEqual({ kind: 'traffic-shifted' })
    expect(judge(sd({ lifecycleStage: 'CLEAN_UP' }))).toEqual({ kind: 'traffic-shifted' })
    expect(judge(sd({ status: 'SUCCESSFUL', lifecycleStage: 'CLEAN_UP' }))).toEqual({
      kind: 'succeeded'
    })
  })

  it("a rollback under way is a failure ECS handles itself, with ECS's reason", () => {
    for (const status of ['ROLLBACK_REQUESTED', 'ROLLBACK_IN_PROGRESS'] as const) {
      expect(
        judge(
          sd({
            status,
            statusReason: 'Lifecycle hook x failed.',
            rollback: { reason: 'hook failed at PRODUCTION_TRAFFIC_SHIFT.' }
          })
        )
      ).toEqual({
        kind: 'failed',
        cause: 'rollout-failed',
        reason: 'hook failed at PRODUCTION_TRAFFIC_SHIFT',
        ecsRollingBack: true
      })
    }
    expect(judge(sd({ status: 'ROLLBACK_SUCCESSFUL', statusReason: 'breaker tripped.' }))).toEqual({
      kind: 'rolled-back',
      reason: 'breaker tripped'
    })
  })

  it('a failed rollback and a stop without rollback are failures nobody is fixing', () => {
    expect(judge(sd({ status: 'ROLLBACK_FAILED', statusReason: 'no capacity' }))).toMatchObject({
      kind: 'failed',
      reason: 'no capacity; the rollback failed as well',
      ecsRollingBack: false
    })
    expect(judge(sd({ status: 'STOPPED', statusReason: 'tasks failed to start' }))).toMatchObject({
      kind: 'failed',
      reason: 'tasks failed to start',
      ecsRollingBack: false
    })
    expect(judge(sd({ status: 'STOPPED' }))).toMatchObject({
      reason: 'ECS reports service deployment api/aaaa STOPPED'
    })
  })

  it('another current service deployment supersedes ours, whether ours is stopped or not yet', () => {
    const replaced = service({ currentServiceDeployment: OTHER })
    for (const status of ['STOPPED', 'IN_PROGRESS'] as const) {
      expect(judge(sd({ status }), replaced)).toEqual({
        kind: 'superseded',
        by: OTHER,
        reason: 'service deployment api/bbbb replaced api/aaaa'
      })
    }
  })

  it('a failed hook fails the deployment on the look that sees it, before ECS changes the status', () => {
    expect(
      judge(
        sd({
          lifecycleStage: 'POST_TEST_TRAFFIC_SHIFT',
          lifecycleHookDetails: [{ targetArn: HOOK, status: 'FAILED' }]
        })
      )
    ).toEqual({
      kind: 'failed',
      cause: 'rollout-failed',
      reason: 'lifecycle hook check-green FAILED at POST_TEST_TRAFFIC_SHIFT',
      ecsRollingBack: true
    })
    expect(
      judge(
        sd({
          lifecycleHookDetails: [
            { targetArn: HOOK, status: 'TIMED_OUT', timeoutAction: 'CONTINUE' }
          ]
        })
      )
    ).toMatchObject({ kind: 'failed', ecsRollingBack: false })
    expect(
      judge(sd({ lifecycleHookDetails: [{ targetArn: HOOK, status: 'IN_PROGRESS' }] }))
    ).toEqual({ kind: 'in-progress' })
  })

  it('a tripped breaker fails it; ECS rolls back only with the rollback option', () => {
    const tripped = sd({ deploymentCircuitBreaker: { status: 'TRIGGERED', failureCount: 3 } })
    expect(judge(tripped)).toMatchObject({
      kind: 'failed',
      reason: 'the deployment circuit breaker tripped after 3 failed tasks',
      ecsRollingBack: true
    })
    const noRollback = service({
      deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: false } }
    })
    expect(judge(tripped, noRollback)).toMatchObject({ kind: 'failed', ecsRollingBack: false })
  })

  it('without a breaker, tasks failing past the threshold fail it fast', () => {
    const failing = (failedTasks: number) =>
      service({
        deploymentConfiguration: { deploymentCircuitBreaker: { enable: false, rollback: false } },
        deployments: [{ id: 'ecs-svc/1', status: 'PRIMARY', desiredCount: 2, failedTasks }]
      })
    expect(judge(sd(), failing(2))).toEqual({ kind: 'in-progress' })
    expect(judge(sd(), failing(3))).toEqual({
      kind: 'failed',
      cause: 'tasks-failing',
      reason:
        '3 tasks failed to start and the service has no deployment circuit breaker to stop the rollout',
      ecsRollingBack: false
    })
  })
})

describe('decide', () => {
  it('ends a steady watch only on success or failure, a traffic-shifted one at bake time', () => {
    expect(decide({ kind: 'traffic-shifted' }, 'steady')).toBe(undefined)
    expect(decide({ kind: 'traffic-shifted' }, 'traffic-shifted')).toBe('succeeded')
    expect(decide({ kind: 'succeeded' }, 'traffic-shifted')).toBe('succeeded')
    expect(decide({ kind: 'rolled-back', reason: 'x' }, 'steady')).toBe('failed')
    expect(decide({ kind: 'superseded', by: OTHER, reason: 'x' }, 'steady')).toBe('superseded')
    expect(decide({ kind: 'in-progress' }, 'steady')).toBe(undefined)
  })
  it('a rollback watch waits through ECS rolling back, and fails if the deployment completed instead', () => {
    const rollingBack = {
      kind: 'failed' as const,
      cause: 'rollout-failed' as const,
      reason: 'x',
      ecsRollingBack: true
    }
    expect(decide(rollingBack, 'rolled-back')).toBe(undefined)
    expect(decide({ ...rollingBack, ecsRollingBack: false }, 'rolled-back')).toBe('failed')
    expect(decide({ kind: 'rolled-back', reason: 'x' }, 'rolled-back')).toBe('succeeded')
    expect(decide({ kind: 'succeeded' }, 'rolled-back')).toBe('failed')
    expect(decide({ kind: 'traffic-shifted' }, 'rolled-back')).toBe(undefined)
  })
})

describe('rollbackPossibility', () => {
  it('is possible while under way and the previous revision runs, up to CLEAN_UP', () => {
    for (const stage of ['PRE_SCALE_UP', 'PRODUCTION_TRAFFIC_SHIFT', 'BAKE_TIME'] as const)
      expect(rollbackPossibility(sd({ lifecycleStage: stage }))).toEqual({ possible: true })
    expect(rollbackPossibility(sd({ lifecycleStage: 'CLEAN_UP' }))).toEqual({
      possible: false,
      why: 'the previous revision is being scaled down (CLEAN_UP)'
    })
  })
  it('is not possible when ECS already rolls back, when it ended, or on a first deployment', () => {
    expect(rollbackPossibility(sd({ status: 'ROLLBACK_IN_PROGRESS' }))).toEqual({
      possible: false,
      why: 'ECS is already rolling it back'
    })
    expect(rollbackPossibility(sd({ status: 'SUCCESSFUL' }))).toMatchObject({
      why: 'the service deployment has ended (SUCCESSFUL)'
    })
    expect(rollbackPossibility(sd({ sourceServiceRevisions: [] }))).toMatchObject({
      why: 'there is no previous revision: it is the first deployment'
    })
  })
})

describe('stageLine', () => {
  it('says the time since the update and the stage', () => {
    expect(stageLine(sd({ lifecycleStage: 'SCALE_UP' }), 65_000)).toBe(
      '[1m05s since the update] SCALE_UP: production traffic on the previous revision'
    )
  })
  it('gives the production split of a linear or canary step, and test traffic before production', () => {
    expect(
      stageLine(sd({ lifecycleStage: 'PRODUCTION_TRAFFIC_SHIFT', ...traffic(25) }), 1000)
    ).toBe(
      '[1s since the update] PRODUCTION_TRAFFIC_SHIFT: production traffic 25 % on the new revision, 75 % on the previous one; test traffic on the new revision'
    )
    expect(stageLine(sd({ lifecycleStage: 'TEST_TRAFFIC_SHIFT', ...traffic(0, 100) }), 0)).toBe(
      '[0s since the update] TEST_TRAFFIC_SHIFT: production traffic on the previous revision; test traffic on the new revision'
    )
    expect(stageLine(sd({ lifecycleStage: 'BAKE_TIME', ...traffic(100) }), 0)).toBe(
      '[0s since the update] BAKE_TIME: production traffic on the new revision'
    )
  })
  it('lists hook states and a status other than IN_PROGRESS', () => {
    expect(
      stageLine(
        sd({
          status: 'ROLLBACK_IN_PROGRESS',
          lifecycleStage: 'POST_SCALE_UP',
          lifecycleHookDetails: [
            { targetArn: HOOK, status: 'FAILED' },
            { targetType: 'PAUSE', status: 'AWAITING_ACTION' }
          ]
        }),
        2000
      )
    ).toBe(
      '[2s since the update] POST_SCALE_UP [ROLLBACK_IN_PROGRESS]: production traffic on the previous revision; hooks: check-green FAILED, pause hook AWAITING_ACTION'
    )
  })
  it('changes its key with the stage, the traffic split and the hooks only', () => {
    const base = sd({ lifecycleStage: 'PRODUCTION_TRAFFIC_SHIFT', ...traffic(25) })
    expect(stageKey({ ...base, updatedAt: new Date() })).toBe(stageKey(base))
    expect(stageKey({ ...base, ...traffic(50) })).not.toBe(stageKey(base))
    expect(stageKey({ ...base, lifecycleStage: 'BAKE_TIME' })).not.toBe(stageKey(base))
    expect(
      stageKey({ ...base, lifecycleHookDetails: [{ targetArn: HOOK, status: 'SUCCEEDED' }] })
    ).not.toBe(stageKey(base))
  })
})

describe('stagesBetween', () => {
  it('names the stages passed between two looks, in ECS order', () => {
    expect(stagesBetween('PRE_SCALE_UP', 'TEST_TRAFFIC_SHIFT')).toEqual([
      'SCALE_UP',
      'POST_SCALE_UP'
    ])
    expect(stagesBetween('SCALE_UP', 'POST_SCALE_UP')).toEqual([])
  })
  it('before the first look, the stages from PRE_SCALE_UP on; never RECONCILE_SERVICE', () => {
    expect(stagesBetween(undefined, 'POST_SCALE_UP')).toEqual(['PRE_SCALE_UP', 'SCALE_UP'])
    expect(stagesBetween(undefined, 'PRE_SCALE_UP')).toEqual([])
    expect(stagesBetween('RECONCILE_SERVICE', 'SCALE_UP')).toEqual(['PRE_SCALE_UP'])
  })
  it('infers nothing from a stage it does not know, or going backwards', () => {
    expect(stagesBetween('SOMETHING_NEW', 'BAKE_TIME')).toEqual([])
    expect(stagesBetween('BAKE_TIME', 'SCALE_UP')).toEqual([])
  })
})

describe('describeStrategy, with what ECS leaves unset', () => {
  const described = (deploymentConfiguration: Service['deploymentConfiguration']) =>
    describeStrategy(service({ deploymentConfiguration }))

  it('BLUE_GREEN moves all production traffic at once, after its bake time', () => {
    expect(described({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 15 })).toBe(
      'BLUE_GREEN (all production traffic at once, bake time 15 min)'
    )
  })
  it("LINEAR and CANARY without their settings use ECS's defaults", () => {
    expect(described({ strategy: 'LINEAR' })).toBe('LINEAR (10 % every 6 min, bake time 0 min)')
    expect(described({ strategy: 'CANARY', bakeTimeInMinutes: 2 })).toBe(
      'CANARY (5 % for 10 min, then the rest, bake time 2 min)'
    )
  })
  it('a service on another controller is described as rolling', () => {
    expect(
      describeStrategy(
        service({
          deploymentController: { type: 'EXTERNAL' },
          deploymentConfiguration: { strategy: 'CANARY' }
        })
      )
    ).toBe('ROLLING')
    expect(
      lifecycleStrategy(
        service({
          deploymentController: { type: 'ECS' },
          deploymentConfiguration: { strategy: 'LINEAR' }
        })
      )
    ).toBe('LINEAR')
  })
})

describe('judgeServiceDeployment, the less common looks', () => {
  const judge = (d: ServiceDeployment, s: Service = service()) =>
    judgeServiceDeployment(d, { service: s, deploymentId: 'ecs-svc/1' })

  it('a stop requested without a rollback is a failure nobody is fixing', () => {
    expect(judge(sd({ status: 'STOP_REQUESTED', statusReason: 'stopped by a user.' }))).toEqual({
      kind: 'failed',
      cause: 'rollout-failed',
      reason: 'stopped by a user',
      ecsRollingBack: false
    })
  })

  it("drops only the full stop ending ECS's reason", () => {
    expect(
      judge(sd({ status: 'ROLLBACK_SUCCESSFUL', statusReason: 'image v1.2.3 failed.' }))
    ).toEqual({ kind: 'rolled-back', reason: 'image v1.2.3 failed' })
    expect(judge(sd({ status: 'STOPPED', statusReason: 'version 1.2' }))).toMatchObject({
      reason: 'version 1.2'
    })
  })

  it('a deployment with no status yet is under way', () => {
    expect(judge(sd({ status: undefined }))).toEqual({ kind: 'in-progress' })
    expect(judgeServiceDeployment(sd({ status: 'PENDING' }))).toEqual({ kind: 'in-progress' })
  })

  it('a service without a current service deployment does not supersede ours', () => {
    expect(judge(sd(), service({ currentServiceDeployment: undefined }))).toEqual({
      kind: 'in-progress'
    })
  })

  it('a hook timing out with the ROLLBACK action is rolled back by ECS; a hook outside a stage says so', () => {
    expect(
      judge(
        sd({
          lifecycleStage: undefined,
          lifecycleHookDetails: [
            { targetArn: HOOK, status: 'SUCCEEDED' },
            { targetArn: HOOK, status: 'TIMED_OUT', timeoutAction: 'ROLLBACK' }
          ]
        })
      )
    ).toEqual({
      kind: 'failed',
      cause: 'rollout-failed',
      reason: 'lifecycle hook check-green TIMED_OUT at its stage',
      ecsRollingBack: true
    })
  })

  it('a breaker that tripped without a count says so', () => {
    expect(judge(sd({ deploymentCircuitBreaker: { status: 'TRIGGERED' } }))).toMatchObject({
      reason: 'the deployment circuit breaker tripped after ? failed tasks'
    })
    expect(
      judge(sd({ deploymentCircuitBreaker: { status: 'MONITORING', failureCount: 1 } }))
    ).toEqual({ kind: 'in-progress' })
  })

  it('failing tasks count only for our deployment, and only when the service was read', () => {
    const failing = service({
      deploymentConfiguration: { deploymentCircuitBreaker: { enable: false, rollback: false } },
      deployments: [{ id: 'ecs-svc/9', status: 'PRIMARY', desiredCount: 2, failedTasks: 5 }]
    })
    expect(judge(sd(), failing)).toEqual({ kind: 'in-progress' })
    expect(judgeServiceDeployment(sd(), { deploymentId: 'ecs-svc/9' })).toEqual({
      kind: 'in-progress'
    })
    expect(judge(sd(), service({ deployments: undefined }))).toEqual({ kind: 'in-progress' })
  })
})

describe('rollbackPossibility, the less common looks', () => {
  it('a deployment with no status yet, or PENDING, can be rolled back', () => {
    expect(rollbackPossibility(sd({ status: undefined }))).toEqual({ possible: true })
    expect(rollbackPossibility(sd({ status: 'PENDING' }))).toEqual({ possible: true })
  })
  it('one with no previous revisions listed cannot; one stopped has ended', () => {
    expect(rollbackPossibility(sd({ sourceServiceRevisions: undefined }))).toEqual({
      possible: false,
      why: 'there is no previous revision: it is the first deployment'
    })
    expect(rollbackPossibility(sd({ status: 'ROLLBACK_REQUESTED' }))).toEqual({
      possible: false,
      why: 'ECS is already rolling it back'
    })
    expect(rollbackPossibility(sd({ status: 'STOPPED' }))).toEqual({
      possible: false,
      why: 'the service deployment has ended (STOPPED)'
    })
  })
})

describe('stageLine, the less common looks', () => {
  it('a fractional step is shown to one decimal, and partial test traffic with its percent', () => {
    expect(
      stageLine(sd({ lifecycleStage: 'PRODUCTION_TRAFFIC_SHIFT', ...traffic(33.333, 50) }), 0)
    ).toBe(
      '[0s since the update] PRODUCTION_TRAFFIC_SHIFT: production traffic 33.3 % on the new revision, 66.7 % on the previous one; test traffic 50 % on the new revision'
    )
  })
  it('without a target revision: only the test traffic ECS reports, or nothing but the stage', () => {
    expect(
      stageLine(
        sd({
          status: undefined,
          lifecycleStage: 'TEST_TRAFFIC_SHIFT',
          targetServiceRevision: { arn: 'rev-green', requestedTestTrafficWeight: 100 }
        }),
        0
      )
    ).toBe('[0s since the update] TEST_TRAFFIC_SHIFT: test traffic on the new revision')
    expect(
      stageLine(
        sd({
          status: undefined,
          lifecycleStage: 'RECONCILE_SERVICE',
          targetServiceRevision: undefined
        }),
        3000
      )
    ).toBe('[3s since the update] RECONCILE_SERVICE')
  })
  it('a hook without a state yet is UNKNOWN; a finished status is shown', () => {
    expect(
      stageLine(
        sd({
          status: 'SUCCESSFUL',
          lifecycleStage: 'CLEAN_UP',
          targetServiceRevision: undefined,
          lifecycleHookDetails: [{ targetArn: HOOK }]
        }),
        0
      )
    ).toBe('[0s since the update] CLEAN_UP [SUCCESSFUL]: hooks: check-green UNKNOWN')
  })
  it('the key changes with the test traffic, a hook state and the status', () => {
    const base = sd({
      lifecycleStage: 'TEST_TRAFFIC_SHIFT',
      ...traffic(0, 50),
      lifecycleHookDetails: [{ targetArn: HOOK, status: 'IN_PROGRESS' }]
    })
    expect(stageKey({ ...base, ...traffic(0, 100) })).not.toBe(stageKey(base))
    expect(
      stageKey({ ...base, lifecycleHookDetails: [{ targetArn: HOOK, status: 'SUCCEEDED' }] })
    ).not.toBe(stageKey(base))
    expect(stageKey({ ...base, status: 'ROLLBACK_REQUESTED' })).not.toBe(stageKey(base))
  })
})

describe('stagesBetween, the less common looks', () => {
  it('from RECONCILE_SERVICE or before any look, the stages up to the one seen now', () => {
    expect(stagesBetween(undefined, 'TEST_TRAFFIC_SHIFT')).toEqual([
      'PRE_SCALE_UP',
      'SCALE_UP',
      'POST_SCALE_UP'
    ])
    expect(stagesBetween('RECONCILE_SERVICE', 'PRE_SCALE_UP')).toEqual([])
  })
  it('infers nothing when the stage seen now is one it does not know', () => {
    expect(stagesBetween('PRE_SCALE_UP', 'SOMETHING_NEW')).toEqual([])
    expect(stagesBetween(undefined, 'SOMETHING_NEW')).toEqual([])
    expect(stagesBetween('BAKE_TIME', 'BAKE_TIME')).toEqual([])
  })
})

describe('lifecycle inputs and services read as ECS may send them', () => {
  it('wait-until is read from its own input', () => {
    const inputs = new Inputs(name => (name === 'wait-until' ? 'traffic-shifted' : ''))
    expect(readWaitUntil(inputs)).toBe('traffic-shifted')
  })

  it('a service described without a deployment configuration is rolling', () => {
    const bare = service({ deploymentConfiguration: undefined })
    expect(lifecycleStrategy(bare)).toBe(undefined)
    expect(describeStrategy(bare)).toBe('ROLLING')
  })

  it('a failed rollback and a tripped breaker are failures of the rollout itself', () => {
    const judge = (d: ServiceDeployment, s?: Service) =>
      judgeServiceDeployment(d, { service: s ?? service(), deploymentId: 'ecs-svc/1' })
    expect(judge(sd({ status: 'ROLLBACK_FAILED', statusReason: 'no capacity' }))).toEqual({
      kind: 'failed',
      cause: 'rollout-failed',
      reason: 'no capacity; the rollback failed as well',
      ecsRollingBack: false
    })
    const tripped = sd({ deploymentCircuitBreaker: { status: 'TRIGGERED', failureCount: 2 } })
    expect(judge(tripped)).toEqual({
      kind: 'failed',
      cause: 'rollout-failed',
      reason: 'the deployment circuit breaker tripped after 2 failed tasks',
      ecsRollingBack: true
    })
    // A service whose configuration names no breaker: ECS does not roll back by itself.
    expect(
      judge(tripped, service({ deploymentConfiguration: { strategy: 'BLUE_GREEN' } }))
    ).toMatchObject({ kind: 'failed', ecsRollingBack: false })
  })

  it('a service deployment described without its ARN is left unnamed in the reason', () => {
    const unnamed = sd({ serviceDeploymentArn: undefined })
    expect(
      judgeServiceDeployment(unnamed, { service: service({ currentServiceDeployment: OTHER }) })
    ).toMatchObject({ kind: 'superseded', reason: 'service deployment api/bbbb replaced ' })
    expect(judgeServiceDeployment({ ...unnamed, status: 'STOPPED' })).toMatchObject({
      reason: 'ECS reports service deployment  STOPPED'
    })
  })

  it('a test weight a hair under 100 is all the test traffic', () => {
    expect(
      stageLine(sd({ lifecycleStage: 'TEST_TRAFFIC_SHIFT', ...traffic(0, 100 - 1e-9) }), 0)
    ).toBe(
      '[0s since the update] TEST_TRAFFIC_SHIFT: production traffic on the previous revision; test traffic on the new revision'
    )
  })

  it('an empty hook list and none at all are the same stage', () => {
    expect(stageKey(sd({ lifecycleHookDetails: [] }))).toBe(
      stageKey(sd({ lifecycleHookDetails: undefined }))
    )
  })

  it('CLEAN_UP right after the production traffic shift means bake time passed between looks', () => {
    expect(stagesBetween('POST_PRODUCTION_TRAFFIC_SHIFT', 'CLEAN_UP')).toEqual(['BAKE_TIME'])
  })
})
