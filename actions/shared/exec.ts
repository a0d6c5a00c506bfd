import { exec } from '@actions/exec'

/**
 * External commands (docker, a service's install and test commands) run through
 * @actions/exec with an argument array, never a shell string. Injected as a function so
 * the code that decides what to run is tested without running anything.
 */
export interface CommandOptions {
  cwd?: string
  /** Added to the runner's environment (not a replacement for it). */
  env?: Record<string, string>
  /** The environment `env` is added to, instead of this process's own. */
  baseEnv?: Record<string, string>
  /** Written to the command's standard input; the only way a secret reaches a command. */
  input?: string
  /** Captured but not echoed to the log (the command line is not echoed either). */
  silent?: boolean
}

export interface CommandResult {
  exitCode: number
  stdout: string
  stderr: string
  /** stdout and stderr interleaved as they arrived, for excerpts of what the user saw. */
  output: string
  /** The executable is not on PATH; nothing ran. */
  notFound: boolean
}

export type RunCommand = (
  command: string,
  args: string[],
  options?: CommandOptions
) => Promise<CommandResult>

export const runCommand: RunCommand = async (command, args, options = {}) => {
  const chunks = { stdout: '', stderr: '', output: '' }
  const collect = (stream: 'stdout' | 'stderr') => {
    // One decoder per stream: a multi-byte character may be split across chunks.
    const decoder = new TextDecoder()
    return (data: Buffer) => {
      const text = decoder.decode(data, { stream: true })
      chunks[stream] += text
      chunks.output += text
    }
  }
  try {
    const exitCode = await exec(command, args, {
      cwd: options.cwd,
      env:
        options.env || options.baseEnv
          ? ({ ...(options.baseEnv ?? process.env), ...options.env } as Record<string, string>)
          : undefined,
      input: options.input === undefined ? undefined : Buffer.from(options.input),
      silent: options.silent ?? false,
      ignoreReturnCode: true,
      listeners: { stdout: collect('stdout'), stderr: collect('stderr') }
    })
    return { exitCode, ...chunks, notFound: false }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    if (message.startsWith('Unable to locate executable file')) {
      return { exitCode: 127, stdout: '', stderr: message, output: message, notFound: true }
    }
    throw error
  }
}

/** The last `count` non-empty lines of a command's output, for a failure message or summary. */
export function lastLines(text: string, count: number): string[] {
  return text
    .split(/\r?\n/)
    .map(line => line.trimEnd())
    .filter(line => line.trim() !== '')
    .slice(-count)
}
