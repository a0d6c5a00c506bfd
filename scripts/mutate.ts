/**
 * `npm run mutate [-- stryker options]`: Stryker over the decision modules listed in
 * stryker.config.mjs, then the score per module from its JSON report. It fails when a module
 * scores below MINIMUM_SCORE, when one is missing from the report, or when an entry of the
 * equivalent mutants list does not name exactly one surviving mutant.
 *
 * Score = caught / (caught + undetected), as Stryker counts it: caught is killed or timed
 * out, undetected is survived or not covered by any test. Mutants that do not compile or
 * crash the run are not counted. A mutant in test/mutation/equivalent.json (one that
 * changes nothing observable) is not counted either, and is shown as such.
 *
 * Stryker's incremental file (the baseline) is rewritten for the repository: without this
 * machine's paths and Stryker's configuration, with test and mutant ids that stay the same
 * from run to run, one mutant or test per line, so that its diff shows what changed.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

export const MINIMUM_SCORE = 90
export const EQUIVALENT_FILE = 'test/mutation/equivalent.json'

interface Position {
  line: number
  column: number
}

/** The part of mutation-testing-report-schema that the score needs. */
export interface MutationReport {
  files: Record<
    string,
    {
      source: string
      mutants: Array<{
        mutatorName: string
        replacement?: string
        status: string
        location: { start: Position; end: Position }
      }>
    }
  >
}

/** A mutant that no test can catch, named by what it changes rather than by id or line. */
export interface EquivalentMutant {
  file: string
  mutator: string
  /** The source text the mutant replaces. */
  original: string
  replacement: string
  /** Only needed when the same change fits more than one place in the file. */
  line?: number
  reason: string
}

export interface ModuleScore {
  module: string
  caught: number
  survived: number
  noCoverage: number
  equivalent: number
  /** Mutants that did not compile or broke the run; not counted. */
  errors: number
  /** Percent, or undefined for a module with nothing to count. */
  score?: number
}

export interface ScoreCheck {
  scores: ModuleScore[]
  /** Everything that fails the run, one sentence each. */
  problems: string[]
}

const CAUGHT = new Set(['Killed', 'Timeout'])
const UNDETECTED = new Set(['Survived', 'NoCoverage'])

/** The text between two 1-based line/column positions of a source file. */
export function sourceAt(source: string, start: Position, end: Position): string {
  const lines = source.split('\n')
  const offset = (at: Position) =>
    lines.slice(0, at.line - 1).reduce((sum, line) => sum + line.length + 1, 0) + at.column - 1
  return source.slice(offset(start), offset(end))
}

