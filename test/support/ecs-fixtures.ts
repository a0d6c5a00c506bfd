import {
  DescribeServiceDeploymentsCommand,
  ListServiceDeploymentsCommand,
  UpdateServiceCommand,
  type ServiceDeployment,
  type Deployment,
  type ECSClient,
  type Service,
  type TaskDefinition
} from '@aws-sdk/client-ecs'
import type { EcsStandin } from '../../tools/ecs-standin/server.js'

export const ACCOUNT = '123456789012'
export const arn = (family: string, revision: number) =>
  `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/${family}:${revision}`

export function taskDefinition(
  revision: number,
  overrides: Partial<TaskDefinition> = {}
): TaskDefinition {
  return {
    taskDefinitionArn: arn('api', revision),
    family: 'api',
    revision,
    status: 'ACTIVE',
    requiresAttributes: [{ name: 'com.amazonaws.ecs.capability.docker-remote-api.1.18' }],
    compatibilities: ['EC2', 'FARGATE'],
    registeredAt: new Date('2026-11-01T00:00:00Z'),
    registeredBy: `arn:aws:iam::${ACCOUNT}:role/deployer`,
    requiresCompatibilities: ['FARGATE'],
    networkMode: 'awsvpc',
    cpu: '256',
    memory: '512',
    executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/exec`,
    containerDefinitions: [
      {
        name: 'api',
        image: `registry/api:v${revision}`,
        essential: true,
        portMappings: [{ containerPort: 3000 }],
        environment: [
          { name: 'NODE_ENV', value: 'production' },
          { name: 'LOG_LEVEL', value: 'info' }
        ]
      }
    ],
    ...overrides
  }
}

export function deployment(
  id: string,
  revision: number,
  overrides: Partial<Deployment> = {}
): Deployment {
  return {
    id,
    status: 'PRIMARY',
    taskDefinition: arn('api', revision),
    desiredCount: 2,
    pendingCount: 0,
    runningCount: 2,
    failedTasks: 0,
    rolloutState: 'COMPLETED',
    rolloutStateReason: 'ECS deployment ecs-svc/1 completed.',
    createdAt: new Date('2026-11-28T11:00:00Z'),
    ...overrides
  }
}

export function service(deployments: Deployment[], overrides: Partial<Service> = {}): Service {
  const primary = deployments.find(d => d.status === 'PRIMARY')
  return {
    serviceName: 'api',
    serviceArn: `arn:aws:ecs:eu-west-1:${ACCOUNT}:service/payments/api`,
    clusterArn: `arn:aws:ecs:eu-west-1:${ACCOUNT}:cluster/payments`,
    status: 'ACTIVE',
    taskDefinition: primary?.taskDefinition,
    desiredCount: 2,
    deployments,
    events: [],
    deploymentConfiguration: {
      minimumHealthyPercent: 100,
      maximumPercent: 200,
      deploymentCircuitBreaker: { enable: true, rollback: true }
    },
    ...overrides
  }
}

/** A steady service on revision 41, as found before a deploy. */
export const steady = () => service([deployment('ecs-svc/41', 41)])

/** An error as the SDK throws it for an AWS error reply: its name, HTTP status and fault. */
export function awsError(name: string, message: string, httpStatusCode = 400): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode }
  })
}

/**
 * On the ECS stand-in: cluster `payments` with a steady service `api` of two tasks on revision
 * 1 (one container `api`, circuit breaker with rollback), its task definition carrying `tags`.
 */
export function addSteadyService(
  ecs: EcsStandin,
  tags: Array<{ key: string; value: string }> = []
): void {
  ecs.addCluster('payments')
  const taskDefinition = ecs.registerTaskDefinition({
    family: 'api',
    requiresCompatibilities: ['FARGATE'],
    networkMode: 'awsvpc',
    cpu: '256',
    memory: '512',
    containerDefinitions: [{ name: 'api', image: 'local/api:v1', essential: true }],
    tags
  })
  ecs.addService({
    cluster: 'payments',
    name: 'api',
    taskDefinition,
    desiredCount: 2,
    circuitBreaker: { enable: true, rollback: true }
  })
}

/**
 * The newest service deployment of a service, as ListServiceDeployments lists it (newest
 * first): right after UpdateService, `currentServiceDeployment` may still name the previous one.
 */
export async function newestServiceDeployment(
  ecs: ECSClient,
  cluster = 'prod',
  service = 'api'
): Promise<string> {
  const listed = await ecs.send(new ListServiceDeploymentsCommand({ cluster, service }))
  return listed.serviceDeployments![0]!.serviceDeploymentArn!
}

/** UpdateService of prod/api to a revision; the service deployment it started, as listed. */
export async function deployRevision(ecs: ECSClient, taskDefinition: string): Promise<string> {
  const updated = await ecs.send(
    new UpdateServiceCommand({ cluster: 'prod', service: 'api', taskDefinition })
  )
  if (updated.service?.deployments?.[0]?.taskDefinition !== taskDefinition)
    throw new Error(`UpdateService did not start a deployment of ${taskDefinition}`)
  return await newestServiceDeployment(ecs)
}

/** One service deployment, as DescribeServiceDeployments answers it. */
export async function describeServiceDeployment(
  ecs: ECSClient,
  arn: string
): Promise<ServiceDeployment> {
  const out = await ecs.send(
    new DescribeServiceDeploymentsCommand({ serviceDeploymentArns: [arn] })
  )
  return out.serviceDeployments![0]!
}

/**
 * Every look at a service deployment until `done` holds, one every `intervalMs`; `beforeLook`
 * runs before each (a test that steps the stand-in's simulation itself ticks there).
 */
export async function looksUntil(
  ecs: ECSClient,
  arn: string,
  done: (sd: ServiceDeployment) => boolean,
  options: { intervalMs: number; timeoutMs?: number; beforeLook?: () => void }
): Promise<ServiceDeployment[]> {
  const seen: ServiceDeployment[] = []
  const deadline = Date.now() + (options.timeoutMs ?? 10_000)
  for (;;) {
    options.beforeLook?.()
    const sd = await describeServiceDeployment(ecs, arn)
    seen.push(sd)
    if (done(sd)) return seen
    if (Date.now() > deadline) throw new Error(`not done: ${JSON.stringify(sd)}`)
    await new Promise(resolve => setTimeout(resolve, options.intervalMs))
  }
}
