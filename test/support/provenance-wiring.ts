/**
 * How the workflows wire the provenance gate: deploy.yml's require-provenance (on by default)
 * turns ecs-deploy's provenance-signer-workflow on, pinned to this project's build.yml, in a job
 * whose token may read attestations; pipeline.yml passes its own require-provenance to every
 * deployment and checks, before the build, that it is off only together with attest.
 */
import { ownRepository, type Workflow } from './workflows.js'

type Mapping = Record<string, unknown>
const mapping = (value: unknown): Mapping =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Mapping) : {}
const bare = (value: unknown) =>
  String(value ?? '')
    .replace(/^\$\{\{\s*|\s*\}\}$/g, '')
    .trim()

/** The workflow whose signature a deployment requires. */
export const signerWorkflow = `${ownRepository}/.github/workflows/build.yml`

export function checkDeployProvenance(workflow: Workflow): string[] {
  const problems: string[] = []
  const root = mapping(workflow.doc.toJS())
  const input = mapping(
    mapping(mapping(mapping(root.on).workflow_call).inputs)['require-provenance']
  )
  if (input.type !== 'boolean' || input.default !== true)
    problems.push(`${workflow.path}: require-provenance must be a boolean input defaulting to true`)
  const job = mapping(mapping(root.jobs).deploy)
  if (mapping(job.permissions).attestations !== 'read')
    problems.push(`${workflow.path} jobs.deploy: needs attestations: read (and nothing more)`)
  const steps = (Array.isArray(job.steps) ? job.steps : []).map(mapping)
  const rollouts = steps.filter(
    s => String(s.uses ?? '').includes('/actions/ecs-deploy') && mapping(s.with).image !== undefined
  )
  for (const rollout of rollouts) {
    const given = mapping(rollout.with)
    const expected = `inputs.require-provenance && '${signerWorkflow}' || ''`
    if (bare(given['provenance-signer-workflow']) !== expected)
      problems.push(
        `${workflow.path} step ${String(rollout.id)}: provenance-signer-workflow must be \${{ ${expected} }}`
      )
    if (bare(given['github-token']) !== 'github.token')
      problems.push(
        `${workflow.path} step ${String(rollout.id)}: the provenance check needs github-token`
      )
  }
  if (rollouts.length === 0) problems.push(`${workflow.path}: no ecs-deploy rollout step`)
  return problems
}

export function checkPipelineProvenance(workflow: Workflow): string[] {
  const problems: string[] = []
  const root = mapping(workflow.doc.toJS())
  const inputs = mapping(mapping(mapping(root.on).workflow_call).inputs)
  for (const name of ['attest', 'require-provenance']) {
    const input = mapping(inputs[name])
    if (input.type !== 'boolean' || input.default !== true)
      problems.push(`${workflow.path}: ${name} must be a boolean input defaulting to true`)
  }
  const jobs = mapping(root.jobs)
  for (const [id, value] of Object.entries(jobs)) {
    const job = mapping(value)
    const uses = String(job.uses ?? '')
    if (uses.endsWith('/deploy.yml')) {
      if (bare(mapping(job.with)['require-provenance']) !== 'inputs.require-provenance')
        problems.push(`${workflow.path} jobs.${id}: must pass require-provenance`)
      if (mapping(job.permissions).attestations !== 'read')
        problems.push(`${workflow.path} jobs.${id}: must grant attestations: read`)
    }
    if (uses.endsWith('/build.yml')) {
      const needs = [job.needs].flat()
      if (!needs.includes('provenance-settings'))
        problems.push(`${workflow.path} jobs.${id}: must wait for provenance-settings`)
    }
  }
  if (!jobs['provenance-settings'])
    problems.push(
      `${workflow.path}: no provenance-settings job checking attest with require-provenance`
    )
  return problems
}
