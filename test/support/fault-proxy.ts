/**
 * An HTTP proxy in front of a JSON 1.1 stand-in that breaks chosen calls the ways a network
 * and AWS break them: errors and throttling that never reach the service, replies lost after
 * the service carried the call out (a reset, a 5xx from a proxy, a garbled body, no reply).
 */
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export type FaultMode =
  /** 500 ServerException; the call does not reach the service. */
  | 'server-error'
  /** The call reaches the service, then a proxy answers 502 with an HTML page. */
  | 'server-error-after'
  /** 400 ThrottlingException; the call does not reach the service. */
  | 'throttle'
  /** The connection is reset before the call reaches the service. */
  | 'reset-before'
  /** The call reaches the service, then the connection is reset instead of the reply. */
  | 'reset-after'
  /** The call reaches the service; its 200 reply arrives cut in the middle of the JSON. */
  | 'garble'
  /** The call reaches the service; its reply never comes. */
  | 'hang-after'
  /** The call never reaches the service, and nothing answers. */
  | 'hang-before'
  /** 400 AccessDeniedException; the call does not reach the service. */
  | 'deny'
  /** The call reaches the service `delayMs` late, and its reply comes then: a slow API. */
  | 'slow'

export interface FaultRule {
  /** The operation (X-Amz-Target after the dot) the rule breaks. */
  operation: string
  mode: FaultMode
  /** Break the next `count` matching calls (default 1)... */
  count?: number
  /** ...or every matching call for this many ms from the first one (an outage). */
  forMs?: number
  /** Let this many matching calls through first (default 0). */
  skip?: number
  /** For 'slow': how late (default 5000 ms). */
  delayMs?: number
}

export interface ProxiedCall {
  operation: string
  at: number
  /** The fault applied, if any. */
  fault?: FaultMode
  /** Whether the call reached the service behind the proxy. */
  forwarded: boolean
}

export interface FaultProxy {
  /** http://127.0.0.1:<port>: give it to the SDK instead of the stand-in's endpoint. */
  endpoint: string
  calls: ProxiedCall[]
  inject(rule: FaultRule): void
  close(): Promise<void>
}

interface ActiveRule extends FaultRule {
  remaining: number
  skipped: number
  since?: number
}

const FORWARDS: ReadonlySet<FaultMode> = new Set([
  'slow',
  'server-error-after',
  'reset-after',
  'garble',
  'hang-after'
])

function operationOf(request: IncomingMessage): string {
  const target = String(request.headers['x-amz-target'] ?? '')
  return target.slice(target.lastIndexOf('.') + 1)
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream)
  const rules: ActiveRule[] = []
  const calls: ProxiedCall[] = []
  const sockets = new Set<Socket>()

  const takeFault = (operation: string, now: number): ActiveRule | undefined => {
    for (const rule of rules) {
      if (rule.operation !== operation) continue
      if (rule.skipped < (rule.skip ?? 0)) {
        rule.skipped++
        continue
      }
      if (rule.forMs !== undefined) {
        rule.since ??= now
        if (now - rule.since < rule.forMs) return rule
        continue
      }
      if (rule.remaining > 0) {
        rule.remaining--
        return rule
      }
    }
    return undefined
  }

  const forward = (
    request: IncomingMessage,
    body: Buffer
  ): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const outgoing = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: request.method,
          path: request.url,
          headers: { ...request.headers, host: target.host }
        },
        response => {
          const chunks: Buffer[] = []
          response.on('data', (chunk: Buffer) => chunks.push(chunk))
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 502,
              headers: Object.fromEntries(
                Object.entries(response.headers).map(([k, v]) => [k, String(v)])
              ),
              body: Buffer.concat(chunks)
            })
          )
        }
      )
      outgoing.on('error', reject)
      outgoing.end(body)
    })

  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const operation = operationOf(request)
      const rule = takeFault(operation, Date.now())
      const fault = rule?.mode
      const forwarded = fault === undefined || FORWARDS.has(fault)
      calls.push({ operation, at: Date.now(), fault, forwarded })
      const json = (status: number, type: string, message: string) => {
        const text = JSON.stringify({ __type: type, message })
        response.writeHead(status, {
          'content-type': 'application/x-amz-json-1.1',
          'content-length': Buffer.byteLength(text),
          'x-amzn-errortype': type
        })
        response.end(text)
      }
      if (fault === 'server-error') return json(500, 'ServerException', 'Service Unavailable.')
      if (fault === 'throttle') return json(400, 'ThrottlingException', 'Rate exceeded')
      if (fault === 'deny')
        return json(
          400,
          'AccessDeniedException',
          `User is not authorized to perform: ecs:${operation}`
        )
      if (fault === 'reset-before') return void request.socket.destroy()
      if (fault === 'hang-before') return
      const delay = fault === 'slow' ? (rule?.delayMs ?? 5000) : 0
      new Promise(resolve => setTimeout(resolve, delay))
        .then(() => forward(request, Buffer.concat(chunks)))
        .then(
          answer => {
            if (fault === 'reset-after') return void request.socket.destroy()
            if (fault === 'hang-after') return
            if (fault === 'server-error-after') {
              response.writeHead(502, { 'content-type': 'text/html' })
              return void response.end('<html><body>502 Bad Gateway</body></html>')
            }
            const body =
              fault === 'garble'
                ? answer.body.subarray(0, Math.floor(answer.body.length / 2))
                : answer.body
            response.writeHead(answer.status, {
              ...answer.headers,
              'content-length': String(body.length)
            })
            response.end(body)
          },
          () => request.socket.destroy()
        )
    })
  })
  server.on('connection', socket => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    inject: rule => void rules.push({ ...rule, remaining: rule.count ?? 1, skipped: 0 }),
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
