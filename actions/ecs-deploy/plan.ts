/**
 * The plan of a deploy (`dry-run: true`): what would change, field by field, against what runs.
 * Pure: the running revision and the one that would be registered in, changes out, with the
 * log lines, the summary's Markdown and the one-line `changes` output. Environment values are
 * never shown (only which keys change); secrets show their names and references, never values.
 *
 * In main.ts, with `dryRun` true: render the revision as registerNextRevision does (or describe
 * the rollback-to target), read the scaling plan with planScaling, then
 *   const plan = planDeploy({ running, next, service, desiredCount, scaling, strategy })
 * print `plan.lines`, add `plan.summary`, set the output `changes` to `plan.changes`, and stop
 * before RegisterTaskDefinition, UpdateService or RunTask.
 */
import type {
  ContainerDefinition,
  HealthCheck,
  PortMapping,
  Service,
  TaskDefinition
} from '@aws-sdk/client-ecs'
import type { Inputs } from '../shared/inputs.js'
import { code, section, table } from '../shared/summary.js'
import type { ScalingResult } from './scaling.js'

/** The `dry-run` input: render and diff, change nothing. */
export function readDryRun(inputs: Inputs): boolean {
  return inputs.boolean('dry-run', false)
}

/** The fields of a revision the plan compares (a TaskDefinition or a RegisterTaskDefinition input). */
export type PlannedRevision = Pick<TaskDefinition, 'family' | 'cpu' | 'memory'> & {
  containerDefinitions?: ContainerDefinition[]
  /** Shown as the revision's name, e.g. `noblepay-api:42`, or `(new revision)`. */
  name?: string
}

export type PlanArea =
  | 'image'
  | 'environment'
  | 'secrets'
  | 'cpu'
  | 'memory'
  | 'ports'
  | 'health check'
  | 'container'
  | 'desired count'
  | 'scaling'
  | 'strategy'

/** One difference: where, what it was, what it would be (never an environment value). */
export interface PlannedChange {
  area: PlanArea
  /** The container it concerns; none for task-level and service-level changes. */
  container?: string
  /** e.g. `+ LOG_LEVEL`, `image`, `cpu`. */
  what: string
  from?: string
  to?: string
}

export interface PlanRequest {
  running: PlannedRevision
  next: PlannedRevision
  /** The service as described: desired count and strategy now. */
  service?: Pick<Service, 'desiredCount' | 'deploymentConfiguration'>
  /** The `desired-count` input, when set. */
  desiredCount?: number
  /** planScaling's result, when auto-scaling inputs are declared. */
  scaling?: Pick<ScalingResult, 'outcome' | 'changes'>
  /** A strategy the deploy would set; undefined leaves the service's. */
  strategy?: string
}

export interface Plan {
  changes: PlannedChange[]
  /** One line per change, for the log. */
  lines: string[]
  /** Markdown for the job summary. */
  summary: string
  /** The `changes` output: `none`, or the changes in one short line. */
  output: string
}

export function planDeploy(request: PlanRequest): Plan {
  const changes = [...diffRevisions(request.running, request.next), ...diffService(request)]
  return {
    changes,
    lines: planLines(request, changes),
    summary: planSummary(request, changes),
    output: changes.length === 0 ? 'none' : oneLine(changes)
  }
}

/** Differences between two revisions, container by container (matched by name). */
export function diffRevisions(running: PlannedRevision, next: PlannedRevision): PlannedChange[] {
  const changes: PlannedChange[] = []
  if (norm(running.cpu) !== norm(next.cpu))
    changes.push({ area: 'cpu', what: 'cpu', from: shown(running.cpu), to: shown(next.cpu) })
  if (norm(running.memory) !== norm(next.memory))
    changes.push({
      area: 'memory',
      what: 'memory',
      from: shown(running.memory),
      to: shown(next.memory)
    })
  const before = new Map((running.containerDefinitions ?? []).map(c => [c.name ?? '', c]))
  const after = new Map((next.containerDefinitions ?? []).map(c => [c.name ?? '', c]))
  for (const [name] of before) {
    if (!after.has(name))
      changes.push({ area: 'container', container: name, what: `- container ${name}` })
  }
  for (const [name, container] of after) {
    const old = before.get(name)
    if (!old) {
      changes.push({ area: 'container', container: name, what: `+ container ${name}` })
      continue
    }
    changes.push(...diffContainer(name, old, container))
  }
  return changes
}

