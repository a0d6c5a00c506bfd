import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

export const REPOSITORY_ROOT = resolve(import.meta.dirname, '..', '..')

/**
 * The Node that runs the bundles: ACTION_NODE when set (CI points it at Node 24, the runtime
 * GitHub uses for `runs.using: node24`), else the one running the tests.
 */
export const actionNode = process.env.ACTION_NODE || process.execPath

export interface BundleOptions {
  inputs?: Record<string, string>
  env?: Record<string, string>
  /** State saved by an earlier run (the main step), for the post step. */
  state?: Record<string, string>
  cwd?: string
  node?: string
  timeoutMs?: number
  /** Each stdout line as it arrives, with milliseconds since start. */
  onLine?: (line: string, at: number) => void
}

export interface BundleRun {
  exitCode: number
  stdout: string
  stderr: string
  outputs: Record<string, string>
  state: Record<string, string>
  summary: string
  /** Milliseconds from start to each stdout line, to time what a user sees. */
  lineTimes: Array<{ at: number; line: string }>
  /** Wall-clock ms when the process started. */
  startedAt: number
  durationMs: number
}

/**
 * Runs dist/<name>/index.js as the runner does: inputs as INPUT_<NAME>, outputs, state and
 * summary through the files GITHUB_OUTPUT, GITHUB_STATE and GITHUB_STEP_SUMMARY name.
 * Asynchronous, so stand-ins served by the test process keep answering meanwhile.
 */
export async function runBundle(name: string, options: BundleOptions = {}): Promise<BundleRun> {
  const dir = await mkdtemp(join(tmpdir(), `bundle-${name}-`))
  const files = {
    output: join(dir, 'output'),
    state: join(dir, 'state'),
    summary: join(dir, 'summary.md')
  }
  await Promise.all(Object.values(files).map(file => writeFile(file, '')))

  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    // Nothing of the test process's own runner context leaks into the action's.
    if (value !== undefined && !/^(INPUT_|STATE_|GITHUB_|RUNNER_|npm_|NODE_OPTIONS$)/i.test(key))
      env[key] = value
  }
  Object.assign(env, {
    GITHUB_ACTIONS: 'true',
    GITHUB_OUTPUT: files.output,
    GITHUB_STATE: files.state,
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_SHA: 'abc123def456',
    GITHUB_REPOSITORY: 'noblepay/api',
    GITHUB_RUN_ID: '4242',
    GITHUB_SERVER_URL: 'https://github.com',
    NODE_NO_WARNINGS: '1'
  })
  for (const [key, value] of Object.entries(options.inputs ?? {}))
    env[`INPUT_${key.toUpperCase()}`] = value
  for (const [key, value] of Object.entries(options.state ?? {})) env[`STATE_${key}`] = value
  Object.assign(env, options.env ?? {})

  const startedAt = Date.now()
  const child = spawn(
    options.node ?? actionNode,
    [join(REPOSITORY_ROOT, 'dist', name, 'index.js')],
    {
      cwd: options.cwd ?? REPOSITORY_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe']
    }
  )
  let stdout = ''
  let stderr = ''
  let partial = ''
  const lineTimes: BundleRun['lineTimes'] = []
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk
    const lines = (partial + chunk).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) {
      const at = Date.now() - startedAt
      lineTimes.push({ at, line })
      options.onLine?.(line, at)
    }
  })
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000)
  const exitCode = await new Promise<number>((done, fail) => {
    child.on('error', fail)
    child.on('close', code => done(code ?? -1))
  })
  clearTimeout(timer)
  const [outputs, state, summary] = await Promise.all([
    readFile(files.output, 'utf8'),
    readFile(files.state, 'utf8'),
    readFile(files.summary, 'utf8')
  ])
  await rm(dir, { recursive: true, force: true })
  return {
    exitCode,
    stdout,
    stderr,
    outputs: parseCommandFile(outputs),
    state: parseCommandFile(state),
    summary,
    lineTimes,
    startedAt,
    durationMs: Date.now() - startedAt
  }
}

/** Reads a GITHUB_OUTPUT / GITHUB_STATE file: `name<<DELIMITER`, value lines, `DELIMITER`. */
export function parseCommandFile(text: string): Record<string, string> {
  const values: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([^<=]+)<<(.+)$/.exec(lines[i])
    if (heredoc) {
      const end = lines.indexOf(heredoc[2], i + 1)
      values[heredoc[1]] = lines.slice(i + 1, end).join('\n')
      i = end
    } else if (lines[i].includes('=')) {
      const at = lines[i].indexOf('=')
      values[lines[i].slice(0, at)] = lines[i].slice(at + 1)
    }
  }
  return values
}
