import { judgeServing, taskIp, type ServingLook } from '../../actions/ecs-deploy/serving.js'

const A = 'arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/api-a/1'
const B = 'arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/api-b/2'
const fresh = [
  { taskArn: 'n1', ip: '10.0.0.1' },
  { taskArn: 'n2', ip: '10.0.0.2' }
]
const target = (id: string, state: string) => ({ id, port: 8080, state })

/** Both new tasks healthy in both groups, both old ones draining: serving. */
function look(overrides: Partial<ServingLook> = {}): ServingLook {
  const targets = () => [
    target('10.0.0.1', 'healthy'),
    target('10.0.0.2', 'healthy'),
    target('10.0.9.1', 'draining'),
    target('10.0.9.2', 'draining')
  ]
  return {
    desiredCount: 2,
    newTasks: fresh,
    targets: { [A]: targets(), [B]: targets() },
    ...overrides
  }
}

describe('judgeServing', () => {
  it('serves once every new task is healthy in every group and the old ones only drain', () => {
    expect(judgeServing(look())).toEqual({ serving: true, healthyIn: [A, B] })
  })

  it('waits while an old task still takes new requests', () => {
    const l = look()
    l.targets[B]![3] = target('10.0.9.2', 'healthy')
    expect(judgeServing(l)).toMatchObject({
      serving: false,
      reason: 'old target 10.0.9.2 still takes new requests in api-b',
      healthyIn: [A, B]
    })
  })

  it('waits while a new task is not healthy in one group, even with the count right and the old ones gone', () => {
    for (const state of ['initial', 'unhealthy', 'draining']) {
      const l = look()
      l.targets[B]![0] = target('10.0.0.1', state)
      expect(judgeServing(l)).toMatchObject({
        serving: false,
        reason: `new target 10.0.0.1 is ${state} in api-b`,
        healthyIn: [A]
      })
    }
    const missing = look()
    missing.targets[A] = missing.targets[A]!.slice(1)
    expect(judgeServing(missing)).toMatchObject({
      serving: false,
      reason: 'new target 10.0.0.1 is not registered in api-a'
    })
  })

  it('waits until the new revision has the desired count of tasks it can find', () => {
    expect(judgeServing(look({ desiredCount: 3 }))).toMatchObject({
      serving: false,
      reason: '2 of 3 new tasks are known',
      healthyIn: []
    })
    expect(judgeServing(look({ newTasks: [fresh[0]!, { taskArn: 'n2' }] }))).toMatchObject({
      serving: false
    })
  })

  it('never serves a service without target groups: there is nothing to judge by', () => {
    expect(judgeServing(look({ targets: {} }))).toMatchObject({ serving: false })
  })
})

describe('taskIp', () => {
  it("reads the private IP of the task's network interface", () => {
    expect(
      taskIp({
        attachments: [
          {
            type: 'ElasticNetworkInterface',
            details: [{ name: 'privateIPv4Address', value: '10.1.2.3' }]
          }
        ]
      })
    ).toBe('10.1.2.3')
    expect(
      taskIp({ containers: [{ networkInterfaces: [{ privateIpv4Address: '10.4.5.6' }] }] })
    ).toBe('10.4.5.6')
    expect(taskIp({})).toBeUndefined()
  })
})
