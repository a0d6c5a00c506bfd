/**
 * What ecs-deploy tells the user (report.ts): the first error line, the one failure message
 * per status and the job summary, from the record of one step. Pure: a record in, text out.
 */
import type { Service } from '@aws-sdk/client-ecs'
import type { DeployConfig } from '../../actions/ecs-deploy/config.js'
import type { EcsGateway, StoppedTask } from '../../actions/ecs-deploy/ecs.js'
import {
  deployReport,
  firstFailureLine,
  groupedCauses,
  serviceState,
  stoppedSentence,
  type RolloutResult,
  type StepRecord
} from '../../actions/ecs-deploy/report.js'
import type { DeployStatus, StepFacts } from '../../actions/ecs-deploy/status.js'
import { Timeline } from '../../actions/ecs-deploy/timeline.js'
import { StoppedTaskLog } from '../../actions/ecs-deploy/watch.js'
import { RecordingRunner } from '../support/runner.js'
import { arn, deployment, service } from '../support/ecs-fixtures.js'

const START = Date.parse('2026-11-28T12:00:00Z')
const IMAGE = 'registry.example/api@sha256:' + 'a'.repeat(64)

const task = (id: string, over: Partial<StoppedTask> = {}): StoppedTask => ({
  taskArn: `arn:aws:ecs:eu-west-1:123456789012:task/payments/${id}`,
  stoppedReason: 'Essential container in task exited',
  stopCode: 'EssentialContainerExited',
  containers: [{ name: 'api', exitCode: 1, reason: 'Error: DATABASE_URL is not set' }],
  ...over
})
const drained = (id: string) =>
  task(id, {
    stoppedReason: 'Scaling activity initiated by (deployment ecs-svc/43)',
    stopCode: 'ServiceSchedulerInitiated',
    containers: [{ name: 'api', exitCode: 0 }]
  })

/** A lookup of stopped tasks as the watch hands it over: done with these tasks, failed, or under way. */
function stoppedLog(
  tasks: StoppedTask[] = [],
  state: { failure?: string; looking?: boolean } = {}
): StoppedTaskLog {
  const ecs = {
    stoppedTasks: () => new Promise<StoppedTask[]>(() => {})
  } as unknown as EcsGateway
  const log = new StoppedTaskLog(ecs, new RecordingRunner(), 'payments', 'ecs-svc/42')
  log.tasks = tasks
  log.failure = state.failure
  if (state.looking) log.refresh()
  return log
}

const config = (over: Partial<DeployConfig> = {}) =>
  ({ cluster: 'payments', service: 'api', image: IMAGE, rollbackTo: '', ...over }) as DeployConfig

const failed = (
  over: Partial<Extract<RolloutResult, { kind: 'failed'; cause: string }>> = {}
): Extract<RolloutResult, { kind: 'failed' }> => ({
  kind: 'failed',
  deploymentId: 'ecs-svc/42',
  cause: 'rollout-failed',
  reason: 'ECS deployment circuit breaker: tasks failed to start.',
  ecsRollingBack: false,
  stopped: stoppedLog([task('t1')]),
  elapsedMs: 30_000,
  ...over
})

const lastSeen = () =>
  service([
    deployment('ecs-svc/43', 41, { rolloutState: 'IN_PROGRESS', runningCount: 1 }),
    deployment('ecs-svc/42', 42, { status: 'ACTIVE', rolloutState: 'FAILED' })
  ])

function record(over: Partial<StepRecord> = {}, facts: Partial<StepFacts> = {}): StepRecord {
  return {
    started: START,
    facts: {
      refused: false,
      changeSent: true,
      changeRejected: false,
      unexpectedError: false,
      ...facts
    },
    timeline: new Timeline('ecs-deploy api'),
    config: config(),
    ecs: { lastSeen: lastSeen() } as EcsGateway,
    ...over
  }
}

const message = (step: StepRecord, status: DeployStatus) =>
  deployReport(step, status, START + 95_000).message
const summary = (step: StepRecord, status: DeployStatus) =>
  deployReport(step, status, START + 95_000).summary

