/**
 * ecs-deploy's provenance gate, with the built bundle run as the runner runs it: against the
 * ECS and ECR stand-ins, with a stand-in `gh` first on PATH that records how it was called and
 * answers as the GitHub CLI does. An image without the build provenance the gate pins is
 * refused before any RegisterTaskDefinition or UpdateService.
 */
import { existsSync } from 'node:fs'
import { startEcrStandin, type EcrStandin } from '../../tools/ecr-standin/server.js'
import { startEcsStandin, type EcsStandin } from '../../tools/ecs-standin/server.js'
import { runBundle } from '../support/bundle.js'
import { addSteadyService } from '../support/ecs-fixtures.js'
import {
  noAttestationAnswer,
  otherSignerAnswer,
  startGhStandin,
  verifiedAnswer,
  type GhStandin
} from '../support/gh-standin.js'

const TOKEN = 'ghs_provenanceTokenThatMustNeverBeShown7'
const DIGEST = `sha256:${'7a'.repeat(32)}`
const REGISTRY = '123456789012.dkr.ecr.eu-west-1.amazonaws.com'
const IMAGE = `${REGISTRY}/api@${DIGEST}`
const SIGNER = 'noblepay/deploy/.github/workflows/build.yml'
/** GITHUB_REPOSITORY as runBundle sets it. */
const CALLER = 'noblepay/api'
const ECR_PASSWORD = 'ecr-password-that-must-never-be-shown'

let ecs: EcsStandin
let ecr: EcrStandin
let gh: GhStandin

beforeEach(async () => {
  ecs = await startEcsStandin({ tickMs: 50 })
  ecr = await startEcrStandin({
    registry: 'http://127.0.0.1:9',
    username: 'AWS',
    password: ECR_PASSWORD,
    repositories: ['api']
  })
  // The image is in ECR (DescribeImages finds it through its scan record).
  ecr.setScanFindings(DIGEST, { findings: [] })
  gh = await startGhStandin()
  addSteadyService(ecs)
})
afterEach(async () => {
  await Promise.all([ecs.close(), ecr.close()])
})

const deploy = (
  inputs: Record<string, string> = {},
  path = `${gh.bin}:${process.env.PATH ?? ''}`
) =>
  runBundle('ecs-deploy', {
    inputs: {
      cluster: 'payments',
      service: 'api',
      image: IMAGE,
      'provenance-signer-workflow': SIGNER,
      'github-token': TOKEN,
      'poll-interval-seconds': '0.2',
      'wait-for-minutes': '1',
      ...inputs
    },
    env: {
      AWS_ENDPOINT_URL_ECS: ecs.endpoint,
      AWS_ENDPOINT_URL_ECR: ecr.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      // Nothing may reach GitHub's API but gh: the commit gate finds no commit tag to compare.
      GITHUB_API_URL: 'http://127.0.0.1:9',
      PATH: path,
      ...gh.env
    }
  })

const changes = () => ({
  register: ecs.calls.filter(c => c.operation === 'RegisterTaskDefinition').length,
  update: ecs.calls.filter(c => c.operation === 'UpdateService').length
})
const errorLines = (stdout: string) => stdout.split('\n').filter(l => l.startsWith('::error::'))

