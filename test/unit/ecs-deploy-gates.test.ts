import type { EnhancedImageScanFinding, ImageScanFinding } from '@aws-sdk/client-ecr'
import { DeadlineError } from '../../actions/shared/aws-call.js'
import { InputError } from '../../actions/shared/errors.js'
import { Inputs } from '../../actions/shared/inputs.js'
import { parseEcrImage, type EcrImage, type ScanLookup } from '../../actions/ecs-deploy/ecr.js'
import {
  checkGates,
  judgeCommitOrder,
  judgeScan,
  needsComparison,
  readGateInputs,
  scanFindings,
  type CommitOrderFacts,
  type GateDependencies,
  type GateInputs,
  type GateRequest
} from '../../actions/ecs-deploy/gates.js'
import type { CommitComparison } from '../../actions/ecs-deploy/github.js'
import { RecordingRunner, rejection } from '../support/runner.js'

const DIGEST = `sha256:${'ab'.repeat(32)}`
const ECR_IMAGE = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/noblepay-api@${DIGEST}`
const RUNNING = '1111111111111111111111111111111111111111'
const DEPLOYING = '2222222222222222222222222222222222222222'

const inputs = (values: Record<string, string>) => new Inputs(name => values[name] ?? '')
const noOverride = {}
const override = { AWS_ENDPOINT_URL_ECR: 'http://127.0.0.1:4599' }

describe('readGateInputs', () => {
  it('leaves both gates off when their inputs are empty', () => {
    expect(readGateInputs(inputs({ image: ECR_IMAGE }), noOverride)).toEqual({
      githubToken: '',
      allowOlderCommit: false,
      imageScanSeverity: undefined,
      scannedImage: undefined
    })
  })

  it('reads the token, allow-older-commit and a severity in any case, with the ECR image', () => {
    const gates = readGateInputs(
      inputs({
        image: ECR_IMAGE,
        'github-token': 'ghs_secret',
        'allow-older-commit': 'TRUE',
        'image-scan-severity': 'high'
      }),
      noOverride
    )
    expect(gates).toEqual({
      githubToken: 'ghs_secret',
      allowOlderCommit: true,
      imageScanSeverity: 'HIGH',
      scannedImage: {
        reference: ECR_IMAGE,
        registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
        registryId: '123456789012',
        region: 'eu-west-1',
        repository: 'noblepay-api',
        digest: DIGEST
      }
    })
  })

  it('refuses a severity it does not know, naming the input, the value and the accepted ones', () => {
    const error = (() => {
      try {
        readGateInputs(inputs({ image: ECR_IMAGE, 'image-scan-severity': 'SEVERE' }), noOverride)
      } catch (e) {
        return e as InputError
      }
    })()
    expect(error).toBeInstanceOf(InputError)
    expect(error?.message).toMatch(
      /^Input 'image-scan-severity' is 'SEVERE': use CRITICAL, HIGH, MEDIUM or LOW/
    )
  })

  it('refuses an allow-older-commit that is not a boolean', () => {
    expect(() => readGateInputs(inputs({ 'allow-older-commit': 'yes' }), noOverride)).toThrow(
      "Input 'allow-older-commit' is 'yes': use true or false"
    )
  })

  it('with the scan gate on, refuses an image given by tag: the digest is what was scanned', () => {
    expect(() =>
      readGateInputs(
        inputs({
          image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/noblepay-api:v2',
          'image-scan-severity': 'CRITICAL'
        }),
        noOverride
      )
    ).toThrow(
      /^Input 'image' is '123456789012\.dkr\.ecr\.eu-west-1\.amazonaws\.com\/noblepay-api:v2': with image-scan-severity set, deploy by digest/
    )
  })

  it('accepts a tag image while the scan gate is off, and no image at all for a rollback', () => {
    expect(
      readGateInputs(inputs({ image: 'registry.example/api:v2' }), noOverride).scannedImage
    ).toBeUndefined()
    expect(
      readGateInputs(inputs({ 'image-scan-severity': 'LOW' }), noOverride).scannedImage
    ).toBeUndefined()
  })

  it('counts any registry as ECR only when the ECR endpoint is overridden', () => {
    const local = `127.0.0.1:5000/payments-api@${DIGEST}`
    expect(() =>
      readGateInputs(inputs({ image: local, 'image-scan-severity': 'LOW' }), noOverride)
    ).toThrow(/^Input 'image' is '127\.0\.0\.1:5000\/payments-api@sha256:.*is not an ECR registry/)
    expect(
      readGateInputs(inputs({ image: local, 'image-scan-severity': 'LOW' }), override).scannedImage
    ).toEqual({
      reference: local,
      registry: '127.0.0.1:5000',
      registryId: undefined,
      region: undefined,
      repository: 'payments-api',
      digest: DIGEST
    })
    expect(
      readGateInputs(inputs({ image: local, 'image-scan-severity': 'LOW' }), {
        AWS_ENDPOINT_URL: 'http://127.0.0.1:4566'
      }).scannedImage?.repository
    ).toBe('payments-api')
    // The SDK ignores configured endpoints when told to; so does the gate.
    expect(() =>
      readGateInputs(inputs({ image: local, 'image-scan-severity': 'LOW' }), {
        ...override,
        AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true'
      })
    ).toThrow(/is not an ECR registry/)
  })
})

describe('parseEcrImage', () => {
  it.each([
    [
      `123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/team/api@${DIGEST}`,
      { registryId: '123456789012', region: 'cn-north-1', repository: 'team/api' }
    ],
    [
      `123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/api@${DIGEST}`,
      { registryId: '123456789012', region: 'us-east-1', repository: 'api' }
    ],
    [
      `123456789012.dkr-ecr.eu-west-1.on.aws/api@${DIGEST}`,
      { registryId: '123456789012', region: 'eu-west-1', repository: 'api' }
    ],
    [
      `123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:v2@${DIGEST}`,
      { registryId: '123456789012', region: 'eu-west-1', repository: 'api' }
    ]
  ])('reads %s', (reference, expected) => {
    expect(parseEcrImage(reference, false)).toMatchObject({ ...expected, digest: DIGEST })
  })

  it('refuses an image without a registry host, even against a stand-in', () => {
    expect(() => parseEcrImage(`library/api@${DIGEST}`, true)).toThrow(
      /^Input 'image' is 'library\/api@sha256:.*give the full reference/
    )
  })

  it('refuses a digest that is not a sha256 one', () => {
    expect(() =>
      parseEcrImage('123456789012.dkr.ecr.eu-west-1.amazonaws.com/api@sha256:abc', false)
    ).toThrow(/deploy by digest/)
  })
})

const facts = (overrides: Partial<CommitOrderFacts> = {}): CommitOrderFacts => ({
  service: 'noblepay-api',
  runningRevision: 'noblepay-api:41',
  runningCommit: RUNNING,
  deployingCommit: DEPLOYING,
  allowOlderCommit: false,
  ...overrides
})
const compared = (
  status: 'ahead' | 'behind' | 'identical' | 'diverged',
  aheadBy = 0,
  behindBy = 0
): CommitComparison => ({ kind: 'compared', status, aheadBy, behindBy })

describe('judgeCommitOrder', () => {
  it('passes a commit ahead of the running one, without a warning', () => {
    const verdict = judgeCommitOrder(facts(), compared('ahead', 3))
    expect(verdict).toEqual({
      verdict: 'pass',
      detail: `\`${DEPLOYING}\` is 3 commits ahead of \`${RUNNING}\`, which service 'noblepay-api' runs (noblepay-api:41)`
    })
  })

  it('passes an identical commit, without a warning', () => {
    const verdict = judgeCommitOrder(facts(), compared('identical'))
    expect(verdict.verdict).toBe('pass')
    expect(verdict).not.toHaveProperty('warning')
    expect(verdict.detail).toContain('the same commit')
  })

  it('passes the very commit that runs without asking GitHub', () => {
    const same = facts({ deployingCommit: RUNNING })
    expect(needsComparison(same)).toBe(false)
    const verdict = judgeCommitOrder(same, undefined)
    expect(verdict).toEqual({
      verdict: 'pass',
      detail: `\`${RUNNING}\` is the commit service 'noblepay-api' runs (noblepay-api:41)`
    })
  })

  it('refuses a commit behind the running one, naming both commits and the way out', () => {
    const verdict = judgeCommitOrder(facts(), compared('behind', 0, 2))
    expect(verdict.verdict).toBe('refuse')
    if (verdict.verdict !== 'refuse') return
    expect(verdict.reason).toBe(
      `Refused to deploy commit ${DEPLOYING}: it is 2 commits behind ${RUNNING}, which service 'noblepay-api' runs (noblepay-api:41), so the service would go back to older code. Deploy a newer commit, or set allow-older-commit: true to deploy this one on purpose.`
    )
  })

  it('passes a commit behind the running one with allow-older-commit, with a warning', () => {
    const verdict = judgeCommitOrder(facts({ allowOlderCommit: true }), compared('behind', 0, 1))
    expect(verdict.verdict).toBe('pass')
    expect(verdict).toHaveProperty(
      'warning',
      `Deploying commit ${DEPLOYING}, 1 commit behind ${RUNNING}, which service 'noblepay-api' runs (noblepay-api:41), because allow-older-commit is true.`
    )
  })

  it('passes diverged commits with a warning naming both and the counts', () => {
    const verdict = judgeCommitOrder(facts(), compared('diverged', 2, 1))
    expect(verdict.verdict).toBe('pass')
    if (verdict.verdict !== 'pass') return
    expect(verdict.warning).toContain(`Commit ${DEPLOYING} has diverged from ${RUNNING}`)
    expect(verdict.warning).toContain('2 commits ahead and 1 commit behind')
  })

  it('passes with a warning when GitHub cannot answer, saying why', () => {
    const verdict = judgeCommitOrder(facts(), {
      kind: 'unavailable',
      reason: 'GitHub answered 502 (Bad Gateway)'
    })
    expect(verdict.verdict).toBe('pass')
    if (verdict.verdict !== 'pass') return
    expect(verdict.warning).toBe(
      `The commit order was not checked: comparing ${DEPLOYING} with ${RUNNING}, which service 'noblepay-api' runs (noblepay-api:41), failed: GitHub answered 502 (Bad Gateway). Deploying anyway.`
    )
  })

  it('passes with a warning when the running revision has no commit tag', () => {
    const untagged = facts({ runningCommit: undefined })
    expect(needsComparison(untagged)).toBe(false)
    const verdict = judgeCommitOrder(untagged, undefined)
    expect(verdict).toMatchObject({
      verdict: 'pass',
      warning: expect.stringContaining(
        'the running revision noblepay-api:41 has no noblepay:commit tag'
      )
    })
  })

  it('passes with a warning when the run has no commit', () => {
    const verdict = judgeCommitOrder(facts({ deployingCommit: '' }), undefined)
    expect(verdict).toMatchObject({
      verdict: 'pass',
      warning: expect.stringContaining('this run has no commit (GITHUB_SHA is empty)')
    })
  })

  it('needs GitHub only when both commits are known and differ', () => {
    expect(needsComparison(facts())).toBe(true)
    expect(needsComparison(facts({ deployingCommit: '' }))).toBe(false)
    expect(needsComparison(facts({ runningCommit: '' }))).toBe(false)
  })

  it('says what it did not check, in the summary detail as in the warning', () => {
    expect(judgeCommitOrder(facts({ deployingCommit: '' }), undefined)).toEqual({
      verdict: 'pass',
      detail: 'not checked: this run has no commit (GITHUB_SHA is empty)',
      warning:
        'The commit order was not checked: this run has no commit (GITHUB_SHA is empty). Deploying anyway.'
    })
    expect(judgeCommitOrder(facts({ runningCommit: '' }), undefined)).toEqual({
      verdict: 'pass',
      detail:
        'not checked: the running revision noblepay-api:41 has no noblepay:commit tag (it was not registered by ecs-deploy)',
      warning:
        'The commit order was not checked: the running revision noblepay-api:41 has no noblepay:commit tag (it was not registered by ecs-deploy). Deploying anyway.'
    })
  })

  it('passes with a warning when two different commits were not compared at all', () => {
    expect(judgeCommitOrder(facts(), undefined)).toMatchObject({
      verdict: 'pass',
      warning: `The commit order was not checked: comparing ${DEPLOYING} with ${RUNNING}, which service 'noblepay-api' runs (noblepay-api:41), failed: GitHub was not asked. Deploying anyway.`
    })
  })

  it('details an identical, a diverged, an allowed older and a refused older commit for the summary', () => {
    expect(judgeCommitOrder(facts(), compared('identical'))).toEqual({
      verdict: 'pass',
      detail: `\`${DEPLOYING}\` is the same commit as \`${RUNNING}\`, which service 'noblepay-api' runs (noblepay-api:41)`
    })
    expect(judgeCommitOrder(facts(), compared('diverged', 1, 3))).toEqual({
      verdict: 'pass',
      detail: `\`${DEPLOYING}\` and \`${RUNNING}\` have diverged`,
      warning: `Commit ${DEPLOYING} has diverged from ${RUNNING}, which service 'noblepay-api' runs (noblepay-api:41): it is 1 commit ahead and 3 commits behind. Deploying it drops the running commit's own changes unless they are merged.`
    })
    expect(
      judgeCommitOrder(facts({ allowOlderCommit: true }), compared('behind', 0, 2))
    ).toMatchObject({
      detail: `\`${DEPLOYING}\` is 2 commits behind \`${RUNNING}\`; deployed because allow-older-commit is true`
    })
    expect(judgeCommitOrder(facts(), compared('behind', 0, 1))).toMatchObject({
      verdict: 'refuse',
      detail: `\`${DEPLOYING}\` is 1 commit behind \`${RUNNING}\``
    })
  })
})

