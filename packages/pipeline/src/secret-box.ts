import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/**
 * Encrypts small secrets for storage (webhook signing secrets): AES-256-GCM under a key derived with
 * HKDF-SHA256 from the server's key material (DOCFLEET_WEBHOOK_KEY, DOCFLEET_SIGNING_SECRET, or the data
 * folder's signing-secret), with `purpose` as HKDF info. `aad` binds a ciphertext to its row: moved to
 * another row, it no longer decrypts. Format: `v1.<iv>.<tag>.<ciphertext>`, base64url.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(material: string, purpose: string) {
    if (material.length < 32) throw new Error("secret key material needs at least 32 characters");
    this.key = Buffer.from(hkdfSync("sha256", material, "docfleet", purpose, 32));
  }

  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    cipher.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return ["v1", iv, cipher.getAuthTag(), ct]
      .map((p) => (typeof p === "string" ? p : p.toString("base64url")))
      .join(".");
  }

  /** Throws when the ciphertext was altered, belongs to another `aad`, or was sealed under another key. */
  open(sealed: string, aad: string): string {
    const [v, iv, tag, ct] = sealed.split(".");
    if (v !== "v1" || !iv || !tag || ct === undefined) throw new Error("not a sealed secret");
    const decipher = createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64url"));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(ct, "base64url")), decipher.final()]).toString("utf8");
  }
}
