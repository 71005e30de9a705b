import { EventType, type WebhookDeliveryInfo, type WebhookInfo } from "@docfleet/pipeline";
import { builder } from "../builder.ts";

// Webhooks of the caller's own tenant (issue 20), for an admin key: endpoints (their secret answered
// once, at creation; stored encrypted), and the delivery log with redelivery. Another tenant's ids are
// NOT_FOUND, like unknown ones.

const EVENT_DESCRIPTIONS: Record<keyof typeof EventType, string> = {
  DOCUMENTS_REQUESTED:
    "documents.requested: requestUploads registered documents in a batch (one per request)",
  DOCUMENTS_MOVED: "documents.moved: pending documents left the batch for another (one per move)",
  DOCUMENT_QUEUED: "document.queued: a document's upload completed and it waits for parse",
  STAGE_STARTED: "stage.started: a worker started a stage of a document",
  STAGE_COMPLETED: "stage.completed: a stage of a document finished",
  STAGE_RETRY: "stage.retry: a stage failed with a transient error and will run again",
  DOCUMENT_COMPLETED: "document.completed: a document went through every stage",
  DOCUMENT_FAILED: "document.failed: a document stopped with a failure code",
  DOCUMENT_RETRIED: "document.retried: an operator queued a document again",
  DOCUMENT_CORRECTED: "document.corrected: a person corrected a document's category or fields",
};

export const WebhookEventType = builder.enumType("WebhookEventType", {
  description:
    'An event type a webhook may subscribe to; delivered as its name in the body\'s `type` (DOCUMENT_COMPLETED: "document.completed")',
  values: Object.fromEntries(
    Object.entries(EventType).map(([name, value]) => [
      name,
      { value, description: EVENT_DESCRIPTIONS[name as keyof typeof EventType] },
    ]),
  ) as { [K in keyof typeof EventType]: { value: (typeof EventType)[K]; description: string } },
});

const WebhookDeliveryStatus = builder.enumType("WebhookDeliveryStatus", {
  description: "Where a delivery stands",
  values: {
    PENDING: { description: "to be sent (again) at nextAttemptAt" },
    DELIVERED: { description: "the endpoint answered 2xx (at deliveredAt)" },
    FAILED: { description: "every attempt failed; redeliverWebhookDelivery sends it again" },
  } as const,
});

const Webhook = builder.objectRef<WebhookInfo>("Webhook");
Webhook.implement({
  description: "A webhook endpoint of the tenant: where its events are POSTed, signed (never its secret)",
  fields: (t) => ({
    id: t.exposeID("id", { description: "the endpoint's id" }),
    url: t.exposeString("url", { description: "where events are POSTed (http or https)" }),
    description: t.exposeString("description", { description: "a note for people" }),
    events: t.field({
      type: [WebhookEventType],
      description: "the event types delivered to it",
      resolve: (w) => w.events,
    }),
    enabled: t.exposeBoolean("enabled", {
      description: "false: nothing is sent; its deliveries wait, PENDING, until it is enabled",
    }),
    secretPrefix: t.exposeString("secretPrefix", {
      description: "the signing secret's first 12 characters (whsec_...), to tell secrets apart",
    }),
    createdAt: t.field({ type: "DateTime", description: "when it was created", resolve: (w) => w.createdAt }),
    updatedAt: t.field({
      type: "DateTime",
      description: "when it last changed",
      resolve: (w) => w.updatedAt,
    }),
  }),
});

const CreatedWebhook = builder.objectRef<{ secret: string; webhook: WebhookInfo }>("CreatedWebhook");
CreatedWebhook.implement({
  description: "A webhook just created: its signing secret (answered this once) and its listing",
  fields: (t) => ({
    secret: t.exposeString("secret", {
      description:
        "the HMAC-SHA256 key of its Docfleet-Signature header: answered once, stored only encrypted",
    }),
    webhook: t.field({
      type: Webhook,
      description: "the endpoint as webhooks lists it",
      resolve: (c) => c.webhook,
    }),
  }),
});

const WebhookDelivery = builder.objectRef<WebhookDeliveryInfo>("WebhookDelivery");
WebhookDelivery.implement({
  description: "One event sent to one endpoint, with its attempts (the delivery log)",
  fields: (t) => ({
    id: t.exposeID("id", {
      description: "the delivery's id: its Docfleet-Webhook-Id header, the same on every attempt",
    }),
    webhookId: t.exposeID("endpointId", { description: "the endpoint it goes to" }),
    eventId: t.exposeString("eventId", { description: "the event's id (<batchId>.<seq>), the body's `id`" }),
    eventType: t.exposeString("eventType", { description: "the event's type (document.completed, ...)" }),
    status: t.field({
      type: WebhookDeliveryStatus,
      description: "where it stands",
      resolve: (d) => d.status,
    }),
    attempts: t.exposeInt("attempts", { description: "attempts made (since the last redelivery)" }),
    nextAttemptAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "PENDING: when it is tried next; null once DELIVERED or FAILED",
      resolve: (d) => (d.status === "PENDING" ? d.nextAttemptAt : null),
    }),
    lastAttemptAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "when the last attempt started; null: none yet",
      resolve: (d) => d.lastAttemptAt,
    }),
    lastStatusCode: t.exposeInt("lastStatusCode", {
      nullable: true,
      description: "the HTTP status of the last answer; null: none (no attempt, or no answer)",
    }),
    lastError: t.exposeString("lastError", {
      nullable: true,
      description: "why the last attempt failed (HTTP 500, ECONNREFUSED, timed out...); null after a success",
    }),
    deliveredAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "when the endpoint answered 2xx; null: not (yet)",
      resolve: (d) => d.deliveredAt,
    }),
    body: t.exposeString("body", { description: "the JSON body sent, byte for byte (what is signed)" }),
    createdAt: t.field({
      type: "DateTime",
      description: "when the event was fanned out",
      resolve: (d) => d.createdAt,
    }),
  }),
});

