/**
 * The AWS JSON 1.1 wire protocol as a stand-in serves it: `POST /` with
 * `X-Amz-Target: <prefix>.<Operation>`, a JSON body, and errors as HTTP 4xx/5xx with
 * `{"__type": …, "message": …}` (and the `x-amzn-errortype` header the SDK also reads).
 * A stand-in brings its operations; this module brings the server, the record of every call,
 * and the fault hooks tests use to play throttling, 5xx and replies lost after the change.
 */
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** An error the service itself answers with, e.g. ValidationException. */
export class AwsServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly httpStatus = 400,
    /** Members the error shape has beside the message (ConflictException's resourceIds). */
    readonly fields: Record<string, unknown> = {}
  ) {
    super(message)
    this.name = type
  }
}

/** One API call as the stand-in received it. */
export interface CallRecord {
  operation: string
  /** The request body as parsed (empty when it did not parse). */
  input: Record<string, unknown>
  /** Wall-clock ms when it arrived. */
  at: number
  /** HTTP status answered. */
  status: number
  /** `__type` of the error answered, if any. */
  error?: string
  /** True when the operation was carried out but its reply replaced by a 500 (loseReply). */
  replyLost?: boolean
}

export type Operation = (input: Record<string, unknown>) => unknown

export interface Json11ServerOptions {
  /** e.g. `AnyScaleFrontendService.` */
  targetPrefix: string
  operations: Record<string, Operation>
  /** Default 0: any free port. */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
  /**
   * How this service words a 5xx of its own (failNext, loseReply, an unexpected throw):
   * ECS says ServerException, CloudWatch Logs ServiceUnavailableException. Default
   * InternalFailure.
   */
  serverError?: { type: string; message: string }
}

export interface Json11Server {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string
  readonly port: number
  /** Every call received, oldest first (faulted ones included). */
  readonly calls: readonly CallRecord[]
  /** The next `count` calls (of `operation`, or any) answer 400 ThrottlingException. */
  throttle(count: number, operation?: string): void
  /** The next `count` calls (of `operation`, or any) answer 500 and are not carried out. */
  failNext(count: number, operation?: string): void
  /**
   * The next `count` calls (of `operation`, or any) are carried out, then answered with a 500
   * instead of their result: the reply is lost after the change happened.
   */
  loseReply(count: number, operation?: string): void
  close(): Promise<void>
}

interface FaultRule {
  kind: 'throttle' | 'fail' | 'lose'
  remaining: number
  operation?: string
}

const CONTENT_TYPE = 'application/x-amz-json-1.1'

/** A request's whole body as text (any protocol of the stand-ins). */
export function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    request.on('error', reject)
  })
}

function answer(response: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    'content-type': CONTENT_TYPE,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {})
  })
  response.end(text)
}

export async function startJson11Server(options: Json11ServerOptions): Promise<Json11Server> {
  const { targetPrefix, operations } = options
  const serverError = options.serverError ?? {
    type: 'InternalFailure',
    message: 'The service is unavailable. Please try again later.'
  }
  const calls: CallRecord[] = []
  const faults: FaultRule[] = []

  const takeFault = (operation: string): FaultRule | undefined => {
    const rule = faults.find(
      f => f.remaining > 0 && (f.operation === undefined || f.operation === operation)
    )
    if (rule) rule.remaining--
    return rule
  }

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const body = await readBody(request)
    const target = String(request.headers['x-amz-target'] ?? '')
    const operation = target.startsWith(targetPrefix) ? target.slice(targetPrefix.length) : target
    const call: CallRecord = { operation, input: {}, at: Date.now(), status: 200 }
    calls.push(call)
    const fail = (status: number, type: string, message: string, fields = {}) => {
      call.status = status
      call.error = type
      answer(response, status, { __type: type, message, ...fields }, type)
    }
    const implementation = Object.hasOwn(operations, operation) ? operations[operation] : undefined
    if (request.method !== 'POST' || !target.startsWith(targetPrefix) || !implementation) {
      return fail(
        400,
        'UnknownOperationException',
        `Operation ${target || '(none)'} is not supported.`
      )
    }
    try {
      const parsed: unknown = body.trim() === '' ? {} : JSON.parse(body)
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new Error('not an object')
      call.input = parsed as Record<string, unknown>
    } catch {
      return fail(400, 'SerializationException', 'The request body is not a JSON object.')
    }
    const fault = takeFault(operation)
    if (fault?.kind === 'throttle') return fail(400, 'ThrottlingException', 'Rate exceeded')
    if (fault?.kind === 'fail') return fail(500, serverError.type, serverError.message)
    let result: unknown
    try {
      result = await implementation(call.input)
    } catch (error) {
      if (error instanceof AwsServiceError)
        return fail(error.httpStatus, error.type, error.message, error.fields)
      return fail(500, serverError.type, error instanceof Error ? error.message : String(error))
    }
    if (fault?.kind === 'lose') {
      call.replyLost = true
      return fail(500, serverError.type, 'The reply was lost.')
    }
    answer(response, 200, result ?? {})
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent)
        answer(response, 500, { __type: serverError.type, message: String(error) })
    })
  })
  const host = options.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    endpoint: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    calls,
    throttle: (count, operation) =>
      void faults.push({ kind: 'throttle', remaining: count, operation }),
    failNext: (count, operation) => void faults.push({ kind: 'fail', remaining: count, operation }),
    loseReply: (count, operation) =>
      void faults.push({ kind: 'lose', remaining: count, operation }),
    close: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}
