/**
 * Measures what matters for speed, outside the test suite:
 *   - ecs-deploy: time from ECS marking a rollout FAILED to our first ::error:: line (also
 *     while ListTasks is slow), wall time under a burst of throttling, ECS API calls per
 *     minute while waiting (against the local ECS stand-in), and the time scaling and the
 *     crash-log fetch add (against the local stand-ins);
 *   - build-push: cold, warm, cache-from and skip-if-exists times (real Docker and registry);
 *   - end to end on the Docker-backed emulator: push to healthy, crashing task to our error
 *     line, our overhead over the emulator's own rollout time, and a failed smoke gate to the
 *     previous version serving again, blue/green against rolling;
 *   - a rollout behind a load balancer with AWS's default target group settings (scaled), timed
 *     to done three ways: a plain services-stable wait, ecs-deploy, ecs-deploy wait-until
 *     serving; the phase report's longest phase and its read calls;
 *   - every action: bundle size and cold start (process start to exit on an input error).
 * Usage: npm run bench [-- --json]
 */
import { readdirSync, statSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { actionNode } from '../test/support/bundle.js'
import { benchBuildPush } from './bench/build-push.js'
import { benchEndToEnd } from './bench/e2e.js'
import { benchLogFetch } from './bench/logs.js'
import { benchRollouts } from './bench/rollout.js'
import { benchScaling } from './bench/scaling.js'
import { benchServing } from './bench/serving.js'

interface Row {
  metric: string
  value: string
  note?: string
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

function bundles(): Row[] {
  const rows: Row[] = []
  for (const name of readdirSync('dist').sort()) {
    const file = join('dist', name, 'index.js')
    const size = statSync(file).size
    const times: number[] = []
    for (let i = 0; i < 5; i++) {
      const started = process.hrtime.bigint()
      // Loads, parses its inputs and fails on the first bad one (a required input, or the
      // test action's working directory), before doing any work.
      spawnSync(actionNode, [file], {
        env: {
          PATH: process.env.PATH,
          NODE_NO_WARNINGS: '1',
          'INPUT_WORKING-DIRECTORY': '/nonexistent'
        },
        stdio: 'ignore'
      })
      times.push(Number(process.hrtime.bigint() - started) / 1e6)
    }
    rows.push({ metric: `${name}: bundle size`, value: `${(size / 1024 / 1024).toFixed(2)} MB` })
    rows.push({
      metric: `${name}: cold start`,
      value: `${median(times).toFixed(0)} ms`,
      note: 'median of 5, to the input error'
    })
  }
  return rows
}

const rows = [
  ...(await benchRollouts()),
  ...(await benchScaling()),
  ...(await benchServing()),
  ...(await benchLogFetch()),
  ...(await benchBuildPush()),
  ...(await benchEndToEnd()),
  ...bundles()
]
if (process.argv.includes('--json')) {
  console.log(JSON.stringify(rows, null, 2))
} else {
  const width = Math.max(...rows.map(r => r.metric.length))
  console.log(`Node ${spawnSync(actionNode, ['--version']).stdout.toString().trim()}`)
  for (const row of rows)
    console.log(`${row.metric.padEnd(width)}  ${row.value.padStart(10)}  ${row.note ?? ''}`)
}
