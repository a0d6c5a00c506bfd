/**
 * The ECR stand-in's DescribeImageScanFindings, DescribeImages and BatchGetImage, through the real AWS SDK
 * client, in front of the local registry tools/docker-up.sh starts (images are pushed to it
 * over its HTTP API); and ecs-deploy's wait for a replicated image against it.
 */
import { createHash, randomBytes } from 'node:crypto'
import {
  BatchGetImageCommand,
  DescribeImagesCommand,
  DescribeImageScanFindingsCommand,
  ECRClient
} from '@aws-sdk/client-ecr'
import { EcrGateway, parseEcrImage } from '../../actions/ecs-deploy/ecr.js'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import { realClock } from '../../actions/shared/runner.js'
import { basicFinding, startEcrStandin, type EcrStandin } from '../../tools/ecr-standin/server.js'
import { basicAuth, localRegistry, type LocalRegistry } from '../support/docker.js'

let registry: LocalRegistry
let standin: EcrStandin
let ecr: ECRClient
const SCANNED = 'scan-standin-scanned'
const UNSCANNED = 'scan-standin-unscanned'

beforeAll(() => {
  registry = localRegistry()
})
beforeEach(async () => {
  standin = await startEcrStandin({
    registry: registry.url,
    username: registry.username,
    password: registry.password,
    repositories: [UNSCANNED]
  })
  standin.repositories.set(SCANNED, {
    repositoryName: SCANNED,
    scanOnPush: true,
    createdAt: Date.now() / 1000
  })
  ecr = new ECRClient({
    endpoint: standin.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 't', secretAccessKey: 't' },
    maxAttempts: 1
  })
})
afterEach(async () => {
  ecr.destroy()
  await standin.close()
})

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`
const randomDigest = () => sha256(randomBytes(16))

/** Pushes a one-layer image to the local registry over its HTTP API; returns its digest. */
async function pushImage(repository: string): Promise<string> {
  const authorization = basicAuth(registry)
  const upload = async (blob: Buffer) => {
    const started = await fetch(`${registry.url}/v2/${repository}/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization }
    })
    const location = new URL(started.headers.get('location') ?? '', registry.url)
    location.searchParams.set('digest', sha256(blob))
    const put = await fetch(location, {
      method: 'PUT',
      headers: { authorization, 'content-type': 'application/octet-stream' },
      body: blob
    })
    if (put.status !== 201) throw new Error(`blob upload answered ${put.status}`)
    return { digest: sha256(blob), size: blob.length }
  }
  const layer = await upload(randomBytes(64))
  const config = await upload(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [layer.digest] }
      })
    )
  )
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }]
    })
  )
  const put = await fetch(`${registry.url}/v2/${repository}/manifests/v1`, {
    method: 'PUT',
    headers: { authorization, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    body: manifest
  })
  if (put.status !== 201) throw new Error(`manifest upload answered ${put.status}`)
  return put.headers.get('docker-content-digest') ?? ''
}

const describe_ = (
  repositoryName: string,
  imageId: { imageDigest?: string; imageTag?: string },
  extra: { maxResults?: number; nextToken?: string; registryId?: string } = {}
) => ecr.send(new DescribeImageScanFindingsCommand({ repositoryName, imageId, ...extra }))

const errorName = async (promise: Promise<unknown>) => {
  try {
    await promise
  } catch (error) {
    return (error as Error).name
  }
  return 'no error'
}

