import { readFileSync } from 'node:fs'
import { ECRClient } from '@aws-sdk/client-ecr'
import { clientSettings } from '../shared/aws.js'
import { runContext } from '../shared/context.js'
import { ActionError } from '../shared/errors.js'
import { type CommandResult, lastLines, type RunCommand, runCommand } from '../shared/exec.js'
import { redactor } from '../shared/redact.js'
import { environmentInputs, type InputSource, Inputs } from '../shared/inputs.js'
import { type Clock, realClock, type Runner } from '../shared/runner.js'
import {
  type Builder,
  buildCommand,
  imageReferences,
  loginArgs,
  logoutArgs,
  pushedDigest
} from './command.js'
import { pathKindOnDisk, type PathKind } from '../shared/paths.js'
import { checkTarget, readConfig, registryHost } from './config.js'
import { ensureRepository, imageDigest, imageManifest, registryLogin } from './ecr.js'
import {
  type ExistingImageVerdict,
  foreignImageError,
  manifestConfigDigest,
  sameImage,
  verifyAttestation
} from './existing.js'
import { builtSummary, failedBuildSummary, skippedSummary } from './report.js'
import { sourceDate } from './source-date.js'

export interface BuildPushDeps {
  inputs?: InputSource
  env?: NodeJS.ProcessEnv
  ecr?: ECRClient
  exec?: RunCommand
  clock?: Clock
  pathKind?: (path: string) => PathKind
  readFile?: (path: string) => string
}

/** State the main step leaves for the post step (the runner runs the same bundle again). */
export const STATE = { isPost: 'isPost', registry: 'registry' } as const

/** Lines of a failed build's output that go into the job summary. */
export const EXCERPT_LINES = 20

