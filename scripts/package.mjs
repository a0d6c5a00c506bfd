// Bundles every action into dist/<name>/index.js with ncc. With --check, bundles into a
// scratch folder and fails when the committed dist/ differs from what the source builds.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, existsSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const check = process.argv.includes('--check')
const actions = readdirSync('actions').filter(name =>
  existsSync(join('actions', name, 'action.yml'))
)
const out = check ? mkdtempSync(join(tmpdir(), 'dist-')) : 'dist'
const stale = []
for (const name of actions) {
  const target = join(out, name)
  rmSync(target, { recursive: true, force: true })
  execFileSync(
    'npx',
    [
      'ncc',
      'build',
      join('actions', name, 'index.ts'),
      '-o',
      target,
      '-m',
      '--no-source-map-register',
      '--license',
      'licenses.txt',
      '-q'
    ],
    { stdio: 'inherit' }
  )
  if (check) {
    for (const file of readdirSync(target)) {
      const committed = join('dist', name, file)
      if (
        !existsSync(committed) ||
        !readFileSync(committed).equals(readFileSync(join(target, file)))
      ) {
        stale.push(committed)
      }
    }
  }
}
if (check) {
  rmSync(out, { recursive: true, force: true })
  if (stale.length > 0) {
    console.error(
      `dist/ is not what the source builds; run \`npm run package\` and commit:\n  ${stale.join('\n  ')}`
    )
    process.exit(1)
  }
  console.log(`dist/ is current for ${actions.join(', ')}`)
}
