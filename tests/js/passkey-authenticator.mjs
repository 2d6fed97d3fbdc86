// A software WebAuthn authenticator (and the browser's part of a ceremony) for tests: it turns
// a server's options JSON (simplewebauthn's PublicKeyCredentialCreationOptionsJSON or
// PublicKeyCredentialRequestOptionsJSON, as /passkey/generate-register-options and
// /passkey/generate-authenticate-options answer) into the RegistrationResponseJSON or
// AuthenticationResponseJSON that @simplewebauthn/browser would send back, for a given origin
// and relying party ID.
//
// - Keys: P-256 (node:crypto), COSE algorithm ES256 (-7); signatures are ECDSA over
//   authenticatorData || SHA-256(clientDataJSON), DER-encoded as WebAuthn requires.
// - Registration: attestation "none" (`{fmt:"none", attStmt:{}, authData}` in CBOR, through
//   @simplewebauthn/server's own CBOR helper), attested credential data with this
//   authenticator's AAGUID, the credential public key as a COSE_Key (EC2: kty 2, alg -7,
//   crv 1, x, y).
// - Every credential is resident (discoverable): a request without allowCredentials is
//   answered with a credential of the RP ID, and `userHandle` (the `user.id` the registration
//   options named) comes back, so usernameless sign-in works. A new registration for the same
//   RP ID and user handle replaces the old credential, as CTAP2 authenticators do.
// - Flags: UP and UV (each can be dropped, for refusal tests), BE/BS when the authenticator
//   is backup-eligible ("multiDevice") or not ("singleDevice", the default), AT at
//   registration.
// - The signature counter starts at `counter` (0 unless told) and grows by one per assertion;
//   `countUses: false` keeps it at 0 (as synced passkeys do); an assertion can also be given a
//   counter of its own (replay and clone tests).
// - A client's checks are applied unless `checkOrigin: false`: the origin must be secure
//   (https, or http on localhost) and the RP ID its host or a parent domain of it. And
//   excludeCredentials naming a credential this authenticator holds refuses the registration
//   (the browser's InvalidStateError).
//
// As a module:
//
//   import { SoftwareAuthenticator } from "./passkey-authenticator.mjs";
//   const authenticator = new SoftwareAuthenticator();
//   const registration = authenticator.register(creationOptionsJSON, { origin });
//   const assertion = authenticator.authenticate(requestOptionsJSON, { origin });
//
// As a command (the credentials kept in a JSON file between runs, private keys included),
// reading the options JSON on stdin and printing the response JSON:
//
//   node tests/js/passkey-authenticator.mjs register --store FILE --origin http://localhost:3000 \
//     [--rp-id localhost] [--no-uv] [--no-up] [--counter N] [--transports internal,hybrid] \
//     [--multi-device] [--no-origin-check] < creation-options.json
//   node tests/js/passkey-authenticator.mjs authenticate --store FILE --origin http://localhost:3000 \
//     [--rp-id localhost] [--credential ID] [--no-uv] [--no-up] [--counter N] \
//     [--tamper-signature] [--no-user-handle] [--no-origin-check] < request-options.json
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isoCBOR } from "@simplewebauthn/server/helpers";

/** This authenticator's AAGUID (a fixed, made-up one), as a UUID string. */
export const AAGUID = "edaa0000-5e57-4a07-8e75-0000000000a1";

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

/** COSE: ECDSA with SHA-256 on P-256. */
const ES256 = -7;

const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const fromB64url = (text) => Buffer.from(String(text).replace(/=+$/, ""), "base64url");
const sha256 = (data) => createHash("sha256").update(data).digest();

/** An error as the browser would raise it (`name` is the DOMException name). */
export class CeremonyError extends Error {
  constructor(name, message) {
    super(message);
    this.name = name;
  }
}

/** Refuses what a browser refuses: an insecure origin, or an RP ID not the origin's domain. */
function checkOriginAndRpId(origin, rpId) {
  let url;
  try {
    url = new URL(origin);
  } catch {
    throw new CeremonyError("SecurityError", `not an origin: ${origin}`);
  }
  const host = url.hostname;
  const loopbackName = host === "localhost" || host.endsWith(".localhost");
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopbackName)) {
    throw new CeremonyError("SecurityError", `${origin} is not a secure context for WebAuthn`);
  }
  if (/^[\d.]+$/.test(host) || host.includes(":")) {
    throw new CeremonyError("SecurityError", `${origin}: an IP address cannot be an RP ID's origin`);
  }
  if (host !== rpId && !host.endsWith(`.${rpId}`)) {
    throw new CeremonyError("SecurityError", `RP ID ${rpId} is not ${host} nor a parent domain of it`);
  }
}

