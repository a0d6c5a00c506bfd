import { AwsCaller, classifyFailure, DeadlineError } from '../../actions/shared/aws-call.js'
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