const image: EcrImage = parseEcrImage(ECR_IMAGE, false)
const basic = (name: string, severity: string, pkg?: [string, string]): ImageScanFinding => ({
  name,
  severity: severity as ImageScanFinding['severity'],
  attributes: pkg
    ? [
        { key: 'package_version', value: pkg[1] },
        { key: 'package_name', value: pkg[0] },
        { key: 'CVSS2_SCORE', value: '7.5' }
      ]
    : []
})
const enhanced = (
  id: string,
  severity: string,
  packages: Array<[string, string]>,
  status = 'ACTIVE'
): EnhancedImageScanFinding => ({
  severity,
  status,
  title: `${id} - ${packages[0]?.[0] ?? ''}`,
  packageVulnerabilityDetails: {
    vulnerabilityId: id,
    vulnerablePackages: packages.map(([name, version]) => ({ name, version }))
  }
})
const scanned = (
  findings: ImageScanFinding[],
  enhancedFindings: EnhancedImageScanFinding[] = [],
  severityCounts: Record<string, number> = {}
): ScanLookup => ({
  kind: 'scanned',
  status: enhancedFindings.length > 0 ? 'ACTIVE' : 'COMPLETE',
  findings,
  enhancedFindings,
  severityCounts
})

describe('scanFindings', () => {
  it('reads both scan types, worst first, with the package and version where ECR gives them', () => {
    expect(
      scanFindings(
        [basic('CVE-2024-0002', 'MEDIUM', ['zlib', '1.2.11']), basic('CVE-2024-0001', 'HIGH')],
        [
          enhanced('CVE-2024-0003', 'CRITICAL', [
            ['openssl', '3.0.1'],
            ['libssl3', '3.0.1']
          ])
        ]
      )
    ).toEqual([
      {
        name: 'CVE-2024-0003',
        severity: 'CRITICAL',
        packages: [
          { name: 'openssl', version: '3.0.1' },
          { name: 'libssl3', version: '3.0.1' }
        ]
      },
      { name: 'CVE-2024-0001', severity: 'HIGH', packages: [] },
      { name: 'CVE-2024-0002', severity: 'MEDIUM', packages: [{ name: 'zlib', version: '1.2.11' }] }
    ])
  })

  it('leaves out enhanced findings suppressed or closed in Inspector, and names one by its title without an id', () => {
    const untitled: EnhancedImageScanFinding = { severity: 'HIGH', title: 'Insecure default' }
    expect(
      scanFindings(
        [],
        [
          enhanced('CVE-1', 'CRITICAL', [['a', '1']], 'SUPPRESSED'),
          enhanced('CVE-2', 'CRITICAL', [['b', '1']], 'CLOSED'),
          untitled
        ]
      )
    ).toEqual([{ name: 'Insecure default', severity: 'HIGH', packages: [] }])
  })

  it('names a finding without a name or an id by what is left, and one without a severity as UNDEFINED', () => {
    expect(
      scanFindings(
        [
          { attributes: [{ key: 'package_name', value: 'zlib' }] },
          { name: 'CVE-6', severity: 'LOW' }
        ],
        [
          { findingArn: 'arn:aws:inspector2:eu-west-1:123456789012:finding/f1', severity: 'LOW' },
          { severity: 'LOW' },
          { title: 'No severity', status: 'ACTIVE' },
          {
            severity: 'MEDIUM',
            status: 'ACTIVE',
            packageVulnerabilityDetails: {
              vulnerabilityId: 'CVE-5',
              vulnerablePackages: [{ version: '1' }, { name: 'curl' }]
            }
          }
        ]
      )
    ).toEqual([
      { name: 'CVE-5', severity: 'MEDIUM', packages: [{ name: 'curl', version: undefined }] },
      { name: '(unnamed)', severity: 'LOW', packages: [] },
      {
        name: 'arn:aws:inspector2:eu-west-1:123456789012:finding/f1',
        severity: 'LOW',
        packages: []
      },
      { name: 'CVE-6', severity: 'LOW', packages: [] },
      {
        name: '(unnamed)',
        severity: 'UNDEFINED',
        packages: [{ name: 'zlib', version: undefined }]
      },
      { name: 'No severity', severity: 'UNDEFINED', packages: [] }
    ])
  })

  it('orders findings of the same severity by name, and reads severities in any case', () => {
    expect(
      scanFindings(
        [basic('CVE-b', 'high'), basic('CVE-a', 'HIGH'), basic('CVE-c', 'critical')],
        []
      ).map(f => f.name)
    ).toEqual(['CVE-c', 'CVE-a', 'CVE-b'])
  })
})

