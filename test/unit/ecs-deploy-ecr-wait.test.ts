/**
 * Waiting for an image to be in ECR before anything is registered (an image replicated to a
 * secondary region appears there after its push), and the error that says why it is not.
 */
import {
  DescribeImagesCommand,
  ECRClient,
  ECRServiceException,
  ImageNotFoundException,
  RepositoryNotFoundException
} from '@aws-sdk/client-ecr'
import { mockClient } from 'aws-sdk-client-mock'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import {
  EcrGateway,
  ecrGatewayFor,
  ecrImageByDigest,
  imageWaitError,
  parseEcrImage,
  type ImagePresence
} from '../../actions/ecs-deploy/ecr.js'
import { FakeClock } from '../support/runner.js'

const ecrMock = mockClient(ECRClient)
const DIGEST = `sha256:${'ab'.repeat(32)}`
const DR_REFERENCE = `123456789012.dkr.ecr.eu-central-1.amazonaws.com/noblepay-api@${DIGEST}`
const image = parseEcrImage(DR_REFERENCE, false)
const POLL_MS = 10_000

/** A gateway whose own caller has a far deadline: the wait's deadline must bound it. */
function gateway(clock: FakeClock) {
  const caller = new AwsCaller({
    clock,
    deadline: clock.now() + 3_600_000,
    attemptTimeoutMs: 2_000,
    backoffMs: 1_000,
    maxBackoffMs: 4_000
  })
  return new EcrGateway(new ECRClient({ region: 'eu-central-1' }), caller, 'eu-central-1')
}

const sdkError = (
  Type: new (options: { message: string; $metadata: object }) => ECRServiceException,
  message: string
) => new Type({ message, $metadata: { httpStatusCode: 400 } })
const imageNotFound = () =>
  sdkError(
    ImageNotFoundException,
    `The image with imageId {imageDigest:'${DIGEST}', imageTag:'null'} does not exist within the repository with name 'noblepay-api' in the registry with id '123456789012'`
  )
const repositoryNotFound = () =>
  sdkError(
    RepositoryNotFoundException,
    "The repository with name 'noblepay-api' does not exist in the registry with id '123456789012'"
  )
const found = { imageDetails: [{ imageDigest: DIGEST, imagePushedAt: new Date(0) }] }

beforeEach(() => ecrMock.reset())