/** The 16 bytes of a UUID string. */
function uuidBytes(uuid) {
  const hex = uuid.replace(/-/g, "");
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`not a UUID: ${uuid}`);
  return Buffer.from(hex, "hex");
}

/** The COSE_Key (CBOR) of a P-256 public key. */
function coseKey(publicKey) {
  const jwk = publicKey.export({ format: "jwk" });
  return Buffer.from(
    isoCBOR.encode(
      new Map([
        [1, 2], // kty: EC2
        [3, ES256], // alg
        [-1, 1], // crv: P-256
        [-2, fromB64url(jwk.x)],
        [-3, fromB64url(jwk.y)],
      ]),
    ),
  );
}

function u32(n) {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(n >>> 0);
  return out;
}

function u16(n) {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(n);
  return out;
}

/** A DER ECDSA signature with one bit of `r` flipped: still well-formed, no longer valid. */
function tampered(der) {
  const out = Buffer.from(der);
  // 30 <len> 02 <rlen> r...: r's second byte.
  out[5] ^= 0x01;
  return out;
}

export class SoftwareAuthenticator {
  /**
   * @param {object} [options]
   * @param {string} [options.aaguid] the AAGUID reported at registration (default AAGUID)
   * @param {boolean} [options.multiDevice] backup-eligible and backed up (BE|BS): the server
   *   records deviceType "multiDevice", backedUp true; else "singleDevice", false
   * @param {boolean} [options.countUses] the signature counter grows per use (default true);
   *   false: always 0
   */
  constructor({ aaguid = AAGUID, multiDevice = false, countUses = true } = {}) {
    this.aaguid = aaguid;
    this.multiDevice = multiDevice;
    this.countUses = countUses;
    /** Resident credentials, newest last. */
    this.credentials = [];
  }

  /** The credentials of `rpId`, newest first. */
  credentialsFor(rpId) {
    return this.credentials.filter((c) => c.rpId === rpId).reverse();
  }

  /** The credential with base64url id `id`, or undefined. */
  credential(id) {
    const wanted = b64url(fromB64url(id));
    return this.credentials.find((c) => c.id === wanted);
  }

  /** Forgets a credential (as deleting a passkey from a device does). */
  forget(id) {
    const wanted = b64url(fromB64url(id));
    this.credentials = this.credentials.filter((c) => c.id !== wanted);
  }

