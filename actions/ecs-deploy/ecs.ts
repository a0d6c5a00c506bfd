import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListServiceDeploymentsCommand,
  ListServicesCommand,
  ListTaskDefinitionsCommand,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  TagResourceCommand,
  UpdateServiceCommand,
  type Deployment,
  type RegisterTaskDefinitionCommandInput,
  type Service,
  type ServiceDeploymentBrief,
  type Tag,
  type Task,
  type TaskDefinition
} from '@aws-sdk/client-ecs'
import { DescribeServiceRevisionsCommand } from '@aws-sdk/client-ecs'
import {
  ContinueServiceDeploymentCommand,
  DescribeServiceDeploymentsCommand,
  StopServiceDeploymentCommand,
  type ServiceDeployment
} from '@aws-sdk/client-ecs'
import { AwsCaller, AwsRejection } from '../shared/aws-call.js'
import { ActionError, describeError } from '../shared/errors.js'
import { describeDeployment, primaryDeployment } from './rollout.js'

export interface StoppedTask {
  taskArn: string
  stoppedReason: string
  stopCode: string
  /** When the task started (created, if it never did): its log lines are read from here. */
  startedAt?: Date
  stoppedAt?: Date
  containers: Array<{ name: string; exitCode?: number; reason?: string }>
}

/** A service deployment from the history, with the task definition it deployed. */
export interface HistoricDeployment {
  serviceDeploymentArn: string
  status: string
  taskDefinition: string
  createdAt?: Date
  finishedAt?: Date
}

/** What a change is expected to leave behind, so a lost reply can be read back. */
export interface UpdateRequest {
  cluster: string
  service: string
  taskDefinition: string
  desiredCount?: number
  forceNewDeployment: boolean
  /** The service before the update: a deployment not among these, on our revision, is ours. */
  prior: { deploymentIds: string[]; taskDefinition?: string }
}

/** What reading the service back after a lost UpdateService reply shows. */
export type UpdateReadBack =
  | { kind: 'applied'; deployment?: Deployment }
  | { kind: 'not-applied' }
  /** The service changed, but not visibly by our update: sending it again could undo someone. */
  | { kind: 'changed-otherwise'; by: Deployment }

/** Tags that identify the revision this step registered: its run, attempt and image. */
export interface RegistrationMarker {
  tags: Tag[]
  /** How long the listing may lag a registration; default LISTING_LAG_MS. */
  listingLagMs?: number
}

// Stryker disable all: the gateway is I/O (every ECS call), tested against the ECS stand-in;
// only the read-back decision below is mutated.
/** A change whose reply was lost, read back as not made, with no time left to send it again. */
export class NotApplied extends ActionError {
  constructor(what: string, error: unknown) {
    super(
      `${what} got no readable reply (${describeError(error)}), and reading it back showed it had not happened; the deadline left no time to try again.`
    )
    this.name = 'NotApplied'
  }
}

/** An UpdateService whose outcome cannot be read back without risking someone else's change. */
export class UpdateUnknown extends ActionError {
  constructor(message: string) {
    super(message)
    this.name = 'UpdateUnknown'
  }
}

/** How far back a registration is looked for after a lost reply (clocks differ a little). */
const READ_BACK_SKEW_MS = 5 * 60_000
/** How long ListTaskDefinitions may lag a registration before its absence is believed. */
const LISTING_LAG_MS = 10_000
/** The listing pages read back after a lost registration reply. */
const REGISTRATION_PAGES = 20
/** The stopped-task pages read for one deployment: enough for the breaker's 200 failures. */
const STOPPED_TASK_PAGES = 3
/** The service deployment history read to find a proven revision. */
const HISTORY_PAGES = 5

/**
 * Every ECS call ecs-deploy makes. Each goes through an AwsCaller, so every attempt has a
 * time limit and the whole call a deadline; a change whose reply is lost is read back here,
 * and sent again only when the read-back shows it did not happen.
 */
export class EcsGateway {
  constructor(
    private readonly client: ECSClient,
    private readonly caller: AwsCaller,
    /** Shared by every phase's gateway: the service as last described by any call. */
    private readonly seen: { service?: Service } = {}
  ) {}