describe('ECR stand-in: DescribeImageScanFindings', () => {
  it('reports findings a test set, with ECR counts per severity, paged by maxResults', async () => {
    const digest = randomDigest()
    standin.setScanFindings(digest, {
      findings: [
        basicFinding('CVE-2024-1', 'CRITICAL', 'openssl', '3.0.1'),
        basicFinding('CVE-2024-2', 'HIGH', 'zlib', '1.2.11'),
        basicFinding('CVE-2024-3', 'HIGH')
      ]
    })
    const first = await describe_(UNSCANNED, { imageDigest: digest }, { maxResults: 2 })
    expect(first.imageScanStatus).toEqual({
      status: 'COMPLETE',
      description: 'The scan was completed successfully.'
    })
    expect(first.imageScanFindings?.findingSeverityCounts).toEqual({ CRITICAL: 1, HIGH: 2 })
    expect(first.imageScanFindings?.imageScanCompletedAt).toBeInstanceOf(Date)
    expect(first.imageScanFindings?.findings?.map(f => f.name)).toEqual([
      'CVE-2024-1',
      'CVE-2024-2'
    ])
    expect(first.imageScanFindings?.findings?.[0]?.attributes).toEqual([
      { key: 'package_version', value: '3.0.1' },
      { key: 'package_name', value: 'openssl' }
    ])
    expect(first.nextToken).toBeDefined()
    const second = await describe_(
      UNSCANNED,
      { imageDigest: digest },
      { maxResults: 2, nextToken: first.nextToken }
    )
    expect(second.imageScanFindings?.findings?.map(f => f.name)).toEqual(['CVE-2024-3'])
    expect(second.nextToken).toBeUndefined()
  })

  it('keeps a scan IN_PROGRESS for the time set, then completes it', async () => {
    const digest = randomDigest()
    standin.setScanFindings(digest, { inProgressMs: 400, findings: [] })
    const during = await describe_(UNSCANNED, { imageDigest: digest })
    expect(during.imageScanStatus?.status).toBe('IN_PROGRESS')
    expect(during.imageScanFindings).toBeUndefined()
    await new Promise(resolve => setTimeout(resolve, 450))
    const after = await describe_(UNSCANNED, { imageDigest: digest })
    expect(after.imageScanStatus?.status).toBe('COMPLETE')
    expect(after.imageScanFindings?.findings).toEqual([])
  })

  it('answers ScanNotFoundException for an image set as never scanned, and a FAILED scan as such', async () => {
    const never = randomDigest()
    standin.setScanFindings(never, 'no-scan')
    expect(await errorName(describe_(UNSCANNED, { imageDigest: never }))).toBe(
      'ScanNotFoundException'
    )
    const failed = randomDigest()
    standin.setScanFindings(failed, { status: 'FAILED', description: 'The image is corrupt.' })
    const answer = await describe_(UNSCANNED, { imageDigest: failed })
    expect(answer.imageScanStatus).toEqual({
      status: 'FAILED',
      description: 'The image is corrupt.'
    })
    expect(answer.imageScanFindings).toBeUndefined()
  })

  it('serves enhanced (Inspector) findings as ACTIVE, their times read as dates', async () => {
    const digest = randomDigest()
    standin.setScanFindings(digest, {
      enhancedFindings: [
        {
          severity: 'HIGH',
          status: 'ACTIVE',
          title: 'CVE-2024-5 - glibc',
          firstObservedAt: 1_764_000_000,
          packageVulnerabilityDetails: {
            vulnerabilityId: 'CVE-2024-5',
            vulnerablePackages: [{ name: 'glibc', version: '2.36' }]
          }
        }
      ]
    })
    const answer = await describe_(UNSCANNED, { imageDigest: digest })
    expect(answer.imageScanStatus?.status).toBe('ACTIVE')
    expect(answer.imageScanFindings?.findingSeverityCounts).toEqual({ HIGH: 1 })
    expect(answer.imageScanFindings?.enhancedFindings?.[0]).toMatchObject({
      firstObservedAt: new Date(1_764_000_000_000),
      packageVulnerabilityDetails: { vulnerablePackages: [{ name: 'glibc', version: '2.36' }] }
    })
  })

  it('looks an image without a setting up in the registry: clean when its repository scans on push, unscanned otherwise', async () => {
    const scanned = await pushImage(SCANNED)
    const answer = await describe_(SCANNED, { imageDigest: scanned })
    expect(answer.imageScanStatus?.status).toBe('COMPLETE')
    expect(answer.imageScanFindings?.findingSeverityCounts).toEqual({})
    expect(answer.imageId?.imageDigest).toBe(scanned)
    // By tag too, as ECR allows.
    expect((await describe_(SCANNED, { imageTag: 'v1' })).imageId?.imageDigest).toBe(scanned)

    const unscanned = await pushImage(UNSCANNED)
    expect(await errorName(describe_(UNSCANNED, { imageDigest: unscanned }))).toBe(
      'ScanNotFoundException'
    )
  })

  it('answers ImageNotFoundException and RepositoryNotFoundException as ECR does', async () => {
    expect(await errorName(describe_(UNSCANNED, { imageDigest: randomDigest() }))).toBe(
      'ImageNotFoundException'
    )
    const digest = randomDigest()
    standin.setScanFindings(digest, { findings: [] })
    expect(await errorName(describe_('nowhere', { imageDigest: digest }))).toBe(
      'RepositoryNotFoundException'
    )
    expect(
      await errorName(describe_(UNSCANNED, { imageDigest: digest }, { registryId: '999999999999' }))
    ).toBe('RepositoryNotFoundException')
    expect(
      (await describe_(UNSCANNED, { imageDigest: digest }, { registryId: '123456789012' }))
        .imageScanStatus?.status
    ).toBe('COMPLETE')
  })
})

