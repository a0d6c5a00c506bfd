/**
 * Keeps each action's README (actions/NAME/README.md) input and output tables equal to its
 * action.yml, between `<!-- action:NAME -->` and `<!-- /action:NAME -->` markers. `npm run docs`
 * rewrites them; a unit test fails when they differ.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { parse } from 'yaml'

interface ActionFile {
  inputs: Record<string, { description: string; required?: boolean; default?: string }>
  outputs: Record<string, { description: string }>
}

const cell = (text: string) => text.replace(/\s+/g, ' ').trim().replace(/\|/g, '\\|')

export function renderAction(name: string): string {
  const action = parse(readFileSync(`actions/${name}/action.yml`, 'utf8')) as ActionFile
  const inputs = Object.entries(action.inputs).map(([input, spec]) => {
    const fallback = spec.required ? 'required' : spec.default ? `\`${spec.default}\`` : ''
    return `| \`${input}\` | ${fallback} | ${cell(spec.description)} |`
  })
  const outputs = Object.entries(action.outputs).map(
    ([output, spec]) => `| \`${output}\` | ${cell(spec.description)} |`
  )
  return [
    '| input | default | meaning |',
    '| --- | --- | --- |',
    ...inputs,
    '',
    '| output | meaning |',
    '| --- | --- |',
    ...outputs
  ].join('\n')
}

export function updateReadme(readme: string): string {
  return readme.replace(
    /(<!-- action:([a-z-]+) -->\n)[\s\S]*?(<!-- \/action:\2 -->)/g,
    (_match, open: string, name: string, close: string) =>
      `${open}\n${renderAction(name)}\n\n${close}`
  )
}

/** Prettier pads table columns; compare tables without the padding. */
export function withoutPadding(markdown: string): string {
  return markdown.replace(/ {2,}/g, ' ').replace(/-{3,}/g, '---')
}

/** The actions, one folder each under actions/ (shared code has no action.yml). */
export const ACTION_NAMES = ['test', 'build-push', 'ecs-deploy', 'smoke-health'] as const

export const actionReadme = (name: string) => `actions/${name}/README.md`

if (process.argv[1]?.endsWith('docs.ts')) {
  for (const name of ACTION_NAMES) {
    const path = actionReadme(name)
    writeFileSync(path, updateReadme(readFileSync(path, 'utf8')))
  }
}
