/**
 * A stand-in for Amazon ECR's control plane that speaks its real wire protocol (JSON 1.1,
 * `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Operation>`) and is backed by a real
 * Docker registry for the data plane: GetAuthorizationToken hands out that registry's own
 * login, and DescribeImages asks that registry which manifest a tag points at. Point the AWS
 * SDK at it with AWS_ENDPOINT_URL_ECR.
 *
 * DescribeImageScanFindings answers as ECR documents it. A test sets an image's scan with
 * `setScanFindings(digest, …)`: its findings (basic or enhanced shapes), how long it stays
 * IN_PROGRESS, or that it ends FAILED; `'no-scan'` makes it ScanNotFoundException. An image
 * without such a setting is looked up in the registry (ImageNotFoundException when it is not
 * there); it has a clean COMPLETE scan when its repository scans on push, and none otherwise.
 *
 * BatchGetImage returns an image's manifest from that registry; a missing one is a failure
 * entry, not an error.
 *
 * DescribeImages finds an image by tag or digest in the registry, and answers
 * ImageNotFoundException for one that is not there, as ECR does. `setReplicationLag(digest, ms)`
 * plays a secondary region's replica: the image is missing (from DescribeImages and
 * DescribeImageScanFindings) until that long after the first request naming it; Infinity
 * never lets it arrive, as when replication is not set up.
 */
import { AwsServiceError, startJson11Server, type CallRecord } from '../shared/json11.js'

export interface EcrStandinOptions {
  /** The real registry's URL, e.g. http://127.0.0.1:5000; also the proxy endpoint handed out. */
  registry: string
  username: string
  password: string
  port?: number
  /** Repositories that exist from the start (others exist once created). */
  repositories?: string[]
  accountId?: string
  region?: string
  /** How long a token lasts; ECR's are 12 hours. */
  tokenLifetimeSeconds?: number
}

/** One call as the stand-in received it. */
export type EcrCall = CallRecord

export interface RepositoryRecord {
  repositoryName: string
  scanOnPush: boolean
  createdAt: number
}

/** A basic scanning finding as ECR lists it. */
export interface BasicFinding {
  name: string
  severity: string
  description?: string
  uri?: string
  attributes?: Array<{ key: string; value: string }>
}

/** An image's scan, as a test wants ECR to report it. */
export interface ScanSpec {
  /**
   * How long the scan stays IN_PROGRESS, from the first DescribeImageScanFindings of the image
   * (so the time a client takes to start does not eat it); default 0.
   */
  inProgressMs?: number
  /** The status once it is done; default COMPLETE (ACTIVE for enhanced scanning). */
  status?: string
  /** ECR's description of that status. */
  description?: string
  /** Basic scanning findings. */
  findings?: BasicFinding[]
  /** Enhanced scanning (Amazon Inspector) findings, in their wire shape (times in epoch seconds). */
  enhancedFindings?: Array<Record<string, unknown>>
}

export interface EcrStandin {
  endpoint: string
  readonly calls: readonly EcrCall[]
  repositories: Map<string, RepositoryRecord>
  /** Sets the scan of the image with this digest, in any repository; 'no-scan': never scanned. */
  setScanFindings(digest: string, scan: ScanSpec | 'no-scan'): void
  /**
   * The image with this digest arrives `lagMs` after the first request that names it (as a
   * replica does after the push); until then ECR answers ImageNotFoundException. Infinity:
   * it never arrives.
   */
  setReplicationLag(digest: string, lagMs: number): void
  /** ECR holds an image with this digest, in any repository, though the local registry does not. */
  holdImage(digest: string): void
  close(): Promise<void>
}

/** A basic finding with its package, as ECR's basic scanning reports one. */
export function basicFinding(
  name: string,
  severity: string,
  packageName?: string,
  packageVersion?: string
): BasicFinding {
  return {
    name,
    severity,
    uri: `https://cve.example/${name}`,
    attributes: [
      ...(packageVersion ? [{ key: 'package_version', value: packageVersion }] : []),
      ...(packageName ? [{ key: 'package_name', value: packageName }] : [])
    ]
  }
}

const TARGET_PREFIX = 'AmazonEC2ContainerRegistry_V20150921.'

const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json'
]

class EcrError extends AwsServiceError {}