export async function run(runner: Runner, deps: BuildPushDeps = {}): Promise<void> {
  if (runner.getState(STATE.isPost) === 'true') return post(runner, deps)
  runner.saveState(STATE.isPost, 'true')

  const env = deps.env ?? process.env
  const exec = deps.exec ?? runCommand
  const clock = deps.clock ?? realClock
  const context = runContext(env)

  // Every input is checked before AWS or Docker is asked anything.
  const config = readConfig(
    new Inputs(deps.inputs ?? environmentInputs(env)),
    context.sha,
    deps.pathKind ?? pathKindOnDisk
  )
  checkTarget(
    config.target,
    config.dockerfile,
    (deps.readFile ?? (path => readFileSync(path, 'utf8')))(config.dockerfile)
  )
  const ecr = deps.ecr ?? new ECRClient(clientSettings(config.awsRegion, env))

  const login = await registryLogin(ecr)
  runner.setSecret(login.password)
  runner.setSecret(login.token)
  const registry = config.registry || registryHost(login.proxyEndpoint)
  const references = imageReferences(registry, config.repository, config.tags)
  const primary = references[0] as string
  const primaryTag = config.tags[0] as string

  const repositoryState = await ensureRepository(
    ecr,
    config.repository,
    config.createRepository,
    registry
  )
  if (repositoryState === 'created')
    runner.info(`Created ECR repository ${config.repository} (scan on push).`)

  // An image already under the primary tag is checked, never trusted or overwritten.
  const existingDigest =
    config.push && config.skipIfExists && repositoryState === 'exists'
      ? await imageDigest(ecr, config.repository, primaryTag)
      : undefined

  await dockerLogin(exec, registry, login.password)
  runner.saveState(STATE.registry, registry)

  const kept = {
    registry,
    repository: config.repository,
    primary,
    digest: existingDigest ?? '',
    signerWorkflow: config.signerWorkflow
  }
  let attestationReason = ''
  if (existingDigest && config.signerWorkflow) {
    runner.setSecret(config.githubToken)
    const attestation = await verifyAttestation(
      exec,
      {
        image: `${registry}/${config.repository}@${existingDigest}`,
        repository: context.repository,
        signerWorkflow: config.signerWorkflow,
        commit: context.sha
      },
      config.githubToken
    )
    if (attestation.verified) {
      return keepExisting(runner, kept, 'attested')
    }
    attestationReason = attestation.reason
  }

  const builder: Builder =
    (await exec('docker', ['buildx', 'version'], { silent: true })).exitCode === 0
      ? 'buildx'
      : 'classic'
  const command = buildCommand(
    config,
    references,
    {
      revision: context.sha,
      source: context.sourceUrl,
      ...(await sourceDate(exec, env, config.context, context.sha, clock))
    },
    builder
  )
  const started = clock.now()
  const build = await runner.group(
    `Build ${primary}${config.target ? ` (target ${config.target})` : ''}`,
    () => exec('docker', command.args, { env: command.env })
  )
  const buildSeconds = (clock.now() - started) / 1000
  if (build.exitCode !== 0) {
    // The summary is a file we write ourselves: the runner's masking does not reach it.
    const excerpt = lastLines(redactor([login.password, login.token])(build.output), EXCERPT_LINES)
    await runner.summary(
      failedBuildSummary({
        image: primary,
        dockerfile: config.dockerfile,
        target: config.target,
        exitCode: build.exitCode,
        excerpt
      })
    )
    throw new ActionError(
      `docker build of ${config.dockerfile}${config.target ? ` (target ${config.target})` : ''} failed with exit code ${build.exitCode}: ${buildError(build)}. The full output is in the log group 'Build ${primary}'.`
    )
  }
  if (existingDigest) {
    const existing = {
      digest: existingDigest,
      configDigest: manifestConfigDigest(
        (await imageManifest(ecr, config.repository, existingDigest)) ?? ''
      )
    }
    const localImageId = await inspect(exec, primary, '{{.Id}}')
    if (!sameImage(localImageId, existing)) {
      throw foreignImageError({
        reference: primary,
        existing,
        localImageId,
        signerWorkflow: config.signerWorkflow,
        attestationReason
      })
    }
    return keepExisting(runner, kept, 'identical')
  }
  const sizeBytes = Number((await inspect(exec, primary, '{{.Size}}')) || 0)

  let digest = ''
  if (config.push) {
    digest = await pushAll(runner, exec, references)
    await verifyDigest(exec, primary, registry, config.repository, digest)
    runner.info(`Pushed ${references.join(', ')} as ${registry}/${config.repository}@${digest}`)
  } else {
    runner.info(`Built ${primary}; push is false, so nothing was pushed.`)
  }
  setOutputs(runner, {
    registry,
    repository: config.repository,
    primary,
    digest,
    pushed: references,
    built: true,
    attested: false
  })
  await runner.summary(
    builtSummary({
      config,
      references,
      digest,
      sizeBytes,
      buildSeconds,
      builder,
      pushed: config.push,
      repositoryState
    })
  )
}

/** The post step: log out of the registry the main step logged in to. */
export async function post(runner: Runner, deps: BuildPushDeps = {}): Promise<void> {
  const registry = runner.getState(STATE.registry)
  if (registry === '') {
    runner.info('No registry login to undo.')
    return
  }
  const result = await (deps.exec ?? runCommand)('docker', logoutArgs(registry))
  if (result.exitCode === 0) runner.info(`Logged out of ${registry}.`)
  else
    runner.warning(
      `docker logout ${registry} failed: ${lastLines(result.output, 1).join('') || `exit code ${result.exitCode}`}`
    )
}

/** The primary tag already holds this job's image: output it, push nothing. */
async function keepExisting(
  runner: Runner,
  image: {
    registry: string
    repository: string
    primary: string
    digest: string
    signerWorkflow: string
  },
  verdict: ExistingImageVerdict
): Promise<void> {
  runner.info(
    verdict === 'attested'
      ? `${image.primary} is already in ECR (${image.digest}) with a build provenance attestation of ${image.signerWorkflow} for this commit; nothing to build or push.`
      : `${image.primary} is already in ECR (${image.digest}), identical to this build; nothing to push.`
  )
  setOutputs(runner, {
    ...image,
    pushed: [image.primary],
    built: false,
    attested: verdict === 'attested'
  })
  await runner.summary(skippedSummary({ ...image, image: image.primary, verdict }))
}

