// Name globs for tools, resources, prompts and methods, with ONE meaning across every plugin
// (a pattern that authorizes a tool must select the same tools for limits and redaction):
// '*' matches any run of characters (dots, slashes and newlines included), '?' exactly one,
// everything else literally, case-sensitive, anchored at both ends.

export function isGlob(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

function globSource(glob: string): string {
  let out = '';
  for (const ch of glob) {
    if (ch === '*') out += '[\\s\\S]*';
    else if (ch === '?') out += '[\\s\\S]';
    else out += ch.replace(/[.+^${}()|[\]\\/-]/g, '\\$&');
  }
  return out;
}

export function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${globSource(pattern)}$`);
}

/** One anchored regex for a list of globs (compile once, at prepare). */
export function globsToRegExp(globs: readonly string[]): RegExp {
  return new RegExp(`^(?:${globs.map(globSource).join('|')})$`);
}

/** A matcher for a list of globs; `*` alone matches everything without a regex. */
export function compileGlobs(globs: readonly string[]): (name: string) => boolean {
  if (globs.includes('*')) return () => true;
  if (globs.length === 0) return () => false;
  const re = globsToRegExp(globs);
  return (name) => re.test(name);
}
