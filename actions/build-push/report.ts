import { code, facts, section } from '../shared/summary.js'
import type { Builder } from './command.js'
import type { BuildPushConfig } from './config.js'
import type { RepositoryState } from './ecr.js'

/** Job summaries of build-push, built from what happened rather than from log text. */

export function builtSummary(result: {
  config: BuildPushConfig
  references: string[]
  digest: string
  sizeBytes: number
  buildSeconds: number
  builder: Builder
  pushed: boolean
  repositoryState: RepositoryState
}): string {
  const { config } = result
  return section(
    `Image ${result.pushed ? 'built and pushed' : 'built (not pushed)'}`,
    facts([
      ['Image', code(result.references[0] ?? '')],
      ['Digest', result.digest ? code(result.digest) : 'not pushed'],
      ['Tags', result.references.map(code).join(' ')],
      ['Size', result.sizeBytes > 0 ? formatBytes(result.sizeBytes) : undefined],
      ['Build time', `${result.buildSeconds.toFixed(1)} s`],
      ['Target', config.target || undefined],
      ['Builder', result.builder === 'buildx' ? 'docker buildx build' : 'docker build (BuildKit)'],
      [
        'Cache from',
        config.cacheFrom.length > 0 ? config.cacheFrom.map(code).join(' ') : undefined
      ],
      [
        'Repository',
        result.repositoryState === 'created'
          ? `${config.repository} (created, scan on push)`
          : undefined
      ]
    ])
  )
}

export function skippedSummary(result: {
  image: string
  digest: string
  verdict: 'attested' | 'identical'
  signerWorkflow: string
}): string {
  return section(
    'Image already in ECR: nothing pushed',
    facts([
      ['Image', code(result.image)],
      ['Digest', code(result.digest)],
      [
        'Why',
        result.verdict === 'attested'
          ? `the primary tag holds an image with a build provenance attestation of ${code(result.signerWorkflow)} for this commit`
          : 'the primary tag holds an image identical to this build'
      ]
    ])
  )
}

export function failedBuildSummary(result: {
  image: string
  dockerfile: string
  target: string
  exitCode: number
  excerpt: string[]
}): string {
  return section(
    'Image build failed',
    facts([
      ['Image', code(result.image)],
      ['Dockerfile', code(result.dockerfile)],
      ['Target', result.target || undefined],
      ['Exit code', result.exitCode]
    ]),
    `Last ${result.excerpt.length} lines of the build output (the whole output is in the log):`,
    ['```text', ...result.excerpt.map(line => line.replace(/```/g, "'''")), '```'].join('\n')
  )
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
}
