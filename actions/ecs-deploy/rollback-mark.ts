/**
 * The mark a rollback leaves on the ECS service (its tags), and what deploys and rollbacks do
 * when they find it:
 * - a deploy of the commit rolled back from, or of any commit not newer than it, is refused
 *   (unless allow-rolled-back);
 * - a deploy that finds, just before its UpdateService, a mark that was not there when it
 *   started ends superseded without changing anything;
 * - a rollback that finds its own run's deployment rolled back by another run (deploy.yml's
 *   undo after a failed smoke gate) puts nothing back, and a `previous` rollback that finds
 *   the service on the revision a rollback put back changes nothing.
 * The decisions are pure functions over the mark; the two calls (read the tags of the revision
 * rolled back from, tag the service) go through the ECS gateway.
 */
import type { Service, Tag } from '@aws-sdk/client-ecs'
import type { RunContext } from '../shared/context.js'
import { ActionError, describeError } from '../shared/errors.js'
import type { Inputs } from '../shared/inputs.js'
import type { Runner } from '../shared/runner.js'
import { code, table } from '../shared/summary.js'
import type { EcsGateway } from './ecs.js'
import type { CommitComparer, CommitComparison } from './github.js'
import { runTag, shortRevision, tagValue, TRACE_TAGS } from './task-definition.js'

/** The service tags of the mark: all written by one TagResource call. */
export const MARK_TAGS = {
  from: 'noblepay:rolled-back-from',
  fromCommit: 'noblepay:rolled-back-from-commit',
  to: 'noblepay:rolled-back-to',
  run: 'noblepay:rolled-back-by',
  at: 'noblepay:rolled-back-at'
} as const

export interface RollbackMark {
  /** The revision rolled back from (task definition ARN). */
  from: string
  /** Its noblepay:commit tag; empty when it had none. */
  fromCommit: string
  /** The revision the rollback put back. */
  to: string
  /** The rollback's run and attempt (runTag). */
  run: string
  /** When the rollback started, ISO 8601. */
  at: string
}

export function readAllowRolledBack(inputs: Inputs): boolean {
  return inputs.boolean('allow-rolled-back', false)
}

/** The mark on a service's tags; undefined when there is none (or only part of one). */
export function readRollbackMark(tags: Tag[] | undefined): RollbackMark | undefined {
  const value = (key: string) => tags?.find(t => t.key === key)?.value ?? ''
  const mark = {
    from: value(MARK_TAGS.from),
    fromCommit: value(MARK_TAGS.fromCommit),
    to: value(MARK_TAGS.to),
    run: value(MARK_TAGS.run),
    at: value(MARK_TAGS.at)
  }
  return mark.from && mark.to && mark.run ? mark : undefined
}

/** The tags that record a mark (an empty commit is written empty: the old one must not stay). */
export function rollbackMarkTags(mark: RollbackMark): Tag[] {
  return (Object.keys(MARK_TAGS) as Array<keyof RollbackMark>).map(field => ({
    key: MARK_TAGS[field],
    value: tagValue(mark[field])
  }))
}

export function sameMark(a: RollbackMark | undefined, b: RollbackMark | undefined): boolean {
  if (!a || !b) return a === b
  return (Object.keys(MARK_TAGS) as Array<keyof RollbackMark>).every(f => a[f] === b[f])
}

/** The mark in one sentence: who rolled back what, to what, and when. */
export function describeMark(mark: RollbackMark): string {
  const commit = mark.fromCommit ? ` (commit ${mark.fromCommit})` : ''
  const when = mark.at ? ` at ${mark.at}` : ''
  return `run ${mark.run} rolled the service back from ${shortRevision(mark.from)}${commit} to ${shortRevision(mark.to)}${when}`
}

/** The mark as the summary shows it, with what was decided about it. */
export function markSummary(mark: RollbackMark, decision: string): string {
  return [
    '**Rollback mark on the service**',
    table(
      ['Rolled back from', 'Commit', 'Put back', 'By run', 'At'],
      [
        [
          shortRevision(mark.from),
          mark.fromCommit ? code(mark.fromCommit) : '(none)',
          shortRevision(mark.to),
          mark.run,
          mark.at || '(unknown)'
        ]
      ]
    ),
    decision
  ].join('\n\n')
}

// ---- a deploy and the mark ------------------------------------------------------------------

export interface RolledBackFacts {
  mark?: RollbackMark
  /** The commit this run deploys; empty when the run has none. */
  deployingCommit: string
  allowRolledBack: boolean
}

/** Whether GitHub must be asked whether the deploying commit is newer than the one rolled back from. */
export function needsMarkComparison(facts: RolledBackFacts): boolean {
  return Boolean(
    facts.mark?.fromCommit &&
    facts.deployingCommit &&
    facts.deployingCommit !== facts.mark.fromCommit &&
    !facts.allowRolledBack
  )
}

export type MarkVerdict =
  | { verdict: 'pass'; detail: string; warning?: string }
  | { verdict: 'refuse'; detail: string; reason: string }

