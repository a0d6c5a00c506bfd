import {
  DescribeImageScanFindingsCommand,
  ECRClient,
  ECRServiceException,
  ImageNotFoundException,
  RepositoryNotFoundException,
  ScanNotFoundException,
  type DescribeImageScanFindingsResponse
} from '@aws-sdk/client-ecr'
import { mockClient } from 'aws-sdk-client-mock'
import { AwsCaller } from '../../actions/shared/aws-call.js'
import { EcrGateway, parseEcrImage } from '../../actions/ecs-deploy/ecr.js'
import { FakeClock } from '../support/runner.js'

const ecrMock = mockClient(ECRClient)
const DIGEST = `sha256:${'cd'.repeat(32)}`
const image = parseEcrImage(
  `123456789012.dkr.ecr.eu-west-1.amazonaws.com/noblepay-api@${DIGEST}`,
  false
)
const POLL_MS = 5_000

function gateway(clock: FakeClock, deadlineMs = 60_000) {
  const caller = new AwsCaller({
    clock,
    deadline: clock.now() + deadlineMs,
    attemptTimeoutMs: 2_000,
    backoffMs: 1_000,
    maxBackoffMs: 4_000
  })
  return new EcrGateway(new ECRClient({ region: 'eu-west-1' }), caller)
}

const complete = (
  findings: DescribeImageScanFindingsResponse['imageScanFindings'],
  nextToken?: string
): DescribeImageScanFindingsResponse => ({
  imageScanStatus: { status: 'COMPLETE', description: 'The scan was completed successfully.' },
  imageScanFindings: findings,
  nextToken
})
const inProgress: DescribeImageScanFindingsResponse = {
  imageScanStatus: { status: 'IN_PROGRESS', description: 'The scan is in progress.' }
}
const sdkError = (
  Type: new (options: { message: string; $metadata: object }) => ECRServiceException,
  message: string
) => new Type({ message, $metadata: { httpStatusCode: 400 } })

beforeEach(() => ecrMock.reset())