function diffContainer(
  name: string,
  old: ContainerDefinition,
  next: ContainerDefinition
): PlannedChange[] {
  const changes: PlannedChange[] = []
  const at = { container: name }
  if (old.image !== next.image)
    changes.push({ area: 'image', ...at, what: 'image', from: old.image, to: next.image })
  for (const field of ['cpu', 'memory', 'memoryReservation'] as const) {
    if (norm(old[field]) !== norm(next[field]))
      changes.push({
        area: field === 'cpu' ? 'cpu' : 'memory',
        ...at,
        what: field,
        from: shown(old[field]),
        to: shown(next[field])
      })
  }
  // Environment: which keys, never the values.
  const oldEnv = new Map((old.environment ?? []).map(v => [v.name ?? '', v.value ?? '']))
  const newEnv = new Map((next.environment ?? []).map(v => [v.name ?? '', v.value ?? '']))
  for (const key of [...newEnv.keys()].sort()) {
    if (!oldEnv.has(key)) changes.push({ area: 'environment', ...at, what: `+ ${key}` })
    else if (oldEnv.get(key) !== newEnv.get(key))
      changes.push({ area: 'environment', ...at, what: `~ ${key}` })
  }
  for (const key of [...oldEnv.keys()].sort()) {
    if (!newEnv.has(key)) changes.push({ area: 'environment', ...at, what: `- ${key}` })
  }
  // Secrets: names and the reference they are read from (an ARN), which is not the secret.
  const oldSecrets = new Map((old.secrets ?? []).map(s => [s.name ?? '', s.valueFrom ?? '']))
  const newSecrets = new Map((next.secrets ?? []).map(s => [s.name ?? '', s.valueFrom ?? '']))
  for (const key of [...newSecrets.keys()].sort()) {
    if (!oldSecrets.has(key))
      changes.push({ area: 'secrets', ...at, what: `+ ${key}`, to: newSecrets.get(key) })
    else if (oldSecrets.get(key) !== newSecrets.get(key))
      changes.push({
        area: 'secrets',
        ...at,
        what: `~ ${key}`,
        from: oldSecrets.get(key),
        to: newSecrets.get(key)
      })
  }
  for (const key of [...oldSecrets.keys()].sort()) {
    if (!newSecrets.has(key))
      changes.push({ area: 'secrets', ...at, what: `- ${key}`, from: oldSecrets.get(key) })
  }
  const oldPorts = ports(old.portMappings)
  const newPorts = ports(next.portMappings)
  if (oldPorts !== newPorts)
    changes.push({ area: 'ports', ...at, what: 'ports', from: oldPorts, to: newPorts })
  const oldCheck = healthCheck(old.healthCheck)
  const newCheck = healthCheck(next.healthCheck)
  if (oldCheck !== newCheck)
    changes.push({
      area: 'health check',
      ...at,
      what: 'health check',
      from: oldCheck,
      to: newCheck
    })
  return changes
}

function diffService(request: PlanRequest): PlannedChange[] {
  const changes: PlannedChange[] = []
  const now = request.service?.desiredCount
  if (request.desiredCount !== undefined && request.desiredCount !== now)
    changes.push({
      area: 'desired count',
      what: 'desired count',
      from: shown(now),
      to: String(request.desiredCount)
    })
  // planScaling says `none` exactly when its outcome is `unchanged`.
  if (request.scaling && request.scaling.changes !== 'none')
    changes.push({ area: 'scaling', what: 'scaling', to: request.scaling.changes })
  const strategy = request.service?.deploymentConfiguration?.strategy ?? 'ROLLING'
  if (request.strategy !== undefined && request.strategy !== strategy)
    changes.push({ area: 'strategy', what: 'strategy', from: strategy, to: request.strategy })
  return changes
}

function norm(value: string | number | undefined | null): string {
  return String(value ?? '')
}

function shown(value: string | number | undefined | null): string {
  return norm(value) || '(unset)'
}

