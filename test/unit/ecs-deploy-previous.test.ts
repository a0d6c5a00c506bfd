/**
 * What `rollback-to` resolves to (previous.ts), over a stand-in gateway that answers from a
 * deployment history and task definition tags. Each test is named for the behaviour it pins.
 */
import type { Tag } from '@aws-sdk/client-ecs'
import type { EcsGateway, HistoricDeployment } from '../../actions/ecs-deploy/ecs.js'
import {
  previousCandidates,
  resolveRollbackTarget,
  ROLLED_BACK_TAG
} from '../../actions/ecs-deploy/previous.js'
import { ActionError, InputError } from '../../actions/shared/errors.js'
import { arn, taskDefinition } from '../support/ecs-fixtures.js'

const rolledBackTag: Tag = { key: ROLLED_BACK_TAG, value: '2026-11-28T12:00:00Z' }

interface Account {
  history?: HistoricDeployment[] | Error
  /** Tags by task definition ARN; a revision not listed has none. */
  tags?: Record<string, Tag[]>
  /** Revisions `findTaskDefinition` finds, by the reference asked for. */
  known?: Record<string, string | undefined>
}

function standIn(account: Account) {
  const described: string[] = []
  const ecs = {
    async findTaskDefinition(reference: string) {
      if (!account.known || !(reference in account.known)) return null
      return {
        taskDefinition: taskDefinition(1, { taskDefinitionArn: account.known[reference] }),
        tags: []
      }
    },
    async deploymentHistory() {
      if (account.history instanceof Error) throw account.history
      return account.history ?? []
    },
    async describeTaskDefinition(reference: string) {
      described.push(reference)
      return { taskDefinition: taskDefinition(1), tags: account.tags?.[reference] ?? [] }
    }
  }
  return { ecs: ecs as unknown as EcsGateway, described }
}

const succeeded = (revision: number, n: number, finishedAt?: Date): HistoricDeployment => ({
  serviceDeploymentArn: `arn:aws:ecs:eu-west-1:123456789012:service-deployment/payments/api/sd${n}`,
  status: 'SUCCESSFUL',
  taskDefinition: arn('api', revision),
  finishedAt
})

const current = { name: 'api', taskDefinition: arn('api', 43) }

describe('resolveRollbackTarget: a named revision', () => {
  it('resolves a family:revision to the ARN ECS has for it, saying it was named', async () => {
    const { ecs } = standIn({ known: { 'api:40': arn('api', 40) } })
    await expect(resolveRollbackTarget(ecs, 'payments', current, 'api:40')).resolves.toEqual({
      taskDefinitionArn: arn('api', 40),
      why: 'named by rollback-to (api:40)'
    })
  })

  it('refuses a revision that does not exist, naming the input and what to give instead', async () => {
    const { ecs } = standIn({ known: {} })
    const error = await resolveRollbackTarget(ecs, 'payments', current, 'api:99').catch(e => e)
    expect(error).toBeInstanceOf(InputError)
    expect(error.message).toBe(
      "Input 'rollback-to' is 'api:99': no such task definition in this account and region; give an existing family:revision or ARN"
    )
  })

  it('refuses a task definition ECS describes without an ARN', async () => {
    const { ecs } = standIn({ known: { 'api:40': undefined } })
    await expect(resolveRollbackTarget(ecs, 'payments', current, 'api:40')).rejects.toThrow(
      "Input 'rollback-to' is 'api:40': no such task definition"
    )
  })
})

