import type { GatewayClient } from "../client.ts";
import { CliError, ExitCode } from "../exit-codes.ts";
import { graphql } from "../generated/gql.ts";
import type {
  ListWebhookDeliveriesQuery,
  ListWebhooksQuery,
  WebhookDeliveryStatus,
  WebhookEventType,
} from "../generated/graphql.ts";
import { plainTable, renderTable } from "../table.ts";

// `docfleet webhooks add|list|enable|disable|remove|deliveries|redeliver` (admin key): each one typed
// operation, a table or a line on stdout (or --json), nothing else there.

const WebhookFields = graphql(`
  fragment WebhookFields on Webhook { id url description events enabled secretPrefix createdAt updatedAt }
`);
void WebhookFields;

const DeliveryFields = graphql(`
  fragment WebhookDeliveryFields on WebhookDelivery {
    id webhookId eventId eventType status attempts nextAttemptAt lastAttemptAt lastStatusCode lastError deliveredAt createdAt
  }
`);
void DeliveryFields;

const ListWebhooks = graphql(`
  query ListWebhooks { webhooks { ...WebhookFields } }
`);

const CreateWebhook = graphql(`
  mutation CreateWebhook($input: CreateWebhookInput!) {
    createWebhook(input: $input) { secret webhook { ...WebhookFields } }
  }
`);

const UpdateWebhook = graphql(`
  mutation UpdateWebhook($id: ID!, $input: UpdateWebhookInput!) {
    updateWebhook(id: $id, input: $input) { ...WebhookFields }
  }
`);

const DeleteWebhook = graphql(`
  mutation DeleteWebhook($id: ID!) { deleteWebhook(id: $id) }
`);

const ListDeliveries = graphql(`
  query ListWebhookDeliveries($webhookId: ID, $status: WebhookDeliveryStatus, $first: Int) {
    webhookDeliveries(webhookId: $webhookId, status: $status, first: $first) { ...WebhookDeliveryFields }
  }
`);

const Redeliver = graphql(`
  mutation RedeliverWebhookDelivery($id: ID!) { redeliverWebhookDelivery(id: $id) { ...WebhookDeliveryFields } }
`);

export type WebhookRow = ListWebhooksQuery["webhooks"][number];
export type DeliveryRow = ListWebhookDeliveriesQuery["webhookDeliveries"][number];

/** Event types by the names receivers see (`document.completed`), and the schema's enum value of each. */
export const WEBHOOK_EVENTS = {
  "documents.requested": "DOCUMENTS_REQUESTED",
  "documents.moved": "DOCUMENTS_MOVED",
  "document.queued": "DOCUMENT_QUEUED",
  "stage.started": "STAGE_STARTED",
  "stage.completed": "STAGE_COMPLETED",
  "stage.retry": "STAGE_RETRY",
  "document.completed": "DOCUMENT_COMPLETED",
  "document.failed": "DOCUMENT_FAILED",
  "document.retried": "DOCUMENT_RETRIED",
  "document.corrected": "DOCUMENT_CORRECTED",
} as const satisfies Record<string, WebhookEventType>;

const NAME_OF = Object.fromEntries(Object.entries(WEBHOOK_EVENTS).map(([n, v]) => [v, n])) as Record<
  WebhookEventType,
  string
>;

/** A comma list of event names (`document.completed,document.failed`, or the enum's spelling). */
export function parseWebhookEvents(list: string): WebhookEventType[] {
  const names = list
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const out: WebhookEventType[] = [];
  for (const n of names) {
    const v =
      (WEBHOOK_EVENTS as Record<string, WebhookEventType>)[n.toLowerCase()] ??
      (Object.values(WEBHOOK_EVENTS) as string[]).find((e) => e === n.toUpperCase());
    if (!v)
      throw new CliError(
        `unknown event type ${JSON.stringify(n)} (known: ${Object.keys(WEBHOOK_EVENTS).join(", ")})`,
        ExitCode.USAGE,
      );
    out.push(v as WebhookEventType);
  }
  if (out.length === 0) throw new CliError("--events needs at least one event type", ExitCode.USAGE);
  return out;
}

/** A webhook as printed by --json: event types by their names. */
function json(w: WebhookRow) {
  return { ...w, events: w.events.map((e) => NAME_OF[e]) };
}

export async function addWebhook(
  client: GatewayClient,
  o: { url: string; events?: WebhookEventType[]; description?: string; secret?: string; disabled?: boolean },
) {
  const { createWebhook } = await client.request(
    CreateWebhook,
    {
      input: {
        url: o.url,
        events: o.events ?? null,
        description: o.description ?? null,
        secret: o.secret ?? null,
        enabled: o.disabled ? false : null,
      },
    },
    { idempotent: false },
  );
  return { secret: createWebhook.secret, webhook: json(createWebhook.webhook) };
}

export async function listWebhooks(client: GatewayClient) {
  const { webhooks } = await client.request(ListWebhooks);
  return webhooks.map(json);
}

export async function setEnabled(client: GatewayClient, id: string, enabled: boolean) {
  const { updateWebhook } = await client.request(UpdateWebhook, { id, input: { enabled } });
  return json(updateWebhook);
}

export async function removeWebhook(client: GatewayClient, id: string): Promise<void> {
  await client.request(DeleteWebhook, { id }, { idempotent: false });
}

export async function listDeliveries(
  client: GatewayClient,
  q: { webhookId?: string; status?: WebhookDeliveryStatus; limit: number },
): Promise<DeliveryRow[]> {
  if (q.limit > 200) throw new CliError("--limit is at most 200", ExitCode.USAGE);
  const { webhookDeliveries } = await client.request(ListDeliveries, {
    webhookId: q.webhookId ?? null,
    status: q.status ?? null,
    first: q.limit,
  });
  return webhookDeliveries;
}

export async function redeliver(client: GatewayClient, id: string): Promise<DeliveryRow> {
  const { redeliverWebhookDelivery } = await client.request(Redeliver, { id }, { idempotent: true });
  return redeliverWebhookDelivery;
}

export function webhooksTable(rows: readonly ReturnType<typeof json>[]): string {
  const t = plainTable(["ID", "URL", "EVENTS", "ENABLED", "SECRET", "CREATED"]);
  for (const w of rows)
    t.push([w.id, w.url, w.events.join(","), w.enabled ? "yes" : "no", `${w.secretPrefix}…`, w.createdAt]);
  return renderTable(t);
}

export function deliveriesTable(rows: readonly DeliveryRow[]): string {
  const t = plainTable(["ID", "WEBHOOK", "EVENT", "STATUS", "ATTEMPTS", "LAST", "NEXT / DELIVERED"]);
  for (const d of rows)
    t.push([
      d.id,
      d.webhookId,
      d.eventType,
      d.status,
      String(d.attempts),
      d.lastError ?? (d.lastStatusCode != null ? `HTTP ${d.lastStatusCode}` : "-"),
      d.deliveredAt ?? d.nextAttemptAt ?? "-",
    ]);
  return renderTable(t);
}
