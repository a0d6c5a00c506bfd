import {
  excerpt,
  judge,
  readHealthCheck,
  type Expectations
} from '../../actions/smoke-health/judge.js'
import type { ProbeResult } from '../../actions/smoke-health/probe.js'

const strict: Expectations = { allowDegraded: false }
const lenient: Expectations = { allowDegraded: true }

function body(
  status: string,
  services: Array<Record<string, unknown>> = [
    { name: 'database', status: 'healthy', message: 'OK', responseTime: 4 },
    { name: 'redis', status: 'healthy', message: 'PONG', responseTime: 1 }
  ],
  version: unknown = '1.2.3'
): Record<string, unknown> {
  return { status, timestamp: '2026-11-28T12:00:00.000Z', services, uptime: 42, version }
}

function response(
  httpStatus: number,
  payload: unknown,
  contentType = 'application/json; charset=utf-8'
): ProbeResult {
  return {
    outcome: 'response',
    httpStatus,
    contentType,
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
    responseTimeMs: 12
  }
}

describe('judge: what passes the gate', () => {
  const allHealthy = [
    { name: 'database', status: 'healthy' },
    { name: 'redis', status: 'healthy' }
  ]

  it('fails a 200 whose top-level status is unhealthy while every listed service is healthy', () => {
    for (const expectations of [strict, lenient]) {
      const verdict = judge(response(200, body('unhealthy', allHealthy)), expectations)
      expect(verdict).toMatchObject({ passed: false, status: 'unhealthy', httpStatus: 200 })
      expect(verdict.reason).toBe('reports unhealthy')
    }
  })

  it('fails a 200 whose top-level status is degraded while every listed service is healthy, unless degraded is allowed', () => {
    const reply = response(200, body('degraded', allHealthy))
    expect(judge(reply, strict)).toMatchObject({
      passed: false,
      status: 'degraded',
      reason: 'reports degraded (allow-degraded is false)'
    })
    expect(judge(reply, lenient)).toMatchObject({
      passed: true,
      status: 'degraded',
      reason: 'reports degraded (allowed), version 1.2.3'
    })
  })

  it('does not count HTTP 300 as success', () => {
    const verdict = judge(response(300, body('healthy')), lenient)
    expect(verdict).toMatchObject({ passed: false, status: 'unhealthy', httpStatus: 300 })
    expect(verdict.reason).toBe('HTTP 300: reports healthy')
  })

  it('counts every 2xx as an answer, and nothing outside 200-299', () => {
    for (const httpStatus of [200, 204, 299])
      expect(judge(response(httpStatus, body('healthy')), strict).passed).toBe(true)
    for (const httpStatus of [100, 199, 300, 301, 404])
      expect(judge(response(httpStatus, body('healthy')), strict).passed).toBe(false)
  })

  it('names an HTTP status outside 2xx in a version mismatch, and no 2xx one', () => {
    const expecting: Expectations = { allowDegraded: false, expectedVersion: 'abc123' }
    const reason = (httpStatus: number) =>
      judge(response(httpStatus, body('healthy', undefined, 'old999')), expecting).reason
    expect(reason(200)).toBe('version old999 answered, expected abc123')
    expect(reason(299)).toBe('version old999 answered, expected abc123')
    expect(reason(199)).toBe('version old999 answered with HTTP 199, expected abc123')
    expect(reason(300)).toBe('version old999 answered with HTTP 300, expected abc123')
  })
})

