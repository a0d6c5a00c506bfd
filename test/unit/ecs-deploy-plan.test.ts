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

describe('planDeploy, field by field', () => {
  const plan = (revision: PlannedRevision, over: Partial<Parameters<typeof planDeploy>[0]> = {}) =>
    planDeploy({ running: running(), next: revision, ...over })

  it('task memory: from and to, in the log line and the output', () => {
    const revision = next(() => {})
    revision.memory = '1024'
    const result = plan(revision)
    expect(result.changes).toEqual([{ area: 'memory', what: 'memory', from: '512', to: '1024' }])
    expect(result.lines[1]).toBe('  memory: 512 → 1024')
    expect(result.output).toBe('memory 512→1024')
  })

  it("a container's cpu is a cpu change and its memory a memory change", () => {
    const result = plan(
      next(api => {
        api.cpu = 128
        api.memory = 300
      })
    )
    expect(result.changes).toEqual([
      { area: 'cpu', container: 'api', what: 'cpu', from: '(unset)', to: '128' },
      { area: 'memory', container: 'api', what: 'memory', from: '(unset)', to: '300' }
    ])
    expect(result.output).toBe('api cpu (unset)→128; api memory (unset)→300')
  })

  it('an unset value, an empty one and null are the same: no change', () => {
    const revision = next(api => {
      api.memoryReservation = null as unknown as number
      api.cpu = undefined
    })
    revision.cpu = ''
    const running0 = running()
    running0.cpu = undefined
    expect(planDeploy({ running: running0, next: revision }).changes).toEqual([])
    const cleared = next(() => {})
    cleared.memory = ''
    expect(plan(cleared).changes).toEqual([
      { area: 'memory', what: 'memory', from: '512', to: '(unset)' }
    ])
  })

  it('environment and secret keys are listed in name order, whatever order the file has', () => {
    const result = plan(
      next(api => {
        api.environment = [
          { name: 'ZETA', value: '1' },
          { name: 'ALPHA', value: '1' }
        ]
        api.secrets = [
          { name: 'Z_TOKEN', valueFrom: `${SECRET_ARN}:z::` },
          { name: 'A_TOKEN', valueFrom: `${SECRET_ARN}:a::` }
        ]
      })
    )
    const from = running()
    from.containerDefinitions![0]!.environment!.reverse()
    expect(result.changes.map(c => c.what)).toEqual([
      '+ ALPHA',
      '+ ZETA',
      '- DB_HOST',
      '- LOG_LEVEL',
      '- OLD_FLAG',
      '+ A_TOKEN',
      '+ Z_TOKEN',
      '- DB_PASSWORD'
    ])
    const removed = planDeploy({
      running: {
        ...from,
        containerDefinitions: [
          {
            ...from.containerDefinitions![0]!,
            secrets: [
              { name: 'Z_OLD', valueFrom: 'arn:z' },
              { name: 'A_OLD', valueFrom: 'arn:a' }
            ]
          },
          from.containerDefinitions![1]!
        ]
      },
      next: next(api => {
        api.environment = []
        api.secrets = []
      })
    })
    expect(removed.changes.map(c => c.what)).toEqual([
      '- DB_HOST',
      '- LOG_LEVEL',
      '- OLD_FLAG',
      '- A_OLD',
      '- Z_OLD'
    ])
  })

  it('a removed secret shows the reference it was read from', () => {
    const result = plan(next(api => (api.secrets = [])))
    expect(result.changes).toEqual([
      { area: 'secrets', container: 'api', what: '- DB_PASSWORD', from: SECRET_ARN }
    ])
    expect(result.lines[1]).toBe(`  api secrets - DB_PASSWORD (was ${SECRET_ARN})`)
    expect(result.output).toBe('secrets -1')
  })

  it('a new secret shows its reference; an environment key and a secret count separately', () => {
    const result = plan(
      next(api => {
        api.secrets!.push({ name: 'API_KEY', valueFrom: 'arn:key' })
        api.environment = api.environment!.filter(v => v.name !== 'OLD_FLAG')
      })
    )
    expect(result.lines.slice(1)).toEqual([
      '  api environment - OLD_FLAG',
      '  api secrets + API_KEY: arn:key'
    ])
    expect(result.output).toBe('environment -1; secrets +1')
  })

  it('ports: protocol tcp when unset, a different host port, the mapping name, unknown port', () => {
    const mapped = (
      portMappings: NonNullable<PlannedRevision['containerDefinitions']>[0]['portMappings']
    ) => plan(next(api => (api.portMappings = portMappings))).changes[0]?.to
    expect(mapped([{ containerPort: 8080 }])).toBe(undefined)
    expect(mapped([{ containerPort: 8080, protocol: 'udp' }])).toBe('8080/udp')
    expect(mapped([{ containerPort: 8080, hostPort: 8080, protocol: 'tcp' }])).toBe(undefined)
    expect(mapped([{ containerPort: 8080, hostPort: 80 }])).toBe('8080/tcp (host 80)')
    expect(mapped([{ containerPort: 8080, name: 'web' }])).toBe('8080/tcp web')
    expect(mapped([{ protocol: 'tcp' }])).toBe('?/tcp')
    expect(mapped([])).toBe('none')
    expect(mapped([{ containerPort: 9090 }, { containerPort: 8080 }])).toBe('8080/tcp, 9090/tcp')
  })

  it('health check: every timing that is set, none without a command', () => {
    const check = (
      healthCheck: NonNullable<PlannedRevision['containerDefinitions']>[0]['healthCheck']
    ) => plan(next(api => (api.healthCheck = healthCheck))).changes[0]?.to
    expect(check({ command: ['CMD', 'true'], timeout: 3, retries: 2, startPeriod: 30 })).toBe(
      'CMD true (timeout 3s, 2 retries, start period 30s)'
    )
    expect(check({ command: ['CMD', 'true'], interval: 0 })).toBe('CMD true (every 0s)')
    expect(check({ command: ['CMD', 'true'] })).toBe('CMD true')
    expect(check({ command: [] })).toBe('none')
    expect(check(undefined)).toBe('none')
    expect(plan(next(api => (api.healthCheck = undefined))).lines[1]).toBe(
      '  api health check: CMD-SHELL curl -f localhost:8080/health (every 10s) → none'
    )
  })

  it('containers added and removed are named once in the log, with their own sign', () => {
    const revision = next(() => {})
    revision.containerDefinitions = [
      revision.containerDefinitions![0]!,
      { name: 'xray', image: 'registry/xray:3' }
    ]
    expect(plan(revision).lines.slice(1)).toEqual(['  - container sidecar', '  + container xray'])
  })

  it('the image output names every container whose image changes', () => {
    const revision = next(api => (api.image = 'registry/noblepay-api@sha256:bbb'))
    revision.containerDefinitions![1]!.image = 'registry/envoy:2'
    expect(plan(revision).output).toBe('image of api, sidecar')
  })

  it('service changes against a service with no desired count or strategy; inputs not set change nothing', () => {
    const service = { desiredCount: 3, deploymentConfiguration: { strategy: 'LINEAR' as const } }
    expect(
      plan(
        next(() => {}),
        { service }
      ).changes
    ).toEqual([])
    expect(
      plan(
        next(() => {}),
        {
          service: {},
          desiredCount: 2,
          strategy: 'BLUE_GREEN'
        }
      ).changes
    ).toEqual([
      { area: 'desired count', what: 'desired count', from: '(unset)', to: '2' },
      { area: 'strategy', what: 'strategy', from: 'ROLLING', to: 'BLUE_GREEN' }
    ])
    expect(
      plan(
        next(() => {}),
        { service: {}, strategy: 'ROLLING' }
      ).changes
    ).toEqual([])
    expect(
      plan(
        next(() => {}),
        { desiredCount: 0 }
      ).changes
    ).toEqual([{ area: 'desired count', what: 'desired count', from: '(unset)', to: '0' }])
  })

  it('scaling is a change only when planScaling found something to change', () => {
    expect(
      plan(
        next(() => {}),
        { scaling: { outcome: 'planned', changes: 'none' } }
      ).changes
    ).toEqual([])
    expect(
      plan(
        next(() => {}),
        { scaling: { outcome: 'planned', changes: 'put CPU policy 60 %' } }
      ).lines[1]
    ).toBe('  scaling: put CPU policy 60 %')
  })

  it('one change is counted in the singular; unnamed revisions are called so', () => {
    const revision = next(api => (api.image = 'registry/noblepay-api@sha256:bbb'))
    delete revision.name
    const unnamed = { ...running(), name: undefined }
    const result = planDeploy({ running: unnamed, next: revision })
    expect(result.lines[0]).toBe(
      'Plan (dry run, nothing changed): (new revision) against the running revision, 1 change:'
    )
    expect(result.summary.split('\n')[0]).toBe(
      '### Plan: new revision against the running revision'
    )
    const none = planDeploy({ running: unnamed, next: { ...unnamed } })
    expect(none.lines).toEqual([
      'Plan (dry run, nothing changed): (new revision) against the running revision: no changes.'
    ])
    expect(none.summary).toBe(
      '### Plan: new revision against the running revision\n\nDry run: nothing was changed, and nothing would change.\n'
    )
  })

  it('the summary table: service-level rows, field names alone, keys in code, empty ends blank', () => {
    const revision = next(api => (api.secrets = []))
    revision.cpu = '512'
    const result = planDeploy({
      running: running(),
      next: revision,
      service: { desiredCount: 2 },
      desiredCount: 3
    })
    expect(result.summary).toBe(
      [
        '### Plan: (new revision) against noblepay-api:41',
        '',
        'Dry run: nothing was registered or changed. Environment values are not shown.',
        '',
        '| Where | What | Now | Would be |',
        '| --- | --- | --- | --- |',
        '| service | cpu | 256 | 512 |',
        `| api | secrets \`- DB_PASSWORD\` | ${SECRET_ARN} |  |`,
        '| service | desired count | 2 | 3 |',
        ''
      ].join('\n')
    )
  })
})

