import { InputError } from '../../actions/shared/errors.js'
import { Inputs } from '../../actions/shared/inputs.js'
import {
  describeChange,
  describeDeclaration,
  diffScaling,
  policyName,
  readScalingInputs,
  scalingNames,
  type PolicyState,
  type ScalingDeclaration,
  type ScalingState
} from '../../actions/ecs-deploy/scaling.js'

const inputs = (values: Record<string, string>) => new Inputs(name => values[name] ?? '')

/** The seed's production values. */
const SEED = {
  'auto-scaling-min': '3',
  'auto-scaling-max': '20',
  'auto-scaling-cpu-target': '70',
  'auto-scaling-memory-target': '80'
}

function inputError(values: Record<string, string>, desiredCount?: number): InputError {
  try {
    readScalingInputs(inputs(values), desiredCount)
  } catch (error) {
    if (error instanceof InputError) return error
    throw error
  }
  throw new Error('expected an input error')
}

describe('readScalingInputs', () => {
  it('leaves scaling alone when every auto-scaling input is empty', () => {
    expect(readScalingInputs(inputs({}), undefined)).toBeUndefined()
    // desired-count alone is an ordinary deploy, not a conflict.
    expect(readScalingInputs(inputs({}), 4)).toBeUndefined()
  })

  it('reads the seed declaration with the cooldowns defaulting to 300 s out and 900 s in', () => {
    expect(readScalingInputs(inputs(SEED), undefined)).toEqual({
      minCapacity: 3,
      maxCapacity: 20,
      targets: { cpu: 70, memory: 80 },
      scaleOutCooldown: 300,
      scaleInCooldown: 900
    })
  })

  it('takes given cooldowns, one metric alone, and min equal to max', () => {
    expect(
      readScalingInputs(
        inputs({
          'auto-scaling-min': '2',
          'auto-scaling-max': '2',
          'auto-scaling-memory-target': '65',
          'auto-scaling-scale-out-cooldown': '60',
          'auto-scaling-scale-in-cooldown': '0'
        }),
        undefined
      )
    ).toEqual({
      minCapacity: 2,
      maxCapacity: 2,
      targets: { memory: 65 },
      scaleOutCooldown: 60,
      scaleInCooldown: 0
    })
  })

  it('declares bounds without any policy when only min and max are given', () => {
    expect(
      readScalingInputs(inputs({ 'auto-scaling-min': '0', 'auto-scaling-max': '4' }), undefined)
    ).toMatchObject({ minCapacity: 0, maxCapacity: 4, targets: {} })
  })

  it('refuses min greater than max, naming both values', () => {
    const error = inputError({ ...SEED, 'auto-scaling-min': '21' })
    expect(error.input).toBe('auto-scaling-min')
    expect(error.message).toBe(
      "Input 'auto-scaling-min' is '21': it is greater than auto-scaling-max (20); the minimum task count must not exceed the maximum"
    )
  })

  it.each([
    ['auto-scaling-min', { 'auto-scaling-max': '20' }, 'auto-scaling-max is 20'],
    ['auto-scaling-max', { 'auto-scaling-min': '3' }, 'auto-scaling-min is 3']
  ])('refuses one bound without the other, naming the missing %s', (missing, values, given) => {
    const error = inputError(values)
    expect(error.input).toBe(missing)
    expect(error.message).toContain(`Input '${missing}' is empty: ${given}; give both`)
  })

  it.each([
    ['auto-scaling-cpu-target', '70'],
    ['auto-scaling-memory-target', '80'],
    ['auto-scaling-scale-out-cooldown', '300'],
    ['auto-scaling-scale-in-cooldown', '900']
  ])('refuses %s without min and max', (name, value) => {
    const error = inputError({ [name]: value })
    expect(error.input).toBe(name)
    expect(error.message).toBe(
      `Input '${name}' is '${value}': a scaling policy needs the scalable target's bounds: set auto-scaling-min and auto-scaling-max too (e.g. 3 and 20)`
    )
  })

  it.each([
    ['auto-scaling-cpu-target', '0'],
    ['auto-scaling-cpu-target', '101'],
    ['auto-scaling-memory-target', '0'],
    ['auto-scaling-memory-target', '250']
  ])('refuses %s of %s: a target is 1 to 100 percent', (name, value) => {
    const error = inputError({ ...SEED, [name]: value })
    expect(error.input).toBe(name)
    expect(error.message).toMatch(
      new RegExp(
        `^Input '${name}' is '${value}': use a whole number from 1 to 100 percent, e\\.g\\. `
      )
    )
  })

  it.each([
    ['auto-scaling-min', '2.5'],
    ['auto-scaling-max', 'twenty'],
    ['auto-scaling-min', '-1'],
    ['auto-scaling-cpu-target', '70.5'],
    ['auto-scaling-memory-target', '80%'],
    ['auto-scaling-scale-out-cooldown', '5m'],
    ['auto-scaling-scale-in-cooldown', '1e3']
  ])('refuses the non-integer %s %s, naming input and value', (name, value) => {
    const error = inputError({ ...SEED, [name]: value })
    expect(error.input).toBe(name)
    expect(error.value).toBe(value)
    expect(error.message).toContain('use a whole number')
  })

  it('refuses a max of 0 and a cooldown over a day', () => {
    expect(inputError({ 'auto-scaling-min': '0', 'auto-scaling-max': '0' }).input).toBe(
      'auto-scaling-max'
    )
    const error = inputError({ ...SEED, 'auto-scaling-scale-in-cooldown': '86401' })
    expect(error.message).toContain('from 0 to 86400 seconds')
  })

  it('refuses desired-count together with scaling: they fight over the task count', () => {
    const error = inputError(SEED, 5)
    expect(error.input).toBe('desired-count')
    expect(error.message).toBe(
      "Input 'desired-count' is '5': with auto-scaling declared (auto-scaling-min 3, auto-scaling-max 20) the policies set the task count; leave desired-count empty"
    )
  })
})

