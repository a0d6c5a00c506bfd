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

/**
 * A URL as it may be shown: every query value replaced by `***` (names kept, so the shape
 * stays readable), a fragment masked, and any user or password dropped. Signed URLs and
 * tokens travel in query strings, and a redirect target is chosen by the server, so no query
 * value is shown at all. A text that is not a URL keeps only what comes before its query.
 */
export function redactUrl(text: string, mask = '***'): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    const at = text.indexOf('?')
    return at < 0 ? text : `${text.slice(0, at)}?${mask}`
  }
  if (url.username !== '' || url.password !== '') {
    url.username = url.username === '' ? '' : mask
    url.password = ''
  }
  const query = url.search
    .slice(1)
    .split('&')
    .map(part => {
      if (part === '') return part
      const at = part.indexOf('=')
      // A part without '=' is a bare value (e.g. ?s3cret): nothing of it is a name.
      if (at < 0) return mask
      return at === part.length - 1 ? part : `${part.slice(0, at)}=${mask}`
    })
    .join('&')
  const base = url.href.slice(0, url.href.length - url.search.length - url.hash.length)
  return `${base}${url.search === '' ? '' : `?${query}`}${url.hash === '' ? '' : `#${mask}`}`
}