describe('ECR stand-in: BatchGetImage', () => {
  it('returns a pushed image’s manifest by digest or tag; a missing image is a failure entry, not an error', async () => {
    const digest = await pushImage(UNSCANNED)
    const missing = randomDigest()
    const found = await ecr.send(
      new BatchGetImageCommand({
        repositoryName: UNSCANNED,
        imageIds: [{ imageDigest: digest }, { imageTag: 'v1' }, { imageDigest: missing }],
        acceptedMediaTypes: ['application/vnd.oci.image.manifest.v1+json']
      })
    )
    expect(found.images?.map(image => image.imageId?.imageDigest)).toEqual([digest, digest])
    const manifest = JSON.parse(found.images?.[0]?.imageManifest ?? '{}') as {
      config?: { digest?: string }
    }
    expect(manifest.config?.digest).toMatch(/^sha256:[a-f0-9]{64}$/)
    expect(sha256(Buffer.from(found.images?.[0]?.imageManifest ?? ''))).toBe(digest)
    expect(found.images?.[0]?.imageManifestMediaType).toBe(
      'application/vnd.oci.image.manifest.v1+json'
    )
    expect(found.failures).toEqual([
      {
        imageId: { imageDigest: missing },
        failureCode: 'ImageNotFound',
        failureReason: expect.any(String)
      }
    ])
    expect(
      await errorName(
        ecr.send(
          new BatchGetImageCommand({
            repositoryName: 'nowhere',
            imageIds: [{ imageDigest: digest }]
          })
        )
      )
    ).toBe('RepositoryNotFoundException')
  })
})

