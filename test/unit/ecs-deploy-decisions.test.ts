/**
 * The pure decisions of ecs-deploy: a described service in, a verdict out. Each test is named
 * for the behaviour it pins down and fails when that behaviour is removed.
 */
import type { Service } from '@aws-sdk/client-ecs'
import { readBackUpdate, type UpdateRequest } from '../../actions/ecs-deploy/ecs.js'
import {
  previousCandidates,
  ROLLED_BACK_TAG,
  wasRolledBackFrom
} from '../../actions/ecs-deploy/previous.js'
import {
  baselineOf,
  breakerRollsBack,
  failureThreshold,
  formatDuration,
  judgeRollout,
  newEvents,
  progressLine,
  replacementOf
} from '../../actions/ecs-deploy/rollout.js'
import { decideStatus, type StepFacts } from '../../actions/ecs-deploy/status.js'
import { arn, deployment, service } from '../support/ecs-fixtures.js'

const ours = { id: 'ecs-svc/42', taskDefinition: arn('api', 42), baseline: arn('api', 41) }
const breaker = (enable: boolean, rollback: boolean): Partial<Service> => ({
  deploymentConfiguration: { deploymentCircuitBreaker: { enable, rollback } }
})
const rolling = (overrides = {}) =>
  deployment('ecs-svc/42', 42, { rolloutState: 'IN_PROGRESS', runningCount: 0, ...overrides })
const old = () => deployment('ecs-svc/41', 41, { status: 'ACTIVE' })

