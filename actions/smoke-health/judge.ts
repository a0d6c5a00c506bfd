import { redactUrl } from '../shared/redact.js'
import type { ProbeResult } from './probe.js'

export const HEALTH_STATUSES = ['healthy', 'degraded', 'unhealthy'] as const
export type HealthStatus = (typeof HEALTH_STATUSES)[number]
/** The `status` output: the service's own word, or why there was none to trust. */
export type GateStatus = HealthStatus | 'unreachable' | 'version-mismatch'

/** One dependency in a HealthCheck body (a database, a cache, another API). */
export interface ServiceHealth {
  name: string
  status: HealthStatus
  message?: string
  responseTime?: number
}

/** The body the services' `/health` handler answers with. */
export interface HealthCheck {
  status: HealthStatus
  timestamp?: string
  services: ServiceHealth[]
  uptime?: number
  version?: string
}

export interface Expectations {
  /** The body's `version` must equal this; another one means old tasks still answer. */
  expectedVersion?: string
  allowDegraded: boolean
}

/** The verdict on one attempt. */
export interface Verdict {
  passed: boolean
  status: GateStatus
  /** Why, in a few words: the service and its message, the HTTP status, the versions. */
  reason: string
  httpStatus?: number
  responseTimeMs: number
  /** No complete answer within the attempt's time. */
  timedOut?: true
  health?: HealthCheck
}

function isHealthStatus(value: unknown): value is HealthStatus {
  return (HEALTH_STATUSES as readonly unknown[]).includes(value)
}

function quoted(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : (JSON.stringify(value) ?? 'undefined')
}

/** A HealthCheck from parsed JSON, or what is wrong with it. */
export function readHealthCheck(value: unknown): { health: HealthCheck } | { problem: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { problem: 'the JSON is not an object' }
  }
  const body = value as Record<string, unknown>
  if (!isHealthStatus(body.status)) {
    return {
      problem:
        body.status === undefined
          ? 'no status field'
          : `status is ${quoted(body.status)}, not healthy, degraded or unhealthy`
    }
  }
  if (!Array.isArray(body.services)) return { problem: 'no services list' }
  const services: ServiceHealth[] = []
  for (const [index, entry] of body.services.entries()) {
    const service = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<
      string,
      unknown
    >
    if (typeof service.name !== 'string' || service.name === '') {
      return { problem: `services[${index}] has no name` }
    }
    if (!isHealthStatus(service.status)) {
      return {
        problem: `service ${service.name} has status ${quoted(service.status)}, not healthy, degraded or unhealthy`
      }
    }
    services.push({
      name: service.name,
      status: service.status,
      ...(typeof service.message === 'string' && service.message !== ''
        ? { message: service.message }
        : {}),
      ...(typeof service.responseTime === 'number' ? { responseTime: service.responseTime } : {})
    })
  }
  const version =
    typeof body.version === 'string' || typeof body.version === 'number'
      ? String(body.version)
      : undefined
  return {
    health: {
      status: body.status,
      services,
      ...(typeof body.timestamp === 'string' ? { timestamp: body.timestamp } : {}),
      ...(typeof body.uptime === 'number' ? { uptime: body.uptime } : {}),
      ...(version !== undefined ? { version } : {})
    }
  }
}

function mediaType(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase()
}

function isJsonType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json')
}

/** The first words of a page, tags stripped: enough to recognise a proxy's error page. */
export function excerpt(body: string, length = 80): string {
  const text = body
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
  return text.length > length ? `${text.slice(0, length)}…` : text
}

function describeService(service: ServiceHealth): string {
  return `${service.name} is ${service.status}${service.message ? `: ${service.message}` : ''}`
}

function describeFailing(services: ServiceHealth[]): string {
  return services.map(describeService).join('; ')
}

function servicesHealthy(count: number): string {
  return count === 0 ? '' : count === 1 ? ', 1 service healthy' : `, ${count} services healthy`
}

/** "reports unhealthy: db is unhealthy: timeout", or "reports healthy, but db is unhealthy: timeout". */
function headline(reported: HealthStatus, failing: ServiceHealth[], level: HealthStatus): string {
  const list = describeFailing(failing)
  if (reported === level) return list ? `reports ${reported}: ${list}` : `reports ${reported}`
  return `reports ${reported}, but ${list}`
}