// ---- the diff ----------------------------------------------------------------------------------

const NAMES = scalingNames('arn:aws:ecs:eu-west-1:123456789012:cluster/payments', 'api')
const DECLARED: ScalingDeclaration = {
  minCapacity: 3,
  maxCapacity: 20,
  targets: { cpu: 70, memory: 80 },
  scaleOutCooldown: 300,
  scaleInCooldown: 900
}

function ours(metric: 'cpu' | 'memory', overrides: Partial<PolicyState> = {}): PolicyState {
  return {
    policyName: policyName('api', metric),
    policyType: 'TargetTrackingScaling',
    predefinedMetricType:
      metric === 'cpu' ? 'ECSServiceAverageCPUUtilization' : 'ECSServiceAverageMemoryUtilization',
    targetValue: metric === 'cpu' ? 70 : 80,
    scaleOutCooldown: 300,
    scaleInCooldown: 900,
    disableScaleIn: false,
    ...overrides
  }
}

/** Exactly what DECLARED asks for. */
const inPlace = (): ScalingState => ({
  target: { minCapacity: 3, maxCapacity: 20, dynamicScalingSuspended: false },
  policies: [ours('cpu'), ours('memory')]
})

describe('scalingNames', () => {
  it('builds the ECS resource ID from names or ARNs', () => {
    expect(NAMES).toEqual({ resourceId: 'service/payments/api', service: 'api' })
    expect(
      scalingNames('payments', 'arn:aws:ecs:eu-west-1:123456789012:service/payments/api')
    ).toEqual({ resourceId: 'service/payments/api', service: 'api' })
  })
})

