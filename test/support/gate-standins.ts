/**
 * What ecs-deploy's gates talk to, started together: the ECS stand-in, an ECR stand-in whose
 * images all have their scan set by the test (so the registry behind it is never asked), and a
 * local server playing GitHub's compare API.
 */
import { startEcrStandin, type EcrStandin } from '../../tools/ecr-standin/server.js'
import { startEcsStandin, type EcsStandin } from '../../tools/ecs-standin/server.js'
import { startCompareApi, type CompareApi } from './github-api.js'

export interface GateStandins {
  ecs: EcsStandin
  ecr: EcrStandin
  github: CompareApi
  close(): Promise<void>
}

export async function startGateStandins(): Promise<GateStandins> {
  const ecs = await startEcsStandin({ tickMs: 50 })
  const ecr = await startEcrStandin({
    registry: 'http://127.0.0.1:9',
    username: 'AWS',
    password: 'unused',
    repositories: ['api']
  })
  const github = await startCompareApi()
  return {
    ecs,
    ecr,
    github,
    close: async () => void (await Promise.all([ecs.close(), ecr.close(), github.close()]))
  }
}
