import { httpProbe, MAX_BODY_BYTES, MAX_REDIRECTS } from '../../actions/smoke-health/probe.js'
import {
  freePort,
  hang,
  healthCheck,
  hugeBody,
  json,
  redirectLoop,
  redirectTo,
  sequence,
  stallBody,
  startHealthServer,
  type HealthServer
} from '../support/health-servers.js'

const servers: HealthServer[] = []
async function serve(...args: Parameters<typeof startHealthServer>): Promise<HealthServer> {
  const server = await startHealthServer(...args)
  servers.push(server)
  return server
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map(server => server.close()))
})

const probe = (url: string, headers: Array<[string, string]> = [], timeoutMs = 2_000) =>
  httpProbe({ url, headers, timeoutMs })

describe('the HTTP probe, against real servers', () => {
  it('reads status, content type and body, sending the headers and asking for JSON', async () => {
    const server = await serve(json(200, healthCheck('healthy', { version: 'v7' })))
    const result = await probe(server.url, [['Authorization', 'Bearer abc']])
    expect(result).toMatchObject({
      outcome: 'response',
      httpStatus: 200,
      contentType: 'application/json; charset=utf-8'
    })
    expect(result.outcome === 'response' && JSON.parse(result.body).version).toBe('v7')
    expect(result.responseTimeMs).toBeGreaterThanOrEqual(0)
    expect(server.requests[0]!.headers).toMatchObject({
      authorization: 'Bearer abc',
      accept: 'application/json',
      'user-agent': expect.stringContaining('smoke-health')
    })
  })

  it('follows a redirect on the same host with the headers, and says where it ended', async () => {
    const server = await serve(sequence(redirectTo('/health/'), json(200, healthCheck())))
    const result = await probe(server.url, [['X-Key', 'k1']])
    expect(result).toMatchObject({
      outcome: 'response',
      httpStatus: 200,
      redirectedTo: `${server.url}/`
    })
    expect(server.requests.map(r => [r.path, r.headers['x-key']])).toEqual([
      ['/health', 'k1'],
      ['/health/', 'k1']
    ])
  })

  it('does not send the headers to another host', async () => {
    const other = await serve(json(200, healthCheck()))
    const first = await serve(redirectTo(other.url, 307))
    await probe(first.url, [['Authorization', 'Bearer abc']])
    expect(first.requests[0]!.headers.authorization).toBe('Bearer abc')
    expect(other.requests[0]!.headers.authorization).toBeUndefined()
  })

  it('fails a redirect loop, naming it', async () => {
    const server = await serve(redirectLoop)
    const result = await probe(server.url)
    expect(result).toMatchObject({ outcome: 'failed', answered: true, httpStatus: 302 })
    expect(result.outcome === 'failed' && result.reason).toBe(
      `redirect loop: ${server.url} -> ${server.url}/ -> ${server.url}`
    )
    expect(server.requests).toHaveLength(2)
  })

  it('fails a redirect to nowhere usable', async () => {
    const broken = await serve(redirectTo('http://[::1'))
    expect(await probe(broken.url)).toMatchObject({
      outcome: 'failed',
      answered: true,
      reason: 'HTTP 302 with an invalid Location header'
    })
    const ftp = await serve(redirectTo('ftp://files.example.com/health', 301))
    expect(await probe(ftp.url)).toMatchObject({
      outcome: 'failed',
      reason: 'HTTP 301 redirect to an unsupported scheme: ftp:'
    })
  })

  it(`stops after ${MAX_REDIRECTS} redirects`, async () => {
    const server = await serve((request, response) => {
      response.writeHead(301, { location: `${request.url}/x` })
      response.end()
    })
    const result = await probe(server.url)
    expect(result.outcome === 'failed' && result.reason).toMatch(
      /^more than 5 redirects \(last to .*\/health(\/x){6}\)$/
    )
    expect(server.requests).toHaveLength(MAX_REDIRECTS + 1)
  })

  it('stops reading a body past the limit, and refuses a declared one without reading it', async () => {
    const streamed = await serve(hugeBody(64 * MAX_BODY_BYTES))
    const result = await probe(streamed.url, [], 10_000)
    expect(result).toMatchObject({ outcome: 'failed', answered: true, httpStatus: 200 })
    expect(result.outcome === 'failed' && result.reason).toBe(
      'HTTP 200 with a body over the 1048576-byte limit of a health body; stopped reading'
    )
    const declared = await serve(hugeBody(64 * MAX_BODY_BYTES, true))
    const refused = await probe(declared.url)
    expect(refused.outcome === 'failed' && refused.reason).toBe(
      'HTTP 200 with a 67108864-byte body, over the 1048576-byte limit of a health body'
    )
  })

  it('bounds a hung connection and a stalled body by the timeout', async () => {
    const hung = await serve(hang)
    const started = Date.now()
    const silent = await probe(hung.url, [], 300)
    expect(silent).toMatchObject({
      outcome: 'failed',
      answered: false,
      reason: `no response from 127.0.0.1:${hung.port} within 0.3s`
    })
    const stalled = await serve(stallBody)
    const partial = await probe(stalled.url, [], 300)
    expect(partial).toMatchObject({
      outcome: 'failed',
      answered: false,
      httpStatus: 200,
      reason: 'HTTP 200 but the body did not arrive within 0.3s'
    })
    expect(Date.now() - started).toBeLessThan(1_500)
  })

  it('says when nothing listens', async () => {
    const port = await freePort()
    const result = await probe(`http://127.0.0.1:${port}/health`)
    expect(result).toMatchObject({
      outcome: 'failed',
      answered: false,
      reason: `connection refused by 127.0.0.1:${port} (nothing listening)`
    })
  })
})