const CreateWebhookInput = builder.inputType("CreateWebhookInput", {
  description: "A new webhook endpoint",
  fields: (t) => ({
    url: t.string({ required: true, description: "http:// or https:// URL, without user:password@" }),
    events: t.field({
      type: [WebhookEventType],
      required: false,
      description: "event types to deliver; default DOCUMENT_COMPLETED and DOCUMENT_FAILED",
    }),
    description: t.string({ required: false, description: "a note for people (up to 500 characters)" }),
    secret: t.string({
      required: false,
      description: "the signing secret to use (16 to 200 characters); default a new random whsec_... one",
    }),
    enabled: t.boolean({ required: false, description: "default true" }),
  }),
});

const UpdateWebhookInput = builder.inputType("UpdateWebhookInput", {
  description: "Changes to a webhook endpoint; fields left out stay as they are",
  fields: (t) => ({
    url: t.string({ required: false, description: "a new http(s) URL" }),
    events: t.field({
      type: [WebhookEventType],
      required: false,
      description: "new event types (at least one)",
    }),
    description: t.string({ required: false, description: "a new note" }),
    enabled: t.boolean({
      required: false,
      description: "false pauses it (deliveries wait, PENDING); true resumes them",
    }),
  }),
});

builder.queryFields((t) => ({
  webhooks: t.field({
    authScopes: { admin: true },
    type: [Webhook],
    description: "The caller's tenant's webhook endpoints, oldest first. Scope: admin",
    resolve: (_root, _args, ctx) => ctx.services.webhooks.list(ctx.tenantId),
  }),
  webhookDeliveries: t.field({
    authScopes: { admin: true },
    type: [WebhookDelivery],
    description:
      "The caller's tenant's webhook delivery log, newest first. Errors: BAD_REQUEST (first out of 1..200). Scope: admin",
    args: {
      webhookId: t.arg.id({ description: "only this endpoint's deliveries" }),
      status: t.arg({ type: WebhookDeliveryStatus, description: "only deliveries in this status" }),
      first: t.arg.int({ description: "how many, 1..200 (default 50)" }),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.webhooks.deliveries(ctx.tenantId, {
        webhookId: args.webhookId == null ? null : String(args.webhookId),
        status: args.status,
        first: args.first,
      }),
  }),
}));

builder.mutationFields((t) => ({
  createWebhook: t.field({
    authScopes: { admin: true },
    type: CreatedWebhook,
    description:
      "A webhook endpoint of the caller's tenant; answers its signing secret once. Errors: BAD_REQUEST (not an http(s) URL, a bad secret, no webhook key configured). Scope: admin",
    args: { input: t.arg({ type: CreateWebhookInput, required: true, description: "the endpoint" }) },
    resolve: (_root, { input }, ctx) => ctx.services.webhooks.create(ctx.tenantId, input),
  }),
  updateWebhook: t.field({
    authScopes: { admin: true },
    type: Webhook,
    description:
      "Enables, disables or changes a webhook endpoint. Errors: NOT_FOUND (none of this tenant's), BAD_REQUEST. Scope: admin",
    args: {
      id: t.arg.id({ required: true, description: "the endpoint's id" }),
      input: t.arg({ type: UpdateWebhookInput, required: true, description: "what changes" }),
    },
    resolve: (_root, args, ctx) => ctx.services.webhooks.update(ctx.tenantId, String(args.id), args.input),
  }),
  deleteWebhook: t.field({
    authScopes: { admin: true },
    type: "Boolean",
    description:
      "Deletes a webhook endpoint and its delivery log; answers true. Errors: NOT_FOUND (none of this tenant's). Scope: admin",
    args: { id: t.arg.id({ required: true, description: "the endpoint's id" }) },
    resolve: async (_root, args, ctx) => {
      await ctx.services.webhooks.delete(ctx.tenantId, String(args.id));
      return true;
    },
  }),
  redeliverWebhookDelivery: t.field({
    authScopes: { admin: true },
    type: WebhookDelivery,
    description:
      "Sends a delivery again now, under the same id, with a fresh attempt count (a FAILED one, or any). Errors: NOT_FOUND (none of this tenant's). Scope: admin",
    args: { id: t.arg.id({ required: true, description: "the delivery's id" }) },
    resolve: (_root, args, ctx) => ctx.services.webhooks.redeliver(ctx.tenantId, String(args.id)),
  }),
}));
