import { ActionError } from '../../actions/shared/errors.js'
import type { SmokeConfig } from '../../actions/smoke-health/config.js'
import { run } from '../../actions/smoke-health/main.js'
import { runGate } from '../../actions/smoke-health/poll.js'
import type { Probe, ProbeRequest, ProbeResult } from '../../actions/smoke-health/probe.js'
import { attemptLine, failureMessage } from '../../actions/smoke-health/report.js'
import { FakeClock, RecordingRunner } from '../support/runner.js'

const URL = 'https://api.example.com/health'

type Step = ProbeResult | ((request: ProbeRequest) => ProbeResult)

/** A probe that plays a script; each attempt takes its response time on the fake clock. */
function scripted(clock: FakeClock, steps: Step[]): { probe: Probe; requests: ProbeRequest[] } {
  const requests: ProbeRequest[] = []
  const probe: Probe = async request => {
    const step = steps[Math.min(requests.length, steps.length - 1)]!
    requests.push(request)
    const result = typeof step === 'function' ? step(request) : step
    clock.time += result.responseTimeMs
    return result
  }
  return { probe, requests }
}

function healthy(
  version = '1.0.0',
  responseTimeMs = 10
): Extract<ProbeResult, { outcome: 'response' }> {
  return {
    outcome: 'response',
    httpStatus: 200,
    contentType: 'application/json',
    responseTimeMs,
    body: JSON.stringify({
      status: 'healthy',
      timestamp: '2026-11-28T12:00:00Z',
      uptime: 10,
      version,
      services: [
        { name: 'database', status: 'healthy', message: 'PostgreSQL OK', responseTime: 4 },
        { name: 'redis', status: 'healthy', message: 'PONG', responseTime: 1 }
      ]
    })
  }
}

function failingDependency(httpStatus = 503, message = 'connection refused'): ProbeResult {
  return {
    outcome: 'response',
    httpStatus,
    contentType: 'application/json',
    responseTimeMs: 10,
    body: JSON.stringify({
      status: httpStatus === 200 ? 'healthy' : 'unhealthy',
      timestamp: '2026-11-28T12:00:00Z',
      uptime: 10,
      version: '1.0.0',
      services: [
        { name: 'database', status: 'unhealthy', message, responseTime: 2000 },
        { name: 'redis', status: 'healthy', message: 'PONG', responseTime: 1 }
      ]
    })
  }
}

function hung(request: ProbeRequest): ProbeResult {
  return {
    outcome: 'failed',
    answered: false,
    timedOut: true,
    reason: `no response from api.example.com within ${request.timeoutMs / 1000}s`,
    responseTimeMs: request.timeoutMs
  }
}

const refused: ProbeResult = {
  outcome: 'failed',
  answered: false,
  reason: 'connection refused by api.example.com (nothing listening)',
  responseTimeMs: 2
}

function settings(overrides: Partial<SmokeConfig> = {}): SmokeConfig {
  return {
    url: URL,
    headers: [],
    timeoutMs: 60_000,
    intervalMs: 5_000,
    requestTimeoutMs: 10_000,
    requiredSuccesses: 3,
    expectations: { allowDegraded: false },
    ...overrides
  }
}

