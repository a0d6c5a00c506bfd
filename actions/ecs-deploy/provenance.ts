/**
 * The provenance gate: before anything is registered, the image digest must carry a build
 * provenance attestation signed by this project's build workflow, for the calling repository,
 * for exactly that digest. The signatures are checked by the GitHub CLI
 * (`gh attestation verify`, preinstalled on GitHub's hosted runners), never here: this module
 * builds its command line, reads its answer, and says whether the deploy may go on.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AwsCaller } from '../shared/aws-call.js'
import { describeError, InputError } from '../shared/errors.js'
import { lastLines, runCommand, type RunCommand } from '../shared/exec.js'
import type { Inputs } from '../shared/inputs.js'
import { redactor } from '../shared/redact.js'
import type { Runner } from '../shared/runner.js'
import { code, table } from '../shared/summary.js'
import { ecrEndpointOverridden, ecrGatewayFor, ecrImageByDigest } from './ecr.js'

// ---- inputs ---------------------------------------------------------------------------------

/** `owner/repo/.github/workflows/<file>.yml`: the form `gh attestation verify --signer-workflow` takes. */
const SIGNER_WORKFLOW =
  /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/\.github\/workflows\/[A-Za-z0-9_.-]+\.ya?ml$/

export interface ProvenanceInputs {
  /** The workflow whose signature is required; empty: the gate is off. */
  signerWorkflow: string
}

/**
 * Reads provenance-signer-workflow and checks what the gate needs with it: an image by digest
 * (a tag can move after the check) and github-token (GitHub's attestations API). rollback-to
 * never runs the gate, so nothing is required then.
 */
export function readProvenanceInputs(inputs: Inputs): ProvenanceInputs {
  const signerWorkflow = inputs.string('provenance-signer-workflow')
  if (signerWorkflow === '' || inputs.string('rollback-to') !== '') return { signerWorkflow: '' }
  if (!SIGNER_WORKFLOW.test(signerWorkflow)) {
    throw new InputError(
      'provenance-signer-workflow',
      signerWorkflow,
      'give the workflow that signs the build provenance as owner/repo/.github/workflows/<file>.yml, without a ref, e.g. noblepay/deploy/.github/workflows/build.yml; or leave it empty to deploy without checking provenance'
    )
  }
  const image = inputs.string('image')
  if (!/@sha256:[0-9a-f]{64}$/.test(image)) {
    throw new InputError(
      'image',
      image,
      "with provenance-signer-workflow set, deploy by digest (<registry>/<repository>@sha256:…, build.yml's image-digest output): the attestation names a digest, and a tag can move after the check"
    )
  }
  if (inputs.string('github-token') === '') {
    throw new InputError(
      'github-token',
      '',
      'provenance-signer-workflow reads the attestations through the GitHub API: pass github.token from a job with attestations: read'
    )
  }
  return { signerWorkflow }
}

// ---- decisions ------------------------------------------------------------------------------

export interface ProvenanceRequest {
  /** registry/repository@sha256:… */
  image: string
  /** owner/name of the repository the image was built from (GITHUB_REPOSITORY). */
  repository: string
  /** owner/repo/.github/workflows/<file>.yml */
  signerWorkflow: string
  /** Where the workflows live, e.g. https://github.com (GITHUB_SERVER_URL). */
  serverUrl: string
}

/** The digest an image reference names, sha256:…. */
export function imageDigest(image: string): string {
  return image.slice(image.lastIndexOf('@') + 1)
}

/**
 * The `gh` arguments that verify the image: attestations linked with the calling repository,
 * signed by the signer workflow (any ref of it), SLSA provenance (gh's default predicate type),
 * the result as JSON. No secret is among them: the token travels in GH_TOKEN.
 */
export function verifyArguments(request: ProvenanceRequest): string[] {
  return [
    'attestation',
    'verify',
    `oci://${request.image}`,
    '--repo',
    request.repository,
    '--signer-workflow',
    request.signerWorkflow,
    '--format',
    'json'
  ]
}

/** What gh said: its exit code and output, or that it is not there or did not finish. */
export interface VerifyAnswer {
  exitCode: number
  stdout: string
  stderr: string
  notFound?: boolean
  timedOut?: boolean
}

export type ProvenanceVerdict =
  { verdict: 'pass'; detail: string } | { verdict: 'refuse'; detail: string; reason: string }

/** The parts of one `gh attestation verify --format json` result this gate reads. */
interface VerifiedAttestation {
  verificationResult?: {
    statement?: {
      predicateType?: string
      subject?: Array<{ digest?: Record<string, string> }>
    }
    signature?: {
      certificate?: {
        subjectAlternativeName?: string
        sourceRepositoryURI?: string
        runInvocationURI?: string
      }
    }
  }
}