describe('judgeRollout', () => {
  it('a rollout ECS marks FAILED is a failure at once, with the breaker only stopping it', () => {
    const verdict = judgeRollout(
      service(
        [rolling({ rolloutState: 'FAILED', rolloutStateReason: 'tasks failed to start.' }), old()],
        breaker(true, false)
      ),
      ours
    )
    expect(verdict).toEqual({
      kind: 'failed',
      cause: 'rollout-failed',
      reason: 'tasks failed to start.',
      ecsRollingBack: false
    })
  })

  it('a FAILED rollout on a service whose breaker rolls back says ECS is rolling back', () => {
    const verdict = judgeRollout(
      service([rolling({ rolloutState: 'FAILED' }), old()], breaker(true, true)),
      ours
    )
    expect(verdict).toMatchObject({ kind: 'failed', ecsRollingBack: true })
  })

  it('without a proven baseline, the breaker cannot roll back: nothing to wait for', () => {
    const verdict = judgeRollout(
      service([rolling({ rolloutState: 'FAILED' }), old()], breaker(true, true)),
      { ...ours, baseline: undefined }
    )
    expect(verdict).toMatchObject({ kind: 'failed', ecsRollingBack: false })
  })

  it("a newer PRIMARY on the baseline after ours failed is the breaker's rollback of ours", () => {
    const rollback = deployment('ecs-svc/43', 41, { rolloutState: 'IN_PROGRESS' })
    const failed = rolling({ status: 'ACTIVE', rolloutState: 'FAILED', rolloutStateReason: 'x.' })
    expect(judgeRollout(service([rollback, failed], breaker(true, true)), ours)).toEqual({
      kind: 'failed',
      cause: 'rollout-failed',
      reason: 'x.',
      ecsRollingBack: true
    })
    // Ours already gone: the rollback is recognised by its revision.
    expect(judgeRollout(service([rollback], breaker(true, true)), ours)).toMatchObject({
      kind: 'failed',
      cause: 'replaced',
      ecsRollingBack: true
    })
  })

  it('a newer PRIMARY replaced ours: superseded, naming it, whatever the breaker does', () => {
    const theirs = deployment('ecs-svc/50', 50, { rolloutState: 'IN_PROGRESS' })
    for (const config of [breaker(true, true), breaker(true, false), breaker(false, false)]) {
      const verdict = judgeRollout(service([theirs, rolling({ status: 'ACTIVE' })], config), ours)
      expect(verdict).toMatchObject({
        kind: 'superseded',
        by: { id: 'ecs-svc/50' },
        reason: 'deployment ecs-svc/50 (api:50) replaced deployment ecs-svc/42'
      })
    }
  })

  it('a newer PRIMARY on the baseline while ours was still healthy is not taken for a rollback', () => {
    const manual = deployment('ecs-svc/44', 41, { rolloutState: 'IN_PROGRESS' })
    const verdict = judgeRollout(
      service([manual, rolling({ status: 'ACTIVE' })], breaker(true, true)),
      ours
    )
    expect(verdict.kind).toBe('superseded')
  })

  it('a deployment that completed before a newer one took over is a success, not superseded', () => {
    const next = deployment('ecs-svc/50', 50, { rolloutState: 'IN_PROGRESS' })
    const done = deployment('ecs-svc/42', 42, { status: 'ACTIVE' })
    expect(judgeRollout(service([next, done]), ours)).toEqual({ kind: 'succeeded' })
  })

  it('COMPLETED is success', () => {
    expect(judgeRollout(service([deployment('ecs-svc/42', 42)]), ours)).toEqual({
      kind: 'succeeded'
    })
  })

  it('a FAILED rollout without a reason from ECS says ECS marked it FAILED', () => {
    const failed = rolling({ rolloutState: 'FAILED', rolloutStateReason: undefined })
    expect(judgeRollout(service([failed, old()], breaker(true, false)), ours)).toMatchObject({
      kind: 'failed',
      reason: 'ECS marked the rollout FAILED'
    })
  })

  it("ours gone behind the breaker's rollback says the breaker replaced it, naming the rollback", () => {
    const rollback = deployment('ecs-svc/43', 41, { rolloutState: 'IN_PROGRESS' })
    expect(judgeRollout(service([rollback], breaker(true, true)), ours)).toEqual({
      kind: 'failed',
      cause: 'replaced',
      reason: 'the deployment circuit breaker replaced it with deployment ecs-svc/43 (api:41)',
      ecsRollingBack: true
    })
  })

  it('a newer PRIMARY on the baseline is not a rollback when the breaker does not roll back', () => {
    const theirs = deployment('ecs-svc/43', 41, { rolloutState: 'IN_PROGRESS' })
    const failed = rolling({ status: 'ACTIVE', rolloutState: 'FAILED' })
    for (const config of [breaker(true, false), breaker(false, true)]) {
      expect(judgeRollout(service([theirs, failed], config), ours).kind).toBe('superseded')
    }
  })

  it('a newer PRIMARY on another revision after ours failed is superseding it, not the rollback', () => {
    const theirs = deployment('ecs-svc/50', 50, { rolloutState: 'IN_PROGRESS' })
    const failed = rolling({ status: 'ACTIVE', rolloutState: 'FAILED' })
    expect(judgeRollout(service([theirs, failed], breaker(true, true)), ours)).toMatchObject({
      kind: 'superseded',
      by: { id: 'ecs-svc/50' }
    })
  })

  it('a service that lists no primary deployment yet is still in progress', () => {
    expect(judgeRollout(service([]), ours)).toEqual({ kind: 'in-progress' })
    expect(judgeRollout(service([old()]), ours)).toEqual({ kind: 'in-progress' })
    expect(judgeRollout({ ...service([]), deployments: undefined }, ours)).toEqual({
      kind: 'in-progress'
    })
  })

  it('a rollout ECS says is IN_PROGRESS is not done, even with every task running', () => {
    const running = rolling({ runningCount: 2, pendingCount: 0 })
    expect(judgeRollout(service([running], breaker(false, false)), ours)).toEqual({
      kind: 'in-progress'
    })
  })

  describe('a deployment with no rollout state', () => {
    const noState = { rolloutState: undefined, rolloutStateReason: undefined }
    it('counts as succeeded only as the only deployment, fully running', () => {
      expect(
        judgeRollout(service([deployment('ecs-svc/42', 42, noState)], breaker(false, false)), ours)
      ).toEqual({ kind: 'succeeded' })
    })
    it('is still in progress while tasks are pending', () => {
      const pending = deployment('ecs-svc/42', 42, { ...noState, pendingCount: 1, runningCount: 2 })
      expect(judgeRollout(service([pending], breaker(false, false)), ours).kind).toBe('in-progress')
    })
    it('is still in progress while fewer than the desired number run', () => {
      const short = deployment('ecs-svc/42', 42, { ...noState, runningCount: 1 })
      expect(judgeRollout(service([short], breaker(false, false)), ours).kind).toBe('in-progress')
    })
    it('takes counts ECS leaves out as zero', () => {
      const bare = deployment('ecs-svc/42', 42, {
        ...noState,
        desiredCount: undefined,
        runningCount: undefined,
        pendingCount: undefined
      })
      expect(judgeRollout(service([bare], breaker(false, false)), ours)).toEqual({
        kind: 'succeeded'
      })
      const noPending = deployment('ecs-svc/42', 42, { ...noState, pendingCount: undefined })
      expect(judgeRollout(service([noPending], breaker(false, false)), ours)).toEqual({
        kind: 'succeeded'
      })
    })
    it('is still in progress while an older deployment is on the service', () => {
      const done = deployment('ecs-svc/42', 42, noState)
      expect(judgeRollout(service([done, old()], breaker(false, false)), ours).kind).toBe(
        'in-progress'
      )
    })
  })

  describe('the failed-task limit of a service without a circuit breaker', () => {
    it('is half the desired count when that is more than 3', () => {
      expect(failureThreshold(20)).toBe(10)
      expect(failureThreshold(7)).toBe(4)
      const at = (failedTasks: number) =>
        judgeRollout(
          service([rolling({ desiredCount: 20, failedTasks }), old()], breaker(false, false)),
          ours
        ).kind
      expect(at(9)).toBe('in-progress')
      expect(at(10)).toBe('failed')
    })
    it('is at least 3 and at most 200', () => {
      expect(failureThreshold(1)).toBe(3)
      expect(failureThreshold(6)).toBe(3)
      expect(failureThreshold(1000)).toBe(200)
    })
    it('says how many tasks failed and that nothing stops the rollout', () => {
      const failing = rolling({ desiredCount: 4, failedTasks: 3 })
      expect(judgeRollout(service([failing, old()], breaker(false, false)), ours)).toEqual({
        kind: 'failed',
        cause: 'tasks-failing',
        reason:
          '3 tasks failed to start and the service has no deployment circuit breaker to stop the rollout',
        ecsRollingBack: false
      })
    })
    it('applies to a service without any deployment configuration', () => {
      const failing = rolling({ desiredCount: 4, failedTasks: 3 })
      const bare = (over: Partial<Service>) => ({ ...service([failing, old()]), ...over })
      expect(judgeRollout(bare({ deploymentConfiguration: undefined }), ours).kind).toBe('failed')
      expect(judgeRollout(bare({ deploymentConfiguration: {} }), ours).kind).toBe('failed')
    })
    it('counts a deployment with no failed tasks reported as none failed', () => {
      const none = rolling({ desiredCount: 0, failedTasks: undefined })
      expect(judgeRollout(service([none, old()], breaker(false, false)), ours).kind).toBe(
        'in-progress'
      )
    })
    it('applies when the breaker is off even if its rollback is on', () => {
      const failing = rolling({ desiredCount: 4, failedTasks: 3 })
      expect(judgeRollout(service([failing, old()], breaker(false, true)), ours).kind).toBe(
        'failed'
      )
    })
    it('does not apply when a circuit breaker watches the rollout', () => {
      const verdict = judgeRollout(
        service([rolling({ failedTasks: 50 }), old()], breaker(true, false)),
        ours
      )
      expect(verdict.kind).toBe('in-progress')
    })
  })
})

