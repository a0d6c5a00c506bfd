/**
 * The gates a deploy passes before anything is registered or updated:
 * - commit order: the commit being deployed is not older than the one the service runs (the
 *   running revision's noblepay:commit tag), as GitHub's compare API says;
 * - image scan: the image has no ECR scan findings at or above a severity.
 * The decisions are pure functions over what the GitHub and ECR gateways read; checkGates runs
 * them in order and says whether the deploy may go on.
 */
import {
  ECRClient,
  type EnhancedImageScanFinding,
  type ImageScanFinding
} from '@aws-sdk/client-ecr'
import { attemptTimeoutFor, AwsCaller, DeadlineError } from '../shared/aws-call.js'
import { clientSettings } from '../shared/aws.js'
import { describeError, InputError } from '../shared/errors.js'
import type { Inputs } from '../shared/inputs.js'
import type { Clock, Runner } from '../shared/runner.js'
import { code, table } from '../shared/summary.js'
import {
  ecrEndpointOverridden,
  EcrGateway,
  parseEcrImage,
  type EcrImage,
  type ScanLookup,
  type ScanReader
} from './ecr.js'
import { GitHubGateway, type CommitComparer, type CommitComparison } from './github.js'

// ---- inputs ---------------------------------------------------------------------------------

/** The severities image-scan-severity accepts, most severe first. */
export const SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'] as const
export type Severity = (typeof SEVERITIES)[number]

export interface GateInputs {
  /** Empty: the commit-order gate is off. */
  githubToken: string
  allowOlderCommit: boolean
  /** Undefined: the scan gate is off. */
  imageScanSeverity?: Severity
  /** The ECR image whose scan is read; set when the scan gate is on and an image is deployed. */
  scannedImage?: EcrImage
}

/** Reads github-token, allow-older-commit and image-scan-severity (with the image it gates). */
export function readGateInputs(inputs: Inputs, env: NodeJS.ProcessEnv = process.env): GateInputs {
  const raw = inputs.string('image-scan-severity')
  const imageScanSeverity = SEVERITIES.find(s => s === raw.toUpperCase())
  if (raw !== '' && !imageScanSeverity) {
    throw new InputError(
      'image-scan-severity',
      raw,
      'use CRITICAL, HIGH, MEDIUM or LOW (a finding at or above it refuses the deploy), or leave it empty to deploy without reading the scan'
    )
  }
  const image = inputs.string('image')
  return {
    githubToken: inputs.string('github-token'),
    allowOlderCommit: inputs.boolean('allow-older-commit', false),
    imageScanSeverity,
    scannedImage:
      imageScanSeverity && image !== ''
        ? parseEcrImage(image, ecrEndpointOverridden(env))
        : undefined
  }
}

// ---- decisions ------------------------------------------------------------------------------

/** What one gate decided. A pass may carry a warning; a refusal carries the whole reason. */
export type GateVerdict =
  | { verdict: 'pass'; detail: string; warning?: string }
  | { verdict: 'refuse'; detail: string; reason: string }

export interface CommitOrderFacts {
  service: string
  /** The revision the service runs, e.g. noblepay-api:41. */
  runningRevision: string
  /** Its noblepay:commit tag; undefined when it has none. */
  runningCommit?: string
  /** The commit this run deploys; empty when the run has none. */
  deployingCommit: string
  allowOlderCommit: boolean
}

/** Whether GitHub must be asked: only when both commits are known and differ. */
export function needsComparison(facts: CommitOrderFacts): boolean {
  return (
    Boolean(facts.runningCommit && facts.deployingCommit) &&
    facts.runningCommit !== facts.deployingCommit
  )
}

/**
 * Commit order. Behind refuses (unless allow-older-commit); ahead and identical pass; diverged
 * passes with a warning, since neither commit contains the other; when the order cannot be
 * known (no tag, no commit, GitHub cannot answer) the deploy goes on with a warning saying so.
 * `comparison` is undefined when GitHub was not asked (see needsComparison).
 */