describe('judgeScan', () => {
  it('passes an image without findings', () => {
    expect(judgeScan(scanned([]), 'CRITICAL', image)).toEqual({
      verdict: 'pass',
      detail: 'no findings',
      findings: []
    })
  })

  it('passes findings below the threshold, counting them', () => {
    const verdict = judgeScan(
      scanned([basic('CVE-1', 'HIGH'), basic('CVE-2', 'MEDIUM'), basic('CVE-3', 'MEDIUM')]),
      'CRITICAL',
      image
    )
    expect(verdict).toEqual({
      verdict: 'pass',
      detail: '3 findings, none at or above CRITICAL (1 HIGH, 2 MEDIUM)',
      findings: []
    })
  })

  it('refuses a finding at the threshold, naming it with its package and version', () => {
    const verdict = judgeScan(
      scanned([basic('CVE-2024-1', 'HIGH', ['openssl', '3.0.1']), basic('CVE-2', 'LOW')]),
      'HIGH',
      image
    )
    expect(verdict.verdict).toBe('refuse')
    if (verdict.verdict !== 'refuse') return
    expect(verdict.reason).toBe(
      `Refused to deploy ${ECR_IMAGE}: its ECR scan has 1 finding at or above HIGH (1 HIGH): CVE-2024-1 (HIGH, openssl 3.0.1). Rebuild on fixed packages and deploy the new digest.`
    )
    expect(verdict.findings.map(f => f.name)).toEqual(['CVE-2024-1'])
  })

  it('refuses a finding above the threshold, enhanced shape included', () => {
    const verdict = judgeScan(
      scanned([], [enhanced('CVE-2024-9', 'CRITICAL', [['glibc', '2.36-9']])]),
      'MEDIUM',
      image
    )
    expect(verdict).toMatchObject({
      verdict: 'refuse',
      detail: '1 finding at or above MEDIUM (1 CRITICAL)',
      reason: expect.stringContaining('CVE-2024-9 (CRITICAL, glibc 2.36-9)')
    })
  })

  it('never refuses informational, undefined or untriaged findings, even at LOW', () => {
    const verdict = judgeScan(
      scanned(
        [basic('CVE-1', 'INFORMATIONAL'), basic('CVE-2', 'UNDEFINED')],
        [enhanced('CVE-3', 'UNTRIAGED', [['x', '1']])]
      ),
      'LOW',
      image
    )
    expect(verdict.verdict).toBe('pass')
  })

  it('names the five worst findings in the error and keeps every blocking one for the summary', () => {
    const many = Array.from({ length: 7 }, (_, i) => basic(`CVE-2024-${i}`, 'HIGH'))
    const verdict = judgeScan(scanned([basic('CVE-0-CRIT', 'CRITICAL'), ...many]), 'HIGH', image)
    if (verdict.verdict !== 'refuse') throw new Error('expected a refusal')
    expect(verdict.reason).toContain('8 findings at or above HIGH (1 CRITICAL, 7 HIGH)')
    expect(verdict.reason).toContain(': CVE-0-CRIT (CRITICAL); CVE-2024-0 (HIGH)')
    expect(verdict.reason).toContain('; and 3 more (see the job summary)')
    expect(verdict.findings).toHaveLength(8)
  })

  it("refuses on ECR's counts when it lists no findings at all, and only then", () => {
    expect(judgeScan(scanned([], [], { CRITICAL: 2, LOW: 1 }), 'HIGH', image)).toMatchObject({
      verdict: 'refuse',
      detail: '2 findings at or above HIGH (2 CRITICAL)',
      reason: expect.stringContaining('(ECR lists no details)')
    })
    // Listed findings win over counts (an enhanced count may include suppressed ones).
    expect(
      judgeScan(scanned([basic('CVE-1', 'LOW')], [], { CRITICAL: 2 }), 'HIGH', image).verdict
    ).toBe('pass')
  })

  it('counts a single finding below the threshold in the singular', () => {
    expect(judgeScan(scanned([basic('CVE-1', 'LOW')]), 'MEDIUM', image)).toEqual({
      verdict: 'pass',
      detail: '1 finding, none at or above MEDIUM (1 LOW)',
      findings: []
    })
  })

  it('refuses on every count at or above the threshold, worst first, and passes zero counts', () => {
    const refused = judgeScan(
      scanned([], [], { LOW: 4, HIGH: 1, MEDIUM: 0, CRITICAL: 2 }),
      'HIGH',
      image
    )
    expect(refused).toEqual({
      verdict: 'refuse',
      detail: '3 findings at or above HIGH (2 CRITICAL, 1 HIGH)',
      reason: `Refused to deploy ${ECR_IMAGE}: its ECR scan has 3 findings at or above HIGH (2 CRITICAL, 1 HIGH) (ECR lists no details). Rebuild on fixed packages and deploy the new digest.`,
      findings: []
    })
    expect(judgeScan(scanned([], [], { CRITICAL: 0, HIGH: 0, LOW: 3 }), 'HIGH', image)).toEqual({
      verdict: 'pass',
      detail: 'no findings',
      findings: []
    })
    expect(judgeScan(scanned([], [], { HIGH: 1 }), 'HIGH', image)).toMatchObject({
      verdict: 'refuse',
      detail: '1 finding at or above HIGH (1 HIGH)'
    })
  })

  it('names exactly five findings without a "more" when five block', () => {
    const five = Array.from({ length: 5 }, (_, i) => basic(`CVE-${i}`, 'HIGH', ['pkg', `1.${i}`]))
    const verdict = judgeScan(scanned(five), 'HIGH', image)
    expect(verdict).toMatchObject({
      verdict: 'refuse',
      reason: `Refused to deploy ${ECR_IMAGE}: its ECR scan has 5 findings at or above HIGH (5 HIGH): CVE-0 (HIGH, pkg 1.0); CVE-1 (HIGH, pkg 1.1); CVE-2 (HIGH, pkg 1.2); CVE-3 (HIGH, pkg 1.3); CVE-4 (HIGH, pkg 1.4). Rebuild on fixed packages and deploy the new digest.`
    })
  })

  it('names a finding with its packages, with or without a version', () => {
    const verdict = judgeScan(
      scanned(
        [],
        [
          enhanced('CVE-7', 'HIGH', [
            ['openssl', '3.0.1'],
            ['libssl3', '']
          ])
        ]
      ),
      'HIGH',
      image
    )
    expect(verdict).toMatchObject({
      reason: expect.stringContaining(': CVE-7 (HIGH, openssl 3.0.1, libssl3). Rebuild')
    })
  })

  it('says why each unusable scan refuses, in the summary detail and in the reason', () => {
    const scanCommand = `aws ecr start-image-scan --repository-name noblepay-api --image-id imageDigest=${DIGEST}`
    expect(judgeScan({ kind: 'not-scanned', message: '' }, 'LOW', image)).toEqual({
      verdict: 'refuse',
      detail: 'no scan',
      reason: `Refused to deploy ${ECR_IMAGE}: ECR has no scan of it (ScanNotFoundException). Turn on scan on push for repository 'noblepay-api' (imageScanningConfiguration scanOnPush: true; build-push's create-repository sets it) or enhanced scanning for the registry, then push the image again or run ${scanCommand}.`,
      findings: []
    })
    expect(
      judgeScan({ kind: 'not-found', what: 'repository', message: 'gone' }, 'LOW', image)
    ).toEqual({
      verdict: 'refuse',
      detail: 'repository not found',
      reason: `Refused to deploy ${ECR_IMAGE}: ECR has no such repository (gone). Check the image input: deploy the build's image-digest output.`,
      findings: []
    })
    expect(
      judgeScan({ kind: 'unfinished', status: 'PENDING', waitedMs: 89_600 }, 'LOW', image)
    ).toEqual({
      verdict: 'refuse',
      detail: 'scan still PENDING',
      reason: `Refused to deploy ${ECR_IMAGE}: its ECR scan was still PENDING after 90s, the time wait-for-minutes allows. Deploy again once the scan has completed.`,
      findings: []
    })
    expect(judgeScan({ kind: 'unusable', status: '' }, 'LOW', image)).toEqual({
      verdict: 'refuse',
      detail: 'scan without a status',
      reason: `Refused to deploy ${ECR_IMAGE}: its ECR scan ended without a status, so there are no findings to judge. Scan it again with ${scanCommand}, or check that the image is one ECR can scan.`,
      findings: []
    })
    expect(judgeScan({ kind: 'unusable', status: 'FAILED' }, 'LOW', image)).toMatchObject({
      detail: 'scan FAILED',
      reason: expect.stringContaining('its ECR scan ended FAILED, so there are no findings')
    })
  })

  it('refuses an image that was never scanned, naming the setting to turn on', () => {
    const verdict = judgeScan(
      { kind: 'not-scanned', message: 'Image scan does not exist' },
      'CRITICAL',
      image
    )
    expect(verdict).toMatchObject({ verdict: 'refuse', detail: 'no scan' })
    if (verdict.verdict !== 'refuse') return
    expect(verdict.reason).toContain('ECR has no scan of it (Image scan does not exist)')
    expect(verdict.reason).toContain(
      "Turn on scan on push for repository 'noblepay-api' (imageScanningConfiguration scanOnPush: true"
    )
    expect(verdict.reason).toContain(
      `aws ecr start-image-scan --repository-name noblepay-api --image-id imageDigest=${DIGEST}`
    )
  })

  it('refuses an image ECR does not have, pointing at the image input', () => {
    expect(
      judgeScan({ kind: 'not-found', what: 'image', message: 'no such image' }, 'LOW', image)
    ).toMatchObject({
      verdict: 'refuse',
      detail: 'image not found',
      reason: expect.stringContaining(
        'ECR has no such image (no such image). Check the image input'
      )
    })
  })

  it('refuses a scan still running at the deadline, and one that failed', () => {
    expect(
      judgeScan({ kind: 'unfinished', status: 'IN_PROGRESS', waitedMs: 61_000 }, 'CRITICAL', image)
    ).toMatchObject({
      verdict: 'refuse',
      reason: expect.stringContaining('still IN_PROGRESS after 61s')
    })
    expect(
      judgeScan(
        {
          kind: 'unusable',
          status: 'UNSUPPORTED_IMAGE',
          description: 'The operating system is not supported'
        },
        'CRITICAL',
        image
      )
    ).toMatchObject({
      verdict: 'refuse',
      detail: 'scan UNSUPPORTED_IMAGE',
      reason: expect.stringContaining(
        'ended UNSUPPORTED_IMAGE (The operating system is not supported), so there are no findings to judge'
      )
    })
  })
})

