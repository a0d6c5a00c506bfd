import { exitWhenDone, runAction } from '../shared/runner.js'
import { run } from './main.js'

await runAction(runner => run(runner))
await exitWhenDone()
