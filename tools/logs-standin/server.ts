/**
 * A local Amazon CloudWatch Logs stand-in: speaks the JSON 1.1 protocol
 * (`X-Amz-Target: Logs_20140328.<Operation>`) on loopback and answers GetLogEvents with the
 * service's paging semantics. Point the AWS SDK at it with AWS_ENDPOINT_URL_CLOUDWATCH_LOGS.
 *
 * Streams come from two places: events put here directly (putLogEvents), and a source asked
 * on every read, e.g. the ECS stand-in's tasks (their simulated lines, or their containers'
 * `docker logs` in the emulator), named `<prefix>/<container>/<task id>` as the awslogs driver
 * names them.
 */
import { AwsServiceError, startJson11Server, type CallRecord } from '../shared/json11.js'

export const TARGET_PREFIX = 'Logs_20140328.'

/** GetLogEvents' own limits: at most 10,000 events and 1 MB (each event counts 26 bytes more). */
const MAX_EVENTS = 10_000
const MAX_BYTES = 1_048_576
const EVENT_OVERHEAD = 26
/**
 * GetLogEvents pages are short, always: "A returned page might only be partially full, or even
 * empty ... Partially full or empty pages don't necessarily mean that pagination is finished. As
 * long as the nextBackwardToken or nextForwardToken returned is NOT equal to the nextToken that
 * you passed into the API call, there might be more log events available" (GetLogEventsCommand,
 * @aws-sdk/client-cloudwatch-logs). A page holds at most this many events, and the first read
 * of a stream without a startTime is empty ("Set startTime explicitly to reduce the chances of
 * empty pages in the response", GetLogEventsRequest.startTime).
 */
const PARTIAL_PAGE_EVENTS = 3

export interface LogEvent {
  /** Epoch ms the event happened. */
  timestamp: number
  message: string
  /** Epoch ms it reached CloudWatch Logs; default the timestamp. */
  ingestionTime?: number
}

/** A source's answer for one stream: its events, oldest first, or which part is missing. */
export type StreamLookup = { events: LogEvent[] } | 'no-group' | 'no-stream'
export type LogSource = (group: string, stream: string) => StreamLookup | Promise<StreamLookup>

/** One call as the stand-in received it. */
export type LogsCallRecord = CallRecord

export interface LogsStandinOptions {
  port?: number
  host?: string
  region?: string
  accountId?: string
  /** Asked for streams not put here directly. */
  source?: LogSource
}

export interface LogsStandin {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string
  readonly port: number
  /** Every call received, oldest first. */
  readonly calls: readonly LogsCallRecord[]
  createLogGroup(group: string): void
  /** Appends events (a string is a message logged now) to a stream, creating it and its group. */
  putLogEvents(group: string, stream: string, events: Array<string | LogEvent>): void
  /** Reads of this group (or of every group) answer AccessDeniedException from now on. */
  denyAccess(group?: string): void
  /** The next `count` calls answer 500 ServiceUnavailableException. */
  failNext(count: number): void
  close(): Promise<void>
}

class LogsError extends AwsServiceError {}

type Body = Record<string, unknown>

/** A position between two events of a stream, in a direction, as an opaque-looking token. */
function token(direction: 'f' | 'b', position: number): string {
  return `${direction}/${String(position).padStart(56, '0')}`
}

function parseToken(value: string): { direction: 'f' | 'b'; position: number } {
  const match = /^([fb])\/(\d{56})$/.exec(value)
  if (!match)
    throw new LogsError('InvalidParameterException', 'The specified nextToken is invalid.')
  return { direction: match[1] as 'f' | 'b', position: Number(match[2]) }
}

/** `arn:aws:logs:<region>:<account>:log-group:<name>[:*]`, or a plain name. */
function groupName(identifier: string): string {
  const match = /^arn:aws[a-z-]*:logs:[^:]*:\d*:log-group:(.+?)(:\*)?$/.exec(identifier)
  return match ? match[1]! : identifier
}