describe('breakerRollsBack', () => {
  it('only a breaker that is on and rolls back puts the baseline back itself', () => {
    expect(breakerRollsBack(service([], breaker(true, true)))).toBe(true)
    expect(breakerRollsBack(service([], breaker(true, false)))).toBe(false)
    expect(breakerRollsBack(service([], breaker(false, true)))).toBe(false)
    expect(breakerRollsBack(service([], { deploymentConfiguration: {} }))).toBe(false)
    expect(breakerRollsBack({ ...service([]), deploymentConfiguration: undefined })).toBe(false)
  })
})

describe('replacementOf', () => {
  it('is the PRIMARY deployment once it is not ours, and nothing while ours is PRIMARY', () => {
    const rollback = deployment('ecs-svc/43', 41, { rolloutState: 'IN_PROGRESS' })
    const failed = rolling({ status: 'ACTIVE', rolloutState: 'FAILED' })
    expect(replacementOf(service([failed, rollback]), 'ecs-svc/42')).toBe(rollback)
    expect(replacementOf(service([rolling(), old()]), 'ecs-svc/42')).toBeUndefined()
    expect(replacementOf({ ...service([]), deployments: undefined }, 'ecs-svc/42')).toBeUndefined()
  })
})

describe('progressLine', () => {
  it('names every deployment with its counts and rollout state, marking ours', () => {
    const line = progressLine(
      service([
        rolling({ runningCount: 1, pendingCount: 1, failedTasks: 2 }),
        deployment('ecs-svc/41', 41, { status: 'ACTIVE', rolloutState: undefined })
      ]),
      'ecs-svc/42',
      75_000
    )
    expect(line).toBe(
      '[1m15s] *ecs-svc/42 PRIMARY IN_PROGRESS api:42: running 1/2, pending 1, failed 2 | ' +
        'ecs-svc/41 ACTIVE api:41: running 2/2, pending 0, failed 0'
    )
  })

  it('counts ECS leaves out are zero, and a service without deployments says so', () => {
    const bare = deployment('ecs-svc/42', 42, {
      desiredCount: undefined,
      runningCount: undefined,
      pendingCount: undefined,
      failedTasks: undefined
    })
    expect(progressLine(service([bare]), 'ecs-svc/1', 0)).toBe(
      '[0s] ecs-svc/42 PRIMARY COMPLETED api:42: running 0/0, pending 0, failed 0'
    )
    expect(progressLine(service([]), 'ecs-svc/42', 5_000)).toBe('[5s] no deployments')
    expect(progressLine({ ...service([]), deployments: undefined }, '', 0)).toBe(
      '[0s] no deployments'
    )
  })
})

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [499, '0s'],
    [500, '1s'],
    [59_499, '59s'],
    [60_000, '1m00s'],
    [65_000, '1m05s'],
    [754_000, '12m34s'],
    [-3_000, '0s']
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text)
  })
})

