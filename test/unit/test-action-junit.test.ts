import {
  countCases,
  locateFailure,
  parseJunit,
  stackFrames,
  testLabel
} from '../../actions/test/junit.js'

const WORKSPACE = '/home/runner/work/api/api'
const SERVICE = `${WORKSPACE}/services/ledger`

/** What node's built-in junit reporter writes: top-level tests beside describe suites. */
const NODE_REPORT = `<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testsuite name="ledger" time="0.01" tests="2" failures="1" skipped="0">
    <testcase name="sums credits" time="0.001" classname="test"/>
    <testcase name="nets debits against credits" time="0.002" classname="test" failure="70 !== 60">
      <failure type="testCodeFailure" message="Expected values to be strictly equal:&#10;&#10;70 !== 60&#10;">
Error [ERR_TEST_FAILURE]: Expected values to be strictly equal:
    at async Promise.all (index 0) {
  cause: AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:
      at TestContext.&lt;anonymous&gt; (${SERVICE}/test/ledger.test.js:13:12)
      at Test.runInAsyncScope (node:async_hooks:206:9)
      at Test.run (node:internal/test_runner/test:796:25)
}
      </failure>
    </testcase>
  </testsuite>
  <testcase name="keeps an empty ledger at zero" time="0.0001" classname="test"/>
  <testcase name="refunds later" time="0.0001" classname="test">
    <skipped type="skipped" message="true"/>
  </testcase>
  <testcase name="42" time="0.0001" classname="test">
    <failure type="testCodeFailure" message="boom">Error: boom
    at file://${SERVICE}/test/esm.test.mjs:7:9
    at ${WORKSPACE}/node_modules/some-lib/index.js:1:1</failure>
  </testcase>
</testsuites>`

/** jest-junit with addFileAttribute: the file is declared, the stack goes through helpers first. */
const JEST_REPORT = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="2" failures="1" errors="0" time="1.2">
  <testsuite name="fees" errors="0" failures="1" skipped="0" timestamp="2026-11-28T12:00:00" time="1.1" tests="2">
    <testcase classname="fees rounds to cents" name="fees rounds to cents" time="0.004" file="src/fees.test.ts">
      <failure>Error: expect(received).toBe(expected)
    at round (${SERVICE}/src/money.ts:4:11)
    at Object.&lt;anonymous&gt; (${SERVICE}/src/fees.test.ts:21:5)</failure>
    </testcase>
    <testcase classname="fees charges" name="fees charges" time="0.001" file="src/fees.test.ts"/>
  </testsuite>