export function judgeCommitOrder(
  facts: CommitOrderFacts,
  comparison: CommitComparison | undefined
): GateVerdict {
  const running = facts.runningCommit ?? ''
  const deploying = facts.deployingCommit
  const where = `service '${facts.service}' runs (${facts.runningRevision})`
  const unchecked = (why: string): GateVerdict => ({
    verdict: 'pass',
    detail: `not checked: ${why}`,
    warning: `The commit order was not checked: ${why}. Deploying anyway.`
  })
  if (running === '')
    return unchecked(
      `the running revision ${facts.runningRevision} has no noblepay:commit tag (it was not registered by ecs-deploy)`
    )
  if (deploying === '') return unchecked('this run has no commit (GITHUB_SHA is empty)')
  if (running === deploying)
    return { verdict: 'pass', detail: `${code(deploying)} is the commit ${where}` }
  if (!comparison || comparison.kind === 'unavailable') {
    return unchecked(
      `comparing ${deploying} with ${running}, which ${where}, failed: ${comparison?.reason ?? 'GitHub was not asked'}`
    )
  }
  const commits = (n: number) => `${n} commit${n === 1 ? '' : 's'}`
  switch (comparison.status) {
    case 'identical':
      return {
        verdict: 'pass',
        detail: `${code(deploying)} is the same commit as ${code(running)}, which ${where}`
      }
    case 'ahead':
      return {
        verdict: 'pass',
        detail: `${code(deploying)} is ${commits(comparison.aheadBy)} ahead of ${code(running)}, which ${where}`
      }
    case 'diverged':
      return {
        verdict: 'pass',
        detail: `${code(deploying)} and ${code(running)} have diverged`,
        warning: `Commit ${deploying} has diverged from ${running}, which ${where}: it is ${commits(comparison.aheadBy)} ahead and ${commits(comparison.behindBy)} behind. Deploying it drops the running commit's own changes unless they are merged.`
      }
    case 'behind':
      if (facts.allowOlderCommit) {
        return {
          verdict: 'pass',
          detail: `${code(deploying)} is ${commits(comparison.behindBy)} behind ${code(running)}; deployed because allow-older-commit is true`,
          warning: `Deploying commit ${deploying}, ${commits(comparison.behindBy)} behind ${running}, which ${where}, because allow-older-commit is true.`
        }
      }
      return {
        verdict: 'refuse',
        detail: `${code(deploying)} is ${commits(comparison.behindBy)} behind ${code(running)}`,
        reason: `Refused to deploy commit ${deploying}: it is ${commits(comparison.behindBy)} behind ${running}, which ${where}, so the service would go back to older code. Deploy a newer commit, or set allow-older-commit: true to deploy this one on purpose.`
      }
  }
}

/** One scan finding, from either scan type: what it is, how bad, and where. */
export interface ScanFinding {
  name: string
  severity: string
  packages: Array<{ name: string; version?: string }>
}

/**
 * Severities as ECR reports them (basic and enhanced scanning), by rank. UNDEFINED, UNTRIAGED
 * and INFORMATIONAL rank below LOW: they never refuse a deploy.
 */
const RANK: Record<string, number> = { CRITICAL: 4, HIGH: 3, MEDIUM: 2, LOW: 1 }
export const severityRank = (severity: string): number => RANK[severity.toUpperCase()] ?? 0

/**
 * Basic findings name their package in `attributes` (package_name, package_version); enhanced
 * ones (Amazon Inspector) in packageVulnerabilityDetails.vulnerablePackages. Enhanced findings
 * that were suppressed or closed in Inspector are left out: that is where a team accepts a risk.
 */
export function scanFindings(
  basic: ImageScanFinding[],
  enhanced: EnhancedImageScanFinding[]
): ScanFinding[] {
  const fromBasic = basic.map(finding => {
    const attribute = (key: string) => finding.attributes?.find(a => a.key === key)?.value
    const name = attribute('package_name')
    return {
      name: finding.name ?? '(unnamed)',
      severity: finding.severity ?? 'UNDEFINED',
      packages: name ? [{ name, version: attribute('package_version') }] : []
    }
  })
  const fromEnhanced = enhanced
    .filter(finding => !['SUPPRESSED', 'CLOSED'].includes(finding.status ?? ''))
    .map(finding => {
      const details = finding.packageVulnerabilityDetails
      return {
        name: details?.vulnerabilityId ?? finding.title ?? finding.findingArn ?? '(unnamed)',
        severity: finding.severity ?? 'UNDEFINED',
        packages: (details?.vulnerablePackages ?? []).flatMap(p =>
          p.name ? [{ name: p.name, version: p.version }] : []
        )
      }
    })
  return [...fromBasic, ...fromEnhanced].sort(
    (a, b) => severityRank(b.severity) - severityRank(a.severity) || a.name.localeCompare(b.name)
  )
}

/** How many findings the error line names; the summary's table shows up to SUMMARY_FINDINGS. */
export const ERROR_FINDINGS = 5
export const SUMMARY_FINDINGS = 25

export type ScanVerdict = GateVerdict & { findings: ScanFinding[] }

/**
 * The scan gate: refuse when any finding is at or above the threshold, naming the worst; refuse
 * an image that has no usable scan, saying what to turn on or do. The listed findings decide;
 * ECR's counts per severity decide only when it lists none at all.
 */
