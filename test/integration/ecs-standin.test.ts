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
  TagResourceCommand,
  UpdateServiceCommand,
  type Deployment,
  type Service
} from '@aws-sdk/client-ecs'
import {
  circuitBreakerThreshold,
  startEcsStandin,
  type AddServiceSpec,
  type EcsStandin
} from '../../tools/ecs-standin/server.js'

const TICK_MS = 50
const TARGET = 'AmazonEC2ContainerServiceV20141113'

interface Fixture {
  standin: EcsStandin
  ecs: ECSClient
  v1: string
  v1DeploymentId: string
}

const open: EcsStandin[] = []

function client(endpoint: string, maxAttempts = 5): ECSClient {
  return new ECSClient({
    endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    retryMode: 'adaptive',
    maxAttempts
  })
}

/** A stand-in with cluster `prod` and a steady service `api` on registry/api:v1. */
async function fixture(service: Partial<AddServiceSpec> = {}): Promise<Fixture> {
  const standin = await startEcsStandin({ tickMs: TICK_MS })
  open.push(standin)
  standin.addCluster('prod')
  const v1 = standin.registerTaskDefinition({
    family: 'api',
    cpu: '256',
    memory: '512',
    networkMode: 'awsvpc',
    containerDefinitions: [{ name: 'api', image: 'registry/api:v1', essential: true }]
  })
  const { deploymentId } = standin.addService({
    cluster: 'prod',
    name: 'api',
    taskDefinition: v1,
    desiredCount: 2,
    ...service
  })
  return { standin, ecs: client(standin.endpoint), v1, v1DeploymentId: deploymentId }
}

async function registerImage(ecs: ECSClient, image: string): Promise<string> {
  const out = await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: 'api',
      containerDefinitions: [{ name: 'api', image, essential: true }]
    })
  )
  return out.taskDefinition!.taskDefinitionArn!
}

async function describe1(ecs: ECSClient): Promise<Service> {
  const out = await ecs.send(new DescribeServicesCommand({ cluster: 'prod', services: ['api'] }))
  return out.services![0]!
}

/** Polls DescribeServices every tick until `done`, returning every snapshot seen. */
async function pollUntil(
  ecs: ECSClient,
  done: (s: Service) => boolean,
  timeoutMs = 8000
): Promise<Service[]> {
  const seen: Service[] = []
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const service = await describe1(ecs)
    seen.push(service)
    if (done(service)) return seen
    if (Date.now() > deadline)
      throw new Error(`rollout did not settle: ${JSON.stringify(service.deployments)}`)
    await new Promise(resolve => setTimeout(resolve, TICK_MS))
  }
}

/** Every page of ListTaskDefinitions (newest first): a page may be short of maxResults. */
async function listAllTaskDefinitions(ecs: ECSClient, family: string): Promise<string[]> {
  const arns: string[] = []
  let nextToken: string | undefined
  do {
    const page = await ecs.send(
      new ListTaskDefinitionsCommand({ familyPrefix: family, sort: 'DESC', nextToken })
    )
    arns.push(...(page.taskDefinitionArns ?? []))
    nextToken = page.nextToken
  } while (nextToken)
  return arns
}

const settledOn = (taskDefinition: string) => (s: Service) =>
  s.deployments!.length === 1 &&
  s.deployments![0]!.taskDefinition === taskDefinition &&
  s.deployments![0]!.runningCount === s.desiredCount

async function rawCall(endpoint: string, operation: string, body: unknown) {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `${TARGET}.${operation}`
    },
    body: JSON.stringify(body)
  })
  return { status: response.status, json: (await response.json()) as Record<string, unknown> }
}

afterEach(async () => {
  await Promise.all(open.splice(0).map(s => s.close()))
})

