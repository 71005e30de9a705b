import { graphReads } from "@docfleet/pipeline";
import { builder, type Context } from "../builder.ts";
import { PER_ITEM_TEXT } from "../use-storable-text.ts";
import { Document } from "./document.ts";

const canRead = (ctx: Context) => ctx.auth.scopes.includes("read");

const FileInput = builder.inputType("FileInput", {
  description: "A file to upload, announced before its bytes",
  fields: (t) => ({
    name: t.string({
      required: true,
      description: "its name, with its folder path relative to what was uploaded (a/b/c.pdf)",
      // Judged file by file (INVALID_NAME, NUL included): one bad name never fails the others.
      extensions: { [PER_ITEM_TEXT]: true },
    }),
    size: t.int({ required: true, description: "bytes" }),
    sha256: t.string({ required: true, description: "hex digest of the content; dedupes within the tenant" }),
    contentType: t.string({
      description: "its MIME type as the client knows it (PARSE detects the real one)",
    }),
  }),
});

const UploadStatus = builder.enumType("UploadStatus", {
  description: "What requestUploads decided for one file",
  values: {
    UPLOAD: {
      description:
        "send the bytes to `target` (large files: in parts, see startMultipartUpload), then call completeUploads",
    },
    DUPLICATE: {
      description:
        "the tenant already holds this content: `document` is the existing one (for a key without the " +
        '"read" scope only when it is in this batch; else documentId, batchId and document are null)',
    },
    REJECTED: { description: "the file cannot be accepted; see code and message" },
  },
});

const UploadTarget = builder.objectRef<{ url: string; fields: Record<string, string>; expiresAt: Date }>(
  "UploadTarget",
);
const FormField = builder.objectRef<[string, string]>("FormField");
FormField.implement({
  description: "One form field of an upload target's POST",
  fields: (t) => ({
    name: t.string({ description: "the field's name", resolve: (f) => f[0] }),
    value: t.string({ description: "its value, sent as it is", resolve: (f) => f[1] }),
  }),
});
UploadTarget.implement({
  description: "POST a multipart/form-data body to url: every field in order, then the file as `file`",
  fields: (t) => ({
    url: t.exposeString("url", {
      description: "where to POST (the object store, or this server's /objects)",
    }),
    fields: t.field({
      type: [FormField],
      description: "the signed policy's form fields, to send in this order before the file",
      resolve: (u) => Object.entries(u.fields),
    }),
    expiresAt: t.expose("expiresAt", {
      type: "DateTime",
      description: "when the signature stops working; call requestUploads again for a fresh one",
    }),
  }),
});

type UploadResultShape = {
  name: string;
  status: "UPLOAD" | "DUPLICATE" | "REJECTED";
  documentId: string | null;
  batchId: string | null;
  documentName: string | null;
  target: { url: string; fields: Record<string, string>; expiresAt: Date } | null;
  code: string | null;
  message: string | null;
};
const UploadResult = builder.objectRef<UploadResultShape>("UploadResult");
UploadResult.implement({
  description: "requestUploads' answer for one file, in the order the files were given",
  fields: (t) => ({
    name: t.exposeString("name", { description: "the file's name as given" }),
    status: t.expose("status", { type: UploadStatus, description: "what to do next" }),
    documentId: t.exposeID("documentId", {
      nullable: true,
      description: "UPLOAD: the new document (pass it to completeUploads); DUPLICATE: the existing one",
    }),
    batchId: t.exposeID("batchId", {
      nullable: true,
      description:
        'the batch of `document`: for DUPLICATE, the batch that first brought this content (null to a key without "read" when that is another batch)',
    }),
    documentName: t.exposeString("documentName", {
      nullable: true,
      description: "the name `document` was registered under (a client tells its own earlier upload by it)",
    }),
    document: t.prismaField({
      type: Document,
      nullable: true,
      description: "the document `documentId` names (its content fields need the read scope)",
      resolve: (query, r, _args, ctx) =>
        r.documentId ? graphReads.document(ctx.prisma, query, ctx.tenantId, r.documentId) : null,
    }),
    target: t.field({
      type: UploadTarget,
      nullable: true,
      description: "UPLOAD: where to send the bytes; null otherwise",
      resolve: (r) => r.target,
    }),
    code: t.exposeString("code", {
      nullable: true,
      description: "REJECTED: why (TOO_LARGE, INVALID_NAME, BAD_REQUEST)",
    }),
    message: t.exposeString("message", { nullable: true, description: "REJECTED (or DUPLICATE): in words" }),
  }),
});