describe('groupedCauses', () => {
  it('counts each stop reason once, leaving out tasks the scheduler stopped itself', () => {
    expect(groupedCauses([task('a'), drained('b'), task('c')])).toEqual([
      '2 tasks: Essential container in task exited [EssentialContainerExited]; container api exit code 1 (Error: DATABASE_URL is not set)'
    ])
  })

  it("falls back to the scheduler's own stops when they are all there is", () => {
    expect(groupedCauses([drained('b')])).toEqual([
      '1 task: Scaling activity initiated by (deployment ecs-svc/43) [ServiceSchedulerInitiated]; container api exit code 0'
    ])
  })

  it('shows at most three reasons, in the order the tasks came', () => {
    const tasks = ['A', 'B', 'C', 'D'].map(reason =>
      task(reason, { stoppedReason: reason, stopCode: '', containers: [] })
    )
    expect(groupedCauses(tasks)).toEqual(['1 task: A', '1 task: B', '1 task: C'])
    expect(groupedCauses([])).toEqual([])
  })
})

describe('stoppedSentence', () => {
  it('names the causes when tasks are known', () => {
    expect(stoppedSentence(stoppedLog([task('a'), task('b')]))).toBe(
      'Stopped 2 tasks: Essential container in task exited [EssentialContainerExited]; container api exit code 1 (Error: DATABASE_URL is not set)'
    )
  })
  it('says why they could not be read, that they are being looked up, or that there were none', () => {
    expect(stoppedSentence(stoppedLog([], { failure: 'AccessDenied' }))).toBe(
      'Why its tasks stopped could not be read: AccessDenied.'
    )
    expect(stoppedSentence(stoppedLog([], { looking: true }))).toBe(
      'Why its tasks stopped is being looked up.'
    )
    expect(stoppedSentence(stoppedLog([]))).toBe('No stopped tasks were recorded for it.')
  })
})

describe('firstFailureLine', () => {
  it.each([
    ['rollout-failed', 'failed'],
    ['replaced', 'was replaced'],
    ['tasks-failing', 'is failing'],
    ['timed-out', 'timed out']
  ] as const)('a %s failure says the deployment %s', (cause, words) => {
    expect(firstFailureLine(config(), failed({ cause }))).toBe(
      `Deployment ecs-svc/42 of service 'api' in cluster 'payments' ${words}: ECS deployment circuit breaker: tasks failed to start. Stopped 1 task: Essential container in task exited [EssentialContainerExited]; container api exit code 1 (Error: DATABASE_URL is not set)`
    )
  })
  it('without a deployment says so', () => {
    expect(
      firstFailureLine(config(), failed({ deploymentId: '', reason: 'x', stopped: stoppedLog() }))
    ).toBe(
      "Deployment (none) of service 'api' in cluster 'payments' failed: x. No stopped tasks were recorded for it."
    )
  })
})

describe('serviceState', () => {
  it('is the primary deployment, its rollout state and running count, and the older ones on it', () => {
    expect(serviceState(lastSeen())).toBe(
      'deployment ecs-svc/43 (api:41) IN_PROGRESS, running 1/2; 1 older deployment still on it'
    )
    const three = service([
      deployment('ecs-svc/43', 43, { rolloutState: undefined, runningCount: undefined }),
      deployment('ecs-svc/42', 42, { status: 'ACTIVE' }),
      deployment('ecs-svc/41', 41, { status: 'ACTIVE', desiredCount: undefined })
    ])
    expect(serviceState(three)).toBe(
      'deployment ecs-svc/43 (api:43) no rollout state, running 0/2; 2 older deployments still on it'
    )
    expect(serviceState(service([deployment('ecs-svc/41', 41, { desiredCount: undefined })]))).toBe(
      'deployment ecs-svc/41 (api:41) COMPLETED, running 2/0'
    )
  })
  it('says when there is no service or no primary deployment', () => {
    expect(serviceState(undefined)).toBe('not read')
    expect(serviceState(service([deployment('ecs-svc/41', 41, { status: 'ACTIVE' })]))).toBe(
      'no deployment'
    )
    expect(serviceState({} as Service)).toBe('no deployment')
  })
})

