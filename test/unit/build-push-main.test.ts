import {
  BatchGetImageCommand,
  CreateRepositoryCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  ImageNotFoundException,
  RepositoryNotFoundException
} from '@aws-sdk/client-ecr'
import { mockClient } from 'aws-sdk-client-mock'
import { EXCERPT_LINES, run, STATE } from '../../actions/build-push/main.js'
import { ActionError, InputError } from '../../actions/shared/errors.js'
import { scriptedCommands } from '../support/docker.js'
import { FakeClock, RecordingRunner, rejection } from '../support/runner.js'

const SHA = '0123456789abcdef0123456789abcdef01234567'
const PASSWORD = 'eyJwYXlsb2FkIjoiZWNyLXBhc3N3b3JkIn0-secret'
const REGISTRY = '123456789012.dkr.ecr.eu-west-1.amazonaws.com'
const DIGEST = `sha256:${'cd'.repeat(32)}`
const DOCKERFILE =
  'ARG BASE=node:20\nFROM ${BASE} AS builder\nRUN npm ci\nFROM ${BASE} AS runtime\n'

const ecr = mockClient(ECRClient)

beforeEach(() => {
  ecr.reset()
  ecr.on(GetAuthorizationTokenCommand).resolves({
    authorizationData: [
      {
        authorizationToken: Buffer.from(`AWS:${PASSWORD}`).toString('base64'),
        proxyEndpoint: `https://${REGISTRY}`
      }
    ]
  })
  ecr
    .on(DescribeRepositoriesCommand)
    .resolves({ repositories: [{ repositoryName: 'noblepay-api' }] })
  ecr
    .on(DescribeImagesCommand)
    .rejects(new ImageNotFoundException({ message: 'The image does not exist', $metadata: {} }))
})

/** Docker as it answers on a runner without buildx, pushing to the registry of `registry`. */
function docker(overrides: Parameters<typeof scriptedCommands>[0] = [], registry = REGISTRY) {
  return scriptedCommands([
    ...overrides,
    {
      match: /^docker buildx version/,
      result: { exitCode: 1, stderr: "docker: 'buildx' is not a docker command." }
    },
    {
      match: /^docker push /,
      result: line => ({ stdout: `${line.split(':').at(-1)}: digest: ${DIGEST} size: 1563\n` })
    },
    {
      match: /RepoDigests/,
      result: { stdout: JSON.stringify([`${registry}/noblepay-api@${DIGEST}`]) }
    },
    { match: /\{\{\.Size\}\}/, result: { stdout: '118489600' } }
  ])
}

function deps(values: Record<string, string>, commands: ReturnType<typeof scriptedCommands>) {
  return {
    inputs: (name: string) => values[name] ?? '',
    env: {
      GITHUB_SHA: SHA,
      GITHUB_REPOSITORY: 'noblepay/api',
      GITHUB_SERVER_URL: 'https://github.com',
      AWS_REGION: 'eu-west-1'
    },
    ecr: new ECRClient({ region: 'eu-west-1' }),
    exec: commands.run,
    clock: new FakeClock(),
    pathKind: (path: string) =>
      path === '.'
        ? ('directory' as const)
        : path === 'Dockerfile'
          ? ('file' as const)
          : ('missing' as const),
    readFile: () => DOCKERFILE
  }
}

const failure = rejection

