import type { PathKind } from '../shared/paths.js'
import { join } from 'node:path'
import { InputError } from '../shared/errors.js'
import { lineOnly, type Inputs } from '../shared/inputs.js'

/** Every input of build-push, parsed and checked once, before anything is built or pushed. */
export interface BuildPushConfig {
  repository: string
  /** Registry host override; empty means the proxy endpoint ECR returns. */
  registry: string
  context: string
  dockerfile: string
  target: string
  buildArgs: Array<[string, string]>
  labels: Array<[string, string]>
  /** The first is the primary tag. */
  tags: string[]
  push: boolean
  skipIfExists: boolean
  createRepository: boolean
  cacheFrom: string[]
  awsRegion: string
  /** The workflow whose attestation makes an existing image under the primary tag ours; empty: none. */
  signerWorkflow: string
  /** For gh attestation verify; needed with signerWorkflow. */
  githubToken: string
}

// ECR's own rules for repository names and Docker's for tags.
const REPOSITORY_NAME = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/
const REGISTRY_HOST = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?$/
const STAGE_NAME = /^[A-Za-z][A-Za-z0-9_.-]*$/
// gh attestation verify's --signer-workflow: [host/]owner/repo/.github/workflows/file.yml
const SIGNER_WORKFLOW =
  /^(?:[A-Za-z0-9.-]+\/)?[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/\.github\/workflows\/[A-Za-z0-9_.-]+\.ya?ml$/

/**
 * Reads the inputs. `pathKind` tells whether a path is a file, a directory or missing, and
 * `sha` is the commit (the default tag); both are injected so parsing stays pure.
 */
export function readConfig(
  inputs: Inputs,
  sha: string,
  pathKind: (path: string) => PathKind
): BuildPushConfig {
  const repository = inputs.required('repository', 'name the ECR repository, e.g. noblepay-api')
  if (repository.length < 2 || repository.length > 256 || !REPOSITORY_NAME.test(repository)) {
    throw new InputError(
      'repository',
      repository,
      'use an ECR repository name: lower-case letters, digits and . _ - /, e.g. noblepay-api (the registry host is not part of it)'
    )
  }

  const registry = inputs
    .string('registry')
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/+$/, '')
  if (registry !== '' && !REGISTRY_HOST.test(registry)) {
    throw new InputError(
      'registry',
      inputs.string('registry'),
      'use a registry host such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com, or leave it empty'
    )
  }

  const context = inputs.string('context', '.')
  if (pathKind(context) !== 'directory') {
    throw new InputError(
      'context',
      context,
      `no directory '${context}' here; give the build context relative to the workspace (check actions/checkout ran)`
    )
  }
  const dockerfileInput = inputs.string('dockerfile')
  const dockerfile = dockerfileInput === '' ? join(context, 'Dockerfile') : dockerfileInput
  if (pathKind(dockerfile) !== 'file') {
    throw new InputError(
      'dockerfile',
      dockerfileInput,
      `no Dockerfile at '${dockerfile}'; add one or set 'dockerfile' to its path relative to the workspace`
    )
  }

  const target = inputs.string('target')
  if (target !== '' && !STAGE_NAME.test(target)) {
    throw new InputError(
      'target',
      target,
      'name a build stage of the Dockerfile (FROM … AS <name>), e.g. runtime'
    )
  }

  const tags = unique(inputs.list('tags'))
  if (tags.length === 0) {
    if (sha === '') {
      throw new InputError(
        'tags',
        '',
        'give at least one tag; the default, the commit SHA (GITHUB_SHA), is not set here'
      )
    }
    tags.push(sha)
  }
  for (const tag of tags) {
    if (!TAG.test(tag)) {
      throw new InputError(
        'tags',
        tag,
        'each tag is up to 128 letters, digits, _ . - and may not start with . or -; give tags only (e.g. v1.2.3), the repository comes from its own input'
      )
    }
  }

  const cacheLines = inputs.string('cache-from').split(/\r?\n/)
  cacheLines.forEach((line, index) => {
    const reference = line.trim()
    if (!reference.startsWith('#') && /\s/.test(reference)) {
      throw new InputError(
        'cache-from',
        lineOnly(index + 1),
        'write one image reference per line, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/noblepay-api:main'
      )
    }
  })
  const cacheFrom = unique(
    cacheLines.map(line => line.trim()).filter(line => line !== '' && !line.startsWith('#'))
  )

  const signerWorkflow = inputs.string('signer-workflow')
  if (signerWorkflow !== '' && !SIGNER_WORKFLOW.test(signerWorkflow)) {
    throw new InputError(
      'signer-workflow',
      signerWorkflow,
      'name the workflow file that attests the builds, without a ref: owner/repo/.github/workflows/build.yml, e.g. noblepay/deploy/.github/workflows/build.yml'
    )
  }
  const githubToken = inputs.string('github-token')
  if (signerWorkflow !== '' && githubToken === '') {
    throw new InputError(
      'github-token',
      '',
      'signer-workflow is set, so gh needs a token to read the attestations: pass ${{ github.token }}, or clear signer-workflow'
    )
  }

  return {
    repository,
    registry,
    context,
    dockerfile,
    target,
    buildArgs: inputs.pairs('build-args'),
    labels: inputs.pairs('labels'),
    tags,
    push: inputs.boolean('push', true),
    skipIfExists: inputs.boolean('skip-if-exists', true),
    createRepository: inputs.boolean('create-repository', false),
    cacheFrom,
    awsRegion: inputs.string('aws-region'),
    signerWorkflow,
    githubToken
  }
}

/** The stage names a Dockerfile declares (`FROM image AS name`), in order. */
export function dockerfileStages(dockerfile: string): string[] {
  const stages: string[] = []
  for (const line of dockerfile.split(/\r?\n/)) {
    const match = /^\s*FROM\s+(?:--\S+\s+)*\S+\s+AS\s+(\S+)\s*$/i.exec(line)
    if (match?.[1]) stages.push(match[1])
  }
  return stages
}

/** A target that names no stage fails now, not minutes into a build. */
export function checkTarget(target: string, dockerfilePath: string, dockerfileText: string): void {
  if (target === '') return
  const stages = dockerfileStages(dockerfileText)
  if (!stages.some(stage => stage.toLowerCase() === target.toLowerCase())) {
    throw new InputError(
      'target',
      target,
      stages.length === 0
        ? `${dockerfilePath} names no stages (FROM … AS <name>); remove 'target' or name the stage`
        : `${dockerfilePath} has the stages ${stages.join(', ')}; use one of them`
    )
  }
}

/** Strips the scheme from ECR's proxy endpoint: `https://123.dkr.ecr…` → `123.dkr.ecr…`. */
export function registryHost(proxyEndpoint: string): string {
  return proxyEndpoint.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '')
}

function unique(values: string[]): string[] {
  return [...new Set(values)]
}
