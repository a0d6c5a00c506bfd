/**
 * The steps of the pipeline against the emulator (tools/emulator.ts), shared by the demo, the
 * end-to-end tests and the benchmark: build-push of examples/service, ecs-deploy, smoke-health
 * through the emulator's load balancer. Each step runs the action's bundle as the runner does.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DOCKER, registryLogin, startEmulator, type Emulator } from '../../tools/emulator.js'
import { REPOSITORY_ROOT, runBundle, type BundleOptions, type BundleRun } from './bundle.js'
import { dockerPath } from './docker.js'

export const SERVICE_CONTEXT = 'examples/service'
export const SERVICE_PORT = 8080
export const BASE_IMAGE = 'local/node:20'

/** An ECS health check that passes while the process answers HTTP at all (liveness). */
export const LIVENESS_CHECK = {
  command: [
    'CMD-SHELL',
    `node -e "fetch('http://127.0.0.1:${SERVICE_PORT}/health').then(() => process.exit(0), () => process.exit(1))"`
  ],
  interval: 1,
  timeout: 5,
  retries: 3,
  startPeriod: 0
}

/** A fake commit SHA: each build reports its own as `version`. */
export const commit = () => randomBytes(20).toString('hex')

/** True when the daemon answers, the base image is there and the registry takes our login. */
export async function dockerReady(): Promise<boolean> {
  try {
    execFileSync(DOCKER, ['image', 'inspect', BASE_IMAGE], { stdio: 'ignore' })
    const registry = registryLogin()
    const auth = Buffer.from(`${registry.username}:${registry.password}`).toString('base64')
    const response = await fetch(`${registry.url}/v2/`, {
      headers: { authorization: `Basic ${auth}` },
      signal: AbortSignal.timeout(5000)
    })
    return response.status === 200
  } catch {
    return false
  }
}

/** Brings Docker and the registry up with tools/docker-up.sh when they are not (needs root). */
export async function ensureDocker(log: (line: string) => void = () => {}): Promise<void> {
  if (await dockerReady()) return
  if (process.getuid?.() !== 0)
    throw new Error(
      'Docker or the local registry is not up: run `bash tools/docker-up.sh` as root.'
    )
  log('Starting Docker and the local registry (tools/docker-up.sh)…')
  execFileSync('bash', [join(REPOSITORY_ROOT, 'tools', 'docker-up.sh')], {
    stdio: ['ignore', 'inherit', 'inherit']
  })
  if (!(await dockerReady()))
    throw new Error('tools/docker-up.sh ran, but Docker is still not ready.')
}

export function requireBundles(): void {
  for (const name of ['build-push', 'ecs-deploy', 'smoke-health']) {
    if (!existsSync(join(REPOSITORY_ROOT, 'dist', name, 'index.js')))
      throw new Error(`dist/${name} is missing: run \`npm run package\` first`)
  }
}

/** Containers carrying the emulator's label, with the image their task definition names. */
export function labelledContainers(
  label: string
): Array<{ id: string; image: string; state: string }> {
  const out = execFileSync(
    DOCKER,
    [
      'ps',
      '-a',
      '--filter',
      `label=${label}`,
      '--format',
      '{{.ID}}\t{{.Label "noblepay.image"}}\t{{.State}}'
    ],
    { encoding: 'utf8' }
  ).trim()
  if (out === '') return []
  return out.split('\n').map(line => {
    const [id = '', image = '', state = ''] = line.split('\t')
    return { id, image, state }
  })
}

export interface Pipeline {
  emulator: Emulator
  repository: string
  /** The load balancer's /health. */
  healthUrl: string
  build(options: {
    version: string
    failMode?: 'crash' | 'unhealthy'
    onLine?: BundleOptions['onLine']
  }): Promise<BundleRun>
  deploy(inputs: Record<string, string>, onLine?: BundleOptions['onLine']): Promise<BundleRun>
  gate(
    expectedVersion: string,
    onLine?: BundleOptions['onLine'],
    timeoutSeconds?: number
  ): Promise<BundleRun>
  close(): Promise<void>
}

