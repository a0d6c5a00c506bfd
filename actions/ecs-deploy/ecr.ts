import {
  DescribeImagesCommand,
  DescribeImageScanFindingsCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  type DescribeImageScanFindingsResponse,
  type EnhancedImageScanFinding,
  type ImageScanFinding
} from '@aws-sdk/client-ecr'
import { DeadlineError, type AwsCaller } from '../shared/aws-call.js'
import { clientSettings } from '../shared/aws.js'
import { ActionError, describeError, InputError } from '../shared/errors.js'
import { formatDuration } from './rollout.js'

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

/**
 * The ECR image a deploy should find in ECR before it registers anything: a reference by
 * digest in an ECR registry (any registry when the ECR endpoint is a stand-in, as for
 * parseEcrImage). Undefined for a tag, or for a registry that is not ECR: there is nothing
 * to wait for then.
 */
export function ecrImageByDigest(
  reference: string,
  endpointOverridden: boolean
): EcrImage | undefined {
  try {
    return parseEcrImage(reference, endpointOverridden)
  } catch (error) {
    if (error instanceof InputError) return undefined
    throw error
  }
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

/** Bounds a wait for an image to be in ECR. */
export interface ImageWait {
  /** Epoch ms: no look starts after it, and the reads are retried only until then. */
  deadline: number
  /** Between two looks at an image that is not there yet. */
  pollMs: number
  /** One line per look that did not find the image, so a wait is never silent. */
  onPoll?: (line: string) => void
}

/** One DescribeImages answer. */
type ImageAnswer =
  | { kind: 'present'; pushedAt?: Date }
  | { kind: 'missing'; what: 'image' | 'repository'; error: string; message: string }
  | { kind: 'denied'; message: string }

/** What waitForImage found: the image, its absence at the deadline, or why it could not tell. */
export type ImagePresence =
  | { kind: 'present'; pushedAt?: Date; looks: number; waitedMs: number }
  /** Still not there at the deadline; `what` says whether even the repository was missing. */
  | {
      kind: 'missing'
      what: 'image' | 'repository'
      /** ECR's error name, e.g. ImageNotFoundException. */
      error: string
      message: string
      looks: number
      waitedMs: number
    }
  /** The role may not call DescribeImages on the repository. */
  | { kind: 'denied'; message: string; looks: number; waitedMs: number }
  /** ECR kept failing (throttling, 5xx, no answer) until the deadline. */
  | { kind: 'unanswered'; error: string; waitedMs: number }

/**
 * The failure to report when the image is not known to be in ECR, or undefined when it is.
 * Pure. `region` is the region asked (the image's ECR host names it; a stand-in's image is
 * in the deploy's region). A missing image most often means ECR replication to that region
 * is not set up, or has not copied the image yet: the message says both, and how to check.
 */
export function imageWaitError(
  image: EcrImage,
  presence: ImagePresence,
  region: string
): ActionError | undefined {
  const registry = image.registryId ? ` of registry ${image.registryId}` : ''
  const repository = `ECR repository '${image.repository}'${registry} in ${region}`
  const untouched = 'Nothing was registered or changed.'
  switch (presence.kind) {
    case 'present':
      return undefined
    case 'missing': {
      const waited = `after waiting ${formatDuration(presence.waitedMs)} (${presence.looks} look${presence.looks === 1 ? '' : 's'})`
      const what =
        presence.what === 'repository'
          ? `${repository} does not exist, so image ${image.digest} cannot be there (${waited}).`
          : `Image ${image.digest} is not in ${repository} ${waited}: ${presence.error}.`
      const replication = [
        `If the build pushes to another region, set up ECR replication to ${region} in that region's registry replication configuration (aws ecr put-replication-configuration, in the region the image is pushed to)${presence.what === 'repository' ? `; ECR creates the repository in ${region} when it copies the first image` : ''}.`,
        'ECR copies only images pushed after replication is set up: push this build again once it is.',
        `If replication is set up, it has not copied the image yet: deploy again once aws ecr describe-images --region ${region} --repository-name ${image.repository} --image-ids imageDigest=${image.digest} finds it.`,
        `Otherwise check the digest: build-push's image-digest output names the pushed image.`
      ].join(' ')
      return new ActionError(`${what} ${replication} ${untouched}`)
    }
    case 'denied':
      return new ActionError(
        `The role may not read image ${image.digest} in ${repository}: AccessDeniedException: ${presence.message}. Allow ecr:DescribeImages on arn:aws:ecr:${region}:${image.registryId ?? '<account>'}:repository/${image.repository} (see the deploy role policy in the README). ${untouched}`
      )
    case 'unanswered':
      return new ActionError(
        `Could not tell whether image ${image.digest} is in ${repository}: ${presence.error}. ${untouched} Deploy again once ECR answers.`
      )
  }
}

/**
 * The ECR calls ecs-deploy makes, through an AwsCaller whose deadline bounds the whole wait
 * (wait-for-minutes): each read is retried until then, and a scan still running then is
 * reported as unfinished.
 */
export class EcrGateway implements ScanReader {
  constructor(
    private readonly client: ECRClient,
    private readonly caller: AwsCaller,
    /** The client's region, named in progress lines. */
    private readonly region?: string
  ) {}

  /**
   * Waits, until `wait.deadline`, for the image to be in ECR (DescribeImages by digest): an
   * image replicated from another region appears there some time after its push. One line
   * per look that did not find it. ImageNotFoundException and RepositoryNotFoundException
   * mean "not there yet" (replication creates the repository with its first image); other
   * failures are retried within the deadline, and ECR failing until then is `unanswered`.
   */
  async waitForImage(image: EcrImage, wait: ImageWait): Promise<ImagePresence> {
    const clock = this.caller.clock
    const caller = this.caller.until(wait.deadline)
    const started = clock.now()
    const where = this.region ?? image.region
    for (let looks = 1; ; looks++) {
      let answer: ImageAnswer
      try {
        answer = await this.describeImage(image, caller)
      } catch (error) {
        if (!(error instanceof DeadlineError)) throw error
        return { kind: 'unanswered', error: describeError(error), waitedMs: clock.now() - started }
      }
      const waitedMs = clock.now() - started
      if (answer.kind !== 'missing') return { ...answer, looks, waitedMs }
      if (clock.now() + wait.pollMs > wait.deadline) return { ...answer, looks, waitedMs }
      const absent =
        answer.what === 'repository'
          ? `ECR repository ${image.repository} does not exist${where ? ` in ${where}` : ''} yet`
          : `ECR image ${shortImage(image)} is not${where ? ` in ${where}` : ''} yet`
      wait.onPoll?.(
        `[${formatDuration(waitedMs)}] ${absent} (${answer.error}); looking again in ${formatDuration(wait.pollMs)}.`
      )
      await clock.sleep(wait.pollMs)
    }
  }

  /**
   * A registry login (GetAuthorizationToken): the base64 `AWS:password` token, as a Docker
   * config's `auths` entry takes it. It is good for every registry the role may read, so
   * another account's repository works too. Retried within the caller's deadline.
   */
  async authorizationToken(): Promise<string> {
    const token = await this.caller.read('ECR GetAuthorizationToken', async signal => {
      const response = await this.client.send(new GetAuthorizationTokenCommand({}), {
        abortSignal: signal
      })
      return response.authorizationData?.[0]?.authorizationToken ?? ''
    })
    if (token === '')
      throw new ActionError('ECR GetAuthorizationToken returned no token; check the ECR endpoint.')
    return token
  }

  private describeImage(image: EcrImage, caller: AwsCaller): Promise<ImageAnswer> {
    return caller.read(`ECR DescribeImages for ${shortImage(image)}`, async signal => {
      try {
        const response = await this.client.send(
          new DescribeImagesCommand({
            registryId: image.registryId,
            repositoryName: image.repository,
            imageIds: [{ imageDigest: image.digest }]
          }),
          { abortSignal: signal }
        )
        const detail = response.imageDetails?.find(d => d.imageDigest === image.digest)
        return detail
          ? { kind: 'present', pushedAt: detail.imagePushedAt }
          : {
              kind: 'missing',
              what: 'image',
              error: 'ImageNotFoundException',
              message: 'DescribeImages listed no image with that digest'
            }
      } catch (error) {
        const name = error instanceof Error ? error.name : ''
        const message = describeError(error)
        if (name === 'ImageNotFoundException' || name === 'RepositoryNotFoundException') {
          const what = name === 'ImageNotFoundException' ? 'image' : 'repository'
          return { kind: 'missing', what, error: name, message }
        }
        if (name === 'AccessDeniedException') return { kind: 'denied', message }
        throw error
      }
    })
  }

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

/**
 * The ECR gateway for an image: in the region its ECR host names (which may differ from the
 * service's, as for a secondary region's replica), or the deploy's region for a stand-in's
 * registry. `caller` bounds its reads; waitForImage narrows that to its own deadline.
 */
export function ecrGatewayFor(
  image: EcrImage,
  deployRegion: string,
  caller: AwsCaller,
  env: NodeJS.ProcessEnv = process.env
): EcrGateway {
  const region = image.region ?? deployRegion
  return new EcrGateway(new ECRClient(clientSettings(region, env, 'caller')), caller, region)
}
