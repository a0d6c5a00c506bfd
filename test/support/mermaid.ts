/**
 * A small parser of the Mermaid `gantt` charts the summaries carry: enough of the syntax to
 * check a chart's structure (its sections, tasks, tags and times) without comparing strings.
 * Lines it does not know fail the parse, as Mermaid would fail to render them.
 */

export interface GanttTask {
  label: string
  tags: string[]
  id?: string
  /** Epoch ms (dateFormat x). */
  start: number
  end: number
}

export interface GanttChart {
  title?: string
  dateFormat?: string
  axisFormat?: string
  sections: Array<{ name: string; tasks: GanttTask[] }>
}

const TAGS = new Set(['done', 'active', 'crit', 'milestone'])

/** Parses a chart, with or without its ```mermaid fence. */
export function parseGantt(markdown: string): GanttChart {
  const fenced = /```mermaid\n([\s\S]*?)\n```/.exec(markdown)
  const lines = (fenced ? fenced[1]! : markdown)
    .split('\n')
    .map(l => l.trim())
    .filter(l => l !== '' && !l.startsWith('%%'))
  if (lines[0] !== 'gantt') throw new Error(`not a gantt chart: first line '${lines[0]}'`)
  const chart: GanttChart = { sections: [] }
  for (const line of lines.slice(1)) {
    const keyword = /^(title|dateFormat|axisFormat|section)\s+(.+)$/.exec(line)
    if (keyword) {
      const [, name, value] = keyword
      if (name === 'section') chart.sections.push({ name: value!, tasks: [] })
      else chart[name as 'title' | 'dateFormat' | 'axisFormat'] = value
      continue
    }
    const colon = line.indexOf(':')
    if (colon <= 0) throw new Error(`not a task line: '${line}'`)
    const section = chart.sections.at(-1)
    if (!section) throw new Error(`a task before any section: '${line}'`)
    const label = line.slice(0, colon).trim()
    const data = line
      .slice(colon + 1)
      .split(',')
      .map(p => p.trim())
    if (chart.dateFormat !== 'x') throw new Error('the parser reads dateFormat x only')
    const [start, end] = data.slice(-2).map(Number)
    if (!Number.isFinite(start) || !Number.isFinite(end))
      throw new Error(`a task without start and end times: '${line}'`)
    const rest = data.slice(0, -2)
    const tags = rest.filter(p => TAGS.has(p))
    const ids = rest.filter(p => !TAGS.has(p))
    if (ids.length > 1) throw new Error(`a task with more than one id: '${line}'`)
    if (end! < start!) throw new Error(`a task ending before it starts: '${line}'`)
    section.tasks.push({ label, tags, id: ids[0], start: start!, end: end! })
  }
  return chart
}
