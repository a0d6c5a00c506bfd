import { jest } from '@jest/globals'
import type { RunCommand } from '../../actions/shared/exec.js'
import { Inputs } from '../../actions/shared/inputs.js'
import {
  checkProvenance,
  judgeProvenance,
  readProvenanceInputs,
  verifyArguments,
  type ProvenanceRequest
} from '../../actions/ecs-deploy/provenance.js'
import { noAttestationAnswer, verifiedAnswer, type GhAnswer } from '../support/gh-standin.js'

const DIGEST = `sha256:${'ab'.repeat(32)}`
const IMAGE = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/noblepay-api@${DIGEST}`
const SIGNER = 'noblepay/deploy/.github/workflows/build.yml'
const request: ProvenanceRequest = {
  image: IMAGE,
  repository: 'noblepay/noblepay-api',
  signerWorkflow: SIGNER,
  serverUrl: 'https://github.com'
}

const inputs = (values: Record<string, string>) => new Inputs(name => values[name] ?? '')
const read = (values: Record<string, string>) =>
  readProvenanceInputs(
    inputs({
      image: IMAGE,
      'github-token': 'ghs_x',
      'provenance-signer-workflow': SIGNER,
      ...values
    })
  )

describe('provenance-signer-workflow', () => {
  it('is off when empty, and for rollback-to', () => {
    expect(read({ 'provenance-signer-workflow': '' })).toEqual({ signerWorkflow: '' })
    expect(read({ image: '', 'rollback-to': 'previous' })).toEqual({ signerWorkflow: '' })
    expect(read({})).toEqual({ signerWorkflow: SIGNER })
  })

  it('fails a workflow with a ref or without its path, naming the input and the form', () => {
    for (const value of [
      `${SIGNER}@refs/tags/v1`,
      'noblepay/deploy',
      'build.yml',
      `https://github.com/${SIGNER}`
    ])
      expect(() => read({ 'provenance-signer-workflow': value })).toThrow(
        `Input 'provenance-signer-workflow' is '${value}': give the workflow that signs the build provenance as owner/repo/.github/workflows/<file>.yml`
      )
  })

  it('fails an image given by tag, and a missing token', () => {
    expect(() => read({ image: 'registry/noblepay-api:abc' })).toThrow(
      "Input 'image' is 'registry/noblepay-api:abc': with provenance-signer-workflow set, deploy by digest"
    )
    expect(() => read({ 'github-token': '' })).toThrow(
      "Input 'github-token' is empty: provenance-signer-workflow reads the attestations through the GitHub API"
    )
  })
})

describe('the gh command line', () => {
  it('verifies the OCI image for the calling repository, pinning the signer workflow, as JSON', () => {
    expect(verifyArguments(request)).toEqual([
      'attestation',
      'verify',
      `oci://${IMAGE}`,
      '--repo',
      'noblepay/noblepay-api',
      '--signer-workflow',
      SIGNER,
      '--format',
      'json'
    ])
  })
})

