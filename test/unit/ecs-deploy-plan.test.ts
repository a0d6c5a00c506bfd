import { Inputs } from '../../actions/shared/inputs.js'
import {
  describePlannedChange,
  planDeploy,
  readDryRun,
  type PlannedRevision
} from '../../actions/ecs-deploy/plan.js'

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:db-password-AbCdEf'

function running(): PlannedRevision {
  return {
    name: 'noblepay-api:41',
    family: 'noblepay-api',
    cpu: '256',
    memory: '512',
    containerDefinitions: [
      {
        name: 'api',
        image: 'registry/noblepay-api@sha256:aaa',
        environment: [
          { name: 'LOG_LEVEL', value: 'level-info-1' },
          { name: 'DB_HOST', value: 'db.internal' },
          { name: 'OLD_FLAG', value: 'flag-was-on-7' }
        ],
        secrets: [{ name: 'DB_PASSWORD', valueFrom: SECRET_ARN }],
        portMappings: [{ containerPort: 8080, protocol: 'tcp' }],
        healthCheck: { command: ['CMD-SHELL', 'curl -f localhost:8080/health'], interval: 10 }
      },
      { name: 'sidecar', image: 'registry/envoy:1' }
    ]
  }
}

/** The running revision with `change` applied to a copy of its `api` container. */
function next(change: (api: NonNullable<PlannedRevision['containerDefinitions']>[0]) => void) {
  const revision = structuredClone(running())
  revision.name = '(new revision)'
  change(revision.containerDefinitions![0]!)
  return revision
}

describe('dry-run input', () => {
  it('defaults to false, takes YAML booleans, refuses the rest naming the input', () => {
    expect(readDryRun(new Inputs(() => ''))).toBe(false)
    expect(readDryRun(new Inputs(() => 'True'))).toBe(true)
    expect(() => readDryRun(new Inputs(() => 'yes'))).toThrow(
      "Input 'dry-run' is 'yes': use true or false"
    )
  })
})