function optionalNumber(body: Body, name: string): number | undefined {
  const value = body[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw new LogsError('InvalidParameterException', `${name} must be an integer.`)
  return value
}

/**
 * GetLogEvents over one stream's events (oldest first). Positions are indexes between events;
 * a forward page runs from a position towards the end, a backward page towards the start.
 * Without a token, startFromHead picks the start (true) or the end (false, the default).
 * Reaching either end hands back the token that was passed in, as CloudWatch Logs does.
 */
export function pageEvents(events: readonly LogEvent[], body: Body) {
  const limit = optionalNumber(body, 'limit') ?? MAX_EVENTS
  if (limit < 1 || limit > MAX_EVENTS)
    throw new LogsError(
      'InvalidParameterException',
      `1 validation error detected: Value '${limit}' at 'limit' failed to satisfy constraint: Member must have value between 1 and ${MAX_EVENTS}`
    )
  const startTime = optionalNumber(body, 'startTime')
  const endTime = optionalNumber(body, 'endTime')
  const inWindow = (event: LogEvent) =>
    (startTime === undefined || event.timestamp >= startTime) &&
    (endTime === undefined || event.timestamp < endTime)
  const startFromHead = body.startFromHead === true
  const nextToken = typeof body.nextToken === 'string' ? body.nextToken : undefined
  const parsed = nextToken !== undefined ? parseToken(nextToken) : undefined
  if (parsed?.direction === 'f' && !startFromHead)
    throw new LogsError(
      'InvalidParameterException',
      'startFromHead must be true when nextToken is a nextForwardToken.'
    )
  if (parsed && parsed.position > events.length)
    throw new LogsError('InvalidParameterException', 'The specified nextToken is invalid.')

  const forward = parsed ? parsed.direction === 'f' : startFromHead
  const picked: number[] = []
  let bytes = 0
  const pageEvents = emptyFirstPage(body, parsed) ? 0 : Math.min(limit, PARTIAL_PAGE_EVENTS)
  const fits = (event: LogEvent) =>
    picked.length < pageEvents &&
    bytes + Buffer.byteLength(event.message) + EVENT_OVERHEAD <= MAX_BYTES
  let from: number
  let to: number
  if (forward) {
    from = parsed?.position ?? 0
    let i = from
    for (; i < events.length; i++) {
      const event = events[i]!
      if (!inWindow(event)) continue
      if (!fits(event)) break
      picked.push(i)
      bytes += Buffer.byteLength(event.message) + EVENT_OVERHEAD
    }
    to = i
  } else {
    to = parsed?.position ?? events.length
    let i = to - 1
    for (; i >= 0; i--) {
      const event = events[i]!
      if (!inWindow(event)) continue
      if (!fits(event)) break
      picked.unshift(i)
      bytes += Buffer.byteLength(event.message) + EVENT_OVERHEAD
    }
    from = i + 1
  }
  return {
    events: picked.map(i => {
      const event = events[i]!
      return {
        timestamp: event.timestamp,
        message: event.message,
        ingestionTime: event.ingestionTime ?? event.timestamp
      }
    }),
    // At an end nothing moves: the token passed in comes back.
    nextForwardToken: forward && to === parsed?.position && nextToken ? nextToken : token('f', to),
    nextBackwardToken:
      !forward && from === parsed?.position && nextToken ? nextToken : token('b', from)
  }
}

/** The first read of a stream (no token) without a startTime gets an empty page. */
function emptyFirstPage(body: Body, parsed: { position: number } | undefined): boolean {
  return parsed === undefined && body.startTime === undefined
}

export async function startLogsStandin(options: LogsStandinOptions = {}): Promise<LogsStandin> {
  const region = options.region ?? 'eu-west-1'
  const accountId = options.accountId ?? '123456789012'
  const groups = new Map<string, Map<string, LogEvent[]>>()
  const denied = new Set<string | undefined>()

  const lookup = async (group: string, stream: string): Promise<StreamLookup> => {
    const own = groups.get(group)
    const events = own?.get(stream)
    if (events) return { events }
    const found = options.source ? await options.source(group, stream) : 'no-group'
    if (found === 'no-group' && own) return 'no-stream'
    return found
  }

  const getLogEvents = async (body: Body) => {
    const name = typeof body.logGroupName === 'string' ? body.logGroupName : undefined
    const identifier =
      typeof body.logGroupIdentifier === 'string' ? body.logGroupIdentifier : undefined
    if ((name === undefined) === (identifier === undefined)) {
      throw new LogsError(
        'InvalidParameterException',
        'LogGroup name or identifier must be specified, but not both.'
      )
    }
    const stream = body.logStreamName
    if (typeof stream !== 'string' || stream === '') {
      throw new LogsError(
        'InvalidParameterException',
        "1 validation error detected: Value null at 'logStreamName' failed to satisfy constraint: Member must not be null"
      )
    }
    const group = name ?? groupName(identifier!)
    if (denied.has(undefined) || denied.has(group)) {
      throw new LogsError(
        'AccessDeniedException',
        `User: arn:aws:sts::${accountId}:assumed-role/deploy/session is not authorized to perform: logs:GetLogEvents on resource: arn:aws:logs:${region}:${accountId}:log-group:${group}:log-stream:${stream} because no identity-based policy allows the logs:GetLogEvents action`
      )
    }
    const found = await lookup(group, stream)
    if (found === 'no-group')
      throw new LogsError('ResourceNotFoundException', 'The specified log group does not exist.')
    if (found === 'no-stream')
      throw new LogsError('ResourceNotFoundException', 'The specified log stream does not exist.')
    return pageEvents(found.events, body)
  }

  const server = await startJson11Server({
    targetPrefix: TARGET_PREFIX,
    operations: { GetLogEvents: getLogEvents },
    port: options.port,
    host: options.host,
    serverError: {
      type: 'ServiceUnavailableException',
      message: 'The service cannot complete the request.'
    }
  })

  return {
    endpoint: server.endpoint,
    port: server.port,
    calls: server.calls,
    createLogGroup(group) {
      if (!groups.has(group)) groups.set(group, new Map())
    },
    putLogEvents(group, stream, events) {
      if (!groups.has(group)) groups.set(group, new Map())
      const streams = groups.get(group)!
      const list = streams.get(stream) ?? []
      for (const event of events) {
        list.push(typeof event === 'string' ? { timestamp: Date.now(), message: event } : event)
      }
      list.sort((a, b) => a.timestamp - b.timestamp)
      streams.set(stream, list)
    },
    denyAccess(group) {
      denied.add(group)
    },
    failNext: count => server.failNext(count),
    close: () => server.close()
  }
}
