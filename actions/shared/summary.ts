/** Markdown for job summaries, built from structured rows rather than concatenated by hand. */

export function escapeCell(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>')
}

export function table(headers: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map(escapeCell).join(' | ')} |`
  return [line(headers), `| ${headers.map(() => '---').join(' | ')} |`, ...rows.map(line)].join(
    '\n'
  )
}

/** A two-column table of named facts, skipping those without a value. */
export function facts(entries: Array<[string, string | number | undefined]>): string {
  return table(
    ['', ''],
    entries.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => [k, String(v)])
  )
}

export function section(title: string, ...parts: string[]): string {
  return [`### ${title}`, '', ...parts.filter(p => p !== '').flatMap(p => [p, ''])].join('\n')
}

export function code(value: string): string {
  return `\`${value.replace(/`/g, "'")}\``
}
