/**
 * build-push as the runner runs it: the bundle as a process, a real Docker daemon building
 * with BuildKit, a real registry that demands a login, and the ECR stand-in in front of it.
 * Needs `bash tools/docker-up.sh` (CI runs it first).
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type EcrStandin, startEcrStandin } from '../../tools/ecr-standin/server.js'
import {
  BASE_IMAGES,
  DOCKER,
  type BundleRun,
  docker,
  dockerPath,
  type LocalRegistry,
  manifestDigest,
  node24,
  REPOSITORY_ROOT,
  registryTags,
  requireDockerSetup,
  runBundle
} from '../support/docker.js'

const RUN = randomBytes(3).toString('hex')
const REPOSITORY = `it-api-${RUN}`
const sha = () => randomBytes(20).toString('hex')
/** A commit of this checkout: its time is the images' created label, so re-runs build the same image. */
const SHA = execFileSync('git', ['rev-parse', 'HEAD'], {
  cwd: REPOSITORY_ROOT,
  encoding: 'utf8'
}).trim()
const COMMIT_TIME = execFileSync('git', ['log', '-1', '--format=%ct', SHA], {
  cwd: REPOSITORY_ROOT,
  encoding: 'utf8'
}).trim()
const CONTEXT = 'test/fixtures/service'

let registry: LocalRegistry
let ecr: EcrStandin
let dockerConfig: string
const timings: Record<string, number> = {}

/** The inputs a service's build job gives, pointing the Dockerfile at the local base image. */
const serviceInputs = (overrides: Record<string, string> = {}) => ({
  repository: REPOSITORY,
  context: CONTEXT,
  target: 'runtime',
  // No APP_VERSION: build-push passes the commit.
  'build-args': `BASE=${BASE_IMAGES.node}`,
  labels: 'com.noblepay.team=payments',
  tags: `${SHA}\nmain-${RUN}`,
  ...overrides
})

function env(commit = SHA, extra: Record<string, string> = {}): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_ECR: ecr.endpoint,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    DOCKER_CONFIG: dockerConfig,
    GITHUB_SHA: commit,
    GITHUB_REPOSITORY: 'noblepay/api',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_RUN_ID: '4242',
    GITHUB_WORKSPACE: REPOSITORY_ROOT,
    PATH: dockerPath(),
    ...extra
  }
}

const buildPush = (
  inputs: Record<string, string>,
  options: {
    commit?: string
    state?: Record<string, string>
    node?: string
    env?: Record<string, string>
  } = {}
) =>
  runBundle('build-push', {
    inputs,
    env: env(options.commit, options.env),
    state: options.state,
    node: options.node
  })

/** The password the registry demands must not appear anywhere the user can read. */
function expectNoPassword(run: BundleRun) {
  // The runner consumes ::add-mask:: commands (it never shows them) and masks the value after.
  expect(run.stdout).toContain(`::add-mask::${registry.password}`)
  const shown = run.stdout
    .split('\n')
    .filter(line => !line.startsWith('::add-mask::'))
    .join('\n')
  for (const text of [shown, run.stderr, run.summary, JSON.stringify(run.outputs)])
    expect(text).not.toContain(registry.password)
}

const dockerAuths = (): Record<string, unknown> => {
  const file = join(dockerConfig, 'config.json')
  return existsSync(file)
    ? ((JSON.parse(readFileSync(file, 'utf8')) as { auths?: Record<string, unknown> }).auths ?? {})
    : {}
}

/** Runs the image and reads its /health body, and the user it runs as. */
async function health(image: string): Promise<{ body: Record<string, unknown>; user: string }> {
  const port = 20000 + Math.floor(Math.random() * 10000)
  const container = docker(['run', '-d', '--rm', '-p', `127.0.0.1:${port}:8080`, image])
  try {
    let body: Record<string, unknown> = {}
    for (let attempt = 0; attempt < 50 && body.status === undefined; attempt++) {
      body = await fetch(`http://127.0.0.1:${port}/health`).then(
        r => r.json() as Promise<typeof body>,
        () => new Promise(resolve => setTimeout(() => resolve({}), 100))
      )
    }
    return { body, user: docker(['exec', container, 'id', '-u']) }
  } finally {
    docker(['rm', '-f', container])
  }
}

/** The signer workflow build.yml passes. */
const SIGNER = 'noblepay/deploy/.github/workflows/build.yml'
const GH_NO_ATTESTATION = 'X Verification failed: no attestations found for subject'

