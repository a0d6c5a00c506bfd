/**
 * ecs-deploy's gates, with the built bundle run as the runner runs it: against the ECS
 * stand-in, the ECR stand-in serving scan findings, and a local server playing GitHub's compare
 * API. A refusal must come before any RegisterTaskDefinition or UpdateService.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { basicFinding, type EcrStandin, type ScanSpec } from '../../tools/ecr-standin/server.js'
import type { EcsStandin } from '../../tools/ecs-standin/server.js'
import { runBundle } from '../support/bundle.js'
import { addSteadyService } from '../support/ecs-fixtures.js'
import { startGateStandins, type GateStandins } from '../support/gate-standins.js'
import type { CompareAnswer, CompareApi } from '../support/github-api.js'

const RUNNING = 'c0ffee0000000000000000000000000000000001'
const DEPLOYING = 'c0ffee0000000000000000000000000000000002'
const TOKEN = 'ghs_gateTokenThatMustNeverBeShown42'
const DIGEST = `sha256:${'5e'.repeat(32)}`
const IMAGE = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/api@${DIGEST}`

let standins: GateStandins
let ecs: EcsStandin
let ecr: EcrStandin
let github: CompareApi

beforeEach(async () => {
  // Every image here has its scan set, so the registry behind the stand-in is never asked.
  standins = await startGateStandins()
  ;({ ecs, ecr, github } = standins)
})
afterEach(() => standins.close())

/** A steady service `api` on revision 1, tagged with the commit it was built from (unless null). */
function addService(commit: string | null = RUNNING) {
  addSteadyService(ecs, commit ? [{ key: 'noblepay:commit', value: commit }] : [])
}

const env = (overrides: Record<string, string> = {}) => ({
  AWS_ENDPOINT_URL_ECS: ecs.endpoint,
  AWS_ENDPOINT_URL_ECR: ecr.endpoint,
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  GITHUB_API_URL: github.url,
  GITHUB_SHA: DEPLOYING,
  ...overrides
})

const deploy = (inputs: Record<string, string>, envOverrides: Record<string, string> = {}) =>
  runBundle('ecs-deploy', {
    inputs: {
      cluster: 'payments',
      service: 'api',
      image: IMAGE,
      'poll-interval-seconds': '0.2',
      'wait-for-minutes': '1',
      ...inputs
    },
    env: env(envOverrides)
  })

const changes = () => ({
  register: ecs.calls.filter(c => c.operation === 'RegisterTaskDefinition').length,
  update: ecs.calls.filter(c => c.operation === 'UpdateService').length
})
const scanReads = () => ecr.calls.filter(c => c.operation === 'DescribeImageScanFindings').length
const errorLines = (stdout: string) => stdout.split('\n').filter(l => l.startsWith('::error::'))
const warningLines = (stdout: string) => stdout.split('\n').filter(l => l.startsWith('::warning::'))

type Run = Awaited<ReturnType<typeof deploy>>

function expectRefused(run: Run): string {
  expect(run.exitCode).toBe(1)
  expect(run.outputs.status).toBe('refused')
  expect(changes()).toEqual({ register: 0, update: 0 })
  expect(run.summary).toContain('| Status | refused |')
  const errors = errorLines(run.stdout)
  expect(errors).toHaveLength(1)
  return errors[0]!
}

function expectDeployed(run: Run): void {
  expect(run.stderr).not.toMatch(/Error/)
  expect(run.exitCode).toBe(0)
  expect(run.outputs.status).toBe('succeeded')
  expect(changes()).toEqual({ register: 1, update: 1 })
}