const SLSA_PROVENANCE = /^https:\/\/slsa\.dev\/provenance\/v1$/

/**
 * Reads gh's answer. gh's exit code decides a failure (1: not verified, 4: no authentication);
 * a success counts only when one verified result names exactly this digest, this repository
 * and the signer workflow, so a gh that exits 0 without an attestation (as some releases did
 * when there was none) cannot let an image through.
 */
export function judgeProvenance(
  request: ProvenanceRequest,
  answer: VerifyAnswer
): ProvenanceVerdict {
  const digest = imageDigest(request.image)
  const refuse = (detail: string, why: string): ProvenanceVerdict => ({
    verdict: 'refuse',
    detail,
    reason: `Refused to deploy ${request.image}: ${why} Nothing was registered or changed.`
  })
  // gh marks what failed with ✗ and ends with an Error: line; its progress lines say nothing.
  const lines = lastLines(answer.stderr || answer.stdout, 20)
  const failures = lines.filter(line => /^(✗|Error:)/.test(line))
  const said = (failures.length > 0 ? failures : lines.slice(-3)).join(' ')
  if (answer.notFound) {
    return refuse(
      'gh not found',
      'the GitHub CLI (gh), which verifies build provenance, is not on PATH. GitHub-hosted runners have it; on another runner install gh 2.49 or later.'
    )
  }
  if (answer.timedOut) {
    return refuse(
      'gh did not answer',
      'gh attestation verify did not finish within the time wait-for-minutes leaves. Deploy again once GitHub answers.'
    )
  }
  if (answer.exitCode === 4) {
    return refuse(
      'no GitHub authentication',
      `gh attestation verify needs a token (exit 4: ${said || 'authentication required'}). Pass github-token from a job with attestations: read.`
    )
  }
  if (answer.exitCode !== 0) {
    return refuse(
      'not verified',
      `it has no build provenance attestation signed by ${request.signerWorkflow} for ${request.repository} that verifies (gh attestation verify exited ${answer.exitCode}: ${said || 'no output'}). Deploy the image-digest that build.yml built and attested for this repository.`
    )
  }
  let results: VerifiedAttestation[]
  try {
    const parsed: unknown = JSON.parse(answer.stdout)
    results = Array.isArray(parsed) ? (parsed as VerifiedAttestation[]) : []
  } catch {
    results = []
  }
  const hex = digest.replace(/^sha256:/, '')
  const signer = `${request.serverUrl.replace(/\/$/, '')}/${request.signerWorkflow}@`
  const source = `${request.serverUrl.replace(/\/$/, '')}/${request.repository}`.toLowerCase()
  const match = results.find(result => {
    const statement = result.verificationResult?.statement
    const certificate = result.verificationResult?.signature?.certificate
    return (
      SLSA_PROVENANCE.test(statement?.predicateType ?? '') &&
      (statement?.subject ?? []).some(s => s.digest?.sha256 === hex) &&
      (certificate?.subjectAlternativeName ?? '').startsWith(signer) &&
      (certificate?.sourceRepositoryURI ?? '').toLowerCase() === source
    )
  })
  if (!match) {
    return refuse(
      'no matching attestation',
      `gh attestation verify succeeded, but none of the ${results.length} result${results.length === 1 ? '' : 's'} it returned is SLSA provenance of ${digest} from ${request.repository} signed by ${request.signerWorkflow}.`
    )
  }
  const certificate = match.verificationResult?.signature?.certificate
  const signedBy = (certificate?.subjectAlternativeName ?? '').slice(signer.length - 1)
  const run = certificate?.runInvocationURI ? `, ${certificate.runInvocationURI}` : ''
  return {
    verdict: 'pass',
    detail: `${code(digest.slice(0, 19))} attested by ${code(`${request.signerWorkflow}${signedBy}`)} for ${request.repository}${run}`
  }
}

// ---- running the check ----------------------------------------------------------------------

/** A registry login as a Docker config `auths` entry: host and base64 `user:password`. */
export interface RegistryAuth {
  registry: string
  auth: string
}

export interface ProvenanceDependencies {
  run: RunCommand
  /** The ECR login of the image's registry; undefined for a registry that is not ECR. */
  registryAuth(image: string): Promise<RegistryAuth | undefined>
  setSecret(value: string): void
  info(line: string): void
  /** Resolves after `ms`: how long gh may take. */
  timeout(ms: number): Promise<void>
}

export type ProvenanceOutcome =
  { kind: 'passed'; summary: string } | { kind: 'refused'; reason: string; summary: string }

/**
 * Runs `gh attestation verify` once. gh reads the image's manifest from the registry, so an
 * ECR login goes to a Docker config of its own (a private directory, removed afterwards); the
 * token goes to GH_TOKEN. Neither is in an argument list or a line of output.
 */