  /** The same client under another deadline (a new phase of the step). */
  until(deadline: number): EcsGateway {
    return new EcsGateway(this.client, this.caller.until(deadline), this.seen)
  }

  get deadline(): number {
    return this.caller.deadline
  }

  /** The service as last described: the summary's "last known state". */
  get lastSeen(): Service | undefined {
    return this.seen.service
  }

  private remember(service: Service): void {
    this.seen.service = service
  }

  async describeService(cluster: string, service: string): Promise<Service> {
    let response
    try {
      response = await this.caller.read(
        `Describing service '${service}' in cluster '${cluster}'`,
        abortSignal =>
          // With its tags: a rollback's mark (rollback-mark.ts) is read on every look.
          this.client.send(
            new DescribeServicesCommand({ cluster, services: [service], include: ['TAGS'] }),
            { abortSignal }
          )
      )
    } catch (error) {
      if (rejectedAs(error, 'ClusterNotFoundException')) {
        throw new ActionError(
          `Cluster '${cluster}' was not found in this account and region: check the 'cluster' input and 'aws-region'.`
        )
      }
      throw error
    }
    const found = response.services?.find(s => s.status !== 'INACTIVE')
    if (!found) {
      const known = await this.serviceNames(cluster)
      const listing = known.length > 0 ? `; its services are: ${known.join(', ')}` : ''
      throw new ActionError(
        `Service '${service}' was not found in cluster '${cluster}'${listing}. Check the 'service' input.`
      )
    }
    this.remember(found)
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
    const response = await this.caller.read(
      `Describing task definition '${reference}'`,
      abortSignal =>
        this.client.send(
          new DescribeTaskDefinitionCommand({ taskDefinition: reference, include: ['TAGS'] }),
          { abortSignal }
        )
    )
    if (!response.taskDefinition)
      throw new ActionError(`ECS returned no task definition for '${reference}'.`)
    return { taskDefinition: response.taskDefinition, tags: response.tags ?? [] }
  }

  /** Null when the revision does not exist, so callers can name the input that pointed at it. */
  async findTaskDefinition(
    reference: string
  ): Promise<{ taskDefinition: TaskDefinition; tags: Tag[] } | null> {
    try {
      return await this.describeTaskDefinition(reference)
    } catch (error) {
      if (rejectedAs(error, 'ClientException', 'InvalidParameterException')) return null
      throw error
    }
  }

  /**
   * Registers a revision once. When the reply is lost, the revisions of the family registered
   * since are read back and ours is recognised by its marker tags; only when none carries them
   * is the registration sent again.
   */
  async registerTaskDefinition(
    input: RegisterTaskDefinitionCommandInput,
    marker: RegistrationMarker
  ): Promise<{ taskDefinition: TaskDefinition; readBack: boolean }> {
    const what = `Registering a revision of '${input.family}'`
    for (;;) {
      const sentAt = this.caller.clock.now()
      const outcome = await this.caller.change(what, abortSignal =>
        this.client.send(new RegisterTaskDefinitionCommand(input), { abortSignal })
      )
      if (outcome.kind === 'answered') {
        if (!outcome.value.taskDefinition?.taskDefinitionArn)
          throw new ActionError(`ECS registered no task definition for family '${input.family}'.`)
        return { taskDefinition: outcome.value.taskDefinition, readBack: false }
      }
      const found = await this.findRegistration(input.family ?? '', marker, sentAt)
      if (found) return { taskDefinition: found, readBack: true }
      this.ensureTimeLeft(what, outcome.error)
    }
  }

