import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs'
import type { TaskDefinition } from '@aws-sdk/client-ecs'
import { mockClient } from 'aws-sdk-client-mock'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import { Inputs } from '../../actions/shared/inputs.js'
import {
  awslogsLocation,
  crashLogsMarkdown,
  crashLogsText,
  explainLogProblem,
  fetchCrashLogs,
  LogsGateway,
  pickCrashedContainer,
  printableLines,
  readLogLines,
  type CrashLogs,
  type LogProblem
} from '../../actions/ecs-deploy/logs.js'
import { FakeClock } from '../support/runner.js'
import { taskDefinition } from '../support/ecs-fixtures.js'

const logsMock = mockClient(CloudWatchLogsClient)
const TASK_ARN = 'arn:aws:ecs:eu-west-1:123456789012:task/payments/0123456789abcdef0123456789abcdef'

const awslogs = (options: Record<string, string>): TaskDefinition =>
  taskDefinition(42, {
    containerDefinitions: [
      {
        name: 'api',
        image: 'registry/api:v42',
        essential: true,
        logConfiguration: { logDriver: 'awslogs', options }
      },
      { name: 'envoy', image: 'envoy:1', essential: false }
    ]
  })

const OPTIONS = {
  'awslogs-group': '/ecs/payments-api',
  'awslogs-region': 'eu-central-1',
  'awslogs-stream-prefix': 'ecs'
}

const sdkError = (name: string, message: string, httpStatusCode = 400) =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode } })

function gateway(clock = new FakeClock(), deadlineMs = 30_000): LogsGateway {
  const caller = new AwsCaller({
    clock,
    deadline: clock.now() + deadlineMs,
    attemptTimeoutMs: 2_000,
    backoffMs: 500,
    maxBackoffMs: 2_000
  })
  return new LogsGateway(
    new CloudWatchLogsClient({ region: 'eu-west-1', maxAttempts: 1 }),
    caller,
    'eu-west-1'
  )
}

beforeEach(() => logsMock.reset())

describe('log-lines', () => {
  const read = (value: string) =>
    readLogLines(new Inputs(name => (name === 'log-lines' ? value : '')))

  it('defaults to 20, takes 0 (off) to 10000', () => {
    expect(read('')).toBe(20)
    expect(read('0')).toBe(0)
    expect(read('10000')).toBe(10000)
  })

  it.each(['10001', '-1', '2.5', 'twenty', '1e3'])(
    'refuses %s, naming the input and the range',
    value => {
      expect(() => read(value)).toThrow(
        `Input 'log-lines' is '${value}': use a whole number from 0 (off) to 10000, e.g. 20`
      )
    }
  )
})

describe('awslogsLocation', () => {
  it('names the stream <prefix>/<container>/<task id> in the group and region of the options', () => {
    expect(awslogsLocation(awslogs(OPTIONS), 'api', TASK_ARN, 'eu-west-1')).toEqual({
      region: 'eu-central-1',
      group: '/ecs/payments-api',
      stream: 'ecs/api/0123456789abcdef0123456789abcdef',
      container: 'api',
      taskId: '0123456789abcdef0123456789abcdef'
    })
  })

  it("takes the deploy's region when the options name none, and old-style task ARNs", () => {
    const noRegion = { 'awslogs-group': OPTIONS['awslogs-group'], 'awslogs-stream-prefix': 'ecs' }
    expect(
      awslogsLocation(awslogs(noRegion), 'api', 'arn:aws:ecs:eu-west-1:1:task/abc123', 'eu-west-1')
    ).toMatchObject({ region: 'eu-west-1', stream: 'ecs/api/abc123' })
  })

  it.each<[string, TaskDefinition, string, LogProblem['kind']]>([
    ['no logConfiguration', awslogs(OPTIONS), 'envoy', 'no-log-configuration'],
    [
      'another driver',
      taskDefinition(42, {
        containerDefinitions: [
          { name: 'api', image: 'a', logConfiguration: { logDriver: 'awsfirelens', options: {} } }
        ]
      }),
      'api',
      'other-driver'
    ],
    ['no stream prefix', awslogs({ 'awslogs-group': '/ecs/api' }), 'api', 'no-prefix'],
    ['no group', awslogs({ 'awslogs-stream-prefix': 'ecs' }), 'api', 'no-group'],
    ['an unknown container', awslogs(OPTIONS), 'worker', 'no-container']
  ])('with %s, says why there is no stream', (_case, definition, container, kind) => {
    expect(awslogsLocation(definition, container, TASK_ARN, 'eu-west-1')).toMatchObject({ kind })
  })
})

