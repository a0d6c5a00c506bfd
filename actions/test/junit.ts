import { isAbsolute, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'junit2json'

/** One test case from a JUnit report. */
export interface TestCaseResult {
  name: string
  classname: string
  /** The name of the innermost test suite around it, if any. */
  suite: string
  status: 'passed' | 'failed' | 'skipped'
  /** The failure's (or error's) message attribute, else its first line of text. */
  message: string
  /** The failure's text: usually the stack trace. */
  details: string
  /** The `file` and `line` attributes some reporters write (jest-junit, newer node). */
  file?: string
  line?: number
}

export interface TestCounts {
  total: number
  passed: number
  failed: number
  skipped: number
}

/** A failed test and where it failed, as a path relative to the repository root. */
export interface LocatedFailure {
  test: string
  message: string
  file?: string
  line?: number
}

type Node = Record<string, unknown>

/** Every test case in a JUnit document, however its suites are nested. */
export async function parseJunit(xml: string): Promise<TestCaseResult[]> {
  const root = (await parse(xml)) as Node | null | undefined
  const cases: TestCaseResult[] = []
  const walk = (node: Node, suite: string) => {
    for (const testcase of asArray(node.testcase)) cases.push(toCase(testcase, suite))
    for (const child of asArray(node.testsuite)) walk(child, String(child.name ?? ''))
  }
  // A lone <testsuite> root names the suite of its cases; a <testsuites> root names none.
  if (root) walk(root, root.testsuite === undefined ? String(root.name ?? '') : '')
  return cases
}

export function countCases(cases: TestCaseResult[]): TestCounts {
  const count = (status: TestCaseResult['status']) => cases.filter(c => c.status === status).length
  return {
    total: cases.length,
    passed: count('passed'),
    failed: count('failed'),
    skipped: count('skipped')
  }
}

/**
 * Where a failure happened, from the testcase's `file`/`line` attributes or its stack trace.
 * The first stack frame in the test's file (or else in the workspace, outside node_modules
 * and the runtime) gives the line; paths come back relative to the workspace so that GitHub
 * shows the annotation on the file in the commit.
 */
export function locateFailure(
  testcase: TestCaseResult,
  workspace: string,
  workingDirectory: string
): LocatedFailure {
  const frames = stackFrames(testcase.details, workingDirectory).filter(
    frame => !/[\\/]node_modules[\\/]/.test(frame.path)
  )
  const declared = testcase.file ? resolve(workingDirectory, testcase.file) : undefined
  const frame = declared
    ? frames.find(f => f.path === declared)
    : frames.find(f => within(workspace, f.path))
  const path = declared ?? frame?.path
  const line = frame?.line ?? testcase.line
  const located: LocatedFailure = { test: testLabel(testcase), message: testcase.message }
  if (path && within(workspace, path)) {
    located.file = relative(workspace, path).split(sep).join('/')
    if (line !== undefined) located.line = line
  }
  return located
}

/** `path:line:column` locations in a stack trace, in order (file:// URLs decoded). */
export function stackFrames(text: string, base: string): Array<{ path: string; line: number }> {
  const frames: Array<{ path: string; line: number }> = []
  const pattern = /(file:\/\/[^\s()]+?|[^\s()'"]+?\.[cm]?[jt]sx?):(\d+)(?::\d+)?(?=[\s)]|$)/gm
  for (const match of text.matchAll(pattern)) {
    const raw = match[1] as string
    if (raw.startsWith('node:') || raw.startsWith('internal/')) continue
    let path: string
    try {
      path = raw.startsWith('file://') ? fileURLToPath(raw) : resolve(base, raw)
    } catch {
      continue
    }
    frames.push({ path, line: Number(match[2]) })
  }
  return frames
}

/**
 * How a test is named in annotations: node's reporter puts the describe block in the suite
 * (classname is always "test"); jest-junit and others put it in classname.
 */
export function testLabel(testcase: TestCaseResult): string {
  const { name, classname, suite } = testcase
  if (classname !== '' && classname !== 'test' && classname !== name)
    return `${classname} › ${name}`
  // Every name starts with an empty suite, so an empty one is never added.
  if (!name.startsWith(suite) && !/\.[cm]?[jt]sx?$/.test(suite)) return `${suite} › ${name}`
  return name
}

function within(parent: string, path: string): boolean {
  const rel = relative(parent, path)
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)
}

function toCase(node: Node, suite: string): TestCaseResult {
  const problems = [...asArray(node.failure), ...asArray(node.error)]
  const skipped = node.skipped !== undefined
  const failed = problems.length > 0
  const first = problems[0]
  const details = first ? String(first.inner ?? '').trim() : ''
  const message = first ? String(first.message ?? details.split('\n')[0]).trim() : ''
  const result: TestCaseResult = {
    name: String(node.name ?? ''),
    classname: String(node.classname ?? ''),
    suite,
    status: failed ? 'failed' : skipped ? 'skipped' : 'passed',
    message,
    details
  }
  if (node.file !== undefined) result.file = String(node.file)
  const line = Number(node.line)
  if (Number.isInteger(line) && line > 0) result.line = line
  return result
}

/**
 * junit2json gives an array of objects for child elements; an attribute of the same name is a
 * string or a number instead (and is overwritten when both are there).
 */
function asArray(value: unknown): Node[] {
  return Array.isArray(value) ? (value as Node[]) : []
}
