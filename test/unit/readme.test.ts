import { readFileSync } from 'node:fs'
import { updateReadme, withoutPadding } from '../../scripts/docs.js'

describe('README', () => {
  const readme = readFileSync('README.md', 'utf8')

  it('documents every input and output exactly as the action.yml files declare them (npm run docs)', () => {
    expect(withoutPadding(updateReadme(readme))).toBe(withoutPadding(readme))
  })

  it('notices an input missing from the README', () => {
    const stale = readme.replace(/^\| `poll-interval-seconds`.*\n/m, '')
    expect(stale).not.toBe(readme)
    expect(withoutPadding(updateReadme(stale))).not.toBe(withoutPadding(stale))
  })

  it('starts with the full local rehearsal and the test command that .ci/run runs', () => {
    const commands = /```sh\n([\s\S]*?)```/.exec(readme)![1]
    expect(commands.split('\n')[0]).toMatch(/^npm ci && npm run demo /)
    expect(commands).toContain('bash tools/docker-up.sh && npm test')
    const ci = readFileSync('.ci/run', 'utf8')
    expect(ci).toMatch(/^bash tools\/docker-up\.sh$/m)
    expect(ci).toMatch(/^npm test$/m)
  })
})