describe('explainLogProblem', () => {
  const problems: LogProblem[] = [
    { kind: 'no-task' },
    { kind: 'no-container', container: 'worker' },
    { kind: 'no-log-configuration', container: 'api' },
    { kind: 'other-driver', container: 'api', driver: 'splunk' },
    { kind: 'no-group', container: 'api' },
    { kind: 'no-prefix', container: 'api' },
    { kind: 'access-denied', group: '/ecs/api', region: 'eu-west-1', message: 'not authorized' },
    { kind: 'group-not-found', group: '/ecs/api', region: 'eu-west-1' },
    { kind: 'stream-not-found', group: '/ecs/api', stream: 'ecs/api/abc' },
    { kind: 'error', message: 'socket hang up\n  at TLSSocket' }
  ]

  it('says each reason in one line of its own', () => {
    const lines = problems.map(explainLogProblem)
    for (const line of lines) expect(line).not.toMatch(/\n/)
    expect(new Set(lines).size).toBe(problems.length)
  })

  it('names what to fix where there is a fix', () => {
    expect(explainLogProblem({ kind: 'no-prefix', container: 'api' })).toMatch(
      /set awslogs-stream-prefix/
    )
    expect(
      explainLogProblem({
        kind: 'access-denied',
        group: '/ecs/api',
        region: 'eu-west-1',
        message: 'x'
      })
    ).toMatch(/logs:GetLogEvents.*|AccessDeniedException/)
    expect(explainLogProblem({ kind: 'other-driver', container: 'api', driver: 'splunk' })).toMatch(
      /splunk driver, not awslogs/
    )
    expect(
      explainLogProblem({ kind: 'stream-not-found', group: '/ecs/api', stream: 'ecs/api/abc' })
    ).toMatch(/ecs\/api\/abc.*\/ecs\/api/)
  })
})

describe('pickCrashedContainer', () => {
  const definition = awslogs(OPTIONS)
  const task = (id: string, stopCode: string, containers: Array<[string, number | undefined]>) => ({
    taskArn: `arn:aws:ecs:eu-west-1:1:task/c/${id}`,
    stopCode,
    containers: containers.map(([name, exitCode]) => ({ name, exitCode }))
  })

  it("takes the newest task that crashed on its own, and its essential container's exit", () => {
    const picked = pickCrashedContainer(
      [
        task('drained', 'ServiceSchedulerInitiated', [['api', 143]]),
        task('crashed', 'EssentialContainerExited', [
          ['envoy', 1],
          ['api', 3]
        ]),
        task('older', 'EssentialContainerExited', [['api', 1]])
      ],
      definition,
      'api'
    )
    expect(picked).toEqual({ taskArn: 'arn:aws:ecs:eu-west-1:1:task/c/crashed', container: 'api' })
  })

  it('falls back to the deployed container of the first task when no container exited non-zero', () => {
    expect(
      pickCrashedContainer(
        [task('pull', 'TaskFailedToStart', [['api', undefined]])],
        definition,
        'api'
      )
    ).toEqual({ taskArn: 'arn:aws:ecs:eu-west-1:1:task/c/pull', container: 'api' })
    expect(pickCrashedContainer([], definition, 'api')).toBeUndefined()
  })
})