describe('baselineOf', () => {
  it('a completed primary is settled and proven', () => {
    const base = baselineOf(service([deployment('ecs-svc/41', 41)]))
    expect(base).toMatchObject({ settled: true, proven: { id: 'ecs-svc/41' } })
  })
  it('a rollout in progress is not settled', () => {
    const base = baselineOf(service([rolling(), old()]))
    expect(base).toMatchObject({ settled: false, inFlight: { id: 'ecs-svc/42' } })
  })
  it('a failed primary left alone is settled, and the completed deployment beside it is proven', () => {
    const base = baselineOf(
      service([rolling({ rolloutState: 'FAILED' }), old()], breaker(true, false))
    )
    expect(base).toMatchObject({ settled: true, proven: { id: 'ecs-svc/41' } })
  })
  it('a failed first deployment leaves nothing proven', () => {
    const base = baselineOf(service([rolling({ rolloutState: 'FAILED' })]))
    expect(base).toEqual({ settled: true, proven: undefined, primary: expect.anything() })
  })
  it('a service with no primary deployment is settled, with nothing proven', () => {
    expect(baselineOf(service([]))).toEqual({ settled: true })
    expect(baselineOf({ ...service([]), deployments: undefined })).toEqual({ settled: true })
  })
  it('a completed primary is the proven one, whatever else is on the service', () => {
    const done = deployment('ecs-svc/42', 42)
    expect(baselineOf(service([done, old()]))).toEqual({
      settled: true,
      proven: done,
      primary: done
    })
  })
  it('without rollout state, a primary not yet steady is in flight', () => {
    const noState = { rolloutState: undefined }
    const primary = deployment('ecs-svc/42', 42, noState)
    expect(baselineOf(service([primary, old()]))).toEqual({ settled: false, inFlight: primary })
    expect(baselineOf(service([primary]))).toEqual({ settled: true, proven: primary, primary })
  })
  it('without rollout state: settled once steady', () => {
    const noState = { rolloutState: undefined }
    expect(baselineOf(service([deployment('ecs-svc/41', 41, noState)])).settled).toBe(true)
    expect(
      baselineOf(service([deployment('ecs-svc/41', 41, { ...noState, pendingCount: 1 })])).settled
    ).toBe(false)
  })
})