describe('ecs-deploy image-scan gate', () => {
  const scan = (spec: ScanSpec) => ecr.setScanFindings(DIGEST, spec)

  it('deploys an image whose scan has no findings', async () => {
    addService()
    scan({ findings: [] })
    const run = await deploy({ 'image-scan-severity': 'HIGH' })
    expectDeployed(run)
    expect(run.stdout).toContain('Image scan (refuses HIGH and above): passed, no findings.')
    expect(run.summary).toContain('| Image scan (refuses HIGH and above) | passed | no findings |')
  })

  it('deploys an image whose findings are all below the severity', async () => {
    addService()
    scan({ findings: [basicFinding('CVE-2024-10', 'MEDIUM', 'zlib', '1.2.11')] })
    const run = await deploy({ 'image-scan-severity': 'HIGH' })
    expectDeployed(run)
    expect(run.summary).toContain('1 finding, none at or above HIGH (1 MEDIUM)')
  })

  it('refuses a finding at the severity, naming it, before anything is registered', async () => {
    addService()
    scan({
      findings: [
        basicFinding('CVE-2024-20', 'HIGH', 'openssl', '3.0.1'),
        basicFinding('CVE-2024-21', 'LOW', 'bash', '5.2')
      ]
    })
    const run = await deploy({ 'image-scan-severity': 'HIGH' })
    const error = expectRefused(run)
    expect(error).toBe(
      `::error::Refused to deploy ${IMAGE}: its ECR scan has 1 finding at or above HIGH (1 HIGH): CVE-2024-20 (HIGH, openssl 3.0.1). Rebuild on fixed packages and deploy the new digest.`
    )
    expect(run.summary).toContain('| HIGH | CVE-2024-20 | openssl | 3.0.1 |')
    expect(run.summary).not.toContain('CVE-2024-21')
  })

  it('refuses a finding above the severity', async () => {
    addService()
    scan({ findings: [basicFinding('CVE-2024-30', 'CRITICAL', 'glibc', '2.36-9')] })
    const run = await deploy({ 'image-scan-severity': 'MEDIUM' })
    expect(expectRefused(run)).toContain(
      'its ECR scan has 1 finding at or above MEDIUM (1 CRITICAL): CVE-2024-30 (CRITICAL, glibc 2.36-9)'
    )
  })

  it('waits for a scan in progress, printing each look, then deploys once it completes clean', async () => {
    addService()
    scan({ inProgressMs: 900, findings: [] })
    const run = await deploy({ 'image-scan-severity': 'CRITICAL' })
    expectDeployed(run)
    const polls = run.stdout
      .split('\n')
      .filter(l => /^\[\d+s\] ECR scan of api@sha256:5e5e5e5e5e5e: IN_PROGRESS/.test(l))
    expect(polls.length).toBeGreaterThanOrEqual(2)
    expect(scanReads()).toBe(polls.length + 1)
    // The registration came only after the scan was read complete.
    const registered = ecs.calls.find(c => c.operation === 'RegisterTaskDefinition')!
    expect(registered.at - run.startedAt).toBeGreaterThanOrEqual(900)
  })

  it('waits for a scan in progress, then refuses the findings it completes with', async () => {
    addService()
    scan({ inProgressMs: 600, findings: [basicFinding('CVE-2024-40', 'CRITICAL', 'curl', '7.88')] })
    const run = await deploy({ 'image-scan-severity': 'CRITICAL' })
    expect(expectRefused(run)).toContain('CVE-2024-40 (CRITICAL, curl 7.88)')
    expect(run.stdout).toMatch(/ECR scan of api@sha256:5e5e5e5e5e5e: IN_PROGRESS/)
  })

  it('refuses a scan still in progress when wait-for-minutes runs out', async () => {
    addService()
    scan({ inProgressMs: 60_000, findings: [] })
    const run = await deploy({ 'image-scan-severity': 'CRITICAL', 'wait-for-minutes': '0.02' })
    expect(expectRefused(run)).toMatch(
      /its ECR scan was still IN_PROGRESS after \ds, the time wait-for-minutes allows/
    )
    expect(run.durationMs).toBeLessThan(10_000)
  })

  it('refuses an image that was never scanned, naming the setting to turn on', async () => {
    addService()
    ecr.setScanFindings(DIGEST, 'no-scan')
    const run = await deploy({ 'image-scan-severity': 'LOW' })
    const error = expectRefused(run)
    expect(error).toContain('ECR has no scan of it')
    expect(error).toContain(
      "Turn on scan on push for repository 'api' (imageScanningConfiguration scanOnPush: true"
    )
  })

  it('refuses enhanced-scanning findings as well', async () => {
    addService()
    scan({
      enhancedFindings: [
        {
          severity: 'HIGH',
          status: 'ACTIVE',
          title: 'CVE-2024-50 - libxml2',
          packageVulnerabilityDetails: {
            vulnerabilityId: 'CVE-2024-50',
            vulnerablePackages: [{ name: 'libxml2', version: '2.9.14' }]
          }
        }
      ]
    })
    const run = await deploy({ 'image-scan-severity': 'HIGH' })
    expect(expectRefused(run)).toContain('CVE-2024-50 (HIGH, libxml2 2.9.14)')
  })

  it.each([
    [
      { 'image-scan-severity': 'SEVERE' },
      {},
      "::error::Input 'image-scan-severity' is 'SEVERE': use CRITICAL, HIGH, MEDIUM or LOW"
    ],
    [
      {
        'image-scan-severity': 'HIGH',
        image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:v2'
      },
      {},
      "::error::Input 'image' is '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:v2': with image-scan-severity set, deploy by digest"
    ],
    [
      { 'image-scan-severity': 'HIGH', image: `registry.example/api@${DIGEST}` },
      { AWS_ENDPOINT_URL_ECR: '' },
      `::error::Input 'image' is 'registry.example/api@${DIGEST}': image-scan-severity reads ECR's scan findings, and registry.example is not an ECR registry`
    ]
  ])('bad input %j fails before any AWS call', async (inputs, envOverrides, message) => {
    addService()
    const run = await deploy(inputs, envOverrides)
    expect(run.exitCode).toBe(1)
    expect(errorLines(run.stdout)).toHaveLength(1)
    expect(errorLines(run.stdout)[0]).toMatch(new RegExp(`^${escape(message)}`))
    expect(ecs.calls).toHaveLength(0)
    expect(ecr.calls).toHaveLength(0)
  })
})

