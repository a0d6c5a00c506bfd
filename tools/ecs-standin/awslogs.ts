/**
 * The awslogs log driver of the ECS stand-in: which task container a CloudWatch Logs stream
 * belongs to, and its lines. A container definition with
 * `logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group', 'awslogs-stream-prefix' } }`
 * writes to the stream `<prefix>/<container name>/<task id>` of that group, created when the
 * container starts. Serve it with the CloudWatch Logs stand-in (tools/logs-standin/server.ts).
 */
import type { LogSource, StreamLookup } from '../logs-standin/server.js'
import type { EcsModel } from './model.js'
import type { TaskRuntime } from './runtime.js'

interface LoggedContainer {
  name?: string
  logConfiguration?: { logDriver?: string; options?: Record<string, string> }
}

function awslogsOptions(container: LoggedContainer): Record<string, string> | undefined {
  const configuration = container.logConfiguration
  return configuration?.logDriver === 'awslogs' ? (configuration.options ?? {}) : undefined
}

/** Every container definition of every registered revision. */
function containerDefinitions(model: EcsModel): LoggedContainer[] {
  return [...model.taskDefinitions.values()].flatMap(revisions =>
    revisions.flatMap(td => (td.body.containerDefinitions ?? []) as LoggedContainer[])
  )
}

/** Log groups exist when a registered task definition sends a container's lines there. */
export function awslogsGroups(model: EcsModel): Set<string> {
  const groups = new Set<string>()
  for (const container of containerDefinitions(model)) {
    const group = awslogsOptions(container)?.['awslogs-group']
    if (group) groups.add(group)
  }
  return groups
}

/** Streams of the stand-in's task containers, for the CloudWatch Logs stand-in to serve. */
export function awslogsSource(model: EcsModel, runtime: TaskRuntime): LogSource {
  return async (group, stream): Promise<StreamLookup> => {
    if (!awslogsGroups(model).has(group)) return 'no-group'
    const parts = stream.split('/')
    if (parts.length < 3) return 'no-stream'
    const taskId = parts.at(-1)!
    const containerName = parts.at(-2)!
    const prefix = parts.slice(0, -2).join('/')
    const task = model.findTask(taskId)
    if (!task) return 'no-stream'
    const definition = (
      (model.findTaskDefinition(task.taskDefinitionArn)?.body.containerDefinitions ??
        []) as LoggedContainer[]
    ).find(c => c.name === containerName)
    const options = definition ? awslogsOptions(definition) : undefined
    if (options?.['awslogs-group'] !== group || options['awslogs-stream-prefix'] !== prefix)
      return 'no-stream'
    const events = await runtime.logs?.(task.arn, containerName)
    return events ? { events } : 'no-stream'
  }
}
