import { readFile } from 'node:fs/promises'
import type {
  ContainerDefinition,
  RegisterTaskDefinitionCommandInput,
  Tag,
  TaskDefinition
} from '@aws-sdk/client-ecs'
import { InputError } from '../shared/errors.js'

/**
 * Fields DescribeTaskDefinition returns that RegisterTaskDefinition refuses or ignores:
 * a template copied from `aws ecs describe-task-definition` carries them.
 */
export const READ_ONLY_TASK_DEFINITION_FIELDS = [
  'taskDefinitionArn',
  'revision',
  'status',
  'requiresAttributes',
  'compatibilities',
  'registeredAt',
  'registeredBy',
  'deregisteredAt',
  'deleteRequestedAt'
] as const

/** Tag keys that trace a revision back to the code, the run and the image. */
export const TRACE_TAGS = {
  commit: 'noblepay:commit',
  run: 'noblepay:run',
  image: 'noblepay:image'
} as const

export interface Trace {
  commit: string
  run: string
  image: string
}

export interface RenderRequest {
  base: TaskDefinition
  baseTags: Tag[]
  containerName: string
  image: string
  environment: Array<[string, string]>
  trace: Trace
}

/** The next revision: the base with one container's image and environment replaced, tagged. */
export function renderTaskDefinition(request: RenderRequest): RegisterTaskDefinitionCommandInput {
  const cleaned: Record<string, unknown> = { ...request.base }
  for (const field of READ_ONLY_TASK_DEFINITION_FIELDS) delete cleaned[field]
  const name = chooseContainer(request.base, request.containerName)
  // chooseContainer found the container there, so the list and the container exist.
  const containers = request.base.containerDefinitions!.map(c => ({ ...c }))
  const target = containers.find(c => c.name === name)!
  target.image = request.image
  target.environment = mergeEnvironment(target.environment ?? [], request.environment)
  return {
    ...(cleaned as unknown as RegisterTaskDefinitionCommandInput),
    containerDefinitions: containers,
    tags: mergeTags(request.baseTags, traceTags(request.trace))
  }
}

/** The container to update: the named one, or the only one; the error lists the names there are. */
export function chooseContainer(taskDefinition: TaskDefinition, requested: string): string {
  const names = (taskDefinition.containerDefinitions ?? []).map(c => c.name ?? '')
  const where = describeTaskDefinition(taskDefinition)
  if (requested !== '') {
    if (names.includes(requested)) return requested
    throw new InputError(
      'container-name',
      requested,
      `${where} has no such container; its containers are: ${names.join(', ')}`
    )
  }
  if (names.length === 1) return names[0]
  throw new InputError(
    'container-name',
    '',
    `${where} has ${names.length} containers (${names.join(', ')}); name the one to update`
  )
}

function mergeEnvironment(
  current: NonNullable<ContainerDefinition['environment']>,
  updates: Array<[string, string]>
) {
  const merged = current.map(v => ({ ...v }))
  for (const [name, value] of updates) {
    const existing = merged.find(v => v.name === name)
    if (existing) existing.value = value
    else merged.push({ name, value })
  }
  return merged
}

/** The run and its attempt, as the `noblepay:run` tag says it: a re-run registers its own revision. */
export function runTag(context: { runUrl: string; runId: string; runAttempt: string }): string {
  const run = context.runUrl || context.runId
  return run ? `${run}/attempts/${context.runAttempt || '1'}` : ''
}

/** The tags that trace a revision to its commit, run and image, as ECS will store them. */
export function traceTags(trace: Trace): Tag[] {
  return [
    { key: TRACE_TAGS.commit, value: trace.commit },
    { key: TRACE_TAGS.run, value: trace.run },
    { key: TRACE_TAGS.image, value: trace.image }
  ]
    .filter(t => t.value !== '')
    .map(t => ({ key: t.key, value: tagValue(t.value) }))
}