describe('ECS stand-in', () => {
  it('rolls a new task definition out: new tasks within maximumPercent, old drained within minimumHealthyPercent, then COMPLETED', async () => {
    const { standin, ecs, v1, v1DeploymentId } = await fixture({
      minimumHealthyPercent: 100,
      maximumPercent: 200
    })
    standin.setImageBehaviour('registry/api:v2', { outcome: 'healthy', startDelayMs: 150 })
    const v2 = await registerImage(ecs, 'registry/api:v2')

    const updated = await ecs.send(
      new UpdateServiceCommand({ cluster: 'prod', service: 'api', taskDefinition: v2 })
    )
    const [primary, previous] = updated.service!.deployments!
    expect(primary).toMatchObject({
      status: 'PRIMARY',
      taskDefinition: v2,
      rolloutState: 'IN_PROGRESS'
    })
    expect(primary!.id).toMatch(/^ecs-svc\/\d+$/)
    expect(previous).toMatchObject({
      id: v1DeploymentId,
      status: 'ACTIVE',
      taskDefinition: v1,
      rolloutState: 'COMPLETED'
    })

    const seen = await pollUntil(
      ecs,
      s => settledOn(v2)(s) && s.deployments![0]!.rolloutState === 'COMPLETED'
    )
    for (const s of seen) {
      expect(s.runningCount).toBeGreaterThanOrEqual(2) // minimumHealthyPercent 100
      expect(s.runningCount! + s.pendingCount!).toBeLessThanOrEqual(4) // maximumPercent 200
    }
    expect(
      seen.some(s => s.deployments!.length === 2 && s.deployments![0]!.runningCount === 2)
    ).toBe(true)
    const last = seen.at(-1)!
    expect(last.taskDefinition).toBe(v2)
    expect(last.deployments![0]).toMatchObject({
      id: primary!.id,
      rolloutStateReason: `ECS deployment ${primary!.id} completed.`
    })
    expect(last.events![0]!.message).toBe('(service api) has reached a steady state.')
    expect(last.events![1]!.message).toBe(
      `(service api) (deployment ${primary!.id}) deployment completed.`
    )
    expect(
      last.events!.some(e =>
        /^\(service api\) has started 2 tasks: \(task [0-9a-f]{32}\) \(task [0-9a-f]{32}\)\.$/.test(
          e.message!
        )
      )
    ).toBe(true)
    // The two old tasks are drained in one step or two, as the ticks fall: both are named.
    const stoppedTasks = last
      .events!.filter(e => /^\(service api\) has stopped \d+ running tasks?: /.test(e.message!))
      .flatMap(e => [...e.message!.matchAll(/\(task ([0-9a-f]{32})\)/g)].map(m => m[1]))
    expect(new Set(stoppedTasks).size).toBe(2)

    const stopped = await ecs.send(
      new ListTasksCommand({ cluster: 'prod', serviceName: 'api', desiredStatus: 'STOPPED' })
    )
    const drained = await ecs.send(
      new DescribeTasksCommand({ cluster: 'prod', tasks: stopped.taskArns! })
    )
    expect(drained.tasks).toHaveLength(2)
    for (const task of drained.tasks!) {
      expect(task).toMatchObject({
        lastStatus: 'STOPPED',
        desiredStatus: 'STOPPED',
        startedBy: v1DeploymentId,
        taskDefinitionArn: v1,
        stopCode: 'ServiceSchedulerInitiated',
        stoppedReason: `Scaling activity initiated by (deployment ${primary!.id})`
      })
    }
    const running = await ecs.send(
      new ListTasksCommand({ cluster: 'prod', startedBy: primary!.id })
    )
    expect(running.taskArns).toHaveLength(2)
  })

  it('stops crashing tasks with their reasons, trips the circuit breaker at the documented threshold and rolls back', async () => {
    // Desired count 1: tasks fail one at a time, so the threshold (3) is visible exactly.
    const { standin, ecs, v1, v1DeploymentId } = await fixture({
      desiredCount: 1,
      circuitBreaker: { enable: true, rollback: true }
    })
    standin.setImageBehaviour(/:v2-oom$/, {
      outcome: 'crash',
      afterMs: 100,
      exitCode: 137,
      reason: 'OutOfMemoryError: Container killed due to memory usage'
    })
    const v2 = await registerImage(ecs, 'registry/api:v2-oom')
    const updatedAt = Date.now()
    const updated = await ecs.send(
      new UpdateServiceCommand({ cluster: 'prod', service: 'api', taskDefinition: v2 })
    )
    const failingId = updated.service!.deployments![0]!.id!

    const seen = await pollUntil(
      ecs,
      s => settledOn(v1)(s) && s.deployments![0]!.rolloutState === 'COMPLETED'
    )
    const failing = seen.flatMap(s => s.deployments!.filter(d => d.id === failingId))
    const inProgress = failing.filter(d => d.rolloutState === 'IN_PROGRESS')
    const failed = failing.filter(d => d.rolloutState === 'FAILED')
    expect(inProgress.every(d => d.failedTasks! < circuitBreakerThreshold(1))).toBe(true)
    expect(failed.length).toBeGreaterThan(0)
    expect(failed[0]).toMatchObject({
      failedTasks: 3,
      rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.'
    })
    const rollback = seen
      .map(s => s.deployments![0]!)
      .find((d: Deployment) => d.id !== failingId && d.id !== v1DeploymentId)
    expect(rollback).toMatchObject({
      taskDefinition: v1,
      rolloutStateReason: `ECS deployment circuit breaker: rolling back to deploymentId ${v1DeploymentId}.`
    })
    const failedAt = standin.failedAt(failingId)
    expect(failedAt).toBeGreaterThanOrEqual(updatedAt)
    expect(failedAt).toBeLessThanOrEqual(Date.now())

    const messages = seen.at(-1)!.events!.map(e => e.message)
    expect(messages).toContain(
      `(service api) (deployment ${failingId}) deployment failed: tasks failed to start.`
    )
    expect(messages).toContain(`(service api) rolling back to deployment ${v1DeploymentId}.`)

    const stopped = await ecs.send(
      new ListTasksCommand({ cluster: 'prod', startedBy: failingId, desiredStatus: 'STOPPED' })
    )
    const crashed = await ecs.send(
      new DescribeTasksCommand({ cluster: 'prod', tasks: stopped.taskArns! })
    )
    expect(crashed.tasks).toHaveLength(3)
    for (const task of crashed.tasks!) {
      expect(task).toMatchObject({
        lastStatus: 'STOPPED',
        desiredStatus: 'STOPPED',
        stopCode: 'EssentialContainerExited',
        stoppedReason: 'Essential container in task exited',
        taskDefinitionArn: v2
      })
      expect(task.containers![0]).toMatchObject({
        name: 'api',
        lastStatus: 'STOPPED',
        exitCode: 137,
        reason: 'OutOfMemoryError: Container killed due to memory usage'
      })
    }

    // The service deployments tell which revision last succeeded.
    const all = await ecs.send(
      new ListServiceDeploymentsCommand({ cluster: 'prod', service: 'api' })
    )
    expect(all.serviceDeployments!.map(d => d.status)).toEqual([
      'ROLLBACK_SUCCESSFUL',
      'SUCCESSFUL'
    ])
    const successful = await ecs.send(
      new ListServiceDeploymentsCommand({ cluster: 'prod', service: 'api', status: ['SUCCESSFUL'] })
    )
    const revisionArn = successful.serviceDeployments![0]!.targetServiceRevisionArn!
    const revisions = await ecs.send(
      new DescribeServiceRevisionsCommand({ serviceRevisionArns: [revisionArn] })
    )
    expect(revisions.serviceRevisions![0]).toMatchObject({
      serviceRevisionArn: revisionArn,
      taskDefinition: v1
    })
    expect(successful.serviceDeployments![0]!.finishedAt).toBeInstanceOf(Date)
  })

  it('resets failedTasks to 0 once a task of the deployment runs (resetOnHealthyTask, default true), so a build that comes up and then crashes never trips the breaker; false keeps counting', async () => {
    for (const resetOnHealthyTask of [undefined, false]) {
      const { standin, ecs } = await fixture({
        desiredCount: 1,
        circuitBreaker: {
          enable: true,
          rollback: true,
          ...(resetOnHealthyTask === false ? { resetOnHealthyTask } : {})
        }
      })
      // Each task runs for a while, then crashes: a crash loop.
      standin.setImageBehaviour(/:v2-loop$/, {
        outcome: 'crash',
        runningAfterMs: 2 * TICK_MS,
        afterMs: 4 * TICK_MS,
        exitCode: 1
      })
      const v2 = await registerImage(ecs, 'registry/api:v2-loop')
      const updated = await ecs.send(
        new UpdateServiceCommand({ cluster: 'prod', service: 'api', taskDefinition: v2 })
      )
      const id = updated.service!.deployments![0]!.id!
      const counts: number[] = []
      const deadline = Date.now() + 3_000
      let ours: Deployment | undefined
      for (;;) {
        const look = await describe1(ecs)
        ours = look.deployments!.find(d => d.id === id)
        counts.push(ours?.failedTasks ?? 0)
        const stopped = standin
          .tasks('prod', 'api')
          .filter(t => t.startedBy === id && t.lastStatus === 'STOPPED').length
        if (stopped >= 3 || ours?.rolloutState === 'FAILED' || Date.now() > deadline) break
        await new Promise(resolve => setTimeout(resolve, TICK_MS / 2))
      }
      const crashed = standin
        .tasks('prod', 'api')
        .filter(t => t.startedBy === id && t.lastStatus === 'STOPPED')
      expect(crashed.length).toBeGreaterThanOrEqual(3)
      if (resetOnHealthyTask === false) {
        // Every crash counts: the count never goes back.
        expect(counts.every((c, i) => i === 0 || c >= counts[i - 1]!)).toBe(true)
        expect(counts.at(-1)).toBeGreaterThanOrEqual(2)
      } else {
        expect(ours?.rolloutState).not.toBe('FAILED')
        expect(Math.max(...counts)).toBeLessThan(circuitBreakerThreshold(1))
        expect(counts.slice(counts.indexOf(1))).toContain(0)
      }
    }
  })

  it('derives the failure threshold from the desired count, takes an override, and without rollback leaves the FAILED deployment primary', async () => {
    expect([1, 6, 7, 25, 400, 1000].map(circuitBreakerThreshold)).toEqual([3, 3, 4, 13, 200, 200])

    const { standin, ecs } = await fixture({
      desiredCount: 1,
      failureThreshold: 4,
      circuitBreaker: { enable: true, rollback: false }
    })
    standin.setImageBehaviour('registry/api:v2', { outcome: 'crash', afterMs: 60, exitCode: 1 })
    const v2 = await registerImage(ecs, 'registry/api:v2')
    await ecs.send(
      new UpdateServiceCommand({ cluster: 'prod', service: 'api', taskDefinition: v2 })
    )
    const seen = await pollUntil(ecs, s => s.deployments![0]!.rolloutState === 'FAILED')
    const primary = seen.at(-1)!.deployments![0]!
    expect(primary).toMatchObject({ status: 'PRIMARY', taskDefinition: v2, failedTasks: 4 })
    // A FAILED deployment launches nothing more, and the old tasks keep serving.
    await new Promise(resolve => setTimeout(resolve, 6 * TICK_MS))
    const later = await describe1(ecs)
    expect(later.deployments![0]).toMatchObject({
      id: primary.id,
      failedTasks: 4,
      pendingCount: 0,
      runningCount: 0
    })
    expect(later.runningCount).toBe(1)
    const deployments = await ecs.send(
      new ListServiceDeploymentsCommand({ cluster: 'prod', service: 'api' })
    )
    expect(deployments.serviceDeployments![0]).toMatchObject({ status: 'STOPPED' })
  })

  it('never reports rolloutState for a service created without it, yet still completes rollouts', async () => {
    const { standin, ecs } = await fixture({ rolloutState: false })
    const v2 = await registerImage(ecs, 'registry/api:v2')
    await ecs.send(
      new UpdateServiceCommand({ cluster: 'prod', service: 'api', taskDefinition: v2 })
    )
    const deadline = Date.now() + 8000
    const seen: Array<Record<string, unknown>> = []
    for (;;) {
      const { json } = await rawCall(standin.endpoint, 'DescribeServices', {
        cluster: 'prod',
        services: ['api']
      })
      const service = (json.services as Array<{ deployments: Array<Record<string, unknown>> }>)[0]!
      seen.push(...service.deployments)
      if (service.deployments.length === 1 && service.deployments[0]!.taskDefinition === v2) break
      expect(Date.now()).toBeLessThan(deadline)
      await new Promise(resolve => setTimeout(resolve, TICK_MS))
    }
    expect(seen.length).toBeGreaterThan(2)
    for (const deployment of seen) {
      expect(deployment).not.toHaveProperty('rolloutState')
      expect(deployment).not.toHaveProperty('rolloutStateReason')
    }
    expect((await describe1(ecs)).deployments![0]!.rolloutState).toBeUndefined()
  })

  it('answers throttled calls with ThrottlingException, which adaptive retries ride out, and retries 500s', async () => {
    const { standin } = await fixture()
    const started = Date.now()
    standin.throttle(2, 'DescribeServices')
    const service = await describe1(client(standin.endpoint, 5))
    expect(service.serviceName).toBe('api')
    const described = standin.calls.filter(c => c.operation === 'DescribeServices')
    expect(described.map(c => [c.status, c.error])).toEqual([
      [400, 'ThrottlingException'],
      [400, 'ThrottlingException'],
      [200, undefined]
    ])
    expect(described.every(c => c.at >= started && c.at <= Date.now())).toBe(true)

    standin.throttle(1)
    await expect(
      client(standin.endpoint, 1).send(new ListServicesCommand({ cluster: 'prod' }))
    ).rejects.toMatchObject({ name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } })

    standin.failNext(1, 'ListServices')
    const listed = await client(standin.endpoint, 5).send(
      new ListServicesCommand({ cluster: 'prod' })
    )
    expect(listed.serviceArns).toEqual(['arn:aws:ecs:eu-west-1:123456789012:service/prod/api'])
    expect(standin.calls.filter(c => c.operation === 'ListServices').map(c => c.status)).toEqual([
      400, 500, 200
    ])
  })

  it('answers an unknown cluster, a missing service, an unknown operation and a denied API as ECS does', async () => {
    const { standin, ecs } = await fixture({ serviceDeploymentsApi: false })
    await expect(
      ecs.send(new DescribeServicesCommand({ cluster: 'staging', services: ['api'] }))
    ).rejects.toMatchObject({ name: 'ClusterNotFoundException', message: 'Cluster not found.' })

    const out = await ecs.send(
      new DescribeServicesCommand({ cluster: 'prod', services: ['api', 'ghost'] })
    )
    expect(out.services!.map(s => s.serviceName)).toEqual(['api'])
    expect(out.failures).toEqual([
      { arn: 'arn:aws:ecs:eu-west-1:123456789012:service/prod/ghost', reason: 'MISSING' }
    ])

    await expect(
      ecs.send(
        new UpdateServiceCommand({ cluster: 'prod', service: 'ghost', forceNewDeployment: true })
      )
    ).rejects.toMatchObject({ name: 'ServiceNotFoundException' })

    const unknown = await rawCall(standin.endpoint, 'DeleteEverything', {})
    expect(unknown.status).toBe(400)
    expect(unknown.json.__type).toBe('UnknownOperationException')

    await expect(
      ecs.send(new ListServiceDeploymentsCommand({ cluster: 'prod', service: 'api' }))
    ).rejects.toMatchObject({ name: 'AccessDeniedException' })

    // The SDK's own endpoint variable reaches the stand-in with no code of ours.
    const saved = process.env.AWS_ENDPOINT_URL_ECS
    process.env.AWS_ENDPOINT_URL_ECS = standin.endpoint
    try {
      const viaEnv = new ECSClient({
        region: 'eu-west-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' }
      })
      expect(
        (await viaEnv.send(new ListServicesCommand({ cluster: 'prod' }))).serviceArns
      ).toHaveLength(1)
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_ECS
      else process.env.AWS_ENDPOINT_URL_ECS = saved
    }
  })

  it('registers task definition revisions with tags, describes them by family or revision, and refuses read-only fields', async () => {
    const { standin, ecs, v1 } = await fixture()
    const registered = await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'api',
        containerDefinitions: [{ name: 'api', image: 'registry/api:abc123' }],
        tags: [{ key: 'commit', value: 'abc123' }]
      })
    )
    expect(registered.taskDefinition).toMatchObject({
      family: 'api',
      revision: 2,
      status: 'ACTIVE'
    })
    const notYetListed = await listAllTaskDefinitions(ecs, 'api')
    expect(registered.tags).toEqual([{ key: 'commit', value: 'abc123' }])

    const latest = await ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: 'api', include: ['TAGS'] })
    )
    expect(latest.taskDefinition!.revision).toBe(2)
    expect(latest.tags).toEqual([{ key: 'commit', value: 'abc123' }])
    const first = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'api:1' }))
    expect(first.taskDefinition!.taskDefinitionArn).toBe(v1)
    expect(first.tags).toBeUndefined()
    // ListTaskDefinitions is eventually consistent: the revision registered a moment ago is not
    // listed yet. A few ticks on it is, in pages shorter than maxResults.
    const registeredArn = registered.taskDefinition!.taskDefinitionArn!
    expect(notYetListed).not.toContain(registeredArn)
    const first10 = await ecs.send(
      new ListTaskDefinitionsCommand({ familyPrefix: 'api', sort: 'DESC', maxResults: 10 })
    )
    expect(first10.taskDefinitionArns!.length).toBeLessThan(10)
    const deadline = Date.now() + 5_000
    let listed = await listAllTaskDefinitions(ecs, 'api')
    while (!listed.includes(registeredArn) && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, TICK_MS))
      listed = await listAllTaskDefinitions(ecs, 'api')
    }
    expect(listed).toEqual([registeredArn, v1])
    const short = await ecs.send(
      new ListTaskDefinitionsCommand({ familyPrefix: 'api', sort: 'DESC', maxResults: 1 })
    )
    expect(short).toMatchObject({ taskDefinitionArns: [registeredArn] })
    expect(short.nextToken).toBeDefined()
    await expect(
      ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'api:9' }))
    ).rejects.toMatchObject({ name: 'ClientException' })

    // A described task definition sent back as is: refused, naming the read-only fields.
    const described = (
      await rawCall(standin.endpoint, 'DescribeTaskDefinition', { taskDefinition: 'api:1' })
    ).json.taskDefinition as Record<string, unknown>
    const refused = await rawCall(standin.endpoint, 'RegisterTaskDefinition', described)
    expect(refused.status).toBe(400)
    expect(refused.json.__type).toBe('ClientException')
    const readOnly = [
      'taskDefinitionArn',
      'revision',
      'status',
      'requiresAttributes',
      'compatibilities',
      'registeredAt',
      'registeredBy'
    ]
    for (const field of readOnly) expect(refused.json.message).toContain(field)
    const clean = Object.fromEntries(
      Object.entries(described).filter(([field]) => !readOnly.includes(field))
    )
    const accepted = await rawCall(standin.endpoint, 'RegisterTaskDefinition', clean)
    expect(accepted.status).toBe(200)
    expect((accepted.json.taskDefinition as { revision: number }).revision).toBe(3)

    const empty = await rawCall(standin.endpoint, 'RegisterTaskDefinition', {
      family: 'api',
      containerDefinitions: []
    })
    expect(empty.json).toMatchObject({
      __type: 'ClientException',
      message: 'Container list cannot be empty.'
    })
  })
})

