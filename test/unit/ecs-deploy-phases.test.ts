import {
  batchesOf,
  coveredMs,
  phaseReport,
  phasesMarkdown,
  type PhaseInput,
  type PhaseTask
} from '../../actions/ecs-deploy/phases.js'

const S = 1000
const TG = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/api-tg/abc'

/** A new task: created at `at`, then provisioning, pull and start as given (seconds). */
function newTask(at: number, provisioning: number, pull: number, start: number): PhaseTask {
  return {
    taskArn: `task-${at}`,
    createdAt: at * S,
    pullStartedAt: (at + provisioning) * S,
    pullStoppedAt: (at + provisioning + pull) * S,
    startedAt: (at + provisioning + pull + start) * S
  }
}

/**
 * One rollout of two tasks, one batch: the tasks start, are registered when RUNNING, become
 * healthy `checks` seconds later (ECS then drains the old tasks), which stop `drain` seconds on.
 */
function rollout(
  times: { provisioning?: number; pull?: number; start?: number; checks?: number; drain?: number },
  settings: { interval?: number; healthy?: number; delay?: number } = {},
  overrides: Partial<PhaseInput> = {}
): PhaseInput {
  const { provisioning = 2, pull = 3, start = 4, checks = 10, drain = 5 } = times
  const running = provisioning + pull + start
  const healthy = running + checks
  const stopped = healthy + drain
  return {
    started: 0,
    ended: stopped * S,
    newTasks: [newTask(0, provisioning, pull, start), newTask(0, provisioning, pull, start)],
    oldTasks: [
      { taskArn: 'old-1', stoppedAt: stopped * S },
      { taskArn: 'old-2', stoppedAt: stopped * S }
    ],
    targetGroups: [
      {
        arn: TG,
        name: 'api-tg',
        healthCheckIntervalSeconds: settings.interval ?? 5,
        healthyThresholdCount: settings.healthy ?? 2,
        deregistrationDelaySeconds: settings.delay ?? drain
      }
    ],
    events: [
      { at: running * S, message: `(service api) registered 2 targets in (target-group ${TG})` },
      { at: healthy * S, message: '(service api) has begun draining connections on 2 tasks.' },
      { at: healthy * S, message: `(service api) deregistered 2 targets in (target-group ${TG})` }
    ],
    pollMs: 10 * S,
    desiredCount: 2,
    minimumHealthyPercent: 100,
    maximumPercent: 200,
    waitsForDrain: true,
    ...overrides
  }
}

