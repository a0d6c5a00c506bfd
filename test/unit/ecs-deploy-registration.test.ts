/**
 * Reading a registration back after RegisterTaskDefinition's reply was lost: every page of
 * ListTaskDefinitions (a page may be short of maxResults), and a listing that lags the
 * registration a few seconds, before the registration counts as not made and is sent again.
 */
import {
  DescribeTaskDefinitionCommand,
  ECSClient,
  ListTaskDefinitionsCommand,
  RegisterTaskDefinitionCommand
} from '@aws-sdk/client-ecs'
import { mockClient } from 'aws-sdk-client-mock'
import { EcsGateway } from '../../actions/ecs-deploy/ecs.js'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import { arn } from '../support/ecs-fixtures.js'
import { FakeClock } from '../support/runner.js'

const ecsMock = mockClient(ECSClient)
const T0 = Date.parse('2026-12-01T10:00:00Z')
const MARKER = [{ key: 'noblepay:run', value: '777/1' }]
const lost = () =>
  Object.assign(new Error('socket hang up'), { name: 'TimeoutError', $metadata: {} })

function gateway(clock: FakeClock) {
  return new EcsGateway(
    new ECSClient({ region: 'eu-west-1' }),
    new AwsCaller({
      clock,
      deadline: T0 + 120_000,
      attemptTimeoutMs: 2_000,
      backoffMs: 100,
      maxBackoffMs: 1_000
    })
  )
}

/** Revisions by number: ours (42) carries the marker; all registered just now. */
function describes(clock: FakeClock) {
  ecsMock.on(DescribeTaskDefinitionCommand).callsFake(input => {
    const revision = Number(String(input.taskDefinition).split(':').pop())
    return {
      taskDefinition: {
        taskDefinitionArn: arn('api', revision),
        family: 'api',
        revision,
        registeredAt: new Date(clock.now())
      },
      tags: revision === 42 ? MARKER : [{ key: 'noblepay:run', value: 'other' }]
    }
  })
}

beforeEach(() => ecsMock.reset())

describe('registerTaskDefinition after a lost reply', () => {
  it('reads every page of the listing, short ones too, and finds ours past the first', async () => {
    const clock = new FakeClock(T0)
    ecsMock.on(RegisterTaskDefinitionCommand).rejects(lost())
    ecsMock
      .on(ListTaskDefinitionsCommand)
      .callsFake(input =>
        input.nextToken
          ? { taskDefinitionArns: [arn('api', 42), arn('api', 41)] }
          : { taskDefinitionArns: [arn('api', 44), arn('api', 43)], nextToken: 'page-2' }
      )
    describes(clock)
    const result = await gateway(clock).registerTaskDefinition(
      { family: 'api', containerDefinitions: [] },
      { tags: MARKER }
    )
    expect(result).toMatchObject({ readBack: true, taskDefinition: { revision: 42 } })
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(1)
    expect(ecsMock.commandCalls(ListTaskDefinitionsCommand)[1]!.args[0].input.nextToken).toBe(
      'page-2'
    )
  })

  it('waits for a listing that lags the registration, and registers once', async () => {
    const clock = new FakeClock(T0)
    ecsMock.on(RegisterTaskDefinitionCommand).rejects(lost())
    let lists = 0
    ecsMock
      .on(ListTaskDefinitionsCommand)
      .callsFake(() => ({ taskDefinitionArns: ++lists < 3 ? [] : [arn('api', 42)] }))
    describes(clock)
    const result = await gateway(clock).registerTaskDefinition(
      { family: 'api', containerDefinitions: [] },
      { tags: MARKER, listingLagMs: 5_000 }
    )
    expect(result).toMatchObject({ readBack: true, taskDefinition: { revision: 42 } })
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(1)
    expect(lists).toBe(3)
  })

  it('sends the registration again only once the listing has had its time to catch up', async () => {
    const clock = new FakeClock(T0)
    let sends = 0
    ecsMock.on(RegisterTaskDefinitionCommand).callsFake(() => {
      if (++sends === 1) throw lost()
      return { taskDefinition: { taskDefinitionArn: arn('api', 42), revision: 42 } }
    })
    ecsMock.on(ListTaskDefinitionsCommand).resolves({ taskDefinitionArns: [] })
    const started = clock.now()
    const result = await gateway(clock).registerTaskDefinition(
      { family: 'api', containerDefinitions: [] },
      { tags: MARKER, listingLagMs: 5_000 }
    )
    expect(result).toMatchObject({ readBack: false, taskDefinition: { revision: 42 } })
    expect(sends).toBe(2)
    expect(clock.now() - started).toBeGreaterThanOrEqual(4_000)
  })
})