describe('printing what a container logged', () => {
  it('cannot issue workflow commands: every line is prefixed, multi-line messages included', () => {
    const lines = printableLines('::add-mask::x\n::error::forged\r\nplain  \n')
    expect(lines).toEqual(['  | ::add-mask::x', '  | ::error::forged', '  | plain'])
    for (const line of lines) expect(line.startsWith('::')).toBe(false)
  })

  it('fences the summary block longer than any backticks the lines hold', () => {
    const logs: CrashLogs = {
      kind: 'lines',
      taskId: 'abc',
      container: 'api',
      group: '/ecs/api',
      stream: 'ecs/api/abc',
      lines: [{ timestamp: 1, message: 'a ```` fence' }]
    }
    const markdown = crashLogsMarkdown(logs)
    expect(markdown).toContain('`````text\na ```` fence\n`````')
    expect(crashLogsText(logs)).toEqual([
      'Last 1 log line of container api, task abc (/ecs/api ecs/api/abc):',
      '  | a ```` fence'
    ])
  })

  it('says why there are no lines in one line, and nothing when off', () => {
    expect(crashLogsText({ kind: 'off' })).toEqual([])
    expect(crashLogsMarkdown({ kind: 'off' })).toBe('')
    expect(
      crashLogsText({ kind: 'unavailable', taskId: 'abc', container: 'api', reason: 'because' })
    ).toEqual(['No log lines of container api (task abc): because.'])
  })
})

describe('LogsGateway', () => {
  it('reads the last lines with GetLogEvents from the end (startFromHead false, limit)', async () => {
    logsMock.on(GetLogEventsCommand).resolves({
      events: [
        { timestamp: 1, message: 'starting' },
        { timestamp: 2, message: 'Error: connect ECONNREFUSED 10.0.0.5:5432' }
      ],
      nextForwardToken: 'f/2',
      nextBackwardToken: 'b/0'
    })
    const read = await gateway().lastLines('/ecs/api', 'ecs/api/abc', 20)
    expect(read).toEqual({
      kind: 'lines',
      lines: [
        { timestamp: 1, message: 'starting' },
        { timestamp: 2, message: 'Error: connect ECONNREFUSED 10.0.0.5:5432' }
      ]
    })
    expect(logsMock.commandCalls(GetLogEventsCommand)[0]!.args[0].input).toEqual({
      logGroupName: '/ecs/api',
      logStreamName: 'ecs/api/abc',
      startFromHead: false,
      limit: 20
    })
  })

  it.each<[string, Error, LogProblem['kind']]>([
    [
      'a missing stream',
      sdkError('ResourceNotFoundException', 'The specified log stream does not exist.'),
      'stream-not-found'
    ],
    [
      'a missing group',
      sdkError('ResourceNotFoundException', 'The specified log group does not exist.'),
      'group-not-found'
    ],
    ['no permission', sdkError('AccessDeniedException', 'not authorized'), 'access-denied']
  ])(
    "turns %s into a problem to explain, without retrying AWS's answer",
    async (_c, error, kind) => {
      logsMock.on(GetLogEventsCommand).rejects(error)
      const read = await gateway().lastLines('/ecs/api', 'ecs/api/abc', 20)
      expect(read).toMatchObject({ kind: 'problem', problem: { kind } })
      expect(logsMock.commandCalls(GetLogEventsCommand)).toHaveLength(1)
    }
  )

  it('retries a lost reply, and reports an outage past the deadline as a problem, not a throw', async () => {
    logsMock.on(GetLogEventsCommand).rejects(sdkError('ServiceUnavailableException', 'down', 503))
    const read = await gateway(new FakeClock(), 5_000).lastLines('/ecs/api', 's', 5)
    expect(read).toMatchObject({ kind: 'problem', problem: { kind: 'error' } })
    expect(logsMock.commandCalls(GetLogEventsCommand).length).toBeGreaterThan(1)
  })

  it('follows a stream: nothing before it exists, then each line once, paging with nextForwardToken', async () => {
    logsMock
      .on(GetLogEventsCommand)
      .rejectsOnce(
        sdkError('ResourceNotFoundException', 'The specified log stream does not exist.')
      )
      .resolvesOnce({ events: [{ timestamp: 1, message: 'one' }], nextForwardToken: 'f/1' })
      .resolvesOnce({ events: [{ timestamp: 2, message: 'two' }], nextForwardToken: 'f/2' })
      .resolvesOnce({ events: [], nextForwardToken: 'f/2' })
      .resolvesOnce({ events: [], nextForwardToken: 'f/2' })
      .resolvesOnce({ events: [{ timestamp: 3, message: 'three' }], nextForwardToken: 'f/3' })
      .resolves({ events: [], nextForwardToken: 'f/3' })
    const follower = gateway().follow('/ecs/api', 'ecs/api/abc')
    expect(await follower.poll()).toEqual([])
    expect(follower.failed()).toBeUndefined()
    expect((await follower.poll()).map(l => l.message)).toEqual(['one', 'two'])
    expect(await follower.poll()).toEqual([])
    expect((await follower.poll()).map(l => l.message)).toEqual(['three'])
    const inputs = logsMock.commandCalls(GetLogEventsCommand).map(c => c.args[0].input)
    expect(inputs.every(i => i.startFromHead === true)).toBe(true)
    expect(inputs.map(i => i.nextToken)).toEqual([
      undefined,
      undefined,
      'f/1',
      'f/2',
      'f/2',
      'f/2',
      'f/3'
    ])
  })
})