describe('phaseReport: the longest phase and the setting behind it', () => {
  it('names the deregistration delay when the old tasks drain longest, and what 30 s would save', () => {
    // The example of the issue: 4m58s of draining in a 6m12s deploy.
    const report = phaseReport(
      rollout({ provisioning: 5, pull: 10, start: 9, checks: 50, drain: 298 }, { delay: 300 })
    )
    expect(report.longest?.kind).toBe('draining')
    expect(report.longestLine).toBe(
      'Old tasks drained for 4m58s of this 6m12s deploy: deregistration_delay.timeout_seconds is 300 on target group api-tg. ' +
        "If the service's requests finish within 30 s, 30 would shrink this deploy by about 4m28s."
    )
  })

  it('with wait-until serving, says the drain was not waited for, and promises no saving', () => {
    const input = rollout({ checks: 10, drain: 298 }, { delay: 300 }, { waitsForDrain: false })
    input.oldTasks = [{ taskArn: 'old-1' }, { taskArn: 'old-2' }]
    input.ended = 25 * S + 200 * S
    const report = phaseReport(input)
    expect(report.longest).toMatchObject({ kind: 'draining', unfinished: true })
    expect(report.longestLine).toMatch(/still draining when the step returned/)
    expect(report.longestLine).toMatch(/wait-until: serving did not wait for it\.$/)
    expect(report.longestLine).not.toMatch(/would shrink/)
  })

  it('names the health check interval when the new targets take longest to pass (a new target needs one passing check)', () => {
    const report = phaseReport(
      rollout({ checks: 150, drain: 20 }, { interval: 30, healthy: 5, delay: 20 })
    )
    expect(report.longest?.kind).toBe('health-checks')
    expect(report.longest?.healthyBy).toBe('drain')
    expect(report.longestLine).toMatch(
      /^New tasks went from registration to healthy in 2m30s of this 2m59s deploy \(healthy inferred from ECS starting to drain the old tasks/
    )
    expect(report.longestLine).toMatch(
      /HealthCheckIntervalSeconds is 30 on target group api-tg \(a new target is healthy after its first passing check, up to 30s after registration\)\. An interval of 10 s would shrink this deploy by about 1m40s\.$/
    )
  })

  it('suggests nothing shorter when the health check is already as short as suggested', () => {
    const report = phaseReport(
      rollout({ checks: 60, drain: 1 }, { interval: 10, healthy: 2, delay: 1 })
    )
    expect(report.longest?.kind).toBe('health-checks')
    expect(report.longestLine).not.toMatch(/would shrink/)
  })

  it('names the image when the pull takes longest', () => {
    const report = phaseReport(rollout({ pull: 90 }))
    expect(report.longest).toMatchObject({ kind: 'pull', ms: 90 * S, source: 'measured' })
    expect(report.longestLine).toMatch(
      /^The image pull took 1m30s of this 1m51s deploy: the image's size governs it/
    )
  })

  it('names provisioning when that takes longest, with the batches maximumPercent allows', () => {
    const report = phaseReport(rollout({ provisioning: 70 }))
    expect(report.longest?.kind).toBe('provisioning')
    expect(report.longestLine).toMatch(
      /^Provisioning took 1m10s of this 1m32s deploy: Fargate capacity/
    )
    expect(report.longestLine).toMatch(/maximumPercent is 200, so new tasks start in 1 batch\./)
  })

  it("names the container's own start when that takes longest", () => {
    const report = phaseReport(rollout({ start: 45 }))
    expect(report.longest?.kind).toBe('start')
    expect(report.longestLine).toMatch(/^Container start took 45s of this 1m05s deploy/)
  })

  it('takes the healthy moment from the polls when the step saw it (serving), else from the settings', () => {
    const seen = phaseReport(
      rollout({ checks: 40 }, {}, { healthySeen: { [TG]: 30 * S }, pollMs: 2 * S })
    )
    const health = seen.phases.find(p => p.kind === 'health-checks')!
    expect(health).toMatchObject({ source: 'seen', healthyBy: 'seen', to: 30 * S, ms: 21 * S })
    expect(seen.longestLine).toMatch(/as the step's polls saw it, to within 2 s/)
    // minimumHealthyPercent below 100: ECS may drain before new tasks pass, so the drain proves nothing.
    const bySettings = phaseReport(
      rollout({ checks: 40 }, { interval: 5, healthy: 2 }, { minimumHealthyPercent: 50 })
    )
    const inferred = bySettings.phases.find(p => p.kind === 'health-checks')!
    expect(inferred).toMatchObject({ source: 'inferred', healthyBy: 'settings', ms: 5 * S })
  })

  it('says when nothing could be measured', () => {
    const report = phaseReport({ ...rollout({}), newTasks: [], oldTasks: [], targetGroups: [] })
    expect(report.longest).toBeUndefined()
    expect(report.longestLine).toMatch(/No phase could be measured/)
  })
})

describe('phaseReport: the floor', () => {
  it('is the batches × (fastest start + one health check interval), plus the delay when the step waits for the drain', () => {
    const input = rollout(
      { provisioning: 1, pull: 2, start: 3, checks: 20, drain: 30 },
      { interval: 5, healthy: 4, delay: 30 }
    )
    const report = phaseReport(input)
    expect(report.floorMs).toBe(6 * S + 5 * S + 30 * S)
    expect(report.floorLine).toBe(
      'Floor for these settings: 41s (1 batch × (start 6s + health checks 5s) + draining 30s); this deploy took 56s, 15s above it.'
    )
    const serving = phaseReport({ ...input, waitsForDrain: false, ended: 40 * S })
    expect(serving.floorMs).toBe(11 * S)
    expect(serving.floorLine).toMatch(/this deploy took 40s, 29s above it\.$/)
  })

  it('counts the batches minimumHealthyPercent and maximumPercent allow', () => {
    expect(batchesOf({ desiredCount: 4, minimumHealthyPercent: 100, maximumPercent: 200 })).toBe(1)
    expect(batchesOf({ desiredCount: 4, minimumHealthyPercent: 100, maximumPercent: 150 })).toBe(2)
    expect(batchesOf({ desiredCount: 4, minimumHealthyPercent: 50, maximumPercent: 100 })).toBe(2)
    expect(batchesOf({ desiredCount: 3, minimumHealthyPercent: 100, maximumPercent: 100 })).toBe(3)
    const report = phaseReport(rollout({}, {}, { desiredCount: 4, maximumPercent: 150 }))
    expect(report.floorLine).toMatch(/2 batches ×/)
  })
})

describe('coveredMs and the summary', () => {
  it('counts overlapping task phases once', () => {
    expect(
      coveredMs([
        [0, 10],
        [5, 15],
        [20, 25],
        [21, 22]
      ])
    ).toBe(20)
    expect(coveredMs([])).toBe(0)
  })

  it('shows each phase with its start, length and source', () => {
    const report = phaseReport(rollout({}))
    const markdown = phasesMarkdown(report, 0)
    expect(markdown).toContain(report.longestLine)
    expect(markdown).toContain(report.floorLine)
    expect(markdown).toContain('| image pull | +2s | 3s | measured |')
    expect(markdown).toContain('| registration to healthy in api-tg | +9s | 10s | inferred |')
    expect(markdown).toContain('| old tasks draining to stopped | +19s | 5s | measured |')
  })
})
