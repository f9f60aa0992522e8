// Credentials recognisable by their own shape: vendor token families by prefix (the families
// secretlint's recommended preset and the vendors' docs describe), JWTs, PEM and PGP private
// key blocks, HTTP Bearer/Basic credentials, and AWS secret access keys by shape. Documented
// example values and x-filled templates are rejected (isPlaceholder).

import { isPlaceholder, labelBefore } from './checks.js';
import { ci, keyword, type Pattern } from './pattern.js';

const notPlaceholder = (m: string, start: number): number => (isPlaceholder(m) ? -1 : start + m.length);

const escapeLiteral = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A prefixed token: the literal `prefix`, then its `body` (a regex source). */
function family(group: string, kind: string, prefix: string, firstClass: string, body: string, tail = '(?![A-Za-z0-9_-])'): Pattern {
  // The whole literal prefix is consumed first, then the token boundary is checked behind
  // it: irregexp's quick check then looks at several characters before trying a position.
  const lit = escapeLiteral(prefix);
  return { group, detector: 'secret', kind, source: `${lit}(?<![A-Za-z0-9_${firstClass}]${lit})${body}${tail}`, validate: notPlaceholder };
}

const PRIVATE_LABEL = '(?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?';
// Lines of a PEM/armor body: base64 runs separated by real or JSON-escaped newlines (and the
// armor's header lines). A truncated block stops where the base64 stops, not at the end of
// the string.
const NL = '(?:\\r?\\n|\\\\(?:r\\\\)?n)';
const ARMOR_HEADER = '(?:[A-Z][A-Za-z-]{1,30}: [^\\r\\n\\\\]{1,200})';

export function awsSecretShape(m: string, start: number, text: string, key: string | undefined): number {
  if (isPlaceholder(m) || !/[a-z]/.test(m) || !/[A-Z]/.test(m) || !/\d/.test(m)) return -1;
  // A '/' or '+' is typical; without one, the label (JSON key, CSV header, text before) must say AWS/secret.
  if (/[/+]/.test(m)) return start + 40;
  const label = `${labelBefore(text, start)} ${key ?? ''}`.toLowerCase();
  return /secret|aws|credential/.test(label) ? start + 40 : -1;
}