export function judgeScan(lookup: ScanLookup, threshold: Severity, image: EcrImage): ScanVerdict {
  const refuse = (detail: string, why: string): ScanVerdict => ({
    verdict: 'refuse',
    detail,
    reason: `Refused to deploy ${image.reference}: ${why}`,
    findings: []
  })
  const scanCommand = `aws ecr start-image-scan --repository-name ${image.repository} --image-id imageDigest=${image.digest}`
  switch (lookup.kind) {
    case 'not-scanned':
      return refuse(
        'no scan',
        `ECR has no scan of it (${lookup.message || 'ScanNotFoundException'}). Turn on scan on push for repository '${image.repository}' (imageScanningConfiguration scanOnPush: true; build-push's create-repository sets it) or enhanced scanning for the registry, then push the image again or run ${scanCommand}.`
      )
    case 'not-found':
      return refuse(
        `${lookup.what} not found`,
        `ECR has no such ${lookup.what} (${lookup.message}). Check the image input: deploy the build's image-digest output.`
      )
    case 'unfinished':
      return refuse(
        `scan still ${lookup.status}`,
        `its ECR scan was still ${lookup.status} after ${Math.round(lookup.waitedMs / 1000)}s, the time wait-for-minutes allows. Deploy again once the scan has completed.`
      )
    case 'unusable':
      return refuse(
        `scan ${lookup.status || 'without a status'}`,
        `its ECR scan ended ${lookup.status || 'without a status'}${lookup.description ? ` (${lookup.description})` : ''}, so there are no findings to judge. Scan it again with ${scanCommand}, or check that the image is one ECR can scan.`
      )
  }
  const all = scanFindings(lookup.findings, lookup.enhancedFindings)
  const blocking = all.filter(f => severityRank(f.severity) >= severityRank(threshold))
  const countsAbove = Object.entries(lookup.severityCounts)
    .filter(([severity, count]) => count > 0 && severityRank(severity) >= severityRank(threshold))
    .sort(([a], [b]) => severityRank(b) - severityRank(a))
  if (blocking.length === 0 && !(all.length === 0 && countsAbove.length > 0)) {
    const detail =
      all.length === 0
        ? 'no findings'
        : `${all.length} finding${all.length === 1 ? '' : 's'}, none at or above ${threshold} (${countBySeverity(all)})`
    return { verdict: 'pass', detail, findings: [] }
  }
  const total =
    blocking.length > 0 ? blocking.length : countsAbove.reduce((sum, [, count]) => sum + count, 0)
  const bySeverity =
    blocking.length > 0
      ? countBySeverity(blocking)
      : countsAbove.map(([severity, count]) => `${count} ${severity}`).join(', ')
  const named = blocking.slice(0, ERROR_FINDINGS).map(describeFinding)
  const more = blocking.length - named.length
  const list =
    named.length > 0
      ? `: ${named.join('; ')}${more > 0 ? `; and ${more} more (see the job summary)` : ''}`
      : ' (ECR lists no details)'
  return {
    verdict: 'refuse',
    detail: `${total} finding${total === 1 ? '' : 's'} at or above ${threshold} (${bySeverity})`,
    reason: `Refused to deploy ${image.reference}: its ECR scan has ${total} finding${total === 1 ? '' : 's'} at or above ${threshold} (${bySeverity})${list}. Rebuild on fixed packages and deploy the new digest.`,
    findings: blocking
  }
}

function countBySeverity(findings: ScanFinding[]): string {
  const counts = new Map<string, number>()
  for (const f of findings) counts.set(f.severity, (counts.get(f.severity) ?? 0) + 1)
  return [...counts].map(([severity, count]) => `${count} ${severity}`).join(', ')
}

function describeFinding(finding: ScanFinding): string {
  const packages = finding.packages
    .map(p => (p.version ? `${p.name} ${p.version}` : p.name))
    .join(', ')
  return `${finding.name} (${finding.severity}${packages ? `, ${packages}` : ''})`
}

// ---- running the gates ----------------------------------------------------------------------

/** What the gates need to know about this deploy. */
export interface GateRequest {
  service: string
  /** The revision the service runs, e.g. noblepay-api:41. */
  runningRevision: string
  /** owner/name of the repository the commits belong to (GITHUB_REPOSITORY). */
  repository: string
  /** The commit being deployed (GITHUB_SHA). */
  commit: string
  /** Reads the running revision's noblepay:commit tag; called only when the commit gate is on. */
  runningCommit(): Promise<string | undefined>
  /** Between two looks at an unfinished scan. */
  pollMs: number
}

/** The gateways, built only for the gates that are on. */
export interface GateDependencies {
  runner: Runner
  commits(token: string): CommitComparer
  scans(image: EcrImage): ScanReader
}

export type GateOutcome =
  /** Warnings were written to the log as they came, and are listed here for the caller. */
  | { kind: 'passed'; warnings: string[]; summary: string }
  | { kind: 'refused'; reason: string; summary: string }

/**
 * Runs the gates that are on: commit order first (one quick request), then the scan (which
 * may wait). The first refusal ends it. With both gates off it passes at once, with no summary.
 */
