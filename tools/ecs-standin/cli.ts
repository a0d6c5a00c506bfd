/**
 * Runs the ECS stand-in for local rehearsals: one cluster `local` with one service `api`
 * on image local/api:v1. Usage:
 *   npx tsx tools/ecs-standin/cli.ts [--port 4577] [--tick-ms 200] [--desired-count 2]
 *     [--start-delay-ms 3000] [--crash-image REGEX] [--no-rollback]
 */
import { parseArgs } from 'node:util'
import { startEcsStandin } from './server.js'

const DEFAULT_PORT = 4577

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < 0) {
    throw new Error(`--${name} must be a non-negative integer, got '${value}'.`)
  }
  return parsed
}

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'tick-ms': { type: 'string' },
    'desired-count': { type: 'string' },
    'start-delay-ms': { type: 'string' },
    'crash-image': { type: 'string' },
    'no-rollback': { type: 'boolean', default: false },
    region: { type: 'string' }
  }
})

const tickMs = Math.max(1, integer('tick-ms', values['tick-ms'], 200))
const startDelayMs = integer('start-delay-ms', values['start-delay-ms'], 3000)
const standin = await startEcsStandin({
  port: integer('port', values.port, DEFAULT_PORT),
  tickMs,
  region: values.region,
  defaultBehaviour: { outcome: 'healthy', startDelayMs },
  stopDelayMs: Math.max(tickMs, 1000)
})
if (values['crash-image']) {
  standin.setImageBehaviour(new RegExp(values['crash-image']), {
    outcome: 'crash',
    afterMs: startDelayMs,
    exitCode: 1,
    reason: 'Error: the service exited during start-up'
  })
}
standin.addCluster('local')
const taskDefinition = standin.registerTaskDefinition({
  family: 'api',
  networkMode: 'awsvpc',
  requiresCompatibilities: ['FARGATE'],
  cpu: '256',
  memory: '512',
  executionRoleArn: 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole',
  containerDefinitions: [
    {
      name: 'api',
      image: 'local/api:v1',
      essential: true,
      portMappings: [{ containerPort: 8080, protocol: 'tcp' }]
    }
  ]
})
standin.addService({
  cluster: 'local',
  name: 'api',
  taskDefinition,
  desiredCount: integer('desired-count', values['desired-count'], 2),
  circuitBreaker: { enable: true, rollback: !values['no-rollback'] }
})

console.log(
  `ECS stand-in listening on ${standin.endpoint} (cluster local, service api, ${taskDefinition})`
)
console.log(`export AWS_ENDPOINT_URL_ECS=${standin.endpoint}`)
console.log(`export AWS_REGION=${standin.region} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test`)

const stop = () => {
  standin.close().then(
    () => process.exit(0),
    () => process.exit(1)
  )
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
