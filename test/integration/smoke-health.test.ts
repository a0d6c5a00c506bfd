import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { runBundle, type BundleRun } from '../support/bundle.js'
import {
  freePort,
  hang,
  healthCheck,
  html,
  hugeBody,
  json,
  redirectLoop,
  sequence,
  stallBody,
  startHealthServer,
  type HealthServer,
  type Reply,
  type ServiceShape
} from '../support/health-servers.js'

/** The built bundle, exactly what the runner executes (`npm run package` builds it). */
const BUNDLE = join(process.cwd(), 'dist', 'smoke-health', 'index.js')

interface Run extends BundleRun {
  /** The `::error::` lines, unescaped. */
  errors: string[]
  elapsedMs: number
}

/** Runs the bundle as the runner would: inputs as INPUT_<NAME>, outputs and summary to files. */
async function gate(
  inputs: Record<string, string>,
  onLine?: (line: string, at: number) => void
): Promise<Run> {
  const run = await runBundle('smoke-health', { inputs, onLine })
  return {
    ...run,
    elapsedMs: run.durationMs,
    errors: run.stdout
      .split('\n')
      .filter(line => line.startsWith('::error::'))
      .map(line =>
        line
          .slice('::error::'.length)
          .replace(/%0D/g, '\r')
          .replace(/%0A/g, '\n')
          .replace(/%25/g, '%')
      )
  }
}

/**
 * The gate's own clock stays within timeout-seconds, and the whole process (Node's start
 * included) ends within a moment of it.
 */
function expectOnTime(run: Run, timeoutSeconds: number): void {
  const gateSeconds = /ran out after \d+ attempts? in ([\d.]+)s/.exec(run.errors[0] ?? '')?.[1]
  // A timer fires a few milliseconds late on a busy machine, and the message rounds to 0.1 s.
  expect(Number(gateSeconds)).toBeLessThanOrEqual(timeoutSeconds + 0.1)
  expect(run.elapsedMs).toBeLessThan(timeoutSeconds * 1000 + 2_000)
}

const servers: HealthServer[] = []
async function serve(reply: Reply, port?: number): Promise<HealthServer> {
  const server = await startHealthServer(reply, port)
  servers.push(server)
  return server
}

const FAST = { 'interval-seconds': '0.1', 'request-timeout-seconds': '1', 'timeout-seconds': '3' }

beforeAll(() => {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run package\` first`)
})
afterEach(async () => {
  await Promise.all(servers.splice(0).map(server => server.close()))
})

