import { jest } from '@jest/globals'
import {
  attemptTimeoutFor,
  AwsCaller,
  AwsRejection,
  classifyFailure,
  DeadlineError
} from '../../actions/shared/aws-call.js'
import { FakeClock } from '../support/runner.js'

const sdkError = (name: string, httpStatusCode?: number) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode } })

describe('classifyFailure', () => {
  it.each([
    [sdkError('ThrottlingException', 400), 'throttled'],
    [sdkError('TooManyRequestsException', 429), 'throttled'],
    [sdkError('Whatever', 429), 'throttled'],
    [sdkError('ClientException', 400), 'rejected'],
    [sdkError('AccessDeniedException', 400), 'rejected'],
    [sdkError('ServerException', 500), 'lost'],
    // A proxy's HTML error page, or a garbled 200: the body would not parse.
    [sdkError('SyntaxError', 502), 'lost'],
    [sdkError('SyntaxError', 200), 'lost'],
    [sdkError('SyntaxError', 400), 'lost'],
    [
      Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET' }),
      'lost'
    ],
    [Object.assign(new Error('Request aborted'), { name: 'AbortError' }), 'lost']
  ])('%s is %s', (error, expected) => {
    expect(classifyFailure(error)).toBe(expected)
  })

  it.each([
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
  ])('%s is throttling whatever its status: AWS did not take the request', name => {
    expect(classifyFailure(sdkError(name, 400))).toBe('throttled')
    expect(classifyFailure(sdkError(name, 503))).toBe('throttled')
  })

  it('counts every 4xx as a rejection and nothing outside 400 to 499', () => {
    expect(classifyFailure(sdkError('ResourceNotFoundException', 499))).toBe('rejected')
    expect(classifyFailure(sdkError('NotModified', 399))).toBe('lost')
    expect(classifyFailure(sdkError('ServerException', 500))).toBe('lost')
  })

  it('reads a thrown nothing, or an error with no name or status, as a lost reply', () => {
    expect(classifyFailure(undefined)).toBe('lost')
    expect(classifyFailure(null)).toBe('lost')
    expect(classifyFailure({})).toBe('lost')
    expect(classifyFailure({ $metadata: {} })).toBe('lost')
  })
})

describe('attemptTimeoutFor', () => {
  it('gives an attempt twice the poll interval, at least 2 s and at most 30 s', () => {
    expect(attemptTimeoutFor(5_000)).toBe(10_000)
    expect(attemptTimeoutFor(500)).toBe(2_000)
    expect(attemptTimeoutFor(60_000)).toBe(30_000)
  })
})

describe('DeadlineError', () => {
  it('counts one attempt in the singular, and is named for what it is', () => {
    const error = new DeadlineError('Describing service api', 1, new Error('socket hang up'))
    expect(error.message).toBe(
      'Describing service api did not succeed before the deadline (1 attempt; last: socket hang up)'
    )
    expect(error.name).toBe('DeadlineError')
    expect(error).toMatchObject({ what: 'Describing service api', attempts: 1 })
  })
})

function caller(clock: FakeClock, deadlineMs = 60_000, retries: string[] = []) {
  return new AwsCaller({
    clock,
    deadline: clock.now() + deadlineMs,
    attemptTimeoutMs: 5_000,
    backoffMs: 1_000,
    maxBackoffMs: 8_000,
    onRetry: (_what, failure) => retries.push(failure)
  })
}

/** A call that fails with the given errors, in order, then answers. */
function failing<T>(errors: unknown[], answer: T) {
  let calls = 0
  const call = async () => {
    calls++
    if (calls <= errors.length) throw errors[calls - 1]
    return answer
  }
  return { call, calls: () => calls }
}