export interface PipelineOptions {
  service?: string
  cluster?: string
  desiredCount?: number
  log?: (line: string) => void
}

/**
 * Starts the emulator with an ECR repository for the service, builds and pushes the first
 * version, and creates the service on it (steady, `desiredCount` tasks), with a load balancer.
 */
export async function startPipeline(
  options: PipelineOptions & { firstVersion: string; onLine?: BundleOptions['onLine'] }
): Promise<Pipeline & { first: BundleRun }> {
  const service = options.service ?? 'payments-api'
  const cluster = options.cluster ?? 'local'
  const emulator = await startEmulator({
    repositories: [service],
    tickMs: 200,
    pollMs: 400,
    log: options.log
  })
  const dockerConfig = mkdtempSync(join(tmpdir(), 'pipeline-docker-'))
  const env = (sha: string) => ({
    ...emulator.env,
    DOCKER_CONFIG: dockerConfig,
    DOCKER_BUILDKIT: '1',
    PATH: dockerPath(),
    GITHUB_SHA: sha,
    GITHUB_WORKSPACE: REPOSITORY_ROOT
  })
  /** Local tags of the images built here, untagged on close (the registry keeps them). */
  const builtTags: string[] = []
  const pipeline: Pipeline = {
    emulator,
    repository: service,
    healthUrl: '',
    build: ({ version, failMode, onLine }) => {
      builtTags.push(`${emulator.registry.host}/${service}:${version}`)
      return runBundle('build-push', {
        inputs: {
          repository: service,
          context: SERVICE_CONTEXT,
          target: 'runtime',
          'build-args': [
            `BASE=${BASE_IMAGE}`,
            `APP_VERSION=${version}`,
            ...(failMode ? [`FAIL_MODE=${failMode}`] : [])
          ].join('\n'),
          tags: version
        },
        env: env(version),
        onLine,
        timeoutMs: 180_000
      })
    },
    deploy: (inputs, onLine) =>
      runBundle('ecs-deploy', {
        inputs: {
          cluster,
          service,
          'poll-interval-seconds': '1',
          'wait-for-minutes': '3',
          ...inputs
        },
        env: env(inputs.image?.split(/[:@]/).pop() ?? commit()),
        onLine,
        timeoutMs: 240_000
      }),
    gate: (expectedVersion, onLine, timeoutSeconds = 30) =>
      runBundle('smoke-health', {
        inputs: {
          url: pipeline.healthUrl,
          'expected-version': expectedVersion,
          'interval-seconds': '0.5',
          'required-successes': '3',
          'timeout-seconds': String(timeoutSeconds),
          'request-timeout-seconds': '5'
        },
        env: env(expectedVersion),
        onLine,
        timeoutMs: (timeoutSeconds + 30) * 1000
      }),
    close: async () => {
      await emulator.close()
      rmSync(dockerConfig, { recursive: true, force: true })
      const present = builtTags.filter(tag => {
        try {
          execFileSync(DOCKER, ['image', 'inspect', tag], { stdio: 'ignore' })
          return true
        } catch {
          return false
        }
      })
      builtTags.length = 0
      try {
        if (present.length > 0) execFileSync(DOCKER, ['rmi', ...present], { stdio: 'ignore' })
      } catch {
        // An image still in use elsewhere keeps its tag; nothing else depends on it.
      }
    }
  }
  try {
    const first = await pipeline.build({ version: options.firstVersion, onLine: options.onLine })
    if (first.exitCode !== 0 || !first.outputs['image-digest'])
      throw new Error(`build-push of the first version failed:\n${first.stdout}\n${first.stderr}`)
    await emulator.createService({
      cluster,
      name: service,
      image: first.outputs['image-digest'],
      containerPort: SERVICE_PORT,
      desiredCount: options.desiredCount ?? 2,
      healthCheck: LIVENESS_CHECK
    })
    const balancer = await emulator.loadBalancer(service, SERVICE_PORT, cluster)
    pipeline.healthUrl = `${balancer.url}/health`
    return { ...pipeline, first }
  } catch (error) {
    await pipeline.close()
    throw error
  }
}
