import {
  buildArguments,
  buildCommand,
  imageLabels,
  imageReferences,
  loginArgs,
  OCI_LABELS,
  pushedDigest,
  repoDigest
} from '../../actions/build-push/command.js'

const provenance = {
  revision: '0123abc',
  source: 'https://github.com/noblepay/api',
  created: '2026-11-28T12:00:00.000Z'
}
const config = {
  context: 'services/api',
  dockerfile: 'services/api/Dockerfile',
  target: 'runtime',
  buildArgs: [
    ['BASE', 'node:20-slim'],
    ['VERSION', '1.2.3']
  ] as Array<[string, string]>,
  labels: [['team', 'payments']] as Array<[string, string]>,
  cacheFrom: ['registry.example/noblepay-api:main']
}
const references = imageReferences('registry.example', 'noblepay-api', ['0123abc', 'latest'])

/** The values that follow each occurrence of a flag. */
const valuesOf = (args: string[], flag: string) =>
  args.flatMap((arg, i) => (arg === flag ? [args[i + 1]] : []))

describe('build-push command lines', () => {
  it('tags every tag under registry/repository, the primary first', () => {
    expect(references).toEqual([
      'registry.example/noblepay-api:0123abc',
      'registry.example/noblepay-api:latest'
    ])
  })

  it('builds with the classic CLI under BuildKit: target, build args, labels, cache, tags, context last', () => {
    const { args, env } = buildCommand(config, references, provenance, 'classic')
    expect(args.slice(0, 3)).toEqual(['build', '--file', 'services/api/Dockerfile'])
    expect(env).toEqual({ DOCKER_BUILDKIT: '1' })
    expect(valuesOf(args, '--target')).toEqual(['runtime'])
    expect(valuesOf(args, '--build-arg')).toEqual([
      'BASE=node:20-slim',
      'VERSION=1.2.3',
      'APP_VERSION=0123abc',
      'BUILDKIT_INLINE_CACHE=1'
    ])
    expect(valuesOf(args, '--cache-from')).toEqual(['registry.example/noblepay-api:main'])
    expect(valuesOf(args, '--tag')).toEqual(references)
    expect(args).not.toContain('--load')
    expect(args.at(-1)).toBe('services/api')
  })

  it('passes APP_VERSION=<commit> when the caller does not set it; theirs stands when they do', () => {
    expect(buildArguments([['BASE', 'node:20-slim']], '0123abc')).toEqual([
      ['BASE', 'node:20-slim'],
      ['APP_VERSION', '0123abc']
    ])
    const theirs: Array<[string, string]> = [['APP_VERSION', '2.4.1']]
    expect(buildArguments(theirs, '0123abc')).toEqual(theirs)
    // Only the exact name: app_version is another argument.
    expect(buildArguments([['app_version', 'x']], '0123abc')).toContainEqual([
      'APP_VERSION',
      '0123abc'
    ])
    // No commit known (a local run): nothing to pass.
    expect(buildArguments([], '')).toEqual([])
  })

  it('passes the source time as SOURCE_DATE_EPOCH when it has one, unless the caller does', () => {
    const fromCommit = { ...provenance, sourceDateEpoch: 1764849600 }
    expect(
      valuesOf(buildCommand(config, references, fromCommit, 'buildx').args, '--build-arg')
    ).toContain('SOURCE_DATE_EPOCH=1764849600')
    expect(
      valuesOf(buildCommand(config, references, provenance, 'buildx').args, '--build-arg').some(a =>
        a.startsWith('SOURCE_DATE_EPOCH=')
      )
    ).toBe(false)
    const theirs = { ...config, buildArgs: [['SOURCE_DATE_EPOCH', '0']] as Array<[string, string]> }
    expect(
      valuesOf(buildCommand(theirs, references, fromCommit, 'buildx').args, '--build-arg').filter(
        a => a.startsWith('SOURCE_DATE_EPOCH=')
      )
    ).toEqual(['SOURCE_DATE_EPOCH=0'])
  })

  it('with buildx, loads the image into Docker and exports inline cache', () => {
    const { args } = buildCommand(config, references, provenance, 'buildx')
    expect(args.slice(0, 2)).toEqual(['buildx', 'build'])
    expect(args).toContain('--load')
    expect(valuesOf(args, '--cache-to')).toEqual(['type=inline'])
  })

  it('always adds the OCI revision, source and created labels, then the user labels', () => {
    const { args } = buildCommand(config, references, provenance, 'classic')
    expect(valuesOf(args, '--label')).toEqual([
      `${OCI_LABELS.revision}=0123abc`,
      `${OCI_LABELS.source}=https://github.com/noblepay/api`,
      `${OCI_LABELS.created}=2026-11-28T12:00:00.000Z`,
      'team=payments'
    ])
  })

  it('lets a user label replace an OCI label of the same key and leaves out unknown values', () => {
    const labels = imageLabels([[OCI_LABELS.source, 'https://git.example/api']], {
      ...provenance,
      revision: ''
    })
    expect(labels).toEqual([
      [OCI_LABELS.created, provenance.created],
      [OCI_LABELS.source, 'https://git.example/api']
    ])
  })

  it('omits --target when no stage is named', () => {
    expect(
      buildCommand({ ...config, target: '' }, references, provenance, 'classic').args
    ).not.toContain('--target')
  })

  it('logs in with the password on standard input only', () => {
    expect(loginArgs('registry.example')).toEqual([
      'login',
      '--username',
      'AWS',
      '--password-stdin',
      'registry.example'
    ])
  })

  it('reads the digest docker push reports', () => {
    const digest = `sha256:${'ab'.repeat(32)}`
    const output = [
      'The push refers to repository [registry.example/noblepay-api]',
      '5f70bf18a086: Pushed',
      `0123abc: digest: ${digest} size: 1563`
    ].join('\n')
    expect(pushedDigest(output)).toBe(digest)
    expect(pushedDigest('denied: requested access to the resource is denied')).toBeUndefined()
  })

  it('asks for plain progress output, which the log shows line by line, before the context', () => {
    for (const builder of ['classic', 'buildx'] as const) {
      const { args } = buildCommand(config, references, provenance, builder)
      expect(args.slice(-3)).toEqual(['--progress', 'plain', 'services/api'])
    }
  })

  it("finds the digest of this repository among an image's RepoDigests", () => {
    const digest = `sha256:${'cd'.repeat(32)}`
    const repoDigests = [
      `registry.example/noblepay-api-old@sha256:${'ef'.repeat(32)}`,
      `other.example/noblepay-api@sha256:${'ab'.repeat(32)}`,
      `registry.example/noblepay-api@${digest}`
    ]
    expect(repoDigest(repoDigests, 'registry.example', 'noblepay-api')).toBe(digest)
    expect(repoDigest(repoDigests.slice(0, 2), 'registry.example', 'noblepay-api')).toBeUndefined()
    expect(repoDigest([], 'registry.example', 'noblepay-api')).toBeUndefined()
  })
})
