import { readFileSync } from 'node:fs'
import { existsSync, readdirSync } from 'node:fs'
import { ACTION_NAMES, actionReadme, updateReadme, withoutPadding } from '../../scripts/docs.js'

describe('README', () => {
  const readme = readFileSync('README.md', 'utf8')

  it('has a reference for every action, beside its action.yml, linked from the README', () => {
    const actions = readdirSync('actions').filter(name => existsSync(`actions/${name}/action.yml`))
    expect([...ACTION_NAMES].sort()).toEqual(actions.sort())
    for (const name of ACTION_NAMES) expect(readme).toContain(`](${actionReadme(name)})`)
  })

  it.each(ACTION_NAMES)(
    'documents every input and output of %s exactly as its action.yml declares them (npm run docs)',
    name => {
      const reference = readFileSync(actionReadme(name), 'utf8')
      expect(reference).toContain(`<!-- action:${name} -->`)
      expect(withoutPadding(updateReadme(reference))).toBe(withoutPadding(reference))
    }
  )

  it('notices an input missing from an action reference', () => {
    const reference = readFileSync(actionReadme('ecs-deploy'), 'utf8')
    const stale = reference.replace(/^\| `poll-interval-seconds`.*\n/m, '')
    expect(stale).not.toBe(reference)
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
