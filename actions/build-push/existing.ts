import { ActionError } from '../shared/errors.js'
import { lastLines, type RunCommand } from '../shared/exec.js'

/**
 * An image already under the primary tag in ECR is taken only when it is this job's own:
 * identical to the image this job builds from the commit, or carrying a build provenance
 * attestation that this repository's run of the signer workflow made for this commit. Any
 * other image there was pushed by someone else, and the build is refused: it is never
 * attested, deployed or overwritten on this job's word.
 */

/** How the existing image became acceptable. */
export type ExistingImageVerdict = 'attested' | 'identical'

/** The image under the tag in ECR: its manifest digest and, for a single image, its config digest. */
export interface ExistingImage {
  digest: string
  configDigest?: string
}

/**
 * Whether the image this build made is the one ECR holds. A local image's ID is a content
 * digest: of its config in Docker's classic image store, of its manifest in the containerd
 * image store. The config lists the layers' uncompressed digests (rootfs.diff_ids), which
 * Docker and containerd check when they unpack a pulled layer, so one config is one image.
 */
export function sameImage(localImageId: string, existing: ExistingImage): boolean {
  return (
    localImageId !== '' &&
    (localImageId === existing.digest || localImageId === existing.configDigest)
  )
}

/** The config digest a manifest (as BatchGetImage returns it) names; undefined for an index. */
export function manifestConfigDigest(manifest: string): string | undefined {
  try {
    const parsed = JSON.parse(manifest) as { config?: { digest?: unknown } }
    const digest = parsed.config?.digest
    return typeof digest === 'string' && /^sha256:[a-f0-9]{64}$/.test(digest) ? digest : undefined
  } catch {
    return undefined
  }
}

export interface AttestationQuery {
  /** registry/repository@sha256:… */
  image: string
  /** owner/name of the repository whose run attested it (GITHUB_REPOSITORY). */
  repository: string
  /** [host/]owner/repo/.github/workflows/file.yml that must have signed it. */
  signerWorkflow: string
  /** The commit the attestation must be for; empty leaves it out. */
  commit: string
}

/** `gh attestation verify` for one image: this repository, this signer workflow, this commit. */
export function attestationVerifyArgs(query: AttestationQuery): string[] {
  return [
    'attestation',
    'verify',
    `oci://${query.image}`,
    '--repo',
    query.repository,
    '--signer-workflow',
    query.signerWorkflow,
    ...(query.commit ? ['--source-digest', query.commit] : []),
    '--format',
    'json'
  ]
}

/**
 * Asks GitHub's CLI (on GitHub's runners) whether the image has such an attestation. The
 * token reaches gh in its environment only. Verified, or why not, in one line.
 */
export async function verifyAttestation(
  exec: RunCommand,
  query: AttestationQuery,
  token: string
): Promise<{ verified: boolean; reason: string }> {
  const result = await exec('gh', attestationVerifyArgs(query), {
    env: { GH_TOKEN: token },
    silent: true
  })
  if (result.notFound)
    return { verified: false, reason: 'gh (GitHub CLI 2.49 or newer) is not installed here' }
  if (result.exitCode === 0) return { verified: true, reason: '' }
  return {
    verified: false,
    reason: lastLines(result.stderr || result.output, 1).join('') || `exit code ${result.exitCode}`
  }
}

/** The refusal: the tag holds an image this job did not build and no attestation vouches for. */
export function foreignImageError(details: {
  reference: string
  existing: ExistingImage
  localImageId: string
  signerWorkflow: string
  attestationReason: string
}): ActionError {
  const { existing } = details
  const config =
    existing.configDigest && existing.configDigest !== details.localImageId
      ? ` (image config ${existing.configDigest})`
      : ''
  const attestation = details.signerWorkflow
    ? ` and has no build provenance attestation of ${details.signerWorkflow} for this repository and commit (${details.attestationReason})`
    : ''
  return new ActionError(
    `${details.reference} is already in ECR as ${existing.digest}${config}, which is not the image this build made (${details.localImageId || 'unknown'})${attestation}. Someone else pushed that tag: nothing was pushed or attested. Find who pushed it (CloudTrail PutImage), delete the tag once it is understood, and run the build again.`
  )
}
