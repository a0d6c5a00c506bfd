/**
 * A picture of the rollout: what happened during the step, on one time axis, as a Mermaid
 * `gantt` chart for the job summary (GitHub renders Mermaid there).
 *
 * The step records events as they happen; the chart is derived from the record:
 *   const timeline = new Timeline(`ecs-deploy ${service}`)
 *   timeline.mark('registered', at, 'noblepay-api:42')
 *   timeline.mark('updated', at)
 *   timeline.span('tasks-starting', from, to, deploymentLabel)
 *   timeline.stages(result.stages, endAt)          // a lifecycle watch's stages
 *   timeline.span('rollback', from, to)
 *   summary += timeline.toMermaid(clock.now())
 * Pure: no clock and no I/O of its own.
 */
import type { StageVisit } from './lifecycle.js'

/** A moment: one point on the axis. */
export type MarkKind =
  | 'registered'
  | 'updated'
  | 'failed'
  | 'gate-failed'
  | 'rollback-requested'
  | 'traffic-returned'
  | 'succeeded'

/** A stretch of time. */
export type SpanKind =
  | 'settling'
  | 'migration'
  | 'tasks-starting'
  | 'tasks-running'
  | 'tasks-failing'
  | 'stage'
  | 'test-traffic'
  | 'traffic-shift'
  | 'bake'
  | 'rollback'
  | 'gate'
  | 'phase'

export interface TimelineEvent {
  kind: MarkKind | SpanKind
  label: string
  section: string
  /** Epoch ms. */
  start: number
  /** Epoch ms; undefined for a mark, or a span still going when the chart is drawn. */
  end?: number
  point: boolean
  critical: boolean
}

const MARK_LABELS: Record<MarkKind, string> = {
  registered: 'Registered',
  updated: 'UpdateService',
  failed: 'Failure seen',
  'gate-failed': 'Smoke gate failed',
  'rollback-requested': 'Rollback requested',
  'traffic-returned': 'Production traffic back on the previous revision',
  succeeded: 'Succeeded'
}

const SPAN_LABELS: Record<SpanKind, string> = {
  settling: 'Waiting for the rollout in flight',
  migration: 'Migration task',
  'tasks-starting': 'Tasks starting',
  'tasks-running': 'Tasks running',
  'tasks-failing': 'Tasks failing',
  stage: 'Stage',
  'test-traffic': 'Test traffic on the new revision',
  'traffic-shift': 'Production traffic shift',
  bake: 'Bake time',
  rollback: 'Rollback',
  gate: 'Smoke gate',
  phase: 'Phase'
}

const CRITICAL = new Set<MarkKind | SpanKind>([
  'failed',
  'gate-failed',
  'rollback-requested',
  'tasks-failing',
  'rollback'
])

/** Spans of a deployment's tasks: each deployment has its own section. */
const TASK_SPANS = new Set<MarkKind | SpanKind>([
  'tasks-starting',
  'tasks-running',
  'tasks-failing'
])

/** Where the other kinds go: one section for the step, one for traffic, one for recovery. */
function sectionOf(kind: MarkKind | SpanKind): string {
  switch (kind) {
    case 'stage':
    case 'test-traffic':
    case 'traffic-shift':
    case 'bake':
      return 'Traffic'
    case 'rollback':
    case 'rollback-requested':
    case 'traffic-returned':
      return 'Recovery'
    case 'phase':
      return 'Phases (ECS and load balancer timestamps)'
    default:
      return 'Step'
  }
}

export class Timeline {
  private readonly recorded: TimelineEvent[] = []

  constructor(readonly title: string) {}

  get events(): readonly TimelineEvent[] {
    return this.recorded
  }

  /** A moment; `detail` is added to the label (e.g. the revision registered). */
  mark(kind: MarkKind, at: number, detail?: string): void {
    this.recorded.push({
      kind,
      label: detail ? `${MARK_LABELS[kind]} ${detail}` : MARK_LABELS[kind],
      section: sectionOf(kind),
      start: at,
      point: true,
      critical: CRITICAL.has(kind)
    })
  }

  /**
   * A stretch from `from` to `to` (or to the moment the chart is drawn). For task spans
   * `detail` names the deployment (its section); for others it is added to the label.
   */
  span(kind: SpanKind, from: number, to?: number, detail?: string): void {
    const perDeployment = TASK_SPANS.has(kind)
    this.recorded.push({
      kind,
      label:
        perDeployment || !detail
          ? SPAN_LABELS[kind]
          : kind === 'phase'
            ? detail
            : `${SPAN_LABELS[kind]} ${detail}`,
      section: perDeployment ? `Deployment ${detail ?? ''}` : sectionOf(kind),
      start: from,
      end: to,
      point: false,
      critical: CRITICAL.has(kind)
    })
  }

  /**
   * A lifecycle watch's stages: each from when it was first seen to the next one (the last to
   * `end`). Production traffic shift steps are labelled with their percent; bake time is its own.
   */
  stages(visits: readonly StageVisit[], end: number): void {
    visits.forEach((visit, i) => {
      const to = visits[i + 1]?.at ?? end
      if (visit.stage === 'BAKE_TIME') this.span('bake', visit.at, to)
      else if (visit.stage === 'TEST_TRAFFIC_SHIFT') this.span('test-traffic', visit.at, to)
      else if (visit.stage === 'PRODUCTION_TRAFFIC_SHIFT')
        this.span(
          'traffic-shift',
          visit.at,
          to,
          visit.production !== undefined ? `${visit.production} %` : undefined
        )
      else this.span('stage', visit.at, to, visit.stage)
    })
  }

  /** The Mermaid gantt chart of everything recorded; spans still open end at `now`. */
  toMermaid(now: number): string {
    const sections: string[] = []
    for (const event of this.recorded)
      if (!sections.includes(event.section)) sections.push(event.section)
    const lines = [
      'gantt',
      `  title ${clean(this.title)}`,
      '  dateFormat x',
      '  axisFormat %H:%M:%S'
    ]
    let id = 0
    for (const section of sections) {
      lines.push(`  section ${clean(section)}`)
      const events = this.recorded
        .filter(e => e.section === section)
        .sort((a, b) => a.start - b.start)
      for (const event of events) {
        const start = Math.round(event.start)
        const end = event.point ? start : Math.max(start, Math.round(event.end ?? now))
        const tags = [
          event.point ? 'milestone' : '',
          event.critical ? 'crit' : '',
          !event.point && event.end === undefined ? 'active' : '',
          !event.point && event.end !== undefined && !event.critical ? 'done' : ''
        ].filter(Boolean)
        lines.push(`  ${clean(event.label)} :${[...tags, `e${++id}`, start, end].join(', ')}`)
      }
    }
    return ['```mermaid', ...lines, '```'].join('\n')
  }
}

/**
 * Text Mermaid's gantt syntax can carry: a colon starts a task's data, `#` and `;` are
 * special, and a line break (white space like any other here) ends the statement.
 */
function clean(text: string): string {
  return text.replace(/:/g, ' ').replace(/[#;]/g, '').replace(/\s+/g, ' ').trim()
}