describe('judge: reading the reply', () => {
  it('names a non-string status as it is, and a missing service status as undefined', () => {
    expect(judge(response(200, { status: 5, services: [] }), strict).reason).toBe(
      'HTTP 200 not a HealthCheck body: status is 5, not healthy, degraded or unhealthy'
    )
    expect(
      judge(response(200, { status: 'healthy', services: [{ name: 'db' }] }), strict).reason
    ).toBe(
      'HTTP 200 not a HealthCheck body: service db has status undefined, not healthy, degraded or unhealthy'
    )
  })

  it('takes JSON null, a string or a number for no HealthCheck', () => {
    for (const json of ['null', '"healthy"', '42']) {
      expect(judge(response(200, json), strict).reason).toBe(
        'HTTP 200 not a HealthCheck body: the JSON is not an object'
      )
    }
  })

  it('refuses a service with an empty name', () => {
    expect(
      judge(response(200, body('healthy', [{ name: '', status: 'healthy' }])), strict).reason
    ).toBe('HTTP 200 not a HealthCheck body: services[0] has no name')
  })

  it('keeps only the optional fields that have the documented types', () => {
    const read = readHealthCheck({
      status: 'healthy',
      timestamp: 1764331200,
      uptime: '42s',
      services: [
        { name: 'db', status: 'healthy', message: '', responseTime: '4ms' },
        { name: 'cache', status: 'degraded', message: 7 }
      ]
    })
    expect(read).toStrictEqual({
      health: {
        status: 'healthy',
        services: [
          { name: 'db', status: 'healthy' },
          { name: 'cache', status: 'degraded' }
        ]
      }
    })
  })

  it('reads the media type whatever its case and spacing', () => {
    expect(
      judge(response(200, body('healthy'), ' Application/JSON ; charset=utf-8'), strict).passed
    ).toBe(true)
  })

  it('leaves out the words of a blank page that is not JSON', () => {
    expect(judge(response(200, ' \n', 'text/html'), strict).reason).toBe(
      'HTTP 200 answered text/html, not JSON'
    )
  })

  it('calls a blank JSON body empty', () => {
    expect(judge(response(200, ' \n'), strict).reason).toBe('HTTP 200 an empty body, not JSON')
    expect(judge(response(502, ''), strict).reason).toBe('HTTP 502 (an empty body, not JSON)')
  })

  it('keeps the reported degraded status of a reply outside 2xx', () => {
    const verdict = judge(
      response(503, body('degraded', [{ name: 'redis', status: 'degraded' }])),
      lenient
    )
    expect(verdict).toMatchObject({ passed: false, status: 'degraded', httpStatus: 503 })
    expect(verdict.reason).toBe('HTTP 503: reports degraded; redis is degraded')
  })

  it('counts the healthy services, and names no version when there is none', () => {
    const reason = (services: Array<Record<string, unknown>>) =>
      judge(response(200, { status: 'healthy', services }), strict).reason
    expect(reason([])).toBe('healthy')
    expect(reason([{ name: 'db', status: 'healthy' }])).toBe('healthy, 1 service healthy')
  })

  it('names a failing service without a message plainly', () => {
    expect(
      judge(response(200, body('healthy', [{ name: 'db', status: 'unhealthy' }])), strict).reason
    ).toBe('reports healthy, but db is unhealthy')
  })

  it('shortens a page: scripts and styles go, a page of exactly the length stays whole', () => {
    expect(excerpt('a<script>\n var x = 1;\n</script>b')).toBe('a b')
    expect(excerpt('x'.repeat(10), 10)).toBe('xxxxxxxxxx')
  })
})

