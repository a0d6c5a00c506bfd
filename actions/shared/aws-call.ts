import { ActionError, awsFailure, describeError } from './errors.js'
import type { Clock } from './runner.js'

/**
 * How one failed AWS call is to be read:
 * - `throttled`: AWS answered that it did not take the request; nothing happened, try later.
 * - `rejected`: AWS answered with an error about the request itself (4xx); nothing happened,
 *   and trying again will not help.
 * - `lost`: no readable answer (a reset, a time-out, a 5xx, a garbled body). The request may or
 *   may not have been carried out: a change must be read back, not sent again blindly.
 */
export type CallFailure = 'throttled' | 'rejected' | 'lost'

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'ThrottledException',
  'SlowDown',
  'LimitExceededException',
  'ProvisionedThroughputExceededException'
])

interface SdkErrorShape {
  name?: string
  $metadata?: { httpStatusCode?: number }
}

export function classifyFailure(error: unknown): CallFailure {
  const shape = (error ?? {}) as SdkErrorShape
  const status = shape.$metadata?.httpStatusCode ?? 0
  if (status === 429 || THROTTLING.has(shape.name ?? '')) return 'throttled'
  // A 4xx with a body AWS could parse is an answer about the request; anything else
  // (no status: network, time-out; 5xx; a 2xx whose body would not parse) is a lost reply.
  if (status >= 400 && status < 500 && shape.name !== 'SyntaxError') return 'rejected'
  return 'lost'
}

/** When and how long: the phase's deadline, each attempt's own limit, and the backoff. */
export interface CallPolicy {
  clock: Clock
  /** Epoch ms: no attempt starts after it, and none runs past it by more than one attempt limit. */
  deadline: number
  /** The longest one attempt may take before it is abandoned as lost. */
  attemptTimeoutMs: number
  /** First wait after a failed attempt; doubled each time, with jitter. */
  backoffMs: number
  /** The longest wait between two attempts. */
  maxBackoffMs: number
  /** Told about each failed attempt that will be retried, so waits are never silent. */
  onRetry?: (what: string, failure: CallFailure, error: unknown, waitMs: number) => void
}

/** The attempt limit for a poll interval: long enough for a slow reply, short of a hang. */
export function attemptTimeoutFor(pollMs: number): number {
  return Math.min(30_000, Math.max(2_000, 2 * pollMs))
}

/** Thrown when the deadline passes while AWS keeps failing; says what was tried and how often. */
export class DeadlineError extends Error {
  constructor(
    readonly what: string,
    readonly attempts: number,
    readonly lastError: unknown
  ) {
    super(
      `${what} did not succeed before the deadline (${attempts} attempt${attempts === 1 ? '' : 's'}; last: ${describeError(lastError)})`
    )
    this.name = 'DeadlineError'
  }
}

/** AWS said no to a request (a 4xx other than throttling): nothing happened. */
export class AwsRejection extends ActionError {
  constructor(
    what: string,
    readonly awsName: string,
    error: unknown
  ) {
    super(awsFailure(what, error).message)
    this.name = 'AwsRejection'
  }
}

/** A reply that was lost on an attempt that will not be repeated (a change's). */
class LostReply extends Error {
  constructor(override readonly cause: unknown) {
    super(describeError(cause))
  }
}

/** One answer to a change, or the knowledge that its reply was lost. */
export type ChangeOutcome<T> = { kind: 'answered'; value: T } | { kind: 'lost'; error: unknown }

/**
 * Makes AWS calls under a deadline. Each attempt is cut off at its own limit (an AbortSignal
 * the SDK honours). Reads are retried with backoff until the deadline whatever went wrong,
 * except a rejection. A change is retried only while AWS says it did not take it (throttling);
 * when its reply is lost, the caller is told, so it reads back instead of changing twice.
 */
export class AwsCaller {
  constructor(private policy: CallPolicy) {}

  /** The same settings with another deadline (a new phase: the rollout, the rollback). */
  until(deadline: number): AwsCaller {
    return new AwsCaller({ ...this.policy, deadline })
  }

  get deadline(): number {
    return this.policy.deadline
  }

  get clock(): Clock {
    return this.policy.clock
  }

  /** A read: retried on anything but a rejection until the deadline. */
  async read<T>(what: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.attempt(what, call, failure => failure !== 'rejected')
  }

  /** A change: retried only while throttled; a lost reply comes back as `lost`. */
  async change<T>(
    what: string,
    call: (signal: AbortSignal) => Promise<T>
  ): Promise<ChangeOutcome<T>> {
    try {
      const value = await this.attempt(what, call, failure => failure === 'throttled')
      return { kind: 'answered', value }
    } catch (error) {
      if (error instanceof LostReply) return { kind: 'lost', error: error.cause }
      throw error
    }
  }

  private async attempt<T>(
    what: string,
    call: (signal: AbortSignal) => Promise<T>,
    retryable: (failure: CallFailure) => boolean
  ): Promise<T> {
    const { clock } = this.policy
    let attempts = 0
    let wait = this.policy.backoffMs
    for (;;) {
      attempts++
      // Even at the deadline one attempt gets a moment: a phase that starts late still looks once.
      const floor = Math.min(this.policy.attemptTimeoutMs, 1000)
      const limit = Math.max(
        floor,
        Math.min(this.policy.attemptTimeoutMs, this.policy.deadline - clock.now())
      )
      try {
        return await call(AbortSignal.timeout(Math.ceil(limit)))
      } catch (error) {
        const failure = classifyFailure(error)
        if (!retryable(failure)) {
          if (failure === 'rejected')
            throw new AwsRejection(what, (error as Error).name ?? 'Error', error)
          throw new LostReply(error)
        }
        const pause = Math.round(
          Math.min(this.policy.maxBackoffMs, wait) * (0.5 + Math.random() / 2)
        )
        if (clock.now() + pause >= this.policy.deadline) {
          throw new DeadlineError(what, attempts, error)
        }
        this.policy.onRetry?.(what, failure, error, pause)
        await clock.sleep(pause)
        wait *= 2
      }
    }
  }
}
