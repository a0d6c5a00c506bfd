import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  judgeTrustPolicy,
  parseSubject,
  trustPoliciesIn,
  type TrustPolicy
} from '../support/trust-policies.js'
import { loadWorkflow, repositoryRoot } from '../support/workflows.js'

const guide = readFileSync(join(repositoryRoot, 'examples/service-repo/README.md'), 'utf8')
const environments = loadWorkflow('examples/service-repo/.github/workflows/rollback.yml').doc.toJS()
  .on.workflow_dispatch.inputs.environment.options as string[]

/** The verdict on every trust policy of a text of the guide. */
const verdicts = (text: string) => trustPoliciesIn(text).map(judgeTrustPolicy)
const roles = (text: string) =>
  verdicts(text)
    .map(v => (v.environment ? `${v.kind}:${v.environment}` : String(v.kind)))
    .sort()

describe('the OIDC subject of the service repository', () => {
  it('is customised to carry the repository, the context and the workflow of each job', () => {
    const call =
      /gh api --method PUT repos\/noblepay\/noblepay-api\/actions\/oidc\/customization\/sub --input - <<'JSON'\n(.*)\nJSON/.exec(
        guide
      )
    expect(JSON.parse(call?.[1] ?? '{}')).toEqual({
      use_default: false,
      include_claim_keys: ['repo', 'context', 'job_workflow_ref']
    })
  })

  it('reads a sub of that format, and nothing else', () => {
    expect(
      parseSubject(
        'repo:noblepay/noblepay-api:environment:production:job_workflow_ref:noblepay/deploy/.github/workflows/deploy.yml@refs/tags/v1'
      )
    ).toEqual({
      repository: 'noblepay/noblepay-api',
      context: 'environment:production',
      workflowRepository: 'noblepay/deploy',
      workflowPath: '.github/workflows/deploy.yml',
      ref: 'refs/tags/v1'
    })
    expect(parseSubject('repo:noblepay/noblepay-api:environment:production')).toBeUndefined()
    expect(parseSubject('repo:noblepay/noblepay-api:ref:refs/heads/main')).toBeUndefined()
  })
})

describe('every trust policy of the setup guide', () => {
  it('binds each role to a workflow file of this project, each deploy role to its environment', () => {
    for (const verdict of verdicts(guide)) expect(verdict.problems).toEqual([])
    expect(roles(guide)).toEqual(['build', 'plan', ...environments.map(e => `deploy:${e}`)].sort())
  })

  /** The guide with one string replaced, which must be there. */
  const edited = (from: string, to: string) => {
    expect(guide).toContain(from)
    return guide.split(from).join(to)
  }
  const problemsOf = (text: string) => verdicts(text).flatMap(v => v.problems)

  it('fails a role that trusts the repository, not the workflow (the default sub)', () => {
    const text = edited(
      'repo:noblepay/noblepay-api:ref:refs/heads/main:job_workflow_ref:noblepay/deploy/.github/workflows/build.yml@refs/tags/v1',
      'repo:noblepay/noblepay-api:ref:refs/heads/main'
    )
    expect(problemsOf(text)).toEqual([
      'repo:noblepay/noblepay-api:ref:refs/heads/main: not repo:…:<context>:job_workflow_ref:<workflow>@<ref>'
    ])
  })

  it('fails a deploy role bound to a workflow but not to an environment', () => {
    const text = edited(
      'repo:noblepay/noblepay-api:environment:production:job_workflow_ref:noblepay/deploy/.github/workflows/deploy.yml',
      'repo:noblepay/noblepay-api:ref:refs/heads/main:job_workflow_ref:noblepay/deploy/.github/workflows/deploy.yml'
    )
    expect(problemsOf(text)).toEqual([
      "repo:noblepay/noblepay-api:ref:refs/heads/main:job_workflow_ref:noblepay/deploy/.github/workflows/deploy.yml@refs/tags/v1: deploy.yml is bound to 'ref:refs/heads/main', not to an environment"
    ])
  })

  it("fails a role bound to the service's own workflow, or a file this project does not have", () => {
    const own = edited(
      'job_workflow_ref:noblepay/deploy/.github/workflows/build.yml',
      'job_workflow_ref:noblepay/noblepay-api/.github/workflows/lint.yml'
    )
    expect(problemsOf(own)).toEqual([
      expect.stringMatching(
        /noblepay\/noblepay-api\/\.github\/workflows\/lint\.yml is not a workflow of this project$/
      )
    ])
    const missing = edited(
      'noblepay/deploy/.github/workflows/rollback.yml@refs/tags/v1"',
      'noblepay/deploy/.github/workflows/release.yml@refs/tags/v1"'
    )
    expect(problemsOf(missing)).toEqual(
      environments.map(() =>
        expect.stringMatching(/release\.yml is not a workflow of this project$/)
      )
    )
  })

  it('fails one role trusted by two environments, or by the build and a deployment', () => {
    const shared = edited(
      'environment:staging:job_workflow_ref:noblepay/deploy/.github/workflows/rollback.yml',
      'environment:production:job_workflow_ref:noblepay/deploy/.github/workflows/rollback.yml'
    )
    expect(problemsOf(shared)).toEqual([
      'one role trusts several: deploy:production, deploy:staging'
    ])
  })

  it('fails a wildcard anywhere but in the ref, and any wildcard under StringEquals', () => {
    const environment = edited(
      '"repo:noblepay/noblepay-api:pull_request:job_workflow_ref',
      '"repo:noblepay/noblepay-api:*:job_workflow_ref'
    )
    expect(problemsOf(environment)).toEqual([
      expect.stringMatching(/: a wildcard outside the ref$/)
    ])
    const equals = edited('"StringLike": {', '"StringEquals": {')
    // The plan policy then has two StringEquals keys; JSON keeps the last: the wildcard sub.
    expect(problemsOf(equals)).toEqual([
      'aud must be StringEquals sts.amazonaws.com',
      expect.stringMatching(/plan\.yml@refs\/pull\/\*\/merge: a wildcard under StringEquals/)
    ])
  })

  it('fails a policy for another provider or audience', () => {
    const policy = (audience: string): TrustPolicy => ({
      Statement: [
        {
          Effect: 'Allow',
          Principal: {
            Federated: 'arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com'
          },
          Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: {
            StringEquals: {
              'token.actions.githubusercontent.com:aud': audience,
              'token.actions.githubusercontent.com:sub':
                'repo:noblepay/noblepay-api:ref:refs/heads/main:job_workflow_ref:noblepay/deploy/.github/workflows/build.yml@refs/tags/v1'
            }
          }
        }
      ]
    })
    expect(judgeTrustPolicy(policy('sts.amazonaws.com'))).toEqual({
      kind: 'build',
      environment: undefined,
      problems: []
    })
    expect(judgeTrustPolicy(policy('https://github.com/noblepay')).problems).toEqual([
      'aud must be StringEquals sts.amazonaws.com'
    ])
  })
})
