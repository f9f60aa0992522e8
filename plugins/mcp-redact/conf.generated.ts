// Generated from schemas/mcp-redact.conf.schema.json by `npm run docs`; do not edit.
// The schema is the source of truth: ajv validates confs against it, and this type follows.

/**
 * Redacts sensitive data (payment cards, tax ids, IBANs, emails, phone numbers, secrets, and fields named by key or JSON path) from tools/call arguments before they reach the MCP server, and from results before they reach the agent. Results need the route's ext-plugin-post-resp (mcp-route post_resp: true).
 */
export interface McpRedactConf {
  /**
   * Which detectors scan string values. payment_card: 13-19 digits, Luhn and IIN checked; tax_id: the kinds in tax_ids; iban: country length and mod-97 checked; email; phone: +E.164, North American (415) 555-0132 / 415 555 0132, and the national forms of the UK, Germany, France and India; secret: vendor tokens by prefix (GitHub, GitLab, Slack, Stripe, OpenAI, Anthropic, SendGrid, Hugging Face, npm, Google, Twilio, AWS), JWTs, PEM/PGP private keys, Bearer/Basic credentials, AWS secret keys, Azure AccountKey and SAS sig, passwords in URLs, values under a secret's name (REDIS_PASSWORD=, "db_password":, --password, Authorization: Token), Kubernetes Secret data. Documented example values and templates are left alone.
   */
  detectors?: ('payment_card' | 'tax_id' | 'iban' | 'email' | 'phone' | 'secret')[];
  /**
   * Which national/tax id formats the tax_id detector knows. us_ssn: 123-45-6789 (dashes or spaces; area 000, 666, 9xx, group 00 and serial 0000 are rejected); us_ein: 12-3456789 with an IRS-assigned prefix; uk_nino: AB123456C, upper or lower case (invalid prefixes rejected); ca_sin: 123-456-782 (Luhn checked). Nine bare digits (and spaced SINs) count only where a label names them: the text before on the line, a CSV column header, a note in parentheses after, or the JSON key.
   */
  tax_ids?: ('us_ssn' | 'us_ein' | 'uk_nino' | 'ca_sin')[];
  /**
   * Default action for every finding. mask: replace the match (cards keep their last 4 digits as ****1111, everything else becomes [REDACTED:<type>]); hash: replace with [<type>:<16 hex>] (HMAC-SHA256 keyed by hash_salt, stable so equal values correlate); drop: replace the whole string with [REDACTED] (field rules: remove the field); block: refuse the call (arguments: HTTP 400 JSON-RPC error; results: HTTP 502 JSON-RPC error instead of the result).
   */
  mode?: 'mask' | 'hash' | 'drop' | 'block';
  /**
   * Per-detector override of mode, e.g. {"payment_card": "block", "email": "hash"}.
   */
  modes?: {
    [k: string]: 'mask' | 'hash' | 'drop' | 'block';
  };
  /**
   * Field rules: values under these keys or paths are always redacted, whatever they contain (strings, numbers, objects).
   */
  fields?: {
    /**
     * Key names matched anywhere in arguments and results, case-insensitively and ignoring '_' and '-' (api_key matches apiKey and API-KEY). Replaces the default list: password, passwd, passphrase, secret, client_secret, api_key, access_token, refresh_token, token, private_key, authorization, tax_id, ssn, card_number, cvv, cvc.
     *
     * @maxItems 256
     */
    keys?: string[];
    /**
     * JSON paths from the JSON-RPC message root: $.params.arguments.card for an argument, $.result.structuredContent.account.iban for a result. Segments: .name, ['name'], [0], [*] or .* (any key or index).
     *
     * @maxItems 256
     */
    paths?: string[];
    /**
     * Action for field-rule hits (defaults to mode). mask: value becomes [REDACTED:field]; hash: [field:<16 hex>]; drop: the key is removed (array elements become [REDACTED]); block: refuse the call.
     */
    mode?: 'mask' | 'hash' | 'drop' | 'block';
  };
  /**
   * HMAC key for hash mode, as a secret reference: $env://NAME or $file:///path. Required when any mode is hash. Rotating it changes every pseudonym.
   */
  hash_salt?: string;
  /**
   * Redact request arguments (tools/call params.arguments, prompts/get params.arguments) before they go upstream.
   */
  arguments?: boolean;
  /**
   * Redact results (JSON and SSE answers) before they reach the client. Needs post_resp on the route; on a route without it, in-scope calls are refused.
   */
  results?: boolean;
  /**
   * Tool name globs in scope for tools/call ('*' any run of characters, '?' one character), e.g. ["billing.*", "crm_get_?"].
   *
   * @minItems 1
   * @maxItems 512
   */
  tools?: string[];
  /**
   * Path of the mcp-authz policy file (schemas/mcp-policy.schema.json), usually the same file mcp-authz names. For calls a `routes[]` / `mcp_gateway.routes[]` entry matches (server = the route's mcp-route server; tools, resources, prompts), the detectors in the entry's `data_policy.redact` also scan arguments and results, in addition to this conf's own scope: a call in this conf's scope gets both sets of detectors; a call only the entry matches gets the entry's detectors alone (with this conf's mode, modes and tax_ids, without field rules). The file is watched: an accepted new version applies from the next call; an invalid one keeps the last good version.
   */
  policy_file?: string;
  /**
   * Base64 `blob`s of text-like or JSON mime types (text/*, application/json, *+json, yaml, xml, csv, ...) are always decoded, scanned and re-encoded, and one that does not decode as UTF-8 withholds the answer. Other blobs (images, archives, no mime type that decodes to binary): pass (default) lets them through unscanned; withhold refuses the answer (HTTP 502).
   */
  unreadable_blobs?: 'pass' | 'withhold';
  /**
   * MCP methods in scope. tools/call: arguments and result; prompts/get: arguments and returned messages; resources/read: returned contents.
   *
   * @minItems 1
   */
  methods?: ('tools/call' | 'prompts/get' | 'resources/read')[];
}