describe('planDeploy', () => {
  it('the same revision and service plan nothing: none', () => {
    const plan = planDeploy({ running: running(), next: next(() => {}) })
    expect(plan.changes).toEqual([])
    expect(plan.output).toBe('none')
    expect(plan.lines).toEqual([
      'Plan (dry run, nothing changed): (new revision) against noblepay-api:41: no changes.'
    ])
    expect(plan.summary).toContain('nothing would change')
  })

  it('names the image change of the container that changed, not of the others', () => {
    const plan = planDeploy({
      running: running(),
      next: next(api => (api.image = 'registry/noblepay-api@sha256:bbb'))
    })
    expect(plan.changes).toEqual([
      {
        area: 'image',
        container: 'api',
        what: 'image',
        from: 'registry/noblepay-api@sha256:aaa',
        to: 'registry/noblepay-api@sha256:bbb'
      }
    ])
    expect(plan.output).toBe('image of api')
  })

  it('environment keys added, changed and removed, never any value', () => {
    const plan = planDeploy({
      running: running(),
      next: next(api => {
        api.environment = [
          { name: 'LOG_LEVEL', value: 'debug-secret-ish' },
          { name: 'DB_HOST', value: 'db.internal' },
          { name: 'NEW_KEY', value: 'hunter2' }
        ]
      })
    })
    expect(plan.changes.map(describePlannedChange)).toEqual([
      'api environment ~ LOG_LEVEL',
      'api environment + NEW_KEY',
      'api environment - OLD_FLAG'
    ])
    expect(plan.output).toBe('environment +1 ~1 -1')
    const everything = [...plan.lines, plan.summary, plan.output].join('\n')
    for (const value of [
      'debug-secret-ish',
      'hunter2',
      'level-info-1',
      'flag-was-on-7',
      'db.internal'
    ])
      expect(everything).not.toContain(value)
  })

  it('cpu and memory of the task and of a container, ports and the health check', () => {
    const revision = next(api => {
      api.memoryReservation = 256
      api.portMappings = [
        { containerPort: 8080, protocol: 'tcp' },
        { containerPort: 9090, protocol: 'tcp', name: 'metrics' }
      ]
      api.healthCheck = { command: ['CMD-SHELL', 'curl -f localhost:8080/health'], interval: 5 }
    })
    revision.cpu = '512'
    const plan = planDeploy({ running: running(), next: revision })
    expect(plan.changes.map(describePlannedChange)).toEqual([
      'cpu: 256 → 512',
      'api memoryReservation: (unset) → 256',
      'api ports: 8080/tcp → 8080/tcp, 9090/tcp metrics',
      'api health check: CMD-SHELL curl -f localhost:8080/health (every 10s) → CMD-SHELL curl -f localhost:8080/health (every 5s)'
    ])
    expect(plan.output).toBe(
      'cpu 256→512; api memoryReservation (unset)→256; api ports; api health check'
    )
  })

  it('secrets by name and reference: a changed reference shows both ARNs', () => {
    const other = SECRET_ARN.replace('db-password', 'db-password-v2')
    const plan = planDeploy({
      running: running(),
      next: next(api => {
        api.secrets = [
          { name: 'DB_PASSWORD', valueFrom: other },
          { name: 'API_KEY', valueFrom: `${SECRET_ARN}:api::` }
        ]
      })
    })
    expect(plan.changes).toEqual([
      { area: 'secrets', container: 'api', what: '+ API_KEY', to: `${SECRET_ARN}:api::` },
      { area: 'secrets', container: 'api', what: '~ DB_PASSWORD', from: SECRET_ARN, to: other }
    ])
    expect(plan.output).toBe('secrets +1 ~1')
  })

  it('containers added or removed', () => {
    const revision = next(() => {})
    revision.containerDefinitions = [
      revision.containerDefinitions![0]!,
      { name: 'xray', image: 'registry/xray:3' }
    ]
    expect(planDeploy({ running: running(), next: revision }).output).toBe(
      '- container sidecar, + container xray'
    )
  })

  it('service changes: desired count, scaling from planScaling, strategy; unchanged ones are left out', () => {
    const service = {
      desiredCount: 2,
      deploymentConfiguration: { strategy: 'BLUE_GREEN' as const }
    }
    const plan = planDeploy({
      running: running(),
      next: next(() => {}),
      service,
      desiredCount: 4,
      scaling: { outcome: 'planned', changes: 'register target 2 to 10; put CPU policy 70 %' },
      strategy: 'LINEAR'
    })
    expect(plan.changes.map(describePlannedChange)).toEqual([
      'desired count: 2 → 4',
      'scaling: register target 2 to 10; put CPU policy 70 %',
      'strategy: BLUE_GREEN → LINEAR'
    ])
    expect(plan.output).toBe('desired count 2→4; scaling; strategy BLUE_GREEN→LINEAR')
    const same = planDeploy({
      running: running(),
      next: next(() => {}),
      service,
      desiredCount: 2,
      scaling: { outcome: 'unchanged', changes: 'none' },
      strategy: 'BLUE_GREEN'
    })
    expect(same.output).toBe('none')
  })

  it('lists every change in the log and in a summary table', () => {
    const plan = planDeploy({
      running: running(),
      next: next(api => {
        api.image = 'registry/noblepay-api@sha256:bbb'
        api.environment!.push({ name: 'FEATURE_X', value: 'on' })
      })
    })
    expect(plan.lines[0]).toBe(
      'Plan (dry run, nothing changed): (new revision) against noblepay-api:41, 2 changes:'
    )
    expect(plan.lines.slice(1)).toEqual([
      '  api image: registry/noblepay-api@sha256:aaa → registry/noblepay-api@sha256:bbb',
      '  api environment + FEATURE_X'
    ])
    const rows = plan.summary.split('\n').filter(l => l.startsWith('| api'))
    expect(rows).toEqual([
      '| api | image | registry/noblepay-api@sha256:aaa | registry/noblepay-api@sha256:bbb |',
      '| api | environment `+ FEATURE_X` |  |  |'
    ])
  })
})