describe('newEvents', () => {
  it('prints each event once, oldest first, and none from before the update', () => {
    const at = (s: number) => new Date(Date.parse('2026-11-28T12:00:00Z') + s * 1000)
    const seen = new Set<string>()
    const since = at(0).valueOf()
    const described = service([], {
      events: [
        { id: 'c', createdAt: at(2), message: 'second' },
        { id: 'b', createdAt: at(1), message: 'first' },
        { id: 'a', createdAt: at(-5), message: 'steady state before the update' }
      ]
    })
    expect(newEvents(described, seen, since).map(e => e.message)).toEqual(['first', 'second'])
    expect(newEvents(described, seen, since)).toEqual([])
  })

  it('keeps an event made at the moment of the update, or with no time', () => {
    const since = Date.parse('2026-11-28T12:00:00Z')
    const described = service([], {
      events: [
        { id: 'b', message: 'no time given' },
        { id: 'a', createdAt: new Date(since), message: 'at the update' }
      ]
    })
    expect(newEvents(described, new Set(), since).map(e => e.message)).toEqual([
      'at the update',
      'no time given'
    ])
  })

  it('tells events without an id apart by time and message, each printed once', () => {
    const since = Date.parse('2026-11-28T12:00:00Z')
    const at = new Date(since + 1000)
    const seen = new Set<string>()
    const first = service([], {
      events: [
        { createdAt: at, message: 'has reached a steady state.' },
        { createdAt: at, message: 'has started 1 tasks.' }
      ]
    })
    expect(newEvents(first, seen, since).map(e => e.message)).toEqual([
      'has started 1 tasks.',
      'has reached a steady state.'
    ])
    const later = service([], {
      events: [
        { createdAt: new Date(since + 2000), message: 'has reached a steady state.' },
        ...first.events!
      ]
    })
    expect(newEvents(later, seen, since).map(e => e.message)).toEqual([
      'has reached a steady state.'
    ])
  })

  it('prints an event with neither id nor time once', () => {
    const seen = new Set<string>()
    const described = service([], { events: [{ message: 'has started 1 tasks.' }] })
    expect(newEvents(described, seen, 0).map(e => e.message)).toEqual(['has started 1 tasks.'])
    expect(newEvents(described, seen, 0)).toEqual([])
  })

  it('a service without events has nothing new', () => {
    expect(newEvents({ ...service([]), events: undefined }, new Set(), 0)).toEqual([])
  })
})

describe('decideStatus', () => {
  const facts = (over: Partial<StepFacts>): StepFacts => ({
    refused: false,
    changeSent: true,
    changeRejected: false,
    unexpectedError: false,
    ...over
  })
  it.each<[Partial<StepFacts>, string]>([
    [{ refused: true }, 'refused'],
    [{ changeSent: false, unexpectedError: true }, 'failed'],
    [{ unexpectedError: true }, 'unknown'],
    [{ unexpectedError: true, changeRejected: true }, 'failed'],
    [{ changeSent: false }, 'failed'],
    [{ rollout: 'succeeded' }, 'succeeded'],
    [{ rollout: 'not-waited' }, 'succeeded'],
    [{ rollout: 'superseded' }, 'superseded'],
    [{ rollout: 'unknown' }, 'unknown'],
    [{ rollout: 'failed' }, 'failed'],
    [{ rollout: 'failed', recovery: 'succeeded' }, 'rolled-back'],
    [{ rollout: 'failed', recovery: 'failed' }, 'failed'],
    [{ rollout: 'failed', recovery: 'superseded' }, 'superseded'],
    [{ rollout: 'failed', recovery: 'unknown' }, 'unknown'],
    [{ refused: true, unexpectedError: true }, 'refused'],
    [{ planned: true, changeSent: false }, 'succeeded'],
    [{ planned: true, unexpectedError: true }, 'unknown'],
    [{ planned: true, changeSent: false, unexpectedError: true }, 'failed'],
    [{}, 'failed'],
    [{ changeRejected: true, rollout: 'succeeded' }, 'failed'],
    [{ changeSent: false, rollout: 'succeeded' }, 'failed']
  ])('%j is %s', (over, status) => {
    expect(decideStatus(facts(over))).toBe(status)
  })
})

