/**
 * ECS calls for one-off tasks (a migration before the rollout): RunTask, StopTask, and the
 * reads that find such a task again. Every call goes through an AwsCaller; a change whose
 * reply is lost is read back before anything is sent again.
 */
import {
  DescribeTasksCommand,
  ListTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
  type ECSClient,
  type RunTaskCommandInput,
  type RunTaskCommandOutput,
  type Task
} from '@aws-sdk/client-ecs'
import type { AwsCaller } from '../shared/aws-call.js'
import { ActionError, describeError } from '../shared/errors.js'

/** A task as the migration reads it: plain data. */
export interface OneOffTask {
  taskArn: string
  lastStatus: string
  desiredStatus: string
  stopCode?: string
  stoppedReason?: string
  /** When ECS created it (RunTask): its log lines are read from here. */
  createdAt?: Date
  startedAt?: Date
  stoppedAt?: Date
  containers: Array<{ name: string; lastStatus?: string; exitCode?: number; reason?: string }>
}

export type RunTaskOutcome =
  | {
      kind: 'started'
      task: OneOffTask
      /** How we know: ECS's answer, or reading back after the answer was lost. */
      via: 'answer' | 'read-back' | 'conflict'
    }
  | { kind: 'not-started'; reasons: string[] }

/** How many times a RunTask whose reply was lost (and not found by reading back) is resent. */
export const MAX_RUN_TASK_SENDS = 3

export class EcsTasksGateway {
  constructor(
    private readonly client: ECSClient,
    private readonly caller: AwsCaller
  ) {}

  /** The same gateway with another deadline for its calls. */
  until(deadline: number): EcsTasksGateway {
    return new EcsTasksGateway(this.client, this.caller.until(deadline))
  }

  /**
   * Starts one task, once. The request must carry a clientToken and a startedBy unique to the
   * intent. When ECS's reply is lost, the tasks carrying that startedBy are listed; only if none
   * is found yet is the request sent again, with the same clientToken, which ECS answers with
   * the task it already started rather than a second one.
   */
  async runTaskOnce(request: RunTaskCommandInput): Promise<RunTaskOutcome> {
    const cluster = request.cluster ?? 'default'
    if (!request.clientToken || !request.startedBy)
      throw new Error('runTaskOnce needs a clientToken and a startedBy to read a lost reply back')
    let lastError: unknown
    for (let sends = 1; sends <= MAX_RUN_TASK_SENDS; sends++) {
      const outcome = await this.caller.change(
        `Starting a one-off task of ${request.taskDefinition} in cluster ${cluster}`,
        async signal => {
          try {
            return await this.client.send(new RunTaskCommand(request), { abortSignal: signal })
          } catch (error) {
            const conflict = conflictingTasks(error)
            if (conflict) return { conflict }
            throw error
          }
        }
      )
      if (outcome.kind === 'answered') {
        const answer = outcome.value
        if ('conflict' in answer) {
          // The token already started a task (with parameters since changed): that task is ours.
          const task = await this.describeTask(cluster, answer.conflict[0]!)
          return {
            kind: 'started',
            task: task ?? pendingTask(answer.conflict[0]!),
            via: 'conflict'
          }
        }
        return started(answer)
      }
      lastError = outcome.error
      const found = await this.tasksStartedBy(cluster, request.startedBy)
      if (found.length > 0) {
        const task = await this.describeTask(cluster, found[0]!)
        return { kind: 'started', task: task ?? pendingTask(found[0]!), via: 'read-back' }
      }
      if (this.caller.clock.now() >= this.caller.deadline) break
    }
    throw new ActionError(
      `Starting a one-off task of ${request.taskDefinition} in cluster ${cluster}: ECS's reply was lost ` +
        `(${describeError(lastError)}) and no task started by ${request.startedBy} was found. Check the ` +
        `cluster's tasks for it before running the deploy again.`
    )
  }