/**
 * Pushes an image that is not the service's (the busybox base) under `tag`, as someone with
 * push access could, with a login of its own; returns its digest.
 */
function pushForeignImage(tag: string): string {
  const config = mkdtempSync(join(tmpdir(), 'docker-config-foreign-'))
  try {
    execFileSync(
      DOCKER,
      ['login', '--username', registry.username, '--password-stdin', registry.host],
      { input: registry.password, env: { ...process.env, DOCKER_CONFIG: config }, stdio: 'pipe' }
    )
    const reference = `${registry.host}/${REPOSITORY}:${tag}`
    docker(['tag', BASE_IMAGES.busybox, reference])
    const output = docker(['push', reference], { DOCKER_CONFIG: config })
    const digest = /digest: (sha256:[a-f0-9]{64})/.exec(output)?.[1]
    if (!digest) throw new Error(`no digest in docker push output: ${output}`)
    docker(['rmi', reference])
    return digest
  } finally {
    rmSync(config, { recursive: true, force: true })
  }
}

interface GhStub {
  token: string
  /** The environment that puts the stub first on PATH and makes `attested` its one attested digest. */
  env(attested: string): Record<string, string>
  args(): string[]
  tokenSeen(): string
}

/**
 * GitHub's CLI as the action calls it: `gh attestation verify` (2.49+, on GitHub's runners;
 * Debian's gh here is older) answers from a digest the test names. It records its argument
 * list and the token it was given; the real verification runs only on GitHub.
 */
function ghStub(): GhStub {
  const dir = mkdtempSync(join(tmpdir(), 'gh-stub-'))
  const script = join(dir, 'gh')
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      'printf "%s\\n" "$@" > "$GH_STUB_DIR/args"',
      'printf "%s" "$GH_TOKEN" > "$GH_STUB_DIR/token"',
      'case "$3" in *"@$GH_STUB_ATTESTED") echo "[{}]"; exit 0;; esac',
      `echo "${GH_NO_ATTESTATION}" >&2`,
      'exit 1',
      ''
    ].join('\n')
  )
  chmodSync(script, 0o755)
  const token = `ghs_${randomBytes(12).toString('hex')}`
  stubDirs.push(dir)
  return {
    token,
    env: attested => ({
      PATH: `${dir}:${dockerPath()}`,
      GH_STUB_DIR: dir,
      GH_STUB_ATTESTED: attested
    }),
    args: () => readFileSync(join(dir, 'args'), 'utf8').trimEnd().split('\n'),
    tokenSeen: () => readFileSync(join(dir, 'token'), 'utf8')
  }
}
const stubDirs: string[] = []

beforeAll(async () => {
  registry = await requireDockerSetup()
  if (!existsSync(join(REPOSITORY_ROOT, 'dist', 'build-push', 'index.js')))
    throw new Error('dist/build-push is missing: run `npm run package` first')
  ecr = await startEcrStandin({
    registry: registry.url,
    username: registry.username,
    password: registry.password,
    repositories: [REPOSITORY]
  })
  dockerConfig = mkdtempSync(join(tmpdir(), 'docker-config-'))
})

afterAll(async () => {
  await ecr?.close()
  // The images this run tagged; their layers stay in the build cache for the next run.
  const images = docker(['images', '--format', '{{.Repository}}:{{.Tag}}']).split('\n')
  const ours = images.filter(image => image.includes(`-${RUN}:`))
  if (ours.length > 0) docker(['rmi', '--force', ...ours])
  if (dockerConfig) rmSync(dockerConfig, { recursive: true, force: true })
  for (const dir of stubDirs) rmSync(dir, { recursive: true, force: true })
  if (Object.keys(timings).length > 0)
    console.log(`build-push timings (ms): ${JSON.stringify(timings)}`)
})

