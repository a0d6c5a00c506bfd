/**
 * The AWS calls each action makes, read from its source: every `…Command` class (and
 * `paginate…` helper) imported as a value from an `@aws-sdk/client-<service>` package, in the
 * modules of its folder and the files they reach through relative imports. Each becomes the IAM action of the
 * same name under the service's prefix, so the IAM policy in the setup guide is checked
 * against the code rather than against a list someone has to remember to update.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'
import { repositoryRoot } from './workflows.js'

/** The IAM service prefix of each AWS SDK v3 client package the actions may import. */
export const IAM_PREFIXES: Readonly<Record<string, string>> = {
  '@aws-sdk/client-ecs': 'ecs',
  '@aws-sdk/client-ecr': 'ecr',
  '@aws-sdk/client-application-auto-scaling': 'application-autoscaling',
  '@aws-sdk/client-cloudwatch-logs': 'logs',
  '@aws-sdk/client-elastic-load-balancing-v2': 'elasticloadbalancing'
}

export interface SdkImport {
  /** The client package, e.g. @aws-sdk/client-ecs. */
  client: string
  /** The API operation, e.g. DescribeServices (from DescribeServicesCommand). */
  operation: string
}

const SDK_CLIENT = /^@aws-sdk\/client-[a-z0-9-]+$/

/**
 * The operations one source file can call: value imports named `<Operation>Command` or
 * `paginate<Operation>` from an SDK client package. Type-only imports call nothing. A namespace
 * import or a waiter hides which operations run, so it is an error: import commands by name.
 */
export function sdkImportsIn(source: string, fileName = 'source.ts'): SdkImport[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2022, false)
  const found: SdkImport[] = []
  for (const statement of file.statements) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier))
      continue
    const client = statement.moduleSpecifier.text
    const clause = statement.importClause
    if (!SDK_CLIENT.test(client) || clause === undefined || clause.isTypeOnly) continue
    const bindings = clause.namedBindings
    if (bindings !== undefined && ts.isNamespaceImport(bindings)) {
      throw new Error(
        `${fileName}: import * from '${client}' hides which operations are called; import each command by name`
      )
    }
    for (const element of bindings?.elements ?? []) {
      if (element.isTypeOnly) continue
      const imported = (element.propertyName ?? element.name).text
      if (/^waitUntil/.test(imported)) {
        throw new Error(
          `${fileName}: ${imported} from '${client}' polls operations this scan cannot name; list them with the IAM policy test`
        )
      }
      const operation =
        /^([A-Z]\w*)Command$/.exec(imported)?.[1] ?? /^paginate([A-Z]\w*)$/.exec(imported)?.[1]
      if (operation !== undefined) found.push({ client, operation })
    }
  }
  return found
}

/** Relative module specifiers a file imports or re-exports, statically or dynamically. */
function relativeImports(file: ts.SourceFile): string[] {
  const specifiers: string[] = []
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      specifiers.push(node.moduleSpecifier.text)
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      specifiers.push(node.arguments[0].text)
    }
    ts.forEachChild(node, visit)
  }
  visit(file)
  return specifiers.filter(specifier => specifier.startsWith('.'))
}

/** The source files an entry point reaches through relative imports, itself included. */
export function moduleClosure(entry: string, root = repositoryRoot): string[] {
  const seen = new Set<string>()
  const pending = [resolve(root, entry)]
  while (pending.length > 0) {
    const path = pending.pop() as string
    if (seen.has(path)) continue
    seen.add(path)
    const file = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.ES2022)
    for (const specifier of relativeImports(file)) {
      // ESM sources import './x.js' for './x.ts'.
      const target = resolve(dirname(path), specifier).replace(/\.js$/, '.ts')
      if (!existsSync(target)) throw new Error(`${path}: cannot resolve '${specifier}'`)
      pending.push(target)
    }
  }
  return [...seen].map(path => relative(root, path)).sort()
}

/**
 * The source files of one action: everything `actions/<name>/index.ts` reaches, and every
 * other module of its folder with what that reaches. A module of the folder that the entry
 * point does not import yet is code written for the action, to be wired in: the role must
 * already allow its calls, or the deploy fails on the day it is.
 */
export function actionModules(name: string, root = repositoryRoot): string[] {
  const folder = join('actions', name)
  const entries = readdirSync(join(root, folder))
    .filter(file => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map(file => join(folder, file))
  return [...new Set(entries.flatMap(entry => moduleClosure(entry, root)))].sort()
}

/**
 * The IAM actions behind the AWS calls of one action (its modules, see actionModules), e.g.
 * `ecs:DescribeServices`. A client package without a known IAM prefix is an error, so a new
 * service cannot slip past the policy.
 */
export function iamActionsOfAction(name: string, root = repositoryRoot): Set<string> {
  const actions = new Set<string>()
  for (const path of actionModules(name, root)) {
    for (const { client, operation } of sdkImportsIn(
      readFileSync(join(root, path), 'utf8'),
      path
    )) {
      const prefix = IAM_PREFIXES[client]
      if (prefix === undefined) {
        throw new Error(
          `${path} imports ${operation} from '${client}', whose IAM prefix is not in IAM_PREFIXES`
        )
      }
      actions.add(`${prefix}:${operation}`)
    }
  }
  return actions
}
