/**
 * The ECR stand-in's DescribeImageScanFindings, through the real AWS SDK client, in front of
 * the local registry tools/docker-up.sh starts (images are pushed to it over its HTTP API).
 */
import { createHash, randomBytes } from 'node:crypto'
import { DescribeImageScanFindingsCommand, ECRClient } from '@aws-sdk/client-ecr'
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