export async function startEcrStandin(options: EcrStandinOptions): Promise<EcrStandin> {
  const accountId = options.accountId ?? '123456789012'
  const region = options.region ?? 'us-east-1'
  const registryUrl = options.registry.replace(/\/+$/, '')
  const registryHost = registryUrl.replace(/^[a-z]+:\/\//i, '')
  const repositories = new Map<string, RepositoryRecord>()
  for (const name of options.repositories ?? []) {
    repositories.set(name, {
      repositoryName: name,
      scanOnPush: false,
      createdAt: Date.now() / 1000
    })
  }
  /** Scans set by a test; `startedAt` is the first read of the image's scan. */
  const scans = new Map<string, { spec: ScanSpec | 'no-scan'; startedAt?: number }>()
  const held = new Set<string>()
  const basicAuth = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`
  /** Replicas still on their way; `askedAt` is the first request naming the digest. */
  const lags = new Map<string, { lagMs: number; askedAt?: number }>()
  /** Whether a replica has arrived; the first request naming it starts its clock. */
  const arrived = (digest: string): boolean => {
    const lag = lags.get(digest)
    if (!lag) return true
    lag.askedAt ??= Date.now()
    return Date.now() >= lag.askedAt + lag.lagMs
  }

  const describeRepository = (record: RepositoryRecord) => ({
    repositoryArn: `arn:aws:ecr:${region}:${accountId}:repository/${record.repositoryName}`,
    registryId: accountId,
    repositoryName: record.repositoryName,
    repositoryUri: `${registryHost}/${record.repositoryName}`,
    createdAt: record.createdAt,
    imageTagMutability: 'MUTABLE',
    imageScanningConfiguration: { scanOnPush: record.scanOnPush },
    encryptionConfiguration: { encryptionType: 'AES256' }
  })

  const requireRepository = (name: unknown): RepositoryRecord => {
    const record = typeof name === 'string' ? repositories.get(name) : undefined
    if (!record) {
      throw new EcrError(
        'RepositoryNotFoundException',
        `The repository with name '${String(name)}' does not exist in the registry with id '${accountId}'`
      )
    }
    return record
  }

  /** The manifest digest a tag (or a digest) points at, asked of the real registry. */
  const manifestDigest = async (repository: string, tag: string): Promise<string | undefined> => {
    const response = await fetch(
      `${registryUrl}/v2/${repository}/manifests/${encodeURIComponent(tag)}`,
      {
        method: 'HEAD',
        headers: { Authorization: basicAuth, Accept: MANIFEST_TYPES.join(', ') }
      }
    )
    if (response.status === 404) return undefined
    if (!response.ok)
      throw new EcrError(
        'ServerException',
        `The registry answered HTTP ${response.status} for ${repository}:${tag}`
      )
    return response.headers.get('docker-content-digest') ?? undefined
  }

  /** The page of `items` that starts at nextToken (an offset), and the token of the next one. */
  const pageOf = <T>(items: T[], input: Record<string, unknown>) => {
    const start = typeof input.nextToken === 'string' ? Number(input.nextToken) : 0
    const size = typeof input.maxResults === 'number' ? input.maxResults : 100
    if (!Number.isInteger(start) || start < 0 || size < 1 || size > 1000) {
      throw new EcrError(
        'InvalidParameterException',
        'Invalid parameter: nextToken or maxResults (1 to 1000) is not valid'
      )
    }
    const next = start + size < items.length ? String(start + size) : undefined
    return { items: items.slice(start, start + size), next }
  }

  /** The repository a request names, in this registry (another registryId does not have it). */
  const requestedRepository = (input: Record<string, unknown>): RepositoryRecord => {
    const record = requireRepository(input.repositoryName)
    if (input.registryId !== undefined && input.registryId !== accountId) {
      throw new EcrError(
        'RepositoryNotFoundException',
        `The repository with name '${record.repositoryName}' does not exist in the registry with id '${String(input.registryId)}'`
      )
    }
    return record
  }

  const describeScanFindings = async (input: Record<string, unknown>) => {
    const record = requestedRepository(input)
    const id = (input.imageId ?? {}) as { imageTag?: string; imageDigest?: string }
    const imageId = `{imageDigest:'${id.imageDigest ?? 'null'}', imageTag:'${id.imageTag ?? 'null'}'}`
    const notFound = () =>
      new EcrError(
        'ImageNotFoundException',
        `The image with imageId ${imageId} does not exist within the repository with name '${record.repositoryName}' in the registry with id '${accountId}'`
      )
    let digest = id.imageDigest
    if (!digest && id.imageTag) digest = await manifestDigest(record.repositoryName, id.imageTag)
    if (!digest || !arrived(digest)) throw notFound()
    let scan = scans.get(digest)
    if (!scan) {
      const present = await manifestDigest(record.repositoryName, digest)
      if (present !== digest) throw notFound()
      scan = { spec: record.scanOnPush ? {} : 'no-scan' }
    }
    if (scan.spec === 'no-scan') {
      throw new EcrError(
        'ScanNotFoundException',
        `Image scan does not exist for the image with '${imageId}' in the repository with name '${record.repositoryName}' in the registry with id '${accountId}'`
      )
    }
    const spec = scan.spec
    const head = {
      registryId: accountId,
      repositoryName: record.repositoryName,
      imageId: { imageDigest: digest, ...(id.imageTag ? { imageTag: id.imageTag } : {}) }
    }
    scan.startedAt ??= Date.now()
    const finishedAt = scan.startedAt + (spec.inProgressMs ?? 0)
    if (Date.now() < finishedAt) {
      return {
        ...head,
        imageScanStatus: { status: 'IN_PROGRESS', description: 'The scan is in progress.' }
      }
    }
    const enhanced = spec.enhancedFindings !== undefined
    const status = spec.status ?? (enhanced ? 'ACTIVE' : 'COMPLETE')
    const description =
      spec.description ??
      (status === 'COMPLETE'
        ? 'The scan was completed successfully.'
        : status === 'ACTIVE'
          ? 'Continuous scan is selected for image.'
          : undefined)
    if (status !== 'COMPLETE' && status !== 'ACTIVE') {
      return { ...head, imageScanStatus: { status, ...(description ? { description } : {}) } }
    }
    const basic = spec.findings ?? []
    const inspector = spec.enhancedFindings ?? []
    const findingSeverityCounts: Record<string, number> = {}
    for (const finding of [...basic, ...inspector]) {
      const severity = String(finding.severity ?? 'UNDEFINED')
      findingSeverityCounts[severity] = (findingSeverityCounts[severity] ?? 0) + 1
    }
    // One list is paged: basic findings, or enhanced ones (a registry uses one scan type).
    const page = enhanced ? pageOf(inspector, input) : pageOf(basic, input)
    return {
      ...head,
      imageScanStatus: { status, ...(description ? { description } : {}) },
      imageScanFindings: {
        imageScanCompletedAt: finishedAt / 1000,
        vulnerabilitySourceUpdatedAt: finishedAt / 1000,
        findingSeverityCounts,
        ...(enhanced ? { enhancedFindings: page.items } : { findings: page.items })
      },
      ...(page.next ? { nextToken: page.next } : {})
    }
  }

  /**
   * BatchGetImage: "Gets detailed information for an image. Images are specified with either
   * an imageTag or imageDigest" (BatchGetImageCommand.d.ts); the manifest comes from the real
   * registry, in one of the request's acceptedMediaTypes. An image that is not there is not an
   * error but an entry of `failures` with an ImageFailureCode (ImageNotFound), as
   * BatchGetImageResponse documents it (models_0.d.ts).
   */
  const batchGetImage = async (input: Record<string, unknown>) => {
    const record = requestedRepository(input)
    const imageIds = (Array.isArray(input.imageIds) ? input.imageIds : []) as Array<{
      imageTag?: string
      imageDigest?: string
    }>
    const accepted = Array.isArray(input.acceptedMediaTypes)
      ? (input.acceptedMediaTypes as string[])
      : [MANIFEST_TYPES[0] as string]
    const images = []
    const failures = []
    for (const id of imageIds) {
      const reference = id.imageDigest ?? id.imageTag ?? ''
      const response = reference
        ? await fetch(
            `${registryUrl}/v2/${record.repositoryName}/manifests/${encodeURIComponent(reference)}`,
            { headers: { Authorization: basicAuth, Accept: accepted.join(', ') } }
          )
        : undefined
      const digest = response?.headers.get('docker-content-digest') ?? ''
      const mediaType = response?.headers.get('content-type') ?? ''
      if (!response?.ok || !accepted.includes(mediaType) || !arrived(digest)) {
        failures.push({
          imageId: id,
          failureCode: 'ImageNotFound',
          failureReason: 'Requested image not found'
        })
        continue
      }
      images.push({
        registryId: accountId,
        repositoryName: record.repositoryName,
        imageId: { imageDigest: digest, ...(id.imageTag ? { imageTag: id.imageTag } : {}) },
        imageManifest: await response.text(),
        imageManifestMediaType: mediaType
      })
    }
    return { images, failures }
  }

  const operations: Record<string, (input: Record<string, unknown>) => Promise<unknown>> = {
    DescribeImageScanFindings: describeScanFindings,
    BatchGetImage: batchGetImage,

    GetAuthorizationToken: async () => ({
      authorizationData: [
        {
          authorizationToken: Buffer.from(`${options.username}:${options.password}`).toString(
            'base64'
          ),
          expiresAt: Date.now() / 1000 + (options.tokenLifetimeSeconds ?? 12 * 3600),
          proxyEndpoint: registryUrl
        }
      ]
    }),

    DescribeRepositories: async input => {
      const names = Array.isArray(input.repositoryNames)
        ? (input.repositoryNames as unknown[])
        : undefined
      const records = names ? names.map(requireRepository) : [...repositories.values()]
      return { repositories: records.map(describeRepository) }
    },

    CreateRepository: async input => {
      const name = input.repositoryName
      if (
        typeof name !== 'string' ||
        !/^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(name)
      ) {
        throw new EcrError(
          'InvalidParameterException',
          `Invalid parameter at 'repositoryName' failed to satisfy constraint: '${String(name)}'`
        )
      }
      if (repositories.has(name)) {
        throw new EcrError(
          'RepositoryAlreadyExistsException',
          `The repository with name '${name}' already exists in the registry with id '${accountId}'`
        )
      }
      const scanning = input.imageScanningConfiguration as { scanOnPush?: boolean } | undefined
      const record = {
        repositoryName: name,
        scanOnPush: scanning?.scanOnPush === true,
        createdAt: Date.now() / 1000
      }
      repositories.set(name, record)
      return { repository: describeRepository(record) }
    },

    DescribeImages: async input => {
      const record = requestedRepository(input)
      const imageIds = (Array.isArray(input.imageIds) ? input.imageIds : []) as Array<{
        imageTag?: string
        imageDigest?: string
      }>
      const imageDetails = []
      for (const id of imageIds) {
        const reference = id.imageTag ?? id.imageDigest
        if (!reference) {
          throw new EcrError(
            'InvalidParameterException',
            'Invalid parameter at imageIds: an image identifier needs an imageDigest or an imageTag'
          )
        }
        // A digest is looked up in the registry too: ECR knows only the images it holds, and
        // those a test gave scan findings (a scanned image exists).
        const digest =
          id.imageDigest && (scans.has(id.imageDigest) || held.has(id.imageDigest))
            ? id.imageDigest
            : await manifestDigest(record.repositoryName, reference)
        if (!digest || (id.imageDigest && digest !== id.imageDigest) || !arrived(digest)) {
          throw new EcrError(
            'ImageNotFoundException',
            `The image with imageId {imageDigest:'${id.imageDigest ?? 'null'}', imageTag:'${id.imageTag ?? 'null'}'} does not exist within the repository with name '${record.repositoryName}' in the registry with id '${accountId}'`
          )
        }
        imageDetails.push({
          registryId: accountId,
          repositoryName: record.repositoryName,
          imageDigest: digest,
          imageTags: id.imageTag ? [id.imageTag] : [],
          imagePushedAt: Date.now() / 1000,
          imageManifestMediaType: MANIFEST_TYPES[0]
        })
      }
      return { imageDetails }
    }
  }

  const server = await startJson11Server({
    targetPrefix: TARGET_PREFIX,
    operations,
    port: options.port,
    serverError: { type: 'ServerException', message: 'The service is unavailable.' }
  })
  return {
    endpoint: server.endpoint,
    calls: server.calls,
    repositories,
    setScanFindings: (digest, scan) => scans.set(digest, { spec: scan }),
    setReplicationLag: (digest, lagMs) => lags.set(digest, { lagMs }),
    holdImage: digest => void held.add(digest),
    close: () => server.close()
  }
}

/**
 * Run on its own for a local rehearsal, in front of the registry tools/docker-up.sh started:
 *   npx tsx tools/ecr-standin/server.ts [--port 4599] [--repository noblepay-api ...]
 * then export AWS_ENDPOINT_URL_ECR=http://127.0.0.1:4599 for the actions.
 */
async function main(args: string[]): Promise<void> {
  const { readFileSync } = await import('node:fs')
  const dir = process.env.NOBLEPAY_REGISTRY_DIR ?? '/tmp/noblepay-registry'
  const read = (name: string) => readFileSync(`${dir}/${name}`, 'utf8').trim()
  const valueOf = (flag: string) =>
    args.flatMap((arg, i) => (arg === flag && args[i + 1] ? [args[i + 1] as string] : []))
  const standin = await startEcrStandin({
    registry: read('url'),
    username: read('username'),
    password: read('password'),
    port: Number(valueOf('--port')[0] ?? 4599),
    repositories: valueOf('--repository')
  })
  console.log(
    `ECR stand-in on ${standin.endpoint} for ${read('url')}; set AWS_ENDPOINT_URL_ECR=${standin.endpoint}`
  )
}

if (
  process.argv[1] &&
  import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1]).href
) {
  await main(process.argv.slice(2))
}
