import { randomUUID } from "node:crypto";
import { Prisma } from "@docfleet/schema";
import { describe, expect } from "vitest";
import { documentMetadata, type StoredField } from "../domain/codecs.ts";
import { objectKeys } from "../domain/context.ts";
import { RequestError } from "../domain/errors.ts";
import { EventType, stageMessage } from "../domain/messages.ts";
import type { StageHandler } from "../stages/index.ts";
import {
  counters,
  createTenant,
  insertBatch,
  insertDocument,
  outboxFor,
  type ServiceEnv,
  serviceTest,
} from "./test-resources.ts";

const TEXT = "Invoice from Acme Widgets Limited. Invoice number 42, total due 12.00 EUR.";

const modelField = (name: string, kind: StoredField["kind"], value: string): StoredField => ({
  name,
  kind,
  raw: value,
  value,
  confidence: 0.4,
  source: "model",
});

/** A completed invoice of the tenant, flagged for review, with its text stored; and the services. */
const test = serviceTest.extend("review", async ({ env, tenantId }) => {
  const services = env.services();
  const batch = await insertBatch(env.prisma, tenantId);
  const completed = async (extra: Partial<Parameters<typeof insertDocument>[1]> = {}) => {
    const id = randomUUID();
    await env.deps.store.put(objectKeys.text(tenantId, id), TEXT);
    return insertDocument(env.prisma, {
      id,
      tenantId,
      batchId: batch.id,
      status: "COMPLETED",
      category: "invoice",
      confidence: 0.4,
      needsReview: true,
      textKey: objectKeys.text(tenantId, id),
      metadata: documentMetadata.write({
        model: "builtin-rules@2",
        fields: [modelField("total", "money", "12.00"), modelField("company", "string", "Acme")],
        lowConfidence: ["total", "company"],
      }),
      ...extra,
    });
  };
  return { services, batch, completed };
});

const read = (env: ServiceEnv, id: string) => env.prisma.document.findUniqueOrThrow({ where: { id } });

async function requestError(p: Promise<unknown>): Promise<RequestError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RequestError);
  return err as RequestError;
}