  /**
   * Our registration among the family's revisions, newest first, every page of the listing;
   * a revision registered a moment ago may not be listed yet ("The Amazon ECS API follows an
   * eventual consistency model", RunTaskCommand), so the listing is read again for a while
   * before the registration counts as not made.
   */
  private async findRegistration(
    family: string,
    marker: RegistrationMarker,
    sentAt: number
  ): Promise<TaskDefinition | undefined> {
    const { clock } = this.caller
    const lagUntil = clock.now() + (marker.listingLagMs ?? LISTING_LAG_MS)
    for (;;) {
      const found = await this.findListedRegistration(family, marker, sentAt)
      if (found) return found
      const wait = Math.min(1_000, Math.max(100, (lagUntil - clock.now()) / 4))
      if (clock.now() + wait > lagUntil || clock.now() + wait >= this.caller.deadline)
        return undefined
      await clock.sleep(wait)
    }
  }

  private async findListedRegistration(
    family: string,
    marker: RegistrationMarker,
    sentAt: number
  ): Promise<TaskDefinition | undefined> {
    let nextToken: string | undefined
    for (let page = 0; page < REGISTRATION_PAGES; page++) {
      const listed = await this.caller.read(`Listing revisions of '${family}'`, abortSignal =>
        this.client.send(
          new ListTaskDefinitionsCommand({
            familyPrefix: family,
            status: 'ACTIVE',
            sort: 'DESC',
            maxResults: 10,
            nextToken
          }),
          { abortSignal }
        )
      )
      const arns = (listed.taskDefinitionArns ?? []).filter(
        arn => arn.split('/').pop()?.split(':')[0] === family
      )
      for (const arn of arns) {
        const { taskDefinition, tags } = await this.describeTaskDefinition(arn)
        const registeredAt = taskDefinition.registeredAt?.valueOf() ?? sentAt
        if (registeredAt < sentAt - READ_BACK_SKEW_MS) return undefined
        const carries = marker.tags.every(m =>
          tags.some(t => t.key === m.key && t.value === m.value)
        )
        if (carries) return taskDefinition
      }
      nextToken = listed.nextToken
      if (!nextToken) return undefined
    }
    return undefined
  }

  /**
   * Updates the service once. When the reply is lost, the service is read back: a new primary
   * deployment on our revision (or, for an update that starts none, the settings we asked for)
   * means it happened; otherwise it is sent again.
   */
  async updateService(request: UpdateRequest): Promise<{
    service: Service
    /** The deployment the update started (none for an update that starts none). */
    deployment?: Deployment
    startedAt: number
    readBack: boolean
  }> {
    const what = `Updating service '${request.service}'`
    const command = {
      cluster: request.cluster,
      service: request.service,
      taskDefinition: request.taskDefinition,
      desiredCount: request.desiredCount,
      forceNewDeployment: request.forceNewDeployment
    }
    for (;;) {
      const startedAt = this.caller.clock.now()
      const outcome = await this.caller.change(what, abortSignal =>
        this.client.send(new UpdateServiceCommand(command), { abortSignal })
      )
      if (outcome.kind === 'answered') {
        if (!outcome.value.service)
          throw new ActionError(
            `ECS returned nothing for the update of service '${request.service}'.`
          )
        const service = outcome.value.service
        this.remember(service)
        const started = startsDeployment(request) ? primaryDeployment(service) : undefined
        return { service, deployment: started, startedAt, readBack: false }
      }
      const service = await this.describeService(request.cluster, request.service)
      const readBack = readBackUpdate(service, request)
      if (readBack.kind === 'applied')
        return { service, deployment: readBack.deployment, startedAt, readBack: true }
      if (readBack.kind === 'changed-otherwise') {
        throw new UpdateUnknown(
          `${what} got no readable reply (${describeError(outcome.error)}), and when the service was read back ${describeDeployment(readBack.by)} was on it, which this step did not start. Whether the update happened first cannot be told, so it was not sent again.`
        )
      }
      this.ensureTimeLeft(what, outcome.error)
    }
  }

  private ensureTimeLeft(what: string, error: unknown): void {
    if (this.caller.clock.now() >= this.caller.deadline) throw new NotApplied(what, error)
  }

