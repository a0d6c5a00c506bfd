/**
 * build-push against real Docker, the local registry and the ECR stand-in: cold (empty
 * BuildKit cache), warm (a new commit on a warm cache), cache-from only (empty local cache,
 * inline cache from the pushed image), and a re-run of the same commit (skip-if-exists).
 * Needs `bash tools/docker-up.sh`; without Docker it reports why and measures nothing.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startEcrStandin } from '../../tools/ecr-standin/server.js'
import {
  BASE_IMAGES,
  docker,
  dockerPath,
  REPOSITORY_ROOT,
  requireDockerSetup,
  runBundle
} from '../../test/support/docker.js'

interface Row {
  metric: string
  value: string
  note?: string
}

export async function benchBuildPush(): Promise<Row[]> {
  let registry
  try {
    registry = await requireDockerSetup()
  } catch (error) {
    return [{ metric: 'build-push', value: 'skipped', note: (error as Error).message }]
  }
  const run = randomBytes(3).toString('hex')
  const repository = `bench-api-${run}`
  const ecr = await startEcrStandin({
    registry: registry.url,
    username: registry.username,
    password: registry.password,
    repositories: [repository]
  })
  const dockerConfig = mkdtempSync(join(tmpdir(), 'bench-docker-'))
  const build = async (commit: string) => {
    const result = await runBundle('build-push', {
      inputs: {
        repository,
        context: 'test/fixtures/service',
        target: 'runtime',
        'build-args': `BASE=${BASE_IMAGES.node}\nAPP_VERSION=${commit}`,
        tags: commit,
        'cache-from': `${registry.host}/${repository}:main`
      },
      env: {
        AWS_ENDPOINT_URL_ECR: ecr.endpoint,
        AWS_REGION: 'eu-west-1',
        AWS_ACCESS_KEY_ID: 'bench',
        AWS_SECRET_ACCESS_KEY: 'bench',
        DOCKER_CONFIG: dockerConfig,
        GITHUB_SHA: commit,
        GITHUB_WORKSPACE: REPOSITORY_ROOT,
        PATH: dockerPath()
      }
    })
    if (result.exitCode !== 0) throw new Error(`build-push failed:\n${result.stdout}`)
    return result
  }
  const commit = () => randomBytes(20).toString('hex')
  try {
    docker(['builder', 'prune', '--all', '--force'])
    const first = commit()
    const cold = await build(first)
    // Give later builds an inline cache to pull from, as a service's `main` tag would.
    docker(['tag', cold.outputs.image, `${registry.host}/${repository}:main`])
    docker(['push', `${registry.host}/${repository}:main`], { DOCKER_CONFIG: dockerConfig })
    const skip = await build(first)
    const warm = await build(commit())
    docker(['builder', 'prune', '--all', '--force'])
    const fromCache = await build(commit())
    return [
      {
        metric: 'build-push: cold build and push',
        value: `${(cold.durationMs / 1000).toFixed(1)} s`,
        note: 'empty BuildKit cache, local base image'
      },
      {
        metric: 'build-push: warm build and push',
        value: `${(warm.durationMs / 1000).toFixed(1)} s`,
        note: 'new commit, local cache'
      },
      {
        metric: 'build-push: cache-from build and push',
        value: `${(fromCache.durationMs / 1000).toFixed(1)} s`,
        note: 'empty local cache, inline cache of :main'
      },
      {
        metric: 'build-push: re-run (skip-if-exists)',
        value: `${(skip.durationMs / 1000).toFixed(2)} s`,
        note: `built=${skip.outputs.built}`
      }
    ]
  } finally {
    await ecr.close()
    rmSync(dockerConfig, { recursive: true, force: true })
    const images = docker(['images', '--format', '{{.Repository}}:{{.Tag}}'])
      .split('\n')
      .filter(i => i.includes(repository))
    if (images.length > 0) docker(['rmi', '--force', ...images])
  }
}