describe('judge: one attempt', () => {
  it('passes a 200 healthy body whose every service is healthy, naming the version', () => {
    const verdict = judge(response(200, body('healthy')), strict)
    expect(verdict).toMatchObject({
      passed: true,
      status: 'healthy',
      httpStatus: 200,
      responseTimeMs: 12
    })
    expect(verdict.reason).toBe('healthy, 2 services healthy, version 1.2.3')
    expect(verdict.health?.services.map(s => s.name)).toEqual(['database', 'redis'])
  })

  it('fails a 200 healthy body with an unhealthy dependency, naming the service and its message', () => {
    const verdict = judge(
      response(
        200,
        body('healthy', [{ name: 'database', status: 'unhealthy', message: 'connection refused' }])
      ),
      strict
    )
    expect(verdict).toMatchObject({ passed: false, status: 'unhealthy' })
    expect(verdict.reason).toBe('reports healthy, but database is unhealthy: connection refused')
  })

  it('fails an unhealthy body naming every unhealthy service', () => {
    const verdict = judge(
      response(
        200,
        body('unhealthy', [
          { name: 'database', status: 'unhealthy', message: 'timeout' },
          { name: 'redis', status: 'unhealthy', message: 'ECONNREFUSED' },
          { name: 'queue', status: 'healthy' }
        ])
      ),
      lenient
    )
    expect(verdict).toMatchObject({ passed: false, status: 'unhealthy' })
    expect(verdict.reason).toBe(
      'reports unhealthy: database is unhealthy: timeout; redis is unhealthy: ECONNREFUSED'
    )
  })

  it('fails a 503 naming the HTTP status and the failing service from its body', () => {
    const verdict = judge(
      response(503, body('unhealthy', [{ name: 'redis', status: 'unhealthy', message: 'down' }])),
      strict
    )
    expect(verdict).toMatchObject({ passed: false, status: 'unhealthy', httpStatus: 503 })
    expect(verdict.reason).toBe('HTTP 503: reports unhealthy; redis is unhealthy: down')
  })

  it('fails a 2xx-less healthy body: the HTTP status wins over the words', () => {
    const verdict = judge(response(500, body('healthy')), strict)
    expect(verdict).toMatchObject({ passed: false, status: 'unhealthy', httpStatus: 500 })
    expect(verdict.reason).toBe('HTTP 500: reports healthy')
  })

  it('fails a proxy error page naming the status, the content type and its words', () => {
    const page =
      '<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>'
    const verdict = judge(response(502, page, 'text/html'), strict)
    expect(verdict).toMatchObject({ passed: false, status: 'unhealthy', httpStatus: 502 })
    expect(verdict.reason).toBe(
      "HTTP 502 (answered text/html, not JSON: '502 Bad Gateway 502 Bad Gateway')"
    )
  })

  it('fails degraded by default and passes it with allow-degraded', () => {
    const degraded = response(
      200,
      body('degraded', [
        { name: 'redis', status: 'degraded', message: 'high latency', responseTime: 900 }
      ])
    )
    const refused = judge(degraded, strict)
    expect(refused).toMatchObject({ passed: false, status: 'degraded' })
    expect(refused.reason).toBe(
      'reports degraded: redis is degraded: high latency (allow-degraded is false)'
    )
    const allowed = judge(degraded, lenient)
    expect(allowed).toMatchObject({ passed: true, status: 'degraded' })
    expect(allowed.reason).toBe(
      'reports degraded: redis is degraded: high latency (allowed), version 1.2.3'
    )
  })

  it('reads a degraded dependency under a healthy status the same way', () => {
    const shape = response(
      200,
      body('healthy', [{ name: 'search', status: 'degraded', message: 'slow' }])
    )
    expect(judge(shape, strict)).toMatchObject({
      passed: false,
      status: 'degraded',
      reason: 'reports healthy, but search is degraded: slow (allow-degraded is false)'
    })
    expect(judge(shape, lenient)).toMatchObject({ passed: true, status: 'degraded' })
  })

  it('never lets allow-degraded pass an unhealthy dependency', () => {
    const shape = response(
      200,
      body('degraded', [
        { name: 'search', status: 'degraded' },
        { name: 'database', status: 'unhealthy', message: 'disk full' }
      ])
    )
    expect(judge(shape, lenient)).toMatchObject({
      passed: false,
      status: 'unhealthy',
      reason: 'reports degraded, but database is unhealthy: disk full'
    })
  })

  it('calls another version a version mismatch, expected against seen, whatever its health', () => {
    const expecting: Expectations = { allowDegraded: false, expectedVersion: 'abc123' }
    expect(judge(response(200, body('healthy', undefined, 'old999')), expecting)).toMatchObject({
      passed: false,
      status: 'version-mismatch',
      reason: 'version old999 answered, expected abc123'
    })
    expect(judge(response(503, body('unhealthy', [], 'old999')), expecting)).toMatchObject({
      status: 'version-mismatch',
      reason: 'version old999 answered with HTTP 503, expected abc123'
    })
    expect(judge(response(200, body('healthy', undefined, null)), expecting)).toMatchObject({
      status: 'version-mismatch',
      reason: 'no version answered, expected abc123'
    })
    expect(judge(response(200, body('healthy', undefined, 'abc123')), expecting)).toMatchObject({
      passed: true,
      status: 'healthy'
    })
  })

  it('names the content type of a 200 that is not JSON', () => {
    expect(
      judge(response(200, '<!doctype html><p>Welcome to nginx!</p>', 'text/html'), strict)
    ).toMatchObject({
      passed: false,
      status: 'unhealthy',
      reason: "HTTP 200 answered text/html, not JSON: 'Welcome to nginx!'"
    })
    expect(judge(response(200, 'OK', 'text/plain'), strict).reason).toBe(
      "HTTP 200 answered text/plain, not JSON: 'OK'"
    )
  })

  it('fails bodies that claim JSON and are not, or are empty', () => {
    expect(judge(response(200, '{"status": "heal'), strict).reason).toBe(
      `HTTP 200 not JSON: '{"status": "heal'`
    )
    expect(judge(response(204, ''), strict).reason).toBe('HTTP 204 an empty body, not JSON')
  })

  it('reads JSON without a content type, and +json types', () => {
    expect(judge(response(200, body('healthy'), ''), strict).passed).toBe(true)
    expect(judge(response(200, body('healthy'), 'application/health+json'), strict).passed).toBe(
      true
    )
  })

  it('fails JSON that is not a HealthCheck, saying what is missing', () => {
    const cases: Array<[unknown, string]> = [
      [[1, 2], 'the JSON is not an object'],
      [{ ok: true }, 'no status field'],
      [{ status: 'ok', services: [] }, "status is 'ok', not healthy, degraded or unhealthy"],
      [{ status: 'healthy' }, 'no services list'],
      [{ status: 'healthy', services: [{ status: 'healthy' }] }, 'services[0] has no name'],
      [
        { status: 'healthy', services: [{ name: 'db', status: 'up' }] },
        "service db has status 'up', not healthy, degraded or unhealthy"
      ]
    ]
    for (const [payload, problem] of cases) {
      expect(judge(response(200, payload), strict)).toMatchObject({
        passed: false,
        status: 'unhealthy',
        reason: `HTTP 200 not a HealthCheck body: ${problem}`
      })
    }
  })

  it('calls a failed exchange unreachable unless a response came back', () => {
    expect(
      judge(
        {
          outcome: 'failed',
          answered: false,
          reason: 'connection refused by 127.0.0.1:9',
          responseTimeMs: 1
        },
        strict
      )
    ).toEqual({
      passed: false,
      status: 'unreachable',
      reason: 'connection refused by 127.0.0.1:9',
      responseTimeMs: 1
    })
    expect(
      judge(
        {
          outcome: 'failed',
          answered: true,
          httpStatus: 200,
          reason: 'HTTP 200 with a body over the limit',
          responseTimeMs: 3
        },
        strict
      )
    ).toMatchObject({ passed: false, status: 'unhealthy', httpStatus: 200 })
  })

  it('says when the answer came after a redirect', () => {
    const verdict = judge(
      {
        ...response(200, body('healthy')),
        redirectedTo: 'https://api.example.com/health/'
      } as ProbeResult,
      strict
    )
    expect(verdict.reason).toContain('(after a redirect to https://api.example.com/health/)')
  })

  it('keeps service messages and response times, and tolerates a numeric version', () => {
    const read = readHealthCheck(
      body('healthy', [{ name: 'db', status: 'healthy', message: 'ok', responseTime: 7 }], 42)
    )
    expect(read).toEqual({
      health: {
        status: 'healthy',
        timestamp: '2026-11-28T12:00:00.000Z',
        uptime: 42,
        version: '42',
        services: [{ name: 'db', status: 'healthy', message: 'ok', responseTime: 7 }]
      }
    })
  })

  it('shortens a page to its first words', () => {
    expect(excerpt('<style>p{}</style><p>a   b</p>\n<script>x()</script>c')).toBe('a b c')
    expect(excerpt('x'.repeat(100), 10)).toBe('xxxxxxxxxx…')
  })
})
