import {
  checkTarget,
  dockerfileStages,
  readConfig,
  registryHost
} from '../../actions/build-push/config.js'
import { InputError } from '../../actions/shared/errors.js'
import type { PathKind } from '../../actions/shared/paths.js'
import { Inputs } from '../../actions/shared/inputs.js'

const SHA = '0123456789abcdef0123456789abcdef01234567'
const disk: Record<string, PathKind> = {
  '.': 'directory',
  Dockerfile: 'file',
  'services/api': 'directory',
  'services/api/Dockerfile': 'file'
}
const pathKind = (path: string): PathKind => disk[path] ?? 'missing'
const read = (values: Record<string, string>, sha = SHA) =>
  readConfig(new Inputs(name => values[name] ?? ''), sha, pathKind)
const failure = (values: Record<string, string>, sha = SHA): InputError => {
  try {
    read(values, sha)
  } catch (error) {
    if (error instanceof InputError) return error
    throw error
  }
  throw new Error('expected an InputError')
}

describe('build-push inputs', () => {
  it('defaults: context ., its Dockerfile, the commit as the tag, push and skip-if-exists on', () => {
    const config = read({ repository: 'noblepay-api' })
    expect(config).toMatchObject({
      repository: 'noblepay-api',
      context: '.',
      dockerfile: 'Dockerfile',
      tags: [SHA],
      push: true,
      skipIfExists: true,
      createRepository: false,
      cacheFrom: [],
      buildArgs: [],
      labels: []
    })
  })

  it('finds the Dockerfile in the context unless one is named', () => {
    expect(read({ repository: 'noblepay-api', context: 'services/api' }).dockerfile).toBe(
      'services/api/Dockerfile'
    )
  })

  it('names a missing context or Dockerfile and its path', () => {
    expect(failure({ repository: 'noblepay-api', context: 'services/web' }).message).toMatch(
      /Input 'context' is 'services\/web'.*no directory 'services\/web'/
    )
    const error = failure({ repository: 'noblepay-api', dockerfile: 'docker/Dockerfile.prod' })
    expect(error.input).toBe('dockerfile')
    expect(error.message).toContain("no Dockerfile at 'docker/Dockerfile.prod'")
  })

  it('rejects malformed build-args and labels lines by input, never echoing a value', () => {
    const args = failure({ repository: 'noblepay-api', 'build-args': 'NPM_TOKEN s3cret' })
    expect(args.input).toBe('build-args')
    expect(args.message).not.toContain('s3cret')
    expect(failure({ repository: 'noblepay-api', labels: '=orphan' }).input).toBe('labels')
  })

  it('keeps build args and labels in order, values with = intact', () => {
    const config = read({
      repository: 'noblepay-api',
      'build-args': 'BASE=local/node:20\nQUERY=a=b',
      labels: 'team=payments'
    })
    expect(config.buildArgs).toEqual([
      ['BASE', 'local/node:20'],
      ['QUERY', 'a=b']
    ])
    expect(config.labels).toEqual([['team', 'payments']])
  })

  it('needs a tag: an empty list without GITHUB_SHA fails', () => {
    const error = failure({ repository: 'noblepay-api' }, '')
    expect(error.input).toBe('tags')
    expect(error.message).toContain('GITHUB_SHA')
  })

  it('rejects tags with characters Docker refuses, or a whole reference, naming the tag', () => {
    expect(failure({ repository: 'noblepay-api', tags: 'v1.2.3\nfeature/login' }).message).toMatch(
      /Input 'tags' is 'feature\/login'/
    )
    expect(failure({ repository: 'noblepay-api', tags: 'noblepay-api:v1' }).value).toBe(
      'noblepay-api:v1'
    )
    expect(failure({ repository: 'noblepay-api', tags: '-dash' }).input).toBe('tags')
    expect(read({ repository: 'noblepay-api', tags: 'v1.2.3, latest\nv1.2.3' }).tags).toEqual([
      'v1.2.3',
      'latest'
    ])
  })

  it('rejects non-boolean booleans', () => {
    expect(failure({ repository: 'noblepay-api', push: 'yes' }).message).toBe(
      "Input 'push' is 'yes': use true or false"
    )
    expect(failure({ repository: 'noblepay-api', 'skip-if-exists': '1' }).input).toBe(
      'skip-if-exists'
    )
    expect(failure({ repository: 'noblepay-api', 'create-repository': 'on' }).input).toBe(
      'create-repository'
    )
    expect(
      read({ repository: 'noblepay-api', push: 'False', 'create-repository': 'TRUE' })
    ).toMatchObject({ push: false, createRepository: true })
  })

  it('rejects repository names ECR refuses and a missing repository', () => {
    expect(failure({}).input).toBe('repository')
    expect(failure({ repository: 'NoblePay-API' }).input).toBe('repository')
    expect(
      failure({ repository: '123.dkr.ecr.eu-west-1.amazonaws.com/noblepay-api:v1' }).input
    ).toBe('repository')
    expect(read({ repository: 'payments/noblepay-api' }).repository).toBe('payments/noblepay-api')
  })

  it('takes a registry host, dropping a scheme, and rejects anything else', () => {
    expect(
      read({
        repository: 'noblepay-api',
        registry: 'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/'
      }).registry
    ).toBe('123456789012.dkr.ecr.eu-west-1.amazonaws.com')
    expect(failure({ repository: 'noblepay-api', registry: 'registry.example/path' }).input).toBe(
      'registry'
    )
  })

  it('reads cache-from one reference per line (commas belong to buildx cache specs)', () => {
    expect(
      read({
        repository: 'noblepay-api',
        'cache-from': 'r.example/api:main\n\ntype=registry,ref=r.example/api:cache'
      }).cacheFrom
    ).toEqual(['r.example/api:main', 'type=registry,ref=r.example/api:cache'])
    const bad = failure({
      repository: 'noblepay-api',
      'cache-from': '# shared cache\nr.example/api:main\nr.example/api:main r.example/api:dev'
    })
    expect(bad.input).toBe('cache-from')
    // The line is pointed at by its number, never shown.
    expect(bad.message).toMatch(/^Input 'cache-from' is 'line 3, content hidden': write one image/)
    expect(bad.message).not.toContain('r.example')
  })
})

describe('Dockerfile stages', () => {
  const dockerfile = [
    'ARG BASE=node:20',
    'FROM ${BASE} AS builder',
    'RUN npm ci',
    'from --platform=$BUILDPLATFORM ${BASE} as runtime',
    'COPY --from=builder /app /app'
  ].join('\n')

  it('lists the named stages', () => {
    expect(dockerfileStages(dockerfile)).toEqual(['builder', 'runtime'])
  })

  it('accepts a named stage and rejects another, listing the stages', () => {
    expect(() => checkTarget('runtime', 'Dockerfile', dockerfile)).not.toThrow()
    expect(() => checkTarget('', 'Dockerfile', dockerfile)).not.toThrow()
    expect(() => checkTarget('production', 'Dockerfile', dockerfile)).toThrow(
      "Input 'target' is 'production': Dockerfile has the stages builder, runtime; use one of them"
    )
  })
})

describe('registry host', () => {
  it('strips the scheme from the proxy endpoint', () => {
    expect(registryHost('https://123456789012.dkr.ecr.eu-west-1.amazonaws.com')).toBe(
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com'
    )
    expect(registryHost('http://127.0.0.1:5000/')).toBe('127.0.0.1:5000')
  })
})