describe('the failure message per status', () => {
  const SAW =
    'deployment ecs-svc/43 (api:41) IN_PROGRESS, running 1/2; 1 older deployment still on it'
  const HEAD = `Deploying ${IMAGE} to 'api' failed (ECS deployment circuit breaker: tasks failed to start) [stopped 1 task: Essential container in task exited [EssentialContainerExited]; container api exit code 1 (Error: DATABASE_URL is not set)]`

  it('an error after a change: the step cannot tell what runs, and says what it last saw', () => {
    const step = record({ error: new Error('Updating service failed') })
    expect(message(step, 'unknown')).toBe(
      `Updating service failed. The step cannot tell what the service runs now; it last saw ${SAW}. Check the service before deploying again.`
    )
    expect(message(record({ error: new Error('Bad input'), ecs: undefined }), 'failed')).toBe(
      'Bad input'
    )
    expect(message(record({ error: 'thrown text', ecs: undefined }), 'unknown')).toBe(
      'thrown text. The step cannot tell what the service runs now; it last saw not read. Check the service before deploying again.'
    )
  })

  it('a success names what was deployed, or the rollback-to target', () => {
    const rollout = { kind: 'succeeded', deploymentId: 'ecs-svc/42' } as RolloutResult
    expect(message(record({ rollout }), 'succeeded')).toBe(
      `Deploying ${IMAGE} to 'api' ended succeeded.`
    )
    expect(
      message(record({ rollout, config: config({ image: '', rollbackTo: 'api:41' }) }), 'succeeded')
    ).toBe("Deploying rollback-to api:41 to 'api' ended succeeded.")
    expect(message(record({ config: undefined }), 'refused')).toBe(
      "Deploying  to '' ended refused."
    )
  })

  it('superseded: names who replaced it and what the service runs', () => {
    const rollout = {
      kind: 'superseded',
      deploymentId: 'ecs-svc/42',
      reason: 'deployment ecs-svc/50 (api:50) replaced deployment ecs-svc/42'
    } as RolloutResult
    expect(message(record({ rollout }), 'superseded')).toBe(
      `Deploying ${IMAGE} to 'api' was superseded: deployment ecs-svc/50 (api:50) replaced deployment ecs-svc/42. This step did not touch the service after that; it runs ${SAW}.`
    )
  })

  it('unknown rollout: says why and what it last saw', () => {
    const rollout = {
      kind: 'unknown',
      deploymentId: 'ecs-svc/42',
      reason: 'the service could not be read: down'
    } as RolloutResult
    expect(message(record({ rollout }), 'unknown')).toBe(
      `Deploying ${IMAGE} to 'api': the outcome is unknown, because the service could not be read: down. It last saw ${SAW}. Check the service before deploying again.`
    )
  })

  it('rolled back: names who put the previous revision back', () => {
    const step = record({
      rollout: failed(),
      recovery: { by: 'ecs', note: 'rolled back by the ECS deployment circuit breaker' }
    })
    expect(message(step, 'rolled-back')).toBe(
      `${HEAD}; rolled back by the ECS deployment circuit breaker, and the service is steady on it. Fix the cause shown above and deploy again.`
    )
  })

  it("adds the crashed container's last log line when there is one", () => {
    const step = record({
      rollout: failed({ stopped: stoppedLog() }),
      recovery: { by: 'ecs', note: 'rolled back' },
      crashLogs: {
        kind: 'lines',
        taskId: 't1',
        container: 'api',
        group: '/ecs/api',
        stream: 'ecs/api/t1',
        lines: [
          { timestamp: 1, message: 'starting' },
          { timestamp: 2, message: '  Error: DATABASE_URL is not set\n' }
        ]
      }
    })
    expect(message(step, 'rolled-back')).toBe(
      `Deploying ${IMAGE} to 'api' failed (ECS deployment circuit breaker: tasks failed to start) [container api last logged: Error: DATABASE_URL is not set]; rolled back, and the service is steady on it. Fix the cause shown above and deploy again.`
    )
    const nothingLogged = record({
      rollout: failed({ stopped: stoppedLog() }),
      crashLogs: {
        kind: 'lines',
        taskId: 't1',
        container: 'api',
        group: '/ecs/api',
        stream: 'ecs/api/t1',
        lines: []
      }
    })
    expect(message(nothingLogged, 'failed')).toBe(
      `Deploying ${IMAGE} to 'api' failed (ECS deployment circuit breaker: tasks failed to start); no rollback. The service runs deployment ecs-svc/43 (api:41) IN_PROGRESS, running 1/2; 1 older deployment still on it: check it and roll back with rollback-to if it is not healthy.`
    )
    const unavailable = record({
      rollout: failed({ stopped: stoppedLog() }),
      crashLogs: { kind: 'unavailable', reason: 'no awslogs' }
    })
    expect(message(unavailable, 'failed')).not.toContain('last logged')
  })

  it('superseded after the failure: names who replaced the rollback, or says another deployment did', () => {
    const result = {
      kind: 'superseded',
      reason: 'deployment ecs-svc/50 (api:50) replaced deployment ecs-svc/43'
    } as RolloutResult
    expect(
      message(
        record({ rollout: failed(), recovery: { by: 'ecs', note: 'n', result } }),
        'superseded'
      )
    ).toBe(
      `${HEAD}; deployment ecs-svc/50 (api:50) replaced deployment ecs-svc/43, and this step left it alone. The service runs ${SAW}.`
    )
    expect(message(record({ rollout: failed() }), 'superseded')).toBe(
      `${HEAD}; another deployment replaced it, and this step left it alone. The service runs ${SAW}.`
    )
  })

  it('unknown after the failure: says what could not be told, and to check now', () => {
    const result = {
      kind: 'unknown',
      reason: 'the service could not be read: down'
    } as RolloutResult
    expect(
      message(record({ rollout: failed(), recovery: { by: 'ecs', note: 'n', result } }), 'unknown')
    ).toBe(
      `${HEAD}; then the service could not be read: down. It last saw ${SAW}. Check the service now.`
    )
    expect(message(record({ rollout: failed() }), 'unknown')).toBe(
      `${HEAD}; then the service could not be read. It last saw ${SAW}. Check the service now.`
    )
  })

  it('a rollback that did not settle either: the service may be unhealthy', () => {
    const result = failed({ reason: 'the deployment did not complete within 5m00s' })
    expect(
      message(
        record({ rollout: failed(), recovery: { by: 'action', note: 'n', result } }),
        'failed'
      )
    ).toBe(
      `${HEAD}; the rollback did not settle either (the deployment did not complete within 5m00s). The service may be unhealthy: it runs ${SAW}. Check it in the ECS console now.`
    )
  })

  it('no rollback: says why not and how to roll back', () => {
    expect(
      message(
        record({
          rollout: failed(),
          recovery: { by: 'none', note: 'no rollback: rollback-on-failure is false' }
        }),
        'failed'
      )
    ).toBe(
      `${HEAD}; no rollback: rollback-on-failure is false. The service runs ${SAW}: check it and roll back with rollback-to if it is not healthy.`
    )
    expect(message(record({ rollout: failed() }), 'failed')).toBe(
      `${HEAD}; no rollback. The service runs ${SAW}: check it and roll back with rollback-to if it is not healthy.`
    )
  })
})