export async function checkGates(
  request: GateRequest,
  gates: GateInputs,
  deps: GateDependencies
): Promise<GateOutcome> {
  const { runner } = deps
  const rows: string[][] = []
  const warnings: string[] = []
  let refusal: { reason: string; findings: ScanFinding[] } | undefined

  const record = (gate: string, verdict: GateVerdict) => {
    rows.push([gate, verdict.verdict === 'pass' ? 'passed' : 'refused', verdict.detail])
    if (verdict.verdict === 'refuse') return
    if (verdict.warning) {
      warnings.push(verdict.warning)
      runner.warning(verdict.warning)
    } else runner.info(`${gate}: passed, ${stripCode(verdict.detail)}.`)
  }

  if (gates.githubToken !== '') {
    runner.setSecret(gates.githubToken)
    const facts: CommitOrderFacts = {
      service: request.service,
      runningRevision: request.runningRevision,
      runningCommit: await request.runningCommit(),
      deployingCommit: request.commit,
      allowOlderCommit: gates.allowOlderCommit
    }
    const comparison = needsComparison(facts)
      ? await deps
          .commits(gates.githubToken)
          .compare(request.repository, facts.runningCommit!, facts.deployingCommit)
      : undefined
    const verdict = judgeCommitOrder(facts, comparison)
    record('Commit order', verdict)
    if (verdict.verdict === 'refuse') refusal = { reason: verdict.reason, findings: [] }
  }

  if (!refusal && gates.imageScanSeverity && gates.scannedImage) {
    const image = gates.scannedImage
    const threshold = gates.imageScanSeverity
    let verdict: ScanVerdict
    try {
      const lookup = await deps
        .scans(image)
        .scanFindings(image, { pollMs: request.pollMs, onPoll: line => runner.info(line) })
      verdict = judgeScan(lookup, threshold, image)
    } catch (error) {
      // ECR kept failing until wait-for-minutes ran out: without findings, nothing is judged safe.
      if (!(error instanceof DeadlineError)) throw error
      verdict = {
        verdict: 'refuse',
        detail: 'ECR did not answer',
        reason: `Refused to deploy ${image.reference}: its scan could not be read, ${describeError(error)}. Deploy again once ECR answers.`,
        findings: []
      }
    }
    record(`Image scan (refuses ${threshold} and above)`, verdict)
    if (verdict.verdict === 'refuse')
      refusal = { reason: verdict.reason, findings: verdict.findings }
  }

  const summary = gateSummary(rows, refusal)
  return refusal
    ? { kind: 'refused', reason: refusal.reason, summary }
    : { kind: 'passed', warnings, summary }
}

function stripCode(text: string): string {
  return text.replace(/`/g, '')
}

function gateSummary(
  rows: string[][],
  refusal: { reason: string; findings: ScanFinding[] } | undefined
): string {
  if (rows.length === 0) return ''
  const parts = [`**Gates**`, table(['Gate', 'Result', 'Detail'], rows)]
  if (refusal) parts.push(`**Why it was refused:** ${refusal.reason}`)
  const findings = refusal?.findings ?? []
  if (findings.length > 0) {
    const shown = findings.slice(0, SUMMARY_FINDINGS)
    parts.push(
      table(
        ['Severity', 'Finding', 'Package', 'Version'],
        shown.map(f => [
          f.severity,
          f.name,
          f.packages.map(p => p.name).join(', '),
          f.packages.map(p => p.version ?? '').join(', ')
        ])
      )
    )
    if (findings.length > shown.length)
      parts.push(`…and ${findings.length - shown.length} more findings at or above the threshold.`)
  }
  return parts.join('\n\n')
}

// Stryker disable all: builds the real GitHub and ECR clients (I/O).
/** The real gateways: GitHub through GITHUB_API_URL, ECR through an AwsCaller bounded by the deadline. */
export function gateDependencies(
  runner: Runner,
  settings: { region: string; clock: Clock; deadline: number; pollMs: number },
  env: NodeJS.ProcessEnv = process.env
): GateDependencies {
  return {
    runner,
    commits: token => new GitHubGateway(token, { clock: settings.clock }),
    scans: image =>
      new EcrGateway(
        // An ECR host names its region, which may differ from the service's.
        new ECRClient(clientSettings(image.region ?? settings.region, env, 'caller')),
        new AwsCaller({
          clock: settings.clock,
          deadline: settings.deadline,
          attemptTimeoutMs: attemptTimeoutFor(settings.pollMs),
          backoffMs: 1000,
          maxBackoffMs: 8000,
          onRetry: (what, failure, error, waitMs) =>
            runner.info(
              `${what}: ${failure} (${describeError(error)}); trying again in ${Math.round(waitMs / 100) / 10}s.`
            )
        })
      )
  }
}