describe('describePlannedChange', () => {
  it('names keys with their area, fields by themselves, and a container once', () => {
    expect(describePlannedChange({ area: 'environment', container: 'api', what: '+ A' })).toBe(
      'api environment + A'
    )
    expect(
      describePlannedChange({ area: 'container', container: 'x', what: '+ container x' })
    ).toBe('+ container x')
    expect(describePlannedChange({ area: 'cpu', what: 'cpu', from: '1', to: '2' })).toBe(
      'cpu: 1 → 2'
    )
    expect(describePlannedChange({ area: 'scaling', what: 'scaling', to: 'x' })).toBe('scaling: x')
    expect(describePlannedChange({ area: 'secrets', what: '- S', from: 'arn' })).toBe(
      'secrets - S (was arn)'
    )
  })
})

describe('planDeploy on revisions with parts left out', () => {
  it('a revision with no containers, unnamed entries and a check with no command', () => {
    const bare: PlannedRevision = { family: 'noblepay-api', cpu: '256', memory: '512' }
    expect(planDeploy({ running: bare, next: running() }).lines.slice(1)).toEqual([
      '  + container api',
      '  + container sidecar'
    ])
    expect(planDeploy({ running: running(), next: bare }).output).toBe(
      '- container api, - container sidecar'
    )
    const unnamed = next(api => {
      api.environment = [{ value: 'x' }, { name: 'DB_HOST' }]
      api.secrets = [{ valueFrom: 'arn:s' }, { name: 'DB_PASSWORD' }] as typeof api.secrets
      api.portMappings = undefined
      api.healthCheck = {} as typeof api.healthCheck
    })
    delete unnamed.containerDefinitions![1]!.name
    expect(planDeploy({ running: running(), next: unnamed }).lines.slice(1)).toEqual([
      '  - container sidecar',
      '  api environment + ',
      '  api environment ~ DB_HOST',
      '  api environment - LOG_LEVEL',
      '  api environment - OLD_FLAG',
      '  api secrets + : arn:s',
      `  api secrets ~ DB_PASSWORD: ${SECRET_ARN} → `,
      '  api ports: 8080/tcp → none',
      '  api health check: CMD-SHELL curl -f localhost:8080/health (every 10s) → none',
      '  + container '
    ])
  })

  it('two changes of one area are listed together in the output', () => {
    const revision = next(api => (api.cpu = 128))
    revision.cpu = '512'
    expect(planDeploy({ running: running(), next: revision }).output).toBe(
      'cpu 256→512, api cpu (unset)→128'
    )
  })
})
