import { formatCommandLine, splitCommandLine } from '../../actions/test/command-line.js'
import { InputError } from '../../actions/shared/errors.js'

const split = (text: string) => splitCommandLine('test-command', text)

describe('test action command lines', () => {
  it('splits on whitespace into an argument array', () => {
    expect(split('npm test')).toEqual({ env: {}, argv: ['npm', 'test'] })
    expect(split('  npx   jest --ci\t--runInBand ')).toEqual({
      env: {},
      argv: ['npx', 'jest', '--ci', '--runInBand']
    })
  })

  it('keeps quoted words whole and unescapes backslashes, as a shell would', () => {
    expect(split(`npm test -- --grep "fee rounding" --name 'it''s' a\\ b ""`).argv).toEqual([
      'npm',
      'test',
      '--',
      '--grep',
      'fee rounding',
      '--name',
      'its',
      'a b',
      ''
    ])
    expect(split(`node -e "console.log(\\"x\\")"`).argv).toEqual(['node', '-e', 'console.log("x")'])
  })

  it('takes leading NAME=value words as environment variables', () => {
    expect(split('CI=true TZ="Europe/London" npm run test:ci')).toEqual({
      env: { CI: 'true', TZ: 'Europe/London' },
      argv: ['npm', 'run', 'test:ci']
    })
    // Later NAME=value words are arguments.
    expect(split('node --test FOO=bar').argv).toEqual(['node', '--test', 'FOO=bar'])
  })

  it('refuses shell syntax it cannot honour without a shell, naming the input', () => {
    for (const text of [
      'npm ci && npm test',
      'npm test | tee out.txt',
      'npm test > out.txt',
      'npm test; echo done',
      'npm test -- $PATTERN',
      'npm test "$(date)"',
      'echo `id`'
    ]) {
      let error: unknown
      try {
        split(text)
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(InputError)
      expect((error as Error).message).toMatch(
        /^Input 'test-command' is '.*': the command runs without a shell/
      )
    }
    // Quoted, the same characters are plain arguments.
    expect(split(`node -e 'process.exit(a && b ? 0 : 1)' '$HOME'`).argv).toEqual([
      'node',
      '-e',
      'process.exit(a && b ? 0 : 1)',
      '$HOME'
    ])
  })

  it('reports an unclosed quote and an empty command', () => {
    expect(() => split('npm test "oops')).toThrow('a double quote is not closed')
    expect(() => split('CI=true')).toThrow('give a command to run')
  })

  it('formats a command back so that it splits to the same words', () => {
    const command = split(`CI=true npm test -- --grep "fee rounding"`)
    expect(formatCommandLine(command)).toBe(`CI=true npm test -- --grep 'fee rounding'`)
    expect(split(formatCommandLine(command))).toEqual(command)
  })

  it('takes NAME=value only when NAME= is typed plainly, as a shell does', () => {
    expect(split(`NODE_ENV=test CI="a b" EMPTY= npm test`)).toEqual({
      env: { NODE_ENV: 'test', CI: 'a b', EMPTY: '' },
      argv: ['npm', 'test']
    })
    for (const text of [`'CI=true' npm test`, `"CI"=true npm test`, `CI\\=true npm test`]) {
      expect(split(text)).toEqual({ env: {}, argv: ['CI=true', 'npm', 'test'] })
    }
  })

  it('takes a leading word that is no NAME=value for the command', () => {
    for (const word of ['--opt=1', '1X=2', 'A-B=3']) {
      expect(split(`${word} npm test`)).toEqual({ env: {}, argv: [word, 'npm', 'test'] })
    }
  })

  it('unescapes only \\ " $ and ` inside double quotes', () => {
    expect(split(`echo "a\\\\b" "\\$HOME" "\\\`x\\\`" "\\"q\\"" "c\\d"`).argv).toEqual([
      'echo',
      'a\\b',
      '$HOME',
      '`x`',
      '"q"',
      'c\\d'
    ])
  })

  it('refuses a backquote inside double quotes', () => {
    expect(() => split('echo "`id`"')).toThrow('the command runs without a shell')
  })

  it('keeps a $ that starts no variable, also at the end', () => {
    expect(split(`echo $ 5$ "$" "50$/month" $`).argv).toEqual([
      'echo',
      '$',
      '5$',
      '$',
      '50$/month',
      '$'
    ])
  })

  it('refuses a lone backslash at the end and says which quote is open', () => {
    expect(() => split('npm test \\')).toThrow(
      "Input 'test-command' is 'npm test \\': the command ends in a lone backslash; remove it"
    )
    expect(() => split(`npm test 'oops`)).toThrow('a single quote is not closed; close it')
    expect(() => split(`npm test "oops`)).toThrow('a double quote is not closed; close it')
  })

  it('formats a word with a single quote so that it splits back whole', () => {
    const command = split(`echo "it's"`)
    expect(formatCommandLine(command)).toBe(`echo 'it'\\''s'`)
    expect(split(formatCommandLine(command))).toEqual(command)
  })
})