describe('EcrGateway.waitForImage', () => {
  it('asks for the digest in the image’s registry and repository, and returns at once when it is there', async () => {
    ecrMock.on(DescribeImagesCommand).resolves(found)
    const clock = new FakeClock()
    const lines: string[] = []
    const presence = await gateway(clock).waitForImage(image, {
      deadline: clock.now() + 600_000,
      pollMs: POLL_MS,
      onPoll: line => lines.push(line)
    })
    expect(presence).toEqual({ kind: 'present', pushedAt: new Date(0), looks: 1, waitedMs: 0 })
    expect(lines).toEqual([])
    expect(clock.sleeps).toBe(0)
    const calls = ecrMock.commandCalls(DescribeImagesCommand)
    expect(calls.map(c => c.args[0].input)).toEqual([
      {
        registryId: '123456789012',
        repositoryName: 'noblepay-api',
        imageIds: [{ imageDigest: DIGEST }]
      }
    ])
    expect((calls[0]?.args as unknown[])[1]).toHaveProperty('abortSignal')
  })

  it('waits while replication has not created the repository or copied the image, one line per look', async () => {
    ecrMock
      .on(DescribeImagesCommand)
      .rejectsOnce(repositoryNotFound())
      .rejectsOnce(imageNotFound())
      .resolves(found)
    const clock = new FakeClock()
    const lines: string[] = []
    const presence = await gateway(clock).waitForImage(image, {
      deadline: clock.now() + 600_000,
      pollMs: POLL_MS,
      onPoll: line => lines.push(line)
    })
    expect(presence).toMatchObject({ kind: 'present', looks: 3, waitedMs: 2 * POLL_MS })
    expect(lines).toEqual([
      '[0s] ECR repository noblepay-api does not exist in eu-central-1 yet (RepositoryNotFoundException); looking again in 10s.',
      '[10s] ECR image noblepay-api@sha256:abababababab is not in eu-central-1 yet (ImageNotFoundException); looking again in 10s.'
    ])
  })

  it('stops at the deadline, never sleeping past it, and says how long it looked', async () => {
    ecrMock.on(DescribeImagesCommand).rejects(imageNotFound())
    const clock = new FakeClock()
    const deadline = clock.now() + 45_000
    const presence = await gateway(clock).waitForImage(image, { deadline, pollMs: POLL_MS })
    expect(presence).toMatchObject({
      kind: 'missing',
      what: 'image',
      error: 'ImageNotFoundException',
      looks: 5,
      waitedMs: 40_000
    })
    expect(clock.now()).toBeLessThanOrEqual(deadline)
    expect(ecrMock.commandCalls(DescribeImagesCommand)).toHaveLength(5)
  })

  it('counts an answer that lists no image with the digest as missing', async () => {
    ecrMock.on(DescribeImagesCommand).resolves({ imageDetails: [] })
    const clock = new FakeClock()
    const presence = await gateway(clock).waitForImage(image, {
      deadline: clock.now(),
      pollMs: POLL_MS
    })
    expect(presence).toMatchObject({ kind: 'missing', what: 'image', looks: 1 })
  })

  it('stops at the first AccessDeniedException: waiting will not grant the permission', async () => {
    ecrMock.on(DescribeImagesCommand).rejects(
      Object.assign(new Error('not authorized to perform: ecr:DescribeImages'), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 400 }
      })
    )
    const clock = new FakeClock()
    const presence = await gateway(clock).waitForImage(image, {
      deadline: clock.now() + 600_000,
      pollMs: POLL_MS
    })
    expect(presence).toEqual({
      kind: 'denied',
      message: 'not authorized to perform: ecr:DescribeImages',
      looks: 1,
      waitedMs: 0
    })
    expect(ecrMock.commandCalls(DescribeImagesCommand)).toHaveLength(1)
  })

  it('retries a failing ECR within the wait’s deadline, not its own, then reports it unanswered', async () => {
    ecrMock.on(DescribeImagesCommand).rejects(
      Object.assign(new Error('We encountered an internal error'), {
        name: 'ServerException',
        $metadata: { httpStatusCode: 500 }
      })
    )
    const clock = new FakeClock()
    const deadline = clock.now() + 30_000
    const presence = await gateway(clock).waitForImage(image, { deadline, pollMs: POLL_MS })
    expect(presence).toMatchObject({ kind: 'unanswered' })
    expect(presence.kind === 'unanswered' && presence.error).toMatch(
      /ECR DescribeImages for noblepay-api@sha256:abababababab did not succeed before the deadline \(\d+ attempts; last: We encountered an internal error\)/
    )
    expect(clock.now()).toBeLessThanOrEqual(deadline)
    expect(ecrMock.commandCalls(DescribeImagesCommand).length).toBeGreaterThan(1)
  })
})

