import { InputError } from './errors.js'

/**
 * Reads a raw input by its action.yml name; the runner passes `INPUT_<NAME>` (upper-cased,
 * dashes kept). Injected so parsing is tested without touching process.env.
 */
export type InputSource = (name: string) => string

export function environmentInputs(env: NodeJS.ProcessEnv = process.env): InputSource {
  return name => (env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim()
}

/** The inputs of one action, parsed with the same rules for every input. */
export class Inputs {
  constructor(private readonly source: InputSource) {}

  string(name: string, fallback = ''): string {
    const value = this.source(name).trim()
    return value === '' ? fallback : value
  }

  required(name: string, fix: string): string {
    const value = this.string(name)
    if (value === '') throw new InputError(name, '', fix)
    return value
  }

  /** YAML 1.2 core schema booleans only; anything else is an error, never a silent default. */
  boolean(name: string, fallback: boolean): boolean {
    const value = this.string(name)
    if (value === '') return fallback
    if (['true', 'True', 'TRUE'].includes(value)) return true
    if (['false', 'False', 'FALSE'].includes(value)) return false
    throw new InputError(name, value, 'use true or false')
  }

  /** A non-negative number (durations, counts); `min` guards zero where zero makes no sense. */
  number(
    name: string,
    fallback: number,
    options: { min?: number; integer?: boolean } = {}
  ): number {
    const value = this.string(name)
    if (value === '') return fallback
    const parsed = Number(value)
    const min = options.min ?? 0
    if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(parsed) || parsed < min) {
      throw new InputError(
        name,
        value,
        `use a number${min > 0 ? ` of at least ${min}` : ''}, e.g. ${fallback}`
      )
    }
    if (options.integer && !Number.isInteger(parsed)) {
      throw new InputError(name, value, `use a whole number, e.g. ${fallback}`)
    }
    return parsed
  }

  optionalNumber(
    name: string,
    options: { min?: number; integer?: boolean } = {}
  ): number | undefined {
    return this.string(name) === '' ? undefined : this.number(name, 0, options)
  }

  /** Multiline or comma-separated list; blank lines and `#` comments are ignored. */
  list(name: string): string[] {
    return splitLines(this.source(name))
  }

  /** Multiline `KEY=VALUE` (or `Name: value` with separator ':'), in order, keys unique. */
  pairs(name: string, separator: '=' | ':' = '='): Array<[string, string]> {
    const pairs: Array<[string, string]> = []
    for (const [index, line] of this.source(name).split(/\r?\n/).entries()) {
      const number = index + 1
      const trimmed = line.trim()
      if (trimmed === '' || trimmed.startsWith('#')) continue
      const at = trimmed.indexOf(separator)
      const key = at > 0 ? trimmed.slice(0, at).trim() : ''
      if (key === '' || /\s/.test(key)) {
        const shape = separator === '=' ? 'KEY=VALUE' : 'Name: value'
        throw new InputError(name, lineOnly(number), `write one ${shape} per line`)
      }
      const value = trimmed.slice(at + 1).trim()
      const existing = pairs.findIndex(([k]) => k === key)
      if (existing >= 0) pairs[existing] = [key, value]
      else pairs.push([key, value])
    }
    return pairs
  }
}

/**
 * How an error points at a line of a multiline input it could not parse: by its number only.
 * The line may hold a secret, or half of one, whatever its shape; no part of it is shown.
 */
export function lineOnly(number: number): string {
  return `line ${number}, content hidden`
}

export function splitLines(raw: string): string[] {
  return raw
    .split(/\r?\n|,/)
    .map(line => line.trim())
    .filter(line => line !== '' && !line.startsWith('#'))
}