describe('reading what gh answered', () => {
  const verified = (overrides: Partial<Parameters<typeof verifiedAnswer>[0]> = {}) =>
    verifiedAnswer({
      digest: DIGEST,
      repository: request.repository,
      signerWorkflow: SIGNER,
      ...overrides
    })
  const refusal = (answer: GhAnswer & { notFound?: boolean; timedOut?: boolean }) => {
    const verdict = judgeProvenance(request, answer)
    if (verdict.verdict !== 'refuse') throw new Error(`passed: ${verdict.detail}`)
    return verdict
  }

  it('passes a verified SLSA provenance of this digest, this repository and signer, naming the ref that signed', () => {
    expect(judgeProvenance(request, verified())).toEqual({
      verdict: 'pass',
      detail:
        '`sha256:abababababab` attested by `noblepay/deploy/.github/workflows/build.yml@refs/tags/v1` for noblepay/noblepay-api, https://github.com/noblepay/noblepay-api/actions/runs/42/attempts/1'
    })
    // GitHub compares repository names without regard to case.
    expect(
      judgeProvenance(request, verified({ repository: 'NoblePay/NoblePay-API' })).verdict
    ).toBe('pass')
  })

  it("refuses gh's failure with its own words, and what to deploy instead", () => {
    expect(refusal(noAttestationAnswer(DIGEST))).toEqual({
      verdict: 'refuse',
      detail: 'not verified',
      reason: `Refused to deploy ${IMAGE}: it has no build provenance attestation signed by ${SIGNER} for noblepay/noblepay-api that verifies (gh attestation verify exited 1: ✗ No attestations found for subject ${DIGEST} Error: no attestations found). Deploy the image-digest that build.yml built and attested for this repository. Nothing was registered or changed.`
    })
  })

  it('refuses exit 4 as missing authentication, a missing gh, and a gh that did not finish', () => {
    expect(
      refusal({
        exitCode: 4,
        stdout: '',
        stderr: 'To get started with GitHub CLI, please run:  gh auth login\n'
      }).reason
    ).toContain(
      'gh attestation verify needs a token (exit 4: To get started with GitHub CLI, please run:  gh auth login). Pass github-token from a job with attestations: read.'
    )
    expect(refusal({ exitCode: 127, stdout: '', stderr: '', notFound: true }).detail).toBe(
      'gh not found'
    )
    expect(refusal({ exitCode: -1, stdout: '', stderr: '', timedOut: true }).detail).toBe(
      'gh did not answer'
    )
  })

  it('refuses a success that is not about this digest, repository, signer or predicate', () => {
    const others = {
      digest: verified({ digest: `sha256:${'cd'.repeat(32)}` }),
      repository: verified({ repository: 'noblepay/other-service' }),
      signer: verified({ signerWorkflow: 'noblepay/noblepay-api/.github/workflows/build.yml' }),
      // A workflow whose name only starts like ours.
      lookalike: verified({
        signerWorkflow: 'noblepay/deploy/.github/workflows/build.yml.evil.yml'
      }),
      predicate: verified({ predicateType: 'https://spdx.dev/Document/v2.3' }),
      empty: { exitCode: 0, stdout: '[]', stderr: '' },
      garbled: { exitCode: 0, stdout: 'not json', stderr: '' }
    }
    for (const [name, answer] of Object.entries(others))
      expect([name, refusal(answer).detail]).toEqual([name, 'no matching attestation'])
  })

  it('never repeats a line of output beyond what failed', () => {
    const answer = {
      exitCode: 1,
      stdout: '',
      stderr: 'progress 1\nprogress 2\nprogress 3\nprogress 4\n'
    }
    expect(refusal(answer).reason).toContain(
      '(gh attestation verify exited 1: progress 2 progress 3 progress 4)'
    )
  })
})

describe('the check, with its runner and registry login handed in', () => {
  it('refuses, without running gh, when the ECR login fails, naming the permissions', async () => {
    const run = jest.fn<RunCommand>()
    const secrets: string[] = []
    const outcome = await checkProvenance(
      request,
      'ghs_token',
      {
        run,
        registryAuth: () =>
          Promise.reject(
            new Error(
              'ECR GetAuthorizationToken failed: AccessDeniedException: not authorized to perform ecr:GetAuthorizationToken'
            )
          ),
        setSecret: value => secrets.push(value),
        info: () => undefined,
        timeout: () => new Promise(() => undefined)
      },
      60_000
    )
    expect(run).not.toHaveBeenCalled()
    expect(secrets).toEqual(['ghs_token'])
    expect(outcome).toEqual({
      kind: 'refused',
      reason: `Refused to deploy ${IMAGE}: gh reads its manifest from the registry, and the ECR login for it failed: ECR GetAuthorizationToken failed: AccessDeniedException: not authorized to perform ecr:GetAuthorizationToken. Grant the deploy role ecr:GetAuthorizationToken and ecr:BatchGetImage on the repository (see the setup guide). Nothing was registered or changed.`,
      summary: expect.stringContaining(
        '| Build provenance (signed by noblepay/deploy/.github/workflows/build.yml) | refused | no registry login |'
      )
    })
  })
})
