/**
 * build.yml's provenance: recorded for the digest the build job outputs, whether this run
 * pushed it or found it under the tag identical to its build, and not again for a digest that
 * already carries this workflow's attestation; `attest: false` for plans without artifact
 * attestations, passed down from pipeline.yml. Each rule fails a deliberately broken copy.
 */
import type { Document } from 'yaml'
import { loadWorkflow, mutated, type Workflow } from '../support/workflows.js'

const BUILD = '.github/workflows/build.yml'
const PIPELINE = '.github/workflows/pipeline.yml'

type Mapping = Record<string, unknown>
const mapping = (value: unknown): Mapping =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Mapping) : {}
const text = (value: unknown): string => (typeof value === 'string' ? value : '')

function buildSteps(workflow: Workflow): Mapping[] {
  const jobs = mapping(mapping(workflow.doc.toJS()).jobs)
  const steps = mapping(jobs.build).steps
  return Array.isArray(steps) ? steps.map(mapping) : []
}

function attestInput(workflow: Workflow): string[] {
  const inputs = mapping(mapping(mapping(mapping(workflow.doc.toJS()).on).workflow_call).inputs)
  const attest = mapping(inputs.attest)
  return attest.type === 'boolean' && attest.default === true
    ? []
    : [`${workflow.path}: declares no input attest (type: boolean, default: true)`]
}

/** The problems of build.yml's provenance and of pipeline.yml's attest pass-through. */
function checkAttestation(build: Workflow, pipeline: Workflow): string[] {
  const problems = [...attestInput(build), ...attestInput(pipeline)]
  const steps = buildSteps(build)
  const push = steps.find(step => /actions\/build-push(@|$)/.test(text(step.uses)))
  const provenance = steps.find(step => text(step.uses).includes('attest-build-provenance'))
  const condition = text(provenance?.if).replace(/\$\{\{|\}\}/g, '')
  if (!/\binputs\.attest\b/.test(condition))
    problems.push(`${BUILD} jobs.build: the provenance step must run only when inputs.attest`)
  if (
    !/steps\.push\.outputs\.attested\s*!=\s*'true'/.test(condition) ||
    /outputs\.built/.test(condition)
  )
    problems.push(
      `${BUILD} jobs.build: the provenance step must run for every digest the job outputs unless already attested (steps.push.outputs.attested != 'true'), not only after a push`
    )
  const withs = mapping(push?.with)
  if (!text(withs['signer-workflow']).includes(`'noblepay/deploy/${BUILD}'`))
    problems.push(
      `${BUILD} jobs.build: build-push must accept an image under the tag only with this workflow's attestation (signer-workflow: noblepay/deploy/${BUILD})`
    )
  if (!/inputs\.attest/.test(text(withs['signer-workflow'])) || !text(withs['github-token']))
    problems.push(
      `${BUILD} jobs.build: signer-workflow follows inputs.attest, and github-token is given`
    )
  const jobs = mapping(mapping(pipeline.doc.toJS()).jobs)
  const passed = text(mapping(mapping(jobs.build).with).attest).replace(/\s/g, '')
  if (passed !== '${{inputs.attest}}')
    problems.push(`${PIPELINE} jobs.build: must pass attest: \${{ inputs.attest }} to build.yml`)
  return problems
}

const build = loadWorkflow(BUILD)
const pipeline = loadWorkflow(PIPELINE)

/** The path of the provenance step in build.yml's build job. */
const provenanceStep = (doc: Document): [string, string, string, number] => [
  'jobs',
  'build',
  'steps',
  buildSteps({ path: BUILD, doc }).findIndex(step =>
    text(step.uses).includes('attest-build-provenance')
  )
]

describe('build.yml provenance and the attest input', () => {
  it('holds for the workflows as written', () => {
    expect(checkAttestation(build, pipeline)).toEqual([])
  })

  it('fails provenance recorded only after a push (a re-run would deploy an image nobody attested)', () => {
    const onlyBuilt = mutated(build, doc =>
      doc.setIn([...provenanceStep(doc), 'if'], "steps.push.outputs.built == 'true'")
    )
    expect(checkAttestation(onlyBuilt, pipeline)).toEqual([
      expect.stringMatching(/must run only when inputs.attest/),
      expect.stringMatching(/unless already attested/)
    ])
  })

  it('fails an attest input that is missing or not passed down, and a signer workflow of another file', () => {
    const noInput = mutated(build, doc => doc.deleteIn(['on', 'workflow_call', 'inputs', 'attest']))
    expect(checkAttestation(noInput, pipeline)).toEqual([
      `${BUILD}: declares no input attest (type: boolean, default: true)`
    ])
    const notPassed = mutated(pipeline, doc => doc.deleteIn(['jobs', 'build', 'with', 'attest']))
    expect(checkAttestation(build, notPassed)).toEqual([
      expect.stringMatching(/must pass attest: \$\{\{ inputs.attest \}\} to build.yml/)
    ])
    const otherSigner = mutated(build, doc => {
      const steps = buildSteps({ path: BUILD, doc })
      const index = steps.findIndex(step => /actions\/build-push/.test(text(step.uses)))
      doc.setIn(
        ['jobs', 'build', 'steps', index, 'with', 'signer-workflow'],
        "${{ inputs.attest && 'noblepay/api/.github/workflows/lint.yml' || '' }}"
      )
    })
    expect(checkAttestation(otherSigner, pipeline)).toEqual([
      expect.stringMatching(/only with this workflow's attestation/)
    ])
  })
})
