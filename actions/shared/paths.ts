import { statSync } from 'node:fs'

/** What a path given as an input is on disk, so config checks can name a wrong one. */
export type PathKind = 'file' | 'directory' | 'missing'

export function pathKindOnDisk(path: string): PathKind {
  try {
    const stats = statSync(path)
    return stats.isDirectory() ? 'directory' : stats.isFile() ? 'file' : 'missing'
  } catch {
    return 'missing'
  }
}
