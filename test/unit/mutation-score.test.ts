import {
  checkScores,
  formatBaseline,
  formatScores,
  sourceAt,
  type EquivalentMutant,
  type MutationReport
} from '../../scripts/mutate.js'

const source = 'export function ok(code: number) {\n  return code >= 200 && code < 300\n}\n'

type Status = 'Killed' | 'Timeout' | 'Survived' | 'NoCoverage' | 'CompileError' | 'Ignored'

/** A mutant of `code < 300` (line 2, columns 25-35) or of `code >= 200` (columns 10-21). */
function mutant(status: Status, which: 'upper' | 'lower' = 'upper', replacement = 'code <= 300') {
  const [start, end] = which === 'upper' ? [25, 35] : [10, 21]
  return {
    mutatorName: 'EqualityOperator',
    replacement,
    status,
    location: { start: { line: 2, column: start }, end: { line: 2, column: end } }
  }
}

function report(mutants: Array<ReturnType<typeof mutant>>): MutationReport {
  return { files: { 'actions/ok.ts': { source, mutants } } }
}

const equivalent: EquivalentMutant = {
  file: 'actions/ok.ts',
  mutator: 'EqualityOperator',
  original: 'code < 300',
  replacement: 'code <= 300',
  reason: 'no status code between 300 and 300'
}

