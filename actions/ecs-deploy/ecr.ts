import {
  DescribeImageScanFindingsCommand,
  type DescribeImageScanFindingsResponse,
  type ECRClient,
  type EnhancedImageScanFinding,
  type ImageScanFinding
} from '@aws-sdk/client-ecr'
import type { AwsCaller } from '../shared/aws-call.js'
import { InputError } from '../shared/errors.js'

/** An image in ECR, by digest: what DescribeImageScanFindings needs to find its scan. */
export interface EcrImage {
  /** The reference as given, for messages. */
  reference: string
  /** The registry host, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com. */
  registry: string
  /** The account of an ECR host; absent for a stand-in's registry (the default registry then). */
  registryId?: string
  /** The region of an ECR host; absent for a stand-in's registry (the deploy's region then). */
  region?: string
  repository: string
  /** sha256:… */
  digest: string
}

/** ECR's private registry hosts: standard, FIPS, China, and dual-stack. */
const ECR_HOST = [
  /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/,
  /^(\d{12})\.dkr-ecr(?:-fips)?\.([a-z0-9-]+)\.on\.aws$/
]

/**
 * Whether the SDK sends ECR calls somewhere else than AWS (AWS_ENDPOINT_URL_ECR or
 * AWS_ENDPOINT_URL, unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS), as with a local stand-in.
 */
export function ecrEndpointOverridden(env: NodeJS.ProcessEnv): boolean {
  if (/^true$/i.test(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? '')) return false
  return Boolean(env.AWS_ENDPOINT_URL_ECR || env.AWS_ENDPOINT_URL)
}

/**
 * Reads `<registry>/<repository>[:tag]@sha256:<digest>` for the scan gate. Against AWS the
 * registry must be an ECR host, which also gives the account and region. When the ECR endpoint
 * is overridden (a stand-in), whatever registry the stand-in serves counts as ECR, so a local
 * registry such as 127.0.0.1:5000 works; the account is then the default registry's.
 */
export function parseEcrImage(reference: string, endpointOverridden: boolean): EcrImage {
  const slash = reference.indexOf('/')
  const first = slash > 0 ? reference.slice(0, slash) : ''
  // The first path component is a registry host only when it looks like one (Docker's rule).
  const registry = /[.:]/.test(first) || first === 'localhost' ? first : ''
  if (registry === '') {
    throw new InputError(
      'image',
      reference,
      'image-scan-severity reads the scan of an ECR image; give the full reference, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/noblepay-api@sha256:…, or leave image-scan-severity empty'
    )
  }
  const host = ECR_HOST.map(pattern => pattern.exec(registry)).find(match => match !== null)
  if (!host && !endpointOverridden) {
    throw new InputError(
      'image',
      reference,
      `image-scan-severity reads ECR's scan findings, and ${registry} is not an ECR registry (<account>.dkr.ecr.<region>.amazonaws.com); deploy the image from ECR, or leave image-scan-severity empty`
    )
  }
  const rest = reference.slice(slash + 1)
  const at = rest.indexOf('@')
  const digest = at >= 0 ? rest.slice(at + 1) : ''
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new InputError(
      'image',
      reference,
      "with image-scan-severity set, deploy by digest (<registry>/<repository>@sha256:…, build-push's image-digest output): a tag can move after the scan was read, so the image judged would not be the image deployed"
    )
  }
  const path = at >= 0 ? rest.slice(0, at) : rest
  // A tag before the digest (repository:tag@sha256:…) is allowed; the digest decides.
  const repository = path.replace(/:[^/]*$/, '')
  return {
    reference,
    registry,
    registryId: host?.[1],
    region: host?.[2],
    repository,
    digest
  }
}

/** The short form used in log lines: repository@sha256:0123456789ab. */
export function shortImage(image: EcrImage): string {
  return `${image.repository}@${image.digest.slice(0, 19)}`
}

/** Scan states that mean "not done yet": wait for them, within the deadline. */
const SCANNING = new Set(['IN_PROGRESS', 'PENDING'])
/** Scan states whose findings are the image's: COMPLETE (basic), ACTIVE (enhanced, continuous). */
const SCANNED = new Set(['COMPLETE', 'ACTIVE'])

