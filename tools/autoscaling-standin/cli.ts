/**
 * Runs the Application Auto Scaling stand-in for local rehearsals, next to the ECS stand-in
 * (tools/ecs-standin/cli.ts) whose services it scales. Usage:
 *   npx tsx tools/autoscaling-standin/cli.ts [--port 4578] [--ecs-endpoint http://127.0.0.1:4577]
 *     [--region eu-west-1]
 * Without --ecs-endpoint every resource ID counts as an existing service and no count moves.
 */
import { parseArgs } from 'node:util'
import { ecsServices } from './ecs-resources.js'
import { ENDPOINT_VARIABLE, startAutoScalingStandin } from './server.js'

const DEFAULT_PORT = 4578

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'ecs-endpoint': { type: 'string' },
    region: { type: 'string' }
  }
})

const port = Number(values.port ?? DEFAULT_PORT)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  throw new Error(`--port must be a port number, got '${values.port}'.`)
}
const ecsEndpoint = values['ecs-endpoint']
const standin = await startAutoScalingStandin({
  port,
  region: values.region,
  resources: ecsEndpoint ? ecsServices(ecsEndpoint) : undefined
})

console.log(
  `Application Auto Scaling stand-in listening on ${standin.endpoint}` +
    (ecsEndpoint ? ` (scaling the services of the ECS stand-in at ${ecsEndpoint})` : '')
)
console.log(`export ${ENDPOINT_VARIABLE}=${standin.endpoint}`)

let reported = 0
const report = setInterval(() => {
  for (const call of standin.calls.slice(reported))
    console.log(`${call.operation} → ${call.status}${call.error ? ` ${call.error}` : ''}`)
  reported = standin.calls.length
}, 500)

const stop = () => {
  clearInterval(report)
  standin.close().then(
    () => process.exit(0),
    () => process.exit(1)
  )
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