/**
 * The commit rolled back from is refused, and so is one GitHub compares as identical, behind or
 * diverged (not newer); a commit GitHub says is ahead (the fix) passes, and allow-rolled-back
 * passes anything. When the order cannot be told (no github-token, GitHub cannot answer), another
 * commit passes with a warning, as the commit-order gate does: a mark must not stop every later
 * deploy of a service whose pipeline cannot ask GitHub.
 */
export function judgeAgainstMark(
  facts: RolledBackFacts,
  comparison: CommitComparison | undefined
): MarkVerdict {
  const { mark, deployingCommit: deploying } = facts
  if (!mark) return { verdict: 'pass', detail: 'no rollback mark on the service' }
  const by = `run ${mark.run}`
  if (facts.allowRolledBack) {
    return {
      verdict: 'pass',
      detail: 'deployed because allow-rolled-back is true',
      warning: `Deploying ${deploying || 'this commit'} although ${describeMark(mark)}, because allow-rolled-back is true.`
    }
  }
  if (!mark.fromCommit) {
    return {
      verdict: 'pass',
      detail: `the revision rolled back from has no ${TRACE_TAGS.commit} tag`,
      warning: `Not checked against the rollback by ${by}: ${shortRevision(mark.from)} has no ${TRACE_TAGS.commit} tag, so its commit is not known.`
    }
  }
  const release = `Deploy a commit newer than ${mark.fromCommit} (the fix), or set allow-rolled-back: true to deploy this one on purpose.`
  const refuse = (detail: string, why: string): MarkVerdict => ({
    verdict: 'refuse',
    detail,
    reason: `Refused to deploy commit ${deploying || '(none)'}: ${why}, and ${describeMark(mark)}. Nothing was changed. ${release}`
  })
  if (deploying === '') return refuse('no commit', 'this run has no commit (GITHUB_SHA is empty)')
  if (deploying === mark.fromCommit)
    return refuse('the commit rolled back from', 'it is the commit a rollback took the service off')
  if (!comparison || comparison.kind === 'unavailable') {
    const why = comparison ? comparison.reason : 'no github-token was given to ask GitHub'
    return {
      verdict: 'pass',
      detail: `not compared with ${code(mark.fromCommit)}, the commit rolled back from: ${why}`,
      warning: `Whether commit ${deploying} is newer than ${mark.fromCommit}, which ${describeMark(mark).replace(/^run /, 'the rollback by run ')}, cannot be told (${why}). Deploying anyway.`
    }
  }
  if (comparison.status === 'ahead')
    return {
      verdict: 'pass',
      detail: `${code(deploying)} is ${comparison.aheadBy} commit${comparison.aheadBy === 1 ? '' : 's'} ahead of ${code(mark.fromCommit)}, the commit rolled back from`
    }
  return refuse(
    `${comparison.status} of the commit rolled back from`,
    `it is not newer than ${mark.fromCommit} (GitHub compares it as ${comparison.status})`
  )
}

