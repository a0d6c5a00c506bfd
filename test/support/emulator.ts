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
import {
  DOCKER,
  registryLogin,
  startEmulator,
  type Emulator,
  type LoadBalancer,
  type ServiceSpec
} from '../../tools/emulator.js'
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

/**
 * A BLUE_GREEN service whose bake time (1 min, which the emulator plays in 20 s) outlasts the
 * smoke gate and the rollback step after it, as the README asks of a real service.
 */
export const BAKING_BLUE_GREEN = {
  strategy: 'BLUE_GREEN',
  bakeTimeInMinutes: 1,
  minuteMs: 20_000,
  stageMs: 300
} satisfies ServiceSpec['deployment']

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

/** One ECS service on the emulator: deploy to it, gate it through its load balancer. */
export interface ServiceTarget {
  emulator: Emulator
  cluster: string
  service: string
  /** Its load balancer. */
  balancer: LoadBalancer
  /** The load balancer's /health (production listener). */
  healthUrl: string
  deploy(inputs: Record<string, string>, onLine?: BundleOptions['onLine']): Promise<BundleRun>
  gate(
    expectedVersion: string,
    onLine?: BundleOptions['onLine'],
    timeoutSeconds?: number
  ): Promise<BundleRun>
}

/** A build of examples/service; `migration` builds one whose src/migrate.js fails. */
export type FailMode = 'crash' | 'unhealthy' | 'migration'

export interface Pipeline extends ServiceTarget {
  repository: string
  build(options: {
    version: string
    failMode?: FailMode
    onLine?: BundleOptions['onLine']
  }): Promise<BundleRun>
  /**
   * Another service in the pipeline's cluster, steady on `image` (e.g. an image the pipeline
   * built), with its own load balancer: e.g. a BLUE_GREEN service beside the rolling one.
   */
  addService(spec: AddedService): Promise<ServiceTarget>
  close(): Promise<void>
}

export interface AddedService {
  name: string
  image: string
  desiredCount?: number
  /** ECS's deployment strategy and the lifecycle's settings; default ROLLING. */
  deployment?: ServiceSpec['deployment']
  /** The deployment circuit breaker, with rollback; default true. */
  circuitBreaker?: boolean
}

export interface PipelineOptions {
  service?: string
  cluster?: string
  desiredCount?: number
  /** The first service's deployment strategy and lifecycle settings; default ROLLING. */
  deployment?: ServiceSpec['deployment']
  log?: (line: string) => void
}

/**
 * Starts the emulator with an ECR repository for the service, builds and pushes the first
 * version, and creates the service on it (steady, `desiredCount` tasks), with a load balancer.
 */
