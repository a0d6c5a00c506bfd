import type { Tag } from '@aws-sdk/client-ecs'
import { ActionError, describeError, InputError } from '../shared/errors.js'
import type { EcsGateway, HistoricDeployment } from './ecs.js'
import { shortRevision } from './task-definition.js'

/**
 * Put on a revision when this action rolls the service back from it, so that `previous`
 * never brings it back: the history alone still lists it as a successful deployment.
 */
export const ROLLED_BACK_TAG = 'noblepay:rolled-back'

/** Service deployment statuses that mean the deployment's revision was rolled back from. */
const ROLLED_BACK_STATUSES = new Set([
  'ROLLBACK_REQUESTED',
  'ROLLBACK_IN_PROGRESS',
  'ROLLBACK_SUCCESSFUL',
  'ROLLBACK_FAILED'
])

export interface RollbackTarget {
  taskDefinitionArn: string
  /** Why this revision, in a sentence the log and the summary show. */
  why: string
}

/**
 * The revisions `rollback-to: previous` may mean, newest first: deployed successfully, not the
 * current one, not rolled back from by ECS (the history says so). Whether this action rolled
 * back from one is on its tag, read afterwards for these candidates only.
 */
export function previousCandidates(
  current: string,
  history: HistoricDeployment[]
): { candidates: HistoricDeployment[]; skipped: string[] } {
  const rolledBack = new Set(
    history.filter(d => ROLLED_BACK_STATUSES.has(d.status)).map(d => d.taskDefinition)
  )
  const candidates: HistoricDeployment[] = []
  const skipped: string[] = []
  const seen = new Set<string>([current])
  for (const deployment of history) {
    if (deployment.status !== 'SUCCESSFUL' || seen.has(deployment.taskDefinition)) continue
    seen.add(deployment.taskDefinition)
    if (rolledBack.has(deployment.taskDefinition))
      skipped.push(`${shortRevision(deployment.taskDefinition)} (rolled back by ECS)`)
    else candidates.push(deployment)
  }
  return { candidates, skipped }
}

export function wasRolledBackFrom(tags: Tag[]): boolean {
  return tags.some(t => t.key === ROLLED_BACK_TAG)
}

/** Resolves `rollback-to` to a task definition ARN, checking it exists before anything changes. */
export async function resolveRollbackTarget(
  ecs: EcsGateway,
  cluster: string,
  service: { name: string; taskDefinition: string },
  rollbackTo: string
): Promise<RollbackTarget> {
  if (rollbackTo !== 'previous') {
    const found = await ecs.findTaskDefinition(rollbackTo)
    const arn = found?.taskDefinition.taskDefinitionArn
    if (!arn) {
      throw new InputError(
        'rollback-to',
        rollbackTo,
        'no such task definition in this account and region; give an existing family:revision or ARN'
      )
    }
    return { taskDefinitionArn: arn, why: `named by rollback-to (${shortRevision(arn)})` }
  }

  let history: HistoricDeployment[]
  try {
    history = await ecs.deploymentHistory(cluster, service.name)
  } catch (error) {
    throw new ActionError(
      `Cannot tell which revision 'previous' is: the deployment history of service '${service.name}' could not be read (${describeError(error)}). Nothing was changed. Grant ecs:ListServiceDeployments and ecs:DescribeServiceRevisions, or name the revision with rollback-to: family:revision.`
    )
  }
  const { candidates, skipped } = previousCandidates(service.taskDefinition, history)
  let chosen: HistoricDeployment | undefined
  for (const candidate of candidates) {
    const { tags } = await ecs.describeTaskDefinition(candidate.taskDefinition)
    if (!wasRolledBackFrom(tags)) {
      chosen = candidate
      break
    }
    skipped.push(`${shortRevision(candidate.taskDefinition)} (rolled back by this action)`)
  }
  if (!chosen) {
    const also = skipped.length > 0 ? ` (skipped ${skipped.join(', ')})` : ''
    throw new ActionError(
      `Cannot roll service '${service.name}' back to 'previous': its deployment history has no successful deployment of a revision other than the current ${shortRevision(service.taskDefinition)} that was not rolled back from${also}. Nothing was changed. Name the revision with rollback-to: family:revision.`
    )
  }
  const when = chosen.finishedAt ? `, finished ${chosen.finishedAt.toISOString()}` : ''
  return {
    taskDefinitionArn: chosen.taskDefinition,
    why:
      `the last revision proven healthy before the current ${shortRevision(service.taskDefinition)}, ` +
      `from the service deployment history (${chosen.serviceDeploymentArn.split('/').pop()}${when})`
  }
}