describe('resolveRollbackTarget: previous', () => {
  it('takes the newest revision proven healthy, naming the history entry and when it finished', async () => {
    const { ecs } = standIn({
      history: [
        succeeded(43, 3),
        succeeded(42, 2, new Date('2026-11-27T10:00:00Z')),
        succeeded(41, 1, new Date('2026-11-20T10:00:00Z'))
      ]
    })
    await expect(resolveRollbackTarget(ecs, 'payments', current, 'previous')).resolves.toEqual({
      taskDefinitionArn: arn('api', 42),
      why: 'the last revision proven healthy before the current api:43, from the service deployment history (sd2, finished 2026-11-27T10:00:00.000Z)'
    })
  })

  it('leaves out when it finished if the history does not say', async () => {
    const { ecs } = standIn({ history: [succeeded(42, 2)] })
    const target = await resolveRollbackTarget(ecs, 'payments', current, 'previous')
    expect(target.why).toBe(
      'the last revision proven healthy before the current api:43, from the service deployment history (sd2)'
    )
  })

  it('reads the tags of the candidates newest first and stops at the first not rolled back from', async () => {
    const { ecs, described } = standIn({
      history: [succeeded(42, 3), succeeded(41, 2), succeeded(40, 1)],
      tags: { [arn('api', 42)]: [rolledBackTag] }
    })
    const target = await resolveRollbackTarget(ecs, 'payments', current, 'previous')
    expect(target.taskDefinitionArn).toBe(arn('api', 41))
    expect(described).toEqual([arn('api', 42), arn('api', 41)])
  })

  it('with nothing to go back to, says which revisions it skipped and why, and that nothing changed', async () => {
    const { ecs } = standIn({
      history: [
        succeeded(42, 4),
        { ...succeeded(41, 3), status: 'ROLLBACK_SUCCESSFUL' },
        succeeded(41, 2)
      ],
      tags: { [arn('api', 42)]: [rolledBackTag] }
    })
    const error = await resolveRollbackTarget(ecs, 'payments', current, 'previous').catch(e => e)
    expect(error).toBeInstanceOf(ActionError)
    expect(error.message).toBe(
      "Cannot roll service 'api' back to 'previous': its deployment history has no successful deployment of a revision other than the current api:43 that was not rolled back from (skipped api:41 (rolled back by ECS), api:42 (rolled back by this action)). Nothing was changed. Name the revision with rollback-to: family:revision."
    )
  })

  it('with only the current revision in the history, names no skipped revisions', async () => {
    const { ecs } = standIn({ history: [succeeded(43, 1)] })
    await expect(resolveRollbackTarget(ecs, 'payments', current, 'previous')).rejects.toThrow(
      "Cannot roll service 'api' back to 'previous': its deployment history has no successful deployment of a revision other than the current api:43 that was not rolled back from. Nothing was changed."
    )
  })

  it('an unreadable history fails with the reason and the permissions to grant', async () => {
    const { ecs } = standIn({ history: new Error('AccessDeniedException: not authorized') })
    await expect(resolveRollbackTarget(ecs, 'payments', current, 'previous')).rejects.toThrow(
      "Cannot tell which revision 'previous' is: the deployment history of service 'api' could not be read (AccessDeniedException: not authorized). Nothing was changed. Grant ecs:ListServiceDeployments and ecs:DescribeServiceRevisions, or name the revision with rollback-to: family:revision."
    )
  })
})

describe('previousCandidates', () => {
  it.each(['ROLLBACK_REQUESTED', 'ROLLBACK_IN_PROGRESS', 'ROLLBACK_SUCCESSFUL', 'ROLLBACK_FAILED'])(
    'a revision with a %s deployment in the history was rolled back from',
    status => {
      const history = [succeeded(42, 3), { ...succeeded(42, 2), status }, succeeded(41, 1)]
      const { candidates, skipped } = previousCandidates(arn('api', 43), history)
      expect(candidates.map(c => c.taskDefinition)).toEqual([arn('api', 41)])
      expect(skipped).toEqual(['api:42 (rolled back by ECS)'])
    }
  )

  it('a revision skipped as rolled back from is named once, however often it succeeded', () => {
    const history = [
      succeeded(42, 3),
      { ...succeeded(42, 2), status: 'ROLLBACK_FAILED' },
      succeeded(42, 1)
    ]
    expect(previousCandidates(arn('api', 43), history).skipped).toEqual([
      'api:42 (rolled back by ECS)'
    ])
  })
})
