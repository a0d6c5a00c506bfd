import { redactUrl } from '../shared/redact.js'
import { code, facts, section, table } from '../shared/summary.js'
import type { SmokeConfig } from './config.js'
import type { GateStatus } from './judge.js'
import type { Attempt, GateResult } from './poll.js'

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`
}

function attempts(count: number): string {
  return count === 1 ? '1 attempt' : `${count} attempts`
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`
}

/** What the gate is about to do, in one line. */
export function planLine(config: SmokeConfig): string {
  const extras = [
    config.expectations.expectedVersion !== undefined
      ? `expecting version ${config.expectations.expectedVersion}`
      : '',
    config.expectations.allowDegraded ? 'degraded allowed' : '',
    config.headers.length
      ? `headers ${config.headers.map(([name]) => name).join(', ')} (values masked)`
      : ''
  ].filter(Boolean)
  return (
    `Polling ${redactUrl(config.url)} until ${attempts(config.requiredSuccesses)} in a row pass: every ${seconds(config.intervalMs)}, ` +
    `for up to ${seconds(config.timeoutMs)}, ${seconds(config.requestTimeoutMs)} per request` +
    (extras.length ? `; ${extras.join('; ')}` : '')
  )
}

/** One compact line per attempt: number, elapsed, HTTP status, response time, verdict, reason. */
export function attemptLine(attempt: Attempt, requiredSuccesses: number): string {
  const { verdict } = attempt
  const http = verdict.httpStatus !== undefined ? `HTTP ${verdict.httpStatus}` : 'no response'
  const outcome = verdict.passed
    ? `pass (${attempt.consecutive} of ${requiredSuccesses} in a row)`
    : `fail [${verdict.status}]`
  return `attempt ${attempt.number} at ${formatSeconds(attempt.startedAfterMs)}: ${http} in ${verdict.responseTimeMs} ms, ${outcome}: ${verdict.reason}${cutShortNote(attempt)}`
}

function cutShortNote(attempt: Attempt): string {
  return attempt.cutShort && attempt.verdict.timedOut
    ? ' (cut short: timeout-seconds was running out)'
    : ''
}

const NEXT_STEP: Record<GateStatus, string> = {
  unreachable:
    'Check the URL, that tasks are running and registered with the load balancer, and the network path from the runner to the service.',
  'version-mismatch':
    'Old tasks are still answering: check that the rollout finished and the old tasks drained, or raise timeout-seconds.',
  degraded:
    'Fix the degraded dependency, or set allow-degraded: true to accept a degraded service.',
  unhealthy: "Check the service's logs and the failing dependency.",
  healthy: 'Raise timeout-seconds, or lower required-successes or interval-seconds.'
}

function describeFailure(attempt: Attempt): string {
  const notes = [`attempt ${attempt.number}`]
  if (attempt.verdict.httpStatus !== undefined) notes.push(`HTTP ${attempt.verdict.httpStatus}`)
  if (attempt.cutShort && attempt.verdict.timedOut) notes.push('cut short by timeout-seconds')
  return `${attempt.verdict.reason} (${notes.join(', ')})`
}

/** The one `::error::` line: the last reason, the attempts, the timeout, and what to do next. */
export function failureMessage(result: GateResult, config: SmokeConfig): string {
  const last = result.attempts[result.attempts.length - 1]!
  const failure = result.lastFailure
  const passes = result.attempts.filter(a => a.verdict.passed).length
  const why = failure
    ? describeFailure(failure)
    : `every attempt passed, but only ${last.consecutive} of the ${config.requiredSuccesses} required in a row fit in the time`
  const flapping =
    failure && passes > 0
      ? `; ${passes} of ${result.attempts.length} attempts passed, never ${config.requiredSuccesses} in a row`
      : ''
  return (
    `Health gate failed for ${redactUrl(config.url)}: ${why}. ` +
    `timeout-seconds (${seconds(config.timeoutMs)}) ran out after ${attempts(result.attempts.length)} in ${formatSeconds(result.elapsedMs)}` +
    `${flapping}. ${NEXT_STEP[failure ? result.status : 'healthy']}`
  )
}

export function passLine(result: GateResult, config: SmokeConfig): string {
  const last = result.attempts[result.attempts.length - 1]!
  return `${redactUrl(config.url)} passed ${attempts(config.requiredSuccesses)} in a row (${result.attempts.length} in all, ${formatSeconds(result.elapsedMs)}): ${last.verdict.reason}`
}

/** The job summary: the verdict, the attempts, the last response time, and each dependency. */
export function summaryMarkdown(result: GateResult, config: SmokeConfig): string {
  const last = result.attempts[result.attempts.length - 1]!
  const version = result.lastHealth?.health.version
  const expected = config.expectations.expectedVersion
  const overview = facts([
    ['Endpoint', code(redactUrl(config.url))],
    ['Verdict', result.passed ? `passed: ${result.status}` : `failed: ${result.status}`],
    [
      'Version',
      [version ?? '', expected !== undefined ? `(expected ${expected})` : '']
        .filter(Boolean)
        .join(' ')
    ],
    [
      'Attempts',
      `${result.attempts.length} (${last.consecutive} of ${config.requiredSuccesses} required passes in a row at the end)`
    ],
    ['Last response time', `${last.verdict.responseTimeMs} ms`],
    ['Elapsed', `${formatSeconds(result.elapsedMs)} of ${seconds(config.timeoutMs)}`],
    [
      result.passed ? 'Last failure' : 'Reason',
      result.lastFailure
        ? `attempt ${result.lastFailure.number}: ${result.lastFailure.verdict.reason}`
        : undefined
    ]
  ])
  const health = result.lastHealth
  const dependencies = !health
    ? 'No HealthCheck body was received.'
    : health.health.services.length === 0
      ? `Attempt ${health.attempt} reported ${health.health.status} with no dependencies listed.`
      : [
          `**Dependencies** (attempt ${health.attempt}, overall ${health.health.status})`,
          '',
          table(
            ['Service', 'Status', 'Response time', 'Message'],
            health.health.services.map(s => [
              s.name,
              s.status,
              s.responseTime !== undefined ? `${s.responseTime} ms` : '',
              s.message ?? ''
            ])
          )
        ].join('\n')
  return section(`Smoke health ${result.passed ? 'passed' : 'failed'}`, overview, dependencies)
}