describe('AwsCaller.read', () => {
  it('retries throttling and lost replies with growing waits until it gets an answer', async () => {
    const clock = new FakeClock()
    const retries: string[] = []
    const errors = [sdkError('ThrottlingException', 400), sdkError('ServerException', 503)]
    const { call, calls } = failing(errors, 'ok')
    await expect(caller(clock, 60_000, retries).read('Describing', call)).resolves.toBe('ok')
    expect(calls()).toBe(3)
    expect(retries).toEqual(['throttled', 'lost'])
    // Two waits: about 1 s then about 2 s (with jitter between half and all of each).
    expect(clock.time - Date.parse('2026-11-28T12:00:00Z')).toBeGreaterThanOrEqual(1_500)
    expect(clock.time - Date.parse('2026-11-28T12:00:00Z')).toBeLessThanOrEqual(3_000)
  })

  it('keeps retrying through an outage shorter than the deadline, however many attempts it takes', async () => {
    const clock = new FakeClock()
    const outage = Array.from({ length: 30 }, () => sdkError('ServerException', 500))
    const { call, calls } = failing(outage, 'ok')
    await expect(caller(clock, 10 * 60_000).read('Describing', call)).resolves.toBe('ok')
    expect(calls()).toBe(31)
  })

  it('gives up at the deadline, naming what it tried and the last error', async () => {
    const clock = new FakeClock()
    const start = clock.now()
    const outage = Array.from({ length: 1000 }, () => sdkError('ThrottlingException', 400))
    const { call } = failing(outage, 'ok')
    const error = await caller(clock, 30_000)
      .read('Describing service api', call)
      .then(
        () => new Error('resolved'),
        (e: Error) => e
      )
    expect(error).toBeInstanceOf(DeadlineError)
    expect(error.message).toMatch(
      /^Describing service api did not succeed before the deadline \(\d+ attempts; last: ThrottlingException\)$/
    )
    expect(clock.time - start).toBeLessThanOrEqual(30_000)
  })

  it('does not retry a rejection, and says what to do', async () => {
    const clock = new FakeClock()
    const { call, calls } = failing([sdkError('AccessDeniedException', 400)], 'ok')
    await expect(caller(clock).read('Describing service api', call)).rejects.toThrow(
      /Describing service api failed: AccessDeniedException: AccessDeniedException\. The role lacks the permission/
    )
    expect(calls()).toBe(1)
  })

  it('cuts each attempt off at its own limit', async () => {
    const clock = new FakeClock()
    const policy = {
      clock,
      deadline: clock.now() + 60_000,
      attemptTimeoutMs: 50,
      backoffMs: 1,
      maxBackoffMs: 1
    }
    let aborted = 0
    let calls = 0
    const hangsOnce = (signal: AbortSignal) =>
      new Promise<string>((resolve, reject) => {
        calls++
        if (calls > 1) return resolve('ok')
        signal.addEventListener('abort', () => {
          aborted++
          reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' }))
        })
      })
    const started = Date.now()
    await expect(new AwsCaller(policy).read('Describing', hangsOnce)).resolves.toBe('ok')
    expect(aborted).toBe(1)
    expect(Date.now() - started).toBeLessThan(2_000)
  })
})

describe('AwsCaller waits', () => {
  afterEach(() => {
    jest.restoreAllMocks()
  })

  it('doubles the wait after each failure up to the longest, with jitter between half and all of it', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0.5)
    const clock = new FakeClock()
    const waits: number[] = []
    const policy = {
      clock,
      deadline: clock.now() + 10 * 60_000,
      attemptTimeoutMs: 5_000,
      backoffMs: 1_000,
      maxBackoffMs: 8_000,
      onRetry: (_what: string, _failure: string, _error: unknown, waitMs: number) =>
        waits.push(waitMs)
    }
    const outage = Array.from({ length: 6 }, () => sdkError('ServerException', 503))
    const { call } = failing(outage, 'ok')
    await expect(new AwsCaller(policy).read('Describing', call)).resolves.toBe('ok')
    // Three quarters (the jitter at its middle) of 1, 2, 4, 8, 8 and 8 s.
    expect(waits).toEqual([750, 1_500, 3_000, 6_000, 6_000, 6_000])
    expect(clock.time - Date.parse('2026-11-28T12:00:00Z')).toBe(23_250)
  })

  it('tells the retry what failed, how, and how long it waits', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0)
    const clock = new FakeClock()
    const told: unknown[][] = []
    const throttled = sdkError('ThrottlingException', 400)
    const { call } = failing([throttled], 'ok')
    const policy = {
      clock,
      deadline: clock.now() + 60_000,
      attemptTimeoutMs: 5_000,
      backoffMs: 1_000,
      maxBackoffMs: 8_000,
      onRetry: (...args: unknown[]) => told.push(args)
    }
    await new AwsCaller(policy).read('Describing service api', call)
    expect(told).toEqual([['Describing service api', 'throttled', throttled, 500]])
  })

  it('gives up after one attempt when the first wait would reach the deadline', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0.5)
    const clock = new FakeClock()
    const retries: string[] = []
    const { call, calls } = failing([sdkError('ServerException', 503)], 'ok')
    const policy = {
      clock,
      // The first wait is 750 ms: it would end exactly at the deadline.
      deadline: clock.now() + 750,
      attemptTimeoutMs: 5_000,
      backoffMs: 1_000,
      maxBackoffMs: 8_000,
      onRetry: (_what: string, failure: string) => retries.push(failure)
    }
    const error = await new AwsCaller(policy).read('Describing', call).then(
      () => new Error('resolved'),
      (e: Error) => e
    )
    expect(error).toBeInstanceOf(DeadlineError)
    expect(error.message).toBe(
      'Describing did not succeed before the deadline (1 attempt; last: ServerException)'
    )
    expect(calls()).toBe(1)
    expect(retries).toEqual([])
    expect(clock.sleeps).toBe(0)
  })

  it('still waits and tries again when the wait ends just before the deadline', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0.5)
    const clock = new FakeClock()
    const { call, calls } = failing([sdkError('ServerException', 503)], 'ok')
    const policy = {
      clock,
      deadline: clock.now() + 751,
      attemptTimeoutMs: 5_000,
      backoffMs: 1_000,
      maxBackoffMs: 8_000
    }
    await expect(new AwsCaller(policy).read('Describing', call)).resolves.toBe('ok')
    expect(calls()).toBe(2)
  })
})

