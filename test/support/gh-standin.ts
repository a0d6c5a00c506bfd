/**
 * A stand-in `gh` executable for `gh attestation verify`: a directory to put first on PATH.
 * Each call records its argument list, whether GH_TOKEN was set (and to what), and the Docker
 * config it was given (read while it runs: the caller removes it afterwards), then answers as
 * the GitHub CLI does (cli/cli pkg/cmd/attestation/verify/verify.go):
 * - verified: exit 0, diagnostics on stderr, and with --format json an array of verification
 *   results on stdout (sigstore-go's VerificationResult: statement, signature.certificate with
 *   subjectAlternativeName, sourceRepositoryURI, runInvocationURI);
 * - not verified (no attestation, or none signed as required): exit 1, the reason on stderr;
 * - no authentication: exit 4 (gh's documented exit codes: 0 success, 1 error, 2 cancelled,
 *   4 authentication required).
 */
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface GhAnswer {
  exitCode: number
  stdout: string
  stderr: string
  /** Waits this long before answering, as gh does when GitHub or the registry is slow. */
  delayMs?: number
}

export interface GhCall {
  /** Wall-clock ms when gh ran. */
  at: number
  argv: string[]
  ghToken?: string
  dockerConfigDir?: string
  /** The Docker config.json as gh found it, parsed; undefined when there was none. */
  dockerConfig?: { auths?: Record<string, { auth?: string }> }
}

export interface GhStandin {
  /** The directory holding `gh`, to put first on PATH. */
  bin: string
  /** Environment the caller passes on so the stand-in finds its answer and its log. */
  env: Record<string, string>
  answer(answer: GhAnswer): Promise<void>
  calls(): Promise<GhCall[]>
}

const SCRIPT = `#!/usr/bin/env node
const fs = require('node:fs')
const path = require('node:path')
const dir = process.env.DOCKER_CONFIG
let dockerConfig
try { dockerConfig = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) } catch {}
fs.appendFileSync(process.env.GH_STANDIN_LOG, JSON.stringify({
  at: Date.now(), argv: process.argv.slice(2), ghToken: process.env.GH_TOKEN, dockerConfigDir: dir, dockerConfig
}) + '\\n')
const answer = JSON.parse(fs.readFileSync(process.env.GH_STANDIN_ANSWER, 'utf8'))
setTimeout(() => {
  process.stderr.write(answer.stderr)
  process.stdout.write(answer.stdout)
  process.exitCode = answer.exitCode
}, answer.delayMs ?? 0)
`

export async function startGhStandin(): Promise<GhStandin> {
  const bin = await mkdtemp(join(tmpdir(), 'gh-standin-'))
  const gh = join(bin, 'gh')
  await writeFile(gh, SCRIPT)
  await chmod(gh, 0o755)
  const log = join(bin, 'calls.jsonl')
  const answerFile = join(bin, 'answer.json')
  await writeFile(log, '')
  return {
    bin,
    env: { GH_STANDIN_LOG: log, GH_STANDIN_ANSWER: answerFile },
    answer: answer => writeFile(answerFile, JSON.stringify(answer)),
    calls: async () =>
      (await readFile(log, 'utf8'))
        .split('\n')
        .filter(line => line !== '')
        .map(line => JSON.parse(line) as GhCall)
  }
}

/** What gh prints for an image it verified: one SLSA provenance result per attestation. */
export function verifiedAnswer(attestation: {
  digest: string
  repository: string
  signerWorkflow: string
  ref?: string
  predicateType?: string
}): GhAnswer {
  const hex = attestation.digest.replace(/^sha256:/, '')
  const san = `https://github.com/${attestation.signerWorkflow}@${attestation.ref ?? 'refs/tags/v1'}`
  const result = {
    attestation: { bundle: { mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json' } },
    verificationResult: {
      mediaType: 'application/vnd.dev.sigstore.verificationresult+json;version=0.1',
      statement: {
        _type: 'https://in-toto.io/Statement/v1',
        subject: [{ name: 'registry/api', digest: { sha256: hex } }],
        predicateType: attestation.predicateType ?? 'https://slsa.dev/provenance/v1'
      },
      signature: {
        certificate: {
          certificateIssuer: 'CN=sigstore-intermediate,O=sigstore.dev',
          subjectAlternativeName: san,
          issuer: 'https://token.actions.githubusercontent.com',
          buildSignerURI: san,
          sourceRepositoryURI: `https://github.com/${attestation.repository}`,
          runInvocationURI: `https://github.com/${attestation.repository}/actions/runs/42/attempts/1`
        }
      },
      verifiedTimestamps: [{ type: 'Tlog', uri: 'https://rekor.sigstore.dev' }]
    }
  }
  return {
    exitCode: 0,
    stdout: JSON.stringify([result]),
    stderr: `Loaded digest ${attestation.digest} for oci://registry/api\nLoaded 1 attestation from GitHub API\n✓ Verification succeeded!\n`
  }
}

/** What gh prints when the image has no attestation at all. */
export function noAttestationAnswer(digest: string): GhAnswer {
  return {
    exitCode: 1,
    stdout: '',
    stderr: `Loaded digest ${digest} for oci://registry/api\n✗ No attestations found for subject ${digest}\n\nError: no attestations found\n`
  }
}

/** What gh prints when the attestations there were signed by another workflow. */
export function otherSignerAnswer(digest: string, signerWorkflow: string): GhAnswer {
  return {
    exitCode: 1,
    stdout: '',
    stderr: `Loaded digest ${digest} for oci://registry/api\nLoaded 1 attestation from GitHub API\n✗ Verification failed\n\nError: verifying with issuer "sigstore.dev": failed to verify certificate identity: no matching CertificateIdentity found, last error: expected SAN value to match regex "^https://github.com/${signerWorkflow}", got "https://github.com/noblepay/noblepay-api/.github/workflows/push.yml@refs/heads/main"\n`
  }
}