describe('smoke-health bundle against real health endpoints', () => {
  it('passes a healthy service after the required passes and reports the outputs and summary', async () => {
    const server = await serve(json(200, healthCheck('healthy', { version: 'abc123' })))
    const run = await gate({ url: server.url, 'expected-version': 'abc123', ...FAST })
    expect(run.exitCode).toBe(0)
    expect(run.errors).toEqual([])
    expect(run.outputs).toMatchObject({ status: 'healthy', version: 'abc123', attempts: '3' })
    expect(Number(run.outputs['response-time-ms'])).toBeGreaterThanOrEqual(0)
    expect(server.requests).toHaveLength(3)
    expect(run.stdout).toMatch(
      /^attempt 1 at 0\.0s: HTTP 200 in \d+ ms, pass \(1 of 3 in a row\): healthy/m
    )
    expect(run.stdout).toMatch(
      /^attempt 3 at \d+\.\ds: HTTP 200 in \d+ ms, pass \(3 of 3 in a row\)/m
    )
    expect(run.summary).toContain('| Verdict | passed: healthy |')
    expect(run.summary).toContain('| database | healthy | 4 ms | PostgreSQL connection OK |')
    expect(run.summary).toContain('| redis | healthy | 1 ms | PONG |')
  })

  it('fails an unhealthy 503 naming the service and its message', async () => {
    const server = await serve(
      json(
        503,
        healthCheck('unhealthy', {
          services: [
            { name: 'database', status: 'unhealthy', message: 'ECONNREFUSED 10.0.3.7:5432' }
          ]
        })
      )
    )
    const run = await gate({ url: server.url, ...FAST, 'timeout-seconds': '1' })
    expect(run.exitCode).toBe(1)
    expect(run.outputs.status).toBe('unhealthy')
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(
      /^Health gate failed for http:\/\/127\.0\.0\.1:\d+\/health: HTTP 503: reports unhealthy; database is unhealthy: ECONNREFUSED 10\.0\.3\.7:5432 \(attempt \d+, HTTP 503\)\. timeout-seconds \(1s\) ran out/
    )
    expect(run.summary).toContain('| database | unhealthy |  | ECONNREFUSED 10.0.3.7:5432 |')
    expectOnTime(run, 1)
  })

  it('fails degraded by default and passes it with allow-degraded', async () => {
    const server = await serve(
      json(
        200,
        healthCheck('degraded', {
          services: [
            { name: 'redis', status: 'degraded', message: 'latency 900ms', responseTime: 900 }
          ]
        })
      )
    )
    const strict = await gate({ url: server.url, ...FAST, 'timeout-seconds': '1' })
    expect(strict.exitCode).toBe(1)
    expect(strict.outputs.status).toBe('degraded')
    expect(strict.errors[0]).toMatch(
      /reports degraded: redis is degraded: latency 900ms \(allow-degraded is false\).*allow-degraded: true/
    )
    const lenient = await gate({ url: server.url, ...FAST, 'allow-degraded': 'true' })
    expect(lenient.exitCode).toBe(0)
    expect(lenient.outputs).toMatchObject({ status: 'degraded', attempts: '3' })
    expectOnTime(strict, 1)
  })

  it('fails a 200 healthy answer with a failing dependency', async () => {
    const server = await serve(
      json(
        200,
        healthCheck('healthy', {
          services: [
            { name: 'redis', status: 'unhealthy', message: 'NOAUTH Authentication required' }
          ]
        })
      )
    )
    const run = await gate({ url: server.url, ...FAST, 'timeout-seconds': '1' })
    expect(run.exitCode).toBe(1)
    expect(run.outputs.status).toBe('unhealthy')
    expect(run.errors[0]).toMatch(
      /reports healthy, but redis is unhealthy: NOAUTH Authentication required \(attempt \d+, HTTP 200\)/
    )
    expectOnTime(run, 1)
  })

  it('keeps polling while the old version answers and passes once the new one has answered enough', async () => {
    const old = json(200, healthCheck('healthy', { version: 'old111' }))
    const fresh = json(200, healthCheck('healthy', { version: 'new222' }))
    const server = await serve(sequence(old, old, old, fresh))
    const run = await gate({ url: server.url, 'expected-version': 'new222', ...FAST })
    expect(run.exitCode).toBe(0)
    expect(run.outputs).toMatchObject({ status: 'healthy', version: 'new222', attempts: '6' })
    expect(run.stdout).toMatch(
      /^attempt 3 at .*fail \[version-mismatch\]: version old111 answered, expected new222$/m
    )
  })

  it('ends in version-mismatch, expected against seen, when only the old version answers', async () => {
    const server = await serve(json(200, healthCheck('healthy', { version: 'old111' })))
    const run = await gate({
      url: server.url,
      'expected-version': 'new222',
      ...FAST,
      'timeout-seconds': '1'
    })
    expect(run.exitCode).toBe(1)
    expect(run.outputs).toMatchObject({ status: 'version-mismatch', version: 'old111' })
    expect(run.errors[0]).toMatch(
      /version old111 answered, expected new222 .*Old tasks are still answering/
    )
    expectOnTime(run, 1)
  })

  it('waits through a slow start: connection refused, then 503, then healthy', async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}/health`
    // The service comes up only once the gate has been refused, then answers 503 twice.
    let starting: Promise<HealthServer> | undefined
    const run = await gate({ url, ...FAST, 'timeout-seconds': '5' }, line => {
      if (!starting && line.startsWith('attempt 2 ')) {
        starting = serve(
          sequence(
            html(503, '<h1>503 Service Unavailable</h1>'),
            html(503, '<h1>503</h1>'),
            json(200, healthCheck())
          ),
          port
        )
      }
    })
    expect(run.exitCode).toBe(0)
    expect(run.outputs.status).toBe('healthy')
    expect(run.stdout).toMatch(
      /^attempt 1 at 0\.0s: no response in \d+ ms, fail \[unreachable\]: connection refused by 127\.0\.0\.1:\d+ \(nothing listening\)$/m
    )
    expect(run.stdout).toMatch(
      /fail \[unhealthy\]: HTTP 503 \(answered text\/html, not JSON: '503 Service Unavailable'\)/
    )
    const server = await starting!
    expect(server.requests).toHaveLength(2 + 3)
    const refusals = (run.stdout.match(/fail \[unreachable\]/g) ?? []).length
    expect(run.outputs.attempts).toBe(String(refusals + 2 + 3))
  })

  it('fails a flapping service that never passes the required attempts in a row', async () => {
    const up = json(200, healthCheck())
    const down = json(
      503,
      healthCheck('unhealthy', {
        services: [{ name: 'database', status: 'unhealthy', message: 'too many clients' }]
      })
    )
    const server = await serve((request, response, index) =>
      (index % 3 === 2 ? down : up)(request, response, index)
    )
    const run = await gate({ url: server.url, ...FAST, 'timeout-seconds': '2' })
    expect(run.exitCode).toBe(1)
    expect(run.outputs.status).toBe('unhealthy')
    expect(run.stdout).toMatch(/pass \(2 of 3 in a row\)/)
    expect(run.stdout).not.toMatch(/pass \(3 of 3 in a row\)/)
    expect(run.errors[0]).toMatch(/too many clients .*attempts passed, never 3 in a row/)
    expectOnTime(run, 2)
  })

  it('fails an HTML page naming its content type', async () => {
    const server = await serve(
      html(200, '<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>')
    )
    const run = await gate({ url: server.url, ...FAST, 'timeout-seconds': '1' })
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toMatch(/HTTP 200 answered text\/html, not JSON: 'Welcome to nginx!'/)
    expectOnTime(run, 1)
  })

  it('ends on time against a hung connection', async () => {
    const server = await serve(hang)
    const run = await gate({
      url: server.url,
      'interval-seconds': '0.1',
      'request-timeout-seconds': '0.5',
      'timeout-seconds': '2'
    })
    expect(run.exitCode).toBe(1)
    expect(run.outputs.status).toBe('unreachable')
    expect(run.stdout).toMatch(
      /^attempt 1 at 0\.0s: no response in \d+ ms, fail \[unreachable\]: no response from 127\.0\.0\.1:\d+ within 0\.5s$/m
    )
    expect(run.errors[0]).toMatch(
      /: no response from 127\.0\.0\.1:\d+ within [\d.]+s \(attempt \d+\)\. timeout-seconds \(2s\) ran out/
    )
    // The whole gate (process start included) respects timeout-seconds.
    expectOnTime(run, 2)
    expect(server.requests.length).toBeGreaterThanOrEqual(3)
  })

  it('cuts the last request short, so a request timeout longer than the gate cannot stretch it', async () => {
    const server = await serve(hang)
    const run = await gate({
      url: server.url,
      'interval-seconds': '0.1',
      'request-timeout-seconds': '10',
      'timeout-seconds': '1.5'
    })
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toMatch(
      /no response from 127\.0\.0\.1:\d+ within 1\.(5|4\d*)s \(attempt 1, cut short by timeout-seconds\)\. timeout-seconds \(1\.5s\) ran out after 1 attempt in [\d.]+s/
    )
    expectOnTime(run, 1.5)
  })

  it('fails a body that starts and then stalls, within the request timeout', async () => {
    const server = await serve(stallBody)
    const run = await gate({
      url: server.url,
      ...FAST,
      'request-timeout-seconds': '0.3',
      'timeout-seconds': '1'
    })
    expect(run.exitCode).toBe(1)
    expect(run.outputs.status).toBe('unreachable')
    expect(run.errors[0]).toMatch(
      /HTTP 200 but the body did not arrive within [\d.]+s \(attempt \d+, HTTP 200\)/
    )
    expectOnTime(run, 1)
  })

  it('fails a redirect loop, naming it', async () => {
    const server = await serve(redirectLoop)
    const run = await gate({ url: server.url, ...FAST, 'timeout-seconds': '1' })
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toMatch(
      /redirect loop: http:\/\/127\.0\.0\.1:\d+\/health -> .*\/health\/ -> .*\/health \(attempt/
    )
    expectOnTime(run, 1)
  })

  it('fails a huge body without reading it all', async () => {
    const sent: number[] = []
    const server = await serve(hugeBody(256 * 1024 * 1024, false, sent))
    const run = await gate({ url: server.url, ...FAST, 'timeout-seconds': '1' })
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toMatch(
      /HTTP 200 with a body over the 1048576-byte limit of a health body; stopped reading/
    )
    expectOnTime(run, 1)
    // Each attempt stopped after the first megabyte or so (plus what socket buffers held).
    expect(sent.length).toBe(server.requests.length)
    for (const bytes of sent) expect(bytes).toBeLessThan(32 * 1024 * 1024)
  })

  it('reports unreachable when nothing listens', async () => {
    const port = await freePort()
    const run = await gate({
      url: `http://127.0.0.1:${port}/health`,
      ...FAST,
      'timeout-seconds': '1'
    })
    expect(run.exitCode).toBe(1)
    expect(run.outputs).toMatchObject({ status: 'unreachable', version: '' })
    expect(Number(run.outputs.attempts)).toBeGreaterThanOrEqual(2)
    expect(run.errors[0]).toMatch(
      /connection refused by 127\.0\.0\.1:\d+ \(nothing listening\).*Check the URL/
    )
    expect(run.summary).toContain('No HealthCheck body was received.')
    expectOnTime(run, 1)
  })

  it('sends the headers, and their values never show in the log or the summary', async () => {
    const token = 'Bearer sk_live_7Hq2VZ9xPp'
    // Answers only with the header, and echoes it back in a dependency message.
    const server = await serve((request, response, index) => {
      if (request.headers.authorization !== token)
        return json(401, { error: 'unauthorized' })(request, response, index)
      const services = [
        { name: 'auth', status: 'healthy', message: `accepted ${token}`, responseTime: 2 }
      ] as const
      json(200, healthCheck('healthy', { services: [...services] }))(request, response, index)
    })
    const run = await gate({
      url: server.url,
      ...FAST,
      headers: `Authorization: ${token}\nX-Smoke: deploy-42`
    })
    expect(run.exitCode).toBe(0)
    expect(
      server.requests.every(
        r => r.headers.authorization === token && r.headers['x-smoke'] === 'deploy-42'
      )
    ).toBe(true)
    // The runner is told to mask each value (that command is consumed by the runner, not shown)...
    expect(run.stdout).toContain(`::add-mask::${token}`)
    expect(run.stdout).toContain('::add-mask::deploy-42')
    // ...and nothing else the action prints or writes carries one.
    const shown = run.stdout
      .split('\n')
      .filter(line => !line.startsWith('::add-mask::'))
      .join('\n')
    expect(shown).not.toContain('sk_live_7Hq2VZ9xPp')
    expect(shown).not.toContain('deploy-42')
    expect(run.summary).not.toContain('sk_live_7Hq2VZ9xPp')
    expect(run.summary).toContain('| auth | healthy | 2 ms | accepted *** |')
  })

  it('masks the token after Bearer on its own and every query value, redirect targets included', async () => {
    const token = 'tk_live_Q2w9Zr7'
    // Redirects to a URL with a session in its query, then echoes the bare token back.
    const server = await serve((request, response, index) => {
      if (request.url?.startsWith('/health?')) {
        response.writeHead(302, { location: '/health/ready?session=sess_8Hq1' })
        response.end()
        return
      }
      const services: ServiceShape[] = [
        { name: 'auth', status: 'unhealthy', message: `token ${token} expired` }
      ]
      json(503, healthCheck('unhealthy', { services }))(request, response, index)
    })
    const run = await gate({
      url: `${server.url}?sig=sig_4Kd0&region=eu`,
      ...FAST,
      'timeout-seconds': '1',
      headers: `Authorization: Bearer ${token}`
    })
    expect(run.exitCode).toBe(1)
    expect(server.requests.some(r => r.path === '/health/ready?session=sess_8Hq1')).toBe(true)
    expect(server.requests.every(r => r.headers.authorization === `Bearer ${token}`)).toBe(true)
    // The runner is told to mask the bare token too, not only 'Bearer <token>'...
    expect(run.stdout).toContain(`::add-mask::${token}`)
    // ...and nothing the action prints or writes shows it, or any query value.
    const shown = run.stdout
      .split('\n')
      .filter(line => !line.startsWith('::add-mask::'))
      .join('\n')
    for (const secret of [token, 'sig_4Kd0', 'sess_8Hq1']) {
      expect(shown).not.toContain(secret)
      expect(run.summary).not.toContain(secret)
    }
    expect(run.errors[0]).toMatch(
      /^Health gate failed for http:\/\/127\.0\.0\.1:\d+\/health\?sig=\*\*\*&region=\*\*\*: HTTP 503: reports unhealthy; auth is unhealthy: token \*\*\* expired/
    )
    expect(run.errors[0]).toMatch(
      /\(after a redirect to http:\/\/127\.0\.0\.1:\d+\/health\/ready\?session=\*\*\*\)/
    )
    expect(run.summary).toContain('| auth | unhealthy |  | token *** expired |')
  })

  it('fails a bad input before any request, naming the input', async () => {
    const server = await serve(json(200, healthCheck()))
    const run = await gate({ url: server.url, 'required-successes': '0' })
    expect(run.exitCode).toBe(1)
    expect(run.errors).toEqual([
      "Input 'required-successes' is '0': use a number of at least 1, e.g. 3"
    ])
    expect(server.requests).toHaveLength(0)
    expect(run.outputs).toEqual({})
  })
})