describe('imageWaitError', () => {
  const missing = (what: 'image' | 'repository'): ImagePresence => ({
    kind: 'missing',
    what,
    error: what === 'image' ? 'ImageNotFoundException' : 'RepositoryNotFoundException',
    message: '…',
    looks: 61,
    waitedMs: 600_000
  })

  it('is nothing when the image is there', () => {
    expect(
      imageWaitError(image, { kind: 'present', looks: 1, waitedMs: 0 }, 'eu-central-1')
    ).toBeUndefined()
  })

  it('names the repository, region and digest of an image that never came, and says to set up replication or wait for it', () => {
    const message = imageWaitError(image, missing('image'), 'eu-central-1')?.message ?? ''
    expect(message).toMatch(
      new RegExp(
        `^Image ${DIGEST} is not in ECR repository 'noblepay-api' of registry 123456789012 in eu-central-1 after waiting 10m00s \\(61 looks\\): ImageNotFoundException\\.`
      )
    )
    expect(message).toContain(
      "set up ECR replication to eu-central-1 in that region's registry replication configuration"
    )
    expect(message).toContain('ECR copies only images pushed after replication is set up')
    expect(message).toContain(
      `it has not copied the image yet: deploy again once aws ecr describe-images --region eu-central-1 --repository-name noblepay-api --image-ids imageDigest=${DIGEST} finds it`
    )
    expect(message).toMatch(/Nothing was registered or changed\.$/)
  })

  it('says that the repository itself is missing in that region, with the same advice', () => {
    const message = imageWaitError(image, missing('repository'), 'eu-central-1')?.message ?? ''
    expect(message).toMatch(
      /^ECR repository 'noblepay-api' of registry 123456789012 in eu-central-1 does not exist, so image sha256:(ab){32} cannot be there/
    )
    expect(message).toContain(
      'ECR creates the repository in eu-central-1 when it copies the first image'
    )
    expect(message).toContain('set up ECR replication to eu-central-1')
  })

  it('names the permission and the repository ARN when the role may not look', () => {
    const message =
      imageWaitError(
        image,
        { kind: 'denied', message: 'not authorized', looks: 1, waitedMs: 0 },
        'eu-central-1'
      )?.message ?? ''
    expect(message).toContain(
      'Allow ecr:DescribeImages on arn:aws:ecr:eu-central-1:123456789012:repository/noblepay-api'
    )
  })

  it('says it could not tell when ECR did not answer', () => {
    const message =
      imageWaitError(
        image,
        { kind: 'unanswered', error: 'ECR DescribeImages … did not succeed', waitedMs: 30_000 },
        'eu-central-1'
      )?.message ?? ''
    expect(message).toMatch(/^Could not tell whether image .* is in ECR repository 'noblepay-api'/)
    expect(message).toContain('Deploy again once ECR answers.')
  })
})

describe('which images a deploy waits for', () => {
  it('an ECR image given by digest, with the account and region of its host', () => {
    expect(ecrImageByDigest(DR_REFERENCE, false)).toMatchObject({
      registryId: '123456789012',
      region: 'eu-central-1',
      repository: 'noblepay-api',
      digest: DIGEST
    })
  })

  it('not a tag, nor a registry that is not ECR (unless ECR is a stand-in)', () => {
    expect(
      ecrImageByDigest('123456789012.dkr.ecr.eu-central-1.amazonaws.com/noblepay-api:v1', false)
    ).toBeUndefined()
    expect(ecrImageByDigest(`ghcr.io/noblepay/api@${DIGEST}`, false)).toBeUndefined()
    expect(ecrImageByDigest(`noblepay-api@${DIGEST}`, false)).toBeUndefined()
    expect(ecrImageByDigest(`127.0.0.1:5000/noblepay-api@${DIGEST}`, true)).toMatchObject({
      registry: '127.0.0.1:5000',
      region: undefined,
      digest: DIGEST
    })
  })

  it('asks ECR in the region the image’s host names, or the deploy’s for a stand-in’s registry', async () => {
    ecrMock.on(DescribeImagesCommand).resolves(found)
    const clock = new FakeClock()
    const caller = new AwsCaller({
      clock,
      deadline: clock.now() + 60_000,
      attemptTimeoutMs: 2_000,
      backoffMs: 1_000,
      maxBackoffMs: 4_000
    })
    const env = { AWS_REGION: 'eu-west-1' }
    const wait = { deadline: clock.now() + 60_000, pollMs: POLL_MS }
    await ecrGatewayFor(image, 'eu-west-1', caller, env).waitForImage(image, wait)
    const local = parseEcrImage(`127.0.0.1:5000/noblepay-api@${DIGEST}`, true)
    await ecrGatewayFor(local, 'eu-west-1', caller, env).waitForImage(local, wait)
    const regions = await Promise.all(
      ecrMock
        .commandCalls(DescribeImagesCommand)
        .map(c => (c.thisValue as ECRClient).config.region())
    )
    expect(regions).toEqual(['eu-central-1', 'eu-west-1'])
  })
})