describe('previousCandidates', () => {
  const history = (entries: Array<[number, string]>) =>
    entries.map(([revision, status], i) => ({
      serviceDeploymentArn: `arn:sd/${i}`,
      status,
      taskDefinition: arn('api', revision)
    }))

  it('newest successful first, never the current one, each revision once', () => {
    const { candidates } = previousCandidates(
      arn('api', 3),
      history([
        [3, 'SUCCESSFUL'],
        [2, 'SUCCESSFUL'],
        [1, 'SUCCESSFUL'],
        [2, 'SUCCESSFUL']
      ])
    )
    expect(candidates.map(c => c.taskDefinition)).toEqual([arn('api', 2), arn('api', 1)])
  })

  it('never a revision ECS rolled back from, even one that once succeeded', () => {
    const { candidates, skipped } = previousCandidates(
      arn('api', 4),
      history([
        [4, 'SUCCESSFUL'],
        [3, 'ROLLBACK_SUCCESSFUL'],
        [3, 'SUCCESSFUL'],
        [2, 'SUCCESSFUL']
      ])
    )
    expect(candidates.map(c => c.taskDefinition)).toEqual([arn('api', 2)])
    expect(skipped).toEqual(['api:3 (rolled back by ECS)'])
  })

  it('never one that did not complete: stopped or in progress', () => {
    const { candidates } = previousCandidates(
      arn('api', 4),
      history([
        [3, 'STOPPED'],
        [2, 'IN_PROGRESS'],
        [1, 'SUCCESSFUL']
      ])
    )
    expect(candidates.map(c => c.taskDefinition)).toEqual([arn('api', 1)])
  })

  it('a revision tagged as rolled back from by this action is recognised by its tag', () => {
    expect(ROLLED_BACK_TAG).toBe('noblepay:rolled-back')
    expect(
      wasRolledBackFrom([{ key: 'noblepay:rolled-back', value: '2026-11-28T12:00:00Z' }])
    ).toBe(true)
    expect(wasRolledBackFrom([{ key: 'noblepay:commit', value: 'abc' }])).toBe(false)
  })
})

describe('readBackUpdate', () => {
  const request = (over: Partial<UpdateRequest> = {}): UpdateRequest => ({
    cluster: 'payments',
    service: 'api',
    taskDefinition: arn('api', 42),
    forceNewDeployment: true,
    prior: { deploymentIds: ['ecs-svc/41'], taskDefinition: arn('api', 41) },
    ...over
  })

  it('a new primary on our revision is ours: the update happened', () => {
    const found = readBackUpdate(service([rolling(), old()]), request())
    expect(found).toMatchObject({ kind: 'applied', deployment: { id: 'ecs-svc/42' } })
  })

  it('ours already replaced by the breaker is still recognised as ours', () => {
    const found = readBackUpdate(
      service([
        deployment('ecs-svc/43', 41, { rolloutState: 'IN_PROGRESS' }),
        rolling({ status: 'ACTIVE', rolloutState: 'FAILED' }),
        old()
      ]),
      request()
    )
    expect(found).toMatchObject({ kind: 'applied', deployment: { id: 'ecs-svc/42' } })
  })

  it('the same deployments as before: it did not happen, and may be sent again', () => {
    expect(readBackUpdate(service([deployment('ecs-svc/41', 41)]), request())).toEqual({
      kind: 'not-applied'
    })
  })

  it("someone else's deployment in its place: it must not be sent again over theirs", () => {
    const theirs = deployment('ecs-svc/50', 50, { rolloutState: 'IN_PROGRESS' })
    expect(readBackUpdate(service([theirs, old()]), request())).toMatchObject({
      kind: 'changed-otherwise',
      by: { id: 'ecs-svc/50' }
    })
  })

  it('an update that starts no deployment is read back by its settings', () => {
    const countOnly = request({
      forceNewDeployment: false,
      taskDefinition: arn('api', 41),
      desiredCount: 4
    })
    const steadyAt = (desiredCount: number) =>
      service([deployment('ecs-svc/41', 41)], { desiredCount })
    expect(readBackUpdate(steadyAt(4), countOnly)).toEqual({ kind: 'applied' })
    expect(readBackUpdate(steadyAt(2), countOnly)).toEqual({ kind: 'not-applied' })
  })
})