async function dockerLogin(exec: RunCommand, registry: string, password: string): Promise<void> {
  // The password reaches docker on standard input only: never argv, never the log.
  const result = await exec('docker', loginArgs(registry), { input: password })
  if (result.notFound) {
    throw new ActionError(
      'docker is not installed on this runner; use a GitHub-hosted Ubuntu runner or install Docker before this step.'
    )
  }
  if (result.exitCode !== 0) {
    throw new ActionError(
      `docker login to ${registry} failed: ${lastLines(result.output, 1).join('') || `exit code ${result.exitCode}`}. Check that the ECR token is for this registry (the 'registry' input) and that the Docker daemon is running.`
    )
  }
}

async function pushAll(runner: Runner, exec: RunCommand, references: string[]): Promise<string> {
  const digests = new Map<string, string>()
  for (const reference of references) {
    const result = await runner.group(`Push ${reference}`, () =>
      exec('docker', ['push', reference])
    )
    if (result.exitCode !== 0) {
      throw new ActionError(
        `docker push ${reference} failed: ${lastLines(result.output, 1).join('') || `exit code ${result.exitCode}`}. Check the role may push to this repository (ecr:PutImage, ecr:UploadLayerPart…).`
      )
    }
    const digest = pushedDigest(result.output)
    if (digest) digests.set(reference, digest)
  }
  const distinct = new Set(digests.values())
  if (distinct.size > 1) {
    throw new ActionError(
      `The tags were pushed with different digests (${[...digests].map(([r, d]) => `${r} → ${d}`).join(', ')}); another job may be pushing the same tags.`
    )
  }
  return [...distinct][0] ?? ''
}

/**
 * The digest comes from the registry (docker push reports it); the image's RepoDigests
 * must agree. When push said nothing parseable, RepoDigests alone gives it.
 */
async function verifyDigest(
  exec: RunCommand,
  primary: string,
  registry: string,
  repository: string,
  pushed: string
): Promise<void> {
  const repoDigests = JSON.parse(
    (await inspect(exec, primary, '{{json .RepoDigests}}')) || '[]'
  ) as string[] | null
  const prefix = `${registry}/${repository}@`
  const known = (repoDigests ?? [])
    .filter(entry => entry.startsWith(prefix))
    .map(entry => entry.slice(prefix.length))
  if (pushed !== '' && known.includes(pushed)) return
  throw new ActionError(
    pushed === ''
      ? `docker push reported no digest for ${primary} and the image has no RepoDigest for ${registry}/${repository}; the push may not have reached the registry.`
      : `docker push reported ${pushed} for ${primary}, but the image's RepoDigests for ${registry}/${repository} are ${known.join(', ') || 'empty'}.`
  )
}

async function inspect(exec: RunCommand, reference: string, format: string): Promise<string> {
  const result = await exec('docker', ['image', 'inspect', '--format', format, reference], {
    silent: true
  })
  return result.exitCode === 0 ? result.stdout.trim() : ''
}

/** The line of a failed build that says why: BuildKit's `ERROR:`/`error:` line, else the last. */
function buildError(build: CommandResult): string {
  const lines = lastLines(build.output, 200)
  const hint = /BuildKit is enabled but the buildx component is missing/i.test(build.output)
    ? ' (install the buildx plugin, e.g. with docker/setup-buildx-action)'
    : ''
  return (
    (lines.filter(line => /\berror\b/i.test(line)).at(-1) ?? lines.at(-1) ?? 'no output') + hint
  )
}

function setOutputs(
  runner: Runner,
  result: {
    registry: string
    repository: string
    primary: string
    digest: string
    pushed: string[]
    built: boolean
    attested: boolean
  }
): void {
  runner.setOutput('image', result.primary)
  runner.setOutput(
    'image-digest',
    result.digest ? `${result.registry}/${result.repository}@${result.digest}` : ''
  )
  runner.setOutput('digest', result.digest)
  runner.setOutput('tags', result.pushed.join('\n'))
  runner.setOutput('registry', result.registry)
  runner.setOutput('built', String(result.built))
  runner.setOutput('attested', String(result.attested))
}