describe('ECS stand-in: what ecs-deploy relies on under contention', () => {
  it('ListTasks takes startedBy only as its sole filter beside cluster and desiredStatus', async () => {
    const { standin, ecs, v1DeploymentId } = await fixture()
    const refused = await rawCall(standin.endpoint, 'ListTasks', {
      cluster: 'prod',
      serviceName: 'api',
      startedBy: v1DeploymentId
    })
    expect(refused.status).toBe(400)
    expect(refused.json.__type).toBe('InvalidParameterException')
    const listed = await ecs.send(
      new ListTasksCommand({ cluster: 'prod', startedBy: v1DeploymentId, desiredStatus: 'RUNNING' })
    )
    expect(listed.taskArns).toHaveLength(2)
  })

  it('TagResource adds and replaces tags of a task definition revision; aws: keys are refused', async () => {
    const { standin, ecs, v1 } = await fixture()
    await ecs.send(
      new TagResourceCommand({
        resourceArn: v1,
        tags: [{ key: 'noblepay:rolled-back', value: 'a' }]
      })
    )
    await ecs.send(
      new TagResourceCommand({
        resourceArn: v1,
        tags: [{ key: 'noblepay:rolled-back', value: 'b' }]
      })
    )
    const described = await ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: v1, include: ['TAGS'] })
    )
    expect(described.tags).toEqual([{ key: 'noblepay:rolled-back', value: 'b' }])
    const reserved = await rawCall(standin.endpoint, 'TagResource', {
      resourceArn: v1,
      tags: [{ key: 'aws:cloudformation:stack-name', value: 'x' }]
    })
    expect(reserved.json.__type).toBe('InvalidParameterException')
  })

  it('TagResource tags a service by its long ARN; DescribeServices shows the tags only with include TAGS', async () => {
    const { standin, ecs } = await fixture()
    const { serviceArn } = await describe1(ecs)
    expect(serviceArn).toMatch(/:service\/prod\/api$/)
    await ecs.send(
      new TagResourceCommand({
        resourceArn: serviceArn,
        tags: [
          { key: 'noblepay:rolled-back-by', value: 'run 1' },
          { key: 'noblepay:rolled-back-at', value: 't1' }
        ]
      })
    )
    await ecs.send(
      new TagResourceCommand({
        resourceArn: serviceArn,
        tags: [{ key: 'noblepay:rolled-back-by', value: 'run 2' }]
      })
    )
    const plain = await describe1(ecs)
    expect(plain.tags).toBeUndefined()
    const { services } = await ecs.send(
      new DescribeServicesCommand({ cluster: 'prod', services: ['api'], include: ['TAGS'] })
    )
    expect(services?.[0]?.tags).toEqual([
      { key: 'noblepay:rolled-back-by', value: 'run 2' },
      { key: 'noblepay:rolled-back-at', value: 't1' }
    ])
    const short = await rawCall(standin.endpoint, 'TagResource', {
      resourceArn: serviceArn!.replace('service/prod/api', 'service/api'),
      tags: [{ key: 'a', value: 'b' }]
    })
    expect([short.status, short.json.__type]).toEqual([400, 'InvalidParameterException'])
    const many = await rawCall(standin.endpoint, 'TagResource', {
      resourceArn: serviceArn,
      tags: Array.from({ length: 49 }, (_, i) => ({ key: `k${i}`, value: 'v' }))
    })
    expect(many.json.__type).toBe('InvalidParameterException')
  })

  it('a CODE_DEPLOY service refuses a new task definition through UpdateService, as ECS does', async () => {
    const { standin, ecs } = await fixture({ deploymentController: 'CODE_DEPLOY' })
    const v2 = await registerImage(ecs, 'registry/api:v2')
    const refused = await rawCall(standin.endpoint, 'UpdateService', {
      cluster: 'prod',
      service: 'api',
      taskDefinition: v2
    })
    expect(refused.json).toMatchObject({
      __type: 'InvalidParameterException',
      message: expect.stringContaining('CODE_DEPLOY deployment controller')
    })
    expect((await describe1(ecs)).deploymentController).toEqual({ type: 'CODE_DEPLOY' })
  })

  it('a service created in progress starts its tasks itself, and a failing first deployment is not rolled back', async () => {
    const { standin, ecs } = await fixture({
      initialRollout: 'in-progress',
      circuitBreaker: { enable: true, rollback: true }
    })
    standin.setImageBehaviour('registry/api:v1', { outcome: 'crash', afterMs: 50 })
    const seen = await pollUntil(ecs, s => s.deployments![0]!.rolloutState === 'FAILED')
    expect(seen[0]!.deployments![0]!.rolloutState).toBe('IN_PROGRESS')
    const last = seen.at(-1)!
    expect(last.deployments).toHaveLength(1)
    expect(last.deployments![0]!.status).toBe('PRIMARY')
  })
})