  #flags({ userPresent, userVerified, attested }) {
    let flags = 0;
    if (userPresent) flags |= FLAG_UP;
    if (userVerified) flags |= FLAG_UV;
    if (this.multiDevice) flags |= FLAG_BE | FLAG_BS;
    if (attested) flags |= FLAG_AT;
    return flags;
  }

  /**
   * navigator.credentials.create() with `optionsJSON` (creation options as JSON): the
   * RegistrationResponseJSON.
   *
   * @param {object} optionsJSON
   * @param {object} ceremony
   * @param {string} ceremony.origin the page's origin, written into clientDataJSON
   * @param {string} [ceremony.rpId] default: optionsJSON.rp.id, else the origin's host
   * @param {boolean} [ceremony.userVerified] UV (default true)
   * @param {boolean} [ceremony.userPresent] UP (default true)
   * @param {number} [ceremony.counter] the signature counter at registration (default 0)
   * @param {string[]} [ceremony.transports] default ["internal"]
   * @param {string} [ceremony.attachment] authenticatorAttachment (default "platform")
   * @param {boolean} [ceremony.checkOrigin] a browser's origin and RP ID checks (default true)
   * @param {string} [ceremony.challenge] overrides the challenge written into clientDataJSON
   */
  register(
    optionsJSON,
    {
      origin,
      rpId = optionsJSON.rp?.id ?? new URL(origin).hostname,
      userVerified = true,
      userPresent = true,
      counter = 0,
      transports = ["internal"],
      attachment = "platform",
      checkOrigin = true,
      challenge = optionsJSON.challenge,
    } = {},
  ) {
    if (!origin) throw new Error("register: origin is required");
    if (checkOrigin) checkOriginAndRpId(origin, rpId);
    const algorithms = (optionsJSON.pubKeyCredParams ?? []).map((p) => p.alg);
    if (!algorithms.includes(ES256)) {
      throw new CeremonyError("NotSupportedError", `ES256 (-7) is not among ${JSON.stringify(algorithms)}`);
    }
    for (const excluded of optionsJSON.excludeCredentials ?? []) {
      const held = this.credential(excluded.id);
      if (held && held.rpId === rpId) {
        throw new CeremonyError("InvalidStateError", "the authenticator was previously registered");
      }
    }
    const userHandle = optionsJSON.user?.id;
    if (!userHandle) throw new Error("register: the options have no user.id");

    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const credentialId = randomBytes(32);
    const cose = coseKey(publicKey);
    const authData = Buffer.concat([
      sha256(rpId),
      Buffer.from([this.#flags({ userPresent, userVerified, attested: true })]),
      u32(counter),
      uuidBytes(this.aaguid),
      u16(credentialId.length),
      credentialId,
      cose,
    ]);
    const attestationObject = Buffer.from(
      isoCBOR.encode(
        new Map([
          ["fmt", "none"],
          ["attStmt", new Map()],
          ["authData", new Uint8Array(authData)],
        ]),
      ),
    );
    const clientDataJSON = Buffer.from(
      JSON.stringify({ type: "webauthn.create", challenge, origin, crossOrigin: false }),
    );

    // A resident credential replaces the RP's credential for the same user handle.
    const handle = b64url(fromB64url(userHandle));
    this.credentials = this.credentials.filter((c) => !(c.rpId === rpId && c.userHandle === handle));
    const id = b64url(credentialId);
    this.credentials.push({
      id,
      rpId,
      userHandle: handle,
      userName: optionsJSON.user?.name ?? "",
      privateKey,
      counter,
      transports,
    });

    const clientExtensionResults = {};
    if (optionsJSON.extensions?.credProps) clientExtensionResults.credProps = { rk: true };
    return {
      id,
      rawId: id,
      response: {
        attestationObject: b64url(attestationObject),
        clientDataJSON: b64url(clientDataJSON),
        transports,
        publicKeyAlgorithm: ES256,
        publicKey: b64url(publicKey.export({ format: "der", type: "spki" })),
        authenticatorData: b64url(authData),
      },
      type: "public-key",
      clientExtensionResults,
      authenticatorAttachment: attachment,
    };
  }

  /**
   * navigator.credentials.get() with `optionsJSON` (request options as JSON): the
   * AuthenticationResponseJSON. With allowCredentials, one of those this authenticator holds;
   * without (usernameless), the newest credential of the RP ID, or `credentialId`.
   *
   * @param {object} optionsJSON
   * @param {object} ceremony
   * @param {string} ceremony.origin the page's origin, written into clientDataJSON
   * @param {string} [ceremony.rpId] default: optionsJSON.rpId, else the origin's host
   * @param {string} [ceremony.credentialId] which credential to use (base64url)
   * @param {boolean} [ceremony.userVerified] UV (default true)
   * @param {boolean} [ceremony.userPresent] UP (default true)
   * @param {number} [ceremony.counter] the signature counter to report (and keep)
   * @param {boolean} [ceremony.tamperSignature] sign, then break the signature
   * @param {boolean} [ceremony.withUserHandle] return userHandle (default true)
   * @param {boolean} [ceremony.checkOrigin] a browser's origin and RP ID checks (default true)
   * @param {string} [ceremony.challenge] overrides the challenge written into clientDataJSON
   * @param {string} [ceremony.type] overrides clientDataJSON's type ("webauthn.get")
   */
  authenticate(
    optionsJSON,
    {
      origin,
      rpId = optionsJSON.rpId ?? new URL(origin).hostname,
      credentialId,
      userVerified = true,
      userPresent = true,
      counter,
      tamperSignature = false,
      withUserHandle = true,
      checkOrigin = true,
      challenge = optionsJSON.challenge,
      type = "webauthn.get",
    } = {},
  ) {
    if (!origin) throw new Error("authenticate: origin is required");
    if (checkOrigin) checkOriginAndRpId(origin, rpId);
    let candidates = this.credentialsFor(rpId);
    const allowed = (optionsJSON.allowCredentials ?? []).map((c) => b64url(fromB64url(c.id)));
    if (allowed.length > 0) candidates = candidates.filter((c) => allowed.includes(c.id));
    if (credentialId) {
      const wanted = b64url(fromB64url(credentialId));
      candidates = candidates.filter((c) => c.id === wanted);
    }
    const credential = candidates[0];
    if (!credential) {
      throw new CeremonyError("NotAllowedError", `no credential for ${rpId} matches the request`);
    }

    if (counter !== undefined) credential.counter = counter;
    else if (this.countUses) credential.counter += 1;
    const authData = Buffer.concat([
      sha256(rpId),
      Buffer.from([this.#flags({ userPresent, userVerified, attested: false })]),
      u32(credential.counter),
    ]);
    const clientDataJSON = Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
    let signature = sign("sha256", Buffer.concat([authData, sha256(clientDataJSON)]), credential.privateKey);
    if (tamperSignature) signature = tampered(signature);
    return {
      id: credential.id,
      rawId: credential.id,
      response: {
        authenticatorData: b64url(authData),
        clientDataJSON: b64url(clientDataJSON),
        signature: b64url(signature),
        ...(withUserHandle ? { userHandle: credential.userHandle } : {}),
      },
      type: "public-key",
      clientExtensionResults: {},
      authenticatorAttachment: "platform",
    };
  }

  /** The authenticator's state as JSON (private keys included: for tests only). */
  toJSON() {
    return {
      aaguid: this.aaguid,
      multiDevice: this.multiDevice,
      countUses: this.countUses,
      credentials: this.credentials.map((c) => ({
        ...c,
        privateKey: b64url(c.privateKey.export({ format: "der", type: "pkcs8" })),
      })),
    };
  }

  /** An authenticator from toJSON()'s output. */
  static fromJSON(state) {
    const authenticator = new SoftwareAuthenticator(state);
    authenticator.credentials = (state.credentials ?? []).map((c) => ({
      ...c,
      privateKey: createPrivateKey({ key: fromB64url(c.privateKey), format: "der", type: "pkcs8" }),
    }));
    return authenticator;
  }
}

// --- The command. ---

function parseArgs(argv) {
  const [command, ...rest] = argv;
  const flags = {};
  for (let i = 0; i < rest.length; i += 1) {
    const arg = rest[i];
    if (!arg.startsWith("--")) throw new Error(`unexpected argument ${arg}`);
    const name = arg.slice(2);
    const takesValue = ["store", "origin", "rp-id", "counter", "transports", "credential"].includes(name);
    flags[name] = takesValue ? rest[++i] : true;
    if (takesValue && flags[name] === undefined) throw new Error(`${arg} needs a value`);
  }
  return { command, flags };
}

function readStore(path, flags) {
  try {
    return SoftwareAuthenticator.fromJSON(JSON.parse(readFileSync(path, "utf8")));
  } catch (error) {
    if (error.code !== "ENOENT") throw error;
    return new SoftwareAuthenticator({ multiDevice: Boolean(flags["multi-device"]) });
  }
}

async function main() {
  const { command, flags } = parseArgs(process.argv.slice(2));
  if (!["register", "authenticate"].includes(command) || !flags.store || !flags.origin) {
    console.error(
      "usage: passkey-authenticator.mjs register|authenticate --store FILE --origin ORIGIN " +
        "[options] < options.json (see the comment at the top of the file)",
    );
    process.exit(2);
  }
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const optionsJSON = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const authenticator = readStore(flags.store, flags);
  const common = {
    origin: flags.origin,
    ...(flags["rp-id"] ? { rpId: flags["rp-id"] } : {}),
    userVerified: !flags["no-uv"],
    userPresent: !flags["no-up"],
    ...(flags.counter !== undefined ? { counter: Number(flags.counter) } : {}),
    checkOrigin: !flags["no-origin-check"],
  };
  let response;
  try {
    response =
      command === "register"
        ? authenticator.register(optionsJSON, {
            ...common,
            ...(flags.transports ? { transports: flags.transports.split(",").filter(Boolean) } : {}),
          })
        : authenticator.authenticate(optionsJSON, {
            ...common,
            ...(flags.credential ? { credentialId: flags.credential } : {}),
            tamperSignature: Boolean(flags["tamper-signature"]),
            withUserHandle: !flags["no-user-handle"],
          });
  } catch (error) {
    console.error(`${error.name}: ${error.message}`);
    process.exit(1);
  }
  writeFileSync(flags.store, JSON.stringify(authenticator));
  console.log(JSON.stringify(response));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