/** What ECR says about an image's scan, every page of findings gathered. */
export type ScanLookup =
  | {
      kind: 'scanned'
      status: string
      completedAt?: Date
      /** Basic scanning's findings. */
      findings: ImageScanFinding[]
      /** Enhanced scanning's (Amazon Inspector) findings. */
      enhancedFindings: EnhancedImageScanFinding[]
      /** ECR's own counts per severity. */
      severityCounts: Record<string, number>
    }
  /** ScanNotFoundException: the image was never scanned (no scan on push, no manual scan). */
  | { kind: 'not-scanned'; message: string }
  /** Still IN_PROGRESS or PENDING when the deadline came. */
  | { kind: 'unfinished'; status: string; description?: string; waitedMs: number }
  /** A scan that ended without findings to judge: FAILED, UNSUPPORTED_IMAGE, … */
  | { kind: 'unusable'; status: string; description?: string }
  | { kind: 'not-found'; what: 'image' | 'repository'; message: string }

/** Reads an image's scan findings. */
export interface ScanReader {
  scanFindings(image: EcrImage, wait: ScanWait): Promise<ScanLookup>
}

export interface ScanWait {
  /** Between two looks at a scan that is not done yet. */
  pollMs: number
  /** One line per look at an unfinished scan, so a wait is never silent. */
  onPoll?: (line: string) => void
}

const MISSING: Record<string, 'image' | 'repository' | 'scan'> = {
  ImageNotFoundException: 'image',
  RepositoryNotFoundException: 'repository',
  ScanNotFoundException: 'scan'
}

type Page =
  DescribeImageScanFindingsResponse | { missing: 'image' | 'repository' | 'scan'; message: string }

/**
 * The ECR calls ecs-deploy makes, through an AwsCaller whose deadline bounds the whole wait
 * (wait-for-minutes): each read is retried until then, and a scan still running then is
 * reported as unfinished.
 */
export class EcrGateway implements ScanReader {
  constructor(
    private readonly client: ECRClient,
    private readonly caller: AwsCaller
  ) {}

  async scanFindings(image: EcrImage, wait: ScanWait): Promise<ScanLookup> {
    const clock = this.caller.clock
    const started = clock.now()
    for (;;) {
      const first = await this.page(image)
      if ('missing' in first) {
        return first.missing === 'scan'
          ? { kind: 'not-scanned', message: first.message }
          : { kind: 'not-found', what: first.missing, message: first.message }
      }
      const status = first.imageScanStatus?.status ?? ''
      const description = first.imageScanStatus?.description
      if (SCANNED.has(status)) return this.gather(image, status, first)
      if (!SCANNING.has(status)) return { kind: 'unusable', status, description }
      const waitedMs = clock.now() - started
      wait.onPoll?.(
        `[${Math.round(waitedMs / 1000)}s] ECR scan of ${shortImage(image)}: ${status}${description ? ` (${description})` : ''}`
      )
      if (clock.now() + wait.pollMs > this.caller.deadline)
        return { kind: 'unfinished', status, description, waitedMs }
      await clock.sleep(wait.pollMs)
    }
  }

  /** Every page of a finished scan's findings. */
  private async gather(
    image: EcrImage,
    status: string,
    first: DescribeImageScanFindingsResponse
  ): Promise<ScanLookup> {
    const findings: ImageScanFinding[] = []
    const enhancedFindings: EnhancedImageScanFinding[] = []
    let page: Page = first
    for (;;) {
      if ('missing' in page) {
        // The image or scan went away between two pages: judge what ECR says now.
        return page.missing === 'scan'
          ? { kind: 'not-scanned', message: page.message }
          : { kind: 'not-found', what: page.missing, message: page.message }
      }
      findings.push(...(page.imageScanFindings?.findings ?? []))
      enhancedFindings.push(...(page.imageScanFindings?.enhancedFindings ?? []))
      if (!page.nextToken) break
      page = await this.page(image, page.nextToken)
    }
    const counts = first.imageScanFindings?.findingSeverityCounts ?? {}
    return {
      kind: 'scanned',
      status,
      completedAt: first.imageScanFindings?.imageScanCompletedAt,
      findings,
      enhancedFindings,
      severityCounts: Object.fromEntries(
        Object.entries(counts).filter((entry): entry is [string, number] => entry[1] !== undefined)
      )
    }
  }

  private page(image: EcrImage, nextToken?: string): Promise<Page> {
    return this.caller.read(
      `ECR DescribeImageScanFindings for ${shortImage(image)}`,
      async signal => {
        try {
          return await this.client.send(
            new DescribeImageScanFindingsCommand({
              registryId: image.registryId,
              repositoryName: image.repository,
              imageId: { imageDigest: image.digest },
              maxResults: 1000,
              nextToken
            }),
            { abortSignal: signal }
          )
        } catch (error) {
          const missing = MISSING[error instanceof Error ? error.name : '']
          if (missing) return { missing, message: error instanceof Error ? error.message : '' }
          throw error
        }
      }
    )
  }
}
