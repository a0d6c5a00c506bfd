/**
 * Replaces every occurrence of the given secrets in a text. The runner masks what
 * `setSecret` registers in the log, but a job summary is a file we write ourselves, and a
 * server may echo a header back in its body: anything shown to the user goes through this.
 */
export function redactor(secrets: Iterable<string>, mask = '***'): (text: string) => string {
  // Longest first, so a secret that contains another is replaced whole.
  const values = [...new Set(secrets)].filter(s => s !== '').sort((a, b) => b.length - a.length)
  if (values.length === 0) return text => text
  return text => values.reduce((out, secret) => out.split(secret).join(mask), text)
}