export function tokenPatterns(): Pattern[] {
  return [
    {
      group: 'private_key',
      detector: 'secret',
      kind: 'private_key',
      // Body lines may be indented (a YAML block scalar, a quoted log dump).
      // An empty line only where another line follows (PGP's blank line after the headers).
      source: `-----BEGIN ${PRIVATE_LABEL}-----(?:${NL}[ \\t]{0,16}(?:${ARMOR_HEADER}|[A-Za-z0-9+/=]{1,120}|(?=${NL})))*(?:${NL}[ \\t]{0,16}-----END ${PRIVATE_LABEL}-----)?`,
    },
    {
      group: 'jwt',
      detector: 'secret',
      kind: 'jwt',
      source: 'eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{8,}\\.eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{16,}',
    },
    { group: 'aws_key_id', detector: 'secret', kind: 'aws_access_key_id', source: 'A(?:KIA|SIA)(?<![A-Za-z0-9]A[KS]IA)[A-Z0-9]{16}(?![A-Za-z0-9])', validate: notPlaceholder },
    family('github', 'github_token', 'gh', '', '[pousr]_[A-Za-z0-9]{36,251}'),
    family('github_pat', 'github_token', 'github_pat_', '', '[A-Za-z0-9_]{22,244}'),
    family('gitlab', 'gitlab_token', 'glpat-', '', '[A-Za-z0-9_-]{20,}'),
    family('slack', 'slack_token', 'xox', '-', '[abposre]-[A-Za-z0-9-]{10,250}', ''),
    family('slack_app', 'slack_token', 'xapp-', '-', '\\d-[A-Za-z0-9-]{20,250}', ''),
    {
      group: 'slack_webhook',
      detector: 'secret',
      kind: 'slack_webhook',
      source: 'https://hooks\\.slack\\.com/services/[A-Za-z0-9]{8,12}/[A-Za-z0-9]{8,12}/[A-Za-z0-9]{20,32}',
    },
    {
      group: 'stripe',
      detector: 'secret',
      kind: 'stripe_key',
      source: '[sr]k_(?<![A-Za-z0-9_][sr]k_)(?:live|test)_[A-Za-z0-9]{16,247}(?![A-Za-z0-9])',
      validate: notPlaceholder,
    },
    // AWS STS session tokens: base64 of a fixed binary header ("FwoGZXIvYXdz…", "IQoJb3JpZ2lu…").
    family('aws_session', 'aws_session_token', 'FwoGZXIvYXdz', '', '[A-Za-z0-9/+=]{40,}', '(?![A-Za-z0-9/+=])'),
    family('aws_session_v2', 'aws_session_token', 'IQoJb3JpZ2lu', '', '[A-Za-z0-9/+=]{40,}', '(?![A-Za-z0-9/+=])'),
    family('stripe_webhook', 'stripe_webhook_secret', 'whsec_', '', '[A-Za-z0-9]{24,}'),
    // OpenAI (legacy keys carry "T3BlbkFJ", project/service keys a kind) and Anthropic keys.
    family('sk_dash', 'openai_or_anthropic_key', 'sk-', '', '(?:[A-Za-z0-9]{16,}T3BlbkFJ[A-Za-z0-9]{16,}|(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}|ant-[a-z]{3,6}\\d{2}-[A-Za-z0-9_-]{80,})'),
    family('sendgrid', 'sendgrid_key', 'SG.', '', '[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}'),
    family('huggingface', 'huggingface_token', 'hf_', '', '[A-Za-z]{30,40}'),
    family('npm', 'npm_token', 'npm_', '', '[A-Za-z0-9]{36}'),
    family('google', 'google_api_key', 'AIza', '-', '[0-9A-Za-z_-]{35}'),
    family('twilio', 'twilio_api_key', 'SK', '', '[0-9a-f]{32}'),
    family('shopify', 'shopify_token', 'shp', '', '(?:at|ca|pa|ss)_[a-fA-F0-9]{32}'),
    family('pypi', 'pypi_token', 'pypi-', '', 'AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}'),
    family('linear', 'linear_api_key', 'lin_api_', '', '[A-Za-z0-9]{40}'),
    family('onepassword', 'onepassword_token', 'ops_', '', 'eyJ[A-Za-z0-9_-]{60,}'),
    family('digitalocean', 'digitalocean_token', 'do', '', '[opr]_v1_[a-f0-9]{64}'),
    {
      group: 'bearer',
      detector: 'secret',
      kind: 'bearer_token',
      valueGroup: 'bearer_v',
      source: `${keyword('bearer')}[ \\t]{1,4}(?<bearer_v>[A-Za-z0-9._~+/-]{16,8192}=*)`,
      // Prose like "Bearer authentication-is-required" is not a token: letters and digits.
      validate: (m, start) => (/\d/.test(m) && /[A-Za-z]/.test(m) && !isPlaceholder(m) ? start + m.length : -1),
    },
    {
      group: 'basic',
      detector: 'secret',
      kind: 'basic_auth',
      valueGroup: 'basic_v',
      source: `${keyword('basic')}[ \\t]{1,4}(?<basic_v>[A-Za-z0-9+/]{8,4096}={0,2})(?![A-Za-z0-9+/=])`,
      validate: (m, start) => (Buffer.from(m, 'base64').toString('latin1').includes(':') ? start + m.length : -1),
    },
    {
      group: 'cli_password',
      detector: 'secret',
      kind: 'cli_password',
      valueGroup: 'cli_v',
      // redis-cli -a PASS, curl -u user:PASS: flags that are passwords only for these tools.
      source: `(?:${ci('redis-cli')}[^\\n]{0,80}? -a|${ci('curl')}[^\\n]{0,120}? (?:-u|--user)[ =][^\\s:'"]{1,64}:)[ ]?(?<cli_v>[^\\s'"]{4,256})`,
      validate: notPlaceholder,
    },
  ];
}