  /** Task ARNs carrying this startedBy, running or stopped. */
  async tasksStartedBy(cluster: string, startedBy: string): Promise<string[]> {
    const arns: string[] = []
    for (const desiredStatus of ['RUNNING', 'STOPPED'] as const) {
      const listed = await this.caller.read(
        `Listing tasks started by ${startedBy} in cluster ${cluster}`,
        signal =>
          this.client.send(new ListTasksCommand({ cluster, startedBy, desiredStatus }), {
            abortSignal: signal
          })
      )
      arns.push(...(listed.taskArns ?? []))
    }
    return arns
  }

  /** The task, or undefined while ECS does not report it (just started, or long gone). */
  async describeTask(cluster: string, taskArn: string): Promise<OneOffTask | undefined> {
    const described = await this.caller.read(`Describing task ${taskArn}`, signal =>
      this.client.send(new DescribeTasksCommand({ cluster, tasks: [taskArn] }), {
        abortSignal: signal
      })
    )
    const task = described.tasks?.find(t => t.taskArn === taskArn) ?? described.tasks?.[0]
    return task ? oneOffTask(task) : undefined
  }

  /**
   * Asks ECS to stop the task. A lost reply is read back: if the task's desired status is not
   * STOPPED yet, the request is sent again (stopping a stopping task changes nothing).
   */
  async stopTask(cluster: string, taskArn: string, reason: string): Promise<void> {
    for (let sends = 1; sends <= MAX_RUN_TASK_SENDS; sends++) {
      const outcome = await this.caller.change(`Stopping task ${taskArn}`, signal =>
        this.client.send(
          new StopTaskCommand({ cluster, task: taskArn, reason: reason.slice(0, 255) }),
          {
            abortSignal: signal
          }
        )
      )
      if (outcome.kind === 'answered') return
      const task = await this.describeTask(cluster, taskArn)
      if (!task || task.desiredStatus === 'STOPPED') return
    }
    throw new ActionError(
      `Stopping task ${taskArn} in cluster ${cluster}: ECS's replies were lost and the task still runs; stop it by hand.`
    )
  }
}

function started(answer: RunTaskCommandOutput): RunTaskOutcome {
  const task = answer.tasks?.[0]
  if (task?.taskArn) return { kind: 'started', task: oneOffTask(task), via: 'answer' }
  const reasons = (answer.failures ?? []).map(f => [f.reason, f.detail].filter(Boolean).join(': '))
  return { kind: 'not-started', reasons: reasons.length > 0 ? reasons : ['ECS started no task'] }
}

/** ECS's ConflictException for a clientToken already used: the tasks it started then. */
function conflictingTasks(error: unknown): string[] | undefined {
  const shape = error as { name?: string; resourceIds?: string[] }
  if (shape?.name !== 'ConflictException') return undefined
  return shape.resourceIds && shape.resourceIds.length > 0 ? shape.resourceIds : undefined
}

function pendingTask(taskArn: string): OneOffTask {
  return { taskArn, lastStatus: 'PROVISIONING', desiredStatus: 'RUNNING', containers: [] }
}

export function oneOffTask(task: Task): OneOffTask {
  return {
    taskArn: task.taskArn ?? '',
    lastStatus: task.lastStatus ?? '',
    desiredStatus: task.desiredStatus ?? '',
    ...(task.stopCode ? { stopCode: task.stopCode } : {}),
    ...(task.stoppedReason ? { stoppedReason: task.stoppedReason } : {}),
    ...(task.createdAt ? { createdAt: task.createdAt } : {}),
    ...(task.startedAt ? { startedAt: task.startedAt } : {}),
    ...(task.stoppedAt ? { stoppedAt: task.stoppedAt } : {}),
    containers: (task.containers ?? []).map(c => ({
      name: c.name ?? '',
      ...(c.lastStatus ? { lastStatus: c.lastStatus } : {}),
      ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}),
      ...(c.reason ? { reason: c.reason } : {})
    }))
  }
}
