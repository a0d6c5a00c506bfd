/**
 * The CloudWatch Logs stand-in through the real SDK: GetLogEvents' paging as AWS documents
 * it, its errors, and the endpoint variable the SDK takes for this client.
 */
import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs'
import { startLogsStandin, type LogsStandin } from '../../tools/logs-standin/server.js'

const open: LogsStandin[] = []
const GROUP = '/ecs/payments-api'
const STREAM = 'ecs/api/0123456789abcdef'

function client(endpoint?: string): CloudWatchLogsClient {
  return new CloudWatchLogsClient({
    ...(endpoint ? { endpoint } : {}),
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1
  })
}

async function standin(lines = 0): Promise<{ logs: LogsStandin; sdk: CloudWatchLogsClient }> {
  const logs = await startLogsStandin()
  open.push(logs)
  logs.putLogEvents(
    GROUP,
    STREAM,
    Array.from({ length: lines }, (_, i) => ({ timestamp: 1_000 + i, message: `line ${i + 1}` }))
  )
  return { logs, sdk: client(logs.endpoint) }
}

/** One page forward from the head, or from a token. */
const forwardPage = (sdk: CloudWatchLogsClient, nextToken?: string, limit?: number) =>
  sdk.send(
    new GetLogEventsCommand({
      logGroupName: GROUP,
      logStreamName: STREAM,
      startFromHead: true,
      ...(limit ? { limit } : {}),
      ...(nextToken ? { nextToken } : {})
    })
  )

const messages = (out: { events?: Array<{ message?: string }> }) =>
  (out.events ?? []).map(e => e.message)

afterEach(async () => {
  await Promise.all(open.splice(0).map(s => s.close()))
})

describe('CloudWatch Logs stand-in: GetLogEvents', () => {
  it('answers the last events, oldest first, when startFromHead is false (the default)', async () => {
    const { sdk } = await standin(10)
    const out = await sdk.send(
      new GetLogEventsCommand({
        logGroupName: GROUP,
        logStreamName: STREAM,
        limit: 3,
        startTime: 1_000
      })
    )
    expect(messages(out)).toEqual(['line 8', 'line 9', 'line 10'])
    expect(out.events![0]).toMatchObject({ timestamp: 1_007, ingestionTime: expect.any(Number) })
    // Backwards from there: the three before.
    const before = await sdk.send(
      new GetLogEventsCommand({
        logGroupName: GROUP,
        logStreamName: STREAM,
        limit: 3,
        nextToken: out.nextBackwardToken
      })
    )
    expect(messages(before)).toEqual(['line 5', 'line 6', 'line 7'])
  })

  it('pages forward from the head; at the end the same token comes back until new events arrive', async () => {
    const { logs, sdk } = await standin(5)
    const page = (nextToken?: string) => forwardPage(sdk, nextToken, 2)
    const seen: string[] = []
    let token: string | undefined
    for (;;) {
      const out = await page(token)
      seen.push(...(messages(out) as string[]))
      if (out.nextForwardToken === token) break
      token = out.nextForwardToken
    }
    expect(seen).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5'])
    const atEnd = await page(token)
    expect(atEnd.events).toEqual([])
    expect(atEnd.nextForwardToken).toBe(token)

    logs.putLogEvents(GROUP, STREAM, [{ timestamp: 2_000, message: 'line 6' }])
    const more = await page(token)
    expect(messages(more)).toEqual(['line 6'])
    expect(more.nextForwardToken).not.toBe(token)
  })

  it('answers short pages, and an empty first page without startTime, while more events exist: only a repeated token ends the stream', async () => {
    const { sdk } = await standin(10)
    const page = (nextToken?: string) => forwardPage(sdk, nextToken)
    const first = await page()
    expect(first.events).toEqual([])
    expect(first.nextForwardToken).toBeDefined()
    const sizes: number[] = []
    const seen: string[] = []
    let token = first.nextForwardToken
    for (;;) {
      const out = await page(token)
      sizes.push(out.events!.length)
      seen.push(...(messages(out) as string[]))
      if (out.nextForwardToken === token) break
      token = out.nextForwardToken
    }
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => `line ${i + 1}`))
    // No page was full (10,000 events fit the limit), yet pagination went on.
    expect(Math.max(...sizes)).toBeLessThan(10)
    expect(sizes.length).toBeGreaterThan(2)
  })

  it('filters by startTime (inclusive) and endTime (exclusive)', async () => {
    const { sdk } = await standin(10)
    const out = await sdk.send(
      new GetLogEventsCommand({
        logGroupName: GROUP,
        logStreamName: STREAM,
        startFromHead: true,
        startTime: 1_002,
        endTime: 1_005
      })
    )
    expect(messages(out)).toEqual(['line 3', 'line 4', 'line 5'])
  })

  it('refuses a forward token without startFromHead, a bad token and a limit out of range', async () => {
    const { sdk } = await standin(3)
    const first = await sdk.send(
      new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: STREAM, startFromHead: true })
    )
    const refusals = [
      { nextToken: first.nextForwardToken },
      { nextToken: 'f/garbage', startFromHead: true },
      { limit: 10_001 }
    ]
    for (const extra of refusals) {
      await expect(
        sdk.send(new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: STREAM, ...extra }))
      ).rejects.toMatchObject({ name: 'InvalidParameterException' })
    }
  })

  it('answers ResourceNotFoundException for a missing group or stream, and AccessDenied when told', async () => {
    const { logs, sdk } = await standin(1)
    await expect(
      sdk.send(new GetLogEventsCommand({ logGroupName: '/ecs/other', logStreamName: STREAM }))
    ).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: 'The specified log group does not exist.',
      $metadata: { httpStatusCode: 400 }
    })
    await expect(
      sdk.send(new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: 'ecs/api/nope' }))
    ).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: 'The specified log stream does not exist.'
    })
    logs.denyAccess(GROUP)
    await expect(
      sdk.send(new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: STREAM }))
    ).rejects.toMatchObject({ name: 'AccessDeniedException' })
    expect(logs.calls.map(c => [c.operation, c.error])).toEqual([
      ['GetLogEvents', 'ResourceNotFoundException'],
      ['GetLogEvents', 'ResourceNotFoundException'],
      ['GetLogEvents', 'AccessDeniedException']
    ])
  })

  it('takes a log group ARN as logGroupIdentifier', async () => {
    const { sdk } = await standin(2)
    const out = await sdk.send(
      new GetLogEventsCommand({
        logGroupIdentifier: `arn:aws:logs:eu-west-1:123456789012:log-group:${GROUP}:*`,
        logStreamName: STREAM,
        startTime: 0
      })
    )
    expect(messages(out)).toEqual(['line 1', 'line 2'])
  })

  it('is where the SDK sends GetLogEvents when AWS_ENDPOINT_URL_CLOUDWATCH_LOGS names it', async () => {
    const { logs } = await standin(1)
    const saved = { ...process.env }
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: logs.endpoint,
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9' // the service-specific variable wins over this one
    })
    try {
      const out = await client().send(
        new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: STREAM, startTime: 0 })
      )
      expect(messages(out)).toEqual(['line 1'])
      expect(logs.calls).toHaveLength(1)
    } finally {
      process.env = saved
    }
  })
})