describe("ReviewService.correctDocument", () => {
  test("takes corrected fields as a person's (confidence 1), re-indexes, and saves the label", async ({
    env,
    tenantId,
    review,
  }) => {
    const doc = await review.completed();
    const out = await review.services.review.correctDocument(tenantId, doc.id, {
      fields: [{ name: "total", value: " 1234.5 ", currency: "eur" }],
    });
    expect(out).toMatchObject({
      id: doc.id,
      status: "QUEUED",
      stage: "INDEX",
      category: "invoice",
      confidence: 1,
      needsReview: false,
      options: { stages: ["INDEX"] },
    });
    expect(out.correctedAt).toBeInstanceOf(Date);
    const metadata = documentMetadata.read(out.metadata);
    expect(metadata).toMatchObject({ model: "builtin-rules@2", lowConfidence: [] });
    expect(metadata?.fields).toEqual([
      modelField("company", "string", "Acme"),
      {
        name: "total",
        kind: "money",
        raw: "1234.5",
        value: "1234.50",
        currency: "EUR",
        confidence: 1,
        source: "human",
      },
    ]);
    expect((await outboxFor(env.prisma, doc.id)).map((r) => r.payload)).toEqual([stageMessage(doc, "INDEX")]);
    const corrected = await env.prisma.event.findFirstOrThrow({
      where: { documentId: doc.id, type: EventType.DOCUMENT_CORRECTED },
    });
    expect(corrected.payload).toMatchObject({
      category: "invoice",
      previousCategory: "invoice",
      fields: ["total"],
    });
    expect(await counters(env.prisma, review.batch.id)).toMatchObject({
      needsReview: 0,
      completed: 0,
      queued: 1,
      atIndex: 1,
    });

    // The confirmed category teaches the tenant's classifier the document's words.
    const label = await env.prisma.label.findUniqueOrThrow({ where: { documentId: doc.id } });
    expect(label.category).toBe("invoice");
    expect(label.tokens).toEqual(expect.arrayContaining(["acme", "widgets", "limited"]));
    const model = await env.prisma.tenantModel.findUniqueOrThrow({ where: { tenantId } });
    expect(model.labels).toBe(1);
    expect(model.learned).toMatchObject({ docs: { invoice: 1 }, tokens: { invoice: { acme: 1 } } });
  });

  test("checks each value against its field's declared type; a refused correction changes nothing", async ({
    env,
    tenantId,
    review,
  }) => {
    await review.services.categories.define(tenantId, {
      name: "ticket",
      description: "A support ticket.",
      fields: {
        type: "object",
        properties: {
          priority: { type: "string", enum: ["low", "high"] },
          tags: { type: "array", items: { type: "string", enum: ["billing", "bug"] } },
          hours: { type: "number" },
        },
      },
    });
    const invoice = await review.completed();
    const ticket = await review.completed({ category: "ticket", metadata: Prisma.DbNull });
    const bad: [string, { name: string; value: string; currency?: string }][] = [
      [invoice.id, { name: "date", value: "12/03/2024" }],
      [invoice.id, { name: "date", value: "2024-13-01" }],
      [invoice.id, { name: "date", value: "2024-02-30" }],
      [invoice.id, { name: "total", value: "1,234.50" }],
      [invoice.id, { name: "total", value: "12 EUR" }],
      [invoice.id, { name: "total", value: "12.00", currency: "EURO" }],
      [invoice.id, { name: "total", value: "   " }],
      [invoice.id, { name: "colour", value: "red" }],
      [ticket.id, { name: "priority", value: "medium" }],
      [ticket.id, { name: "tags", value: "feature" }],
      [ticket.id, { name: "hours", value: "1e3" }],
    ];
    const answers: string[] = [];
    for (const [id, field] of bad) {
      const answer = await review.services.review.correctDocument(tenantId, id, { fields: [field] }).then(
        () => "accepted",
        (e: unknown) => (e instanceof RequestError && e.message.includes(field.name) ? e.code : String(e)),
      );
      answers.push(`${field.name}=${field.value}: ${answer}`);
    }
    expect(answers).toEqual(bad.map(([, f]) => `${f.name}=${f.value}: BAD_REQUEST`));
    expect(await read(env, invoice.id)).toMatchObject({
      status: "COMPLETED",
      confidence: 0.4,
      needsReview: true,
    });
    expect(await env.prisma.label.count({ where: { tenantId } })).toBe(0);

    const ok = await review.services.review.correctDocument(tenantId, ticket.id, {
      fields: [
        { name: "priority", value: "high" },
        { name: "hours", value: "007.50" },
        { name: "tags", value: "bug" },
      ],
    });
    expect(documentMetadata.read(ok.metadata)?.fields?.map((f) => [f.name, f.kind, f.value])).toEqual([
      ["priority", "enum", "high"],
      ["hours", "number", "7.5"],
      ["tags", "enum", "bug"],
    ]);
    const dated = await review.services.review.correctDocument(tenantId, invoice.id, {
      fields: [{ name: "date", value: "2024-02-29" }],
    });
    expect(documentMetadata.read(dated.metadata)?.fields?.find((f) => f.name === "date")).toMatchObject({
      kind: "date",
      value: "2024-02-29",
    });
  });

  test("a new category re-runs understand and index; correcting it again moves the label, not the count", async ({
    env,
    tenantId,
    review,
  }) => {
    const done: StageHandler = async () => ({ data: {} });
    const { stages } = env.services({
      handlers: { PARSE: done, UNDERSTAND: done, EMBED: done, INDEX: done },
    });
    const doc = await review.completed();
    const receipt = await review.services.categories.get(tenantId, "receipt");
    const out = await review.services.review.correctDocument(tenantId, doc.id, { category: "receipt" });
    expect(out).toMatchObject({
      status: "QUEUED",
      stage: "UNDERSTAND",
      category: "receipt",
      categoryVersion: receipt!.version,
      options: { stages: ["UNDERSTAND", "INDEX"] },
    });
    expect((await outboxFor(env.prisma, doc.id)).map((r) => r.topic)).toEqual(["docfleet.understand"]);

    // The pipeline runs the plan: understand, then index (embed skipped), then the document is done.
    await stages.processStage(stageMessage(doc, "UNDERSTAND"), 1);
    expect(await read(env, doc.id)).toMatchObject({ status: "QUEUED", stage: "INDEX" });
    await stages.processStage(stageMessage(doc, "INDEX"), 1);
    expect(await read(env, doc.id)).toMatchObject({ status: "COMPLETED", options: null });

    await review.services.review.correctDocument(tenantId, doc.id, { category: "letter" });
    const label = await env.prisma.label.findUniqueOrThrow({ where: { documentId: doc.id } });
    expect(label.category).toBe("letter");
    const model = await env.prisma.tenantModel.findUniqueOrThrow({ where: { tenantId } });
    expect(model.labels).toBe(1);
    expect((model.learned as { docs: Record<string, number> }).docs).toEqual({ letter: 1 });
  });

  test("confirming the category as it is keeps the document completed and unflags it", async ({
    env,
    tenantId,
    review,
  }) => {
    const doc = await review.completed();
    const out = await review.services.review.correctDocument(tenantId, doc.id, { category: "invoice" });
    expect(out).toMatchObject({
      status: "COMPLETED",
      stage: null,
      confidence: 1,
      needsReview: false,
      options: null,
    });
    expect(await outboxFor(env.prisma, doc.id)).toHaveLength(0);
    expect(await env.prisma.label.count({ where: { documentId: doc.id } })).toBe(1);
    expect(await counters(env.prisma, review.batch.id)).toMatchObject({ completed: 1, needsReview: 0 });
  });

  test("refuses another tenant's document (NOT_FOUND), one not completed, and an unknown category", async ({
    env,
    tenantId,
    review,
  }) => {
    const stranger = await createTenant(env.prisma);
    const theirBatch = await insertBatch(env.prisma, stranger);
    const theirs = await insertDocument(env.prisma, {
      tenantId: stranger,
      batchId: theirBatch.id,
      status: "COMPLETED",
      category: "invoice",
    });
    for (const id of [theirs.id, randomUUID(), "not-an-id"]) {
      const err = await requestError(
        review.services.review.correctDocument(tenantId, id, { category: "invoice" }),
      );
      expect(err.code).toBe("NOT_FOUND");
    }
    expect(await read(env, theirs.id)).toMatchObject({ status: "COMPLETED", confidence: null });

    const queued = await review.completed({ status: "QUEUED", stage: "EMBED" });
    expect((await requestError(review.services.review.correctDocument(tenantId, queued.id, {}))).code).toBe(
      "BAD_REQUEST",
    );
    const doc = await review.completed();
    const unknown = await requestError(
      review.services.review.correctDocument(tenantId, doc.id, { category: "nonsense" }),
    );
    expect(unknown).toMatchObject({ code: "BAD_REQUEST", message: "unknown category: nonsense" });
    const uncategorised = await review.completed({ category: null });
    expect(
      await requestError(review.services.review.correctDocument(tenantId, uncategorised.id, {})),
    ).toMatchObject({
      code: "BAD_REQUEST",
      message: "unknown category: (none)",
    });
  });
});