const CompleteStatus = builder.enumType("CompleteStatus", {
  description: "What completeUploads found for one document",
  values: {
    QUEUED: { description: "its bytes are there with the announced size: queued at PARSE" },
    ALREADY_QUEUED: { description: "it was queued before (completeUploads is idempotent); nothing changed" },
    NOT_UPLOADED: { description: "no bytes arrived for it yet: upload them, then call again" },
    SIZE_MISMATCH: {
      description: "the bytes that arrived are not the announced size (see message): upload again",
    },
    NOT_FOUND: { description: "no such document for this tenant" },
  } as const,
});
const CompleteResult = builder.objectRef<{
  documentId: string;
  status: (typeof CompleteStatus)["$inferType"];
  message?: string;
}>("CompleteResult");
CompleteResult.implement({
  description: "completeUploads' answer for one document",
  fields: (t) => ({
    documentId: t.exposeID("documentId", { description: "the id as given" }),
    status: t.expose("status", { type: CompleteStatus, description: "what was found and done" }),
    message: t.exposeString("message", {
      nullable: true,
      description: "NOT_UPLOADED, SIZE_MISMATCH: in words",
    }),
  }),
});

builder.mutationFields((t) => ({
  requestUploads: t.field({
    authScopes: { upload: true },
    type: [UploadResult],
    description:
      "Registers files of a batch and answers an upload target per new file (at most 1000 per call, more is refused with BAD_REQUEST). Scope: upload",
    args: {
      batchId: t.arg.id({ required: true, description: "the batch (createBatch's answer)" }),
      files: t.arg({ type: [FileInput], required: true, description: "the files, at most 1000" }),
    },
    resolve: async (_root, args, ctx) => {
      const res = await ctx.services.intake.requestUploads(ctx.tenantId, String(args.batchId), args.files);
      // An answer that names no document: a refusal, or a duplicate the key may not read.
      const bare = (
        name: string,
        status: UploadResultShape["status"],
        code: string | null,
        message: string,
      ) => ({
        name,
        status,
        documentId: null,
        batchId: null,
        documentName: null,
        target: null,
        code,
        message,
      });
      return res.map((r, i): UploadResultShape => {
        const name = args.files[i]!.name;
        if (r.status === "REJECTED") return bare(name, r.status, r.code, r.message);
        if (r.status === "DUPLICATE" && r.document.batchId !== String(args.batchId) && !canRead(ctx))
          // Content this key's batch does not hold: "duplicate" is all a key that cannot read the
          // archive learns (no id, batch or name of what holds it: issue 15).
          return bare(name, r.status, null, "the tenant already holds this content in another batch");
        return {
          name,
          status: r.status,
          documentId: r.document.id,
          batchId: r.document.batchId,
          documentName: r.document.name,
          target: r.status === "UPLOAD" ? r.target : null,
          code: null,
          message: null,
        };
      });
    },
  }),
  completeUploads: t.field({
    authScopes: { upload: true },
    type: [CompleteResult],
    description:
      "Checks the uploaded objects and queues their documents (at most 1000 per call, more is refused with BAD_REQUEST); idempotent. Scope: upload",
    args: {
      documentIds: t.arg.idList({ required: true, description: "requestUploads' documentIds, at most 1000" }),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.intake.completeUploads(ctx.tenantId, args.documentIds.map(String)),
  }),
}));

const MultipartPart = builder.objectRef<{ partNumber: number; url: string }>("MultipartPart");
MultipartPart.implement({
  description: "Where one part's bytes go: PUT them to url as the request body",
  fields: (t) => ({
    partNumber: t.exposeInt("partNumber", {
      description: "1-based; bytes (partNumber-1)*partSize .. partNumber*partSize-1",
    }),
    url: t.exposeString("url", {
      description: "signed; PUT the part's bytes, keep the ETag response header",
    }),
  }),
});

const MultipartTarget = builder.objectRef<{
  uploadId: string;
  partSize: number;
  parts: { partNumber: number; url: string }[];
  expiresAt: Date;
}>("MultipartTarget");
MultipartTarget.implement({
  description:
    "A multipart upload of one document: cut the file into parts of partSize bytes (the last one shorter), " +
    "PUT each to its URL (any order, in parallel, retrying a part as needed), keep each answer's ETag header",
  fields: (t) => ({
    uploadId: t.exposeString("uploadId", {
      description: "keep it to resume (startMultipartUpload with uploadId), complete or abort the upload",
    }),
    partSize: t.exposeInt("partSize", { description: "bytes per part; resume with the same value" }),
    parts: t.field({
      type: [MultipartPart],
      description: "every part's URL, in partNumber order",
      resolve: (m) => m.parts,
    }),
    expiresAt: t.expose("expiresAt", {
      type: "DateTime",
      description: "when the part URLs stop working; ask for fresh ones with startMultipartUpload(uploadId)",
    }),
  }),
});

const PartInput = builder.inputType("PartInput", {
  description: "One uploaded part of a multipart upload",
  fields: (t) => ({
    partNumber: t.int({ required: true, description: "1-based, as MultipartPart.partNumber" }),
    etag: t.string({
      required: true,
      description: "the ETag header the part's PUT answered (quotes optional)",
    }),
  }),
});

builder.mutationFields((t) => ({
  startMultipartUpload: t.field({
    authScopes: { upload: true },
    type: MultipartTarget,
    description:
      "For large files, instead of POSTing to requestUploads' target: starts a multipart upload of a document " +
      "waiting for its bytes (requestUploads answered UPLOAD). Protocol: PUT each part's bytes to its URL and " +
      "keep the ETag response header of each; then completeMultipartUpload(documentId, uploadId, parts); then " +
      "completeUploads([documentId]) as for a single upload. With uploadId (and the partSize it was started " +
      "with) it answers fresh URLs for an upload started earlier: resuming after a crash or once the URLs " +
      "expired; parts already PUT stay. partSize defaults to the server's setting; at least 5 MiB unless " +
      "the file is one part, at most 10,000 parts. Errors: NOT_FOUND (no such document, or the upload is " +
      "gone: start again without uploadId), CONFLICT (already uploaded), BAD_REQUEST (a part size S3 refuses, " +
      "or one that does not fit the parts already uploaded). Scope: upload",
    args: {
      documentId: t.arg.id({ required: true, description: "a document requestUploads answered UPLOAD for" }),
      partSize: t.arg.int({
        description: "bytes per part; default: the server's DOCFLEET_MULTIPART_PART_BYTES",
      }),
      uploadId: t.arg.string({ description: "resume this upload instead of starting one" }),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.intake.startMultipartUpload(ctx.tenantId, String(args.documentId), {
        partSize: args.partSize,
        uploadId: args.uploadId,
      }),
  }),
  completeMultipartUpload: t.field({
    authScopes: { upload: true },
    type: "Boolean",
    description:
      "Joins the uploaded parts, in partNumber order, into the document's file and checks its size (a wrong " +
      "size deletes it: upload again). Then call completeUploads([documentId]). Safe to retry. Errors: " +
      "NOT_FOUND (no such document or upload), CONFLICT (already uploaded), BAD_REQUEST (a part missing, " +
      "with another ETag, or under 5 MiB but the last; the upload stays open: PUT the part again and retry). Scope: upload",
    args: {
      documentId: t.arg.id({ required: true, description: "the document the upload is for" }),
      uploadId: t.arg.string({ required: true, description: "startMultipartUpload's uploadId" }),
      parts: t.arg({
        type: [PartInput],
        required: true,
        description: "every part with the ETag its PUT answered, any order (at most 10,000)",
      }),
    },
    resolve: async (_root, args, ctx) => {
      await ctx.services.intake.completeMultipartUpload(
        ctx.tenantId,
        String(args.documentId),
        args.uploadId,
        args.parts,
      );
      return true;
    },
  }),
  abortMultipartUpload: t.field({
    authScopes: { upload: true },
    type: "Boolean",
    description:
      "Abandons a multipart upload: its parts are freed and its URLs stop working. Idempotent. Errors: " +
      "NOT_FOUND (no such document). Scope: upload",
    args: {
      documentId: t.arg.id({ required: true, description: "the document the upload is for" }),
      uploadId: t.arg.string({ required: true, description: "startMultipartUpload's uploadId" }),
    },
    resolve: async (_root, args, ctx) => {
      await ctx.services.intake.abortMultipartUpload(ctx.tenantId, String(args.documentId), args.uploadId);
      return true;
    },
  }),
}));