const normalize = (file: string) => file.replace(/\\/g, '/').replace(/^\.\//, '')

export function checkScores(
  report: MutationReport,
  modules: string[],
  equivalents: EquivalentMutant[]
): ScoreCheck {
  const problems: string[] = []
  const files = new Map(Object.entries(report.files).map(([name, file]) => [normalize(name), file]))

  // Which mutant each equivalent entry names: exactly one, else the entry is wrong.
  const equivalentMutants = new Set<object>()
  for (const entry of equivalents) {
    const file = files.get(normalize(entry.file))
    const matches = (file?.mutants ?? []).filter(
      m =>
        m.mutatorName === entry.mutator &&
        (m.replacement ?? '') === entry.replacement &&
        (entry.line === undefined || m.location.start.line === entry.line) &&
        sourceAt(file!.source, m.location.start, m.location.end) === entry.original
    )
    const what = `${EQUIVALENT_FILE}: ${entry.file} ${entry.mutator} ${JSON.stringify(entry.original)} → ${JSON.stringify(entry.replacement)}`
    if (matches.length === 0) {
      problems.push(`${what} matches no mutant; update or remove the entry`)
    } else if (matches.length > 1) {
      problems.push(
        `${what} matches ${matches.length} mutants (lines ${matches.map(m => m.location.start.line).join(', ')}); add "line"`
      )
    } else if (!UNDETECTED.has(matches[0]!.status)) {
      problems.push(`${what} is ${matches[0]!.status}, not equivalent; remove the entry`)
    } else {
      equivalentMutants.add(matches[0]!)
    }
  }

  const scores = modules.map(module => {
    const file = files.get(normalize(module))
    const score: ModuleScore = {
      module,
      caught: 0,
      survived: 0,
      noCoverage: 0,
      equivalent: 0,
      errors: 0
    }
    if (!file) {
      problems.push(`${module} is not in the report; run npm run mutate without --mutate`)
      return score
    }
    for (const mutant of file.mutants) {
      if (equivalentMutants.has(mutant)) score.equivalent++
      else if (CAUGHT.has(mutant.status)) score.caught++
      else if (mutant.status === 'Survived') score.survived++
      else if (mutant.status === 'NoCoverage') score.noCoverage++
      else if (mutant.status !== 'Ignored') score.errors++
    }
    const counted = score.caught + score.survived + score.noCoverage
    if (counted > 0) score.score = (100 * score.caught) / counted
    if (score.score !== undefined && score.score < MINIMUM_SCORE) {
      problems.push(
        `${module}: ${score.score.toFixed(2)} % of mutants caught, below ${MINIMUM_SCORE} %; ` +
          `kill the survivors (reports/mutation/mutation.html) or list equivalent ones in ${EQUIVALENT_FILE}`
      )
    }
    return score
  })
  return { scores, problems }
}

export function formatScores(scores: ModuleScore[]): string {
  const rows = [
    ['module', 'score', 'caught', 'survived', 'no cover', 'equivalent', 'errors'],
    ...scores.map(s => [
      s.module,
      s.score === undefined ? 'n/a' : `${s.score.toFixed(2)} %`,
      String(s.caught),
      String(s.survived),
      String(s.noCoverage),
      String(s.equivalent),
      String(s.errors)
    ])
  ]
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map(row => row[column]!.length)))
  return rows
    .map(row =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd()
    )
    .join('\n')
}

type Entry = Record<string, unknown>
/** Stryker's incremental file: a mutation-testing-report-schema report. */
interface Baseline {
  schemaVersion?: string
  files: Record<string, Entry & { mutants: Entry[] }>
  testFiles?: Record<string, Entry & { tests: Entry[] }>
}

const shortHash = (...parts: unknown[]) =>
  createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 12)

/** Gives each item an id from what it is, keeping ids unique; returns old id → new id. */
function stableIds(items: Entry[], identity: (item: Entry) => unknown[]): Map<string, string> {
  const ids = new Map<string, string>()
  const taken = new Set<string>()
  for (const item of items) {
    const base = shortHash(...identity(item))
    let id = base
    for (let n = 2; taken.has(id); n++) id = `${base}-${n}`
    taken.add(id)
    ids.set(String(item.id), id)
  }
  return ids
}

/** The fields of a mutant or test in one order, whatever order Stryker wrote them in. */
const FIELD_ORDER = ['id', 'name', 'mutatorName', 'replacement', 'status', 'static']

function ordered(entry: Entry): Entry {
  const rank = (key: string) => {
    const at = FIELD_ORDER.indexOf(key)
    return at === -1 ? FIELD_ORDER.length : at
  }
  const keys = Object.keys(entry).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
  return Object.fromEntries(keys.map(key => [key, entry[key]]))
}

interface Located {
  location?: { start?: Position }
}

/** Source order, then the rest of the entry, so that the same results give the same lines. */
function bySourceOrder(a: string, b: string): number {
  const start = (line: string) => (JSON.parse(line) as Located).location?.start
  const [x, y] = [start(a), start(b)]
  return (
    (x?.line ?? 0) - (y?.line ?? 0) || (x?.column ?? 0) - (y?.column ?? 0) || a.localeCompare(b)
  )
}