</testsuites>`

describe('JUnit reports', () => {
  it("counts node's report, nested suites and top-level tests alike", async () => {
    const cases = await parseJunit(NODE_REPORT)
    expect(cases.map(c => [c.name, c.status]).sort()).toEqual([
      ['42', 'failed'],
      ['keeps an empty ledger at zero', 'passed'],
      ['nets debits against credits', 'failed'],
      ['refunds later', 'skipped'],
      ['sums credits', 'passed']
    ])
    expect(countCases(cases)).toEqual({ total: 5, passed: 2, failed: 2, skipped: 1 })
  })

  it("locates a failure at the test's own line from the stack trace, relative to the workspace", async () => {
    const cases = await parseJunit(NODE_REPORT)
    const nets = cases.find(c => c.name === 'nets debits against credits')
    const numeric = cases.find(c => c.name === '42')
    expect(locateFailure(nets!, WORKSPACE, SERVICE)).toEqual({
      test: 'ledger › nets debits against credits',
      message: 'Expected values to be strictly equal:\n\n70 !== 60',
      file: 'services/ledger/test/ledger.test.js',
      line: 13
    })
    // file:// frames (ES modules) are decoded; frames in node_modules are never the place.
    expect(locateFailure(numeric!, WORKSPACE, SERVICE)).toMatchObject({
      test: '42',
      file: 'services/ledger/test/esm.test.mjs',
      line: 7
    })
  })

  it('prefers the declared file, and the frame in it, over earlier frames in helpers', async () => {
    const [fees] = await parseJunit(JEST_REPORT)
    expect(locateFailure(fees!, WORKSPACE, SERVICE)).toMatchObject({
      test: 'fees rounds to cents',
      file: 'services/ledger/src/fees.test.ts',
      line: 21,
      message: 'Error: expect(received).toBe(expected)'
    })
  })

  it('gives no place for a failure outside the workspace', async () => {
    const [failed] = await parseJunit(
      `<testsuite name="s"><testcase name="t"><failure message="x">at /tmp/elsewhere/a.test.js:3:1</failure></testcase></testsuite>`
    )
    expect(locateFailure(failed!, WORKSPACE, SERVICE)).toEqual({ test: 's › t', message: 'x' })
  })

  it('reads path:line frames and skips runtime internals', () => {
    expect(
      stackFrames('at x (node:internal/test_runner/test:796:25)\nat y (src/a.test.ts:3:1)', SERVICE)
    ).toEqual([{ path: `${SERVICE}/src/a.test.ts`, line: 3 }])
  })

  it('names tests by classname where the reporter puts the suite there', () => {
    expect(
      testLabel({
        name: 'charges',
        classname: 'FeeService',
        suite: 'fees.test.ts',
        status: 'failed',
        message: '',
        details: ''
      })
    ).toBe('FeeService › charges')
    expect(
      testLabel({
        name: 'charges',
        classname: 'test',
        suite: 'fees.test.ts',
        status: 'failed',
        message: '',
        details: ''
      })
    ).toBe('charges')
  })

  it('reads an empty document as no tests', async () => {
    expect(await parseJunit('')).toEqual([])
    expect(await parseJunit('<testsuites/>')).toEqual([])
  })

  it('reads a testsuite or testcase without a name as an empty name', async () => {
    const cases = await parseJunit('<testsuites><testsuite><testcase/></testsuite></testsuites>')
    expect(cases.map(c => [c.name, c.suite])).toEqual([['', '']])
  })

  it('names the suite of a lone testsuite root, and none for a testsuites root', async () => {
    const lone = await parseJunit('<testsuite name="fees"><testcase name="rounds"/></testsuite>')
    expect(lone.map(c => [c.name, c.suite])).toEqual([['rounds', 'fees']])
    const nameless = await parseJunit('<testsuite><testcase name="rounds"/></testsuite>')
    expect(nameless.map(c => [c.name, c.suite])).toEqual([['rounds', '']])
    const all = await parseJunit(
      '<testsuites name="all"><testcase name="top"/><testsuite name="fees"><testcase name="rounds"/></testsuite></testsuites>'
    )
    expect(all.map(c => [c.name, c.suite])).toEqual([
      ['top', ''],
      ['rounds', 'fees']
    ])
  })

  it("reads a failure's text trimmed, and its first line when it has no message", async () => {
    const [withText, bare, passed] = await parseJunit(`<testsuite name="s">
      <testcase name="a"><failure>
        AssertionError: 1 !== 2
          at a.test.js:3:1
      </failure></testcase>
      <testcase name="b"><error message="boom"/></testcase>
      <testcase name="c"/>
    </testsuite>`)
    expect(withText).toMatchObject({
      status: 'failed',
      message: 'AssertionError: 1 !== 2',
      details: 'AssertionError: 1 !== 2\n          at a.test.js:3:1'
    })
    expect(bare).toMatchObject({ status: 'failed', message: 'boom', details: '' })
    expect(passed).toMatchObject({ status: 'passed', message: '', details: '' })
  })

  it('takes a line attribute only when it is a positive whole number', async () => {
    const cases = await parseJunit(
      `<testsuite name="s">${['12', '0', '-3', '2.5', 'x']
        .map(line => `<testcase name="${line}" line="${line}"/>`)
        .join('')}<testcase name="none"/></testsuite>`
    )
    expect(cases.map(c => [c.name, c.line])).toEqual([
      ['12', 12],
      ['0', undefined],
      ['-3', undefined],
      ['2.5', undefined],
      ['x', undefined],
      ['none', undefined]
    ])
  })

  it('skips frames in node_modules even before the test file', async () => {
    const [failed] =
      await parseJunit(`<testsuite name="s"><testcase name="t"><failure message="x">AssertionError: x
    at assert (${WORKSPACE}/node_modules/chai/lib/assert.js:9:5)
    at Context.it (${SERVICE}/test/a.test.js:5:3)</failure></testcase></testsuite>`)
    expect(locateFailure(failed!, WORKSPACE, SERVICE)).toEqual({
      test: 's › t',
      message: 'x',
      file: 'services/ledger/test/a.test.js',
      line: 5
    })
  })

  it('gives the declared file without a line when no frame is in it', async () => {
    const [failed] = await parseJunit(
      `<testsuite name="s"><testcase name="t" file="src/a.test.ts"><failure message="x">at helper (${SERVICE}/src/helper.ts:4:1)</failure></testcase></testsuite>`
    )
    expect(locateFailure(failed!, WORKSPACE, SERVICE)).toStrictEqual({
      test: 's › t',
      message: 'x',
      file: 'services/ledger/src/a.test.ts'
    })
  })

  it('gives no place for the workspace itself', () => {
    const located = locateFailure(
      {
        name: 't',
        classname: '',
        suite: '',
        status: 'failed',
        message: 'x',
        details: '',
        file: '.'
      },
      WORKSPACE,
      WORKSPACE
    )
    expect(located).toStrictEqual({ test: 't', message: 'x' })
  })

  it('reads frames with or without a column, at the end of the text, and of .mjs and .cjs files', () => {
    const text = [
      'at a (src/one.test.ts:13)',
      'at b (src/two.test.mjs:7:1) x',
      '# at: src/three.test.cjs:21 (details)',
      'at src/four.test.js:4:2'
    ].join('\n')
    expect(stackFrames(text, SERVICE)).toEqual([
      { path: `${SERVICE}/src/one.test.ts`, line: 13 },
      { path: `${SERVICE}/src/two.test.mjs`, line: 7 },
      { path: `${SERVICE}/src/three.test.cjs`, line: 21 },
      { path: `${SERVICE}/src/four.test.js`, line: 4 }
    ])
  })

  it('skips a file:// frame that is no local path', () => {
    expect(
      stackFrames('at file://example.com/a.test.js:3:1\nat src/b.test.js:4:1', SERVICE)
    ).toEqual([{ path: `${SERVICE}/src/b.test.js`, line: 4 }])
  })

  it('reads file:// frames, query strings included', () => {
    expect(stackFrames(`at file://${SERVICE}/test/a%20b.test.mjs?v=3:7:9`, SERVICE)).toEqual([
      { path: `${SERVICE}/test/a b.test.mjs`, line: 7 }
    ])
  })

  it('skips frames of the runtime, old and new', () => {
    const text = [
      'at processTicksAndRejections (internal/process/task_queues.js:95:5)',
      'at run (node:internal/modules/run_main.js:1:1)',
      'at t (test/a.test.js:2:1)'
    ].join('\n')
    expect(stackFrames(text, SERVICE)).toEqual([{ path: `${SERVICE}/test/a.test.js`, line: 2 }])
  })

  it('adds the suite to a name unless the name has it or the suite is a file', () => {
    const label = (name: string, suite: string) =>
      testLabel({ name, classname: 'test', suite, status: 'failed', message: '', details: '' })
    expect(label('charges', 'config.js loader')).toBe('config.js loader › charges')
    expect(label('fees charges', 'fees')).toBe('fees charges')
    expect(label('charges', 'test/fees.test.mjs')).toBe('charges')
    expect(label('charges', '')).toBe('charges')
  })
})