describe('diffScaling', () => {
  it('registers the target and puts one policy per metric when nothing is there', () => {
    const plan = diffScaling(DECLARED, { policies: [] }, NAMES)
    expect(plan.changes).toEqual([
      { kind: 'register-target', minCapacity: 3, maxCapacity: 20, before: undefined },
      {
        kind: 'put-policy',
        metric: 'cpu',
        policyName: 'api-cpu-target-tracking',
        targetValue: 70,
        scaleOutCooldown: 300,
        scaleInCooldown: 900,
        before: undefined
      },
      {
        kind: 'put-policy',
        metric: 'memory',
        policyName: 'api-memory-target-tracking',
        targetValue: 80,
        scaleOutCooldown: 300,
        scaleInCooldown: 900,
        before: undefined
      }
    ])
    expect(plan.resourceId).toBe('service/payments/api')
  })

  it('changes nothing when everything is as declared', () => {
    const plan = diffScaling(DECLARED, inPlace(), NAMES)
    expect(plan.changes).toEqual([])
    expect(plan.otherPolicies).toEqual([])
  })

  it.each([
    ['min', { minCapacity: 2, maxCapacity: 20 }],
    ['max', { minCapacity: 3, maxCapacity: 10 }]
  ])('registers the target again when its %s differs, and only that', (_, bounds) => {
    const state = inPlace()
    state.target = { ...bounds, dynamicScalingSuspended: false }
    const plan = diffScaling(DECLARED, state, NAMES)
    expect(plan.changes).toEqual([
      { kind: 'register-target', minCapacity: 3, maxCapacity: 20, before: bounds }
    ])
    expect(describeChange(plan.changes[0]!)).toBe(
      `scalable target ${bounds.minCapacity}–${bounds.maxCapacity} → 3–20 tasks`
    )
  })

  it.each<[string, Partial<PolicyState>, string]>([
    ['another target value', { targetValue: 60 }, 'target 60 → 70 %'],
    ['another scale-out cooldown', { scaleOutCooldown: 60 }, 'scale-out cooldown 60 → 300 s'],
    ['another scale-in cooldown', { scaleInCooldown: 300 }, 'scale-in cooldown 300 → 900 s'],
    ['scale-in disabled', { disableScaleIn: true }, 'scale-in was disabled'],
    [
      'a different metric',
      { predefinedMetricType: 'ALBRequestCountPerTarget' },
      'tracked ALBRequestCountPerTarget'
    ],
    ['a customized metric', { predefinedMetricType: undefined }, 'tracked a customized metric'],
    ['another policy type', { policyType: 'StepScaling' }, 'was a StepScaling policy']
  ])('puts our policy again when it has %s', (_, overrides, difference) => {
    const state = inPlace()
    state.policies = [ours('cpu', overrides), ours('memory')]
    const plan = diffScaling(DECLARED, state, NAMES)
    expect(plan.changes).toHaveLength(1)
    expect(plan.changes[0]).toMatchObject({
      kind: 'put-policy',
      metric: 'cpu',
      policyName: 'api-cpu-target-tracking',
      targetValue: 70
    })
    expect(describeChange(plan.changes[0]!)).toBe(
      `updated policy api-cpu-target-tracking (${difference})`
    )
  })

  it('reads a cooldown AWS left unset as its ECS default of 300 s', () => {
    const state = inPlace()
    state.policies = [
      ours('cpu', { scaleOutCooldown: undefined }),
      ours('memory', { scaleOutCooldown: undefined, scaleInCooldown: undefined })
    ]
    const plan = diffScaling(DECLARED, state, NAMES)
    // 300 out matches the default; 900 in does not.
    expect(plan.changes).toEqual([
      expect.objectContaining({ kind: 'put-policy', metric: 'memory' })
    ])
  })

  it('deletes our policy for a metric no longer declared, and nothing else', () => {
    const declared = { ...DECLARED, targets: { cpu: 70 } }
    const plan = diffScaling(declared, inPlace(), NAMES)
    expect(plan.changes).toEqual([
      {
        kind: 'delete-policy',
        metric: 'memory',
        policyName: 'api-memory-target-tracking',
        before: ours('memory')
      }
    ])
    expect(describeChange(plan.changes[0]!)).toBe(
      'deleted policy api-memory-target-tracking (memory is no longer declared)'
    )
  })

  it('leaves policies it did not name alone and lists them', () => {
    const state = inPlace()
    const foreign = ours('cpu', { policyName: 'cpu75-target-tracking-scaling-policy' })
    state.policies.push(foreign)
    const declared = { ...DECLARED, targets: {} }
    const plan = diffScaling(declared, state, NAMES)
    expect(plan.changes.map(c => c.kind)).toEqual(['delete-policy', 'delete-policy'])
    expect(plan.changes.map(c => ('policyName' in c ? c.policyName : ''))).not.toContain(
      foreign.policyName
    )
    expect(plan.otherPolicies).toEqual(['cpu75-target-tracking-scaling-policy'])
  })

  it('creates a missing policy next to one already in place', () => {
    const state = inPlace()
    state.policies = [ours('memory')]
    const plan = diffScaling(DECLARED, state, NAMES)
    expect(plan.changes).toEqual([
      expect.objectContaining({ kind: 'put-policy', metric: 'cpu', before: undefined })
    ])
    expect(describeChange(plan.changes[0]!)).toBe(
      'created policy api-cpu-target-tracking (CPU 70 %)'
    )
  })

  it('says when dynamic scaling is suspended on the target', () => {
    const state = inPlace()
    state.target!.dynamicScalingSuspended = true
    expect(diffScaling(DECLARED, state, NAMES).dynamicScalingSuspended).toBe(true)
    expect(diffScaling(DECLARED, inPlace(), NAMES).dynamicScalingSuspended).toBe(false)
  })
})