/** The baseline as the repository keeps it (see the top of this file). */
export function formatBaseline(baseline: Baseline): string {
  const testFiles = baseline.testFiles ?? {}
  const testIds = stableIds(
    Object.entries(testFiles).flatMap(([file, { tests }]) =>
      tests.map(test => ({ ...test, file }))
    ),
    test => [test.file, test.name]
  )
  const rename = (ids: unknown) =>
    Array.isArray(ids) ? ids.map(id => testIds.get(String(id)) ?? String(id)).sort() : ids
  const group = <K extends 'mutants' | 'tests'>(
    files: Record<string, Entry & Record<K, Entry[]>>,
    key: K,
    item: (entry: Entry, ids: Map<string, string>) => Entry,
    identity: (entry: Entry) => unknown[]
  ) =>
    Object.keys(files)
      .sort()
      .map(file => {
        const { [key]: items, ...rest } = files[file]!
        const ids = stableIds(items, entry => [file, ...identity(entry)])
        const lines = items
          .map(entry => JSON.stringify(ordered(item(entry, ids))))
          .sort(bySourceOrder)
          .map(line => `        ${line}`)
        const fields = Object.entries(rest).map(
          ([name, value]) => `      ${JSON.stringify(name)}: ${JSON.stringify(value)}`
        )
        fields.push(
          `      ${JSON.stringify(key)}: ${lines.length ? `[\n${lines.join(',\n')}\n      ]` : '[]'}`
        )
        return `    ${JSON.stringify(file)}: {\n${fields.join(',\n')}\n    }`
      })
      .join(',\n')
  const mutants = group(
    baseline.files,
    'mutants',
    (mutant, ids) => {
      const kept: Entry = {
        ...mutant,
        id: ids.get(String(mutant.id))!,
        coveredBy: rename(mutant.coveredBy),
        killedBy: rename(mutant.killedBy)
      }
      // The reason is a stack trace with this machine's paths; the result does not need it.
      delete kept.statusReason
      // Stryker writes no killedBy for a survivor it tested, and an empty one for one it reused.
      if (Array.isArray(kept.killedBy) && kept.killedBy.length === 0) delete kept.killedBy
      return kept
    },
    mutant => [mutant.mutatorName, mutant.replacement, mutant.location]
  )
  const tests = group(
    testFiles,
    'tests',
    test => ({ ...test, id: testIds.get(String(test.id))! }),
    test => [test.name]
  )
  return [
    '{',
    `  "schemaVersion": ${JSON.stringify(baseline.schemaVersion ?? '2')},`,
    `  "files": {\n${mutants}\n  },`,
    `  "testFiles": {\n${tests}\n  }`,
    '}',
    ''
  ].join('\n')
}

async function main(strykerArgs: string[]): Promise<void> {
  const stryker = spawnSync('node_modules/.bin/stryker', ['run', ...strykerArgs], {
    stdio: 'inherit'
  })
  if (stryker.status !== 0) {
    process.exitCode = stryker.status ?? 1
    return
  }
  const config = (await import(pathToFileURL(resolve('stryker.config.mjs')).href)) as {
    default: { mutate: string[]; jsonReporter: { fileName: string }; incrementalFile: string }
  }
  const baselineFile = config.default.incrementalFile
  if (existsSync(baselineFile)) {
    const baseline = JSON.parse(readFileSync(baselineFile, 'utf8')) as Baseline
    writeFileSync(baselineFile, formatBaseline(baseline))
  }
  const report = JSON.parse(
    readFileSync(config.default.jsonReporter.fileName, 'utf8')
  ) as MutationReport
  const equivalents = JSON.parse(readFileSync(EQUIVALENT_FILE, 'utf8')) as EquivalentMutant[]
  const { scores, problems } = checkScores(report, config.default.mutate, equivalents)
  console.log(`Mutants caught per decision module (at least ${MINIMUM_SCORE} % each):`)
  console.log(formatScores(scores))
  for (const problem of problems) console.error(`error: ${problem}`)
  if (problems.length > 0) process.exitCode = 1
}

if (process.argv[1]?.endsWith('mutate.ts')) await main(process.argv.slice(2))