describe('build-push', () => {
  it('logs in with the password on stdin, builds, pushes every tag and outputs the registry digest', async () => {
    const runner = new RecordingRunner()
    const commands = docker()
    await run(
      runner,
      deps({ repository: 'noblepay-api', target: 'runtime', tags: `${SHA}\nlatest` }, commands)
    )

    const login = commands.calls.find(c => c.args[0] === 'login')
    expect(login?.args).toEqual(['login', '--username', 'AWS', '--password-stdin', REGISTRY])
    expect(login?.options.input).toBe(PASSWORD)
    expect(runner.secrets).toContain(PASSWORD)
    expect(
      commands
        .lines()
        .filter(l => /^docker (login|build|push) /.test(l))
        .map(l => l.split(' ').slice(0, 2).join(' '))
    ).toEqual(['docker login', 'docker build', 'docker push', 'docker push'])
    expect(commands.lines().filter(l => l.startsWith('docker push'))).toEqual([
      `docker push ${REGISTRY}/noblepay-api:${SHA}`,
      `docker push ${REGISTRY}/noblepay-api:latest`
    ])
    expect(runner.outputs).toEqual({
      image: `${REGISTRY}/noblepay-api:${SHA}`,
      'image-digest': `${REGISTRY}/noblepay-api@${DIGEST}`,
      digest: DIGEST,
      tags: `${REGISTRY}/noblepay-api:${SHA}\n${REGISTRY}/noblepay-api:latest`,
      registry: REGISTRY,
      built: 'true',
      attested: 'false'
    })
    expect(runner.state).toEqual({ [STATE.isPost]: 'true', [STATE.registry]: REGISTRY })
    expect(runner.summaryText).toContain(DIGEST)
    expect(runner.summaryText).toContain('113.0 MiB')
  })

  it('never puts the registry password in argv, the log, the outputs or the summary', async () => {
    const runner = new RecordingRunner()
    const commands = docker()
    await run(runner, deps({ repository: 'noblepay-api' }, commands))
    const everything = [
      ...commands.calls.flatMap(c => c.args),
      runner.log,
      runner.summaryText,
      ...Object.values(runner.outputs)
    ].join('\n')
    expect(everything).not.toContain(PASSWORD)
  })

  it('fails on bad input before asking ECR or Docker anything', async () => {
    const badInputs: Array<Record<string, string>> = [
      { repository: 'noblepay-api', tags: 'feature/login' },
      { repository: 'noblepay-api', push: 'yes' },
      { repository: 'noblepay-api', 'build-args': 'JUST_A_WORD' },
      { repository: 'noblepay-api', target: 'production' },
      { repository: 'noblepay-api', context: 'missing' }
    ]
    for (const values of badInputs) {
      ecr.resetHistory()
      const commands = docker()
      const error = await failure(run(new RecordingRunner(), deps(values, commands)))
      expect(error).toBeInstanceOf(InputError)
      expect(ecr.calls()).toHaveLength(0)
      expect(commands.calls).toHaveLength(0)
    }
  })

  it('fails naming a missing repository before building anything', async () => {
    ecr.on(DescribeRepositoriesCommand).rejects(
      new RepositoryNotFoundException({
        message: "The repository with name 'noblepay-api' does not exist",
        $metadata: {}
      })
    )
    const commands = docker()
    const error = await failure(
      run(new RecordingRunner(), deps({ repository: 'noblepay-api' }, commands))
    )
    expect(error).toBeInstanceOf(ActionError)
    expect(error.message).toContain(`ECR repository 'noblepay-api' does not exist in ${REGISTRY}`)
    expect(error.message).toContain('create-repository: true')
    expect(commands.calls).toHaveLength(0)
    expect(ecr.commandCalls(CreateRepositoryCommand)).toHaveLength(0)
  })

  it('creates a missing repository with scan on push when asked, then builds', async () => {
    ecr
      .on(DescribeRepositoriesCommand)
      .rejects(new RepositoryNotFoundException({ message: 'missing', $metadata: {} }))
    ecr.on(CreateRepositoryCommand).resolves({ repository: { repositoryName: 'noblepay-api' } })
    const runner = new RecordingRunner()
    const commands = docker()
    await run(runner, deps({ repository: 'noblepay-api', 'create-repository': 'true' }, commands))
    expect(ecr.commandCalls(CreateRepositoryCommand)[0]?.args[0].input).toEqual({
      repositoryName: 'noblepay-api',
      imageScanningConfiguration: { scanOnPush: true }
    })
    // A new repository holds no image: nothing to look up before building.
    expect(ecr.commandCalls(DescribeImagesCommand)).toHaveLength(0)
    expect(runner.outputs.built).toBe('true')
  })

  describe('when the primary tag is already in ECR', () => {
    const existing = `sha256:${'ef'.repeat(32)}`
    const config = `sha256:${'12'.repeat(32)}`
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: config },
      layers: []
    })
    const SIGNER = 'noblepay/deploy/.github/workflows/build.yml'
    const TOKEN = 'ghs_token-for-attestations'

    beforeEach(() => {
      ecr
        .on(DescribeImagesCommand)
        .resolves({ imageDetails: [{ imageDigest: existing, imageTags: [SHA] }] })
      ecr.on(BatchGetImageCommand).resolves({
        images: [{ imageId: { imageDigest: existing }, imageManifest: manifest }],
        failures: []
      })
    })

    it('an identical image (same config digest as this build) is taken: its digest, nothing pushed', async () => {
      const runner = new RecordingRunner()
      const commands = docker([{ match: /\{\{\.Id\}\}/, result: { stdout: `${config}\n` } }])
      await run(runner, deps({ repository: 'noblepay-api' }, commands))
      expect(ecr.commandCalls(DescribeImagesCommand)[0]?.args[0].input).toEqual({
        repositoryName: 'noblepay-api',
        imageIds: [{ imageTag: SHA }]
      })
      expect(ecr.commandCalls(BatchGetImageCommand)[0]?.args[0].input).toMatchObject({
        repositoryName: 'noblepay-api',
        imageIds: [{ imageDigest: existing }]
      })
      expect(commands.lines().some(l => l.startsWith('docker build'))).toBe(true)
      expect(commands.lines().some(l => l.startsWith('docker push'))).toBe(false)
      expect(runner.outputs).toMatchObject({
        built: 'false',
        attested: 'false',
        digest: existing,
        'image-digest': `${REGISTRY}/noblepay-api@${existing}`
      })
      expect(runner.state[STATE.registry]).toBe(REGISTRY)
    })

    it('another image is refused naming the tag and both digests, and nothing is pushed', async () => {
      const mine = `sha256:${'34'.repeat(32)}`
      const commands = docker([{ match: /\{\{\.Id\}\}/, result: { stdout: mine } }])
      const error = await failure(
        run(new RecordingRunner(), deps({ repository: 'noblepay-api' }, commands))
      )
      expect(error).toBeInstanceOf(ActionError)
      expect(error.message).toContain(
        `${REGISTRY}/noblepay-api:${SHA} is already in ECR as ${existing} (image config ${config}), which is not the image this build made (${mine}).`
      )
      expect(commands.lines().some(l => l.startsWith('docker push'))).toBe(false)
    })

    it('with signer-workflow, an image gh finds attested for this commit is taken without a build', async () => {
      const runner = new RecordingRunner()
      const commands = docker()
      await run(
        runner,
        deps(
          { repository: 'noblepay-api', 'signer-workflow': SIGNER, 'github-token': TOKEN },
          commands
        )
      )
      const gh = commands.calls.find(c => c.command === 'gh')
      expect(gh?.args).toEqual([
        'attestation',
        'verify',
        `oci://${REGISTRY}/noblepay-api@${existing}`,
        '--repo',
        'noblepay/api',
        '--signer-workflow',
        SIGNER,
        '--source-digest',
        SHA,
        '--format',
        'json'
      ])
      expect(gh?.options.env).toEqual({ GH_TOKEN: TOKEN })
      expect(runner.secrets).toContain(TOKEN)
      expect(commands.lines().some(l => l.startsWith('docker build'))).toBe(false)
      expect(ecr.commandCalls(BatchGetImageCommand)).toHaveLength(0)
      expect(runner.outputs).toMatchObject({ built: 'false', attested: 'true', digest: existing })
    })

    it('with signer-workflow and no attestation, builds and compares: refused with gh’s reason', async () => {
      const commands = docker([
        {
          match: /^gh attestation/,
          result: { exitCode: 1, stderr: 'X Verification failed: no attestations found\n' }
        },
        { match: /\{\{\.Id\}\}/, result: { stdout: `sha256:${'34'.repeat(32)}` } }
      ])
      const error = await failure(
        run(
          new RecordingRunner(),
          deps(
            { repository: 'noblepay-api', 'signer-workflow': SIGNER, 'github-token': TOKEN },
            commands
          )
        )
      )
      expect(error.message).toContain(
        `has no build provenance attestation of ${SIGNER} for this repository and commit (X Verification failed: no attestations found)`
      )
      expect(commands.lines().some(l => l.startsWith('docker build'))).toBe(true)
    })
  })

  it('looks nothing up with skip-if-exists: false, and always builds with push: false', async () => {
    ecr.on(DescribeImagesCommand).resolves({ imageDetails: [{ imageDigest: DIGEST }] })
    const commands = docker()
    await run(
      new RecordingRunner(),
      deps({ repository: 'noblepay-api', 'skip-if-exists': 'false' }, commands)
    )
    expect(ecr.commandCalls(DescribeImagesCommand)).toHaveLength(0)

    const runner = new RecordingRunner()
    const local = docker()
    await run(runner, deps({ repository: 'noblepay-api', push: 'false' }, local))
    expect(local.lines().some(l => l.startsWith('docker build'))).toBe(true)
    expect(local.lines().some(l => l.startsWith('docker push'))).toBe(false)
    expect(runner.outputs).toMatchObject({ built: 'true', digest: '', 'image-digest': '' })
  })

  it('uses docker buildx build where the plugin answers', async () => {
    const commands = docker([
      { match: /^docker buildx version/, result: { stdout: 'github.com/docker/buildx v0.19.3' } }
    ])
    await run(new RecordingRunner(), deps({ repository: 'noblepay-api' }, commands))
    const build = commands.calls.find(c => c.args[1] === 'build')
    expect(build?.args.slice(0, 2)).toEqual(['buildx', 'build'])
    expect(build?.args).toContain('--load')
  })

  it('pushes to the registry input instead of the proxy endpoint', async () => {
    const commands = docker([], 'registry.internal.example')
    const runner = new RecordingRunner()
    await run(
      runner,
      deps({ repository: 'noblepay-api', registry: 'registry.internal.example' }, commands)
    )
    expect(commands.calls.find(c => c.args[0] === 'login')?.args.at(-1)).toBe(
      'registry.internal.example'
    )
    expect(runner.outputs.image).toBe(`registry.internal.example/noblepay-api:${SHA}`)
  })

  it('on a failed build, shows the output in a log group, the last lines in the summary, and pushes nothing', async () => {
    const output = [
      ...Array.from({ length: 30 }, (_, i) => `#9 0.${i} step output line ${i + 1}`),
      'ERROR: failed to solve: process "/bin/sh -c npm ci" did not complete successfully: exit code: 1'
    ].join('\n')
    const commands = docker([{ match: /^docker build/, result: { exitCode: 1, stderr: output } }])
    const runner = new RecordingRunner()
    const error = await failure(
      run(runner, deps({ repository: 'noblepay-api', target: 'runtime' }, commands))
    )
    expect(error.message).toContain(
      'failed with exit code 1: ERROR: failed to solve: process "/bin/sh -c npm ci" did not complete successfully'
    )
    expect(runner.lines.some(l => l.startsWith('::group::Build '))).toBe(true)
    expect(runner.summaryText).toContain('Image build failed')
    expect(runner.summaryText).toContain('step output line 30')
    expect(runner.summaryText).toContain(`step output line ${31 - EXCERPT_LINES + 1}`)
    expect(runner.summaryText).not.toContain(`step output line ${31 - EXCERPT_LINES}\n`)
    expect(commands.lines().some(l => l.startsWith('docker push'))).toBe(false)
  })

  it('fails when the registry and the image disagree on the digest', async () => {
    const commands = docker([
      {
        match: /RepoDigests/,
        result: { stdout: JSON.stringify([`${REGISTRY}/noblepay-api@sha256:${'00'.repeat(32)}`]) }
      }
    ])
    const error = await failure(
      run(new RecordingRunner(), deps({ repository: 'noblepay-api' }, commands))
    )
    expect(error.message).toContain(`docker push reported ${DIGEST}`)
  })

  it('turns an ECR permission error into a message with the fix', async () => {
    ecr.on(GetAuthorizationTokenCommand).rejects(
      Object.assign(new Error('User is not authorized to perform: ecr:GetAuthorizationToken'), {
        name: 'AccessDeniedException'
      })
    )
    const error = await failure(
      run(new RecordingRunner(), deps({ repository: 'noblepay-api' }, docker()))
    )
    expect(error.message).toMatch(
      /GetAuthorizationToken failed: AccessDeniedException: .*permission/
    )
  })

  it('post step: logs out of the registry the main step logged in to, and asks ECR nothing', async () => {
    const runner = new RecordingRunner()
    runner.state[STATE.isPost] = 'true'
    runner.state[STATE.registry] = REGISTRY
    const commands = docker()
    await run(runner, deps({ repository: 'noblepay-api' }, commands))
    expect(commands.lines()).toEqual([`docker logout ${REGISTRY}`])
    expect(ecr.calls()).toHaveLength(0)
  })

  it('post step after a skipped build: no login to undo', async () => {
    const runner = new RecordingRunner()
    runner.state[STATE.isPost] = 'true'
    const commands = docker()
    await run(runner, deps({ repository: 'noblepay-api' }, commands))
    expect(commands.calls).toHaveLength(0)
    expect(runner.log).toContain('No registry login to undo.')
  })
})
