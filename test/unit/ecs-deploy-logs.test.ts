import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs'
import type { TaskDefinition } from '@aws-sdk/client-ecs'
import { mockClient } from 'aws-sdk-client-mock'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import { Inputs } from '../../actions/shared/inputs.js'
import {
  answeredProblem,
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

function gateway(clock = new FakeClock(), deadlineMs = 30_000, region = 'eu-west-1'): LogsGateway {
  const caller = new AwsCaller({
    clock,
    deadline: clock.now() + deadlineMs,
    attemptTimeoutMs: 2_000,
    backoffMs: 500,
    maxBackoffMs: 2_000
  })
  return new LogsGateway(new CloudWatchLogsClient({ region, maxAttempts: 1 }), caller, region)
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
  it('reads the last lines forward from the start time, through short and empty pages, until the token repeats', async () => {
    logsMock
      .on(GetLogEventsCommand)
      .resolvesOnce({ events: [], nextForwardToken: 'f/0', nextBackwardToken: 'b/0' })
      .resolvesOnce({
        events: [{ timestamp: 1_001, message: 'starting' }],
        nextForwardToken: 'f/1'
      })
      .resolvesOnce({ events: [], nextForwardToken: 'f/1b' })
      .resolvesOnce({
        events: [{ timestamp: 1_002, message: 'Error: connect ECONNREFUSED 10.0.0.5:5432' }],
        nextForwardToken: 'f/2'
      })
      .resolves({ events: [], nextForwardToken: 'f/2' })
    const read = await gateway().lastLines('/ecs/api', 'ecs/api/abc', 1, 1_000)
    expect(read).toEqual({
      kind: 'lines',
      lines: [{ timestamp: 1_002, message: 'Error: connect ECONNREFUSED 10.0.0.5:5432' }]
    })
    const inputs = logsMock.commandCalls(GetLogEventsCommand).map(c => c.args[0].input)
    expect(inputs[0]).toEqual({
      logGroupName: '/ecs/api',
      logStreamName: 'ecs/api/abc',
      startFromHead: true,
      startTime: 1_000
    })
    expect(inputs.map(i => i.nextToken)).toEqual([undefined, 'f/0', 'f/1', 'f/1b', 'f/2'])
    // The start time goes with the first read only: a token already carries the position.
    expect(inputs.slice(1).every(i => i.startTime === undefined)).toBe(true)
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
    logsMock
      .on(GetLogEventsCommand)
      .resolvesOnce({ events: [{ timestamp: 1, message: 'booting' }], nextForwardToken: 'f/1' })
      .resolvesOnce({ events: [{ timestamp: 2, message: 'boom' }], nextForwardToken: 'f/2' })
      .resolves({ events: [], nextForwardToken: 'f/2' })
    const regions: string[] = []
    const logs = await fetchCrashLogs(
      {
        taskDefinition: awslogs(OPTIONS),
        stoppedTasks: [{ ...stopped[0]!, startedAt: new Date(5_000) }],
        containerName: 'api',
        count: 7,
        region: 'eu-west-1'
      },
      region => (regions.push(region), gateway())
    )
    expect(logs).toMatchObject({
      kind: 'lines',
      stream: 'ecs/api/0123456789abcdef0123456789abcdef'
    })
    expect(logs.kind === 'lines' && logs.lines.map(l => l.message)).toEqual(['booting', 'boom'])
    expect(regions).toEqual(['eu-central-1'])
    expect(logsMock.commandCalls(GetLogEventsCommand)[0]!.args[0].input).toMatchObject({
      startFromHead: true,
      startTime: 5_000
    })
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

describe('why no lines are shown, as the user reads it', () => {
  it.each<[LogProblem, string]>([
    [{ kind: 'no-task' }, 'no stopped task of the deployment was recorded to read logs from'],
    [
      { kind: 'no-container', container: 'worker' },
      'the task definition has no container named worker'
    ],
    [
      { kind: 'no-log-configuration', container: 'api' },
      'container api has no logConfiguration, so its output is not in CloudWatch Logs; add the awslogs log driver to the task definition to see it here'
    ],
    [
      { kind: 'no-group', container: 'api' },
      'container api uses the awslogs driver without an awslogs-group option'
    ],
    [
      { kind: 'group-not-found', group: '/ecs/api', region: 'eu-west-1' },
      'log group /ecs/api does not exist in eu-west-1'
    ],
    [
      { kind: 'error', message: ' ECONNRESET\n   at TLSSocket.onConnectEnd \n' },
      'reading the logs failed: ECONNRESET at TLSSocket.onConnectEnd'
    ]
  ])('%j: %s', (problem, line) => {
    expect(explainLogProblem(problem)).toBe(line)
  })
})

describe('answeredProblem', () => {
  it("keeps AWS's words when the role may not read the group", () => {
    expect(
      answeredProblem(
        sdkError('AccessDeniedException', 'User is not authorized to perform logs:GetLogEvents'),
        '/ecs/api',
        'ecs/api/abc',
        'eu-west-1'
      )
    ).toEqual({
      kind: 'access-denied',
      group: '/ecs/api',
      region: 'eu-west-1',
      message: 'User is not authorized to perform logs:GetLogEvents'
    })
  })

  it('tells a missing group from a missing stream by what AWS says, whatever its case', () => {
    const missing = (message: string) =>
      answeredProblem(
        sdkError('ResourceNotFoundException', message),
        '/ecs/api',
        'ecs/api/abc',
        'eu-west-1'
      )
    expect(missing('Log group does not exist')).toEqual({
      kind: 'group-not-found',
      group: '/ecs/api',
      region: 'eu-west-1'
    })
    expect(missing('The specified log stream does not exist.')).toEqual({
      kind: 'stream-not-found',
      group: '/ecs/api',
      stream: 'ecs/api/abc'
    })
  })

  it('leaves failures that are not an answer about the stream to the caller', () => {
    const answered = (error: Error) => answeredProblem(error, '/ecs/api', 's', 'eu-west-1')
    expect(answered(sdkError('ResourceNotFoundException', 'log stream', 503))).toBeUndefined()
    expect(answered(sdkError('InvalidParameterException', 'bad token'))).toBeUndefined()
    expect(answered(new Error('socket hang up'))).toBeUndefined()
  })
})

describe('pickCrashedContainer, more cases', () => {
  const task = (id: string, stopCode: string, containers: Array<[string, number | undefined]>) => ({
    taskArn: `arn:aws:ecs:eu-west-1:1:task/c/${id}`,
    stopCode,
    containers: containers.map(([name, exitCode]) => ({ name, exitCode }))
  })

  it('does not count an exit 0 or a container without an exit code as a crash', () => {
    const picked = pickCrashedContainer(
      [
        task('clean', 'EssentialContainerExited', [
          ['envoy', 0],
          ['worker', undefined]
        ]),
        task('crashed', 'EssentialContainerExited', [['api', 2]])
      ],
      awslogs(OPTIONS),
      'api'
    )
    expect(picked).toEqual({ taskArn: 'arn:aws:ecs:eu-west-1:1:task/c/crashed', container: 'api' })
  })

  it('takes a task the scheduler stopped when it is the only one that crashed', () => {
    expect(
      pickCrashedContainer(
        [task('drained', 'ServiceSchedulerInitiated', [['api', 137]])],
        awslogs(OPTIONS),
        'api'
      )
    ).toEqual({ taskArn: 'arn:aws:ecs:eu-west-1:1:task/c/drained', container: 'api' })
  })

  it('reads every container as essential when the task definition lists none', () => {
    expect(
      pickCrashedContainer(
        [task('crashed', 'EssentialContainerExited', [['worker', 1]])],
        {},
        'api'
      )
    ).toEqual({ taskArn: 'arn:aws:ecs:eu-west-1:1:task/c/crashed', container: 'worker' })
    expect(awslogsLocation({}, 'api', TASK_ARN, 'eu-west-1')).toEqual({
      kind: 'no-container',
      container: 'api'
    })
  })
})

describe('LogFollower, more cases', () => {
  const inputs = () => logsMock.commandCalls(GetLogEventsCommand).map(c => c.args[0].input)

  it('stops following at an answer such as no access, until resumed', async () => {
    let calls = 0
    logsMock.on(GetLogEventsCommand).callsFake(input => {
      if (++calls === 1) throw sdkError('AccessDeniedException', 'not authorized')
      return input.nextToken
        ? { events: [], nextForwardToken: input.nextToken }
        : { events: [{ timestamp: 1, message: 'one' }], nextForwardToken: 'f/1' }
    })
    const follower = gateway().follow('/ecs/api', 'ecs/api/abc')
    expect(await follower.poll()).toEqual([])
    expect(follower.failed()).toMatchObject({ kind: 'access-denied', group: '/ecs/api' })
    expect(await follower.poll()).toEqual([])
    expect(calls).toBe(1)
    follower.resume()
    expect(follower.failed()).toBeUndefined()
    expect((await follower.poll()).map(l => l.message)).toEqual(['one'])
  })

  it('reads at most 50 pages in one poll, and goes on from there in the next', async () => {
    let page = 0
    logsMock.on(GetLogEventsCommand).callsFake(() => {
      page++
      return {
        events: [{ timestamp: page, message: `line ${page}` }],
        nextForwardToken: `f/${page}`
      }
    })
    const follower = gateway().follow('/ecs/api', 'ecs/api/abc')
    const first = await follower.poll()
    expect(first.map(l => l.message)).toEqual(Array.from({ length: 50 }, (_, i) => `line ${i + 1}`))
    expect(inputs()).toHaveLength(50)
    expect((await follower.poll())[0]!.message).toBe('line 51')
    expect(inputs()[50]!.nextToken).toBe('f/50')
  })

  it('goes on past an empty page whose token moved: only a repeated token ends a poll', async () => {
    logsMock
      .on(GetLogEventsCommand)
      .resolvesOnce({ events: [], nextForwardToken: 'f/0' })
      .resolvesOnce({ events: [{ timestamp: 1, message: 'one' }], nextForwardToken: 'f/1' })
      .resolves({ events: [], nextForwardToken: 'f/1' })
    const follower = gateway().follow('/ecs/api', 'ecs/api/abc', 500)
    expect((await follower.poll()).map(l => l.message)).toEqual(['one'])
    expect(inputs().map(i => i.nextToken)).toEqual([undefined, 'f/0', 'f/1'])
    expect(inputs()[0]!.startTime).toBe(500)
  })

  it('takes the token handed back unchanged, or no token at all, as the end of the stream for now', async () => {
    logsMock
      .on(GetLogEventsCommand)
      .resolvesOnce({ events: [{ timestamp: 1, message: 'one' }], nextForwardToken: 'f/1' })
      .resolvesOnce({ events: [{ timestamp: 2, message: 'two' }], nextForwardToken: 'f/1' })
      .resolves({ events: [{ timestamp: 3, message: 'three' }] })
    const follower = gateway().follow('/ecs/api', 'ecs/api/abc')
    expect((await follower.poll()).map(l => l.message)).toEqual(['one', 'two'])
    expect(inputs()).toHaveLength(2)
    expect((await follower.poll()).map(l => l.message)).toEqual(['three'])
    expect(inputs()).toHaveLength(3)
    // Without a new token it goes on from the last one it had.
    await follower.poll()
    expect(inputs()[3]!.nextToken).toBe('f/1')
  })

  it('reads a page without events as empty, and an event without text as an empty line', async () => {
    logsMock
      .on(GetLogEventsCommand)
      .resolvesOnce({ nextForwardToken: 'f/0' })
      .resolvesOnce({ events: [{}], nextForwardToken: 'f/1' })
      .resolves({ events: [], nextForwardToken: 'f/1' })
    const follower = gateway().follow('/ecs/api', 'ecs/api/abc')
    expect(await follower.poll()).toEqual([{ timestamp: 0, message: '' }])
  })
})

describe('fetchCrashLogs, more cases', () => {
  const stopped = [
    {
      taskArn: TASK_ARN,
      stopCode: 'EssentialContainerExited',
      containers: [{ name: 'api', exitCode: 1 }]
    }
  ]
  const request = {
    taskDefinition: awslogs(OPTIONS),
    stoppedTasks: stopped,
    containerName: 'api',
    count: 20,
    region: 'eu-west-1'
  }
  const notFound = () =>
    sdkError('ResourceNotFoundException', 'The specified log stream does not exist.')

  it('says so, without a call, when no stopped task was recorded', async () => {
    expect(await fetchCrashLogs({ ...request, stoppedTasks: [] }, () => gateway())).toEqual({
      kind: 'unavailable',
      reason: 'no stopped task of the deployment was recorded to read logs from'
    })
    expect(logsMock.commandCalls(GetLogEventsCommand)).toHaveLength(0)
  })

  it('names the task and container whose stream cannot be found', async () => {
    expect(
      await fetchCrashLogs(
        { ...request, taskDefinition: awslogs({ 'awslogs-stream-prefix': 'ecs' }) },
        () => gateway()
      )
    ).toEqual({
      kind: 'unavailable',
      taskId: '0123456789abcdef0123456789abcdef',
      container: 'api',
      reason: 'container api uses the awslogs driver without an awslogs-group option'
    })
  })

  it('reads once when the lines are there, without waiting', async () => {
    logsMock.on(GetLogEventsCommand).resolves({ events: [{ timestamp: 1, message: 'boom' }] })
    const clock = new FakeClock()
    const logs = await fetchCrashLogs(request, () => gateway(clock))
    expect(logs).toEqual({
      kind: 'lines',
      region: 'eu-central-1',
      group: '/ecs/payments-api',
      stream: 'ecs/api/0123456789abcdef0123456789abcdef',
      container: 'api',
      taskId: '0123456789abcdef0123456789abcdef',
      lines: [{ timestamp: 1, message: 'boom' }]
    })
    expect(logsMock.commandCalls(GetLogEventsCommand)).toHaveLength(1)
    expect(clock.sleeps).toBe(0)
  })

  it('gives the whole fetch 10 s unless told otherwise', async () => {
    logsMock.on(GetLogEventsCommand).resolves({ events: [] })
    const clock = new FakeClock()
    const deadlines: number[] = []
    const logsFor = () => {
      const base = gateway(clock, 3_600_000)
      const until = base.until.bind(base)
      base.until = (deadline: number) => (deadlines.push(deadline - clock.now()), until(deadline))
      return base
    }
    await fetchCrashLogs(request, logsFor)
    await fetchCrashLogs({ ...request, timeoutMs: 4_000 }, logsFor)
    expect(deadlines).toEqual([10_000, 4_000])
  })

  it('waits 2 s before looking again for a stream that is not there yet, and finds its lines', async () => {
    logsMock
      .on(GetLogEventsCommand)
      .rejectsOnce(notFound())
      .resolves({ events: [{ timestamp: 5, message: 'late line' }] })
    const clock = new FakeClock()
    const started = clock.now()
    const logs = await fetchCrashLogs(request, () => gateway(clock))
    expect(logs).toMatchObject({ kind: 'lines', lines: [{ message: 'late line' }] })
    expect(clock.now() - started).toBe(2_000)
    expect(logsMock.commandCalls(GetLogEventsCommand)).toHaveLength(2)
  })

  it('does not look again when the wait would reach the deadline', async () => {
    logsMock.on(GetLogEventsCommand).rejects(notFound())
    const clock = new FakeClock()
    const logs = await fetchCrashLogs({ ...request, timeoutMs: 2_000, retryMs: 2_000 }, () =>
      gateway(clock)
    )
    expect(logs).toMatchObject({ kind: 'unavailable', reason: expect.stringMatching(/\(yet\)/) })
    expect(logsMock.commandCalls(GetLogEventsCommand)).toHaveLength(1)
    expect(clock.sleeps).toBe(0)
  })

  it('does not look again after any other answer', async () => {
    logsMock.on(GetLogEventsCommand).rejects(sdkError('AccessDeniedException', 'not authorized'))
    const clock = new FakeClock()
    const logs = await fetchCrashLogs(request, region => gateway(clock, 30_000, region))
    expect(logs).toEqual({
      kind: 'unavailable',
      taskId: '0123456789abcdef0123456789abcdef',
      container: 'api',
      reason:
        'the role may not read log group /ecs/payments-api in eu-central-1 (AccessDeniedException); allow logs:GetLogEvents on it'
    })
    expect(logsMock.commandCalls(GetLogEventsCommand)).toHaveLength(1)
    expect(clock.sleeps).toBe(0)
  })

  it('never throws: a failure to even build the client is a reason too', async () => {
    const logs = await fetchCrashLogs(request, () => {
      throw new Error('Region is missing')
    })
    expect(logs).toEqual({
      kind: 'unavailable',
      taskId: '0123456789abcdef0123456789abcdef',
      container: 'api',
      reason: 'reading the logs failed: Region is missing'
    })
  })
})

describe('printing what a container logged, more cases', () => {
  it('splits on a lone carriage return too', () => {
    expect(printableLines('progress 10%\rprogress 100%')).toEqual([
      '  | progress 10%',
      '  | progress 100%'
    ])
  })

  it('cuts a line longer than 1000 characters, and only such a line', () => {
    const [kept] = printableLines('x'.repeat(1000), '')
    expect(kept).toBe('x'.repeat(1000))
    const [cut] = printableLines('y'.repeat(1001), '')
    expect(cut).toBe(`${'y'.repeat(1000)}…`)
  })

  const lines = (messages: string[]): CrashLogs => ({
    kind: 'lines',
    taskId: 'abc',
    container: 'api',
    group: '/ecs/api',
    stream: 'ecs/api/abc',
    lines: messages.map((message, i) => ({ timestamp: i, message }))
  })

  it('counts the lines in the heading, and says when the container logged nothing', () => {
    expect(crashLogsText(lines(['one', 'two']))).toEqual([
      'Last 2 log lines of container api, task abc (/ecs/api ecs/api/abc):',
      '  | one',
      '  | two'
    ])
    expect(crashLogsText(lines([]))).toEqual([
      'Container api of task abc logged nothing (ecs/api/abc).'
    ])
    expect(crashLogsMarkdown(lines([]))).toBe(
      '**Last log lines** of container `api`, task `abc` (`/ecs/api`): none; the container logged nothing.'
    )
  })

  it('fences plain lines with three backticks in the summary', () => {
    expect(crashLogsMarkdown(lines(['one', 'two']))).toBe(
      '**Last log lines** of container `api`, task `abc` (`/ecs/api`):\n\n```text\none\ntwo\n```'
    )
  })

  it('says why there are no lines without naming a task it does not know', () => {
    expect(crashLogsText({ kind: 'unavailable', reason: 'no stopped task' })).toEqual([
      'No log lines: no stopped task.'
    ])
  })

  it('escapes the reason in the summary so it cannot turn into Markdown', () => {
    expect(
      crashLogsMarkdown({
        kind: 'unavailable',
        reason: 'log group /ecs/my_app* is not [here] <b>|\\`'
      })
    ).toBe(
      '**Container logs:** none shown: log group /ecs/my\\_app\\* is not \\[here\\] \\<b\\>\\|\\\\\\`.'
    )
  })
})