describe('AwsCaller attempt limits', () => {
  /** A call that never answers by itself: it ends only when its signal aborts (or after 6 s). */
  const hanging = (signal: AbortSignal) =>
    new Promise<string>((resolve, reject) => {
      const giveUp = setTimeout(() => resolve('never aborted'), 6_000)
      signal.addEventListener('abort', () => {
        clearTimeout(giveUp)
        reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' }))
      })
    })

  async function abortedAfter(policy: {
    clock: FakeClock
    deadline: number
    attemptTimeoutMs: number
  }): Promise<number> {
    const caller = new AwsCaller({ ...policy, backoffMs: 1_000, maxBackoffMs: 1_000 })
    const started = Date.now()
    const outcome = await caller.change('Updating', hanging)
    expect(outcome.kind).toBe('lost')
    return Date.now() - started
  }

  it('cuts an attempt off at the deadline when that comes before its own limit', async () => {
    const clock = new FakeClock()
    const elapsed = await abortedAfter({
      clock,
      deadline: clock.now() + 1_300,
      attemptTimeoutMs: 30_000
    })
    expect(elapsed).toBeGreaterThanOrEqual(1_250)
    expect(elapsed).toBeLessThan(3_000)
  })

  it('gives an attempt one second even when the deadline has passed', async () => {
    const clock = new FakeClock()
    const elapsed = await abortedAfter({
      clock,
      deadline: clock.now() - 60_000,
      attemptTimeoutMs: 30_000
    })
    expect(elapsed).toBeGreaterThanOrEqual(950)
    expect(elapsed).toBeLessThan(2_500)
  })

  it('never gives an attempt more than its own limit, even past the deadline', async () => {
    const clock = new FakeClock()
    const elapsed = await abortedAfter({
      clock,
      deadline: clock.now() - 60_000,
      attemptTimeoutMs: 200
    })
    expect(elapsed).toBeGreaterThanOrEqual(150)
    expect(elapsed).toBeLessThan(900)
  })
})

describe('AwsCaller.until', () => {
  it('keeps the clock and the policy under the new deadline', async () => {
    const clock = new FakeClock()
    const first = caller(clock, 60_000)
    const later = first.until(clock.now() + 5_000)
    expect(later.deadline).toBe(clock.now() + 5_000)
    expect(first.deadline).toBe(clock.now() + 60_000)
    expect(later.clock).toBe(clock)
    const outage = Array.from({ length: 100 }, () => sdkError('ServerException', 500))
    const { call } = failing(outage, 'ok')
    await expect(later.read('Describing', call)).rejects.toBeInstanceOf(DeadlineError)
    expect(clock.time - Date.parse('2026-11-28T12:00:00Z')).toBeLessThan(5_000)
  })
})

describe('AwsRejection', () => {
  it("carries AWS's name for the error, or 'Error' when it has none", async () => {
    const clock = new FakeClock()
    const named = await caller(clock)
      .read('Describing', failing([sdkError('AccessDeniedException', 403)], 'ok').call)
      .catch((e: unknown) => e)
    expect(named).toBeInstanceOf(AwsRejection)
    expect(named).toMatchObject({ name: 'AwsRejection', awsName: 'AccessDeniedException' })
    const unnamed = await caller(clock)
      .read('Describing', failing([{ $metadata: { httpStatusCode: 400 } }], 'ok').call)
      .catch((e: unknown) => e)
    expect(unnamed).toMatchObject({ awsName: 'Error' })
  })
})

describe('AwsCaller.change', () => {
  it('retries while throttled: AWS did not take the change', async () => {
    const clock = new FakeClock()
    const { call, calls } = failing([sdkError('ThrottlingException', 400)], 'done')
    await expect(caller(clock).change('Updating', call)).resolves.toEqual({
      kind: 'answered',
      value: 'done'
    })
    expect(calls()).toBe(2)
  })

  it.each([
    ['a 5xx', sdkError('ServerException', 500)],
    ['a garbled reply', sdkError('SyntaxError', 200)],
    ['a reset', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ['a time-out', Object.assign(new Error('Request aborted'), { name: 'AbortError' })]
  ])('reports %s as lost after one attempt, never sending the change again', async (_, error) => {
    const clock = new FakeClock()
    const { call, calls } = failing([error], 'done')
    await expect(caller(clock).change('Updating', call)).resolves.toEqual({ kind: 'lost', error })
    expect(calls()).toBe(1)
  })

  it('throws a rejection: nothing changed', async () => {
    const clock = new FakeClock()
    const { call } = failing([sdkError('InvalidParameterException', 400)], 'done')
    await expect(caller(clock).change('Updating service api', call)).rejects.toThrow(
      'Updating service api failed: InvalidParameterException'
    )
  })

  it('gives up at the deadline when throttling never stops: nothing changed', async () => {
    const clock = new FakeClock()
    const outage = Array.from({ length: 1000 }, () => sdkError('ThrottlingException', 400))
    const { call } = failing(outage, 'done')
    await expect(caller(clock, 20_000).change('Updating', call)).rejects.toBeInstanceOf(
      DeadlineError
    )
  })
})