export async function startPipeline(
  options: PipelineOptions & { firstVersion: string; onLine?: BundleOptions['onLine'] }
): Promise<Pipeline & { first: BundleRun }> {
  const repository = options.service ?? 'payments-api'
  const cluster = options.cluster ?? 'local'
  const emulator = await startEmulator({
    repositories: [repository],
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

  const build: Pipeline['build'] = ({ version, failMode, onLine }) => {
    builtTags.push(`${emulator.registry.host}/${repository}:${version}`)
    return runBundle('build-push', {
      inputs: {
        repository,
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
  }

  const addService: Pipeline['addService'] = async spec => {
    await emulator.createService({
      cluster,
      name: spec.name,
      image: spec.image,
      containerPort: SERVICE_PORT,
      desiredCount: spec.desiredCount ?? 2,
      healthCheck: LIVENESS_CHECK,
      deployment: spec.deployment,
      circuitBreaker: spec.circuitBreaker
    })
    const balancer = await emulator.loadBalancer(spec.name, SERVICE_PORT, cluster)
    const healthUrl = `${balancer.url}/health`
    return {
      emulator,
      cluster,
      service: spec.name,
      balancer,
      healthUrl,
      deploy: (inputs, onLine) =>
        runBundle('ecs-deploy', {
          inputs: {
            cluster,
            service: spec.name,
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
            url: healthUrl,
            'expected-version': expectedVersion,
            'interval-seconds': '0.5',
            'required-successes': '3',
            'timeout-seconds': String(timeoutSeconds),
            'request-timeout-seconds': '5'
          },
          env: env(expectedVersion),
          onLine,
          timeoutMs: (timeoutSeconds + 30) * 1000
        })
    }
  }

  const close = async () => {
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

  try {
    const first = await build({ version: options.firstVersion, onLine: options.onLine })
    if (first.exitCode !== 0 || !first.outputs['image-digest'])
      throw new Error(`build-push of the first version failed:\n${first.stdout}\n${first.stderr}`)
    const target = await addService({
      name: repository,
      image: first.outputs['image-digest'],
      desiredCount: options.desiredCount,
      deployment: options.deployment
    })
    return { ...target, repository, build, addService, close, first }
  } catch (error) {
    await close()
    throw error
  }
}

/** The steps of {@link rollBackAfterFailedGate}, in order. */
export type GateRollbackStep = 'deploy' | 'gate' | 'rollback' | 'gate-after'

/** What a failed smoke gate and its rollback did on one service, and how soon it was undone. */
export interface GateRollback {
  /** ecs-deploy of the failing build with `wait-until: traffic-shifted`. */
  deploy: BundleRun
  /** The smoke gate expecting the failing build, which fails. */
  gate: BundleRun
  /** ecs-deploy with `rollback-to:` the deploy's previous-task-definition-arn. */
  rollback: BundleRun
  /** The smoke gate expecting the previous version. */
  gateAfter: BundleRun
  previousArn: string
  /** Wall-clock ms the failed gate ended: the rollback step starts then. */
  failedAt: number
  /** From the failed gate to the previous version's first answer on the production listener. */
  firstAnswerMs?: number
  /** From the failed gate to the answer from which on every answer came from the previous version. */
  allTrafficMs?: number
  /** From the failed gate to the rollback step's first change reaching ECS. */
  rollbackRequestedMs?: number
  /** The changes ECS took from each ecs-deploy step, by operation, in order. */
  deployChanges: string[]
  rollbackChanges: string[]
}

/** ECS operations that change nothing. */
const READ_OPERATION = /^(Describe|List|Get)/

/**
 * The smoke gate failing on a build that reports `unhealthy`, and the rollback deploy.yml then
 * makes, on one service: deploy the build (`wait-until: traffic-shifted`: for a BLUE_GREEN
 * service, the start of bake time), run the gate expecting it (it fails), roll back to the
 * deploy's `previous-task-definition-arn`, and run the gate on the previous version. Meanwhile
 * the load balancer is asked every 50 ms from the failed gate on, so its record tells when the
 * previous version answered again: the figure the demo and the benchmark compare between a
 * BLUE_GREEN and a ROLLING service.
 */
export async function rollBackAfterFailedGate(
  target: ServiceTarget,
  failing: { image: string; version: string },
  previousVersion: string,
  options: {
    /** How long the gate on the failing build tries; default 4 s. */
    gateTimeoutSeconds?: number
    onLine?: BundleOptions['onLine']
    onStep?: (step: GateRollbackStep) => void
  } = {}
): Promise<GateRollback> {
  const { calls } = target.emulator.ecs
  const changeCalls = (from: number) =>
    calls.slice(from).filter(c => c.status === 200 && !READ_OPERATION.test(c.operation))
  const changesSince = (from: number) => changeCalls(from).map(c => c.operation)

  options.onStep?.('deploy')
  let from = calls.length
  const deploy = await target.deploy(
    { image: failing.image, 'wait-until': 'traffic-shifted' },
    options.onLine
  )
  const deployChanges = changesSince(from)
  const previousArn = deploy.outputs['previous-task-definition-arn'] ?? ''
  if (previousArn === '')
    throw new Error(`the deploy named no previous revision:\n${deploy.stdout}\n${deploy.stderr}`)

  options.onStep?.('gate')
  const gate = await target.gate(failing.version, options.onLine, options.gateTimeoutSeconds ?? 4)
  const failedAt = gate.startedAt + gate.durationMs

  const prober = probe(target.healthUrl, 50)
  options.onStep?.('rollback')
  from = calls.length
  let rollback: BundleRun
  try {
    rollback = await target.deploy({ 'rollback-to': previousArn }, options.onLine)
    await new Promise(resolve => setTimeout(resolve, 500))
  } finally {
    await prober.stop()
  }
  const rollbackChanges = changesSince(from)
  // The rollback's own change: the marks it tags (the service first) are not the request.
  const requestedAt = changeCalls(from).find(c => c.operation !== 'TagResource')?.at

  options.onStep?.('gate-after')
  const gateAfter = await target.gate(previousVersion, options.onLine)

  // The first answer as the load balancer recorded it; all traffic as the prober saw it (a
  // moment with no target at all is a 503 the balancer does not record).
  const firstAnswerAt = target.balancer.firstAnswer(previousArn, failedAt)
  const lastOther = prober.answers.findLastIndex(
    a => a.status !== 200 || a.version !== previousVersion
  )
  const allTrafficAt = prober.answers[lastOther + 1]?.at
  return {
    deploy,
    gate,
    rollback,
    gateAfter,
    previousArn,
    failedAt,
    firstAnswerMs: firstAnswerAt === undefined ? undefined : firstAnswerAt - failedAt,
    allTrafficMs: allTrafficAt === undefined ? undefined : allTrafficAt - failedAt,
    rollbackRequestedMs: requestedAt === undefined ? undefined : requestedAt - failedAt,
    deployChanges,
    rollbackChanges
  }
}

export interface ProbeAnswer {
  /** Wall-clock ms the request was sent. */
  at: number
  /** 0 when no answer came. */
  status: number
  /** The HealthCheck body's version, if any. */
  version?: string
}

/**
 * Asks `url` (a /health) every `everyMs` until stopped, as a user of the service would: each
 * answer's status and version, oldest first.
 */
export function probe(
  url: string,
  everyMs: number
): { stop(): Promise<void>; answers: ProbeAnswer[] } {
  let stopping = false
  const answers: ProbeAnswer[] = []
  const loop = (async () => {
    while (!stopping) {
      const answer: ProbeAnswer = { at: Date.now(), status: 0 }
      answers.push(answer)
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(5000) })
        answer.status = response.status
        const body = (await response.json().catch(() => ({}))) as { version?: unknown }
        if (typeof body.version === 'string') answer.version = body.version
      } catch {
        // No answer: a moment without the previous version.
      }
      await new Promise(resolve => setTimeout(resolve, everyMs))
    }
  })()
  return {
    answers,
    async stop() {
      stopping = true
      await loop
    }
  }
}

/**
 * Builds and pushes a new version (a fresh commit) of the pipeline's service; throws, with the
 * step's output, unless the image was built and pushed by digest to the local registry.
 */
export async function buildVersion(
  pipeline: Pipeline,
  failMode?: FailMode
): Promise<{ version: string; image: string }> {
  const version = commit()
  const run = await pipeline.build({ version, failMode })
  const image = run.outputs['image-digest'] ?? ''
  if (
    run.exitCode !== 0 ||
    run.outputs.built !== 'true' ||
    !/^127\.0\.0\.1:5000\/[a-z0-9-]+@sha256:[0-9a-f]{64}$/.test(image)
  ) {
    throw new Error(
      `build-push of ${version} did not push an image (exit ${run.exitCode}, built=${run.outputs.built}, image-digest=${image}):\n${run.stdout}`
    )
  }
  return { version, image }
}

/** The ECS operations the emulator carried out (answered 200) while `step` ran, in order. */
export async function ecsOperationsDuring(
  pipeline: Pipeline,
  step: () => Promise<BundleRun>
): Promise<{ run: BundleRun; operations: string[] }> {
  const from = pipeline.emulator.ecs.calls.length
  const run = await step()
  const operations = pipeline.emulator.ecs.calls
    .slice(from)
    .filter(c => c.status === 200)
    .map(c => c.operation)
  return { run, operations }
}