describe('build-push against Docker, a registry and the ECR stand-in', () => {
  let first: BundleRun

  it('builds the multi-stage service, pushes every tag, and outputs the digest the registry holds', async () => {
    // Cold: nothing in BuildKit's cache (the base image itself is local).
    docker(['builder', 'prune', '--all', '--force'])
    first = await buildPush(serviceInputs())
    timings.cold = first.durationMs
    expect(first.stderr).not.toMatch(/::error::/)
    expect(first.exitCode).toBe(0)
    expect(first.outputs.built).toBe('true')
    expect(first.outputs.registry).toBe(registry.host)
    expect(first.outputs.image).toBe(`${registry.host}/${REPOSITORY}:${SHA}`)

    const pushed = await manifestDigest(registry, REPOSITORY, SHA)
    expect(pushed).toMatch(/^sha256:[a-f0-9]{64}$/)
    expect(first.outputs.digest).toBe(pushed)
    expect(first.outputs['image-digest']).toBe(`${registry.host}/${REPOSITORY}@${pushed}`)
    expect(await manifestDigest(registry, REPOSITORY, `main-${RUN}`)).toBe(pushed)
    expect(first.outputs.tags.split('\n')).toEqual([
      `${registry.host}/${REPOSITORY}:${SHA}`,
      `${registry.host}/${REPOSITORY}:main-${RUN}`
    ])
    expect(first.summary).toContain(pushed)
    expectNoPassword(first)
    // The login is in Docker's config until the post step.
    expect(Object.keys(dockerAuths())).toContain(registry.host)
  }, 180_000)

  it("labels the image with the commit, the repository and the commit's time, and runs it as a non-root user", async () => {
    const labels = JSON.parse(
      docker(['image', 'inspect', '--format', '{{json .Config.Labels}}', first.outputs.image])
    ) as Record<string, string>
    expect(labels['org.opencontainers.image.revision']).toBe(SHA)
    expect(labels['org.opencontainers.image.source']).toBe('https://github.com/noblepay/api')
    // The commit's own time, so that a re-run builds the same image.
    expect(Date.parse(labels['org.opencontainers.image.created'] ?? '')).toBe(
      Number(COMMIT_TIME) * 1000
    )
    expect(labels['com.noblepay.team']).toBe('payments')
    expect(docker(['image', 'inspect', '--format', '{{.Config.User}}', first.outputs.image])).toBe(
      'app'
    )

    // The image works: its /health answers with the commit, which build-push passed as
    // APP_VERSION because the caller gave none (the version the smoke gate expects).
    const { body, user } = await health(first.outputs['image-digest'])
    expect(body).toMatchObject({ status: 'healthy', version: SHA })
    expect(user).toBe('10001')
  }, 60_000)

  it('post step: logs out, so Docker no longer holds the registry login', async () => {
    expect(first.state).toMatchObject({ isPost: 'true', registry: registry.host })
    const post = await buildPush(serviceInputs(), { state: first.state })
    expect(post.exitCode).toBe(0)
    expect(post.stdout).toContain(`Logged out of ${registry.host}`)
    expect(Object.keys(dockerAuths())).not.toContain(registry.host)
  }, 60_000)

  it('a re-run of the same commit finds its own image under the tag: the same digest, nothing pushed', async () => {
    const calls = ecr.calls.length
    const tagsBefore = await registryTags(registry, REPOSITORY)
    const again = await buildPush(serviceInputs())
    timings.rerunIdentical = again.durationMs
    expect(again.stdout).not.toContain('::error')
    expect(again.exitCode).toBe(0)
    expect(again.outputs).toMatchObject({
      built: 'false',
      attested: 'false',
      digest: first.outputs.digest,
      'image-digest': first.outputs['image-digest']
    })
    // Built from the cache and compared with ECR's image config, not pushed.
    expect(again.stdout).toContain('identical to this build; nothing to push')
    expect(again.stdout).not.toContain('::group::Push')
    expect(ecr.calls.slice(calls).map(c => c.operation)).toEqual([
      'GetAuthorizationToken',
      'DescribeRepositories',
      'DescribeImages',
      'BatchGetImage'
    ])
    expect(await registryTags(registry, REPOSITORY)).toEqual(tagsBefore)
    expect(await manifestDigest(registry, REPOSITORY, SHA)).toBe(first.outputs.digest)
    expect(again.summary).toContain('the primary tag holds an image identical to this build')
    expectNoPassword(again)
  }, 120_000)

  it('runs on Node 24, the runtime GitHub uses: a re-run and the post step', async () => {
    const node = node24()
    const run = await buildPush(serviceInputs(), { node })
    expect(run.exitCode).toBe(0)
    expect(run.outputs).toMatchObject({ built: 'false', digest: first.outputs.digest })
    const post = await buildPush(serviceInputs(), { node, state: run.state })
    expect(post.exitCode).toBe(0)
    expect(post.stderr).not.toContain('NodeVersionSupportWarning')
  }, 120_000)

  it("a caller's APP_VERSION build argument stands: the image reports it, not the commit", async () => {
    const commit = sha()
    const run = await buildPush(
      serviceInputs({ tags: commit, 'build-args': `BASE=${BASE_IMAGES.node}\nAPP_VERSION=2.4.1` }),
      { commit }
    )
    expect(run.stdout).not.toContain('::error')
    expect(run.exitCode).toBe(0)
    expect((await health(run.outputs['image-digest'])).body).toMatchObject({ version: '2.4.1' })
  }, 180_000)

  it('a new commit builds warm from the local cache and pushes a new digest', async () => {
    const commit = sha()
    const warm = await buildPush(
      serviceInputs({ tags: commit, 'build-args': `BASE=${BASE_IMAGES.node}` }),
      { commit }
    )
    timings.warmLocalCache = warm.durationMs
    expect(warm.exitCode).toBe(0)
    expect(warm.outputs.built).toBe('true')
    expect(warm.stdout).toMatch(/CACHED/)
    expect(warm.outputs.digest).toBe(await manifestDigest(registry, REPOSITORY, commit))
    expect(warm.outputs.digest).not.toBe(first.outputs.digest)
  }, 180_000)

  it('with an empty build cache, builds from the inline cache of a pushed image (cache-from)', async () => {
    docker(['builder', 'prune', '--all', '--force'])
    const commit = sha()
    const cached = await buildPush(
      serviceInputs({ tags: commit, 'cache-from': `${registry.host}/${REPOSITORY}:${SHA}` }),
      { commit }
    )
    timings.warmCacheFrom = cached.durationMs
    expect(cached.exitCode).toBe(0)
    expect(cached.stdout).toContain(
      `importing cache manifest from ${registry.host}/${REPOSITORY}:${SHA}`
    )
    // Inline cache holds the final stage's layers: the runtime stage's own steps come from it.
    expect(cached.stdout).toMatch(
      /\[runtime 3\/6\] RUN echo 'app:x:10001[^\n]*\n#\d+ (sha256:\S+\n#\d+ )?CACHED/
    )
    expect(cached.outputs.digest).toBe(await manifestDigest(registry, REPOSITORY, commit))
  }, 180_000)

  it.each([
    ['tags', { tags: 'feature/login' }],
    ['build-args', { 'build-args': 'BASE local/node:20' }],
    ['labels', { labels: 'team' }],
    ['dockerfile', { dockerfile: `${CONTEXT}/Dockerfile.missing` }],
    ['context', { context: 'test/fixtures/no-such-service' }],
    ['push', { push: 'yes' }],
    ['skip-if-exists', { 'skip-if-exists': 'maybe' }],
    ['signer-workflow', { 'signer-workflow': 'build.yml@v1', 'github-token': 'x' }],
    ['github-token', { 'signer-workflow': SIGNER }],
    ['target', { target: 'production' }]
  ])(
    'bad input %s fails naming it, before asking AWS or pushing anything',
    async (input, overrides) => {
      const commit = sha()
      const tagsBefore = await registryTags(registry, REPOSITORY)
      const calls = ecr.calls.length
      const bad = await buildPush(serviceInputs({ tags: commit, ...overrides }), { commit })
      expect(bad.exitCode).toBe(1)
      expect(bad.stdout).toMatch(new RegExp(`::error::Input '${input}' `))
      expect(ecr.calls.length).toBe(calls)
      expect(bad.stdout).not.toContain('docker build')
      expect(await registryTags(registry, REPOSITORY)).toEqual(tagsBefore)
    },
    30_000
  )

  it('a missing repository fails naming it, before building', async () => {
    const missing = `it-missing-${RUN}`
    const run = await buildPush(serviceInputs({ repository: missing }))
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toContain(
      `::error::ECR repository '${missing}' does not exist in ${registry.host}`
    )
    expect(run.stdout).not.toContain('docker build')
    expect(await registryTags(registry, missing)).toEqual([])
  }, 30_000)

  it('create-repository creates the repository with scan on push, then pushes to it', async () => {
    const created = `it-created-${RUN}`
    const run = await buildPush(serviceInputs({ repository: created, 'create-repository': 'true' }))
    expect(run.exitCode).toBe(0)
    expect(ecr.repositories.get(created)).toMatchObject({ scanOnPush: true })
    expect(run.outputs.digest).toBe(await manifestDigest(registry, created, SHA))
  }, 180_000)

  it('a failed build shows its output in a log group and its last lines in the summary, and pushes nothing', async () => {
    const commit = sha()
    const tagsBefore = await registryTags(registry, REPOSITORY)
    const run = await buildPush(
      serviceInputs({
        tags: commit,
        dockerfile: `${CONTEXT}/Dockerfile.broken`,
        'build-args': `BASE=${BASE_IMAGES.busybox}`
      }),
      { commit }
    )
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toMatch(
      /::group::Build [^\n]*\n[\s\S]*error: the compiler found 1 problem[\s\S]*::endgroup::/
    )
    expect(run.stdout).toMatch(
      /::error::docker build of test\/fixtures\/service\/Dockerfile.broken \(target runtime\) failed with exit code 1/
    )
    expect(run.summary).toContain('Image build failed')
    expect(run.summary).toContain('error: the compiler found 1 problem')
    expect(await registryTags(registry, REPOSITORY)).toEqual(tagsBefore)
  }, 120_000)

  it('an image someone else pushed under the tag is refused, naming the tag and both digests; nothing is pushed', async () => {
    const commit = sha()
    const foreign = pushForeignImage(commit)
    const tagsBefore = await registryTags(registry, REPOSITORY)
    const run = await buildPush(serviceInputs({ tags: commit }), { commit })
    expect(run.exitCode).toBe(1)
    const built = docker([
      'image',
      'inspect',
      '--format',
      '{{.Id}}',
      `${registry.host}/${REPOSITORY}:${commit}`
    ])
    expect(built).toMatch(/^sha256:[a-f0-9]{64}$/)
    expect(run.stdout).toContain(
      `::error::${registry.host}/${REPOSITORY}:${commit} is already in ECR as ${foreign}`
    )
    expect(run.stdout).toContain(`which is not the image this build made (${built})`)
    expect(run.outputs.digest ?? '').toBe('')
    expect(run.stdout).not.toContain('::group::Push')
    expect(await manifestDigest(registry, REPOSITORY, commit)).toBe(foreign)
    expect(await registryTags(registry, REPOSITORY)).toEqual(tagsBefore)
  }, 120_000)

  describe('with signer-workflow: the attestation of a re-run', () => {
    let stub: GhStub

    beforeAll(() => {
      stub = ghStub()
    })

    it('an image under the tag with this workflow’s attestation for the commit is taken without a build: attested=true', async () => {
      const commit = sha()
      const attested = pushForeignImage(commit)
      const run = await buildPush(
        serviceInputs({ tags: commit, 'signer-workflow': SIGNER, 'github-token': stub.token }),
        { commit, env: stub.env(attested) }
      )
      expect(run.stdout).not.toContain('::error')
      expect(run.exitCode).toBe(0)
      expect(run.outputs).toMatchObject({ built: 'false', attested: 'true', digest: attested })
      expect(run.stdout).not.toContain('::group::Build')
      expect(stub.args()).toEqual([
        'attestation',
        'verify',
        `oci://${registry.host}/${REPOSITORY}@${attested}`,
        '--repo',
        'noblepay/api',
        '--signer-workflow',
        SIGNER,
        '--source-digest',
        commit,
        '--format',
        'json'
      ])
      // The token reaches gh in its environment, and nowhere a user reads.
      expect(stub.tokenSeen()).toBe(stub.token)
      expect(run.stdout).toContain(`::add-mask::${stub.token}`)
      for (const text of [run.summary, JSON.stringify(run.outputs)])
        expect(text).not.toContain(stub.token)
      expect(run.summary).toContain(SIGNER)
    }, 120_000)

    it('without one, the image is built and compared, and refused with gh’s reason', async () => {
      const commit = sha()
      const foreign = pushForeignImage(commit)
      const run = await buildPush(
        serviceInputs({ tags: commit, 'signer-workflow': SIGNER, 'github-token': stub.token }),
        { commit, env: stub.env(`sha256:${'0'.repeat(64)}`) }
      )
      expect(run.exitCode).toBe(1)
      expect(run.stdout).toContain('::group::Build')
      expect(run.stdout).toContain(
        `::error::${registry.host}/${REPOSITORY}:${commit} is already in ECR as ${foreign}`
      )
      expect(run.stdout).toContain(
        `has no build provenance attestation of ${SIGNER} for this repository and commit (${GH_NO_ATTESTATION})`
      )
      expect(await manifestDigest(registry, REPOSITORY, commit)).toBe(foreign)
    }, 120_000)
  })
})
