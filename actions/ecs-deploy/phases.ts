/**
 * Why a rollout took the time it took: its phases from ECS's and the load balancer's own
 * timestamps, the phase that took longest with the setting that governs it, and the floor (the
 * fastest this service can deploy as configured).
 * - Pure: `phaseReport` (what was read in, the phases, the lines and the table out).
 * - I/O: `readPhases` in phase-reads.ts, a handful of reads once the rollout has ended.
 *
 * What is measured and what is not:
 * - provisioning, image pull and container start come from each new task's own fields
 *   (createdAt, pullStartedAt, pullStoppedAt, startedAt): measured by ECS.
 * - registration in a target group comes from ECS's service event "registered N targets in
 *   (target-group …)": measured by ECS. DescribeTargetHealth says a target's state, never since
 *   when, so the moment the new targets became healthy is either seen by the step's own polls
 *   (wait-until: serving; to within one poll interval) or inferred from the health check
 *   settings (the last registration + one interval: "After your target is registered, it must
 *   pass one health check to be considered healthy", ELB User Guide).
 * - draining starts at ECS's event "has begun draining connections on N tasks" and ends at the
 *   old tasks' stoppedAt: both measured by ECS.
 */
import { table } from '../shared/summary.js'
import { formatDuration } from './rollout.js'

/** One task's timestamps, epoch ms, as DescribeTasks returns them. */
export interface PhaseTask {
  taskArn: string
  createdAt?: number
  pullStartedAt?: number
  pullStoppedAt?: number
  startedAt?: number
  stoppingAt?: number
  stoppedAt?: number
}

/** A target group's health check and deregistration delay, in seconds (DescribeTargetGroups and its attributes). */
export interface TargetGroupTiming {
  arn: string
  name: string
  healthCheckIntervalSeconds: number
  healthyThresholdCount: number
  deregistrationDelaySeconds: number
}

export interface PhaseInput {
  /** Epoch ms: the UpdateService of the rollout. */
  started: number
  /** Epoch ms: the step's verdict (succeeded, serving, failed). */
  ended: number
  newTasks: PhaseTask[]
  oldTasks: PhaseTask[]
  targetGroups: TargetGroupTiming[]
  /** Service events, any order; `at` in epoch ms. */
  events: Array<{ at: number; message: string }>
  /** By target group ARN: the poll that first saw every new target healthy there. */
  healthySeen?: Record<string, number>
  pollMs: number
  desiredCount: number
  minimumHealthyPercent: number
  maximumPercent: number
  /** Whether the step waited for the old tasks to stop (steady) or not (serving). */
  waitsForDrain: boolean
}

export type PhaseKind = 'provisioning' | 'pull' | 'start' | 'health-checks' | 'draining'

export interface Phase {
  kind: PhaseKind
  label: string
  /** Epoch ms. */
  from: number
  to: number
  /** Time covered by at least one task in this phase. */
  ms: number
  /** measured: ECS's timestamps; seen: the step's polls; inferred: from the settings. */
  source: 'measured' | 'seen' | 'inferred'
  targetGroup?: TargetGroupTiming
  /** The old tasks were still draining when the step returned. */
  unfinished?: boolean
  /**
   * How the end of a health-checks phase is known: seen by the step's polls, from ECS's drain
   * of the old tasks (which waits for it), or from the health check settings.
   */
  healthyBy?: 'seen' | 'drain' | 'settings'
}

export interface PhaseReport {
  phases: Phase[]
  longest?: Phase
  /** The longest phase, the setting behind it and its value, and what a shorter value would save. */
  longestLine: string
  floorMs: number
  floorLine: string
  takenMs: number
}

/** What we suggest when a shorter value suits: ELB's lowest sensible health check, a short drain. */
export const SUGGESTED = {
  healthCheckIntervalSeconds: 10,
  deregistrationDelaySeconds: 30
} as const

type Interval = [number, number]

/** Total time covered by the intervals (overlaps counted once). */
export function coveredMs(intervals: Interval[]): number {
  const sorted = intervals.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0])
  let total = 0
  let end = -Infinity
  for (const [from, to] of sorted) {
    if (to <= end) continue
    total += to - Math.max(from, end)
    end = to
  }
  return total
}

function spanOf(
  kind: PhaseKind,
  label: string,
  intervals: Interval[],
  source: Phase['source']
): Phase | undefined {
  const valid = intervals.filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b) && b >= a)
  if (valid.length === 0) return undefined
  return {
    kind,
    label,
    from: Math.min(...valid.map(i => i[0])),
    to: Math.max(...valid.map(i => i[1])),
    ms: coveredMs(valid),
    source
  }
}