/** ECS tag values: at most 256 characters of letters, digits, spaces and _ . : / = + - @. */
export function tagValue(value: string): string {
  const safe = value.replace(/[^\p{L}\p{N}\s_.:/=+\-@]/gu, '_')
  return safe.length <= 256 ? safe : `…${safe.slice(-255)}`
}

function mergeTags(base: Tag[], ours: Tag[]): Tag[] {
  const keys = new Set(ours.map(t => t.key))
  // aws: tags are reserved and cannot be set by a caller.
  return [...base.filter(t => !keys.has(t.key) && !t.key?.startsWith('aws:')), ...ours]
}

export function describeTaskDefinition(taskDefinition: TaskDefinition): string {
  if (taskDefinition.family && taskDefinition.revision) {
    return `task definition ${taskDefinition.family}:${taskDefinition.revision}`
  }
  return `task definition ${taskDefinition.family ?? '(no family)'}`
}

/** `family:revision` of an ARN or reference, for short log lines. */
export function shortRevision(reference: string | undefined): string {
  if (!reference) return '(none)'
  return reference.replace(/^arn:[^/]+\//, '')
}

/**
 * Reads a JSON template: a RegisterTaskDefinition input, or the whole output of
 * `aws ecs describe-task-definition` ({"taskDefinition": {...}, "tags": [...]}).
 */
export async function readTemplate(
  path: string
): Promise<{ taskDefinition: TaskDefinition; tags: Tag[] }> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable'
    throw new InputError(
      'task-definition',
      path,
      `the file cannot be read (${code}); give a path relative to the workspace`
    )
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new InputError(
      'task-definition',
      path,
      `it is not valid JSON: ${jsonErrorPosition(text, error as Error)}`
    )
  }
  const record = asRecord(parsed)
  if (!record)
    throw new InputError(
      'task-definition',
      path,
      'it must hold a JSON object describing a task definition'
    )
  const body = asRecord(record.taskDefinition) ?? record
  if (typeof body.family !== 'string' || body.family === '') {
    throw new InputError(
      'task-definition',
      path,
      'it has no "family"; add the task definition family name'
    )
  }
  if (!Array.isArray(body.containerDefinitions) || body.containerDefinitions.length === 0) {
    throw new InputError(
      'task-definition',
      path,
      'it has no "containerDefinitions"; add at least one container'
    )
  }
  const tags = Array.isArray(record.tags)
    ? (record.tags as Tag[])
    : Array.isArray(body.tags)
      ? (body.tags as Tag[])
      : []
  const taskDefinition = { ...body } as TaskDefinition & { tags?: unknown }
  delete taskDefinition.tags
  return { taskDefinition, tags }
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined
}

/**
 * Line and column of a JSON.parse error. V8 gives an offset for some errors and none for
 * others, so the offset is always found the same way, by bisection.
 */
export function jsonErrorPosition(text: string, error: Error): string {
  const before = text.slice(0, firstInvalidOffset(text)).split('\n')
  const where = `line ${before.length}, column ${before[before.length - 1].length + 1}`
  const token = /^Unexpected token '(.+?)',/.exec(error.message)
  const reason = token
    ? `unexpected '${token[1]}'`
    : error.message.replace(/ (?:in JSON )?at position.*/s, '')
  return `${reason} at ${where}`
}

/**
 * The length of the longest prefix that is still the start of valid JSON, found by bisection:
 * a prefix is viable when it parses, or fails only because it ends too early.
 */
function firstInvalidOffset(text: string): number {
  const viable = (length: number): boolean => {
    try {
      JSON.parse(text.slice(0, length))
      return true
    } catch (error) {
      const message = (error as Error).message
      const at = /position (\d+)/.exec(message)
      return /end of JSON input/.test(message) || (at !== null && Number(at[1]) >= length)
    }
  }
  let low = 0
  let high = text.length
  while (low < high) {
    const mid = Math.ceil((low + high) / 2)
    if (viable(mid)) low = mid
    else high = mid - 1
  }
  return low
}
