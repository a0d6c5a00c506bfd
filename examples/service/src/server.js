// A service shaped like the seed: GET /health answers a HealthCheck body
// ({ status, timestamp, services[], uptime, version }) after checking what it depends on.
import http from 'node:http'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setImmediate } from 'node:timers'

const startedAt = Date.now()
const version = process.env.APP_VERSION || 'dev'
const failMode = process.env.FAIL_MODE || ''
const port = Number(process.env.PORT || 8080)
// Where the service keeps its scratch files; `unhealthy` points it at a place it cannot write.
const scratchRoot = failMode === 'unhealthy' ? '/proc/scratch' : process.env.SCRATCH_DIR || tmpdir()

if (failMode === 'crash') {
  // Both lines on stderr, so that a log reader keeps their order.
  console.error(`payments-api ${version} starting: checking configuration`)
  console.error(
    `Fatal: configuration check failed: PAYMENTS_LEDGER_URL is not set (FAIL_MODE=crash, version ${version})`
  )
  process.exit(1)
}
// `migration` makes src/migrate.js fail; the service itself runs as usual.
if (failMode !== '' && failMode !== 'unhealthy' && failMode !== 'migration') {
  console.error(
    `Fatal: FAIL_MODE=${failMode} is not one of: crash, unhealthy, migration (or empty)`
  )
  process.exit(1)
}

/** Times one dependency check: healthy when it resolves, unhealthy with its message when not. */
async function check(name, probe) {
  const begin = performance.now()
  try {
    await probe()
    return { name, status: 'healthy', responseTime: Math.round(performance.now() - begin) }
  } catch (error) {
    return {
      name,
      status: 'unhealthy',
      responseTime: Math.round(performance.now() - begin),
      message: error instanceof Error ? error.message : String(error)
    }
  }
}

/** The scratch storage: a file written and read back. */
async function storage() {
  const dir = await mkdtemp(join(scratchRoot, 'health-'))
  try {
    const file = join(dir, 'probe')
    await writeFile(file, version)
    if ((await readFile(file, 'utf8')) !== version) throw new Error('read back other bytes')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** The event loop: a timer fires within 100 ms. */
function eventLoop() {
  const begin = performance.now()
  return new Promise((resolve, reject) =>
    setImmediate(() => {
      const lag = performance.now() - begin
      if (lag > 100) reject(new Error(`event loop lag ${Math.round(lag)} ms`))
      else resolve()
    })
  )
}

async function health() {
  const services = await Promise.all([check('storage', storage), check('event-loop', eventLoop)])
  const status = services.every(s => s.status === 'healthy') ? 'healthy' : 'unhealthy'
  return {
    status,
    timestamp: new Date().toISOString(),
    services,
    uptime: Math.round((Date.now() - startedAt) / 1000),
    version
  }
}

const server = http.createServer((request, response) => {
  if (request.method === 'GET' && request.url === '/health') {
    health().then(
      body => {
        response.writeHead(body.status === 'unhealthy' ? 503 : 200, {
          'content-type': 'application/json'
        })
        response.end(JSON.stringify(body))
      },
      error => {
        response.writeHead(500, { 'content-type': 'text/plain' })
        response.end(String(error))
      }
    )
    return
  }
  response.writeHead(404, { 'content-type': 'text/plain' })
  response.end('not found\n')
})

server.listen(port, () => console.log(`listening on ${port}, version ${version}`))
const shutdown = () => server.close(() => process.exit(0))
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
