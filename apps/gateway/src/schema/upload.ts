import { builder } from "../builder.ts";
import { guard } from "../errors.ts";
import { Document } from "./document.ts";

const FileInput = builder.inputType("FileInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    size: t.int({ required: true, description: "bytes" }),
    sha256: t.string({ required: true, description: "hex digest of the content; dedupes within the tenant" }),
    contentType: t.string(),
  }),
});

const UploadStatus = builder.enumType("UploadStatus", {
  values: {
    UPLOAD: { description: "send the bytes to `target`, then call completeUploads" },
    DUPLICATE: { description: "the tenant already holds this content: `document` is the existing one" },
    REJECTED: { description: "the file cannot be accepted; see code and message" },
  },
});

const UploadTarget = builder.objectRef<{ url: string; fields: Record<string, string>; expiresAt: Date }>(
  "UploadTarget",
);
const FormField = builder.objectRef<[string, string]>("FormField");
FormField.implement({
  fields: (t) => ({ name: t.string({ resolve: (f) => f[0] }), value: t.string({ resolve: (f) => f[1] }) }),
});
UploadTarget.implement({
  description: "POST a multipart/form-data body to url: every field in order, then the file as `file`",
  fields: (t) => ({
    url: t.exposeString("url"),
    fields: t.field({ type: [FormField], resolve: (u) => Object.entries(u.fields) }),
    expiresAt: t.expose("expiresAt", { type: "DateTime" }),
  }),
});

type UploadResultShape = {
  name: string;
  status: "UPLOAD" | "DUPLICATE" | "REJECTED";
  documentId: string | null;
  target: { url: string; fields: Record<string, string>; expiresAt: Date } | null;
  code: string | null;
  message: string | null;
};
const UploadResult = builder.objectRef<UploadResultShape>("UploadResult");
UploadResult.implement({
  fields: (t) => ({
    name: t.exposeString("name"),
    status: t.expose("status", { type: UploadStatus }),
    documentId: t.exposeID("documentId", { nullable: true }),
    document: t.prismaField({
      type: Document,
      nullable: true,
      resolve: (query, r, _args, ctx) =>
        r.documentId
          ? ctx.prisma.document.findFirst({ ...query, where: { id: r.documentId, tenantId: ctx.tenantId } })
          : null,
    }),
    target: t.field({ type: UploadTarget, nullable: true, resolve: (r) => r.target }),
    code: t.exposeString("code", { nullable: true }),
    message: t.exposeString("message", { nullable: true }),
  }),
});

const CompleteStatus = builder.enumType("CompleteStatus", {
  values: ["QUEUED", "ALREADY_QUEUED", "NOT_UPLOADED", "SIZE_MISMATCH", "NOT_FOUND"] as const,
});
const CompleteResult = builder.objectRef<{
  documentId: string;
  status: (typeof CompleteStatus)["$inferType"];
  message?: string;
}>("CompleteResult");
CompleteResult.implement({
  fields: (t) => ({
    documentId: t.exposeID("documentId"),
    status: t.expose("status", { type: CompleteStatus }),
    message: t.exposeString("message", { nullable: true }),
  }),
});

builder.mutationFields((t) => ({
  requestUploads: t.field({
    type: [UploadResult],
    description:
      "Registers files of a batch and answers an upload target per new file (at most 1000 per call)",
    args: { batchId: t.arg.id({ required: true }), files: t.arg({ type: [FileInput], required: true }) },
    resolve: (_root, args, ctx) =>
      guard(async () => {
        const res = await ctx.pipeline.requestUploads(ctx.tenantId, String(args.batchId), args.files);
        return res.map((r, i): UploadResultShape => {
          const name = args.files[i]!.name;
          if (r.status === "REJECTED")
            return {
              name,
              status: r.status,
              documentId: null,
              target: null,
              code: r.code,
              message: r.message,
            };
          return {
            name,
            status: r.status,
            documentId: r.document.id,
            target: r.status === "UPLOAD" ? r.target : null,
            code: null,
            message: null,
          };
        });
      }),
  }),
  completeUploads: t.field({
    type: [CompleteResult],
    description: "Checks the uploaded objects and queues their documents (at most 1000 per call); idempotent",
    args: { documentIds: t.arg.idList({ required: true }) },
    resolve: (_root, args, ctx) =>
      guard(() => ctx.pipeline.completeUploads(ctx.tenantId, args.documentIds.map(String))),
  }),
}));