describe('the job summary', () => {
  it('lists the facts of the step, leaving out what is not known', () => {
    const text = summary(
      record({
        target: arn('api', 42),
        previousArn: arn('api', 41),
        deploymentId: 'ecs-svc/42',
        serviceDeploymentArn:
          'arn:aws:ecs:eu-west-1:123456789012:service-deployment/payments/api/abc',
        rollout: { kind: 'succeeded' } as RolloutResult
      }),
      'succeeded'
    )
    expect(text).toBe(
      [
        '### ECS deploy: api succeeded',
        '',
        '|  |  |',
        '| --- | --- |',
        '| Status | succeeded |',
        '| Cluster / service | payments / api |',
        '| Task definition | api:42 |',
        '| Previous task definition | api:41 |',
        `| Image | ${IMAGE} |`,
        '| Deployment | ecs-svc/42 |',
        '| Service deployment | abc |',
        '| Service now | deployment ecs-svc/43 (api:41) IN_PROGRESS, running 1/2; 1 older deployment still on it |',
        '| Duration | 1m35s |',
        ''
      ].join('\n')
    )
  })

  it('a rollback-to names the revision it rolled back to; a dry run says so in the title', () => {
    const text = summary(
      record(
        {
          target: arn('api', 41),
          config: config({ image: '', rollbackTo: 'previous' }),
          ecs: undefined
        },
        { planned: true }
      ),
      'succeeded'
    )
    expect(text.split('\n')[0]).toBe('### ECS deploy: api succeeded (dry run)')
    expect(text).toContain('| Rolled back to | api:41 |')
    expect(text).not.toContain('| Image |')
    expect(text).not.toContain('| Service now |')
    expect(summary(record({ config: undefined }), 'failed').split('\n')[0]).toBe(
      '### ECS deploy:  failed'
    )
  })

  it('adds the gates, plan, migration and scaling sections in that order', () => {
    const text = summary(
      record({
        gateSummary: 'GATES',
        planSummary: 'PLAN',
        migrationSummary: 'MIGRATION',
        scalingSummary: 'SCALING'
      }),
      'succeeded'
    )
    const at = (part: string) => text.indexOf(`\n${part}\n`)
    expect(at('GATES')).toBeGreaterThan(0)
    expect(at('PLAN')).toBeGreaterThan(at('GATES'))
    expect(at('MIGRATION')).toBeGreaterThan(at('PLAN'))
    expect(at('SCALING')).toBeGreaterThan(at('MIGRATION'))
  })

  it('an error says so, and that nothing was changed when no change was sent', () => {
    const before = summary(record({ error: new Error('denied') }, { changeSent: false }), 'failed')
    expect(before).toContain('\n**Error:** denied\n\nNothing was changed.\n')
    const after = summary(record({ error: new Error('lost') }), 'unknown')
    expect(after).toContain('\n**Error:** lost\n')
    expect(after).not.toContain('Nothing was changed.')
  })

  it('a failure shows why, a table of the stopped tasks, and the recovery', () => {
    const text = summary(
      record({
        rollout: failed({
          stopped: stoppedLog([
            task('t1'),
            task('t2', {
              stopCode: '',
              containers: [
                { name: 'api', exitCode: 2 },
                { name: 'sidecar', reason: 'pull failed' }
              ]
            })
          ])
        }),
        recovery: {
          by: 'ecs',
          note: 'rolled back by the ECS deployment circuit breaker',
          result: { kind: 'succeeded' } as RolloutResult
        }
      }),
      'rolled-back'
    )
    expect(text).toContain('\n**Why:** ECS deployment circuit breaker: tasks failed to start.\n')
    expect(text).toContain(
      [
        '| Task | Stopped reason | Containers |',
        '| --- | --- | --- |',
        '| `t1` | Essential container in task exited EssentialContainerExited | api: exit 1 (Error: DATABASE_URL is not set) |',
        '| `t2` | Essential container in task exited | api: exit 2; sidecar: exit none (pull failed) |'
      ].join('\n')
    )
    expect(text).toContain(
      '\n**Recovery:** rolled back by the ECS deployment circuit breaker (steady).\n'
    )
  })

  it('a recovery that did not succeed says how it ended; one without a result says only the note', () => {
    const ended = (result?: RolloutResult) =>
      summary(
        record({ rollout: failed(), recovery: { by: 'action', note: 'rolled back', result } }),
        'failed'
      )
    expect(ended(failed({ reason: 'too slow' }))).toContain(
      '\n**Recovery:** rolled back (failed: too slow).\n'
    )
    expect(ended()).toContain('\n**Recovery:** rolled back.\n')
  })

  it('says why the stopped tasks could not be read instead of a table', () => {
    const text = summary(
      record({ rollout: failed({ stopped: stoppedLog([], { failure: 'AccessDenied' }) }) }),
      'failed'
    )
    expect(text).toContain('\nWhy its tasks stopped could not be read: AccessDenied\n')
    expect(text).not.toContain('| Task |')
    const none = summary(record({ rollout: failed({ stopped: stoppedLog() }) }), 'failed')
    expect(none).not.toContain('could not be read')
    expect(none).not.toContain('| Task |')
  })

  it('a rollout that did not fail shows why, without tasks or recovery', () => {
    const text = summary(
      record({
        rollout: { kind: 'superseded', reason: 'replaced by ecs-svc/50' } as RolloutResult,
        recovery: { by: 'none', note: 'not asked' }
      }),
      'superseded'
    )
    expect(text).toContain('\n**Why:** replaced by ecs-svc/50\n')
    expect(text).not.toContain('Recovery')
  })

  it("adds the crashed container's lines, the traffic return time and the timeline chart", () => {
    const timeline = new Timeline('ecs-deploy api')
    timeline.mark('updated', START + 1_000)
    const text = summary(
      record({
        rollout: failed(),
        crashLogs: { kind: 'unavailable', reason: 'no awslogs' },
        trafficReturnedMs: 1234,
        timeline
      }),
      'rolled-back'
    )
    expect(text).toContain('\n**Container logs:** none shown: no awslogs.\n')
    expect(text).toContain(
      '\n**Production traffic back on the previous revision after:** 1234 ms\n'
    )
    expect(text).toContain('```mermaid\ngantt\n')
    const plain = summary(
      record({ rollout: failed(), crashLogs: { kind: 'off' }, trafficReturnedMs: 0 }),
      'failed'
    )
    expect(plain).not.toContain('Container logs')
    expect(plain).toContain('after:** 0 ms')
    expect(plain).not.toContain('mermaid')
  })
})

