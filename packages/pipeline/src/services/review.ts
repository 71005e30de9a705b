import type { Document } from "@docfleet/schema";
import { documentMetadata, documentOptions, type StoredField } from "../domain/codecs.ts";
import { isIsoDate } from "../domain/dates.ts";
import { RequestError } from "../domain/errors.ts";
import { labelTokens, relabel } from "../domain/labels.ts";
import { EventType, type StageName } from "../domain/messages.ts";
import * as documents from "../repositories/documents.ts";
import * as labels from "../repositories/labels.ts";
import { transition } from "../repositories/transition.ts";
import { fieldKind, type StoredCategory } from "./categories.ts";
import { type Resources, stageOutbox } from "./resources.ts";

/** Review: a person's corrections of a completed document, which also teach the tenant's classifier. */
export class ReviewService {
  constructor(private readonly r: Resources) {}

  /**
   * Records a person's fix of a completed document's category and/or fields: the document takes them
   * (confidence 1, no longer needing review), the confirmed category becomes a training label for the
   * tenant's classifier, and a changed category re-runs understand (the new category's fields) and
   * index; changed fields re-run index (search filters and facets on them). Field values are checked against the category's declared types.
   */
  async correctDocument(
    tenantId: string,
    documentId: string,
    input: {
      category?: string | null;
      fields?: readonly { name: string; value: string; currency?: string | null }[] | null;
    },
  ): Promise<Document> {
    const doc = await documents.findOwned(this.r.prisma, tenantId, documentId);
    if (!doc) throw new RequestError("NOT_FOUND", `document ${documentId} not found`);
    if (doc.status !== "COMPLETED") {
      throw new RequestError(
        "BAD_REQUEST",
        `only completed documents can be corrected; this one is ${doc.status}`,
      );
    }
    const name = input.category ?? doc.category;
    const category = name ? await this.r.categories.get(tenantId, name) : null;
    if (!category) throw new RequestError("BAD_REQUEST", `unknown category: ${name ?? "(none)"}`);
    const changed = category.name !== doc.category;
    const corrected = (input.fields ?? []).map((f) => humanField(category, f));
    const metadata = documentMetadata.read(doc.metadata);
    const old = (metadata?.fields ?? []).filter((f) =>
      !changed || f.source === "human" ? declared(category, f.name) : true,
    );
    const fields = [...old.filter((f) => !corrected.some((c) => c.name === f.name)), ...corrected];
    const tokens = doc.textKey
      ? labelTokens((await this.r.deps.store.get(doc.textKey)).toString("utf8"))
      : [];
    // A new category needs its own fields extracted; corrected fields need only the index refreshed.
    const requeue: StageName[] | null = changed
      ? ["UNDERSTAND", "INDEX"]
      : corrected.length > 0
        ? ["INDEX"]
        : null;
    // The answer is the document as this correction left it, read in its transaction: once it commits,
    // a worker may already have taken the re-queued document (PROCESSING) before a read afterwards.
    return this.r.tx(async (tx, events) => {
      const before = await labels.findLabel(tx, tenantId, doc.id);
      await labels.saveLabel(tx, { documentId: doc.id, tenantId, category: category.name, tokens });
      const model = await labels.lockModel(tx, tenantId);
      const learned = relabel(model.learned, before, { category: category.name, tokens });
      await labels.saveModel(tx, tenantId, learned, model.labels + (before ? 0 : 1));
      const { fields: _f, lowConfidence: _l, ...kept } = metadata ?? {};
      events.push(
        ...(await transition(tx, {
          tenantId,
          batchId: doc.batchId,
          documentIds: [doc.id],
          from: { status: "COMPLETED", stage: null },
          to: requeue ? { status: "QUEUED", stage: requeue[0]! } : { status: "COMPLETED", stage: null },
          data: {
            category: category.name,
            confidence: 1,
            categoryVersion: category.version,
            needsReview: false,
            correctedAt: new Date(),
            metadata: documentMetadata.write({ ...kept, fields, lowConfidence: [] }),
            ...(requeue
              ? { options: documentOptions.write({ stages: requeue }), completedAt: null, attempts: 0 }
              : {}),
          },
          needsReviewDelta: doc.needsReview ? -1 : 0,
          eventType: EventType.DOCUMENT_CORRECTED,
          eventPayload: () => ({
            category: category.name,
            previousCategory: doc.category,
            fields: corrected.map((f) => f.name),
          }),
          outbox: requeue ? () => stageOutbox(doc, requeue[0]!, this.r.traceparent()) : undefined,
        })),
      );
      return documents.getOwned(tx, tenantId, doc.id);
    });
  }
}

/** A person's value for a declared field, checked and normalised for the field's type. */
function humanField(
  category: StoredCategory,
  f: { name: string; value: string; currency?: string | null },
): StoredField {
  const schema = category.fields?.properties[f.name];
  if (!schema) {
    throw new RequestError("BAD_REQUEST", `category ${category.name} declares no field ${f.name}`);
  }
  const kind = fieldKind(schema);
  const raw = f.value.trim();
  const bad = (why: string) => new RequestError("BAD_REQUEST", `field ${f.name}: ${why}`);
  let value = raw;
  if (raw === "") throw bad("a value is required");
  if (kind === "date") {
    if (!isIsoDate(raw)) throw bad("a date is written YYYY-MM-DD");
  } else if (kind === "money" || kind === "number") {
    if (!/^-?\d+(\.\d+)?$/.test(raw)) throw bad("a number is written like 1234.50 (no grouping)");
    value = kind === "money" ? Number(raw).toFixed(2) : String(Number(raw));
  } else if (kind === "enum") {
    const s = schema.type === "array" ? schema.items : schema;
    const members = "enum" in s ? (s.enum ?? []) : [];
    if (!members.includes(raw)) throw bad(`one of ${members.join(", ")}`);
  }
  const currency = kind === "money" && f.currency ? f.currency.trim().toUpperCase() : undefined;
  if (currency !== undefined && !/^[A-Z]{3}$/.test(currency)) throw bad("a currency is an ISO 4217 code");
  return {
    name: f.name,
    kind,
    raw,
    value,
    ...(currency ? { currency } : {}),
    confidence: 1,
    source: "human",
  };
}

function declared(category: StoredCategory, field: string): boolean {
  return field in (category.fields?.properties ?? {});
}