/** The mark gate of a deploy: reads nothing but GitHub's comparison, and only when needed. */
export async function checkAgainstMark(
  facts: RolledBackFacts,
  github: { repository: string; token: string; commits(token: string): CommitComparer },
  runner: Runner
): Promise<{ verdict: MarkVerdict; summary: string }> {
  const comparison =
    needsMarkComparison(facts) && github.token !== ''
      ? await github
          .commits(github.token)
          .compare(github.repository, facts.mark!.fromCommit, facts.deployingCommit)
      : undefined
  const verdict = judgeAgainstMark(facts, comparison)
  if (verdict.verdict === 'pass' && verdict.warning) runner.warning(verdict.warning)
  else if (facts.mark && verdict.verdict === 'pass')
    runner.info(`Rollback mark: passed, ${verdict.detail.replace(/`/g, '')}.`)
  const decision =
    verdict.verdict === 'refuse'
      ? `**Refused:** ${verdict.detail}.`
      : `**Passed:** ${verdict.detail}.`
  return { verdict, summary: facts.mark ? markSummary(facts.mark, decision) : '' }
}

/** A rollback took the service over: this step changes nothing (status superseded). */
export class TakenOverByRollback extends ActionError {
  constructor(
    message: string,
    readonly mark: RollbackMark
  ) {
    super(message)
    this.name = 'TakenOverByRollback'
  }
}

/**
 * Just before a deploy's UpdateService: a mark that differs from the one the deploy saw when it
 * started means a rollback started after it. The deploy stops, with no change.
 */
export function rollbackSinceStart(
  atStart: RollbackMark | undefined,
  now: RollbackMark | undefined
): RollbackMark | undefined {
  return now && !sameMark(atStart, now) ? now : undefined
}

// ---- a rollback and the mark ----------------------------------------------------------------

export interface RollbackRequest {
  /** The rollback-to input: previous, family:revision or an ARN. */
  rollbackTo: string
  /** The revision the service runs now. */
  current: string
  mark?: RollbackMark
  /** This run and attempt (runTag). */
  ownRun: string
  /** The noblepay:run tag of the revision the mark rolled back from. */
  fromRun?: string
  /** The revision this rollback puts back, once resolved (at the last look before the update). */
  target?: string
}

/**
 * Whether a rollback still has something to do. Another run's rollback that took the service off
 * this run's own revision leaves nothing to put back (deploy.yml's undo after a failed smoke
 * gate); a `previous` that finds the service on the revision a rollback put back would go one
 * revision further than anyone saw fail. A named revision does exactly what it says.
 */
export function judgeRollbackRequest(
  request: RollbackRequest
): { kind: 'proceed' } | { kind: 'taken-over'; reason: string } {
  const { mark } = request
  if (!mark || mark.run === request.ownRun) return { kind: 'proceed' }
  if (request.ownRun !== '' && request.fromRun === request.ownRun) {
    return {
      kind: 'taken-over',
      reason: `${describeMark(mark)}, off the revision this run deployed. This step puts nothing back: that rollback stands.`
    }
  }
  if (request.target && mark.from === request.current && mark.to === request.target) {
    return {
      kind: 'taken-over',
      reason: `${describeMark(mark)}, the same change this request makes, and that rollback goes on. Nothing was changed by this step.`
    }
  }
  if (request.rollbackTo === 'previous' && request.current === mark.to) {
    return {
      kind: 'taken-over',
      reason: `the service already runs ${shortRevision(mark.to)}, which a rollback put back: ${describeMark(mark)}. Nothing was changed; to go further back, name the revision with rollback-to: family:revision.`
    }
  }
  return { kind: 'proceed' }
}

/** Reads what judgeRollbackRequest needs (the run of the revision rolled back from) and judges. */
export async function checkRollbackRequest(
  ecs: EcsGateway,
  rollbackTo: string,
  service: Service,
  context: RunContext,
  target?: string
): Promise<string> {
  const mark = readRollbackMark(service.tags)
  const ownRun = runTag(context)
  if (!mark || mark.run === ownRun) return ''
  const from = await ecs.findTaskDefinition(mark.from)
  const fromRun = from?.tags.find(t => t.key === TRACE_TAGS.run)?.value
  const verdict = judgeRollbackRequest({
    rollbackTo,
    current: service.taskDefinition ?? '',
    mark,
    ownRun,
    fromRun,
    target
  })
  if (verdict.kind === 'taken-over') {
    const message = `Rolling back '${service.serviceName}' to ${rollbackTo} was superseded: ${verdict.reason}`
    throw new TakenOverByRollback(message, mark)
  }
  return markSummary(mark, `**Rolling back to ${rollbackTo}:** this request goes on from there.`)
}

/**
 * The last look before the UpdateService. A deploy that finds a mark it did not see when it
 * started stops with no change; a rollback is judged again on what the service runs now.
 */
export async function checkBeforeUpdate(
  ecs: EcsGateway,
  rollbackTo: string,
  atStart: RollbackMark | undefined,
  service: Service,
  context: RunContext,
  target: string
): Promise<void> {
  if (rollbackTo !== '') {
    await checkRollbackRequest(ecs, rollbackTo, service, context, target)
    return
  }
  const since = rollbackSinceStart(atStart, readRollbackMark(service.tags))
  if (since) {
    throw new TakenOverByRollback(
      `Deploying to '${service.serviceName}' was superseded just before its update: ${describeMark(since)}, after this step started. This step changed nothing; deploy again once the incident is over.`,
      since
    )
  }
}

/** A step a rollback took over: status superseded, and the mark in the summary. */
export function recordTakeover(
  step: { facts: { takenOver?: boolean }; markSummary?: string },
  error: TakenOverByRollback
): void {
  step.facts.takenOver = true
  step.markSummary = markSummary(error.mark, '**Superseded:** this step changed nothing.')
}

/**
 * Records the mark before the rollback's own change, so that a deploy about to update sees it.
 * A mark that cannot be written does not stop an incident rollback: it is a warning.
 */
export async function recordRollbackMark(
  ecs: EcsGateway,
  runner: Runner,
  request: { cluster: string; service: Service; to: string; started: number; context: RunContext }
): Promise<RollbackMark | undefined> {
  const from = request.service.taskDefinition ?? ''
  if (from === '' || from === request.to) return undefined
  try {
    const fromRevision = await ecs.findTaskDefinition(from)
    const mark: RollbackMark = {
      from,
      fromCommit: fromRevision?.tags.find(t => t.key === TRACE_TAGS.commit)?.value ?? '',
      to: request.to,
      run: runTag(request.context),
      at: new Date(request.started).toISOString()
    }
    await ecs.tagService(request.cluster, request.service, rollbackMarkTags(mark))
    runner.info(
      `Marked service '${request.service.serviceName}': ${describeMark(mark)}. Deploys of that commit, or of an older one, are refused until a newer commit or allow-rolled-back.`
    )
    return mark
  } catch (error) {
    runner.warning(
      `Could not mark service '${request.service.serviceName}' as rolled back (${describeError(error)}); a queued deploy of ${shortRevision(from)}'s commit will not be refused. Grant ecs:TagResource on the service.`
    )
    return undefined
  }
}
