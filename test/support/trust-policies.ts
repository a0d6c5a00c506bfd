/**
 * The trust policies of the setup guide, read as IAM reads them, against the `sub` format a
 * repository gets with GitHub's OIDC subject customisation `include_claim_keys: ["repo",
 * "context", "job_workflow_ref"]` (GitHub: "OpenID Connect reference", customizing the subject
 * claims): `repo:<owner>/<repo>:<context>:job_workflow_ref:<owner>/<repo>/<path>@<ref>`, where the
 * context is `environment:<name>`, `pull_request`, or `ref:<git ref>`.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { ownRepository, repositoryRoot } from './workflows.js'

export interface Subject {
  repository: string
  context: string
  /** owner/repo of the workflow file. */
  workflowRepository: string
  /** .github/workflows/<file> */
  workflowPath: string
  ref: string
}

const SUB =
  /^repo:([^:/]+\/[^:/]+):(environment:[^:]+|pull_request|ref:refs\/(?:heads|tags)\/[^:]+):job_workflow_ref:([^/:]+\/[^/:]+)\/(\.github\/workflows\/[^@:]+)@([^@:]+)$/

export function parseSubject(sub: string): Subject | undefined {
  const match = SUB.exec(sub)
  if (!match) return undefined
  const [, repository = '', context = '', workflowRepository = '', workflowPath = '', ref = ''] =
    match
  return { repository, context, workflowRepository, workflowPath, ref }
}

export type RoleKind = 'build' | 'deploy' | 'plan'

export interface TrustPolicy {
  Statement: Array<{
    Effect?: string
    Principal?: { Federated?: string }
    Action?: string | string[]
    Condition?: Record<string, Record<string, string | string[]>>
  }>
}

/** What one trust policy lets in: the role it is for, and its environment for a deploy role. */
export interface TrustVerdict {
  kind?: RoleKind
  environment?: string
  problems: string[]
}

const SUB_KEY = 'token.actions.githubusercontent.com:sub'
const AUD_KEY = 'token.actions.githubusercontent.com:aud'

/** Where the workflow files of this project live: ours, and the service's copied examples. */
const ownWorkflow = (path: string) => existsSync(join(repositoryRoot, path))
const exampleWorkflow = (path: string) =>
  existsSync(join(repositoryRoot, 'examples/service-repo', path))

/**
 * The role a subject is for, or why it is bound to nothing of this project:
 * - build: this project's build.yml, from a branch (its only job with an OIDC token is `build`);
 * - deploy: this project's deploy.yml or rollback.yml, in an environment;
 * - plan: the service's own plan.yml (the example), on a pull request.
 */
function roleOf(subject: Subject): { kind: RoleKind; environment?: string } | string {
  const file = subject.workflowPath.replace('.github/workflows/', '')
  if (subject.workflowRepository === ownRepository) {
    if (!ownWorkflow(subject.workflowPath))
      return `${subject.workflowRepository}/${subject.workflowPath} is not a workflow of this project`
    if (file === 'build.yml') {
      return subject.context.startsWith('ref:refs/heads/')
        ? { kind: 'build' }
        : `build.yml is bound to '${subject.context}', not to the branch it builds`
    }
    if (file === 'deploy.yml' || file === 'rollback.yml') {
      const environment = /^environment:(.+)$/.exec(subject.context)?.[1]
      return environment
        ? { kind: 'deploy', environment }
        : `${file} is bound to '${subject.context}', not to an environment`
    }
    return `${file} of this project gets no role`
  }
  if (subject.workflowRepository === subject.repository && file === 'plan.yml') {
    if (!exampleWorkflow(subject.workflowPath))
      return `${subject.workflowPath} is not a workflow of the service examples`
    return subject.context === 'pull_request'
      ? { kind: 'plan' }
      : `plan.yml is bound to '${subject.context}', not to pull_request`
  }
  return `${subject.workflowRepository}/${subject.workflowPath} is not a workflow of this project`
}

/** Checks one trust policy: GitHub's tokens for STS, and `sub` bound to one role of this project. */
export function judgeTrustPolicy(policy: TrustPolicy): TrustVerdict {
  const problems: string[] = []
  const kinds = new Set<string>()
  const statements = policy.Statement ?? []
  if (statements.length !== 1) problems.push('one statement expected')
  for (const statement of statements) {
    if (statement.Effect !== 'Allow' || statement.Action !== 'sts:AssumeRoleWithWebIdentity')
      problems.push('not an Allow of sts:AssumeRoleWithWebIdentity')
    if (
      !/:oidc-provider\/token\.actions\.githubusercontent\.com$/.test(
        statement.Principal?.Federated ?? ''
      )
    )
      problems.push("not GitHub's OIDC provider")
    const condition = statement.Condition ?? {}
    if (condition.StringEquals?.[AUD_KEY] !== 'sts.amazonaws.com')
      problems.push('aud must be StringEquals sts.amazonaws.com')
    const operators = Object.keys(condition).filter(op => SUB_KEY in (condition[op] ?? {}))
    if (operators.length !== 1)
      problems.push(`sub must be under one operator, found ${operators.length}`)
    for (const operator of operators) {
      if (operator !== 'StringEquals' && operator !== 'StringLike')
        problems.push(`sub under ${operator}: use StringEquals, or StringLike for a ref wildcard`)
      for (const sub of [condition[operator]?.[SUB_KEY] ?? []].flat()) {
        const at = sub.lastIndexOf('@')
        const wildcard = /[*?]/.test(sub)
        if (wildcard && operator !== 'StringLike') {
          problems.push(`${sub}: a wildcard under ${operator}, which compares it literally`)
          continue
        }
        if (wildcard && /[*?]/.test(sub.slice(0, at))) {
          problems.push(`${sub}: a wildcard outside the ref`)
          continue
        }
        const subject = parseSubject(sub)
        if (!subject) {
          problems.push(`${sub}: not repo:…:<context>:job_workflow_ref:<workflow>@<ref>`)
          continue
        }
        const role = roleOf(subject)
        if (typeof role === 'string') problems.push(`${sub}: ${role}`)
        else kinds.add(role.environment ? `${role.kind}:${role.environment}` : role.kind)
      }
    }
  }
  if (kinds.size > 1) problems.push(`one role trusts several: ${[...kinds].sort().join(', ')}`)
  const [only] = [...kinds]
  const [kind, environment] = (only ?? '').split(':') as [RoleKind | '', string | undefined]
  return { kind: kind === '' ? undefined : kind, environment, problems }
}

/** Every trust policy of a Markdown text: its JSON blocks that allow AssumeRoleWithWebIdentity. */
export function trustPoliciesIn(markdown: string): TrustPolicy[] {
  return [...markdown.matchAll(/```json\n([\s\S]*?)```/g)]
    .map(m => JSON.parse(m[1] ?? '{}') as TrustPolicy)
    .filter(policy =>
      (policy.Statement ?? []).some(s =>
        [s.Action].flat().includes('sts:AssumeRoleWithWebIdentity')
      )
    )
}
