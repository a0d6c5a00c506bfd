import { InputError } from '../shared/errors.js'

/**
 * A command given as one line of text, split into an argument array the way a POSIX shell
 * would split words (quotes and backslashes), but run without a shell: there are no pipes,
 * redirections, `&&` or `$VAR` expansions, and asking for one is an error, not a surprise.
 * Leading `NAME=value` words set environment variables, as in `CI=true npm test`.
 */
export interface CommandLine {
  env: Record<string, string>
  argv: string[]
}

const NO_SHELL_FIX =
  'the command runs without a shell, so pipes, redirections, &&, ; and $VAR do not work; put the steps in a package.json script (e.g. npm run test:ci) or a script file and name that'

/** A word, and how many of its first characters were typed without quotes or backslashes. */
interface Word {
  text: string
  plain: number
}

export function splitCommandLine(input: string, text: string): CommandLine {
  const words: Word[] = []
  let word: Word | undefined
  let quote: "'" | '"' | undefined
  const append = (char: string, quoted = false) => {
    word ??= { text: '', plain: 0 }
    if (!quoted && word.plain === word.text.length) word.plain += char.length
    word.text += char
  }

  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string
    const next = text[i + 1] ?? ''
    if (quote === "'") {
      if (char === "'") quote = undefined
      else append(char, true)
    } else if (quote === '"') {
      if (char === '"') quote = undefined
      else if (char === '\\' && ['"', '\\', '$', '`'].includes(next))
        append(text[++i] as string, true)
      else if ((char === '$' && /[A-Za-z_{(]/.test(next)) || char === '`')
        throw new InputError(input, text, NO_SHELL_FIX)
      else append(char, true)
    } else if (char === "'" || char === '"') {
      quote = char
      // A quote starts a word even when nothing follows it: "" is an empty argument.
      append('')
    } else if (char === '\\') {
      if (next === '')
        throw new InputError(input, text, 'the command ends in a lone backslash; remove it')
      append(text[++i] as string, true)
    } else if (/\s/.test(char)) {
      if (word) words.push(word)
      word = undefined
    } else if ('|&;<>()`'.includes(char) || (char === '$' && /[A-Za-z_{(]/.test(next))) {
      throw new InputError(input, text, NO_SHELL_FIX)
    } else {
      append(char)
    }
  }
  if (quote)
    throw new InputError(
      input,
      text,
      `a ${quote === '"' ? 'double' : 'single'} quote is not closed; close it`
    )
  if (word) words.push(word)

  const env: Record<string, string> = {}
  let first = 0
  for (; first < words.length; first++) {
    const { text: assignment, plain } = words[first] as Word
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)/s.exec(assignment)
    // As in a shell, NAME= must be typed plainly: "CI=true" in quotes is a command name.
    if (!match || (match[1] as string).length >= plain) break
    env[match[1] as string] = match[2] as string
  }
  const argv = words.slice(first).map(w => w.text)
  if (argv.length === 0) throw new InputError(input, text, 'give a command to run, e.g. npm test')
  return { env, argv }
}

/** The command as a user would read it back, for logs and messages. */
export function formatCommandLine(command: CommandLine): string {
  const quoteWord = (word: string) =>
    /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
  return [
    ...Object.entries(command.env).map(([k, v]) => `${k}=${quoteWord(v)}`),
    ...command.argv.map(quoteWord)
  ].join(' ')
}
