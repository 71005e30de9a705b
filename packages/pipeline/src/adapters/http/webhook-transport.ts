import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import http from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { isNonPublicAddress } from "../../domain/webhooks.ts";
import type { WebhookTransport } from "../../ports/webhook-transport.ts";

/** A target the policy refuses: the message names the address and the setting that allows it. */
export class WebhookTargetRefused extends Error {
  override name = "WebhookTargetRefused";
}

const ALLOW_HINT = "DOCFLEET_WEBHOOK_ALLOW_PRIVATE=true allows it";

/**
 * A name lookup that keeps only public addresses: the socket connects to an address this function
 * answered, so a name that resolves to a private address (or changes its answer between a check and the
 * connection, "DNS rebinding") never reaches one.
 */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...(options as LookupOptions), all: true }, (err, found) => {
    if (err) return callback(err, "", 0);
    const all = found as unknown as LookupAddress[];
    const allowed = all.filter((a) => !isNonPublicAddress(a.address));
    if (allowed.length === 0) {
      const error = new WebhookTargetRefused(
        `${hostname} resolves only to non-public addresses (${all.map((a) => a.address).join(", ")}): refused; ${ALLOW_HINT}`,
      );
      return callback(error as NodeJS.ErrnoException, "", 0);
    }
    if ((options as LookupOptions).all)
      return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
    callback(null, allowed[0]!.address, allowed[0]!.family);
  });
};

/**
 * The webhook transport on node:http(s): one request per call, no connection pooling across endpoints,
 * redirects answered as they are, the whole exchange (connect, send, response head) within `timeoutMs`.
 * Without `allowPrivate`, loopback, private, link-local and reserved addresses are refused, whether
 * written in the URL or resolved from its name.
 */
export function createWebhookTransport(opts: { allowPrivate: boolean }): WebhookTransport {
  return (url, req) =>
    new Promise((resolve, reject) => {
      const u = new URL(url);
      const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
      if (!opts.allowPrivate && isIP(host) && isNonPublicAddress(host)) {
        reject(new WebhookTargetRefused(`${host} is not a public address: refused; ${ALLOW_HINT}`));
        return;
      }
      const send = u.protocol === "https:" ? https.request : http.request;
      const body = Buffer.from(req.body);
      const request = send(
        u,
        {
          method: "POST",
          headers: { ...req.headers, "content-length": String(body.length) },
          agent: false,
          ...(opts.allowPrivate ? {} : { lookup: publicOnlyLookup }),
        },
        (res) => {
          clearTimeout(timer);
          res.resume(); // the answer's body is not read: only its status counts
          resolve({ status: res.statusCode ?? 0 });
        },
      );
      const timer = setTimeout(() => {
        const err = new Error(`timed out after ${req.timeoutMs} ms`);
        err.name = "TimeoutError";
        request.destroy(err);
      }, req.timeoutMs);
      request.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      request.end(body);
    });
}
