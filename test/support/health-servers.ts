import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse
} from 'node:http'
import type { AddressInfo } from 'node:net'

/** A reply to one request; `index` counts requests from 0, so a script can change over time. */
export type Reply = (request: IncomingMessage, response: ServerResponse, index: number) => void

export interface RecordedRequest {
  path: string
  headers: IncomingHttpHeaders
}

export interface HealthServer {
  url: string
  port: number
  requests: RecordedRequest[]
  close(): Promise<void>
}

/** A real HTTP server on 127.0.0.1 at a random port, recording every request. */
export async function startHealthServer(reply: Reply, port = 0): Promise<HealthServer> {
  const requests: RecordedRequest[] = []
  const server: Server = createServer((request, response) => {
    const index = requests.length
    requests.push({ path: request.url ?? '', headers: request.headers })
    reply(request, response, index)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const bound = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${bound}/health`,
    port: bound,
    requests,
    close: () =>
      new Promise<void>(resolve => {
        // Hung and stalled replies hold sockets open; a test's end must not wait on them.
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** A port with nothing listening on it (bound once, then released). */
export async function freePort(): Promise<number> {
  const server = await startHealthServer(() => {})
  await server.close()
  return server.port
}

export interface ServiceShape {
  name: string
  status: 'healthy' | 'degraded' | 'unhealthy'
  message?: string
  responseTime?: number
}

export const HEALTHY_SERVICES: ServiceShape[] = [
  { name: 'database', status: 'healthy', message: 'PostgreSQL connection OK', responseTime: 4 },
  { name: 'redis', status: 'healthy', message: 'PONG', responseTime: 1 }
]

/** A HealthCheck body as the services' handler writes it. */
export function healthCheck(
  status: 'healthy' | 'degraded' | 'unhealthy' = 'healthy',
  options: { version?: string; services?: ServiceShape[] } = {}
): Record<string, unknown> {
  return {
    status,
    timestamp: new Date().toISOString(),
    services: options.services ?? HEALTHY_SERVICES,
    uptime: 123.4,
    version: options.version ?? '1.0.0'
  }
}

export function json(httpStatus: number, body: unknown): Reply {
  return (_request, response) => {
    response.writeHead(httpStatus, { 'content-type': 'application/json; charset=utf-8' })
    response.end(JSON.stringify(body))
  }
}

export function html(httpStatus: number, page: string): Reply {
  return (_request, response) => {
    response.writeHead(httpStatus, { 'content-type': 'text/html; charset=utf-8' })
    response.end(page)
  }
}

/** The n-th request gets the n-th reply; the last one repeats. */
export function sequence(...replies: Reply[]): Reply {
  return (request, response, index) =>
    replies[Math.min(index, replies.length - 1)]!(request, response, index)
}

/** Accepts the connection and the request, then never answers. */
export const hang: Reply = () => {}

/** Sends the status line and headers and the first bytes of the body, then stalls. */
export const stallBody: Reply = (_request, response) => {
  response.writeHead(200, { 'content-type': 'application/json' })
  response.write('{"status":"healthy","services":[')
}

/**
 * A body of `bytes` bytes, streamed without a Content-Length unless `declareLength`, so only
 * counting can catch it. `sent` collects how many bytes each request got before the client
 * hung up, to show it was not read to the end.
 */
export function hugeBody(bytes: number, declareLength = false, sent: number[] = []): Reply {
  return (_request, response, index) => {
    response.writeHead(200, {
      'content-type': 'application/json',
      ...(declareLength ? { 'content-length': String(bytes) } : {})
    })
    const chunk = Buffer.alloc(64 * 1024, 0x20)
    sent[index] = 0
    const pump = () => {
      while (sent[index]! < bytes && !response.destroyed) {
        const size = Math.min(chunk.length, bytes - sent[index]!)
        sent[index]! += size
        if (!response.write(size === chunk.length ? chunk : chunk.subarray(0, size))) {
          response.once('drain', pump)
          return
        }
      }
      response.end()
    }
    response.on('error', () => {})
    pump()
  }
}

/** /health -> /health/ -> /health: redirects that never end. */
export const redirectLoop: Reply = (request, response) => {
  response.writeHead(302, { location: request.url === '/health' ? '/health/' : '/health' })
  response.end()
}

export function redirectTo(location: string, httpStatus = 302): Reply {
  return (_request, response) => {
    response.writeHead(httpStatus, { location })
    response.end()
  }
}
