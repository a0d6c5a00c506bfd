import type { RunCommand } from '../shared/exec.js'
import type { Clock } from '../shared/runner.js'

/**
 * The time an image's `created` label records. Two builds of one commit must make the same
 * image for build-push to recognise its own image under an existing tag, so the time comes
 * from the source, as reproducible builds do: SOURCE_DATE_EPOCH when the caller sets it,
 * else the commit's own time (from the checkout), else, with neither, the clock.
 */
export async function sourceDate(
  exec: RunCommand,
  env: NodeJS.ProcessEnv,
  directory: string,
  sha: string,
  clock: Clock
): Promise<{ created: string; sourceDateEpoch?: number }> {
  const fromSource = (seconds: number) => ({
    created: new Date(seconds * 1000).toISOString(),
    sourceDateEpoch: seconds
  })
  const epoch = env.SOURCE_DATE_EPOCH ?? ''
  if (/^\d+$/.test(epoch)) return fromSource(Number(epoch))
  if (/^[a-f0-9]{40}$/.test(sha)) {
    const commit = await exec('git', ['log', '-1', '--format=%ct', sha, '--'], {
      cwd: directory,
      silent: true
    })
    const seconds = commit.stdout.trim()
    if (commit.exitCode === 0 && /^\d+$/.test(seconds)) return fromSource(Number(seconds))
  }
  return { created: new Date(clock.now()).toISOString() }
}