describe('EcrGateway.scanFindings', () => {
  it('asks for the image by registry, repository and digest, and gathers every page', async () => {
    ecrMock
      .on(DescribeImageScanFindingsCommand)
      .resolvesOnce(
        complete(
          {
            findingSeverityCounts: { HIGH: 2 },
            findings: [{ name: 'CVE-1', severity: 'HIGH' }]
          },
          'page-2'
        )
      )
      .resolvesOnce(complete({ findings: [{ name: 'CVE-2', severity: 'HIGH' }] }))
    const lookup = await gateway(new FakeClock()).scanFindings(image, { pollMs: POLL_MS })
    expect(lookup).toMatchObject({
      kind: 'scanned',
      status: 'COMPLETE',
      findings: [
        { name: 'CVE-1', severity: 'HIGH' },
        { name: 'CVE-2', severity: 'HIGH' }
      ],
      enhancedFindings: [],
      severityCounts: { HIGH: 2 }
    })
    const inputs = ecrMock.commandCalls(DescribeImageScanFindingsCommand).map(c => c.args[0].input)
    expect(inputs).toEqual([
      {
        registryId: '123456789012',
        repositoryName: 'noblepay-api',
        imageId: { imageDigest: DIGEST },
        maxResults: 1000,
        nextToken: undefined
      },
      {
        registryId: '123456789012',
        repositoryName: 'noblepay-api',
        imageId: { imageDigest: DIGEST },
        maxResults: 1000,
        nextToken: 'page-2'
      }
    ])
  })

  it('reads enhanced findings of an ACTIVE (continuous) scan', async () => {
    ecrMock.on(DescribeImageScanFindingsCommand).resolves({
      imageScanStatus: { status: 'ACTIVE' },
      imageScanFindings: { enhancedFindings: [{ severity: 'CRITICAL', title: 'CVE-9' }] }
    })
    const lookup = await gateway(new FakeClock()).scanFindings(image, { pollMs: POLL_MS })
    expect(lookup).toMatchObject({
      kind: 'scanned',
      status: 'ACTIVE',
      findings: [],
      enhancedFindings: [{ severity: 'CRITICAL', title: 'CVE-9' }]
    })
  })

  it('waits for a scan in progress, one line per look, then reads it', async () => {
    ecrMock
      .on(DescribeImageScanFindingsCommand)
      .resolvesOnce(inProgress)
      .resolvesOnce({ imageScanStatus: { status: 'PENDING' } })
      .resolves(complete({ findings: [] }))
    const clock = new FakeClock()
    const lines: string[] = []
    const lookup = await gateway(clock).scanFindings(image, {
      pollMs: POLL_MS,
      onPoll: line => lines.push(line)
    })
    expect(lookup.kind).toBe('scanned')
    expect(lines).toEqual([
      '[0s] ECR scan of noblepay-api@sha256:cdcdcdcdcdcd: IN_PROGRESS (The scan is in progress.)',
      '[5s] ECR scan of noblepay-api@sha256:cdcdcdcdcdcd: PENDING'
    ])
    expect(clock.sleeps).toBe(2)
  })

  it('gives up waiting at the deadline and says how long it waited', async () => {
    ecrMock.on(DescribeImageScanFindingsCommand).resolves(inProgress)
    const clock = new FakeClock()
    const lookup = await gateway(clock, 12_000).scanFindings(image, { pollMs: POLL_MS })
    expect(lookup).toEqual({
      kind: 'unfinished',
      status: 'IN_PROGRESS',
      description: 'The scan is in progress.',
      waitedMs: 10_000
    })
    expect(ecrMock.commandCalls(DescribeImageScanFindingsCommand)).toHaveLength(3)
  })

  it.each([
    [
      'ScanNotFoundException',
      ScanNotFoundException,
      { kind: 'not-scanned', message: 'Image scan does not exist' }
    ],
    [
      'ImageNotFoundException',
      ImageNotFoundException,
      { kind: 'not-found', what: 'image', message: 'Image scan does not exist' }
    ],
    [
      'RepositoryNotFoundException',
      RepositoryNotFoundException,
      { kind: 'not-found', what: 'repository', message: 'Image scan does not exist' }
    ]
  ])('reads %s as an answer, not a failure', async (_name, Type, expected) => {
    ecrMock
      .on(DescribeImageScanFindingsCommand)
      .rejects(sdkError(Type, 'Image scan does not exist'))
    expect(await gateway(new FakeClock()).scanFindings(image, { pollMs: POLL_MS })).toEqual(
      expected
    )
    expect(ecrMock.commandCalls(DescribeImageScanFindingsCommand)).toHaveLength(1)
  })

  it('reports a scan that ended without findings as unusable, with its status', async () => {
    ecrMock.on(DescribeImageScanFindingsCommand).resolves({
      imageScanStatus: { status: 'FAILED', description: 'The image is corrupt' }
    })
    expect(await gateway(new FakeClock()).scanFindings(image, { pollMs: POLL_MS })).toEqual({
      kind: 'unusable',
      status: 'FAILED',
      description: 'The image is corrupt'
    })
  })

  it('tries a lost reply again, handing each attempt an abort signal', async () => {
    ecrMock
      .on(DescribeImageScanFindingsCommand)
      .rejectsOnce(
        Object.assign(new Error('We encountered an internal error'), {
          name: 'ServerException',
          $metadata: { httpStatusCode: 500 }
        })
      )
      .resolves(complete({ findings: [] }))
    const lookup = await gateway(new FakeClock()).scanFindings(image, { pollMs: POLL_MS })
    expect(lookup.kind).toBe('scanned')
    const calls = ecrMock.commandCalls(DescribeImageScanFindingsCommand)
    expect(calls).toHaveLength(2)
    // The SDK's send(command, options): the options carry the attempt's signal.
    for (const call of calls) expect((call.args as unknown[])[1]).toHaveProperty('abortSignal')
  })

  it('fails with the IAM hint when the role may not read scans', async () => {
    ecrMock.on(DescribeImageScanFindingsCommand).rejects(
      Object.assign(new Error('not authorized to perform: ecr:DescribeImageScanFindings'), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 400 }
      })
    )
    await expect(gateway(new FakeClock()).scanFindings(image, { pollMs: POLL_MS })).rejects.toThrow(
      /AccessDeniedException: .*the role lacks the permission/i
    )
  })
})
