// The gateway's approval page as a person's browser uses it, over plain HTTP: open the link,
// sign in with the form (the cookie it sets), read the review page, press Approve or Deny.
// Each form's CSRF token is read from the form the page served.

import { request, type ClientResponse } from './emulator.js';

export interface PageAnswer extends ClientResponse {
  /** The CSRF token of the page's form, when it has one. */
  csrf: string | undefined;
}

/** The value of the hidden `csrf` input of a page's form. */
export function csrfOf(html: string): string | undefined {
  const input = /<input type="hidden" name="csrf" value="([^"]*)">/.exec(html);
  return input?.[1];
}

export async function openPage(url: string, cookie?: string): Promise<PageAnswer> {
  const res = await request(url, { headers: cookie !== undefined ? { cookie } : {} });
  return { ...res, csrf: csrfOf(res.body) };
}

export async function postForm(url: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<PageAnswer> {
  const body = new URLSearchParams(fields).toString();
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
  return { ...res, csrf: csrfOf(res.body) };
}

/** Sign in on the page's form with an access token; the cookie the page set. */
export async function signIn(url: string, token: string): Promise<string> {
  const form = await openPage(url);
  if (form.status !== 401 || form.csrf === undefined) throw new Error(`expected the sign-in form, got ${form.status}: ${form.body.slice(0, 200)}`);
  const res = await postForm(url, { action: 'signin', csrf: form.csrf, token }, { origin: new URL(url).origin });
  const setCookie = res.headers['set-cookie']?.[0];
  if (res.status !== 303 || setCookie === undefined) throw new Error(`sign-in refused: ${res.status} ${res.body.slice(0, 200)}`);
  return setCookie.split(';')[0]!;
}

/** Sign in, open the review, press a button: the answer to the decision. */
export async function decide(url: string, token: string, decision: 'approve' | 'deny'): Promise<PageAnswer> {
  const cookie = await signIn(url, token);
  const review = await openPage(url, cookie);
  if (review.status !== 200 || review.csrf === undefined) return review;
  return postForm(url, { csrf: review.csrf, decision }, { cookie, origin: new URL(url).origin });
}