describe('ecs-deploy provenance gate', () => {
  it('runs gh attestation verify on the digest, for the calling repository, pinning the signer workflow', async () => {
    await gh.answer(verifiedAnswer({ digest: DIGEST, repository: CALLER, signerWorkflow: SIGNER }))
    const run = await deploy()
    expect(run.exitCode).toBe(0)
    expect(run.outputs.status).toBe('succeeded')
    expect(changes()).toEqual({ register: 1, update: 1 })
    const calls = await gh.calls()
    expect(calls).toHaveLength(1)
    expect(calls[0]!.argv).toEqual([
      'attestation',
      'verify',
      `oci://${IMAGE}`,
      '--repo',
      CALLER,
      '--signer-workflow',
      SIGNER,
      '--format',
      'json'
    ])
    // The token in gh's environment only; an ECR login for the image's registry in a Docker
    // config of its own, removed once gh is done.
    expect(calls[0]!.ghToken).toBe(TOKEN)
    expect(calls[0]!.dockerConfig).toEqual({
      auths: { [REGISTRY]: { auth: Buffer.from(`AWS:${ECR_PASSWORD}`).toString('base64') } }
    })
    expect(existsSync(calls[0]!.dockerConfigDir!)).toBe(false)
    expect(run.summary).toContain(
      '| Build provenance (signed by noblepay/deploy/.github/workflows/build.yml) | passed |'
    )
    expect(run.summary).toContain(
      'attested by `noblepay/deploy/.github/workflows/build.yml@refs/tags/v1` for noblepay/api'
    )
    // Only the runner's own mask commands may carry them.
    const shown = run.stdout.split('\n').filter(l => !l.startsWith('::add-mask::'))
    for (const text of [shown.join('\n'), run.stderr, run.summary]) {
      expect(text).not.toContain(TOKEN)
      expect(text).not.toContain(ECR_PASSWORD)
    }
    // The check came before the registration.
    const registered = ecs.calls.find(c => c.operation === 'RegisterTaskDefinition')!
    expect(calls[0]!.at).toBeLessThanOrEqual(registered.at)
  })

  it('refuses an image with no attestation before anything is registered, saying why', async () => {
    await gh.answer(noAttestationAnswer(DIGEST))
    const run = await deploy()
    expect(run.exitCode).toBe(1)
    expect(run.outputs.status).toBe('refused')
    expect(changes()).toEqual({ register: 0, update: 0 })
    expect(errorLines(run.stdout)).toEqual([
      `::error::Refused to deploy ${IMAGE}: it has no build provenance attestation signed by ${SIGNER} for ${CALLER} that verifies (gh attestation verify exited 1: ✗ No attestations found for subject ${DIGEST} Error: no attestations found). Deploy the image-digest that build.yml built and attested for this repository. Nothing was registered or changed.`
    ])
    expect(run.summary).toContain('| Status | refused |')
    expect(run.summary).toContain('| refused | not verified |')
  })

  it('refuses an image attested by another workflow', async () => {
    await gh.answer(otherSignerAnswer(DIGEST, SIGNER))
    const run = await deploy()
    expect(run.outputs.status).toBe('refused')
    expect(changes()).toEqual({ register: 0, update: 0 })
    expect(errorLines(run.stdout)[0]).toContain('no matching CertificateIdentity found')
  })

  it('refuses when gh exits 0 with no result for this digest', async () => {
    const other = `sha256:${'0b'.repeat(32)}`
    await gh.answer(verifiedAnswer({ digest: other, repository: CALLER, signerWorkflow: SIGNER }))
    const run = await deploy()
    expect(run.outputs.status).toBe('refused')
    expect(changes()).toEqual({ register: 0, update: 0 })
    expect(errorLines(run.stdout)[0]).toContain(
      `gh attestation verify succeeded, but none of the 1 result it returned is SLSA provenance of ${DIGEST} from ${CALLER} signed by ${SIGNER}.`
    )
  })

  it('refuses when gh is not there, naming what to install', async () => {
    await gh.answer(verifiedAnswer({ digest: DIGEST, repository: CALLER, signerWorkflow: SIGNER }))
    // Only the directory of no executable at all: the bundle itself runs by its absolute path.
    const run = await deploy({}, '/nonexistent')
    expect(run.outputs.status).toBe('refused')
    expect(changes()).toEqual({ register: 0, update: 0 })
    expect(errorLines(run.stdout)[0]).toContain(
      'the GitHub CLI (gh), which verifies build provenance, is not on PATH'
    )
  })

  it('refuses, within wait-for-minutes, a gh that does not answer', async () => {
    await gh.answer({ ...noAttestationAnswer(DIGEST), delayMs: 4000 })
    const run = await deploy({ 'wait-for-minutes': '0.02' })
    expect(run.outputs.status).toBe('refused')
    expect(changes()).toEqual({ register: 0, update: 0 })
    expect(errorLines(run.stdout)[0]).toContain(
      'gh attestation verify did not finish within the time wait-for-minutes leaves'
    )
    expect(run.durationMs).toBeLessThan(4000)
  })

  it('fails a tag, or a missing token, before any AWS call', async () => {
    const tagged = await deploy({ image: `${REGISTRY}/api:v1` })
    expect(errorLines(tagged.stdout)[0]).toMatch(
      /^::error::Input 'image' is '.*api:v1': with provenance-signer-workflow set, deploy by digest/
    )
    const tokenless = await deploy({ 'github-token': '' })
    expect(errorLines(tokenless.stdout)[0]).toMatch(
      /^::error::Input 'github-token' is empty: provenance-signer-workflow reads the attestations/
    )
    expect(ecs.calls).toEqual([])
    expect(await gh.calls()).toEqual([])
  })

  it('does not run for rollback-to', async () => {
    const run = await deploy({ image: '', 'rollback-to': 'api:1' })
    expect(run.outputs.status).toBe('succeeded')
    expect(await gh.calls()).toEqual([])
  })
})
