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