export async function checkProvenance(
  request: ProvenanceRequest,
  token: string,
  deps: ProvenanceDependencies,
  timeoutMs: number
): Promise<ProvenanceOutcome> {
  deps.setSecret(token)
  let login: RegistryAuth | undefined
  try {
    login = await deps.registryAuth(request.image)
  } catch (error) {
    return outcome(request, deps, {
      verdict: 'refuse',
      detail: 'no registry login',
      reason: `Refused to deploy ${request.image}: gh reads its manifest from the registry, and the ECR login for it failed: ${describeError(error).replace(/\.?$/, '.')} Grant the deploy role ecr:GetAuthorizationToken and ecr:BatchGetImage on the repository (see the setup guide). Nothing was registered or changed.`
    })
  }
  if (login) deps.setSecret(login.auth)
  const redact = redactor([token, login?.auth ?? ''])
  const config = await mkdtemp(join(tmpdir(), 'ecs-deploy-provenance-'))
  let answer: VerifyAnswer
  try {
    await chmod(config, 0o700)
    const env: Record<string, string> = { GH_TOKEN: token, GH_PROMPT_DISABLED: '1', NO_COLOR: '1' }
    if (login) {
      await writeFile(
        join(config, 'config.json'),
        JSON.stringify({ auths: { [login.registry]: { auth: login.auth } } }),
        { mode: 0o600 }
      )
      env.DOCKER_CONFIG = config
    }
    deps.info(
      `Verifying the build provenance of ${request.image}: gh ${verifyArguments(request).join(' ')}`
    )
    const finished = deps
      .run('gh', verifyArguments(request), { env, silent: true })
      .then(result => ({ ...result }) as VerifyAnswer)
    const late = deps
      .timeout(timeoutMs)
      .then(() => ({ exitCode: -1, stdout: '', stderr: '', timedOut: true }) as VerifyAnswer)
    answer = await Promise.race([finished, late])
  } finally {
    await rm(config, { recursive: true, force: true })
  }
  const verdict = judgeProvenance(request, {
    ...answer,
    stdout: redact(answer.stdout),
    stderr: redact(answer.stderr)
  })
  return outcome(request, deps, verdict)
}

/** The verdict as the step reports it: a row of the summary, and a line when it passed. */
function outcome(
  request: ProvenanceRequest,
  deps: Pick<ProvenanceDependencies, 'info'>,
  verdict: ProvenanceVerdict
): ProvenanceOutcome {
  const summary = [
    '**Build provenance**',
    table(
      ['Gate', 'Result', 'Detail'],
      [
        [
          `Build provenance (signed by ${request.signerWorkflow})`,
          verdict.verdict === 'pass' ? 'passed' : 'refused',
          verdict.detail
        ]
      ]
    )
  ].join('\n\n')
  if (verdict.verdict === 'refuse') return { kind: 'refused', reason: verdict.reason, summary }
  deps.info(`Build provenance: passed, ${verdict.detail.replace(/`/g, '')}.`)
  return { kind: 'passed', summary }
}

// Stryker disable all: builds the real command runner and ECR login (I/O).
/** The real dependencies: gh through @actions/exec, the ECR login through an AwsCaller. */
export function provenanceDependencies(
  runner: Runner,
  settings: { region: string; caller: AwsCaller },
  env: NodeJS.ProcessEnv = process.env
): ProvenanceDependencies {
  return {
    run: runCommand,
    registryAuth: async image => {
      const ecrImage = ecrImageByDigest(image, ecrEndpointOverridden(env))
      if (!ecrImage) return undefined
      const gateway = ecrGatewayFor(ecrImage, settings.region, settings.caller, env)
      return { registry: ecrImage.registry, auth: await gateway.authorizationToken() }
    },
    setSecret: value => runner.setSecret(value),
    info: line => runner.info(line),
    timeout: ms => new Promise(resolve => setTimeout(resolve, ms).unref())
  }
}

/**
 * The gate for one deploy: its image, the calling repository, the signer, within
 * wait-for-minutes. Undefined when provenance-signer-workflow is empty.
 */
export async function gate(
  config: {
    image: string
    waitMs: number
    provenance: ProvenanceInputs
    gates: { githubToken: string }
  },
  context: { repository: string; serverUrl: string },
  deps: ProvenanceDependencies
): Promise<ProvenanceOutcome | undefined> {
  if (config.provenance.signerWorkflow === '') return undefined
  const request = {
    image: config.image,
    repository: context.repository,
    signerWorkflow: config.provenance.signerWorkflow,
    serverUrl: context.serverUrl
  }
  return checkProvenance(request, config.gates.githubToken, deps, config.waitMs)
}
