/**
 * Domain failure codes: one enum for the whole product. GraphQL errors and CLI exit codes are derived
 * from it in one place each (gateway `mask-error.ts`, cli `exit-codes.ts`).
 */
export const FailureCode = {
  /** The bytes are of a type docfleet does not read. */
  UNSUPPORTED_TYPE: "UNSUPPORTED_TYPE",
  /** The file claims a known type but cannot be read as one. */
  CORRUPT: "CORRUPT",
  /**
   * The file is of a type docfleet reads but uses a feature it cannot read; the message names the feature
   * (e.g. a PDF whose streams are Brotli-compressed, a PDF 2.0 draft filter).
   */
  UNSUPPORTED_FEATURE: "UNSUPPORTED_FEATURE",
  /** The file is password-protected. */
  ENCRYPTED: "ENCRYPTED",
  /** Over a configured size, page or pixel limit. */
  TOO_LARGE: "TOO_LARGE",
  /** The file holds no text that could be extracted. */
  EMPTY: "EMPTY",
  /**
   * The file name cannot be a document's label: empty, over 1,024 characters, control or bidi characters,
   * invalid Unicode, an absolute path or `..` segments (requestUploads refuses the file).
   */
  INVALID_NAME: "INVALID_NAME",
  /** The uploaded object is missing or its size differs from the one announced. */
  UPLOAD_MISMATCH: "UPLOAD_MISMATCH",
  /**
   * The stored bytes' sha256 differs from the one the upload declared (checked by parse, the first
   * stage to read them, on every store). The document gives up its declared sha256, so it is never
   * answered as the DUPLICATE of that file; upload the file again.
   */
  CHECKSUM_MISMATCH: "CHECKSUM_MISMATCH",
  /** A stage ran past its time budget. */
  TIMEOUT: "TIMEOUT",
  /**
   * A stage kept failing with transient errors until its attempt limit (DOCFLEET_DELIVERY_LIMIT failed
   * attempts counted on the document; redeliveries after a worker died do not count).
   */
  RETRIES_EXHAUSTED: "RETRIES_EXHAUSTED",
  /**
   * Workers kept dying while they held this document's stage (killed, out of memory: a redelivery found
   * it still PROCESSING, or its lease expired) DOCFLEET_MAX_CRASHES times; it is not run again, so it
   * cannot take down more workers. A retry runs it again.
   */
  WORKER_CRASHED: "WORKER_CRASHED",
  /** A model answered something that does not fit the requested schema, again after its retries. */
  MODEL_OUTPUT_INVALID: "MODEL_OUTPUT_INVALID",
  /** The configured model is not available on the model server (e.g. not pulled in Ollama). */
  MODEL_UNAVAILABLE: "MODEL_UNAVAILABLE",
  /** An operator cancelled the document's batch (cancelBatch) before it finished. A retry runs it again. */
  CANCELLED: "CANCELLED",
  /** An unexpected error in docfleet itself. */
  INTERNAL: "INTERNAL",
} as const;
export type FailureCode = (typeof FailureCode)[keyof typeof FailureCode];

/** A failure caused by the input: retrying will not help, the document fails at once with `code`. */
export class DocumentError extends Error {
  override name = "DocumentError";
  constructor(
    readonly code: FailureCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A failure that may pass (a service down, a timeout): the stage is retried with backoff. */
export class TransientError extends Error {
  override name = "TransientError";
}

export function isDocumentError(err: unknown): err is DocumentError {
  return err instanceof DocumentError;
}

/** What a caller did wrong (bad input to an API call); the gateway answers the code, the CLI its exit code. */
export type RequestErrorCode = "BAD_REQUEST" | "NOT_FOUND" | "CONFLICT";

/** An error the caller made (bad input to an API call), with a code for GraphQL and the CLI. */
export class RequestError extends Error {
  override name = "RequestError";
  constructor(
    readonly code: RequestErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A request error about categories (defining or using them): the same taxonomy, kept as its own class. */
export class CategoryError extends RequestError {
  override name = "CategoryError";
}