describe('what an input error tells the user to write', () => {
  it.each([
    ['auto-scaling-min', '-1', 'use a whole number of at least 0, e.g. 3'],
    ['auto-scaling-max', '0', 'use a whole number of at least 1, e.g. 20'],
    ['auto-scaling-cpu-target', '0', 'use a whole number from 1 to 100 percent, e.g. 70'],
    ['auto-scaling-memory-target', '101', 'use a whole number from 1 to 100 percent, e.g. 80'],
    [
      'auto-scaling-scale-out-cooldown',
      '86401',
      'use a whole number from 0 to 86400 seconds, e.g. 300'
    ],
    ['auto-scaling-scale-in-cooldown', '1h', 'use a whole number from 0 to 86400 seconds, e.g. 900']
  ])('%s %s: "%s"', (name, value, fix) => {
    const error = inputError({ ...SEED, [name]: value })
    expect(error.input).toBe(name)
    expect(error.message).toBe(`Input '${name}' is '${value}': ${fix}`)
  })

  it('takes the upper bounds themselves: 100 percent, a cooldown of a day, max 1', () => {
    expect(
      readScalingInputs(
        inputs({
          'auto-scaling-min': '1',
          'auto-scaling-max': '1',
          'auto-scaling-cpu-target': '100',
          'auto-scaling-scale-out-cooldown': '86400',
          'auto-scaling-scale-in-cooldown': '86400'
        }),
        undefined
      )
    ).toMatchObject({
      minCapacity: 1,
      maxCapacity: 1,
      targets: { cpu: 100 },
      scaleOutCooldown: 86400,
      scaleInCooldown: 86400
    })
  })
})

describe('policyDifferences as the user reads them', () => {
  it('says a policy without a target value had none, and lists several differences at once', () => {
    const state = inPlace()
    state.policies = [
      ours('cpu', { targetValue: undefined, disableScaleIn: true }),
      ours('memory', { scaleOutCooldown: undefined, scaleInCooldown: undefined })
    ]
    const plan = diffScaling(DECLARED, state, NAMES)
    expect(plan.changes.map(describeChange)).toEqual([
      'updated policy api-cpu-target-tracking (target none → 70 %, scale-in was disabled)',
      'updated policy api-memory-target-tracking (scale-in cooldown 300 → 900 s)'
    ])
  })

  it('leaves alone a metric that is neither declared nor has a policy of ours', () => {
    const state = inPlace()
    state.policies = [ours('cpu')]
    expect(diffScaling({ ...DECLARED, targets: { cpu: 70 } }, state, NAMES).changes).toEqual([])
  })

  it('finds nothing suspended on a service without a scalable target', () => {
    expect(diffScaling(DECLARED, { policies: [] }, NAMES).dynamicScalingSuspended).toBe(false)
  })
})

describe('describeDeclaration', () => {
  it('names the bounds, the tracked metrics and the cooldowns', () => {
    expect(describeDeclaration({ ...DECLARED, targets: { memory: 65 } })).toBe(
      '3–20 tasks; memory 65 %; cooldowns 300 s out, 900 s in'
    )
  })

  it('says when only the bounds are declared', () => {
    expect(describeDeclaration({ ...DECLARED, targets: {} })).toBe(
      '3–20 tasks; no target-tracking policy'
    )
  })
})