describe('checkGates', () => {
  const off: GateInputs = { githubToken: '', allowOlderCommit: false }
  const token = 'ghs_0123456789abcdef'

  function setup(options: {
    runningCommit?: string
    comparison?: CommitComparison
    lookup?: ScanLookup | (() => Promise<ScanLookup>)
  }) {
    const runner = new RecordingRunner()
    const asked = { runningCommit: 0, compare: [] as string[][], scans: 0 }
    const request: GateRequest = {
      service: 'noblepay-api',
      runningRevision: 'noblepay-api:41',
      repository: 'noblepay/api',
      commit: DEPLOYING,
      runningCommit: async () => {
        asked.runningCommit++
        return options.runningCommit
      },
      pollMs: 1000
    }
    const deps: GateDependencies = {
      runner,
      commits: () => ({
        compare: async (repository, base, head) => {
          asked.compare.push([repository, base, head])
          return options.comparison ?? { kind: 'unavailable', reason: 'not set' }
        }
      }),
      scans: () => ({
        scanFindings: async (_image, wait) => {
          asked.scans++
          wait.onPoll?.('[0s] ECR scan of noblepay-api@sha256:abab: IN_PROGRESS')
          const lookup = options.lookup ?? scanned([])
          return typeof lookup === 'function' ? lookup() : lookup
        }
      })
    }
    return { runner, asked, request, deps }
  }

  it('with both gates off, asks nothing and passes without a summary', async () => {
    const { runner, asked, request, deps } = setup({})
    expect(await checkGates(request, off, deps)).toEqual({
      kind: 'passed',
      warnings: [],
      summary: ''
    })
    expect(asked).toEqual({ runningCommit: 0, compare: [], scans: 0 })
    expect(runner.lines).toEqual([])
  })

  it('compares the running commit with the deployed one in the run repository, masking the token', async () => {
    const { runner, asked, request, deps } = setup({
      runningCommit: RUNNING,
      comparison: compared('ahead', 1)
    })
    const outcome = await checkGates(request, { ...off, githubToken: token }, deps)
    expect(outcome.kind).toBe('passed')
    expect(asked.compare).toEqual([['noblepay/api', RUNNING, DEPLOYING]])
    expect(runner.secrets).toEqual([token])
    expect(runner.lines).toEqual([
      `Commit order: passed, ${DEPLOYING} is 1 commit ahead of ${RUNNING}, which service 'noblepay-api' runs (noblepay-api:41).`
    ])
    expect(outcome.summary).toContain('| Commit order | passed |')
  })

  it('writes a pass with a warning to the log and returns it', async () => {
    const { runner, request, deps } = setup({ runningCommit: undefined })
    const outcome = await checkGates(request, { ...off, githubToken: token }, deps)
    expect(outcome.kind).toBe('passed')
    if (outcome.kind !== 'passed') return
    expect(outcome.warnings).toHaveLength(1)
    expect(runner.warnings).toEqual(outcome.warnings)
  })

  it('refuses an older commit without reading the scan', async () => {
    const { asked, request, deps } = setup({
      runningCommit: RUNNING,
      comparison: compared('behind', 0, 4)
    })
    const outcome = await checkGates(
      request,
      { ...off, githubToken: token, imageScanSeverity: 'CRITICAL', scannedImage: image },
      deps
    )
    expect(outcome.kind).toBe('refused')
    if (outcome.kind !== 'refused') return
    expect(outcome.reason).toContain(`it is 4 commits behind ${RUNNING}`)
    expect(outcome.summary).toContain('| Commit order | refused |')
    expect(outcome.summary).toContain(`**Why it was refused:** ${outcome.reason}`)
    expect(asked.scans).toBe(0)
  })

  it('refuses scan findings, listing them in the summary, with the poll lines in the log', async () => {
    const { runner, request, deps } = setup({
      lookup: scanned([basic('CVE-2024-7', 'CRITICAL', ['openssl', '3.0.1'])])
    })
    const outcome = await checkGates(
      request,
      { ...off, imageScanSeverity: 'HIGH', scannedImage: image },
      deps
    )
    expect(outcome.kind).toBe('refused')
    expect(outcome.summary).toContain('| Image scan (refuses HIGH and above) | refused |')
    expect(outcome.summary).toContain('| CRITICAL | CVE-2024-7 | openssl | 3.0.1 |')
    expect(runner.lines).toContain('[0s] ECR scan of noblepay-api@sha256:abab: IN_PROGRESS')
  })

  it('passes a clean scan and says so', async () => {
    const { runner, request, deps } = setup({})
    const outcome = await checkGates(
      request,
      { ...off, imageScanSeverity: 'LOW', scannedImage: image },
      deps
    )
    expect(outcome.kind).toBe('passed')
    expect(runner.lines).toContain('Image scan (refuses LOW and above): passed, no findings.')
  })

  it('sums the gates up in a table, with the warning of a pass and no refusal', async () => {
    const { runner, request, deps } = setup({
      runningCommit: RUNNING,
      comparison: compared('diverged', 2, 1)
    })
    const outcome = await checkGates(
      request,
      { ...off, githubToken: token, imageScanSeverity: 'CRITICAL', scannedImage: image },
      deps
    )
    expect(outcome).toEqual({
      kind: 'passed',
      warnings: [expect.stringContaining(`Commit ${DEPLOYING} has diverged from ${RUNNING}`)],
      summary: [
        '**Gates**',
        [
          '| Gate | Result | Detail |',
          '| --- | --- | --- |',
          `| Commit order | passed | \`${DEPLOYING}\` and \`${RUNNING}\` have diverged |`,
          '| Image scan (refuses CRITICAL and above) | passed | no findings |'
        ].join('\n')
      ].join('\n\n')
    })
    expect(runner.warnings).toEqual(outcome.kind === 'passed' ? outcome.warnings : [])
    expect(runner.lines).toContain('Image scan (refuses CRITICAL and above): passed, no findings.')
    expect(runner.lines.filter(l => l.startsWith('Commit order'))).toEqual([])
  })

  it('reads no scan without an image to scan, even with a severity set', async () => {
    const { asked, request, deps } = setup({})
    const outcome = await checkGates(request, { ...off, imageScanSeverity: 'LOW' }, deps)
    expect(outcome).toEqual({ kind: 'passed', warnings: [], summary: '' })
    expect(asked.scans).toBe(0)
  })

  it('logs nothing for a refused gate but its refusal, and lists the findings with their packages', async () => {
    const { runner, request, deps } = setup({
      lookup: scanned(
        [],
        [
          enhanced('CVE-2024-8', 'HIGH', [
            ['openssl', '3.0.1'],
            ['libssl3', '']
          ])
        ]
      )
    })
    const outcome = await checkGates(
      request,
      { ...off, imageScanSeverity: 'HIGH', scannedImage: image },
      deps
    )
    expect(outcome.kind).toBe('refused')
    if (outcome.kind !== 'refused') return
    expect(runner.lines).toEqual(['[0s] ECR scan of noblepay-api@sha256:abab: IN_PROGRESS'])
    expect(runner.warnings).toEqual([])
    expect(outcome.summary).toBe(
      [
        '**Gates**',
        [
          '| Gate | Result | Detail |',
          '| --- | --- | --- |',
          '| Image scan (refuses HIGH and above) | refused | 1 finding at or above HIGH (1 HIGH) |'
        ].join('\n'),
        `**Why it was refused:** ${outcome.reason}`,
        [
          '| Severity | Finding | Package | Version |',
          '| --- | --- | --- | --- |',
          '| HIGH | CVE-2024-8 | openssl, libssl3 | 3.0.1,  |'
        ].join('\n')
      ].join('\n\n')
    )
  })

  it('lists at most 25 findings in the summary and says how many more there are', async () => {
    const many = Array.from({ length: 27 }, (_, i) =>
      basic(`CVE-2024-${String(i).padStart(2, '0')}`, 'CRITICAL')
    )
    const { request, deps } = setup({ lookup: scanned(many) })
    const outcome = await checkGates(
      request,
      { ...off, imageScanSeverity: 'CRITICAL', scannedImage: image },
      deps
    )
    const rows = outcome.summary.split('\n').filter(l => l.startsWith('| CRITICAL |'))
    expect(rows).toHaveLength(25)
    expect(rows[0]).toBe('| CRITICAL | CVE-2024-00 |  |  |')
    expect(rows[24]).toBe('| CRITICAL | CVE-2024-24 |  |  |')
    expect(outcome.summary.endsWith('…and 2 more findings at or above the threshold.')).toBe(true)
  })

  it('leaves the version cell empty for a package ECR gives no version of', async () => {
    const { request, deps } = setup({
      lookup: scanned([
        {
          name: 'CVE-9',
          severity: 'CRITICAL',
          attributes: [{ key: 'package_name', value: 'zlib' }]
        }
      ])
    })
    const outcome = await checkGates(
      request,
      { ...off, imageScanSeverity: 'CRITICAL', scannedImage: image },
      deps
    )
    expect(outcome.summary).toContain('| CRITICAL | CVE-9 | zlib |  |')
  })

  it('lists exactly 25 findings without a "more" line', async () => {
    const many = Array.from({ length: 25 }, (_, i) => basic(`CVE-${i}`, 'CRITICAL'))
    const { request, deps } = setup({ lookup: scanned(many) })
    const outcome = await checkGates(
      request,
      { ...off, imageScanSeverity: 'CRITICAL', scannedImage: image },
      deps
    )
    expect(outcome.summary.split('\n').filter(l => l.startsWith('| CRITICAL |'))).toHaveLength(25)
    expect(outcome.summary).not.toContain('more findings')
  })

  it('refuses when ECR keeps failing until the deadline, and lets other errors through', async () => {
    const deadline = setup({
      lookup: async () => {
        throw new DeadlineError('ECR DescribeImageScanFindings', 4, new Error('socket hang up'))
      }
    })
    const outcome = await checkGates(
      deadline.request,
      { ...off, imageScanSeverity: 'LOW', scannedImage: image },
      deadline.deps
    )
    expect(outcome).toMatchObject({
      kind: 'refused',
      reason: expect.stringContaining(
        'its scan could not be read, ECR DescribeImageScanFindings did not succeed before the deadline (4 attempts'
      )
    })
    expect(outcome.summary).toContain(
      '| Image scan (refuses LOW and above) | refused | ECR did not answer |'
    )
    const denied = setup({
      lookup: async () => {
        throw new Error('AccessDeniedException')
      }
    })
    const error = await rejection(
      checkGates(
        denied.request,
        { ...off, imageScanSeverity: 'LOW', scannedImage: image },
        denied.deps
      )
    )
    expect(error.message).toBe('AccessDeniedException')
  })
})