  /** Adds tags to a task definition; tags already there with these values count as done. */
  async tagTaskDefinition(arn: string, tags: Tag[]): Promise<void> {
    const what = `Tagging '${arn.split('/').pop()}'`
    for (;;) {
      const outcome = await this.caller.change(what, abortSignal =>
        this.client.send(new TagResourceCommand({ resourceArn: arn, tags }), { abortSignal })
      )
      if (outcome.kind === 'answered') return
      const { tags: present } = await this.describeTaskDefinition(arn)
      if (tags.every(t => present.some(p => p.key === t.key && p.value === t.value))) return
      this.ensureTimeLeft(what, outcome.error)
    }
  }

  /**
   * Adds tags to a service, in one call. When the reply is lost, the service is read back: the
   * tags there with these values mean it happened; otherwise it is sent again.
   */
  async tagService(cluster: string, service: Service, tags: Tag[]): Promise<void> {
    const what = `Tagging service '${service.serviceName}'`
    for (;;) {
      const outcome = await this.caller.change(what, abortSignal =>
        this.client.send(new TagResourceCommand({ resourceArn: service.serviceArn, tags }), {
          abortSignal
        })
      )
      if (outcome.kind === 'answered') return
      const present = (await this.describeService(cluster, service.serviceName ?? '')).tags ?? []
      if (tags.every(t => present.some(p => p.key === t.key && p.value === t.value))) return
      this.ensureTimeLeft(what, outcome.error)
    }
  }

