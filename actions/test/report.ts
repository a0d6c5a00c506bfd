import { code, section, table } from '../shared/summary.js'
import type { LocatedFailure, TestCounts } from './junit.js'

/** The job summary of a test run, from counts and located failures. */
export interface TestRunSummary {
  command: string
  workingDirectory: string
  exitCode: number
  durationSeconds: number
  /** Undefined when no JUnit report was read. */
  counts?: TestCounts
  failures: LocatedFailure[]
  reportFiles: string[]
}

/** Failures listed in the summary (and annotated); GitHub shows only so many anyway. */
export const MAX_LISTED_FAILURES = 50

export function testSummary(run: TestRunSummary): string {
  const passed = run.exitCode === 0 && (run.counts?.failed ?? 0) === 0
  const counts = run.counts
  const overview = table(
    ['Total', 'Passed', 'Failed', 'Skipped', 'Duration'],
    [
      [
        counts ? String(counts.total) : '–',
        counts ? String(counts.passed) : '–',
        counts ? String(counts.failed) : '–',
        counts ? String(counts.skipped) : '–',
        `${run.durationSeconds.toFixed(1)} s`
      ]
    ]
  )
  const listed = run.failures.slice(0, MAX_LISTED_FAILURES)
  const failures =
    listed.length > 0
      ? table(
          ['Test', 'Where', 'Message'],
          listed.map(f => [
            f.test,
            f.file ? code(`${f.file}${f.line !== undefined ? `:${f.line}` : ''}`) : '',
            firstLine(f.message)
          ])
        )
      : ''
  const more =
    run.failures.length > listed.length
      ? `…and ${run.failures.length - listed.length} more failures.`
      : ''
  const source = counts
    ? `From ${run.reportFiles.map(code).join(', ')}.`
    : 'No JUnit report was read (set junit-report for counts and annotations).'
  return section(
    `Tests ${passed ? 'passed' : 'failed'}: ${code(run.command)} in ${code(run.workingDirectory)}`,
    overview,
    source,
    failures,
    more
  )
}

export function firstLine(text: string, max = 200): string {
  const line = text.split('\n').find(l => l.trim() !== '') ?? ''
  return line.length > max ? `${line.slice(0, max - 1)}…` : line.trim()
}