describe('the polling loop', () => {
  it('passes once the required attempts in a row pass, after a slow start', async () => {
    const clock = new FakeClock()
    const { probe, requests } = scripted(clock, [
      refused,
      failingDependency(),
      healthy(),
      healthy(),
      healthy()
    ])
    const result = await runGate(settings(), { clock, probe })
    expect(result.passed).toBe(true)
    expect(result.status).toBe('healthy')
    expect(result.attempts.map(a => a.consecutive)).toEqual([0, 0, 1, 2, 3])
    expect(requests).toHaveLength(5)
    expect(clock.sleeps).toBe(4)
    expect(result.lastFailure?.number).toBe(2)
  })

  it('starts the count again after any failure', async () => {
    const clock = new FakeClock()
    const { probe } = scripted(clock, [
      healthy(),
      healthy(),
      failingDependency(200),
      healthy(),
      healthy(),
      healthy()
    ])
    const result = await runGate(settings(), { clock, probe })
    expect(result.passed).toBe(true)
    expect(result.attempts.map(a => a.consecutive)).toEqual([1, 2, 0, 1, 2, 3])
  })

  it('stops when the next interval would end past the deadline, naming the last reason and the timeout', async () => {
    const clock = new FakeClock()
    const { probe } = scripted(clock, [failingDependency()])
    const config = settings({ timeoutMs: 30_000 })
    const result = await runGate(config, { clock, probe })
    expect(result.passed).toBe(false)
    expect(result.status).toBe('unhealthy')
    expect(result.attempts).toHaveLength(6)
    expect(result.elapsedMs).toBeLessThanOrEqual(30_000)
    expect(failureMessage(result, config)).toBe(
      'Health gate failed for https://api.example.com/health: HTTP 503: reports unhealthy; database is unhealthy: connection refused (attempt 6, HTTP 503). ' +
        "timeout-seconds (30s) ran out after 6 attempts in 25.1s. Check the service's logs and the failing dependency."
    )
  })

  it('gives each request at most the time left, so a hung endpoint ends the gate on time', async () => {
    const clock = new FakeClock()
    const { probe, requests } = scripted(clock, [hung])
    const config = settings({ timeoutMs: 22_000, requiredSuccesses: 1 })
    const result = await runGate(config, { clock, probe })
    expect(requests.map(r => r.timeoutMs)).toEqual([10_000, 7_000])
    expect(result.elapsedMs).toBe(22_000)
    expect(result.status).toBe('unreachable')
    expect(failureMessage(result, config)).toMatch(
      /: no response from api.example.com within 10s \(attempt 1\)\. timeout-seconds \(22s\) ran out after 2 attempts in 22.0s\. Check the URL/
    )
    expect(result.attempts.map(a => a.cutShort)).toEqual([false, true])
  })

  it('names the real reason, not a last attempt cut short by the deadline', async () => {
    const clock = new FakeClock()
    const { probe } = scripted(clock, [failingDependency(), failingDependency(), hung])
    const config = settings({ timeoutMs: 12_000, requestTimeoutMs: 5_000 })
    const result = await runGate(config, { clock, probe })
    expect(result.attempts).toHaveLength(3)
    expect(result.attempts[2]).toMatchObject({ cutShort: true, verdict: { status: 'unreachable' } })
    expect(result.status).toBe('unhealthy')
    expect(failureMessage(result, config)).toMatch(
      /: HTTP 503: reports unhealthy; database is unhealthy: connection refused \(attempt 2, HTTP 503\)\./
    )
    expect(attemptLine(result.attempts[2]!, 3)).toBe(
      'attempt 3 at 10.0s: no response in 1980 ms, fail [unreachable]: no response from api.example.com within 1.98s (cut short: timeout-seconds was running out)'
    )
  })

  it('names a cut-short timeout when it is the only failure', async () => {
    const clock = new FakeClock()
    const { probe } = scripted(clock, [hung])
    const config = settings({ timeoutMs: 3_000, requestTimeoutMs: 10_000, requiredSuccesses: 1 })
    const result = await runGate(config, { clock, probe })
    expect(result.elapsedMs).toBe(3_000)
    expect(failureMessage(result, config)).toMatch(
      /: no response from api.example.com within 3s \(attempt 1, cut short by timeout-seconds\)\. timeout-seconds \(3s\) ran out after 1 attempt in 3.0s\./
    )
  })

  it('keeps polling while the old version answers and passes once the new one has enough passes', async () => {
    const clock = new FakeClock()
    const { probe } = scripted(clock, [
      healthy('old'),
      healthy('old'),
      healthy('new'),
      healthy('new'),
      healthy('new')
    ])
    const result = await runGate(
      settings({ expectations: { allowDegraded: false, expectedVersion: 'new' } }),
      {
        clock,
        probe
      }
    )
    expect(result.passed).toBe(true)
    expect(result.attempts.map(a => a.verdict.status)).toEqual([
      'version-mismatch',
      'version-mismatch',
      'healthy',
      'healthy',
      'healthy'
    ])
    expect(result.lastHealth?.health.version).toBe('new')
  })

  it('ends in version-mismatch when only the old version ever answers, expected against seen', async () => {
    const clock = new FakeClock()
    const { probe } = scripted(clock, [healthy('old')])
    const config = settings({
      timeoutMs: 20_000,
      expectations: { allowDegraded: false, expectedVersion: 'new' }
    })
    const result = await runGate(config, { clock, probe })
    expect(result.status).toBe('version-mismatch')
    expect(failureMessage(result, config)).toMatch(
      /: version old answered, expected new \(attempt 4, HTTP 200\)\..*Old tasks are still answering/
    )
  })

  it('fails a flapping service that never passes enough in a row, with the failing status', async () => {
    const clock = new FakeClock()
    const { probe } = scripted(clock, [
      healthy(),
      healthy(),
      failingDependency(200, 'pool exhausted'),
      healthy(),
      healthy(),
      refused,
      healthy()
    ])
    const config = settings({ timeoutMs: 33_000 })
    const result = await runGate(config, { clock, probe })
    expect(result.passed).toBe(false)
    expect(result.attempts).toHaveLength(7)
    // The last attempt passed; the status is the reason the gate failed.
    expect(result.attempts[6]!.verdict.passed).toBe(true)
    expect(result.status).toBe('unreachable')
    expect(failureMessage(result, config)).toMatch(
      /connection refused by api.example.com \(nothing listening\) \(attempt 6\)\. .*; 5 of 7 attempts passed, never 3 in a row\./
    )
  })

  it('says when every attempt passed but too few fit in the time', async () => {
    const clock = new FakeClock()
    const { probe } = scripted(clock, [healthy('1.0.0', 1_000)])
    const config = settings({ timeoutMs: 10_000, intervalMs: 4_000 })
    const result = await runGate(config, { clock, probe })
    expect(result.passed).toBe(false)
    expect(result.attempts).toHaveLength(2)
    expect(failureMessage(result, config)).toMatch(
      /every attempt passed, but only 2 of the 3 required in a row fit in the time\. .*Raise timeout-seconds/
    )
  })
})

