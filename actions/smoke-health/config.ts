import { InputError } from '../shared/errors.js'
import { Inputs, lineOnly, type InputSource } from '../shared/inputs.js'
import { redactUrl } from '../shared/redact.js'
import type { Expectations } from './judge.js'

/** Everything the gate needs, parsed and checked before the first request. */
export interface SmokeConfig {
  url: string
  headers: Array<[string, string]>
  timeoutMs: number
  intervalMs: number
  requestTimeoutMs: number
  requiredSuccesses: number
  expectations: Expectations
}

export const DEFAULTS = {
  timeoutSeconds: 300,
  intervalSeconds: 5,
  requiredSuccesses: 3,
  requestTimeoutSeconds: 10
} as const

// RFC 9110 token characters for a field name; a value is visible ASCII or Latin-1, spaces and tabs.
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

/**
 * An Authorization-style value: an auth scheme, then the credentials (RFC 9110 §11.4), e.g.
 * `Bearer <token>` or `Basic <base64>`.
 */
const AUTH_CREDENTIALS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\s+(\S[\s\S]*)$/

/**
 * The parts of the raw `headers` input that may be secret: each line's value, or the whole
 * line where it has no `:`; and, for an Authorization-style header, the credentials after
 * the scheme on their own too, since a server or a tool may echo the token without its
 * `Bearer `. Masked before the input is even parsed, so no error can show one.
 */
export function headerSecrets(raw: string): string[] {
  const secrets: string[] = []
  for (const line of raw.split(/\r?\n/)) {
    const trimmed = line.trim()
    if (trimmed.startsWith('#')) continue
    // Without a colon, the whole line (a blank one is left out as an empty value).
    const at = trimmed.indexOf(':')
    const value = trimmed.slice(at + 1).trim()
    if (value === '') continue
    secrets.push(value)
    const name = trimmed.slice(0, Math.max(at, 0))
    const credentials = /authorization/i.test(name) ? AUTH_CREDENTIALS.exec(value)?.[1] : undefined
    if (credentials) secrets.push(credentials)
  }
  return secrets
}

/** Multiline `Name: value`; an error names the line by its number only, never its content. */
export function parseHeaders(raw: string): Array<[string, string]> {
  const headers: Array<[string, string]> = []
  const lines = raw.split(/\r?\n/)
  lines.forEach((line, index) => {
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#')) return
    const at = trimmed.indexOf(':')
    const name = at > 0 ? trimmed.slice(0, at).trim() : ''
    // Used only once the name is valid, which takes a colon after it.
    const value = trimmed.slice(at + 1).trim()
    const where = lineOnly(index + 1)
    if (!HEADER_NAME.test(name)) {
      throw new InputError(
        'headers',
        where,
        "write one 'Name: value' per line, e.g. 'Authorization: Bearer <token>'; a name is letters, digits and - _ . without spaces"
      )
    }
    if (!HEADER_VALUE.test(value)) {
      throw new InputError(
        'headers',
        where,
        'a header value cannot hold control characters or characters beyond Latin-1'
      )
    }
    const existing = headers.findIndex(([n]) => n.toLowerCase() === name.toLowerCase())
    if (existing >= 0) headers[existing] = [name, value]
    else headers.push([name, value])
  })
  return headers
}

export function parseUrl(value: string): string {
  const example = 'use an absolute http:// or https:// URL, e.g. https://api.example.com/health'
  // The value is shown with its query values masked: a signed URL carries its token there.
  const shown = redactUrl(value)
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InputError('url', shown, example)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InputError(
      'url',
      shown,
      `the scheme '${url.protocol.replace(/:$/, '')}' is not supported; ${example}`
    )
  }
  if (url.username !== '' || url.password !== '') {
    throw new InputError(
      'url',
      shown,
      "do not put credentials in the URL; send them with the 'headers' input, e.g. 'Authorization: Bearer <token>'"
    )
  }
  return url.href
}

/** A duration in seconds, fractions allowed, never zero: a zero interval would spin. */
function seconds(inputs: Inputs, name: string, fallback: number): number {
  const ms = Math.round(inputs.number(name, fallback) * 1000)
  if (ms < 1) {
    throw new InputError(
      name,
      inputs.string(name),
      `use a number of seconds greater than 0, e.g. ${fallback}`
    )
  }
  return ms
}

/** Reads and checks every input; throws an InputError naming the first bad one. */
export function readConfig(source: InputSource): SmokeConfig {
  const inputs = new Inputs(source)
  const url = parseUrl(
    inputs.required('url', 'set it to the health endpoint, e.g. https://api.example.com/health')
  )
  const timeoutMs = seconds(inputs, 'timeout-seconds', DEFAULTS.timeoutSeconds)
  const intervalMs = seconds(inputs, 'interval-seconds', DEFAULTS.intervalSeconds)
  const requestTimeoutMs = seconds(
    inputs,
    'request-timeout-seconds',
    DEFAULTS.requestTimeoutSeconds
  )
  const requiredSuccesses = inputs.number('required-successes', DEFAULTS.requiredSuccesses, {
    min: 1,
    integer: true
  })
  const allowDegraded = inputs.boolean('allow-degraded', false)
  const expectedVersion = inputs.string('expected-version')
  const headers = parseHeaders(source('headers'))

  // The passes must fit in the gate: R passes need at least (R - 1) intervals between them.
  const shortest = (requiredSuccesses - 1) * intervalMs
  if (shortest >= timeoutMs) {
    throw new InputError(
      'timeout-seconds',
      inputs.string('timeout-seconds', String(DEFAULTS.timeoutSeconds)),
      `${requiredSuccesses} consecutive passes ${intervalMs / 1000}s apart need more than ${shortest / 1000}s; raise timeout-seconds, or lower interval-seconds or required-successes`
    )
  }

  return {
    url,
    headers,
    timeoutMs,
    intervalMs,
    requestTimeoutMs,
    requiredSuccesses,
    expectations: { allowDegraded, ...(expectedVersion !== '' ? { expectedVersion } : {}) }
  }
}
