import type { BuildPushConfig } from './config.js'

/**
 * The docker command lines build-push runs, as argument arrays. Pure: typed inputs in,
 * arguments out, so every flag is unit-tested without Docker.
 */

/** `buildx` where the plugin answers (GitHub's runners), else the classic CLI with BuildKit. */
export type Builder = 'buildx' | 'classic'

/** What the commit, the repository and the clock say about the image. */
export interface Provenance {
  revision: string
  source: string
  created: string
  /**
   * Seconds since the epoch of `created`, when it comes from the source (the commit or the
   * caller's SOURCE_DATE_EPOCH) rather than the clock: passed as the SOURCE_DATE_EPOCH build
   * argument, with which BuildKit 0.11+ writes that time into the image config and history
   * instead of the build's, so a rebuild of the commit from cache is the same image.
   */
  sourceDateEpoch?: number
}

export const OCI_LABELS = {
  revision: 'org.opencontainers.image.revision',
  source: 'org.opencontainers.image.source',
  created: 'org.opencontainers.image.created'
} as const

/** `registry/repository:tag` for every tag, the primary first. */
export function imageReferences(registry: string, repository: string, tags: string[]): string[] {
  return tags.map(tag => `${registry}/${repository}:${tag}`)
}

/**
 * The OCI labels for revision, source and created, always, then the user's labels. A user
 * label with the same key wins; an unknown value (a local run without GITHUB_SHA) is left out.
 */
export function imageLabels(
  user: Array<[string, string]>,
  provenance: Provenance
): Array<[string, string]> {
  const userKeys = new Set(user.map(([key]) => key))
  const oci: Array<[string, string]> = [
    [OCI_LABELS.revision, provenance.revision],
    [OCI_LABELS.source, provenance.source],
    [OCI_LABELS.created, provenance.created]
  ]
  return [...oci.filter(([key, value]) => value !== '' && !userKeys.has(key)), ...user]
}

/**
 * The build argument the smoke gate reads back: a service's image reports APP_VERSION as
 * its /health `version`, and the deploy expects the commit there.
 */
export const APP_VERSION = 'APP_VERSION'

/**
 * The caller's build arguments, and APP_VERSION=<commit> when they do not set it (theirs
 * stands when they do). Without a commit (a local run) nothing is added.
 */
export function buildArguments(
  user: Array<[string, string]>,
  revision: string
): Array<[string, string]> {
  if (revision === '' || user.some(([key]) => key === APP_VERSION)) return user
  return [...user, [APP_VERSION, revision]]
}

export interface BuildCommand {
  args: string[]
  env: Record<string, string>
}

export function buildCommand(
  config: Pick<
    BuildPushConfig,
    'context' | 'dockerfile' | 'target' | 'buildArgs' | 'labels' | 'cacheFrom'
  >,
  references: string[],
  provenance: Provenance,
  builder: Builder
): BuildCommand {
  const args = builder === 'buildx' ? ['buildx', 'build'] : ['build']
  args.push('--file', config.dockerfile)
  if (config.target !== '') args.push('--target', config.target)
  for (const [key, value] of buildArguments(config.buildArgs, provenance.revision))
    args.push('--build-arg', `${key}=${value}`)
  if (
    provenance.sourceDateEpoch !== undefined &&
    !config.buildArgs.some(([key]) => key === 'SOURCE_DATE_EPOCH')
  )
    args.push('--build-arg', `SOURCE_DATE_EPOCH=${provenance.sourceDateEpoch}`)
  // Writes the cache metadata into the image, so the next build can use it via --cache-from.
  args.push('--build-arg', 'BUILDKIT_INLINE_CACHE=1')
  for (const [key, value] of imageLabels(config.labels, provenance))
    args.push('--label', `${key}=${value}`)
  for (const reference of config.cacheFrom) args.push('--cache-from', reference)
  if (builder === 'buildx') {
    // A docker-container builder (setup-buildx-action's default) keeps images to itself
    // unless told to load them; inline cache is exported by --cache-to there.
    args.push('--cache-to', 'type=inline', '--load')
  }
  for (const reference of references) args.push('--tag', reference)
  args.push('--progress', 'plain', config.context)
  return { args, env: { DOCKER_BUILDKIT: '1' } }
}

export function loginArgs(registry: string): string[] {
  return ['login', '--username', 'AWS', '--password-stdin', registry]
}

export function logoutArgs(registry: string): string[] {
  return ['logout', registry]
}

/** The manifest digest `docker push` reports: `<tag>: digest: sha256:… size: 1234`. */
export function pushedDigest(output: string): string | undefined {
  const matches = [...output.matchAll(/digest: (sha256:[a-f0-9]{64})/g)]
  return matches.at(-1)?.[1]
}

/** The digest of `repository` among an image's RepoDigests (`registry/repository@sha256:…`). */
export function repoDigest(
  repoDigests: string[],
  registry: string,
  repository: string
): string | undefined {
  const prefix = `${registry}/${repository}@`
  return repoDigests.find(entry => entry.startsWith(prefix))?.slice(prefix.length)
}