describe('mutation score per module', () => {
  it('reads the source a mutant replaces from its 1-based positions', () => {
    expect(sourceAt(source, { line: 2, column: 25 }, { line: 2, column: 35 })).toBe('code < 300')
    expect(sourceAt(source, { line: 1, column: 34 }, { line: 2, column: 9 })).toBe('{\n  return')
  })

  it('counts killed and timed-out mutants as caught, survivors and uncovered ones as not', () => {
    const statuses: Status[] = [
      ...Array<Status>(17).fill('Killed'),
      'Timeout',
      'Survived',
      'NoCoverage',
      'CompileError',
      'Ignored'
    ]
    const { scores, problems } = checkScores(
      report(statuses.map(s => mutant(s))),
      ['actions/ok.ts'],
      []
    )
    expect(scores).toEqual([
      {
        module: 'actions/ok.ts',
        caught: 18,
        survived: 1,
        noCoverage: 1,
        equivalent: 0,
        errors: 1,
        score: 90
      }
    ])
    expect(problems).toEqual([])
  })

  it('fails a module below 90 %, naming it and its score', () => {
    const statuses: Status[] = [...Array<Status>(8).fill('Killed'), 'Survived']
    const { problems } = checkScores(report(statuses.map(s => mutant(s))), ['actions/ok.ts'], [])
    expect(problems).toHaveLength(1)
    expect(problems[0]).toMatch(/^actions\/ok\.ts: 88\.89 % of mutants caught, below 90 %/)
  })

  it('fails when a listed module is missing from the report', () => {
    const { problems } = checkScores(report([mutant('Killed')]), ['actions/ok.ts', 'a/b.ts'], [])
    expect(problems).toEqual(['a/b.ts is not in the report; run npm run mutate without --mutate'])
  })

  it('leaves a listed equivalent survivor out of the score', () => {
    const mutants = [...Array(9).fill(mutant('Killed', 'lower')), mutant('Survived')]
    const { scores, problems } = checkScores(report(mutants), ['actions/ok.ts'], [equivalent])
    expect(scores[0]).toMatchObject({ caught: 9, survived: 0, equivalent: 1, score: 100 })
    expect(problems).toEqual([])
  })

  it('refuses an equivalent entry that matches no mutant, or one that a test catches', () => {
    const stale = { ...equivalent, original: 'code < 299' }
    expect(checkScores(report([mutant('Survived')]), [], [stale]).problems[0]).toMatch(
      /matches no mutant; update or remove the entry$/
    )
    expect(checkScores(report([mutant('Killed')]), [], [equivalent]).problems[0]).toMatch(
      /is Killed, not equivalent; remove the entry$/
    )
  })

  it('asks for a line when an equivalent entry fits several mutants', () => {
    const twice = { files: { 'actions/ok.ts': { source: `${source}${source}`, mutants: [] } } }
    const second = {
      ...mutant('Survived'),
      location: { start: { line: 5, column: 25 }, end: { line: 5, column: 35 } }
    }
    twice.files['actions/ok.ts'].mutants = [mutant('Survived'), second] as never
    expect(checkScores(twice, [], [equivalent]).problems[0]).toMatch(
      /matches 2 mutants \(lines 2, 5\); add "line"$/
    )
    const check = checkScores(twice, ['actions/ok.ts'], [{ ...equivalent, line: 5 }])
    expect(check.scores[0]).toMatchObject({ survived: 1, equivalent: 1 })
  })

  it('prints one row per module', () => {
    const { scores } = checkScores(report([mutant('Killed')]), ['actions/ok.ts'], [])
    expect(formatScores(scores).split('\n')).toEqual([
      'module         score     caught  survived  no cover  equivalent  errors',
      'actions/ok.ts  100.00 %  1       0         0         0           0'
    ])
  })

  describe('the baseline file', () => {
    const stryker = (testIds: string[]) => ({
      schemaVersion: '2',
      projectRoot: '/home/someone/deploy',
      config: { concurrency: 7 },
      files: {
        'actions/ok.ts': {
          language: 'typescript',
          source,
          mutants: [
            {
              id: '0',
              ...mutant('Killed'),
              coveredBy: testIds,
              killedBy: [testIds[1]!],
              statusReason: 'at /home/someone/deploy/actions/ok.ts:2:27'
            },
            { id: '1', ...mutant('Survived', 'lower'), coveredBy: [testIds[0]!], killedBy: [] }
          ]
        }
      },
      testFiles: {
        'test/unit/ok.test.ts': {
          source: 'it("a")\nit("b")',
          tests: [
            { id: testIds[0]!, name: 'a', location: { start: { line: 1, column: 1 } } },
            { id: testIds[1]!, name: 'b', location: { start: { line: 2, column: 1 } } }
          ]
        }
      }
    })

    it('keeps what the next run needs, without machine paths or configuration', () => {
      const text = formatBaseline(stryker(['0', '1']))
      expect(text).not.toContain('/home/someone')
      expect(text).not.toContain('concurrency')
      const kept = JSON.parse(text)
      expect(Object.keys(kept)).toEqual(['schemaVersion', 'files', 'testFiles'])
      // In source order: `code >= 200` (survived) before `code < 300` (killed).
      const [survived, killed] = kept.files['actions/ok.ts'].mutants
      const [a, b] = kept.testFiles['test/unit/ok.test.ts'].tests
      expect(killed).toMatchObject({ status: 'Killed', killedBy: [b.id] })
      expect(killed.coveredBy).toEqual([a.id, b.id].sort())
      expect(survived).toStrictEqual({
        id: expect.any(String),
        mutatorName: 'EqualityOperator',
        replacement: 'code <= 300',
        status: 'Survived',
        coveredBy: [a.id],
        location: { start: { line: 2, column: 10 }, end: { line: 2, column: 21 } }
      })
      expect(kept.files['actions/ok.ts'].source).toBe(source)
    })

    it('writes the same file whatever ids and order Stryker gave, one mutant or test per line', () => {
      const text = formatBaseline(stryker(['0', '1']))
      expect(formatBaseline(stryker(['7', '3']))).toBe(text)
      const shuffled = stryker(['0', '1'])
      const file = shuffled.files['actions/ok.ts']
      file.mutants = file.mutants
        .reverse()
        .map(m => Object.fromEntries(Object.entries(m).reverse()) as (typeof file.mutants)[0])
      file.mutants[1]!.coveredBy = ['1', '0']
      shuffled.testFiles['test/unit/ok.test.ts'].tests.reverse()
      expect(formatBaseline(shuffled)).toBe(text)
      expect(formatBaseline(JSON.parse(text))).toBe(text)
      expect(text.split('\n').filter(line => line.includes('"mutatorName"'))).toHaveLength(2)
      expect(text.split('\n').filter(line => line.includes('"name":'))).toHaveLength(2)
    })
  })
})