  /**
   * Why the deployment's tasks stopped, newest first. ListTasks filters by startedBy (the
   * deployment) only with no serviceName or family beside it; pages are followed so a busy
   * service still shows ours.
   */
  async stoppedTasks(cluster: string, deploymentId: string, limit = 10): Promise<StoppedTask[]> {
    const arns: string[] = []
    let nextToken: string | undefined
    for (let page = 0; page < STOPPED_TASK_PAGES; page++) {
      const listed = await this.caller.read(
        `Listing the stopped tasks of ${deploymentId}`,
        abortSignal =>
          this.client.send(
            new ListTasksCommand({
              cluster,
              startedBy: deploymentId,
              desiredStatus: 'STOPPED',
              maxResults: 100,
              nextToken
            }),
            { abortSignal }
          )
      )
      arns.push(...(listed.taskArns ?? []))
      nextToken = listed.nextToken
      if (!nextToken) break
    }
    const tasks = []
    for (let i = 0; i < arns.length; i += 100) {
      const described = await this.caller.read(
        `Describing the stopped tasks of ${deploymentId}`,
        abortSignal =>
          this.client.send(new DescribeTasksCommand({ cluster, tasks: arns.slice(i, i + 100) }), {
            abortSignal
          })
      )
      tasks.push(...(described.tasks ?? []))
    }
    return tasks
      .filter(task => task.startedBy === deploymentId)
      .map(task => ({
        taskArn: task.taskArn ?? '',
        stoppedReason: task.stoppedReason ?? '',
        stopCode: task.stopCode ?? '',
        startedAt: task.startedAt ?? task.createdAt,
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
   * The service deployment history, newest first, with each deployment's task definition.
   * Throws (with AWS's reason) when it cannot be read: callers must not guess instead.
   */
  async deploymentHistory(
    cluster: string,
    service: string,
    createdAfter?: number
  ): Promise<HistoricDeployment[]> {
    const briefs: ServiceDeploymentBrief[] = []
    let nextToken: string | undefined
    const createdAt =
      createdAfter === undefined ? {} : { createdAt: { after: new Date(createdAfter) } }
    for (let page = 0; page < HISTORY_PAGES; page++) {
      const response = await this.caller.read(
        `Reading the deployment history of service '${service}'`,
        abortSignal =>
          this.client.send(
            new ListServiceDeploymentsCommand({
              cluster,
              service,
              maxResults: 100,
              nextToken,
              ...createdAt
            }),
            { abortSignal }
          )
      )
      briefs.push(...(response.serviceDeployments ?? []))
      nextToken = response.nextToken
      if (!nextToken) break
    }
    const targets = [
      ...new Set(briefs.map(b => b.targetServiceRevisionArn).filter((a): a is string => !!a))
    ]
    const taskDefinitionOf = new Map<string, string>()
    for (let i = 0; i < targets.length; i += 20) {
      const revisions = await this.caller.read(
        `Reading the service revisions of '${service}'`,
        abortSignal =>
          this.client.send(
            new DescribeServiceRevisionsCommand({ serviceRevisionArns: targets.slice(i, i + 20) }),
            { abortSignal }
          )
      )
      for (const revision of revisions.serviceRevisions ?? []) {
        if (revision.serviceRevisionArn && revision.taskDefinition)
          taskDefinitionOf.set(revision.serviceRevisionArn, revision.taskDefinition)
      }
    }
    return briefs
      .filter(b => taskDefinitionOf.has(b.targetServiceRevisionArn ?? ''))
      .sort((a, b) => (b.createdAt?.valueOf() ?? 0) - (a.createdAt?.valueOf() ?? 0))
      .map(b => ({
        serviceDeploymentArn: b.serviceDeploymentArn ?? '',
        status: b.status ?? '',
        taskDefinition: taskDefinitionOf.get(b.targetServiceRevisionArn ?? '')!,
        createdAt: b.createdAt,
        finishedAt: b.finishedAt
      }))
  }

  /**
   * The service deployments created since `createdAfter` (ECS's clock, epoch ms), newest first,
   * with their task definitions: where the one an update started is found, as
   * `currentServiceDeployment` may still name the previous one.
   */
  recentServiceDeployments(
    cluster: string,
    service: string,
    createdAfter: number
  ): Promise<HistoricDeployment[]> {
    return this.deploymentHistory(cluster, service, createdAfter)
  }

  /** One service deployment (BLUE_GREEN, LINEAR, CANARY: with its lifecycle stage and traffic). */
  async describeServiceDeployment(arn: string): Promise<ServiceDeployment> {
    const response = await this.caller.read(
      `Describing service deployment '${shortServiceDeployment(arn)}'`,
      abortSignal =>
        this.client.send(new DescribeServiceDeploymentsCommand({ serviceDeploymentArns: [arn] }), {
          abortSignal
        })
    )
    const found = response.serviceDeployments?.find(d => d.serviceDeploymentArn === arn)
    if (!found) {
      const why = response.failures?.find(f => f.arn === arn)?.reason ?? 'not returned'
      throw new ActionError(
        `ECS did not describe service deployment '${arn}' (${why}): check that it belongs to this account and region.`
      )
    }
    return found
  }

  /**
   * Stops a service deployment with ROLLBACK, once. When the reply is lost, the deployment is
   * read back: a rollback requested, under way or done means the stop was taken (or ECS rolled
   * back on its own, which ends the same way); a deployment still under way gets the stop again.
   */
  async stopServiceDeployment(
    arn: string,
    stopType: 'ROLLBACK'
  ): Promise<{ serviceDeployment?: ServiceDeployment; readBack: boolean }> {
    const what = `Stopping service deployment '${shortServiceDeployment(arn)}' with ${stopType}`
    for (;;) {
      const outcome = await this.caller.change(what, abortSignal =>
        this.client.send(
          new StopServiceDeploymentCommand({ serviceDeploymentArn: arn, stopType }),
          {
            abortSignal
          }
        )
      )
      if (outcome.kind === 'answered') return { readBack: false }
      const serviceDeployment = await this.describeServiceDeployment(arn)
      const status = serviceDeployment.status ?? ''
      if (status.startsWith('ROLLBACK_')) return { serviceDeployment, readBack: true }
      if (status !== 'PENDING' && status !== 'IN_PROGRESS') {
        throw new ActionError(
          `${what} got no readable reply (${describeError(outcome.error)}), and reading it back showed it ${status}: it can no longer be rolled back this way.`
        )
      }
      this.ensureTimeLeft(what, outcome.error)
    }
  }

  /**
   * Answers the PAUSE hook a service deployment waits at (CONTINUE or ROLLBACK), once. When the
   * reply is lost the deployment is read back: a hook that no longer awaits action took an answer
   * (this one, or another run's, or ECS's timeout action: the caller reads what ECS did); a hook
   * still AWAITING_ACTION gets the answer again, and ECS refuses a second answer to a hook that
   * took the first, which the caller reads back the same way.
   */
  async continueServiceDeployment(
    arn: string,
    hookId: string,
    action: 'CONTINUE' | 'ROLLBACK'
  ): Promise<{ readBack: boolean; serviceDeployment?: ServiceDeployment }> {
    const what = `Answering hook ${hookId} of service deployment '${shortServiceDeployment(arn)}' with ${action}`
    let lost = false
    for (;;) {
      let outcome
      try {
        outcome = await this.caller.change(what, abortSignal =>
          this.client.send(
            new ContinueServiceDeploymentCommand({ serviceDeploymentArn: arn, hookId, action }),
            { abortSignal }
          )
        )
      } catch (error) {
        // Sent again after a lost reply, and refused: the first answer took (the read-back was stale).
        if (lost && rejectedAs(error, 'InvalidParameterException'))
          return { readBack: true, serviceDeployment: await this.describeServiceDeployment(arn) }
        throw error
      }
      if (outcome.kind === 'answered') return { readBack: false }
      lost = true
      const serviceDeployment = await this.describeServiceDeployment(arn)
      const hook = serviceDeployment.lifecycleHookDetails?.find(h => h.hookId === hookId)
      if (hook?.status !== 'AWAITING_ACTION') return { readBack: true, serviceDeployment }
      this.ensureTimeLeft(what, outcome.error)
    }
  }

  /** One page (100) of a deployment's task ARNs with this desired status: its tasks, by startedBy. */
  async deploymentTaskArns(
    cluster: string,
    deploymentId: string,
    desiredStatus: 'RUNNING' | 'STOPPED'
  ): Promise<string[]> {
    const listed = await this.caller.read(`Listing the tasks of ${deploymentId}`, abortSignal =>
      this.client.send(
        new ListTasksCommand({ cluster, startedBy: deploymentId, desiredStatus, maxResults: 100 }),
        { abortSignal }
      )
    )
    return listed.taskArns ?? []
  }

  /** Tasks by ARN (at most 100), with ECS's timestamps and attachments. */
  async describeTasks(cluster: string, taskArns: string[]): Promise<Task[]> {
    if (taskArns.length === 0) return []
    const described = await this.caller.read(`Describing ${taskArns.length} tasks`, abortSignal =>
      this.client.send(new DescribeTasksCommand({ cluster, tasks: taskArns.slice(0, 100) }), {
        abortSignal
      })
    )
    return described.tasks ?? []
  }
}

/** The last part of a service deployment ARN, for log lines. */
export function shortServiceDeployment(arn: string): string {
  return arn.split('/').slice(-2).join('/')
}

function rejectedAs(error: unknown, ...names: string[]): boolean {
  return error instanceof AwsRejection && names.includes(error.awsName)
}

// Stryker restore all
function startsDeployment(request: UpdateRequest): boolean {
  return request.forceNewDeployment || request.taskDefinition !== request.prior.taskDefinition
}

/**
 * Reads a service back after a lost UpdateService reply. A deployment the service did not
 * have before, on our revision, is ours (even when ECS's rollback has already replaced it);
 * an unchanged set of deployments means the update did not happen; anything else is a change
 * by someone else, and the update must not be sent again over it.
 */
export function readBackUpdate(service: Service, request: UpdateRequest): UpdateReadBack {
  const deployments = service.deployments ?? []
  const fresh = deployments.filter(d => !request.prior.deploymentIds.includes(d.id ?? ''))
  const countApplied =
    request.desiredCount === undefined || service.desiredCount === request.desiredCount
  if (!startsDeployment(request)) {
    return countApplied && service.taskDefinition === request.taskDefinition && fresh.length === 0
      ? { kind: 'applied' }
      : fresh.length > 0
        ? { kind: 'changed-otherwise', by: fresh[0] }
        : { kind: 'not-applied' }
  }
  const ours = fresh.find(d => d.taskDefinition === request.taskDefinition)
  if (ours) return { kind: 'applied', deployment: ours }
  if (fresh.length > 0) return { kind: 'changed-otherwise', by: fresh[0] }
  return { kind: 'not-applied' }
}