describe('what the report quotes', () => {
  const lines = (...messages: string[]) => ({
    kind: 'lines' as const,
    taskId: 't1',
    container: 'worker',
    group: '/ecs/api',
    stream: 'ecs/worker/t1',
    lines: messages.map((message, i) => ({ timestamp: i, message }))
  })

  it("quotes the crashed container's last line, not an earlier one", () => {
    const step = record({
      rollout: failed({ stopped: stoppedLog() }),
      crashLogs: lines('booting', 'connecting to db', 'fatal: db refused')
    })
    expect(message(step, 'failed')).toContain('[container worker last logged: fatal: db refused]')
  })

  it('drops only the full stop that ends a reason, keeping the dots inside it', () => {
    const dotted = failed({ reason: 'image api:1.2.3 was not found.', stopped: stoppedLog() })
    expect(firstFailureLine(config(), dotted)).toBe(
      "Deployment ecs-svc/42 of service 'api' in cluster 'payments' failed: image api:1.2.3 was not found. No stopped tasks were recorded for it."
    )
    expect(message(record({ rollout: dotted }), 'failed')).toContain(
      'failed (image api:1.2.3 was not found); no rollback.'
    )
    expect(firstFailureLine(config(), failed({ reason: 'v1.2', stopped: stoppedLog() }))).toContain(
      'failed: v1.2. No stopped'
    )
  })
})

describe('the job summary of a step that got nowhere', () => {
  it('shows no task definition, previous one, deployment or service deployment it does not know', () => {
    const text = summary(record({ ecs: undefined }), 'refused')
    expect(text).toBe(
      [
        '### ECS deploy: api refused',
        '',
        '|  |  |',
        '| --- | --- |',
        '| Status | refused |',
        '| Cluster / service | payments / api |',
        `| Image | ${IMAGE} |`,
        '| Duration | 1m35s |',
        ''
      ].join('\n')
    )
  })
})

describe('several stop reasons', () => {
  const two = () =>
    stoppedLog([
      task('a', { stoppedReason: 'OOM', stopCode: '', containers: [] }),
      task('b', { stoppedReason: 'pull failed', stopCode: '', containers: [] })
    ])

  it('are each named once, divided by a bar, in the error line and the message', () => {
    expect(stoppedSentence(two())).toBe('Stopped 1 task: OOM | 1 task: pull failed')
    expect(message(record({ rollout: failed({ stopped: two() }) }), 'failed')).toContain(
      '[stopped 1 task: OOM | 1 task: pull failed]'
    )
  })
})