describe('fetchCrashLogs', () => {
  const stopped = [
    {
      taskArn: TASK_ARN,
      stopCode: 'EssentialContainerExited',
      containers: [{ name: 'api', exitCode: 1 }]
    }
  ]

  it('reads the last log-lines lines of the crashed container from the stream of its region', async () => {
    logsMock.on(GetLogEventsCommand).resolves({ events: [{ timestamp: 1, message: 'boom' }] })
    const regions: string[] = []
    const logs = await fetchCrashLogs(
      {
        taskDefinition: awslogs(OPTIONS),
        stoppedTasks: stopped,
        containerName: 'api',
        count: 7,
        region: 'eu-west-1'
      },
      region => (regions.push(region), gateway())
    )
    expect(logs).toMatchObject({
      kind: 'lines',
      stream: 'ecs/api/0123456789abcdef0123456789abcdef',
      lines: [{ message: 'boom' }]
    })
    expect(regions).toEqual(['eu-central-1'])
    expect(logsMock.commandCalls(GetLogEventsCommand)[0]!.args[0].input.limit).toBe(7)
  })

  it('makes no call when log-lines is 0, or when the container has no awslogs stream', async () => {
    const request = {
      taskDefinition: awslogs({ 'awslogs-group': '/ecs/api' }),
      stoppedTasks: stopped,
      containerName: 'api',
      region: 'eu-west-1'
    }
    expect(await fetchCrashLogs({ ...request, count: 0 }, () => gateway())).toEqual({ kind: 'off' })
    expect(await fetchCrashLogs({ ...request, count: 20 }, () => gateway())).toMatchObject({
      kind: 'unavailable',
      reason: expect.stringMatching(/without awslogs-stream-prefix/)
    })
    expect(logsMock.commandCalls(GetLogEventsCommand)).toHaveLength(0)
  })

  it('looks once more when the stream is not there yet, then says so', async () => {
    logsMock
      .on(GetLogEventsCommand)
      .rejects(sdkError('ResourceNotFoundException', 'The specified log stream does not exist.'))
    const clock = new FakeClock()
    const logs = await fetchCrashLogs(
      {
        taskDefinition: awslogs(OPTIONS),
        stoppedTasks: stopped,
        containerName: 'api',
        count: 20,
        region: 'eu-west-1',
        retryMs: 2_000
      },
      () => gateway(clock)
    )
    expect(logs).toMatchObject({ kind: 'unavailable', reason: expect.stringMatching(/\(yet\)/) })
    expect(logsMock.commandCalls(GetLogEventsCommand)).toHaveLength(2)
    expect(clock.sleeps).toBe(1)
  })
})