/** A runner that also records when secrets were registered, relative to everything else. */
class OrderedRunner extends RecordingRunner {
  readonly events: string[] = []
  override setSecret(value: string): void {
    this.events.push('secret')
    super.setSecret(value)
  }
  override info(line: string): void {
    this.events.push('info')
    super.info(line)
  }
}

const inputs = (values: Record<string, string>) => (name: string) => values[name] ?? ''

describe('run', () => {
  it('sets the outputs, logs one line per attempt and summarises every dependency', async () => {
    const runner = new RecordingRunner()
    const clock = new FakeClock()
    const { probe } = scripted(clock, [refused, healthy('abc123', 35), healthy('abc123', 35)])
    await run(runner, {
      input: inputs({ url: URL, 'required-successes': '2', 'expected-version': 'abc123' }),
      clock,
      probe
    })
    expect(runner.outputs).toEqual({
      status: 'healthy',
      version: 'abc123',
      attempts: '3',
      'response-time-ms': '35'
    })
    const attemptLines = runner.lines.filter(line => line.startsWith('attempt '))
    expect(attemptLines).toEqual([
      'attempt 1 at 0.0s: no response in 2 ms, fail [unreachable]: connection refused by api.example.com (nothing listening)',
      'attempt 2 at 5.0s: HTTP 200 in 35 ms, pass (1 of 2 in a row): healthy, 2 services healthy, version abc123',
      'attempt 3 at 10.0s: HTTP 200 in 35 ms, pass (2 of 2 in a row): healthy, 2 services healthy, version abc123'
    ])
    expect(runner.summaryText).toContain('| Verdict | passed: healthy |')
    expect(runner.summaryText).toContain(
      '| Attempts | 3 (2 of 2 required passes in a row at the end) |'
    )
    expect(runner.summaryText).toContain('| Last response time | 35 ms |')
    expect(runner.summaryText).toContain('| Service | Status | Response time | Message |')
    expect(runner.summaryText).toContain('| database | healthy | 4 ms | PostgreSQL OK |')
    expect(runner.summaryText).toContain('| redis | healthy | 1 ms | PONG |')
    expect(runner.summaryText).toContain(
      '| Last failure | attempt 1: connection refused by api.example.com (nothing listening) |'
    )
  })

  it('sets the outputs and the summary before failing with one ActionError', async () => {
    const runner = new RecordingRunner()
    const clock = new FakeClock()
    const { probe } = scripted(clock, [failingDependency(200, 'too many connections')])
    const failure = run(runner, {
      input: inputs({ url: URL, 'timeout-seconds': '12' }),
      clock,
      probe
    })
    await expect(failure).rejects.toThrow(ActionError)
    await expect(failure).rejects.toThrow(
      /^Health gate failed for https:\/\/api.example.com\/health: reports healthy, but database is unhealthy: too many connections \(attempt 3, HTTP 200\)\. timeout-seconds \(12s\) ran out after 3 attempts in 10\.0s\./
    )
    expect(runner.outputs).toEqual({
      status: 'unhealthy',
      version: '1.0.0',
      attempts: '3',
      'response-time-ms': '10'
    })
    expect(runner.summaryText).toContain('| Verdict | failed: unhealthy |')
    expect(runner.summaryText).toContain(
      '| database | unhealthy | 2000 ms | too many connections |'
    )
  })

  it('reports degraded when allowed and no body at all when the service never answered', async () => {
    const degradedRunner = new RecordingRunner()
    const clock = new FakeClock()
    const degraded: ProbeResult = {
      ...healthy(),
      body: JSON.stringify({
        status: 'degraded',
        services: [{ name: 'redis', status: 'degraded', message: 'slow' }],
        version: '2'
      })
    }
    await run(degradedRunner, {
      input: inputs({ url: URL, 'allow-degraded': 'true', 'required-successes': '1' }),
      clock,
      probe: scripted(clock, [degraded]).probe
    })
    expect(degradedRunner.outputs.status).toBe('degraded')

    const downRunner = new RecordingRunner()
    await expect(
      run(downRunner, {
        input: inputs({ url: URL, 'timeout-seconds': '6', 'required-successes': '1' }),
        clock,
        probe: scripted(clock, [refused]).probe
      })
    ).rejects.toThrow(/connection refused/)
    expect(downRunner.outputs).toEqual({
      status: 'unreachable',
      version: '',
      attempts: '2',
      'response-time-ms': '2'
    })
    expect(downRunner.summaryText).toContain('No HealthCheck body was received.')
  })

  it('masks every header value before logging and keeps it out of the log, the summary and the failure', async () => {
    const secret = 'Bearer sk_live_51HxQz'
    const runner = new OrderedRunner()
    const clock = new FakeClock()
    // A server that echoes the header back in a dependency's message.
    const { probe, requests } = scripted(clock, [
      failingDependency(503, `rejected token ${secret}`)
    ])
    const failure = run(runner, {
      input: inputs({
        url: URL,
        'timeout-seconds': '6',
        'required-successes': '1',
        headers: `Authorization: ${secret}\nX-Tenant: noblepay-eu`
      }),
      clock,
      probe
    })
    await expect(failure).rejects.toThrow(/rejected token \*\*\*/)
    await expect(failure).rejects.not.toThrow(secret)
    expect(runner.secrets).toEqual([secret, 'sk_live_51HxQz', 'noblepay-eu'])
    expect(runner.events.indexOf('info')).toBeGreaterThan(runner.events.lastIndexOf('secret'))
    expect(requests[0]!.headers).toEqual([
      ['Authorization', secret],
      ['X-Tenant', 'noblepay-eu']
    ])
    expect(runner.log).toContain('headers Authorization, X-Tenant (values masked)')
    expect(runner.log).not.toContain(secret)
    expect(runner.log).not.toContain('noblepay-eu')
    expect(runner.summaryText).toContain('rejected token ***')
    expect(runner.summaryText).not.toContain(secret)
  })

  it('masks the values of a malformed headers input before refusing it', async () => {
    const runner = new RecordingRunner()
    await expect(
      run(runner, {
        input: inputs({ url: URL, headers: 'X-Ok: fine-value\nsk_live_token' }),
        clock: new FakeClock()
      })
    ).rejects.toThrow(/Input 'headers' is 'line 2, content hidden'/)
    expect(runner.secrets).toEqual(['fine-value', 'sk_live_token'])
  })

  it('masks the token after an auth scheme on its own, and keeps it out of the log, the summary and the failure', async () => {
    const token = 'sk_live_51HxQz'
    const runner = new RecordingRunner()
    const clock = new FakeClock()
    // A server that echoes the bare token, without its scheme, in a dependency's message.
    const { probe } = scripted(clock, [failingDependency(503, `token ${token} expired`)])
    const failure = run(runner, {
      input: inputs({
        url: URL,
        'timeout-seconds': '6',
        'required-successes': '1',
        headers: `Authorization: Bearer ${token}`
      }),
      clock,
      probe
    })
    await expect(failure).rejects.toThrow(/token \*\*\* expired/)
    await expect(failure).rejects.not.toThrow(token)
    expect(runner.secrets).toContain(token)
    expect(runner.log).toContain('token *** expired')
    expect(runner.log).not.toContain(token)
    expect(runner.summaryText).toContain('token *** expired')
    expect(runner.summaryText).not.toContain(token)
  })

  it('shows the endpoint with its query values masked in the log, the summary and the failure', async () => {
    const runner = new RecordingRunner()
    const clock = new FakeClock()
    const { probe, requests } = scripted(clock, [failingDependency()])
    const signed = 'https://api.example.com/health?sig=Zx9sEcReT&expires=1767225600'
    const failure = run(runner, {
      input: inputs({ url: signed, 'timeout-seconds': '6', 'required-successes': '1' }),
      clock,
      probe
    })
    await expect(failure).rejects.toThrow(
      /^Health gate failed for https:\/\/api\.example\.com\/health\?sig=\*\*\*&expires=\*\*\*: /
    )
    // The request itself goes to the URL as given.
    expect(requests[0]!.url).toBe(signed)
    expect(runner.log).toContain('Polling https://api.example.com/health?sig=***&expires=*** until')
    expect(runner.summaryText).toContain('`https://api.example.com/health?sig=***&expires=***`')
    for (const shown of [runner.log, runner.summaryText]) {
      expect(shown).not.toContain('Zx9sEcReT')
      expect(shown).not.toContain('1767225600')
    }
  })
})
