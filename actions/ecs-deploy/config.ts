import { InputError } from '../shared/errors.js'
import { Inputs } from '../shared/inputs.js'
import { readGateInputs, type GateInputs } from './gates.js'
import { readWaitUntil, type WaitUntil } from './lifecycle.js'
import { readLogLines } from './logs.js'
import { readContinueInputs, type ContinueInputs } from './pause.js'
import { readMigrationConfig, type MigrationConfig } from './migration.js'
import { readDryRun } from './plan.js'
import { readProvenanceInputs, type ProvenanceInputs } from './provenance.js'
import { readAllowRolledBack } from './rollback-mark.js'
import { readScalingInputs, type ScalingDeclaration } from './scaling.js'

/** The ecs-deploy inputs, parsed and checked once, before any AWS call. */
export interface DeployConfig {
  cluster: string
  service: string
  /** Empty only when rolling back. */
  image: string
  containerName: string
  taskDefinitionPath: string
  environment: Array<[string, string]>
  desiredCount?: number
  forceNewDeployment: boolean
  waitForStability: boolean
  waitMs: number
  pollMs: number
  rollbackOnFailure: boolean
  rollbackTo: string
  region: string
  /** The commit-order and image-scan gates (gates.ts). */
  gates: GateInputs
  /** auto-scaling-*: undefined leaves scaling alone (scaling.ts). */
  scaling?: ScalingDeclaration
  /** pre-deploy-command: a one-off task of the new revision before the rollout (migration.ts). */
  migration?: MigrationConfig
  /** log-lines: a crashed container's last lines in the failure (logs.ts); 0 is off. */
  logLines: number
  /** wait-until: for blue/green, linear and canary services (lifecycle.ts). */
  waitUntil: WaitUntil
  /** dry-run: plan and change nothing (plan.ts). */
  dryRun: boolean
  /** provenance-signer-workflow: the build provenance an image must carry (provenance.ts). */
  provenance: ProvenanceInputs
  /** continue-deployment and continue-action: answer a PAUSE hook instead (hooks.ts). */
  continueDeployment?: ContinueInputs
  /** allow-rolled-back: deploy a commit a rollback marked as rolled back from (rollback-mark.ts). */
  allowRolledBack: boolean
}

export function readDeployConfig(inputs: Inputs): DeployConfig {
  const cluster = inputs.required(
    'cluster',
    'give the ECS cluster name or ARN, e.g. payments-staging'
  )
  const service = inputs.required('service', 'give the ECS service name or ARN, e.g. noblepay-api')
  const rollbackTo = inputs.string('rollback-to')
  const image = inputs.string('image')
  const continueDeployment = readContinueInputs(inputs, { image, rollbackTo })
  if (rollbackTo === '' && image === '' && !continueDeployment) {
    throw new InputError(
      'image',
      '',
      "give the image to deploy (e.g. the build's image-digest output), or set rollback-to (or continue-deployment)"
    )
  }
  if (rollbackTo !== '' && image !== '') {
    throw new InputError(
      'rollback-to',
      rollbackTo,
      'a rollback deploys an existing revision; leave image empty when rollback-to is set'
    )
  }
  if (rollbackTo !== '' && !isRevisionReference(rollbackTo)) {
    throw new InputError(
      'rollback-to',
      rollbackTo,
      'use previous, family:revision (e.g. noblepay-api:41) or a task definition ARN'
    )
  }
  if (image !== '' && /\s/.test(image)) {
    throw new InputError(
      'image',
      image,
      'an image reference has no spaces, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/noblepay-api@sha256:…'
    )
  }
  const environment = inputs.pairs('environment-variables')
  for (const [name] of environment) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new InputError(
        'environment-variables',
        `${name}=…`,
        'variable names are letters, digits and underscores, not starting with a digit'
      )
    }
  }
  const desiredCount = inputs.optionalNumber('desired-count', { integer: true })
  return {
    cluster,
    service,
    image,
    containerName: inputs.string('container-name'),
    taskDefinitionPath: inputs.string('task-definition'),
    environment,
    desiredCount,
    forceNewDeployment: inputs.boolean('force-new-deployment', true),
    waitForStability: inputs.boolean('wait-for-service-stability', true),
    waitMs: inputs.number('wait-for-minutes', 15, { min: 0.01 }) * 60_000,
    pollMs: inputs.number('poll-interval-seconds', 10, { min: 0.05 }) * 1000,
    rollbackOnFailure: inputs.boolean('rollback-on-failure', true),
    rollbackTo,
    region: inputs.string('aws-region'),
    gates: readGateInputs(inputs),
    scaling: readScalingInputs(inputs, desiredCount),
    migration: rollbackTo ? undefined : readMigrationConfig(inputs),
    logLines: readLogLines(inputs),
    waitUntil: readWaitUntil(inputs),
    dryRun: readDryRun(inputs),
    provenance: readProvenanceInputs(inputs),
    continueDeployment,
    allowRolledBack: readAllowRolledBack(inputs)
  }
}

function isRevisionReference(value: string): boolean {
  return (
    value === 'previous' ||
    /^[A-Za-z0-9_-]{1,255}:\d+$/.test(value) ||
    /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition\/[A-Za-z0-9_-]+:\d+$/.test(value)
  )
}
