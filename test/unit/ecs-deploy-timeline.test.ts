import { Timeline } from '../../actions/ecs-deploy/timeline.js'
import { parseGantt, type GanttChart } from '../support/mermaid.js'

const T0 = Date.parse('2026-11-28T12:00:00Z')
const s = (seconds: number) => T0 + seconds * 1000

const section = (chart: GanttChart, name: string) => {
  const found = chart.sections.find(x => x.name === name)
  if (!found) throw new Error(`no section ${name} in ${chart.sections.map(x => x.name).join(', ')}`)
  return found
}
const task = (chart: GanttChart, sectionName: string, label: string) => {
  const found = section(chart, sectionName).tasks.find(t => t.label === label)
  if (!found) throw new Error(`no task ${label} in section ${sectionName}`)
  return found
}

/** A blue/green deploy whose smoke gate fails during bake time, rolled back by a stop. */
function blueGreenStory(): Timeline {
  const timeline = new Timeline('ecs-deploy payments-api')
  timeline.mark('registered', s(0), 'payments-api:42')
  timeline.mark('updated', s(1))
  timeline.span('tasks-starting', s(1), s(20), 'ecs-svc/222 (payments-api:42)')
  timeline.span('tasks-running', s(20), undefined, 'ecs-svc/222 (payments-api:42)')
  timeline.stages(
    [
      { stage: 'SCALE_UP', at: s(2), production: 0 },
      { stage: 'TEST_TRAFFIC_SHIFT', at: s(22), production: 0 },
      { stage: 'PRODUCTION_TRAFFIC_SHIFT', at: s(30), production: 10 },
      { stage: 'PRODUCTION_TRAFFIC_SHIFT', at: s(40), production: 100 },
      { stage: 'BAKE_TIME', at: s(50), production: 100 }
    ],
    s(80)
  )
  timeline.mark('gate-failed', s(75))
  timeline.mark('rollback-requested', s(76))
  timeline.span('rollback', s(76), s(79))
  timeline.mark('traffic-returned', s(77))
  return timeline
}

describe('Timeline', () => {
  it('draws a Mermaid gantt on one time axis, in epoch milliseconds', () => {
    const chart = parseGantt(blueGreenStory().toMermaid(s(90)))
    expect(chart).toMatchObject({
      title: 'ecs-deploy payments-api',
      dateFormat: 'x',
      axisFormat: '%H:%M:%S'
    })
    expect(chart.sections.map(x => x.name)).toEqual([
      'Step',
      'Deployment ecs-svc/222 (payments-api 42)',
      'Traffic',
      'Recovery'
    ])
    const all = chart.sections.flatMap(x => x.tasks)
    expect(new Set(all.map(t => t.id)).size).toBe(all.length)
    expect(Math.min(...all.map(t => t.start))).toBe(s(0))
  })

  it('marks are milestones at their moment; registration names the revision without breaking the syntax', () => {
    const chart = parseGantt(blueGreenStory().toMermaid(s(90)))
    expect(task(chart, 'Step', 'Registered payments-api 42')).toMatchObject({
      tags: ['milestone'],
      start: s(0),
      end: s(0)
    })
    expect(task(chart, 'Step', 'UpdateService').start).toBe(s(1))
    expect(task(chart, 'Step', 'Smoke gate failed').tags).toEqual(['milestone', 'crit'])
  })

  it("each deployment's tasks starting then running; a span still open runs to the drawing time, active", () => {
    const chart = parseGantt(blueGreenStory().toMermaid(s(90)))
    const deployment = 'Deployment ecs-svc/222 (payments-api 42)'
    expect(task(chart, deployment, 'Tasks starting')).toMatchObject({
      tags: ['done'],
      start: s(1),
      end: s(20)
    })
    expect(task(chart, deployment, 'Tasks running')).toMatchObject({
      tags: ['active'],
      start: s(20),
      end: s(90)
    })
  })

  it('lifecycle stages become spans to the next stage: traffic steps with their percent, then bake time', () => {
    const chart = parseGantt(blueGreenStory().toMermaid(s(90)))
    expect(section(chart, 'Traffic').tasks.map(t => [t.label, t.start, t.end])).toEqual([
      ['Stage SCALE_UP', s(2), s(22)],
      ['Test traffic on the new revision', s(22), s(30)],
      ['Production traffic shift 10 %', s(30), s(40)],
      ['Production traffic shift 100 %', s(40), s(50)],
      ['Bake time', s(50), s(80)]
    ])
  })

  it('the rollback and its moments are critical, in their own section', () => {
    const chart = parseGantt(blueGreenStory().toMermaid(s(90)))
    expect(
      section(chart, 'Recovery').tasks.map(t => [t.label, t.tags.includes('crit'), t.start])
    ).toEqual([
      ['Rollback requested', true, s(76)],
      ['Rollback', true, s(76)],
      ['Production traffic back on the previous revision', false, s(77)]
    ])
    expect(task(chart, 'Recovery', 'Rollback').end).toBe(s(79))
  })

  it('a span recorded with its end before its start is drawn zero-length, not backwards', () => {
    const timeline = new Timeline('t')
    timeline.span('gate', s(10), s(5))
    const [gate] = parseGantt(timeline.toMermaid(s(20))).sections[0]!.tasks
    expect([gate!.start, gate!.end]).toEqual([s(10), s(10)])
  })

  it('labels lose what Mermaid would read as syntax: colons, #, ; and line breaks', () => {
    const timeline = new Timeline('deploy: api #1')
    timeline.mark('failed', s(1), 'tasks: exit 1;\nOOM #2')
    const text = timeline.toMermaid(s(2))
    const chart = parseGantt(text)
    expect(chart.title).toBe('deploy api 1')
    expect(chart.sections[0]!.tasks[0]!.label).toBe('Failure seen tasks exit 1 OOM 2')
    expect(text.split('\n')).toHaveLength(8)
  })
})