describe('ECR stand-in: DescribeImages', () => {
  const describeImages = (
    repositoryName: string,
    imageId: { imageDigest?: string; imageTag?: string },
    registryId?: string
  ) => ecr.send(new DescribeImagesCommand({ repositoryName, imageIds: [imageId], registryId }))

  it('finds a pushed image by digest and by tag, and answers ImageNotFoundException for a digest the registry does not hold', async () => {
    const digest = await pushImage(UNSCANNED)
    const byDigest = await describeImages(UNSCANNED, { imageDigest: digest })
    expect(byDigest.imageDetails?.map(d => [d.repositoryName, d.imageDigest])).toEqual([
      [UNSCANNED, digest]
    ])
    expect(byDigest.imageDetails?.[0]?.imagePushedAt).toBeInstanceOf(Date)
    expect(
      (await describeImages(UNSCANNED, { imageTag: 'v1' })).imageDetails?.[0]?.imageDigest
    ).toBe(digest)
    expect(await errorName(describeImages(UNSCANNED, { imageDigest: randomDigest() }))).toBe(
      'ImageNotFoundException'
    )
    // A tag that points at another digest is not that image.
    expect(
      await errorName(describeImages(UNSCANNED, { imageTag: 'v1', imageDigest: randomDigest() }))
    ).toBe('ImageNotFoundException')
  })

  it('answers RepositoryNotFoundException for a repository missing here or in another registry', async () => {
    const digest = await pushImage(UNSCANNED)
    expect(await errorName(describeImages('nowhere', { imageDigest: digest }))).toBe(
      'RepositoryNotFoundException'
    )
    expect(
      await errorName(describeImages(UNSCANNED, { imageDigest: digest }, '999999999999'))
    ).toBe('RepositoryNotFoundException')
    expect(
      (await describeImages(UNSCANNED, { imageDigest: digest }, '123456789012')).imageDetails
    ).toHaveLength(1)
  })

  it('keeps a replica missing until its lag has passed since the first request naming it', async () => {
    const digest = await pushImage(UNSCANNED)
    standin.setReplicationLag(digest, 400)
    const asked = Date.now()
    expect(await errorName(describeImages(UNSCANNED, { imageDigest: digest }))).toBe(
      'ImageNotFoundException'
    )
    // Its scan is missing with it.
    standin.setScanFindings(digest, { findings: [] })
    expect(await errorName(describe_(UNSCANNED, { imageDigest: digest }))).toBe(
      'ImageNotFoundException'
    )
    await new Promise(resolve => setTimeout(resolve, Math.max(0, asked + 450 - Date.now())))
    expect((await describeImages(UNSCANNED, { imageDigest: digest })).imageDetails).toHaveLength(1)
    expect((await describe_(UNSCANNED, { imageDigest: digest })).imageScanStatus?.status).toBe(
      'COMPLETE'
    )
  })

  it('never lets a replica with an infinite lag arrive', async () => {
    const digest = await pushImage(UNSCANNED)
    standin.setReplicationLag(digest, Infinity)
    for (let i = 0; i < 3; i++) {
      expect(await errorName(describeImages(UNSCANNED, { imageDigest: digest }))).toBe(
        'ImageNotFoundException'
      )
    }
  })

  describe("ecs-deploy's wait for the image", () => {
    const waitFor = async (digest: string, deadlineMs: number) => {
      const caller = new AwsCaller({
        clock: realClock,
        deadline: Date.now() + deadlineMs,
        attemptTimeoutMs: 2_000,
        backoffMs: 50,
        maxBackoffMs: 200
      })
      const lines: string[] = []
      const image = parseEcrImage(
        `${registry.url.replace(/^https?:\/\//, '')}/${UNSCANNED}@${digest}`,
        true
      )
      const presence = await new EcrGateway(ecr, caller, 'us-east-1').waitForImage(image, {
        deadline: Date.now() + deadlineMs,
        pollMs: 100,
        onPoll: line => lines.push(line)
      })
      return { presence, lines }
    }

    it('waits for a replica that arrives after a lag, one line per look', async () => {
      const digest = await pushImage(UNSCANNED)
      standin.setReplicationLag(digest, 500)
      const { presence, lines } = await waitFor(digest, 10_000)
      expect(presence).toMatchObject({ kind: 'present' })
      expect(presence.kind === 'present' && presence.waitedMs).toBeGreaterThanOrEqual(400)
      expect(lines.length).toBeGreaterThanOrEqual(3)
      expect(lines[0]).toMatch(
        /^\[0s\] ECR image scan-standin-unscanned@sha256:[0-9a-f]{12} is not in us-east-1 yet \(ImageNotFoundException\); looking again in 0s\.$/
      )
      const calls = standin.calls.filter(c => c.operation === 'DescribeImages')
      expect(calls.length).toBe(lines.length + 1)
      expect(
        calls.every(
          c => JSON.stringify(c.input.imageIds) === JSON.stringify([{ imageDigest: digest }])
        )
      ).toBe(true)
    })

    it('gives up at its deadline on a replica that never arrives', async () => {
      const digest = await pushImage(UNSCANNED)
      standin.setReplicationLag(digest, Infinity)
      const started = Date.now()
      const { presence } = await waitFor(digest, 700)
      expect(presence).toMatchObject({
        kind: 'missing',
        what: 'image',
        error: 'ImageNotFoundException'
      })
      expect(Date.now() - started).toBeLessThan(2_000)
    })
  })
})
