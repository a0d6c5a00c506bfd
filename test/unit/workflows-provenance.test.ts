import { isMap, type YAMLMap, type YAMLSeq } from 'yaml'
import {
  checkDeployProvenance,
  checkPipelineProvenance,
  signerWorkflow
} from '../support/provenance-wiring.js'
import { loadWorkflow, mutated, runScript, runStep } from '../support/workflows.js'

const deploy = () => loadWorkflow('.github/workflows/deploy.yml')
const pipeline = () => loadWorkflow('.github/workflows/pipeline.yml')

/** The deploy job's ecs-deploy rollout step (id deploy). */
const rollout = (doc: ReturnType<typeof deploy>['doc']): YAMLMap => {
  const steps = doc.getIn(['jobs', 'deploy', 'steps']) as YAMLSeq
  const found = steps.items.find(item => (item as YAMLMap).get('id') === 'deploy')
  if (!isMap(found)) throw new Error('no rollout step')
  return found
}

describe('require-provenance in deploy.yml', () => {
  it('is on by default and pins ecs-deploy to this project’s build.yml, with a token that reads attestations', () => {
    expect(checkDeployProvenance(deploy())).toEqual([])
    expect(signerWorkflow).toBe('noblepay/deploy/.github/workflows/build.yml')
  })

  it('fails a default of false, another signer, no token, or a job that cannot read attestations', () => {
    const off = mutated(deploy(), doc =>
      doc.setIn(['on', 'workflow_call', 'inputs', 'require-provenance', 'default'], false)
    )
    expect(checkDeployProvenance(off)).toEqual([
      expect.stringMatching(/require-provenance must be a boolean input defaulting to true/)
    ])
    const callerSigned = mutated(deploy(), doc =>
      rollout(doc).setIn(
        ['with', 'provenance-signer-workflow'],
        "${{ inputs.require-provenance && format('{0}/.github/workflows/build.yml', github.repository) || '' }}"
      )
    )
    expect(checkDeployProvenance(callerSigned)).toEqual([
      expect.stringMatching(/provenance-signer-workflow must be/)
    ])
    const unwired = mutated(deploy(), doc =>
      rollout(doc).deleteIn(['with', 'provenance-signer-workflow'])
    )
    expect(checkDeployProvenance(unwired)).toHaveLength(1)
    const tokenless = mutated(deploy(), doc => rollout(doc).deleteIn(['with', 'github-token']))
    expect(checkDeployProvenance(tokenless)).toEqual([
      expect.stringMatching(/the provenance check needs github-token/)
    ])
    const blind = mutated(deploy(), doc =>
      doc.deleteIn(['jobs', 'deploy', 'permissions', 'attestations'])
    )
    expect(checkDeployProvenance(blind)).toEqual([expect.stringMatching(/attestations: read/)])
  })
})

describe('require-provenance and attest in pipeline.yml', () => {
  it('passes require-provenance to every deployment and checks the pair before the build', () => {
    expect(checkPipelineProvenance(pipeline())).toEqual([])
  })

  it('fails a deployment left on its own default, and a build that does not wait for the check', () => {
    const production = mutated(pipeline(), doc =>
      doc.deleteIn(['jobs', 'production', 'with', 'require-provenance'])
    )
    expect(checkPipelineProvenance(production)).toEqual([
      expect.stringMatching(/jobs.production: must pass require-provenance/)
    ])
    const early = mutated(pipeline(), doc => doc.deleteIn(['jobs', 'build', 'needs']))
    expect(checkPipelineProvenance(early)).toEqual([
      expect.stringMatching(/jobs.build: must wait for provenance-settings/)
    ])
  })

  describe("the check's script, run with bash", () => {
    const { run, env } = runStep(pipeline(), 'provenance-settings', 'check')
    const check = (attest: string, requireProvenance: string) =>
      runScript(
        run,
        Object.fromEntries(
          Object.entries(env).map(([name, expression]) => [
            name,
            { 'inputs.attest': attest, 'inputs.require-provenance': requireProvenance }[
              String(expression).replace(/^\$\{\{\s*|\s*\}\}$/g, '')
            ] ?? ''
          ])
        )
      )

    it.each([
      ['true', 'true'],
      ['false', 'false']
    ])('passes attest: %s with require-provenance: %s', (attest, requireProvenance) => {
      expect(check(attest, requireProvenance).status).toBe(0)
    })

    it('fails require-provenance off while the build attests, saying what to set', () => {
      const result = check('true', 'false')
      expect(result.status).toBe(1)
      expect(result.log).toContain(
        '::error::require-provenance is false but attest is true: the build records provenance that no deployment checks. Set it back to true, or set attest: false too on a plan without artifact attestations.'
      )
    })

    it('fails attest off while deployments require provenance, which would refuse every one', () => {
      const result = check('false', 'true')
      expect(result.status).toBe(1)
      expect(result.log).toContain(
        '::error::attest is false but require-provenance is true: no image would carry build provenance, so every deployment would be refused.'
      )
    })
  })
})
