import type { Clock } from '../shared/runner.js'
import type { SmokeConfig } from './config.js'
import { judge, type GateStatus, type HealthCheck, type Verdict } from './judge.js'
import type { Probe } from './probe.js'

export interface Attempt {
  number: number
  /** Since the gate started, when this attempt began. */
  startedAfterMs: number
  verdict: Verdict
  /** Passing attempts in a row, this one included; 0 after a failure. */
  consecutive: number
  /** Given less than request-timeout-seconds because the gate's time was running out. */
  cutShort: boolean
}

export interface GateResult {
  passed: boolean
  status: GateStatus
  attempts: Attempt[]
  elapsedMs: number
  /**
   * The last attempt that failed, whose reason a failure names; an attempt that only timed
   * out because the gate's own time was running out does not hide an earlier real reason.
   */
  lastFailure?: Attempt
  /** The most recent HealthCheck body seen, for the dependency table. */
  lastHealth?: { attempt: number; health: HealthCheck }
}

export type GateSettings = Pick<
  SmokeConfig,
  | 'url'
  | 'headers'
  | 'timeoutMs'
  | 'intervalMs'
  | 'requestTimeoutMs'
  | 'requiredSuccesses'
  | 'expectations'
>

/**
 * Polls until `requiredSuccesses` attempts in a row pass or `timeoutMs` runs out. Each attempt
 * gets at most the time left in the gate, so a hung endpoint cannot stretch the gate; and no
 * attempt starts once the next interval would end past the deadline.
 */
export async function runGate(
  settings: GateSettings,
  deps: { clock: Clock; probe: Probe; onAttempt?: (attempt: Attempt) => void }
): Promise<GateResult> {
  const { clock, probe } = deps
  const started = clock.now()
  const deadline = started + settings.timeoutMs
  const attempts: Attempt[] = []
  let consecutive = 0
  let lastFailure: Attempt | undefined
  let lastHealth: GateResult['lastHealth']

  for (;;) {
    const startedAfterMs = clock.now() - started
    const timeoutMs = Math.max(1, Math.min(settings.requestTimeoutMs, deadline - clock.now()))
    const cutShort = timeoutMs < settings.requestTimeoutMs
    const result = await probe({ url: settings.url, headers: settings.headers, timeoutMs })
    const verdict = judge(result, settings.expectations)
    consecutive = verdict.passed ? consecutive + 1 : 0
    const attempt: Attempt = {
      number: attempts.length + 1,
      startedAfterMs,
      verdict,
      consecutive,
      cutShort
    }
    attempts.push(attempt)
    if (!verdict.passed && !(cutShort && verdict.timedOut && lastFailure)) lastFailure = attempt
    if (verdict.health) lastHealth = { attempt: attempt.number, health: verdict.health }
    deps.onAttempt?.(attempt)

    const done = consecutive >= settings.requiredSuccesses
    if (done || clock.now() + settings.intervalMs >= deadline) {
      return {
        passed: done,
        // A pass reports the service's own word; a failure, the reason it last failed.
        status: done ? verdict.status : (lastFailure ?? attempt).verdict.status,
        attempts,
        elapsedMs: clock.now() - started,
        ...(lastFailure ? { lastFailure } : {}),
        ...(lastHealth ? { lastHealth } : {})
      }
    }
    await clock.sleep(settings.intervalMs)
  }
}