function ports(mappings: PortMapping[] | undefined): string {
  const listed = (mappings ?? [])
    .map(
      p =>
        `${p.containerPort ?? '?'}/${p.protocol ?? 'tcp'}${p.hostPort && p.hostPort !== p.containerPort ? ` (host ${p.hostPort})` : ''}${p.name ? ` ${p.name}` : ''}`
    )
    .sort()
  return listed.length > 0 ? listed.join(', ') : 'none'
}

function healthCheck(check: HealthCheck | undefined): string {
  if (!check?.command?.length) return 'none'
  const timing = [
    check.interval !== undefined ? `every ${check.interval}s` : '',
    check.timeout !== undefined ? `timeout ${check.timeout}s` : '',
    check.retries !== undefined ? `${check.retries} retries` : '',
    check.startPeriod !== undefined ? `start period ${check.startPeriod}s` : ''
  ].filter(Boolean)
  return `${check.command.join(' ')}${timing.length > 0 ? ` (${timing.join(', ')})` : ''}`
}

/** One change as words: `api image: a → b`, `api environment + LOG_LEVEL`. */
export function describePlannedChange(change: PlannedChange): string {
  // A container added or removed names itself; keys added, changed or removed are named with
  // their area; fields are their own name.
  const where = change.container && change.area !== 'container' ? `${change.container} ` : ''
  const head =
    change.area === 'environment' || change.area === 'secrets'
      ? `${where}${change.area} ${change.what}`
      : `${where}${change.what}`
  if (change.from !== undefined && change.to !== undefined)
    return `${head}: ${change.from} → ${change.to}`
  if (change.to !== undefined) return `${head}: ${change.to}`
  if (change.from !== undefined) return `${head} (was ${change.from})`
  return head
}

/** The `changes` output: areas in order, environment and secrets counted, short. */
function oneLine(changes: PlannedChange[]): string {
  const parts: string[] = []
  const byArea = new Map<PlanArea, PlannedChange[]>()
  for (const change of changes)
    byArea.set(change.area, [...(byArea.get(change.area) ?? []), change])
  for (const [area, list] of byArea) {
    if (area === 'environment' || area === 'secrets') {
      const count = (sign: string) => list.filter(c => c.what.startsWith(sign)).length
      const signs = ['+', '~', '-']
        .map(sign => (count(sign) > 0 ? `${sign}${count(sign)}` : ''))
        .filter(Boolean)
      parts.push(`${area} ${signs.join(' ')}`)
    } else if (area === 'image') {
      parts.push(`image of ${list.map(c => c.container).join(', ')}`)
    } else if (area === 'container') {
      parts.push(list.map(c => c.what).join(', '))
    } else if (area === 'scaling') {
      parts.push('scaling')
    } else {
      // cpu, memory, desired count and strategy with both ends; ports and health checks by name.
      parts.push(
        list
          .map(
            c =>
              `${c.container ? `${c.container} ` : ''}${c.what}${c.area !== 'health check' && c.area !== 'ports' ? ` ${c.from}→${c.to}` : ''}`
          )
          .join(', ')
      )
    }
  }
  return parts.join('; ')
}

function planLines(request: PlanRequest, changes: PlannedChange[]): string[] {
  const against = `${request.next.name ?? '(new revision)'} against ${request.running.name ?? 'the running revision'}`
  if (changes.length === 0) return [`Plan (dry run, nothing changed): ${against}: no changes.`]
  return [
    `Plan (dry run, nothing changed): ${against}, ${changes.length} change${changes.length === 1 ? '' : 's'}:`,
    ...changes.map(c => `  ${describePlannedChange(c)}`)
  ]
}

function planSummary(request: PlanRequest, changes: PlannedChange[]): string {
  const title = `Plan: ${request.next.name ?? 'new revision'} against ${request.running.name ?? 'the running revision'}`
  if (changes.length === 0)
    return section(title, 'Dry run: nothing was changed, and nothing would change.')
  return section(
    title,
    'Dry run: nothing was registered or changed. Environment values are not shown.',
    table(
      ['Where', 'What', 'Now', 'Would be'],
      changes.map(c => [
        c.container ?? 'service',
        c.area === c.what ? c.area : `${c.area} ${code(c.what)}`,
        c.from ?? '',
        c.to ?? ''
      ])
    )
  )
}