describe('ecs-deploy commit-order gate', () => {
  const compare = (answer: CompareAnswer | CompareAnswer[]) =>
    github.answer(RUNNING, DEPLOYING, answer)
  const gated = (inputs: Record<string, string> = {}) =>
    deploy({ 'github-token': TOKEN, ...inputs })
  // The image is in ECR (deploys check it is before anything else); these tests set no scan.
  beforeEach(() => ecr.holdImage(DIGEST))

  /** The token went to GitHub's Authorization header, and nowhere a person can read. */
  function expectTokenKeptSecret(run: Run) {
    for (const request of github.requests) expect(request.authorization).toBe(`token ${TOKEN}`)
    // The runner consumes ::add-mask:: commands (it never shows them) and masks the value after.
    expect(run.stdout).toContain(`::add-mask::${TOKEN}`)
    const shown = run.stdout
      .split('\n')
      .filter(line => !line.startsWith('::add-mask::'))
      .join('\n')
    expect(shown).not.toContain(TOKEN)
    expect(run.stderr).not.toContain(TOKEN)
    expect(run.summary).not.toContain(TOKEN)
  }

  it('deploys a commit ahead of the running one', async () => {
    addService()
    compare({ status: 'ahead', aheadBy: 2 })
    const run = await gated()
    expectDeployed(run)
    expect(github.requests.map(r => [r.owner, r.repo, r.base, r.head])).toEqual([
      ['noblepay', 'api', RUNNING, DEPLOYING]
    ])
    expect(run.stdout).toContain(
      `Commit order: passed, ${DEPLOYING} is 2 commits ahead of ${RUNNING}, which service 'api' runs (api:1).`
    )
    expect(warningLines(run.stdout)).toEqual([])
    expectTokenKeptSecret(run)
  })

  it('refuses a commit behind the running one, naming both, before anything is registered', async () => {
    addService()
    compare({ status: 'behind', behindBy: 3 })
    const run = await gated()
    expect(expectRefused(run)).toBe(
      `::error::Refused to deploy commit ${DEPLOYING}: it is 3 commits behind ${RUNNING}, which service 'api' runs (api:1), so the service would go back to older code. Deploy a newer commit, or set allow-older-commit: true to deploy this one on purpose.`
    )
    expect(run.summary).toContain('| Commit order | refused |')
    expectTokenKeptSecret(run)
  })

  it('deploys a behind commit with allow-older-commit: true, with a warning', async () => {
    addService()
    compare({ status: 'behind', behindBy: 1 })
    const run = await gated({ 'allow-older-commit': 'true' })
    expectDeployed(run)
    expect(warningLines(run.stdout)).toEqual([
      `::warning::Deploying commit ${DEPLOYING}, 1 commit behind ${RUNNING}, which service 'api' runs (api:1), because allow-older-commit is true.`
    ])
  })

  it('deploys diverged commits with a warning naming both', async () => {
    addService()
    compare({ status: 'diverged', aheadBy: 1, behindBy: 2 })
    const run = await gated()
    expectDeployed(run)
    const [warning] = warningLines(run.stdout)
    expect(warning).toContain(`Commit ${DEPLOYING} has diverged from ${RUNNING}`)
    expect(warning).toContain('1 commit ahead and 2 commits behind')
  })

  it('deploys an identical commit', async () => {
    addService()
    compare({ status: 'identical' })
    const run = await gated()
    expectDeployed(run)
    expect(warningLines(run.stdout)).toEqual([])
    expect(run.summary).toContain('| Commit order | passed |')
  })

  it('deploys with a warning when GitHub answers 404', async () => {
    addService()
    const run = await gated()
    expectDeployed(run)
    expect(warningLines(run.stdout)).toEqual([
      expect.stringMatching(
        /^::warning::The commit order was not checked: comparing .* failed: GitHub answered 404 .*one of the commits is not in noblepay\/api/
      )
    ])
    expect(github.requests).toHaveLength(1)
  })

  it('deploys with a warning when GitHub answers 500, after asking twice', async () => {
    addService()
    compare({ http: 500, message: 'Server Error' })
    const run = await gated()
    expectDeployed(run)
    expect(warningLines(run.stdout)).toEqual([
      expect.stringContaining('failed: GitHub answered 500 (Server Error). Deploying anyway.')
    ])
    expect(github.requests).toHaveLength(2)
    expectTokenKeptSecret(run)
  })

  it('deploys with a warning, without asking GitHub, when the running revision has no commit tag', async () => {
    addService(null)
    const run = await gated()
    expectDeployed(run)
    expect(warningLines(run.stdout)).toEqual([
      expect.stringContaining('the running revision api:1 has no noblepay:commit tag')
    ])
    expect(github.requests).toHaveLength(0)
  })

  it('reads the running commit with one extra read when a template is the base', async () => {
    addService()
    compare({ status: 'behind', behindBy: 1 })
    const dir = await mkdtemp(join(tmpdir(), 'gate-template-'))
    try {
      const template = join(dir, 'task-definition.json')
      await writeFile(
        template,
        JSON.stringify({
          family: 'api',
          requiresCompatibilities: ['FARGATE'],
          networkMode: 'awsvpc',
          cpu: '256',
          memory: '512',
          containerDefinitions: [{ name: 'api', image: 'placeholder', essential: true }]
        })
      )
      const run = await gated({ 'task-definition': template })
      expect(expectRefused(run)).toContain(`it is 1 commit behind ${RUNNING}`)
      expect(ecs.calls.filter(c => c.operation === 'DescribeTaskDefinition')).toHaveLength(1)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('refuses an older commit without reading the image scan', async () => {
    addService()
    compare({ status: 'behind', behindBy: 1 })
    ecr.setScanFindings(DIGEST, { findings: [] })
    const run = await gated({ 'image-scan-severity': 'CRITICAL' })
    expectRefused(run)
    expect(scanReads()).toBe(0)
  })

  it('rollback-to runs neither gate', async () => {
    addService()
    expectDeployed(await deploy({ image: 'local/api:v2' }))
    compare({ status: 'behind', behindBy: 1 })
    ecr.setScanFindings(DIGEST, 'no-scan')
    const run = await deploy({
      image: '',
      'rollback-to': 'api:1',
      'github-token': TOKEN,
      'image-scan-severity': 'CRITICAL'
    })
    expect(run.exitCode).toBe(0)
    expect(run.outputs.status).toBe('succeeded')
    expect(github.requests).toHaveLength(0)
    expect(scanReads()).toBe(0)
  })
})

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

describe('the image must be in ECR before anything is registered', () => {
  it('waits for a digest that replication has not copied yet, then deploys', async () => {
    addService()
    ecr.holdImage(DIGEST)
    ecr.setReplicationLag(DIGEST, 1_500)
    const run = await deploy({})
    expectDeployed(run)
    const looks = ecr.calls.filter(c => c.operation === 'DescribeImages').length
    expect(looks).toBeGreaterThan(1)
  })

  it('a digest that never arrives fails within the deadline, naming replication, with nothing changed', async () => {
    addService()
    ecr.holdImage(DIGEST)
    ecr.setReplicationLag(DIGEST, Infinity)
    const run = await deploy({ 'wait-for-minutes': '0.05' })
    expect([run.exitCode, run.outputs.status]).toEqual([1, 'failed'])
    const [error] = errorLines(run.stdout)
    expect(error).toMatch(/replication/i)
    expect(error).toContain(DIGEST)
    expect(changes()).toEqual({ register: 0, update: 0 })
    expect(run.durationMs).toBeLessThan(3_000 + 5_000)
  })
})
