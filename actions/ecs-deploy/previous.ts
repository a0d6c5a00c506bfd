import type { Service } from '@aws-sdk/client-ecs'
import { ActionError, InputError } from '../shared/errors.js'
import type { EcsGateway } from './ecs.js'
import { shortRevision } from './task-definition.js'

export interface RollbackTarget {
  taskDefinitionArn: string
  /** Why this revision, in a sentence the log and the summary show. */
  why: string
}

/** Resolves `rollback-to` to a task definition ARN, checking it exists before anything changes. */
export async function resolveRollbackTarget(
  ecs: EcsGateway,
  cluster: string,
  service: Service,
  rollbackTo: string
): Promise<RollbackTarget> {
  if (rollbackTo !== 'previous') {
    const found = await ecs.findTaskDefinition(rollbackTo)
    if (!found?.taskDefinitionArn) {
      throw new InputError(
        'rollback-to',
        rollbackTo,
        'no such task definition in this account and region; give an existing family:revision or ARN'
      )
    }
    return {
      taskDefinitionArn: found.taskDefinitionArn,
      why: `named by rollback-to (${shortRevision(found.taskDefinitionArn)})`
    }
  }

  const current = service.taskDefinition ?? ''
  const history = await ecs.successfulDeployments(cluster, service.serviceName ?? '')
  if (Array.isArray(history)) {
    const before = history.find(d => d.taskDefinition !== current)
    if (before) {
      const when = before.finishedAt ? `, finished ${before.finishedAt.toISOString()}` : ''
      return {
        taskDefinitionArn: before.taskDefinition,
        why:
          `the last successful deployment before the current ${shortRevision(current)}, ` +
          `from the service deployment history (${before.serviceDeploymentArn.split('/').pop()}${when})`
      }
    }
    if (history.length > 0) {
      throw new ActionError(
        `Service '${service.serviceName}' has no successful deployment of a revision other than the current ${shortRevision(current)} in its deployment history. Name the revision with rollback-to: family:revision.`
      )
    }
  }

  // No deployment history to read: the revision registered before the current one is the best guess.
  const family = /task-definition\/([^:]+):(\d+)$/.exec(current)
  if (!family)
    throw new ActionError(
      `Cannot tell the family of the current task definition '${current}'. Name the revision with rollback-to.`
    )
  const currentRevision = Number(family[2])
  const earlier = (await ecs.familyRevisions(family[1])).find(
    arn => Number(arn.split(':').pop()) < currentRevision
  )
  if (!earlier) {
    throw new ActionError(
      `Family '${family[1]}' has no active revision before ${shortRevision(current)} to roll back to. Name the revision with rollback-to.`
    )
  }
  const because = Array.isArray(history)
    ? 'the deployment history is empty'
    : `the deployment history is unavailable (${history.unavailable})`
  return {
    taskDefinitionArn: earlier,
    why: `the revision registered before the current ${shortRevision(current)}, because ${because}; it may never have run successfully`
  }
}