describe('Timeline labels, sections and tags', () => {
  /** The one task a chart drawn at s(100) shows for a timeline holding a single event. */
  const only = (record: (timeline: Timeline) => void) => {
    const timeline = new Timeline('t')
    record(timeline)
    const chart = parseGantt(timeline.toMermaid(s(100)))
    expect(chart.sections).toHaveLength(1)
    expect(chart.sections[0]!.tasks).toHaveLength(1)
    return { section: chart.sections[0]!.name, ...chart.sections[0]!.tasks[0]! }
  }

  it.each([
    ['registered', 'Registered', 'Step', ['milestone']],
    ['updated', 'UpdateService', 'Step', ['milestone']],
    ['failed', 'Failure seen', 'Step', ['milestone', 'crit']],
    ['gate-failed', 'Smoke gate failed', 'Step', ['milestone', 'crit']],
    ['rollback-requested', 'Rollback requested', 'Recovery', ['milestone', 'crit']],
    [
      'traffic-returned',
      'Production traffic back on the previous revision',
      'Recovery',
      ['milestone']
    ],
    ['succeeded', 'Succeeded', 'Step', ['milestone']]
  ] as const)('the %s moment reads %s, in section %s, tagged %j', (kind, label, where, tags) => {
    expect(only(t => t.mark(kind, s(5)))).toEqual({
      section: where,
      label,
      tags,
      id: 'e1',
      start: s(5),
      end: s(5)
    })
  })

  it.each([
    ['settling', 'Waiting for the rollout in flight', 'Step', ['done']],
    ['migration', 'Migration task', 'Step', ['done']],
    ['gate', 'Smoke gate', 'Step', ['done']],
    ['stage', 'Stage', 'Traffic', ['done']],
    ['test-traffic', 'Test traffic on the new revision', 'Traffic', ['done']],
    ['traffic-shift', 'Production traffic shift', 'Traffic', ['done']],
    ['bake', 'Bake time', 'Traffic', ['done']],
    ['rollback', 'Rollback', 'Recovery', ['crit']]
  ] as const)(
    'a finished %s span reads %s, in section %s, tagged %j',
    (kind, label, where, tags) => {
      expect(only(t => t.span(kind, s(5), s(9)))).toEqual({
        section: where,
        label,
        tags,
        id: 'e1',
        start: s(5),
        end: s(9)
      })
    }
  )

  it('task spans go to their deployment: starting and running are done, failing is critical', () => {
    const timeline = new Timeline('t')
    timeline.span('tasks-starting', s(1), s(2), 'ecs-svc/7 (api 7)')
    timeline.span('tasks-running', s(2), s(3), 'ecs-svc/7 (api 7)')
    timeline.span('tasks-failing', s(3), s(4), 'ecs-svc/7 (api 7)')
    const chart = parseGantt(timeline.toMermaid(s(10)))
    expect(chart.sections.map(x => x.name)).toEqual(['Deployment ecs-svc/7 (api 7)'])
    expect(chart.sections[0]!.tasks.map(t => [t.label, t.tags])).toEqual([
      ['Tasks starting', ['done']],
      ['Tasks running', ['done']],
      ['Tasks failing', ['crit']]
    ])
  })

  it('task spans with no deployment named share one section', () => {
    const timeline = new Timeline('t')
    timeline.span('tasks-starting', s(1), s(2))
    timeline.span('tasks-running', s(2), s(3))
    const chart = parseGantt(timeline.toMermaid(s(10)))
    expect(chart.sections.map(x => [x.name, x.tasks.length])).toEqual([['Deployment', 2]])
  })

  it('a span still open when the chart is drawn is active, and critical when it is a failure', () => {
    expect(only(t => t.span('tasks-failing', s(5), undefined, 'd'))).toMatchObject({
      section: 'Deployment d',
      tags: ['crit', 'active'],
      end: s(100)
    })
    expect(only(t => t.span('rollback', s(5)))).toMatchObject({
      tags: ['crit', 'active'],
      end: s(100)
    })
    expect(only(t => t.span('migration', s(5)))).toMatchObject({ tags: ['active'], end: s(100) })
  })

  it('a detail is added to the label of spans outside a deployment, and of moments', () => {
    expect(only(t => t.span('migration', s(1), s(2), 'db-migrate')).label).toBe(
      'Migration task db-migrate'
    )
    expect(only(t => t.span('gate', s(1), s(2), 'smoke')).label).toBe('Smoke gate smoke')
    expect(only(t => t.mark('failed', s(1), 'tasks exit 1')).label).toBe(
      'Failure seen tasks exit 1'
    )
  })

  it('a traffic step with no percent known is labelled without one', () => {
    const timeline = new Timeline('t')
    timeline.stages([{ stage: 'PRODUCTION_TRAFFIC_SHIFT', at: s(1) }], s(4))
    expect(parseGantt(timeline.toMermaid(s(5))).sections[0]!.tasks).toEqual([
      { label: 'Production traffic shift', tags: ['done'], id: 'e1', start: s(1), end: s(4) }
    ])
  })

  it('events recorded out of order are drawn in time order, numbered as drawn', () => {
    const timeline = new Timeline('t')
    timeline.mark('succeeded', s(30))
    timeline.span('settling', s(0), s(10))
    timeline.mark('updated', s(12))
    timeline.mark('registered', s(11), 'api:2')
    const [step] = parseGantt(timeline.toMermaid(s(40))).sections
    expect(step!.tasks.map(t => [t.id, t.label, t.start])).toEqual([
      ['e1', 'Waiting for the rollout in flight', s(0)],
      ['e2', 'Registered api 2', s(11)],
      ['e3', 'UpdateService', s(12)],
      ['e4', 'Succeeded', s(30)]
    ])
  })

  it('sections come in the order their first event was recorded, each once', () => {
    const timeline = new Timeline('t')
    timeline.span('rollback', s(50), s(60))
    timeline.mark('updated', s(1))
    timeline.mark('traffic-returned', s(55))
    timeline.span('bake', s(20), s(40))
    timeline.mark('failed', s(45))
    expect(parseGantt(timeline.toMermaid(s(70))).sections.map(x => x.name)).toEqual([
      'Recovery',
      'Step',
      'Traffic'
    ])
  })

  it('times are whole milliseconds', () => {
    expect(only(t => t.span('gate', s(1) + 0.4, s(2) + 0.6))).toMatchObject({
      start: s(1),
      end: s(2) + 1
    })
  })

  it('titles and labels carry no stray spaces around what was cleaned out', () => {
    const timeline = new Timeline('#1 deploy:  api #')
    timeline.mark('failed', s(1), 'exit 1\r\n\r\nOOM;')
    const text = timeline.toMermaid(s(2))
    expect(text.split('\n')).toContain('  title 1 deploy api')
    expect(text.split('\n')).toContain(
      `  Failure seen exit 1 OOM :milestone, crit, e1, ${s(1)}, ${s(1)}`
    )
  })
})

describe('parseGantt', () => {
  it('refuses what is not a gantt task line, so a broken chart fails the tests', () => {
    expect(() => parseGantt('flowchart\n  a --> b')).toThrow(/not a gantt chart/)
    expect(() =>
      parseGantt('gantt\n  dateFormat x\n  section S\n  Broken task with no data')
    ).toThrow(/not a task line/)
    expect(() => parseGantt('gantt\n  dateFormat x\n  section S\n  A :e1, 10, 5')).toThrow(
      /ending before it starts/
    )
  })
})
