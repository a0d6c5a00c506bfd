import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { performance } from 'node:perf_hooks'
import { USER_AGENT } from '../shared/aws.js'
import { redactUrl } from '../shared/redact.js'

/** A health body is a few kilobytes; anything past this is not one, and is not read. */
export const MAX_BODY_BYTES = 1024 * 1024
/** Enough for http→https and a trailing-slash hop; a loop or a chain is a failed attempt. */
export const MAX_REDIRECTS = 5
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])

export interface ProbeRequest {
  url: string
  headers: ReadonlyArray<readonly [string, string]>
  timeoutMs: number
}

/** One attempt's raw outcome; judging it is judge.ts's job. */
export type ProbeResult =
  | {
      outcome: 'response'
      httpStatus: number
      contentType: string
      body: string
      responseTimeMs: number
      /** The URL that answered, when redirects were followed. */
      redirectedTo?: string
    }
  | {
      outcome: 'failed'
      /**
       * True when the server answered in time but not usably (a body too big, a redirect loop);
       * false when nothing complete came back in time (refused, DNS, TLS, a timeout).
       */
      answered: boolean
      /** The request timeout ran out (rather than the connection failing). */
      timedOut?: true
      httpStatus?: number
      reason: string
      responseTimeMs: number
    }

export type Probe = (request: ProbeRequest) => Promise<ProbeResult>

class ProbeFailure extends Error {
  constructor(
    message: string,
    readonly answered: boolean,
    readonly httpStatus?: number
  ) {
    super(message)
  }
}

function send(
  url: URL,
  headers: OutgoingHttpHeaders,
  signal: AbortSignal
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    // A fresh connection per attempt (no agent): each poll exercises DNS, TCP and TLS the
    // way a new client would, and no idle socket keeps the process alive afterwards.
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest
    const request = send(url, { method: 'GET', headers, agent: false, signal }, resolve)
    request.on('error', reject)
    request.end()
  })
}

function readBody(response: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const status = response.statusCode
    const declared = Number(response.headers['content-length'])
    if (Number.isFinite(declared) && declared > limit) {
      response.destroy()
      reject(
        new ProbeFailure(
          `HTTP ${status} with a ${declared}-byte body, over the ${limit}-byte limit of a health body`,
          true,
          status
        )
      )
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    response.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        response.destroy()
        reject(
          new ProbeFailure(
            `HTTP ${status} with a body over the ${limit}-byte limit of a health body; stopped reading`,
            true,
            status
          )
        )
        return
      }
      chunks.push(chunk)
    })
    response.on('end', () => resolve(Buffer.concat(chunks)))
    response.on('error', reject)
    response.on('close', () => {
      if (!response.complete)
        reject(
          new ProbeFailure(
            `HTTP ${status} but the connection closed before the body was complete`,
            true,
            status
          )
        )
    })
  })
}

function describeNetworkError(error: unknown, url: URL): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  const host = url.host
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused by ${host} (nothing listening)`
    case 'ENOTFOUND':
      return `DNS: ${url.hostname} not found`
    case 'EAI_AGAIN':
      return `DNS: lookup of ${url.hostname} failed temporarily`
    case 'ECONNRESET':
      return `connection to ${host} reset`
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route to ${host}`
    case 'ETIMEDOUT':
      return `connection to ${host} timed out`
  }
  const message = error instanceof Error ? error.message : String(error)
  if (code && /CERT|SSL|TLS/i.test(code)) return `TLS to ${host}: ${message}`
  return code ? `${code}: ${message}` : message
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`
}

/**
 * One GET of the health endpoint: redirects followed by hand (the user's headers only to
 * the same host, never downgraded to http), the body capped, and the whole exchange,
 * redirects and body included, bounded by `timeoutMs`.
 */
export const httpProbe: Probe = async ({ url, headers, timeoutMs }) => {
  const started = performance.now()
  const elapsed = () => Math.round(performance.now() - started)
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  const origin = new URL(url)
  const own: OutgoingHttpHeaders = Object.fromEntries(
    headers.map(([name, value]) => [name.toLowerCase(), value])
  )
  const defaults: OutgoingHttpHeaders = {
    'user-agent': `${USER_AGENT} smoke-health`,
    accept: 'application/json',
    'accept-encoding': 'identity',
    'cache-control': 'no-cache'
  }
  let current = origin
  let httpStatus: number | undefined
  const visited = [origin.href]
  try {
    for (;;) {
      httpStatus = undefined
      const sameHost =
        current.host === origin.host &&
        !(origin.protocol === 'https:' && current.protocol === 'http:')
      const response = await send(
        current,
        { ...defaults, ...(sameHost ? own : {}) },
        controller.signal
      )
      httpStatus = response.statusCode ?? 0
      const location = response.headers.location
      if (REDIRECT_STATUSES.has(httpStatus) && location) {
        response.destroy()
        const next = URL.canParse(location, current.href) ? new URL(location, current) : undefined
        if (!next) {
          throw new ProbeFailure(
            `HTTP ${httpStatus} with an invalid Location header`,
            true,
            httpStatus
          )
        }
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw new ProbeFailure(
            `HTTP ${httpStatus} redirect to an unsupported scheme: ${next.protocol}`,
            true,
            httpStatus
          )
        }
        if (visited.includes(next.href)) {
          throw new ProbeFailure(
            `redirect loop: ${[...visited, next.href].map(href => redactUrl(href)).join(' -> ')}`,
            true,
            httpStatus
          )
        }
        visited.push(next.href)
        if (visited.length - 1 > MAX_REDIRECTS) {
          throw new ProbeFailure(
            `more than ${MAX_REDIRECTS} redirects (last to ${redactUrl(next.href)})`,
            true,
            httpStatus
          )
        }
        current = next
        continue
      }
      const body = await readBody(response, MAX_BODY_BYTES)
      return {
        outcome: 'response',
        httpStatus,
        contentType: String(response.headers['content-type'] ?? ''),
        body: body.toString('utf8'),
        responseTimeMs: elapsed(),
        ...(current.href !== origin.href ? { redirectedTo: current.href } : {})
      }
    }
  } catch (error) {
    if (controller.signal.aborted) {
      const reason =
        httpStatus === undefined
          ? `no response from ${current.host} within ${formatSeconds(timeoutMs)}`
          : `HTTP ${httpStatus} but the body did not arrive within ${formatSeconds(timeoutMs)}`
      return {
        outcome: 'failed',
        // A body that stalls after the headers is no answer either: the service is not responding.
        answered: false,
        timedOut: true,
        ...(httpStatus ? { httpStatus } : {}),
        reason,
        responseTimeMs: elapsed()
      }
    }
    if (error instanceof ProbeFailure) {
      return {
        outcome: 'failed',
        answered: error.answered,
        ...(error.httpStatus ? { httpStatus: error.httpStatus } : {}),
        reason: error.message,
        responseTimeMs: elapsed()
      }
    }
    return {
      outcome: 'failed',
      answered: false,
      reason: describeNetworkError(error, current),
      responseTimeMs: elapsed()
    }
  } finally {
    clearTimeout(timer)
  }
}