/**
 * Judges one attempt: pure, the probe's outcome in, a verdict out. It passes only on HTTP
 * 2xx with a JSON HealthCheck whose status and every service are healthy (or degraded where
 * allowed) and whose version is the expected one. A 200 `healthy` is not taken on trust:
 * handlers answer that whatever their checks found, so the services are read too.
 */
export function judge(result: ProbeResult, expectations: Expectations): Verdict {
  const responseTimeMs = result.responseTimeMs
  if (result.outcome === 'failed') {
    return {
      passed: false,
      status: result.answered ? 'unhealthy' : 'unreachable',
      reason: result.reason,
      responseTimeMs,
      ...(result.httpStatus ? { httpStatus: result.httpStatus } : {}),
      ...(result.timedOut ? { timedOut: true } : {})
    }
  }

  const { httpStatus, body } = result
  const type = mediaType(result.contentType)
  const after = result.redirectedTo
    ? ` (after a redirect to ${redactUrl(result.redirectedTo)})`
    : ''
  const fail = (status: GateStatus, reason: string, health?: HealthCheck): Verdict => ({
    passed: false,
    status,
    reason: `${reason}${after}`,
    httpStatus,
    responseTimeMs,
    ...(health ? { health } : {})
  })

  // Either a HealthCheck, or the problem that keeps the body from being one.
  let health: HealthCheck | undefined
  let problem = ''
  if (type !== '' && !isJsonType(type)) {
    problem = `answered ${type}, not JSON${body.trim() ? `: '${excerpt(body)}'` : ''}`
  } else {
    let parsed: unknown
    try {
      parsed = JSON.parse(body)
    } catch {
      problem = body.trim() === '' ? 'an empty body, not JSON' : `not JSON: '${excerpt(body)}'`
    }
    if (!problem) {
      const read = readHealthCheck(parsed)
      if ('health' in read) health = read.health
      else problem = `not a HealthCheck body: ${read.problem}`
    }
  }

  // A different version is old tasks still answering, whatever their state: keep polling.
  const expected = expectations.expectedVersion
  if (health && expected !== undefined && health.version !== expected) {
    const seen = health.version === undefined ? 'no version' : `version ${health.version}`
    const http = httpStatus >= 200 && httpStatus < 300 ? '' : ` with HTTP ${httpStatus}`
    return fail('version-mismatch', `${seen} answered${http}, expected ${expected}`, health)
  }

  if (httpStatus < 200 || httpStatus >= 300) {
    if (!health) return fail('unhealthy', `HTTP ${httpStatus} (${problem})`)
    const failing = health.services.filter(s => s.status !== 'healthy')
    return fail(
      health.status === 'healthy' ? 'unhealthy' : health.status,
      `HTTP ${httpStatus}: reports ${health.status}${failing.length ? `; ${describeFailing(failing)}` : ''}`,
      health
    )
  }
  if (!health) return fail('unhealthy', `HTTP ${httpStatus} ${problem}`)

  const unhealthy = health.services.filter(s => s.status === 'unhealthy')
  const degraded = health.services.filter(s => s.status === 'degraded')
  const version = health.version !== undefined ? `, version ${health.version}` : ''
  if (health.status === 'unhealthy' || unhealthy.length > 0) {
    return fail('unhealthy', headline(health.status, unhealthy, 'unhealthy'), health)
  }
  if (health.status === 'degraded' || degraded.length > 0) {
    const reason = headline(health.status, degraded, 'degraded')
    if (!expectations.allowDegraded)
      return fail('degraded', `${reason} (allow-degraded is false)`, health)
    return {
      passed: true,
      status: 'degraded',
      reason: `${reason} (allowed)${version}${after}`,
      httpStatus,
      responseTimeMs,
      health
    }
  }
  return {
    passed: true,
    status: 'healthy',
    reason: `healthy${servicesHealthy(health.services.length)}${version}${after}`,
    httpStatus,
    responseTimeMs,
    health
  }
}