/** The task-field phases of the new tasks: provisioning, image pull, container start. */
function taskPhases(tasks: PhaseTask[]): Phase[] {
  const pick = (from: keyof PhaseTask, to: keyof PhaseTask): Interval[] =>
    tasks
      .filter(t => t[from] !== undefined && t[to] !== undefined)
      .map(t => [t[from] as number, t[to] as number])
  return [
    spanOf('provisioning', 'provisioning', pick('createdAt', 'pullStartedAt'), 'measured'),
    spanOf('pull', 'image pull', pick('pullStartedAt', 'pullStoppedAt'), 'measured'),
    spanOf('start', 'container start', pick('pullStoppedAt', 'startedAt'), 'measured')
  ].filter((p): p is Phase => p !== undefined)
}

/** From the first registration in a target group to every new target healthy there. */
function healthPhase(input: PhaseInput, group: TargetGroupTiming): Phase | undefined {
  const registered = input.events
    .filter(
      e =>
        e.at >= input.started &&
        /registered \d+ targets? in/.test(e.message) &&
        !/deregistered/.test(e.message) &&
        e.message.includes(group.arn)
    )
    .map(e => e.at)
  const starts = input.newTasks.map(t => t.startedAt).filter((t): t is number => t !== undefined)
  // Without the events (ECS keeps 100), the tasks' RUNNING is when ECS registers them.
  const from = registered.length ? Math.min(...registered) : Math.min(...starts)
  const last = registered.length ? Math.max(...registered) : Math.max(...starts)
  if (!Number.isFinite(from)) return undefined
  const seen = input.healthySeen?.[group.arn]
  // With minimumHealthyPercent 100, ECS drains an old task only once a new one passes its
  // health checks: its last drain is when the last new task was healthy (ECS's clock).
  const drains = input.events
    .filter(
      e => e.at >= last && e.at <= input.ended && /begun draining connections/.test(e.message)
    )
    .map(e => e.at)
  const byDrain =
    input.minimumHealthyPercent >= 100 && drains.length ? Math.max(...drains) : undefined
  // A new target is healthy after one passing check, one interval after registration at most.
  const bySettings = last + group.healthCheckIntervalSeconds * 1000
  const to = seen ?? byDrain ?? Math.min(bySettings, input.ended)
  const healthyBy = seen !== undefined ? 'seen' : byDrain !== undefined ? 'drain' : 'settings'
  return {
    ...spanOf(
      'health-checks',
      `registration to healthy in ${group.name}`,
      [[from, to]],
      healthyBy === 'seen' ? 'seen' : 'inferred'
    )!,
    targetGroup: group,
    healthyBy
  }
}

/** The old tasks from ECS starting to drain them to their stop (or to the step's end). */
function drainPhase(input: PhaseInput): Phase | undefined {
  if (input.oldTasks.length === 0) return undefined
  const drains = input.events
    .filter(e => e.at >= input.started && /begun draining connections/.test(e.message))
    .map(e => e.at)
  const stopping = input.oldTasks.map(t => t.stoppingAt).filter((t): t is number => t !== undefined)
  const from = drains.length ? Math.min(...drains) : Math.min(...stopping)
  if (!Number.isFinite(from)) return undefined
  const stopped = input.oldTasks.map(t => t.stoppedAt)
  const unfinished = stopped.some(t => t === undefined)
  const to = unfinished ? input.ended : Math.max(...(stopped as number[]))
  const group = [...input.targetGroups].sort(
    (a, b) => b.deregistrationDelaySeconds - a.deregistrationDelaySeconds
  )[0]
  return {
    ...spanOf('draining', 'old tasks draining to stopped', [[from, to]], 'measured')!,
    targetGroup: group,
    unfinished
  }
}

/** How many tasks ECS can replace at once, as minimumHealthyPercent and maximumPercent allow. */
export function batchesOf(
  input: Pick<PhaseInput, 'desiredCount' | 'minimumHealthyPercent' | 'maximumPercent'>
): number {
  const desired = Math.max(1, input.desiredCount)
  const above = Math.floor((desired * (input.maximumPercent - 100)) / 100)
  const below = desired - Math.ceil((desired * input.minimumHealthyPercent) / 100)
  return Math.ceil(desired / Math.max(1, above, below))
}

const d = formatDuration
const shrink = (ms: number, fraction: number) => Math.max(0, Math.round(ms * (1 - fraction)))

