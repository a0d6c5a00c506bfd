import { spawn } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

export interface BundleRun {
  code: number | null
  stdout: string
  stderr: string
  outputs: Record<string, string>
  summary: string
  /** Milliseconds from start to each stdout line, to time what a user sees. */
  lineTimes: Array<{ at: number; line: string }>
  durationMs: number
}

/**
 * The Node that runs the bundles: the machine's own, or ACTION_NODE (CI points it at Node 24,
 * the runtime GitHub uses for `runs.using: node24`).
 */
export const actionNode = process.env.ACTION_NODE || process.execPath

/** Runs dist/<name>/index.js as the runner does: inputs as INPUT_*, outputs through GITHUB_OUTPUT. */
export async function runBundle(
  name: string,
  inputs: Record<string, string>,
  env: Record<string, string> = {},
  options: { timeoutMs?: number; onLine?: (line: string, at: number) => void } = {}
): Promise<BundleRun> {
  const dir = await mkdtemp(join(tmpdir(), `${name}-`))
  const outputFile = join(dir, 'output')
  const summaryFile = join(dir, 'summary')
  const stateFile = join(dir, 'state')
  await Promise.all([
    writeFile(outputFile, ''),
    writeFile(summaryFile, ''),
    writeFile(stateFile, '')
  ])
  const inputEnv = Object.fromEntries(
    Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])
  )
  const started = Date.now()
  const child = spawn(actionNode, [resolve('dist', name, 'index.js')], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      GITHUB_OUTPUT: outputFile,
      GITHUB_STEP_SUMMARY: summaryFile,
      GITHUB_STATE: stateFile,
      GITHUB_SHA: 'abc123def456',
      GITHUB_REPOSITORY: 'noblepay/api',
      GITHUB_RUN_ID: '4242',
      GITHUB_SERVER_URL: 'https://github.com',
      NODE_NO_WARNINGS: '1',
      ...inputEnv,
      ...env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  let pending = ''
  const lineTimes: BundleRun['lineTimes'] = []
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk
    pending += chunk
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) {
      const at = Date.now() - started
      lineTimes.push({ at, line })
      options.onLine?.(line, at)
    }
  })
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
  const code = await new Promise<number | null>(done => child.on('close', done))
  clearTimeout(timer)
  return {
    code,
    stdout,
    stderr,
    outputs: parseOutputs(await readFile(outputFile, 'utf8')),
    summary: await readFile(summaryFile, 'utf8'),
    lineTimes,
    durationMs: Date.now() - started
  }
}

/** Reads the `name<<delimiter` blocks @actions/core writes to GITHUB_OUTPUT. */
export function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([^=<]+)<<(.+)$/.exec(lines[i])
    if (heredoc) {
      const end = lines.indexOf(heredoc[2], i + 1)
      outputs[heredoc[1]] = lines.slice(i + 1, end).join('\n')
      i = end
    } else if (lines[i].includes('=')) {
      const at = lines[i].indexOf('=')
      outputs[lines[i].slice(0, at)] = lines[i].slice(at + 1)
    }
  }
  return outputs
}
