import {
  DescribeServiceRevisionsCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListServiceDeploymentsCommand,
  ListServicesCommand,
  ListTaskDefinitionsCommand,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
  type RegisterTaskDefinitionCommandInput,
  type Service,
  type Tag,
  type TaskDefinition
} from '@aws-sdk/client-ecs'
import { ActionError, awsFailure, describeError } from '../shared/errors.js'

export interface StoppedTask {
  taskArn: string
  stoppedReason: string
  stopCode: string
  stoppedAt?: Date
  containers: Array<{ name: string; exitCode?: number; reason?: string }>
}

export interface SuccessfulDeployment {
  serviceDeploymentArn: string
  taskDefinition: string
  finishedAt?: Date
}

/** ECS calls this action makes, with ECS's errors turned into ones that say what to do. */
export class EcsGateway {
  constructor(private readonly client: ECSClient) {}

  async describeService(cluster: string, service: string): Promise<Service> {
    let response
    try {
      response = await this.client.send(
        new DescribeServicesCommand({ cluster, services: [service] })
      )
    } catch (error) {
      if (errorName(error) === 'ClusterNotFoundException') {
        throw new ActionError(
          `Cluster '${cluster}' was not found in this account and region: check the 'cluster' input and 'aws-region'.`
        )
      }
      throw awsFailure(`Describing service '${service}' in cluster '${cluster}'`, error)
    }
    const found = response.services?.find(s => s.status !== 'INACTIVE')
    if (!found) {
      const known = await this.serviceNames(cluster)
      const listing = known.length > 0 ? `; its services are: ${known.join(', ')}` : ''
      throw new ActionError(
        `Service '${service}' was not found in cluster '${cluster}'${listing}. Check the 'service' input.`
      )
    }
    return found
  }

  private async serviceNames(cluster: string): Promise<string[]> {
    try {
      const response = await this.client.send(new ListServicesCommand({ cluster, maxResults: 20 }))
      return (response.serviceArns ?? []).map(arn => arn.split('/').pop() ?? arn)
    } catch {
      return [] // only a hint for the error message
    }
  }

  async describeTaskDefinition(
    reference: string
  ): Promise<{ taskDefinition: TaskDefinition; tags: Tag[] }> {
    const response = await attempt(`Describing task definition '${reference}'`, () =>
      this.client.send(
        new DescribeTaskDefinitionCommand({ taskDefinition: reference, include: ['TAGS'] })
      )
    )
    if (!response.taskDefinition)
      throw new ActionError(`ECS returned no task definition for '${reference}'.`)
    return { taskDefinition: response.taskDefinition, tags: response.tags ?? [] }
  }

  /** Null when the revision does not exist, so callers can name the input that pointed at it. */
  async findTaskDefinition(reference: string): Promise<TaskDefinition | null> {
    try {
      const response = await this.client.send(
        new DescribeTaskDefinitionCommand({ taskDefinition: reference })
      )
      return response.taskDefinition ?? null
    } catch (error) {
      if (
        errorName(error) === 'ClientException' ||
        errorName(error) === 'InvalidParameterException'
      )
        return null
      throw awsFailure(`Describing task definition '${reference}'`, error)
    }
  }

  async registerTaskDefinition(input: RegisterTaskDefinitionCommandInput): Promise<TaskDefinition> {
    const response = await attempt(`Registering a revision of '${input.family}'`, () =>
      this.client.send(new RegisterTaskDefinitionCommand(input))
    )
    if (!response.taskDefinition?.taskDefinitionArn)
      throw new ActionError(`ECS registered no task definition for family '${input.family}'.`)
    return response.taskDefinition
  }

  async updateService(request: {
    cluster: string
    service: string
    taskDefinition: string
    desiredCount?: number
    forceNewDeployment: boolean
  }): Promise<Service> {
    const response = await attempt(`Updating service '${request.service}'`, () =>
      this.client.send(new UpdateServiceCommand(request))
    )
    if (!response.service)
      throw new ActionError(`ECS returned nothing for the update of service '${request.service}'.`)
    return response.service
  }

  /**
   * Why the deployment's tasks stopped. ListTasks takes startedBy only as its sole filter, so
   * list the service's stopped tasks and keep those the deployment started (their startedBy).
   */
  async stoppedTasks(
    cluster: string,
    service: string,
    deploymentId: string,
    limit = 10
  ): Promise<StoppedTask[]> {
    const listed = await this.client.send(
      new ListTasksCommand({
        cluster,
        serviceName: service,
        desiredStatus: 'STOPPED',
        maxResults: 100
      })
    )
    const arns = listed.taskArns ?? []
    if (arns.length === 0) return []
    const described = await this.client.send(new DescribeTasksCommand({ cluster, tasks: arns }))
    return (described.tasks ?? [])
      .filter(task => task.startedBy === deploymentId)
      .map(task => ({
        taskArn: task.taskArn ?? '',
        stoppedReason: task.stoppedReason ?? '',
        stopCode: task.stopCode ?? '',
        stoppedAt: task.stoppedAt,
        containers: (task.containers ?? []).map(c => ({
          name: c.name ?? '',
          exitCode: c.exitCode,
          reason: c.reason
        }))
      }))
      .sort((a, b) => (b.stoppedAt?.valueOf() ?? 0) - (a.stoppedAt?.valueOf() ?? 0))
      .slice(0, limit)
  }

  /**
   * Successful service deployments, newest first, with their task definitions; or the reason
   * the history cannot be read (older accounts, or a role without the permission).
   */
  async successfulDeployments(
    cluster: string,
    service: string
  ): Promise<SuccessfulDeployment[] | { unavailable: string }> {
    let briefs
    try {
      const response = await this.client.send(
        new ListServiceDeploymentsCommand({
          cluster,
          service,
          status: ['SUCCESSFUL'],
          maxResults: 20
        })
      )
      briefs = (response.serviceDeployments ?? [])
        .filter(d => d.targetServiceRevisionArn)
        .sort((a, b) => (b.createdAt?.valueOf() ?? 0) - (a.createdAt?.valueOf() ?? 0))
      if (briefs.length === 0) return []
      const revisions = await this.client.send(
        new DescribeServiceRevisionsCommand({
          serviceRevisionArns: briefs.map(d => d.targetServiceRevisionArn!)
        })
      )
      const taskDefinitionOf = new Map(
        (revisions.serviceRevisions ?? []).map(r => [r.serviceRevisionArn, r.taskDefinition])
      )
      return briefs
        .filter(d => taskDefinitionOf.get(d.targetServiceRevisionArn))
        .map(d => ({
          serviceDeploymentArn: d.serviceDeploymentArn ?? '',
          taskDefinition: taskDefinitionOf.get(d.targetServiceRevisionArn)!,
          finishedAt: d.finishedAt
        }))
    } catch (error) {
      return { unavailable: `${errorName(error)}: ${describeError(error)}` }
    }
  }

  /** ACTIVE revisions of a family, newest first. */
  async familyRevisions(family: string): Promise<string[]> {
    const response = await this.client.send(
      new ListTaskDefinitionsCommand({
        familyPrefix: family,
        status: 'ACTIVE',
        sort: 'DESC',
        maxResults: 50
      })
    )
    return (response.taskDefinitionArns ?? []).filter(
      arn => arn.split('/').pop()?.split(':')[0] === family
    )
  }
}

async function attempt<T>(doing: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    throw error instanceof ActionError ? error : awsFailure(doing, error)
  }
}

export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'Error'
}