/** The line naming the longest phase, its setting and value, and what a shorter value saves. */
function longestLine(phase: Phase | undefined, takenMs: number, input: PhaseInput): string {
  if (!phase) return 'No phase could be measured: ECS returned no task timestamps for this rollout.'
  const of = `of this ${d(takenMs)} deploy`
  const how = {
    seen: ` (healthy as the step's polls saw it, to within ${input.pollMs / 1000} s)`,
    drain:
      ' (healthy inferred from ECS starting to drain the old tasks, which it does once new ones pass)',
    settings: ' (healthy inferred from the health check settings)'
  }[phase.healthyBy ?? 'settings']
  const group = phase.targetGroup
  switch (phase.kind) {
    case 'draining': {
      const delay = group?.deregistrationDelaySeconds
      const head = `Old tasks drained for ${d(phase.ms)} ${of}${phase.unfinished ? ' (still draining when the step returned)' : ''}`
      if (!group || delay === undefined)
        return `${head}: they stopped as ECS stopped them (no target group read).`
      const setting = `${head}: deregistration_delay.timeout_seconds is ${delay} on target group ${group.name}.`
      if (delay <= SUGGESTED.deregistrationDelaySeconds) return setting
      const saved = input.waitsForDrain
        ? shrink(phase.ms, SUGGESTED.deregistrationDelaySeconds / delay)
        : 0
      return input.waitsForDrain
        ? `${setting} If the service's requests finish within ${SUGGESTED.deregistrationDelaySeconds} s, ${SUGGESTED.deregistrationDelaySeconds} would shrink this deploy by about ${d(saved)}.`
        : `${setting} wait-until: serving did not wait for it.`
    }
    case 'health-checks': {
      const interval = group!.healthCheckIntervalSeconds
      // A new target needs one passing check (ELB User Guide, "Health checks for Application
      // Load Balancer target groups"); HealthyThresholdCount applies to a target coming back.
      const head = `New tasks went from registration to healthy in ${d(phase.ms)} ${of}${how}: HealthCheckIntervalSeconds is ${interval} on target group ${group!.name} (a new target is healthy after its first passing check, up to ${d(interval * 1000)} after registration).`
      const suggested = SUGGESTED.healthCheckIntervalSeconds
      if (interval <= suggested) return head
      return `${head} An interval of ${suggested} s would shrink this deploy by about ${d(shrink(phase.ms, suggested / interval))}.`
    }
    case 'pull':
      return `The image pull took ${d(phase.ms)} ${of}: the image's size governs it (each new task pulls it); no service setting shortens it, a smaller image does.`
    case 'provisioning':
      return `Provisioning took ${d(phase.ms)} ${of}: Fargate capacity and the task's network interface; no setting of this service shortens it. maximumPercent is ${input.maximumPercent}, so new tasks start in ${batchesOf(input) > 1 ? `${batchesOf(input)} batches, one after another` : '1 batch'}.`
    case 'start':
      return `Container start took ${d(phase.ms)} ${of}: the container's own start-up from image pulled to RUNNING; no service setting shortens it, a faster start-up does.`
  }
}

export function phaseReport(input: PhaseInput): PhaseReport {
  const phases = [
    ...taskPhases(input.newTasks),
    ...input.targetGroups.map(g => healthPhase(input, g)).filter((p): p is Phase => !!p),
    drainPhase(input)
  ].filter((p): p is Phase => p !== undefined)
  const takenMs = Math.max(0, input.ended - input.started)
  const longest = [...phases].sort((a, b) => b.ms - a.ms)[0]

  // The floor: per batch, the fastest new task's start plus the longest first health check;
  // then, when the step waits for it, the longest deregistration delay.
  const starts = input.newTasks
    .filter(t => t.createdAt !== undefined && t.startedAt !== undefined)
    .map(t => t.startedAt! - t.createdAt!)
  const startMs = starts.length ? Math.min(...starts) : 0
  const checksMs = Math.max(0, ...input.targetGroups.map(g => g.healthCheckIntervalSeconds * 1000))
  const drainMs = input.waitsForDrain
    ? Math.max(0, ...input.targetGroups.map(g => g.deregistrationDelaySeconds * 1000))
    : 0
  const batches = batchesOf(input)
  const floorMs = batches * (startMs + checksMs) + drainMs
  const parts = [`start ${d(startMs)}`, ...(checksMs ? [`health checks ${d(checksMs)}`] : [])]
  const floorLine =
    `Floor for these settings: ${d(floorMs)} (${batches} batch${batches > 1 ? 'es' : ''} × (${parts.join(' + ')})` +
    `${drainMs ? ` + draining ${d(drainMs)}` : ''}); this deploy took ${d(takenMs)}` +
    (takenMs >= floorMs
      ? `, ${d(takenMs - floorMs)} above it.`
      : `, ${d(floorMs - takenMs)} under it.`)
  return {
    phases,
    longest,
    longestLine: longestLine(longest, takenMs, input),
    floorMs,
    floorLine,
    takenMs
  }
}

/** The summary's part: the two lines and a table of the phases. */
export function phasesMarkdown(report: PhaseReport, started: number): string {
  return [
    '**Why this deploy took the time it took**',
    report.longestLine,
    report.floorLine,
    table(
      ['Phase', 'From the update', 'Took', 'Source'],
      report.phases.map(p => [
        p.label,
        `+${d(p.from - started)}`,
        d(p.ms),
        `${p.source}${p.unfinished ? ', still draining at the end' : ''}`
      ])
    )
  ].join('\n\n')
}
